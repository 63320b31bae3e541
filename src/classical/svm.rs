//! RBF-kernel SVM, one-vs-one, each pairwise machine solved by linfa-svm's SMO solver.
//!
//! linfa-svm builds a dense n × n kernel matrix (28.8 GB at n = 60,000, in f64). The design around it:
//! - **features first**: HOG + PCA features are short (tens of dimensions) and separate the classes far
//!   better than pixels, so fewer training images are needed for the same accuracy;
//! - **one-vs-one on a class-balanced subsample**: each of the 45 pairwise machines sees
//!   `per_class` images of each of its two classes, so its kernel matrix is (2 · per_class)²
//!   (256 MB in f32 at 4,000 per class), and the 45 machines train in parallel natively;
//! - **prediction by matrix product**: the support vectors of all 45 machines are pooled (a training
//!   image shared by several machines is stored once) and the kernel between a block of queries and
//!   the pool comes from one product, instead of linfa's per-pair loop.
//!
//! Classes are decided by one-vs-one voting with ties broken by the summed decision values, as libsvm
//! (and so scikit-learn's `SVC`) does.

use linfa::ParamGuard;
use linfa::dataset::DatasetBase;
use linfa::traits::Fit;
use linfa_svm::Svm;
use ndarray::{Array1, Array2, ArrayView2, Axis, s};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

use super::{ClassicalError, NUM_CLASSES};
use crate::rng::Rng;

/// SVM settings. Defaults: C = 10, γ = "scale" (1 / (features × variance), as scikit-learn),
/// 4,000 training images per class, stopping tolerance 1e-3, seed 0.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SvmConfig {
    /// Penalty C (default 10, as Zalando's baseline).
    pub c: f32,
    /// RBF γ (default `None`: 1 / (features × variance of the features)).
    pub gamma: Option<f32>,
    /// Training images per class seen by each pairwise machine (default 4,000; capped by what there is).
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
            per_class: 4000,
            tolerance: 1e-3,
            seed: 0,
        }
    }
}

impl SvmConfig {
    /// Checks the settings.
    pub fn validate(&self) -> Result<(), ClassicalError> {
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

/// A solved pairwise machine: positive class, negative class, its training rows, linfa's model.
type SolvedPair = (usize, usize, Vec<usize>, Svm<f32, bool>);

/// A fitted one-vs-one RBF SVM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OvoSvm {
    /// Its settings.
    pub config: SvmConfig,
    /// The γ used.
    pub gamma: f32,
    dims: usize,
    /// Pooled support vectors, row-major (`support_vectors() × dims`).
    vectors: Vec<f32>,
    machines: Vec<PairMachine>,
}

impl OvoSvm {
    /// Trains the 45 pairwise machines on features `x` (n × d). `progress` gets the fraction done and
    /// returns false to cancel.
    pub fn fit(
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
        // A seeded, class-balanced subsample.
        let mut rng = Rng::new(config.seed);
        let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); NUM_CLASSES];
        for (i, l) in labels.iter().enumerate() {
            by_class[*l as usize].push(i);
        }
        for members in &mut by_class {
            rng.shuffle(members);
            members.truncate(config.per_class);
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
        let params = Svm::<f32, bool>::params()
            .pos_neg_weights(config.c, config.c)
            .gaussian_kernel(1.0 / gamma)
            .eps(config.tolerance)
            // linfa-svm 0.8.1's shrinking heuristic indexes out of bounds on some pairs (seen on
            // Fashion-MNIST HOG features: index usize::MAX in `should_shrunk`), so it stays off.
            .shrinking(false)
            .check()
            .map_err(|e| ClassicalError::InvalidConfig(format!("SVM: {e}")))?;
        let mut solved: Vec<SolvedPair> = Vec::new();
        let round = 6;
        for chunk in pairs.chunks(round) {
            let results = super::par_map(0..chunk.len(), |k| {
                let (a, b) = chunk[k];
                let rows: Vec<usize> = by_class[a].iter().chain(&by_class[b]).copied().collect();
                let records = x.select(Axis(0), &rows);
                let targets: Array1<bool> = rows.iter().map(|r| labels[*r] as usize == a).collect();
                let model = params.fit(&DatasetBase::new(records, targets));
                (a, b, rows, model)
            });
            for (a, b, rows, model) in results {
                let model =
                    model.map_err(|e| ClassicalError::Numerical(format!("SVM {a} vs {b}: {e}")))?;
                solved.push((a, b, rows, model));
            }
            if !progress(solved.len() as f64 / pairs.len() as f64) {
                return Err(ClassicalError::Cancelled);
            }
        }
        // Pool the support vectors.
        let mut pool: HashMap<usize, u32> = HashMap::new();
        let mut pooled_rows: Vec<usize> = Vec::new();
        let mut machines = Vec::with_capacity(solved.len());
        for (a, b, rows, model) in solved {
            let (support_rows, coef) = support_of(&model, &rows);
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
                rho: model.rho,
            });
        }
        let vectors = x.select(Axis(0), &pooled_rows).iter().copied().collect();
        Ok(Self {
            config,
            gamma,
            dims: d,
            vectors,
            machines,
        })
    }

    /// Number of pooled support vectors.
    pub fn support_vectors(&self) -> usize {
        self.vectors.len() / self.dims.max(1)
    }

    /// Number of stored numbers (support vectors, coefficients and offsets).
    pub fn params(&self) -> usize {
        self.vectors.len()
            + self
                .machines
                .iter()
                .map(|m| m.coef.len() + 1)
                .sum::<usize>()
    }

    /// Feature count.
    pub fn dims(&self) -> usize {
        self.dims
    }

    /// Checks a deserialised model.
    pub fn check(&self) -> Result<(), ClassicalError> {
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
    pub fn predict_proba(&self, x: ArrayView2<f32>) -> Array2<f32> {
        const BLOCK: usize = 128;
        let n = x.nrows();
        let vectors = ArrayView2::from_shape((self.support_vectors(), self.dims), &self.vectors)
            .expect("shape");
        let vector_norms: Vec<f32> = vectors.rows().into_iter().map(|r| r.dot(&r)).collect();
        let mut out = vec![0f32; n * NUM_CLASSES];
        super::par_chunks(&mut out, BLOCK * NUM_CLASSES, |block, scores| {
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
}

/// The support vectors (as rows of the full training set) and signed coefficients of a fitted
/// linfa SVM trained on `rows`.
fn support_of(model: &Svm<f32, bool>, rows: &[usize]) -> (Vec<usize>, Vec<f32>) {
    // linfa keeps the support vectors whose |alpha| exceeds 100 ε, in row order.
    let threshold = 100.0 * f32::EPSILON;
    model
        .alpha
        .iter()
        .zip(rows)
        .filter(|(a, _)| a.abs() > threshold)
        .map(|(a, r)| (*r, *a))
        .unzip()
}

#[cfg(test)]
mod tests {
    use super::*;
    use linfa::traits::Predict;

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
    fn our_decision_matches_linfas_prediction() {
        let (x, y) = rings(200, 1);
        let rows: Vec<usize> = (0..200).collect();
        let targets: Array1<bool> = y.iter().map(|l| *l == 0).collect();
        let model = Svm::<f32, bool>::params()
            .pos_neg_weights(10.0, 10.0)
            .gaussian_kernel(2.0)
            .fit(&DatasetBase::new(x.clone(), targets))
            .unwrap();
        let (support, coef) = support_of(&model, &rows);
        assert!(!support.is_empty() && support.len() < 200);
        let (queries, _) = rings(100, 2);
        for q in queries.rows() {
            let ours: f32 = support
                .iter()
                .zip(&coef)
                .map(|(r, c)| {
                    let d2: f32 = x.row(*r).iter().zip(q).map(|(a, b)| (a - b).powi(2)).sum();
                    c * (-d2 / 2.0).exp()
                })
                .sum::<f32>()
                - model.rho;
            let linfa: bool = model.predict(q);
            assert_eq!(ours >= 0.0, linfa, "decision {ours}");
        }
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
