//! wasm-bindgen bindings for the page: backend selection (WebGPU with CPU fallback), datasets from
//! bytes, analysis figures, image preparation and the embedding map. Every error becomes a `JsError`
//! with a readable message; no panic crosses this boundary by design (and a panic hook logs any that
//! would).

mod backend;
mod classical;
mod dataset;
mod deep;
mod map;
mod photo;
mod report;

pub use backend::{BackendReport, active_device, select_backend, select_backend_inner};
pub use classical::WebClassical;
pub use dataset::WebDataset;
#[cfg(feature = "engine")]
pub use deep::WebTrainer;
pub use deep::{WebModel, model_file_kind};
#[cfg(feature = "engine")]
pub use map::WebMap;
pub use map::embedding_figure;
pub use photo::{prepare_image_file, prepare_rgba};
pub use report::{
    class_scores_figure, comparison_figures, model_figures, quiz_items, robustness_figure,
    score_quiz, training_curves_figure,
};

use serde::Serialize;
use wasm_bindgen::prelude::*;
/// `initThreadPool(n)`: starts rayon's pool of `n` Web Workers sharing this module's memory. The threaded
/// build only; the worker calls it once, right after loading the module.
#[cfg(feature = "threads")]
pub use wasm_bindgen_rayon::init_thread_pool;

/// Installs the panic hook so that any panic is logged with its message, and runs the module's static
/// constructors (see `run_static_constructors`).
#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
    #[cfg(feature = "wgpu")]
    run_static_constructors();
}

/// Runs the module's static constructors, once per instance.
///
/// wgpu's shader compiler (cubecl-core, through pliron) registers its IR types with `inventory`, whose
/// registrations are link-time constructors. When nothing in a module calls `__wasm_call_ctors`, wasm-ld
/// takes the module for a run-once "command" and inserts a call to it at the top of every export: every
/// call from JavaScript into the module, each awaited promise's callback included, would run all of them
/// again, and in the workers' build that costs more than one image's inference (BENCHMARKS.md, "one
/// image, after two fixes"). Calling it here tells the linker that the module runs them itself;
/// `.ci/engine.sh` fails the build of a module whose exports are still wrapped.
///
/// `start` calls it when the glue instantiates the module; `web::backend` calls it again before WebGPU's
/// first use, for a harness that loads the module without running `start`.
#[cfg(feature = "wgpu")]
#[allow(unsafe_code)] // the linker's constructor function, guarded to run once
pub(crate) fn run_static_constructors() {
    unsafe extern "C" {
        fn __wasm_call_ctors();
    }
    static ONCE: std::sync::Once = std::sync::Once::new();
    // SAFETY: `__wasm_call_ctors` is synthesised by wasm-ld and takes no arguments; the `Once` runs it at
    // most once in this instance, as the constructors it calls expect.
    ONCE.call_once(|| unsafe { __wasm_call_ctors() });
}

/// Serialises to a plain JS value (objects, arrays, `null` for `None`) through JSON.
fn to_js<T: Serialize>(value: &T) -> Result<JsValue, JsError> {
    let json = serde_json::to_string(value).map_err(|e| JsError::new(&e.to_string()))?;
    js_sys::JSON::parse(&json).map_err(|_| JsError::new("internal error: JSON.parse failed"))
}

fn js_error(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

/// How many threads this module's kernels and fits run on: rayon's pool in the threaded build, else 1.
#[wasm_bindgen(js_name = threadCount)]
pub fn thread_count() -> usize {
    crate::parallel::threads()
}

/// The ten class names, in class-index order ("T-shirt/top", "Trouser", …).
#[wasm_bindgen(js_name = classNames)]
pub fn class_names() -> Vec<String> {
    crate::data::CLASS_NAMES
        .iter()
        .map(|c| c.to_string())
        .collect()
}
