// "Map of the test set": the embedding map (Rust's `embedding`, in an engine worker of its own: the
// images' features, then PCA, t-SNE or UMAP in steps with progress), drawn from Rust's chart (`report::map`).
// Pointing at a dot shows its image; a click classifies it above.
//
// The chart is drawn with WebGL (`scattergl`, by Plotly's strict bundle) above WEBGL_FROM points, where
// SVG's one element a dot makes drawing and pointing slow, and as SVG (`scatter`, the cartesian bundle the
// other charts use) below it, without fetching the WebGL bundle. The "Drawing" choice overrides it; a
// browser without WebGL, or without the bundle (offline before it was ever fetched), gets SVG and is told.

import { plotFigure, plotly, plotlyGl, webglAvailable } from "../lib/charts.js";
import { $, paint28, pct } from "../lib/dom.js";
import { startWorker, threadsFor } from "../lib/engine.js";
import { MAP_FEATURES, shipped } from "../lib/models.js";
import { FromWorker, ToWorker } from "../lib/protocol.js";
import { gpuLost } from "./backend.js";
import { classifyPrepared, showOriginal } from "./classify.js";
import { data, datasetMessage, testSet } from "./dataset.js";

const SPACES = { deep: "the CNN's last hidden layer", hog: "HOG → PCA (the SVM's features)", pixels: "the pixels" };
const STAGES = {
  features: "Computing the images' features", affinities: "t-SNE: finding each image's neighbours", layout: "t-SNE: laying out the map",
  neighbours: "UMAP: finding each image's neighbours", epochs: "UMAP: laying out the map",
};
const METHODS = { pca: "PCA", tsne: "t-SNE", umap: "UMAP" };

const WEBGL_FROM = 2000;

// How the map is drawn: `{ webgl, Plotly, why }`, from the "Drawing" choice (auto, webgl, svg) and the
// map's size; `why` says why a map asked to be WebGL is SVG.
async function drawing(choice, points) {
  const wanted = choice === "webgl" || (choice === "auto" && points >= WEBGL_FROM);
  if (!wanted) return { webgl: false, Plotly: await plotly(), why: "" };
  if (!webglAvailable()) return { webgl: false, Plotly: await plotly(), why: "this browser has no WebGL" };
  try {
    return { webgl: true, Plotly: await plotlyGl(), why: "" };
  } catch (e) {
    return { webgl: false, Plotly: await plotly(), why: e.message };
  }
}

// The map on show: its images as the page holds them (a WebDataset, `owned` when made for the map, not
// shared with other sections), its chart's div and the Plotly that drew it.
let shown = null;

// A dataset image as a picture: the 28×28 grey pixels as RGBA, and as a PNG data URL.
function asPicture(pixels) {
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = 28;
  const ctx = canvas.getContext("2d"), img = ctx.createImageData(28, 28);
  for (let i = 0; i < 784; i++) img.data.set([pixels[i], pixels[i], pixels[i], 255], 4 * i);
  ctx.putImageData(img, 0, 0);
  return { rgba: new Uint8Array(img.data.buffer), url: canvas.toDataURL("image/png") };
}

// Runs the map in a fresh worker; resolves to its MAPPED message. `onProgress(stage, fraction)`.
function runMap(worker, message, onProgress) {
  return new Promise((resolve, reject) => {
    worker.onmessage = (ev) => {
      const m = ev.data;
      if (m.type === FromWorker.PROGRESS) onProgress(m.stage, m.fraction);
      else if (m.type === FromWorker.MAPPED) resolve(m);
      else if (m.type === FromWorker.ERROR) reject(new Error(m.message));
      else if (m.type === FromWorker.DEVICE_LOST) { gpuLost(m.message); reject(new Error(`the GPU device was lost (${m.message}); try again on the CPU`)); }
    };
    worker.onerror = (ev) => { ev.preventDefault(); reject(new Error(ev.message || "the map's worker failed")); };
    worker.postMessage(message);
  });
}

export function wireMap(wasm) {
  const [status, bar, start, cancel, chart] = ["map-status", "map-progress", "map-start", "map-cancel", "map-chart"].map($);
  // The map being made: its worker, and how to abandon the wait for it (a terminated worker says nothing).
  let worker = null, abandon = null;
  const stop = () => {
    worker?.terminate();
    worker = null;
    abandon?.(new Error("cancelled"));
    abandon = null;
    start.disabled = false; cancel.disabled = true; bar.hidden = true;
  };
  cancel.addEventListener("click", () => { stop(); status.textContent = "Cancelled."; });

  start.addEventListener("click", async () => {
    stop();
    // Busy from the click on, the test set's download included: a second click cannot start a second map.
    start.disabled = true; cancel.disabled = false;
    const abandoned = new Promise((_, reject) => { abandon = reject; });
    abandoned.catch(() => {});
    const run = abandon;
    const space = $("map-space").value, method = $("map-method").value;
    const cnn = shipped.cnn, svm = shipped[MAP_FEATURES];
    if (cnn?.state !== "ready" || (space === "hog" && svm?.state !== "ready")) {
      stop();
      status.textContent = "The models it needs are still loading (or could not load).";
      return;
    }
    let source = null, dataset = null, owned = false;
    status.classList.remove("error");
    if ($("map-images").value === "test") {
      status.textContent = "Downloading the test set…";
      try {
        ({ source, dataset } = await Promise.race([testSet(wasm), abandoned]));
      } catch (e) {
        if (abandon !== run) return; // cancelled
        status.textContent = `The full test set is not served here (${e.message || e}); the built-in sample is mapped instead.`;
      }
    }
    if (!source) {
      if (!data.sample) { stop(); status.textContent = "The built-in sample has not loaded yet."; return; }
      source = data.sample;
      dataset = wasm.WebDataset.fromIdx(source.images, source.labels, "map");
      owned = true;
    }
    bar.hidden = false; bar.value = 0;
    const started = startWorker({ threads: threadsFor(document.body.dataset.backend) });
    worker = started.worker;
    const mine = worker;
    try {
      await Promise.race([started.ready, abandoned]);
      const m = await Promise.race([abandoned, runMap(mine, {
        type: ToWorker.MAP, id: 1, dataset: datasetMessage(source), options: { space, method },
        backend: $("backend-choice").value, deep: cnn.bytes.slice(), classical: space === "hog" ? svm.bytes.slice() : null,
      }, (stage, fraction) => {
        bar.value = fraction;
        status.textContent = `${STAGES[stage] ?? stage}… ${Math.round(100 * fraction)}%`;
      })]);
      if (mine !== worker) return; // cancelled or replaced meanwhile
      const n = m.labels.length;
      const wrong = Uint8Array.from(m.predicted, (p, i) => (p === m.labels[i] ? 0 : 1));
      const title = `${METHODS[method]} of ${n.toLocaleString()} test images from ${SPACES[space]}`;
      const { webgl, Plotly, why } = await drawing($("map-drawing").value, n);
      if (mine !== worker) return;
      const figure = wasm.embeddingFigure(m.points, m.labels, wrong, "CNN", title, webgl);
      if (shown) {
        shown.Plotly.purge(shown.div);
        if (shown.owned) shown.dataset.free();
      }
      const div = document.createElement("div");
      div.id = "map-plot";
      chart.replaceChildren(div);
      const drawStart = performance.now();
      await plotFigure(Plotly, div, figure);
      await painted();
      const drawSeconds = (performance.now() - drawStart) / 1000;
      shown = { dataset, owned, div, Plotly };
      owned = false;
      div.on("plotly_hover", (ev) => showImage(wasm, ev.points[0]?.customdata));
      div.on("plotly_click", (ev) => openImage(wasm, ev.points[0]?.customdata));
      keyboard(wasm, Plotly, div, m.points, m.labels);
      const share = m.share, classes = wasm.classNames();
      const hard = [0, 2, 6].map((c) => `${classes[c]} ${pct(share.per_class[c])}`).join(", ");
      status.textContent = `${title}: ${pct(share.overall)} of the 10 nearest neighbours of 100 images (10 a class) share ` +
        `their class (${hard}). Features in ${m.seconds.features.toFixed(1)} s, the map in ${m.seconds.map.toFixed(1)} s, ` +
        `drawn in ${drawSeconds.toFixed(1)} s with ${webgl ? "WebGL" : "SVG"}${why ? ` (not WebGL: ${why})` : ""}.`;
      document.body.dataset.mapShare = JSON.stringify({ space, method, n, overall: share.overall, per_class: share.per_class });
      document.body.dataset.mapTrace = figure.data[0].type;
      document.body.dataset.mapped = String(Number(document.body.dataset.mapped || 0) + 1);
    } catch (e) {
      if (mine !== worker) return;
      status.textContent = `The map could not be made: ${e.message || e}`;
      status.classList.add("error");
    } finally {
      if (owned) dataset.free(); // not shown: a failed or cancelled map
      if (mine === worker) stop();
      else mine.terminate(); // replaced or cancelled: ended already, or ended here
    }
  });
}

// Resolves once the browser has laid out and painted what was drawn: after the frame following the next.
const painted = () => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));

// The map from the keyboard: the chart takes the focus, the arrow keys move from a dot to the nearest one
// that way (as the chart shows it), which is shown as a pointer would show it, and Enter opens it.
function keyboard(wasm, Plotly, div, points, labels) {
  const n = labels.length;
  // Start at the dot nearest the middle.
  let cx = 0, cy = 0;
  for (let i = 0; i < n; i++) { cx += points[2 * i] / n; cy += points[2 * i + 1] / n; }
  let at = -1, best = Infinity;
  for (let i = 0; i < n; i++) {
    const d = (points[2 * i] - cx) ** 2 + (points[2 * i + 1] - cy) ** 2;
    if (d < best) { best = d; at = i; }
  }
  const DIRECTIONS = { ArrowRight: [1, 0], ArrowLeft: [-1, 0], ArrowUp: [0, 1], ArrowDown: [0, -1] };
  const show = () => {
    // At the dot's data coordinates, in the chart's closest-point mode: WebGL traces take no point
    // number here (SVG ones do), and both find the dot at its own place.
    Plotly.Fx.hover(div, { xval: points[2 * at], yval: points[2 * at + 1] });
    showImage(wasm, at);
  };
  div.tabIndex = 0;
  div.setAttribute("role", "application");
  div.setAttribute("aria-label", "The map's dots: arrow keys move to the nearest dot that way, Enter classifies it");
  div.addEventListener("focus", show);
  div.addEventListener("keydown", (ev) => {
    const dir = DIRECTIONS[ev.key];
    if (ev.key === "Enter" || ev.key === " ") {
      ev.preventDefault();
      openImage(wasm, at);
    } else if (dir) {
      ev.preventDefault();
      // The next dot: ahead of this one, scored by the distance ahead plus twice the distance aside.
      const [x0, y0] = [points[2 * at], points[2 * at + 1]];
      let next = -1, score = Infinity;
      for (let i = 0; i < n; i++) {
        const dx = points[2 * i] - x0, dy = points[2 * i + 1] - y0;
        const ahead = dx * dir[0] + dy * dir[1], aside = Math.abs(dx * dir[1] - dy * dir[0]);
        if (ahead > 0 && ahead + 2 * aside < score) { score = ahead + 2 * aside; next = i; }
      }
      if (next >= 0) { at = next; show(); }
    }
  });
}

// The image under the pointer (or the keyboard's dot), beside the chart.
function showImage(wasm, index) {
  if (index === undefined || !shown) return;
  const px = shown.dataset.image(index);
  paint28("map-hover-image", (i) => [px[i], px[i], px[i]]);
  const label = shown.dataset.labels()[index];
  $("map-hover-caption").textContent = `Test image ${index}: ${wasm.classNames()[label]}`;
  $("map-hover").hidden = false;
  document.body.dataset.mapHover = String(index);
}

// A click on a dot: the image goes through the photo path to every model, and Grad-CAM, as any picture.
async function openImage(wasm, index) {
  if (index === undefined || !shown) return;
  const { rgba, url } = asPicture(shown.dataset.image(index));
  const prepared = wasm.prepareRgba(28, 28, rgba);
  showOriginal(url);
  $("classify").scrollIntoView({ behavior: "smooth" });
  await classifyPrepared(wasm, prepared, `test image ${index} from the map`);
  document.body.dataset.mapOpened = String(index);
}
