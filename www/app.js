// Fashion Lab page controller: wires the DOM to the Rust/wasm API. The page's own module
// (window.wasmBindings, set by trunk) prepares pictures, classifies on the CPU and builds the figures;
// training, Grad-CAM and scoring run in workers on the engine module (engine.js). All computation happens
// in wasm; this file only moves bytes and draws the figures Rust builds.

import { drawFigures, plotly } from "./charts.js";
import { fetchBytes } from "./fetch.js";
import { engineClient, startWorker } from "./engine.js";
import { CLASSICAL, DEEP, PHOTO_VARIANTS, TITLES, answering, loadShippedModels, modelListeners,
  shipped, shippedState, titlesOf } from "./models.js";
import { FromWorker, ToWorker } from "./protocol.js";

const $ = (id) => document.getElementById(id);
const OFFICIAL = {
  "train-images-idx3-ubyte.gz": ["train", "images"],
  "train-labels-idx1-ubyte.gz": ["train", "labels"],
  "t10k-images-idx3-ubyte.gz": ["test", "images"],
  "t10k-labels-idx1-ubyte.gz": ["test", "labels"],
};

// A WebGPU device lost in a worker (a driver reset, a removed GPU, or `destroy()`): `onGpuLost` moves
// the workers to the CPU. The page itself opens no GPU device: its module classifies on the CPU.
let onGpuLost = null;

// The engine worker serving the page: the backend in the header and Grad-CAM. It starts once every
// shipped model has loaded (or when the visitor changes the backend), not before the first answer.
const showBackend = (r) => {
  $("backend-name").textContent = r.description;
  $("backend-detail").textContent = r.fallback_reason ? `(${r.fallback_reason})` : "";
  document.body.dataset.backend = r.kind;
  document.body.dataset.engine = "ready";
};
const engine = engineClient({ onBackend: showBackend, onLost: (why) => onGpuLost?.(why) });

function whenWasmReady() {
  if (window.wasmBindings) return Promise.resolve(window.wasmBindings);
  return new Promise((resolve) =>
    addEventListener("TrunkApplicationStarted", () => resolve(window.wasmBindings), { once: true }));
}

// A file input inside a drop zone: files chosen or dropped go to `take` (a FileList).
function wireFileDrop(inputId, zoneId, take) {
  $(inputId).addEventListener("change", (ev) => take(ev.target.files));
  const zone = $(zoneId);
  zone.addEventListener("dragover", (ev) => { ev.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (ev) => { ev.preventDefault(); zone.classList.remove("over"); take(ev.dataTransfer.files); });
}

function setStatus(text, isError = false) {
  const el = $("dataset-status");
  el.textContent = text;
  el.classList.toggle("error", isError);
}

// Downloads several files from this site with one progress bar in "The dataset".
async function fetchWithProgress(urls, what) {
  const bar = $("dataset-progress"), got = urls.map(() => 0), totals = urls.map(() => 0);
  bar.hidden = false;
  bar.value = 0;
  const show = () => {
    const [sum, total] = [got.reduce((a, b) => a + b, 0), totals.reduce((a, b) => a + b, 0)];
    if (total) bar.value = sum / total;
    document.body.dataset.downloaded = String(sum);
    setStatus(`Downloading ${what}: ${(sum / 1e6).toFixed(1)}${total ? ` of ${(total / 1e6).toFixed(1)}` : ""} MB…`);
  };
  try {
    return await Promise.all(urls.map((u, i) => fetchBytes(u, (r, t) => { got[i] = r; totals[i] = t; show(); })));
  } finally {
    bar.hidden = true;
  }
}

// The dataset shown in the page, as the bytes the worker needs to rebuild it: {images, labels, split, length}.
let current = null;

function showDataset(wasm, dataset, source) {
  current = { ...source, length: dataset.length };
  const size = $("classical-size");
  size.max = String(dataset.length);
  if (Number(size.value) > dataset.length) size.value = String(Math.floor(dataset.length * 0.7));
  const stats = dataset.stats();
  setStatus(`${dataset.label}: ${dataset.length.toLocaleString()} images, pixel mean ${stats.mean.toFixed(2)}, ` +
            `median ${stats.median}, std ${stats.std.toFixed(2)}.`);
  drawFigures($("analysis"), dataset.analysisFigures(10));
}

// Picks the workers' backend (training, Grad-CAM, scoring); loads the engine first if need be.
async function selectBackend(preference) {
  $("backend-name").textContent = "detecting…";
  try {
    return await engine.selectBackend(preference);
  } catch (e) {
    $("backend-name").textContent = "unavailable";
    $("backend-detail").textContent = String(e.message || e);
    document.body.dataset.backend = "none";
  }
}

async function loadOfficial(wasm, files) {
  // files: { "name.gz": Uint8Array }; prefer the training split, as the study's analysis does.
  for (const split of ["train", "test"]) {
    const pick = (kind) => Object.keys(files).find((n) => OFFICIAL[n]?.[0] === split && OFFICIAL[n][1] === kind);
    const [imgName, labName] = [pick("images"), pick("labels")];
    if (imgName && labName) {
      const source = { images: files[imgName], labels: files[labName], split };
      return [wasm.WebDataset.fromOfficial(split, source.images, source.labels), source];
    }
  }
  const names = Object.keys(files).join(", ") || "none";
  throw new Error(`need an images file and a labels file of the same split with their official names; got: ${names}`);
}

const pct = (x) => `${(100 * x).toFixed(2)}%`;
const secs = (s) => (s >= 120 ? `${(s / 60).toFixed(1)} min` : `${s.toFixed(1)} s`);
const cell = (row, text) => { const td = document.createElement("td"); td.textContent = text; row.append(td); return td; };

const summaries = {};

async function showModelDetail(wasm) {
  const name = $("detail-model").value, s = summaries[name];
  $("cell-images").replaceChildren();
  $("cell-status").textContent = "";
  if (!s) { $("model-figures").replaceChildren(); return; }
  await drawFigures($("model-figures"), wasm.modelFigures(s), "detail");
  const classes = wasm.classNames();
  $(`fig-${name}-confusion`)?.on?.("plotly_click", (ev) => { // absent when the charts could not load
    const p = ev.points?.[0];
    if (p) showCell(wasm, classes.indexOf(p.y), classes.indexOf(p.x));
  });
}

// The official test set, loaded once when first needed: the test files dropped on the page if any, else
// this site's data folder (checksummed either way). Resolves to {dataset: WebDataset, source}.
let testSetPromise = null;
function testSet(wasm) {
  testSetPromise ??= (async () => {
    const [images, labels] = await Promise.all([
      fetchBytes("data/t10k-images-idx3-ubyte.gz"), fetchBytes("data/t10k-labels-idx1-ubyte.gz")]);
    return { dataset: wasm.WebDataset.fromOfficial("test", images, labels), source: { images, labels, split: "test" } };
  })();
  testSetPromise.catch(() => { testSetPromise = null; }); // not served: try again next time
  return testSetPromise;
}

const CELL_LIMIT = 120;

// Shows the test images counted in one confusion-matrix cell of the model in detail.
async function showCell(wasm, truth, predicted) {
  const name = $("detail-model").value, s = summaries[name];
  const status = $("cell-status"), box = $("cell-images"), classes = wasm.classNames();
  if (!(truth >= 0 && predicted >= 0)) return;
  $("cell-true").value = String(truth);
  $("cell-pred").value = String(predicted);
  status.classList.remove("error");
  box.replaceChildren();
  const fail = (text) => { status.textContent = text; status.classList.add("error"); };
  if (!s?.test?.predictions) return fail(`${TITLES[name]}: its summary records no per-image predictions.`);
  status.textContent = "Loading the test images…";
  let test;
  try {
    test = await testSet(wasm);
  } catch (e) {
    return fail(`The test images are not available here (${e.message || e}). Drop t10k-images-idx3-ubyte.gz and ` +
      `t10k-labels-idx1-ubyte.gz on "The dataset" above to see them.`);
  }
  const preds = s.test.predictions, labels = test.dataset.labels();
  if (preds.length !== labels.length) return fail(`${TITLES[name]}'s predictions cover ${preds.length} images, the test set has ${labels.length}.`);
  const hits = [];
  for (let i = 0; i < labels.length; i++) if (labels[i] === truth && preds.charCodeAt(i) - 48 === predicted) hits.push(i);
  if (hits.length !== s.test.confusion_matrix[truth][predicted]) return fail("These test images do not match the model's recorded results.");
  const what = truth === predicted ? `${classes[truth]}, correctly classified` : `true ${classes[truth]}, predicted ${classes[predicted]}`;
  status.textContent = `${TITLES[name]}: ${what}: ${hits.length.toLocaleString()} test images` +
    (hits.length > CELL_LIMIT ? `, the first ${CELL_LIMIT} shown.` : ".");
  for (const i of hits.slice(0, CELL_LIMIT)) {
    const canvas = document.createElement("canvas");
    canvas.width = canvas.height = 28;
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", `Test image ${i}: ${what}`);
    canvas.title = `test image #${i}`;
    const ctx = canvas.getContext("2d"), img = ctx.createImageData(28, 28);
    test.dataset.image(i).forEach((v, k) => img.data.set([v, v, v, 255], 4 * k));
    ctx.putImageData(img, 0, 0);
    box.append(canvas);
  }
  document.body.dataset.cellImages = String(Math.min(hits.length, CELL_LIMIT));
}

function wireCells(wasm) {
  const classes = wasm.classNames();
  for (const id of ["cell-true", "cell-pred"]) classes.forEach((c, i) => $(id).add(new Option(c, String(i))));
  $("cell-pred").value = "6";
  $("cell-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    showCell(wasm, Number($("cell-true").value), Number($("cell-pred").value));
  });
}

// Scores a model file in a fresh worker (the page stays responsive), then ends the worker.
async function evaluateInWorker(bytes, source) {
  const { worker, ready } = startWorker();
  try {
    await ready;
    return await new Promise((resolve, reject) => {
      worker.onmessage = (ev) => {
        if (ev.data.type === FromWorker.EVALUATED) resolve(ev.data);
        else if (ev.data.type === FromWorker.ERROR) reject(new Error(ev.data.message));
        else if (ev.data.type === FromWorker.DEVICE_LOST) {
          onGpuLost?.(ev.data.message);
          reject(new Error(`the GPU device was lost (${ev.data.message}); score it again on the CPU`));
        }
      };
      worker.onerror = (ev) => reject(new Error(ev.message || "the worker failed"));
      worker.postMessage({ type: ToWorker.EVALUATE, id: 1, bytes, backend: document.body.dataset.backend || "auto",
        dataset: { images: source.images.slice(), labels: source.labels.slice(), split: source.split } });
    });
  } finally {
    worker?.terminate();
  }
}

// Models trained on this page or loaded from a file: {key, title, family, kind, bytes, model}.
const yours = [];
let sampleSource = null; // the built-in sample's IDX bytes

// Adds a model file to "Your models": scores it beside the shipped model of the same kind and lets it
// classify. `from` says where it came from; `trainedOnSample`: it was trained on the built-in sample,
// which is part of the test set.
async function addYourModel(wasm, bytes, from, trainedOnSample = false) {
  const status = $("yours-status");
  status.classList.remove("error");
  let info, model;
  try {
    info = wasm.modelFileKind(bytes);
    model = info.family === "deep" ? wasm.WebModel.fromBytes(bytes) : wasm.WebClassical.fromBytes(bytes, info.kind);
  } catch (e) {
    status.textContent = `That file cannot be used: ${e.message || e}`;
    status.classList.add("error");
    return;
  }
  const same = yours.filter((y) => y.kind === info.kind).length;
  const entry = { key: `yours-${yours.length + 1}`, title: `${TITLES[info.kind]} (yours${same ? ` ${same + 1}` : ""})`,
    family: info.family, kind: info.kind, bytes, model };
  yours.push(entry);
  const row = $("yours-table").tBodies[0].insertRow();
  cell(row, entry.title);
  cell(row, from);
  const [onCell, mineCell, shippedCell, diffCell] = [cell(row, "…"), cell(row, "scoring…"), cell(row, "…"), cell(row, "…")];
  status.textContent = `${entry.title}: scoring it on the test images in the background…`;
  try {
    let set;
    try {
      set = { source: (await testSet(wasm)).source, label: "the 10,000 test images", full: true };
    } catch {
      set = { source: sampleSource, label: "the built-in sample (1,000 test images)", full: false };
    }
    const mine = (await evaluateInWorker(bytes, set.source)).results.accuracy;
    const ext = info.family === "deep" ? "weights" : "model";
    const shippedAccuracy = set.full && summaries[info.kind] ? summaries[info.kind].test.accuracy
      : (await evaluateInWorker(await fetchBytes(`pretrained/${info.kind}.${ext}`), set.source)).results.accuracy;
    onCell.textContent = set.label + (trainedOnSample ? " (its training images are among them: optimistic)" : "");
    mineCell.textContent = pct(mine);
    mineCell.className = "accuracy";
    shippedCell.textContent = pct(shippedAccuracy);
    const points = 100 * (mine - shippedAccuracy);
    diffCell.textContent = `${points >= 0 ? "+" : "−"}${Math.abs(points).toFixed(2)} points`;
    status.textContent = `${entry.title}: ${pct(mine)} on ${set.label}, the shipped ${TITLES[info.kind]} ${pct(shippedAccuracy)}. ` +
      "It answers in \"Classify a picture\" too.";
  } catch (e) {
    mineCell.textContent = "failed";
    status.textContent = `${entry.title}: scoring failed: ${e.message || e}`;
    status.classList.add("error");
  }
  document.body.dataset.yours = String(yours.length);
}

function wireYours(wasm) {
  const take = async (file) => {
    if (!file) return;
    await addYourModel(wasm, new Uint8Array(await file.arrayBuffer()), `file ${file.name}`);
  };
  wireFileDrop("yours-input", "yours-drop", (files) => take(files[0]));
}

async function showShippedModels(wasm) {
  const names = { cnn: "CNN", resnet: "ResNet", mlp: "MLP", logreg: "Logistic regression", svm: "SVM (RBF)", rf: "Random forest", knn: "k-NN" };
  const body = $("shipped-models").tBodies[0];
  for (const name of Object.keys(names)) {
    try {
      const s = await (await fetch(`pretrained/${name}.json`)).json();
      summaries[name] = s;
      const row = body.insertRow();
      cell(row, names[name]);
      cell(row, pct(s.test.accuracy));
      cell(row, s.config.pipeline || "pixels (the network learns its own)");
      cell(row, s.params.toLocaleString());
      cell(row, secs(s.train_seconds));
    } catch { /* a model not shipped in this build */ }
  }
  document.body.dataset.shipped = String(body.rows.length);
  const shipped = Object.values(summaries);
  if (shipped.length) drawFigures($("comparison"), wasm.comparisonFigures(shipped), "comparison");
  $("detail-model").addEventListener("change", () => showModelDetail(wasm));
  showModelDetail(wasm);
}

// The background worker that fits classical models. Cancelling terminates it; the next fit starts a new one.
function classicalTrainer() {
  let worker = null, ready = null, nextId = 1;
  const start = () => ({ worker, ready } = startWorker());
  return {
    async fit(model, trainSize, dataset, onProgress) {
      if (!worker) start();
      await ready;
      const id = nextId++;
      return new Promise((resolve, reject) => {
        this.reject = reject;
        worker.onmessage = (ev) => {
          const m = ev.data;
          if (m.id !== id) return;
          if (m.type === FromWorker.PROGRESS) onProgress(m);
          else if (m.type === FromWorker.DONE) resolve(m);
          else if (m.type === FromWorker.ERROR) reject(new Error(m.message));
        };
        worker.onerror = (ev) => {
          ev.preventDefault();
          worker.terminate();
          worker = null; // the next fit starts a fresh worker
          reject(new Error(`the worker crashed (${ev.message || "unknown error"}); try again`));
        };
        worker.postMessage({ type: ToWorker.FIT_CLASSICAL, id, model, trainSize,
          dataset: { images: dataset.images.slice(), labels: dataset.labels.slice(), split: dataset.split } });
      });
    },
    cancel() {
      if (worker) worker.terminate();
      worker = null;
      if (this.reject) this.reject(new Error("cancelled"));
    },
  };
}

// Deep training in its own worker, one batch at a time: live curves, pause, stop.
function wireDeep(wasm) {
  const [form, status, bar, trainBtn, pauseBtn, stopBtn] =
    ["deep-form", "deep-status", "deep-progress", "deep-train", "deep-pause", "deep-stop"].map($);
  let worker = null, ready = null, paused = false, id = 0;
  const start = () => ({ worker, ready } = startWorker());
  const setBusy = (busy) => {
    trainBtn.disabled = busy; pauseBtn.disabled = !busy; stopBtn.disabled = !busy; bar.hidden = !busy;
    paused = false; pauseBtn.textContent = "Pause";
  };
  pauseBtn.addEventListener("click", () => {
    paused = !paused;
    worker.postMessage({ type: paused ? ToWorker.PAUSE : ToWorker.RESUME, id });
    pauseBtn.textContent = paused ? "Resume" : "Pause";
    status.textContent = paused ? "Paused." : "Resumed.";
  });
  stopBtn.addEventListener("click", () => worker.postMessage({ type: ToWorker.STOP, id }));
  // The recipes and their bounds come from Rust (www/recipes.json, written by `fashionlab recipe --json`):
  // the form shows the selected model's recipe, and its inputs offer what Rust validates.
  const fields = { learning_rate: "deep-lr", weight_decay: "deep-wd", warmup_epochs: "deep-warmup", label_smoothing: "deep-smoothing" };
  let catalogue = null;
  const showRecipe = () => {
    const sheet = catalogue?.recipes.find((r) => r.model === $("deep-model").value);
    if (!sheet) return;
    const { architecture, train } = sheet.recipe, limits = catalogue.limits;
    for (const [key, input] of Object.entries(fields)) $(input).value = String(train[key]);
    $("deep-augment").value = sheet.augmentation;
    $("deep-dropout-label").hidden = !("dropout" in architecture);
    $("deep-dropout").value = String(architecture.dropout ?? 0);
    $("deep-batch-norm-label").hidden = !("batch_norm" in architecture);
    $("deep-batch-norm").checked = Boolean(architecture.batch_norm);
    $("deep-epochs").value = String(sheet.page.epochs);
    $("deep-batch").value = String(sheet.page.batch_size);
    $("deep-size").value = String(sheet.page.train_size);
    const bounds = { "deep-epochs": limits.epochs, "deep-batch": limits.batch_size, "deep-lr": limits.learning_rate,
      "deep-wd": limits.weight_decay, "deep-smoothing": limits.label_smoothing, "deep-dropout": limits.dropout };
    for (const [input, [lo, hi]] of Object.entries(bounds)) { $(input).min = String(lo); $(input).max = String(hi); }
    $("deep-size").min = String(limits.min_train_size);
    $("deep-recipe-note").textContent = `The shipped ${sheet.model.toUpperCase()}'s recipe (the one \`fashionlab train\` uses): ` +
      `${train.epochs} epochs of batch ${train.batch_size} on the full training set. This page trains ` +
      `${sheet.page.epochs} epochs of batch ${sheet.page.batch_size} on ${sheet.page.train_size.toLocaleString("en-US")} images by default; ` +
      "the other fields are the recipe's. Rust checks every value when training starts.";
    document.body.dataset.recipeShown = sheet.model;
  };
  fetch("recipes.json").then((r) => r.json()).then((c) => { catalogue = c; showRecipe(); })
    .catch((e) => { status.textContent = `The recipes could not be loaded: ${e.message || e}`; });
  $("deep-model").addEventListener("change", showRecipe);
  const readRecipe = (model) => {
    const num = (id) => Number($(id).value);
    const edits = { epochs: Math.floor(num("deep-epochs")), batch_size: Math.floor(num("deep-batch")),
      augment: $("deep-augment").value };
    for (const [key, input] of Object.entries(fields)) edits[key] = num(input);
    if (!$("deep-dropout-label").hidden) edits.dropout = num("deep-dropout");
    if (model === "cnn") edits.batch_norm = $("deep-batch-norm").checked;
    return edits;
  };
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!current) { status.textContent = "Load a dataset first."; return; }
    const model = $("deep-model").value, label = $("deep-model").selectedOptions[0].textContent;
    // The bounds are Rust's (recipes.json); without them the form cannot say what is allowed.
    if (!catalogue) { status.textContent = "The recipes have not loaded yet; try again in a moment."; return; }
    const minSize = catalogue.limits.min_train_size;
    const size = Math.min(Math.floor(Number($("deep-size").value)), current.length);
    if (!(size >= minSize)) {
      status.textContent = `Choose at least ${minSize} training images.`;
      status.classList.add("error");
      return;
    }
    const recipe = readRecipe(model);
    status.classList.remove("error");
    setBusy(true);
    const trainedOn = current;
    const chart = $("deep-curves");
    let Plotly;
    try {
      Plotly = await plotly();
    } catch (e) {
      status.textContent = `${label}: ${e.message}; training needs it for its curves.`;
      status.classList.add("error");
      setBusy(false);
      return;
    }
    Plotly.newPlot(chart, [
      { type: "scatter", mode: "lines", name: "training loss (batch)", x: [], y: [] },
      { type: "scatter", mode: "lines+markers", name: "validation accuracy", x: [], y: [], yaxis: "y2" },
    ], { title: { text: `${label}: live training`, font: { size: 14 } }, height: 340,
      xaxis: { title: { text: "epoch" } }, yaxis: { title: { text: "loss" } },
      yaxis2: { title: { text: "accuracy" }, overlaying: "y", side: "right", range: [0, 1], tickformat: ".0%" },
      legend: { orientation: "h", y: -0.25 } }, { responsive: true, displaylogo: false });
    document.body.dataset.deepPoints = "0";
    try {
      if (!worker) start();
      await ready;
      id += 1;
      const result = await new Promise((resolve, reject) => {
        worker.onmessage = (e) => {
          const m = e.data;
          if (m.id !== id) return;
          if (m.type === FromWorker.BACKEND) {
            status.textContent = `Training ${label} on ${m.report.description}…`;
            document.body.dataset.trainingBackend = m.report.kind;
          } else if (m.type === FromWorker.RECIPE) {
            // The recipe the worker's trainer holds, after Rust applied and checked the edits.
            document.body.dataset.trainingRecipe = JSON.stringify(m.recipe);
          }
          else if (m.type === FromWorker.BATCH) {
            const p = m.progress;
            const x = p.epoch - 1 + p.batch / p.batches;
            Plotly.extendTraces(chart, { x: [[x]], y: [[p.loss]] }, [0]);
            document.body.dataset.deepPoints = String(Number(document.body.dataset.deepPoints) + 1);
            bar.value = (p.epoch - 1 + p.batch / p.batches) / p.epochs;
            document.body.dataset.deepImagesPerSecond = String(Math.round(p.images_per_second));
            if (!paused) status.textContent = `${label}: epoch ${p.epoch}/${p.epochs}, batch ${p.batch}/${p.batches}, ` +
              `loss ${p.loss.toFixed(3)}, ${Math.round(p.images_per_second)} images/s, ETA ${Math.round(p.eta_seconds)} s`;
          } else if (m.type === FromWorker.EPOCH) {
            Plotly.extendTraces(chart, { x: [[m.record.epoch]], y: [[m.record.val_accuracy]] }, [1]);
            document.body.dataset.deepPoints = String(Number(document.body.dataset.deepPoints) + 1);
          } else if (m.type === FromWorker.TRAINED) resolve(m);
          else if (m.type === FromWorker.ERROR) reject(new Error(m.message));
          else if (m.type === FromWorker.DEVICE_LOST) {
            onGpuLost?.(m.message);
            reject(Object.assign(new Error(m.message), { deviceLost: true }));
          }
        };
        worker.onerror = (ev) => {
          ev.preventDefault();
          reject(Object.assign(new Error(ev.message || "unknown error"), { crashed: true }));
        };
        worker.postMessage({ type: ToWorker.TRAIN_DEEP, id, model, backend: document.body.dataset.backend || "auto",
          recipe, trainSize: size,
          dataset: { images: current.images.slice(), labels: current.labels.slice(), split: current.split } });
      });
      const best = result.history.reduce((a, r) => (a && a.val_accuracy >= r.val_accuracy ? a : r), null);
      const link = document.createElement("a");
      link.href = URL.createObjectURL(new Blob([result.bytes], { type: "application/octet-stream" }));
      link.download = `${model}.weights`;
      link.textContent = "download the weights";
      status.replaceChildren(`${label}: ${result.stopped ? "stopped" : "finished"}` +
        (best ? `, best validation accuracy ${pct(best.val_accuracy)} (epoch ${best.epoch}); ` : "; "), link);
      document.body.dataset.deepTrained = String(result.history.length);
      document.body.dataset.deepHistory = JSON.stringify(result.history.map((r) => r.val_accuracy));
      if (result.history.length) {
        addYourModel(wasm, result.bytes, `trained here: ${size.toLocaleString()} images, ${result.history.length} epoch(s)`,
          trainedOn.split === null);
      }
    } catch (e) {
      if (e.crashed) {
        // Whatever state the crashed worker is in, it is not trusted again: the next run starts a fresh one.
        worker.terminate();
        worker = null;
        status.textContent = `The training worker crashed (${e.message}). The page is fine; press Train to start again.`;
      } else if (e.deviceLost) {
        // The worker's GPU work can no longer finish: end that worker; the next run starts a fresh one.
        worker.terminate();
        worker = null;
        status.textContent = `Training stopped: the GPU device was lost (${e.message}). The page now runs on the CPU; ` +
          "press Train to train there.";
      } else {
        status.textContent = `Training failed: ${e.message || e}`;
      }
      status.classList.add("error");
    } finally {
      setBusy(false);
    }
  });
}

function wireClassical(wasm) {
  const trainer = classicalTrainer();
  const [form, status, bar, trainBtn, cancelBtn] =
    ["classical-form", "classical-status", "classical-progress", "classical-train", "classical-cancel"].map($);
  const setBusy = (busy) => { trainBtn.disabled = busy; cancelBtn.disabled = !busy; bar.hidden = !busy; };
  cancelBtn.addEventListener("click", () => trainer.cancel());
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!current) { status.textContent = "Load a dataset first."; return; }
    const model = $("classical-model").value;
    const size = Math.floor(Number($("classical-size").value));
    if (!(size >= 10 && size <= current.length)) {
      status.textContent = `Choose between 10 and ${current.length.toLocaleString()} training images.`;
      status.classList.add("error");
      return;
    }
    status.classList.remove("error");
    setBusy(true);
    bar.value = 0;
    const trainedOn = current;
    const label = $("classical-model").selectedOptions[0].textContent;
    status.textContent = `Fitting ${label} on ${size.toLocaleString()} images in the background…`;
    try {
      const r = await trainer.fit(model, size, current, (p) => {
        bar.value = p.stage === "features" ? 0.05 : 0.1 + 0.9 * p.fraction;
        status.textContent = `Fitting ${label}: ${p.stage === "features" ? "computing features" : `${Math.round(100 * p.fraction)}%`}`;
      });
      const row = $("classical-results").tBodies[0].insertRow(0);
      cell(row, label);
      cell(row, r.trainSize.toLocaleString());
      cell(row, r.accuracy === null ? "–" : pct(r.accuracy)).className = "accuracy";
      cell(row, `${r.heldOut.toLocaleString()} images`);
      cell(row, secs(r.fitSeconds));
      cell(row, r.config.pipeline);
      const link = document.createElement("a");
      link.href = URL.createObjectURL(new Blob([r.bytes], { type: "application/octet-stream" }));
      link.download = `${model}.model`;
      link.textContent = `${(r.bytes.length / 1024).toFixed(0)} KB`;
      row.insertCell().append(link);
      status.textContent = `${label}: ${r.accuracy === null ? "fitted" : `${pct(r.accuracy)} on ${r.heldOut.toLocaleString()} held-out images`}.`;
      document.body.dataset.classical = String(Number(document.body.dataset.classical || 0) + 1);
      addYourModel(wasm, r.bytes, `trained here: ${size.toLocaleString()} images`, trainedOn.split === null);
    } catch (e) {
      status.textContent = e.message === "cancelled" ? "Cancelled." : `Training failed: ${e.message || e}`;
      status.classList.toggle("error", e.message !== "cancelled");
    } finally {
      setBusy(false);
    }
  });
}

// The jet-like colour of a heat value in [0, 1].
const heat = (v) => [Math.round(255 * Math.min(1, Math.max(0, 1.5 - Math.abs(4 * v - 3)))),
  Math.round(255 * Math.min(1, Math.max(0, 1.5 - Math.abs(4 * v - 2)))),
  Math.round(255 * Math.min(1, Math.max(0, 1.5 - Math.abs(4 * v - 1))))];

function paint28(id, rgbOf) {
  const ctx = $(id).getContext("2d");
  const img = ctx.createImageData(28, 28);
  for (let i = 0; i < 784; i++) img.data.set([...rgbOf(i), 255], 4 * i);
  ctx.putImageData(img, 0, 0);
}

let lastPixels = null, lastWasPhoto = false, explainWaiting = false;

async function explain(wasm) {
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

// A grey image (0..255 values, row-major) drawn into a canvas at its own size.
function drawGray(id, width, height, pixels) {
  const canvas = $(id);
  canvas.width = Math.max(1, width); canvas.height = Math.max(1, height);
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(canvas.width, canvas.height);
  for (let i = 0; i < width * height; i++) { const v = pixels[i]; img.data.set([v, v, v, 255], 4 * i); }
  ctx.putImageData(img, 0, 0);
}

// What the photo path found: the cut-out beside the 28×28 input, and the verdict in words.
function drawPrepared(prepared) {
  drawGray("classify-input28", 28, 28, prepared.pixels);
  const c = prepared.cutout;
  $("classify-cutout").closest("figure").hidden = c.width === 0;
  if (c.width > 0) drawGray("classify-cutout", c.width, c.height, c.pixels);
  const item = $("classify-item");
  item.textContent = prepared.item_found
    ? (prepared.verdict === "found"
      ? `Item found (${prepared.light_background ? "light" : "dark"} background; it stands out ${prepared.contrast.toFixed(1)}× above the background's own noise).`
      : "")
    : "No item found: nothing in this picture stands out from its background. Try a plainer background, more light, or move closer.";
  item.classList.toggle("error", !prepared.item_found);
  document.body.dataset.item = prepared.item_found ? "found" : "none";
}

async function classifyBytes(wasm, bytes, name) {
  const status = $("classify-status");
  status.classList.remove("error");
  let prepared;
  try {
    prepared = wasm.prepareImageFile(bytes);
  } catch (e) {
    status.textContent = `${name}: ${e.message || e}`;
    status.classList.add("error");
    return;
  }
  const original = $("classify-original");
  if (original.src) URL.revokeObjectURL(original.src);
  original.src = URL.createObjectURL(new Blob([bytes]));
  original.hidden = false;
  await classifyPrepared(wasm, prepared, name);
}

let classifying = false;

async function classifyPrepared(wasm, prepared, name, options = {}) {
  if (classifying) return; // a camera frame while the last one is still being classified
  classifying = true;
  try {
    await classifyPreparedNow(wasm, prepared, name, options);
  } finally {
    classifying = false;
  }
}

// The picture being answered: its 28×28 pixels, whether it is a photo, its name, and each model's
// probabilities once computed (by model and variant). Models that arrive later join its answer.
let currentPicture = null;

async function classifyPreparedNow(wasm, prepared, name, options = {}) {
  const status = $("classify-status");
  drawPrepared(prepared);
  if (!prepared.item_found) {
    // No class is named for a picture without an item.
    currentPicture = null;
    status.textContent = `${name}: no item found.`;
    $("classify-answers").replaceChildren();
    document.body.dataset.answered = "0";
    document.body.dataset.classified = String(Number(document.body.dataset.classified || 0) + 1);
    return;
  }
  status.textContent = `${name}: classifying…`;
  const pixels = Uint8Array.from(prepared.pixels);
  const photo = prepared.verdict === "found";
  currentPicture = { pixels, photo, name, answers: new Map() };
  lastPixels = pixels; lastWasPhoto = photo; explainWaiting = false;
  await answerCurrent(wasm);
  // Explain the CNN's answer by default.
  const classes = wasm.classNames();
  const select = $("explain-class");
  if (!select.options.length) classes.forEach((c, i) => select.add(new Option(c, String(i))));
  selectCnnClass(currentPicture);
  $("explain").hidden = false;
  if (!options.live) await explain(wasm);
  document.body.dataset.classified = String(Number(document.body.dataset.classified || 0) + 1);
}

// Sets Grad-CAM's class to the CNN's answer to the picture, once the CNN has answered it.
function selectCnnClass(pic) {
  const cnn = [...(pic?.answers ?? [])].find(([key]) => key.startsWith("cnn/"));
  if (cnn) $("explain-class").value = String(cnn[1].indexOf(Math.max(...cnn[1])));
}

// Answers the current picture with every model that is in, says which are still loading or failed, and
// draws the probabilities. Called again whenever a model arrives; only the latest call draws, so an
// earlier one that finishes last cannot show a model as still loading. Returns the rows shown.
let answerCalls = 0;
async function answerCurrent(wasm) {
  const call = ++answerCalls;
  const pic = currentPicture;
  if (!pic) return null;
  const rows = []; // { key, title, state, p, note, error }
  const probabilities = async (key, model) => {
    if (!pic.answers.has(key)) pic.answers.set(key, Array.from(await model.probabilities(pic.pixels)));
    return pic.answers.get(key);
  };
  for (const name of [...DEEP, ...CLASSICAL]) {
    const a = answering(name, pic.photo);
    const p = a.state === "ready" ? await probabilities(`${name}/${a.title}`, a.model) : null;
    rows.push({ key: name, title: a.title, state: a.state, p, note: a.note, error: a.error });
  }
  for (const y of yours) rows.push({ key: y.key, title: y.title, state: "ready", p: await probabilities(y.key, y.model) });
  if (pic !== currentPicture || call !== answerCalls) return null; // a newer call or picture took over
  const classes = wasm.classNames();
  const answers = $("classify-answers");
  answers.replaceChildren();
  for (const r of rows) {
    const li = document.createElement("li");
    li.dataset.model = r.key;
    li.dataset.state = r.state;
    li.innerHTML = `<strong></strong>: <span></span>`;
    li.firstChild.textContent = r.title;
    if (r.p) {
      const top = r.p.indexOf(Math.max(...r.p));
      li.dataset.classIndex = String(top);
      li.lastChild.textContent = `${classes[top]}, ${Math.round(100 * r.p[top])}%` + (r.note ? ` (${r.note})` : "");
    } else {
      li.lastChild.textContent = r.state === "loading" ? "loading…" : `could not load (${r.error})`;
      li.classList.add(r.state);
    }
    answers.append(li);
  }
  const answered = rows.filter((r) => r.p);
  const shippedAnswers = answered.filter((r) => !r.key.startsWith("yours-")).length;
  document.body.dataset.answered = String(shippedAnswers);
  const { loading, failed } = shippedState();
  const status = $("classify-status");
  status.textContent = `${pic.name}: ${answered.length} model${answered.length === 1 ? "" : "s"} answered` +
    (loading.length ? `; ${titlesOf(loading)} loading…` : ".") +
    (failed.length ? ` ${titlesOf(failed)} could not load.` : "");
  status.classList.toggle("error", failed.length > 0);
  const traces = answered.map((r) => ({ type: "bar", name: r.title, x: classes, y: r.p }));
  plotly().then((P) => {
    if (pic !== currentPicture) return;
    P.react($("classify-chart"), traces, {
      barmode: "group", title: { text: "Class probabilities (SVM: share of its duels won; forest: share of trees; k-NN: weighted share of neighbours)", font: { size: 13 } },
      yaxis: { range: [0, 1], tickformat: ".0%" }, margin: { t: 40, b: 80 }, height: 360,
    }, { responsive: true, displaylogo: false });
  }, () => {});
  return rows;
}

// Says how the shipped models stand while no picture is answered, and lets arriving models join the
// current answer (and a Grad-CAM that waited for its model).
function watchShippedModels(wasm) {
  modelListeners.push(async () => {
    const { ready, loading, failed } = shippedState();
    const variantsFailed = Object.entries(PHOTO_VARIANTS).filter(([, v]) => shipped[v]?.state === "failed");
    document.body.dataset.models = String(ready.length);
    document.body.dataset.modelsFailed = String(failed.length);
    if (currentPicture) {
      const rows = await answerCurrent(wasm);
      if (rows && explainWaiting) {
        if ($("explain-model").value === "cnn") selectCnnClass(currentPicture);
        await explain(wasm);
      }
      return;
    }
    const status = $("classify-status");
    status.textContent = (ready.length ? `${titlesOf(ready)} ready. Choose a picture.` : "") +
      (loading.length ? ` ${titlesOf(loading)} loading…` : "") +
      (failed.length ? ` ${failed.map((n) => `${TITLES[n]} could not load (${shipped[n].error}).`).join(" ")}` : "") +
      variantsFailed.map(([n, v]) => ` ${TITLES[n]} (photo-trained) could not load (${shipped[v].error}); the plain ${TITLES[n]} answers for photos.`).join("");
    status.classList.toggle("error", failed.length + variantsFailed.length > 0);
  });
}

// The webcam: a live mode (about 6 frames a second: a frame is taken 150 ms after the last was taken,
// or as soon as it is answered when that takes longer) and a capture button, through the same photo path
// as uploads. Live frames skip Grad-CAM; a captured frame gets it.
const LIVE_INTERVAL_MS = 150;
function wireCamera(wasm) {
  const video = $("camera-video"), status = $("classify-status");
  const canvas = document.createElement("canvas");
  let stream = null, live = false, liveTimes = [];
  const frame = async (options = {}) => {
    if (!stream || video.videoWidth === 0) return;
    canvas.width = video.videoWidth; canvas.height = video.videoHeight;
    const ctx = canvas.getContext("2d", { willReadFrequently: true });
    ctx.drawImage(video, 0, 0);
    const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    try {
      const prepared = wasm.prepareRgba(canvas.width, canvas.height, new Uint8Array(data.buffer));
      if (!options.live) {
        const original = $("classify-original");
        if (original.src) URL.revokeObjectURL(original.src);
        original.src = canvas.toDataURL("image/jpeg", 0.8);
        original.hidden = false;
      }
      await classifyPrepared(wasm, prepared, options.live ? "live camera" : "camera frame", options);
    } catch (e) {
      status.textContent = `Camera frame: ${e.message || e}`;
      status.classList.add("error");
    }
  };
  const liveLoop = async () => {
    while (live && stream) {
      const started = performance.now();
      await frame({ live: true });
      const now = performance.now();
      liveTimes = [...liveTimes.filter((t) => t > now - 2000), now];
      const rate = liveTimes.length > 1 ? (liveTimes.length - 1) / ((now - liveTimes[0]) / 1000) : 0;
      document.body.dataset.liveFps = rate.toFixed(1);
      $("camera-rate").textContent = rate ? `Live: ${rate.toFixed(1)} frames a second.` : "";
      await new Promise((r) => setTimeout(r, Math.max(0, LIVE_INTERVAL_MS - (performance.now() - started))));
    }
  };
  const stop = () => {
    live = false;
    if (stream) stream.getTracks().forEach((t) => t.stop());
    stream = null; video.hidden = true;
    $("camera-start").disabled = false; $("camera-capture").disabled = true; $("camera-stop").disabled = true;
  };
  const setLive = () => {
    const wanted = Boolean(stream) && $("camera-live").checked;
    if (wanted && !live) { live = true; liveTimes = []; liveLoop(); }
    if (!wanted) { live = false; $("camera-rate").textContent = ""; }
  };
  $("camera-start").addEventListener("click", async () => {
    status.classList.remove("error");
    if (!navigator.mediaDevices?.getUserMedia) {
      status.textContent = "This browser offers no camera access (it needs a secure context: https or localhost).";
      status.classList.add("error");
      return;
    }
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 640 } }, audio: false });
    } catch (e) {
      const why = e.name === "NotAllowedError" ? "permission was denied"
        : e.name === "NotFoundError" ? "no camera was found" : (e.message || e.name);
      status.textContent = `The camera is not available: ${why}. Uploads still work.`;
      status.classList.add("error");
      document.body.dataset.camera = "denied";
      return;
    }
    // The camera ending by itself (unplugged, switched off, permission withdrawn) stops the live mode
    // and says so; uploads go on working.
    for (const track of stream.getVideoTracks()) {
      track.addEventListener("ended", () => {
        if (!stream) return;
        stop();
        status.textContent = "The camera stopped (unplugged, switched off or no longer allowed). Uploads still work; " +
          "\"Use the camera\" tries again.";
        status.classList.add("error");
        document.body.dataset.camera = "ended";
      });
    }
    video.srcObject = stream; video.hidden = false;
    $("camera-start").disabled = true; $("camera-capture").disabled = false; $("camera-stop").disabled = false;
    document.body.dataset.camera = "on";
    video.addEventListener("loadeddata", () => { if (!live) frame(); }, { once: true });
    setLive();
  });
  $("camera-live").addEventListener("change", setLive);
  $("camera-capture").addEventListener("click", () => frame());
  $("camera-stop").addEventListener("click", stop);
}

function wireClassify(wasm) {
  wireCamera(wasm);
  $("explain-model").addEventListener("change", () => explain(wasm));
  $("explain-class").addEventListener("change", () => explain(wasm));
  const take = async (file) => {
    if (!file) return;
    const bytes = new Uint8Array(await file.arrayBuffer());
    if (bytes.length === 0) {
      $("classify-status").textContent = `${file.name || "That file"} is empty.`;
      $("classify-status").classList.add("error");
      return;
    }
    await classifyBytes(wasm, bytes, file.name || "pasted picture");
  };
  wireFileDrop("classify-input", "classify-drop", (files) => take(files[0]));
  document.addEventListener("paste", (ev) => {
    const item = [...(ev.clipboardData?.items || [])].find((i) => i.type.startsWith("image/"));
    if (item) take(item.getAsFile());
  });
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
  const choice = $("backend-choice");
  choice.value = localStorage.getItem("fashionlab.backend") || "auto";
  $("backend-name").textContent = "chosen once the models are in";
  choice.addEventListener("change", async () => {
    localStorage.setItem("fashionlab.backend", choice.value);
    await selectBackend(choice.value);
  });
  // A lost GPU device in a worker: go on with the CPU and say so. WebGPU stays off until the page is
  // reloaded.
  onGpuLost = async (why) => {
    if (document.body.dataset.deviceLost) return;
    document.body.dataset.deviceLost = "true";
    for (const option of choice.options) if (option.value !== "flex") option.disabled = true;
    choice.value = "flex";
    if (document.body.dataset.backend === "wgpu") await selectBackend("flex");
    $("backend-detail").textContent = `(the GPU device was lost: ${why}; training and Grad-CAM now run on the CPU. Reload the page to try WebGPU again.)`;
  };

  // The first answer before anything else: the photo input is wired and the photo-trained CNN is fetched
  // first; the dataset, the charts and the other models follow.
  watchShippedModels(wasm);
  const models = loadShippedModels(wasm);
  wireClassify(wasm);
  document.body.dataset.classifyWired = "true";
  await models.first;

  try {
    const [images, labels] = await Promise.all([
      fetchBytes("data/sample-images-idx3-ubyte.gz"), fetchBytes("data/sample-labels-idx1-ubyte.gz")]);
    const sample = wasm.WebDataset.fromIdx(images, labels, "Built-in sample (balanced slice of the test set)");
    sampleSource = { images, labels, split: null };
    showDataset(wasm, sample, sampleSource);
  } catch (e) {
    setStatus(`Could not load the built-in sample: ${e.message || e}`, true);
  }

  $("load-full").addEventListener("click", async () => {
    setStatus("Downloading the full training set from this site…");
    try {
      const names = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"];
      const bytes = await fetchWithProgress(names.map((n) => `data/${n}`), "the full training set");
      setStatus("Verifying checksums and parsing…");
      showDataset(wasm, ...(await loadOfficial(wasm, Object.fromEntries(names.map((n, i) => [n, bytes[i]])))));
    } catch (e) {
      setStatus(`The full dataset is not available here: ${e.message || e}. You can drop the files instead.`, true);
    }
  });

  const takeFiles = async (fileList) => {
    try {
      const files = {};
      for (const f of fileList) files[f.name] = new Uint8Array(await f.arrayBuffer());
      setStatus("Verifying checksums and parsing…");
      const [dataset, source] = await loadOfficial(wasm, files);
      showDataset(wasm, dataset, source);
      // Dropped test files also serve the confusion-matrix browser and the scoring of your models; when
      // they are what is shown, the dataset just parsed is that test set.
      const [images, labels] = ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"].map((n) => files[n]);
      if (images && labels) {
        const test = source.split === "test" ? dataset : wasm.WebDataset.fromOfficial("test", images, labels);
        testSetPromise = Promise.resolve({ dataset: test, source: { images, labels, split: "test" } });
      }
    } catch (e) {
      setStatus(`Those files could not be used: ${e.message || e}`, true);
    }
  };
  wireFileDrop("file-input", "drop-zone", takeFiles);
  wireClassical(wasm);
  wireDeep(wasm);
  wireCells(wasm);
  wireYours(wasm);
  await showShippedModels(wasm);
  // After every model has come, so that neither slows the first visit: the engine (the backend, Grad-CAM)
  // and storing the site for offline use.
  models.all.then(async () => {
    await selectBackend(choice.value);
    choice.disabled = false;
    if (explainWaiting) await explain(wasm);
    registerOffline();
  });
  document.body.dataset.ready = "true";
}

main().catch((e) => setStatus(`Fashion Lab failed to start: ${e.message || e}`, true));
