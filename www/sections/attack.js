// "Fool the models": adversarial examples against the CNN (Rust's `deep::attack`, in the engine worker:
// it needs autodiff) for the picture being classified, and every model's answer to the changed picture;
// then each model's accuracy against ε on test images of the built-in sample, charted by Rust
// (`report::robustness`). The models answer on the CPU in the page's module, as for any picture.

import { plotFigure, plotly } from "../lib/charts.js";
import { $, paint28 } from "../lib/dom.js";
import { CLASSICAL, DEEP, TITLES, answering, shipped } from "../lib/models.js";
import { engine } from "./backend.js";
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
// every ε of EPSILONS: the engine perturbs, the models answer, Rust scores and draws.
async function accuracyCurve() {
  const status = $("attack-curve-status"), bar = $("attack-curve-progress"), button = $("attack-curve-start");
  const cnn = answering("cnn", false);
  if (!data.sample || cnn.state !== "ready" || !engine.ready) {
    status.textContent = "The built-in sample, the CNN and the engine must be in first.";
    return;
  }
  const w = wasm(), method = $("attack-method").value;
  const dataset = w.WebDataset.fromIdx(data.sample.images, data.sample.labels, "attack");
  button.disabled = true;
  bar.hidden = false;
  status.classList.remove("error");
  try {
    const labels = dataset.labels();
    const items = Array.from(w.quizItems(labels, PER_CLASS, 0));
    const images = new Uint8Array(items.length * 784);
    items.forEach((item, k) => images.set(dataset.image(item), k * 784));
    const truth = Uint8Array.from(items.map((i) => labels[i]));
    const models = answeringModels(false);
    const scores = models.map(() => []);
    const started = performance.now();
    let attackMillis = 0;
    for (const [k, epsilon] of EPSILONS.entries()) {
      status.textContent = `ε = ${epsilon} (${k + 1} of ${EPSILONS.length})…`;
      bar.value = k / EPSILONS.length;
      const t0 = performance.now();
      // The method chosen when the run began, whatever the select says meanwhile.
      const adv = await engine.attack(cnn.key, cnn.bytes, images, truth, settings(method, epsilon));
      attackMillis += performance.now() - t0;
      for (const [j, m] of models.entries()) {
        scores[j].push(...(await m.model.probabilities(adv)));
        await new Promise((resolve) => setTimeout(resolve, 0)); // a frame between models
      }
    }
    bar.value = 1;
    const result = w.robustnessFigure(method, truth, Uint8Array.from(EPSILONS), models.map((m) => m.title), Float32Array.from(scores.flat()));
    const Plotly = await plotly();
    await plotFigure(Plotly, $("attack-curve"), result.figure);
    const seconds = (performance.now() - started) / 1000;
    status.textContent = `${items.length} images at ${EPSILONS.length} budgets in ${seconds.toFixed(1)} s ` +
      `(the attacks ${(attackMillis / 1000).toFixed(1)} s on ${document.body.dataset.backend || "the engine"}).`;
    document.body.dataset.attackAccuracy = JSON.stringify(Object.fromEntries(result.models));
  } catch (e) {
    status.textContent = `The accuracy-against-ε run failed: ${e.message || e}`;
    status.classList.add("error");
  } finally {
    dataset.free();
    button.disabled = false;
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
