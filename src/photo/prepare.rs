//! [`prepare_image`]: from a photo to the 28 × 28 input the models see, shaped like a Fashion-MNIST
//! image (the item light on black, cropped to its box, its long side filling the frame).
//!
//! The item is found against a model of the background rather than by one grey threshold:
//! - the photo is reduced to at most [`WORKING_SIDE`] pixels a side (area averaging), converted to
//!   CIELAB and smoothed 3 × 3, which also averages sensor noise and fine texture;
//! - a quadratic surface per Lab channel is fitted to a band along the border, by least squares with
//!   the worst-fitting border pixels trimmed (an item touching the frame); it absorbs colour, gradients
//!   and vignetting, and the spread of the border's residuals measures the background's own noise and
//!   texture;
//! - when that noise is high (a strongly textured table), the item is looked for on a map smoothed
//!   further, which averages the texture away ([`TEXTURED_NOISE`]);
//! - each pixel's colour distance (ΔE) to that surface is thresholded twice, relative to that noise: a
//!   low threshold gives candidate pixels, cleaned by a 3 × 3 opening and closing; the candidate region
//!   with the most distance among pixels above a high threshold (at least Otsu's threshold) is the item;
//! - the item's intensity is its distance to the background, so a dark item on a light table and a light
//!   item on a dark one both come out light on black, as in Fashion-MNIST; outside the item is black;
//! - no region, a tiny one, or one that barely stands out from the background's own texture is "no item"
//!   ([`ItemVerdict`]), so an empty table, noise or a blank picture is not given a class.

use serde::Serialize;

use super::decode::Photo;
use crate::data::SIDE;

/// The longest side of the working copy in which the item is found. Large enough for an item of a
/// quarter of the frame to keep about 50 pixels across; small enough for live webcam frames.
const WORKING_SIDE: usize = 192;

/// Below this mean distance to the background, in multiples of the background's own noise, a region is
/// not taken for an item. Chosen on synthetic training photos and empty backgrounds
/// (`photo::synth`, training seeds), never on the benchmark's photos.
const MIN_ITEM_CONTRAST: f32 = 2.2;
/// The low threshold is at least this share of the median distance of the pixels above the high one.
/// Chosen among 0–0.4 on training-range photos of validation items (`photos bench --validation`) under
/// the condition that the shop-style photos of `tests/pretrained.rs` lose nothing (faint parts of an
/// item are cut above 0.2).
const LOW_SHARE_OF_ITEM: f32 = 0.2;
/// Above this background noise (ΔE, the border's 90th percentile), the background is taken as textured
/// (wood grain, weave): the mask is then found on a map smoothed by a further
/// `(2 × TEXTURE_SMOOTHING_RADIUS + 1)²` mean, which averages the texture away while a large, smooth item
/// keeps its distance; the item's intensity still comes from the finer map. Both chosen on training-range
/// photos of validation items (`photos bench --validation`, its rows by texture strength): the share of
/// strongly textured items said to hold no item fell from 1.4% to 0.4% with plain backgrounds unchanged.
const TEXTURED_NOISE: f32 = 10.0;
/// See [`TEXTURED_NOISE`].
const TEXTURE_SMOOTHING_RADIUS: usize = 2;
/// The smallest item, as a share of the working image's area.
const MIN_ITEM_AREA: f32 = 0.004;

/// Settings of [`prepare_image`]. Default: background handling on.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
pub struct PrepareConfig {
    /// Find the item against the background model and cut it out. Default true. Off, the whole picture
    /// is only turned to grey (inverted when its border is light), squared, resized and stretched: the
    /// naive path, kept to measure what the item search brings.
    pub background_handling: bool,
}

impl Default for PrepareConfig {
    fn default() -> Self {
        Self {
            background_handling: true,
        }
    }
}

/// Whether the picture shows an item the models can be asked about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemVerdict {
    /// An item stands out from the background.
    Found,
    /// The picture is already a dataset image (28 × 28, dark background) and was used as it is.
    DatasetImage,
    /// Background handling was off: nothing was looked for.
    Unchecked,
    /// The picture is too small to look for an item in (under 8 pixels a side).
    TooSmall,
    /// Nothing stands out from the background (a blank picture, an empty table, noise).
    NoItem,
}

impl ItemVerdict {
    /// Whether the models' answers mean anything for this picture.
    pub(crate) fn item_found(self) -> bool {
        matches!(self, Self::Found | Self::DatasetImage | Self::Unchecked)
    }

    /// The verdict in words, for the page and the CLI.
    pub fn message(self) -> &'static str {
        match self {
            Self::Found => "item found",
            Self::DatasetImage => "a dataset image, used as it is",
            Self::Unchecked => "used whole (background handling off)",
            Self::TooSmall => "no item found: the picture is too small",
            Self::NoItem => "no item found: nothing stands out from the background",
        }
    }
}

/// The working copy's view of what was found: the item's intensity on black, as the page shows it
/// beside the 28 × 28 input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Cutout {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width × height` values, 0 outside the item.
    pub pixels: Vec<u8>,
}

/// What [`prepare_image`] found and made.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PreparedImage {
    /// The 784 pixels the models see, the item light on black, 0..=255.
    pub pixels: Vec<u8>,
    /// Whether an item was found, and if not, why.
    pub verdict: ItemVerdict,
    /// `verdict.item_found()`, for the page.
    pub item_found: bool,
    /// Whether the background is light (the item was darker than it, and appears inverted).
    pub light_background: bool,
    /// The item's bounding box in the source photo, `[x, y, width, height]`.
    pub bbox: [u32; 4],
    /// The item's mean colour distance to the background, in multiples of the background's noise
    /// (0 when nothing was looked for).
    pub contrast: f32,
    /// The item cut out in the working copy (empty for dataset images).
    pub(crate) cutout: Cutout,
}

impl PreparedImage {
    /// A result made from the whole picture, with no item cut out.
    fn whole(
        pixels: Vec<u8>,
        verdict: ItemVerdict,
        light_background: bool,
        bbox: [u32; 4],
    ) -> Self {
        Self {
            pixels,
            verdict,
            item_found: verdict.item_found(),
            light_background,
            bbox,
            contrast: 0.0,
            cutout: Cutout {
                width: 0,
                height: 0,
                pixels: Vec::new(),
            },
        }
    }
}

/// Turns any photo into the 28 × 28 model input: the single path shared by dataset images, uploads,
/// webcam frames, the CLI and the synthetic training photos (module docs for the method).
///
/// A 28 × 28 picture with a dark border is taken for a dataset image and passes through unchanged, so
/// training and inference see identical pixels.
pub fn prepare_image(photo: &Photo, config: &PrepareConfig) -> PreparedImage {
    let (w, h) = (photo.width as usize, photo.height as usize);
    let full_box = [0, 0, photo.width, photo.height];
    let luma = photo.luma();
    let border_light = border_median(&luma, w, h) >= 128;
    if w == SIDE && h == SIDE && !border_light {
        let verdict = if luma.iter().any(|&p| p > 0) {
            ItemVerdict::DatasetImage
        } else {
            ItemVerdict::NoItem
        };
        return PreparedImage::whole(luma, verdict, false, full_box);
    }
    let naive = |verdict: ItemVerdict| {
        let grey: Vec<f32> = luma
            .iter()
            .map(|&p| if border_light { 255 - p } else { p } as f32)
            .collect();
        PreparedImage::whole(
            crop_square_resize(&grey, w, h, full_box),
            verdict,
            border_light,
            full_box,
        )
    };
    if !config.background_handling {
        return naive(ItemVerdict::Unchecked);
    }
    if w.min(h) < 8 {
        return naive(ItemVerdict::TooSmall);
    }
    let scale = (WORKING_SIDE as f64 / w.max(h) as f64).min(1.0);
    let ww = ((w as f64 * scale).round() as usize).max(8);
    let wh = ((h as f64 * scale).round() as usize).max(8);
    let small = resize_rgb(&photo.rgb, w, h, ww, wh);
    let lab = Lab::from_rgb(&small, ww, wh);
    let background = BackgroundModel::fit(&lab, ww, wh);
    // The item's intensity comes from this map; the mask, from a smoother one on textured backgrounds.
    let fine_distance = background.distance(&lab, ww, wh);
    let coarse = (background.noise > TEXTURED_NOISE).then(|| {
        let smooth = lab.smoothed(TEXTURE_SMOOTHING_RADIUS, ww, wh);
        let model = BackgroundModel::fit(&smooth, ww, wh);
        (model.distance(&smooth, ww, wh), model.noise)
    });
    let (distance, noise) = match &coarse {
        Some((map, noise)) => (map.as_slice(), *noise),
        None => (fine_distance.as_slice(), background.noise),
    };
    let high = otsu(distance).max(3.0 * noise).max(8.0);
    // The low threshold also follows the item's own strength, so that faint blobs of a cloudy table
    // touching a strong item do not join it.
    let mut strong: Vec<f32> = distance.iter().copied().filter(|&d| d > high).collect();
    let low = (2.0 * noise)
        .max(4.0)
        .max(LOW_SHARE_OF_ITEM * percentile(&mut strong, 0.5));
    let mut candidates: Vec<bool> = distance.iter().map(|&d| d > low).collect();
    candidates = dilate(&erode(&candidates, ww, wh), ww, wh);
    candidates = erode(&dilate(&candidates, ww, wh), ww, wh);
    let item = best_region(&candidates, distance, high, ww, wh);
    let Some(mask) = item else {
        return naive(ItemVerdict::NoItem);
    };
    let inside = selected(distance, &mask);
    let area = inside.len();
    let mean_distance = inside.iter().map(|&d| d as f64).sum::<f64>() / area.max(1) as f64;
    let contrast = (mean_distance / noise as f64) as f32;
    if (area as f32) < MIN_ITEM_AREA * (ww * wh) as f32 || contrast < MIN_ITEM_CONTRAST {
        let mut out = naive(ItemVerdict::NoItem);
        out.contrast = contrast;
        return out;
    }
    // The item on black: its distance to the background, stretched so that its bright end is 255.
    let top = percentile(&mut selected(&fine_distance, &mask), 0.98).max(1e-3);
    let intensity: Vec<f32> = mask
        .iter()
        .zip(&fine_distance)
        .map(|(&m, &d)| if m { (d / top * 255.0).min(255.0) } else { 0.0 })
        .collect();
    let bbox_small = mask_bbox(&mask, ww, wh);
    let pixels = crop_square_resize(&intensity, ww, wh, bbox_small);
    let (sx, sy) = (w as f64 / ww as f64, h as f64 / wh as f64);
    let [bx, by, bw, bh] = bbox_small.map(|v| v as f64);
    let bbox = [
        (bx * sx).floor() as u32,
        (by * sy).floor() as u32,
        ((bw * sx).round() as u32).clamp(1, photo.width),
        ((bh * sy).round() as u32).clamp(1, photo.height),
    ];
    PreparedImage {
        pixels,
        verdict: ItemVerdict::Found,
        item_found: true,
        light_background: background.light(),
        bbox,
        contrast,
        cutout: Cutout {
            width: ww as u32,
            height: wh as u32,
            pixels: intensity.iter().map(|&v| v.round() as u8).collect(),
        },
    }
}

/// Median of the 1-pixel frame around a grey image.
fn border_median(luma: &[u8], w: usize, h: usize) -> u8 {
    let mut hist = [0usize; 256];
    let mut n = 0;
    for y in 0..h {
        for x in 0..w {
            if y == 0 || x == 0 || y == h - 1 || x == w - 1 {
                hist[luma[y * w + x] as usize] += 1;
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

/// Crops `values` (`w × h`) to `bbox`, centres the crop on a black square, resizes it to 28 × 28 by area
/// averaging and stretches it so that its brightest pixel is 255.
///
/// The square is never built: a strip of a picture (48,387 × 1 pixels, say, within the pixel cap) would
/// make a square of 48,387² floats, 9 GB. Its padding is black, so it adds only zeros to the area sums;
/// the sums run over the crop's own pixels, in the same order, and give `resize_area`'s result on the
/// padded square bit for bit (`crop_square_resize_equals_the_padded_square_resized`).
fn crop_square_resize(values: &[f32], w: usize, h: usize, bbox: [u32; 4]) -> Vec<u8> {
    let [bx, by, bw, bh] = bbox.map(|v| v as usize);
    debug_assert!(bx + bw <= w && by + bh <= h);
    let side = bw.max(bh);
    let (ox, oy) = ((side - bw) / 2, (side - bh) / 2);
    let (wx, wy) = (
        crop_area_weights(side, SIDE, ox, bw),
        crop_area_weights(side, SIDE, oy, bh),
    );
    // Rows first: the crop's rows across the square's 28 columns, [bh, 28]; then columns: [28, 28].
    let mut rows = vec![0.0f32; bh * SIDE];
    for y in 0..bh {
        let src = &values[(by + y) * w + bx..(by + y) * w + bx + bw];
        for (out, ws) in rows[y * SIDE..(y + 1) * SIDE].iter_mut().zip(&wx) {
            for &(i, cover) in ws {
                *out += src[i] * cover;
            }
        }
    }
    let mut resized = vec![0.0f32; SIDE * SIDE];
    for (dst, ws) in resized.chunks_mut(SIDE).zip(&wy) {
        for &(i, cover) in ws {
            for (d, s) in dst.iter_mut().zip(&rows[i * SIDE..(i + 1) * SIDE]) {
                *d += s * cover;
            }
        }
    }
    stretch_to_bytes(&resized)
}

/// Bytes scaled so that the largest value becomes 255 (all zeros stay zeros).
fn stretch_to_bytes(values: &[f32]) -> Vec<u8> {
    let max = values.iter().copied().fold(0.0f32, f32::max);
    let scale = if max > 0.0 { 255.0 / max } else { 0.0 };
    values
        .iter()
        .map(|&v| (v * scale).round().clamp(0.0, 255.0) as u8)
        .collect()
}

/// [`area_weights`] of an axis of `s` pixels shrunk or grown to `d`, kept only where they fall on the
/// `len` pixels from `offset` (the rest of the axis is black padding), indexed from `offset`. Costs
/// O(len + d), however long the padded axis.
fn crop_area_weights(s: usize, d: usize, offset: usize, len: usize) -> Vec<Vec<(usize, f32)>> {
    let scale = s as f64 / d as f64;
    (0..d)
        .map(|o| {
            let (start, end) = (o as f64 * scale, (o + 1) as f64 * scale);
            let mut ws = Vec::new();
            let mut i = (start.floor() as usize).max(offset);
            while (i as f64) < end && i < (offset + len).min(s) {
                let cover = (end.min(i as f64 + 1.0) - start.max(i as f64)) as f32;
                if cover > 0.0 {
                    ws.push((i - offset, cover / scale as f32));
                }
                i += 1;
            }
            ws
        })
        .collect()
}

/// Per-axis area weights: for each output index, the source indices it covers and their shares.
fn area_weights(s: usize, d: usize) -> Vec<Vec<(usize, f32)>> {
    crop_area_weights(s, d, 0, s)
}

/// Resizes by exact area averaging: each output pixel is the mean of the source area it covers
/// (fractional coverage at the edges). Antialiased when shrinking; a smooth box upscale when growing.
/// The tests' reference for the photo path's resizing (which resizes interleaved channels, or a crop
/// without building its padded square).
#[cfg(test)]
fn resize_area(src: &[f32], sw: usize, sh: usize, dw: usize, dh: usize) -> Vec<f32> {
    resize_channels(src, sw, sh, dw, dh, 1)
}

/// Area resizing (each output pixel the mean of the source area it covers) of interleaved channels.
fn resize_channels(src: &[f32], sw: usize, sh: usize, dw: usize, dh: usize, c: usize) -> Vec<f32> {
    let (wx, wy) = (area_weights(sw, dw), area_weights(sh, dh));
    // Rows first: [sh, dw], then columns: [dh, dw].
    let mut tmp = vec![0.0f32; sh * dw * c];
    for y in 0..sh {
        let row = &src[y * sw * c..(y + 1) * sw * c];
        for (ox, ws) in wx.iter().enumerate() {
            let out = &mut tmp[(y * dw + ox) * c..(y * dw + ox + 1) * c];
            for &(i, cover) in ws {
                for k in 0..c {
                    out[k] += row[i * c + k] * cover;
                }
            }
        }
    }
    let mut out = vec![0.0f32; dh * dw * c];
    for (oy, ws) in wy.iter().enumerate() {
        let dst = &mut out[oy * dw * c..(oy + 1) * dw * c];
        for &(i, cover) in ws {
            let row = &tmp[i * dw * c..(i + 1) * dw * c];
            for (d, s) in dst.iter_mut().zip(row) {
                *d += s * cover;
            }
        }
    }
    out
}

/// The photo's RGB reduced to `dw × dh` by area averaging, rounded back to bytes.
fn resize_rgb(rgb: &[u8], sw: usize, sh: usize, dw: usize, dh: usize) -> Vec<u8> {
    if (sw, sh) == (dw, dh) {
        return rgb.to_vec();
    }
    let src: Vec<f32> = rgb.iter().map(|&v| v as f32).collect();
    resize_channels(&src, sw, sh, dw, dh, 3)
        .iter()
        .map(|&v| v.round().clamp(0.0, 255.0) as u8)
        .collect()
}

/// A picture in CIELAB (D65), one plane a channel, smoothed 3 × 3.
struct Lab {
    planes: [Vec<f32>; 3],
}

impl Lab {
    fn from_rgb(rgb: &[u8], w: usize, h: usize) -> Self {
        let linear: Vec<f32> = (0..256)
            .map(|i| {
                let c = i as f32 / 255.0;
                if c <= 0.04045 {
                    c / 12.92
                } else {
                    ((c + 0.055) / 1.055).powf(2.4)
                }
            })
            .collect();
        let f = |t: f32| {
            if t > 0.008_856 {
                t.cbrt()
            } else {
                7.787 * t + 16.0 / 116.0
            }
        };
        let n = w * h;
        let mut planes = [vec![0.0; n], vec![0.0; n], vec![0.0; n]];
        for (i, p) in rgb.chunks_exact(3).enumerate() {
            let (r, g, b) = (
                linear[p[0] as usize],
                linear[p[1] as usize],
                linear[p[2] as usize],
            );
            let fx = f((0.412_456_4 * r + 0.357_576_1 * g + 0.180_437_5 * b) / 0.950_47);
            let fy = f(0.212_672_9 * r + 0.715_152_2 * g + 0.072_175 * b);
            let fz = f((0.019_333_9 * r + 0.119_192 * g + 0.950_304_1 * b) / 1.088_83);
            planes[0][i] = 116.0 * fy - 16.0;
            planes[1][i] = 500.0 * (fx - fy);
            planes[2][i] = 200.0 * (fy - fz);
        }
        for plane in &mut planes {
            *plane = box_blur3(plane, w, h);
        }
        Self { planes }
    }
}

impl Lab {
    /// The planes smoothed further by a `(2r + 1)²` mean.
    fn smoothed(&self, r: usize, w: usize, h: usize) -> Self {
        Self {
            planes: self.planes.each_ref().map(|p| box_blur(p, w, h, r)),
        }
    }
}

/// 3 × 3 mean, the edges averaging what lies inside.
fn box_blur3(src: &[f32], w: usize, h: usize) -> Vec<f32> {
    box_blur(src, w, h, 1)
}

/// `(2r + 1)²` mean, the edges averaging what lies inside.
fn box_blur(src: &[f32], w: usize, h: usize, r: usize) -> Vec<f32> {
    let mut rows = vec![0.0f32; w * h];
    for y in 0..h {
        let row = &src[y * w..(y + 1) * w];
        for x in 0..w {
            let (lo, hi) = (x.saturating_sub(r), (x + r).min(w - 1));
            rows[y * w + x] = row[lo..=hi].iter().sum::<f32>() / (hi - lo + 1) as f32;
        }
    }
    let mut out = vec![0.0f32; w * h];
    for y in 0..h {
        let (lo, hi) = (y.saturating_sub(r), (y + r).min(h - 1));
        for x in 0..w {
            out[y * w + x] =
                (lo..=hi).map(|yy| rows[yy * w + x]).sum::<f32>() / (hi - lo + 1) as f32;
        }
    }
    out
}

/// Quadratic surfaces `c·[1, u, v, u², uv, v²]` (u, v in [-1, 1]) for L, a and b, fitted to the border.
struct BackgroundModel {
    coef: [[f64; 6]; 3],
    /// The 90th percentile of the kept border pixels' ΔE to the surface (at least 1): the background's
    /// own noise and texture.
    noise: f32,
}

/// Pixel `x` of `n` along an axis, mapped to the surfaces' coordinate in [-1, 1].
fn coord(x: usize, n: usize) -> f64 {
    2.0 * x as f64 / (n - 1).max(1) as f64 - 1.0
}

fn basis(u: f64, v: f64) -> [f64; 6] {
    [1.0, u, v, u * u, u * v, v * v]
}

impl BackgroundModel {
    fn fit(lab: &Lab, w: usize, h: usize) -> Self {
        let band = ((w.min(h) as f64 * 0.05).round() as usize).max(2);
        let mut points: Vec<(usize, [f64; 6])> = Vec::new();
        for y in 0..h {
            for x in 0..w {
                if y < band || x < band || y >= h - band || x >= w - band {
                    points.push((y * w + x, basis(coord(x, w), coord(y, h))));
                }
            }
        }
        // Start from the border's median colour (robust to an item covering up to half the border),
        // then refit the surface to the pixels that agree with the last fit.
        let mut coef = [[0.0; 6]; 3];
        for (ch, plane) in lab.planes.iter().enumerate() {
            let mut values: Vec<f32> = points.iter().map(|(i, _)| plane[*i]).collect();
            coef[ch][0] = percentile(&mut values, 0.5) as f64;
        }
        let mut keep = vec![true; points.len()];
        let mut residuals = vec![0.0f32; points.len()];
        for round in 0..5 {
            if round > 0 {
                coef = Self::solve(lab, &points, &keep);
            }
            for (r, (i, phi)) in residuals.iter_mut().zip(&points) {
                *r = Self::delta(lab, *i, &coef, phi);
            }
            if round == 4 {
                break;
            }
            let mut kept = selected(&residuals, &keep);
            let cut = (2.5 * percentile(&mut kept, 0.5)).max(3.0);
            let next: Vec<bool> = residuals.iter().map(|&r| r <= cut).collect();
            if next.iter().filter(|&&k| k).count() < 24 {
                break;
            }
            keep = next;
        }
        let mut kept = selected(&residuals, &keep);
        let noise = percentile(&mut kept, 0.9).max(1.0);
        Self { coef, noise }
    }

    /// Least squares over the kept points (normal equations, a touch of ridge for tiny pictures).
    fn solve(lab: &Lab, points: &[(usize, [f64; 6])], keep: &[bool]) -> [[f64; 6]; 3] {
        let mut ata = [[0.0f64; 6]; 6];
        let mut atb = [[0.0f64; 6]; 3];
        for ((i, phi), _) in points.iter().zip(keep).filter(|(_, k)| **k) {
            for r in 0..6 {
                for c in 0..6 {
                    ata[r][c] += phi[r] * phi[c];
                }
                for (ch, plane) in lab.planes.iter().enumerate() {
                    atb[ch][r] += phi[r] * plane[*i] as f64;
                }
            }
        }
        for (r, row) in ata.iter_mut().enumerate() {
            row[r] += 1e-6 * (1.0 + row[r]);
        }
        atb.map(|b| solve6(ata, b))
    }

    fn delta(lab: &Lab, i: usize, coef: &[[f64; 6]; 3], phi: &[f64; 6]) -> f32 {
        let mut sum = 0.0f64;
        for (ch, c) in coef.iter().enumerate() {
            let fit: f64 = c.iter().zip(phi).map(|(a, b)| a * b).sum();
            let d = lab.planes[ch][i] as f64 - fit;
            sum += d * d;
        }
        sum.sqrt() as f32
    }

    /// Every pixel's ΔE to the surface.
    fn distance(&self, lab: &Lab, w: usize, h: usize) -> Vec<f32> {
        let mut out = vec![0.0f32; w * h];
        for y in 0..h {
            let v = coord(y, h);
            // Along a row the surface is a quadratic in u: c0 + c1·u + c2·u².
            let row: Vec<[f32; 3]> = self
                .coef
                .iter()
                .map(|c| {
                    [
                        (c[0] + c[2] * v + c[5] * v * v) as f32,
                        (c[1] + c[4] * v) as f32,
                        c[3] as f32,
                    ]
                })
                .collect::<Vec<_>>();
            for x in 0..w {
                let u = coord(x, w) as f32;
                let i = y * w + x;
                let mut sum = 0.0f32;
                for (ch, q) in row.iter().enumerate() {
                    let d = lab.planes[ch][i] - (q[0] + u * (q[1] + u * q[2]));
                    sum += d * d;
                }
                out[i] = sum.sqrt();
            }
        }
        out
    }

    /// Whether the background's lightness at the centre is above mid-grey.
    fn light(&self) -> bool {
        self.coef[0][0] > 50.0
    }
}

/// Solves the 6 × 6 system `a·x = b` by Gaussian elimination with partial pivoting.
fn solve6(mut a: [[f64; 6]; 6], mut b: [f64; 6]) -> [f64; 6] {
    for col in 0..6 {
        let pivot = (col..6)
            .max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))
            .unwrap_or(col);
        // No pivot: this unknown is undetermined (it solves to 0 below). The rows stay where they are, so
        // that each keeps a column of its own to be solved by.
        if a[pivot][col].abs() < 1e-12 {
            continue;
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        let p = a[col][col];
        let pivot_row = a[col];
        for row in col + 1..6 {
            let f = a[row][col] / p;
            for (x, &y) in a[row][col..].iter_mut().zip(&pivot_row[col..]) {
                *x -= f * y;
            }
            b[row] -= f * b[col];
        }
    }
    let mut x = [0.0; 6];
    for row in (0..6).rev() {
        let s: f64 = (row + 1..6).map(|k| a[row][k] * x[k]).sum();
        x[row] = if a[row][row].abs() < 1e-12 {
            0.0
        } else {
            (b[row] - s) / a[row][row]
        };
    }
    x
}

/// The values whose flag in `keep` is set, in order.
fn selected(values: &[f32], keep: &[bool]) -> Vec<f32> {
    values
        .iter()
        .zip(keep)
        .filter(|(_, k)| **k)
        .map(|(&v, _)| v)
        .collect()
}

/// The `q`-quantile (0..=1) of `values` (reordered in place); 0 for none.
fn percentile(values: &mut [f32], q: f32) -> f32 {
    if values.is_empty() {
        return 0.0;
    }
    let k = ((values.len() - 1) as f32 * q).round() as usize;
    *values.select_nth_unstable_by(k, f32::total_cmp).1
}

/// Otsu's threshold of `values` over a 256-bin histogram of `[0, max]`.
fn otsu(values: &[f32]) -> f32 {
    let max = values.iter().copied().fold(0.0f32, f32::max);
    if max <= 0.0 {
        return 0.0;
    }
    let bin = max / 255.0;
    let mut hist = [0u32; 256];
    for &v in values {
        hist[((v / bin) as usize).min(255)] += 1;
    }
    let total = values.len() as f64;
    let sum_all: f64 = hist
        .iter()
        .enumerate()
        .map(|(i, &c)| i as f64 * c as f64)
        .sum();
    let (mut w0, mut sum0, mut best, mut best_t) = (0.0f64, 0.0f64, -1.0f64, 0usize);
    for (t, &c) in hist.iter().enumerate() {
        w0 += c as f64;
        sum0 += t as f64 * c as f64;
        let w1 = total - w0;
        if w0 == 0.0 || w1 == 0.0 {
            continue;
        }
        let (m0, m1) = (sum0 / w0, (sum_all - sum0) / w1);
        let between = w0 * w1 * (m0 - m1) * (m0 - m1);
        if between > best {
            best = between;
            best_t = t;
        }
    }
    (best_t as f32 + 1.0) * bin
}

/// 3 × 3 erosion (outside the picture counts as set, so items touching the frame keep their edge).
fn erode(m: &[bool], w: usize, h: usize) -> Vec<bool> {
    morph(m, w, h, true)
}

/// 3 × 3 dilation.
fn dilate(m: &[bool], w: usize, h: usize) -> Vec<bool> {
    morph(m, w, h, false)
}

fn morph(m: &[bool], w: usize, h: usize, erode: bool) -> Vec<bool> {
    // Separable: rows, then columns.
    let pass = |src: &[bool], step: usize, len: usize, lines: usize, line_step: usize| {
        let mut out = vec![false; src.len()];
        for l in 0..lines {
            for k in 0..len {
                let at = |j: usize| src[l * line_step + j * step];
                let mut acc = at(k);
                if k > 0 {
                    acc = if erode {
                        acc && at(k - 1)
                    } else {
                        acc || at(k - 1)
                    };
                }
                if k + 1 < len {
                    acc = if erode {
                        acc && at(k + 1)
                    } else {
                        acc || at(k + 1)
                    };
                }
                out[l * line_step + k * step] = acc;
            }
        }
        out
    };
    let rows = pass(m, 1, w, h, w);
    pass(&rows, w, h, w, 1)
}

/// Of the 4-connected regions of `candidates`, the one with the largest summed distance over its pixels
/// above `high`; `None` when no region reaches `high`.
fn best_region(
    candidates: &[bool],
    distance: &[f32],
    high: f32,
    w: usize,
    h: usize,
) -> Option<Vec<bool>> {
    let mut label = vec![0u32; w * h];
    let mut stack = Vec::new();
    let (mut best, mut best_score, mut next) = (0u32, 0.0f64, 0u32);
    for start in 0..w * h {
        if !candidates[start] || label[start] != 0 {
            continue;
        }
        next += 1;
        let mut score = 0.0f64;
        label[start] = next;
        stack.push(start);
        while let Some(i) = stack.pop() {
            if distance[i] > high {
                score += distance[i] as f64;
            }
            let (x, y) = (i % w, i / w);
            let mut visit = |j: usize| {
                if candidates[j] && label[j] == 0 {
                    label[j] = next;
                    stack.push(j);
                }
            };
            if x > 0 {
                visit(i - 1);
            }
            if x + 1 < w {
                visit(i + 1);
            }
            if y > 0 {
                visit(i - w);
            }
            if y + 1 < h {
                visit(i + w);
            }
        }
        if score > best_score {
            best_score = score;
            best = next;
        }
    }
    (best != 0).then(|| label.iter().map(|&l| l == best).collect())
}

/// Bounding box `[x, y, w, h]` of a non-empty mask.
fn mask_bbox(mask: &[bool], w: usize, h: usize) -> [u32; 4] {
    let (mut x0, mut y0, mut x1, mut y1) = (w, h, 0, 0);
    for y in 0..h {
        for x in 0..w {
            if mask[y * w + x] {
                x0 = x0.min(x);
                y0 = y0.min(y);
                x1 = x1.max(x);
                y1 = y1.max(y);
            }
        }
    }
    [
        x0 as u32,
        y0 as u32,
        (x1 - x0 + 1) as u32,
        (y1 - y0 + 1) as u32,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    /// A `w × h` photo filled by `f(x, y) -> [r, g, b]`.
    fn paint(w: u32, h: u32, mut f: impl FnMut(usize, usize) -> [u8; 3]) -> Photo {
        let rgb = (0..(w * h) as usize)
            .flat_map(|i| f(i % w as usize, i / w as usize))
            .collect();
        Photo::from_rgb(w, h, rgb).unwrap()
    }

    fn inside(x: usize, y: usize, b: [usize; 4]) -> bool {
        (b[0]..b[0] + b[2]).contains(&x) && (b[1]..b[1] + b[3]).contains(&y)
    }

    /// A `w × h` photo of colour `bg` with the rectangle `item` (`[x, y, w, h]`) in colour `fg`.
    fn rect(w: u32, h: u32, item: [usize; 4], fg: [u8; 3], bg: [u8; 3]) -> Photo {
        paint(w, h, |x, y| if inside(x, y, item) { fg } else { bg })
    }

    fn prepare(p: &Photo) -> PreparedImage {
        prepare_image(p, &PrepareConfig::default())
    }

    /// Within `tol` pixels of the expected box, in source coordinates. The 3 × 3 smoothing in the working
    /// copy lets the mask reach one working pixel past a sharp edge, so `tol` is about two of them.
    fn assert_box(got: [u32; 4], want: [u32; 4], tol: i64) {
        for k in 0..4 {
            assert!(
                (got[k] as i64 - want[k] as i64).abs() <= tol,
                "box {got:?}, expected {want:?} within {tol}"
            );
        }
    }

    #[test]
    fn dataset_images_pass_through_unchanged() {
        let mut px = vec![0u8; SIDE * SIDE];
        px[400] = 200;
        let out = prepare(&Photo::from_gray(28, 28, &px).unwrap());
        assert_eq!(out.verdict, ItemVerdict::DatasetImage);
        assert!(out.item_found);
        assert_eq!(out.pixels, px);
        let black = prepare(&Photo::from_gray(28, 28, &[0; 784]).unwrap());
        assert_eq!(black.verdict, ItemVerdict::NoItem);
    }

    #[test]
    fn dark_item_on_a_light_background_is_found_cropped_and_light_on_black() {
        // 300×200, light grey background, a dark 100×150 item off-centre.
        let item = [150, 30, 100, 150];
        let p = rect(300, 200, item, [40; 3], [220; 3]);
        let out = prepare(&p);
        assert_eq!(out.verdict, ItemVerdict::Found);
        assert!(out.item_found);
        assert!(out.light_background);
        assert_box(out.bbox, [150, 30, 100, 150], 6);
        // 2:3, so in 28×28 it spans all rows and about 18.7 columns, centred.
        let on: Vec<usize> = (0..SIDE)
            .filter(|&x| (0..SIDE).any(|y| out.pixels[y * SIDE + x] > 128))
            .collect();
        assert!((17..=21).contains(&on.len()), "{on:?}");
        assert!(on[0] >= 3 && *on.last().unwrap() <= 24);
        assert_eq!(out.pixels[14 * SIDE + 14], 255);
        assert_eq!(out.pixels[14 * SIDE], 0);
        assert_eq!(out.pixels[0], 0);
        assert_eq!(
            (out.cutout.width, out.cutout.height),
            (192, 128),
            "working copy: long side 192"
        );
    }

    #[test]
    fn light_item_on_a_dark_table_is_light_on_black_too() {
        let item = [60, 40, 120, 140];
        let p = rect(240, 240, item, [230, 225, 210], [35, 30, 28]);
        let out = prepare(&p);
        assert_eq!(out.verdict, ItemVerdict::Found);
        assert!(!out.light_background);
        assert_box(out.bbox, [60, 40, 120, 140], 3);
        assert_eq!(out.pixels[14 * SIDE + 14], 255);
        assert_eq!(out.pixels[14 * SIDE], 0, "outside the item is black");
    }

    #[test]
    fn colour_alone_separates_an_item_whose_grey_matches_the_background() {
        // Purple on teal of about the same luma (the old grey threshold saw nothing here).
        let (purple, teal) = ([150u8, 60, 200], [40u8, 140, 130]);
        let luma = |c: [u8; 3]| 0.299 * c[0] as f32 + 0.587 * c[1] as f32 + 0.114 * c[2] as f32;
        assert!((luma(purple) - luma(teal)).abs() < 15.0);
        let item = [70, 50, 90, 110];
        let out = prepare(&rect(220, 200, item, purple, teal));
        assert_eq!(out.verdict, ItemVerdict::Found);
        assert_box(out.bbox, [70, 50, 90, 110], 3);
    }

    #[test]
    fn a_vignette_and_a_gradient_stay_background() {
        // Light falling off to the corners by 45% and across by 20%, with a dark item in the middle:
        // the box is the item's, not the whole frame's.
        let item = [130, 90, 60, 80];
        let p = paint(320, 240, |x, y| {
            let (u, v) = (x as f32 / 320.0 - 0.5, y as f32 / 240.0 - 0.5);
            let light = (1.0 - 0.45 * (u * u + v * v) * 2.0) * (1.0 - 0.2 * (u + 0.5));
            let base = if inside(x, y, item) { 50.0 } else { 235.0 };
            [(base * light) as u8; 3]
        });
        let out = prepare(&p);
        assert_eq!(out.verdict, ItemVerdict::Found);
        assert_box(out.bbox, [130, 90, 60, 80], 4);
        // The same light with no item: nothing.
        let empty = paint(320, 240, |x, y| {
            let (u, v) = (x as f32 / 320.0 - 0.5, y as f32 / 240.0 - 0.5);
            [(235.0 * (1.0 - 0.45 * (u * u + v * v) * 2.0) * (1.0 - 0.2 * (u + 0.5))) as u8; 3]
        });
        assert_eq!(prepare(&empty).verdict, ItemVerdict::NoItem);
    }

    /// Wood grain: stripes of period `period` pixels, `amp` levels either side of `base`, bent a little.
    fn grain(x: usize, y: usize, period: f32, amp: f32, base: f32) -> f32 {
        let bend = 3.0 * ((y as f32) / 37.0).sin();
        let phase = (x as f32 + 0.4 * y as f32 + bend) / period * std::f32::consts::TAU;
        base + amp * phase.sin()
    }

    #[test]
    fn an_item_on_strong_wood_grain_is_found_whole() {
        // A mid-grey item on a strongly grained table whose stripes swing about as far either side as the
        // item stands from their mean. Without the smoother map for textured backgrounds, the widest
        // grain (period 9) hides the item ("no item").
        for (period, amp) in [(5.0, 70.0), (7.0, 60.0), (9.0, 55.0)] {
            let item = [90, 60, 110, 120];
            let p = paint(300, 240, |x, y| {
                let v = if inside(x, y, item) {
                    110.0
                } else {
                    grain(x, y, period, amp, 175.0)
                };
                let v = v.round().clamp(0.0, 255.0) as u8;
                [v, v.saturating_sub(20), v.saturating_sub(45)]
            });
            let out = prepare(&p);
            assert_eq!(out.verdict, ItemVerdict::Found, "period {period}");
            assert_box(out.bbox, item.map(|v| v as u32), 8);
            // The same table without the item: nothing.
            let empty = paint(300, 240, |x, y| {
                let v = grain(x, y, period, amp, 175.0).round().clamp(0.0, 255.0) as u8;
                [v, v.saturating_sub(20), v.saturating_sub(45)]
            });
            assert_eq!(
                prepare(&empty).verdict,
                ItemVerdict::NoItem,
                "period {period}"
            );
        }
    }

    #[test]
    fn an_item_touching_the_frame_is_kept_to_the_edge() {
        let item = [0, 60, 90, 100];
        let out = prepare(&rect(240, 200, item, [30, 30, 90], [225, 220, 215]));
        assert_eq!(out.verdict, ItemVerdict::Found);
        assert_box(out.bbox, [0, 60, 90, 100], 3);
    }

    #[test]
    fn blank_tiny_noisy_and_transparent_pictures_have_no_item() {
        for v in [0u8, 128, 255] {
            let out = prepare(&paint(200, 150, |_, _| [v; 3]));
            assert_eq!(out.verdict, ItemVerdict::NoItem, "flat {v}");
            assert!(!out.item_found);
        }
        assert_eq!(
            prepare(&paint(1, 1, |_, _| [0; 3])).verdict,
            ItemVerdict::TooSmall
        );
        assert_eq!(
            prepare(&paint(400, 6, |_, _| [255; 3])).verdict,
            ItemVerdict::TooSmall
        );
        assert_eq!(
            prepare(&paint(400, 8, |_, _| [250; 3])).verdict,
            ItemVerdict::NoItem,
            "8 pixels a side is enough to look"
        );
        assert_eq!(
            prepare(&paint(400, 30, |_, _| [250; 3])).verdict,
            ItemVerdict::NoItem,
            "a blank strip"
        );
        let transparent = Photo::from_rgba(64, 64, &[0u8; 64 * 64 * 4]).unwrap();
        assert_eq!(prepare(&transparent).verdict, ItemVerdict::NoItem);
        for seed in 0..5 {
            let mut rng = Rng::new(seed);
            let noise = paint(160, 120, |_, _| {
                [rng_byte(&mut rng), rng_byte(&mut rng), rng_byte(&mut rng)]
            });
            assert_eq!(prepare(&noise).verdict, ItemVerdict::NoItem, "noise {seed}");
        }
    }

    fn rng_byte(rng: &mut Rng) -> u8 {
        rng.below(256) as u8
    }

    #[test]
    fn naive_path_keeps_the_whole_picture() {
        let item = [150, 30, 100, 150];
        let p = rect(300, 200, item, [100; 3], [240; 3]);
        let out = prepare_image(
            &p,
            &PrepareConfig {
                background_handling: false,
            },
        );
        assert_eq!(out.verdict, ItemVerdict::Unchecked);
        assert!(
            out.item_found,
            "nothing was looked for, so the answers stand"
        );
        assert_eq!(out.bbox, [0, 0, 300, 200]);
        // The light border inverts the grey: the background 240 becomes 15, the item 100 becomes 155,
        // stretched to 255, so the background reads 15 × 255 / 155 ≈ 25. The 300 × 200 picture is padded
        // to a square with 50 black rows above and below (rows 0–4 of 28 are padding).
        assert_eq!(out.pixels[14 * SIDE + 18], 255, "the item's centre");
        let background = out.pixels[9 * SIDE + 1];
        assert!((20..=30).contains(&background), "background {background}");
        assert_eq!(out.pixels[0], 0, "padding");
    }

    #[test]
    fn only_a_28_by_28_picture_passes_through_as_a_dataset_image() {
        // A dark picture 28 pixels wide or high, with a light item: looked at, and made 28 × 28.
        for (w, h) in [(28, 60), (60, 28)] {
            let out = prepare(&rect(w, h, [6, 6, 16, 16], [230; 3], [0; 3]));
            assert_ne!(out.verdict, ItemVerdict::DatasetImage, "{w}×{h}");
            assert_eq!(out.pixels.len(), SIDE * SIDE, "{w}×{h}");
        }
    }

    /// A `w × h` grey photo of level `bg` with the rectangle `item` at level `fg`, plus seeded noise of
    /// standard deviation `sigma` (a sum of four uniforms, near Gaussian), as a phone's sensor adds.
    fn noisy(
        w: usize,
        h: usize,
        item: [usize; 4],
        bg: f32,
        fg: f32,
        sigma: f32,
        seed: u64,
    ) -> Photo {
        let mut rng = Rng::new(seed);
        paint(w as u32, h as u32, |x, y| {
            let base = if inside(x, y, item) { fg } else { bg };
            let uniforms: f32 = (0..4).map(|_| rng.below(1000) as f32 / 1000.0 - 0.5).sum();
            // Four uniforms on [-0.5, 0.5) sum to a variance of 1/3: × √3 makes it 1.
            let v = (base + uniforms * sigma * 3f32.sqrt())
                .round()
                .clamp(0.0, 255.0) as u8;
            [v; 3]
        })
    }

    #[test]
    fn contrast_and_cutout_measure_the_item_against_a_noisy_background() {
        let item = [80, 50, 70, 90];
        for seed in 0..3 {
            // A faint item, 22 grey levels over a background with noise σ = 6: found, its box tight.
            let faint = prepare(&noisy(240, 180, item, 128.0, 150.0, 6.0, seed));
            assert_eq!(faint.verdict, ItemVerdict::Found, "faint, seed {seed}");
            assert_box(faint.bbox, [80, 50, 70, 90], 3);
            // A strong item (80 levels): the contrast is the mean distance in multiples of the noise, so
            // about 28 here, and about half that when the noise doubles.
            let strong = prepare(&noisy(240, 180, item, 128.0, 208.0, 6.0, seed));
            let noisier = prepare(&noisy(240, 180, item, 128.0, 208.0, 12.0, seed));
            assert!(
                (22.0..34.0).contains(&strong.contrast),
                "contrast {}",
                strong.contrast
            );
            let ratio = strong.contrast / noisier.contrast;
            assert!((1.6..2.4).contains(&ratio), "contrast ratio {ratio}");
            assert!(faint.contrast < strong.contrast / 2.0);
            // The cutout is the item's distance, its bright end 255, graded towards the edges.
            let on: Vec<u8> = strong
                .cutout
                .pixels
                .iter()
                .copied()
                .filter(|&v| v > 0)
                .collect();
            assert_eq!(on.iter().max(), Some(&255));
            assert!(on.iter().min().unwrap() < &128, "an ungraded cutout");
            // Under heavy noise (σ = 20) the strong item's box stays tight: no blob of noise joins it.
            let heavy = prepare(&noisy(240, 180, item, 128.0, 208.0, 20.0, seed));
            assert_eq!(
                heavy.verdict,
                ItemVerdict::Found,
                "heavy noise, seed {seed}"
            );
            assert_box(heavy.bbox, [80, 50, 70, 90], 4);
            // The noise alone holds no item.
            let empty = prepare(&noisy(240, 180, item, 128.0, 128.0, 12.0, seed));
            assert_eq!(
                empty.verdict,
                ItemVerdict::NoItem,
                "noise alone, seed {seed}"
            );
        }
    }

    #[test]
    fn border_median_is_the_frames_lower_median() {
        // Seeded random pictures, the frame found another way: the pixels at distance 0 from an edge.
        for (w, h) in [(13, 7), (7, 13), (1, 5), (6, 1), (2, 2), (3, 3)] {
            for seed in 0..4 {
                let mut rng = Rng::new(seed);
                let luma: Vec<u8> = (0..w * h).map(|_| rng_byte(&mut rng)).collect();
                let mut frame: Vec<u8> = (0..w * h)
                    .filter(|i| {
                        let (x, y) = (i % w, i / w);
                        x.min(y).min(w - 1 - x).min(h - 1 - y) == 0
                    })
                    .map(|i| luma[i])
                    .collect();
                frame.sort_unstable();
                let want = frame[(frame.len() - 1) / 2];
                assert_eq!(border_median(&luma, w, h), want, "{w}×{h}, seed {seed}");
            }
        }
    }

    #[test]
    fn each_verdict_says_in_words_whether_an_item_was_found() {
        let all = [
            ItemVerdict::Found,
            ItemVerdict::DatasetImage,
            ItemVerdict::Unchecked,
            ItemVerdict::TooSmall,
            ItemVerdict::NoItem,
        ];
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                assert_ne!(a.message(), b.message(), "{a:?} and {b:?} read the same");
            }
            assert_eq!(
                a.message().starts_with("no item found"),
                !a.item_found(),
                "{a:?}: {}",
                a.message()
            );
        }
    }

    #[test]
    fn area_resize_averages() {
        let src = vec![0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0];
        assert_eq!(resize_area(&src, 4, 2, 2, 1), vec![0.5, 0.5]);
        let up = resize_area(&[2.0], 1, 1, 3, 3);
        assert_eq!(up, vec![2.0; 9]);
        // Three interleaved channels resize as three planes.
        let rgb: Vec<f32> = (0..4 * 2 * 3).map(|i| i as f32).collect();
        let out = resize_channels(&rgb, 4, 2, 2, 1, 3);
        let plane = |k: usize| -> Vec<f32> { rgb.iter().skip(k).step_by(3).copied().collect() };
        for k in 0..3 {
            let want = resize_area(&plane(k), 4, 2, 2, 1);
            assert_eq!(vec![out[k], out[3 + k]], want);
        }
    }
    /// The old way, kept as the reference: the crop pasted on a black square, then [`resize_area`].
    fn padded_square_resized(values: &[f32], w: usize, bbox: [u32; 4]) -> Vec<u8> {
        let [bx, by, bw, bh] = bbox.map(|v| v as usize);
        let side = bw.max(bh);
        let mut square = vec![0.0f32; side * side];
        let (ox, oy) = ((side - bw) / 2, (side - bh) / 2);
        for y in 0..bh {
            let src = &values[(by + y) * w + bx..(by + y) * w + bx + bw];
            square[(oy + y) * side + ox..(oy + y) * side + ox + bw].copy_from_slice(src);
        }
        stretch_to_bytes(&resize_area(&square, side, side, SIDE, SIDE))
    }

    #[test]
    fn crop_square_resize_equals_the_padded_square_resized() {
        let mut rng = Rng::new(11);
        for case in 0..300 {
            let (w, h) = (1 + rng.below(90), 1 + rng.below(90));
            let values: Vec<f32> = (0..w * h).map(|_| rng.below(256) as f32).collect();
            let (bx, by) = (rng.below(w), rng.below(h));
            let (bw, bh) = (1 + rng.below(w - bx), 1 + rng.below(h - by));
            let bbox = [bx, by, bw, bh].map(|v| v as u32);
            assert_eq!(
                crop_square_resize(&values, w, h, bbox),
                padded_square_resized(&values, w, bbox),
                "case {case}: {w}×{h}, box {bbox:?}"
            );
        }
    }

    /// A strip of a picture (found by the `image` fuzz target as a 48,387 × 1 PNG): its square would be
    /// 9 GB, or for 10,000,000 × 1 pixels 400 TB. It is too small to search and comes out as 784 pixels.
    #[test]
    fn a_long_strip_is_prepared_without_its_square() {
        for (w, h) in [
            (48_387, 1),
            (10_000_000, 1),
            (1, 10_000_000),
            (1_000_000, 7),
        ] {
            let strip = Photo::from_rgb(w, h, vec![200; w as usize * h as usize * 3]).unwrap();
            let out = prepare(&strip);
            assert_eq!(out.verdict, ItemVerdict::TooSmall, "{w}×{h}");
            assert_eq!(out.pixels.len(), SIDE * SIDE, "{w}×{h}");
        }
    }

    // The helpers below the photo path, each against an independent reference on seeded random inputs.

    /// The area integral, computed directly: each output pixel is the mean of the source over its cell,
    /// every source pixel weighted by the area of its overlap with the cell (f64).
    fn area_integral(
        src: &[f32],
        sw: usize,
        sh: usize,
        dw: usize,
        dh: usize,
        c: usize,
    ) -> Vec<f32> {
        let (sx, sy) = (sw as f64 / dw as f64, sh as f64 / dh as f64);
        let overlap = |a: f64, b: f64, i: usize| (b.min(i as f64 + 1.0) - a.max(i as f64)).max(0.0);
        let mut out = vec![0.0; dw * dh * c];
        for oy in 0..dh {
            for ox in 0..dw {
                for k in 0..c {
                    let mut sum = 0.0f64;
                    for y in 0..sh {
                        let wy = overlap(oy as f64 * sy, (oy + 1) as f64 * sy, y);
                        for x in 0..sw {
                            let wx = overlap(ox as f64 * sx, (ox + 1) as f64 * sx, x);
                            sum += wx * wy * src[(y * sw + x) * c + k] as f64;
                        }
                    }
                    out[(oy * dw + ox) * c + k] = (sum / (sx * sy)) as f32;
                }
            }
        }
        out
    }

    /// Shapes that shrink, grow and do both, by whole and fractional ratios, with 1 to 3 channels.
    const RESIZES: [(usize, usize, usize, usize, usize); 8] = [
        (4, 2, 2, 1, 1),
        (7, 5, 3, 2, 1),
        (5, 3, 7, 4, 3),
        (9, 6, 4, 5, 3),
        (3, 3, 3, 3, 3),
        (1, 1, 3, 2, 3),
        (6, 8, 6, 3, 2),
        (13, 4, 5, 9, 3),
    ];

    #[test]
    fn area_resizing_matches_the_area_integral() {
        let mut rng = Rng::new(31);
        for (sw, sh, dw, dh, c) in RESIZES {
            let src: Vec<f32> = (0..sw * sh * c)
                .map(|_| rng_byte(&mut rng) as f32)
                .collect();
            let got = resize_channels(&src, sw, sh, dw, dh, c);
            let want = area_integral(&src, sw, sh, dw, dh, c);
            assert_eq!(got.len(), want.len(), "{sw}×{sh} → {dw}×{dh} × {c}");
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (g - w).abs() < 1e-2,
                    "{sw}×{sh} → {dw}×{dh} × {c}, at {i}: {g} against {w}"
                );
            }
        }
    }

    #[test]
    fn the_photos_rgb_is_resized_by_area_and_rounded_or_kept() {
        let mut rng = Rng::new(32);
        for (sw, sh, dw, dh, _) in RESIZES {
            let rgb: Vec<u8> = (0..sw * sh * 3).map(|_| rng_byte(&mut rng)).collect();
            let got = resize_rgb(&rgb, sw, sh, dw, dh);
            let src: Vec<f32> = rgb.iter().map(|&v| v as f32).collect();
            let want = area_integral(&src, sw, sh, dw, dh, 3);
            assert_eq!(got.len(), want.len(), "{sw}×{sh} → {dw}×{dh}");
            for (g, w) in got.iter().zip(&want) {
                // Within rounding (the f32 sums may round a value at .5 either way).
                assert!(
                    (*g as f32 - w).abs() <= 0.51,
                    "{sw}×{sh} → {dw}×{dh}: {g} against {w}"
                );
            }
        }
    }

    #[test]
    fn lab_of_reference_colours() {
        // CIELAB (D65) of sRGB colours, from the standard's formulas in f64 with its exact constants:
        // white, the primaries, mid-grey, a dark grey (the linear parts of sRGB and of f) and a dark
        // green whose Z falls in f's linear part while its X and Y do not.
        let colours: [([u8; 3], [f32; 3]); 7] = [
            ([255, 255, 255], [100.0, 0.0, 0.0]),
            ([255, 0, 0], [53.241, 80.092, 67.203]),
            ([0, 255, 0], [87.735, -86.183, 83.179]),
            ([0, 0, 255], [32.297, 79.188, -107.86]),
            ([128, 128, 128], [53.585, 0.0, 0.0]),
            ([10, 10, 10], [2.742, 0.0, 0.0]),
            ([20, 60, 5], [21.547, -25.393, 27.19]),
        ];
        for (rgb, want) in colours {
            // A uniform picture: the smoothing changes nothing.
            let lab = Lab::from_rgb(&rgb.repeat(12), 4, 3);
            for (ch, plane) in lab.planes.iter().enumerate() {
                for &v in plane {
                    assert!(
                        (v - want[ch]).abs() < 0.02,
                        "{rgb:?}, channel {ch}: {v} against {}",
                        want[ch]
                    );
                }
            }
        }
    }

    #[test]
    fn box_blur_is_the_mean_of_the_window_inside_the_picture() {
        let mut rng = Rng::new(33);
        for (w, h) in [(1, 1), (1, 6), (7, 1), (5, 4), (9, 7)] {
            let src: Vec<f32> = (0..w * h).map(|_| rng_byte(&mut rng) as f32).collect();
            for r in 0..4 {
                let got = box_blur(&src, w, h, r);
                for y in 0..h {
                    for x in 0..w {
                        let (mut sum, mut n) = (0.0f64, 0.0f64);
                        for yy in y.saturating_sub(r)..=(y + r).min(h - 1) {
                            for xx in x.saturating_sub(r)..=(x + r).min(w - 1) {
                                sum += src[yy * w + xx] as f64;
                                n += 1.0;
                            }
                        }
                        let (g, want) = (got[y * w + x], (sum / n) as f32);
                        assert!(
                            (g - want).abs() < 1e-3,
                            "{w}×{h}, r {r}, ({x}, {y}): {g} against {want}"
                        );
                    }
                }
                if r == 1 {
                    assert_eq!(box_blur3(&src, w, h), got);
                }
            }
        }
    }

    #[test]
    fn solve6_solves_by_pivoting_and_zeroes_what_is_undetermined() {
        let mut rng = Rng::new(34);
        for _ in 0..20 {
            let mut a = [[0.0f64; 6]; 6];
            for row in &mut a {
                for v in row.iter_mut() {
                    *v = rng.range_f32(-1.0, 1.0) as f64;
                }
            }
            // A zero first pivot: solving needs the row swaps.
            a[0][0] = 0.0;
            let b: [f64; 6] = std::array::from_fn(|_| rng.range_f32(-5.0, 5.0) as f64);
            let x = solve6(a, b);
            for r in 0..6 {
                let ax: f64 = (0..6).map(|c| a[r][c] * x[c]).sum();
                assert!((ax - b[r]).abs() < 1e-6, "row {r}: {ax} against {}", b[r]);
            }
        }
        // Unknown 2 appears in no equation: it is 0, and the others still solve their equations.
        let mut a = [[0.0f64; 6]; 6];
        for (r, row) in a.iter_mut().enumerate() {
            if r != 2 {
                row[r] = 2.0;
                row[(r + 1) % 6] = if (r + 1) % 6 == 2 { 0.0 } else { 1.0 };
            }
        }
        let b = [1.0, 2.0, 0.0, 4.0, 5.0, 6.0];
        let x = solve6(a, b);
        assert_eq!(x[2], 0.0);
        for r in [0, 1, 3, 4, 5] {
            let ax: f64 = (0..6).map(|c| a[r][c] * x[c]).sum();
            assert!((ax - b[r]).abs() < 1e-9, "row {r}: {ax} against {}", b[r]);
        }
    }

    #[test]
    fn percentile_is_the_rounded_rank_of_the_sorted_values() {
        let mut rng = Rng::new(35);
        assert_eq!(percentile(&mut [], 0.5), 0.0);
        for n in [1, 2, 5, 10, 101] {
            let values: Vec<f32> = (0..n).map(|_| rng.range_f32(-50.0, 50.0)).collect();
            let mut sorted = values.clone();
            sorted.sort_by(f32::total_cmp);
            for q in [0.0, 0.1, 0.5, 0.9, 1.0] {
                let k = ((n - 1) as f64 * q as f64).round() as usize;
                assert_eq!(
                    percentile(&mut values.clone(), q),
                    sorted[k],
                    "n {n}, q {q}"
                );
            }
        }
    }

    /// Otsu's threshold by brute force: the histogram split that maximises the between-class variance,
    /// each class's weight and mean summed afresh for every split (the first of equal maxima).
    fn otsu_brute_force(values: &[f32]) -> f32 {
        let max = values.iter().copied().fold(0.0f32, f32::max);
        if max <= 0.0 {
            return 0.0;
        }
        let bin = max / 255.0;
        let mut hist = [0u64; 256];
        for &v in values {
            hist[((v / bin) as usize).min(255)] += 1;
        }
        let (mut best, mut best_t) = (-1.0f64, 0usize);
        for t in 0..256 {
            let (lo, hi) = hist.split_at(t + 1);
            let weight = |h: &[u64]| h.iter().sum::<u64>() as f64;
            let moment = |h: &[u64], from: usize| {
                h.iter()
                    .enumerate()
                    .map(|(i, &c)| ((from + i) * c as usize) as f64)
                    .sum::<f64>()
            };
            let (w0, w1) = (weight(lo), weight(hi));
            if w0 == 0.0 || w1 == 0.0 {
                continue;
            }
            let (m0, m1) = (moment(lo, 0) / w0, moment(hi, t + 1) / w1);
            let between = w0 * w1 * (m0 - m1) * (m0 - m1);
            if between > best {
                best = between;
                best_t = t;
            }
        }
        (best_t as f32 + 1.0) * bin
    }

    #[test]
    fn otsu_splits_where_the_between_class_variance_peaks() {
        let mut rng = Rng::new(36);
        assert_eq!(otsu(&[]), 0.0);
        assert_eq!(otsu(&[0.0, 0.0]), 0.0);
        for n in [2, 10, 300, 2000] {
            // Two modes of different sizes, and values spread evenly.
            let bimodal: Vec<f32> = (0..n)
                .map(|i| {
                    if i % 3 == 0 {
                        rng.range_f32(40.0, 60.0)
                    } else {
                        rng.range_f32(2.0, 15.0)
                    }
                })
                .collect();
            let even: Vec<f32> = (0..n).map(|_| rng.range_f32(0.0, 100.0)).collect();
            for values in [&bimodal, &even] {
                assert_eq!(otsu(values), otsu_brute_force(values), "n {n}");
            }
            if n >= 10 {
                // Every low value below the threshold, every high one at or above it.
                let t = otsu(&bimodal);
                let low = bimodal
                    .iter()
                    .copied()
                    .filter(|&v| v < 30.0)
                    .fold(0.0f32, f32::max);
                let high = bimodal
                    .iter()
                    .copied()
                    .filter(|&v| v > 30.0)
                    .fold(f32::MAX, f32::min);
                assert!(
                    low < t && t <= high,
                    "n {n}: {t} does not split {low} from {high}"
                );
            }
        }
    }

    #[test]
    fn erosion_and_dilation_are_the_3_by_3_minimum_and_maximum() {
        let mut rng = Rng::new(37);
        for (w, h) in [(1, 1), (1, 5), (6, 1), (4, 4), (9, 6)] {
            for density in [0.3, 0.7, 0.9] {
                let m: Vec<bool> = (0..w * h).map(|_| rng.chance(density)).collect();
                let (eroded, dilated) = (erode(&m, w, h), dilate(&m, w, h));
                for y in 0..h {
                    for x in 0..w {
                        let window = (y.saturating_sub(1)..=(y + 1).min(h - 1)).flat_map(|yy| {
                            (x.saturating_sub(1)..=(x + 1).min(w - 1)).map(move |xx| yy * w + xx)
                        });
                        let all = window.clone().all(|i| m[i]);
                        let any = window.clone().any(|i| m[i]);
                        assert_eq!(eroded[y * w + x], all, "erode {w}×{h} at ({x}, {y})");
                        assert_eq!(dilated[y * w + x], any, "dilate {w}×{h} at ({x}, {y})");
                    }
                }
            }
        }
    }

    #[test]
    fn mask_bbox_is_the_tightest_box() {
        let mut rng = Rng::new(38);
        for (w, h) in [(1, 1), (1, 7), (8, 1), (10, 6)] {
            for _ in 0..10 {
                let mut m: Vec<bool> = (0..w * h).map(|_| rng.chance(0.1)).collect();
                m[rng.below(w * h)] = true;
                let set: Vec<(usize, usize)> = (0..w * h)
                    .filter(|&i| m[i])
                    .map(|i| (i % w, i / w))
                    .collect();
                let x0 = set.iter().map(|p| p.0).min().unwrap();
                let x1 = set.iter().map(|p| p.0).max().unwrap();
                let y0 = set.iter().map(|p| p.1).min().unwrap();
                let y1 = set.iter().map(|p| p.1).max().unwrap();
                let want = [x0, y0, x1 - x0 + 1, y1 - y0 + 1].map(|v| v as u32);
                assert_eq!(mask_bbox(&m, w, h), want, "{w}×{h}");
            }
        }
    }

    #[test]
    fn best_region_is_the_4_connected_region_with_most_distance_above_high() {
        let mut rng = Rng::new(39);
        for (w, h) in [(1, 1), (1, 9), (9, 1), (6, 5), (12, 9)] {
            for _ in 0..15 {
                let candidates: Vec<bool> = (0..w * h).map(|_| rng.chance(0.55)).collect();
                let distance: Vec<f32> = (0..w * h).map(|_| rng.range_f32(0.0, 10.0)).collect();
                let high = rng.range_f32(3.0, 11.0);
                // Regions by label propagation: each candidate takes the smallest index among its
                // 4-neighbours until nothing changes (a different method from the search's stack).
                let mut root: Vec<usize> = (0..w * h).collect();
                loop {
                    let mut changed = false;
                    for i in (0..w * h).filter(|&i| candidates[i]) {
                        let (x, y) = (i % w, i / w);
                        let mut near = vec![];
                        if x > 0 {
                            near.push(i - 1);
                        }
                        if x + 1 < w {
                            near.push(i + 1);
                        }
                        if y > 0 {
                            near.push(i - w);
                        }
                        if y + 1 < h {
                            near.push(i + w);
                        }
                        for j in near.into_iter().filter(|&j| candidates[j]) {
                            if root[j] < root[i] {
                                root[i] = root[j];
                                changed = true;
                            }
                        }
                    }
                    if !changed {
                        break;
                    }
                }
                // Scores by region, in the order of each region's first pixel; the first best wins.
                let mut best: Option<(usize, f64)> = None;
                for r in (0..w * h).filter(|&i| candidates[i] && root[i] == i) {
                    let score: f64 = (0..w * h)
                        .filter(|&i| candidates[i] && root[i] == r && distance[i] > high)
                        .map(|i| distance[i] as f64)
                        .sum();
                    if score > best.map_or(0.0, |b| b.1) {
                        best = Some((r, score));
                    }
                }
                let want = best.map(|(r, _)| {
                    (0..w * h)
                        .map(|i| candidates[i] && root[i] == r)
                        .collect::<Vec<_>>()
                });
                assert_eq!(
                    best_region(&candidates, &distance, high, w, h),
                    want,
                    "{w}×{h}, high {high}"
                );
            }
        }
        // "Above" is strict: a region whose pixels sit exactly at `high` scores nothing.
        let (candidates, mut distance) = (vec![true; 3], vec![4.0f32; 3]);
        assert_eq!(best_region(&candidates, &distance, 4.0, 3, 1), None);
        distance[1] = 4.5;
        assert_eq!(
            best_region(&candidates, &distance, 4.0, 3, 1),
            Some(vec![true; 3])
        );
    }

    /// Lab planes that are exactly the quadratic surfaces `coef` over the picture, as the model sees them.
    fn surfaces(coef: &[[f64; 6]; 3], w: usize, h: usize) -> Lab {
        let planes = std::array::from_fn(|ch| {
            (0..w * h)
                .map(|i| {
                    // Written out rather than through `coord` and `basis`, which the tests check.
                    let u = 2.0 * (i % w) as f64 / (w - 1) as f64 - 1.0;
                    let v = 2.0 * (i / w) as f64 / (h - 1) as f64 - 1.0;
                    let phi = [1.0, u, v, u * u, u * v, v * v];
                    coef[ch].iter().zip(&phi).map(|(c, p)| c * p).sum::<f64>() as f32
                })
                .collect()
        });
        Lab { planes }
    }

    /// Least squares of `values` on `basis_rows` by Gauss-Jordan elimination with partial pivoting on the
    /// normal equations, in f64: the reference for the background fit (not `solve6`).
    fn least_squares(basis_rows: &[[f64; 6]], values: &[f64]) -> [f64; 6] {
        let mut m = [[0.0f64; 7]; 6];
        for (phi, y) in basis_rows.iter().zip(values) {
            for r in 0..6 {
                for c in 0..6 {
                    m[r][c] += phi[r] * phi[c];
                }
                m[r][6] += phi[r] * y;
            }
        }
        for col in 0..6 {
            let p = (col..6)
                .max_by(|&a, &b| m[a][col].abs().total_cmp(&m[b][col].abs()))
                .unwrap();
            m.swap(col, p);
            let pivot = m[col];
            for (r, row) in m.iter_mut().enumerate() {
                if r != col {
                    let f = row[col] / pivot[col];
                    for (v, p) in row.iter_mut().zip(&pivot).skip(col) {
                        *v -= f * p;
                    }
                }
            }
        }
        std::array::from_fn(|r| m[r][6] / m[r][r])
    }

    /// The surface is fitted to exactly the border band (5% of the shorter side, at least 2 pixels):
    /// on a quadratic background with seeded noise of ±2 (kept by the refit), the coefficients are the
    /// least-squares fit over the band's pixels, computed here from the definition (to 0.01: the fit's
    /// ridge), while the ring just inside the band (3 lighter, also within the refit's cut) and the item
    /// inside it stay out. At 60 × 24
    /// the band's 5% rounds to 1, so the floor of 2 decides.
    #[test]
    fn the_background_surface_is_fitted_to_exactly_the_border_band() {
        let coef = [
            [55.0, 6.0, -4.0, 2.0, 1.5, -3.0],
            [2.0, -1.0, 1.5, 0.5, -0.5, 1.0],
            [-6.0, 2.0, -1.0, 1.0, 0.5, -1.5],
        ];
        let (w, h, band) = (60usize, 24usize, 2usize);
        let mut lab = surfaces(&coef, w, h);
        let mut rng = crate::rng::Rng::new(41);
        let in_band = |x: usize, y: usize| x < band || y < band || x >= w - band || y >= h - band;
        let ring = |x: usize, y: usize| {
            !in_band(x, y) && (x == band || y == band || x == w - band - 1 || y == h - band - 1)
        };
        for i in 0..w * h {
            let (x, y) = (i % w, i / w);
            for plane in lab.planes.iter_mut() {
                plane[i] += rng.range_f32(-2.0, 2.0);
            }
            if ring(x, y) {
                lab.planes[0][i] += 3.0;
            } else if !in_band(x, y) {
                lab.planes[0][i] -= 30.0;
            }
        }
        let band_pixels: Vec<usize> = (0..w * h).filter(|&i| in_band(i % w, i / w)).collect();
        let rows: Vec<[f64; 6]> = band_pixels
            .iter()
            .map(|&i| {
                let u = 2.0 * (i % w) as f64 / (w - 1) as f64 - 1.0;
                let v = 2.0 * (i / w) as f64 / (h - 1) as f64 - 1.0;
                [1.0, u, v, u * u, u * v, v * v]
            })
            .collect();
        let model = BackgroundModel::fit(&lab, w, h);
        for (ch, got) in model.coef.iter().enumerate() {
            let values: Vec<f64> = band_pixels
                .iter()
                .map(|&i| lab.planes[ch][i] as f64)
                .collect();
            let want = least_squares(&rows, &values);
            for (g, c) in got.iter().zip(&want) {
                assert!(
                    (g - c).abs() < 1e-2,
                    "channel {ch}: {got:?} against {want:?}"
                );
            }
        }
    }

    #[test]
    fn the_background_model_recovers_a_quadratic_surface_around_an_item() {
        let coef = [
            [62.0, 8.0, -5.0, 3.0, 2.0, -4.0],
            [-3.0, 1.5, 2.0, -1.0, 0.5, 1.0],
            [10.0, -2.0, 1.0, 0.5, -1.5, 2.0],
        ];
        let (w, h) = (60, 40);
        let mut lab = surfaces(&coef, w, h);
        // An item in the middle, 30 away in L, reaching the bottom edge over a third of its width.
        let item = |x: usize, y: usize| (20..40).contains(&x) && y >= 12;
        for i in 0..w * h {
            if item(i % w, i / w) {
                lab.planes[0][i] -= 30.0;
            }
        }
        let model = BackgroundModel::fit(&lab, w, h);
        for (ch, (got, want)) in model.coef.iter().zip(&coef).enumerate() {
            for (g, c) in got.iter().zip(want) {
                assert!(
                    (g - c).abs() < 1e-2,
                    "channel {ch}: {got:?} against {want:?}"
                );
            }
        }
        assert_eq!(
            model.noise, 1.0,
            "a noiseless background's noise is the floor"
        );
        assert!(model.light(), "L 62 at the centre is light");
        let d = model.distance(&lab, w, h);
        for (i, &di) in d.iter().enumerate() {
            let want = if item(i % w, i / w) { 30.0 } else { 0.0 };
            assert!((di - want).abs() < 0.05, "pixel {i}: {di} against {want}");
            let phi = basis(coord(i % w, w), coord(i / w, h));
            let direct = BackgroundModel::delta(&lab, i, &model.coef, &phi);
            assert!(
                (direct - di).abs() < 1e-3,
                "pixel {i}: delta {direct} against distance {di}"
            );
        }
        // A dark background of the same shape is not light.
        let mut dark = coef;
        dark[0][0] = 38.0;
        assert!(!BackgroundModel::fit(&surfaces(&dark, w, h), w, h).light());
    }

    /// A flat background (L 50, a = b = 0) of `w × h` whose first `light` border pixels, in raster order,
    /// are 40 lighter (L 90).
    fn border_with_light_pixels(w: usize, h: usize, light: usize) -> Lab {
        let mut lab = surfaces(&[[50.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0; 6], [0.0; 6]], w, h);
        let band = 2;
        let border = (0..w * h).filter(|&i| {
            let (x, y) = (i % w, i / w);
            x < band || y < band || x >= w - band || y >= h - band
        });
        for i in border.take(light) {
            lab.planes[0][i] = 90.0;
        }
        lab
    }

    /// The refit needs at least 24 border pixels that agree with the last fit. On 7 × 7 (40 border
    /// pixels) 24 agree: the refit keeps those, and the noise is the floor. On 6 × 6 (32) only 20 do:
    /// the fit stops at the border's median and keeps every border pixel, so the noise is the
    /// 12 lighter pixels' 40.
    #[test]
    fn the_refit_needs_24_agreeing_border_pixels() {
        let model = BackgroundModel::fit(&border_with_light_pixels(7, 7, 16), 7, 7);
        assert!((model.coef[0][0] - 50.0).abs() < 1e-3, "{:?}", model.coef);
        assert_eq!(model.noise, 1.0, "24 agreeing pixels are refitted alone");
        let model = BackgroundModel::fit(&border_with_light_pixels(6, 6, 12), 6, 6);
        assert_eq!(model.coef[0][0], 50.0, "the border's median");
        assert!(
            (model.noise - 40.0).abs() < 1e-3,
            "20 agreeing pixels are too few to refit: {}",
            model.noise
        );
    }

    /// The fit starts from the border's median, not from a least-squares fit of the whole border: with
    /// a dark item (L 10) covering 43% of a flat background's border (L 80), the fit is the background's
    /// level exactly and the item's pixels are left out of the noise.
    #[test]
    fn the_fit_starts_from_the_borders_median() {
        let (w, h) = (40, 40);
        let mut lab = surfaces(&[[80.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0; 6], [0.0; 6]], w, h);
        for i in 0..w * h {
            if i % w < 15 {
                lab.planes[0][i] = 10.0;
            }
        }
        let model = BackgroundModel::fit(&lab, w, h);
        for (k, c) in model.coef[0].iter().enumerate() {
            let want = if k == 0 { 80.0 } else { 0.0 };
            assert!((c - want).abs() < 1e-2, "L: {:?}", model.coef[0]);
        }
        assert_eq!(model.noise, 1.0);
    }
}
