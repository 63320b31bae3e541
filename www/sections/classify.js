// "Classify a picture": uploads, pasted pictures and the camera, through the photo path of the page's
// own module; every shipped model (and each of yours) answers, models that arrive later join the answer,
// and the CNN's answer is explained.

import { plotFigure, plotly } from "../lib/charts.js";
import { $, drawGray, wireFileDrop } from "../lib/dom.js";
import { CLASSICAL, DEEP, PHOTO_VARIANTS, TITLES, answering, modelListeners, shipped, shippedState, titlesOf } from "../lib/models.js";
import { explain, explainIsWaiting, explainPicture, selectCnnClass, wireExplain } from "./explain.js";
import { attackPicture } from "./attack.js";
import { insidePicture, wireInside } from "./inside.js";
import { yours } from "./yours.js";

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
  showOriginal(URL.createObjectURL(new Blob([bytes])));
  await classifyPrepared(wasm, prepared, name);
}

let classifying = false;

// Classifies a prepared picture, unless one is still being classified (a camera frame or a sketch that
// came too soon): then nothing is done and it resolves to false.
export async function classifyPrepared(wasm, prepared, name, options = {}) {
  if (classifying) return false;
  classifying = true;
  try {
    await classifyPreparedNow(wasm, prepared, name, options);
  } finally {
    classifying = false;
  }
  return true;
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
  explainPicture(pixels, photo);
  await answerCurrent(wasm);
  // Explain the CNN's answer by default.
  const classes = wasm.classNames();
  const select = $("explain-class");
  if (!select.options.length) classes.forEach((c, i) => select.add(new Option(c, String(i))));
  selectCnnClass(currentPicture);
  $("explain").hidden = false;
  $("inside").hidden = false;
  $("attack").hidden = false;
  if (!options.live) {
    await explain(wasm);
    insidePicture(pixels, photo);
    attackPicture(pixels, photo);
  }
  document.body.dataset.classified = String(Number(document.body.dataset.classified || 0) + 1);
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
  const figure = wasm.classScoresFigure(answered.map((r) => r.title), Float32Array.from(answered.flatMap((r) => r.p)));
  plotly().then((P) => {
    if (pic !== currentPicture) return;
    plotFigure(P, $("classify-chart"), figure);
  }, () => {});
  return rows;
}

// Says how the shipped models stand while no picture is answered, and lets arriving models join the
// current answer (and a Grad-CAM that waited for its model).
export function watchShippedModels(wasm) {
  modelListeners.push(async () => {
    const { ready, loading, failed } = shippedState();
    const variantsFailed = Object.entries(PHOTO_VARIANTS).filter(([, v]) => shipped[v]?.state === "failed");
    document.body.dataset.models = String(ready.length);
    document.body.dataset.modelsFailed = String(failed.length);
    if (currentPicture) {
      const rows = await answerCurrent(wasm);
      if (rows && explainIsWaiting()) {
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

// The picture as given (an upload's object URL, a camera frame or a drawing as a data URL), shown beside
// what the photo path found; the previous upload's object URL is released.
export function showOriginal(src) {
  const original = $("classify-original");
  if (original.src.startsWith("blob:")) URL.revokeObjectURL(original.src);
  original.src = src;
  original.hidden = false;
}

// The live rate of the camera and the sketch pad: a picture at most every 150 ms (about 6 a second).
export const LIVE_INTERVAL_MS = 150;

// The webcam: a live mode (a frame is taken LIVE_INTERVAL_MS after the last was taken, or as soon as it
// is answered when that takes longer) and a capture button, through the same photo path as uploads. Live
// frames skip Grad-CAM; a captured frame gets it.
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
        showOriginal(canvas.toDataURL("image/jpeg", 0.8));
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

export function wireClassify(wasm) {
  wireCamera(wasm);
  wireExplain(wasm);
  wireInside();
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
