//! UMAP (McInnes, Healy & Melville, 2018), run in steps so that a worker can report progress: first each
//! point's exact nearest neighbours and its fuzzy set of them, then stochastic gradient descent on the
//! 2-D map, edge by edge with negative sampling.
//!
//! The algorithm and settings are umap-learn's: `k` neighbours counting the point itself (so `k − 1`
//! others) at Euclidean distance, each point's distance to its nearest neighbour `ρ` subtracted and a
//! bandwidth `σ` found so that its weights sum to log₂ k; the fuzzy union `a + b − ab` of the two directed weights; the curve `1 / (1 + a d^2b)` with
//! umap-learn's `a` and `b` for `min_dist` 0.1 and spread 1; each edge sampled in proportion to its
//! weight, 5 negative samples for each, gradients clipped to ±4, a learning rate falling linearly from 1;
//! 500 epochs up to 10,000 points and 200 above. The start is the input's two principal components scaled
//! to [0, 10] (umap-learn's `init="pca"`), and the negative samples come from a seeded generator, so a map
//! depends only on its input and the seed.

use super::{EmbeddingError, MapProgress, nearest, pca, points_in};
use crate::rng::Rng;
use serde::Serialize;

/// Input rows whose neighbours are found per step.
const ROWS_PER_STEP: usize = 250;
/// Epochs per step of the layout.
const EPOCHS_PER_STEP: usize = 10;
/// Negative samples per positive one.
const NEGATIVE_SAMPLES: usize = 5;
/// The curve `1 / (1 + a d^2b)` fitted by umap-learn to `min_dist` 0.1 and spread 1.
const A: f64 = 1.576_943_460_405_378;
const B: f64 = 0.895_060_878_123_780_3;

/// UMAP's settings, validated on construction.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct UmapConfig {
    neighbours: usize,
    epochs: Option<usize>,
    seed: u64,
}

impl UmapConfig {
    /// Neighbours `k`, the point itself counted (3..=100), epochs of the layout (`None`: 500 up to 10,000 points, else 200; else
    /// 10..=2000) and the seed of the negative samples.
    pub fn new(
        neighbours: usize,
        epochs: Option<usize>,
        seed: u64,
    ) -> Result<Self, EmbeddingError> {
        if !(3..=100).contains(&neighbours) {
            return Err(EmbeddingError::Setting(format!(
                "{neighbours} neighbours is outside 3..=100"
            )));
        }
        if let Some(e) = epochs
            && !(10..=2000).contains(&e)
        {
            return Err(EmbeddingError::Setting(format!(
                "{e} epochs is outside 10..=2000"
            )));
        }
        Ok(Self {
            neighbours,
            epochs,
            seed,
        })
    }
}

impl Default for UmapConfig {
    /// 15 neighbours, umap-learn's epochs, seed 0.
    fn default() -> Self {
        Self::new(15, None, 0).expect("valid")
    }
}

/// A UMAP run over `n` points: call [`Umap::step`] until it returns true, then read
/// [`Umap::embedding`].
pub struct Umap {
    k: usize,
    epochs: usize,
    n: usize,
    /// The input points (n × dims), dropped once the graph is built.
    x: Vec<f32>,
    dims: usize,
    /// Each row's directed fuzzy weights over its nearest neighbours, found so far; dropped once the
    /// graph is built (`built`).
    directed: Vec<Vec<(u32, f64)>>,
    built: bool,
    /// The symmetric graph's edges (both directions), and per edge: epochs between its samples (its
    /// negative samples come `NEGATIVE_SAMPLES` times as often), the epoch of its next sample and the
    /// epoch of its next negative ones.
    edges: Vec<(u32, u32)>,
    every: Vec<f64>,
    next: Vec<f64>,
    next_negative: Vec<f64>,
    /// The map (n × 2).
    y: Vec<f64>,
    epoch: usize,
    rng: Rng,
}

impl Umap {
    /// A run over `x` (n × `dims` values), started at its two principal components.
    pub fn new(x: &[f32], dims: usize, config: UmapConfig) -> Result<Self, EmbeddingError> {
        let n = points_in(x, dims)?;
        if n < config.neighbours {
            return Err(EmbeddingError::TooFewPoints {
                points: n,
                needed: config.neighbours,
            });
        }
        // The start: the two principal components, each scaled to [0, 10].
        let start = pca(x, dims, 2)?;
        let mut y: Vec<f64> = start.iter().map(|&v| v as f64).collect();
        for c in 0..2 {
            let (lo, hi) = y
                .iter()
                .skip(c)
                .step_by(2)
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
                    (lo.min(v), hi.max(v))
                });
            let scale = if hi > lo { 10.0 / (hi - lo) } else { 0.0 };
            y.iter_mut()
                .skip(c)
                .step_by(2)
                .for_each(|v| *v = (*v - lo) * scale);
        }
        Ok(Self {
            k: config.neighbours,
            epochs: config.epochs.unwrap_or(if n <= 10_000 { 500 } else { 200 }),
            n,
            x: x.to_vec(),
            dims,
            directed: Vec::with_capacity(n),
            built: false,
            edges: Vec::new(),
            every: Vec::new(),
            next: Vec::new(),
            next_negative: Vec::new(),
            y,
            epoch: 0,
            rng: Rng::new(config.seed),
        })
    }

    /// Does the next piece of work (a few hundred rows' neighbours, or ten epochs of the layout): true
    /// once the run is done.
    pub fn step(&mut self) -> bool {
        if !self.built {
            let end = (self.directed.len() + ROWS_PER_STEP).min(self.n);
            for i in self.directed.len()..end {
                let row = self.fuzzy_row(i);
                self.directed.push(row);
            }
            if self.directed.len() == self.n {
                self.build_graph();
            }
            return false;
        }
        for _ in 0..EPOCHS_PER_STEP {
            if self.epoch >= self.epochs {
                break;
            }
            self.run_epoch();
        }
        self.epoch >= self.epochs
    }

    /// Where the run stands.
    pub fn progress(&self) -> MapProgress {
        if !self.built {
            let fraction = self.directed.len() as f64 / self.n as f64;
            MapProgress {
                stage: "neighbours",
                fraction,
                overall: 0.3 * fraction,
            }
        } else {
            let fraction = self.epoch as f64 / self.epochs as f64;
            MapProgress {
                stage: "epochs",
                fraction,
                overall: 0.3 + 0.7 * fraction,
            }
        }
    }

    /// The map as it stands: n × 2 values, row-major.
    pub fn embedding(&self) -> Vec<f32> {
        self.y.iter().map(|&v| v as f32).collect()
    }

    /// The symmetric graph's edges, each listed once (`i < j`), with their weights relative to the
    /// largest (for the tests).
    #[cfg(test)]
    fn graph(&self) -> Vec<(u32, u32, f64)> {
        self.edges
            .iter()
            .zip(&self.every)
            .filter(|((i, j), _)| i < j)
            .map(|(&(i, j), every)| (i, j, 1.0 / every))
            .collect()
    }

    /// Point `i`'s fuzzy weights over its `k − 1` nearest other points: `exp(−(d − ρ) / σ)`, with `ρ`
    /// the distance to its nearest neighbour and `σ` found by bisection so that the weights sum to
    /// log₂ k.
    fn fuzzy_row(&self, i: usize) -> Vec<(u32, f64)> {
        let k = self.k - 1;
        let near = nearest(&self.x, self.dims, i, k);
        let distances: Vec<f64> = near.iter().map(|(d2, _)| d2.sqrt()).collect();
        // ρ: the nearest neighbour at a distance above 0 (duplicates of the point are at 0).
        let rho = distances.iter().copied().find(|&v| v > 0.0).unwrap_or(0.0);
        let target = (self.k as f64).log2();
        let weight_sum = |sigma: f64| -> f64 {
            distances
                .iter()
                .map(|&v| (-((v - rho).max(0.0)) / sigma).exp())
                .sum()
        };
        let (mut lo, mut hi, mut sigma) = (0.0f64, f64::INFINITY, 1.0f64);
        for _ in 0..64 {
            let sum = weight_sum(sigma);
            if (sum - target).abs() < 1e-5 {
                break;
            }
            if sum > target {
                hi = sigma;
                sigma = (lo + hi) / 2.0;
            } else {
                lo = sigma;
                sigma = if hi.is_finite() {
                    (lo + hi) / 2.0
                } else {
                    sigma * 2.0
                };
            }
        }
        // umap-learn's floor on σ: a thousandth of the mean distance to the neighbours.
        let mean = distances.iter().sum::<f64>() / k as f64;
        let sigma = sigma.max(1e-3 * mean);
        near.iter()
            .zip(&distances)
            .map(|(&(_, j), &v)| {
                let w = if v - rho <= 0.0 || sigma == 0.0 {
                    1.0
                } else {
                    (-(v - rho) / sigma).exp()
                };
                (j, w)
            })
            .collect()
    }

    /// The fuzzy union of the directed weights, `a + b − ab`, as edges in both directions; each edge is
    /// sampled every `max w / w` epochs (edges under `max w / epochs`, never sampled, are dropped) and its
    /// negative samples five times as often. The input points are no longer needed.
    fn build_graph(&mut self) {
        let mut entries: Vec<(u32, u32, f64)> = Vec::new();
        for (i, row) in self.directed.iter().enumerate() {
            for &(j, w) in row {
                let (a, b) = if (i as u32) < j {
                    (i as u32, j)
                } else {
                    (j, i as u32)
                };
                entries.push((a, b, w));
            }
        }
        entries.sort_by_key(|e| (e.0, e.1));
        let mut union: Vec<(u32, u32, f64)> = Vec::with_capacity(entries.len());
        for (a, b, w) in entries {
            match union.last_mut() {
                // The same pair from the other side: a + b − ab.
                Some(last) if last.0 == a && last.1 == b => last.2 = last.2 + w - last.2 * w,
                _ => union.push((a, b, w)),
            }
        }
        let max = union.iter().map(|e| e.2).fold(0.0, f64::max);
        let floor = max / self.epochs as f64;
        for &(a, b, w) in union.iter().filter(|e| e.2 >= floor) {
            for edge in [(a, b), (b, a)] {
                let every = max / w;
                self.edges.push(edge);
                self.every.push(every);
                self.next.push(every);
                self.next_negative.push(every / NEGATIVE_SAMPLES as f64);
            }
        }
        self.directed = Vec::new();
        self.x = Vec::new();
        self.built = true;
    }

    /// One epoch: each edge due is pulled together, with negative samples pushed away from its head.
    fn run_epoch(&mut self) {
        let epoch = self.epoch as f64;
        let alpha = 1.0 - epoch / self.epochs as f64;
        let clip = |g: f64| g.clamp(-4.0, 4.0);
        for e in 0..self.edges.len() {
            if self.next[e] > epoch {
                continue;
            }
            let (i, j) = (self.edges[e].0 as usize, self.edges[e].1 as usize);
            let (dx, dy) = (
                self.y[2 * i] - self.y[2 * j],
                self.y[2 * i + 1] - self.y[2 * j + 1],
            );
            let d2 = dx * dx + dy * dy;
            if d2 > 0.0 {
                // d^2(b−1) as d^2b / d²: one power instead of two.
                let p = pow_b(d2);
                let coeff = -2.0 * A * B * (p / d2) / (A * p + 1.0);
                let (gx, gy) = (clip(coeff * dx) * alpha, clip(coeff * dy) * alpha);
                self.y[2 * i] += gx;
                self.y[2 * i + 1] += gy;
                self.y[2 * j] -= gx;
                self.y[2 * j + 1] -= gy;
            }
            self.next[e] += self.every[e];
            let every_negative = self.every[e] / NEGATIVE_SAMPLES as f64;
            let negatives = ((epoch - self.next_negative[e]) / every_negative).max(0.0) as usize;
            for _ in 0..negatives {
                let k = self.rng.below(self.n);
                if k == i {
                    continue;
                }
                let (dx, dy) = (
                    self.y[2 * i] - self.y[2 * k],
                    self.y[2 * i + 1] - self.y[2 * k + 1],
                );
                let d2 = dx * dx + dy * dy;
                let (gx, gy) = if d2 > 0.0 {
                    let coeff = 2.0 * B / ((0.001 + d2) * (A * pow_b(d2) + 1.0));
                    (clip(coeff * dx), clip(coeff * dy))
                } else {
                    (4.0, 4.0)
                };
                self.y[2 * i] += gx * alpha;
                self.y[2 * i + 1] += gy * alpha;
            }
            self.next_negative[e] += negatives as f64 * every_negative;
        }
        self.epoch += 1;
    }
}

/// `x^B`, the layout's one power, from IEEE additions, multiplications and divisions only (no library
/// call, so no platform's own rounding) and two small tables computed at compile time: `2^(B·log₂ x)`,
/// the logarithm from a 128-entry table and a degree-5 series, the exponential from a 32-entry table and
/// a degree-5 series, each series by Estrin's scheme. Within 2e-14 of `powf` (the
/// `the_layouts_power_is_powfs` test).
///
/// The layout's negative samples of one edge each move the same point, so each power waits for the one
/// before: what counts is the latency of one power, which the short dependency chains here keep below
/// glibc's, while in WebAssembly `powf` is a software routine (compiler-builtins' libm) several times
/// slower. BENCHMARKS.md has the map's times with each.
fn pow_b(x: f64) -> f64 {
    let bits = x.to_bits();
    let exponent = ((bits >> 52) & 0x7ff) as i64;
    if exponent == 0 || exponent == 0x7ff || x < 0.0 {
        // Zero, subnormals, infinities, NaN and negatives: never a squared distance the layout powers.
        return x.powf(B);
    }
    // x = 2^e · m with m in [1, 2); m's top bits pick its interval, whose centre c is near m, and
    // B·log₂ x = B·e + B·log₂ c + B·log₂(1 + r) with r = m / c − 1, |r| ≤ 1/256.
    let i = ((bits >> (52 - LOG_BITS)) & (LOG_N as u64 - 1)) as usize;
    let m = f64::from_bits((bits & ((1 << 52) - 1)) | (1023 << 52));
    let (inv_c, log2_c) = LOG_TABLE[i];
    let r = m * inv_c - 1.0;
    // B·log₂(1 + r) = BL·(r − r²/2 + r³/3 − r⁴/4 + r⁵/5).
    const BL: f64 = B * std::f64::consts::LOG2_E;
    let r2 = r * r;
    let low = BL * r + (-0.5 * BL) * r2;
    let high = (BL / 3.0 + (-0.25 * BL) * r) + (0.2 * BL) * r2;
    let y = B * ((exponent - 1023) as f64 + log2_c) + (low + (r2 * r) * high);
    // 2^y = 2^(k/32) · 2^f, |f| ≤ 1/64. k is y·32 rounded by adding and taking away 1.5·2^52, where
    // doubles are whole numbers (`round` and `floor` are library calls on x86-64's baseline).
    const ROUND: f64 = 6_755_399_441_055_744.0;
    let k = (y * EXP_N as f64 + ROUND) - ROUND;
    let f = y - k * (1.0 / EXP_N as f64);
    // 2^f = Σ (f·ln 2)^n / n!, n ≤ 5.
    const L: f64 = std::f64::consts::LN_2;
    const D2: f64 = L * L / 2.0;
    const D3: f64 = D2 * L / 3.0;
    const D4: f64 = D3 * L / 4.0;
    const D5: f64 = D4 * L / 5.0;
    let f2 = f * f;
    let exp_f = (1.0 + L * f) + f2 * ((D2 + D3 * f) + f2 * (D4 + D5 * f));
    let k = k as i64;
    let scale = f64::from_bits((((k >> 5) + 1023).clamp(1, 2046) as u64) << 52);
    EXP_TABLE[(k & (EXP_N as i64 - 1)) as usize] * scale * exp_f
}

/// The mantissa's intervals in [`pow_b`]'s logarithm: 2^7.
const LOG_BITS: u32 = 7;
const LOG_N: usize = 1 << LOG_BITS;
/// Per interval of [1, 2): `1/c` for its centre `c`, rounded, and `log₂ c` of that rounded value.
const LOG_TABLE: [(f64, f64); LOG_N] = {
    let mut table = [(0.0, 0.0); LOG_N];
    let mut i = 0;
    while i < LOG_N {
        let inv_c = 1.0 / (1.0 + (i as f64 + 0.5) / LOG_N as f64);
        table[i] = (inv_c, -ln_near_one(inv_c) * std::f64::consts::LOG2_E);
        i += 1;
    }
    table
};
/// [`pow_b`]'s exponential steps: 2^(j/32) for j in 0..32, by their Taylor series.
const EXP_N: usize = 32;
const EXP_TABLE: [f64; EXP_N] = {
    let mut table = [0.0; EXP_N];
    let mut j = 0;
    while j < EXP_N {
        let x = j as f64 / EXP_N as f64 * std::f64::consts::LN_2;
        let (mut term, mut sum, mut n) = (1.0, 0.0, 1);
        while n < 30 {
            sum += term;
            term = term * x / n as f64;
            n += 1;
        }
        table[j] = sum;
        j += 1;
    }
    table
};

/// ln z for z in [0.5, 2], as 2·atanh((z − 1)/(z + 1)): for the tables, at compile time.
const fn ln_near_one(z: f64) -> f64 {
    let s = (z - 1.0) / (z + 1.0);
    let (mut term, mut sum, mut k) = (s, 0.0, 0);
    while k < 30 {
        sum += term / (2 * k + 1) as f64;
        term *= s * s;
        k += 1;
    }
    2.0 * sum
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embedding::neighbour_share;

    /// `blobs` Gaussian-ish clusters of `n` points in `dims` dimensions, their centres 10 apart on the
    /// axes, from a seeded generator; the labels are the clusters.
    fn blobs(n: usize, dims: usize, blobs: usize, spread: f32, seed: u64) -> (Vec<f32>, Vec<u8>) {
        let mut rng = Rng::new(seed);
        let mut x = Vec::with_capacity(n * dims);
        let mut labels = Vec::with_capacity(n);
        for i in 0..n {
            let c = i % blobs;
            for d in 0..dims {
                let centre = if d == c { 10.0 } else { 0.0 };
                let noise: f32 = (0..4).map(|_| rng.range_f32(-1.0, 1.0)).sum::<f32>() * 0.5;
                x.push(centre + spread * noise);
            }
            labels.push(c as u8);
        }
        (x, labels)
    }

    fn run(x: &[f32], dims: usize, config: UmapConfig) -> Umap {
        let mut u = Umap::new(x, dims, config).unwrap();
        while !u.step() {}
        u
    }

    /// Each point's weights against a direct computation of umap-learn's definition on a small input:
    /// the nearest neighbour at weight 1, the weights summing to log₂ k, falling with distance; and the
    /// graph is their fuzzy union.
    #[test]
    fn fuzzy_weights_sum_to_log2_k_and_unite_as_a_plus_b_minus_ab() {
        let (x, _) = blobs(60, 4, 3, 1.0, 7);
        let config = UmapConfig::new(8, Some(10), 1).unwrap();
        let mut u = Umap::new(&x, 4, config).unwrap();
        let rows: Vec<Vec<(u32, f64)>> = (0..60).map(|i| u.fuzzy_row(i)).collect();
        for (i, row) in rows.iter().enumerate() {
            assert_eq!(row.len(), 7);
            assert_eq!(row[0].1, 1.0, "row {i}");
            let sum: f64 = row.iter().map(|r| r.1).sum();
            assert!((sum - 3.0).abs() < 1e-4, "row {i} sums to {sum}");
            assert!(row.windows(2).all(|w| w[0].1 >= w[1].1), "row {i}");
            // The neighbours are the 7 nearest others, by brute force.
            let mut all: Vec<(f32, usize)> = (0..60)
                .filter(|&j| j != i)
                .map(|j| {
                    let d: f32 = (0..4).map(|c| (x[i * 4 + c] - x[j * 4 + c]).powi(2)).sum();
                    (d, j)
                })
                .collect();
            all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            let want: Vec<u32> = all[..7].iter().map(|&(_, j)| j as u32).collect();
            let got: Vec<u32> = row.iter().map(|r| r.0).collect();
            assert_eq!(got, want, "row {i}");
        }
        while !u.step() {}
        // The union of the two directions, for every pair either side chose.
        let mut want = std::collections::BTreeMap::new();
        for (i, row) in rows.iter().enumerate() {
            for &(j, w) in row {
                let back = rows[j as usize]
                    .iter()
                    .find(|r| r.0 == i as u32)
                    .map_or(0.0, |r| r.1);
                want.insert(
                    (i.min(j as usize) as u32, i.max(j as usize) as u32),
                    w + back - w * back,
                );
            }
        }
        let max = want.values().copied().fold(0.0, f64::max);
        // Edges under a tenth of the largest (max / epochs, 10 here) are never sampled and are dropped.
        want.retain(|_, w| *w >= max / 10.0);
        let graph = u.graph();
        assert_eq!(graph.len(), want.len());
        assert!(graph.len() >= 60 * 7 / 2, "{} edges", graph.len());
        for (i, j, w) in graph {
            let union = want[&(i, j)];
            assert!(
                (w - union / max).abs() < 1e-12,
                "edge {i}-{j}: {w} against {}",
                union / max
            );
        }
    }

    /// Separated clusters come out separated: every point's 10 nearest neighbours in the map are of its
    /// cluster, and the map is the same for the same seed and different for another.
    #[test]
    fn separated_clusters_stay_apart_and_a_seed_gives_one_map() {
        // Ten clusters on ten axes: two principal components cannot keep them apart, the layout must.
        let (x, labels) = blobs(300, 10, 10, 3.0, 3);
        let config = UmapConfig::new(15, Some(200), 11).unwrap();
        let a = run(&x, 10, config).embedding();
        assert!(a.iter().all(|v| v.is_finite()));
        let queries: Vec<usize> = (0..300).step_by(3).collect();
        let share = neighbour_share(&a, &labels, &queries, 10).unwrap();
        assert_eq!(share.overall, 1.0, "{share:?}");
        let b = run(&x, 10, config).embedding();
        assert_eq!(a, b);
        let c = run(&x, 10, UmapConfig::new(15, Some(200), 12).unwrap()).embedding();
        assert_ne!(a, c);
        // The start at the two principal components mixes the clusters.
        let start = Umap::new(&x, 10, config).unwrap().embedding();
        let before = neighbour_share(&start, &labels, &queries, 10)
            .unwrap()
            .overall;
        assert!(before < 0.8, "{before}");
    }

    /// The layout's power against `powf`: squared distances from 1e-20 to 1e20, seeded and log-uniform,
    /// and every table interval's edges at several scales.
    #[test]
    fn the_layouts_power_is_powfs() {
        let mut rng = Rng::new(5);
        let mut xs: Vec<f64> = (0..200_000)
            .map(|_| {
                10f64.powf(rng.range_f32(-20.0, 20.0) as f64)
                    * (1.0 + rng.range_f32(0.0, 1e-3) as f64)
            })
            .collect();
        for scale in [1e-9, 0.25, 1.0, 3.0, 1e6] {
            for i in 0..=LOG_N {
                let edge = scale * (1.0 + i as f64 / LOG_N as f64);
                xs.extend([edge, edge * (1.0 + 1e-15), edge * (1.0 - 1e-15)]);
            }
        }
        let mut worst = 0.0f64;
        for &x in &xs {
            let (ours, reference) = (pow_b(x), x.powf(B));
            worst = worst.max(((ours - reference) / reference).abs());
        }
        assert!(worst < 2e-14, "{worst:e}");
        // Outside the squared distances it is powf itself.
        for x in [0.0, f64::MIN_POSITIVE / 4.0, f64::INFINITY] {
            assert_eq!(pow_b(x).to_bits(), x.powf(B).to_bits());
        }
    }

    #[test]
    fn bad_settings_and_inputs_are_refused() {
        assert!(UmapConfig::new(2, None, 0).is_err());
        assert!(UmapConfig::new(101, None, 0).is_err());
        assert!(UmapConfig::new(15, Some(5), 0).is_err());
        let config = UmapConfig::default();
        assert!(matches!(
            Umap::new(&[0.0; 14 * 3], 3, config),
            Err(EmbeddingError::TooFewPoints { .. })
        ));
        assert!(matches!(
            Umap::new(&[0.0; 7], 3, config),
            Err(EmbeddingError::Shape { .. })
        ));
        let mut x = vec![0.5; 40 * 3];
        x[5] = f32::NAN;
        assert_eq!(
            Umap::new(&x, 3, config).err(),
            Some(EmbeddingError::NotFinite)
        );
    }
}
