//! The figures of what happens in the page as it happens: every model's class scores for the picture
//! being classified, and the curves of a training run, which the page extends point by point.

use serde_json::json;

use crate::data::{CLASS_NAMES, NUM_CLASSES};
use crate::report::plot::Figure;

/// Errors of the live figures.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LiveFigureError {
    /// The scores are not one row of ten per model.
    #[error("expected {expected} class scores ({models} models × 10), got {found}")]
    Scores {
        /// Models named.
        models: usize,
        /// Scores expected.
        expected: usize,
        /// Scores given.
        found: usize,
    },
}

/// One grouped bar per class for each model: `scores` holds each model's ten class scores in turn,
/// in the order of `models` (the titles shown in the legend).
pub fn class_scores(models: &[String], scores: &[f32]) -> Result<Figure, LiveFigureError> {
    if scores.len() != models.len() * NUM_CLASSES {
        return Err(LiveFigureError::Scores {
            models: models.len(),
            expected: models.len() * NUM_CLASSES,
            found: scores.len(),
        });
    }
    let data = models
        .iter()
        .zip(scores.chunks(NUM_CLASSES))
        .map(|(name, p)| json!({"type": "bar", "name": name, "x": CLASS_NAMES, "y": p}))
        .collect();
    let title = "Class probabilities (SVM: share of its duels won; forest: share of trees; k-NN: weighted share of neighbours)";
    Ok(Figure::new(
        "class-scores",
        title,
        data,
        json!({
            "barmode": "group",
            "title": {"font": {"size": 13}},
            "yaxis": {"range": [0, 1], "tickformat": ".0%"},
            "margin": {"t": 40, "b": 80},
            "height": 360,
        }),
    ))
}

/// The live curves of a training run of `model` (its title): the batch loss (trace 0, against the
/// epoch as a fraction) and the validation accuracy after each epoch (trace 1, on the right axis), both
/// empty until the page extends them.
pub fn training_curves(model: &str) -> Figure {
    let title = format!("{model}: live training");
    let empty = |name: &str, mode: &str| json!({"type": "scatter", "mode": mode, "name": name, "x": [], "y": []});
    let mut accuracy = empty("validation accuracy", "lines+markers");
    accuracy["yaxis"] = json!("y2");
    Figure::new(
        "training-curves",
        &title,
        vec![empty("training loss (batch)", "lines"), accuracy],
        json!({
            "title": {"font": {"size": 14}},
            "height": 340,
            "xaxis": {"title": {"text": "epoch"}},
            "yaxis": {"title": {"text": "loss"}},
            "yaxis2": {"title": {"text": "accuracy"}, "overlaying": "y", "side": "right", "range": [0, 1], "tickformat": ".0%"},
            "legend": {"orientation": "h", "y": -0.25},
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_scores_group_each_models_ten_scores_by_class() {
        let models = vec!["CNN".to_string(), "k-NN".to_string()];
        let scores: Vec<f32> = (0..20).map(|i| i as f32 / 20.0).collect();
        let f = class_scores(&models, &scores).unwrap();
        assert_eq!(f.data.len(), 2);
        assert_eq!(f.data[1]["name"], "k-NN");
        assert_eq!(f.data[1]["x"][9], "Ankle boot");
        assert_eq!(f.data[1]["y"][0], json!(0.5));
        assert_eq!(f.data[0]["y"][9], json!(9.0_f32 / 20.0));
        assert_eq!(f.layout["barmode"], "group");
        assert_eq!(f.layout["yaxis"]["range"], json!([0, 1]));
        assert_eq!(
            class_scores(&models, &scores[..19]).unwrap_err(),
            LiveFigureError::Scores {
                models: 2,
                expected: 20,
                found: 19
            }
        );
    }

    #[test]
    fn training_curves_start_empty_with_accuracy_on_the_right() {
        let f = training_curves("CNN");
        assert_eq!(f.title, "CNN: live training");
        assert_eq!(f.data.len(), 2);
        assert_eq!(f.data[0]["x"], json!([]));
        assert_eq!(f.data[1]["yaxis"], "y2");
        assert_eq!(f.layout["yaxis2"]["range"], json!([0, 1]));
        assert_eq!(f.layout["yaxis2"]["overlaying"], "y");
    }
}
