//! The flex kernels of the deep models, one file per operation: each replaces flex's general path for
//! one layer of the CNN and the ResNet, and falls back to burn's own operation on every other backend.
//! `clock` is the one that computes nothing: it times the backward pass layer by layer.

use burn_flex::FlexTensor;

// Training only: it times the backward pass.
#[cfg(feature = "engine")]
pub mod clock;
pub mod conv;
pub mod dropout;
pub mod norm;
pub mod pool;
pub mod relu;

/// What the kernels' backward passes use of burn's autodiff: each kernel is recorded on `Autodiff<Flex>`
/// as one operation with our own [`Backward`](burn_autodiff::ops::Backward).
#[cfg(feature = "engine")]
mod autodiff {
    pub use burn_autodiff::{
        Autodiff,
        checkpoint::{base::Checkpointer, strategy::NoCheckpointing},
        grads::Gradients,
        ops::{Backward, Ops, OpsKind},
    };
    pub use burn_backend::{AutodiffBackend, BackendTypes};
    pub use burn_flex::Flex;

    /// A float tensor of flex under autodiff.
    pub type AutodiffFloat = <Autodiff<Flex> as BackendTypes>::FloatTensorPrimitive;
}

/// The dims of a 4-D flex tensor.
pub(crate) fn dims4(t: &FlexTensor) -> [usize; 4] {
    let s = t.layout().shape();
    [s[0], s[1], s[2], s[3]]
}

/// The sum of `v` in 16 lanes (vectorised; the order of additions is fixed).
#[cfg(feature = "engine")]
pub(crate) fn lane_sum(v: &[f32]) -> f32 {
    lane_sum_by(v, |x| x)
}

/// `Σ f(x)` over `v`, in 16 lanes as [`lane_sum`].
#[cfg(feature = "engine")]
pub(crate) fn lane_sum_by(v: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut lanes = [0f32; 16];
    let chunks = v.chunks_exact(16);
    let rest: f32 = chunks.remainder().iter().map(|&x| f(x)).sum();
    for chunk in chunks {
        lanes.iter_mut().zip(chunk).for_each(|(l, &x)| *l += f(x));
    }
    lanes.iter().sum::<f32>() + rest
}
