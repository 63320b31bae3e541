//! The feature pipeline shared by the classical models: pixels scaled to [0, 1], optional HOG
//! descriptors, optional standardisation and optional PCA. Fitted once on the training images and
//! applied unchanged to test images, uploads and webcam frames (which reach it as the same 784 pixels
//! that [`crate::photo::prepare_image`] gives the deep models).

use linfa_linalg::eigh::EighInto;
use ndarray::{Array1, Array2, Axis};
use serde::{Deserialize, Serialize};

use super::ClassicalError;
use crate::data::PIXELS;

/// Side of a Fashion-MNIST image.
const SIDE: usize = 28;

/// Histogram-of-oriented-gradients settings. Defaults: 4×4-pixel cells, 9 unsigned orientations,
/// 2×2-cell blocks with stride one cell, L2-Hys normalisation: 6×6 blocks × 36 = 1,296 features.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HogConfig {
    /// Pixels per cell side (default 4; must divide 28).
    pub cell: usize,
    /// Orientation bins over 0–180° (default 9).
    pub bins: usize,
    /// Cells per block side (default 2).
    pub block: usize,
}

impl Default for HogConfig {
    fn default() -> Self {
        Self {
            cell: 4,
            bins: 9,
            block: 2,
        }
    }
}

impl HogConfig {
    /// Checks the settings.
    pub(crate) fn validate(&self) -> Result<(), ClassicalError> {
        let cells = SIDE.checked_div(self.cell).unwrap_or(0);
        if self.cell == 0 || !SIDE.is_multiple_of(self.cell) {
            return Err(ClassicalError::InvalidConfig(format!(
                "HOG cell size {} must divide 28",
                self.cell
            )));
        }
        if self.bins < 2 || self.bins > 36 {
            return Err(ClassicalError::InvalidConfig(format!(
                "HOG orientation bins {} must be in 2..=36",
                self.bins
            )));
        }
        if self.block == 0 || self.block > cells {
            return Err(ClassicalError::InvalidConfig(format!(
                "HOG block of {} cells must be in 1..={cells}",
                self.block
            )));
        }
        Ok(())
    }

    /// Length of the descriptor.
    pub fn len(&self) -> usize {
        let blocks = SIDE / self.cell - self.block + 1;
        blocks * blocks * self.block * self.block * self.bins
    }

    /// Whether the descriptor is empty (never, for a valid config).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// HOG descriptor of one 28×28 image (`pixels`: 784 values, row-major), written into `out`
/// (`config.len()` values).
pub(crate) fn hog(pixels: &[u8], config: &HogConfig, out: &mut [f32]) {
    debug_assert_eq!(pixels.len(), PIXELS);
    debug_assert_eq!(out.len(), config.len());
    let cells = SIDE / config.cell;
    let bins = config.bins;
    let mut hist = vec![0f32; cells * cells * bins]; // [cell_y][cell_x][bin]
    let px = |x: isize, y: isize| -> f32 {
        let (x, y) = (x.clamp(0, 27) as usize, y.clamp(0, 27) as usize);
        pixels[y * SIDE + x] as f32 / 255.0
    };
    let bin_width = std::f32::consts::PI / bins as f32;
    for y in 0..SIDE {
        for x in 0..SIDE {
            let (xi, yi) = (x as isize, y as isize);
            let gx = px(xi + 1, yi) - px(xi - 1, yi);
            let gy = px(xi, yi + 1) - px(xi, yi - 1);
            let magnitude = (gx * gx + gy * gy).sqrt();
            if magnitude == 0.0 {
                continue;
            }
            // Unsigned orientation in [0, π), split linearly between the two nearest bin centres.
            let mut angle = gy.atan2(gx);
            if angle < 0.0 {
                angle += std::f32::consts::PI;
            }
            let position = angle / bin_width - 0.5;
            let lower = position.floor();
            let upper_share = position - lower;
            let lower_bin = (lower as isize).rem_euclid(bins as isize) as usize;
            let upper_bin = (lower_bin + 1) % bins;
            let cell = (y / config.cell) * cells + x / config.cell;
            hist[cell * bins + lower_bin] += magnitude * (1.0 - upper_share);
            hist[cell * bins + upper_bin] += magnitude * upper_share;
        }
    }
    let blocks = cells - config.block + 1;
    let block_len = config.block * config.block * bins;
    for by in 0..blocks {
        for bx in 0..blocks {
            let start = (by * blocks + bx) * block_len;
            let block = &mut out[start..start + block_len];
            let mut k = 0;
            for cy in by..by + config.block {
                for cx in bx..bx + config.block {
                    let cell = cy * cells + cx;
                    block[k..k + bins].copy_from_slice(&hist[cell * bins..(cell + 1) * bins]);
                    k += bins;
                }
            }
            // L2-Hys: normalise, clip at 0.2, normalise again.
            for _ in 0..2 {
                let norm = (block.iter().map(|v| v * v).sum::<f32>() + 1e-6).sqrt();
                block.iter_mut().for_each(|v| *v = (*v / norm).min(0.2));
            }
            let norm = (block.iter().map(|v| v * v).sum::<f32>() + 1e-6).sqrt();
            block.iter_mut().for_each(|v| *v /= norm);
        }
    }
}

/// Which features a model sees. Defaults: raw pixels, no standardisation, no PCA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FeatureConfig {
    /// HOG descriptors instead of pixels (`None`: pixels scaled to [0, 1]).
    pub hog: Option<HogConfig>,
    /// Standardise each feature to zero mean and unit variance.
    pub standardize: bool,
    /// Project onto this many principal components (`None`: keep all features).
    pub pca: Option<usize>,
}

impl FeatureConfig {
    /// Checks the settings.
    pub(crate) fn validate(&self) -> Result<(), ClassicalError> {
        if let Some(hog) = &self.hog {
            hog.validate()?;
        }
        let input = self.hog.map_or(PIXELS, |h| h.len());
        if let Some(k) = self.pca
            && (k == 0 || k > input)
        {
            return Err(ClassicalError::InvalidConfig(format!(
                "PCA components {k} must be in 1..={input}"
            )));
        }
        Ok(())
    }

    /// A short description, e.g. `HOG 4px/9 bins → standardise → PCA 64`.
    pub(crate) fn describe(&self) -> String {
        let mut parts = vec![match self.hog {
            Some(h) => format!(
                "HOG ({}-px cells, {} bins, {}×{} blocks: {} features)",
                h.cell,
                h.bins,
                h.block,
                h.block,
                h.len()
            ),
            None => "pixels / 255".to_string(),
        }];
        if self.standardize {
            parts.push("standardise".into());
        }
        if let Some(k) = self.pca {
            parts.push(format!("PCA {k}"));
        }
        parts.join(" → ")
    }
}

/// A fitted feature pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeaturePipeline {
    /// The settings it was fitted with.
    pub config: FeatureConfig,
    /// Per-feature mean and scale, when standardising.
    scaler: Option<(Vec<f32>, Vec<f32>)>,
    /// PCA mean (`input` values) and components (`k × input`, row-major).
    pca: Option<(Vec<f32>, Vec<f32>)>,
    /// Variance explained by each kept component, as a share of the total.
    pub explained_variance_ratio: Vec<f32>,
}

impl FeaturePipeline {
    /// Fits the pipeline on training images (`pixels`: n × 784).
    pub fn fit(config: FeatureConfig, pixels: &[u8]) -> Result<Self, ClassicalError> {
        Self::fit_transform(config, pixels).map(|(pipeline, _)| pipeline)
    }

    /// Fits the pipeline on training images (`pixels`: n × 784) and returns their features too, the
    /// same values [`Self::transform`] gives, without computing the HOG descriptors a second time.
    pub(crate) fn fit_transform(
        config: FeatureConfig,
        pixels: &[u8],
    ) -> Result<(Self, Array2<f32>), ClassicalError> {
        config.validate()?;
        check_pixels(pixels)?;
        let mut pipeline = Self {
            config,
            scaler: None,
            pca: None,
            explained_variance_ratio: Vec::new(),
        };
        let mut x = pipeline.base_features(pixels); // [n, input]
        if config.standardize {
            let mean = x.mean_axis(Axis(0)).expect("n > 0");
            let std = x.std_axis(Axis(0), 0.0);
            let scale: Vec<f32> = std
                .iter()
                .map(|s| if *s > 1e-6 { *s } else { 1.0 })
                .collect();
            pipeline.scaler = Some((mean.to_vec(), scale));
            pipeline.apply_scaler(&mut x);
        }
        if let Some(k) = config.pca {
            let (mean, components, ratio) = fit_pca(&x, k)?;
            pipeline.pca = Some((mean, components));
            pipeline.explained_variance_ratio = ratio;
            x = pipeline.project(x);
        }
        Ok((pipeline, x))
    }

    /// Number of fitted numbers (scaler and PCA).
    pub(crate) fn params(&self) -> usize {
        self.scaler.as_ref().map_or(0, |(m, s)| m.len() + s.len())
            + self.pca.as_ref().map_or(0, |(m, c)| m.len() + c.len())
    }

    /// Transforms images (`pixels`: n × 784) into features (n × the PCA components, or n × the input features
    /// without PCA).
    pub(crate) fn transform(&self, pixels: &[u8]) -> Result<Array2<f32>, ClassicalError> {
        check_pixels(pixels)?;
        let mut x = self.base_features(pixels);
        if self.scaler.is_some() {
            self.apply_scaler(&mut x);
        }
        Ok(self.project(x))
    }

    /// Projects scaled features onto the principal components, when there is a PCA: [n, input] → [n, k].
    fn project(&self, mut x: Array2<f32>) -> Array2<f32> {
        let Some((mean, components)) = &self.pca else {
            return x;
        };
        let input = mean.len();
        let k = components.len() / input;
        x -= &ndarray::ArrayView1::from(mean.as_slice());
        let w = ndarray::ArrayView2::from_shape((k, input), components).expect("shape");
        x.dot(&w.t()) // [n, input] · [input, k] = [n, k]
    }

    /// Pixels / 255 or HOG descriptors: [n, input].
    fn base_features(&self, pixels: &[u8]) -> Array2<f32> {
        let n = pixels.len() / PIXELS;
        match &self.config.hog {
            None => Array2::from_shape_vec(
                (n, PIXELS),
                pixels.iter().map(|p| *p as f32 / 255.0).collect(),
            )
            .expect("shape"),
            Some(h) => {
                let len = h.len();
                let mut out = vec![0f32; n * len];
                crate::parallel::for_each_chunk(&mut out, len, |i, row| {
                    hog(&pixels[i * PIXELS..(i + 1) * PIXELS], h, row)
                });
                Array2::from_shape_vec((n, len), out).expect("shape")
            }
        }
    }

    fn apply_scaler(&self, x: &mut Array2<f32>) {
        let (mean, scale) = self.scaler.as_ref().expect("scaler");
        for mut row in x.rows_mut() {
            for ((v, m), s) in row.iter_mut().zip(mean).zip(scale) {
                *v = (*v - m) / s;
            }
        }
    }

    /// Number of features it gives per image.
    pub(crate) fn output_dims(&self) -> usize {
        self.config
            .pca
            .unwrap_or_else(|| self.config.hog.map_or(PIXELS, |h| h.len()))
    }

    /// Checks that a deserialised pipeline is consistent with its config.
    pub(crate) fn check(&self) -> Result<(), ClassicalError> {
        self.config.validate()?;
        let input = self.config.hog.map_or(PIXELS, |h| h.len());
        let bad = |what: &str| Err(ClassicalError::Corrupt(format!("feature pipeline: {what}")));
        match (&self.scaler, self.config.standardize) {
            (Some((m, s)), true) if m.len() == input && s.len() == input => {}
            (None, false) => {}
            _ => return bad("scaler does not match the config"),
        }
        match (&self.pca, self.config.pca) {
            (Some((m, c)), Some(k)) if m.len() == input && c.len() == k * input => {}
            (None, None) => {}
            _ => return bad("PCA does not match the config"),
        }
        Ok(())
    }
}

/// Rejects pixel buffers that are empty or not a whole number of images.
fn check_pixels(pixels: &[u8]) -> Result<(), ClassicalError> {
    if pixels.is_empty() {
        return Err(ClassicalError::EmptyData);
    }
    if !pixels.len().is_multiple_of(PIXELS) {
        return Err(ClassicalError::Mismatch(format!(
            "{} pixel values are not a whole number of 28×28 images",
            pixels.len()
        )));
    }
    Ok(())
}

/// A fitted PCA: mean, components (k × d, row-major), explained-variance ratios.
pub(crate) type FittedPca = (Vec<f32>, Vec<f32>, Vec<f32>);

/// PCA by eigendecomposition of the covariance matrix: returns the mean, the top-`k` components
/// (k × d, row-major) and their explained-variance ratios.
pub(crate) fn fit_pca(x: &Array2<f32>, k: usize) -> Result<FittedPca, ClassicalError> {
    let (n, d) = x.dim();
    if n < 2 {
        return Err(ClassicalError::InvalidConfig(
            "PCA needs at least two images".into(),
        ));
    }
    let mean = x.mean_axis(Axis(0)).expect("n > 0");
    let centered = x - &mean;
    let covariance = centered
        .t()
        .dot(&centered)
        .mapv(|v| v as f64 / (n - 1) as f64); // [d, d]
    let total: f64 = covariance.diag().sum();
    let (values, vectors) = top_eigenvectors(covariance, k)?;
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|a, b| values[*b].total_cmp(&values[*a]));
    let mut components = Vec::with_capacity(k * d);
    let mut ratio = Vec::with_capacity(k);
    for &j in order.iter().take(k) {
        let column = vectors.column(j);
        // Sign convention: the largest-magnitude entry is positive, so fits are reproducible.
        let sign = if column
            .iter()
            .max_by(|a, b| a.abs().total_cmp(&b.abs()))
            .is_some_and(|v| *v < 0.0)
        {
            -1.0
        } else {
            1.0
        };
        components.extend(column.iter().map(|v| (v * sign) as f32));
        ratio.push((values[j].max(0.0) / total.max(f64::MIN_POSITIVE)) as f32);
    }
    Ok((mean.to_vec(), components, ratio))
}

/// The top-`k` eigenpairs of a symmetric positive semi-definite matrix (eigenvalues, eigenvectors as
/// columns; unsorted). Small problems use a full eigendecomposition; otherwise a randomized subspace
/// iteration (Halko, Martinsson & Tropp 2011) with 10 extra directions and 8 power steps, then a
/// Rayleigh–Ritz step: O(d² k) instead of O(d³), which matters in the browser (one thread, 1,296 HOG
/// features).
fn top_eigenvectors(
    c: ndarray::Array2<f64>,
    k: usize,
) -> Result<(Array1<f64>, Array2<f64>), ClassicalError> {
    let d = c.nrows();
    let m = (k + 10).min(d);
    let numerical = |e: linfa_linalg::LinalgError| {
        ClassicalError::Numerical(format!("PCA eigendecomposition: {e}"))
    };
    if 2 * m >= d {
        return c.eigh_into().map_err(numerical);
    }
    // A fixed pseudo-random start, so a fit is reproducible.
    let mut rng = crate::rng::Rng::new(0x5EED);
    let mut q = Array2::from_shape_fn((d, m), |_| rng.range_f32(-1.0, 1.0) as f64);
    orthonormalize(&mut q, &mut rng);
    for _ in 0..8 {
        q = c.dot(&q); // [d, m]
        orthonormalize(&mut q, &mut rng);
    }
    let small = q.t().dot(&c).dot(&q); // [m, m]
    let (values, vectors) = small.eigh_into().map_err(numerical)?;
    Ok((values, q.dot(&vectors)))
}

/// Modified Gram–Schmidt on the columns of `q`, in place. A column that vanishes (the matrix has a
/// lower rank than `q` has columns) is replaced by a random direction orthogonal to the others.
fn orthonormalize(q: &mut Array2<f64>, rng: &mut crate::rng::Rng) {
    let scale = q
        .iter()
        .fold(0f64, |m, v| m.max(v.abs()))
        .max(f64::MIN_POSITIVE);
    for j in 0..q.ncols() {
        for attempt in 0..3 {
            // Two passes of projection ("twice is enough") for numerical orthogonality.
            for _ in 0..2 {
                for i in 0..j {
                    let (qi, mut qj) = q.multi_slice_mut((ndarray::s![.., i], ndarray::s![.., j]));
                    let r = qi.dot(&qj);
                    qj.scaled_add(-r, &qi);
                }
            }
            let mut column = q.column_mut(j);
            let norm = column.dot(&column).sqrt();
            if norm > 1e-10 * scale || attempt == 2 {
                column.mapv_inplace(|v| v / norm.max(f64::MIN_POSITIVE));
                break;
            }
            column.mapv_inplace(|_| rng.range_f32(-1.0, 1.0) as f64 * scale);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn randomized_eigenvectors_match_the_full_decomposition() {
        // A covariance with a clear spectrum: d = 120, top 5 wanted (randomized path: 2·15 < 120).
        let mut rng = crate::rng::Rng::new(9);
        let d = 120;
        let x = Array2::from_shape_fn((400, d), |(_, j)| {
            rng.range_f32(-1.0, 1.0) as f64 * (1.0 + 30.0 / (1.0 + j as f64))
        });
        let c = x.t().dot(&x) / 399.0;
        let (full_values, _) = c.clone().eigh_into().unwrap();
        let mut full: Vec<f64> = full_values.to_vec();
        full.sort_by(|a, b| b.total_cmp(a));
        let (values, vectors) = top_eigenvectors(c.clone(), 5).unwrap();
        let mut top: Vec<f64> = values.to_vec();
        top.sort_by(|a, b| b.total_cmp(a));
        for i in 0..5 {
            assert!(
                (top[i] - full[i]).abs() < 1e-6 * full[0],
                "{i}: {} vs {}",
                top[i],
                full[i]
            );
        }
        // Columns are eigenvectors: C v = λ v.
        for (j, lambda) in values.iter().enumerate() {
            let v = vectors.column(j);
            let residual = (&c.dot(&v) - &(&v * *lambda)).mapv(|r| r * r).sum().sqrt();
            if *lambda >= top[4] {
                assert!(residual < 1e-4 * full[0], "residual {residual}");
            }
        }
    }

    #[test]
    fn hog_of_a_vertical_edge_is_horizontal_gradient() {
        // Left half dark, right half bright: gradients point along x, i.e. orientation 0°, bin 0 or 8.
        let mut pixels = vec![0u8; PIXELS];
        for y in 0..28 {
            for x in 14..28 {
                pixels[y * 28 + x] = 255;
            }
        }
        let config = HogConfig::default();
        let mut out = vec![0f32; config.len()];
        hog(&pixels, &config, &mut out);
        assert_eq!(out.len(), 1296);
        // Block (row 0, col 2) covers cells 2..4 horizontally, i.e. pixels 8..16: it holds the edge.
        let block = &out[2 * 36..3 * 36];
        let edge_bins: f32 = (0..4).map(|c| block[c * 9] + block[c * 9 + 8]).sum();
        let other_bins: f32 = (0..4).map(|c| block[c * 9 + 4]).sum();
        assert!(edge_bins > 0.5, "edge energy {edge_bins}");
        assert!(
            other_bins < 1e-3,
            "vertical-orientation energy {other_bins}"
        );
        // A block far from the edge has no gradient at all.
        assert!(out[..36].iter().all(|v| v.abs() < 1e-3));
    }

    #[test]
    fn pca_recovers_the_dominant_direction() {
        // Points along (1, 1, 0, …) with small noise in other pixels.
        let mut rng = crate::rng::Rng::new(3);
        let n = 200;
        let mut pixels = vec![0u8; n * PIXELS];
        for i in 0..n {
            let t = rng.below(200) as u8;
            pixels[i * PIXELS] = t;
            pixels[i * PIXELS + 1] = t;
            pixels[i * PIXELS + 2] = rng.below(5) as u8;
        }
        let config = FeatureConfig {
            pca: Some(2),
            ..Default::default()
        };
        let pipeline = FeaturePipeline::fit(config, &pixels).unwrap();
        let (_, components) = pipeline.pca.as_ref().unwrap();
        let first = &components[..PIXELS];
        let s = std::f32::consts::FRAC_1_SQRT_2;
        assert!(
            (first[0] - s).abs() < 1e-3 && (first[1] - s).abs() < 1e-3,
            "{:?}",
            &first[..3]
        );
        assert!(pipeline.explained_variance_ratio[0] > 0.99);
        let x = pipeline.transform(&pixels).unwrap();
        assert_eq!(x.dim(), (n, 2));
        // Projections are centred.
        assert!(x.column(0).mean().unwrap().abs() < 1e-3);
    }

    #[test]
    fn fit_transform_gives_exactly_what_transform_gives() {
        let mut rng = crate::rng::Rng::new(5);
        let pixels: Vec<u8> = (0..60 * PIXELS).map(|_| rng.below(256) as u8).collect();
        let config = FeatureConfig {
            hog: Some(HogConfig::default()),
            standardize: true,
            pca: Some(8),
        };
        let (pipeline, x) = FeaturePipeline::fit_transform(config, &pixels).unwrap();
        assert_eq!(x.dim(), (60, 8));
        assert_eq!(x, pipeline.transform(&pixels).unwrap());
    }

    #[test]
    fn bad_configs_and_data_are_typed_errors() {
        let bad_pca = FeatureConfig {
            pca: Some(0),
            ..Default::default()
        };
        assert!(matches!(
            bad_pca.validate(),
            Err(ClassicalError::InvalidConfig(_))
        ));
        let bad_hog = FeatureConfig {
            hog: Some(HogConfig {
                cell: 5,
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(matches!(
            bad_hog.validate(),
            Err(ClassicalError::InvalidConfig(_))
        ));
        assert!(matches!(
            FeaturePipeline::fit(FeatureConfig::default(), &[]),
            Err(ClassicalError::EmptyData)
        ));
        assert!(matches!(
            FeaturePipeline::fit(FeatureConfig::default(), &[0; 100]),
            Err(ClassicalError::Mismatch(_))
        ));
    }
}
