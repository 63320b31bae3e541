// A site with broken model files, in headless Chromium (CPU): the page must say which models could not
// load, answer with the others, and keep working. Usage: node tests/e2e/streamed.mjs DIST_DIR
// The site is DIST_DIR with two files replaced (a symlink farm in a temporary folder):
//  - mlp.weights: bytes that are not a weights file (a model that fails);
//  - cnn-photo.weights: missing (HTTP 404), so the plain CNN answers for photos and the answer says why.
import { mkdirSync, mkdtempSync, readdirSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { chromium } from "playwright-core";
import { BASE_ARGS, checklist, png, serve, texturedPhotoOf } from "./common.mjs";

const dist = resolve(process.argv[2] || "dist");
const site = mkdtempSync(join(tmpdir(), "fashionlab-broken-"));
const BROKEN = "mlp.weights", MISSING = "cnn-photo.weights";
for (const name of readdirSync(dist)) {
  if (name === "pretrained") continue;
  symlinkSync(join(dist, name), join(site, name));
}
mkdirSync(join(site, "pretrained"));
for (const name of readdirSync(join(dist, "pretrained"))) {
  // The precompressed copies go too, so that the server cannot send the intact file in their place.
  if (name.startsWith(BROKEN) || name.startsWith(MISSING)) continue;
  symlinkSync(join(dist, "pretrained", name), join(site, "pretrained", name));
}
writeFileSync(join(site, "pretrained", BROKEN), Buffer.from("this is not a weights file"));

const server = await serve(site, "/");
const { check, fail, finish } = checklist();
const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", headless: true, args: BASE_ARGS });
try {
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(server.url);
  // Every model settles: six load, the MLP fails.
  await page.waitForFunction(() => Number(document.body.dataset.models || 0) + Number(document.body.dataset.modelsFailed || 0) === 7
    && !document.querySelector("#classify-status").textContent.includes("loading"), null, { timeout: 120_000 });
  const status = await page.textContent("#classify-status");
  check(await page.getAttribute("body", "data-models") === "6" && /MLP could not load/.test(status)
    && /CNN \(photo-trained\) could not load .*the plain CNN answers for photos/.test(status),
    `the status names what failed: "${status}"`);
  await page.setInputFiles("#classify-input", { name: "bag-on-wood.png", mimeType: "image/png", buffer: png(320, 240, texturedPhotoOf(8), 3) });
  await page.waitForSelector("body[data-classified='1']", { timeout: 60_000 });
  const answers = await page.$$eval("#classify-answers li", (lis) => lis.map((li) => [li.dataset.model, li.dataset.state, li.textContent]));
  const by = Object.fromEntries(answers.map(([m, state, text]) => [m, { state, text }]));
  check(answers.length === 7 && by.mlp?.state === "failed" && /MLP: could not load/.test(by.mlp.text),
    `the answer lists the MLP as not loaded: "${by.mlp?.text}"`);
  check(by.cnn?.state === "ready" && /^CNN: Bag.*photo-trained variant could not load/.test(by.cnn.text),
    `the plain CNN answers the photo and says why: "${by.cnn?.text}"`);
  const answered = answers.filter(([, state]) => state === "ready").length;
  check(answered === 6 && await page.getAttribute("body", "data-answered") === "6", `six models answered (${answered})`);
  await page.waitForSelector("body[data-explained='1']", { timeout: 240_000 });
  const cam = await page.textContent("#explain-status");
  check(/CNN: evidence for/.test(cam), `Grad-CAM still explains the CNN: "${cam}"`);
  check(errors.length === 0, `no uncaught page errors ${errors.join(" | ")}`);
} catch (e) {
  fail(e);
} finally {
  await browser.close();
  await server.close();
}
finish("streamed");
