//! Dropout while training on flex: the CNN's and the MLP's, before their dense layers.
//!
//! burn's `Dropout` draws its mask one value at a time from flex's generator, then multiplies by it and by
//! the scale in two more passes, and its backward pass makes two more: all on one thread (burn-flex 0.22's
//! element-wise operations have no parallel path), while the pool's other threads wait. Here the mask
//! comes from our own generator ([`Rng`], one stream per [`STREAM`] values, each seeded from one number
//! drawn from flex's generator and the stream's index), so the streams are drawn in parallel and the mask
//! does not depend on the thread count; the output is one parallel pass (`ops::map`), and the backward pass
//! one more.
//!
//! Given the mask, values and gradients are burn's bit for bit: `(x · r) · s` forward and `(g · s) · r`
//! backward, `r` ∈ {0, 1} and `s = 1 / (1 − p)`, in burn's order (tested). The masks themselves differ from
//! burn's, so a training run's dropout differs from the one burn would have drawn; a seed still fixes it.
//! Every other backend, a layer not training, and any tensor that is not f32 go through burn's `Dropout`.

use burn::nn::Dropout;
use burn::tensor::Tensor;

#[cfg(feature = "engine")]
use super::{autodiff::*, map};
#[cfg(feature = "engine")]
use burn::tensor::{DType, Distribution, TensorData};
#[cfg(feature = "engine")]
use burn_flex::FlexTensor;

#[cfg(feature = "engine")]
use crate::parallel::zeroed_by_chunks;
#[cfg(feature = "engine")]
use crate::rng::Rng;

/// Values of the mask drawn from one stream of the generator, one parallel task each.
#[cfg(feature = "engine")]
const STREAM: usize = 1 << 14;

/// `layer`'s dropout of `x`: while training on flex (under autodiff) by the parallel kernel, otherwise
/// `layer.forward(x)` (which leaves `x` as it is outside training).
pub fn dropout<const D: usize>(layer: &Dropout, x: Tensor<D>) -> Tensor<D> {
    #[cfg(feature = "engine")]
    if x.dtype() == DType::F32 && layer.training.is_enabled() && layer.prob > 0.0 {
        let device = x.device();
        if let Ok(t) = x.clone().try_into_primitive::<Autodiff<Flex>>() {
            let seed = drawn_seed(&device.without_autodiff());
            return Tensor::from_primitive::<Autodiff<Flex>>(autodiff_dropout(t, layer.prob, seed));
        }
    }
    layer.forward(x)
}

/// A seed for one mask, from flex's generator (which `Device::seed` fixes, as it fixed burn's masks): the
/// bits of two uniform draws.
#[cfg(feature = "engine")]
fn drawn_seed(device: &burn::tensor::Device) -> u64 {
    let draws = Tensor::<1>::random([2], Distribution::Default, device)
        .try_into_primitive::<Flex>()
        .expect("a flex device draws a flex tensor")
        .to_contiguous();
    let [a, b]: [f32; 2] = draws.storage::<f32>()[..2].try_into().expect("two draws");
    (a.to_bits() as u64) << 32 | b.to_bits() as u64
}

/// The mask of `len` values for `seed`: 1 with probability `keep`, else 0; value `i` from stream
/// `i / STREAM`, so the same on any number of threads.
#[cfg(feature = "engine")]
fn mask(seed: u64, len: usize, keep: f64) -> Vec<f32> {
    let keep = keep as f32;
    zeroed_by_chunks(len, STREAM, |stream, dst| {
        let mut rng = Rng::new(seed.wrapping_add(stream as u64));
        for r in dst {
            *r = if rng.chance(keep) { 1.0 } else { 0.0 };
        }
    })
}

/// burn's scale of the kept values, `1 / (1 − p)` rounded to f32 as a scalar operation rounds it.
#[cfg(feature = "engine")]
fn scale(prob: f64) -> f32 {
    (1.0 / (1.0 - prob)) as f32
}

/// The dropout of `x` with the mask of `seed`, recorded with [`DropoutBackward`] where a gradient is wanted.
#[cfg(feature = "engine")]
fn autodiff_dropout(x: AutodiffFloat, prob: f64, seed: u64) -> AutodiffFloat {
    let inner = Autodiff::<Flex>::inner(x.clone());
    let shape = inner.layout().shape().clone();
    let keep = mask(seed, shape.num_elements(), 1.0 - prob);
    let keep = FlexTensor::from_data(TensorData::new(keep, shape));
    let s = scale(prob);
    let out = map(&[&inner, &keep], |dst, [x, r]| {
        for ((d, &x), &r) in dst.iter_mut().zip(x).zip(r) {
            *d = (x * r) * s;
        }
    });
    match DropoutBackward
        .prepare::<NoCheckpointing>([x.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish((keep, s), out),
        OpsKind::UnTracked(prep) => prep.finish(out),
    }
}

/// Backward of [`dropout`] on flex: `(g · s) · r`; state: the mask `r` and the scale `s`.
#[cfg(feature = "engine")]
#[derive(Debug)]
struct DropoutBackward;

#[cfg(feature = "engine")]
impl Backward<Flex, 1> for DropoutBackward {
    type State = (FlexTensor, f32);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = grads.consume::<Flex>(&ops.node);
        let [Some(parent)] = ops.parents else {
            return;
        };
        let (keep, s) = ops.state;
        let through = map(&[&grad, &keep], |dst, [g, r]| {
            for ((d, &g), &r) in dst.iter_mut().zip(g).zip(r) {
                *d = (g * s) * r;
            }
        });
        grads.register::<Flex>(parent.id, through);
    }
}

#[cfg(all(test, feature = "engine"))]
mod tests {
    use burn::nn::DropoutConfig;
    use burn::tensor::{Device, Tensor, TensorData};

    use super::*;
    use crate::parallel::in_order;

    fn bits<const D: usize>(t: Tensor<D>) -> Vec<u32> {
        let v: Vec<f32> = t.into_data().try_to_vec::<f32>().unwrap();
        v.iter().map(|x| x.to_bits()).collect()
    }

    /// Values with negatives, zeros and NaN, at `[3, 40_000]`: 120,000 values, eight streams, the last one
    /// short.
    fn input(device: &Device) -> Tensor<2> {
        let shape = [3, 40_000];
        let mut values: Vec<f32> = crate::rng::seeded_tensor::<2>(shape, -2.0, 2.0, device)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        values[7] = f32::NAN;
        values[STREAM + 3] = 0.0;
        values[STREAM + 4] = -0.0;
        Tensor::from_data(TensorData::new(values, shape), device)
    }

    #[test]
    fn the_mask_keeps_its_share_and_is_the_same_on_any_number_of_threads() {
        for (seed, keep) in [(1u64, 0.7), (2, 0.5), (3, 0.9)] {
            let len = 5 * STREAM + 123;
            let m = mask(seed, len, keep);
            assert!(m.iter().all(|&r| r == 0.0 || r == 1.0));
            let share = m.iter().sum::<f32>() as f64 / len as f64;
            // 82,043 draws: a standard deviation of at most 0.0018.
            assert!(
                (share - keep).abs() < 0.01,
                "seed {seed}: kept {share}, not {keep}"
            );
            // Each stream its own: no two streams' first hundred values alike.
            let starts: Vec<&[f32]> = m.chunks(STREAM).map(|c| &c[..100]).collect();
            for (i, a) in starts.iter().enumerate() {
                assert!(starts[i + 1..].iter().all(|b| a != b), "stream {i} repeats");
            }
            assert_eq!(in_order(|| mask(seed, len, keep)), m, "in order");
            assert_ne!(mask(seed + 100, len, keep), m, "another seed");
        }
    }

    #[test]
    fn values_and_gradients_are_burns_for_the_same_mask() {
        let device = Device::flex().autodiff();
        let prob = 0.3;
        let x = input(&device).require_grad();
        let keep = mask(42, x.shape().num_elements(), 1.0 - prob);
        let r = Tensor::<2>::from_data(TensorData::new(keep, x.dims()), &device);
        // burn's Dropout with that mask, as its `forward` computes it.
        let burns = (x.clone() * r) * (1.0 / (1.0 - prob));
        let primitive = x.clone().try_into_primitive::<Autodiff<Flex>>().unwrap();
        let ours =
            Tensor::<2>::from_primitive::<Autodiff<Flex>>(autodiff_dropout(primitive, prob, 42));
        assert_eq!(bits(ours.clone()), bits(burns.clone()));
        // A weighted sum, so that each value's gradient differs.
        let weights = crate::rng::seeded_tensor::<2>(x.dims(), 0.5, 1.5, &device);
        let grad = |out: Tensor<2>| (out * weights.clone()).sum().backward();
        let (g_ours, g_burns) = (grad(ours), grad(burns));
        assert_eq!(
            bits(x.grad(&g_ours).unwrap()),
            bits(x.grad(&g_burns).unwrap())
        );
    }

    /// The share of `x`'s non-zero values that `out` keeps, each times `s`.
    fn kept_share(x: &Tensor<2>, out: Tensor<2>, s: f32) -> f64 {
        let xs: Vec<f32> = x.clone().into_data().try_to_vec().unwrap();
        let out: Vec<f32> = out.into_data().try_to_vec().unwrap();
        let (mut kept, mut nonzero) = (0, 0);
        for (&x, &o) in xs.iter().zip(&out) {
            if x != 0.0 && x.is_finite() {
                nonzero += 1;
                if o != 0.0 {
                    assert_eq!(o, x * s);
                    kept += 1;
                }
            }
        }
        kept as f64 / nonzero as f64
    }

    #[test]
    fn only_a_training_layer_under_autodiff_drops() {
        let layer = DropoutConfig::new(0.3).init();
        // Without autodiff (inference): the input itself, as burn's.
        let x = input(&Device::flex());
        assert_eq!(bits(dropout(&layer, x.clone())), bits(x));
        // Under autodiff: about 30% dropped, the rest scaled by 1 / 0.7; each call draws its own mask.
        let x = input(&Device::flex().autodiff());
        let (first, second) = (dropout(&layer, x.clone()), dropout(&layer, x.clone()));
        assert_ne!(bits(first.clone()), bits(second));
        let share = kept_share(&x, first, (1.0 / 0.7f64) as f32);
        // 119,997 non-zero values: a standard deviation of 0.0013.
        assert!((share - 0.7).abs() < 0.01, "kept {share}");
        // A layer not training (frozen in place) leaves its input as it is.
        let frozen = Dropout {
            prob: 0.3,
            training: burn::module::Param::from_bool(false),
        };
        assert_eq!(bits(dropout(&frozen, x.clone())), bits(x));
    }
}
