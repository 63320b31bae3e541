//! Compute backends: which ones this build has, and how to get a working [`Device`] for each.
//!
//! The browser prefers WebGPU (burn's `wgpu` backend) and falls back to the CPU (`flex`, wasm simd128).
//! `flex` is always there; `wgpu` (WebGPU in the browser) and `ndarray` are cargo features. The page's
//! own module has only `flex`; the workers' module has `wgpu` too.

use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// A compute backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// burn-flex: pure-Rust CPU backend (SIMD; threaded natively, single-threaded in the browser).
    Flex,
    /// burn-wgpu: WebGPU in the browser, Vulkan/Metal/DX12 natively.
    Wgpu,
    /// burn-ndarray: the deprecated CPU backend, kept for comparison.
    NdArray,
}

/// Why a backend could not be used.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum BackendError {
    /// The name is not a backend.
    #[error("unknown backend '{0}' (expected flex, wgpu or ndarray)")]
    Unknown(String),
    /// The backend exists but this build does not include it.
    #[error("the {0} backend is not compiled into this build (enable the cargo feature '{1}')")]
    NotCompiled(BackendKind, &'static str),
    /// The platform has no usable device for the backend (no GPU adapter, say).
    #[error("no {kind} device is available: {reason}")]
    Unavailable {
        /// The backend.
        kind: BackendKind,
        /// What went wrong, in words.
        reason: String,
    },
    /// The device came up but could not compute or read back a result.
    #[error("the {kind} device failed its self-test: {reason}")]
    SelfTest {
        /// The backend.
        kind: BackendKind,
        /// What went wrong, in words.
        reason: String,
    },
}

impl std::fmt::Display for BackendKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for BackendKind {
    type Err = BackendError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "flex" | "cpu" => Ok(Self::Flex),
            "wgpu" | "webgpu" | "gpu" => Ok(Self::Wgpu),
            "ndarray" => Ok(Self::NdArray),
            _ => Err(BackendError::Unknown(s.to_string())),
        }
    }
}

impl BackendKind {
    /// Short machine name: `flex`, `wgpu`, `ndarray`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Flex => "flex",
            Self::Wgpu => "wgpu",
            Self::NdArray => "ndarray",
        }
    }

    /// What a person should read: "WebGPU" or "CPU (wasm SIMD)" in a browser, and so on.
    pub fn description(self) -> &'static str {
        match (self, cfg!(target_arch = "wasm32")) {
            (Self::Flex, true) => "CPU (WebAssembly SIMD, burn-flex)",
            (Self::Flex, false) => "CPU (burn-flex)",
            (Self::Wgpu, true) => "WebGPU (burn-wgpu)",
            (Self::Wgpu, false) => "GPU (burn-wgpu)",
            (Self::NdArray, _) => "CPU (burn-ndarray, deprecated)",
        }
    }

    /// Whether this build includes the backend.
    pub fn compiled(self) -> bool {
        match self {
            Self::Flex => true,
            Self::Wgpu => cfg!(feature = "wgpu"),
            Self::NdArray => cfg!(feature = "ndarray"),
        }
    }

    /// The backends this build includes.
    pub fn available() -> Vec<BackendKind> {
        [Self::Flex, Self::Wgpu, Self::NdArray]
            .into_iter()
            .filter(|k| k.compiled())
            .collect()
    }

    fn feature(self) -> &'static str {
        self.name()
    }

    /// A device for this backend, initialised synchronously (native only; use [`init_device`] in a browser).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn device(self) -> Result<Device, BackendError> {
        if !self.compiled() {
            return Err(BackendError::NotCompiled(self, self.feature()));
        }
        match self {
            Self::Flex => Ok(Device::flex()),
            #[cfg(feature = "wgpu")]
            Self::Wgpu => Device::wgpu_options()
                .init()
                .map_err(|e| BackendError::Unavailable {
                    kind: self,
                    reason: e.to_string(),
                }),
            #[cfg(feature = "ndarray")]
            #[allow(deprecated)] // kept on purpose, for comparison with flex
            Self::NdArray => Ok(Device::ndarray()),
            #[allow(unreachable_patterns)]
            _ => Err(BackendError::NotCompiled(self, self.feature())),
        }
    }
}

/// Initialises a device asynchronously (the only way WebGPU can start in a browser), then proves it
/// works by computing a small sum and reading it back asynchronously.
pub async fn init_device(kind: BackendKind) -> Result<Device, BackendError> {
    if !kind.compiled() {
        return Err(BackendError::NotCompiled(kind, kind.feature()));
    }
    let device =
        match kind {
            #[cfg(feature = "wgpu")]
            BackendKind::Wgpu => Device::wgpu_options().init_async().await.map_err(|e| {
                BackendError::Unavailable {
                    kind,
                    reason: e.to_string(),
                }
            })?,
            #[cfg(not(target_arch = "wasm32"))]
            other => other.device()?,
            #[cfg(target_arch = "wasm32")]
            _ => Device::flex(),
        };
    self_test(&device, kind).await?;
    Ok(device)
}

/// Reads a float tensor back as `f32` values, asynchronously (the only way WebGPU allows). The error is
/// the backend's message; callers wrap it in their own error type.
pub async fn read_f32<const D: usize>(tensor: Tensor<D>) -> Result<Vec<f32>, String> {
    let data = tensor
        .into_data_async()
        .await
        .map_err(|e| format!("{e:?}"))?;
    data.convert::<f32>()
        .try_to_vec::<f32>()
        .map_err(|e| format!("{e:?}"))
}

/// Computes `sum([1, 2, 3, 4])` on `device` and checks the answer, read back asynchronously.
pub async fn self_test(device: &Device, kind: BackendKind) -> Result<(), BackendError> {
    // [4] -> [1]
    let sum = Tensor::<1>::from_floats([1.0, 2.0, 3.0, 4.0], device).sum();
    let value: f32 = sum
        .into_scalar_async()
        .await
        .map_err(|e| BackendError::SelfTest {
            kind,
            reason: format!("{e:?}"),
        })?;
    if (value - 10.0).abs() > 1e-4 {
        return Err(BackendError::SelfTest {
            kind,
            reason: format!("1+2+3+4 gave {value}"),
        });
    }
    Ok(())
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    #[test]
    fn parse_and_names() {
        assert_eq!("flex".parse::<BackendKind>(), Ok(BackendKind::Flex));
        assert_eq!("WebGPU".parse::<BackendKind>(), Ok(BackendKind::Wgpu));
        assert!(matches!(
            "tpu".parse::<BackendKind>(),
            Err(BackendError::Unknown(_))
        ));
        assert!(BackendKind::available().contains(&BackendKind::Flex));
    }

    #[test]
    fn flex_device_passes_self_test() {
        let device = BackendKind::Flex.device().unwrap();
        pollster_block_on(self_test(&device, BackendKind::Flex)).unwrap();
    }

    #[cfg(not(feature = "ndarray"))]
    #[test]
    fn missing_backend_is_a_typed_error() {
        assert_eq!(
            BackendKind::NdArray.device().unwrap_err(),
            BackendError::NotCompiled(BackendKind::NdArray, "ndarray")
        );
    }

    /// Minimal executor for futures that are ready without waiting (CPU backends).
    fn pollster_block_on<F: std::future::Future>(f: F) -> F::Output {
        use std::task::{Context, Poll, Waker};
        let mut f = std::pin::pin!(f);
        let mut cx = Context::from_waker(Waker::noop());
        loop {
            if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return v;
            }
            std::thread::yield_now();
        }
    }
}
