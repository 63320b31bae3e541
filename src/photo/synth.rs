//! Synthetic photos of dataset items: an item drawn from a 28 × 28 image, recoloured and shaded, on a
//! background (plain, graded, textured, dark or light), with a soft shadow, uneven light, blur, sensor
//! noise and JPEG compression. Used for the photo-style augmentation (items from the training split) and
//! for the photo benchmark (items from the test set, other seeds and other ranges).
//!
//! Every photo is fixed by its seed, on every platform.

use serde::Serialize;

use super::decode::Photo;
use crate::data::SIDE;
use crate::rng::Rng;

/// The condition a benchmark photo is made to test. Each photo has one, on top of mild randomness in
/// everything else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    /// A plain light background, the item dark.
    Plain,
    /// Fabric, wood grain or cloudy noise behind the item.
    Textured,
    /// Light falling off across the picture and toward its corners.
    Gradient,
    /// A dark table, the item lighter than it.
    DarkBackground,
    /// A pale item on a pale background (or any pair a few ΔE apart).
    LowContrast,
    /// A soft shadow cast beside the item.
    Shadow,
    /// The item runs off an edge of the frame.
    CutByEdge,
}

impl Condition {
    /// Every condition, in the benchmark's order.
    pub const ALL: [Condition; 7] = [
        Condition::Plain,
        Condition::Textured,
        Condition::Gradient,
        Condition::DarkBackground,
        Condition::LowContrast,
        Condition::Shadow,
        Condition::CutByEdge,
    ];

    /// The condition's name, as in the benchmark's tables.
    pub fn name(self) -> &'static str {
        match self {
            Condition::Plain => "plain",
            Condition::Textured => "textured",
            Condition::Gradient => "gradient",
            Condition::DarkBackground => "dark background",
            Condition::LowContrast => "low contrast",
            Condition::Shadow => "shadow",
            Condition::CutByEdge => "cut by the edge",
        }
    }
}

/// Which ranges a photo's parameters are drawn from: training photos and benchmark photos use different
/// ranges (and different seeds), so the benchmark measures more than the training ranges.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Ranges {
    /// The photo-style augmentation's ranges: every effect at random, frame, item and texture drawn
    /// from the given [`TrainingRanges`].
    Training(TrainingRanges),
    /// The benchmark's: one [`Condition`] strongly, the rest mild, sizes and scales of their own.
    Evaluation(Condition),
}

/// The photo-style augmentation's frame, item and texture ranges. A training recipe names one preset
/// (`train --photo-ranges`), recorded in the model's summary so that `train` can redo the run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
pub struct TrainingRanges {
    /// The photo's long side, in pixels.
    pub frame_long: [f32; 2],
    /// The item's long side as a share of the frame's short side.
    pub item_scale: [f32; 2],
    /// The share of photos with a textured background.
    pub texture_share: f32,
    /// The texture's strength (its amplitude relative to the background's brightness).
    pub texture_strength: [f32; 2],
}

impl TrainingRanges {
    /// Every effect at most moderately strong: small frames, large items, half the backgrounds
    /// textured.
    pub const MODERATE: Self = Self {
        frame_long: [120.0, 224.0],
        item_scale: [0.45, 0.92],
        texture_share: 0.5,
        texture_strength: [0.05, 0.3],
    };
    /// Wider: frames up to phone-thumbnail size, smaller items, two thirds of the backgrounds
    /// textured, and textures stronger than any the benchmark draws.
    pub const WIDE: Self = Self {
        frame_long: [120.0, 320.0],
        item_scale: [0.35, 0.92],
        texture_share: 0.65,
        texture_strength: [0.05, 0.42],
    };
}

/// The drawn parameters of one photo (kept with benchmark photos so that a failure can be looked at).
#[derive(Debug, Clone, Serialize)]
pub struct Scene {
    /// Photo width and height.
    pub size: [u32; 2],
    /// The item's long side as a share of the frame's short side.
    pub item_scale: f32,
    /// Background RGB (0..1) at the centre.
    pub background: [f32; 3],
    /// The item's base RGB (0..1).
    pub item: [f32; 3],
    /// Texture kind (0 none, 1 cloudy, 2 wood, 3 weave) and strength.
    pub texture: (u8, f32),
    /// Shadow opacity (0 for none).
    pub shadow: f32,
    /// Light falloff toward the corners and across the frame.
    pub falloff: [f32; 2],
    /// Gaussian noise, on the 0..255 scale.
    pub noise: f32,
    /// JPEG quality, 0 for none.
    pub jpeg: u8,
    /// Share of the item's extent outside the frame.
    pub cut: f32,
}

/// Makes one photo of `item` (a 28 × 28 dataset image, light item on black) fixed by `seed`.
pub fn photo(item: &[u8], ranges: Ranges, seed: u64) -> (Photo, Scene) {
    assert_eq!(item.len(), SIDE * SIDE, "a 28×28 dataset image");
    let mut rng = Rng::new(seed ^ 0x5EED_F070);
    let cond = match ranges {
        Ranges::Training(_) => None,
        Ranges::Evaluation(c) => Some(c),
    };
    let is = |c: Condition| cond == Some(c);
    // Frame and item size.
    let (long, scale_range) = match ranges {
        Ranges::Training(r) => (
            rng.range_f32(r.frame_long[0], r.frame_long[1]),
            (r.item_scale[0], r.item_scale[1]),
        ),
        Ranges::Evaluation(_) => (rng.range_f32(180.0, 360.0), (0.4, 0.85)),
    };
    let aspect = [1.0, 4.0 / 3.0, 3.0 / 4.0, 16.0 / 9.0][rng.below(4)];
    let (w, h) = if aspect >= 1.0 {
        (long, long / aspect)
    } else {
        (long * aspect, long)
    };
    let (w, h) = (w.round() as usize, h.round() as usize);
    let item_scale = rng.range_f32(scale_range.0, scale_range.1);
    let s = (item_scale * w.min(h) as f32).max(12.0);

    // Colours. Light or dark background; the item's colour a clear step away unless low contrast.
    let training_mix = cond.is_none();
    let dark_bg = is(Condition::DarkBackground) || (training_mix && rng.chance(0.3));
    let low_contrast = is(Condition::LowContrast) || (training_mix && rng.chance(0.15));
    let bg_value = if dark_bg {
        rng.range_f32(0.04, 0.3)
    } else if is(Condition::Plain) {
        rng.range_f32(0.8, 0.97)
    } else {
        rng.range_f32(0.45, 0.97)
    };
    let bg_sat = if is(Condition::Plain) {
        rng.range_f32(0.0, 0.15)
    } else {
        rng.range_f32(0.0, 0.6)
    };
    let background = hsv(rng.next_f32(), bg_sat, bg_value);
    let item_rgb = pick_item_colour(&mut rng, background, dark_bg, low_contrast);
    let shading = rng.range_f32(0.1, 0.7);

    // Placement: centred with jitter, or run off an edge.
    let cut = effect(
        &mut rng,
        is(Condition::CutByEdge),
        training_mix.then_some(0.2),
        (0.08, 0.25),
        (0.03, 0.2),
    );
    let room_x = (w as f32 - s).max(0.0);
    let room_y = (h as f32 - s).max(0.0);
    let mut x0 = rng.range_f32(0.15, 0.85) * room_x;
    let mut y0 = rng.range_f32(0.15, 0.85) * room_y;
    if cut > 0.0 {
        // The item's drawn extent is the 28×28 frame's: push it past one edge by `cut` of it.
        match rng.below(4) {
            0 => x0 = -cut * s,
            1 => x0 = w as f32 - s + cut * s,
            2 => y0 = -cut * s,
            _ => y0 = h as f32 - s + cut * s,
        }
    }

    // Background texture.
    let textured = match ranges {
        Ranges::Training(r) => rng.chance(r.texture_share),
        Ranges::Evaluation(c) => c == Condition::Textured,
    };
    let texture_kind = if textured { 1 + rng.below(3) as u8 } else { 0 };
    // In the training mix a faint item gets a faint texture: the pair would hide the item from anyone.
    let texture_strength = match (texture_kind, ranges) {
        (0, _) => 0.0,
        (_, Ranges::Evaluation(Condition::Textured)) => rng.range_f32(0.12, 0.35),
        _ if low_contrast => rng.range_f32(0.03, 0.1),
        (_, Ranges::Training(r)) => rng.range_f32(r.texture_strength[0], r.texture_strength[1]),
        (_, Ranges::Evaluation(_)) => rng.range_f32(0.05, 0.3),
    };
    let texture = Texture::new(texture_kind, texture_strength, &mut rng, w.max(h) as f32);

    // Shadow, light, camera.
    let shadow = effect(
        &mut rng,
        is(Condition::Shadow),
        training_mix.then_some(0.35),
        (0.3, 0.6),
        (0.15, 0.55),
    );
    let shadow_dx = rng.range_f32(-0.12, 0.12) * s;
    let shadow_dy = rng.range_f32(0.0, 0.12) * s;
    let shadow_blur = rng.range_f32(0.04, 0.12) * s;
    let falloff = if is(Condition::Gradient) {
        [rng.range_f32(0.25, 0.55), rng.range_f32(0.2, 0.5)]
    } else if training_mix {
        [rng.range_f32(0.0, 0.45), rng.range_f32(0.0, 0.4)]
    } else {
        [rng.range_f32(0.0, 0.1), rng.range_f32(0.0, 0.1)]
    };
    let light_angle = rng.range_f32(0.0, std::f32::consts::TAU);
    let light_centre = [rng.range_f32(0.3, 0.7), rng.range_f32(0.3, 0.7)];
    let noise = if training_mix {
        rng.range_f32(0.0, 9.0)
    } else {
        rng.range_f32(1.0, 6.0)
    };
    let blur = rng.chance(0.4);
    let jpeg = if rng.chance(0.8) {
        rng.range_f32(if training_mix { 30.0 } else { 40.0 }, 95.0) as u8
    } else {
        0
    };
    let flip = rng.chance(0.5);

    // The item's coverage and its shading, sampled bilinearly from the 28×28 image.
    let item_img: Vec<f32> = item_pixels(item, flip);
    let at = |px: f32, py: f32, dx: f32, dy: f32| -> f32 {
        let fx = (px - x0 - dx) / s * SIDE as f32 - 0.5;
        let fy = (py - y0 - dy) / s * SIDE as f32 - 0.5;
        bilinear(&item_img, fx, fy)
    };
    // The shadow: the item's coverage, offset and blurred (a box blur of the coverage at 28×28 scale).
    let shadow_img = if shadow > 0.0 {
        let r = (shadow_blur / s * SIDE as f32).max(0.5);
        blur28(
            &item_img.iter().map(|&p| coverage(p)).collect::<Vec<_>>(),
            r,
        )
    } else {
        Vec::new()
    };

    let mut rgb = vec![0u8; w * h * 3];
    let (fw, fh) = (w as f32, h as f32);
    for y in 0..h {
        for x in 0..w {
            let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
            let t = texture.at(px, py);
            let mut c = [0.0f32; 3];
            for k in 0..3 {
                c[k] = background[k] * (1.0 + t[k]);
            }
            if shadow > 0.0 {
                let fx = (px - x0 - shadow_dx) / s * SIDE as f32 - 0.5;
                let fy = (py - y0 - shadow_dy) / s * SIDE as f32 - 0.5;
                let sh = bilinear(&shadow_img, fx, fy);
                for v in &mut c {
                    *v *= 1.0 - shadow * sh;
                }
            }
            let p = at(px, py, 0.0, 0.0);
            let a = coverage(p);
            if a > 0.0 {
                // Darker where the dataset image is bright (it is a negative of the product photo).
                let shade = 1.0 + shading * (0.5 - p / 255.0);
                for k in 0..3 {
                    c[k] = c[k] * (1.0 - a) + (item_rgb[k] * shade).clamp(0.0, 1.0) * a;
                }
            }
            // Light: a directional gradient and a falloff toward the corners.
            let (u, v) = (px / fw - light_centre[0], py / fh - light_centre[1]);
            let along = u * light_angle.cos() + v * light_angle.sin();
            let light = (1.0 - falloff[1] * (along + 0.5).clamp(0.0, 1.0))
                * (1.0 - falloff[0] * ((u * u + v * v) * 2.0).min(1.0));
            let o = (y * w + x) * 3;
            for k in 0..3 {
                let n = if noise > 0.0 {
                    gauss(&mut rng) * noise
                } else {
                    0.0
                };
                rgb[o + k] = (c[k] * light * 255.0 + n).round().clamp(0.0, 255.0) as u8;
            }
        }
    }
    if blur {
        rgb = blur_rgb(&rgb, w, h);
    }
    if jpeg > 0 {
        rgb = jpeg_round_trip(&rgb, w as u32, h as u32, jpeg);
    }
    let scene = Scene {
        size: [w as u32, h as u32],
        item_scale,
        background,
        item: item_rgb,
        texture: (texture_kind, texture_strength),
        shadow,
        falloff,
        noise,
        jpeg,
        cut,
    };
    (
        Photo::from_rgb(w as u32, h as u32, rgb).expect("sizes match"),
        scene,
    )
}

/// An effect's strength: drawn from `tested` when the photo tests it, else with probability `mix`
/// (training photos) from `mixed`, else 0.
fn effect(
    rng: &mut Rng,
    is_tested: bool,
    mix: Option<f32>,
    tested: (f32, f32),
    mixed: (f32, f32),
) -> f32 {
    if is_tested {
        rng.range_f32(tested.0, tested.1)
    } else if mix.is_some_and(|p| rng.chance(p)) {
        rng.range_f32(mixed.0, mixed.1)
    } else {
        0.0
    }
}

/// The 28×28 image as f32, mirrored when `flip`.
fn item_pixels(item: &[u8], flip: bool) -> Vec<f32> {
    (0..SIDE * SIDE)
        .map(|i| {
            let (y, x) = (i / SIDE, i % SIDE);
            let x = if flip { SIDE - 1 - x } else { x };
            item[y * SIDE + x] as f32
        })
        .collect()
}

/// How much of a pixel the item covers, from its dataset intensity: the dataset's background is 0 and
/// its edges ramp up over a few levels.
fn coverage(p: f32) -> f32 {
    ((p - 6.0) / 30.0).clamp(0.0, 1.0)
}

/// Bilinear sample of a 28×28 image at (fx, fy) in pixel-centre coordinates; 0 outside.
fn bilinear(img: &[f32], fx: f32, fy: f32) -> f32 {
    if fx <= -1.0 || fy <= -1.0 || fx >= SIDE as f32 || fy >= SIDE as f32 {
        return 0.0;
    }
    let (x0, y0) = (fx.floor(), fy.floor());
    let (tx, ty) = (fx - x0, fy - y0);
    let get = |x: f32, y: f32| {
        if x < 0.0 || y < 0.0 || x >= SIDE as f32 || y >= SIDE as f32 {
            0.0
        } else {
            img[y as usize * SIDE + x as usize]
        }
    };
    let top = get(x0, y0) * (1.0 - tx) + get(x0 + 1.0, y0) * tx;
    let bottom = get(x0, y0 + 1.0) * (1.0 - tx) + get(x0 + 1.0, y0 + 1.0) * tx;
    top * (1.0 - ty) + bottom * ty
}

/// A box blur of radius `r` (28×28 pixels) on a 28×28 image, applied twice (close to a Gaussian).
fn blur28(img: &[f32], r: f32) -> Vec<f32> {
    let r = r.round().max(1.0) as isize;
    let n = SIDE as isize;
    let pass = |src: &[f32], horizontal: bool| {
        let mut out = vec![0.0f32; src.len()];
        for y in 0..n {
            for x in 0..n {
                let mut sum = 0.0;
                for k in -r..=r {
                    let (xx, yy) = if horizontal { (x + k, y) } else { (x, y + k) };
                    if (0..n).contains(&xx) && (0..n).contains(&yy) {
                        sum += src[(yy * n + xx) as usize];
                    }
                }
                out[(y * n + x) as usize] = sum / (2 * r + 1) as f32;
            }
        }
        out
    };
    let mut out = img.to_vec();
    for _ in 0..2 {
        out = pass(&pass(&out, true), false);
    }
    out
}

/// The item's colour: a random colour at least a clear step from the background (or, for low contrast,
/// a small step), lighter than a dark background.
fn pick_item_colour(
    rng: &mut Rng,
    background: [f32; 3],
    dark_bg: bool,
    low_contrast: bool,
) -> [f32; 3] {
    let bg_luma = luma(background);
    let mut best = [0.0; 3];
    for _ in 0..64 {
        let c = if low_contrast {
            // A neighbour of the background: lightness and hue a little apart, toward the side with
            // room (a pale item on a pale table, a dark one on a dark table).
            let room_up = 1.0 - background.iter().copied().fold(0.0, f32::max);
            let room_down = background.iter().copied().fold(1.0, f32::min);
            let up = if room_up < 0.2 || room_down < 0.2 {
                room_up > room_down
            } else {
                rng.chance(0.5)
            };
            let step = rng.range_f32(0.08, 0.2) * if up { 1.0 } else { -1.0 };
            let tint = [
                rng.range_f32(-0.06, 0.06),
                rng.range_f32(-0.06, 0.06),
                rng.range_f32(-0.06, 0.06),
            ];
            [0, 1, 2].map(|k| (background[k] + step + tint[k]).clamp(0.0, 1.0))
        } else if dark_bg {
            hsv(
                rng.next_f32(),
                rng.range_f32(0.0, 0.8),
                rng.range_f32(0.5, 1.0),
            )
        } else {
            hsv(
                rng.next_f32(),
                rng.range_f32(0.0, 0.9),
                rng.range_f32(0.05, 0.8),
            )
        };
        let d = (luma(c) - bg_luma).abs() + 0.5 * chroma_gap(c, background);
        best = c;
        let ok = if low_contrast {
            (0.06..0.22).contains(&d)
        } else {
            d > 0.25
        };
        if ok {
            break;
        }
    }
    best
}

fn luma(c: [f32; 3]) -> f32 {
    0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]
}

fn chroma_gap(a: [f32; 3], b: [f32; 3]) -> f32 {
    let (la, lb) = (luma(a), luma(b));
    ((a[0] - la - b[0] + lb).powi(2) + (a[2] - la - b[2] + lb).powi(2)).sqrt()
}

/// HSV (each 0..1) to RGB.
fn hsv(h: f32, s: f32, v: f32) -> [f32; 3] {
    let i = (h * 6.0).floor();
    let f = h * 6.0 - i;
    let (p, q, t) = (v * (1.0 - s), v * (1.0 - f * s), v * (1.0 - (1.0 - f) * s));
    match i as i32 % 6 {
        0 => [v, t, p],
        1 => [q, v, p],
        2 => [p, v, t],
        3 => [p, q, v],
        4 => [t, p, v],
        _ => [v, p, q],
    }
}

/// A standard normal draw (Box–Muller).
fn gauss(rng: &mut Rng) -> f32 {
    let u1 = rng.next_f32().max(1e-7);
    let u2 = rng.next_f32();
    (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
}

/// A background texture: a relative brightness change per channel at each point.
struct Texture {
    kind: u8,
    strength: f32,
    freq: f32,
    angle: f32,
    tint: [f32; 3],
    lattice: Vec<f32>,
    cells: usize,
    extent: f32,
}

impl Texture {
    fn new(kind: u8, strength: f32, rng: &mut Rng, extent: f32) -> Self {
        let cells = 2 + rng.below(14);
        let lattice = (0..(cells + 2) * (cells + 2))
            .map(|_| rng.range_f32(-1.0, 1.0))
            .collect();
        Self {
            kind,
            strength,
            freq: match kind {
                2 => rng.range_f32(8.0, 40.0) / extent,
                3 => rng.range_f32(0.6, 1.6),
                _ => 0.0,
            },
            angle: rng.range_f32(0.0, std::f32::consts::PI),
            tint: [
                rng.range_f32(0.7, 1.3),
                rng.range_f32(0.7, 1.3),
                rng.range_f32(0.7, 1.3),
            ],
            lattice,
            cells,
            extent,
        }
    }

    /// Smooth value noise in [-1, 1] on a `cells × cells` lattice over the frame.
    fn value_noise(&self, px: f32, py: f32, octave: f32) -> f32 {
        let extent = self.extent;
        let n = self.cells + 2;
        let (fx, fy) = (
            (px / extent * self.cells as f32 * octave) % self.cells as f32,
            (py / extent * self.cells as f32 * octave) % self.cells as f32,
        );
        let (x0, y0) = (fx.floor() as usize, fy.floor() as usize);
        let (tx, ty) = (fx - x0 as f32, fy - y0 as f32);
        let (sx, sy) = (tx * tx * (3.0 - 2.0 * tx), ty * ty * (3.0 - 2.0 * ty));
        let g = |x: usize, y: usize| self.lattice[(y % n) * n + x % n];
        let top = g(x0, y0) * (1.0 - sx) + g(x0 + 1, y0) * sx;
        let bottom = g(x0, y0 + 1) * (1.0 - sx) + g(x0 + 1, y0 + 1) * sx;
        top * (1.0 - sy) + bottom * sy
    }

    fn at(&self, px: f32, py: f32) -> [f32; 3] {
        let v = match self.kind {
            0 => return [0.0; 3],
            // Cloudy: three octaves of value noise.
            1 => {
                0.6 * self.value_noise(px, py, 1.0)
                    + 0.3 * self.value_noise(px, py, 2.0)
                    + 0.1 * self.value_noise(px, py, 4.0)
            }
            // Wood grain: stripes bent by noise.
            2 => {
                let (c, s) = (self.angle.cos(), self.angle.sin());
                let along = px * c + py * s;
                (along * self.freq * std::f32::consts::TAU + 4.0 * self.value_noise(px, py, 1.0))
                    .sin()
            }
            // Weave: fine crossed threads.
            _ => {
                let (c, s) = (self.angle.cos(), self.angle.sin());
                let (u, v) = (px * c + py * s, -px * s + py * c);
                0.5 * ((u * self.freq).sin() + (v * self.freq).sin())
                    + 0.3 * self.value_noise(px, py, 1.0)
            }
        };
        let a = self.strength * v;
        [a * self.tint[0], a * self.tint[1], a * self.tint[2]]
    }
}

/// A 3 × 3 box blur of interleaved RGB (a slightly soft lens).
fn blur_rgb(rgb: &[u8], w: usize, h: usize) -> Vec<u8> {
    let mut out = vec![0u8; rgb.len()];
    for y in 0..h {
        for x in 0..w {
            for k in 0..3 {
                let (mut sum, mut n) = (0u32, 0u32);
                for yy in y.saturating_sub(1)..=(y + 1).min(h - 1) {
                    for xx in x.saturating_sub(1)..=(x + 1).min(w - 1) {
                        sum += rgb[(yy * w + xx) * 3 + k] as u32;
                        n += 1;
                    }
                }
                out[(y * w + x) * 3 + k] = ((sum + n / 2) / n) as u8;
            }
        }
    }
    out
}

/// Encodes as JPEG at `quality` and decodes again: the compression's blocks and ringing.
pub(crate) fn jpeg_round_trip(rgb: &[u8], w: u32, h: u32, quality: u8) -> Vec<u8> {
    jpeg_bytes(rgb, w, h, quality)
        .and_then(|bytes| Photo::decode(&bytes).ok())
        .map(|p| p.rgb)
        .unwrap_or_else(|| rgb.to_vec())
}

/// The photo as a JPEG file.
pub(crate) fn jpeg_bytes(rgb: &[u8], w: u32, h: u32, quality: u8) -> Option<Vec<u8>> {
    use image::ImageEncoder;
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality.clamp(1, 100))
        .write_image(rgb, w, h, image::ExtendedColorType::Rgb8)
        .ok()?;
    Some(out)
}

/// Seed of the `i`-th photo of a set seeded `seed`.
pub fn photo_seed(seed: u64, i: usize) -> u64 {
    seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (i as u64).wrapping_mul(0xD1B5_4A32_D192_ED03)
}

/// Photo-style copies of the images at `indices` of `source`, each drawn as a training photo and sent
/// through [`super::prepare_image`], as a dataset with the same labels. Photos in which the preparation
/// finds no item are left out, as the page would not classify them either. In parallel natively; the
/// result does not depend on the thread count.
pub fn training_photos(
    source: &crate::data::Dataset,
    indices: &[usize],
    ranges: TrainingRanges,
    seed: u64,
) -> crate::data::Dataset {
    let prepared = crate::parallel::par_map(0..indices.len(), |i| {
        let (photo, _) = photo(
            source.image(indices[i]),
            Ranges::Training(ranges),
            photo_seed(seed, i),
        );
        super::prepare_image(&photo, &super::PrepareConfig::default())
    });
    let mut images = Vec::with_capacity(indices.len() * SIDE * SIDE);
    let mut labels = Vec::with_capacity(indices.len());
    for (p, &i) in prepared.iter().zip(indices) {
        if p.item_found {
            images.extend_from_slice(&p.pixels);
            labels.push(source.labels()[i]);
        }
    }
    crate::data::Dataset::new(images, labels).expect("whole 28×28 images with labels")
}

/// The photo benchmark's default seed. The photo-style augmentation uses the training seeds (`train
/// --seed`, 0 for the shipped models) on training images, so no benchmark photo shows a trained item.
pub const BENCH_SEED: u64 = 20_261_201;

/// `per_class` images of each class, picked by `seed` from `labels`: the items of the benchmark.
pub fn benchmark_items(labels: &[u8], per_class: usize, seed: u64) -> Vec<usize> {
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); crate::data::NUM_CLASSES];
    for (i, &l) in labels.iter().enumerate() {
        by_class[l as usize].push(i);
    }
    let mut rng = Rng::new(seed);
    let mut picked = Vec::new();
    for mut idx in by_class {
        rng.shuffle(&mut idx);
        picked.extend_from_slice(&idx[..per_class.min(idx.len())]);
    }
    picked
}

/// The benchmark's photo of `item` (a test image), the `pos`-th of the pick, under `condition`.
pub fn benchmark_photo(item: &[u8], condition: Condition, pos: usize, seed: u64) -> Photo {
    let c = Condition::ALL
        .iter()
        .position(|&x| x == condition)
        .unwrap_or(0);
    photo(
        item,
        Ranges::Evaluation(condition),
        photo_seed(seed.wrapping_add(c as u64 * 1_000_003), pos),
    )
    .0
}
