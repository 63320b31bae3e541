// Fashion Lab's page: this file only wires the sections (www/sections/), in the order the first answer
// needs. The page's own module (window.wasmBindings, set by trunk) prepares pictures, classifies on the
// CPU and builds the figures; training, Grad-CAM and scoring run in workers on the engine module
// (lib/engine.js). All computation happens in wasm; the sections move bytes and draw what Rust builds.

import { loadShippedModels } from "./lib/models.js";
import { wireAttack } from "./sections/attack.js";
import { startBackend, wireBackend } from "./sections/backend.js";
import { wireClassify, watchShippedModels } from "./sections/classify.js";
import { setStatus, wireDataset } from "./sections/dataset.js";
import { explain, explainIsWaiting } from "./sections/explain.js";
import { wireMap } from "./sections/map.js";
import { showShippedModels, wireCells } from "./sections/shipped.js";
import { wireQuiz } from "./sections/quiz.js";
import { wireSketch } from "./sections/sketch.js";
import { wireClassical } from "./sections/train-classical.js";
import { wireDeep } from "./sections/train-deep.js";
import { wireYours } from "./sections/yours.js";

function whenWasmReady() {
  if (window.wasmBindings) return Promise.resolve(window.wasmBindings);
  return new Promise((resolve) =>
    addEventListener("TrunkApplicationStarted", () => resolve(window.wasmBindings), { once: true }));
}

// Offline after the first visit: the service worker keeps the page, the wasm and the shipped models.
function registerOffline() {
  if (!("serviceWorker" in navigator)) return;
  navigator.serviceWorker.register("sw.js").then(
    () => navigator.serviceWorker.ready.then(() => { document.body.dataset.offline = "ready"; }),
    (e) => console.warn(`offline use is not available: ${e.message || e}`));
}

async function main() {
  const wasm = await whenWasmReady();
  wireBackend();
  // The first answer before anything else: the photo input is wired and the photo-trained CNN is fetched
  // first; the dataset, the charts and the other models follow.
  watchShippedModels(wasm);
  const models = loadShippedModels(wasm);
  wireClassify(wasm);
  wireSketch(wasm);
  document.body.dataset.classifyWired = "true";
  await models.first;

  await wireDataset(wasm);
  wireQuiz(wasm);
  wireAttack(wasm);
  wireMap(wasm);
  wireClassical(wasm);
  wireDeep(wasm);
  wireCells(wasm);
  wireYours(wasm);
  await showShippedModels(wasm);
  // After every model has come, so that neither slows the first visit: the engine (the backend, Grad-CAM)
  // and storing the site for offline use.
  models.all.then(async () => {
    await startBackend();
    if (explainIsWaiting()) await explain(wasm);
    registerOffline();
  });
  document.body.dataset.ready = "true";
}

main().catch((e) => setStatus(`Fashion Lab failed to start: ${e.message || e}`, true));
