//! The deep models' input: 28 × 28 pixels normalised into `[N, 1, 28, 28]` tensors, and the augmentation
//! of training images, all pure functions. Pictures from elsewhere reach the 28 × 28 form through
//! [`crate::photo`].

use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::data::{NUM_CLASSES, OutOfRange, PIXELS, SIDE, check_range};
use crate::rng::Rng;

/// Mean pixel value of the 60,000 training images, on the 0..=255 scale.
pub const TRAIN_PIXEL_MEAN: f32 = 72.940_35;
/// Standard deviation of the training pixels, on the 0..=255 scale.
pub const TRAIN_PIXEL_STD: f32 = 90.021_18;

/// How 0..=255 pixels become model inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Normalization {
    /// `x / 255`, into [0, 1]. The default, as in the original study.
    #[default]
    Unit,
    /// `(x − mean) / std` with the training set's statistics.
    Standardize,
}

impl Normalization {
    /// Maps one 0..=255 pixel.
    #[inline]
    pub fn apply(self, pixel: u8) -> f32 {
        match self {
            Normalization::Unit => pixel as f32 / 255.0,
            Normalization::Standardize => (pixel as f32 - TRAIN_PIXEL_MEAN) / TRAIN_PIXEL_STD,
        }
    }

    /// The model-input value of a black (0) pixel: what padding and erasing fill with.
    pub fn zero(self) -> f32 {
        self.apply(0)
    }
}

/// Normalises pixels (any count) into a new `Vec<f32>` of the same length.
pub fn normalize(pixels: &[u8], norm: Normalization) -> Vec<f32> {
    pixels.iter().map(|&p| norm.apply(p)).collect()
}

/// Reshapes `n × 784` normalised values into a tensor of shape `[n, 1, 28, 28]` on `device`.
pub fn to_image_tensor(values: Vec<f32>, device: &Device) -> Tensor<4> {
    assert_eq!(
        values.len() % PIXELS,
        0,
        "image batch must hold whole 28×28 images"
    );
    let n = values.len() / PIXELS;
    Tensor::from_data(TensorData::new(values, [n, 1, SIDE, SIDE]), device)
}

/// One row per class in `classes` (each `0..10`), 1 at that class and 0 elsewhere: `[n, 10]` on `device`,
/// the mask that picks each image's score or loss out of a batch's `[n, 10]` outputs.
pub fn one_hot(classes: impl ExactSizeIterator<Item = usize>, device: &Device) -> Tensor<2> {
    let n = classes.len();
    let mut rows = vec![0f32; n * NUM_CLASSES];
    for (i, c) in classes.enumerate() {
        rows[i * NUM_CLASSES + c] = 1.0;
    }
    Tensor::from_data(TensorData::new(rows, [n, NUM_CLASSES]), device)
}

/// Errors of the augmentation settings.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum AugmentError {
    /// A parameter is outside its allowed range.
    #[error(transparent)]
    OutOfRange(#[from] OutOfRange),
}

/// Augmentation settings. Defaults: pad 2 then random 28×28 crop, horizontal flip with p = 0.5,
/// random erasing with p = 0.25 of 2–15% of the image.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AugmentConfig {
    /// Zero padding before the random crop, in pixels (0 disables translation). Default 2, at most 8.
    pub crop_padding: usize,
    /// Probability of a horizontal flip, in [0, 1]. Default 0.5.
    pub flip_probability: f32,
    /// Probability of erasing one random rectangle, in [0, 1]. Default 0.25.
    pub erase_probability: f32,
    /// Smallest erased area as a fraction of the image, in (0, 1]. Default 0.02.
    pub erase_min_area: f32,
    /// Largest erased area as a fraction of the image, in [min, 1]. Default 0.15.
    pub erase_max_area: f32,
}

impl Default for AugmentConfig {
    fn default() -> Self {
        Self {
            crop_padding: 2,
            flip_probability: 0.5,
            erase_probability: 0.25,
            erase_min_area: 0.02,
            erase_max_area: 0.15,
        }
    }
}

impl AugmentConfig {
    /// No augmentation at all.
    pub fn none() -> Self {
        Self {
            crop_padding: 0,
            flip_probability: 0.0,
            erase_probability: 0.0,
            ..Self::default()
        }
    }

    /// Checks every field's range.
    pub fn validate(&self) -> Result<(), AugmentError> {
        let p = |x: f32| (0.0..=1.0).contains(&x);
        check_range(
            "crop_padding",
            self.crop_padding as f64,
            self.crop_padding <= 8,
            "0..=8",
        )?;
        check_range(
            "flip_probability",
            self.flip_probability as f64,
            p(self.flip_probability),
            "0..=1",
        )?;
        check_range(
            "erase_probability",
            self.erase_probability as f64,
            p(self.erase_probability),
            "0..=1",
        )?;
        let (lo, hi) = (self.erase_min_area, self.erase_max_area);
        check_range(
            "erase_min_area",
            lo as f64,
            lo > 0.0 && lo <= 1.0,
            "0 < area <= 1",
        )?;
        check_range(
            "erase_max_area",
            hi as f64,
            hi >= lo && hi <= 1.0,
            "erase_min_area <= area <= 1",
        )?;
        Ok(())
    }
}

/// Writes an augmented copy of one normalised 28×28 image (`src`, 784 values) into `dst`.
/// `fill` is the value of a black pixel under the normalisation in use ([`Normalization::zero`]).
pub fn augment_image(
    src: &[f32],
    dst: &mut [f32],
    config: &AugmentConfig,
    fill: f32,
    rng: &mut Rng,
) {
    assert_eq!(src.len(), PIXELS);
    assert_eq!(dst.len(), PIXELS);
    let pad = config.crop_padding as isize;
    // Translation: a random 28×28 window of the zero-padded image is a shift by (dy, dx) in [-pad, pad].
    let (dy, dx) = if pad > 0 {
        (
            rng.below(2 * pad as usize + 1) as isize - pad,
            rng.below(2 * pad as usize + 1) as isize - pad,
        )
    } else {
        (0, 0)
    };
    let flip = rng.chance(config.flip_probability);
    let s = SIDE as isize;
    for y in 0..s {
        for x in 0..s {
            let (sy, mut sx) = (y + dy, x + dx);
            if flip {
                sx = s - 1 - sx;
            }
            dst[(y * s + x) as usize] = if (0..s).contains(&sy) && (0..s).contains(&sx) {
                src[(sy * s + sx) as usize]
            } else {
                fill
            };
        }
    }
    if rng.chance(config.erase_probability) {
        let area = rng.range_f32(config.erase_min_area, config.erase_max_area) * PIXELS as f32;
        let aspect = rng.range_f32(0.3f32.ln(), (1.0f32 / 0.3).ln()).exp();
        let h = ((area * aspect).sqrt().round() as usize).clamp(1, SIDE);
        let w = ((area / aspect).sqrt().round() as usize).clamp(1, SIDE);
        let (y0, x0) = (rng.below(SIDE - h + 1), rng.below(SIDE - w + 1));
        for y in y0..y0 + h {
            dst[y * SIDE + x0..y * SIDE + x0 + w].fill(fill);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_hot_rows_mark_each_class() {
        let rows = one_hot([3usize, 0, 9].into_iter(), &Device::flex());
        assert_eq!(rows.dims(), [3, NUM_CLASSES]);
        let values = rows.into_data().try_to_vec::<f32>().unwrap();
        for (i, c) in [3usize, 0, 9].into_iter().enumerate() {
            let row = &values[i * NUM_CLASSES..(i + 1) * NUM_CLASSES];
            let expected: Vec<f32> = (0..NUM_CLASSES)
                .map(|k| f32::from(u8::from(k == c)))
                .collect();
            assert_eq!(row, expected);
        }
    }

    #[test]
    fn normalisations() {
        assert_eq!(
            normalize(&[0, 255, 51], Normalization::Unit),
            vec![0.0, 1.0, 0.2]
        );
        let s = normalize(&[0, 255], Normalization::Standardize);
        assert!((s[0] - (-72.94035 / 90.02118)).abs() < 1e-5);
        assert!((s[1] - (255.0 - 72.94035) / 90.02118).abs() < 1e-5);
        assert_eq!(Normalization::Unit.zero(), 0.0);
    }

    #[test]
    fn reshape_to_nchw() {
        let device = Device::flex();
        let t = to_image_tensor(normalize(&[7; 3 * PIXELS], Normalization::Unit), &device);
        assert_eq!(t.dims(), [3, 1, 28, 28]);
    }

    fn square_image() -> Vec<f32> {
        // A bright 6×6 square at rows 4..10, cols 2..8.
        let mut img = vec![0.0f32; PIXELS];
        for y in 4..10 {
            for x in 2..8 {
                img[y * SIDE + x] = 1.0;
            }
        }
        img
    }

    #[test]
    fn augment_none_is_identity() {
        let src = square_image();
        let mut dst = vec![9.0; PIXELS];
        augment_image(
            &src,
            &mut dst,
            &AugmentConfig::none(),
            0.0,
            &mut Rng::new(3),
        );
        assert_eq!(src, dst);
    }

    #[test]
    fn augment_flip_mirrors() {
        let src = square_image();
        let mut dst = vec![0.0; PIXELS];
        let cfg = AugmentConfig {
            flip_probability: 1.0,
            ..AugmentConfig::none()
        };
        augment_image(&src, &mut dst, &cfg, 0.0, &mut Rng::new(3));
        assert_eq!(dst[4 * SIDE + 27 - 2], 1.0);
        assert_eq!(dst[4 * SIDE + 2], 0.0);
    }

    #[test]
    fn augment_translation_keeps_mass_and_stays_within_padding() {
        let src = square_image();
        let cfg = AugmentConfig {
            crop_padding: 2,
            ..AugmentConfig::none()
        };
        let mut rng = Rng::new(5);
        let mut moved = false;
        for _ in 0..20 {
            let mut dst = vec![0.0; PIXELS];
            augment_image(&src, &mut dst, &cfg, 0.0, &mut rng);
            assert_eq!(dst.iter().sum::<f32>(), 36.0, "the square is never cut off");
            let first = dst.iter().position(|&v| v == 1.0).unwrap();
            let (y, x) = (first / SIDE, first % SIDE);
            assert!(
                (2..=6).contains(&y) && x <= 4,
                "shift beyond padding: ({y}, {x})"
            );
            moved |= dst != src;
        }
        assert!(moved);
    }

    #[test]
    fn augment_erasing_fills_a_rectangle() {
        let src = vec![1.0f32; PIXELS];
        let cfg = AugmentConfig {
            erase_probability: 1.0,
            ..AugmentConfig::none()
        };
        let mut dst = vec![0.0; PIXELS];
        augment_image(&src, &mut dst, &cfg, -0.5, &mut Rng::new(11));
        let erased = dst.iter().filter(|&&v| v == -0.5).count();
        assert!(
            (1..=(0.2 * PIXELS as f32) as usize).contains(&erased),
            "{erased}"
        );
        assert!(
            AugmentConfig {
                erase_min_area: 0.5,
                erase_max_area: 0.1,
                ..Default::default()
            }
            .validate()
            .is_err()
        );
        assert!(
            AugmentConfig {
                crop_padding: 9,
                ..Default::default()
            }
            .validate()
            .is_err()
        );
        AugmentConfig::default().validate().unwrap();
    }
}
