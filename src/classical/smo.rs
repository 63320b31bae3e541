//! A binary C-SVC solver for the RBF kernel: SMO with second-order working-set selection (Fan, Chen &
//! Lin, JMLR 2005), the algorithm of libsvm and so of scikit-learn's `SVC`.
//!
//! Why not linfa-svm's solver (which implements the same algorithm): linfa-svm fills the whole n × n
//! kernel matrix first, one pair at a time with a scalar loop, and then copies a strided column of it
//! at every SMO step; that made our 45 pairwise machines 45× slower to fit than scikit-learn (see
//! BENCHMARKS.md). Here a kernel row is computed only when the solver first asks for it, from dot
//! products against precomputed squared norms (`‖a − b‖² = ‖a‖² + ‖b‖² − 2 a·b`), and rows are kept in a
//! bounded least-recently-used cache, as libsvm does. linfa-svm stays as the reference that the tests
//! compare this solver with.
//!
//! Notation (libsvm's): labels `y ∈ {+1, −1}`, dual variables `0 ≤ α ≤ C`, `Q_ij = y_i y_j K_ij`,
//! gradient `G = Qα − 1`; the decision function is `Σ y_i α_i K(x_i, x) − ρ`.

use ndarray::ArrayView2;

/// Kernel-row cache budget per solver, in bytes (libsvm's default in scikit-learn is 200 MB); less in a
/// browser tab, where the memory is the visitor's.
#[cfg(not(target_arch = "wasm32"))]
const CACHE_BYTES: usize = 256 << 20;
#[cfg(target_arch = "wasm32")]
const CACHE_BYTES: usize = 96 << 20;
/// Stand-in for a non-positive curvature (libsvm's `TAU`).
const TAU: f64 = 1e-12;

/// A solved binary machine.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct BinarySolution {
    /// `y_i α_i` for every training row (zero for the rows that are not support vectors).
    pub coef: Vec<f32>,
    /// The offset ρ.
    pub rho: f32,
    /// Whether the stopping tolerance was reached (false: the step cap stopped it, as libsvm warns).
    pub converged: bool,
}

/// Exact RBF kernel rows `K(x_i, ·)` of a fixed set of rows, computed on demand and cached.
struct KernelRows<'a> {
    /// Row-major `n × d`.
    x: &'a [f32],
    d: usize,
    /// `‖x_k‖²` per row.
    norms: Vec<f32>,
    gamma: f32,
    /// Cached rows, `None` when not (or no longer) cached.
    rows: Vec<Option<Box<[f32]>>>,
    /// Step at which each row was last asked for.
    last_used: Vec<u64>,
    /// Indices of the cached rows.
    cached: Vec<usize>,
    capacity: usize,
    clock: u64,
}

impl<'a> KernelRows<'a> {
    fn new(x: &'a [f32], d: usize, gamma: f32, cache_bytes: usize) -> Self {
        let n = x.len() / d;
        let norms = x.chunks_exact(d).map(|r| dot(r, r)).collect();
        let capacity = (cache_bytes / (4 * n.max(1))).clamp(2, n.max(2));
        Self {
            x,
            d,
            norms,
            gamma,
            rows: vec![None; n],
            last_used: vec![0; n],
            cached: Vec::new(),
            capacity,
            clock: 0,
        }
    }

    /// Makes row `i` cached, evicting the least recently used row other than `keep` if full.
    fn ensure(&mut self, i: usize, keep: usize) {
        self.clock += 1;
        self.last_used[i] = self.clock;
        if self.rows[i].is_some() {
            return;
        }
        let mut buffer = if self.cached.len() >= self.capacity {
            let (slot, _) = self
                .cached
                .iter()
                .enumerate()
                .filter(|(_, r)| **r != keep)
                .min_by_key(|(_, r)| self.last_used[**r])
                .expect("the cache holds at least two rows");
            let old = self.cached.swap_remove(slot);
            self.rows[old].take().expect("cached row")
        } else {
            vec![0f32; self.norms.len()].into_boxed_slice()
        };
        let xi = &self.x[i * self.d..(i + 1) * self.d];
        let ni = self.norms[i];
        for ((out, xk), nk) in buffer
            .iter_mut()
            .zip(self.x.chunks_exact(self.d))
            .zip(&self.norms)
        {
            let squared = (ni + nk - 2.0 * dot(xi, xk)).max(0.0);
            *out = (-self.gamma * squared).exp();
        }
        buffer[i] = 1.0;
        self.rows[i] = Some(buffer);
        self.cached.push(i);
    }

    fn row(&self, i: usize) -> &[f32] {
        self.rows[i].as_deref().expect("row ensured")
    }
}

/// Dot product with eight independent accumulators, so that the compiler vectorises it.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = a8
        .remainder()
        .iter()
        .zip(b8.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in a8.zip(b8) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Solves the binary C-SVC dual on `x` (`n × d`) with labels `positive` (true = +1), penalty `c`, RBF
/// `gamma` and stopping tolerance `tolerance` (libsvm's ε on the maximal KKT violation).
pub(crate) fn solve_binary(
    x: ArrayView2<f32>,
    positive: &[bool],
    c: f64,
    gamma: f32,
    tolerance: f64,
) -> BinarySolution {
    solve_with_cache(x, positive, c, gamma, tolerance, CACHE_BYTES)
}

fn solve_with_cache(
    x: ArrayView2<f32>,
    positive: &[bool],
    c: f64,
    gamma: f32,
    tolerance: f64,
    cache_bytes: usize,
) -> BinarySolution {
    let (n, d) = x.dim();
    assert_eq!(n, positive.len(), "one label per row");
    let x = x.as_standard_layout();
    let mut kernel = KernelRows::new(
        x.as_slice().expect("standard layout"),
        d,
        gamma,
        cache_bytes,
    );
    let y: Vec<f64> = positive
        .iter()
        .map(|p| if *p { 1.0 } else { -1.0 })
        .collect();
    let mut alpha = vec![0f64; n];
    let mut grad = vec![-1f64; n];
    let upper = |a: f64| a >= c;
    let lower = |a: f64| a <= 0.0;
    let max_iterations = (100 * n).max(1_000_000);
    let mut iterations = 0;
    let mut converged = false;
    while iterations < max_iterations {
        // i: the most violating index in I_up = {t | y_t = +1, α_t < C} ∪ {t | y_t = −1, α_t > 0}.
        let mut g_max = f64::NEG_INFINITY;
        let mut i = usize::MAX;
        for t in 0..n {
            let in_up = if y[t] > 0.0 {
                !upper(alpha[t])
            } else {
                !lower(alpha[t])
            };
            if in_up && -y[t] * grad[t] >= g_max {
                g_max = -y[t] * grad[t];
                i = t;
            }
        }
        if i == usize::MAX {
            converged = true;
            break;
        }
        kernel.ensure(i, i);
        // j: in I_low, the index giving the largest second-order decrease of the objective.
        let (mut g_max2, mut j, mut best) = (f64::NEG_INFINITY, usize::MAX, f64::INFINITY);
        {
            let k_i = kernel.row(i);
            for t in 0..n {
                let in_low = if y[t] > 0.0 {
                    !lower(alpha[t])
                } else {
                    !upper(alpha[t])
                };
                if !in_low {
                    continue;
                }
                let violation = y[t] * grad[t];
                g_max2 = g_max2.max(violation);
                let gain = g_max + violation;
                if gain > 0.0 {
                    // Q_ii + Q_tt − 2 y_i y_t Q_it = 2 − 2 K_it for the RBF kernel (K_tt = 1).
                    let curvature = (2.0 - 2.0 * k_i[t] as f64).max(TAU);
                    let objective = -gain * gain / curvature;
                    if objective <= best {
                        best = objective;
                        j = t;
                    }
                }
            }
        }
        if g_max + g_max2 < tolerance || j == usize::MAX {
            converged = true;
            break;
        }
        iterations += 1;
        kernel.ensure(j, i);
        let k_ij = kernel.row(i)[j] as f64;
        let (old_i, old_j) = (alpha[i], alpha[j]);
        let curvature = (2.0 - 2.0 * k_ij).max(TAU);
        if y[i] != y[j] {
            let delta = (-grad[i] - grad[j]) / curvature;
            let diff = alpha[i] - alpha[j];
            alpha[i] += delta;
            alpha[j] += delta;
            if diff > 0.0 {
                if alpha[j] < 0.0 {
                    alpha[j] = 0.0;
                    alpha[i] = diff;
                }
            } else if alpha[i] < 0.0 {
                alpha[i] = 0.0;
                alpha[j] = -diff;
            }
            // Both bounds are C, so "diff > C_i − C_j" is "diff > 0".
            if diff > 0.0 {
                if alpha[i] > c {
                    alpha[i] = c;
                    alpha[j] = c - diff;
                }
            } else if alpha[j] > c {
                alpha[j] = c;
                alpha[i] = c + diff;
            }
        } else {
            let delta = (grad[i] - grad[j]) / curvature;
            let sum = alpha[i] + alpha[j];
            alpha[i] -= delta;
            alpha[j] += delta;
            if sum > c {
                if alpha[i] > c {
                    alpha[i] = c;
                    alpha[j] = sum - c;
                }
            } else if alpha[j] < 0.0 {
                alpha[j] = 0.0;
                alpha[i] = sum;
            }
            if sum > c {
                if alpha[j] > c {
                    alpha[j] = c;
                    alpha[i] = sum - c;
                }
            } else if alpha[i] < 0.0 {
                alpha[i] = 0.0;
                alpha[j] = sum;
            }
        }
        // G_k += Q_ki Δα_i + Q_kj Δα_j = y_k (y_i Δα_i K_ik + y_j Δα_j K_jk).
        let step_i = y[i] * (alpha[i] - old_i);
        let step_j = y[j] * (alpha[j] - old_j);
        let (k_i, k_j) = (kernel.row(i), kernel.row(j));
        for t in 0..n {
            grad[t] += y[t] * (step_i * k_i[t] as f64 + step_j * k_j[t] as f64);
        }
    }
    // ρ: the mean of y_t G_t over the free variables, else the middle of its feasible interval.
    let (mut ub, mut lb, mut free_sum, mut free) = (f64::INFINITY, f64::NEG_INFINITY, 0.0, 0usize);
    for t in 0..n {
        let yg = y[t] * grad[t];
        let bounded_above = (upper(alpha[t]) && y[t] < 0.0) || (lower(alpha[t]) && y[t] > 0.0);
        if upper(alpha[t]) || lower(alpha[t]) {
            if bounded_above {
                ub = ub.min(yg);
            } else {
                lb = lb.max(yg);
            }
        } else {
            free += 1;
            free_sum += yg;
        }
    }
    let rho = if free > 0 {
        free_sum / free as f64
    } else {
        (ub + lb) / 2.0
    };
    BinarySolution {
        coef: alpha.iter().zip(&y).map(|(a, y)| (a * y) as f32).collect(),
        rho: rho as f32,
        converged,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;
    use linfa::dataset::DatasetBase;
    use linfa::traits::Fit;
    use linfa_svm::Svm;
    use ndarray::{Array1, Array2};

    /// Two noisy, overlapping blobs in 5 dimensions.
    fn blobs(n: usize, seed: u64) -> (Array2<f32>, Vec<bool>) {
        let mut rng = Rng::new(seed);
        let mut x = Array2::zeros((n, 5));
        let mut y = vec![false; n];
        for i in 0..n {
            y[i] = i % 3 == 0;
            for k in 0..5 {
                let centre = if y[i] { 0.8 } else { -0.2 * k as f32 };
                x[[i, k]] = centre + rng.range_f32(-1.5, 1.5);
            }
        }
        (x, y)
    }

    fn decision(x: &Array2<f32>, s: &BinarySolution, gamma: f32, q: &[f32]) -> f32 {
        x.rows()
            .into_iter()
            .zip(&s.coef)
            .map(|(r, c)| {
                let d2: f32 = r.iter().zip(q).map(|(a, b)| (a - b).powi(2)).sum();
                c * (-gamma * d2).exp()
            })
            .sum::<f32>()
            - s.rho
    }

    #[test]
    fn agrees_with_linfa_svm_on_the_same_problem() {
        let (x, y) = blobs(300, 7);
        let gamma = 0.4;
        let ours = solve_binary(x.view(), &y, 10.0, gamma, 1e-3);
        assert!(ours.converged);
        let linfa = Svm::<f32, bool>::params()
            .pos_neg_weights(10.0, 10.0)
            .gaussian_kernel(1.0 / gamma)
            .eps(1e-3)
            .shrinking(false)
            .fit(&DatasetBase::new(x.clone(), Array1::from(y.clone())))
            .unwrap();
        // Same support set (up to the solvers' tolerance) and close coefficients.
        let ours_support: Vec<bool> = ours.coef.iter().map(|c| c.abs() > 1e-4).collect();
        let linfa_support: Vec<bool> = linfa.alpha.iter().map(|a| a.abs() > 1e-4).collect();
        let differing = ours_support
            .iter()
            .zip(&linfa_support)
            .filter(|(a, b)| a != b)
            .count();
        assert!(differing <= 3, "{differing} support flags differ");
        assert!(
            (ours.rho - linfa.rho).abs() < 0.05,
            "{} vs {}",
            ours.rho,
            linfa.rho
        );
        // Same decisions on new points, decision values within the solvers' tolerance.
        let (queries, _) = blobs(400, 8);
        let mut disagreements = 0;
        for q in queries.rows() {
            let ours_value = decision(&x, &ours, gamma, q.as_slice().unwrap());
            let linfa_value: f32 = linfa
                .alpha
                .iter()
                .zip(x.rows())
                .map(|(a, r)| {
                    let d2: f32 = r.iter().zip(q).map(|(a, b)| (a - b).powi(2)).sum();
                    a * (-gamma * d2).exp()
                })
                .sum::<f32>()
                - linfa.rho;
            assert!(
                (ours_value - linfa_value).abs() < 0.05,
                "{ours_value} vs {linfa_value}"
            );
            disagreements += usize::from((ours_value >= 0.0) != (linfa_value >= 0.0));
        }
        assert!(
            disagreements <= 2,
            "{disagreements} of 400 decisions differ"
        );
    }

    #[test]
    fn a_small_cache_gives_the_same_solution() {
        let (x, y) = blobs(200, 9);
        let full = solve_binary(x.view(), &y, 10.0, 0.3, 1e-3);
        // Room for only 5 rows: rows are evicted and recomputed all the time.
        let small = solve_with_cache(x.view(), &y, 10.0, 0.3, 1e-3, 5 * 200 * 4);
        assert_eq!(full, small);
    }

    #[test]
    fn kkt_conditions_hold_at_the_solution() {
        let (x, y) = blobs(250, 11);
        let (c, gamma) = (5.0, 0.3);
        let s = solve_binary(x.view(), &y, c, gamma, 1e-4);
        assert!(s.converged);
        // Σ y_i α_i = 0 and 0 ≤ α ≤ C.
        let balance: f64 = s.coef.iter().map(|v| *v as f64).sum();
        assert!(balance.abs() < 1e-3, "{balance}");
        for (coef, label) in s.coef.iter().zip(&y) {
            let alpha = if *label { *coef } else { -*coef } as f64;
            assert!((-1e-6..=c + 1e-6).contains(&alpha), "{alpha}");
            // y f(x) ≥ 1 where α = 0, = 1 where 0 < α < C, ≤ 1 where α = C (within the tolerance).
        }
        let mut checked = 0;
        for ((row, coef), label) in x.rows().into_iter().zip(&s.coef).zip(&y) {
            let alpha = coef.abs() as f64;
            let margin = decision(&x, &s, gamma, row.as_slice().unwrap()) as f64
                * if *label { 1.0 } else { -1.0 };
            if alpha < 1e-6 {
                assert!(margin >= 1.0 - 1e-2, "{margin}");
            } else if alpha > c - 1e-6 {
                assert!(margin <= 1.0 + 1e-2, "{margin}");
            } else {
                assert!((margin - 1.0).abs() < 1e-2, "{margin}");
                checked += 1;
            }
        }
        assert!(checked > 0, "no free support vector");
    }
}
