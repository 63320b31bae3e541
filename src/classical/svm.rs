//! RBF-kernel SVM, one-vs-one, each pairwise machine solved by our SMO ([`super::smo`]: libsvm's
//! algorithm with an on-demand, cached kernel; linfa-svm's solver is the reference its tests compare
//! with, see that module for why it is not the one used).
//!
//! A kernel SVM on all 60,000 images would need a 60,000² kernel (14.4 GB in f32). The design around it:
//! - **features first**: HOG + PCA features are short (tens of dimensions) and separate the classes far
//!   better than pixels, so fewer training images are needed for the same accuracy;
//! - **one-vs-one**, optionally on a class-balanced subsample: each of the 45 pairwise machines sees
//!   up to `per_class` images of each of its two classes (by default all 6,000), so its kernel is at most
//!   12,000² (576 MB in f32), of which only the rows the solver visits are computed, within a bounded
//!   cache; the 45 machines train in parallel natively;
//! - **prediction by matrix product**: the support vectors of all 45 machines are pooled (a training
//!   image shared by several machines is stored once) and the kernel between a block of queries and
//!   the pool comes from one product, instead of linfa's per-pair loop.
//!
//! Classes are decided by one-vs-one voting with ties broken by the summed decision values, as libsvm
//! (and so scikit-learn's `SVC`) does.

use ndarray::{Array2, ArrayView2, Axis, s};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

use super::smo::{BinarySolution, solve_binary};
use super::{ClassicalError, ClassicalKind, FittedEstimator, NUM_CLASSES};
use crate::rng::Rng;

/// SVM settings. Defaults: C = 10, γ = "scale" (1 / (features × variance), as scikit-learn),
/// 6,000 training images per class (all of Fashion-MNIST's), stopping tolerance 1e-3, seed 0.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SvmConfig {
    /// Penalty C (default 10, as Zalando's baseline).
    pub c: f32,
    /// RBF γ (default `None`: 1 / (features × variance of the features)).
    pub gamma: Option<f32>,
    /// Training images per class seen by each pairwise machine (default 6,000; capped by what there is).
    pub per_class: usize,
    /// SMO stopping tolerance (default 1e-3, as libsvm).
    pub tolerance: f32,
    /// Seed of the subsample (default 0).
    pub seed: u64,
}

impl Default for SvmConfig {
    fn default() -> Self {
        Self {
            c: 10.0,
            gamma: None,
            per_class: 6000,
            tolerance: 1e-3,
            seed: 0,
        }
    }
}

impl SvmConfig {
    /// Checks the settings.
    pub(crate) fn validate(&self) -> Result<(), ClassicalError> {
        let bad = |m: String| Err(ClassicalError::InvalidConfig(m));
        if !(self.c.is_finite() && self.c > 0.0) {
            return bad(format!("SVM C = {} must be positive", self.c));
        }
        if let Some(g) = self.gamma
            && !(g.is_finite() && g > 0.0)
        {
            return bad(format!("SVM gamma = {g} must be positive"));
        }
        if !(2..=20_000).contains(&self.per_class) {
            return bad(format!(
                "SVM images per class {} must be in 2..=20000",
                self.per_class
            ));
        }
        if !(self.tolerance.is_finite() && self.tolerance > 0.0 && self.tolerance < 1.0) {
            return bad(format!(
                "SVM tolerance {} must be in (0, 1)",
                self.tolerance
            ));
        }
        Ok(())
    }
}

/// A seeded, class-balanced subsample: up to `per_class` row indices of each class, grouped by class.
/// [`OvoSvm::fit`] trains on exactly these rows, so fitting the feature pipeline on just them first
/// (as [`super::ClassicalModel::fit`] does) saves computing features no machine will see.
pub(crate) fn balanced_rows(labels: &[u8], per_class: usize, seed: u64) -> Vec<usize> {
    let mut rng = Rng::new(seed);
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); NUM_CLASSES];
    for (i, l) in labels.iter().enumerate() {
        if let Some(members) = by_class.get_mut(*l as usize) {
            members.push(i);
        }
    }
    for members in &mut by_class {
        rng.shuffle(members);
        members.truncate(per_class);
    }
    by_class.concat()
}

/// One pairwise machine: decision = Σ coef·K(sv, x) − rho; ≥ 0 votes for `positive`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct PairMachine {
    positive: u8,
    negative: u8,
    /// Indices into the pooled support vectors.
    support: Vec<u32>,
    /// Signed dual coefficients, one per support vector.
    coef: Vec<f32>,
    rho: f32,
}

/// A solved pairwise machine: positive class, negative class, its training rows, the solution.
type SolvedPair = (usize, usize, Vec<usize>, BinarySolution);

/// A fitted one-vs-one RBF SVM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OvoSvm {
    /// Its settings.
    pub config: SvmConfig,
    /// The γ used.
    pub gamma: f32,
    dims: usize,
    /// Pooled support vectors, row-major (`support_vectors() × dims`), at f16 precision: rounded when
    /// fitted (so what is saved predicts exactly as what was fitted) and stored as f16.
    #[serde(with = "super::storage::f16_bytes")]
    vectors: Vec<f32>,
    machines: Vec<PairMachine>,
}

impl OvoSvm {
    /// Trains the 45 pairwise machines on features `x` (n × d). `progress` gets the fraction done and
    /// returns false to cancel.
    pub(crate) fn fit(
        config: SvmConfig,
        x: ArrayView2<f32>,
        labels: &[u8],
        progress: &mut dyn FnMut(f64) -> bool,
    ) -> Result<Self, ClassicalError> {
        config.validate()?;
        let d = x.ncols();
        let gamma = config.gamma.unwrap_or_else(|| {
            let mean = x.mean().unwrap_or(0.0);
            let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / x.len() as f32;
            1.0 / (d as f32 * var.max(1e-12))
        });
        let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); NUM_CLASSES];
        for i in balanced_rows(labels, config.per_class, config.seed) {
            by_class[labels[i] as usize].push(i);
        }
        let pairs: Vec<(usize, usize)> = (0..NUM_CLASSES)
            .flat_map(|a| (a + 1..NUM_CLASSES).map(move |b| (a, b)))
            .filter(|(a, b)| !by_class[*a].is_empty() && !by_class[*b].is_empty())
            .collect();
        if pairs.is_empty() {
            return Err(ClassicalError::InvalidConfig(
                "an SVM needs images of at least two classes".into(),
            ));
        }
        let mut solved: Vec<SolvedPair> = Vec::new();
        let round = 6;
        for chunk in pairs.chunks(round) {
            let results = crate::parallel::par_map(0..chunk.len(), |k| {
                let (a, b) = chunk[k];
                let rows: Vec<usize> = by_class[a].iter().chain(&by_class[b]).copied().collect();
                let records = x.select(Axis(0), &rows);
                let positive: Vec<bool> = rows.iter().map(|r| labels[*r] as usize == a).collect();
                let solution = solve_binary(
                    records.view(),
                    &positive,
                    config.c as f64,
                    gamma,
                    config.tolerance as f64,
                );
                (a, b, rows, solution)
            });
            for (a, b, rows, solution) in results {
                if !(solution.rho.is_finite() && solution.coef.iter().all(|c| c.is_finite())) {
                    return Err(ClassicalError::Numerical(format!(
                        "SVM {a} vs {b}: non-finite solution"
                    )));
                }
                solved.push((a, b, rows, solution));
            }
            if !progress(solved.len() as f64 / pairs.len() as f64) {
                return Err(ClassicalError::Cancelled);
            }
        }
        // Pool the support vectors.
        let mut pool: HashMap<usize, u32> = HashMap::new();
        let mut pooled_rows: Vec<usize> = Vec::new();
        let mut machines = Vec::with_capacity(solved.len());
        for (a, b, rows, solution) in solved {
            let (support_rows, coef): (Vec<usize>, Vec<f32>) = rows
                .iter()
                .zip(&solution.coef)
                .filter(|(_, c)| **c != 0.0)
                .map(|(r, c)| (*r, *c))
                .unzip();
            let support = support_rows
                .iter()
                .map(|r| {
                    *pool.entry(*r).or_insert_with(|| {
                        pooled_rows.push(*r);
                        (pooled_rows.len() - 1) as u32
                    })
                })
                .collect();
            machines.push(PairMachine {
                positive: a as u8,
                negative: b as u8,
                support,
                coef,
                rho: solution.rho,
            });
        }
        let mut vectors: Vec<f32> = x.select(Axis(0), &pooled_rows).iter().copied().collect();
        super::storage::round_to_f16(&mut vectors);
        Ok(Self {
            config,
            gamma,
            dims: d,
            vectors,
            machines,
        })
    }

    /// Number of pooled support vectors.
    pub(crate) fn support_vectors(&self) -> usize {
        self.vectors.len() / self.dims.max(1)
    }
}

impl FittedEstimator for OvoSvm {
    fn kind(&self) -> ClassicalKind {
        ClassicalKind::Svm
    }

    /// Number of stored numbers (support vectors, coefficients and offsets).
    fn params(&self) -> usize {
        self.vectors.len()
            + self
                .machines
                .iter()
                .map(|m| m.coef.len() + 1)
                .sum::<usize>()
    }

    /// Feature count.
    fn dims(&self) -> usize {
        self.dims
    }

    /// Checks a deserialised model.
    fn check(&self) -> Result<(), ClassicalError> {
        self.config.validate()?;
        let pooled = self.support_vectors();
        let ok = self.dims > 0
            && self.vectors.len() == pooled * self.dims
            && !self.machines.is_empty()
            && self.machines.iter().all(|m| {
                (m.positive as usize) < NUM_CLASSES
                    && (m.negative as usize) < NUM_CLASSES
                    && m.support.len() == m.coef.len()
                    && m.support.iter().all(|s| (*s as usize) < pooled)
            });
        if ok {
            Ok(())
        } else {
            Err(ClassicalError::Corrupt(
                "SVM machines and support vectors disagree".into(),
            ))
        }
    }

    /// Class scores from one-vs-one voting: the share of its 9 duels each class won, with libsvm's
    /// tie-breaking confidence (in (−⅓, ⅓) of a vote) folded in and mapped into (0, 1): n × 10. A class
    /// that won all its duels scores about 1. They are not probabilities and do not sum to one; the
    /// highest is the prediction.
    fn predict_proba(&self, x: ArrayView2<f32>) -> Array2<f32> {
        const BLOCK: usize = 128;
        let n = x.nrows();
        let vectors = ArrayView2::from_shape((self.support_vectors(), self.dims), &self.vectors)
            .expect("shape");
        let vector_norms: Vec<f32> = vectors.rows().into_iter().map(|r| r.dot(&r)).collect();
        let mut out = vec![0f32; n * NUM_CLASSES];
        crate::parallel::for_each_chunk(&mut out, BLOCK * NUM_CLASSES, |block, scores| {
            let start = block * BLOCK;
            let queries = x.slice(s![start..start + scores.len() / NUM_CLASSES, ..]);
            let mut kernel = queries.dot(&vectors.t()); // [b, pooled]
            for (mut row, q) in kernel.rows_mut().into_iter().zip(queries.rows()) {
                let q_norm = q.dot(&q);
                for (k, norm) in row.iter_mut().zip(&vector_norms) {
                    *k = (-self.gamma * (q_norm + norm - 2.0 * *k).max(0.0)).exp();
                }
            }
            for (row, out) in kernel
                .rows()
                .into_iter()
                .zip(scores.chunks_mut(NUM_CLASSES))
            {
                let mut votes = [0f32; NUM_CLASSES];
                let mut confidence = [0f32; NUM_CLASSES];
                for m in &self.machines {
                    let decision: f32 = m
                        .support
                        .iter()
                        .zip(&m.coef)
                        .map(|(s, c)| c * row[*s as usize])
                        .sum::<f32>()
                        - m.rho;
                    let (winner, loser) = if decision >= 0.0 {
                        (m.positive, m.negative)
                    } else {
                        (m.negative, m.positive)
                    };
                    votes[winner as usize] += 1.0;
                    confidence[winner as usize] += decision.abs();
                    confidence[loser as usize] -= decision.abs();
                }
                let duels = (NUM_CLASSES - 1) as f32;
                for c in 0..NUM_CLASSES {
                    let conf = confidence[c] / (3.0 * (confidence[c].abs() + 1.0));
                    out[c] = (votes[c] + conf + 1.0 / 3.0) / (duels + 2.0 / 3.0);
                }
            }
        });
        Array2::from_shape_vec((n, NUM_CLASSES), out).expect("shape")
    }

    fn describe(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut m = serde_json::Map::new();
        m.insert("settings".into(), serde_json::json!(self.config));
        m.insert("gamma".into(), serde_json::json!(self.gamma));
        m.insert(
            "support_vectors".into(),
            serde_json::json!(self.support_vectors()),
        );
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two rings: not linearly separable.
    fn rings(n: usize, seed: u64) -> (Array2<f32>, Vec<u8>) {
        let mut rng = Rng::new(seed);
        let mut x = Array2::zeros((n, 2));
        let mut y = vec![0u8; n];
        for i in 0..n {
            let class = (i % 2) as u8;
            let r = if class == 0 { 1.0 } else { 3.0 } + rng.range_f32(-0.3, 0.3);
            let t = rng.range_f32(0.0, std::f32::consts::TAU);
            x[[i, 0]] = r * t.cos();
            x[[i, 1]] = r * t.sin();
            y[i] = class * 3; // classes 0 and 3
        }
        (x, y)
    }

    #[test]
    fn one_vs_one_separates_rings() {
        let (x, y) = rings(400, 3);
        let config = SvmConfig {
            per_class: 150,
            ..Default::default()
        };
        let svm = OvoSvm::fit(config, x.view(), &y, &mut |_| true).unwrap();
        svm.check().unwrap();
        let (test, truth) = rings(200, 4);
        let p = svm.predict_proba(test.view());
        let predicted = crate::metrics::argmax_rows(p.as_slice().unwrap(), NUM_CLASSES);
        let correct = predicted.iter().zip(&truth).filter(|(a, b)| a == b).count();
        assert!(correct >= 195, "{correct}/200");
        assert!(matches!(
            OvoSvm::fit(SvmConfig { c: -1.0, ..config }, x.view(), &y, &mut |_| true),
            Err(ClassicalError::InvalidConfig(_))
        ));
    }
}
