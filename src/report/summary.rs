//! A trained model's summary, as written to `pretrained/<model>.json`, and its figures (training curves,
//! confusion matrix, classification report, top confusions), shared by the CLI's reports and the page.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::data::CLASS_NAMES;
use crate::deep::train::EpochRecord;
use crate::metrics::{Confusion, Report};
use crate::report::plot::Figure;

/// Test-set results of a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestResults {
    /// Accuracy on the test images.
    pub accuracy: f64,
    /// Number of test images scored.
    pub images: usize,
    /// `confusion_matrix[truth][predicted]`.
    pub confusion_matrix: Vec<Vec<usize>>,
    /// The full classification report.
    pub report: Report,
    /// The most frequent mistakes, largest first.
    pub top_confusions: Vec<Confusion>,
    /// The predicted class of every scored image, in order, one digit each: the page shows the images
    /// behind a confusion-matrix cell from it. Absent in summaries written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predictions: Option<String>,
}

impl TestResults {
    /// Wraps a report.
    pub(crate) fn new(report: Report) -> Self {
        Self {
            accuracy: report.accuracy,
            images: report.macro_avg.support,
            confusion_matrix: report.confusion_matrix.clone(),
            top_confusions: report.top_confusions.clone(),
            report,
            predictions: None,
        }
    }

    /// Wraps a report and records the predictions it was computed from (classes 0..=9).
    pub(crate) fn with_predictions(report: Report, predicted: &[u8]) -> Self {
        Self {
            predictions: Some(encode_predictions(predicted)),
            ..Self::new(report)
        }
    }
}

/// Predicted classes (0..=9) as one digit each.
pub(crate) fn encode_predictions(predicted: &[u8]) -> String {
    predicted
        .iter()
        .map(|p| char::from_digit(u32::from(*p), 10).unwrap_or('?'))
        .collect()
}

/// Everything recorded about one trained model: `pretrained/<model>.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSummary {
    /// Model name: `cnn`, `resnet`, `mlp`, `logreg`, `svm`, `rf`, `knn`.
    pub model: String,
    /// The model's configuration (and pipeline, for the classical models).
    pub config: Value,
    /// The training settings.
    pub train_config: Value,
    /// Number of learned parameters.
    pub params: usize,
    /// Per-epoch history (empty for models trained in one pass).
    pub history: Vec<EpochRecord>,
    /// The epoch whose weights were kept (0 when not applicable).
    pub best_epoch: usize,
    /// Whether training was stopped before its last epoch (Ctrl-C, or a cancel in the page).
    #[serde(default)]
    pub cancelled: bool,
    /// Results on the test set, computed from the saved weights.
    pub test: TestResults,
    /// Wall-clock seconds of training.
    pub train_seconds: f64,
    /// Mean training throughput, images per second (0 when not applicable).
    pub images_per_second: f64,
    /// The backend trained on.
    pub backend: String,
    /// The seed.
    pub seed: u64,
    /// The git revision of the code that trained it.
    pub git_rev: String,
    /// The machine, in words (CPU model and threads).
    pub machine: String,
    /// Classical models: seconds spent on features, fitting and predicting the test set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timings: Option<Value>,
    /// SHA-256 (lower-case hex) of the model file this summary describes (`<model>.weights` or
    /// `<model>.model`). The two files are replaced one after the other, so a crash between the two
    /// replacements leaves a pair that disagrees: [`ModelSummary::check_model_file`] detects it.
    /// Absent in summaries written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_sha256: Option<String>,
}

/// Errors of checking a summary against its model file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SummaryError {
    /// The model file is not the one the summary was written for (a crash between the two writes, or
    /// files copied from different runs).
    #[error(
        "{model}: the model file does not match its summary (SHA-256 {found}, the summary records \
         {recorded}); the files come from different runs: retrain, or restore both"
    )]
    ModelFileMismatch {
        /// The summary's model name.
        model: String,
        /// The digest the summary records.
        recorded: String,
        /// The digest of the file found.
        found: String,
    },
    /// The summary records no digest (written before digests were recorded), so the pair cannot be
    /// checked.
    #[error(
        "{model}: the summary records no model-file digest (run `evaluate --record` to add it)"
    )]
    NoDigest {
        /// The summary's model name.
        model: String,
    },
}

impl ModelSummary {
    /// Checks that `model_file` (the bytes of `<model>.weights` or `<model>.model`) is the file this
    /// summary was written for.
    pub fn check_model_file(&self, model_file: &[u8]) -> Result<(), SummaryError> {
        let recorded = self
            .model_sha256
            .as_ref()
            .ok_or_else(|| SummaryError::NoDigest {
                model: self.model.clone(),
            })?;
        let found = crate::data::sha256_hex(model_file);
        if *recorded != found {
            return Err(SummaryError::ModelFileMismatch {
                model: self.model.clone(),
                recorded: recorded.clone(),
                found,
            });
        }
        Ok(())
    }
}

/// Figures of one model: training curves (when there is a history), confusion matrix, report table and
/// top confusions. Ids are prefixed with the model name.
pub(crate) fn model_figures(s: &ModelSummary) -> Vec<Figure> {
    let mut figs = Vec::new();
    let id = |name: &str| format!("{}-{name}", s.model);
    if !s.history.is_empty() {
        let epochs: Vec<usize> = s.history.iter().map(|h| h.epoch).collect();
        let line = |name: &str, y: Vec<f64>, axis: &str, dash: &str| {
            json!({"type": "scatter", "mode": "lines+markers", "name": name, "x": epochs, "y": y, "yaxis": axis,
                   "line": {"dash": dash}})
        };
        figs.push(Figure::new(
            &id("curves"),
            &format!("{}: training curves", s.model.to_uppercase()),
            vec![
                line("train loss", s.history.iter().map(|h| h.train_loss).collect(), "y", "dot"),
                line("validation loss", s.history.iter().map(|h| h.val_loss).collect(), "y", "solid"),
                line("train accuracy", s.history.iter().map(|h| h.train_accuracy).collect(), "y2", "dot"),
                line("validation accuracy", s.history.iter().map(|h| h.val_accuracy).collect(), "y2", "solid"),
            ],
            json!({
                "xaxis": {"title": {"text": "epoch"}},
                "yaxis": {"title": {"text": "loss"}},
                "yaxis2": {"title": {"text": "accuracy"}, "overlaying": "y", "side": "right", "tickformat": ".0%"},
                "legend": {"orientation": "h", "y": -0.25},
            }),
        ));
    }
    figs.push(confusion_figure(
        &id("confusion"),
        &format!(
            "{}: confusion matrix ({:.2}% test accuracy)",
            s.model.to_uppercase(),
            100.0 * s.test.accuracy
        ),
        &s.test.confusion_matrix,
        "images",
    ));
    let r = &s.test.report;
    let f4 = |v: f64| format!("{v:.4}");
    let mut names: Vec<String> = CLASS_NAMES.iter().map(|n| n.to_string()).collect();
    names.extend(["macro avg".into(), "weighted avg".into()]);
    let rows: Vec<_> = r
        .per_class
        .iter()
        .chain([&r.macro_avg, &r.weighted_avg])
        .collect();
    figs.push(Figure::new(
        &id("report"),
        &format!("{}: classification report", s.model.to_uppercase()),
        vec![json!({
            "type": "table",
            "header": {"values": ["class", "precision", "recall", "F1", "support"], "align": "left"},
            "cells": {"values": [
                names,
                rows.iter().map(|c| f4(c.precision)).collect::<Vec<_>>(),
                rows.iter().map(|c| f4(c.recall)).collect::<Vec<_>>(),
                rows.iter().map(|c| f4(c.f1)).collect::<Vec<_>>(),
                rows.iter().map(|c| c.support).collect::<Vec<_>>(),
            ], "align": "left"},
        })],
        json!({"height": 480}),
    ));
    let tc = &s.test.top_confusions;
    figs.push(Figure::new(
        &id("top-confusions"),
        &format!("{}: most frequent mistakes", s.model.to_uppercase()),
        vec![json!({
            "type": "bar", "orientation": "h",
            "y": tc.iter().map(|c| format!("{} → {}", CLASS_NAMES[c.truth], CLASS_NAMES[c.predicted])).collect::<Vec<_>>(),
            "x": tc.iter().map(|c| c.count).collect::<Vec<_>>(),
            "marker": {"color": "#e45756"},
        })],
        json!({"yaxis": {"autorange": "reversed"}, "xaxis": {"title": {"text": "test images"}}, "margin": {"l": 200}}),
    ));
    figs
}

/// A confusion matrix as a heatmap: counts written in the cells, colour by the share of the true class's
/// row; `unit` names what is counted in the hover text ("images", "answers").
pub(crate) fn confusion_figure(id: &str, title: &str, cm: &[Vec<usize>], unit: &str) -> Figure {
    let row_totals: Vec<usize> = cm.iter().map(|r| r.iter().sum()).collect();
    let text: Vec<Vec<String>> = cm
        .iter()
        .map(|r| r.iter().map(|v| v.to_string()).collect())
        .collect();
    Figure::new(
        id,
        title,
        vec![json!({
            "type": "heatmap",
            "z": cm.iter().zip(&row_totals).map(|(r, &t)| r.iter().map(|&v| v as f64 / t.max(1) as f64).collect::<Vec<_>>()).collect::<Vec<_>>(),
            "x": CLASS_NAMES, "y": CLASS_NAMES, "text": text, "texttemplate": "%{text}",
            "colorscale": "Blues", "showscale": false,
            "hovertemplate": format!("true %{{y}}, predicted %{{x}}: %{{text}} {unit}<extra></extra>"),
        })],
        json!({"height": 520, "xaxis": {"title": {"text": "predicted"}}, "yaxis": {"title": {"text": "true"}, "autorange": "reversed"}, "margin": {"l": 100, "b": 100}}),
    )
}

/// Reference accuracies beside ours: the original study (Keras and scikit-learn) and Zalando's published
/// scikit-learn baselines, where they exist (`None` when the source has no such model).
pub fn reference_accuracy(model: &str) -> (Option<f64>, Option<f64>) {
    match model {
        "cnn" | "resnet" => (Some(0.91), None),
        "mlp" => (None, Some(0.871)),
        "logreg" => (Some(0.83), Some(0.842)),
        // The study reports 87–89% for both; the midpoint is drawn.
        "svm" => (Some(0.88), Some(0.897)),
        "rf" => (Some(0.88), Some(0.873)),
        "knn" => (None, Some(0.860)),
        _ => (None, None),
    }
}

/// The comparison of several models: test accuracy beside the study's and Zalando's figures, and test
/// accuracy against training time (marker area ∝ parameters).
pub fn comparison_figures(summaries: &[ModelSummary]) -> Vec<Figure> {
    let names: Vec<String> = summaries.iter().map(|s| s.model.to_uppercase()).collect();
    let refs: Vec<(Option<f64>, Option<f64>)> = summaries
        .iter()
        .map(|s| reference_accuracy(&s.model))
        .collect();
    let bars = vec![
        json!({"type": "bar", "name": "Fashion Lab (this site)", "x": names,
               "y": summaries.iter().map(|s| s.test.accuracy).collect::<Vec<_>>()}),
        json!({"type": "bar", "name": "the original study", "x": names,
               "y": refs.iter().map(|r| r.0).collect::<Vec<_>>()}),
        json!({"type": "bar", "name": "Zalando's scikit-learn baselines", "x": names,
               "y": refs.iter().map(|r| r.1).collect::<Vec<_>>()}),
    ];
    let max_params = summaries.iter().map(|s| s.params).max().unwrap_or(1).max(1) as f64;
    let scatter = vec![json!({
        "type": "scatter", "mode": "markers+text", "x": summaries.iter().map(|s| s.train_seconds).collect::<Vec<_>>(),
        "y": summaries.iter().map(|s| s.test.accuracy).collect::<Vec<_>>(), "text": names, "textposition": "top center",
        "marker": {"size": summaries.iter().map(|s| 10.0 + 40.0 * (s.params as f64 / max_params).sqrt()).collect::<Vec<_>>()},
        "customdata": summaries.iter().map(|s| s.params).collect::<Vec<_>>(),
        "hovertemplate": "%{text}: %{y:.2%} in %{x:.0f} s, %{customdata:,} parameters<extra></extra>",
    })];
    vec![
        Figure::new(
            "compare-accuracy",
            "Test accuracy: ours, the study's, Zalando's",
            bars,
            json!({"barmode": "group", "yaxis": {"title": {"text": "test accuracy"}, "range": [0.8, 0.96], "tickformat": ".0%"},
                   "legend": {"orientation": "h", "y": -0.2}}),
        ),
        Figure::new(
            "compare-time",
            "Test accuracy against training time (marker area: parameters)",
            scatter,
            json!({"xaxis": {"title": {"text": "training time, s (log)"}, "type": "log"},
                   "yaxis": {"title": {"text": "test accuracy"}, "tickformat": ".1%"}}),
        ),
    ]
}

#[cfg(test)]
mod tests {
    #[test]
    fn comparison_lines_ours_up_with_the_references() {
        let mut a = sample_summary();
        a.model = "svm".into();
        let figs = comparison_figures(&[a]);
        assert_eq!(figs.len(), 2);
        let bars = &figs[0].data;
        assert_eq!(bars[0]["x"][0], "SVM");
        assert_eq!(bars[1]["y"][0], 0.88);
        assert_eq!(bars[2]["y"][0], 0.897);
        assert_eq!(reference_accuracy("knn"), (None, Some(0.86)));
    }

    use super::*;

    fn sample_summary() -> ModelSummary {
        let report = Report::new(&[0, 1, 6, 6], &[0, 1, 0, 6]).unwrap();
        ModelSummary {
            model: "cnn".into(),
            config: json!({}),
            train_config: json!({}),
            params: 10,
            history: vec![EpochRecord {
                epoch: 1,
                train_loss: 1.0,
                train_accuracy: 0.5,
                val_loss: 0.9,
                val_accuracy: 0.6,
                learning_rate: 1e-3,
                seconds: 1.0,
                train_seconds: 0.9,
            }],
            best_epoch: 1,
            cancelled: false,
            test: TestResults::new(report),
            train_seconds: 1.0,
            images_per_second: 100.0,
            backend: "flex".into(),
            seed: 0,
            git_rev: "abc".into(),
            machine: "test".into(),
            timings: None,
            model_sha256: None,
        }
    }

    #[test]
    fn a_model_file_is_checked_against_its_summary() {
        let mut s = sample_summary();
        assert_eq!(
            s.check_model_file(b"weights"),
            Err(SummaryError::NoDigest {
                model: "cnn".into()
            })
        );
        s.model_sha256 = Some(crate::data::sha256_hex(b"weights"));
        assert_eq!(s.check_model_file(b"weights"), Ok(()));
        assert!(matches!(
            s.check_model_file(b"weightz"),
            Err(SummaryError::ModelFileMismatch { .. })
        ));
        let back: ModelSummary = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(back.model_sha256, s.model_sha256);
    }

    #[test]
    fn figures_of_a_summary() {
        let s = sample_summary();
        let figs = model_figures(&s);
        let ids: Vec<_> = figs.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "cnn-curves",
                "cnn-confusion",
                "cnn-report",
                "cnn-top-confusions"
            ]
        );
        assert_eq!(figs[1].data[0]["text"][6][0], "1");
        assert_eq!(figs[3].data[0]["y"][0], "Shirt → T-shirt/top");
        let back: ModelSummary = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(back, s);
    }
}
