//! The flex kernels of the deep models, one file per operation: each replaces flex's general path for
//! one layer of the CNN and the ResNet, and falls back to burn's own operation on every other backend.
//! `clock` is the one that computes nothing: it times the backward pass layer by layer.

use burn::tensor::TensorData;
use burn_flex::FlexTensor;

use crate::parallel::zeroed_by_chunks;

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

/// Values per parallel task of [`map`]: 128 KB, so that an activation of a few hundred kilobytes or more
/// is shared among the threads and a small one (a dense layer's, one image's) stays one task on the
/// calling thread.
pub(crate) const CHUNK: usize = 1 << 15;

/// A new f32 tensor shaped as `inputs[0]` (all of one shape), written by chunks of [`CHUNK`] in parallel:
/// `f(dst, sources)` with a chunk of the output and the inputs' values at the same positions. The
/// element-wise passes of the ReLU and dropout kernels.
pub(crate) fn map<const K: usize>(
    inputs: &[&FlexTensor; K],
    f: impl Fn(&mut [f32], [&[f32]; K]) + Sync,
) -> FlexTensor {
    let inputs = inputs.map(FlexTensor::to_contiguous);
    let shape = inputs[0].layout().shape().clone();
    let values: [&[f32]; K] = std::array::from_fn(|j| inputs[j].storage::<f32>());
    let out = zeroed_by_chunks(shape.num_elements(), CHUNK, |i, dst| {
        f(dst, values.map(|v| &v[i * CHUNK..][..dst.len()]))
    });
    FlexTensor::from_data(TensorData::new(out, shape))
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
