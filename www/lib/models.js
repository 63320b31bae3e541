// The shipped models: which there are, in what order they load, how each stands, and which one answers
// for a picture.

import { fetchBytes } from "./fetch.js";

// The shipped models. Each is fetched once and loaded when it arrives, so the page answers with the CNN
// as soon as it has it and every other model joins the answer as it comes ("ResNet: loading…"). They
// classify on the CPU, in the page's module; the deep models' bytes are kept for Grad-CAM and the
// attacks, and the SVM's for the embedding map's HOG space, which the engine's workers compute.
export const DEEP = ["cnn", "resnet", "mlp"], CLASSICAL = ["logreg", "svm", "rf", "knn"];
export const TITLES = { cnn: "CNN", resnet: "ResNet", mlp: "MLP", logreg: "Logistic regression", svm: "SVM", rf: "Random forest", knn: "k-NN" };
// Photo-trained variants of the headline models: they answer for photos (an item found against its
// background); the plain models answer for dataset images. Each model still gives one answer.
export const PHOTO_VARIANTS = { cnn: "cnn-photo", resnet: "resnet-photo" };
// The classical model whose fitted features (HOG → PCA 64) are the embedding map's HOG space.
export const MAP_FEATURES = "svm";
// What the first answer to a photo needs comes first (index.html preloads it beside the wasm); the rest
// follow, the smallest downloads first, two at a time.
const FIRST = ["cnn-photo"];
const LATER = ["cnn", "mlp", "resnet", "resnet-photo", "logreg", "rf", "svm", "knn"];
const LOADS_AT_ONCE = 2;
export const shipped = {}; // name → { state: "loading" | "ready" | "failed", model, bytes, error, done }
export const modelListeners = []; // called with a name whenever a model becomes ready or fails

// A shipped model's file, relative to the page (and to worker.js, beside it).
export const fileOf = (name) => `pretrained/${name}.${CLASSICAL.includes(name) ? "model" : "weights"}`;

function settle(name, state, fields) {
  Object.assign(shipped[name], { state, ...fields });
  if (state === "failed") console.warn(`${name}: ${fields.error}`);
  for (const f of modelListeners) f(name);
}

// Fetches and loads one shipped model; its entry says how that went (nothing is thrown).
function startLoading(wasm, name) {
  shipped[name] ??= { state: "loading" };
  shipped[name].done ??= (async () => {
    try {
      const bytes = await fetchBytes(fileOf(name));
      const classical = CLASSICAL.includes(name);
      const model = classical ? wasm.WebClassical.fromBytes(bytes, name) : wasm.WebModel.fromBytes(bytes);
      settle(name, "ready", { model, bytes: classical && name !== MAP_FEATURES ? null : bytes });
    } catch (e) {
      settle(name, "failed", { error: e.message || String(e) });
    }
  })();
  return shipped[name].done;
}

// Starts every shipped model's download, in order: `{ first, all }`, promises that resolve when the
// photo-trained CNN has settled, and when every model has (loaded or failed).
let shippedLoading = null;
export function loadShippedModels(wasm) {
  if (!shippedLoading) {
    const first = Promise.all(FIRST.map((n) => startLoading(wasm, n)));
    for (const n of LATER) shipped[n] ??= { state: "loading" };
    const all = first.then(() => {
      const queue = [...LATER];
      return Promise.all(Array.from({ length: LOADS_AT_ONCE }, async () => {
        while (queue.length) await startLoading(wasm, queue.shift());
      }));
    });
    shippedLoading = { first, all };
  }
  return shippedLoading;
}

// How the shipped models stand: { ready, failed, loading } lists of the seven base models' names.
export function shippedState() {
  const is = (state) => [...DEEP, ...CLASSICAL].filter((n) => (shipped[n]?.state ?? "loading") === state);
  return { ready: is("ready"), failed: is("failed"), loading: is("loading") };
}

// The models' titles, as a list in words.
export const titlesOf = (names) => names.map((n) => TITLES[n]).join(", ");

// The model that answers for the current picture as shipped model `name`: the photo-trained variant for a
// photo, where one is shipped, else the model itself. `{ state, model, bytes, key, title, note, error }`
// (`bytes`: a deep model's file; `key`: the shipped name that answers): a photo
// waits for its variant while it loads; when the variant failed, the plain model answers and `note` says
// so.
export function answering(name, photo) {
  const base = shipped[name] ?? { state: "loading" };
  const variantName = photo ? PHOTO_VARIANTS[name] : undefined;
  const variant = variantName ? shipped[variantName] ?? { state: "loading" } : null;
  if (variant?.state === "ready") {
    return { state: "ready", model: variant.model, bytes: variant.bytes, key: variantName, title: `${TITLES[name]} (photo-trained)` };
  }
  if (variant?.state === "loading") return { state: "loading", title: `${TITLES[name]} (photo-trained)` };
  const note = variant?.state === "failed" ? `its photo-trained variant could not load (${variant.error}); the plain model answers` : "";
  return { state: base.state, model: base.model, bytes: base.bytes, key: name, title: TITLES[name], note, error: base.error };
}
