//! Batch normalisation in training, on flex: the batch norms of the ResNet and of the CNN's batch-norm
//! option.
//!
//! burn differentiates a training batch norm as one operation (`batch_norm_train`), but flex computes it
//! from general tensor operations: the statistics through `swap_dims` copies of the whole activation
//! (flex's `copy_2d_tiled` was 12% of a ResNet epoch) and the normalisation and its gradient through
//! several broadcast passes. Here, on flex under autodiff with the module in training, one custom autodiff
//! operation reads each channel's planes in place: a pass for the mean, one for the variance (centred), one
//! writing `(x − mean) · γ/σ + β`; its backward pass sums `dy` and `dy · x̂` per channel, then writes
//! `dx = γ/σ · (dy − mean(dy) − x̂ · mean(dy · x̂))`. The running statistics are updated as burn's
//! `BatchNorm` does.
//!
//! Inference on flex (no autodiff: the running statistics) is one pass too, image by image in parallel,
//! where burn's `batch_norm` makes four broadcast passes on one thread. It applies the same operations in
//! the same order, `((x − mean) / √(var + ε)) · γ + β`, each rounded to f32 as burn rounds it, so its
//! answers are burn's bit for bit and the shipped models reproduce their recorded results. Every other
//! case (autodiff in inference, as Grad-CAM and the attacks run; other backends) goes through
//! `BatchNorm::forward`.

use burn::nn::BatchNorm;
use burn::tensor::{DType, Device, Tensor, TensorData};
use burn_flex::{Flex, FlexTensor};

#[cfg(feature = "engine")]
use super::autodiff::*;
use super::dims4;
#[cfg(feature = "engine")]
use super::{lane_sum, lane_sum_by};
#[cfg(feature = "engine")]
use crate::parallel::par_map;
use crate::parallel::{for_each_chunk, zeroed_by_chunks};

/// `bn.forward(x)`, `[N, C, H, W]` → same; on flex in training by the fused kernels, on flex without
/// autodiff by the one-pass inference kernel.
pub fn batch_norm(bn: &BatchNorm, x: Tensor<4>) -> Tensor<4> {
    #[cfg(feature = "engine")]
    if uses_fused_kernel(bn, &x)
        && let Some(out) = try_flex_train(bn, x.clone())
    {
        return out;
    }
    if x.device() == Device::flex()
        && x.dtype() == DType::F32
        && let Some(params) = inference_params(bn, x.dims()[1])
        && let Ok(t) = x.clone().try_into_primitive::<Flex>()
    {
        drop(x); // the kernel then writes in place where nothing else holds the input
        return Tensor::from_primitive::<Flex>(flex_inference(t, &params));
    }
    bn.forward(x)
}

/// The running statistics and affine parameters of `bn` as flex values, per channel: `[mean, σ, γ, β]`
/// with σ = √(var + ε) as burn computes it (`float_add_scalar`, then `float_sqrt`, in f32). `None` where
/// a parameter is not flex's or does not have `channels` values.
fn inference_params(bn: &BatchNorm, channels: usize) -> Option<[Vec<f32>; 4]> {
    let values = |t: Tensor<1>| -> Option<Vec<f32>> {
        let t = t.try_into_primitive::<Flex>().ok()?.to_contiguous();
        Some(t.storage::<f32>().to_vec()).filter(|v| v.len() == channels)
    };
    let epsilon = bn.epsilon as f32;
    let std = values(bn.running_var.value())?
        .into_iter()
        .map(|v| (v + epsilon).sqrt())
        .collect();
    Some([
        values(bn.running_mean.value())?,
        std,
        values(bn.gamma.val())?,
        values(bn.beta.val())?,
    ])
}

/// Inference on flex: `((x − mean) / σ) · γ + β` per channel, in the order and the f32 rounding of burn's
/// `batch_norm` (`float_sub`, `float_div`, `float_mul`, `float_add`), one image per task; in place where
/// `x` is the only holder of its values (as burn's in-place operations would be), else into a new buffer.
fn flex_inference(x: FlexTensor, [mean, std, gamma, beta]: &[Vec<f32>; 4]) -> FlexTensor {
    let [n, channels, h, w] = dims4(&x);
    // Whole and in order already, or copied so: `to_contiguous` would hand back a second handle on a
    // buffer that needs no copy, and the buffer would then look shared.
    let whole = x.is_contiguous()
        && x.layout().start_offset() == 0
        && x.storage::<f32>().len() == n * channels * h * w;
    let mut x = if whole { x } else { x.to_contiguous() };
    let p = h * w;
    // Channel c's value of v.
    let norm = |c: usize, v: f32| (v - mean[c]) / std[c] * gamma[c] + beta[c];
    if n * channels * p == 0 {
        return x;
    }
    if let Some(values) = x.try_storage_mut::<f32>() {
        for_each_chunk(values, channels * p, |_, image| {
            for (c, plane) in image.chunks_exact_mut(p).enumerate() {
                plane.iter_mut().for_each(|v| *v = norm(c, *v));
            }
        });
        return x;
    }
    let out = per_plane(x.storage::<f32>(), channels, p, |c, dst, src| {
        dst.iter_mut().zip(src).for_each(|(d, &v)| *d = norm(c, v));
    });
    FlexTensor::from_data(TensorData::new(out, [n, channels, h, w]))
}

/// A new buffer shaped as `xs` `[N, C, P]`, written plane by plane: `f(c, dst, src)` with channel `c`'s
/// plane of an image in the output and in `xs`; image by image in parallel.
fn per_plane(
    xs: &[f32],
    channels: usize,
    p: usize,
    f: impl Fn(usize, &mut [f32], &[f32]) + Sync + Send,
) -> Vec<f32> {
    zeroed_by_chunks(xs.len(), channels * p, |i, image| {
        let src = &xs[i * channels * p..][..channels * p];
        for (c, (dst, src)) in image
            .chunks_exact_mut(p)
            .zip(src.chunks_exact(p))
            .enumerate()
        {
            f(c, dst, src);
        }
    })
}

#[cfg(feature = "engine")]
/// Whether [`batch_norm`] can take the fused path: an f32, non-empty input on an autodiff device, the
/// module in training and its channels matching (the flex conversion is tried next).
fn uses_fused_kernel(bn: &BatchNorm, x: &Tensor<4>) -> bool {
    let [n, c, h, w] = x.dims();
    x.dtype() == DType::F32
        && n * h * w > 0
        && bn.gamma.val().dims() == [c]
        && bn.training.is_enabled()
        && x.device().is_autodiff()
}

#[cfg(feature = "engine")]
/// On flex under autodiff: the fused forward pass, recorded with its backward pass; the running
/// statistics updated as in `BatchNorm::forward`.
fn try_flex_train(bn: &BatchNorm, x: Tensor<4>) -> Option<Tensor<4>> {
    let device = x.device();
    let x = x.try_into_primitive::<Autodiff<Flex>>().ok()?;
    let gamma = bn.gamma.val().try_into_primitive::<Autodiff<Flex>>().ok()?;
    let beta = bn.beta.val().try_into_primitive::<Autodiff<Flex>>().ok()?;
    let (out, stats) = autodiff_batch_norm(x, gamma, beta, bn.epsilon);
    let c = stats.mean.len();
    let stat = |v: Vec<f32>| Tensor::<1>::from_data(TensorData::new(v, [c]), &device);
    let momentum = bn.momentum;
    for (running, batch) in [
        (&bn.running_mean, stats.mean),
        (&bn.running_var, stats.variance),
    ] {
        let updated = running
            .value_sync()
            .to_device(&device)
            .mul_scalar(1.0 - momentum)
            .add(stat(batch).mul_scalar(momentum));
        running.update(updated.detach());
    }
    Some(Tensor::from_primitive::<Autodiff<Flex>>(out))
}

#[cfg(feature = "engine")]
/// A batch's per-channel statistics: mean, biased variance and `1 / √(variance + ε)`.
#[derive(Debug, Clone)]
struct Stats {
    mean: Vec<f32>,
    variance: Vec<f32>,
    inv_std: Vec<f32>,
}

#[cfg(feature = "engine")]
fn autodiff_batch_norm(
    x: AutodiffFloat,
    gamma: AutodiffFloat,
    beta: AutodiffFloat,
    epsilon: f64,
) -> (AutodiffFloat, Stats) {
    let x_in = Autodiff::<Flex>::inner(x.clone()).to_contiguous();
    let gamma_in: Vec<f32> = Autodiff::<Flex>::inner(gamma.clone())
        .to_contiguous()
        .storage::<f32>()
        .to_vec();
    let beta_in: Vec<f32> = Autodiff::<Flex>::inner(beta.clone())
        .to_contiguous()
        .storage::<f32>()
        .to_vec();
    let stats = statistics(&x_in, epsilon);
    let out = normalise(&x_in, &gamma_in, &beta_in, &stats);
    let out = match BatchNormBackward
        .prepare::<NoCheckpointing>([x.node(), gamma.node(), beta.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish((x_in, gamma_in, stats.clone()), out),
        OpsKind::UnTracked(prep) => prep.finish(out),
    };
    (out, stats)
}

#[cfg(feature = "engine")]
/// Backward of [`batch_norm`] in training on flex; parents `[x, gamma, beta]`. State: the input, γ and
/// the batch statistics.
#[derive(Debug)]
struct BatchNormBackward;

#[cfg(feature = "engine")]
impl Backward<Flex, 3> for BatchNormBackward {
    type State = (FlexTensor, Vec<f32>, Stats);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [px, pg, pb] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let (x, gamma, stats) = &ops.state;
        let [gx, gg, gb] = gradients(&grad, x, gamma, stats, px.is_some());
        for (node, g) in [(px, gx), (pg, gg), (pb, gb)] {
            if let (Some(node), Some(g)) = (node, g) {
                grads.register::<Flex>(node.id, g);
            }
        }
    }
}

#[cfg(feature = "engine")]
/// The planes of channel `c` in `xs` `[N, C, P]`, image by image.
fn planes(xs: &[f32], [c, channels, p]: [usize; 3]) -> impl Iterator<Item = &[f32]> {
    xs.chunks_exact(channels * p)
        .map(move |image| &image[c * p..][..p])
}

#[cfg(feature = "engine")]
/// Per-channel mean and biased variance of `x` `[N, C, H, W]` (contiguous), the variance from centred
/// values; sums in f32 lanes per plane, f64 across planes.
fn statistics(x: &FlexTensor, epsilon: f64) -> Stats {
    let [n, channels, h, w] = dims4(x);
    let (p, xs) = (h * w, x.storage::<f32>());
    let count = (n * p) as f64;
    let per_channel = par_map(0..channels, |c| {
        let mean = planes(xs, [c, channels, p])
            .map(|plane| lane_sum(plane) as f64)
            .sum::<f64>()
            / count;
        let m = mean as f32;
        let variance = planes(xs, [c, channels, p])
            .map(|plane| lane_sum_by(plane, |v| (v - m) * (v - m)) as f64)
            .sum::<f64>()
            / count;
        (m, variance as f32)
    });
    let (mean, variance): (Vec<f32>, Vec<f32>) = per_channel.into_iter().unzip();
    let inv_std = variance
        .iter()
        .map(|&v| 1.0 / (v + epsilon as f32).sqrt())
        .collect();
    Stats {
        mean,
        variance,
        inv_std,
    }
}

#[cfg(feature = "engine")]
/// `γ · (x − mean) / σ + β`, as `(x − mean) · (γ/σ) + β` per channel, image by image in parallel.
fn normalise(x: &FlexTensor, gamma: &[f32], beta: &[f32], stats: &Stats) -> FlexTensor {
    let [n, channels, h, w] = dims4(x);
    let (p, xs) = (h * w, x.storage::<f32>());
    // Centred before scaling: folding the mean into the shift would cancel badly when σ is tiny.
    let scale: Vec<f32> = gamma
        .iter()
        .zip(&stats.inv_std)
        .map(|(g, s)| g * s)
        .collect();
    let out = per_plane(xs, channels, p, |c, dst, src| {
        let (a, m, b) = (scale[c], stats.mean[c], beta[c]);
        dst.iter_mut()
            .zip(src)
            .for_each(|(d, v)| *d = (v - m) * a + b);
    });
    FlexTensor::from_data(TensorData::new(out, [n, channels, h, w]))
}

#[cfg(feature = "engine")]
/// Gradients of input (when `want_x`), γ and β from the output gradient `dy`: per channel `Σ dy` (β's),
/// `Σ dy · x̂` (γ's), then `dx = γ/σ · (dy − Σdy/M − x̂ · Σ(dy · x̂)/M)` over the `M = N·H·W` values.
fn gradients(
    dy: &FlexTensor,
    x: &FlexTensor,
    gamma: &[f32],
    stats: &Stats,
    want_x: bool,
) -> [Option<FlexTensor>; 3] {
    let dy = dy.to_contiguous();
    let [n, channels, h, w] = dims4(x);
    let (p, xs, gs) = (h * w, x.storage::<f32>(), dy.storage::<f32>());
    let count = (n * p) as f64;
    let sums = par_map(0..channels, |c| {
        let m = stats.mean[c];
        let (mut sum_dy, mut sum_dy_centred) = (0f64, 0f64);
        for (g, v) in planes(gs, [c, channels, p]).zip(planes(xs, [c, channels, p])) {
            sum_dy += lane_sum(g) as f64;
            sum_dy_centred += lane_dot_by(g, v, |d, v| d * (v - m)) as f64;
        }
        (sum_dy, sum_dy_centred * stats.inv_std[c] as f64)
    });
    let gb: Vec<f32> = sums.iter().map(|s| s.0 as f32).collect();
    let gg: Vec<f32> = sums.iter().map(|s| s.1 as f32).collect();
    let gx = want_x.then(|| {
        // dx = a · (dy − mean_dy) + k · (x − mean), a = γ/σ, k = −a · mean(dy · x̂) / σ
        let a: Vec<f32> = gamma
            .iter()
            .zip(&stats.inv_std)
            .map(|(g, s)| g * s)
            .collect();
        let mean_dy: Vec<f32> = sums.iter().map(|s| (s.0 / count) as f32).collect();
        let k: Vec<f32> = (0..channels)
            .map(|c| -a[c] * (sums[c].1 / count) as f32 * stats.inv_std[c])
            .collect();
        let dx = zeroed_by_chunks(xs.len(), channels * p, |i, image| {
            let (g_img, x_img) = (
                &gs[i * channels * p..][..channels * p],
                &xs[i * channels * p..][..channels * p],
            );
            for (c, ((d, g), v)) in image
                .chunks_exact_mut(p)
                .zip(g_img.chunks_exact(p))
                .zip(x_img.chunks_exact(p))
                .enumerate()
            {
                let (a, md, k, m) = (a[c], mean_dy[c], k[c], stats.mean[c]);
                for ((d, g), v) in d.iter_mut().zip(g).zip(v) {
                    *d = a * (g - md) + k * (v - m);
                }
            }
        });
        FlexTensor::from_data(TensorData::new(dx, [n, channels, h, w]))
    });
    let vector = |v: Vec<f32>| Some(FlexTensor::from_data(TensorData::new(v, [channels])));
    [gx, vector(gg), vector(gb)]
}

#[cfg(feature = "engine")]
/// `Σ f(a, b)` over pairs, in 16 lanes.
fn lane_dot_by(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) -> f32 {
    let mut lanes = [0f32; 16];
    let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
    let rest: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(&x, &y)| f(x, y))
        .sum();
    for (x, y) in ca.zip(cb) {
        lanes
            .iter_mut()
            .zip(x.iter().zip(y))
            .for_each(|(l, (&x, &y))| *l += f(x, y));
    }
    lanes.iter().sum::<f32>() + rest
}

#[cfg(all(test, feature = "engine"))]
mod tests {
    use burn::module::Module;
    use burn::nn::BatchNormConfig;
    use burn::tensor::{Device, Tolerance};

    use super::*;

    /// `γ · (x − mean) / √(var + 1e-5) + β` with the batch statistics in f64.
    fn exact_forward(x: &Tensor<4>, gamma: &Tensor<1>, beta: &Tensor<1>) -> TensorData {
        let [n, c, h, w] = x.dims();
        let p = h * w;
        let xs: Vec<f32> = x.clone().into_data().try_to_vec::<f32>().unwrap();
        let g: Vec<f32> = gamma.clone().into_data().try_to_vec::<f32>().unwrap();
        let b: Vec<f32> = beta.clone().into_data().try_to_vec::<f32>().unwrap();
        let mut out = vec![0f32; xs.len()];
        for ch in 0..c {
            let idx = |i: usize, j: usize| (i * c + ch) * p + j;
            let values = || (0..n).flat_map(move |i| (0..p).map(move |j| (i, j)));
            let m = values().map(|(i, j)| xs[idx(i, j)] as f64).sum::<f64>() / (n * p) as f64;
            let var = values()
                .map(|(i, j)| (xs[idx(i, j)] as f64 - m).powi(2))
                .sum::<f64>()
                / (n * p) as f64;
            for (i, j) in values() {
                let v = (xs[idx(i, j)] as f64 - m) / (var + 1e-5).sqrt();
                out[idx(i, j)] = (v * g[ch] as f64 + b[ch] as f64) as f32;
            }
        }
        TensorData::new(out, [n, c, h, w])
    }

    /// The gradients of `Σ weights · batch_norm(x)` in f64: `(dx, dγ, dβ)`, with
    /// `dx = γ/σ · (g − mean(g) − x̂ · mean(g · x̂))`, `dγ = Σ g · x̂`, `dβ = Σ g` per channel.
    fn exact_backward(
        x: &Tensor<4>,
        gamma: &Tensor<1>,
        weights: &Tensor<4>,
    ) -> (TensorData, TensorData, TensorData) {
        let [n, c, h, w] = x.dims();
        let p = h * w;
        let xs: Vec<f32> = x.clone().into_data().try_to_vec::<f32>().unwrap();
        let gs: Vec<f32> = weights.clone().into_data().try_to_vec::<f32>().unwrap();
        let gamma: Vec<f32> = gamma.clone().into_data().try_to_vec::<f32>().unwrap();
        let (mut dx, mut dgamma, mut dbeta) = (vec![0f32; xs.len()], vec![0f32; c], vec![0f32; c]);
        let count = (n * p) as f64;
        for ch in 0..c {
            let idx: Vec<usize> = (0..n)
                .flat_map(|i| (0..p).map(move |j| (i * c + ch) * p + j))
                .collect();
            let m = idx.iter().map(|&k| xs[k] as f64).sum::<f64>() / count;
            let var = idx.iter().map(|&k| (xs[k] as f64 - m).powi(2)).sum::<f64>() / count;
            let sigma = (var + 1e-5).sqrt();
            let xhat = |k: usize| (xs[k] as f64 - m) / sigma;
            let g_mean = idx.iter().map(|&k| gs[k] as f64).sum::<f64>() / count;
            let gx_mean = idx.iter().map(|&k| gs[k] as f64 * xhat(k)).sum::<f64>() / count;
            for &k in &idx {
                dx[k] =
                    (gamma[ch] as f64 / sigma * (gs[k] as f64 - g_mean - xhat(k) * gx_mean)) as f32;
            }
            dgamma[ch] = (gx_mean * count) as f32;
            dbeta[ch] = (g_mean * count) as f32;
        }
        (
            TensorData::new(dx, [n, c, h, w]),
            TensorData::new(dgamma, [c]),
            TensorData::new(dbeta, [c]),
        )
    }

    fn check(shape: [usize; 4]) {
        let device = Device::flex().autodiff();
        let [n, c, h, w] = shape;
        // Two identical modules: one through the fused kernel, one through burn.
        let ours_bn = BatchNormConfig::new(c).init(&device);
        let burn_bn = BatchNormConfig::new(c).init(&device);
        // Non-trivial γ and β, the same in both.
        let gamma = crate::rng::seeded_tensor::<1>([c], 0.5, 1.5, &device);
        let beta = crate::rng::seeded_tensor::<1>([c], 0.0, 1.0, &device);
        let set = |bn: BatchNorm| BatchNorm {
            gamma: burn::module::Param::from_tensor(gamma.clone()),
            beta: burn::module::Param::from_tensor(beta.clone()),
            ..bn
        };
        let (ours_bn, burn_bn) = (set(ours_bn), set(burn_bn));
        // Offset and scaled input, as activations are.
        let x =
            (crate::rng::seeded_tensor::<4>(shape, 0.0, 1.0, &device) * 3.0 + 1.5).require_grad();
        assert!(uses_fused_kernel(&ours_bn, &x));
        let ours = batch_norm(&ours_bn, x.clone());
        let burns = burn_bn.forward(x.clone());
        // Against the formula in f64, then against burn (whose f32 statistics are less exact).
        let exact = exact_forward(&x, &gamma, &beta);
        ours.clone()
            .into_data()
            .assert_approx_eq::<f32>(&exact, Tolerance::<f32>::rel_abs(1e-5, 1e-6));
        let tol = Tolerance::<f32>::rel_abs(5e-4, 1e-5);
        ours.clone()
            .into_data()
            .assert_approx_eq::<f32>(&burns.clone().into_data(), tol);
        for (a, b) in [
            (&ours_bn.running_mean, &burn_bn.running_mean),
            (&ours_bn.running_var, &burn_bn.running_var),
        ] {
            a.value()
                .into_data()
                .assert_approx_eq::<f32>(&b.value().into_data(), tol);
        }
        let weights = crate::rng::seeded_tensor::<4>([n, c, h, w], 0.0, 1.0, &device);
        let (dx, dgamma, dbeta) = exact_backward(&x, &gamma, &weights);
        let g_ours = (ours * weights.clone()).sum().backward();
        let g_burn = (burns * weights).sum().backward();
        // Tight against the f64 gradients; looser against burn's f32 ones, whose statistics and sums
        // round differently (small gradients differ by a few 1e-5 there).
        let exact_tol = Tolerance::<f32>::rel_abs(1e-4, 2e-6);
        // dγ and dβ are sums over the n·h·w positions of a channel: their f32 rounding grows with the
        // number of terms, not with the result, which cancellation can make small. So their absolute
        // tolerance scales with the count (each term |dy · x̂| is at most a few units here).
        let sum_tol = Tolerance::<f32>::rel_abs(1e-4, 1e-6 * (n * h * w) as f64);
        let burn_sum_tol = Tolerance::<f32>::rel_abs(2e-3, 1e-5 * (n * h * w) as f64);
        let burn_tol = Tolerance::<f32>::rel_abs(2e-3, 1e-4);
        let grad_x = x.grad(&g_ours).unwrap().into_data();
        grad_x.assert_approx_eq::<f32>(&dx, exact_tol);
        grad_x.assert_approx_eq::<f32>(&x.grad(&g_burn).unwrap().into_data(), burn_tol);
        for ((a, b), exact) in [
            (&ours_bn.gamma, &burn_bn.gamma),
            (&ours_bn.beta, &burn_bn.beta),
        ]
        .into_iter()
        .zip([dgamma, dbeta])
        {
            let ours = a.val().grad(&g_ours).unwrap().into_data();
            ours.assert_approx_eq::<f32>(&exact, sum_tol);
            ours.assert_approx_eq::<f32>(&b.val().grad(&g_burn).unwrap().into_data(), burn_sum_tol);
        }
    }

    #[test]
    fn training_matches_burn_values_statistics_and_gradients() {
        check([8, 4, 14, 14]); // the ResNet's blocks, a small batch
        check([3, 5, 7, 7]); // planes not a multiple of 16 values
        check([1, 2, 1, 1]); // one value per channel: zero variance
    }

    #[test]
    fn inference_on_flex_is_burns_bit_for_bit() {
        // Running statistics away from 0 and 1, γ and β too, so that every operation matters.
        let device = Device::flex();
        let mut bn = BatchNormConfig::new(5).init(&device);
        use crate::rng::seeded_tensor;
        use burn::module::{Param, RunningState};
        bn.running_mean = RunningState::new(seeded_tensor::<1>([5], -1.0, 1.0, &device));
        bn.running_var = RunningState::new(seeded_tensor::<1>([5], 0.01, 3.0, &device));
        bn.gamma = Param::from_tensor(seeded_tensor::<1>([5], 0.5, 2.0, &device));
        bn.beta = Param::from_tensor(seeded_tensor::<1>([5], -0.5, 0.5, &device));
        let bn = bn.valid();
        for shape in [[3, 5, 7, 7], [1, 5, 28, 28], [40, 5, 3, 3]] {
            // The same values on every call (the seed is the call's place and the shape).
            let fresh = || crate::rng::seeded_tensor::<4>(shape, -3.0, 3.0, &device);
            let params = inference_params(&bn, shape[1]).expect("flex parameters");
            // In place: the kernel holds the only handle on the values.
            let only = fresh().try_into_primitive::<Flex>().unwrap();
            assert!(only.is_unique());
            let in_place = Tensor::<4>::from_primitive::<Flex>(flex_inference(only, &params));
            // Into a new buffer: another handle holds the values.
            let held = fresh().try_into_primitive::<Flex>().unwrap();
            let copied = Tensor::<4>::from_primitive::<Flex>(flex_inference(held.clone(), &params));
            drop(held);
            let x = fresh();
            let through = batch_norm(&bn, x.clone());
            let burns = bn.forward(x);
            for ours in [in_place, copied, through] {
                let [a, b] =
                    [ours, burns.clone()].map(|t| t.into_data().try_to_vec::<f32>().unwrap());
                assert!(
                    a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()),
                    "{shape:?}"
                );
            }
        }
    }

    #[test]
    fn inference_on_flex_leaves_a_shared_input_alone() {
        let device = Device::flex();
        let bn = BatchNormConfig::new(3).init(&device).valid();
        let x = crate::rng::seeded_tensor::<4>([2, 3, 4, 4], -1.0, 1.0, &device);
        let before = x.clone().into_data();
        let _ = batch_norm(&bn, x.clone());
        x.into_data().assert_eq(&before, true);
    }

    #[test]
    fn inference_and_other_devices_use_burn() {
        let device = Device::flex().autodiff();
        let bn = BatchNormConfig::new(3).init(&device);
        let x = crate::rng::seeded_tensor::<4>([2, 3, 4, 4], 0.0, 1.0, &device);
        assert!(uses_fused_kernel(&bn, &x));
        // Without autodiff (inference): burn's forward with the running statistics.
        let plain = bn.valid();
        let x_plain = x.clone().inner();
        assert!(!uses_fused_kernel(&plain, &x_plain));
        batch_norm(&plain, x_plain.clone())
            .into_data()
            .assert_eq(&plain.forward(x_plain).into_data(), true);
    }
}
