//! Classification metrics shared by every model, deep and classical: accuracy, the confusion matrix,
//! per-class precision / recall / F1 / support, macro and weighted averages, and the top confused pairs.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::data::{CLASS_NAMES, NUM_CLASSES};

/// Errors of the metrics.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum MetricsError {
    /// Truth and predictions differ in length.
    #[error("{truth} true labels but {predicted} predictions")]
    LengthMismatch {
        /// Number of true labels.
        truth: usize,
        /// Number of predictions.
        predicted: usize,
    },
    /// A label is not a class.
    #[error("label {0} is outside 0..=9")]
    BadLabel(u8),
    /// There is nothing to score.
    #[error("no predictions to score")]
    Empty,
}

/// Precision, recall, F1 and support of one class (or an average of them).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClassScores {
    /// Of the images predicted as this class, the fraction that are.
    pub precision: f64,
    /// Of the images of this class, the fraction predicted as it.
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
    /// Number of true images of this class.
    pub support: usize,
}

/// One entry of the most frequent mistakes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confusion {
    /// The true class.
    pub truth: usize,
    /// The class predicted instead.
    pub predicted: usize,
    /// How many test images made this mistake.
    pub count: usize,
    /// In words: "Shirt → T-shirt/top: 156".
    pub text: String,
}

/// The full report of one model on one labelled set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Fraction of correct predictions.
    pub accuracy: f64,
    /// `confusion_matrix[truth][predicted]` counts.
    pub confusion_matrix: Vec<Vec<usize>>,
    /// Scores per class, indexed by class.
    pub per_class: Vec<ClassScores>,
    /// Unweighted mean of the per-class scores (support: the total).
    pub macro_avg: ClassScores,
    /// Support-weighted mean of the per-class scores (support: the total).
    pub weighted_avg: ClassScores,
    /// The most frequent off-diagonal cells, largest first.
    pub top_confusions: Vec<Confusion>,
}

/// How many confused pairs [`Report::top_confusions`] keeps.
pub(crate) const TOP_CONFUSIONS: usize = 10;

impl Report {
    /// Scores `predicted` against `truth`.
    pub fn new(truth: &[u8], predicted: &[u8]) -> Result<Self, MetricsError> {
        if truth.len() != predicted.len() {
            return Err(MetricsError::LengthMismatch {
                truth: truth.len(),
                predicted: predicted.len(),
            });
        }
        if truth.is_empty() {
            return Err(MetricsError::Empty);
        }
        let mut cm = vec![vec![0usize; NUM_CLASSES]; NUM_CLASSES];
        for (&t, &p) in truth.iter().zip(predicted) {
            for l in [t, p] {
                if l as usize >= NUM_CLASSES {
                    return Err(MetricsError::BadLabel(l));
                }
            }
            cm[t as usize][p as usize] += 1;
        }
        Ok(Self::from_confusion(cm))
    }

    /// Builds the report from a confusion matrix (`cm[truth][predicted]`).
    pub(crate) fn from_confusion(cm: Vec<Vec<usize>>) -> Self {
        let total: usize = cm.iter().flatten().sum();
        let correct: usize = (0..NUM_CLASSES).map(|c| cm[c][c]).sum();
        let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        let per_class: Vec<ClassScores> = (0..NUM_CLASSES)
            .map(|c| {
                let support: usize = cm[c].iter().sum();
                let predicted: usize = cm.iter().map(|row| row[c]).sum();
                let precision = ratio(cm[c][c], predicted);
                let recall = ratio(cm[c][c], support);
                let f1 = if precision + recall == 0.0 {
                    0.0
                } else {
                    2.0 * precision * recall / (precision + recall)
                };
                ClassScores {
                    precision,
                    recall,
                    f1,
                    support,
                }
            })
            .collect();
        let avg = |weight: &dyn Fn(&ClassScores) -> f64| {
            let w: f64 = per_class.iter().map(weight).sum();
            let mean = |f: &dyn Fn(&ClassScores) -> f64| {
                per_class.iter().map(|s| f(s) * weight(s)).sum::<f64>() / w
            };
            ClassScores {
                precision: mean(&|s| s.precision),
                recall: mean(&|s| s.recall),
                f1: mean(&|s| s.f1),
                support: total,
            }
        };
        let macro_avg = avg(&|_| 1.0);
        let weighted_avg = avg(&|s| s.support as f64);
        let mut pairs: Vec<Confusion> = (0..NUM_CLASSES)
            .flat_map(|t| (0..NUM_CLASSES).map(move |p| (t, p)))
            .filter(|&(t, p)| t != p)
            .map(|(t, p)| (t, p, cm[t][p]))
            .filter(|&(_, _, n)| n > 0)
            .map(|(truth, predicted, count)| Confusion {
                truth,
                predicted,
                count,
                text: format!(
                    "{} → {}: {}",
                    CLASS_NAMES[truth], CLASS_NAMES[predicted], count
                ),
            })
            .collect();
        pairs.sort_by(|a, b| {
            b.count
                .cmp(&a.count)
                .then(a.truth.cmp(&b.truth))
                .then(a.predicted.cmp(&b.predicted))
        });
        pairs.truncate(TOP_CONFUSIONS);
        Self {
            accuracy: ratio(correct, total),
            confusion_matrix: cm,
            per_class,
            macro_avg,
            weighted_avg,
            top_confusions: pairs,
        }
    }

    /// A text table like scikit-learn's `classification_report`.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "{:>14} {:>9} {:>9} {:>9} {:>9}\n",
            "", "precision", "recall", "f1-score", "support"
        );
        for (name, s) in CLASS_NAMES.iter().zip(&self.per_class) {
            out += &format!(
                "{name:>14} {:>9.4} {:>9.4} {:>9.4} {:>9}\n",
                s.precision, s.recall, s.f1, s.support
            );
        }
        let total = self.macro_avg.support;
        out += &format!(
            "\n{:>14} {:>9} {:>9} {:>9.4} {total:>9}\n",
            "accuracy", "", "", self.accuracy
        );
        for (name, s) in [
            ("macro avg", &self.macro_avg),
            ("weighted avg", &self.weighted_avg),
        ] {
            out += &format!(
                "{name:>14} {:>9.4} {:>9.4} {:>9.4} {:>9}\n",
                s.precision, s.recall, s.f1, s.support
            );
        }
        out
    }
}

/// Index of the largest value in each row of `n × classes` scores.
pub fn argmax_rows(scores: &[f32], classes: usize) -> Vec<u8> {
    scores
        .chunks_exact(classes)
        .map(|row| {
            let mut best = 0;
            for (i, &v) in row.iter().enumerate() {
                if v > row[best] {
                    best = i;
                }
            }
            best as u8
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Fixed arrays; the expected figures below were computed independently with scikit-learn 1.x:
    //   from sklearn.metrics import classification_report, confusion_matrix, accuracy_score
    //   y_true = [i % 10 for i in range(40)]
    //   y_pred = list(y_true); for i, p in [(0,6),(10,6),(6,0),(2,4),(12,4),(4,2),(7,9),(9,7),(19,5),(5,5)]: y_pred[i] = p
    //   print(classification_report(y_true, y_pred, digits=6))
    fn arrays() -> (Vec<u8>, Vec<u8>) {
        let truth: Vec<u8> = (0..40).map(|i| (i % 10) as u8).collect();
        let mut pred = truth.clone();
        for (i, p) in [
            (0, 6),
            (10, 6),
            (6, 0),
            (2, 4),
            (12, 4),
            (4, 2),
            (7, 9),
            (9, 7),
            (19, 5),
            (5, 5),
        ] {
            pred[i] = p;
        }
        (truth, pred)
    }

    #[test]
    fn matches_scikit_learn_classification_report() {
        let (t, p) = arrays();
        let r = Report::new(&t, &p).unwrap();
        // accuracy 0.775000 (31 of 40)
        assert!((r.accuracy - 0.775).abs() < 1e-9);
        let expect = |c: usize, precision: f64, recall: f64, f1: f64| {
            let s = r.per_class[c];
            assert!(
                (s.precision - precision).abs() < 1e-6,
                "class {c} precision {}",
                s.precision
            );
            assert!(
                (s.recall - recall).abs() < 1e-6,
                "class {c} recall {}",
                s.recall
            );
            assert!((s.f1 - f1).abs() < 1e-6, "class {c} f1 {}", s.f1);
            assert_eq!(s.support, 4);
        };
        // sklearn rows (precision, recall, f1-score, support=4 each):
        expect(0, 0.666667, 0.500000, 0.571429);
        expect(1, 1.000000, 1.000000, 1.000000);
        expect(2, 0.666667, 0.500000, 0.571429);
        expect(3, 1.000000, 1.000000, 1.000000);
        expect(4, 0.600000, 0.750000, 0.666667);
        expect(5, 0.800000, 1.000000, 0.888889);
        expect(6, 0.600000, 0.750000, 0.666667);
        expect(7, 0.750000, 0.750000, 0.750000);
        expect(8, 1.000000, 1.000000, 1.000000);
        expect(9, 0.666667, 0.500000, 0.571429);
        // macro avg 0.775000 0.775000 0.768651; weighted avg identical (equal supports).
        assert!(
            (r.macro_avg.precision - 0.775).abs() < 1e-6,
            "{}",
            r.macro_avg.precision
        );
        assert!((r.macro_avg.recall - 0.775).abs() < 1e-6);
        assert!(
            (r.macro_avg.f1 - 0.768651).abs() < 1e-6,
            "{}",
            r.macro_avg.f1
        );
        assert_eq!(r.weighted_avg.support, 40);
        assert_eq!(r.confusion_matrix[0][6], 2);
        assert_eq!(r.top_confusions[0].text, "T-shirt/top → Shirt: 2");
        assert_eq!(r.top_confusions[1].text, "Pullover → Coat: 2");
        assert_eq!(r.top_confusions.len(), 7);
    }

    #[test]
    fn weighted_average_uses_support() {
        // Class 0: 3 images all right; class 1: 1 image, predicted 0.
        let r = Report::new(&[0, 0, 0, 1], &[0, 0, 0, 0]).unwrap();
        assert_eq!(r.per_class[0].precision, 0.75);
        assert_eq!(r.per_class[1].recall, 0.0);
        // weighted precision = (3*0.75 + 1*0)/4
        assert!((r.weighted_avg.precision - 0.5625).abs() < 1e-12);
        assert!(r.to_text().contains("weighted avg"));
    }

    #[test]
    fn bad_inputs() {
        assert_eq!(
            Report::new(&[1], &[1, 2]),
            Err(MetricsError::LengthMismatch {
                truth: 1,
                predicted: 2
            })
        );
        assert_eq!(Report::new(&[], &[]), Err(MetricsError::Empty));
        assert_eq!(Report::new(&[10], &[1]), Err(MetricsError::BadLabel(10)));
    }

    #[test]
    fn argmax() {
        assert_eq!(argmax_rows(&[0.1, 0.7, 0.2, 0.5, 0.4, 0.1], 3), vec![1, 0]);
        // Ties go to the first class, as numpy's argmax does.
        assert_eq!(argmax_rows(&[0.4, 0.4, 0.2, 0.1, 0.3, 0.3], 3), vec![0, 1]);
    }
}
