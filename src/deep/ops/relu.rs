//! ReLU, and the ReLU of a sum that ends a residual block, on flex: the activations of the CNN, the
//! ResNet and the MLP.
//!
//! flex's element-wise operations run on one thread (burn-flex 0.22's `unary_op` and `binary_op` have no
//! parallel path), so while one thread passed over a ResNet block's activations (megabytes at a batch of
//! 128: a ReLU, a sum and a ReLU forward, two ReLU gradients backward), the pool's other threads waited.
//! Here, on flex, each is one pass over chunks of the tensor in parallel:
//! - [`relu`]: `x` where `x > 0` or `x` is NaN, else 0 (flex's own rule, NaN kept);
//! - [`add_relu`]: `relu(a + b)`, the sum rounded to f32 first, as `relu(a + b)` computes it;
//! - backward (under autodiff, one recorded operation each): the gradient where the output is positive or
//!   NaN, else 0, as flex's `relu_backward` masks it; `add_relu` hands that gradient to both terms, as a
//!   sum's backward does.
//!
//! Values and gradients are flex's bit for bit (tested). Every other backend, and any tensor that is not
//! f32, goes through burn's `relu` (and `+`).

use burn::tensor::activation;
use burn::tensor::{DType, Tensor};
use burn_flex::{Flex, FlexTensor};

#[cfg(feature = "engine")]
use super::autodiff::*;
use super::map;

/// Whether flex's ReLU lets `x` through: positive, or NaN (kept, as flex keeps it).
#[inline(always)]
fn passes(x: f32) -> bool {
    x.is_nan() || x > 0.0
}

/// flex's ReLU of one value.
#[inline(always)]
fn relu_value(x: f32) -> f32 {
    if passes(x) { x } else { 0.0 }
}

/// `relu(x)`: on flex by the parallel kernel, elsewhere burn's.
pub fn relu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    if x.dtype() == DType::F32 {
        #[cfg(feature = "engine")]
        if let Ok(t) = x.clone().try_into_primitive::<Autodiff<Flex>>() {
            return Tensor::from_primitive::<Autodiff<Flex>>(autodiff_relu(t));
        }
        if let Ok(t) = x.clone().try_into_primitive::<Flex>() {
            return Tensor::from_primitive::<Flex>(relu_of(&t));
        }
    }
    activation::relu(x)
}

/// `relu(a + b)` for tensors of one shape (a residual block's end): on flex one parallel pass, elsewhere
/// burn's `relu(a + b)` (with its broadcasting).
pub fn add_relu<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> Tensor<D> {
    if a.dtype() == DType::F32 && b.dtype() == DType::F32 && a.dims() == b.dims() {
        #[cfg(feature = "engine")]
        if let (Ok(ta), Ok(tb)) = (
            a.clone().try_into_primitive::<Autodiff<Flex>>(),
            b.clone().try_into_primitive::<Autodiff<Flex>>(),
        ) {
            return Tensor::from_primitive::<Autodiff<Flex>>(autodiff_add_relu(ta, tb));
        }
        if let (Ok(ta), Ok(tb)) = (
            a.clone().try_into_primitive::<Flex>(),
            b.clone().try_into_primitive::<Flex>(),
        ) {
            return Tensor::from_primitive::<Flex>(add_relu_of(&ta, &tb));
        }
    }
    activation::relu(a + b)
}

/// `relu` of one tensor.
fn relu_of(x: &FlexTensor) -> FlexTensor {
    map(&[x], |dst, [x]| {
        for (d, &x) in dst.iter_mut().zip(x) {
            *d = relu_value(x);
        }
    })
}

/// `relu(a + b)` of two tensors of one shape.
fn add_relu_of(a: &FlexTensor, b: &FlexTensor) -> FlexTensor {
    map(&[a, b], |dst, [a, b]| {
        for ((d, &a), &b) in dst.iter_mut().zip(a).zip(b) {
            *d = relu_value(a + b);
        }
    })
}

#[cfg(feature = "engine")]
/// The gradient through a ReLU whose output was `out`: `grad` where the output let its input through.
fn masked(out: &FlexTensor, grad: &FlexTensor) -> FlexTensor {
    map(&[out, grad], |dst, [out, grad]| {
        for ((d, &o), &g) in dst.iter_mut().zip(out).zip(grad) {
            *d = if passes(o) { g } else { 0.0 };
        }
    })
}

#[cfg(feature = "engine")]
fn autodiff_relu(x: AutodiffFloat) -> AutodiffFloat {
    recorded([x], |[x]| relu_of(x))
}

#[cfg(feature = "engine")]
fn autodiff_add_relu(a: AutodiffFloat, b: AutodiffFloat) -> AutodiffFloat {
    recorded([a, b], |[a, b]| add_relu_of(a, b))
}

#[cfg(feature = "engine")]
/// `forward` of the inputs' flex values, recorded with [`ReluBackward`] where a gradient is wanted.
fn recorded<const N: usize>(
    inputs: [AutodiffFloat; N],
    forward: impl Fn(&[FlexTensor; N]) -> FlexTensor,
) -> AutodiffFloat {
    let inner = inputs.clone().map(Autodiff::<Flex>::inner);
    match ReluBackward
        .prepare::<NoCheckpointing>(inputs.map(|t| t.node()))
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let out = forward(&inner);
            prep.finish(out.clone(), out)
        }
        OpsKind::UnTracked(prep) => prep.finish(forward(&inner)),
    }
}

#[cfg(feature = "engine")]
/// Backward of [`relu`] (one parent) and of [`add_relu`] (two, each getting the same gradient, as a
/// sum's backward hands it on) on flex; state: the output.
#[derive(Debug)]
struct ReluBackward;

#[cfg(feature = "engine")]
impl<const N: usize> Backward<Flex, N> for ReluBackward {
    type State = FlexTensor;

    fn backward(self, ops: Ops<Self::State, N>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = grads.consume::<Flex>(&ops.node);
        let parents: Vec<_> = ops.parents.into_iter().flatten().collect();
        if parents.is_empty() {
            return;
        }
        let through = masked(&ops.state, &grad);
        for parent in parents {
            grads.register::<Flex>(parent.id, through.clone());
        }
    }
}

#[cfg(all(test, feature = "engine"))]
mod tests {
    use burn::tensor::{Device, Tensor, TensorData};

    use super::*;
    use crate::deep::ops::CHUNK;

    /// Values with negatives, zeros, NaN and a sign change in the sum, at `[2, 4, 90, 100]`: three
    /// chunks, the last one short.
    fn inputs(device: &Device) -> (Tensor<4>, Tensor<4>) {
        let shape = [2, 4, 90, 100];
        let a = crate::rng::seeded_tensor::<4>(shape, -1.0, 1.0, device)
            .mul_scalar(4.0)
            .round();
        let b = crate::rng::seeded_tensor::<4>(shape, -1.0, 1.0, device);
        let mut values: Vec<f32> = a.into_data().try_to_vec::<f32>().unwrap();
        values[5] = f32::NAN;
        values[CHUNK + 1] = 0.0;
        (Tensor::from_data(TensorData::new(values, shape), device), b)
    }

    fn bits(t: Tensor<4>) -> Vec<u32> {
        let v: Vec<f32> = t.into_data().try_to_vec::<f32>().unwrap();
        v.iter().map(|x| x.to_bits()).collect()
    }

    #[test]
    fn values_are_flexs_with_and_without_autodiff() {
        for device in [Device::flex(), Device::flex().autodiff()] {
            let (a, b) = inputs(&device);
            assert_eq!(bits(relu(a.clone())), bits(activation::relu(a.clone())));
            assert_eq!(
                bits(add_relu(a.clone(), b.clone())),
                bits(activation::relu(a + b))
            );
        }
    }

    #[test]
    fn gradients_are_flexs() {
        let device = Device::flex().autodiff();
        let (a, b) = inputs(&device);
        let (a, b) = (a.require_grad(), b.require_grad());
        // A weighted sum so that each output's gradient differs.
        let weights = crate::rng::seeded_tensor::<4>(a.dims(), 0.5, 1.5, &device);
        let grads = |relu_out: Tensor<4>| (relu_out * weights.clone()).sum().backward();
        let (ours, burns) = (grads(relu(a.clone())), grads(activation::relu(a.clone())));
        assert_eq!(bits(a.grad(&ours).unwrap()), bits(a.grad(&burns).unwrap()));
        let (ours, burns) = (
            grads(add_relu(a.clone(), b.clone())),
            grads(activation::relu(a.clone() + b.clone())),
        );
        for t in [&a, &b] {
            assert_eq!(bits(t.grad(&ours).unwrap()), bits(t.grad(&burns).unwrap()));
        }
        // A term used twice (a residual block's input: the sum and another path) gets both gradients.
        let ours = grads(add_relu(a.clone(), a.clone() * 2.0));
        let burns = grads(activation::relu(a.clone() + a.clone() * 2.0));
        assert_eq!(bits(a.grad(&ours).unwrap()), bits(a.grad(&burns).unwrap()));
    }
}
