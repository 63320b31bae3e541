// The backend in the header: which device the workers use (training, Grad-CAM, scoring), picked by the
// engine worker, and the fallback to the CPU when a GPU device is lost. The page itself opens no GPU
// device: its own module classifies on the CPU.

import { $ } from "../lib/dom.js";
import { engineClient } from "../lib/engine.js";

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

// Wires the header's choice; the engine itself starts with `startBackend`.
export function wireBackend() {
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
