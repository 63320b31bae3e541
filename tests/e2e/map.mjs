// The embedding map of all 10,000 test images in the page, timed (BENCHMARKS.md, "The embedding map"):
// the page's own steps (Images: 10,000; a space; a method; Draw the map) in headless Chromium on the CPU,
// with the time from the click and the page's own account of features, map and drawing.
// Each map is drawn as the page chooses for 10,000 images (WebGL), or as DRAWING says (webgl, svg; a
// comma-separated list draws each map once per way), and the time from pointing at a dot to its image
// being shown is measured on 5 dots (the median and the slowest).
// Usage: node tests/e2e/map.mjs DIST_DIR   (MAPS="deep:tsne,hog:tsne,pixels:tsne,deep:pca" by default)
import { resolve } from "node:path";
import { chromium } from "playwright-core";
import { BASE_ARGS, serve } from "./common.mjs";

const dist = resolve(process.argv[2] || "dist");
const maps = (process.env.MAPS || "deep:tsne,hog:tsne,pixels:tsne,deep:pca").split(",").map((m) => m.split(":"));
const drawings = (process.env.DRAWING || "auto").split(",");
const { url } = await serve(dist, "/");
const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", headless: true, args: [...BASE_ARGS] });
let failed = 0;
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await page.goto(url, { waitUntil: "load" });
  await page.waitForSelector("body[data-engine='ready']", { timeout: 240_000 });
  for (const [space, method] of maps) for (const drawing of drawings) {
    const n = Number(await page.getAttribute("body", "data-mapped") || 0);
    await page.selectOption("#map-images", "test");
    await page.selectOption("#map-space", space);
    await page.selectOption("#map-method", method);
    await page.selectOption("#map-drawing", drawing);
    const t0 = Date.now();
    await page.click("#map-start");
    await page.waitForSelector(`body[data-mapped='${n + 1}']`, { timeout: 1_800_000 });
    const share = JSON.parse(await page.getAttribute("body", "data-map-share"));
    const trace = await page.getAttribute("body", "data-map-trace");
    if (share.n !== 10_000 || (drawing !== "svg" && trace !== "scattergl")) failed++;
    console.log(`${space} ${method} (${trace}): ${((Date.now() - t0) / 1000).toFixed(1)} s from the click; ${await page.textContent("#map-status")}`);
    // Pointing: the pointer moves onto a dot of each of 5 classes; the time until the page shows its image.
    const waits = [];
    for (const curve of [1, 3, 5, 7, 9]) {
      const at = await page.$eval("#map-plot", (div, k) => {
        div.scrollIntoView({ block: "center" });
        const xa = div._fullLayout.xaxis, ya = div._fullLayout.yaxis, t = div.data[k], r = div.getBoundingClientRect();
        return { x: r.left + xa._offset + xa.l2p(t.x[0]), y: r.top + ya._offset + ya.l2p(t.y[0]) };
      }, curve);
      await page.mouse.move(at.x, at.y - 40);
      await page.evaluate(() => { delete document.body.dataset.mapHover; });
      const start = Date.now();
      await page.mouse.move(at.x, at.y);
      await page.waitForSelector("body[data-map-hover]", { timeout: 60_000 });
      waits.push(Date.now() - start);
    }
    waits.sort((a, b) => a - b);
    console.log(`  pointing at a dot to its image shown: median ${waits[2]} ms, slowest ${waits[4]} ms`);
    // Zooming: 3 box zooms into the middle (a drag), each timed from the release to the frame after the
    // redrawn chart is painted; a double click zooms back out.
    const zooms = [];
    for (let k = 0; k < 3; k++) {
      const box = await page.$eval("#map-plot", (div) => {
        div.scrollIntoView({ block: "center" });
        const r = div.getBoundingClientRect(), xa = div._fullLayout.xaxis, ya = div._fullLayout.yaxis;
        return { x: r.left + xa._offset, y: r.top + ya._offset, w: xa._length, h: ya._length };
      });
      await page.mouse.move(box.x + box.w * 0.3, box.y + box.h * 0.3);
      await page.mouse.down();
      await page.mouse.move(box.x + box.w * 0.7, box.y + box.h * 0.7, { steps: 5 });
      const before = await page.$eval("#map-plot", (div) => div._fullLayout.xaxis.range.join());
      const start = Date.now();
      await page.mouse.up();
      await page.waitForFunction((b) => {
        const div = document.getElementById("map-plot");
        return div._fullLayout.xaxis.range.join() !== b;
      }, before, { timeout: 60_000 });
      await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
      zooms.push(Date.now() - start);
      await page.mouse.dblclick(box.x + box.w * 0.5, box.y + box.h * 0.5);
      await page.waitForTimeout(500);
    }
    zooms.sort((a, b) => a - b);
    console.log(`  a box zoom, from the release to the redrawn chart painted: median ${zooms[1]} ms, slowest ${zooms[2]} ms`);
  }
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
