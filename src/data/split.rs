//! The seeded stratified train/validation split: every class keeps the same validation fraction, and the
//! same config gives the same split on every platform.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::data::{NUM_CLASSES, OutOfRange, check_range};
use crate::rng::Rng;

/// Errors of the split settings.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum SplitError {
    /// A parameter is outside its allowed range.
    #[error(transparent)]
    OutOfRange(#[from] OutOfRange),
    /// The split would leave a class with no training or no validation image.
    #[error(
        "class {class} has {count} images: too few to split with validation fraction {fraction}"
    )]
    ClassTooSmall {
        /// The class.
        class: usize,
        /// Its image count.
        count: usize,
        /// The validation fraction asked for.
        fraction: f32,
    },
}

/// Train/validation split settings. Defaults: 10% validation per class (60k → 54k / 6k), seed 0.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SplitConfig {
    /// Fraction of each class held out for validation, in (0, 1). Default 0.1.
    pub validation_fraction: f32,
    /// Seed of the shuffle. Default 0.
    pub seed: u64,
}

impl Default for SplitConfig {
    fn default() -> Self {
        Self {
            validation_fraction: 0.1,
            seed: 0,
        }
    }
}

impl SplitConfig {
    /// A checked config.
    pub(crate) fn new(validation_fraction: f32, seed: u64) -> Result<Self, SplitError> {
        let f = validation_fraction;
        check_range(
            "validation_fraction",
            f as f64,
            f > 0.0 && f < 1.0,
            "0 < fraction < 1",
        )?;
        Ok(Self {
            validation_fraction,
            seed,
        })
    }
}

/// Indices of a train/validation split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrainValSplit {
    /// Training indices, shuffled.
    pub train: Vec<usize>,
    /// Validation indices, shuffled.
    pub validation: Vec<usize>,
}

/// Splits `labels` so that every class keeps the same validation fraction. Seeded: the same config gives
/// the same split on every platform.
pub fn stratified_split(labels: &[u8], config: &SplitConfig) -> Result<TrainValSplit, SplitError> {
    let config = SplitConfig::new(config.validation_fraction, config.seed)?;
    let mut rng = Rng::new(config.seed);
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); NUM_CLASSES];
    for (i, &l) in labels.iter().enumerate() {
        by_class[l as usize].push(i);
    }
    let (mut train, mut validation) = (Vec::new(), Vec::new());
    for (class, mut idx) in by_class.into_iter().enumerate() {
        if idx.is_empty() {
            continue;
        }
        let n_val = (idx.len() as f32 * config.validation_fraction).round() as usize;
        if n_val == 0 || n_val == idx.len() {
            return Err(SplitError::ClassTooSmall {
                class,
                count: idx.len(),
                fraction: config.validation_fraction,
            });
        }
        rng.shuffle(&mut idx);
        validation.extend_from_slice(&idx[..n_val]);
        train.extend_from_slice(&idx[n_val..]);
    }
    rng.shuffle(&mut train);
    rng.shuffle(&mut validation);
    Ok(TrainValSplit { train, validation })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_is_stratified_disjoint_and_seeded() {
        let labels: Vec<u8> = (0..6000).map(|i| (i % 10) as u8).collect();
        let s = stratified_split(&labels, &SplitConfig::default()).unwrap();
        assert_eq!((s.train.len(), s.validation.len()), (5400, 600));
        let mut per_class = [0; 10];
        for &i in &s.validation {
            per_class[labels[i] as usize] += 1;
        }
        assert_eq!(per_class, [60; 10]);
        let mut all: Vec<usize> = s.train.iter().chain(&s.validation).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..6000).collect::<Vec<_>>());
        assert_eq!(
            s,
            stratified_split(&labels, &SplitConfig::default()).unwrap()
        );
        assert_ne!(
            s,
            stratified_split(&labels, &SplitConfig::new(0.1, 1).unwrap()).unwrap()
        );
    }

    #[test]
    fn split_config_is_validated() {
        assert!(matches!(
            SplitConfig::new(0.0, 0),
            Err(SplitError::OutOfRange(_))
        ));
        assert!(matches!(
            SplitConfig::new(1.0, 0),
            Err(SplitError::OutOfRange(_))
        ));
        assert!(matches!(
            stratified_split(&[0, 1, 2], &SplitConfig::default()),
            Err(SplitError::ClassTooSmall {
                class: 0,
                count: 1,
                ..
            })
        ));
    }
}
