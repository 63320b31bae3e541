//! Backend selection for the page and its workers: WebGPU where it works, the CPU (wasm SIMD) otherwise,
//! and the device every later call uses.

use std::cell::RefCell;

use burn::tensor::Device;
use js_sys::{Function, Promise, Reflect};
use serde::Serialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use super::to_js;
use crate::deep::backend::{BackendKind, init_device};

/// The backend in use and how it was chosen.
#[derive(Debug, Clone, Serialize)]
pub struct BackendReport {
    /// `wgpu` or `flex`.
    pub kind: BackendKind,
    /// Human-readable name, e.g. "WebGPU (burn-wgpu)".
    pub description: String,
    /// Whether the browser exposes `navigator.gpu`.
    pub webgpu_api: bool,
    /// Whether `navigator.gpu.requestAdapter()` returned an adapter.
    pub webgpu_adapter: bool,
    /// Why WebGPU is not in use, when it is not.
    pub fallback_reason: Option<String>,
    /// The CPU threads this module's kernels run on: rayon's pool in the threaded build, else 1.
    pub threads: usize,
}

thread_local! {
    /// The device chosen by [`select_backend`]. WebGPU can be initialised once per page, so it is kept.
    static ACTIVE: RefCell<Option<(BackendKind, Device)>> = const { RefCell::new(None) };
    static WGPU_DEVICE: RefCell<Option<Device>> = const { RefCell::new(None) };
}

/// The active device, if a backend was selected.
pub fn active_device() -> Option<(BackendKind, Device)> {
    ACTIVE.with(|a| a.borrow().clone())
}

/// Probes `navigator.gpu.requestAdapter()`. `Ok(())` when an adapter exists, else the reason in words.
async fn probe_webgpu() -> (bool, Result<(), String>) {
    let global = js_sys::global();
    let navigator = Reflect::get(&global, &"navigator".into()).unwrap_or(JsValue::UNDEFINED);
    let gpu = Reflect::get(&navigator, &"gpu".into()).unwrap_or(JsValue::UNDEFINED);
    if gpu.is_undefined() || gpu.is_null() {
        return (
            false,
            Err("this browser does not expose WebGPU (navigator.gpu is missing)".into()),
        );
    }
    let request =
        match Reflect::get(&gpu, &"requestAdapter".into()).map(|f| f.dyn_into::<Function>()) {
            Ok(Ok(f)) => f,
            _ => {
                return (
                    true,
                    Err("navigator.gpu.requestAdapter is not a function".into()),
                );
            }
        };
    let promise = match request.call0(&gpu).map(|p| p.dyn_into::<Promise>()) {
        Ok(Ok(p)) => p,
        _ => return (true, Err("navigator.gpu.requestAdapter() failed".into())),
    };
    match JsFuture::from(promise).await {
        Ok(adapter) if !adapter.is_null() && !adapter.is_undefined() => (true, Ok(())),
        Ok(_) => (
            true,
            Err("no WebGPU adapter: navigator.gpu.requestAdapter() returned none".into()),
        ),
        Err(e) => (
            true,
            Err(format!(
                "navigator.gpu.requestAdapter() was rejected: {e:?}"
            )),
        ),
    }
}

/// Picks the backend: WebGPU when the browser has an adapter and burn's wgpu device starts and passes its
/// self-test, else the CPU (flex). `preference` (`"wgpu"`, `"flex"` or none/`"auto"`) can force the CPU;
/// asking for WebGPU where there is none falls back with the reason recorded.
pub async fn select_backend_inner(preference: Option<String>) -> Result<BackendReport, String> {
    let pref = match preference.as_deref() {
        None | Some("") | Some("auto") => None,
        Some(p) => Some(p.parse::<BackendKind>().map_err(|e| e.to_string())?),
    };
    let (webgpu_api, probe) = probe_webgpu().await;
    let webgpu_adapter = probe.is_ok();
    let fallback_reason = if pref == Some(BackendKind::Flex) {
        "the CPU backend was chosen".to_string()
    } else {
        match probe {
            Ok(()) => match wgpu_device().await {
                Ok(device) => {
                    ACTIVE.with(|a| *a.borrow_mut() = Some((BackendKind::Wgpu, device)));
                    return Ok(report(BackendKind::Wgpu, webgpu_api, webgpu_adapter, None));
                }
                Err(e) => e,
            },
            Err(reason) => reason,
        }
    };
    let device = init_device(BackendKind::Flex)
        .await
        .map_err(|e| e.to_string())?;
    ACTIVE.with(|a| *a.borrow_mut() = Some((BackendKind::Flex, device)));
    Ok(report(
        BackendKind::Flex,
        webgpu_api,
        webgpu_adapter,
        Some(fallback_reason),
    ))
}

/// burn's wgpu device, initialised once per page and reused after.
async fn wgpu_device() -> Result<Device, String> {
    if let Some(device) = WGPU_DEVICE.with(|d| d.borrow().clone()) {
        return Ok(device);
    }
    #[cfg(feature = "wgpu")]
    super::run_static_constructors();
    let device = init_device(BackendKind::Wgpu)
        .await
        .map_err(|e| e.to_string())?;
    WGPU_DEVICE.with(|d| *d.borrow_mut() = Some(device.clone()));
    Ok(device)
}

fn report(
    kind: BackendKind,
    webgpu_api: bool,
    webgpu_adapter: bool,
    fallback_reason: Option<String>,
) -> BackendReport {
    let threads = crate::parallel::threads();
    let description = match kind {
        BackendKind::Flex if threads > 1 => {
            format!("CPU (WebAssembly SIMD, {threads} threads, burn-flex)")
        }
        _ => kind.description().to_string(),
    };
    BackendReport {
        kind,
        description,
        threads,
        webgpu_api,
        webgpu_adapter,
        fallback_reason,
    }
}

/// JS: `await selectBackend(preference?)` → `{kind, description, webgpu_api, webgpu_adapter, fallback_reason,
/// threads}`.
#[wasm_bindgen(js_name = selectBackend)]
pub async fn select_backend(preference: Option<String>) -> Result<JsValue, JsError> {
    let report = select_backend_inner(preference)
        .await
        .map_err(|e| JsError::new(&e))?;
    to_js(&report)
}
