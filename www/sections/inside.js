// "Inside the network": every layer's output for the picture being classified, the first layer's
// weights and each layer's share of the forward time, from the model's own forward pass (Rust's
// `deep::inside`, in the page's module, on the CPU). A click on a map lays it over the input.

import { $, heat, paint28 } from "../lib/dom.js";
import { answering } from "../lib/models.js";

let picture = null; // { pixels, photo }
let shown = null; // { layers, input } of the last view drawn

// The picture the view shows next (called for every classified picture).
export function insidePicture(pixels, photo) {
  picture = { pixels, photo };
  if ($("inside").open) showInside();
}

// Draws `values` (h × w, row-major) into `canvas`, scaled to their own range.
function drawMap(canvas, values, h, w) {
  canvas.width = w; canvas.height = h;
  let lo = Infinity, hi = -Infinity;
  for (const v of values) { if (v < lo) lo = v; if (v > hi) hi = v; }
  const span = hi - lo || 1;
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(w, h);
  values.forEach((v, i) => { const g = Math.round(255 * (v - lo) / span); img.data.set([g, g, g, 255], 4 * i); });
  ctx.putImageData(img, 0, 0);
}

// One channel of a layer, stretched over the 28×28 input (nearest cell), in [0, 1].
function stretched(layer, c) {
  const { height: h, width: w, values } = layer;
  const map = values.slice(c * h * w, (c + 1) * h * w);
  const lo = Math.min(...map), hi = Math.max(...map), span = hi - lo || 1;
  return Array.from({ length: 784 }, (_, i) => {
    const y = Math.min(h - 1, Math.floor((Math.floor(i / 28) * h) / 28));
    const x = Math.min(w - 1, Math.floor(((i % 28) * w) / 28));
    return (map[y * w + x] - lo) / span;
  });
}

function overlay(layer, c, canvas) {
  const px = shown.input, v = stretched(layer, c);
  paint28("inside-overlay", (i) => {
    const [r, g, b] = heat(v[i]);
    return [Math.round(0.55 * r + 0.45 * px[i]), Math.round(0.55 * g + 0.45 * px[i]), Math.round(0.55 * b + 0.45 * px[i])];
  });
  document.querySelectorAll(".inside-maps canvas.chosen").forEach((el) => el.classList.remove("chosen"));
  canvas.classList.add("chosen");
  $("inside-overlay-caption").textContent = `${layer.name}, channel ${c + 1}`;
  document.body.dataset.insideOverlay = `${layer.name}/${c}`;
}

function layerRow(layer, share) {
  const row = document.createElement("div");
  row.className = "inside-layer";
  const head = document.createElement("h4");
  const shape = layer.height > 1 ? `${layer.channels} × ${layer.height} × ${layer.width}` : `${layer.channels} units`;
  head.textContent = share === null ? `${layer.name}: ${shape}` : `${layer.name}: ${shape}, ${layer.millis.toFixed(2)} ms (${(100 * share).toFixed(0)}% of the pass)`;
  row.append(head);
  if (layer.height > 1) {
    const maps = document.createElement("div");
    maps.className = "inside-maps";
    const size = layer.height * layer.width;
    for (let c = 0; c < layer.channels; c++) {
      const canvas = document.createElement("canvas");
      canvas.title = `${layer.name}, channel ${c + 1}`;
      drawMap(canvas, layer.values.slice(c * size, (c + 1) * size), layer.height, layer.width);
      if (share !== null) {
        // Reachable by keyboard too: Tab to a map, Enter or Space lays it over the input.
        canvas.tabIndex = 0;
        canvas.setAttribute("role", "button");
        canvas.setAttribute("aria-label", `Lay ${layer.name}, channel ${c + 1}, over the input`);
        canvas.addEventListener("click", () => overlay(layer, c, canvas));
        canvas.addEventListener("keydown", (ev) => {
          if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); overlay(layer, c, canvas); }
        });
      }
      maps.append(canvas);
    }
    row.append(maps);
  } else {
    const strip = document.createElement("canvas");
    strip.className = "inside-strip";
    strip.title = `${layer.name}: ${layer.channels} values, left to right`;
    drawMap(strip, layer.values, 1, layer.channels);
    row.append(strip);
  }
  return row;
}

async function showInside() {
  const status = $("inside-status");
  if (!picture) return;
  const { state, model, title } = answering($("inside-model").value, picture.photo);
  if (state !== "ready") {
    status.textContent = state === "loading" ? `${title} is still loading.` : `${title} could not load.`;
    return;
  }
  const px = picture.pixels;
  try {
    const inside = await model.activations(px);
    if (px !== picture.pixels) return; // a newer picture came meanwhile
    shown = { layers: inside.layers, input: px };
    paint28("inside-input", (i) => [px[i], px[i], px[i]]);
    paint28("inside-overlay", (i) => [px[i], px[i], px[i]]);
    $("inside-overlay-caption").textContent = "Click a map";
    const total = inside.layers.reduce((s, l) => s + l.millis, 0) || 1;
    const rows = [layerRow(inside.filters, null), ...inside.layers.map((l) => layerRow(l, l.millis / total))];
    $("inside-layers").replaceChildren(...rows);
    status.classList.remove("error");
    status.textContent = `${title}: ${inside.layers.length} layers, one forward pass in ${inside.total_millis.toFixed(1)} ms on the CPU ` +
      "(each layer timed from the previous layer's output to its own). The first row is the first layer's weights.";
    document.body.dataset.inside = String(Number(document.body.dataset.inside || 0) + 1);
    document.body.dataset.insideLayers = inside.layers.map((l) => `${l.name}:${l.channels}`).join(",");
    // A short digest of the first layer's maps, so that a test can tell two pictures' maps apart.
    document.body.dataset.insideDigest = inside.layers[0].values.reduce((s, v, i) => s + v * ((i % 97) + 1), 0).toFixed(4);
    document.body.dataset.insideMillis = inside.total_millis.toFixed(2);
  } catch (e) {
    status.textContent = `The layers could not be computed: ${e.message || e}`;
    status.classList.add("error");
  }
}

export function wireInside() {
  $("inside").addEventListener("toggle", () => { if ($("inside").open) showInside(); });
  $("inside-model").addEventListener("change", showInside);
}
