//! # Fashion Lab
//!
//! Trains, compares and explains Fashion-MNIST classifiers, in the browser (WebGPU or CPU wasm) and
//! natively, from one crate.
//!
//! The core is platform-free: [`data`] (with the split), [`photo`], [`deep`] (the deep models, their
//! input, recipes, training, weights, Grad-CAM, backends and flex kernels), [`classical`], [`metrics`], the
//! embedding map ([`embedding`]), and above the models, [`report`] (recorded summaries, dataset analysis, Plotly figures).
//! Two thin layers sit on top: [`web`] (wasm32 only: bindings for the page) and `cli` (native only).

#![warn(missing_docs)]
// No unsafe code of our own: parsers, models and bindings are all safe Rust. Three exceptions, allowed where
// they stand: the convolution's call of gemm (raw pointers and strides), behind bounds checks
// (`conv::matmul`); the kernels' new buffers, each chunk cleared before it is handed out
// (`parallel::map_zeroed_chunks`); and, in the workers' WebGPU build, one call of the linker's
// constructor function (`web::run_static_constructors`). (deny rather than forbid: ndarray's `s!` macro allows it inside its
// own expansion.)
#![deny(unsafe_code)]

pub mod classical;
pub mod data;
pub mod deep;
pub mod embedding;
pub mod metrics;
mod parallel;
pub mod photo;
pub mod report;
pub mod rng;

/// The browser layer: wasm-bindgen bindings used by the page and its worker.
#[cfg(target_arch = "wasm32")]
pub mod web;

/// The native command-line interface: argument parsing and dispatch in `cli`, each command family in
/// its own file (`train`, `classical`, `photos`), the files on disk in `cli::store`.
#[cfg(all(feature = "cli", not(target_arch = "wasm32")))]
pub mod cli;
