// "Draw an item": a sketch pad (mouse, touch or pen, through Pointer Events) whose drawing is classified
// as it is drawn, through the same photo path as uploads and camera frames: a dark drawing on a white
// page, found against its background like an item on a light table. Strokes in progress are classified
// live (no Grad-CAM), at most about 6 times a second; each finished stroke is classified with Grad-CAM.

import { $ } from "../lib/dom.js";
import { LIVE_INTERVAL_MS, classifyPrepared, showOriginal } from "./classify.js";

export function wireSketch(wasm) {
  const canvas = $("sketch-canvas"), ctx = canvas.getContext("2d", { willReadFrequently: true });
  let drawn = false, last = null, liveAt = 0;
  const blank = () => {
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    drawn = false;
  };
  blank();
  // The pointer's position in the canvas's own pixels (the canvas is scaled by CSS at phone width).
  const at = (ev) => {
    const r = canvas.getBoundingClientRect();
    return [(ev.clientX - r.left) * canvas.width / r.width, (ev.clientY - r.top) * canvas.height / r.height];
  };
  const stroke = (from, to) => {
    ctx.strokeStyle = "#111";
    ctx.lineWidth = Number($("sketch-size").value);
    ctx.lineCap = ctx.lineJoin = "round";
    ctx.beginPath();
    ctx.moveTo(...from);
    ctx.lineTo(...to);
    ctx.stroke();
    drawn = true;
  };

  // One classification at a time; a request made meanwhile runs when it ends (a finished stroke's wins
  // over a live one). `data-sketch` is "busy" until the last request is answered, then "answered".
  let running = false, queued = null;
  const classify = async (live) => {
    if (running) { queued = queued === false ? false : live; return; }
    running = true;
    document.body.dataset.sketch = "busy";
    try {
      if (drawn) {
        const image = ctx.getImageData(0, 0, canvas.width, canvas.height);
        const prepared = wasm.prepareRgba(canvas.width, canvas.height, new Uint8Array(image.data.buffer));
        if (!live) showOriginal(canvas.toDataURL("image/png"));
        const ran = await classifyPrepared(wasm, prepared, live ? "your drawing (live)" : "your drawing", { live });
        if (!ran) queued = queued === false ? false : live; // a camera frame was being answered: try again
        else if (live) document.body.dataset.sketchLive = String(Number(document.body.dataset.sketchLive || 0) + 1);
      }
    } catch (e) {
      $("classify-status").textContent = `Your drawing: ${e.message || e}`;
      $("classify-status").classList.add("error");
    } finally {
      running = false;
    }
    if (queued !== null) {
      const next = queued;
      queued = null;
      await new Promise((r) => setTimeout(r, 0));
      return classify(next);
    }
    document.body.dataset.sketch = "answered";
  };

  canvas.addEventListener("pointerdown", (ev) => {
    ev.preventDefault();
    canvas.setPointerCapture(ev.pointerId);
    last = at(ev);
    stroke(last, last);
  });
  canvas.addEventListener("pointermove", (ev) => {
    if (!last) return;
    const p = at(ev);
    stroke(last, p);
    last = p;
    const now = performance.now();
    if (now - liveAt >= LIVE_INTERVAL_MS && !running) { liveAt = now; classify(true); }
  });
  const end = () => {
    if (!last) return;
    last = null;
    classify(false);
  };
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointercancel", end);
  $("sketch-clear").addEventListener("click", blank);
}
