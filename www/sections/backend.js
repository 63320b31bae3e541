// The backend in the header: which device the workers use (training, Grad-CAM, scoring), picked by the
// engine worker, and the fallback to the CPU when a GPU device is lost. The page itself opens no GPU
// device: its own module classifies on the CPU.

import { $ } from "../lib/dom.js";
import { engineClient, threadSupport } from "../lib/engine.js";

const showBackend = (r) => {
  $("backend-name").textContent = r.description;
  $("backend-detail").textContent = r.fallback_reason ? `(${r.fallback_reason})` : "";
  document.body.dataset.backend = r.kind;
  document.body.dataset.engine = "ready";
};

// The engine worker serving the page: the backend in the header and Grad-CAM. It starts once every
// shipped model has loaded (or when the visitor changes the backend), not before the first answer.
export const engine = engineClient({ onBackend: showBackend, onLost: (why) => gpuLost(why) });

// Picks the workers' backend (training, Grad-CAM, scoring); loads the engine first if need be.
async function selectBackend(preference) {
  $("backend-name").textContent = "detecting…";
  try {
    return await engine.selectBackend(preference);
  } catch (e) {
    $("backend-name").textContent = "unavailable";
    $("backend-detail").textContent = String(e.message || e);
    document.body.dataset.backend = "none";
  }
}

// A WebGPU device lost in a worker (a driver reset, a removed GPU, or `destroy()`): the workers go on
// with the CPU, and the header says so. WebGPU stays off until the page is reloaded.
export async function gpuLost(why) {
  if (document.body.dataset.deviceLost) return;
  document.body.dataset.deviceLost = "true";
  const choice = $("backend-choice");
  for (const option of choice.options) if (option.value !== "flex") option.disabled = true;
  choice.value = "flex";
  if (document.body.dataset.backend === "wgpu") await selectBackend("flex");
  $("backend-detail").textContent = `(the GPU device was lost: ${why}; training and Grad-CAM now run on the CPU. Reload the page to try WebGPU again.)`;
}

// The header's count of CPU threads for the workers' CPU work (training on the CPU, classical fits,
// scoring), where the page can run the threaded engine; else one thread, and the reason.
function wireThreads() {
  const input = $("threads-choice"), detail = $("threads-detail");
  const { available, reason, cores } = threadSupport();
  if (!available) {
    document.body.dataset.threads = "0";
    detail.textContent = `(one thread: ${reason})`;
    return;
  }
  input.max = String(cores);
  const saved = Number(localStorage.getItem("fashionlab.threads"));
  input.value = String(Number.isInteger(saved) && saved >= 1 && saved <= cores ? saved : cores);
  input.disabled = false;
  const apply = () => {
    const n = Math.min(cores, Math.max(1, Math.floor(Number(input.value)) || 1));
    input.value = String(n);
    document.body.dataset.threads = String(n);
    detail.textContent = `(of ${cores} cores, for the CPU's training, fitting and scoring)`;
  };
  input.addEventListener("change", () => { apply(); localStorage.setItem("fashionlab.threads", input.value); });
  apply();
}

// Wires the header's choices; the engine itself starts with `startBackend`.
export function wireBackend() {
  wireThreads();
  const choice = $("backend-choice");
  choice.value = localStorage.getItem("fashionlab.backend") || "auto";
  $("backend-name").textContent = "chosen once the models are in";
  choice.addEventListener("change", async () => {
    localStorage.setItem("fashionlab.backend", choice.value);
    await selectBackend(choice.value);
  });
}

// Loads the engine and picks the backend the header asks for.
export async function startBackend() {
  const choice = $("backend-choice");
  await selectBackend(choice.value);
  choice.disabled = false;
}
