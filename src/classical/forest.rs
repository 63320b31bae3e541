//! Random forest: bootstrapped decision trees that draw a random subset of features at every split
//! (Breiman's algorithm, as scikit-learn's `RandomForestClassifier`), on features binned into at most
//! 256 quantile bins so that each split is found from a histogram.
//!
//! Why not linfa-ensemble + linfa-trees: linfa's `RandomForest` draws one feature subset per *tree*
//! (random subspaces, not per split) and fits trees one after another, and linfa-trees scans every sample
//! of the training set at every node with a hash map of class weights, a cost that grows faster than
//! the sample count (BENCHMARKS.md has the measurements). This forest keeps linfa's idea (bagged
//! trees, majority vote) and fixes the cost: O(samples × features-per-split) per tree level, trees in
//! parallel natively.

use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};

use super::{ClassicalError, ClassicalKind, FittedEstimator, NUM_CLASSES};
use crate::rng::Rng;

/// Split criterion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Criterion {
    /// Gini impurity.
    Gini,
    /// Shannon entropy (information gain).
    Entropy,
}

/// Random-forest settings. Defaults: 100 trees, √features per split, entropy, unlimited depth,
/// 1 sample per leaf, 128 bins, seed 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForestConfig {
    /// Number of trees (default 100).
    pub trees: usize,
    /// Features drawn at each split (default `None`: √features).
    pub features_per_split: Option<usize>,
    /// Split criterion (default entropy, as the study's scikit-learn model).
    pub criterion: Criterion,
    /// Maximum depth (default `None`: grow until pure).
    pub max_depth: Option<usize>,
    /// Minimum samples in a leaf (default 1).
    pub min_samples_leaf: usize,
    /// Quantile bins per feature, 2..=256 (default 128: 87.96% against 87.56% with 64 and 87.71% with 256, which was 45% slower to fit).
    pub bins: usize,
    /// Seed of bootstrapping and feature draws (default 0).
    pub seed: u64,
}

impl Default for ForestConfig {
    fn default() -> Self {
        Self {
            trees: 100,
            features_per_split: None,
            criterion: Criterion::Entropy,
            max_depth: None,
            min_samples_leaf: 1,
            bins: 128,
            seed: 0,
        }
    }
}

impl ForestConfig {
    /// Checks the settings.
    pub(crate) fn validate(&self) -> Result<(), ClassicalError> {
        let bad = |m: String| Err(ClassicalError::InvalidConfig(m));
        if self.trees == 0 || self.trees > 1000 {
            return bad(format!(
                "random forest trees {} must be in 1..=1000",
                self.trees
            ));
        }
        if self.features_per_split == Some(0) {
            return bad("random forest features per split must be at least 1".into());
        }
        if self.max_depth == Some(0) {
            return bad("random forest max depth must be at least 1".into());
        }
        if self.min_samples_leaf == 0 {
            return bad("random forest min samples per leaf must be at least 1".into());
        }
        if !(2..=256).contains(&self.bins) {
            return bad(format!(
                "random forest bins {} must be in 2..=256",
                self.bins
            ));
        }
        Ok(())
    }
}

/// A node: a split (`feature`, go left when `bin <= threshold`, children at `child` and `child + 1`)
/// or a leaf (`feature == LEAF`, class in `child`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Node {
    feature: u16,
    threshold: u8,
    child: u32,
}

const LEAF: u16 = u16::MAX;

/// A fitted forest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RandomForest {
    /// Its settings.
    pub config: ForestConfig,
    /// Per feature, the ascending bin edges: value `v` falls in bin `#{edges < v}`.
    edges: Vec<Vec<f32>>,
    /// The trees, each a flat node array rooted at 0, laid out as [`tree_from_preorder`] builds them.
    #[serde(with = "packed_trees")]
    trees: Vec<Vec<Node>>,
}

impl RandomForest {
    /// Grows the forest on features `x` (n × d) and labels. `progress` gets the fraction done and
    /// returns false to cancel.
    pub(crate) fn fit(
        config: ForestConfig,
        x: ArrayView2<f32>,
        labels: &[u8],
        progress: &mut dyn FnMut(f64) -> bool,
    ) -> Result<Self, ClassicalError> {
        config.validate()?;
        let (n, d) = x.dim();
        if d > LEAF as usize {
            return Err(ClassicalError::InvalidConfig(format!(
                "{d} features are too many"
            )));
        }
        let edges: Vec<Vec<f32>> = (0..d)
            .map(|j| quantile_edges(x.column(j).iter().copied(), config.bins))
            .collect();
        // Column-major binned features: binned[j * n + i].
        let mut binned = vec![0u8; n * d];
        crate::parallel::for_each_chunk(&mut binned, n, |j, column| {
            for (b, v) in column.iter_mut().zip(x.column(j)) {
                *b = bin_of(&edges[j], *v);
            }
        });
        let mtry = config
            .features_per_split
            .unwrap_or(((d as f64).sqrt().round() as usize).max(1))
            .min(d);
        let data = Binned {
            n,
            d,
            binned: &binned,
            labels,
        };
        let mut trees = Vec::with_capacity(config.trees);
        // Trees are grown in rounds so progress can be reported (and cancelled) between them; each
        // tree's seed depends only on its index, so the forest is the same whatever the threading.
        let round = 8;
        while trees.len() < config.trees {
            let start = trees.len();
            let end = (start + round).min(config.trees);
            let grown = crate::parallel::par_map(start..end, |t| {
                grow_tree(
                    &data,
                    &config,
                    mtry,
                    config.seed.wrapping_mul(1_000_003).wrapping_add(t as u64),
                )
            });
            // In the layout a loaded forest has, so that the fitted forest equals the one saved.
            trees.extend(grown.iter().map(|t| {
                tree_from_preorder(preorder(t).into_iter()).expect("a grown tree closes")
            }));
            if !progress(trees.len() as f64 / config.trees as f64) {
                return Err(ClassicalError::Cancelled);
            }
        }
        Ok(Self {
            config,
            edges,
            trees,
        })
    }

    /// Total number of nodes.
    pub(crate) fn nodes(&self) -> usize {
        self.trees.iter().map(Vec::len).sum()
    }
}

impl FittedEstimator for RandomForest {
    fn kind(&self) -> ClassicalKind {
        ClassicalKind::Rf
    }

    /// Number of stored numbers: the nodes.
    fn params(&self) -> usize {
        self.nodes()
    }

    /// Feature count.
    fn dims(&self) -> usize {
        self.edges.len()
    }

    /// Checks a deserialised forest: every split's feature and child index in range, every leaf class
    /// valid (a loaded tree cannot loop: see [`tree_from_preorder`]).
    fn check(&self) -> Result<(), ClassicalError> {
        self.config.validate()?;
        for tree in &self.trees {
            for node in tree {
                let ok = if node.feature == LEAF {
                    (node.child as usize) < NUM_CLASSES
                } else {
                    (node.feature as usize) < self.edges.len()
                        && (node.child as usize + 1) < tree.len()
                };
                if !ok || tree.is_empty() {
                    return Err(ClassicalError::Corrupt(
                        "random forest node out of range".into(),
                    ));
                }
            }
        }
        if self.trees.is_empty() {
            return Err(ClassicalError::Corrupt("random forest has no trees".into()));
        }
        Ok(())
    }

    /// Class probabilities (the share of trees voting for each class): n × 10.
    fn predict_proba(&self, x: ArrayView2<f32>) -> ndarray::Array2<f32> {
        let n = x.nrows();
        let mut out = vec![0f32; n * NUM_CLASSES];
        let share = 1.0 / self.trees.len() as f32;
        crate::parallel::for_each_chunk(&mut out, NUM_CLASSES, |i, probs| {
            let row = x.row(i);
            let bins: Vec<u8> = row
                .iter()
                .zip(&self.edges)
                .map(|(v, e)| bin_of(e, *v))
                .collect();
            for tree in &self.trees {
                let mut at = 0usize;
                // A tree built here is acyclic (children always follow their parent); the step cap
                // keeps a corrupt file from looping.
                for _ in 0..tree.len() {
                    let node = tree[at];
                    if node.feature == LEAF {
                        probs[node.child as usize] += share;
                        break;
                    }
                    let next = node.child as usize
                        + usize::from(bins[node.feature as usize] > node.threshold);
                    if next <= at {
                        break;
                    }
                    at = next;
                }
            }
        });
        ndarray::Array2::from_shape_vec((n, NUM_CLASSES), out).expect("shape")
    }

    fn describe(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut m = serde_json::Map::new();
        m.insert("settings".into(), serde_json::json!(self.config));
        m.insert("nodes".into(), serde_json::json!(self.nodes()));
        m
    }
}

/// Up to `bins − 1` ascending edges at the quantiles of the values (duplicates removed).
fn quantile_edges(values: impl Iterator<Item = f32>, bins: usize) -> Vec<f32> {
    let mut v: Vec<f32> = values.collect();
    v.sort_by(f32::total_cmp);
    let mut edges: Vec<f32> = Vec::with_capacity(bins);
    for q in 1..bins {
        let i = q * v.len() / bins;
        if i == 0 || i >= v.len() {
            continue;
        }
        // Edge halfway between the quantile value and the next larger value, so that equal values stay
        // together (pixel columns are full of ties; an edge only where v[i-1] < v[i] would skip most).
        let below = v[i - 1];
        let next = v.partition_point(|x| *x <= below);
        if next >= v.len() {
            continue;
        }
        let edge = 0.5 * (below + v[next]);
        if edges.last().is_none_or(|last| edge > *last) {
            edges.push(edge);
        }
    }
    edges
}

fn bin_of(edges: &[f32], v: f32) -> u8 {
    edges.partition_point(|e| *e < v) as u8
}

struct Binned<'a> {
    n: usize,
    d: usize,
    binned: &'a [u8],
    labels: &'a [u8],
}

fn impurity(counts: &[u32; NUM_CLASSES], total: u32, criterion: Criterion) -> f64 {
    if total == 0 {
        return 0.0;
    }
    let t = total as f64;
    match criterion {
        Criterion::Gini => 1.0 - counts.iter().map(|c| (*c as f64 / t).powi(2)).sum::<f64>(),
        Criterion::Entropy => -counts
            .iter()
            .filter(|c| **c > 0)
            .map(|c| {
                let p = *c as f64 / t;
                p * p.log2()
            })
            .sum::<f64>(),
    }
}

fn majority(counts: &[u32; NUM_CLASSES]) -> u32 {
    (0..NUM_CLASSES)
        .max_by_key(|c| (counts[*c], usize::MAX - c))
        .unwrap_or(0) as u32
}

/// Grows one tree on a bootstrap sample.
fn grow_tree(data: &Binned, config: &ForestConfig, mtry: usize, seed: u64) -> Vec<Node> {
    let mut rng = Rng::new(seed);
    let mut samples: Vec<u32> = (0..data.n).map(|_| rng.below(data.n) as u32).collect();
    let mut nodes = vec![Node {
        feature: LEAF,
        threshold: 0,
        child: 0,
    }];
    // (node index, sample range, depth)
    let mut stack = vec![(0usize, 0usize, data.n, 0usize)];
    let mut features: Vec<usize> = (0..data.d).collect();
    let mut hist = vec![[0u32; NUM_CLASSES]; 256];
    while let Some((node, lo, hi, depth)) = stack.pop() {
        let mut counts = [0u32; NUM_CLASSES];
        for s in &samples[lo..hi] {
            counts[data.labels[*s as usize] as usize] += 1;
        }
        let total = (hi - lo) as u32;
        let leaf = Node {
            feature: LEAF,
            threshold: 0,
            child: majority(&counts),
        };
        let parent_impurity = impurity(&counts, total, config.criterion);
        if parent_impurity <= 1e-12
            || (hi - lo) < 2 * config.min_samples_leaf
            || config.max_depth.is_some_and(|m| depth >= m)
        {
            nodes[node] = leaf;
            continue;
        }
        // Draw features without replacement until mtry were tried and at least one split was valid
        // (as scikit-learn does).
        let mut best: Option<(f64, usize, u8)> = None;
        for k in 0..data.d {
            if k >= mtry && best.is_some() {
                break;
            }
            let pick = k + rng.below(data.d - k);
            features.swap(k, pick);
            let j = features[k];
            let column = &data.binned[j * data.n..(j + 1) * data.n];
            let mut max_bin = 0usize;
            let mut min_bin = 255usize;
            for s in &samples[lo..hi] {
                let b = column[*s as usize] as usize;
                hist[b][data.labels[*s as usize] as usize] += 1;
                max_bin = max_bin.max(b);
                min_bin = min_bin.min(b);
            }
            let mut left = [0u32; NUM_CLASSES];
            let mut left_total = 0u32;
            for (b, h) in hist.iter().enumerate().take(max_bin).skip(min_bin) {
                for c in 0..NUM_CLASSES {
                    left[c] += h[c];
                }
                left_total += h.iter().sum::<u32>();
                let right_total = total - left_total;
                if (left_total as usize) < config.min_samples_leaf
                    || (right_total as usize) < config.min_samples_leaf
                {
                    continue;
                }
                let mut right = [0u32; NUM_CLASSES];
                for c in 0..NUM_CLASSES {
                    right[c] = counts[c] - left[c];
                }
                let score = left_total as f64 * impurity(&left, left_total, config.criterion)
                    + right_total as f64 * impurity(&right, right_total, config.criterion);
                if best.is_none_or(|(s, _, _)| score < s - 1e-12) {
                    best = Some((score, j, b as u8));
                }
            }
            for h in &mut hist[min_bin..=max_bin] {
                *h = [0; NUM_CLASSES];
            }
        }
        let Some((_, feature, threshold)) = best else {
            nodes[node] = leaf;
            continue;
        };
        // Partition the node's samples: bin <= threshold to the left.
        let column = &data.binned[feature * data.n..(feature + 1) * data.n];
        let range = &mut samples[lo..hi];
        let mut split = 0;
        for i in 0..range.len() {
            if column[range[i] as usize] <= threshold {
                range.swap(i, split);
                split += 1;
            }
        }
        let child = nodes.len();
        nodes[node] = Node {
            feature: feature as u16,
            threshold,
            child: child as u32,
        };
        nodes.push(leaf);
        nodes.push(leaf);
        stack.push((child, lo, lo + split, depth + 1));
        stack.push((child + 1, lo + split, hi, depth + 1));
    }
    nodes
}

/// A tree in the flat layout [`RandomForest`] predicts with, from its nodes in preorder (a node, then its
/// left subtree, then its right one): each node's children are appended as a pair, so every child index
/// is larger than its parent's and a tree built here cannot loop.
fn tree_from_preorder(preorder: impl Iterator<Item = Node>) -> Option<Vec<Node>> {
    let mut nodes = Vec::new();
    let mut open = vec![0usize]; // slots still to fill, the next one last
    nodes.push(Node {
        feature: LEAF,
        threshold: 0,
        child: 0,
    });
    for node in preorder {
        let slot = open.pop()?;
        if node.feature == LEAF {
            nodes[slot] = node;
        } else {
            let child = nodes.len();
            nodes[slot] = Node {
                child: u32::try_from(child).ok()?,
                ..node
            };
            nodes.extend([nodes[slot]; 2]); // placeholders, filled in later
            open.push(child + 1);
            open.push(child);
        }
    }
    open.is_empty().then_some(nodes)
}

/// A tree's nodes in preorder.
fn preorder(tree: &[Node]) -> Vec<Node> {
    let mut out = Vec::with_capacity(tree.len());
    let mut next = vec![0usize];
    while let Some(at) = next.pop() {
        let node = tree[at];
        out.push(node);
        if node.feature != LEAF {
            next.push(node.child as usize + 1);
            next.push(node.child as usize);
        }
    }
    out
}

/// Serde for the trees: all trees' nodes in preorder, written column by column (the node counts; each
/// node's feature + 1, or 0 for a leaf, as little-endian u16; its bin threshold, or a leaf's class), which
/// needs no child indices and compresses better than node records. Reading rebuilds the flat layout and
/// refuses a tree whose nodes do not close it exactly.
mod packed_trees {
    use super::{LEAF, Node, preorder, tree_from_preorder};
    use serde::{Deserialize, Deserializer, Serialize, Serializer, de::Error};

    /// What the trees are written as.
    #[derive(Serialize, Deserialize)]
    pub(super) struct Packed {
        pub(super) sizes: Vec<u32>,
        pub(super) features: Vec<u8>,
        pub(super) values: Vec<u8>,
    }

    pub fn serialize<S: Serializer>(trees: &[Vec<Node>], serializer: S) -> Result<S::Ok, S::Error> {
        let mut packed = Packed {
            sizes: Vec::with_capacity(trees.len()),
            features: Vec::new(),
            values: Vec::new(),
        };
        for tree in trees {
            let nodes = preorder(tree);
            packed.sizes.push(nodes.len() as u32);
            for node in nodes {
                let (feature, value) = if node.feature == LEAF {
                    (0u16, node.child as u8)
                } else {
                    (node.feature + 1, node.threshold)
                };
                packed.features.extend(feature.to_le_bytes());
                packed.values.push(value);
            }
        }
        packed.serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<Vec<Node>>, D::Error> {
        let packed = Packed::deserialize(deserializer)?;
        let total: u64 = packed.sizes.iter().map(|s| u64::from(*s)).sum();
        if packed.features.len() as u64 != 2 * total || packed.values.len() as u64 != total {
            return Err(D::Error::custom("random forest node columns disagree"));
        }
        let mut at = 0usize;
        let mut trees = Vec::with_capacity(packed.sizes.len());
        for size in &packed.sizes {
            let range = at..at + *size as usize;
            at = range.end;
            let nodes = range.map(|i| {
                let feature =
                    u16::from_le_bytes([packed.features[2 * i], packed.features[2 * i + 1]]);
                let value = packed.values[i];
                if feature == 0 {
                    Node {
                        feature: LEAF,
                        threshold: 0,
                        child: u32::from(value),
                    }
                } else {
                    Node {
                        feature: feature - 1,
                        threshold: value,
                        child: 0,
                    }
                }
            });
            trees.push(
                tree_from_preorder(nodes)
                    .ok_or_else(|| D::Error::custom("a random forest tree does not close"))?,
            );
        }
        Ok(trees)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    #[test]
    fn a_forest_learns_a_nonlinear_rule() {
        // Class = quadrant of (x0, x1); x2 is noise.
        let mut rng = Rng::new(1);
        let n = 2000;
        let mut x = Array2::<f32>::zeros((n, 3));
        let mut labels = vec![0u8; n];
        for i in 0..n {
            let (a, b) = (rng.next_f32(), rng.next_f32());
            x[[i, 0]] = a;
            x[[i, 1]] = b;
            x[[i, 2]] = rng.next_f32();
            labels[i] = u8::from(a > 0.5) * 2 + u8::from(b > 0.3);
        }
        let config = ForestConfig {
            trees: 20,
            ..Default::default()
        };
        let (train, test) = (
            x.slice(ndarray::s![..1500, ..]),
            x.slice(ndarray::s![1500.., ..]),
        );
        let forest = RandomForest::fit(config, train, &labels[..1500], &mut |_| true).unwrap();
        forest.check().unwrap();
        let p = forest.predict_proba(test);
        let correct = (0..500)
            .filter(|i| {
                crate::metrics::argmax_rows(p.row(*i).as_slice().unwrap(), NUM_CLASSES)[0]
                    == labels[1500 + i]
            })
            .count();
        assert!(correct >= 480, "{correct}/500");
        // Same seed, same forest.
        let again = RandomForest::fit(config, train, &labels[..1500], &mut |_| true).unwrap();
        assert_eq!(again, forest);
        // Saved and loaded (the trees packed in preorder), it is the same forest, node for node.
        let bytes = postcard::to_allocvec(&forest).unwrap();
        let loaded: RandomForest = postcard::from_bytes(&bytes).unwrap();
        loaded.check().unwrap();
        assert_eq!(loaded, forest);
        // Cancelling stops it.
        assert!(matches!(
            RandomForest::fit(config, x.view(), &labels, &mut |_| false),
            Err(ClassicalError::Cancelled)
        ));
    }

    /// Packed trees that do not close (a split whose subtrees are cut short, a leaf too many) or whose
    /// columns disagree are refused; a tree rebuilt from preorder has every child after its parent.
    #[test]
    fn packed_trees_that_do_not_close_are_refused() {
        let leaf = |class| Node {
            feature: LEAF,
            threshold: 0,
            child: class,
        };
        let split = |feature| Node {
            feature,
            threshold: 3,
            child: 0,
        };
        // split(0) → [split(1) → [leaf 1, leaf 2], leaf 3], in preorder.
        let nodes = [split(0), split(1), leaf(1), leaf(2), leaf(3)];
        let tree = tree_from_preorder(nodes.into_iter()).unwrap();
        assert!(
            tree.iter()
                .enumerate()
                .all(|(i, n)| n.feature == LEAF || n.child as usize > i)
        );
        // Preorder gives the nodes back (child indices aside: they belong to the flat layout).
        let key = |n: &Node| {
            (
                n.feature,
                n.threshold,
                if n.feature == LEAF { n.child } else { 0 },
            )
        };
        let back: Vec<_> = preorder(&tree).iter().map(key).collect();
        assert_eq!(back, nodes.iter().map(key).collect::<Vec<_>>());
        assert!(tree_from_preorder(nodes[..4].iter().copied()).is_none());
        assert!(tree_from_preorder(nodes.iter().copied().chain([leaf(0)])).is_none());
        let column = |n: &[Node]| packed_trees::Packed {
            sizes: vec![n.len() as u32],
            features: n
                .iter()
                .flat_map(|n| if n.feature == LEAF { 0 } else { n.feature + 1 }.to_le_bytes())
                .collect(),
            values: n.iter().map(|n| n.threshold.max(n.child as u8)).collect(),
        };
        let read = |p: &packed_trees::Packed| {
            let bytes = postcard::to_allocvec(p).unwrap();
            let mut d = postcard::Deserializer::from_bytes(&bytes);
            packed_trees::deserialize(&mut d).map_err(|e| e.to_string())
        };
        assert_eq!(read(&column(&nodes)).unwrap(), vec![tree]);
        assert!(read(&column(&nodes[..4])).is_err());
        let mut longer = column(&nodes);
        longer.sizes[0] = 6;
        assert!(read(&longer).is_err());
    }

    #[test]
    fn quantile_edges_skip_duplicates() {
        let e = quantile_edges([0.0f32, 0.0, 0.0, 0.0, 1.0, 2.0, 3.0, 4.0].into_iter(), 4);
        assert_eq!(e, vec![0.5, 2.5]);
        assert_eq!(bin_of(&e, 0.0), 0);
        assert_eq!(bin_of(&e, 1.0), 1);
        assert_eq!(bin_of(&e, 9.0), 2);
        // Quantiles that fall inside runs of ties still give edges (pixel columns are mostly ties).
        let ties = [
            0.0f32, 0.0, 1.0, 1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 2.0, 3.0, 3.0,
        ];
        assert_eq!(quantile_edges(ties.into_iter(), 4), vec![1.5, 2.5]);
    }
}
