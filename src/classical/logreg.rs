//! Multinomial logistic regression, fitted by linfa-logistic (L-BFGS on the softmax cross-entropy with
//! an L2 penalty). linfa-logistic can fail on unscaled data (linfa issue 334), so its features are
//! standardised by the pipeline and its iterations capped; a failure comes back as a typed error.

use linfa::dataset::DatasetBase;
use linfa::traits::Fit;
use linfa_logistic::MultiLogisticRegression;
use ndarray::{Array1, Array2, ArrayView2};
use serde::{Deserialize, Serialize};

use super::{ClassicalError, ClassicalKind, FittedEstimator, NUM_CLASSES};

/// Logistic-regression settings. Defaults: L2 penalty α = 1 (scikit-learn's C = 1), at most 200
/// L-BFGS iterations (as scikit-learn's `max_iter=200`), gradient tolerance 1e-4.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LogRegConfig {
    /// L2 penalty α on the summed loss (default 1.0; scikit-learn's C = 1/α).
    pub alpha: f64,
    /// Maximum L-BFGS iterations (default 200).
    pub max_iterations: u64,
    /// Gradient-norm tolerance (default 1e-4).
    pub tolerance: f64,
}

impl Default for LogRegConfig {
    fn default() -> Self {
        Self {
            alpha: 1.0,
            max_iterations: 200,
            tolerance: 1e-4,
        }
    }
}

impl LogRegConfig {
    /// Checks the settings.
    pub(crate) fn validate(&self) -> Result<(), ClassicalError> {
        if !(self.alpha.is_finite() && self.alpha >= 0.0) {
            return Err(ClassicalError::InvalidConfig(format!(
                "logistic regression alpha {} must be ≥ 0",
                self.alpha
            )));
        }
        if self.max_iterations == 0 || self.max_iterations > 10_000 {
            return Err(ClassicalError::InvalidConfig(format!(
                "logistic regression iterations {} must be in 1..=10000",
                self.max_iterations
            )));
        }
        if !(self.tolerance.is_finite() && self.tolerance > 0.0) {
            return Err(ClassicalError::InvalidConfig(format!(
                "logistic regression tolerance {} must be positive",
                self.tolerance
            )));
        }
        Ok(())
    }
}

/// A fitted multinomial logistic regression: softmax(x · W + b).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogReg {
    /// Its settings.
    pub config: LogRegConfig,
    dims: usize,
    /// W, dims × 10, row-major.
    weights: Vec<f32>,
    /// b, 10 values.
    bias: Vec<f32>,
}

impl LogReg {
    /// Fits on features `x` (n × d) and labels (every class must be present).
    pub(crate) fn fit(
        config: LogRegConfig,
        x: ArrayView2<f32>,
        labels: &[u8],
    ) -> Result<Self, ClassicalError> {
        config.validate()?;
        let d = x.ncols();
        let mut present = [false; NUM_CLASSES];
        labels.iter().for_each(|l| present[*l as usize] = true);
        if present.iter().any(|p| !p) {
            return Err(ClassicalError::InvalidConfig(
                "logistic regression needs images of all ten classes".into(),
            ));
        }
        let records: Array2<f64> = x.mapv(f64::from);
        let targets: Array1<usize> = labels.iter().map(|l| *l as usize).collect();
        let model = MultiLogisticRegression::default()
            .alpha(config.alpha)
            .max_iterations(config.max_iterations)
            .gradient_tolerance(config.tolerance)
            .fit(&DatasetBase::new(records, targets))
            .map_err(|e| ClassicalError::Numerical(format!("logistic regression: {e}")))?;
        // linfa orders the columns by its sorted class list; put them in class-index order.
        let mut weights = vec![0f32; d * NUM_CLASSES];
        let mut bias = vec![0f32; NUM_CLASSES];
        for (column, class) in model.classes().iter().enumerate() {
            bias[*class] = model.intercept()[column] as f32;
            for j in 0..d {
                weights[j * NUM_CLASSES + class] = model.params()[[j, column]] as f32;
            }
        }
        if weights.iter().chain(&bias).any(|w| !w.is_finite()) {
            return Err(ClassicalError::Numerical(
                "logistic regression diverged (non-finite weights)".into(),
            ));
        }
        Ok(Self {
            config,
            dims: d,
            weights,
            bias,
        })
    }
}

impl FittedEstimator for LogReg {
    fn kind(&self) -> ClassicalKind {
        ClassicalKind::LogReg
    }

    /// Number of learned parameters.
    fn params(&self) -> usize {
        self.weights.len() + self.bias.len()
    }

    /// Feature count.
    fn dims(&self) -> usize {
        self.dims
    }

    /// Checks a deserialised model.
    fn check(&self) -> Result<(), ClassicalError> {
        self.config.validate()?;
        if self.weights.len() != self.dims * NUM_CLASSES || self.bias.len() != NUM_CLASSES {
            return Err(ClassicalError::Corrupt(
                "logistic regression shapes disagree".into(),
            ));
        }
        Ok(())
    }

    /// Class probabilities: n × 10.
    fn predict_proba(&self, x: ArrayView2<f32>) -> Array2<f32> {
        let w = ArrayView2::from_shape((self.dims, NUM_CLASSES), &self.weights).expect("shape");
        let mut logits = x.dot(&w) + &Array1::from(self.bias.clone()); // [n, 10]
        for mut row in logits.rows_mut() {
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            row.mapv_inplace(|v| (v - max).exp());
            let sum = row.sum();
            row.mapv_inplace(|v| v / sum);
        }
        logits
    }

    fn describe(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut m = serde_json::Map::new();
        m.insert("settings".into(), serde_json::json!(self.config));
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separable_classes_are_learned_and_ordered_by_index() {
        // Class c sits at feature c = 1; the fitted model must map column c to class c.
        let n = 200;
        let mut x = Array2::<f32>::zeros((n, NUM_CLASSES));
        let mut labels = vec![0u8; n];
        for i in 0..n {
            let c = (i * 7) % NUM_CLASSES;
            x[[i, c]] = 1.0;
            labels[i] = c as u8;
        }
        let model = LogReg::fit(LogRegConfig::default(), x.view(), &labels).unwrap();
        model.check().unwrap();
        let p = model.predict_proba(x.view());
        let predicted = crate::metrics::argmax_rows(p.as_slice().unwrap(), NUM_CLASSES);
        assert_eq!(predicted, labels);
        assert!((p.row(0).sum() - 1.0).abs() < 1e-5);
    }

    #[test]
    fn missing_classes_and_bad_settings_are_typed_errors() {
        let x = Array2::<f32>::zeros((4, 3));
        assert!(matches!(
            LogReg::fit(LogRegConfig::default(), x.view(), &[0, 1, 0, 1]),
            Err(ClassicalError::InvalidConfig(_))
        ));
        let bad = LogRegConfig {
            alpha: f64::NAN,
            ..Default::default()
        };
        assert!(bad.validate().is_err());
    }
}
