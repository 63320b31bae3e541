//! Grad-CAM: which parts of the image drove a convolutional model's decision. It works on the last
//! convolutional activations of the CNN (`[m, 128, 3, 3]` for a batch of `m` images) and of the ResNet
//! (`[m, 32, 7, 7]`), on any device, with asynchronous readbacks.

use burn::tensor::Device;
use burn::tensor::activation::{relu, softmax};
use serde::Serialize;
use thiserror::Error;

use crate::data::{NUM_CLASSES, PIXELS, SIDE};
use crate::deep::backend::read_f32;
use crate::deep::input::{Normalization, normalize, one_hot, to_image_tensor};
use crate::deep::models::DeepModel;
use crate::metrics::argmax_rows;

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
    let class = class.map(|c| [c]);
    let mut cams = grad_cams(model, pixels, class.as_ref().map(|c| &c[..]), norm, device).await?;
    Ok(cams.remove(0))
}

/// Images per forward and backward pass of [`grad_cams`].
const CAM_BATCH: usize = 64;

/// Grad-CAM of many prepared images (784 pixels each), of `classes[i]` for image `i` (`None`: each
/// image's predicted class), [`CAM_BATCH`] images to a pass: one forward pass, one backward pass and
/// two readbacks a batch rather than an image (on a GPU each readback waits for the device). The model
/// runs in inference mode, where the images of a batch do not interact: the gradient of the batch's
/// summed class scores with respect to one image's activations is the gradient of that image's own
/// score, so each map is the image's own.
async fn grad_cams(
    model: &DeepModel,
    images: &[u8],
    classes: Option<&[usize]>,
    norm: Normalization,
    device: &Device,
) -> Result<Vec<GradCam>, ExplainError> {
    let n = images.len() / PIXELS;
    if !images.len().is_multiple_of(PIXELS) || classes.is_some_and(|c| c.len() != n) {
        return Err(ExplainError::BadInput(images.len()));
    }
    if let Some(&c) = classes.into_iter().flatten().find(|&&c| c >= NUM_CLASSES) {
        return Err(ExplainError::BadClass(c));
    }
    let device = device.clone().without_autodiff();
    let mut out = Vec::with_capacity(n);
    for first in (0..n).step_by(CAM_BATCH) {
        let m = CAM_BATCH.min(n - first);
        let chunk = &images[first * PIXELS..(first + m) * PIXELS];
        let x = to_image_tensor(normalize(chunk, norm), &device); // [m, 1, 28, 28]
        let features = model
            .features(x)
            .ok_or(ExplainError::NotConvolutional(model.kind().name()))?; // [m, C, H, W]
        let [_, _, h, w] = features.dims();
        // Gradients flow from the class scores back to the activations only; the weights stay
        // constants.
        let features = features.autodiff().require_grad();
        let logits = model.head(features.clone()); // [m, 10]
        let probabilities = read_f32(softmax(logits.clone().without_autodiff(), 1))
            .await
            .map_err(ExplainError::Readback)?;
        let chosen: Vec<usize> = match classes {
            Some(c) => c[first..first + m].to_vec(),
            None => argmax_rows(&probabilities, NUM_CLASSES)
                .into_iter()
                .map(usize::from)
                .collect(),
        };
        let score = (logits * one_hot(chosen.iter().copied(), &device).autodiff()).sum(); // [1]
        let grads = score.backward();
        let grad = features
            .grad(&grads)
            .ok_or_else(|| ExplainError::Readback("no gradient reached the activations".into()))?; // [m, C, H, W]
        let weights = grad.mean_dim(3).mean_dim(2); // [m, C, 1, 1]
        let cam = relu((features.without_autodiff() * weights).sum_dim(1)); // [m, 1, H, W]
        let cams = read_f32(cam).await.map_err(ExplainError::Readback)?;
        for (i, &class) in chosen.iter().enumerate() {
            let coarse = scale_to_unit(cams[i * h * w..(i + 1) * h * w].to_vec());
            let heatmap = scale_to_unit(upsample_bilinear(&coarse, w, h, SIDE, SIDE));
            out.push(GradCam {
                class,
                probabilities: probabilities[i * NUM_CLASSES..(i + 1) * NUM_CLASSES].to_vec(),
                coarse,
                side: h,
                heatmap,
            });
        }
    }
    Ok(out)
}

/// How much a Grad-CAM map says about the model: the mean drop in the explained class's log-probability
/// when a share of the item's pixels is set to black, chosen three ways (the deletion test). A map that
/// shows what the model uses makes the first drop the largest.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DeletionScores {
    /// The pixels the image's own map ranks hottest.
    pub own_map: f64,
    /// The pixels ranked hottest by the map of another image of the same class.
    pub other_map: f64,
    /// The same number of the item's pixels, ranked by a random map of the same resolution (random
    /// values on the model's activation grid, upsampled like a Grad-CAM map): as contiguous as a real
    /// map's choice, placed by chance. (Scattered single pixels would not be a fair null: holes all over
    /// an item hurt a network more than one patch of the same size.)
    pub random: f64,
    /// Images scored.
    pub images: usize,
}

/// The deletion test over `images` (28×28 each, 0..=255) of `labels`: each image's map of its own label,
/// then `share` of its item pixels (the non-zero ones) masked by that map, by the map of the next image
/// of the same label in the list, and by a random map (`seed`). Images whose label appears once are
/// skipped.
pub async fn deletion_scores(
    model: &DeepModel,
    images: &[u8],
    labels: &[u8],
    norm: Normalization,
    share: f32,
    seed: u64,
    device: &Device,
) -> Result<DeletionScores, ExplainError> {
    let n = labels.len();
    if images.len() != n * PIXELS {
        return Err(ExplainError::BadInput(images.len()));
    }
    let classes: Vec<usize> = labels.iter().map(|&l| usize::from(l)).collect();
    let cams = grad_cams(model, images, Some(&classes), norm, device).await?;
    let side = cams.first().map_or(1, |c| c.side);
    let maps: Vec<Vec<f32>> = cams.into_iter().map(|c| c.heatmap).collect();
    let mut rng = crate::rng::Rng::new(seed);
    // Per scored image: the original, then masked by its own map, by the other image's, by a random one.
    let mut batch = Vec::new();
    let mut scored = Vec::new();
    for i in 0..n {
        let Some(partner) = (1..n)
            .map(|d| (i + d) % n)
            .find(|&j| labels[j] == labels[i])
        else {
            continue;
        };
        let image = &images[i * PIXELS..(i + 1) * PIXELS];
        let item: Vec<usize> = (0..PIXELS).filter(|&k| image[k] > 0).collect();
        let count = ((item.len() as f32 * share).ceil() as usize).min(item.len());
        let hottest = |map: &[f32]| {
            let mut order = item.clone();
            order.sort_by(|&a, &b| map[b].total_cmp(&map[a]));
            order.truncate(count);
            order
        };
        let coarse: Vec<f32> = (0..side * side).map(|_| rng.next_f32()).collect();
        let random_map = upsample_bilinear(&coarse, side, side, SIDE, SIDE);
        batch.extend_from_slice(image);
        for masked in [
            hottest(&maps[i]),
            hottest(&maps[partner]),
            hottest(&random_map),
        ] {
            let mut copy = image.to_vec();
            masked.iter().for_each(|&k| copy[k] = 0);
            batch.extend_from_slice(&copy);
        }
        scored.push(labels[i] as usize);
    }
    let probs = crate::deep::train::predict_probabilities(model, &batch, norm, device, 256)
        .await
        .map_err(|e| ExplainError::Readback(e.to_string()))?;
    let log_p =
        |row: usize, class: usize| f64::from(probs[row * NUM_CLASSES + class].max(1e-30)).ln();
    let mut drops = [0.0f64; 3];
    for (s, &class) in scored.iter().enumerate() {
        let original = log_p(4 * s, class);
        for (v, drop) in drops.iter_mut().enumerate() {
            *drop += original - log_p(4 * s + 1 + v, class);
        }
    }
    let m = scored.len().max(1) as f64;
    Ok(DeletionScores {
        own_map: drops[0] / m,
        other_map: drops[1] / m,
        random: drops[2] / m,
        images: scored.len(),
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
    use crate::deep::models::{DeepModelConfig, DeepModelKind};
    use crate::deep::train::block_on;

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

    /// A batch's maps are each image's own. 70 sample images (a full pass of [`CAM_BATCH`] and a partial
    /// one), explained for the classes `i % 10`, give for each image the probabilities and the coarse map
    /// of that image explained alone, on the shipped CNN and ResNet (to 1e-5: a batch's kernels may sum
    /// in another order); without classes, each image's predicted class is explained.
    #[test]
    fn a_batchs_maps_are_each_images_own() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/");
        let read = |name: &str| std::fs::read(format!("{dir}{name}")).unwrap();
        let ds = crate::data::Dataset::from_idx(
            &read("www/data/sample-images-idx3-ubyte.gz"),
            &read("www/data/sample-labels-idx1-ubyte.gz"),
        )
        .unwrap();
        let n = 70;
        let images = &ds.pixels()[..n * PIXELS];
        let classes: Vec<usize> = (0..n).map(|i| i % 10).collect();
        let device = Device::flex();
        for (kind, file) in [
            (DeepModelKind::Cnn, "pretrained/cnn.weights"),
            (DeepModelKind::ResNet, "pretrained/resnet.weights"),
        ] {
            let (model, header) =
                crate::deep::weights::load(&read(file), Some(kind), &device).unwrap();
            let norm = header.normalization;
            let batch = block_on(grad_cams(&model, images, Some(&classes), norm, &device)).unwrap();
            let predicted = block_on(grad_cams(&model, images, None, norm, &device)).unwrap();
            assert_eq!(batch.len(), n);
            for (i, cam) in batch.iter().enumerate() {
                let image = &images[i * PIXELS..(i + 1) * PIXELS];
                let alone = block_on(grad_cam(&model, image, norm, Some(i % 10), &device)).unwrap();
                assert_eq!(cam.class, i % 10);
                for (a, b) in [
                    (&cam.coarse, &alone.coarse),
                    (&cam.probabilities, &alone.probabilities),
                ] {
                    let worst = a
                        .iter()
                        .zip(b)
                        .map(|(x, y)| (x - y).abs())
                        .fold(0.0, f32::max);
                    assert!(worst < 1e-5, "{kind:?}, image {i}: {a:?} against {b:?}");
                }
                let top = argmax_rows(&alone.probabilities, NUM_CLASSES)[0] as usize;
                assert_eq!(predicted[i].class, top, "{kind:?}, image {i}");
            }
        }
    }
}
