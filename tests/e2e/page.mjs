// End-to-end check of the built site in Debian's headless Chromium, driven by playwright-core.
// Usage: node tests/e2e/page.mjs DIST_DIR   (SCREENSHOT_DIR sets where screenshots go)
// It serves DIST_DIR on 127.0.0.1, opens the page with and without WebGPU, and asserts that:
//  - the wasm loads and the backend badge names the backend actually picked (WebGPU / CPU);
//  - the five dataset-analysis charts render from the built-in sample;
//  - the full training set served beside the site loads, passes its checksums and is analysed (CPU run);
//  - the shipped models' table lists all seven models from pretrained/*.json;
//  - uploads ("photos" made from sample images) are classified by all seven models, with Grad-CAM; a text
//    file is refused; the fake camera's frames are classified, and a refused camera is explained;
//  - a classical model (k-NN) trains in the background worker on the sample and scores its held-out part;
//  - a strict Content-Security-Policy is in the page and nothing violates it;
//  - a pair of trousers drawn on the sketch pad is classified as it is drawn, and the CNN says "Trouser";
//  - no request leaves the page's own origin;
//  - the site works from a sub-folder (the CPU run serves it under /fashion/lab/), at phone width, and
//    offline after the first visit (the CPU run stops its server and reloads): the seven answers, Grad-CAM
//    and an epoch of training.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { chromium } from "playwright-core";
import { BASE_ARGS, photoOf, png, serve, texturedPhotoOf, y4m } from "./common.mjs";

const dist = resolve(process.argv[2] || "dist");
// The native CLI, for the recipe the page must train with (built by `cargo build --release`).
const FASHIONLAB = process.env.FASHIONLAB_BIN || join(process.env.CARGO_TARGET_DIR || "target", "release", "fashionlab");
// What the CNN's third epoch reaches in the page on the sample (measured on the CPU run, 2026-12-01).
const CNN_PAGE_VAL_ACCURACY = 0.75;
// Deep equality with numbers equal to 1e-6 relative (f32 values reach the page widened to f64).
const near = (a, b) => typeof a === "number" && typeof b === "number" ? Math.abs(a - b) <= 1e-6 * Math.max(1, Math.abs(b))
  : a && b && typeof a === "object" && typeof b === "object"
    ? Object.keys(a).length === Object.keys(b).length && Object.keys(a).every((k) => near(a[k], b[k])) : a === b;
// The shipped models in the table's order, with their titles, and their summaries as served.
const SHIPPED = [["cnn", "CNN"], ["resnet", "ResNet"], ["mlp", "MLP"], ["logreg", "Logistic regression"], ["svm", "SVM (RBF)"],
  ["rf", "Random forest"], ["knn", "k-NN"]];
const recordedSummary = (name) => JSON.parse(readFileSync(join(dist, "pretrained", `${name}.json`), "utf8"));
const shots = resolve(process.env.SCREENSHOT_DIR || "target/screenshots");
mkdirSync(shots, { recursive: true });

const nested = mkdtempSync(join(tmpdir(), "fashionlab-site-"));
mkdirSync(join(nested, "fashion"));
symlinkSync(dist, join(nested, "fashion", "lab"));
const servers = { root: await serve(dist, "/"), nested: await serve(nested, "/fashion/lab/") };

// A fake camera for Chromium: a 320×240 clip of a bag, navy on a wood-grain table with a shadow, uneven
// light and noise (tests/e2e/common.mjs, made independently of the crate's photo generator).
const cameraFile = join(tmpdir(), "fashionlab-camera.y4m");
writeFileSync(cameraFile, y4m(320, 240, texturedPhotoOf(8)));

const configs = [
  // With WebGPU: a camera exists but permission is refused (the page must say so and keep working).
  { name: "webgpu", args: ["--enable-unsafe-webgpu", "--enable-unsafe-swiftshader", "--use-fake-device-for-media-stream"], backend: "wgpu", badge: /WebGPU/, camera: "denied",
    server: "root" },
  // CPU: the fake camera plays the bag-on-a-table clip and permission is granted.
  { name: "cpu", args: ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream", `--use-file-for-fake-video-capture=${cameraFile}`],
    backend: "flex", badge: /CPU/, camera: "on", server: "nested" },
];

let passed = 0, failed = 0;
const check = (ok, what) => { if (ok) { passed++; console.log(`  ok   ${what}`); } else { failed++; console.log(`  FAIL ${what}`); } };

for (const cfg of configs) {
  const { origin, url } = servers[cfg.server];
  console.log(`page with ${cfg.name}, at ${url}:`);
  const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", headless: true, args: [...BASE_ARGS, ...cfg.args] });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 }, permissions: cfg.camera === "on" ? ["camera"] : [] });
    const foreign = [];
    const errors = [];
    page.on("request", (r) => { if (!r.url().startsWith(origin) && !r.url().startsWith("data:") && !r.url().startsWith("blob:")) foreign.push(r.url()); });
    page.on("pageerror", (e) => errors.push(String(e)));
    page.on("console", (m) => { if (/Content Security Policy|Content-Security-Policy/.test(m.text())) errors.push(`CSP: ${m.text()}`); });
    const navigated = Date.now();
    await page.goto(url, { waitUntil: "load" });
    await page.waitForSelector("body[data-ready='true']", { timeout: 240_000 });
    await page.waitForSelector("body[data-models='7']", { timeout: 120_000 });
    console.log(`  speed (${cfg.name}): page ready with all 7 models loaded ${Date.now() - navigated} ms after navigation began (cold cache, localhost)`);
    await page.waitForSelector("body[data-figures='5']", { timeout: 60_000 });
    // The engine (the workers' module: the backend, Grad-CAM, training) loads once the models are in.
    await page.waitForSelector("body[data-engine='ready']", { timeout: 240_000 });
    console.log(`  speed (${cfg.name}): engine ready (backend picked) ${Date.now() - navigated} ms after navigation began`);
    const backend = await page.getAttribute("body", "data-backend");
    check(backend === cfg.backend, `backend picked is ${cfg.backend} (got ${backend})`);
    const badge = await page.textContent("#backend-name");
    check(cfg.badge.test(badge), `backend badge shows it: "${badge}"`);
    const plots = await page.locator("#analysis .js-plotly-plot").count();
    const tables = await page.locator("#analysis table.figure-table").count();
    const summaryRows = await page.$$eval("#fig-summary tbody tr", (rows) => rows.map((r) => r.textContent));
    check(plots === 4 && tables === 1 && summaryRows.some((r) => r.includes("Pixel std")),
      `four analysis charts and the summary table rendered (got ${plots} charts, ${tables} table: ${summaryRows.join("; ")})`);
    const status = await page.textContent("#dataset-status");
    check(/1,000 images/.test(status), `status describes the sample: "${status}"`);
    const csp = await page.getAttribute("meta[http-equiv='Content-Security-Policy']", "content");
    check(/default-src 'self'/.test(csp || "") && !/unsafe-eval'/.test((csp || "").replace("wasm-unsafe-eval", "")),
      `a strict Content-Security-Policy is in force: "${(csp || "none").slice(0, 80)}…"`);
    check(foreign.length === 0, `no request left the origin ${foreign.length ? foreign.join(", ") : ""}`);
    // Accessibility basics: every control has a name, every picture a text, and the keyboard reaches the
    // controls of every section.
    {
      const unnamed = await page.evaluate(() => [...document.querySelectorAll("input, select, button, textarea, progress")]
        .filter((e) => !(e.labels?.length || e.getAttribute("aria-label") || (e.tagName === "BUTTON" && e.textContent.trim())))
        .map((e) => e.id || e.tagName));
      const noText = await page.evaluate(() => [...document.querySelectorAll("img:not([alt]), canvas:not([aria-label]), video:not([aria-label])")]
        .filter((e) => !e.closest(".js-plotly-plot")).map((e) => e.id || e.tagName));
      const targets = ["backend-choice", "load-full", "classify-input", "camera-start", "detail-model", "cell-true",
        "deep-model", "deep-train", "classical-model", "classical-train", "yours-input"];
      await page.focus("body");
      const reached = new Set();
      for (let i = 0; i < 600 && !targets.every((id) => reached.has(id)); i++) {
        await page.keyboard.press("Tab");
        reached.add(await page.evaluate(() => document.activeElement?.id || ""));
      }
      const wanted = targets.filter((id) => !reached.has(id));
      check(unnamed.length === 0 && noText.length === 0 && wanted.length === 0,
        `controls named (${unnamed.join(", ") || "all"}), pictures described (${noText.join(", ") || "all"}), keyboard reaches every section (missed: ${wanted.join(", ") || "none"})`);
    }
    // Classify uploaded "photos" with every shipped model; a non-image file is refused, the page goes on.
    await page.waitForSelector("body[data-models='7']", { timeout: 120_000 });
    await page.setInputFiles("#classify-input", { name: "notes.txt", mimeType: "text/plain", buffer: Buffer.from("not an image") });
    await page.waitForFunction(() => document.getElementById("classify-status").classList.contains("error"), null, { timeout: 30_000 });
    check(/notes\.txt/.test(await page.textContent("#classify-status")), `a text file is refused: "${await page.textContent("#classify-status")}"`);
    // From here on, classifying must not cause a single request, even to the site itself: the picture
    // stays in the tab.
    const duringClassify = [];
    const watch = (r) => duringClassify.push(r.url());
    page.on("request", watch);
    let mapsDrawn = 0;
    for (const [label, name] of [[1, "Trouser"], [8, "Bag"], [9, "Ankle boot"]]) {
      const before = Number(await page.getAttribute("body", "data-classified") || 0);
      await page.setInputFiles("#classify-input", { name: `${name}.png`, mimeType: "image/png", buffer: photoOf(label) });
      await page.waitForSelector(`body[data-classified='${before + 1}']`, { timeout: 120_000 });
      const answers = await page.$$eval("#classify-answers li", (lis) => lis.map((li) => [li.dataset.model, Number(li.dataset.classIndex), li.textContent]));
      const right = answers.filter(([, c]) => c === label).map(([m]) => m);
      const cnn = answers.find(([m]) => m === "cnn");
      check(answers.length === 7 && cnn && cnn[1] === label && right.length >= 5,
        `${name} photo: ${right.length}/7 models right (${answers.map(([, , t]) => t).join("; ")})`);
      // Grad-CAM of the CNN's answer is drawn (three canvases) and described.
      await page.waitForSelector(`body[data-explained='${before + 1}']`, { timeout: 120_000 });
      const explained = await page.textContent("#explain-status");
      const lit = await page.$eval("#explain-heatmap", (c) => {
        const d = c.getContext("2d").getImageData(0, 0, 28, 28).data;
        let red = 0; for (let i = 0; i < d.length; i += 4) if (d[i] > 200 && d[i + 2] < 100) red++;
        return red;
      });
      // A map with no positive evidence is possible (every cell weighing against the class): then the
      // page must say so. At least two of the three photos must have a map with hot pixels.
      const said = lit === 0 && /no positive evidence/.test(explained);
      if (lit > 0) mapsDrawn++;
      check(new RegExp(name).test(explained) && ((lit > 0 && lit < 784) || said), `Grad-CAM for ${name}: ${lit} hot pixels; "${explained}"`);
    }
    check(mapsDrawn >= 2, `Grad-CAM maps with hot pixels for ${mapsDrawn} of 3 photos`);
    // Photos as people take them (a navy item with a shadow on a wood-grain table, uneven light, noise):
    // the item is found and cut out (the cut-out shown beside the 28×28 input), and the CNN names it.
    for (const [label, name] of [[1, "Trouser"], [7, "Sneaker"], [8, "Bag"]]) {
      const before = Number(await page.getAttribute("body", "data-classified") || 0);
      await page.setInputFiles("#classify-input", { name: `${name}-on-a-table.png`, mimeType: "image/png", buffer: png(320, 240, texturedPhotoOf(label), 3) });
      await page.waitForSelector(`body[data-classified='${before + 1}']`, { timeout: 120_000 });
      const cnn = await page.$eval("#classify-answers li[data-model='cnn']", (li) => [Number(li.dataset.classIndex), li.textContent]);
      const cut = await page.$eval("#classify-cutout", (c) => {
        const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
        let lit = 0; for (let i = 0; i < d.length; i += 4) if (d[i] > 60) lit++;
        return { w: c.width, h: c.height, share: lit / (c.width * c.height), shown: !c.closest("figure").hidden };
      });
      const item = await page.getAttribute("body", "data-item");
      // The item covers about 20% of the frame: a cut-out that kept the table would be far more.
      check(item === "found" && cnn[0] === label && cut.shown && cut.share > 0.08 && cut.share < 0.35,
        `${name} on a textured table: CNN "${cnn[1]}", cut-out ${cut.w}×${cut.h} with ${(100 * cut.share).toFixed(0)}% lit, "${await page.textContent("#classify-item")}"`);
    }
    // Inside the network, for the last photo (a bag on a table): every layer of the CNN that answers
    // photos, one canvas per channel under the first layer's filters; a click lays a map over the input;
    // the ResNet's view follows its blocks.
    {
      const before = Number(await page.getAttribute("body", "data-inside") || 0);
      await page.click("#inside summary");
      await page.waitForSelector(`body[data-inside='${before + 1}']`, { timeout: 60_000 });
      const layers = (await page.getAttribute("body", "data-inside-layers")).split(",").map((l) => l.split(":"));
      const drawn = await page.$$eval("#inside-layers .inside-layer", (rows) => rows.map((r) => r.querySelectorAll("canvas").length));
      await page.click("#inside-layers .inside-layer:nth-child(2) canvas:nth-child(3)");
      const overlay = await page.getAttribute("body", "data-inside-overlay");
      const changed = await page.evaluate(() => {
        const read = (id) => document.getElementById(id).getContext("2d").getImageData(0, 0, 28, 28).data;
        const [a, b] = [read("inside-input"), read("inside-overlay")];
        let n = 0; for (let i = 0; i < a.length; i += 4) if (a[i] !== b[i] || a[i + 2] !== b[i + 2]) n++;
        return n;
      });
      const channels = Number(layers[0][1]);
      check(layers.map(([n]) => n).join() === "conv 1,pool 1 + ReLU,conv 2,pool 2 + ReLU,conv 3 + ReLU,dense + ReLU,logits" &&
        layers.at(-1)[1] === "10" && drawn[0] === channels && drawn[1] === channels && drawn[3] === 2 * channels &&
        overlay === "conv 1/2" && changed > 100,
        `inside the CNN: ${layers.map((l) => l.join(" ")).join(", ")}; ${drawn.join("/")} canvases; overlay ${overlay} changed ${changed} pixels`);
      // A map laid over the input from the keyboard: Tab to the first conv map, Enter.
      await page.focus("#inside-layers .inside-layer:nth-child(2) canvas:nth-child(1)");
      await page.keyboard.press("Enter");
      const byKey = await page.getAttribute("body", "data-inside-overlay");
      // Another picture (trousers on the table), classified with the view open: its maps differ.
      const digest = await page.getAttribute("body", "data-inside-digest");
      console.log(`  speed (${cfg.name}): the CNN's layers for one picture in ${await page.getAttribute("body", "data-inside-millis")} ms (one forward pass, CPU)`);
      const classified = Number(await page.getAttribute("body", "data-classified") || 0);
      await page.setInputFiles("#classify-input", { name: "Trouser-again.png", mimeType: "image/png", buffer: png(320, 240, texturedPhotoOf(1), 3) });
      await page.waitForSelector(`body[data-classified='${classified + 1}'][data-inside='${before + 2}']`, { timeout: 60_000 });
      const other = await page.getAttribute("body", "data-inside-digest");
      check(byKey === "conv 1/0" && digest !== other, `by keyboard: overlay ${byKey}; the first layer's maps of a bag and of trousers differ (${digest} against ${other})`);
      await page.selectOption("#inside-model", "resnet");
      await page.waitForSelector(`body[data-inside='${before + 3}']`, { timeout: 60_000 });
      const resnet = (await page.getAttribute("body", "data-inside-layers")).split(",");
      check(resnet.length === 15 && resnet.filter((l) => /^block \d+:32$/.test(l)).length === 10,
        `inside the ResNet: ${resnet.join(", ")}; "${await page.textContent("#inside-status")}"`);
      await page.selectOption("#inside-model", "cnn");
      await page.click("#inside summary");
    }
    // Adversarial examples, for the last photo: PGD at ε = 8 against the photo CNN changes no pixel by
    // more than 8 and every model answers the changed picture; at ε = 0 nothing changes and no answer
    // moves. On the CPU, each model's accuracy on 100 sample images falls as ε grows.
    {
      const attacked = () => Number(document.body.dataset.attacked || 0);
      const before = await page.evaluate(attacked);
      await page.click("#attack summary");
      await page.waitForFunction((n) => Number(document.body.dataset.attacked || 0) > n, before, { timeout: 120_000 });
      const largest = Number(await page.getAttribute("body", "data-attack-largest"));
      const answers = await page.$$eval("#attack-answers li", (lis) => lis.map((li) => [li.dataset.model, li.dataset.changed]));
      const shades = await page.$eval("#attack-perturbation", (c) => {
        const d = c.getContext("2d").getImageData(0, 0, 28, 28).data;
        const seen = new Set(); for (let i = 0; i < d.length; i += 4) seen.add(d[i]);
        return seen.size;
      });
      check(largest > 0 && largest <= 8 && answers.length === 7 && shades >= 2,
        `PGD at ε = 8 on the last photo: largest change ${largest}, ${shades} shades in the change, ` +
        `${answers.filter(([, c]) => c === "true").length} of ${answers.length} answers moved; "${await page.textContent("#attack-status")}"`);
      const n = await page.evaluate(attacked);
      await page.$eval("#attack-epsilon", (el) => { el.value = "0"; el.dispatchEvent(new Event("change")); });
      await page.waitForFunction((k) => Number(document.body.dataset.attacked || 0) > k, n, { timeout: 120_000 });
      const still = await page.$$eval("#attack-answers li", (lis) => lis.filter((li) => li.dataset.changed === "true").length);
      check(Number(await page.getAttribute("body", "data-attack-largest")) === 0 && still === 0,
        `at ε = 0 the picture is unchanged and ${still} answers moved`);
      if (cfg.name === "cpu") {
        // The runs' workers load their code and the shipped models' files, from the browser's cache: those
        // requests are the site's own files (GET only), and nothing about the picture. The classifying
        // checks' watch resumes after.
        page.off("request", watch);
        const curveRequests = [];
        const curveWatch = (r) => curveRequests.push([r.method(), r.url()]);
        page.on("request", curveWatch);
        // Cancelled while it runs: the worker ends, the button is free again.
        const label = await page.textContent("#attack-curve-start");
        await page.click("#attack-curve-start");
        await page.waitForFunction(() => /attacking|answers/.test(document.getElementById("attack-curve-status").textContent), null, { timeout: 120_000 });
        await page.click("#attack-curve-start");
        await page.waitForFunction(() => document.getElementById("attack-curve-status").textContent === "Cancelled.", null, { timeout: 10_000 });
        check(await page.textContent("#attack-curve-start") === label && !(await page.getAttribute("body", "data-attack-accuracy")),
          `the accuracy-against-ε run is cancelled by its button, which is "${label}" again`);
        // The run itself, off the page's thread: the page's long tasks (over 50 ms) while it goes.
        await page.evaluate(() => {
          window.attackLongTasks = [];
          new PerformanceObserver((list) => { for (const e of list.getEntries()) window.attackLongTasks.push(e.duration); }).observe({ type: "longtask" });
        });
        await page.click("#attack-curve-start");
        await page.waitForSelector("body[data-attack-accuracy]", { timeout: 300_000 });
        page.off("request", curveWatch);
        page.on("request", watch);
        // The site's own code and model files, and blob: URLs of this origin (local: wasm-bindgen-rayon starts
        // its threads' scripts from them).
        const own = /\/(worker\.js|lib\/[a-z-]+\.js|fashionlab-(engine|threads)-[0-9a-f]+(_bg\.wasm|\.js)|snippets\/[^?]+\.js|pretrained\/[a-z-]+\.(weights|model))$/;
        const foreignToCurve = curveRequests.filter(([method, url]) => method !== "GET" ||
          !(url.startsWith(`blob:${origin}/`) || own.test(url.split("?")[0])));
        check(curveRequests.length > 0 && foreignToCurve.length === 0,
          `the accuracy-against-ε run's ${curveRequests.length} requests are all for the site's own code and models ${foreignToCurve.join(", ")}`);
        const longTasks = await page.evaluate(() => window.attackLongTasks);
        const blocked = longTasks.reduce((a, b) => a + b, 0);
        check(blocked < 300 && /in a worker/.test(await page.textContent("#attack-curve-status")),
          `the accuracy-against-ε run works in a worker: the page's long tasks meanwhile add up to ${Math.round(blocked)} ms ` +
          `(${longTasks.length}; on the page's thread, the models' answers made 1.6 s)`);
        const curves = JSON.parse(await page.getAttribute("body", "data-attack-accuracy"));
        const cnn = curves.CNN ?? [];
        const falls = cnn.every((a, i) => i === 0 || a <= cnn[i - 1] + 0.02);
        const traces = await page.$$eval("#attack-curve .scatterlayer .trace", (t) => t.length);
        check(Object.keys(curves).length === 7 && cnn[0] >= 0.85 && falls && cnn[4] < cnn[0] - 0.2 && cnn[6] < cnn[4] && traces === 7,
          `accuracy against ε (0, 1, 2, 4, 8, 16, 32), PGD against the CNN on 100 sample images: ` +
          Object.entries(curves).map(([m, a]) => `${m} ${a.map((x) => Math.round(100 * x)).join("/")}`).join("; "));
        console.log(`  speed (${cfg.name}): ${await page.textContent("#attack-curve-status")}`);
      }
      await page.click("#attack summary"); // closed: later pictures are not attacked
    }
    // A picture with no item (an empty table; a flat grey card) gets "no item found", not a class.
    for (const [name, rgb] of [["empty-table", texturedPhotoOf(-1)], ["grey-card", new Uint8Array(200 * 150 * 3).fill(128)]]) {
      const [w, h] = name === "grey-card" ? [200, 150] : [320, 240];
      const before = Number(await page.getAttribute("body", "data-classified") || 0);
      await page.setInputFiles("#classify-input", { name: `${name}.png`, mimeType: "image/png", buffer: png(w, h, rgb, 3) });
      await page.waitForSelector(`body[data-classified='${before + 1}']`, { timeout: 120_000 });
      const said = await page.textContent("#classify-item");
      const answers = await page.$$eval("#classify-answers li", (lis) => lis.length);
      check((await page.getAttribute("body", "data-item")) === "none" && /No item found/.test(said) && answers === 0,
        `${name}: no class named (${answers} answers), "${said}"`);
    }
    // The sketch pad: a pair of trousers drawn with the mouse (a waistband and two legs, each a stroke) is
    // classified while it is drawn and when each stroke ends, through the photo path; the CNN says
    // "Trouser".
    {
      await page.click("#sketch summary");
      const box = await page.locator("#sketch-canvas").boundingBox();
      const to = ([x, y]) => [box.x + (x * box.width) / 280, box.y + (y * box.height) / 280];
      const strokes = [[[95, 40], [185, 40]], [[108, 45], [98, 250]], [[172, 45], [182, 250]]];
      for (const [from, end] of strokes) {
        await page.mouse.move(...to(from));
        await page.mouse.down();
        await page.mouse.move(...to(end), { steps: 12 });
        await page.mouse.up();
      }
      await page.waitForSelector("body[data-sketch='answered']", { timeout: 60_000 });
      const cnn = await page.$eval("#classify-answers li[data-model='cnn']", (li) => [Number(li.dataset.classIndex), li.textContent]);
      const live = Number(await page.getAttribute("body", "data-sketch-live") || 0);
      check(cnn[0] === 1 && live > 0 && (await page.getAttribute("body", "data-item")) === "found",
        `a drawn pair of trousers: CNN "${cnn[1]}", classified ${live} times while drawn`);
      await page.click("#sketch summary");
    }
    page.off("request", watch);
    // blob: URLs of the picture's own preview are local; anything else would be a leak.
    const leaks = duringClassify.filter((u) => !u.startsWith("blob:") && !u.startsWith("data:"));
    check(leaks.length === 0, `classifying and explaining 3 pictures made no network request ${leaks.join(", ")}`);
    // The embedding map of the 1,000-image sample by t-SNE, in a worker (the features on this
    // configuration's backend): in the CNN's space at least 70% of the 10 nearest neighbours of 100 images
    // (10 a class) share their class, clearly more than in pixel space, and more for T-shirt, Pullover and
    // Shirt. Pointing at a dot shows its image; a click classifies it. (After the no-request window: each
    // map starts a worker, which loads the engine from the site.) The pixels' map is drawn as the page
    // chooses for 1,000 dots (SVG), the CNN's with WebGL, asked for: Plotly's strict bundle under the CSP,
    // and the pointer and keyboard checks below run on the WebGL chart.
    {
      const traces = [];
      const map = async (space, drawing, method = "tsne") => {
        const n = Number(await page.getAttribute("body", "data-mapped") || 0);
        await page.selectOption("#map-space", space);
        await page.selectOption("#map-method", method);
        await page.selectOption("#map-drawing", drawing);
        await page.click("#map-start");
        await page.waitForSelector(`body[data-mapped='${n + 1}']`, { timeout: 300_000 });
        traces.push(await page.getAttribute("body", "data-map-trace"));
        return JSON.parse(await page.getAttribute("body", "data-map-share"));
      };
      // Cancelled as soon as it starts: the page says so, its worker is ended, and the next map runs.
      const workersBefore = page.workers().length;
      await page.selectOption("#map-method", "tsne");
      await page.click("#map-start");
      await page.click("#map-cancel");
      const cancelled = await page.textContent("#map-status");
      const startEnabled = await page.$eval("#map-start", (b) => !b.disabled);
      await page.waitForTimeout(500);
      check(cancelled === "Cancelled." && startEnabled && page.workers().length <= workersBefore,
        `a map cancelled at once: "${cancelled}", the button free again, ${page.workers().length} workers (${workersBefore} before)`);
      const pixels = await map("pixels", "auto");
      // UMAP of the CNN's space keeps the classes together as t-SNE does. In the CPU configuration only:
      // the layout runs on the CPU in both, and the CNN's features on WebGPU (20 s a map on SwiftShader)
      // are checked by the t-SNE map below.
      if (cfg.name === "cpu") {
        const umap = await map("deep", "auto", "umap");
        check(umap.n === 1000 && umap.method === "umap" && umap.overall >= 0.7 && umap.overall >= pixels.overall + 0.05,
          `UMAP map of the sample: ${(100 * umap.overall).toFixed(0)}% of the 10 nearest neighbours of their class in the CNN's space ` +
          `(t-SNE in pixels ${(100 * pixels.overall).toFixed(0)}%): "${(await page.textContent("#map-status")).slice(0, 60)}…"`);
        traces.pop();
      }
      const deep = await map("deep", "webgl");
      const drawnWith = await page.textContent("#map-status");
      check(traces.join() === "scatter,scattergl" && / with WebGL\.$/.test(drawnWith),
        `the map of 1,000 dots drawn as SVG when the page chooses, with WebGL when asked (${traces.join(", ")}): "${drawnWith.slice(-40)}"`);
      const hard = [0, 2, 6].every((c) => deep.per_class[c] > pixels.per_class[c]);
      const trace = await page.getAttribute("body", "data-map-trace");
      const points = await page.$eval("#map-plot", (div) => div.data.slice(0, 10).reduce((a, t) => a + t.x.length, 0));
      check(deep.n === 1000 && points === 1000 && deep.overall >= 0.7 && deep.overall >= pixels.overall + 0.05 && hard,
        `t-SNE map of the sample (${trace}): 10 nearest neighbours of their class ${(100 * deep.overall).toFixed(0)}% in the CNN's space, ` +
        `${(100 * pixels.overall).toFixed(0)}% in pixels; T-shirt/Pullover/Shirt ${[0, 2, 6].map((c) => Math.round(100 * deep.per_class[c])).join("/")}% ` +
        `against ${[0, 2, 6].map((c) => Math.round(100 * pixels.per_class[c])).join("/")}%`);
      console.log(`  speed (${cfg.name}): ${await page.textContent("#map-status")}`);
      const at = await page.$eval("#map-plot", (div) => {
        div.scrollIntoView({ block: "center" });
        const xa = div._fullLayout.xaxis, ya = div._fullLayout.yaxis, t = div.data[1], r = div.getBoundingClientRect();
        return { x: r.left + xa._offset + xa.l2p(t.x[0]), y: r.top + ya._offset + ya.l2p(t.y[0]) };
      });
      await page.mouse.move(at.x, at.y);
      await page.waitForSelector("body[data-map-hover]", { timeout: 10_000 });
      const hovered = await page.getAttribute("body", "data-map-hover");
      const caption = await page.textContent("#map-hover-caption");
      const before = Number(await page.getAttribute("body", "data-classified") || 0);
      await page.mouse.click(at.x, at.y);
      await page.waitForSelector(`body[data-classified='${before + 1}'][data-map-opened]`, { timeout: 60_000 });
      const opened = await page.getAttribute("body", "data-map-opened");
      const said = await page.textContent("#classify-status");
      check(opened === hovered && new RegExp(`test image ${opened} from the map`).test(said) && /Test image \d+: /.test(caption),
        `pointing at a dot shows "${caption}"; a click classifies it: "${said}"`);
      // From the keyboard: the chart takes the focus, an arrow key moves to another dot, Enter classifies it.
      await page.focus("#map-plot");
      await page.waitForFunction(() => document.activeElement?.id === "map-plot", null, { timeout: 5_000 });
      const focused = await page.getAttribute("body", "data-map-hover");
      await page.keyboard.press("ArrowRight");
      const moved = await page.getAttribute("body", "data-map-hover");
      const keyCaption = await page.textContent("#map-hover-caption");
      const keyBefore = Number(await page.getAttribute("body", "data-classified") || 0);
      await page.keyboard.press("Enter");
      await page.waitForSelector(`body[data-classified='${keyBefore + 1}'][data-map-opened='${moved}']`, { timeout: 60_000 });
      const xOf = (index) => page.$eval("#map-plot", (div, i) => {
        for (const t of div.data.slice(0, 10)) { const j = t.customdata.indexOf(i); if (j >= 0) return t.x[j]; }
        return null;
      }, Number(index));
      const [fromX, toX] = [await xOf(focused), await xOf(moved)];
      check(moved !== focused && toX > fromX && new RegExp(`Test image ${moved}: `).test(keyCaption),
        `from the keyboard: the map's focus shows image ${focused}, the right arrow moves to image ${moved} ("${keyCaption}"), Enter classifies it`);
      // A browser without WebGL (canvases here refuse WebGL contexts for the while): a map asked to be WebGL
      // is drawn as SVG, and the page says why.
      await page.evaluate(() => {
        const original = HTMLCanvasElement.prototype.getContext;
        globalThis.__getContext = original;
        HTMLCanvasElement.prototype.getContext = function (kind, ...rest) {
          return /webgl/.test(kind) ? null : original.call(this, kind, ...rest);
        };
      });
      const n = Number(await page.getAttribute("body", "data-mapped"));
      await page.selectOption("#map-method", "pca");
      await page.selectOption("#map-drawing", "webgl");
      await page.click("#map-start");
      await page.waitForSelector(`body[data-mapped='${n + 1}']`, { timeout: 120_000 });
      await page.evaluate(() => { HTMLCanvasElement.prototype.getContext = globalThis.__getContext; });
      const noGl = await page.getAttribute("body", "data-map-trace"), noGlSaid = await page.textContent("#map-status");
      check(noGl === "scatter" && /with SVG \(not WebGL: this browser has no WebGL\)\.$/.test(noGlSaid),
        `without WebGL, a map asked to be WebGL is drawn as ${noGl}: "${noGlSaid.slice(-60)}"`);
    }
    // The webcam path: live frames through the same preparation, or a clear message when refused.
    {
      const before = Number(await page.getAttribute("body", "data-classified") || 0);
      await page.click("#camera-start");
      await page.waitForSelector(`body[data-camera='${cfg.camera}']`, { timeout: 30_000 });
      if (cfg.camera === "on") {
        // A camera's first frames may be dark (the fake camera's are, sometimes): those are answered
        // "no item found", as they should be. Wait for a frame the CNN answers.
        await page.waitForFunction((n) => Number(document.body.dataset.classified || 0) > n &&
          document.querySelector("#classify-answers li[data-model='cnn'][data-class-index]"), before, { timeout: 120_000 });
        const cnn = await page.$eval("#classify-answers li[data-model='cnn']", (li) => [Number(li.dataset.classIndex), li.textContent]);
        check(cnn[0] === 8, `a fake-camera frame of a bag on a wood-grain table is classified by the CNN as: "${cnn[1]}"`);
        // Live mode keeps up: at least 5 frames a second, every model answering each frame.
        const start = Number(await page.getAttribute("body", "data-classified"));
        await page.waitForTimeout(4000);
        const done = Number(await page.getAttribute("body", "data-classified")) - start;
        const fps = Number(await page.getAttribute("body", "data-live-fps"));
        const models = await page.$$eval("#classify-answers li", (lis) => lis.length);
        console.log(`  speed: live camera ${fps} frames/s (${done} frames in 4 s), ${models} models a frame`);
        check(fps >= 5 && done >= 18 && models === 7, `live camera at ${fps} frames a second (${done} frames classified in 4 s) by ${models} models`);
        // The camera going away mid-stream (unplugged: its track ends): live mode stops, the page says so.
        await page.evaluate(() => document.getElementById("camera-video").srcObject.getVideoTracks()[0].dispatchEvent(new Event("ended")));
        await page.waitForSelector("body[data-camera='ended']", { timeout: 10_000 });
        const ended = await page.textContent("#classify-status");
        check(/camera stopped/.test(ended) && !(await page.isDisabled("#camera-start")) && await page.isDisabled("#camera-capture"),
          `a camera that goes away mid-stream is reported: "${ended}"`);
      } else {
        const msg = await page.textContent("#classify-status");
        check(/camera is not available/.test(msg), `a refused camera is explained: "${msg}"`);
      }
    }
    // Speed figures (printed for BENCHMARKS.md, not asserted: machines are noisy). CNN inference on the
    // 1,000 sample images in one batch, after one warm-up image, on the active backend.
    const speed = await page.evaluate(async () => {
      const w = window.wasmBindings;
      const bytes = new Uint8Array(await (await fetch("pretrained/cnn.weights")).arrayBuffer());
      const images = new Uint8Array(await (await fetch("data/sample-images-idx3-ubyte.gz")).arrayBuffer());
      const labels = new Uint8Array(await (await fetch("data/sample-labels-idx1-ubyte.gz")).arrayBuffer());
      const ds = w.WebDataset.fromIdx(images, labels, "bench");
      const pixels = new Uint8Array(1000 * 784);
      for (let i = 0; i < 1000; i++) pixels.set(ds.image(i), i * 784);
      let t = performance.now();
      const model = w.WebModel.fromBytes(bytes);
      await model.probabilities(pixels.slice(0, 784));
      const first = performance.now() - t;
      t = performance.now();
      await model.probabilities(pixels);
      const batch = performance.now() - t;
      t = performance.now();
      for (let i = 0; i < 20; i++) await model.probabilities(pixels.slice(i * 784, (i + 1) * 784));
      const single = (performance.now() - t) / 20;
      return { first, perImage: batch / 1000, single, sinceNavigation: performance.now() };
    });
    // The photo path on a 640×480 webcam-sized frame (the textured bag photo scaled up), on the page's
    // one wasm thread: the median of 21 runs. The target is 15 ms; CI fails only at 3× that.
    const prepMs = await page.evaluate(async (rgb) => {
      const w = window.wasmBindings, [sw, sh, W, H] = [320, 240, 640, 480];
      const rgba = new Uint8Array(W * H * 4);
      for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
        const s = ((y >> 1) * sw + (x >> 1)) * 3, d = (y * W + x) * 4;
        rgba[d] = rgb[s]; rgba[d + 1] = rgb[s + 1]; rgba[d + 2] = rgb[s + 2]; rgba[d + 3] = 255;
      }
      const times = [];
      for (let i = 0; i < 21; i++) { const t = performance.now(); w.prepareRgba(W, H, rgba); times.push(performance.now() - t); }
      return times.sort((a, b) => a - b)[10];
    }, Array.from(texturedPhotoOf(8)));
    console.log(`  speed (${cfg.name}): photo path on a 640×480 frame ${prepMs.toFixed(1)} ms (median of 21)`);
    check(prepMs <= 45, `the photo path prepares a 640×480 frame in ${prepMs.toFixed(1)} ms (target 15 ms; fails at 45)`);
    console.log(`  speed (${cfg.name}): CNN loaded + first prediction ${speed.first.toFixed(0)} ms; ` +
      `${speed.perImage.toFixed(2)} ms/image in a batch of 1,000; ${speed.single.toFixed(1)} ms for one image alone`);
    const shipped = await page.getAttribute("body", "data-shipped");
    check(shipped === "7", `shipped-models table lists 7 models (got ${shipped})`);
    // Each row shows what the model's summary records (read here from the served JSON, by Node).
    {
      const rows = await page.$$eval("#shipped-models tbody tr", (trs) => trs.map((tr) => [...tr.cells].map((td) => td.textContent)));
      const wrong = SHIPPED.filter(([name, title], i) => {
        const s = recordedSummary(name);
        return rows[i]?.[0] !== title || rows[i]?.[1] !== `${(100 * s.test.accuracy).toFixed(2)}%` ||
          rows[i]?.[3] !== s.params.toLocaleString("en-US");
      });
      check(wrong.length === 0, `the shipped table's names, accuracies and parameter counts match pretrained/*.json` +
        (wrong.length ? ` (wrong: ${wrong.map(([n]) => n).join(", ")}; rows ${JSON.stringify(rows)})` : ""));
    }
    // Dashboards: the comparison charts and one model's figures (the CNN's four, then the k-NN's three).
    const comparison = await page.locator("#comparison .js-plotly-plot").count();
    check(comparison === 2, `two comparison charts rendered (got ${comparison})`);
    check(await page.getAttribute("body", "data-detail") === "4", "the CNN's curves, confusion matrix, report and confusions rendered");
    await page.selectOption("#detail-model", "knn");
    await page.waitForSelector("body[data-detail='3']", { timeout: 30_000 });
    const cmTitle = await page.textContent("#model-figures");
    const knnAccuracy = `${(100 * recordedSummary("knn").test.accuracy).toFixed(2)}%`;
    check(cmTitle.includes(`KNN: confusion matrix (${knnAccuracy} test accuracy)`),
      `the k-NN's confusion matrix (${knnAccuracy}, as pretrained/knn.json records) rendered`);
    // The test images behind a confusion-matrix cell: a real click on the k-NN's "true Shirt, predicted
    // T-shirt/top" cell (row 6, column 0) shows as many test images as the cell counts.
    {
      const count = await page.evaluate(async () => (await (await fetch("pretrained/knn.json")).json()).test.confusion_matrix[6][0]);
      const plotArea = page.locator("#fig-knn-confusion .nsewdrag").first();
      await plotArea.scrollIntoViewIfNeeded();
      const box = await plotArea.boundingBox();
      const [x, y] = [box.x + box.width * 0.5 / 10, box.y + box.height * 6.5 / 10];
      await page.mouse.move(x, y);
      await page.waitForTimeout(300);
      await page.mouse.click(x, y);
      await page.waitForFunction(() => Number(document.body.dataset.cellImages || 0) > 0, null, { timeout: 60_000 });
      const text = await page.textContent("#cell-status");
      const drawn = await page.locator("#cell-images canvas").count();
      check(text.includes(`true Shirt, predicted T-shirt/top: ${count} test images`) && drawn === Math.min(count, 120),
        `clicking a confusion-matrix cell shows its test images: "${text}" (${drawn} drawn)`);
    }
    // A model file loaded back is scored beside the shipped model of its kind: the shipped MLP's own file
    // scores what its summary records; a file that is not a model is refused.
    {
      await page.setInputFiles("#yours-input", { name: "notes.weights", mimeType: "application/octet-stream", buffer: Buffer.from("no model here") });
      await page.waitForFunction(() => document.getElementById("yours-status").classList.contains("error"), null, { timeout: 30_000 });
      const refused = await page.textContent("#yours-status");
      check(/not a Fashion Lab model file/.test(refused), `a file that is not a model is refused: "${refused}"`);
      await page.setInputFiles("#yours-input", { name: "mlp.weights", mimeType: "application/octet-stream",
        buffer: readFileSync(join(dist, "pretrained/mlp.weights")) });
      await page.waitForFunction(() => /points/.test(document.querySelector("#yours-table tbody tr:last-child")?.textContent || ""),
        null, { timeout: 300_000 });
      const row = await page.$$eval("#yours-table tbody tr:last-child td", (tds) => tds.map((td) => td.textContent));
      const gap = Math.abs(parseFloat(row[3]) - parseFloat(row[4]));
      check(row[0] === "MLP (yours)" && row[2] === "the 10,000 test images" && row[4] === "89.89%" && gap <= (cfg.backend === "flex" ? 0 : 0.1),
        `the shipped MLP's file, loaded back, scores ${row[3]} against the recorded ${row[4]} (${row[5]})`);
    }
    if (cfg.backend === "wgpu") {
      // The GPU device lost in the middle of training (destroyed through the WebGPU API in the worker):
      // the run stops cleanly, the page says so and goes on with the CPU.
      // The CNN, batch 64 on 900 sample images: its training speed on WebGPU is printed on the way.
      await page.selectOption("#deep-model", "cnn");
      await page.fill("#deep-size", "1000");
      await page.fill("#deep-epochs", "20");
      await page.fill("#deep-batch", "64");
      const trainClicked = Date.now();
      await page.click("#deep-train");
      await page.waitForFunction(() => Number(document.body.dataset.deepPoints || 0) >= 1, null, { timeout: 300_000 });
      console.log(`  speed (${cfg.name}): training's first step ${Date.now() - trainClicked} ms after Train (the worker, its module, the device, shaders and one batch of 64)`);
      await page.waitForFunction(() => Number(document.body.dataset.deepPoints || 0) >= 3, null, { timeout: 300_000 });
      console.log(`  speed (${cfg.name}): CNN training in the worker, batch 64: ${await page.getAttribute("body", "data-deep-images-per-second")} images/s (shader compilation included)`);
      check((await page.getAttribute("body", "data-deep-timing")) === "[]" && /CPU only/.test(await page.textContent("#deep-timing")),
        `on WebGPU no layer is timed, and the page says why: "${await page.textContent("#deep-timing")}"`);
      const trainer = page.workers().filter((w) => /worker\.js/.test(w.url())).at(-1);
      const destroyed = await trainer.evaluate(() => { self.gpuDevices.forEach((d) => d.destroy()); return self.gpuDevices.length; });
      await page.waitForSelector("body[data-device-lost='true']", { timeout: 60_000 });
      await page.waitForFunction(() => !document.getElementById("deep-train").disabled, null, { timeout: 60_000 });
      const stopped = await page.textContent("#deep-status");
      await page.waitForSelector("body[data-backend='flex']", { timeout: 60_000 });
      const detail = await page.textContent("#backend-detail");
      check(destroyed > 0 && /GPU device was lost/.test(stopped) && /CPU/.test(await page.textContent("#backend-name")) && /lost/.test(detail),
        `GPU device lost during training: "${stopped}"; backend now "${await page.textContent("#backend-name")}" ${detail}`);
      // The page classifies on, on the CPU, with all seven models.
      const before = Number(await page.getAttribute("body", "data-classified") || 0);
      await page.setInputFiles("#classify-input", { name: "Trouser.png", mimeType: "image/png", buffer: photoOf(1) });
      await page.waitForSelector(`body[data-classified='${before + 1}']`, { timeout: 120_000 });
      const answers = await page.$$eval("#classify-answers li", (lis) => lis.map((li) => Number(li.dataset.classIndex)));
      check(answers.length >= 7 && answers.filter((c) => c === 1).length >= 6, `after the loss, ${answers.length} models classify on the CPU`);
      // The engine worker's device (the page's Grad-CAM) lost while idle, in a fresh page: the same
      // fallback; classifying and Grad-CAM work on, on the CPU.
      const fresh = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      fresh.on("pageerror", (e) => errors.push(`fresh page: ${e}`));
      await fresh.goto(url, { waitUntil: "load" });
      await fresh.waitForSelector("body[data-models='7'][data-engine='ready'][data-backend='wgpu']", { timeout: 240_000 });
      const engineWorker = fresh.workers().find((w) => /worker\.js/.test(w.url()));
      const lost = await engineWorker.evaluate(() => { self.gpuDevices.forEach((d) => d.destroy()); return self.gpuDevices.length; });
      await fresh.waitForSelector("body[data-backend='flex'][data-device-lost='true']", { timeout: 60_000 });
      await fresh.setInputFiles("#classify-input", { name: "Bag.png", mimeType: "image/png", buffer: photoOf(8) });
      await fresh.waitForSelector("body[data-classified='1'][data-explained='1']", { timeout: 120_000 });
      const freshAnswers = await fresh.$$eval("#classify-answers li", (lis) => lis.map((li) => Number(li.dataset.classIndex)));
      const freshCam = await fresh.textContent("#explain-status");
      check(lost > 0 && freshAnswers.length === 7 && freshAnswers.filter((c) => c === 8).length >= 6 && /Bag/.test(freshCam),
        `the engine's idle GPU device lost: "${await fresh.textContent("#backend-detail")}"; then ${freshAnswers.length} models classify a bag and Grad-CAM explains it on the CPU ("${freshCam}")`);
      await fresh.close();
    }
    if (cfg.name === "cpu") {
      // A classical model fitted in the worker, off the UI thread, on 700 sample images; 300 held out.
      await page.selectOption("#classical-model", "knn");
      await page.fill("#classical-size", "700");
      await page.click("#classical-train");
      await page.waitForSelector("body[data-classical='1']", { timeout: 120_000 });
      const acc = await page.textContent("#classical-results tbody tr td.accuracy");
      const scored = await page.textContent("#classical-results tbody tr td:nth-child(4)");
      check(parseFloat(acc) >= 72 && /300 images/.test(scored), `k-NN trained in the worker: ${acc} on ${scored}`);
      // The quiz, answered from the keyboard with "1" (Trouser) twenty times: two of its twenty images
      // (two per class) are trousers, so the score is 2 of 20, and the visitor's confusion matrix puts
      // all twenty answers in the Trouser column, two on the diagonal.
      {
        await page.click("#quiz-start");
        for (let q = 1; q <= 20; q++) {
          await page.waitForSelector(`body[data-quiz-question='${q}']`, { timeout: 10_000 });
          await page.keyboard.press("1");
        }
        await page.waitForSelector("body[data-quiz-score][data-quiz-figures='3']", { timeout: 60_000 });
        const score = Number(await page.getAttribute("body", "data-quiz-score"));
        const said = await page.textContent("#quiz-status");
        const matrix = await page.$eval("#fig-quiz-you-confusion", (d) => d.data[0].text.map((row) => row.map(Number)));
        const column = matrix.reduce((s, row) => s + row[1], 0), diagonal = matrix.reduce((s, row, i) => s + row[i], 0);
        const bars = await page.$eval("#fig-quiz-accuracy", (d) => d.data[0].x);
        check(score === 0.1 && /named 2 of 20/.test(said) && column === 20 && diagonal === 2 && bars[0] === "You" && bars.length === 8,
          `the quiz scored from its answers: "${said}"; Trouser column ${column}, diagonal ${diagonal}; bars ${bars.join(", ")}`);
      }
      // The width field shows the recipe's width within Rust's bounds (recipes.json); the MLP has none.
      {
        await page.selectOption("#deep-model", "cnn");
        const cnnWidth = await page.$eval("#deep-width", (i) => [i.value, i.min, i.max, i.closest("label").hidden].join());
        await page.selectOption("#deep-model", "resnet");
        const resnetWidth = await page.$eval("#deep-width", (i) => [i.value, i.min, i.max].join());
        await page.selectOption("#deep-model", "mlp");
        const mlpHidden = await page.$eval("#deep-width-label", (l) => l.hidden);
        check(cnnWidth === "32,8,128,false" && resnetWidth === "32,8,256" && mlpHidden,
          `the recipe's width field: CNN ${cnnWidth}, ResNet ${resnetWidth}, none for the MLP (${mlpHidden})`);
        // The depth (the ResNet's blocks, the MLP's hidden layers; none for the CNN) and the optimiser.
        const depthOf = async (model) => {
          await page.selectOption("#deep-model", model);
          return page.$eval("#deep-depth", (i) => [i.value, i.min, i.max, i.closest("label").hidden, document.getElementById("deep-optimizer").value].join());
        };
        const depths = [await depthOf("cnn"), await depthOf("resnet"), await depthOf("mlp")];
        check(depths[0].endsWith(",true,adamw") && depths[1] === "10,2,26,false,adamw" && depths[2] === "2,1,4,false,adamw",
          `the recipe's depth and optimiser fields: CNN ${depths[0]}, ResNet ${depths[1]}, MLP ${depths[2]}`);
      }
      // A deep model (the CNN) trained in the worker for 3 epochs on 1,000 sample images: the curve grows.
      await page.selectOption("#deep-model", "cnn");
      await page.fill("#deep-size", "1000");
      await page.fill("#deep-epochs", "3");
      const trainClicked = Date.now();
      await page.click("#deep-train");
      await page.waitForFunction(() => Number(document.body.dataset.deepPoints || 0) >= 1, null, { timeout: 120_000 });
      console.log(`  speed (${cfg.name}): training's first step ${Date.now() - trainClicked} ms after Train (the worker, its module and one batch)`);
      await page.waitForFunction(() => Number(document.body.dataset.deepPoints || 0) >= 2, null, { timeout: 120_000 });
      const early = Number(await page.getAttribute("body", "data-deep-points"));
      await page.waitForSelector("body[data-deep-trained='3']", { timeout: 300_000 });
      console.log(`  speed (${cfg.name}): CNN training in the worker, batch 64: ${await page.getAttribute("body", "data-deep-images-per-second")} images/s`);
      // Where a batch's time went, on the CPU: each of the CNN's layers forward, the backward pass from the
      // last layer to the first, then the update; going back through conv 2 (two products) costs more than
      // going back through the pooling before it (gradients routed to the winners).
      {
        const stages = JSON.parse(await page.getAttribute("body", "data-deep-timing") || "[]");
        const said = await page.textContent("#deep-timing");
        const names = (pass) => stages.filter((t) => t.pass === pass).map((t) => t.name);
        const ms = (name, pass) => stages.find((t) => t.name === name && t.pass === pass)?.millis ?? NaN;
        const forward = names("forward");
        check(stages.length === 15 && forward[0] === "conv 1" && forward[5] === "dense + ReLU" && forward[6] === "logits + loss" &&
          JSON.stringify(names("backward")) === JSON.stringify([...forward].reverse()) && stages[14].pass === "update" &&
          stages.every((t) => t.millis > 0) && ms("conv 2", "backward") > 3 * ms("pool 1 + ReLU", "backward") &&
          /Backward [\d.]+ ms: logits \+ loss [\d.]+ ms/.test(said),
          `a batch's time by layer while training, forward and backward: "${said}"`);
        console.log(`  speed (${cfg.name}): ${said}`);
      }
      const late = Number(await page.getAttribute("body", "data-deep-points"));
      const done = await page.textContent("#deep-status");
      const valAcc = parseFloat((done.match(/best validation accuracy ([\d.]+)%/) || [])[1] || "0");
      // It trained with the shipped CNN's recipe, as the CLI prints it, for the page's 3 epochs of batch 64.
      {
        const used = JSON.parse(await page.getAttribute("body", "data-training-recipe") || "null");
        const cli = JSON.parse(execFileSync(FASHIONLAB, ["recipe", "--model", "cnn", "--json"], { encoding: "utf8" }));
        const { epochs, batch_size, ...rest } = used?.train || {};
        const { epochs: cliEpochs, batch_size: cliBatch, ...cliRest } = cli.recipe.train;
        check(used && near(used.architecture, cli.recipe.architecture) && near(rest, cliRest) && used.augmentation === cli.augmentation &&
          epochs === 3 && batch_size === 64,
          `the page trained the CNN with the CLI's recipe (${JSON.stringify(used?.architecture)}, learning rate ${rest.learning_rate}, ` +
          `weight decay ${rest.weight_decay}, ${used?.augmentation} augmentation; CLI: ${cliEpochs} epochs of batch ${cliBatch}, ` +
          `page: ${epochs} of ${batch_size})`);
        const history = JSON.parse(await page.getAttribute("body", "data-deep-history") || "[]");
        console.log(`  validation accuracy by epoch (${cfg.name}): ${history.map((a) => a.toFixed(2)).join(", ")}`);
        check(history.length === 3 && history[2] > history[0] && Math.abs(history[2] - CNN_PAGE_VAL_ACCURACY) <= 0.10,
          `the CNN's validation accuracy rose over its 3 epochs (${history.join(" → ")}) and ended within 10 points of ${CNN_PAGE_VAL_ACCURACY}`);
      }
      // Pause holds it between batches, resume goes on, stop ends it keeping the best epoch.
      await page.fill("#deep-epochs", "20");
      await page.click("#deep-train");
      await page.waitForFunction(() => Number(document.body.dataset.deepPoints || 0) >= 2, null, { timeout: 120_000 });
      await page.click("#deep-pause");
      await page.waitForTimeout(1500); // a batch already running finishes
      const pausedAt = Number(await page.getAttribute("body", "data-deep-points"));
      await page.waitForTimeout(2000);
      const stillAt = Number(await page.getAttribute("body", "data-deep-points"));
      check(stillAt === pausedAt && /Resume/.test(await page.textContent("#deep-pause")), `pause holds training (${pausedAt} → ${stillAt} points)`);
      await page.click("#deep-pause");
      await page.waitForFunction((n) => Number(document.body.dataset.deepPoints) > n, stillAt, { timeout: 60_000 });
      await page.click("#deep-stop");
      await page.waitForFunction(() => /stopped/.test(document.getElementById("deep-status").textContent), null, { timeout: 120_000 });
      const stopped = await page.textContent("#deep-status");
      // The chart shows this run over the one before, faded: four traces, this run's last.
      const curves = await page.$eval("#deep-curves", (d) => d.data.map((t) => [t.name, t.opacity, t.x.length]));
      check(curves.length === 4 && curves[0][1] === 0.35 && curves[2][1] === 1 && /run 1/.test(curves[0][0]) && /run 2/.test(curves[2][0]) &&
        curves[0][2] > 0 && curves[1][2] === 3 && curves[2][2] > 0,
        `successive runs overlaid: ${curves.map(([n, o, k]) => `${n} (${k} points, opacity ${o})`).join("; ")}`);
      check(!(await page.isDisabled("#deep-train")), `stop ends the run and the page can train again: "${stopped}"`);
      // A stopped run keeps its best epoch, if it finished one (on a loaded machine the stop can come
      // after the first epoch): then it joins "Your models" too.
      const yoursExpected = /\(epoch \d+\)/.test(stopped) ? 4 : 3;
      check(late > early && valAcc >= 40, `CNN trained in the worker: curve grew from ${early} to ${late} points; "${done}"`);
      // The full training set served beside the site: downloaded, checksummed and analysed in wasm.
      await page.click("#load-full");
      await page.waitForFunction(() => /60,000 images/.test(document.getElementById("dataset-status").textContent), null, { timeout: 180_000 });
      const full = await page.textContent("#dataset-status");
      const downloaded = Number(await page.getAttribute("body", "data-downloaded"));
      check(downloaded === 26421856 + 29491, `the download's progress counted all ${downloaded.toLocaleString()} bytes of the two files`);
      check(/pixel mean 72\.94, median 0, std 90\.02/.test(full), `full training set analysed in the page: "${full}"`);
      // The models trained above joined "Your models" and were scored beside the shipped ones (a run
      // stopped before its first epoch ended has no epoch to keep, so it does not join).
      await page.waitForSelector(`body[data-yours='${yoursExpected}']`, { timeout: 300_000 });
      await page.waitForFunction(() => [...document.querySelectorAll("#yours-table tbody tr")].every((tr) => /points|failed/.test(tr.textContent)),
        null, { timeout: 300_000 });
      const rows = await page.$$eval("#yours-table tbody tr", (trs) => trs.map((tr) => [...tr.cells].map((td) => td.textContent)));
      const compared = rows.filter((r) => /points/.test(r[5])).map((r) => `${r[0]}: ${r[3]} vs ${r[4]}`);
      check(compared.length === yoursExpected && rows.some((r) => r[0].startsWith("k-NN (yours")) && rows.some((r) => r[0].startsWith("CNN (yours")),
        `trained models scored beside the shipped ones: ${compared.join("; ")}`);
      // Each is set beside the shipped model of its kind, with that model's recorded accuracy, and the gap
      // column is the difference of the two shown.
      const kinds = { "CNN": "cnn", "k-NN": "knn", "MLP": "mlp", "ResNet": "resnet", "Logistic regression": "logreg", "SVM": "svm", "Random forest": "rf" };
      const badRows = rows.filter((r) => /points/.test(r[5])).filter((r) => {
        const kind = kinds[r[0].replace(/ \(yours.*$/, "")];
        const want = kind && `${(100 * recordedSummary(kind).test.accuracy).toFixed(2)}%`;
        const gap = parseFloat(r[3]) - parseFloat(r[4]);
        const shown = (r[5].startsWith("−") ? -1 : 1) * parseFloat(r[5].slice(1));
        return r[4] !== want || !(Math.abs(gap - shown) < 0.011);
      });
      check(badRows.length === 0, `your models' rows show the shipped accuracy from pretrained/*.json and the gap between the two` +
        (badRows.length ? ` (wrong: ${JSON.stringify(badRows)})` : ""));
      // A crash in the training worker: the page reports it, and training starts again in a fresh worker.
      await page.selectOption("#deep-model", "mlp");
      await page.fill("#deep-size", "1000");
      await page.fill("#deep-epochs", "20");
      await page.click("#deep-train");
      await page.waitForFunction(() => Number(document.body.dataset.deepPoints || 0) >= 2, null, { timeout: 120_000 });
      const trainer = page.workers().filter((w) => /worker\.js/.test(w.url())).at(-1);
      await trainer.evaluate(() => { setTimeout(() => { throw new Error("simulated crash"); }, 0); });
      await page.waitForFunction(() => /crashed/.test(document.getElementById("deep-status").textContent), null, { timeout: 60_000 });
      const crashed = await page.textContent("#deep-status");
      await page.fill("#deep-epochs", "1");
      await page.click("#deep-train");
      await page.waitForSelector("body[data-deep-trained='1']", { timeout: 180_000 });
      const after = await page.textContent("#deep-status");
      check(/simulated crash/.test(crashed) && /finished/.test(after), `a crashed training worker is reported ("${crashed}") and a new run trains: "${after}"`);
    }
    check(errors.length === 0, `no uncaught page errors ${errors.join(" | ")}`);
    const file = join(shots, `analysis-${cfg.name}.png`);
    await page.screenshot({ path: file, fullPage: true });
    console.log(`  screenshot: ${file}`);
    // Phone width: nothing makes the page scroll sideways.
    await page.setViewportSize({ width: 390, height: 844 });
    await page.waitForTimeout(800);
    // What sticks out: boxes past the right edge, leaving out what a scrolling or clipping box holds.
    const wide = await page.evaluate(() => [document.documentElement.scrollWidth,
      [...document.querySelectorAll("body *")].filter((e) => e.getBoundingClientRect().right > 391 && getComputedStyle(e).position !== "absolute"
        && !(function clipped(p) { return p !== null && (getComputedStyle(p).overflowX !== "visible" || clipped(p.parentElement)); })(e.parentElement))
        .slice(0, 4).map((e) => `${e.id || e.tagName} (right edge ${Math.round(e.getBoundingClientRect().right)} px, in #${e.parentElement?.closest("[id]")?.id})`).join(", ")]);
    check(wide[0] <= 390, `at phone width (390 px) the page is ${wide[0]} px wide ${wide[1]}`);
    await page.screenshot({ path: join(shots, `phone-${cfg.name}.png`), fullPage: false });
    if (cfg.server === "nested") {
      // Offline: with the server gone, a reload still brings up the page and its seven models, which classify.
      await page.waitForSelector("body[data-offline='ready']", { timeout: 120_000 });
      // The answers online, to compare with the same picture's answers offline.
      const before = Number(await page.getAttribute("body", "data-classified") || 0);
      await page.setInputFiles("#classify-input", { name: "Bag.png", mimeType: "image/png", buffer: photoOf(8) });
      await page.waitForFunction((n) => Number(document.body.dataset.classified || 0) > n, before, { timeout: 120_000 });
      const online = await page.$$eval("#classify-answers li", (lis, names) => lis.filter((li) => names.includes(li.dataset.model))
        .map((li) => li.textContent), SHIPPED.map(([n]) => n));
      await page.waitForTimeout(1000);
      await servers.nested.close();
      await new Promise((r) => setTimeout(r, 500));
      const down = await fetch(url).then(() => false, () => true);
      await page.reload({ waitUntil: "load" });
      await page.waitForSelector("body[data-models='7']", { timeout: 120_000 });
      await page.setInputFiles("#classify-input", { name: "Bag.png", mimeType: "image/png", buffer: photoOf(8) });
      await page.waitForSelector("body[data-classified='1']", { timeout: 120_000 });
      const offline = await page.$$eval("#classify-answers li", (lis) => lis.map((li) => li.textContent));
      check(down && offline.length === 7 && JSON.stringify(offline) === JSON.stringify(online),
        `offline (server stopped: ${down}), the reloaded page gave the ${offline.length} answers it gave online` +
        (JSON.stringify(offline) === JSON.stringify(online) ? "" : ` (online ${JSON.stringify(online)}, offline ${JSON.stringify(offline)})`));
      // The engine came from the cache too: Grad-CAM explains the bag, and a deep model trains an epoch.
      await page.waitForSelector("body[data-engine='ready'][data-explained='1']", { timeout: 120_000 });
      const offlineCam = await page.textContent("#explain-status");
      await page.selectOption("#deep-model", "mlp");
      await page.fill("#deep-epochs", "1");
      await page.click("#deep-train");
      await page.waitForSelector("body[data-deep-trained='1']", { timeout: 120_000 });
      check(/evidence for "Bag"/.test(offlineCam) && /finished/.test(await page.textContent("#deep-status")),
        `offline, the engine works from the cache: Grad-CAM "${offlineCam}"; training "${await page.textContent("#deep-status")}"`);
    }
  } catch (e) {
    failed++;
    console.log(`  FAIL ${cfg.name}: ${e.message}`);
    for (const id of ["dataset-status", "classify-status", "deep-status", "classical-status", "cell-status", "yours-status"]) {
      const text = await browser.contexts()[0]?.pages()[0]?.textContent(`#${id}`).catch(() => null);
      if (text) console.log(`       #${id}: ${text}`);
    }
  } finally {
    await browser.close();
  }
}
for (const s of Object.values(servers)) await s.close();
console.log(`\ne2e: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
