// DOM helpers shared by the page's sections.

export const $ = (id) => document.getElementById(id);

// A file input inside a drop zone: files chosen or dropped go to `take` (a FileList).
export function wireFileDrop(inputId, zoneId, take) {
  $(inputId).addEventListener("change", (ev) => take(ev.target.files));
  const zone = $(zoneId);
  zone.addEventListener("dragover", (ev) => { ev.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (ev) => { ev.preventDefault(); zone.classList.remove("over"); take(ev.dataTransfer.files); });
}

// A table cell with `text`, appended to `row`.
export const cell = (row, text) => { const td = document.createElement("td"); td.textContent = text; row.append(td); return td; };
export const pct = (x) => `${(100 * x).toFixed(2)}%`;
export const secs = (s) => (s >= 120 ? `${(s / 60).toFixed(1)} min` : `${s.toFixed(1)} s`);

// The jet-like colour of a heat value in [0, 1].
export const heat = (v) => [Math.round(255 * Math.min(1, Math.max(0, 1.5 - Math.abs(4 * v - 3)))),
  Math.round(255 * Math.min(1, Math.max(0, 1.5 - Math.abs(4 * v - 2)))),
  Math.round(255 * Math.min(1, Math.max(0, 1.5 - Math.abs(4 * v - 1))))];

// A 28×28 picture drawn into canvas `id`, each pixel's colour from `rgbOf(index)`.
export function paint28(id, rgbOf) {
  const ctx = $(id).getContext("2d");
  const img = ctx.createImageData(28, 28);
  for (let i = 0; i < 784; i++) img.data.set([...rgbOf(i), 255], 4 * i);
  ctx.putImageData(img, 0, 0);
}

// A grey image (0..255 values, row-major) drawn into a canvas at its own size.
export function drawGray(id, width, height, pixels) {
  const canvas = $(id);
  canvas.width = Math.max(1, width); canvas.height = Math.max(1, height);
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(canvas.width, canvas.height);
  for (let i = 0; i < width * height; i++) { const v = pixels[i]; img.data.set([v, v, v, 255], 4 * i); }
  ctx.putImageData(img, 0, 0);
}
