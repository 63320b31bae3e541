//! 3×3 convolutions in training by Winograd's minimal filtering F(2×2, 3×3) (Lavin and Gray, 2015).
//!
//! Each 2×2 block of output ("tile") comes from the 4×4 input patch under it: with `d` the patch and `g`
//! the kernel, `Y = Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A`. Over all channels that is 16 independent matrix products,
//! one per position ξ of the 4×4 transformed tile: `M[ξ] = U[ξ] × V[ξ]` with `U[ξ]` `[C_out, C_in]` the
//! transformed weights and `V[ξ]` `[C_in, tiles]` the transformed input. A tile costs 16 multiply-adds per
//! channel pair where the direct convolution (im2col) costs 36.
//!
//! The backward pass differentiates these same formulas, so the gradients are exact for the forward
//! values computed: `dM = A dY Aᵀ`; `dU[ξ] = dM[ξ] × V[ξ]ᵀ`, then `dg = Gᵀ dU G`; `dV[ξ] = U[ξ]ᵀ × dM[ξ]`,
//! then `dd = B dV Bᵀ`, added over the overlapping patches. The products are gemm's, as in
//! [`super`], and the work is cut in the same groups of 16 images, so results do not depend on the
//! number of threads.
//!
//! Used only while training (the weight needs a gradient): inference, Grad-CAM and the attacks keep
//! [`super`]'s im2col, whose sums the shipped models' recorded results were computed with. Results
//! equal burn's up to float rounding (tested against burn's convolution).

use burn::tensor::TensorData;
use burn_flex::FlexTensor;

use super::super::dims4;
use super::{
    GROUP_IMAGES, Geometry, Padding, add_bias_grad, bias_values, geometry, matmul, sum_in_order,
};
use crate::parallel::{map_zeroed_chunks, zeroed_by_chunks};

/// The positions of a transformed 4×4 tile: the number of products.
const XI: usize = 16;

/// Input channels below which the transforms cost more than the products save (the first layers, with
/// one input channel, stay with im2col).
const MIN_CHANNELS: usize = 8;

/// A sub-chunk's transformed input `[16, C_in, n·tiles]` stays within this many values (512 KB).
pub(super) const CHUNK_VALUES: usize = 1 << 17;

/// The tiles of one image's output: `th × tw` blocks of 2×2, the last row and column possibly half
/// outside the output. Tiles are numbered row by row with one more per row than there are
/// (`wide = tw + 1`): then the patches of all tiles are the same shifts of one plane (see [`Parity`]) and
/// every transform runs over a whole image plane in loops of unit stride. The extra tile of each row is
/// computed and thrown away, its output gradient zero.
#[derive(Debug, Clone, Copy)]
struct Tiles {
    th: usize,
    tw: usize,
}

impl Tiles {
    fn of(geo: &Geometry) -> Self {
        Self {
            th: geo.h_out.div_ceil(2),
            tw: geo.w_out.div_ceil(2),
        }
    }

    /// Tiles in a row, the extra one included.
    fn wide(self) -> usize {
        self.tw + 1
    }

    /// Tiles of one image, the extra ones included: the products' columns per image.
    fn per_image(self) -> usize {
        self.th * self.wide()
    }
}

/// A zero-padded input plane (or input gradient) cut by the parity of its rows and columns into four
/// quarter planes of `(th + 1) × wide` values (and one more, read past the end by the last extra tile):
/// quarter `(ry, rx)` holds the padded plane's rows `2Y + ry` and columns `2X + rx`. Value `(r, l)` of tile
/// `j = ty · wide + tx`'s 4×4 patch is then quarter `(r % 2, l % 2)` at `j + (r / 2) · wide + l / 2`.
struct Parity;

impl Parity {
    /// Values in one quarter plane.
    fn quarter(tiles: Tiles) -> usize {
        (tiles.th + 1) * tiles.wide() + 1
    }

    /// Padded row `py` of the quarters in `pad`, from the padded column `left` on, as the two runs that
    /// hold the image's columns 0, 2, 4, … and 1, 3, 5, ….
    #[inline]
    fn row(tiles: Tiles, pad: &mut [f32], py: usize, left: usize) -> [&mut [f32]; 2] {
        let q = Self::quarter(tiles);
        let start = (py / 2) * tiles.wide();
        let (even, odd) = pad[(py & 1) * 2 * q..][..2 * q].split_at_mut(q);
        // Image column x is padded column x + left: even when x has left's parity.
        let (same, other) = if left.is_multiple_of(2) {
            (even, odd)
        } else {
            (odd, even)
        };
        [
            &mut same[start + left / 2..][..tiles.wide() - left / 2],
            &mut other[start + left.div_ceil(2)..][..tiles.wide() - left.div_ceil(2)],
        ]
    }
}

/// Whether Winograd pays for this convolution: a 3×3 kernel, at least [`MIN_CHANNELS`] input channels,
/// and at least 1.3× fewer multiplications than im2col, counting the tiles that stick out of the output
/// and the extra tile of each row (the CNN's second layer, 11×11 out: 1.6×; the ResNet's blocks, 14×14
/// and 7×7: 1.97× and 1.38×; the CNN's third layer, 3×3 out: 0.8×, so not it).
pub(super) fn pays(geo: &Geometry) -> bool {
    let tiles = Tiles::of(geo);
    geo.kh == 3
        && geo.kw == 3
        && geo.c_in >= MIN_CHANNELS
        && 10 * 9 * geo.positions() >= 13 * XI * tiles.per_image()
}

/// The transformed weights `U = G g Gᵀ`: `[C_out, C_in, 3, 3]` → `[16, C_out, C_in]`.
fn transform_weight(ws: &[f32], c_out: usize, c_in: usize) -> Vec<f32> {
    let mut u = vec![0f32; XI * c_out * c_in];
    for (oc, g) in ws.chunks_exact(9).enumerate() {
        // G g: 4 rows of 3.
        let row = |r: usize| [g[r * 3], g[r * 3 + 1], g[r * 3 + 2]];
        let (g0, g1, g2) = (row(0), row(1), row(2));
        let t: [[f32; 3]; 4] = [
            g0,
            std::array::from_fn(|l| 0.5 * (g0[l] + g1[l] + g2[l])),
            std::array::from_fn(|l| 0.5 * (g0[l] - g1[l] + g2[l])),
            g2,
        ];
        for (a, t) in t.iter().enumerate() {
            let row = [
                t[0],
                0.5 * (t[0] + t[1] + t[2]),
                0.5 * (t[0] - t[1] + t[2]),
                t[2],
            ];
            for (b, value) in row.into_iter().enumerate() {
                u[(a * 4 + b) * c_out * c_in + oc] = value;
            }
        }
    }
    u
}

/// The weight gradient from the transformed one, `dg = Gᵀ dU G`: `[16, C_out, C_in]` → `[C_out, C_in, 3, 3]`.
fn untransform_weight_grad(du: &[f32], pairs: usize) -> Vec<f32> {
    let mut dg = vec![0f32; pairs * 9];
    for (oc, g) in dg.chunks_exact_mut(9).enumerate() {
        let at = |a: usize, b: usize| du[(a * 4 + b) * pairs + oc];
        // Gᵀ dU: 3 rows of 4.
        let p: [[f32; 4]; 3] = [
            std::array::from_fn(|b| at(0, b) + 0.5 * (at(1, b) + at(2, b))),
            std::array::from_fn(|b| 0.5 * (at(1, b) - at(2, b))),
            std::array::from_fn(|b| 0.5 * (at(1, b) + at(2, b)) + at(3, b)),
        ];
        for (k, p) in p.iter().enumerate() {
            g[k * 3] = p[0] + 0.5 * (p[1] + p[2]);
            g[k * 3 + 1] = 0.5 * (p[1] - p[2]);
            g[k * 3 + 2] = 0.5 * (p[1] + p[2]) + p[3];
        }
    }
    dg
}

// The transforms below run over a whole plane at a time, in loops of unit stride that the compiler
// vectorises ([`Tiles`], [`Parity`]).

/// `row`'s values at even positions into `even`, at odd ones into `odd` (each at least half `row`'s
/// length, rounded up and down). One loop over pairs, of single-value moves: vector shuffles in their
/// place made the transforms no faster (BENCHMARKS.md).
#[inline(always)]
fn deinterleave(row: &[f32], even: &mut [f32], odd: &mut [f32]) {
    let pairs = row.chunks_exact(2);
    let tail = pairs.remainder();
    for ((e, o), pair) in even.iter_mut().zip(odd.iter_mut()).zip(pairs) {
        *e = pair[0];
        *o = pair[1];
    }
    if let [last] = tail {
        even[row.len() / 2] = *last;
    }
}

/// The inverse of [`deinterleave`]: `row` from its values at even and at odd positions.
#[inline(always)]
fn interleave(row: &mut [f32], even: &[f32], odd: &[f32]) {
    let half = row.len() / 2;
    let mut pairs = row.chunks_exact_mut(2);
    for ((pair, &e), &o) in (&mut pairs).zip(even).zip(odd) {
        pair[0] = e;
        pair[1] = o;
    }
    if let [last] = pairs.into_remainder() {
        *last = even[half];
    }
}

/// `dst[i] = f(a[i], b[i])`.
#[inline(always)]
fn map2(dst: &mut [f32], a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) {
    for ((d, &a), &b) in dst.iter_mut().zip(a).zip(b) {
        *d = f(a, b);
    }
}

/// `dst[i] = f(a[i], b[i], c[i])`.
#[inline(always)]
fn map3(dst: &mut [f32], a: &[f32], b: &[f32], c: &[f32], f: impl Fn(f32, f32, f32) -> f32) {
    for (((d, &a), &b), &c) in dst.iter_mut().zip(a).zip(b).zip(c) {
        *d = f(a, b, c);
    }
}

/// `dst[i] += f(a[i], b[i], c[i])`.
#[inline(always)]
fn add3(dst: &mut [f32], a: &[f32], b: &[f32], c: &[f32], f: impl Fn(f32, f32, f32) -> f32) {
    for (((d, &a), &b), &c) in dst.iter_mut().zip(a).zip(b).zip(c) {
        *d += f(a, b, c);
    }
}

/// The transformed input `V = Bᵀ d B` of images `first..first + count` into `v` `[16, C_in, count·tiles]`
/// (column `(image, tile)`). Every value is written.
fn transform_input(
    xs: &[f32],
    geo: &Geometry,
    tiles: Tiles,
    (first, count): (usize, usize),
    v: &mut Vec<f32>,
    (pad, tmp): (&mut Vec<f32>, &mut Vec<f32>),
) {
    let (tp, plane_len, c_in, wide) = (tiles.per_image(), geo.h * geo.w, geo.c_in, tiles.wide());
    let cols = count * tp;
    let xi_len = c_in * cols;
    v.resize(XI * xi_len, 0.0);
    let q = Parity::quarter(tiles);
    // Bᵀ d spans one value more than the tiles, read by the shift of one column below.
    let span = tp + 1;
    tmp.resize(8 * span, 0.0);
    // Zeroed once: every plane writes the same positions (the image's), the padding stays zero.
    pad.clear();
    pad.resize(4 * q, 0.0);
    for i in 0..count {
        let image = &xs[(first + i) * c_in * plane_len..][..c_in * plane_len];
        for (c, plane) in image.chunks_exact(plane_len).enumerate() {
            for (y, row) in plane.chunks_exact(geo.w).enumerate() {
                let [even, odd] = Parity::row(tiles, pad, y + geo.top, geo.left);
                deinterleave(row, even, odd);
            }
            // Bᵀ d for the columns of parity rx: the patch's rows 0..4 are quarters (0, rx) and
            // (1, rx), then the same one tile row down.
            for rx in 0..2 {
                let (even, odd) = (&pad[rx * q..][..q], &pad[(2 + rx) * q..][..q]);
                let (d0, d1, d2, d3) = (
                    &even[..span],
                    &odd[..span],
                    &even[wide..][..span],
                    &odd[wide..][..span],
                );
                let t = &mut tmp[rx * 4 * span..][..4 * span];
                let (t0, rest) = t.split_at_mut(span);
                let (t1, rest) = rest.split_at_mut(span);
                let (t2, t3) = rest.split_at_mut(span);
                map2(t0, d0, d2, |a, b| a - b);
                map2(t1, d1, d2, |a, b| a + b);
                map2(t2, d2, d1, |a, b| a - b);
                map2(t3, d1, d3, |a, b| a - b);
            }
            // (Bᵀ d) B: columns s0..s3 of tile j are even j, odd j, even j + 1, odd j + 1.
            let base = c * cols + i * tp;
            for a in 0..4 {
                let even = &tmp[a * span..][..span];
                let odd = &tmp[(4 + a) * span..][..span];
                let out = |b: usize| (a * 4 + b) * xi_len + base;
                map2(&mut v[out(0)..][..tp], even, &even[1..], |s0, s2| s0 - s2);
                map2(&mut v[out(1)..][..tp], odd, &even[1..], |s1, s2| s1 + s2);
                map2(&mut v[out(2)..][..tp], &even[1..], odd, |s2, s1| s2 - s1);
                map2(&mut v[out(3)..][..tp], odd, &odd[1..], |s1, s3| s1 - s3);
            }
        }
    }
}

/// The outputs `Y = Aᵀ M A` (+ bias) of `count` images from `m` `[16, C_out, count·tiles]` into `dst`
/// `[count, C_out, H_out, W_out]`.
fn transform_output(
    m: &[f32],
    geo: &Geometry,
    tiles: Tiles,
    (count, bias): (usize, &[f32]),
    dst: &mut [f32],
    tmp: &mut Vec<f32>,
) {
    let (tp, p, c_out, wide) = (tiles.per_image(), geo.positions(), bias.len(), tiles.wide());
    let cols = count * tp;
    let xi_len = c_out * cols;
    tmp.resize(12 * tp, 0.0);
    for (ic, plane) in dst.chunks_exact_mut(p).enumerate() {
        let (i, o) = (ic / c_out, ic % c_out);
        let b = bias[o];
        let base = o * cols + i * tp;
        let at = |a: usize, l: usize| &m[(a * 4 + l) * xi_len + base..][..tp];
        let (r, y) = tmp.split_at_mut(8 * tp);
        // Aᵀ M: row 0 = M0 + M1 + M2, row 1 = M1 − M2 − M3, for each column l.
        for (l, r) in r.chunks_exact_mut(2 * tp).enumerate() {
            let (r0, r1) = r.split_at_mut(tp);
            map3(r0, at(0, l), at(1, l), at(2, l), |a, b, c| a + b + c);
            map3(r1, at(1, l), at(2, l), at(3, l), |a, b, c| a - b - c);
        }
        // (Aᵀ M) A, bias added: y[2·dy + dx] is each tile's output (dy, dx).
        let r = &*r;
        let col = |l: usize, row: usize| &r[(l * 2 + row) * tp..][..tp];
        for (k, y) in y.chunks_exact_mut(tp).enumerate() {
            let row = k / 2;
            if k % 2 == 0 {
                map3(y, col(0, row), col(1, row), col(2, row), |a, c, d| {
                    a + c + d + b
                });
            } else {
                map3(y, col(1, row), col(2, row), col(3, row), |a, c, d| {
                    a - c - d + b
                });
            }
        }
        for (oy, row) in plane.chunks_exact_mut(geo.w_out).enumerate() {
            let at = (oy / 2) * wide;
            let (left, right) = (
                &y[(oy % 2) * 2 * tp + at..][..tiles.tw],
                &y[((oy % 2) * 2 + 1) * tp + at..][..tiles.tw],
            );
            interleave(row, left, right);
        }
    }
}

/// The transformed output gradient `dM = A dY Aᵀ` of `count` images (`gs` `[count, C_out, H_out, W_out]`)
/// into `dm` `[16, C_out, count·tiles]`; the tiles' positions outside the output, and the extra tiles,
/// count as zero.
fn transform_output_grad(
    gs: &[f32],
    geo: &Geometry,
    tiles: Tiles,
    (count, c_out): (usize, usize),
    dm: &mut Vec<f32>,
    tmp: &mut Vec<f32>,
) {
    let (tp, p, wide) = (tiles.per_image(), geo.positions(), tiles.wide());
    let cols = count * tp;
    let xi_len = c_out * cols;
    dm.resize(XI * xi_len, 0.0);
    // Zeroed once: every plane writes the same positions (the output's), the rest stays zero.
    tmp.clear();
    tmp.resize(8 * tp, 0.0);
    for (ic, plane) in gs.chunks_exact(p).enumerate() {
        let (i, o) = (ic / c_out, ic % c_out);
        let base = o * cols + i * tp;
        // The gradient by tile: y[2·dy + dx][j] = dY at tile j's output (dy, dx), zero outside.
        let (y, s) = tmp.split_at_mut(4 * tp);
        for (oy, row) in plane.chunks_exact(geo.w_out).enumerate() {
            let at = (oy / 2) * wide;
            let (left, right) = y[(oy % 2) * 2 * tp..][..2 * tp].split_at_mut(tp);
            deinterleave(row, &mut left[at..], &mut right[at..]);
        }
        let y = &*y;
        let yk = |k: usize| &y[k * tp..][..tp];
        // A dY: s_a = [row 0, row 0 + row 1, row 0 − row 1, −row 1] for each of the 2 columns
        // (s_0 is dY's row 0 itself and s_3 its row 1 negated: read from `y` below).
        let (s1, s2) = s.split_at_mut(2 * tp);
        for dx in 0..2 {
            map2(&mut s1[dx * tp..][..tp], yk(dx), yk(2 + dx), |a, b| a + b);
            map2(&mut s2[dx * tp..][..tp], yk(dx), yk(2 + dx), |a, b| a - b);
        }
        for a in 0..4 {
            let (c0, c1, sign) = match a {
                0 => (yk(0), yk(1), 1.0),
                1 => (&s1[..tp], &s1[tp..], 1.0),
                2 => (&s2[..tp], &s2[tp..], 1.0),
                _ => (yk(2), yk(3), -1.0),
            };
            // (A dY) Aᵀ: [c0, c0 + c1, c0 − c1, −c1], each times the row's sign.
            let out = |b: usize| (a * 4 + b) * xi_len + base;
            map2(&mut dm[out(0)..][..tp], c0, c1, |x, _| sign * x);
            map2(&mut dm[out(1)..][..tp], c0, c1, |x, y| sign * (x + y));
            map2(&mut dm[out(2)..][..tp], c0, c1, |x, y| sign * (x - y));
            map2(&mut dm[out(3)..][..tp], c0, c1, |_, y| -sign * y);
        }
    }
}

/// The input gradient `dd = B dV Bᵀ` of `count` images from `dv` `[16, C_in, count·tiles]`, the patches'
/// overlaps added, into `dx` `[count, C_in, H, W]` (overwritten). The extra tiles' `dV` is zero.
fn untransform_input_grad(
    dv: &[f32],
    geo: &Geometry,
    tiles: Tiles,
    count: usize,
    dx: &mut [f32],
    (pad, tmp): (&mut Vec<f32>, &mut Vec<f32>),
) {
    let (tp, plane_len, c_in, wide) = (tiles.per_image(), geo.h * geo.w, geo.c_in, tiles.wide());
    let cols = count * tp;
    let xi_len = c_in * cols;
    let q = Parity::quarter(tiles);
    tmp.resize(4 * tp, 0.0);
    for (ic, plane) in dx.chunks_exact_mut(plane_len).enumerate() {
        let (i, c) = (ic / c_in, ic % c_in);
        pad.clear();
        pad.resize(4 * q, 0.0);
        let base = c * cols + i * tp;
        let at = |a: usize, b: usize| &dv[(a * 4 + b) * xi_len + base..][..tp];
        for r in 0..4 {
            // B dV, row r, for each column b: q_0 = dV_0, q_1 = dV_1 − dV_2 + dV_3,
            // q_2 = −dV_0 + dV_1 + dV_2, q_3 = −dV_3.
            for (b, t) in tmp.chunks_exact_mut(tp).enumerate() {
                match r {
                    0 => t.copy_from_slice(at(0, b)),
                    1 => map3(t, at(1, b), at(2, b), at(3, b), |x, y, z| x - y + z),
                    2 => map3(t, at(0, b), at(1, b), at(2, b), |x, y, z| -x + y + z),
                    _ => map2(t, at(3, b), at(3, b), |x, _| -x),
                }
            }
            // (B dV) Bᵀ, added at the patch's row r: column 0 += q0, 1 += q1 − q2 + q3,
            // 2 += −q0 + q1 + q2, 3 += −q3; columns 0 and 2 lie in the even quarter, 1 and 3 in the odd
            // one, 2 and 3 one tile further.
            let t = |b: usize| &tmp[b * tp..][..tp];
            let row = (r / 2) * wide;
            let (even, odd) = pad[(r % 2) * 2 * q..][..2 * q].split_at_mut(q);
            add3(&mut even[row..][..tp], t(0), t(0), t(0), |x, _, _| x);
            add3(&mut odd[row..][..tp], t(1), t(2), t(3), |x, y, z| x - y + z);
            add3(&mut even[row + 1..][..tp], t(0), t(1), t(2), |x, y, z| {
                -x + y + z
            });
            add3(&mut odd[row + 1..][..tp], t(3), t(3), t(3), |x, _, _| -x);
        }
        for (y, row) in plane.chunks_exact_mut(geo.w).enumerate() {
            let [even, odd] = Parity::row(tiles, pad, y + geo.top, geo.left);
            interleave(row, even, odd);
        }
    }
}

/// Reused working buffers of one thread: the transformed input, the products or the transformed output
/// gradient, the input gradient's transform, a padded plane, a plane's intermediate values.
#[derive(Default)]
struct Scratch {
    v: Vec<f32>,
    m: Vec<f32>,
    dv: Vec<f32>,
    pad: Vec<f32>,
    tmp: Vec<f32>,
}

thread_local! {
    /// This thread's [`Scratch`], kept between convolutions (no kernel runs a parallel section while it
    /// holds them).
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch::default());
}

/// Images per sub-chunk: as many as keep the transformed input within `budget` values, at most a group.
fn chunk_images(geo: &Geometry, budget: usize) -> usize {
    (budget / (XI * geo.c_in * Tiles::of(geo).per_image()).max(1)).clamp(1, GROUP_IMAGES)
}

/// The forward pass: `[N, C_in, H, W]` → `[N, C_out, H_out, W_out]`, by groups of images in parallel and,
/// inside a group, sub-chunks within `budget` transformed values.
pub(super) fn forward(
    x: &FlexTensor,
    weight: &FlexTensor,
    bias: Option<&FlexTensor>,
    padding: Padding,
    budget: usize,
) -> FlexTensor {
    let (x, weight) = (x.to_contiguous(), weight.to_contiguous());
    let [n, ..] = dims4(&x);
    let [c_out, c_in, kh, kw] = dims4(&weight);
    let geo = geometry(&x, [kh, kw], padding);
    let tiles = Tiles::of(&geo);
    let out_len = c_out * geo.positions();
    let xs: &[f32] = x.storage();
    let u = transform_weight(weight.storage(), c_out, c_in);
    let bias = bias_values(bias, c_out);
    let sub = chunk_images(&geo, budget);
    let out = zeroed_by_chunks(n * out_len, GROUP_IMAGES * out_len, |group, dst| {
        SCRATCH.with_borrow_mut(|Scratch { v, m, pad, tmp, .. }| {
            let images = dst.len() / out_len;
            for start in (0..images).step_by(sub) {
                let count = sub.min(images - start);
                let first = group * GROUP_IMAGES + start;
                transform_input(xs, &geo, tiles, (first, count), v, (pad, tmp));
                let cols = count * tiles.per_image();
                m.resize(XI * c_out * cols, 0.0);
                for xi in 0..XI {
                    matmul(
                        [c_out, cols, c_in],
                        &mut m[xi * c_out * cols..][..c_out * cols],
                        false,
                        (&u[xi * c_out * c_in..], c_in, 1),
                        (&v[xi * c_in * cols..], cols, 1),
                    );
                }
                let dst = &mut dst[start * out_len..(start + count) * out_len];
                transform_output(m, &geo, tiles, (count, &bias), dst, tmp);
            }
        })
    });
    FlexTensor::from_data(TensorData::new(out, [n, c_out, geo.h_out, geo.w_out]))
}

/// Gradients of input, weight and bias (each when asked) from the output gradient, by the forward pass's
/// groups and sub-chunks; the groups' weight and bias gradients are summed in order.
pub(super) fn grads(
    grad: FlexTensor,
    (x, weight, padding): (&FlexTensor, &FlexTensor, Padding),
    [want_x, want_w, want_b]: [bool; 3],
    budget: usize,
) -> [Option<FlexTensor>; 3] {
    let (grad, x, weight) = (
        grad.to_contiguous(),
        x.to_contiguous(),
        weight.to_contiguous(),
    );
    let [n, c_out, ..] = dims4(&grad);
    let [_, c_in, kh, kw] = dims4(&weight);
    let geo = geometry(&x, [kh, kw], padding);
    let tiles = Tiles::of(&geo);
    let (p, image_len) = (geo.positions(), c_in * geo.h * geo.w);
    let out_len = c_out * p;
    let (xs, gs): (&[f32], &[f32]) = (x.storage(), grad.storage());
    let u = transform_weight(weight.storage(), c_out, c_in);
    let sub = chunk_images(&geo, budget);
    let groups = n.div_ceil(GROUP_IMAGES);
    let pairs = c_out * c_in;
    let dx_len = if want_x { n * image_len } else { 0 };
    let (dx, partials) =
        map_zeroed_chunks(dx_len, GROUP_IMAGES * image_len, groups, |group, dx| {
            SCRATCH.with_borrow_mut(
                |Scratch {
                     v,
                     m: dm,
                     dv,
                     pad,
                     tmp,
                 }| {
                    let first = group * GROUP_IMAGES;
                    let images = GROUP_IMAGES.min(n - first);
                    let mut du = vec![0f32; if want_w { XI * pairs } else { 0 }];
                    let mut gb = vec![0f32; if want_b { c_out } else { 0 }];
                    for start in (0..images).step_by(sub) {
                        let count = sub.min(images - start);
                        let g_images = &gs[(first + start) * out_len..][..count * out_len];
                        if want_b {
                            add_bias_grad(&mut gb, g_images, p);
                        }
                        if !(want_w || want_x) {
                            continue;
                        }
                        transform_output_grad(g_images, &geo, tiles, (count, c_out), dm, tmp);
                        let cols = count * tiles.per_image();
                        if want_w {
                            transform_input(xs, &geo, tiles, (first + start, count), v, (pad, tmp));
                            for xi in 0..XI {
                                matmul(
                                    [c_out, c_in, cols],
                                    &mut du[xi * pairs..][..pairs],
                                    true,
                                    (&dm[xi * c_out * cols..], cols, 1),
                                    (&v[xi * c_in * cols..], 1, cols),
                                ); // dU[ξ] += dM[ξ] × V[ξ]ᵀ
                            }
                        }
                        if want_x {
                            dv.resize(XI * c_in * cols, 0.0);
                            for xi in 0..XI {
                                matmul(
                                    [c_in, cols, c_out],
                                    &mut dv[xi * c_in * cols..][..c_in * cols],
                                    false,
                                    (&u[xi * pairs..], 1, c_in),
                                    (&dm[xi * c_out * cols..], cols, 1),
                                ); // dV[ξ] = U[ξ]ᵀ × dM[ξ]
                            }
                            let dx = &mut dx[start * image_len..(start + count) * image_len];
                            untransform_input_grad(dv, &geo, tiles, count, dx, (pad, tmp));
                        }
                    }
                    (du, gb)
                },
            )
        });
    let gw = want_w.then(|| {
        let du = sum_in_order(partials.iter().map(|(du, _)| du), XI * pairs);
        let dg = untransform_weight_grad(&du, pairs);
        FlexTensor::from_data(TensorData::new(dg, [c_out, c_in, kh, kw]))
    });
    let gb = want_b.then(|| {
        let sum = sum_in_order(partials.iter().map(|(_, gb)| gb), c_out);
        FlexTensor::from_data(TensorData::new(sum, [c_out]))
    });
    let gx = want_x.then(|| FlexTensor::from_data(TensorData::new(dx, [n, c_in, geo.h, geo.w])));
    [gx, gw, gb]
}

#[cfg(test)]
mod tests {
    use burn::module::Param;
    use burn::nn::PaddingConfig2d;
    use burn::nn::conv::{Conv2d, Conv2dConfig};
    use burn::tensor::{Device, Tensor, Tolerance};
    use burn_flex::Flex;

    use super::*;
    use crate::rng::drawn_tensor;

    /// A 3×3 convolution with weights (and bias) drawn from `rng`, Kaiming-uniform's range.
    fn conv(
        rng: &mut crate::rng::Rng,
        [c_in, c_out]: [usize; 2],
        padding: PaddingConfig2d,
        bias: bool,
        device: &Device,
    ) -> Conv2d {
        let mut conv = Conv2dConfig::new([c_in, c_out], [3, 3])
            .with_padding(padding)
            .with_bias(bias)
            .init(device);
        let bound = (1.0 / (9 * c_in) as f32).sqrt();
        conv.weight = Param::from_tensor(drawn_tensor(
            rng,
            [c_out, c_in, 3, 3],
            -bound,
            bound,
            device,
        ));
        if bias {
            conv.bias = Some(Param::from_tensor(drawn_tensor(
                rng,
                [c_out],
                -bound,
                bound,
                device,
            )));
        }
        conv
    }

    /// Batch, input and output channels, image sides, padding, bias.
    type Shape = (usize, usize, usize, [usize; 2], PaddingConfig2d, bool);

    /// The CNN's second layer (odd output: half tiles), the ResNet's blocks at both sizes (20 images:
    /// two groups), an asymmetric padding with an odd output height.
    const SHAPES: [Shape; 4] = [
        (3, 8, 5, [13, 13], PaddingConfig2d::Valid, true),
        (20, 9, 4, [14, 14], PaddingConfig2d::Same, false),
        (3, 8, 8, [7, 7], PaddingConfig2d::Same, false),
        (
            2,
            10,
            3,
            [9, 12],
            PaddingConfig2d::Explicit(2, 1, 0, 1),
            true,
        ),
    ];

    /// Through [`super::super::conv2d`] with a trained weight: Winograd's values and gradients
    /// against burn's convolution, inputs and upstream gradient drawn from `seed`.
    fn check(seed: u64, (batch, c_in, c_out, side, padding, bias): Shape) {
        let device = Device::flex().autodiff();
        let mut rng = crate::rng::Rng::new(seed);
        let conv = conv(&mut rng, [c_in, c_out], padding, bias, &device);
        let x = drawn_tensor(&mut rng, [batch, c_in, side[0], side[1]], 0.0, 1.0, &device)
            .require_grad();
        let geo = geometry(
            &x.clone().inner().try_into_primitive::<Flex>().unwrap(),
            [3, 3],
            super::super::padding_pairs(&conv.padding, side, [3, 3]),
        );
        assert!(pays(&geo), "{geo:?}");
        let ours = super::super::conv2d(&conv, x.clone());
        let burns = conv.forward(x.clone());
        close(ours.clone().into_data(), burns.clone().into_data());
        let upstream = drawn_tensor(&mut rng, ours.dims(), -1.0, 1.0, &device);
        let g_ours = (ours * upstream.clone()).sum().backward();
        let g_burn = (burns * upstream).sum().backward();
        let grad = |t: Tensor<4>, g| t.grad(g).unwrap().into_data();
        close(grad(x.clone(), &g_ours), grad(x, &g_burn));
        let weight = conv.weight.val();
        close(grad(weight.clone(), &g_ours), grad(weight, &g_burn));
        if let Some(b) = &conv.bias {
            close(
                b.val().grad(&g_ours).unwrap().into_data(),
                b.val().grad(&g_burn).unwrap().into_data(),
            );
        }
    }

    /// `ours` equals `reference` within 1e-4 relative, or 1e-4 of the reference's largest magnitude:
    /// a weight gradient sums hundreds of products, and where they cancel, float rounding in either
    /// order of summation is that large against the small result. A wrong term in a transform is off by
    /// the size of the values themselves.
    fn close(ours: TensorData, reference: TensorData) {
        let scale = reference.iter::<f32>().fold(0f32, |m, v| m.max(v.abs()));
        ours.assert_approx_eq::<f32>(&reference, Tolerance::rel_abs(1e-4, 1e-4 * scale));
    }

    #[test]
    fn values_and_gradients_match_burns_convolution() {
        for shape in SHAPES {
            check(0, shape);
        }
    }

    /// The tolerance holds for any seed, not only the one above.
    #[test]
    fn the_tolerance_holds_over_seeds() {
        for seed in 1..40 {
            for shape in SHAPES {
                check(seed, shape);
            }
        }
    }

    /// A trained convolution takes Winograd where it pays; the same weights without a gradient (an
    /// attack's or Grad-CAM's model) keep im2col, bit for bit.
    #[test]
    fn training_takes_it_and_frozen_weights_do_not() {
        let device = Device::flex().autodiff();
        let mut rng = crate::rng::Rng::new(3);
        let conv = conv(&mut rng, [8, 4], PaddingConfig2d::Valid, true, &device);
        let x = drawn_tensor(&mut rng, [2, 8, 13, 13], 0.0, 1.0, &device);
        let flex = |t: Tensor<4>| t.inner().try_into_primitive::<Flex>().unwrap();
        let (w, b) = (
            flex(conv.weight.val()),
            conv.bias
                .as_ref()
                .unwrap()
                .val()
                .inner()
                .try_into_primitive::<Flex>()
                .unwrap(),
        );
        let padding = [(0, 0), (0, 0)];
        let data = |t: FlexTensor| Tensor::<4>::from_primitive::<Flex>(t).into_data();
        let winograd = data(forward(
            &flex(x.clone()),
            &w,
            Some(&b),
            padding,
            CHUNK_VALUES,
        ));
        let im2col = data(super::super::forward(
            &flex(x.clone()),
            &w,
            Some(&b),
            padding,
            1 << 16,
        ));
        assert_ne!(winograd, im2col, "the two sum in different orders");
        let trained = super::super::conv2d(&conv, x.clone());
        trained.inner().into_data().assert_eq(&winograd, true);
        let frozen = burn::module::Module::no_grad(conv);
        let frozen = super::super::conv2d(&frozen, x);
        frozen.inner().into_data().assert_eq(&im2col, true);
    }

    #[test]
    fn it_is_chosen_where_it_pays() {
        let geo = |c_in, [h, w]: [usize; 2], pad: usize| Geometry {
            c_in,
            h,
            w,
            kh: 3,
            kw: 3,
            h_out: h + 2 * pad - 2,
            w_out: w + 2 * pad - 2,
            top: pad,
            left: pad,
        };
        // The CNN: conv 2 yes; conv 1 (one channel) and conv 3 (3×3 out) no.
        assert!(pays(&geo(32, [13, 13], 0)));
        assert!(!pays(&geo(1, [28, 28], 0)));
        assert!(!pays(&geo(64, [5, 5], 0)));
        // The ResNet's blocks, at 14×14 and 7×7, yes; its stem (one channel) no.
        assert!(pays(&geo(32, [14, 14], 1)));
        assert!(pays(&geo(32, [7, 7], 1)));
        assert!(!pays(&geo(1, [28, 28], 1)));
        // A 5×5 kernel never.
        assert!(!pays(&Geometry {
            kh: 5,
            kw: 5,
            ..geo(32, [14, 14], 0)
        }));
    }

    #[cfg(not(target_arch = "wasm32"))]
    #[test]
    fn results_do_not_depend_on_the_number_of_threads_or_the_sub_chunks() {
        // 40 images: three groups.
        let device = Device::flex();
        let mut rng = crate::rng::Rng::new(7);
        let x = drawn_tensor(&mut rng, [40, 8, 13, 13], 0.0, 1.0, &device);
        let w = drawn_tensor(&mut rng, [5, 8, 3, 3], -0.2, 0.2, &device);
        let g = drawn_tensor(&mut rng, [40, 5, 13, 13], -1.0, 1.0, &device);
        let [x, w, g] = [x, w, g].map(|t| t.try_into_primitive::<Flex>().unwrap());
        let padding = [(1, 1), (1, 1)];
        let run = |threads: usize, budget: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let out = forward(&x, &w, None, padding, budget);
                let [gx, gw, _] = grads(g.clone(), (&x, &w, padding), [true, true, false], budget);
                [out, gx.unwrap(), gw.unwrap()]
                    .map(|t| Tensor::<4>::from_primitive::<Flex>(t).into_data())
            })
        };
        let one = run(1, CHUNK_VALUES);
        for (a, b) in one.iter().zip(run(3, CHUNK_VALUES)) {
            a.assert_eq(&b, true);
        }
        // Sub-chunks of one image against whole groups: the same values up to the order in which the
        // weight gradient is summed.
        assert_eq!(chunk_images(&geometry(&x, [3, 3], padding), 1), 1);
        for (a, b) in one.into_iter().zip(run(2, 1)) {
            close(b, a);
        }
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod timing {
    use burn::tensor::{Device, Tensor};
    use burn_flex::Flex;

    use super::super::{CHUNK_VALUES as IM2COL_CHUNK, Method, conv_grads};
    use super::*;

    /// Times im2col and Winograd on the ResNet's and the CNN's shapes, forward and backward, at a batch
    /// of 128 (`cargo test --release --lib conv_timing -- --ignored --nocapture`).
    #[test]
    #[ignore = "a measurement, not a check"]
    fn conv_timing() {
        let device = Device::flex();
        for (c_in, c_out, side, pad) in [(32, 32, 14, 1), (32, 32, 7, 1), (32, 64, 13, 0)] {
            let x = crate::rng::seeded_tensor::<4>([128, c_in, side, side], 0.0, 1.0, &device);
            let w = crate::rng::seeded_tensor::<4>([c_out, c_in, 3, 3], -0.1, 0.1, &device);
            let out = side + 2 * pad - 2;
            let g = crate::rng::seeded_tensor::<4>([128, c_out, out, out], -1.0, 1.0, &device);
            let [x, w, g] = [x, w, g].map(|t: Tensor<4>| t.try_into_primitive::<Flex>().unwrap());
            let padding = [(pad, pad), (pad, pad)];
            let time = |f: &dyn Fn()| {
                let mut best = f64::MAX;
                for _ in 0..15 {
                    let start = std::time::Instant::now();
                    f();
                    best = best.min(start.elapsed().as_secs_f64() * 1e3);
                }
                best
            };
            let wants = [true, true, false];
            let im2col_f = time(&|| {
                std::hint::black_box(super::super::forward(&x, &w, None, padding, IM2COL_CHUNK));
            });
            let state = (x.clone(), w.clone(), padding, Method::Im2col);
            let im2col_b = time(&|| {
                std::hint::black_box(conv_grads(g.clone(), &state, wants, IM2COL_CHUNK));
            });
            println!("{c_in}→{c_out} {side}×{side}: im2col {im2col_f:.2} / {im2col_b:.2} ms");
            for budget in [1 << 15, 1 << 16, 1 << 17, 1 << 18, 1 << 19] {
                let f = time(&|| {
                    std::hint::black_box(forward(&x, &w, None, padding, budget));
                });
                let b = time(&|| {
                    std::hint::black_box(grads(g.clone(), (&x, &w, padding), wants, budget));
                });
                println!("  winograd, budget {budget}: {f:.2} / {b:.2} ms");
            }
        }
    }
}
