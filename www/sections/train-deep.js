// "Train a deep model": the CNN, ResNet or MLP with the shipped recipe (editable within Rust's bounds),
// in its own worker one batch at a time: live curves, pause, stop; the model joins "Your models".

import { plotFigure, plotly } from "../lib/charts.js";
import { $, pct } from "../lib/dom.js";
import { startWorker, threadsFor } from "../lib/engine.js";
import { FromWorker, ToWorker } from "../lib/protocol.js";
import { gpuLost } from "./backend.js";
import { data, datasetMessage } from "./dataset.js";
import { addYourModel } from "./yours.js";

// The runs trained in this page, each `{label, loss_x, loss_y, accuracy_x, accuracy_y}`: the chart
// shows the current one over the latest before it (Rust picks how many, `report::live::RUNS_SHOWN`).
const runs = [];

// Deep training in its own worker, one batch at a time: live curves, pause, stop.
export function wireDeep(wasm) {
  const [form, status, bar, trainBtn, pauseBtn, stopBtn] =
    ["deep-form", "deep-status", "deep-progress", "deep-train", "deep-pause", "deep-stop"].map($);
  let worker = null, ready = null, paused = false, id = 0;
  // The worker's engine: the threaded one on the CPU (the header's count), the WebGPU one otherwise. A
  // run on another backend or count starts a fresh worker.
  let threads = null;
  const start = () => {
    threads = threadsFor(document.body.dataset.backend);
    ({ worker, ready } = startWorker({ threads }));
  };
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
    $("deep-optimizer").value = train.optimizer;
    $("deep-depth-label").hidden = sheet.depth === null;
    $("deep-depth").value = String(sheet.depth ?? "");
    $("deep-width-label").hidden = !("width" in architecture);
    $("deep-width").value = String(architecture.width ?? "");
    $("deep-dropout-label").hidden = !("dropout" in architecture);
    $("deep-dropout").value = String(architecture.dropout ?? 0);
    $("deep-batch-norm-label").hidden = !("batch_norm" in architecture);
    $("deep-batch-norm").checked = Boolean(architecture.batch_norm);
    $("deep-epochs").value = String(sheet.page.epochs);
    $("deep-batch").value = String(sheet.page.batch_size);
    $("deep-size").value = String(sheet.page.train_size);
    const bounds = { "deep-epochs": limits.epochs, "deep-batch": limits.batch_size, "deep-lr": limits.learning_rate,
      "deep-wd": limits.weight_decay, "deep-smoothing": limits.label_smoothing, "deep-dropout": limits.dropout,
      "deep-width": sheet.model === "resnet" ? limits.resnet_width : limits.cnn_width,
      "deep-depth": sheet.model === "resnet" ? limits.resnet_depth : limits.mlp_depth };
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
      augment: $("deep-augment").value, optimizer: $("deep-optimizer").value };
    for (const [key, input] of Object.entries(fields)) edits[key] = num(input);
    if (!$("deep-width-label").hidden) edits.width = Math.floor(num("deep-width"));
    if (!$("deep-depth-label").hidden) edits.depth = Math.floor(num("deep-depth"));
    if (!$("deep-dropout-label").hidden) edits.dropout = num("deep-dropout");
    if (model === "cnn") edits.batch_norm = $("deep-batch-norm").checked;
    return edits;
  };
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!data.current) { status.textContent = "Load a dataset first."; return; }
    const model = $("deep-model").value, label = $("deep-model").selectedOptions[0].textContent;
    // The bounds are Rust's (recipes.json); without them the form cannot say what is allowed.
    if (!catalogue) { status.textContent = "The recipes have not loaded yet; try again in a moment."; return; }
    const minSize = catalogue.limits.min_train_size;
    const size = Math.min(Math.floor(Number($("deep-size").value)), data.current.length);
    if (!(size >= minSize)) {
      status.textContent = `Choose at least ${minSize} training images.`;
      status.classList.add("error");
      return;
    }
    const recipe = readRecipe(model);
    status.classList.remove("error");
    setBusy(true);
    const trainedOn = data.current;
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
    // This run's curves beside the latest earlier runs' (faded): Rust builds the chart, this run's two
    // traces last, and the run's points extend them.
    const run = { label: `${label}, run ${runs.length + 1}`, loss_x: [], loss_y: [], accuracy_x: [], accuracy_y: [] };
    runs.push(run);
    const figure = wasm.trainingCurvesFigure(runs);
    const [lossTrace, accuracyTrace] = [figure.data.length - 2, figure.data.length - 1];
    Plotly.purge(chart);
    plotFigure(Plotly, chart, figure);
    document.body.dataset.deepPoints = "0";
    try {
      if (worker && threads !== threadsFor(document.body.dataset.backend)) { worker.terminate(); worker = null; }
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
            Plotly.extendTraces(chart, { x: [[x]], y: [[p.loss]] }, [lossTrace]);
            run.loss_x.push(x); run.loss_y.push(p.loss);
            document.body.dataset.deepPoints = String(Number(document.body.dataset.deepPoints) + 1);
            bar.value = (p.epoch - 1 + p.batch / p.batches) / p.epochs;
            document.body.dataset.deepImagesPerSecond = String(Math.round(p.images_per_second));
            if (!paused) status.textContent = `${label}: epoch ${p.epoch}/${p.epochs}, batch ${p.batch}/${p.batches}, ` +
              `loss ${p.loss.toFixed(3)}, ${Math.round(p.images_per_second)} images/s, ETA ${Math.round(p.eta_seconds)} s`;
            // Where a batch's time goes, forward layer by layer, then backward from the last layer to the
            // first, then the update (Rust times it on the CPU only: WebGPU only queues its operations).
            const part = (pass, label) => {
              const stages = p.timing.filter((t) => t.pass === pass);
              const total = stages.reduce((sum, t) => sum + t.millis, 0);
              return stages.length > 1
                ? `${label} ${total.toFixed(1)} ms: ${stages.map((t) => `${t.name} ${t.millis.toFixed(1)} ms`).join(" · ")}`
                : `${label} ${total.toFixed(1)} ms`;
            };
            $("deep-timing").textContent = p.timing.length
              ? `A batch this epoch, on the CPU. ${part("forward", "Forward")}. ${part("backward", "Backward")}. ${part("update", "Update")}.`
              : "Each layer's time is measured on the CPU only: WebGPU queues its operations rather than running them when called.";
            document.body.dataset.deepTiming = JSON.stringify(p.timing);
          } else if (m.type === FromWorker.EPOCH) {
            Plotly.extendTraces(chart, { x: [[m.record.epoch]], y: [[m.record.val_accuracy]] }, [accuracyTrace]);
            run.accuracy_x.push(m.record.epoch); run.accuracy_y.push(m.record.val_accuracy);
            document.body.dataset.deepPoints = String(Number(document.body.dataset.deepPoints) + 1);
          } else if (m.type === FromWorker.TRAINED) resolve(m);
          else if (m.type === FromWorker.ERROR) reject(new Error(m.message));
          else if (m.type === FromWorker.DEVICE_LOST) {
            gpuLost(m.message);
            reject(Object.assign(new Error(m.message), { deviceLost: true }));
          }
        };
        worker.onerror = (ev) => {
          ev.preventDefault();
          reject(Object.assign(new Error(ev.message || "unknown error"), { crashed: true }));
        };
        worker.postMessage({ type: ToWorker.TRAIN_DEEP, id, model, backend: document.body.dataset.backend || "auto",
          recipe, trainSize: size,
          dataset: datasetMessage(data.current) });
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
      document.body.dataset.deepEpochSeconds = JSON.stringify(result.history.map((r) => r.train_seconds));
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
