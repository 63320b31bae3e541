// The engines' speed in headless Chromium, measured as ../shared/bench/peers/tfjs/tfjs_cnn.mjs measures
// TF.js, for `.ci/bench-tfjs`'s side-by-side run: in a module worker of the page (where the page's own
// work runs; the page's policy allows workers from its origin only, and wasm-bindgen-rayon's pool starts
// its threads from blobs, which a worker may), one engine at a time: on one thread (the single-threaded
// engine) and on THREADS (the threaded engine, where the build has it).
//  - Training: the study's CNN (the shipped CNN's recipe without batch norm, dropout, augmentation,
//    warm-up, weight decay or label smoothing: Adam at 1e-3), batch 64, on TRAIN_SIZE class-balanced
//    training images, EPOCHS epochs; images/s of each epoch, from the trainer's own epoch time.
//  - Inference: the shipped CNN (the study's layers plus batch norm) on the first 1,000 test images in one
//    batch, after one warm-up batch, and one image at a time (the mean of 50, after 5 warm-ups, as TF.js's
//    script times it; then the mean of 200 after 500 more, `ms_one_image_steady`).
// Fails if one image on one thread, once compiled, takes more than 3x an image of the batch.
// Prints one JSON line per measurement. Usage: node tests/e2e/speed.mjs DIST_DIR (the full dataset linked
// into DIST_DIR/data, as .ci/test does); THREADS (2), TRAIN_SIZE (6000), EPOCHS (2), RECIPE (`study`, or
// `shipped`: the shipped CNN's own recipe, the page's default, with batch norm, dropout and augmentation).
import { mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { chromium } from "playwright-core";
import { BASE_ARGS, serve } from "./common.mjs";

// The measuring worker's script: the same calls the page's worker makes.
const WORKER = `
self.onmessage = async ({ data: { glue, wasmUrl, threads, trainSize, epochs, recipe } }) => {
  try {
    const wasm = await import(glue);
    await wasm.default({ module_or_path: wasmUrl });
    if (threads > 1) await wasm.initThreadPool(threads);
    await wasm.selectBackend("flex");
    const engine = threads > 1 ? "threaded engine" : "single-threaded engine";
    const get = async (u) => new Uint8Array(await (await fetch(u)).arrayBuffer());
    const out = [];
    const train = wasm.WebDataset.fromOfficial("train", await get("data/train-images-idx3-ubyte.gz"), await get("data/train-labels-idx1-ubyte.gz"));
    const subset = train.balanced(trainSize);
    const study = { batch_norm: false, dropout: 0, augment: "none", learning_rate: 1e-3, weight_decay: 0, warmup_epochs: 0,
      label_smoothing: 0, optimizer: "adamw" };
    const trainer = new wasm.WebTrainer("cnn", subset,
      { recipe: { epochs, batch_size: 64, ...(recipe === "shipped" ? {} : study) } });
    const trained = trainSize - Math.round(trainSize * 0.1); // the trainer holds 10% out for validation
    for (;;) {
      const step = await trainer.step();
      if (step.kind === "epoch") {
        const r = step.record;
        out.push({ engine, threads: wasm.threadCount(), recipe, epoch: r.epoch, train_s: +r.train_seconds.toFixed(2),
          images_per_s: Math.round(trained / r.train_seconds), val_acc: +r.val_accuracy.toFixed(4) });
      } else if (step.kind === "finished") break;
    }
    trainer.free(); subset.free(); train.free();
    const model = wasm.WebModel.fromBytes(await get("pretrained/cnn.weights"));
    const test = wasm.WebDataset.fromOfficial("test", await get("data/t10k-images-idx3-ubyte.gz"), await get("data/t10k-labels-idx1-ubyte.gz"));
    const batch = new Uint8Array(1000 * 784);
    for (let i = 0; i < 1000; i++) batch.set(test.image(i), i * 784);
    await model.probabilities(batch);
    let t = performance.now();
    await model.probabilities(batch);
    const batched = (performance.now() - t) / 1000;
    const one = batch.slice(0, 784);
    for (let i = 0; i < 5; i++) await model.probabilities(one);
    t = performance.now();
    for (let i = 0; i < 50; i++) await model.probabilities(one);
    const oneImage = (performance.now() - t) / 50;
    // The same once the browser has compiled the one-image path's code at its top tier (a visitor
    // classifying webcam frames is there within seconds): the mean of 200 after 500 more.
    for (let i = 0; i < 500; i++) await model.probabilities(one);
    t = performance.now();
    for (let i = 0; i < 200; i++) await model.probabilities(one);
    out.push({ engine, threads: wasm.threadCount(), inference: true, ms_per_image_batched: +batched.toFixed(3),
      ms_one_image: +oneImage.toFixed(2), ms_one_image_steady: +((performance.now() - t) / 200).toFixed(2) });
    model.free(); test.free();
    postMessage({ out });
  } catch (e) {
    postMessage({ error: String(e && e.message ? e.message : e) });
  }
};
`;

const dist = resolve(process.argv[2] || "dist");
const THREADS = Number(process.env.THREADS || 2), TRAIN_SIZE = Number(process.env.TRAIN_SIZE || 6000);
const EPOCHS = Number(process.env.EPOCHS || 2);
const RECIPE = process.env.RECIPE === "shipped" ? "shipped" : "study";
// The site as built, and the measuring worker beside it.
const site = mkdtempSync(join(tmpdir(), "fashionlab-speed-"));
for (const name of readdirSync(dist)) symlinkSync(join(dist, name), join(site, name));
writeFileSync(join(site, "speed-worker.js"), WORKER);
const server = await serve(site, "/");
const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", headless: true, args: BASE_ARGS });
try {
  for (const threads of [1, THREADS]) {
    const page = await browser.newPage();
    if (process.env.DEBUG) page.on("console", (m) => console.error("page:", m.text()));
    await page.goto(server.url, { waitUntil: "load" });
    await page.waitForSelector("body[data-engine='ready']", { timeout: 240_000 });
    const result = await page.evaluate(({ threads, trainSize, epochs, recipe }) => {
      const meta = (name) => document.querySelector(`meta[name='fashionlab-${name}']`)?.content?.split(" ");
      const files = threads > 1 ? meta("threads") : meta("engine");
      if (!files || (threads > 1 && !self.crossOriginIsolated)) return { out: [{ threads, skipped: "no threaded engine here" }] };
      const worker = new Worker("speed-worker.js", { type: "module" });
      return new Promise((resolve) => {
        worker.onmessage = (ev) => { worker.terminate(); resolve(ev.data); };
        worker.onerror = (ev) => resolve({ error: ev.message || "the worker failed" });
        worker.postMessage({ glue: new URL(files[0], document.baseURI).href, wasmUrl: new URL(files[1], document.baseURI).href,
          threads, trainSize, epochs, recipe });
      });
    }, { threads, trainSize: TRAIN_SIZE, epochs: EPOCHS, recipe: RECIPE });
    if (result.error) throw new Error(`${threads} thread(s): ${result.error}`);
    for (const l of result.out) console.log(JSON.stringify(l));
    await page.close();
    // A guard against large regressions only, as a ratio within this run: once compiled, one image on
    // one thread should cost about what an image of a large batch does. Several times that means each
    // call into the module pays a fixed cost, as when every call re-ran the module's static constructors
    // (src/web/mod.rs, run_static_constructors).
    const inference = result.out.find((l) => l.inference && l.threads === 1);
    if (inference && inference.ms_one_image_steady > 3 * inference.ms_per_image_batched) {
      throw new Error(`one image on one thread took ${inference.ms_one_image_steady} ms once compiled, more than 3x ` +
        `an image of a batch (${inference.ms_per_image_batched} ms): calls into the module cost too much`);
    }
  }
} finally {
  await browser.close();
  await server.close();
  rmSync(site, { recursive: true }); // the links, not what they point to
}
