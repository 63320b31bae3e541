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

/// One training run's curves as the page has drawn them: the batch losses (`loss_x` in epochs, as a
/// fraction) and the validation accuracy after each epoch.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RunCurves {
    /// What was trained, as the legend names it ("CNN, run 2").
    pub label: String,
    /// Epoch (fractional) of each batch loss.
    pub loss_x: Vec<f64>,
    /// Batch losses.
    pub loss_y: Vec<f64>,
    /// Epoch of each validation accuracy.
    pub accuracy_x: Vec<f64>,
    /// Validation accuracies.
    pub accuracy_y: Vec<f64>,
}

/// The most runs one chart shows: the current one and the latest before it.
pub const RUNS_SHOWN: usize = 4;

/// The live curves of training runs, the last of `runs` being the current one (usually still empty):
/// two traces per run, the batch loss (left axis) and the validation accuracy after each epoch (right
/// axis), the current run's last, so that the page extends traces `2k` and `2k + 1`. Earlier runs are
/// drawn faded and dotted, at most [`RUNS_SHOWN`] runs in all (the latest).
pub fn training_curves(runs: &[RunCurves]) -> Figure {
    let runs = &runs[runs.len().saturating_sub(RUNS_SHOWN)..];
    let current = runs.last().map(|r| r.label.as_str()).unwrap_or("training");
    let mut data = Vec::with_capacity(2 * runs.len());
    for (i, run) in runs.iter().enumerate() {
        let earlier = i + 1 < runs.len();
        let (opacity, dash) = if earlier {
            (0.35, "dot")
        } else {
            (1.0, "solid")
        };
        data.push(json!({
            "type": "scatter", "mode": "lines", "name": format!("{}: training loss (batch)", run.label),
            "x": run.loss_x, "y": run.loss_y, "opacity": opacity, "line": {"dash": dash},
        }));
        data.push(json!({
            "type": "scatter", "mode": "lines+markers", "name": format!("{}: validation accuracy", run.label),
            "x": run.accuracy_x, "y": run.accuracy_y, "yaxis": "y2", "opacity": opacity, "line": {"dash": dash},
        }));
    }
    let title = if runs.len() > 1 {
        format!("{current}: live training (earlier runs faded)")
    } else {
        format!("{current}: live training")
    };
    Figure::new(
        "training-curves",
        &title,
        data,
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
    fn training_curves_put_the_current_run_last_and_fade_the_others() {
        let run = |label: &str, points: usize| RunCurves {
            label: label.into(),
            loss_x: (0..points).map(|i| i as f64 / 10.0).collect(),
            loss_y: vec![1.0; points],
            accuracy_x: vec![1.0],
            accuracy_y: vec![0.5],
        };
        let f = training_curves(&[run("CNN, run 1", 0)]);
        assert_eq!(f.title, "CNN, run 1: live training");
        assert_eq!(f.data.len(), 2);
        assert_eq!(f.data[0]["x"], json!([]));
        assert_eq!(f.data[1]["yaxis"], "y2");
        assert_eq!(f.layout["yaxis2"]["range"], json!([0, 1]));
        assert_eq!(f.layout["yaxis2"]["overlaying"], "y");
        let runs: Vec<RunCurves> = (1..=6).map(|i| run(&format!("run {i}"), i)).collect();
        let f = training_curves(&runs);
        // The latest four runs, the current one last and at full strength.
        assert_eq!(f.data.len(), 2 * RUNS_SHOWN);
        assert_eq!(f.data[0]["name"], "run 3: training loss (batch)");
        assert_eq!(f.data[0]["opacity"], json!(0.35));
        assert_eq!(f.data[0]["x"].as_array().unwrap().len(), 3);
        assert_eq!(f.data[7]["name"], "run 6: validation accuracy");
        assert_eq!(f.data[7]["opacity"], json!(1.0));
        assert_eq!(f.data[6]["x"].as_array().unwrap().len(), 6);
    }
}
