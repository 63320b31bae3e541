// "You against the models": 20 images of the built-in sample named by the visitor, then scored in Rust
// (`report::quiz`) beside every shipped model's answers to the same images and people's published 83.5%.

import { drawFigures } from "../lib/charts.js";
import { $, paint28 } from "../lib/dom.js";
import { CLASSICAL, DEEP, TITLES, shipped } from "../lib/models.js";
import { data } from "./dataset.js";

const PER_CLASS = 2;

// The shipped models' class scores (plain models: these are dataset images) for the quiz's images:
// { names, probabilities }, ten scores an image for each model that is in.
async function modelScores(images) {
  const names = [], probabilities = [];
  for (const name of [...DEEP, ...CLASSICAL]) {
    const entry = shipped[name];
    if (entry?.state !== "ready") continue;
    probabilities.push(...(await entry.model.probabilities(images)));
    names.push(TITLES[name]);
  }
  return { names, probabilities };
}

export function wireQuiz(wasm) {
  const status = $("quiz-status"), question = $("quiz-question"), buttons = $("quiz-answers");
  let quiz = null; // { dataset, items, truth, answers }
  const classes = wasm.classNames();
  buttons.replaceChildren(...classes.map((name, c) => {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = `${c} ${name}`;
    b.dataset.class = String(c);
    b.addEventListener("click", () => answer(c));
    return b;
  }));
  const show = () => {
    const i = quiz.answers.length;
    const px = quiz.dataset.image(quiz.items[i]);
    paint28("quiz-image", (j) => [px[j], px[j], px[j]]);
    $("quiz-progress").textContent = `Image ${i + 1} of ${quiz.items.length}`;
    document.body.dataset.quizQuestion = String(i + 1);
  };
  const finish = async () => {
    question.hidden = true;
    status.textContent = "Scoring…";
    try {
      const images = new Uint8Array(quiz.items.length * 784);
      quiz.items.forEach((item, k) => images.set(quiz.dataset.image(item), k * 784));
      quiz.dataset.free();
      const { names, probabilities } = await modelScores(images);
      const r = wasm.scoreQuiz(Uint8Array.from(quiz.truth), Uint8Array.from(quiz.answers), names, Float32Array.from(probabilities));
      const best = r.models.reduce((a, m) => (m[1] > a[1] ? m : a), ["", -1]);
      status.textContent = `You named ${r.right} of ${r.asked} (${Math.round(100 * r.accuracy)}%). ` +
        (best[0] ? `Best model: ${best[0]}, ${Math.round(100 * best[1])}%. ` : "") +
        `People, in Fashion-MNIST's crowd-sourced test: ${(100 * r.human_baseline).toFixed(1)}%.`;
      document.body.dataset.quizScore = String(r.accuracy);
      await drawFigures($("quiz-results"), r.figures, "quizFigures");
    } catch (e) {
      status.textContent = `The quiz could not be scored: ${e.message || e}`;
      status.classList.add("error");
    }
    quiz = null;
  };
  const answer = (c) => {
    if (!quiz) return;
    quiz.answers.push(c);
    if (quiz.answers.length < quiz.items.length) show(); else finish();
  };
  $("quiz").addEventListener("keydown", (ev) => {
    if (quiz && /^[0-9]$/.test(ev.key)) { ev.preventDefault(); answer(Number(ev.key)); }
  });
  $("quiz-start").addEventListener("click", () => {
    if (!data.sample) { status.textContent = "The built-in sample has not loaded yet."; return; }
    const dataset = wasm.WebDataset.fromIdx(data.sample.images, data.sample.labels, "quiz");
    const labels = dataset.labels();
    // A new set of images each time; the seed only picks them.
    const items = Array.from(wasm.quizItems(labels, PER_CLASS, Math.floor(Math.random() * 2 ** 32)));
    quiz = { dataset, items, truth: items.map((i) => labels[i]), answers: [] };
    status.classList.remove("error");
    status.textContent = "Which class is this? Click a button or press its number.";
    $("quiz-results").replaceChildren();
    delete document.body.dataset.quizScore;
    question.hidden = false;
    show();
    buttons.querySelector("button").focus();
  });
}
