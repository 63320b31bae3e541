// "Why? Grad-CAM": the heatmap of a deep model's evidence for a class over the picture being classified,
// computed by the engine worker (it needs autodiff), drawn here.

import { $, heat, paint28 } from "../lib/dom.js";
import { answering } from "../lib/models.js";
import { engine } from "./backend.js";

// The picture to explain (its 28×28 pixels, and whether it is a photo), and whether a map waits for its
// model or for the engine.
let lastPixels = null, lastWasPhoto = false, explainWaiting = false;

// The picture the next maps explain.
export function explainPicture(pixels, photo) {
  lastPixels = pixels; lastWasPhoto = photo; explainWaiting = false;
}

// Whether a map waits for its model or the engine: call `explain` again when either arrives.
export const explainIsWaiting = () => explainWaiting;

export async function explain(wasm) {
  const status = $("explain-status");
  if (!lastPixels) return;
  const { state, bytes, key, title } = answering($("explain-model").value, lastWasPhoto);
  explainWaiting = state === "loading" || !engine.ready;
  if (state !== "ready") {
    status.textContent = state === "loading" ? `${title} is still loading; its Grad-CAM follows when it is in.`
      : `${title} could not load, so it cannot be explained.`;
    return;
  }
  if (!engine.ready) {
    // Grad-CAM needs autodiff, in the engine, which loads after the shipped models.
    status.textContent = document.body.dataset.backend === "none"
      ? `Grad-CAM is not available: the engine could not load (${$("backend-detail").textContent}).`
      : `${title}: Grad-CAM follows once the explanation engine has loaded.`;
    return;
  }
  status.classList.remove("error");
  status.textContent = "Computing Grad-CAM…";
  try {
    const cls = Number($("explain-class").value);
    const px = lastPixels;
    const cam = await engine.gradCam(key, bytes, px, cls);
    if (px !== lastPixels) return; // a newer picture came while this map was computed
    paint28("explain-input", (i) => [px[i], px[i], px[i]]);
    paint28("explain-heatmap", (i) => heat(cam.heatmap[i]));
    paint28("explain-overlay", (i) => {
      const [r, g, b] = heat(cam.heatmap[i]);
      const a = 0.55;
      return [Math.round(a * r + (1 - a) * px[i]), Math.round(a * g + (1 - a) * px[i]), Math.round(a * b + (1 - a) * px[i])];
    });
    const classes = wasm.classNames();
    // Grad-CAM keeps only positive evidence: where every cell of the last layer weighs against the
    // class, the map is empty, and the page says so rather than showing a blank heatmap.
    const empty = !cam.heatmap.some((v) => v > 0);
    status.textContent = `${title}: ` + (empty
      ? `no positive evidence for "${classes[cam.class]}" in any cell of the ${cam.side}×${cam.side} last convolutional layer ` +
        `(its probability ${Math.round(100 * cam.probabilities[cam.class])}%): the answer comes from the layer as a whole.`
      : `evidence for "${classes[cam.class]}" (its probability ${Math.round(100 * cam.probabilities[cam.class])}%), ` +
        `from the ${cam.side}×${cam.side} last convolutional layer.`);
    document.body.dataset.explained = String(Number(document.body.dataset.explained || 0) + 1);
  } catch (e) {
    status.textContent = `Grad-CAM failed: ${e.message || e}`;
    status.classList.add("error");
  }
}

// Sets Grad-CAM's class to the CNN's answer to the picture, once the CNN has answered it.
export function selectCnnClass(pic) {
  const cnn = [...(pic?.answers ?? [])].find(([key]) => key.startsWith("cnn/"));
  if (cnn) $("explain-class").value = String(cnn[1].indexOf(Math.max(...cnn[1])));
}

export function wireExplain(wasm) {
  $("explain-model").addEventListener("change", () => explain(wasm));
  $("explain-class").addEventListener("change", () => explain(wasm));
}
