// Fashion Lab worker: the page's long work off the UI thread (classical fits, deep training, scoring a
// model file, Grad-CAM, adversarial examples and every model's accuracy against them, the embedding map),
// with an engine, one of the site's larger wasm modules (www/lib/engine.js starts it).
//
// The messages it takes and sends are declared in protocol.js.
// A classical fit is synchronous in wasm: cancelling it is terminating the worker (the page starts a
// fresh one). Deep training yields between batches, so it can be paused and stopped (keeping the best
// epoch so far).

import { fetchBytes } from "./lib/fetch.js";
import { FromWorker, ToWorker } from "./lib/protocol.js";

let wasm = null;

const post = (message, transfer = []) => self.postMessage(message, transfer);

// The WebGPU devices this worker opens (burn's wgpu backend asks through this API), watched for loss.
self.gpuDevices = [];
let currentId = null;
let gpuLost = null; // resolves with the reason once a device is lost
const gpuLostReason = new Promise((resolve) => { gpuLost = resolve; });
if (self.GPUAdapter?.prototype?.requestDevice) {
  const requestDevice = GPUAdapter.prototype.requestDevice;
  GPUAdapter.prototype.requestDevice = async function (...args) {
    const device = await requestDevice.apply(this, args);
    self.gpuDevices.push(device);
    device.lost.then((info) => gpuLost(info.message || info.reason || "no reason given"));
    return device;
  };
}
gpuLostReason.then((message) => post({ type: FromWorker.DEVICE_LOST, id: currentId, message }));

// An error from GPU work often arrives just before the device's loss is reported: wait a moment for it,
// so that the page hears "device lost" (and falls back) rather than a bare failure.
async function lostDevice() {
  if (!self.gpuDevices.length) return null;
  return Promise.race([gpuLostReason, new Promise((resolve) => setTimeout(() => resolve(null), 1000))]);
}

// Loads an engine ({glue, wasm}: its URLs).
async function load({ glue, wasm: url }) {
  wasm = await import(glue);
  // The module's memory, for tests/e2e/load.mjs's bounds on what repeated work leaves behind.
  self.wasmMemory = (await wasm.default({ module_or_path: url })).memory;
}

// The page's dataset from its IDX bytes: official files are checksummed, the built-in sample is not.
function datasetOf({ images, labels, split }) {
  if (!wasm) throw new Error("the worker has not loaded the wasm module yet");
  return split ? wasm.WebDataset.fromOfficial(split, images, labels) : wasm.WebDataset.fromIdx(images, labels, "dataset");
}

self.onmessage = async (event) => {
  const msg = event.data;
  if (msg.id !== undefined && msg.type !== ToWorker.PAUSE && msg.type !== ToWorker.RESUME && msg.type !== ToWorker.STOP) currentId = msg.id;
  try {
    if (msg.type === ToWorker.INIT) {
      try {
        await load(msg);
        // The threaded engine: rayon's pool of `threads` Web Workers, started once, before any work.
        if (msg.threads) await wasm.initThreadPool(msg.threads);
      } catch (e) {
        if (!msg.fallback) throw e;
        console.warn(`the threaded engine did not start (${e.message || e}): one thread`);
        await load(msg.fallback);
      }
      post({ type: FromWorker.READY });
    } else if (msg.type === ToWorker.FIT_CLASSICAL) {
      const dataset = datasetOf(msg.dataset);
      const progress = (p) => {
        post({ type: FromWorker.PROGRESS, id: msg.id, stage: p.stage, fraction: p.fraction });
        return true;
      };
      const model = wasm.WebClassical.fit(msg.model, dataset, { train_size: msg.trainSize }, progress);
      const heldOut = dataset.heldOut(msg.trainSize);
      const scores = heldOut.length > 0 ? model.evaluate(heldOut) : null;
      const bytes = model.toBytes();
      post({
        type: FromWorker.DONE, id: msg.id, model: msg.model, trainSize: msg.trainSize,
        accuracy: scores ? scores.accuracy : null, heldOut: heldOut.length,
        fitSeconds: model.fitSeconds, config: model.config(), bytes,
      }, [bytes.buffer]);
      model.free(); heldOut.free(); dataset.free();
    } else if (msg.type === ToWorker.EVALUATE) {
      const dataset = datasetOf(msg.dataset);
      const file = wasm.modelFileKind(msg.bytes), { family, kind } = file;
      if (family === "deep") await wasm.selectBackend(msg.backend || "auto");
      const model = modelOf(msg.bytes, file);
      const results = await model.evaluate(dataset);
      model.free();
      dataset.free();
      post({ type: FromWorker.EVALUATED, id: msg.id, family, kind, results });
    } else if (msg.type === ToWorker.SELECT_BACKEND) {
      const report = await wasm.selectBackend(msg.backend || "auto");
      // The models kept for Grad-CAM and attacks live on the old device: they are loaded again when next
      // asked for.
      for (const model of kept.values()) model.free();
      kept.clear();
      post({ type: FromWorker.BACKEND, id: msg.id, report });
    } else if (msg.type === ToWorker.EXPLAIN) {
      const cam = await keptModel(msg).gradCam(msg.pixels, msg.class);
      post({ type: FromWorker.EXPLAINED, id: msg.id, cam });
    } else if (msg.type === ToWorker.ATTACK) {
      const pixels = await keptModel(msg).attack(msg.pixels, msg.labels, msg.config);
      post({ type: FromWorker.ATTACKED, id: msg.id, pixels }, [pixels.buffer]);
    } else if (msg.type === ToWorker.ROBUSTNESS) {
      await robustness(msg);
    } else if (msg.type === ToWorker.MAP) {
      await mapDataset(msg);
    } else if (msg.type === ToWorker.TRAIN_DEEP) {
      await trainDeep(msg);
    } else if (msg.type === ToWorker.PAUSE || msg.type === ToWorker.RESUME || msg.type === ToWorker.STOP) {
      if (msg.type === ToWorker.STOP) control.stopped = true;
      else control.paused = msg.type === ToWorker.PAUSE;
      if (msg.type !== ToWorker.PAUSE && control.wake) control.wake();
    }
  } catch (e) {
    if (await lostDevice()) return; // reported as "device-lost"
    post({ type: FromWorker.ERROR, id: msg.id, message: String(e && e.message ? e.message : e) });
  }
};

const control = { paused: false, stopped: false, wake: null };

// The deep models Grad-CAM or an attack was asked of, by the page's key, on the selected backend.
const kept = new Map();

// The deep model a request names ({key, bytes}), loaded the first time.
function keptModel({ key, bytes }) {
  let model = kept.get(key);
  if (!model) {
    model = wasm.WebModel.fromBytes(bytes);
    kept.set(key, model);
  }
  return model;
}

// The model in a model file's `bytes`, of `family` ("deep" or "classical", as wasm.modelFileKind reads
// it); a classical file must be of `kind`. A deep model goes on the selected backend.
function modelOf(bytes, { family, kind }) {
  return family === "deep" ? wasm.WebModel.fromBytes(bytes) : wasm.WebClassical.fromBytes(bytes, kind);
}

// The accuracy-against-ε chart's data: at each ε, the images attacked against the attacker, then every
// model's class probabilities for them. Progress after each attack and each ε's answers.
async function robustness(msg) {
  await wasm.selectBackend(msg.backend || "auto");
  const owned = [];
  try {
    const attacker = wasm.WebModel.fromBytes(msg.attacker);
    owned.push(attacker);
    const models = [];
    // The shipped files, from the browser's cache, where the page loaded them.
    for (const { file, kind } of msg.models) {
      const bytes = await fetchBytes(file);
      models.push(modelOf(bytes, { family: wasm.modelFileKind(bytes).family, kind }));
      owned.push(models.at(-1));
    }
    const scores = models.map(() => []);
    let attackMillis = 0;
    const steps = msg.epsilons.length;
    for (const [k, epsilon] of msg.epsilons.entries()) {
      post({ type: FromWorker.PROGRESS, id: msg.id, stage: "attack", fraction: k / steps, epsilon });
      const t0 = performance.now();
      const adv = await attacker.attack(msg.images, msg.labels, { ...msg.config, epsilon });
      attackMillis += performance.now() - t0;
      post({ type: FromWorker.PROGRESS, id: msg.id, stage: "answers", fraction: (k + 0.5) / steps, epsilon });
      for (const [j, model] of models.entries()) scores[j].push(...(await model.probabilities(adv)));
    }
    const flat = Float32Array.from(scores.flat());
    post({ type: FromWorker.ROBUST, id: msg.id, scores: flat, attackSeconds: attackMillis / 1000 }, [flat.buffer]);
  } finally {
    for (const m of owned) m.free();
  }
}

// The embedding map, in steps, with progress at most about 4 times a second.
async function mapDataset(msg) {
  const dataset = datasetOf(msg.dataset);
  await wasm.selectBackend(msg.backend || "auto");
  post({ type: FromWorker.PROGRESS, id: msg.id, stage: "features", fraction: 0 });
  const t0 = performance.now();
  const map = await wasm.WebMap.start(dataset, msg.options, msg.deep, msg.classical ?? undefined);
  const t1 = performance.now();
  let lastPost = 0;
  while (!map.step()) {
    const now = performance.now();
    if (now - lastPost > 250) {
      const p = map.progress();
      post({ type: FromWorker.PROGRESS, id: msg.id, stage: p.stage, fraction: p.overall });
      lastPost = now;
    }
  }
  const seconds = { features: (t1 - t0) / 1000, map: (performance.now() - t1) / 1000 };
  const labels = map.labels(), predicted = map.predicted(), points = map.points();
  const share = map.neighbourShare(wasm.quizItems(labels, 10, 0), 10);
  const dims = map.dims;
  map.free();
  dataset.free();
  post({ type: FromWorker.MAPPED, id: msg.id, points, labels, predicted, share, dims, seconds }, [points.buffer]);
}

async function trainDeep(msg) {
  Object.assign(control, { paused: false, stopped: false, wake: null });
  const all = datasetOf(msg.dataset);
  const report = await wasm.selectBackend(msg.backend || "auto");
  post({ type: FromWorker.BACKEND, id: msg.id, report });
  const dataset = msg.trainSize && msg.trainSize < all.length ? all.balanced(msg.trainSize) : all;
  const trainer = new wasm.WebTrainer(msg.model, dataset, { recipe: msg.recipe || {} });
  post({ type: FromWorker.RECIPE, id: msg.id, recipe: trainer.recipe() });
  const history = [];
  let lastPost = 0, lastYield = performance.now();
  for (;;) {
    // A CPU step resolves without ever leaving the task, so pause/stop messages would wait until the end:
    // give the event loop a turn at least every 50 ms.
    if (performance.now() - lastYield > 50) {
      await new Promise((resolve) => setTimeout(resolve, 0));
      lastYield = performance.now();
    }
    while (control.paused && !control.stopped) await new Promise((resolve) => { control.wake = resolve; });
    if (control.stopped) break;
    const step = await trainer.step();
    if (step.kind === "batch") {
      const now = performance.now();
      if (now - lastPost > 250) { post({ type: FromWorker.BATCH, id: msg.id, progress: step.progress }); lastPost = now; }
    } else if (step.kind === "epoch") {
      history.push(step.record);
      post({ type: FromWorker.EPOCH, id: msg.id, record: step.record });
    } else break;
  }
  const model = trainer.finish();
  const bytes = await model.toBytes();
  // wasm objects are freed here, not left to the garbage collector: each holds tensors (GPU buffers on
  // WebGPU), and back-to-back runs would otherwise pile them up (tests/e2e/load.mjs counts them).
  model.free();
  trainer.free();
  if (dataset !== all) dataset.free();
  all.free();
  post({ type: FromWorker.TRAINED, id: msg.id, model: msg.model, history, stopped: control.stopped, bytes }, [bytes.buffer]);
}
