// Bytes from this site.

// Fetches `url` as bytes; `onBytes(received, total)` reports progress when given.
export async function fetchBytes(url, onBytes = null) {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  if (!onBytes || !res.body) return new Uint8Array(await res.arrayBuffer());
  // Read in chunks, reporting the bytes received so far (the total comes from Content-Length).
  const total = Number(res.headers.get("content-length")) || 0;
  const reader = res.body.getReader(), chunks = [];
  let received = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    received += value.length;
    onBytes(received, total);
  }
  const out = new Uint8Array(received);
  let at = 0;
  for (const c of chunks) { out.set(c, at); at += c.length; }
  return out;
}
