// Helpers shared by the end-to-end checks (page.mjs) and the load checks (load.mjs): test "photos" made from
// the built-in sample, the site's server, and Chromium's flags.
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { deflateSync, gunzipSync } from "node:zlib";
import { startServer } from "../../.ci/server.mjs";

// A minimal grayscale PNG encoder, for "photos" made from sample images.
const crcTable = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
const crc32 = (buf) => { let c = 0xffffffff; for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8); return (c ^ 0xffffffff) >>> 0; };
export function png(width, height, gray, channels = 1) {
  const chunk = (type, data) => {
    const len = Buffer.alloc(4); len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type), data]);
    const crc = Buffer.alloc(4); crc.writeUInt32BE(crc32(body));
    return Buffer.concat([len, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0); ihdr.writeUInt32BE(height, 4); ihdr[8] = 8; ihdr[9] = channels === 3 ? 2 : 0;
  const row = width * channels + 1;
  const raw = Buffer.alloc(row * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width * channels; x++) raw[y * row + 1 + x] = gray[y * width * channels + x];
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(raw)), chunk("IEND", Buffer.alloc(0))]);
}
// The first sample image of a class, enlarged 8× and inverted: a dark item on a white background, 224×224.
export const sampleImages = gunzipSync(readFileSync(new URL("../../www/data/sample-images-idx3-ubyte.gz", import.meta.url))).subarray(16);
export const sampleLabels = gunzipSync(readFileSync(new URL("../../www/data/sample-labels-idx1-ubyte.gz", import.meta.url))).subarray(8);
export function photoOf(label) {
  const i = sampleLabels.indexOf(label);
  const out = new Uint8Array(224 * 224);
  for (let y = 0; y < 224; y++) for (let x = 0; x < 224; x++) out[y * 224 + x] = 255 - sampleImages[i * 784 + (y >> 3) * 28 + (x >> 3)];
  return png(224, 224, out);
}

// A photo as people take them, made here independently of the crate's own generator: the first sample
// image of a class as a navy item with a soft shadow, on a warm wood-grain table whose light falls off
// toward the corners, with sensor noise. RGB, `width × height`; the item's long side is 60% of the height.
// Label -1: the empty table.
export function texturedPhotoOf(label, width = 320, height = 240) {
  const i = label < 0 ? -1 : sampleLabels.indexOf(label);
  const item = (x, y) => { // bilinear sample of the 28×28 image at (x, y) in item pixels
    const fx = x - 0.5, fy = y - 0.5, x0 = Math.floor(fx), y0 = Math.floor(fy), tx = fx - x0, ty = fy - y0;
    const at = (a, b) => (i < 0 || a < 0 || b < 0 || a > 27 || b > 27 ? 0 : sampleImages[i * 784 + b * 28 + a]);
    return (at(x0, y0) * (1 - tx) + at(x0 + 1, y0) * tx) * (1 - ty) + (at(x0, y0 + 1) * (1 - tx) + at(x0 + 1, y0 + 1) * tx) * ty;
  };
  const size = 0.6 * height, ox = 0.55 * width - size / 2, oy = 0.45 * height - size / 2;
  let seed = 12345 + label;
  const rand = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648; };
  const out = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) {
    const grain = 0.5 + 0.5 * Math.sin(0.11 * (x + 0.35 * y) + 2.5 * Math.sin(0.023 * y + 0.011 * x));
    let rgb = [176 + 34 * grain, 128 + 26 * grain, 84 + 18 * grain];
    const shadow = item(((x - ox - 0.04 * size) / size) * 28, ((y - oy - 0.05 * size) / size) * 28) / 255;
    rgb = rgb.map((v) => v * (1 - 0.35 * Math.min(1, shadow * 1.5)));
    const p = item(((x - ox) / size) * 28, ((y - oy) / size) * 28);
    const a = Math.min(1, Math.max(0, (p - 6) / 30));
    const navy = [34, 44, 92].map((v) => v * (1.25 - 0.5 * (p / 255)));
    const u = x / width - 0.5, v = y / height - 0.5, light = 1 - 0.35 * Math.min(1, 2 * (u * u + v * v));
    for (let k = 0; k < 3; k++) {
      const noise = (rand() + rand() + rand() - 1.5) * 8;
      out[(y * width + x) * 3 + k] = Math.max(0, Math.min(255, Math.round((rgb[k] * (1 - a) + navy[k] * a) * light + noise)));
    }
  }
  return out;
}

// A still RGB picture as a Y4M clip of `frames` frames (4:2:0), for Chromium's fake camera.
export function y4m(width, height, rgb, frames = 2) {
  const y = Buffer.alloc(width * height), uv = Buffer.alloc(2 * (width / 2) * (height / 2));
  for (let r = 0; r < height; r++) for (let c = 0; c < width; c++) {
    const [R, G, B] = rgb.subarray((r * width + c) * 3, (r * width + c) * 3 + 3);
    y[r * width + c] = Math.round(16 + 0.257 * R + 0.504 * G + 0.098 * B);
    if (r % 2 === 0 && c % 2 === 0) {
      const j = (r / 2) * (width / 2) + c / 2;
      uv[j] = Math.round(128 - 0.148 * R - 0.291 * G + 0.439 * B);
      uv[(width / 2) * (height / 2) + j] = Math.round(128 + 0.439 * R - 0.368 * G - 0.071 * B);
    }
  }
  const frame = Buffer.concat([Buffer.from("FRAME\n"), y, uv]);
  return Buffer.concat([Buffer.from(`YUV4MPEG2 W${width} H${height} F10:1 Ip A1:1 C420jpeg\n`), ...Array(frames).fill(frame)]);
}

// A TCP port free on 127.0.0.1 at the moment of asking.
export const freePort = () => new Promise((res) => {
  const s = createServer().listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => res(p)); });
});

// The site's server (.ci/server.mjs), in this process, serving `directory` at its origin's root; `url` is
// the origin with `path` (a folder of `directory` holding the site, or "/"). Options as startServer's (a
// throttled link, no compression, no isolation headers). Returns `{ origin, url, log, bytesSent, close }`.
export async function serve(directory, path, options = {}) {
  const server = await startServer(directory, options);
  server.url = server.origin + path;
  return server;
}
// A list of checks: `check(ok, what)` prints a line and counts a failure, `fail(error)` counts an error that
// stopped the checks, `finish(name)` prints the verdict and exits, non-zero when anything failed.
export function checklist() {
  let failed = 0;
  return {
    check: (ok, what) => { console.log(`  ${ok ? "ok  " : "FAIL"} ${what}`); if (!ok) failed++; },
    fail: (e) => { failed++; console.log(`  FAIL ${e.message || e}`); },
    finish: (name) => { console.log(`${name}: ${failed ? "FAILED" : "passed"}`); process.exit(failed ? 1 : 0); },
  };
}
export const BASE_ARGS = ["--no-sandbox", "--disable-gpu-sandbox", "--disable-background-networking",
  "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic", "--disable-dev-shm-usage"];
