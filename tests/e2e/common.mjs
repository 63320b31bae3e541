// Helpers shared by the end-to-end checks (page.mjs) and the load checks (load.mjs): test "photos" made from
// the built-in sample, a static server for the built site, and Chromium's flags.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { deflateSync, gunzipSync } from "node:zlib";

// A minimal grayscale PNG encoder, for "photos" made from sample images.
const crcTable = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
const crc32 = (buf) => { let c = 0xffffffff; for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8); return (c ^ 0xffffffff) >>> 0; };
export function png(width, height, gray) {
  const chunk = (type, data) => {
    const len = Buffer.alloc(4); len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type), data]);
    const crc = Buffer.alloc(4); crc.writeUInt32BE(crc32(body));
    return Buffer.concat([len, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0); ihdr.writeUInt32BE(height, 4); ihdr[8] = 8; ihdr[9] = 0;
  const raw = Buffer.alloc((width + 1) * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) raw[y * (width + 1) + 1 + x] = gray[y * width + x];
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

const freePort = () => new Promise((res) => {
  const s = createServer().listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => res(p)); });
});

// Static servers: one with the site at its root, one with it in a sub-folder.
export async function serve(directory, path) {
  const port = await freePort();
  const child = spawn("python3", ["-m", "http.server", String(port), "--bind", "127.0.0.1", "--directory", directory],
    { stdio: "ignore" });
  const origin = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 50; i++) {
    try { await fetch(origin + path); break; } catch { await new Promise((r) => setTimeout(r, 100)); }
  }
  return { process: child, origin, url: origin + path };
}
export const BASE_ARGS = ["--no-sandbox", "--disable-gpu-sandbox", "--disable-background-networking",
  "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic", "--disable-dev-shm-usage"];
