//! The backward pass's clock: where a training batch's backward pass spends its time, layer by layer, on
//! the CPU.
//!
//! [`BackwardClock::mark`] is the identity on a layer's output. Under autodiff on flex it is recorded as
//! one operation whose backward step notes the moment the backward pass reaches it, then hands the
//! gradient on unchanged. burn-autodiff runs a backward pass deepest operation first (its tape is ordered
//! by depth), and on a chain of layers every operation of the layer after a mark is deeper than the mark,
//! every operation of the layer before it shallower. So the mark after layer `k` is reached once the
//! backward passes of all later layers are done, and the time from that mark to the mark before it is
//! layer `k`'s backward pass. Operations on parameters alone (a dense layer's weight reshaped for its
//! product, for one) are shallow and run at the end, with the first layer's share.
//! On every other backend, and without autodiff, a mark is `x` itself and nothing is recorded.

use std::sync::{Arc, Mutex, PoisonError};

use burn::tensor::Tensor;
use web_time::Instant;

use super::autodiff::*;

/// The marks a backward pass has reached, in the order it reached them. Clones share one record.
#[derive(Debug, Clone, Default)]
pub struct BackwardClock(Arc<Mutex<Vec<(usize, Instant)>>>);

impl BackwardClock {
    /// A clock with nothing recorded.
    pub fn new() -> Self {
        Self::default()
    }

    /// `x` unchanged, marked `index`: under autodiff on flex, the backward pass records `(index, when)`
    /// when it reaches this point. Elsewhere `x` itself.
    pub fn mark<const D: usize>(&self, x: Tensor<D>, index: usize) -> Tensor<D> {
        match x.clone().try_into_primitive::<Autodiff<Flex>>() {
            Ok(t) => {
                Tensor::from_primitive::<Autodiff<Flex>>(autodiff_mark(t, self.clone(), index))
            }
            Err(_) => x,
        }
    }

    /// What was recorded since the last call, in the order the backward pass reached the marks; the
    /// record is emptied.
    pub fn take(&self) -> Vec<(usize, Instant)> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn record(&self, index: usize) {
        let now = Instant::now();
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((index, now));
    }
}

/// The seconds of each of `marks` layers' backward passes, layer 0 first, from the marks a backward pass
/// recorded (`recorded`, in the order reached), its start and its end: layer `k`'s share runs from mark
/// `k` to mark `k − 1` (to `end` for layer 0), and the time before the last layer's mark, `head`, is
/// everything after the last mark (the logits and the loss). `None` unless every mark was reached once,
/// last layer first.
pub fn backward_split(
    recorded: &[(usize, Instant)],
    marks: usize,
    start: Instant,
    end: Instant,
) -> Option<(f64, Vec<f64>)> {
    let reversed = recorded.len() == marks
        && recorded
            .iter()
            .enumerate()
            .all(|(i, &(index, _))| index == marks - 1 - i);
    if !reversed || marks == 0 {
        return None;
    }
    let head = (recorded[0].1 - start).as_secs_f64();
    let mut layers = vec![0.0; marks];
    for (i, &(index, at)) in recorded.iter().enumerate() {
        let next = recorded.get(i + 1).map_or(end, |&(_, t)| t);
        layers[index] = (next - at).as_secs_f64();
    }
    Some((head, layers))
}

/// The mark under autodiff: the input's primitive as the output, and a backward step that records.
fn autodiff_mark(x: AutodiffFloat, clock: BackwardClock, index: usize) -> AutodiffFloat {
    let inner = Autodiff::<Flex>::inner(x.clone());
    match MarkBackward
        .prepare::<NoCheckpointing>([x.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish((clock, index), inner),
        OpsKind::UnTracked(prep) => prep.finish(inner),
    }
}

/// Backward of a mark: record, then pass the gradient to the input unchanged.
#[derive(Debug)]
struct MarkBackward;

impl Backward<Flex, 1> for MarkBackward {
    type State = (BackwardClock, usize);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let (clock, index) = ops.state;
        clock.record(index);
        let [parent] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        if let Some(parent) = parent {
            grads.register::<Flex>(parent.id, grad);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};
    use std::time::Duration;

    /// Three layers, each marked, and the gradient of a loss with respect to the input: with and
    /// without marks, the same bits; with them, the marks reached last layer first.
    #[test]
    fn marks_change_nothing_and_are_reached_last_layer_first() {
        let device = Device::flex().autodiff();
        let run = |clock: Option<&BackwardClock>| {
            let x = crate::rng::seeded_tensor::<4>([2, 3, 4, 4], -1.0, 1.0, &device).require_grad();
            let mut h = x.clone();
            for (k, scale) in [1.5f32, -0.5, 2.0].into_iter().enumerate() {
                h = (h.mul_scalar(scale) + 0.25).tanh();
                if let Some(clock) = clock {
                    h = clock.mark(h, k);
                }
            }
            let loss = h.clone().powi_scalar(2).sum();
            let grads = loss.backward();
            (
                h.into_data().try_to_vec::<f32>().unwrap(),
                x.grad(&grads)
                    .unwrap()
                    .into_data()
                    .try_to_vec::<f32>()
                    .unwrap(),
            )
        };
        let clock = BackwardClock::new();
        assert_eq!(run(Some(&clock)), run(None));
        let order: Vec<usize> = clock.take().iter().map(|&(k, _)| k).collect();
        assert_eq!(order, [2, 1, 0]);
        assert!(clock.take().is_empty(), "take empties the record");
    }

    /// Without autodiff a mark is the identity and records nothing.
    #[test]
    fn inference_is_not_marked() {
        let device = Device::flex();
        let clock = BackwardClock::new();
        let x = Tensor::<2>::from_data(TensorData::new(vec![1f32, -2.0, 3.0], [1, 3]), &device);
        let y = clock.mark(x.clone(), 0);
        assert_eq!(y.into_data(), x.into_data());
        assert!(clock.take().is_empty());
    }

    /// The split gives each layer the time from its mark to the one before, and refuses records that
    /// are not every mark once, last first.
    #[test]
    fn the_split_runs_from_each_mark_to_the_one_before() {
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        let recorded = [(2, at(5)), (1, at(12)), (0, at(30))];
        let (head, layers) = backward_split(&recorded, 3, start, at(31)).unwrap();
        let ms = |s: f64| (s * 1e3).round() as u64;
        assert_eq!(ms(head), 5);
        assert_eq!(
            layers.iter().map(|&s| ms(s)).collect::<Vec<_>>(),
            [1, 18, 7]
        );
        assert_eq!(backward_split(&recorded[..2], 3, start, at(31)), None);
        let out_of_order = [(1, at(5)), (2, at(12)), (0, at(30))];
        assert_eq!(backward_split(&out_of_order, 3, start, at(31)), None);
        assert_eq!(backward_split(&[], 0, start, at(31)), None);
    }
}
