//! Barnes-Hut t-SNE (van der Maaten, 2014), run in steps so that a worker can report progress and a
//! page stay responsive: first the input affinities (exact nearest neighbours, each point's bandwidth
//! set to the perplexity), then gradient descent on the 2-D map, with repulsion summarised by a
//! quadtree.
//!
//! The settings are the usual ones (as in the reference implementation and scikit-learn): early
//! exaggeration 12 for the first 250 iterations, momentum 0.5 then 0.8, per-coordinate gains, a learning
//! rate of n / 48 (at least 50), and a PCA start scaled to a standard deviation of 10⁻⁴, so a map
//! depends only on its input (no random start).

use serde::Serialize;

use super::{EmbeddingError, MapProgress, nearest, pca, points_in};

/// Iterations with early exaggeration.
const EXAGGERATION_ITERATIONS: usize = 250;
/// The early exaggeration factor.
const EXAGGERATION: f64 = 12.0;
/// Input rows handled per affinity step.
const ROWS_PER_STEP: usize = 250;

/// t-SNE's settings, validated on construction.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TsneConfig {
    perplexity: f64,
    iterations: usize,
    theta: f64,
}

impl TsneConfig {
    /// Perplexity (5..=50: the effective number of neighbours), gradient-descent iterations
    /// (300..=2000, the first 250 exaggerated) and the Barnes-Hut accuracy θ (0..=1; 0 is exact).
    pub fn new(perplexity: f64, iterations: usize, theta: f64) -> Result<Self, EmbeddingError> {
        if !(5.0..=50.0).contains(&perplexity) {
            return Err(EmbeddingError::Setting(format!(
                "perplexity {perplexity} is outside 5..=50"
            )));
        }
        if !(300..=2000).contains(&iterations) {
            return Err(EmbeddingError::Setting(format!(
                "{iterations} iterations is outside 300..=2000"
            )));
        }
        if !(0.0..=1.0).contains(&theta) {
            return Err(EmbeddingError::Setting(format!(
                "θ = {theta} is outside 0..=1"
            )));
        }
        Ok(Self {
            perplexity,
            iterations,
            theta,
        })
    }
}

impl Default for TsneConfig {
    /// Perplexity 30, 750 iterations, θ = 0.5.
    fn default() -> Self {
        Self::new(30.0, 750, 0.5).expect("valid")
    }
}

/// A t-SNE run over `n` points: call [`Tsne::step`] until it returns true, then read
/// [`Tsne::embedding`].
pub struct Tsne {
    config: TsneConfig,
    n: usize,
    /// The input points (n × dims), dropped once the affinities are known.
    x: Vec<f32>,
    dims: usize,
    /// Rows of the conditional affinities p(j|i) done so far: (neighbour, p) per row.
    conditional: Vec<Vec<(u32, f64)>>,
    /// The joint affinities P in compressed rows: `row_start[i]..row_start[i + 1]` of `cols`/`vals`.
    row_start: Vec<usize>,
    cols: Vec<u32>,
    vals: Vec<f64>,
    /// The map (n × 2), its last update and the per-coordinate gains.
    y: Vec<f64>,
    update: Vec<f64>,
    gains: Vec<f64>,
    iteration: usize,
}

impl Tsne {
    /// A run over `x` (n × `dims` values), started at its two principal components.
    pub fn new(x: &[f32], dims: usize, config: TsneConfig) -> Result<Self, EmbeddingError> {
        let n = points_in(x, dims)?;
        if (n as f64) < 3.0 * config.perplexity + 2.0 {
            return Err(EmbeddingError::TooFewPoints {
                points: n,
                needed: (3.0 * config.perplexity + 2.0).ceil() as usize,
            });
        }
        let start = pca(x, dims, 2)?;
        let std = (start.iter().step_by(2).map(|v| v * v).sum::<f32>() / n as f32).sqrt();
        let scale = if std > 0.0 { 1e-4 / std as f64 } else { 0.0 };
        Ok(Self {
            config,
            n,
            x: x.to_vec(),
            dims,
            conditional: Vec::with_capacity(n),
            row_start: Vec::new(),
            cols: Vec::new(),
            vals: Vec::new(),
            y: start.iter().map(|&v| v as f64 * scale).collect(),
            update: vec![0.0; 2 * n],
            gains: vec![1.0; 2 * n],
            iteration: 0,
        })
    }

    /// Does the next piece of work (a few hundred affinity rows, or `iterations` iterations of the
    /// layout): true once the run is done.
    pub fn step(&mut self, iterations: usize) -> bool {
        if self.conditional.len() < self.n {
            let end = (self.conditional.len() + ROWS_PER_STEP).min(self.n);
            for i in self.conditional.len()..end {
                let row = self.conditional_row(i);
                self.conditional.push(row);
            }
            if self.conditional.len() == self.n {
                self.symmetrise();
            }
            return false;
        }
        for _ in 0..iterations.max(1) {
            if self.iteration >= self.config.iterations {
                break;
            }
            self.iterate();
        }
        self.iteration >= self.config.iterations
    }

    /// Where the run stands.
    pub fn progress(&self) -> MapProgress {
        if self.conditional.len() < self.n {
            let fraction = self.conditional.len() as f64 / self.n as f64;
            MapProgress {
                stage: "affinities",
                fraction,
                overall: 0.2 * fraction,
            }
        } else {
            let fraction = self.iteration as f64 / self.config.iterations as f64;
            MapProgress {
                stage: "layout",
                fraction,
                overall: 0.2 + 0.8 * fraction,
            }
        }
    }

    /// The map as it stands: n × 2 values, row-major.
    pub fn embedding(&self) -> Vec<f32> {
        self.y.iter().map(|&v| v as f32).collect()
    }

    /// Point `i`'s conditional affinities p(j|i) over its ⌊3 × perplexity⌋ nearest neighbours, its
    /// bandwidth found by bisection so that the distribution's perplexity is the one asked for.
    fn conditional_row(&self, i: usize) -> Vec<(u32, f64)> {
        let k = ((3.0 * self.config.perplexity) as usize).min(self.n - 1);
        let distances = nearest(&self.x, self.dims, i, k);
        let target = self.config.perplexity.ln();
        let (mut beta, mut lo, mut hi) = (1.0f64, 0.0f64, f64::INFINITY);
        let mut p = vec![0.0; k];
        // Distances relative to the nearest neighbour's, for stable exponentials.
        let nearest = distances[0].0;
        for _ in 0..200 {
            let mut sum = 0.0;
            let mut weighted = 0.0;
            for (pj, (d2, _)) in p.iter_mut().zip(&distances) {
                *pj = (-beta * (d2 - nearest)).exp();
                sum += *pj;
                weighted += *pj * (d2 - nearest);
            }
            // Entropy of the normalised distribution: ln Σ + β ⟨d²⟩.
            let entropy = sum.ln() + beta * weighted / sum;
            p.iter_mut().for_each(|pj| *pj /= sum);
            if (entropy - target).abs() < 1e-5 {
                break;
            }
            if entropy > target {
                lo = beta;
                beta = if hi.is_finite() {
                    (beta + hi) / 2.0
                } else {
                    beta * 2.0
                };
            } else {
                hi = beta;
                beta = (beta + lo) / 2.0;
            }
        }
        distances
            .iter()
            .zip(p)
            .map(|(&(_, j), pj)| (j, pj))
            .collect()
    }

    /// P = (p(j|i) + p(i|j)) / 2n, in compressed rows; the input points are no longer needed.
    fn symmetrise(&mut self) {
        let scale = 1.0 / (2.0 * self.n as f64);
        let mut entries: Vec<(u32, u32, f64)> = Vec::new();
        for (i, row) in self.conditional.iter().enumerate() {
            for &(j, p) in row {
                entries.push((i as u32, j, p * scale));
                entries.push((j, i as u32, p * scale));
            }
        }
        entries.sort_unstable_by_key(|&(i, j, _)| (i, j));
        let mut merged: Vec<(u32, u32, f64)> = Vec::with_capacity(entries.len());
        for e in entries {
            match merged.last_mut() {
                Some(last) if (last.0, last.1) == (e.0, e.1) => last.2 += e.2,
                _ => merged.push(e),
            }
        }
        self.row_start = vec![0; self.n + 1];
        for &(i, _, _) in &merged {
            self.row_start[i as usize + 1] += 1;
        }
        for i in 0..self.n {
            self.row_start[i + 1] += self.row_start[i];
        }
        self.cols = merged.iter().map(|e| e.1).collect();
        self.vals = merged.iter().map(|e| e.2).collect();
        self.conditional = vec![Vec::new(); self.n];
        self.x = Vec::new();
    }

    /// One iteration of gradient descent with momentum and gains.
    fn iterate(&mut self) {
        let exaggerate = self.iteration < EXAGGERATION_ITERATIONS;
        let grad = self.gradient(if exaggerate { EXAGGERATION } else { 1.0 });
        let momentum = if exaggerate { 0.5 } else { 0.8 };
        let rate = (self.n as f64 / EXAGGERATION / 4.0).max(50.0);
        for (k, &g) in grad.iter().enumerate() {
            let same = (g > 0.0) == (self.update[k] > 0.0);
            self.gains[k] = if same {
                (self.gains[k] * 0.8).max(0.01)
            } else {
                self.gains[k] + 0.2
            };
            self.update[k] = momentum * self.update[k] - rate * self.gains[k] * g;
            self.y[k] += self.update[k];
        }
        for c in 0..2 {
            let mean = self.y.iter().skip(c).step_by(2).sum::<f64>() / self.n as f64;
            self.y
                .iter_mut()
                .skip(c)
                .step_by(2)
                .for_each(|v| *v -= mean);
        }
        self.iteration += 1;
    }

    /// The gradient of KL(P ‖ Q) at the current map, P multiplied by `exaggeration`: 4 (F_attract −
    /// F_repel / Z), with the repulsion summarised by a quadtree (exact at θ = 0).
    fn gradient(&self, exaggeration: f64) -> Vec<f64> {
        let n = self.n;
        let tree = QuadTree::new(&self.y);
        let mut repel = vec![0.0; 2 * n];
        let mut z = 0.0;
        for i in 0..n {
            let (fx, fy, zi) = tree.repulsion(i, &self.y, self.config.theta);
            repel[2 * i] = fx;
            repel[2 * i + 1] = fy;
            z += zi;
        }
        let mut grad = vec![0.0; 2 * n];
        for i in 0..n {
            let (yi0, yi1) = (self.y[2 * i], self.y[2 * i + 1]);
            let (mut ax, mut ay) = (0.0, 0.0);
            for e in self.row_start[i]..self.row_start[i + 1] {
                let j = self.cols[e] as usize;
                let (dx, dy) = (yi0 - self.y[2 * j], yi1 - self.y[2 * j + 1]);
                let q = 1.0 / (1.0 + dx * dx + dy * dy);
                ax += self.vals[e] * q * dx;
                ay += self.vals[e] * q * dy;
            }
            grad[2 * i] = 4.0 * (exaggeration * ax - repel[2 * i] / z);
            grad[2 * i + 1] = 4.0 * (exaggeration * ay - repel[2 * i + 1] / z);
        }
        grad
    }

    /// KL(P ‖ Q) of the current map, computed exactly (O(n²): for tests and small maps); not a number
    /// until the affinities are known.
    pub fn kl_divergence(&self) -> f64 {
        if self.row_start.is_empty() {
            return f64::NAN;
        }
        let n = self.n;
        let mut z = 0.0;
        for i in 0..n {
            for j in 0..n {
                if i != j {
                    z += 1.0 / (1.0 + dist2(&self.y, i, j));
                }
            }
        }
        let mut kl = 0.0;
        for i in 0..n {
            for e in self.row_start[i]..self.row_start[i + 1] {
                let j = self.cols[e] as usize;
                let q = 1.0 / (1.0 + dist2(&self.y, i, j)) / z;
                kl += self.vals[e] * (self.vals[e] / q.max(f64::MIN_POSITIVE)).ln();
            }
        }
        kl
    }
}

fn dist2(y: &[f64], i: usize, j: usize) -> f64 {
    let (dx, dy) = (y[2 * i] - y[2 * j], y[2 * i + 1] - y[2 * j + 1]);
    dx * dx + dy * dy
}

/// A quadtree over the map's points: each node's centre of mass and count, for Barnes-Hut.
struct QuadTree {
    nodes: Vec<Node>,
    /// Point indices, grouped so that each leaf's points are a contiguous range.
    order: Vec<u32>,
}

struct Node {
    /// Side of the node's square.
    width: f64,
    /// Centre of mass and number of points.
    mass: (f64, f64),
    count: usize,
    /// Children (indices into `nodes`), or none for a leaf.
    children: Vec<u32>,
    /// A leaf's points: `order[points.0..points.1]`.
    points: (usize, usize),
}

/// Below this depth a node is split; deeper, its points stay together in one leaf (coincident points).
const MAX_DEPTH: usize = 40;

impl QuadTree {
    fn new(y: &[f64]) -> Self {
        let n = y.len() / 2;
        let (mut lo, mut hi) = ([f64::INFINITY; 2], [f64::NEG_INFINITY; 2]);
        for i in 0..n {
            for c in 0..2 {
                lo[c] = lo[c].min(y[2 * i + c]);
                hi[c] = hi[c].max(y[2 * i + c]);
            }
        }
        let width = (hi[0] - lo[0]).max(hi[1] - lo[1]).max(1e-12) * (1.0 + 1e-9);
        let mut tree = Self {
            nodes: Vec::with_capacity(2 * n),
            order: (0..n as u32).collect(),
        };
        tree.build(y, 0, n, lo, width, 0);
        tree
    }

    /// Builds the node over `order[start..end]`, in the square at `corner` of side `width`; returns its
    /// index.
    fn build(
        &mut self,
        y: &[f64],
        start: usize,
        end: usize,
        corner: [f64; 2],
        width: f64,
        depth: usize,
    ) -> u32 {
        let count = end - start;
        let (mut mx, mut my) = (0.0, 0.0);
        for &p in &self.order[start..end] {
            mx += y[2 * p as usize];
            my += y[2 * p as usize + 1];
        }
        let index = self.nodes.len() as u32;
        self.nodes.push(Node {
            width,
            mass: (mx / count as f64, my / count as f64),
            count,
            children: Vec::new(),
            points: (start, end),
        });
        if count <= 1 || depth >= MAX_DEPTH {
            return index;
        }
        let half = width / 2.0;
        let mid = [corner[0] + half, corner[1] + half];
        let quadrant = |p: u32| {
            let (px, py) = (y[2 * p as usize], y[2 * p as usize + 1]);
            usize::from(px >= mid[0]) + 2 * usize::from(py >= mid[1])
        };
        self.order[start..end].sort_by_key(|&p| quadrant(p));
        let mut children = Vec::with_capacity(4);
        let mut s = start;
        for q in 0..4 {
            let e = s + self.order[s..end]
                .iter()
                .take_while(|&&p| quadrant(p) == q)
                .count();
            if e > s {
                let c = [
                    corner[0] + half * (q % 2) as f64,
                    corner[1] + half * (q / 2) as f64,
                ];
                children.push(self.build(y, s, e, c, half, depth + 1));
            }
            s = e;
        }
        self.nodes[index as usize].children = children;
        index
    }

    /// The repulsive force on point `i` before division by Z (Σ q²·Z² (yᵢ − yⱼ)) and its share of Z
    /// (Σ q·Z), over all other points: a node far enough (width < θ × distance) counts as one mass.
    fn repulsion(&self, i: usize, y: &[f64], theta: f64) -> (f64, f64, f64) {
        let (yi0, yi1) = (y[2 * i], y[2 * i + 1]);
        let (mut fx, mut fy, mut z) = (0.0, 0.0, 0.0);
        let mut stack = vec![0u32];
        while let Some(k) = stack.pop() {
            let node = &self.nodes[k as usize];
            if node.children.is_empty() {
                for &p in &self.order[node.points.0..node.points.1] {
                    let j = p as usize;
                    if j == i {
                        continue;
                    }
                    let (dx, dy) = (yi0 - y[2 * j], yi1 - y[2 * j + 1]);
                    let q = 1.0 / (1.0 + dx * dx + dy * dy);
                    z += q;
                    fx += q * q * dx;
                    fy += q * q * dy;
                }
                continue;
            }
            let (dx, dy) = (yi0 - node.mass.0, yi1 - node.mass.1);
            let d2 = dx * dx + dy * dy;
            if node.width * node.width < theta * theta * d2 {
                let q = 1.0 / (1.0 + d2);
                let m = node.count as f64;
                z += m * q;
                fx += m * q * q * dx;
                fy += m * q * q * dy;
            } else {
                stack.extend(&node.children);
            }
        }
        (fx, fy, z)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embedding::{MapRun, Method};
    use crate::rng::Rng;

    /// `n` points in `dims` dimensions: `blobs` Gaussian clusters with centres `spread` apart.
    fn blobs(n: usize, dims: usize, blobs: usize, spread: f32, seed: u64) -> (Vec<f32>, Vec<u8>) {
        let mut rng = Rng::new(seed);
        let centres: Vec<f32> = (0..blobs * dims)
            .map(|_| spread * rng.range_f32(-1.0, 1.0))
            .collect();
        let mut x = Vec::with_capacity(n * dims);
        let mut labels = Vec::with_capacity(n);
        for i in 0..n {
            let b = i % blobs;
            labels.push(b as u8);
            for d in 0..dims {
                // A sum of uniforms: near-Gaussian, unit variance.
                let noise: f32 = (0..12).map(|_| rng.next_f32()).sum::<f32>() - 6.0;
                x.push(centres[b * dims + d] + noise);
            }
        }
        (x, labels)
    }

    fn affinities_done(x: &[f32], dims: usize, config: TsneConfig) -> Tsne {
        let mut t = Tsne::new(x, dims, config).unwrap();
        while t.progress().stage == "affinities" {
            t.step(1);
        }
        t
    }

    /// The exact gradient of KL(P ‖ Q), in f64, straight from the definition.
    fn exact_gradient(t: &Tsne, exaggeration: f64) -> Vec<f64> {
        let n = t.n;
        let mut p = vec![0.0; n * n];
        for i in 0..n {
            for e in t.row_start[i]..t.row_start[i + 1] {
                p[i * n + t.cols[e] as usize] = t.vals[e] * exaggeration;
            }
        }
        let w = |i: usize, j: usize| 1.0 / (1.0 + dist2(&t.y, i, j));
        let z: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| w(i, j))
            .sum();
        let mut grad = vec![0.0; 2 * n];
        for i in 0..n {
            for j in (0..n).filter(|&j| j != i) {
                let m = 4.0 * (p[i * n + j] - w(i, j) / z) * w(i, j);
                grad[2 * i] += m * (t.y[2 * i] - t.y[2 * j]);
                grad[2 * i + 1] += m * (t.y[2 * i + 1] - t.y[2 * j + 1]);
            }
        }
        grad
    }

    #[test]
    fn affinities_are_a_symmetric_distribution_of_the_asked_perplexity() {
        let (x, _) = blobs(120, 6, 3, 4.0, 1);
        let config = TsneConfig::new(10.0, 300, 0.5).unwrap();
        let t = Tsne::new(&x, 6, config).unwrap();
        // Each conditional row has the perplexity asked for: exp(entropy) = 10.
        for i in [0, 17, 119] {
            let row = t.conditional_row(i);
            assert_eq!(row.len(), 30);
            let sum: f64 = row.iter().map(|r| r.1).sum();
            let entropy: f64 = -row.iter().map(|r| r.1 * r.1.ln()).sum::<f64>();
            assert!((sum - 1.0).abs() < 1e-9, "{sum}");
            assert!(
                (entropy.exp() - 10.0).abs() < 1e-3,
                "row {i}: perplexity {}",
                entropy.exp()
            );
        }
        let t = affinities_done(&x, 6, config);
        let total: f64 = t.vals.iter().sum();
        assert!((total - 1.0).abs() < 1e-9, "{total}");
        let at = |i: usize, j: usize| {
            (t.row_start[i]..t.row_start[i + 1])
                .find(|&e| t.cols[e] as usize == j)
                .map(|e| t.vals[e])
        };
        for i in 0..120 {
            for e in t.row_start[i]..t.row_start[i + 1] {
                assert_eq!(at(t.cols[e] as usize, i), Some(t.vals[e]), "P is symmetric");
            }
        }
    }

    #[test]
    fn barnes_hut_is_the_exact_gradient_at_theta_zero_and_close_to_it_at_one_half() {
        let (x, _) = blobs(150, 5, 3, 3.0, 2);
        let mut rng = Rng::new(3);
        for theta in [0.0, 0.5] {
            let mut t = affinities_done(&x, 5, TsneConfig::new(8.0, 300, theta).unwrap());
            // A spread-out map, with two points at one place (a quadtree leaf holds both).
            t.y = (0..300)
                .map(|_| rng.range_f32(-20.0, 20.0) as f64)
                .collect();
            t.y[2] = t.y[0];
            t.y[3] = t.y[1];
            for exaggeration in [1.0, 12.0] {
                let (ours, exact) = (t.gradient(exaggeration), exact_gradient(&t, exaggeration));
                let norm = exact.iter().map(|g| g * g).sum::<f64>().sqrt();
                let error = ours
                    .iter()
                    .zip(&exact)
                    .map(|(a, b)| (a - b) * (a - b))
                    .sum::<f64>()
                    .sqrt();
                let bound = if theta == 0.0 { 1e-12 } else { 0.05 };
                assert!(
                    error <= bound * norm,
                    "θ = {theta}: error {error} against {norm}"
                );
            }
        }
    }

    #[test]
    fn the_divergence_falls_and_separated_clusters_stay_apart() {
        let (x, labels) = blobs(200, 10, 4, 10.0, 4);
        let mut t = Tsne::new(&x, 10, TsneConfig::new(15.0, 500, 0.5).unwrap()).unwrap();
        let mut kl = Vec::new();
        while !t.step(50) {
            if t.progress().stage == "layout" && t.iteration >= EXAGGERATION_ITERATIONS {
                kl.push(t.kl_divergence());
            }
        }
        kl.push(t.kl_divergence());
        assert!(kl.windows(2).all(|w| w[1] <= w[0] + 1e-6), "{kl:?}");
        assert!(kl.last().unwrap() < &kl[0], "{kl:?}");
        let map = t.embedding();
        let queries: Vec<usize> = (0..200).step_by(7).collect();
        let share = super::super::neighbour_share(&map, &labels, &queries, 10).unwrap();
        assert_eq!(share.overall, 1.0, "{share:?}");
        // The same input gives the same map.
        let mut again = Tsne::new(&x, 10, TsneConfig::new(15.0, 500, 0.5).unwrap()).unwrap();
        while !again.step(100) {}
        assert_eq!(again.embedding(), map);
    }

    #[test]
    fn bad_settings_and_inputs_are_refused() {
        assert!(TsneConfig::new(4.0, 750, 0.5).is_err());
        assert!(TsneConfig::new(30.0, 200, 0.5).is_err());
        assert!(TsneConfig::new(30.0, 750, 1.5).is_err());
        let config = TsneConfig::default();
        assert!(matches!(
            Tsne::new(&[0.0; 10], 3, config),
            Err(EmbeddingError::Shape { .. })
        ));
        assert!(matches!(
            Tsne::new(&[0.0; 100], 2, config),
            Err(EmbeddingError::TooFewPoints {
                points: 50,
                needed: 92
            })
        ));
        // 3 × 5.5 + 2 = 18.5: 18 points are too few, and the message says 19.
        let line: Vec<f32> = (0..200).map(|i| i as f32).collect();
        let short = Tsne::new(&line[..36], 2, TsneConfig::new(5.5, 300, 0.5).unwrap());
        assert!(matches!(
            short,
            Err(EmbeddingError::TooFewPoints {
                points: 18,
                needed: 19
            })
        ));
        // One value a point cannot start from two principal components.
        let small = TsneConfig::new(5.0, 300, 0.5).unwrap();
        assert!(matches!(
            Tsne::new(&line, 1, small),
            Err(EmbeddingError::Shape { dims: 1, .. })
        ));
        assert!(matches!(
            MapRun::new(&line, 1, Method::Pca),
            Err(EmbeddingError::Shape { dims: 1, .. })
        ));
        // The divergence is not a number before the affinities are known.
        assert!(Tsne::new(&line, 2, small).unwrap().kl_divergence().is_nan());
        let mut x = vec![0.5f32; 200];
        x[7] = f32::NAN;
        assert_eq!(
            Tsne::new(&x, 2, TsneConfig::new(5.0, 300, 0.5).unwrap()).err(),
            Some(EmbeddingError::NotFinite)
        );
    }
}
