// "Fool the models": adversarial examples against the CNN (Rust's `deep::attack`, in the engine worker:
// it needs autodiff) for the picture being classified, and every model's answer to the changed picture;
// then each model's accuracy against ε on test images of the built-in sample, charted by Rust
// (`report::robustness`). For one picture the models answer on the CPU in the page's module, as for any
// picture; for the chart's 100 images at every ε, a worker attacks and every model answers there.

import { plotFigure, plotly } from "../lib/charts.js";
import { $, paint28 } from "../lib/dom.js";
import { startWorker, threadsFor } from "../lib/engine.js";
import { CLASSICAL, DEEP, answering, fileOf } from "../lib/models.js";
import { FromWorker, ToWorker } from "../lib/protocol.js";
import { engine, gpuLost } from "./backend.js";
import { data } from "./dataset.js";

// The budgets of the accuracy-against-ε chart, and its images: this many of each class of the sample.
const EPSILONS = [0, 1, 2, 4, 8, 16, 32];
const PER_CLASS = 10;
const STEPS = 10;

let picture = null; // { pixels, photo } being attacked
let running = false, again = false; // an attack is being computed; another was asked for meanwhile

// The picture the next attack changes (called for every classified picture).
export function attackPicture(pixels, photo) {
  picture = { pixels, photo };
  if ($("attack").open) attackCurrent();
}

const settings = (method, epsilon) => ({ method, epsilon, steps: STEPS, seed: 0 });
const argmax = (p) => p.indexOf(Math.max(...p));

// The models that answer a changed picture: every shipped model that is in (its photo-trained variant
// for a photo), as `{ name, title, model }`.
function answeringModels(photo) {
  return [...DEEP, ...CLASSICAL]
    .map((name) => ({ name, ...answering(name, photo) }))
    .filter((a) => a.state === "ready");
}

// Attacks the current picture with the settings shown; a request made while one runs is served after it,
// with the settings and picture of that moment.
async function attackCurrent() {
  if (running) { again = true; return; }
  const status = $("attack-status"), pic = picture;
  if (!pic) return;
  const cnn = answering("cnn", pic.photo);
  if (cnn.state !== "ready" || !engine.ready) {
    status.textContent = cnn.state !== "ready" ? "The CNN is still loading." : "The attack follows once the engine has loaded.";
    return;
  }
  const epsilon = Number($("attack-epsilon").value);
  running = true;
  status.classList.remove("error");
  status.textContent = "Computing the attack…";
  try {
    const models = answeringModels(pic.photo);
    const before = new Map();
    for (const m of models) before.set(m.name, Array.from(await m.model.probabilities(pic.pixels)));
    // Untargeted: away from the CNN's own answer (a visitor's picture has no known class).
    const label = argmax(before.get("cnn"));
    const adv = await engine.attack(cnn.key, cnn.bytes, pic.pixels, Uint8Array.of(label), settings($("attack-method").value, epsilon));
    if (pic !== picture) return;
    const px = pic.pixels;
    paint28("attack-input", (i) => [px[i], px[i], px[i]]);
    // The change, magnified to the full range: grey is none, white +ε, black −ε.
    const gain = epsilon > 0 ? 127 / epsilon : 0;
    paint28("attack-perturbation", (i) => { const v = Math.round(128 + gain * (adv[i] - px[i])); return [v, v, v]; });
    paint28("attack-adversarial", (i) => [adv[i], adv[i], adv[i]]);
    $("attack-perturbation-caption").textContent = `Change, magnified ${epsilon > 0 ? (127 / epsilon).toFixed(0) : 0}×`;
    const classes = wasm().classNames(), list = $("attack-answers");
    list.replaceChildren();
    let changed = 0;
    for (const m of models) {
      const p = Array.from(await m.model.probabilities(adv)), was = argmax(before.get(m.name)), now = argmax(p);
      const li = document.createElement("li");
      li.dataset.model = m.name;
      li.dataset.classIndex = String(now);
      li.dataset.changed = String(now !== was);
      li.textContent = now === was ? `${m.title}: still ${classes[now]}, ${Math.round(100 * p[now])}%`
        : `${m.title}: ${classes[was]} → ${classes[now]}, ${Math.round(100 * p[now])}%`;
      list.append(li);
      if (now !== was) changed++;
    }
    let largest = 0;
    for (let i = 0; i < 784; i++) largest = Math.max(largest, Math.abs(adv[i] - px[i]));
    status.textContent = `${$("attack-method").selectedOptions[0].text} at ε = ${epsilon} (largest change ${largest} of 255) ` +
      `against the ${cnn.title}, away from "${classes[label]}": ${changed} of ${models.length} models changed their answer.`;
    document.body.dataset.attackLargest = String(largest);
    document.body.dataset.attacked = String(Number(document.body.dataset.attacked || 0) + 1);
  } catch (e) {
    status.textContent = `The attack failed: ${e.message || e}`;
    status.classList.add("error");
  } finally {
    running = false;
    if (again) { again = false; attackCurrent(); }
  }
}

// Each shipped model's accuracy on 100 test images of the sample attacked against the (plain) CNN at
// every ε of EPSILONS: in a worker of its own (the attacks and every model's answers), which Rust's
// chart then draws. The button cancels it while it runs.
let curveRun = null; // {cancel} while a run is going
async function accuracyCurve() {
  const status = $("attack-curve-status"), bar = $("attack-curve-progress"), button = $("attack-curve-start");
  if (curveRun) {
    curveRun.cancel();
    return;
  }
  const cnn = answering("cnn", false);
  if (!data.sample || cnn.state !== "ready") {
    status.textContent = "The built-in sample and the CNN must be in first.";
    return;
  }
  const w = wasm(), method = $("attack-method").value;
  const dataset = w.WebDataset.fromIdx(data.sample.images, data.sample.labels, "attack");
  const labels = dataset.labels();
  const items = Array.from(w.quizItems(labels, PER_CLASS, 0));
  const images = new Uint8Array(items.length * 784);
  items.forEach((item, k) => images.set(dataset.image(item), k * 784));
  dataset.free();
  const truth = Uint8Array.from(items.map((i) => labels[i]));
  const models = answeringModels(false);
  const label = button.textContent;
  button.textContent = "Cancel";
  bar.hidden = false;
  bar.value = 0;
  status.classList.remove("error");
  const started = performance.now();
  const run = startWorker({ threads: threadsFor(document.body.dataset.backend) });
  const worker = run.worker;
  // Cancelling ends the worker, which then sends nothing: the run is settled here instead.
  let abandon;
  const cancelled = new Promise((_, reject) => { abandon = () => reject(Object.assign(new Error("cancelled"), { cancelled: true })); });
  const thisRun = (curveRun = { cancel: () => { worker.terminate(); abandon(); } });
  try {
    await Promise.race([run.ready, cancelled]);
    const m = await Promise.race([cancelled, new Promise((resolve, reject) => {
      worker.onmessage = (ev) => {
        const r = ev.data;
        if (r.type === FromWorker.PROGRESS) {
          bar.value = r.fraction;
          status.textContent = `ε = ${r.epsilon}: ${r.stage === "attack" ? "attacking" : "every model answers"} ` +
            `(${EPSILONS.indexOf(r.epsilon) + 1} of ${EPSILONS.length})…`;
        } else if (r.type === FromWorker.ROBUST) resolve(r);
        else if (r.type === FromWorker.ERROR) reject(new Error(r.message));
        else if (r.type === FromWorker.DEVICE_LOST) {
          gpuLost(r.message);
          reject(new Error(`the GPU device was lost (${r.message}); run it again on the CPU`));
        }
      };
      worker.onerror = (ev) => { ev.preventDefault(); reject(new Error(ev.message || "the worker failed")); };
      worker.postMessage({ type: ToWorker.ROBUSTNESS, id: 1, backend: document.body.dataset.backend || "auto",
        attacker: cnn.bytes.slice(), images, labels: truth, config: settings(method, 0), epsilons: EPSILONS,
        models: models.map((a) => ({ file: fileOf(a.key), kind: a.key })) });
    })]);
    bar.value = 1;
    const result = w.robustnessFigure(method, truth, Uint8Array.from(EPSILONS), models.map((a) => a.title), m.scores);
    const Plotly = await plotly();
    await plotFigure(Plotly, $("attack-curve"), result.figure);
    const seconds = (performance.now() - started) / 1000;
    status.textContent = `${items.length} images at ${EPSILONS.length} budgets in ${seconds.toFixed(1)} s, in a worker ` +
      `(the attacks ${m.attackSeconds.toFixed(1)} s on ${document.body.dataset.backend || "the engine"}).`;
    document.body.dataset.attackAccuracy = JSON.stringify(Object.fromEntries(result.models));
  } catch (e) {
    status.textContent = e.cancelled ? "Cancelled." : `The accuracy-against-ε run failed: ${e.message || e}`;
    status.classList.toggle("error", !e.cancelled);
  } finally {
    worker.terminate();
    if (curveRun === thisRun) curveRun = null;
    button.textContent = label;
    bar.hidden = true;
  }
}

let wasmModule = null;
const wasm = () => wasmModule;

export function wireAttack(w) {
  wasmModule = w;
  const slider = $("attack-epsilon");
  slider.addEventListener("input", () => { $("attack-epsilon-value").value = slider.value; });
  slider.addEventListener("change", () => attackCurrent());
  $("attack-method").addEventListener("change", () => attackCurrent());
  $("attack-start").addEventListener("click", () => attackCurrent());
  $("attack").addEventListener("toggle", () => { if ($("attack").open && picture) attackCurrent(); });
  $("attack-curve-start").addEventListener("click", () => accuracyCurve());
}
