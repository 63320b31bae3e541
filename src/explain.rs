//! Grad-CAM: which parts of the image drove a convolutional model's decision. It works on the last
//! convolutional activations of the CNN (`[1, 128, 3, 3]`) and of the ResNet (`[1, 32, 7, 7]`), on any
//! device, with asynchronous readbacks.

use burn::tensor::Device;
use burn::tensor::activation::{relu, softmax};
use serde::Serialize;
use thiserror::Error;

use crate::backend::read_f32;
use crate::data::{NUM_CLASSES, PIXELS, SIDE};
use crate::metrics::argmax_rows;
use crate::models::DeepModel;
use crate::preprocess::{Normalization, normalize, to_image_tensor};

/// Errors of the explanation.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum ExplainError {
    /// The MLP has no convolutional layer to explain.
    #[error("Grad-CAM needs a convolutional model; the {0} has none")]
    NotConvolutional(&'static str),
    /// The class is not 0..=9.
    #[error("class {0} is outside 0..=9")]
    BadClass(usize),
    /// The input is not one 28×28 image.
    #[error("expected one 28×28 image (784 pixels), got {0} values")]
    BadInput(usize),
    /// Reading results back from the device failed.
    #[error("reading results back from the device failed: {0}")]
    Readback(String),
}

/// A Grad-CAM explanation of one image.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GradCam {
    /// The class explained.
    pub class: usize,
    /// The model's probabilities for the image.
    pub probabilities: Vec<f32>,
    /// The heatmap at the activations' resolution, row-major, `side × side`, scaled to [0, 1].
    pub coarse: Vec<f32>,
    /// Side of `coarse` (3 for the CNN, 7 for the ResNet).
    pub side: usize,
    /// The heatmap upsampled (bilinear) to 28 × 28, scaled to [0, 1].
    pub heatmap: Vec<f32>,
}

/// Grad-CAM of `class` (default: the predicted class) for one prepared image (784 pixels, 0..=255).
pub async fn grad_cam(
    model: &DeepModel,
    pixels: &[u8],
    norm: Normalization,
    class: Option<usize>,
    device: &Device,
) -> Result<GradCam, ExplainError> {
    if pixels.len() != PIXELS {
        return Err(ExplainError::BadInput(pixels.len()));
    }
    if let Some(c) = class.filter(|&c| c >= NUM_CLASSES) {
        return Err(ExplainError::BadClass(c));
    }
    let device = device.clone().without_autodiff();
    let x = to_image_tensor(normalize(pixels, norm), &device); // [1, 1, 28, 28]
    let features = model
        .features(x)
        .ok_or(ExplainError::NotConvolutional(model.kind().name()))?; // [1, C, H, W]
    let [_, _, h, w] = features.dims();
    // Gradients flow from the class score back to the activations only; the weights stay constants.
    let features = features.autodiff().require_grad();
    let logits = model.head(features.clone()); // [1, 10]
    let probabilities = read_f32(softmax(logits.clone().without_autodiff(), 1))
        .await
        .map_err(ExplainError::Readback)?;
    let class = class.unwrap_or_else(|| argmax_rows(&probabilities, NUM_CLASSES)[0] as usize);
    let score = logits.slice([0..1, class..class + 1]).sum(); // [1]
    let grads = score.backward();
    let grad = features
        .grad(&grads)
        .ok_or_else(|| ExplainError::Readback("no gradient reached the activations".into()))?; // [1, C, H, W]
    let weights = grad.mean_dim(3).mean_dim(2); // [1, C, 1, 1]
    let cam = relu((features.without_autodiff() * weights).sum_dim(1)); // [1, 1, H, W]
    let coarse = scale_to_unit(read_f32(cam).await.map_err(ExplainError::Readback)?);
    let heatmap = scale_to_unit(upsample_bilinear(&coarse, w, h, SIDE, SIDE));
    Ok(GradCam {
        class,
        probabilities,
        coarse,
        side: h,
        heatmap,
    })
}

fn scale_to_unit(mut v: Vec<f32>) -> Vec<f32> {
    let max = v.iter().copied().fold(0.0f32, f32::max);
    if max > 0.0 {
        v.iter_mut().for_each(|x| *x /= max);
    }
    v
}

/// Bilinear resize with pixel centres aligned (as image libraries do), clamped at the borders.
pub fn upsample_bilinear(src: &[f32], sw: usize, sh: usize, dw: usize, dh: usize) -> Vec<f32> {
    let sample = |x: f32, y: f32| {
        let x = x.clamp(0.0, (sw - 1) as f32);
        let y = y.clamp(0.0, (sh - 1) as f32);
        let (x0, y0) = (x.floor() as usize, y.floor() as usize);
        let (x1, y1) = ((x0 + 1).min(sw - 1), (y0 + 1).min(sh - 1));
        let (fx, fy) = (x - x0 as f32, y - y0 as f32);
        let top = src[y0 * sw + x0] * (1.0 - fx) + src[y0 * sw + x1] * fx;
        let bottom = src[y1 * sw + x0] * (1.0 - fx) + src[y1 * sw + x1] * fx;
        top * (1.0 - fy) + bottom * fy
    };
    let (sx, sy) = (sw as f32 / dw as f32, sh as f32 / dh as f32);
    (0..dh)
        .flat_map(|y| (0..dw).map(move |x| (x, y)))
        .map(|(x, y)| sample((x as f32 + 0.5) * sx - 0.5, (y as f32 + 0.5) * sy - 0.5))
        .collect()
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::models::{DeepModelConfig, DeepModelKind};
    use crate::train::block_on;

    #[test]
    fn bilinear_upsampling() {
        let up = upsample_bilinear(&[0.0, 1.0], 2, 1, 4, 1);
        assert_eq!(up, vec![0.0, 0.25, 0.75, 1.0]);
        assert_eq!(upsample_bilinear(&[3.0], 1, 1, 2, 2), vec![3.0; 4]);
    }

    #[test]
    fn heatmaps_of_untrained_models_have_the_right_shapes() {
        let device = Device::flex();
        let pixels: Vec<u8> = (0..PIXELS).map(|i| ((i * 7) % 256) as u8).collect();
        for (kind, side) in [(DeepModelKind::Cnn, 3), (DeepModelKind::ResNet, 7)] {
            let model = DeepModelConfig::default_for(kind).init(&device).unwrap();
            let cam = block_on(grad_cam(
                &model,
                &pixels,
                Normalization::Unit,
                Some(4),
                &device,
            ))
            .unwrap();
            assert_eq!(
                (cam.class, cam.side, cam.coarse.len(), cam.heatmap.len()),
                (4, side, side * side, PIXELS)
            );
            assert!(cam.heatmap.iter().all(|v| (0.0..=1.0).contains(v)));
            assert!((cam.probabilities.iter().sum::<f32>() - 1.0).abs() < 1e-4);
        }
        let mlp = DeepModelConfig::default_for(DeepModelKind::Mlp)
            .init(&device)
            .unwrap();
        let err =
            block_on(grad_cam(&mlp, &pixels, Normalization::Unit, None, &device)).unwrap_err();
        assert_eq!(err, ExplainError::NotConvolutional("mlp"));
        let cnn = DeepModelConfig::default_for(DeepModelKind::Cnn)
            .init(&device)
            .unwrap();
        assert_eq!(
            block_on(grad_cam(
                &cnn,
                &pixels,
                Normalization::Unit,
                Some(10),
                &device
            ))
            .unwrap_err(),
            ExplainError::BadClass(10)
        );
        assert_eq!(
            block_on(grad_cam(
                &cnn,
                &pixels[..10],
                Normalization::Unit,
                None,
                &device
            ))
            .unwrap_err(),
            ExplainError::BadInput(10)
        );
    }
}
