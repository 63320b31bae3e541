//! 2-D convolution on flex by im2col and matrix products: the convolutions of the CNN and the ResNet.
//!
//! flex's own convolution copies its input to NHWC and builds its columns element by element, and burn
//! computes a convolution's weight gradient as another convolution (input and output gradient with batch
//! and channels swapped: on flex an im2col of the whole batch under a 26×26 "kernel" and a matrix product
//! 9 columns wide). Together they were most of a CNN training epoch (BENCHMARKS.md). Here, on flex
//! (natively and in wasm, with or without autodiff), a batch is cut into groups of 16 images, and each
//! group is one thread's work from start to end (no hand-over between threads inside a convolution):
//! by sub-chunks of `n` images whose im2col `[C_in·kh·kw, n·P]` (P output positions an image, built from
//! contiguous row runs) stays within 256 KB,
//! - forward: weight `[C_out, C_in·kh·kw]` × im2col, written into NCHW with the bias added;
//! - backward: the group's weight gradient += output gradient `[C_out, n·P]` × im2colᵀ; input gradient =
//!   col2im(weightᵀ × output gradient); bias gradient = Σ output gradient; the groups' weight and bias
//!   gradients are then summed in order, so results do not depend on the number of threads.
//!
//! The products are gemm's (the crate flex uses), called on the group's thread with strided operands, so
//! transposes are read in place. Stride 1, dilation 1, one group, any padding; anything else, and every
//! other backend, goes through burn's `Conv2d::forward`. Results equal burn's up to float summation order
//! (tested).
//!
//! While training (the weight has a gradient), a 3×3 convolution with enough input channels and outputs
//! takes Winograd's F(2×2, 3×3) instead ([`winograd`]): the CNN's second layer and the ResNet's blocks.
//! Inference keeps im2col.

use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2d;
use burn::tensor::{DType, Tensor, TensorData};
use burn_flex::{Flex, FlexTensor};

#[cfg(feature = "engine")]
use super::autodiff::*;
use super::dims4;
#[cfg(feature = "engine")]
use super::lane_sum;
#[cfg(feature = "engine")]
use crate::parallel::map_zeroed_chunks;
use crate::parallel::zeroed_by_chunks;

// Training only: the convolutions whose weight has a gradient.
#[cfg(feature = "engine")]
mod winograd;

/// `conv.forward(x)`, on flex by im2col: `[N, C_in, H, W]` → `[N, C_out, H_out, W_out]`.
pub fn conv2d(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    if let Some(padding) = eligible(conv, &x) {
        #[cfg(feature = "engine")]
        if let Some(out) = try_flex_autodiff(conv, x.clone(), padding) {
            return out;
        }
        if let Some(out) = try_flex(conv, x.clone(), padding) {
            return out;
        }
    }
    conv.forward(x)
}

/// Which way [`conv2d`] goes (the tests check the path a shape takes).
#[cfg(all(test, feature = "engine"))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConvPath {
    /// flex under autodiff: our forward and backward passes.
    FlexAutodiff,
    /// flex without autodiff (inference): our forward pass.
    Flex,
    /// burn's `Conv2d::forward`.
    Burn,
}

/// The way [`conv2d`] takes for `conv` and `x`.
#[cfg(all(test, feature = "engine"))]
pub fn conv_path(conv: &Conv2d, x: &Tensor<4>) -> ConvPath {
    let weight = conv.weight.val();
    if eligible(conv, x).is_none() {
        ConvPath::Burn
    } else if x.clone().try_into_primitive::<Autodiff<Flex>>().is_ok()
        && weight
            .clone()
            .try_into_primitive::<Autodiff<Flex>>()
            .is_ok()
    {
        ConvPath::FlexAutodiff
    } else if x.clone().try_into_primitive::<Flex>().is_ok()
        && weight.try_into_primitive::<Flex>().is_ok()
    {
        ConvPath::Flex
    } else {
        ConvPath::Burn
    }
}

/// The padding when our kernels handle `conv` on `x`: f32, stride 1, dilation 1, one group, a non-empty
/// batch and output (an empty one goes to burn, whose error or empty result stays as it is).
fn eligible(conv: &Conv2d, x: &Tensor<4>) -> Option<Padding> {
    let [n, _, h, w] = x.dims();
    let padding = padding_pairs(&conv.padding, [h, w], conv.kernel_size);
    let [(top, bottom), (left, right)] = padding;
    (x.dtype() == DType::F32
        && conv.stride == [1, 1]
        && conv.dilation == [1, 1]
        && conv.groups == 1
        && n > 0
        && h + top + bottom >= conv.kernel_size[0]
        && w + left + right >= conv.kernel_size[1])
        .then_some(padding)
}

/// On flex without autodiff: our forward pass.
fn try_flex(conv: &Conv2d, x: Tensor<4>, padding: Padding) -> Option<Tensor<4>> {
    let x = x.try_into_primitive::<Flex>().ok()?;
    let weight = conv.weight.val().try_into_primitive::<Flex>().ok()?;
    let bias = match &conv.bias {
        Some(b) => Some(b.val().try_into_primitive::<Flex>().ok()?),
        None => None,
    };
    let out = forward(&x, &weight, bias.as_ref(), padding, CHUNK_VALUES);
    Some(Tensor::from_primitive::<Flex>(out))
}

#[cfg(feature = "engine")]
/// On flex under autodiff: our forward pass, recorded with our backward pass.
fn try_flex_autodiff(conv: &Conv2d, x: Tensor<4>, padding: Padding) -> Option<Tensor<4>> {
    let x = x.try_into_primitive::<Autodiff<Flex>>().ok()?;
    let weight = conv
        .weight
        .val()
        .try_into_primitive::<Autodiff<Flex>>()
        .ok()?;
    let bias = match &conv.bias {
        Some(b) => Some(b.val().try_into_primitive::<Autodiff<Flex>>().ok()?),
        None => None,
    };
    // Winograd only where the weight is trained (see `winograd`'s docs).
    let trained = conv.weight.val().is_require_grad();
    Some(Tensor::from_primitive::<Autodiff<Flex>>(autodiff_conv(
        x, weight, bias, padding, trained,
    )))
}

/// Padding as `(begin, end)` pairs: `[(top, bottom), (left, right)]`.
type Padding = [(usize, usize); 2];

/// burn's padding of a stride-1 convolution as `(begin, end)` pairs (as `Conv2d::forward` computes it;
/// `Same` puts the odd pixel at the end).
fn padding_pairs(config: &PaddingConfig2d, [h, w]: [usize; 2], [kh, kw]: [usize; 2]) -> Padding {
    let same = |k: usize, size: usize| {
        let total = if size > 0 {
            (size - 1 + k).saturating_sub(size)
        } else {
            0
        };
        (total / 2, total - total / 2)
    };
    match *config {
        PaddingConfig2d::Valid => [(0, 0), (0, 0)],
        PaddingConfig2d::Same => [same(kh, h), same(kw, w)],
        PaddingConfig2d::Explicit(top, left, bottom, right) => [(top, bottom), (left, right)],
    }
}

#[cfg(feature = "engine")]
/// How a convolution under autodiff computes its forward and backward passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    /// im2col and one product per sub-chunk (this module).
    Im2col,
    /// Winograd's F(2×2, 3×3) ([`winograd`]).
    Winograd,
}

#[cfg(feature = "engine")]
impl Method {
    /// Winograd for a `trained` convolution where it pays, else im2col.
    fn choose(x: &FlexTensor, weight: &FlexTensor, padding: Padding, trained: bool) -> Self {
        let [.., kh, kw] = dims4(weight);
        if trained && winograd::pays(&geometry(x, [kh, kw], padding)) {
            Self::Winograd
        } else {
            Self::Im2col
        }
    }

    fn forward(
        self,
        x: &FlexTensor,
        weight: &FlexTensor,
        bias: Option<&FlexTensor>,
        padding: Padding,
    ) -> FlexTensor {
        match self {
            Self::Im2col => forward(x, weight, bias, padding, CHUNK_VALUES),
            Self::Winograd => winograd::forward(x, weight, bias, padding, winograd::CHUNK_VALUES),
        }
    }

    fn grads(
        self,
        grad: FlexTensor,
        state: &ConvState,
        wants: [bool; 3],
    ) -> [Option<FlexTensor>; 3] {
        match self {
            Self::Im2col => conv_grads(grad, state, wants, CHUNK_VALUES),
            Self::Winograd => {
                let (x, weight, padding, _) = state;
                winograd::grads(grad, (x, weight, *padding), wants, winograd::CHUNK_VALUES)
            }
        }
    }
}

#[cfg(feature = "engine")]
fn autodiff_conv(
    x: AutodiffFloat,
    weight: AutodiffFloat,
    bias: Option<AutodiffFloat>,
    padding: Padding,
    trained: bool,
) -> AutodiffFloat {
    let (x_in, w_in) = (
        Autodiff::<Flex>::inner(x.clone()),
        Autodiff::<Flex>::inner(weight.clone()),
    );
    let b_in = bias.clone().map(Autodiff::<Flex>::inner);
    let method = Method::choose(&x_in, &w_in, padding, trained);
    match bias {
        Some(bias) => match ConvBiasBackward
            .prepare::<NoCheckpointing>([x.node(), weight.node(), bias.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let out = method.forward(&x_in, &w_in, b_in.as_ref(), padding);
                prep.finish((x_in, w_in, padding, method), out)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(method.forward(&x_in, &w_in, b_in.as_ref(), padding))
            }
        },
        None => match ConvBackward
            .prepare::<NoCheckpointing>([x.node(), weight.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let out = method.forward(&x_in, &w_in, None, padding);
                prep.finish((x_in, w_in, padding, method), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(method.forward(&x_in, &w_in, None, padding)),
        },
    }
}

#[cfg(feature = "engine")]
/// Backward of [`conv2d`] on flex without a bias; parents `[x, weight]`. State: the input, the weight
/// and the padding.
#[derive(Debug)]
struct ConvBackward;

#[cfg(feature = "engine")]
/// Backward of [`conv2d`] on flex with a bias; parents `[x, weight, bias]`. State as [`ConvBackward`].
#[derive(Debug)]
struct ConvBiasBackward;

#[cfg(feature = "engine")]
type ConvState = (FlexTensor, FlexTensor, Padding, Method);

#[cfg(feature = "engine")]
impl Backward<Flex, 2> for ConvBackward {
    type State = ConvState;

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [px, pw] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let [gx, gw, _] = ops
            .state
            .3
            .grads(grad, &ops.state, [px.is_some(), pw.is_some(), false]);
        if let (Some(node), Some(g)) = (px, gx) {
            grads.register::<Flex>(node.id, g);
        }
        if let (Some(node), Some(g)) = (pw, gw) {
            grads.register::<Flex>(node.id, g);
        }
    }
}

#[cfg(feature = "engine")]
impl Backward<Flex, 3> for ConvBiasBackward {
    type State = ConvState;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [px, pw, pb] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let [gx, gw, gb] =
            ops.state
                .3
                .grads(grad, &ops.state, [px.is_some(), pw.is_some(), pb.is_some()]);
        for (node, g) in [(px, gx), (pw, gw), (pb, gb)] {
            if let (Some(node), Some(g)) = (node, g) {
                grads.register::<Flex>(node.id, g);
            }
        }
    }
}

/// The sizes of one convolution: input `[C_in, H, W]` per image, kernel `kh × kw`, output `H_out × W_out`,
/// padding before the first row and column.
#[derive(Debug, Clone, Copy)]
struct Geometry {
    c_in: usize,
    h: usize,
    w: usize,
    kh: usize,
    kw: usize,
    h_out: usize,
    w_out: usize,
    top: usize,
    left: usize,
}

impl Geometry {
    /// Rows of an image's im2col: `C_in·kh·kw`.
    fn rows(&self) -> usize {
        self.c_in * self.kh * self.kw
    }

    /// Output positions per image: `H_out·W_out`.
    fn positions(&self) -> usize {
        self.h_out * self.w_out
    }

    /// For im2col row `k` = `(c, ky, kx)`: the channel, the output columns `[lo, hi)` whose input column
    /// `ox + kx − left` lies inside the image, and that input column at `ox = lo`.
    fn row(&self, k: usize) -> (usize, usize, usize, usize, usize) {
        let (c, ky, kx) = (
            k / (self.kh * self.kw),
            (k / self.kw) % self.kh,
            k % self.kw,
        );
        let lo = self.left.saturating_sub(kx).min(self.w_out);
        let hi = (self.w + self.left)
            .saturating_sub(kx)
            .min(self.w_out)
            .max(lo);
        (c, ky, lo, hi, (lo + kx).saturating_sub(self.left))
    }

    /// The input row under output row `oy` for kernel row `ky`, if inside the image.
    fn input_row(&self, oy: usize, ky: usize) -> Option<usize> {
        (oy + ky).checked_sub(self.top).filter(|&iy| iy < self.h)
    }
}

/// im2col of images `first..first + count` into `cols` `[C_in·kh·kw, count·P]`: row `(c, ky, kx)`, column
/// `(image, oy, ox)` holds `x[image, c, oy + ky − top, ox + kx − left]`, zero outside the image. Every
/// value is written, so `cols` may come with stale contents (a reused buffer).
fn im2col(xs: &[f32], geo: &Geometry, first: usize, count: usize, cols: &mut Vec<f32>) {
    let (p, image_len, w_out) = (geo.positions(), geo.c_in * geo.h * geo.w, geo.w_out);
    cols.resize(geo.rows() * count * p, 0.0);
    for (k, row) in cols.chunks_exact_mut(count * p).enumerate() {
        let (c, ky, lo, hi, ix) = geo.row(k);
        for (i, dst) in row.chunks_exact_mut(p).enumerate() {
            let image = &xs[(first + i) * image_len..][..image_len];
            let plane = &image[c * geo.h * geo.w..][..geo.h * geo.w];
            for (oy, out_row) in dst.chunks_exact_mut(w_out).enumerate() {
                match geo.input_row(oy, ky) {
                    Some(iy) => {
                        out_row[..lo].fill(0.0);
                        out_row[lo..hi].copy_from_slice(&plane[iy * geo.w + ix..][..hi - lo]);
                        out_row[hi..].fill(0.0);
                    }
                    None => out_row.fill(0.0),
                }
            }
        }
    }
}

#[cfg(feature = "engine")]
/// col2im, the adjoint of [`im2col`]: adds the column gradients `[C_in·kh·kw, count·P]` of `count` images
/// onto `dx` (`[count, C_in, H, W]`, those images' part of the input gradient).
fn col2im(cols: &[f32], geo: &Geometry, count: usize, dx: &mut [f32]) {
    let (p, image_len) = (geo.positions(), geo.c_in * geo.h * geo.w);
    for (i, image) in dx.chunks_exact_mut(image_len).enumerate() {
        for k in 0..geo.rows() {
            let (c, ky, lo, hi, ix) = geo.row(k);
            let row = &cols[(k * count + i) * p..][..p];
            let plane = &mut image[c * geo.h * geo.w..][..geo.h * geo.w];
            for oy in 0..geo.h_out {
                if let Some(iy) = geo.input_row(oy, ky) {
                    let src = &row[oy * geo.w_out + lo..oy * geo.w_out + hi];
                    for (d, s) in plane[iy * geo.w + ix..][..hi - lo].iter_mut().zip(src) {
                        *d += s;
                    }
                }
            }
        }
    }
}

/// Reused working buffers of one thread: im2col, a product, a gathered output gradient.
#[derive(Default)]
struct Scratch {
    cols: Vec<f32>,
    product: Vec<f32>,
    #[cfg_attr(not(feature = "engine"), allow(dead_code))]
    gathered: Vec<f32>,
}

thread_local! {
    /// This thread's [`Scratch`]: kept between convolutions, so buffers are not allocated and zeroed anew
    /// for every group (a kernel never runs a parallel section while it holds them).
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch::default());
}

/// Images in one parallel task: a batch is cut in groups of this many images, and each group is one
/// thread's work from im2col to products (no hand-over between threads inside a convolution). Fixed, so
/// results do not depend on the number of threads.
pub(crate) const GROUP_IMAGES: usize = 16;

/// The im2col buffer's bound, in values (256 KB, about a core's L2): a group goes by sub-chunks of as
/// many images as fit, at least one.
const CHUNK_VALUES: usize = 1 << 16;

/// Images per sub-chunk for images whose im2col has `rows × p` values each, within `budget` values; at
/// most a group.
fn chunk_images(rows: usize, p: usize, budget: usize) -> usize {
    (budget / (rows * p).max(1)).clamp(1, GROUP_IMAGES)
}

/// `dst` `[m, n]` (row-major) := `a` × `b` (+ `dst` when `accumulate`), with `a` `[m, k]` and `b` `[k, n]`
/// each given as a slice, its row stride and its column stride: gemm, on the calling thread.
#[allow(unsafe_code)] // gemm's pointer interface, bounds checked first (lib.rs names the crate's unsafe code)
fn matmul(
    [m, n, k]: [usize; 3],
    dst: &mut [f32],
    accumulate: bool,
    (a, a_rs, a_cs): (&[f32], usize, usize),
    (b, b_rs, b_cs): (&[f32], usize, usize),
) {
    if m == 0 || n == 0 {
        return;
    }
    assert!(dst.len() >= m * n, "matmul: destination too small");
    if k == 0 {
        if !accumulate {
            dst[..m * n].fill(0.0);
        }
        return;
    }
    let last = |rows: usize, cols: usize, rs: usize, cs: usize| (rows - 1) * rs + (cols - 1) * cs;
    assert!(
        last(m, k, a_rs, a_cs) < a.len() && last(k, n, b_rs, b_cs) < b.len(),
        "matmul: operand too small"
    );
    // SAFETY: every element gemm reads or writes lies inside its slice (checked above), and `dst`, a
    // unique borrow, overlaps neither operand.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.as_ptr(),
            a_cs as isize,
            a_rs as isize,
            b.as_ptr(),
            b_cs as isize,
            b_rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// The geometry of a stride-1 convolution of `x` `[N, C_in, H, W]` by a `kh × kw` kernel with `padding`.
fn geometry(x: &FlexTensor, [kh, kw]: [usize; 2], padding: Padding) -> Geometry {
    let [_, c_in, h, w] = dims4(x);
    let [(top, bottom), (left, right)] = padding;
    Geometry {
        c_in,
        h,
        w,
        kh,
        kw,
        h_out: (h + top + bottom + 1).saturating_sub(kh),
        w_out: (w + left + right + 1).saturating_sub(kw),
        top,
        left,
    }
}

/// The bias's values, zeros where there is none.
fn bias_values(bias: Option<&FlexTensor>, c_out: usize) -> Vec<f32> {
    match bias {
        Some(b) => b.to_contiguous().storage::<f32>().to_vec(),
        None => vec![0.0; c_out],
    }
}

/// The forward pass: `[N, C_in, H, W]` → `[N, C_out, H_out, W_out]`, by groups of images in parallel and,
/// inside a group, sub-chunks of `n` images within `budget` im2col values: weight `[C_out, C_in·kh·kw]` ×
/// the sub-chunk's im2col `[C_in·kh·kw, n·P]`, written into place with the bias added.
fn forward(
    x: &FlexTensor,
    weight: &FlexTensor,
    bias: Option<&FlexTensor>,
    padding: Padding,
    budget: usize,
) -> FlexTensor {
    let (x, weight) = (x.to_contiguous(), weight.to_contiguous());
    let [n, ..] = dims4(&x);
    let [c_out, _, kh, kw] = dims4(&weight);
    let geo = geometry(&x, [kh, kw], padding);
    let (rows, p, out_len) = (geo.rows(), geo.positions(), c_out * geo.positions());
    let (xs, w): (&[f32], &[f32]) = (x.storage(), weight.storage()); // w: [C_out, C_in·kh·kw]
    let bias = bias_values(bias, c_out);
    let sub = chunk_images(rows, p, budget);
    let out = zeroed_by_chunks(n * out_len, GROUP_IMAGES * out_len, |group, dst| {
        SCRATCH
            .with_borrow_mut(|scratch| forward_group(xs, w, &bias, &geo, sub, group, dst, scratch))
    });
    FlexTensor::from_data(TensorData::new(out, [n, c_out, geo.h_out, geo.w_out]))
}

/// One group's forward pass into `dst` `[images, C_out, P]`: the images from `group · GROUP_IMAGES`, by
/// sub-chunks of `sub`; `w` `[C_out, C_in·kh·kw]`.
#[allow(clippy::too_many_arguments)]
fn forward_group(
    xs: &[f32],
    w: &[f32],
    bias: &[f32],
    geo: &Geometry,
    sub: usize,
    group: usize,
    dst: &mut [f32],
    Scratch { cols, product, .. }: &mut Scratch,
) {
    let (rows, p, c_out) = (geo.rows(), geo.positions(), bias.len());
    let out_len = c_out * p;
    let images = dst.len() / out_len;
    for start in (0..images).step_by(sub) {
        let count = sub.min(images - start);
        let dst = &mut dst[start * out_len..(start + count) * out_len]; // [count, C_out, P]
        im2col(xs, geo, group * GROUP_IMAGES + start, count, cols);
        if count == 1 {
            // One image: its output `[C_out, P]` is the product itself.
            for (plane, b) in dst.chunks_exact_mut(p).zip(bias) {
                plane.fill(*b);
            }
            matmul([c_out, p, rows], dst, true, (w, rows, 1), (cols, p, 1));
            continue;
        }
        let np = count * p;
        product.resize(c_out * np, 0.0);
        matmul(
            [c_out, np, rows],
            product,
            false,
            (w, rows, 1),
            (cols, np, 1),
        ); // [C_out, count·P]
        for (i, image) in dst.chunks_exact_mut(out_len).enumerate() {
            for (c, (plane, b)) in image.chunks_exact_mut(p).zip(bias).enumerate() {
                let src = &product[(c * count + i) * p..][..p];
                for (d, s) in plane.iter_mut().zip(src) {
                    *d = s + b;
                }
            }
        }
    }
}

#[cfg(feature = "engine")]
/// Gradients of input, weight and bias (each when asked) from the output gradient `[N, C_out, H_out, W_out]`,
/// by the forward pass's groups and sub-chunks: with `G` a sub-chunk's output gradient as `[C_out, n·P]` and
/// `cols` its im2col `[C_in·kh·kw, n·P]`, the group's weight gradient += `G` × colsᵀ and input gradient =
/// col2im(Wᵀ × `G`); the groups' weight gradients are summed in order.
fn conv_grads(
    grad: FlexTensor,
    (x, weight, padding, _): &ConvState,
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
    let geo = geometry(&x, [kh, kw], *padding);
    let (h, w) = (geo.h, geo.w);
    let (rows, p, image_len) = (geo.rows(), geo.positions(), c_in * h * w);
    let (xs, gs, ws): (&[f32], &[f32], &[f32]) = (x.storage(), grad.storage(), weight.storage());
    let sub = chunk_images(rows, p, budget);
    let groups = n.div_ceil(GROUP_IMAGES);
    let wants = [want_x, want_w, want_b];
    let dx_len = if want_x { n * image_len } else { 0 };
    let (dx, partials) =
        map_zeroed_chunks(dx_len, GROUP_IMAGES * image_len, groups, |group, dx| {
            SCRATCH.with_borrow_mut(|scratch| {
                grads_group(xs, gs, ws, &geo, c_out, sub, wants, group, dx, scratch)
            })
        });
    // The groups' weight and bias gradients, summed in order.
    let gw = want_w.then(|| {
        let sum = sum_in_order(partials.iter().map(|(gw, _)| gw), c_out * rows);
        FlexTensor::from_data(TensorData::new(sum, [c_out, c_in, kh, kw]))
    });
    let gb = want_b.then(|| {
        let sum = sum_in_order(partials.iter().map(|(_, gb)| gb), c_out);
        FlexTensor::from_data(TensorData::new(sum, [c_out]))
    });
    let gx = want_x.then(|| FlexTensor::from_data(TensorData::new(dx, [n, c_in, h, w])));
    [gx, gw, gb]
}

#[cfg(feature = "engine")]
/// Adds the output gradients `g_images` (`[count, C_out, P]`) to the bias gradient `gb` (`[C_out]`): each
/// plane's sum onto its channel.
fn add_bias_grad(gb: &mut [f32], g_images: &[f32], p: usize) {
    let c_out = gb.len();
    for (i, plane) in g_images.chunks_exact(p).enumerate() {
        gb[i % c_out] += lane_sum(plane);
    }
}

#[cfg(feature = "engine")]
/// The element-wise sum of `parts` (each `len` long), added in order.
fn sum_in_order<'a>(parts: impl Iterator<Item = &'a Vec<f32>>, len: usize) -> Vec<f32> {
    let mut sum = vec![0f32; len];
    for part in parts {
        sum.iter_mut().zip(part).for_each(|(s, v)| *s += v);
    }
    sum
}

#[cfg(feature = "engine")]
/// One group's share of [`conv_grads`]: the images from `group · GROUP_IMAGES` (output gradients in `gs`
/// `[N, C_out, P]`), by sub-chunks of `sub`; adds their input gradient into `dx` (`[images, C_in, H, W]`,
/// empty when not wanted) and returns their weight gradient `[C_out, C_in·kh·kw]` and bias gradient
/// `[C_out]` (each empty when not wanted). `ws`: the weight `[C_out, C_in·kh·kw]`.
#[allow(clippy::too_many_arguments)]
fn grads_group(
    xs: &[f32],
    gs: &[f32],
    ws: &[f32],
    geo: &Geometry,
    c_out: usize,
    sub: usize,
    [want_x, want_w, want_b]: [bool; 3],
    group: usize,
    dx: &mut [f32],
    Scratch {
        cols,
        product: dcols,
        gathered,
    }: &mut Scratch,
) -> (Vec<f32>, Vec<f32>) {
    let (rows, p) = (geo.rows(), geo.positions());
    let (out_len, image_len) = (c_out * p, geo.c_in * geo.h * geo.w);
    let n = gs.len() / out_len;
    let first = group * GROUP_IMAGES;
    let images = GROUP_IMAGES.min(n - first);
    let mut gw = vec![0f32; if want_w { c_out * rows } else { 0 }];
    let mut gb = vec![0f32; if want_b { c_out } else { 0 }];
    for start in (0..images).step_by(sub) {
        let count = sub.min(images - start);
        let np = count * p;
        let g_images = &gs[(first + start) * out_len..][..count * out_len]; // [count, C_out, P]
        if want_b {
            add_bias_grad(&mut gb, g_images, p);
        }
        // G: [C_out, count·P] (one image's gradient already is).
        let g: &[f32] = if count == 1 {
            g_images
        } else {
            gathered.resize(count * out_len, 0.0);
            for (i, image) in g_images.chunks_exact(out_len).enumerate() {
                for (c, plane) in image.chunks_exact(p).enumerate() {
                    gathered[(c * count + i) * p..][..p].copy_from_slice(plane);
                }
            }
            gathered
        };
        if want_w {
            im2col(xs, geo, first + start, count, cols);
            matmul([c_out, rows, np], &mut gw, true, (g, np, 1), (cols, 1, np)); // += G × colsᵀ
        }
        if want_x {
            dcols.resize(rows * np, 0.0);
            matmul([rows, np, c_out], dcols, false, (ws, 1, rows), (g, np, 1)); // Wᵀ × G
            let dx = &mut dx[start * image_len..(start + count) * image_len];
            col2im(dcols, geo, count, dx);
        }
    }
    (gw, gb)
}

#[cfg(all(test, feature = "engine"))]
mod tests {
    use burn::module::{Module, Param};
    use burn::nn::conv::Conv2dConfig;
    use burn::tensor::{Device, Tolerance};

    use super::*;
    use crate::rng::drawn_tensor;

    /// Our convolution against burn's, values and gradients, with inputs, weights and the upstream
    /// gradient all drawn from `seed` (not from burn's generator, which the whole process shares).
    fn check(
        seed: u64,
        batch: usize,
        c_in: usize,
        c_out: usize,
        side: [usize; 2],
        padding: PaddingConfig2d,
        bias: bool,
    ) {
        let device = Device::flex().autodiff();
        let mut rng = crate::rng::Rng::new(seed);
        let mut conv = Conv2dConfig::new([c_in, c_out], [3, 3])
            .with_padding(padding)
            .with_bias(bias)
            .init(&device);
        // Kaiming-uniform's range for 3×3 kernels.
        let bound = (1.0 / (9 * c_in) as f32).sqrt();
        conv.weight = Param::from_tensor(drawn_tensor(
            &mut rng,
            [c_out, c_in, 3, 3],
            -bound,
            bound,
            &device,
        ));
        if bias {
            conv.bias = Some(Param::from_tensor(drawn_tensor(
                &mut rng,
                [c_out],
                -bound,
                bound,
                &device,
            )));
        }
        let x = drawn_tensor(&mut rng, [batch, c_in, side[0], side[1]], 0.0, 1.0, &device)
            .require_grad();
        assert_eq!(conv_path(&conv, &x), ConvPath::FlexAutodiff);
        let ours = conv2d(&conv, x.clone());
        let burns = conv.forward(x.clone());
        let tol = Tolerance::<f32>::rel_abs(1e-4, 1e-6);
        ours.clone()
            .into_data()
            .assert_approx_eq::<f32>(&burns.clone().into_data(), tol);
        // The same convolution without autodiff (inference) takes the plain flex path.
        let plain = conv.valid();
        let x_plain = x.clone().inner();
        assert_eq!(conv_path(&plain, &x_plain), ConvPath::Flex);
        conv2d(&plain, x_plain.clone())
            .into_data()
            .assert_approx_eq::<f32>(&plain.forward(x_plain).into_data(), tol);
        let weights = drawn_tensor(&mut rng, ours.dims(), 0.0, 1.0, &device);
        let g_ours = (ours * weights.clone()).sum().backward();
        let g_burn = (burns * weights).sum().backward();
        let close =
            |a: Tensor<4>, b: Tensor<4>| a.into_data().assert_approx_eq::<f32>(&b.into_data(), tol);
        close(x.grad(&g_ours).unwrap(), x.grad(&g_burn).unwrap());
        close(
            conv.weight.val().grad(&g_ours).unwrap(),
            conv.weight.val().grad(&g_burn).unwrap(),
        );
        if let Some(b) = &conv.bias {
            b.val()
                .grad(&g_ours)
                .unwrap()
                .into_data()
                .assert_approx_eq::<f32>(&b.val().grad(&g_burn).unwrap().into_data(), tol);
        }
    }

    /// The shapes [`check`] runs: the CNN's first layer, others of its layers' kinds, the ResNet's
    /// blocks, an asymmetric padding.
    /// Batch, input and output channels, image sides, padding, bias.
    type Shape = (usize, usize, usize, [usize; 2], PaddingConfig2d, bool);
    const SHAPES: [Shape; 5] = [
        (3, 1, 4, [28, 28], PaddingConfig2d::Valid, true),
        (3, 5, 6, [13, 11], PaddingConfig2d::Valid, true),
        (25, 2, 3, [28, 28], PaddingConfig2d::Valid, true),
        (3, 4, 4, [14, 14], PaddingConfig2d::Same, false),
        (
            3,
            3,
            5,
            [7, 9],
            PaddingConfig2d::Explicit(2, 1, 0, 1),
            false,
        ),
    ];

    fn check_shapes(seed: u64, shapes: &[Shape]) {
        for (b, ci, co, side, padding, bias) in shapes.iter().cloned() {
            check(seed, b, ci, co, side, padding, bias);
        }
    }

    /// The tolerance holds for any seed, not only the one the other tests use (3 s in release).
    #[test]
    fn conv_tolerance_holds_over_seeds() {
        for seed in 0..300 {
            check_shapes(seed, &SHAPES);
        }
    }

    #[test]
    fn valid_convolution_with_bias_matches_burn() {
        check_shapes(0, &SHAPES[..3]);
    }

    #[test]
    fn same_convolution_without_bias_matches_burn() {
        check_shapes(0, &SHAPES[3..]);
    }

    #[test]
    fn other_strides_use_burn() {
        let device = Device::flex().autodiff();
        let strided = Conv2dConfig::new([2, 2], [3, 3])
            .with_stride([2, 2])
            .init(&device);
        let x = crate::rng::seeded_tensor::<4>([1, 2, 8, 8], 0.0, 1.0, &device);
        assert_eq!(conv_path(&strided, &x), ConvPath::Burn);
        // An input smaller than the kernel has no output position: burn's path.
        let conv = Conv2dConfig::new([2, 2], [3, 3]).init(&device);
        let tiny = crate::rng::seeded_tensor::<4>([1, 2, 2, 2], 0.0, 1.0, &device);
        assert_eq!(conv_path(&conv, &tiny), ConvPath::Burn);
        conv2d(&strided, x.clone())
            .into_data()
            .assert_eq(&strided.forward(x).into_data(), true);
    }

    #[cfg(not(target_arch = "wasm32"))]
    #[test]
    fn results_do_not_depend_on_the_number_of_threads() {
        // 40 images: three groups. Seeded training is reproducible only if one thread and three give
        // the same bits.
        let device = Device::flex();
        let x = crate::rng::seeded_tensor::<4>([40, 3, 13, 13], 0.0, 1.0, &device);
        let w = crate::rng::seeded_tensor::<4>([5, 3, 3, 3], 0.0, 1.0, &device);
        let g = crate::rng::seeded_tensor::<4>([40, 5, 13, 13], 0.0, 1.0, &device);
        let [x, w, g] = [x, w, g].map(|t| t.try_into_primitive::<Flex>().unwrap());
        let padding = [(1, 1), (1, 1)];
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let out = forward(&x, &w, None, padding, CHUNK_VALUES);
                let state = (x.clone(), w.clone(), padding, Method::Im2col);
                let [gx, gw, _] = conv_grads(g.clone(), &state, [true, true, false], CHUNK_VALUES);
                [out, gx.unwrap(), gw.unwrap()].map(|t| t.into_data())
            })
        };
        for (one, three) in run(1).into_iter().zip(run(3)) {
            one.assert_eq(&three, true);
        }
    }

    #[test]
    fn sub_chunks_and_groups_give_the_whole_batch_result() {
        // 25 images (two groups: 16 and 9) whose im2col has 2·9 × 676 values each: sub-chunks of one
        // image, of 5 (the last of the first group short) and of a whole group must agree.
        let device = Device::flex();
        let x = crate::rng::seeded_tensor::<4>([25, 2, 28, 28], 0.0, 1.0, &device);
        let w = crate::rng::seeded_tensor::<4>([3, 2, 3, 3], 0.0, 1.0, &device);
        let b = crate::rng::seeded_tensor::<1>([3], 0.0, 1.0, &device);
        let g = crate::rng::seeded_tensor::<4>([25, 3, 26, 26], 0.0, 1.0, &device);
        let [x, w, b, g] = [
            x.try_into_primitive::<Flex>().unwrap(),
            w.try_into_primitive::<Flex>().unwrap(),
            b.try_into_primitive::<Flex>().unwrap(),
            g.try_into_primitive::<Flex>().unwrap(),
        ];
        let padding = [(0, 0), (0, 0)];
        let image = 18 * 676;
        let budgets = [image, 5 * image + 7, 25 * image];
        assert_eq!(
            budgets.map(|b| chunk_images(18, 676, b)),
            [1, 5, GROUP_IMAGES]
        );
        let tol = Tolerance::<f32>::rel_abs(1e-5, 1e-6);
        let data = |t: FlexTensor| Tensor::<4>::from_primitive::<Flex>(t).into_data();
        let whole = data(forward(&x, &w, Some(&b), padding, budgets[2]));
        let state = (x.clone(), w.clone(), padding, Method::Im2col);
        let grads_whole = conv_grads(g.clone(), &state, [true, true, true], budgets[2]);
        for budget in &budgets[..2] {
            data(forward(&x, &w, Some(&b), padding, *budget)).assert_approx_eq::<f32>(&whole, tol);
            let grads = conv_grads(g.clone(), &state, [true, true, true], *budget);
            for (a, b) in grads.into_iter().zip(grads_whole.clone()) {
                let (a, b) = (a.unwrap().into_data(), b.unwrap().into_data());
                a.assert_approx_eq::<f32>(&b, tol);
            }
        }
    }
}
