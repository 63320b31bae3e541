// The embedding map of all 10,000 test images in the page, timed (BENCHMARKS.md, "The embedding map"):
// the page's own steps (Images: 10,000; a space; a method; Draw the map) in headless Chromium on the CPU,
// with the time from the click and the page's own account of features, map and drawing.
// Usage: node tests/e2e/map.mjs DIST_DIR   (MAPS="deep:tsne,hog:tsne,pixels:tsne,deep:pca" by default)
import { resolve } from "node:path";
import { chromium } from "playwright-core";
import { BASE_ARGS, serve } from "./common.mjs";

const dist = resolve(process.argv[2] || "dist");
const maps = (process.env.MAPS || "deep:tsne,hog:tsne,pixels:tsne,deep:pca").split(",").map((m) => m.split(":"));
const { url } = await serve(dist, "/");
const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", headless: true, args: [...BASE_ARGS] });
let failed = 0;
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await page.goto(url, { waitUntil: "load" });
  await page.waitForSelector("body[data-engine='ready']", { timeout: 240_000 });
  for (const [space, method] of maps) {
    const n = Number(await page.getAttribute("body", "data-mapped") || 0);
    await page.selectOption("#map-images", "test");
    await page.selectOption("#map-space", space);
    await page.selectOption("#map-method", method);
    const t0 = Date.now();
    await page.click("#map-start");
    await page.waitForSelector(`body[data-mapped='${n + 1}']`, { timeout: 1_800_000 });
    const share = JSON.parse(await page.getAttribute("body", "data-map-share"));
    if (share.n !== 10_000) failed++;
    console.log(`${space} ${method}: ${((Date.now() - t0) / 1000).toFixed(1)} s from the click; ${await page.textContent("#map-status")}`);
  }
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
