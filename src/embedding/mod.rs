//! The embedding map: images placed in 2-D so that images alike lie close, from one of three spaces
//! (raw pixels, the classical models' HOG → PCA features, a deep model's penultimate layer), by PCA, by
//! t-SNE ([`tsne`]) or by UMAP ([`umap`]); and how well a map keeps the classes together: the share of
//! an image's nearest neighbours in the map that are of its class.

pub mod tsne;
pub mod umap;

use std::borrow::Cow;

use ndarray::Array2;
use serde::Serialize;
use thiserror::Error;

use burn::tensor::Device;

use crate::classical::ClassicalModel;
use crate::data::{NUM_CLASSES, PIXELS};
use crate::deep::input::Normalization;
use crate::deep::models::DeepModel;
use crate::metrics::argmax_rows;
use tsne::{Tsne, TsneConfig};
use umap::{Umap, UmapConfig};

/// Errors of the embedding map.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum EmbeddingError {
    /// A setting out of its range, or an unknown name.
    #[error("{0}")]
    Setting(String),
    /// The values are not whole rows.
    #[error("{values} values are not whole rows of {dims}")]
    Shape {
        /// Values given.
        values: usize,
        /// Values per row.
        dims: usize,
    },
    /// Too few points for the perplexity (t-SNE needs at least 3 × perplexity + 2).
    #[error("{points} points are too few: at least {needed} are needed")]
    TooFewPoints {
        /// Points given.
        points: usize,
        /// Points needed.
        needed: usize,
    },
    /// A value is infinite or not a number.
    #[error("the features hold a value that is not a finite number")]
    NotFinite,
    /// The principal components could not be found.
    #[error("PCA failed: {0}")]
    Pca(String),
    /// Not one label per point, or a query out of range.
    #[error("{0}")]
    Labels(String),
}

/// The space the map is made from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Space {
    /// The 784 pixels, scaled to [0, 1].
    Pixels,
    /// The SVM's and k-NN's features: HOG descriptors projected on 64 principal components.
    Hog,
    /// A deep model's penultimate layer (the CNN's 128-unit dense layer).
    Deep,
}

impl Space {
    /// The space's short name: `pixels`, `hog` or `deep`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Pixels => "pixels",
            Self::Hog => "hog",
            Self::Deep => "deep",
        }
    }

    /// The space from its short name.
    pub fn parse(name: &str) -> Result<Self, EmbeddingError> {
        [Self::Pixels, Self::Hog, Self::Deep]
            .into_iter()
            .find(|s| s.name() == name)
            .ok_or_else(|| {
                EmbeddingError::Setting(format!("unknown space {name:?}: pixels, hog or deep"))
            })
    }
}

/// Images in one space, with a deep model's answers to them (what a map rings where wrong).
#[derive(Debug, Clone, PartialEq)]
pub struct SpaceFeatures {
    /// `n × dims` values, row-major.
    pub values: Vec<f32>,
    /// Values per image.
    pub dims: usize,
    /// The deep model's answer to each image.
    pub predicted: Vec<u8>,
}

/// The features of `pixels` (n × 784, 0..=255) in `space` (the pixels scaled to [0, 1],
/// `classical`'s fitted feature pipeline (HOG → PCA for the SVM and the k-NN), or `deep`'s penultimate
/// layer), with `deep`'s answers, from one pass of it on `device`.
pub async fn features(
    space: Space,
    pixels: &[u8],
    classical: Option<&ClassicalModel>,
    (deep, norm): (&DeepModel, Normalization),
    device: &Device,
) -> Result<SpaceFeatures, EmbeddingError> {
    if pixels.is_empty() || !pixels.len().is_multiple_of(PIXELS) {
        return Err(EmbeddingError::Shape {
            values: pixels.len(),
            dims: PIXELS,
        });
    }
    let pass = crate::deep::inside::penultimate(deep, pixels, norm, device)
        .await
        .map_err(|e| EmbeddingError::Setting(e.to_string()))?;
    let predicted = argmax_rows(&pass.probabilities, NUM_CLASSES);
    let (values, dims) = match space {
        Space::Pixels => (pixels.iter().map(|&p| p as f32 / 255.0).collect(), PIXELS),
        Space::Hog => {
            let model = classical.ok_or_else(|| {
                EmbeddingError::Setting("the hog space needs a classical model".into())
            })?;
            let x = model
                .pipeline
                .transform(pixels)
                .map_err(|e| EmbeddingError::Setting(e.to_string()))?;
            let dims = x.ncols();
            (x.into_raw_vec_and_offset().0, dims)
        }
        Space::Deep => (pass.features, pass.dims),
    };
    Ok(SpaceFeatures {
        values,
        dims,
        predicted,
    })
}

/// How the space is brought down to 2-D.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub enum Method {
    /// The two principal components: linear, at once.
    Pca,
    /// t-SNE with these settings, after PCA to [`MAP_INPUT_DIMS`] dimensions where the space has more.
    Tsne(TsneConfig),
    /// UMAP with these settings, after the same PCA as t-SNE's.
    Umap(UmapConfig),
}

impl Method {
    /// The method named `pca`, `tsne` (with its perplexity and iterations) or `umap` (umap-learn's
    /// settings: 15 neighbours, its epochs, seed 0).
    pub fn parse(name: &str, perplexity: f64, iterations: usize) -> Result<Self, EmbeddingError> {
        match name {
            "pca" => Ok(Method::Pca),
            "tsne" => Ok(Method::Tsne(TsneConfig::new(perplexity, iterations, 0.5)?)),
            "umap" => Ok(Method::Umap(UmapConfig::default())),
            other => Err(EmbeddingError::Setting(format!(
                "unknown method {other:?}: pca, tsne or umap"
            ))),
        }
    }
}

/// Where a run stands: the stage and the share of it done.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MapProgress {
    /// t-SNE's `affinities` or `layout`, UMAP's `neighbours` or `epochs`.
    pub stage: &'static str,
    /// Share of the stage done, 0..=1.
    pub fraction: f64,
    /// Share of the whole run done, 0..=1.
    pub overall: f64,
}

/// The dimensions t-SNE's and UMAP's input is reduced to first (by PCA), as is usual: distances in 50
/// principal components keep the neighbourhoods and cost a sixteenth of those in 784 pixels.
pub const MAP_INPUT_DIMS: usize = 50;
/// At most this many rows (evenly spaced) fit a PCA; all rows are projected.
const PCA_FIT_ROWS: usize = 2000;

/// The number of points in `x` (n × `dims` values, two a point at least: t-SNE and UMAP start from two
/// principal components), or why `x` is not a set of points.
fn points_in(x: &[f32], dims: usize) -> Result<usize, EmbeddingError> {
    if dims < 2 || !x.len().is_multiple_of(dims) {
        return Err(EmbeddingError::Shape {
            values: x.len(),
            dims,
        });
    }
    if x.iter().any(|v| !v.is_finite()) {
        return Err(EmbeddingError::NotFinite);
    }
    Ok(x.len() / dims)
}

/// Point `i`'s `k` nearest other points in `x` (n × `dims` values) by exact search: (squared Euclidean
/// distance, index), nearest first, ties by index.
fn nearest(x: &[f32], dims: usize, i: usize, k: usize) -> Vec<(f64, u32)> {
    let xi = &x[i * dims..(i + 1) * dims];
    let mut near: Vec<(f64, u32)> = x
        .chunks_exact(dims)
        .enumerate()
        .filter(|&(j, _)| j != i)
        .map(|(j, xj)| {
            let d2: f32 = xi.iter().zip(xj).map(|(a, b)| (a - b) * (a - b)).sum();
            (d2 as f64, j as u32)
        })
        .collect();
    let order = |a: &(f64, u32), b: &(f64, u32)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1));
    near.select_nth_unstable_by(k - 1, order);
    near.truncate(k);
    near.sort_by(order);
    near
}

/// `x` (n × `dims` values) projected on its top `k` principal components, fitted on at most 2,000 of
/// its rows, evenly spaced: n × k values.
pub fn pca(x: &[f32], dims: usize, k: usize) -> Result<Vec<f32>, EmbeddingError> {
    if dims == 0 || !x.len().is_multiple_of(dims) {
        return Err(EmbeddingError::Shape {
            values: x.len(),
            dims,
        });
    }
    let n = x.len() / dims;
    let stride = n.div_ceil(PCA_FIT_ROWS).max(1);
    let fit_rows: Vec<f32> = (0..n)
        .step_by(stride)
        .flat_map(|i| x[i * dims..(i + 1) * dims].iter().copied())
        .collect();
    let fit = Array2::from_shape_vec((fit_rows.len() / dims, dims), fit_rows).expect("whole rows");
    let (mean, components, _) = crate::classical::features::fit_pca(&fit, k.min(dims))
        .map_err(|e| EmbeddingError::Pca(e.to_string()))?;
    let k = components.len() / dims;
    let mut out = Vec::with_capacity(n * k);
    for row in x.chunks_exact(dims) {
        for c in components.chunks_exact(dims) {
            out.push(
                row.iter()
                    .zip(&mean)
                    .zip(c)
                    .map(|((v, m), w)| (v - m) * w)
                    .sum(),
            );
        }
    }
    Ok(out)
}

/// A map being made: PCA at once, t-SNE and UMAP in steps.
pub struct MapRun {
    run: Run,
}

enum Run {
    Done(Vec<f32>),
    Tsne(Tsne),
    Umap(Umap),
}

impl MapRun {
    /// Starts the map of `x` (n × `dims` values) by `method`.
    pub fn new(x: &[f32], dims: usize, method: Method) -> Result<Self, EmbeddingError> {
        points_in(x, dims)?;
        // t-SNE's and UMAP's input: the points, or their first principal components where they have more.
        let reduced = || -> Result<(Cow<'_, [f32]>, usize), EmbeddingError> {
            if dims > MAP_INPUT_DIMS {
                Ok((Cow::Owned(pca(x, dims, MAP_INPUT_DIMS)?), MAP_INPUT_DIMS))
            } else {
                Ok((Cow::Borrowed(x), dims))
            }
        };
        let run = match method {
            Method::Pca => Run::Done(pca(x, dims, 2)?),
            Method::Tsne(config) => {
                let (x, dims) = reduced()?;
                Run::Tsne(Tsne::new(&x, dims, config)?)
            }
            Method::Umap(config) => {
                let (x, dims) = reduced()?;
                Run::Umap(Umap::new(&x, dims, config)?)
            }
        };
        Ok(Self { run })
    }

    /// Does the next piece of work (a few hundred rows' neighbours, ten t-SNE iterations or ten UMAP
    /// epochs): true once the map is done.
    pub fn step(&mut self) -> bool {
        match &mut self.run {
            Run::Done(_) => true,
            Run::Tsne(tsne) => tsne.step(10),
            Run::Umap(umap) => umap.step(),
        }
    }

    /// Where the run stands.
    pub fn progress(&self) -> MapProgress {
        match &self.run {
            Run::Done(_) => MapProgress {
                stage: "layout",
                fraction: 1.0,
                overall: 1.0,
            },
            Run::Tsne(tsne) => tsne.progress(),
            Run::Umap(umap) => umap.progress(),
        }
    }

    /// The map as it stands: n × 2 values, row-major.
    pub fn embedding(&self) -> Vec<f32> {
        match &self.run {
            Run::Done(done) => done.clone(),
            Run::Tsne(tsne) => tsne.embedding(),
            Run::Umap(umap) => umap.embedding(),
        }
    }
}

/// How well a map keeps the classes together.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NeighbourShare {
    /// The share of the query images' `k` nearest neighbours in the map that are of the image's class.
    pub overall: f64,
    /// The same for the queries of each class (`None` for a class with no query).
    pub per_class: Vec<Option<f64>>,
    /// Query images.
    pub queries: usize,
    /// Neighbours per query.
    pub k: usize,
}

/// The share of the `k` nearest neighbours (in the 2-D map `points`, n × 2) of each of `queries` that
/// have its label.
pub fn neighbour_share(
    points: &[f32],
    labels: &[u8],
    queries: &[usize],
    k: usize,
) -> Result<NeighbourShare, EmbeddingError> {
    let n = labels.len();
    if points.len() != 2 * n {
        return Err(EmbeddingError::Labels(format!(
            "{} labels for {} map values (two per point)",
            n,
            points.len()
        )));
    }
    if let Some(&q) = queries.iter().find(|&&q| q >= n) {
        return Err(EmbeddingError::Labels(format!(
            "query {q} is past the {n} points"
        )));
    }
    if k == 0 || k >= n || queries.is_empty() {
        return Err(EmbeddingError::Labels(format!(
            "{k} neighbours of {} queries among {n} points",
            queries.len()
        )));
    }
    let mut same = [0usize; NUM_CLASSES];
    let mut asked = [0usize; NUM_CLASSES];
    for &q in queries {
        let (qx, qy) = (points[2 * q], points[2 * q + 1]);
        let mut d: Vec<(f32, usize)> = (0..n)
            .filter(|&j| j != q)
            .map(|j| {
                let (dx, dy) = (points[2 * j] - qx, points[2 * j + 1] - qy);
                (dx * dx + dy * dy, j)
            })
            .collect();
        d.select_nth_unstable_by(k - 1, |a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let class = labels[q] as usize % NUM_CLASSES;
        asked[class] += k;
        same[class] += d[..k]
            .iter()
            .filter(|(_, j)| labels[*j] == labels[q])
            .count();
    }
    Ok(NeighbourShare {
        overall: same.iter().sum::<usize>() as f64 / asked.iter().sum::<usize>() as f64,
        per_class: (0..NUM_CLASSES)
            .map(|c| (asked[c] > 0).then(|| same[c] as f64 / asked[c] as f64))
            .collect(),
        queries: queries.len(),
        k,
    })
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::classical::ClassicalKind;
    use crate::data::{SAMPLE_IMAGES, SAMPLE_LABELS};
    use crate::deep::train::block_on;

    #[test]
    fn neighbour_share_counts_the_nearest_points_of_the_same_class() {
        // Two classes on a line: 0 at x = 0, 1, 2, 10; 1 at x = 3, 4.
        let points = [0.0, 0.0, 1.0, 0.0, 2.0, 0.0, 10.0, 0.0, 3.0, 0.0, 4.0, 0.0];
        let labels = [0, 0, 0, 0, 1, 1];
        let share = neighbour_share(&points, &labels, &[0, 4], 2).unwrap();
        // Point 0's two nearest: 1 and 2 (both class 0); point 4's: 5 and 2 (one of two).
        assert_eq!(share.overall, 0.75);
        assert_eq!(share.per_class[0], Some(1.0));
        assert_eq!(share.per_class[1], Some(0.5));
        assert_eq!(share.per_class[2], None);
        assert!(neighbour_share(&points, &labels, &[6], 2).is_err());
        assert!(neighbour_share(&points, &labels, &[0], 6).is_err());
        assert!(neighbour_share(&points[..10], &labels, &[0], 2).is_err());
    }

    #[test]
    fn pca_keeps_the_direction_of_most_variance() {
        // Points along (3, 4)/5 with a little noise across: the first component is that line.
        let mut rng = crate::rng::Rng::new(5);
        let x: Vec<f32> = (0..300)
            .flat_map(|_| {
                let (t, e) = (rng.range_f32(-10.0, 10.0), rng.range_f32(-0.1, 0.1));
                [0.6 * t - 0.8 * e + 1.0, 0.8 * t + 0.6 * e - 2.0]
            })
            .collect();
        let p = pca(&x, 2, 1).unwrap();
        let mean = |c: usize| x.iter().skip(c).step_by(2).sum::<f32>() / 300.0;
        let (ma, mb) = (mean(0), mean(1));
        for (i, v) in p.iter().enumerate() {
            let along = 0.6 * (x[2 * i] - ma) + 0.8 * (x[2 * i + 1] - mb);
            assert!((v.abs() - along.abs()).abs() < 0.1, "{v} against {along}");
        }
        // A component's sign is fixed, so the projection is `along` or `-along` throughout.
        let flips = p.iter().zip(0..).filter(|(v, i)| {
            let along = 0.6 * (x[2 * i] - ma) + 0.8 * (x[2 * i + 1] - mb);
            v.signum() != along.signum() && along.abs() > 0.1
        });
        let flipped = flips.count();
        assert!(flipped == 0 || flipped > 250, "{flipped}");
    }

    /// The page's 1,000-image sample mapped from each space by t-SNE and PCA: in the CNN's space the
    /// classes hold together far better than in pixel space, Shirt, T-shirt and Pullover included.
    #[test]
    fn the_cnns_space_keeps_the_classes_together_better_than_pixels() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/www/data/");
        let read = |name: &str| std::fs::read(format!("{dir}{name}")).unwrap();
        let ds =
            crate::data::Dataset::from_idx(&read(SAMPLE_IMAGES), &read(SAMPLE_LABELS)).unwrap();
        let weights = concat!(env!("CARGO_MANIFEST_DIR"), "/pretrained/");
        let (cnn, header) = crate::deep::weights::load(
            &std::fs::read(format!("{weights}cnn.weights")).unwrap(),
            None,
            &Device::flex(),
        )
        .unwrap();
        let svm = ClassicalModel::from_bytes(
            &std::fs::read(format!("{weights}svm.model")).unwrap(),
            Some(ClassicalKind::Svm),
        )
        .unwrap();
        let queries = crate::report::quiz::quiz_items(ds.labels(), 10, 0);
        let share = |space: Space, method: Method| {
            let f = block_on(features(
                space,
                ds.pixels(),
                Some(&svm),
                (&cnn, header.normalization),
                &Device::flex(),
            ))
            .unwrap();
            let mut run = MapRun::new(&f.values, f.dims, method).unwrap();
            while !run.step() {}
            neighbour_share(&run.embedding(), ds.labels(), &queries, 10).unwrap()
        };
        let pca_deep = share(Space::Deep, Method::Pca);
        eprintln!("PCA deep {pca_deep:?}");
        for method in [
            Method::Tsne(TsneConfig::default()),
            Method::Umap(UmapConfig::default()),
        ] {
            let (pixels, hog, deep) = (
                share(Space::Pixels, method),
                share(Space::Hog, method),
                share(Space::Deep, method),
            );
            eprintln!("{method:?}: pixels {pixels:?}\nhog {hog:?}\ndeep {deep:?}");
            assert!(deep.overall >= 0.7, "{method:?}: {deep:?}");
            assert!(
                deep.overall >= pixels.overall + 0.05,
                "{method:?}: {deep:?} against {pixels:?}"
            );
            // T-shirt/top, Pullover and Shirt: 0, 2 and 6.
            for class in [0, 2, 6] {
                assert!(
                    deep.per_class[class] > pixels.per_class[class],
                    "{method:?}, class {class}: {deep:?} against {pixels:?}"
                );
            }
        }
    }
}
