//! Preprocessing, all pure functions: normalisation, tensor reshaping, flattening for the classical
//! models, the seeded stratified split, augmentation, and [`prepare_image`], the one function that turns
//! any picture (dataset image, upload, webcam frame) into the 28 × 28 input the models see.

use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::data::{NUM_CLASSES, PIXELS, SIDE};
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

/// A row-major matrix of flattened images for the classical models: `rows × 784`.
#[derive(Debug, Clone, PartialEq)]
pub struct FlatImages {
    /// Number of images.
    pub rows: usize,
    /// `rows × 784` normalised values.
    pub values: Vec<f32>,
}

impl FlatImages {
    /// Features per row (784).
    pub const COLS: usize = PIXELS;

    /// Row `i`'s 784 values.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.values[i * PIXELS..(i + 1) * PIXELS]
    }
}

/// Flattens `n × 784` pixels into an `n × 784` matrix of normalised values.
pub fn flatten(pixels: &[u8], norm: Normalization) -> FlatImages {
    assert_eq!(
        pixels.len() % PIXELS,
        0,
        "pixels must hold whole 28×28 images"
    );
    FlatImages {
        rows: pixels.len() / PIXELS,
        values: normalize(pixels, norm),
    }
}

/// Errors of the preprocessing configs.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum ConfigError {
    /// A parameter is outside its allowed range.
    #[error("{name} = {value} is out of range ({allowed})")]
    OutOfRange {
        /// Parameter name.
        name: &'static str,
        /// The value given.
        value: f64,
        /// The allowed range, in words.
        allowed: &'static str,
    },
    /// The split would leave a class with no training or no validation image.
    #[error(
        "class {class} has {count} images: too few to split with validation fraction {fraction}"
    )]
    ClassTooSmall {
        /// The class.
        class: usize,
        /// Its image count.
        count: usize,
        /// The validation fraction asked for.
        fraction: f32,
    },
}

fn check(
    name: &'static str,
    value: f64,
    ok: bool,
    allowed: &'static str,
) -> Result<(), ConfigError> {
    if ok {
        Ok(())
    } else {
        Err(ConfigError::OutOfRange {
            name,
            value,
            allowed,
        })
    }
}

/// Train/validation split settings. Defaults: 10% validation per class (60k → 54k / 6k), seed 0.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SplitConfig {
    /// Fraction of each class held out for validation, in (0, 1). Default 0.1.
    pub validation_fraction: f32,
    /// Seed of the shuffle. Default 0.
    pub seed: u64,
}

impl Default for SplitConfig {
    fn default() -> Self {
        Self {
            validation_fraction: 0.1,
            seed: 0,
        }
    }
}

impl SplitConfig {
    /// A checked config.
    pub fn new(validation_fraction: f32, seed: u64) -> Result<Self, ConfigError> {
        let f = validation_fraction;
        check(
            "validation_fraction",
            f as f64,
            f > 0.0 && f < 1.0,
            "0 < fraction < 1",
        )?;
        Ok(Self {
            validation_fraction,
            seed,
        })
    }
}

/// Indices of a train/validation split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrainValSplit {
    /// Training indices, shuffled.
    pub train: Vec<usize>,
    /// Validation indices, shuffled.
    pub validation: Vec<usize>,
}

/// Splits `labels` so that every class keeps the same validation fraction. Seeded: the same config gives
/// the same split on every platform.
pub fn stratified_split(labels: &[u8], config: &SplitConfig) -> Result<TrainValSplit, ConfigError> {
    let config = SplitConfig::new(config.validation_fraction, config.seed)?;
    let mut rng = Rng::new(config.seed);
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); NUM_CLASSES];
    for (i, &l) in labels.iter().enumerate() {
        by_class[l as usize].push(i);
    }
    let (mut train, mut validation) = (Vec::new(), Vec::new());
    for (class, mut idx) in by_class.into_iter().enumerate() {
        if idx.is_empty() {
            continue;
        }
        let n_val = (idx.len() as f32 * config.validation_fraction).round() as usize;
        if n_val == 0 || n_val == idx.len() {
            return Err(ConfigError::ClassTooSmall {
                class,
                count: idx.len(),
                fraction: config.validation_fraction,
            });
        }
        rng.shuffle(&mut idx);
        validation.extend_from_slice(&idx[..n_val]);
        train.extend_from_slice(&idx[n_val..]);
    }
    rng.shuffle(&mut train);
    rng.shuffle(&mut validation);
    Ok(TrainValSplit { train, validation })
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
    pub fn validate(&self) -> Result<(), ConfigError> {
        let p = |x: f32| (0.0..=1.0).contains(&x);
        check(
            "crop_padding",
            self.crop_padding as f64,
            self.crop_padding <= 8,
            "0..=8",
        )?;
        check(
            "flip_probability",
            self.flip_probability as f64,
            p(self.flip_probability),
            "0..=1",
        )?;
        check(
            "erase_probability",
            self.erase_probability as f64,
            p(self.erase_probability),
            "0..=1",
        )?;
        let (lo, hi) = (self.erase_min_area, self.erase_max_area);
        check(
            "erase_min_area",
            lo as f64,
            lo > 0.0 && lo <= 1.0,
            "0 < area <= 1",
        )?;
        check(
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

/// Errors of image decoding and preparation.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ImageError {
    /// No bytes were given.
    #[error("the file is empty")]
    Empty,
    /// The bytes are not a PNG, JPEG or WebP image.
    #[error("this is not a supported image (PNG, JPEG or WebP)")]
    NotAnImage,
    /// The image is larger than allowed; it was not decoded.
    #[error(
        "the image is {width}×{height}, larger than the {max_pixels}-pixel limit; it was not decoded"
    )]
    TooLarge {
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
        /// The limit, in pixels.
        max_pixels: u64,
    },
    /// The image is damaged.
    #[error("the image could not be decoded: {0}")]
    Decode(String),
    /// A pixel buffer does not match its stated size.
    #[error("a {width}×{height} image needs {expected} bytes, {got} given")]
    BadBuffer {
        /// Width.
        width: u32,
        /// Height.
        height: u32,
        /// Bytes expected.
        expected: usize,
        /// Bytes given.
        got: usize,
    },
}

/// Largest image accepted, in pixels (about 40 megapixels). Checked from the header, before decoding.
pub const MAX_IMAGE_PIXELS: u64 = 40_000_000;

/// A grey image of any size, 0..=255, row-major.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrayImage {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width × height` luma values.
    pub pixels: Vec<u8>,
}

impl GrayImage {
    /// Converts an RGBA buffer (a canvas's `ImageData`, say) to grey with Rec. 601 luma, compositing
    /// transparent pixels over white as a browser shows them.
    pub fn from_rgba(width: u32, height: u32, rgba: &[u8]) -> Result<Self, ImageError> {
        let expected = width as usize * height as usize * 4;
        if rgba.len() != expected || width == 0 || height == 0 {
            return Err(ImageError::BadBuffer {
                width,
                height,
                expected,
                got: rgba.len(),
            });
        }
        let pixels = rgba
            .chunks_exact(4)
            .map(|p| {
                let luma = 0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32;
                let a = p[3] as f32 / 255.0;
                (luma * a + 255.0 * (1.0 - a)).round().clamp(0.0, 255.0) as u8
            })
            .collect();
        Ok(Self {
            width,
            height,
            pixels,
        })
    }

    /// Decodes a PNG, JPEG or WebP file. The dimensions are read from the header and checked against
    /// [`MAX_IMAGE_PIXELS`] before any pixel is decoded, so decompression bombs are refused cheaply.
    pub fn decode(bytes: &[u8]) -> Result<Self, ImageError> {
        use image::ImageReader;
        use std::io::Cursor;
        if bytes.is_empty() {
            return Err(ImageError::Empty);
        }
        let format = image::guess_format(bytes).map_err(|_| ImageError::NotAnImage)?;
        if !matches!(
            format,
            image::ImageFormat::Png | image::ImageFormat::Jpeg | image::ImageFormat::WebP
        ) {
            return Err(ImageError::NotAnImage);
        }
        let (width, height) = ImageReader::with_format(Cursor::new(bytes), format)
            .into_dimensions()
            .map_err(|e| ImageError::Decode(e.to_string()))?;
        if width as u64 * height as u64 > MAX_IMAGE_PIXELS || width == 0 || height == 0 {
            return Err(ImageError::TooLarge {
                width,
                height,
                max_pixels: MAX_IMAGE_PIXELS,
            });
        }
        let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
        let mut limits = image::Limits::default();
        limits.max_image_width = Some(width);
        limits.max_image_height = Some(height);
        limits.max_alloc = Some(MAX_IMAGE_PIXELS * 8);
        reader.limits(limits);
        let img = reader
            .decode()
            .map_err(|e| ImageError::Decode(e.to_string()))?;
        let rgba = img.to_rgba8();
        Self::from_rgba(width, height, rgba.as_raw())
    }
}

/// What [`prepare_image`] did to reach the 28×28 input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PreparedImage {
    /// The 784 pixels the model sees, white object on black, 0..=255.
    pub pixels: Vec<u8>,
    /// Whether a light background was detected and the image inverted.
    pub inverted: bool,
    /// The object's bounding box in the source, `[x, y, width, height]`.
    pub bbox: [u32; 4],
    /// Whether the image was already in dataset form (28×28, dark background) and passed through unchanged.
    pub passthrough: bool,
}

/// Settings of [`prepare_image`]. Defaults: background handling on, 1-pixel margin around the object.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PrepareConfig {
    /// Detect a light background and invert, subtract the background level, crop to the object.
    /// Default true. Off, the whole image is only squared, resized and contrast-stretched.
    pub background_handling: bool,
}

impl Default for PrepareConfig {
    fn default() -> Self {
        Self {
            background_handling: true,
        }
    }
}

/// Turns any grey image into the 28×28 model input, the single path shared by dataset images, uploads
/// and webcam frames:
///
/// 1. an image already in dataset form (28×28 with a dark background) passes through unchanged, so
///    training and inference see identical pixels;
/// 2. otherwise the background level is estimated from the border; a light background is inverted so
///    the object is light on dark, like Fashion-MNIST, and the background level is subtracted;
/// 3. the image is cropped to the object's bounding box and padded to a square, keeping the aspect ratio;
/// 4. it is resized to 28×28 with area averaging (antialiased);
/// 5. contrast is stretched so that the brightest pixel is 255.
pub fn prepare_image(image: &GrayImage, config: &PrepareConfig) -> PreparedImage {
    let (w, h) = (image.width as usize, image.height as usize);
    let border_level = border_median(image);
    let full_box = [0, 0, image.width, image.height];
    if w == SIDE && h == SIDE && border_level < 128 {
        return PreparedImage {
            pixels: image.pixels.clone(),
            inverted: false,
            bbox: full_box,
            passthrough: true,
        };
    }
    let inverted = border_level >= 128;
    let mut values: Vec<f32> = image
        .pixels
        .iter()
        .map(|&p| if inverted { 255.0 - p as f32 } else { p as f32 })
        .collect();
    let mut bbox = full_box;
    if config.background_handling {
        let bg = if inverted {
            255.0 - border_level as f32
        } else {
            border_level as f32
        };
        let span = (255.0 - bg).max(1.0);
        for v in &mut values {
            *v = ((*v - bg) / span * 255.0).clamp(0.0, 255.0);
        }
        bbox = object_bbox(&values, w, h).unwrap_or(full_box);
    }
    let [bx, by, bw, bh] = bbox.map(|v| v as usize);
    // Square canvas around the crop, object centred; 0 (background) elsewhere.
    let side = bw.max(bh);
    let mut square = vec![0.0f32; side * side];
    let (ox, oy) = ((side - bw) / 2, (side - bh) / 2);
    for y in 0..bh {
        let src = &values[(by + y) * w + bx..(by + y) * w + bx + bw];
        square[(oy + y) * side + ox..(oy + y) * side + ox + bw].copy_from_slice(src);
    }
    let resized = resize_area(&square, side, side, SIDE, SIDE);
    let max = resized.iter().copied().fold(0.0f32, f32::max);
    let scale = if max > 0.0 { 255.0 / max } else { 0.0 };
    let pixels = resized
        .iter()
        .map(|&v| (v * scale).round().clamp(0.0, 255.0) as u8)
        .collect();
    PreparedImage {
        pixels,
        inverted,
        bbox,
        passthrough: false,
    }
}

/// Median of the 1-pixel frame around the image: the background level.
fn border_median(image: &GrayImage) -> u8 {
    let (w, h) = (image.width as usize, image.height as usize);
    let mut hist = [0usize; 256];
    let mut n = 0;
    for y in 0..h {
        for x in 0..w {
            if y == 0 || x == 0 || y == h - 1 || x == w - 1 {
                hist[image.pixels[y * w + x] as usize] += 1;
                n += 1;
            }
        }
    }
    let mut seen = 0;
    for (v, c) in hist.iter().enumerate() {
        seen += c;
        if seen * 2 >= n {
            return v as u8;
        }
    }
    255
}

/// Bounding box `[x, y, w, h]` of the pixels that stand clearly above the background (after subtraction).
fn object_bbox(values: &[f32], w: usize, h: usize) -> Option<[u32; 4]> {
    const THRESHOLD: f32 = 40.0;
    let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
    for y in 0..h {
        for x in 0..w {
            if values[y * w + x] > THRESHOLD {
                x0 = x0.min(x);
                y0 = y0.min(y);
                x1 = x1.max(x);
                y1 = y1.max(y);
            }
        }
    }
    (x0 != usize::MAX).then(|| {
        [
            x0 as u32,
            y0 as u32,
            (x1 - x0 + 1) as u32,
            (y1 - y0 + 1) as u32,
        ]
    })
}

/// Resizes by exact area averaging: each output pixel is the mean of the source area it covers
/// (fractional coverage at the edges). Antialiased when shrinking; a smooth box upscale when growing.
pub fn resize_area(src: &[f32], sw: usize, sh: usize, dw: usize, dh: usize) -> Vec<f32> {
    // Per-axis weights: for output index o, the list of (source index, coverage).
    fn weights(s: usize, d: usize) -> Vec<Vec<(usize, f32)>> {
        let scale = s as f64 / d as f64;
        (0..d)
            .map(|o| {
                let (start, end) = (o as f64 * scale, (o + 1) as f64 * scale);
                let mut ws = Vec::new();
                let mut i = start.floor() as usize;
                while (i as f64) < end && i < s {
                    let cover = (end.min(i as f64 + 1.0) - start.max(i as f64)) as f32;
                    if cover > 0.0 {
                        ws.push((i, cover / scale as f32));
                    }
                    i += 1;
                }
                ws
            })
            .collect()
    }
    let (wx, wy) = (weights(sw, dw), weights(sh, dh));
    // Rows first: [sh, dw], then columns: [dh, dw].
    let mut tmp = vec![0.0f32; sh * dw];
    for y in 0..sh {
        for (ox, ws) in wx.iter().enumerate() {
            tmp[y * dw + ox] = ws.iter().map(|&(i, c)| src[y * sw + i] * c).sum();
        }
    }
    let mut out = vec![0.0f32; dh * dw];
    for (oy, ws) in wy.iter().enumerate() {
        for ox in 0..dw {
            out[oy * dw + ox] = ws.iter().map(|&(i, c)| tmp[i * dw + ox] * c).sum();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn flatten_rows() {
        let mut px = vec![0u8; 2 * PIXELS];
        px[PIXELS] = 255;
        let flat = flatten(&px, Normalization::Unit);
        assert_eq!(flat.rows, 2);
        assert_eq!(flat.row(1)[0], 1.0);
        assert_eq!(flat.row(0).len(), 784);
    }

    #[test]
    fn split_is_stratified_disjoint_and_seeded() {
        let labels: Vec<u8> = (0..6000).map(|i| (i % 10) as u8).collect();
        let s = stratified_split(&labels, &SplitConfig::default()).unwrap();
        assert_eq!((s.train.len(), s.validation.len()), (5400, 600));
        let mut per_class = [0; 10];
        for &i in &s.validation {
            per_class[labels[i] as usize] += 1;
        }
        assert_eq!(per_class, [60; 10]);
        let mut all: Vec<usize> = s.train.iter().chain(&s.validation).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..6000).collect::<Vec<_>>());
        assert_eq!(
            s,
            stratified_split(&labels, &SplitConfig::default()).unwrap()
        );
        assert_ne!(
            s,
            stratified_split(&labels, &SplitConfig::new(0.1, 1).unwrap()).unwrap()
        );
    }

    #[test]
    fn split_config_is_validated() {
        assert!(matches!(
            SplitConfig::new(0.0, 0),
            Err(ConfigError::OutOfRange { .. })
        ));
        assert!(matches!(
            SplitConfig::new(1.0, 0),
            Err(ConfigError::OutOfRange { .. })
        ));
        assert!(matches!(
            stratified_split(&[0, 1, 2], &SplitConfig::default()),
            Err(ConfigError::ClassTooSmall {
                class: 0,
                count: 1,
                ..
            })
        ));
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

    #[test]
    fn dataset_images_pass_through_unchanged() {
        let mut px = vec![0u8; PIXELS];
        px[400] = 200;
        let img = GrayImage {
            width: 28,
            height: 28,
            pixels: px.clone(),
        };
        let out = prepare_image(&img, &PrepareConfig::default());
        assert!(out.passthrough);
        assert_eq!(out.pixels, px);
    }

    #[test]
    fn light_background_photo_is_inverted_cropped_and_resized() {
        // 300×200 photo: light grey background (220), a dark 100×150 object (40) off-centre.
        let (w, h) = (300u32, 200u32);
        let mut px = vec![220u8; (w * h) as usize];
        for y in 30..180 {
            for x in 150..250 {
                px[y * w as usize + x] = 40;
            }
        }
        let out = prepare_image(
            &GrayImage {
                width: w,
                height: h,
                pixels: px,
            },
            &PrepareConfig::default(),
        );
        assert!(out.inverted && !out.passthrough);
        assert_eq!(out.bbox, [150, 30, 100, 150]);
        assert_eq!(out.pixels.len(), PIXELS);
        // The object is 2:3, so in 28×28 it spans all rows and about 18.7 of the columns, centred.
        let col_on = |x: usize| (0..SIDE).any(|y| out.pixels[y * SIDE + x] > 128);
        let on: Vec<usize> = (0..SIDE).filter(|&x| col_on(x)).collect();
        assert!((17..=20).contains(&on.len()), "{on:?}");
        assert!(on[0] >= 4 && *on.last().unwrap() <= 23);
        assert_eq!(out.pixels[14 * SIDE + 14], 255);
        assert_eq!(out.pixels[14 * SIDE], 0);
    }

    #[test]
    fn rgba_conversion_and_bad_buffers() {
        let g = GrayImage::from_rgba(2, 1, &[255, 255, 255, 255, 0, 0, 0, 0]).unwrap();
        assert_eq!(
            g.pixels,
            vec![255, 255],
            "transparent composites over white"
        );
        assert!(matches!(
            GrayImage::from_rgba(2, 2, &[0; 4]),
            Err(ImageError::BadBuffer { expected: 16, .. })
        ));
    }

    fn png_bytes(w: u32, h: u32) -> Vec<u8> {
        use image::ImageEncoder;
        let px: Vec<u8> = (0..w * h).map(|i| (i % 256) as u8).collect();
        let mut png = Vec::new();
        image::codecs::png::PngEncoder::new(&mut png)
            .write_image(&px, w, h, image::ExtendedColorType::L8)
            .unwrap();
        png
    }

    #[test]
    fn decoding_rejects_non_images_and_bombs() {
        assert_eq!(GrayImage::decode(&[]), Err(ImageError::Empty));
        assert_eq!(
            GrayImage::decode(b"hello, this is text"),
            Err(ImageError::NotAnImage)
        );
        // A PNG whose header declares 30000×30000 (IHDR width/height at bytes 16..24): refused from the
        // header alone, before any pixel is decoded.
        let mut png = png_bytes(30, 30);
        png[16..20].copy_from_slice(&30_000u32.to_be_bytes());
        png[20..24].copy_from_slice(&30_000u32.to_be_bytes());
        let err = GrayImage::decode(&png).unwrap_err();
        assert!(
            matches!(
                err,
                ImageError::TooLarge {
                    width: 30_000,
                    height: 30_000,
                    ..
                } | ImageError::Decode(_)
            ),
            "{err}"
        );
        // A truncated PNG is a decode error, not a panic.
        let png = png_bytes(30, 30);
        assert!(matches!(
            GrayImage::decode(&png[..png.len() / 2]),
            Err(ImageError::Decode(_))
        ));
    }

    #[test]
    fn decodes_a_real_png() {
        let g = GrayImage::decode(&png_bytes(64, 48)).unwrap();
        assert_eq!((g.width, g.height), (64, 48));
        assert_eq!(g.pixels[5], 5);
    }

    #[test]
    fn area_resize_averages() {
        let src = vec![0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0];
        assert_eq!(resize_area(&src, 4, 2, 2, 1), vec![0.5, 0.5]);
        let up = resize_area(&[2.0], 1, 1, 3, 3);
        assert_eq!(up, vec![2.0; 9]);
    }
}
