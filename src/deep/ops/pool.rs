//! 2×2 max-pooling with stride 2 (no padding, odd edges dropped): the pooling of the CNN and the ResNet.
//!
//! On flex, the CPU backend natively and in wasm, a direct kernel replaces flex's general N-d pooling,
//! whose per-window bounds arithmetic made max-pooling about a fifth of a CNN training epoch
//! (BENCHMARKS.md). It picks the same element as flex (the first of equal maxima, NaN wins), so outputs
//! and gradients are bit-identical; under autodiff it records which of the four positions won and its
//! backward pass writes each output gradient back to that position. Every other backend (WebGPU,
//! ndarray) uses burn's `max_pool2d`.

#[cfg(feature = "engine")]
use std::sync::Arc;

use burn::tensor::module::max_pool2d;
use burn::tensor::ops::MaxPoolOptions;
use burn::tensor::{DType, Tensor, TensorData};
use burn_flex::{Flex, FlexTensor};

#[cfg(feature = "engine")]
use super::autodiff::*;
use super::dims4;
use crate::parallel::for_each_chunk;
#[cfg(feature = "engine")]
use crate::parallel::zeroed_by_chunks;

/// 2×2 max-pooling, stride 2: `[N, C, H, W]` → `[N, C, H / 2, W / 2]` (a last odd row or column is dropped).
pub fn max_pool_2x2(x: Tensor<4>) -> Tensor<4> {
    if fits_kernel(&x) {
        #[cfg(feature = "engine")]
        if let Ok(t) = x.clone().try_into_primitive::<Autodiff<Flex>>() {
            return Tensor::from_primitive::<Autodiff<Flex>>(autodiff_pool(t));
        }
        if let Ok(t) = x.clone().try_into_primitive::<Flex>() {
            return Tensor::from_primitive::<Flex>(flex_pool(&t, false).0);
        }
    }
    max_pool2d(x, MaxPoolOptions::new([2, 2]))
}

/// f32 and at least one 2×2 window: what the direct kernel handles (on flex).
fn fits_kernel(x: &Tensor<4>) -> bool {
    let [_, _, h, w] = x.dims();
    x.dtype() == DType::F32 && h >= 2 && w >= 2
}

/// Whether [`max_pool_2x2`] takes the direct kernel for `x` (flex, f32), with or without autodiff
/// (the tests check it).
#[cfg(all(test, feature = "engine"))]
pub fn uses_direct_kernel(x: &Tensor<4>) -> bool {
    fits_kernel(x)
        && (x.clone().try_into_primitive::<Autodiff<Flex>>().is_ok()
            || x.clone().try_into_primitive::<Flex>().is_ok())
}

#[cfg(feature = "engine")]
/// The pooling under autodiff: forward with the winners' positions, backward through them.
fn autodiff_pool(x: AutodiffFloat) -> AutodiffFloat {
    let inner = Autodiff::<Flex>::inner(x.clone());
    match MaxPool2x2Backward
        .prepare::<NoCheckpointing>([x.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let dims = dims4(&inner);
            let (out, winners) = flex_pool(&inner, true);
            prep.finish((dims, Arc::new(winners)), out)
        }
        OpsKind::UnTracked(prep) => prep.finish(flex_pool(&inner, false).0),
    }
}

#[cfg(feature = "engine")]
/// Backward of [`max_pool_2x2`] on flex. State: the input's dims and, per output, the winner's position
/// in its window (0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right).
#[derive(Debug)]
struct MaxPool2x2Backward;

#[cfg(feature = "engine")]
impl Backward<Flex, 1> for MaxPool2x2Backward {
    type State = ([usize; 4], Arc<Vec<u8>>);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [parent] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        if let Some(parent) = parent {
            let (dims, winners) = ops.state;
            grads.register::<Flex>(parent.id, flex_unpool(&grad, dims, &winners));
        }
    }
}

/// The maximum of a 2×2 window read top-left, top-right, bottom-left, bottom-right, and its position
/// (0–3): the first of equal maxima, and a NaN wins over anything before it, as in flex. Written with
/// selects rather than branches, since which element wins is unpredictable.
#[inline(always)]
fn window_max(a: f32, b: f32, c: f32, d: f32) -> (f32, u8) {
    let (mut best, mut at) = (a, 0u8);
    for (v, k) in [(b, 1u8), (c, 2), (d, 3)] {
        let take = (v > best) | v.is_nan();
        best = if take { v } else { best };
        at = if take { k } else { at };
    }
    (best, at)
}

/// Forward kernel: `[N, C, H, W]` f32 → `[N, C, H/2, W/2]`, plus each output's winning position when asked.
fn flex_pool(x: &FlexTensor, with_winners: bool) -> (FlexTensor, Vec<u8>) {
    let x = x.to_contiguous();
    let [n, c, h, w] = dims4(&x);
    let (oh, ow) = (h / 2, w / 2);
    let src: &[f32] = x.storage();
    let mut out = vec![0f32; n * c * oh * ow];
    let mut winners = if with_winners {
        vec![0u8; out.len()]
    } else {
        Vec::new()
    };
    // One output plane: each window's four values in flex's order, the first maximum kept, NaN winning.
    let pool_plane = |i: usize, dst: &mut [f32], mut win: Option<&mut [u8]>| {
        let plane = &src[i * h * w..][..h * w];
        for y in 0..oh {
            let (r0, r1) = (
                &plane[2 * y * w..][..2 * ow],
                &plane[(2 * y + 1) * w..][..2 * ow],
            );
            let windows = r0.chunks_exact(2).zip(r1.chunks_exact(2));
            let dst = &mut dst[y * ow..][..ow];
            match win.as_deref_mut() {
                Some(win) => {
                    for ((top, bottom), (d, at)) in
                        windows.zip(dst.iter_mut().zip(&mut win[y * ow..][..ow]))
                    {
                        (*d, *at) = window_max(top[0], top[1], bottom[0], bottom[1]);
                    }
                }
                None => {
                    for ((top, bottom), d) in windows.zip(dst.iter_mut()) {
                        *d = window_max(top[0], top[1], bottom[0], bottom[1]).0;
                    }
                }
            }
        }
    };
    if with_winners {
        // Output values and winners interleaved per plane: pool into pairs of slices.
        let plane_out = oh * ow;
        let mut pairs: Vec<(&mut [f32], &mut [u8])> = out
            .chunks_mut(plane_out)
            .zip(winners.chunks_mut(plane_out))
            .collect();
        for_each_chunk(&mut pairs, 1, |i, pair| {
            let (dst, win) = &mut pair[0];
            pool_plane(i, dst, Some(win));
        });
    } else {
        for_each_chunk(&mut out, oh * ow, |i, dst| pool_plane(i, dst, None));
    }
    let out = FlexTensor::from_data(TensorData::new(out, [n, c, oh, ow]));
    (out, winners)
}

#[cfg(feature = "engine")]
/// Backward kernel: scatters `grad` (`[N, C, H/2, W/2]`) to the winners' positions in a zero `[N, C, H, W]`.
fn flex_unpool(grad: &FlexTensor, dims: [usize; 4], winners: &[u8]) -> FlexTensor {
    let grad = grad.to_contiguous();
    let [n, c, h, w] = dims;
    let (oh, ow) = (h / 2, w / 2);
    let g: &[f32] = grad.storage();
    let dx = zeroed_by_chunks(n * c * h * w, h * w, |i, plane| {
        let (g, win) = (
            &g[i * oh * ow..][..oh * ow],
            &winners[i * oh * ow..][..oh * ow],
        );
        for y in 0..oh {
            for x in 0..ow {
                let k = win[y * ow + x] as usize;
                plane[(2 * y + k / 2) * w + 2 * x + k % 2] = g[y * ow + x];
            }
        }
    });
    FlexTensor::from_data(TensorData::new(dx, [n, c, h, w]))
}

#[cfg(all(test, feature = "engine"))]
mod tests {
    use burn::tensor::{Device, Tensor, TensorData};

    use super::*;

    fn reference(x: Tensor<4>) -> Tensor<4> {
        max_pool2d(x, MaxPoolOptions::new([2, 2]))
    }

    /// Values with ties (integers in a small range) so that the choice among equal maxima is exercised.
    fn tied(shape: [usize; 4], device: &Device) -> Tensor<4> {
        crate::rng::seeded_tensor::<4>(shape, 0.0, 4.0, device).floor()
    }

    #[test]
    fn forward_matches_burn_on_even_and_odd_sizes() {
        let device = Device::flex();
        for shape in [[2, 3, 26, 26], [3, 2, 11, 11], [1, 1, 2, 3], [4, 5, 7, 6]] {
            let x = tied(shape, &device);
            assert!(uses_direct_kernel(&x));
            let ours = max_pool_2x2(x.clone());
            assert_eq!(
                ours.dims(),
                [shape[0], shape[1], shape[2] / 2, shape[3] / 2]
            );
            ours.into_data().assert_eq(&reference(x).into_data(), true);
        }
    }

    #[test]
    fn gradients_match_burn_including_ties_and_odd_edges() {
        let device = Device::flex().autodiff();
        for shape in [[2, 3, 26, 26], [3, 2, 11, 11], [2, 4, 7, 6]] {
            let x = tied(shape, &device).require_grad();
            assert!(uses_direct_kernel(&x));
            // A weighted sum so that each output's gradient differs.
            let [n, c, h, w] = shape;
            let weights = crate::rng::seeded_tensor::<4>([n, c, h / 2, w / 2], 0.0, 1.0, &device);
            let ours = (max_pool_2x2(x.clone()) * weights.clone()).sum().backward();
            let burns = (reference(x.clone()) * weights).sum().backward();
            let (g_ours, g_burn) = (x.grad(&ours).unwrap(), x.grad(&burns).unwrap());
            g_ours.into_data().assert_eq(&g_burn.into_data(), true);
        }
    }

    #[test]
    fn relu_after_pooling_equals_relu_before_it() {
        // The models apply ReLU after the pooling (models.rs): values and gradients must equal the
        // study's ReLU-then-pool, negatives, zeros and ties included.
        use burn::tensor::activation::relu;
        let device = Device::flex().autodiff();
        let shape = [2, 3, 26, 26];
        let x = (tied(shape, &device) - 2.0).require_grad(); // integers -2..=1
        let weights = crate::rng::seeded_tensor::<4>([2, 3, 13, 13], 0.0, 1.0, &device);
        let after = relu(max_pool_2x2(x.clone()));
        let before = reference(relu(x.clone()));
        after
            .clone()
            .into_data()
            .assert_eq(&before.clone().into_data(), true);
        let g_after = (after * weights.clone()).sum().backward();
        let g_before = (before * weights).sum().backward();
        x.grad(&g_after)
            .unwrap()
            .into_data()
            .assert_eq(&x.grad(&g_before).unwrap().into_data(), true);
    }

    #[test]
    fn nan_wins_its_window_as_in_flex() {
        let device = Device::flex();
        let x = Tensor::<4>::from_data(
            TensorData::new(vec![1.0, f32::NAN, 3.0, 2.0], [1, 1, 2, 2]),
            &device,
        );
        let v: Vec<f32> = max_pool_2x2(x).into_data().try_to_vec::<f32>().unwrap();
        assert!(v[0].is_nan());
    }

    #[test]
    fn untracked_autodiff_matches_burn() {
        let device = Device::flex().autodiff();
        // No gradient required: the untracked branch.
        let x = tied([2, 2, 8, 8], &device);
        max_pool_2x2(x.clone())
            .into_data()
            .assert_eq(&reference(x).into_data(), true);
    }
}
