//! The look-inside view: for one picture, every layer's output of a deep model, the first layer's
//! weights, and each layer's share of the forward pass's time. It runs the model's own forward pass
//! ([`DeepModel::forward_seen`]), not a copy of the architecture, on the CPU (flex), where each operation
//! runs when called, so the time from one layer's output to the next is that layer's compute. On WebGPU,
//! operations are only queued, and timing them would need a readback per layer: the view does not do it.

use burn::module::Module;
use burn::tensor::activation::softmax;
use burn::tensor::{Device, Tensor};
use serde::Serialize;
use thiserror::Error;
use web_time::Instant;

use crate::data::PIXELS;
use crate::deep::backend::read_f32;
use crate::deep::input::{Normalization, normalize, to_image_tensor};
use crate::deep::models::{DeepModel, Layer};

/// Errors of the look-inside view.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum InsideError {
    /// The input is not one 28×28 image.
    #[error("expected one 28×28 image (784 pixels), got {0} values")]
    BadInput(usize),
    /// The model is not on the CPU.
    #[error("the look-inside view runs on the CPU; this model is on {0}")]
    NotOnCpu(String),
    /// Reading a result failed.
    #[error("reading a layer's output failed: {0}")]
    Readback(String),
}

/// One layer's output for the picture, or the first layer's weights.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LayerView {
    /// The layer's name (`conv 1`, `block 3`, `dense + ReLU`…).
    pub name: String,
    /// Channels (maps), or units of a dense layer.
    pub channels: usize,
    /// Each map's height (1 for a dense layer).
    pub height: usize,
    /// Each map's width (1 for a dense layer).
    pub width: usize,
    /// `channels × height × width` values, channel by channel, each map row-major.
    pub values: Vec<f32>,
    /// Time from the previous layer's output (or from the input) to this one's, in milliseconds.
    pub millis: f64,
}

/// Everything the view shows for one picture.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Inside {
    /// Every layer's output, input to logits, in the order the forward pass computes them.
    pub layers: Vec<LayerView>,
    /// The first layer's weights: the convolution's 3×3 filters, or the MLP's first-layer units as
    /// 28×28 maps.
    pub filters: LayerView,
    /// The class probabilities of this very pass.
    pub probabilities: Vec<f32>,
    /// The whole forward pass, in milliseconds.
    pub total_millis: f64,
}

/// Runs `model` (on the CPU) on one prepared image (784 pixels, 0..=255) and returns every layer's
/// output, timed.
pub async fn look_inside(
    model: &DeepModel,
    pixels: &[u8],
    norm: Normalization,
) -> Result<Inside, InsideError> {
    if pixels.len() != PIXELS {
        return Err(InsideError::BadInput(pixels.len()));
    }
    let cpu = Device::flex();
    if let Some(device) = model.devices().into_iter().find(|d| *d != cpu) {
        return Err(InsideError::NotOnCpu(format!("{device:?}")));
    }
    let x = to_image_tensor(normalize(pixels, norm), &cpu); // [1, 1, 28, 28]
    let mut seen: Vec<(String, Tensor<4>, f64)> = Vec::new();
    let start = Instant::now();
    let mut last = start;
    let logits = model.forward_seen(x, &mut |layer| {
        let now = Instant::now();
        let millis = (now - last).as_secs_f64() * 1e3;
        let output = match &layer {
            Layer::Map(_, t) | Layer::Block(_, t) => (*t).clone(),
            Layer::Vector(_, t) | Layer::Dense(_, t) => {
                let [n, units] = t.dims();
                (*t).clone().reshape([n, units, 1, 1])
            }
        };
        seen.push((layer.name(), output, millis));
        // The copy above is not the layer's work: the next layer's clock starts after it.
        last = Instant::now();
    }); // [1, 10]
    let logits_millis = (Instant::now() - last).as_secs_f64() * 1e3;
    let total_millis = (Instant::now() - start).as_secs_f64() * 1e3;
    seen.push((
        "logits".into(),
        logits.clone().reshape([1, crate::data::NUM_CLASSES, 1, 1]),
        logits_millis,
    ));
    let probabilities = read_f32(softmax(logits, 1))
        .await
        .map_err(InsideError::Readback)?;
    let mut layers = Vec::with_capacity(seen.len());
    for (name, output, millis) in seen {
        layers.push(view(name, output, millis).await?);
    }
    let filters = view(
        "first-layer weights".into(),
        model.first_layer_weights(),
        0.0,
    )
    .await?;
    Ok(Inside {
        layers,
        filters,
        probabilities,
        total_millis,
    })
}

/// The penultimate layer of images (the last dense or pooled layer before the logits: the CNN's
/// dense layer, the ResNet's average pool, the MLP's last hidden layer) with the class probabilities of
/// the same pass: the deep space of the embedding map.
#[derive(Debug, Clone, PartialEq)]
pub struct Penultimate {
    /// `n × dims` values, row-major.
    pub features: Vec<f32>,
    /// Units of the layer.
    pub dims: usize,
    /// `n × 10` class probabilities.
    pub probabilities: Vec<f32>,
}

/// [`Penultimate`] of `n` prepared images (`n × 784` pixels, 0..=255), on any device, in batches of 250.
pub async fn penultimate(
    model: &DeepModel,
    pixels: &[u8],
    norm: Normalization,
    device: &Device,
) -> Result<Penultimate, InsideError> {
    if pixels.is_empty() || !pixels.len().is_multiple_of(PIXELS) {
        return Err(InsideError::BadInput(pixels.len()));
    }
    let device = device.clone().without_autodiff();
    let (mut features, mut probabilities, mut dims) = (Vec::new(), Vec::new(), 0);
    for chunk in pixels.chunks(250 * PIXELS) {
        let x = to_image_tensor(normalize(chunk, norm), &device);
        let mut last: Option<Tensor<2>> = None;
        let logits = model.forward_seen(x, &mut |layer| {
            if let Layer::Vector(_, t) | Layer::Dense(_, t) = layer {
                last = Some(t.clone());
            }
        });
        let last = last.expect("every model has a dense or pooled layer before its logits");
        dims = last.dims()[1];
        features.extend(read_f32(last).await.map_err(InsideError::Readback)?);
        probabilities.extend(
            read_f32(softmax(logits, 1))
                .await
                .map_err(InsideError::Readback)?,
        );
    }
    Ok(Penultimate {
        features,
        dims,
        probabilities,
    })
}

/// The view of a `[1 or C, C or 1, H, W]` tensor: the first image's maps, or a filter bank.
async fn view(name: String, t: Tensor<4>, millis: f64) -> Result<LayerView, InsideError> {
    let [a, b, height, width] = t.dims();
    let channels = if a == 1 { b } else { a * b };
    Ok(LayerView {
        name,
        channels,
        height,
        width,
        values: read_f32(t).await.map_err(InsideError::Readback)?,
        millis,
    })
}

// Native only: the tests wait on the futures with `block_on`.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::deep::models::{DeepModelConfig, DeepModelKind, ResNetConfig};
    use crate::deep::train::block_on;

    fn pixels() -> Vec<u8> {
        (0..PIXELS).map(|i| ((i * 37) % 256) as u8).collect()
    }

    /// The view's layers are the forward pass's: the last layer's values are the logits the model
    /// returns, every shape is the architecture's, and the last convolutional layer is the activations
    /// Grad-CAM explains.
    #[test]
    fn every_layer_of_each_model_is_the_forward_pass() {
        let device = Device::flex();
        let configs = [
            DeepModelConfig::default_for(DeepModelKind::Cnn),
            DeepModelConfig::ResNet(ResNetConfig {
                width: 8,
                blocks: [2, 1],
            }),
            DeepModelConfig::default_for(DeepModelKind::Mlp),
        ];
        let expected: [&[(&str, usize, usize)]; 3] = [
            &[
                ("conv 1", 32, 26),
                ("pool 1 + ReLU", 32, 13),
                ("conv 2", 64, 11),
                ("pool 2 + ReLU", 64, 5),
                ("conv 3 + ReLU", 128, 3),
                ("dense + ReLU", 128, 1),
                ("logits", 10, 1),
            ],
            &[
                ("stem conv", 8, 28),
                ("pool 1 + ReLU", 8, 14),
                ("block 1", 8, 14),
                ("block 2", 8, 14),
                ("pool 2", 8, 7),
                ("block 3", 8, 7),
                ("average pool", 8, 1),
                ("logits", 10, 1),
            ],
            &[
                ("dense 1 + ReLU", 512, 1),
                ("dense 2 + ReLU", 256, 1),
                ("logits", 10, 1),
            ],
        ];
        let px = pixels();
        for (config, expected) in configs.iter().zip(expected) {
            let model = config.init(&device).unwrap().valid();
            let inside = block_on(look_inside(&model, &px, Normalization::Unit)).unwrap();
            let shapes: Vec<(&str, usize, usize)> = inside
                .layers
                .iter()
                .map(|l| (l.name.as_str(), l.channels, l.height))
                .collect();
            assert_eq!(shapes, expected, "{config:?}");
            for l in &inside.layers {
                assert_eq!(l.values.len(), l.channels * l.height * l.width);
                assert!(l.millis > 0.0, "{}: {} ms", l.name, l.millis);
            }
            // Each layer is timed from the previous one's output: the intervals do not overlap, so
            // they add up to at most the whole pass.
            let sum: f64 = inside.layers.iter().map(|l| l.millis).sum();
            assert!(
                sum <= inside.total_millis,
                "{sum} ms of {} ms",
                inside.total_millis
            );
            let x = to_image_tensor(normalize(&px, Normalization::Unit), &device);
            let logits: Vec<f32> = model.forward(x.clone()).into_data().try_to_vec().unwrap();
            assert_eq!(inside.layers.last().unwrap().values, logits);
            if let Some(features) = model.features(x) {
                let features: Vec<f32> = features.into_data().try_to_vec().unwrap();
                let last_conv = inside.layers.iter().rev().find(|l| l.height > 1).unwrap();
                assert_eq!(last_conv.values, features);
            }
            let sum: f32 = inside.probabilities.iter().sum();
            assert!((sum - 1.0).abs() < 1e-5);
        }
    }

    /// The filters shown are the ones the first convolution applies: a single lit pixel's response
    /// in the "conv 1" maps, less the response to a black image, is each filter, mirrored.
    #[test]
    fn filters_are_the_first_layers_weights_and_bad_input_is_refused() {
        let device = Device::flex();
        let model = DeepModelConfig::default_for(DeepModelKind::Cnn)
            .init(&device)
            .unwrap()
            .valid();
        let black = vec![0u8; PIXELS];
        let mut dot = black.clone();
        dot[10 * 28 + 10] = 255;
        let look = |px: &[u8]| block_on(look_inside(&model, px, Normalization::Unit)).unwrap();
        let (off, on) = (look(&black), look(&dot));
        let f = &on.filters;
        assert_eq!((f.channels, f.height, f.width), (32, 3, 3));
        let (a, b) = (&off.layers[0], &on.layers[0]);
        assert_eq!((b.name.as_str(), b.height), ("conv 1", 26));
        for c in 0..32 {
            for ky in 0..3 {
                for kx in 0..3 {
                    let at = c * 26 * 26 + (10 - ky) * 26 + (10 - kx);
                    let weight = f.values[c * 9 + ky * 3 + kx];
                    assert!((b.values[at] - a.values[at] - weight).abs() < 1e-5);
                }
            }
        }
        assert_eq!(
            block_on(look_inside(&model, &[0; 10], Normalization::Unit)).unwrap_err(),
            InsideError::BadInput(10)
        );
    }
}
