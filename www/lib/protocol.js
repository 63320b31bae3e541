// The page ↔ worker protocol, declared once and imported by both sides (the page's sections, lib/engine.js and worker.js).
// Every message is an object {type, ...}; `id` ties a reply to the request that caused it.
//
// To the worker:
//   INIT           {glue, wasm, threads, fallback?}  URLs of an engine's wasm-bindgen glue and .wasm file,
//                  and the size of the threaded engine's pool (0 for the single-threaded one); fallback:
//                  the single-threaded engine's {glue, wasm}, loaded where the threaded one fails.
//                  Replies READY
//   FIT_CLASSICAL  {id, model, trainSize, dataset: {images, labels, split}}
//       images/labels: the IDX files (gzip or raw) of the dataset shown in the page; split: "train" or
//       "test" for official files (checksummed), null for the built-in sample. Replies PROGRESS (any
//       number), then DONE or ERROR. A fit is synchronous in wasm: cancelling it is ending the worker.
//   TRAIN_DEEP     {id, model, backend, recipe, trainSize, dataset}
//       trains the CNN, ResNet or MLP one batch at a time with the same loop and recipe as the native CLI
//       (`recipe`: edits to the shipped recipe, as WebTrainer takes them). Replies BACKEND, RECIPE (the
//       recipe in use), then BATCH (at most about 4 a second) and EPOCH, then TRAINED, or ERROR.
//   PAUSE / RESUME / STOP  {id}   taken between batches of a TRAIN_DEEP run (STOP keeps the best epoch)
//   EVALUATE       {id, bytes, backend, dataset}
//       scores a model file (.weights or .model, as modelFileKind reads it) on a dataset; replies
//       EVALUATED or ERROR.
//   SELECT_BACKEND {id, backend}   "auto", "wgpu" or "flex": the device later work uses; replies BACKEND
//   EXPLAIN        {id, key, bytes, pixels, class}
//       Grad-CAM of one prepared image (784 pixels) for `class` by the deep model in `bytes` (a .weights
//       file), which the worker keeps under `key` until the backend changes; replies EXPLAINED or ERROR.
//   MAP            {id, dataset, options, backend, deep, classical}
//       the embedding map of `dataset`'s images (`options`: {space: "pixels" | "hog" | "deep", method:
//       "pca" | "tsne" | "umap", perplexity?, iterations?}; `deep`: the deep model's weight file, whose
//       answers the chart rings where wrong and whose penultimate layer is the deep space; `classical`: the
//       model file whose features are the HOG space, or null). Replies PROGRESS (stage "features", then
//       t-SNE's "affinities" and "layout" or UMAP's "neighbours" and "epochs"; fraction of the whole), then
//       MAPPED or ERROR. Cancelling is ending the worker.
//   ATTACK         {id, key, bytes, pixels, labels, config}
//       adversarial examples against the deep model in `bytes` (kept under `key` as for EXPLAIN): the
//       n prepared images `pixels` (n × 784) of classes `labels` perturbed by `config` ({method, epsilon,
//       steps, seed}, as deep::attack::AttackConfig reads it); replies ATTACKED or ERROR.
//   ROBUSTNESS     {id, backend, attacker, images, labels, config, epsilons, models}
//       every model's answers to `images` (n × 784, classes `labels`) attacked against the deep model in
//       `attacker` (a .weights file) by `config` ({method, steps, seed}) at each ε of `epsilons`;
//       `models`: [{file, kind}], each a shipped model's file (fetched by the worker, from the browser's
//       cache) and its kind ("cnn", …, "knn"). Replies PROGRESS (stage "attack" or "answers", fraction of
//       the whole) and ROBUST or ERROR. Cancelling is ending the worker.
// From the worker:
//   READY          {}
//   PROGRESS       {id, stage, fraction}
//   DONE           {id, model, trainSize, accuracy, heldOut, fitSeconds, config, bytes}
//   BACKEND        {id, report}
//   RECIPE         {id, recipe}
//   BATCH          {id, progress}
//   EPOCH          {id, record}
//   TRAINED        {id, model, history, stopped, bytes}
//   EVALUATED      {id, family, kind, results}   results: the `test` shape of pretrained/*.json
//   EXPLAINED      {id, cam}   cam: {class, probabilities, coarse, side, heatmap}
//   ATTACKED       {id, pixels}   the perturbed images, n × 784 whole pixel values
//   ROBUST         {id, scores, attackSeconds}   scores: models × ε × n × 10 class probabilities
//   MAPPED         {id, points, labels, predicted, share, dims, seconds}   points: n × 2; share: the 10
//                  nearest neighbours of 100 images (10 a class) of their class, {overall, per_class};
//                  seconds: {features, map}
//   ERROR          {id, message}
//   DEVICE_LOST    {id, message}   the worker's WebGPU device was lost: its GPU work cannot finish; the page
//                                  ends the worker and goes on with the CPU
export const ToWorker = Object.freeze({
  INIT: "init",
  FIT_CLASSICAL: "fit-classical",
  TRAIN_DEEP: "train-deep",
  PAUSE: "pause",
  RESUME: "resume",
  STOP: "stop",
  EVALUATE: "evaluate",
  SELECT_BACKEND: "select-backend",
  EXPLAIN: "explain",
  ATTACK: "attack",
  ROBUSTNESS: "robustness",
  MAP: "map",
});

export const FromWorker = Object.freeze({
  READY: "ready",
  PROGRESS: "progress",
  DONE: "done",
  BACKEND: "backend",
  RECIPE: "recipe",
  BATCH: "batch",
  EPOCH: "epoch",
  TRAINED: "trained",
  EVALUATED: "evaluated",
  EXPLAINED: "explained",
  ATTACKED: "attacked",
  ROBUST: "robust",
  MAPPED: "mapped",
  ERROR: "error",
  DEVICE_LOST: "device-lost",
});
