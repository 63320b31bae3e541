//! Accuracy against ε: each model's accuracy on test images perturbed against one model (the attacked
//! one) with growing budgets ε, the attacks' transfer to the other models read off the same chart.

use serde::Serialize;
use serde_json::json;
use thiserror::Error;

use crate::data::NUM_CLASSES;
use crate::report::plot::Figure;

/// Errors of the accuracy-against-ε table.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum RobustnessError {
    /// No ε or no image.
    #[error("no budgets or no images to score")]
    Empty,
    /// A model's predictions are not one list per ε with one prediction per image.
    #[error(
        "{model}: predictions for {found} images at some ε, where {images} images were attacked at {epsilons} budgets"
    )]
    Predictions {
        /// The model.
        model: String,
        /// Predictions found in the list that does not fit.
        found: usize,
        /// Images attacked.
        images: usize,
        /// Budgets tried.
        epsilons: usize,
    },
    /// A class outside 0..=9.
    #[error("class {0} is outside 0..=9")]
    Class(u8),
}

/// Each model's accuracy at each ε, and its chart.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Robustness {
    /// The budgets, on the 0..=255 pixel scale.
    pub epsilons: Vec<u8>,
    /// Images scored at each budget.
    pub images: usize,
    /// Each model's name and its accuracy at each ε, in the order given.
    pub models: Vec<(String, Vec<f64>)>,
    /// The chart: one line per model, the attacked model's drawn first and thicker.
    pub figure: Figure,
}

/// Scores `predictions` (per model: its predicted classes for the `truth.len()` images at each of
/// `epsilons`, in order) against `truth`. The first model is the one the images were perturbed against
/// (by `method`, named in the chart's title).
pub(crate) fn robustness(
    method: &str,
    truth: &[u8],
    epsilons: &[u8],
    predictions: &[(String, Vec<Vec<u8>>)],
) -> Result<Robustness, RobustnessError> {
    if truth.is_empty() || epsilons.is_empty() {
        return Err(RobustnessError::Empty);
    }
    if let Some(&c) = truth
        .iter()
        .chain(predictions.iter().flat_map(|(_, p)| p.iter().flatten()))
        .find(|&&c| c as usize >= NUM_CLASSES)
    {
        return Err(RobustnessError::Class(c));
    }
    for (model, per_eps) in predictions {
        let found = if per_eps.len() != epsilons.len() {
            Some(per_eps.len())
        } else {
            per_eps.iter().map(Vec::len).find(|&n| n != truth.len())
        };
        if let Some(found) = found {
            return Err(RobustnessError::Predictions {
                model: model.clone(),
                found,
                images: truth.len(),
                epsilons: epsilons.len(),
            });
        }
    }
    let models: Vec<(String, Vec<f64>)> = predictions
        .iter()
        .map(|(name, per_eps)| {
            let accuracy = per_eps
                .iter()
                .map(|p| {
                    let right = p.iter().zip(truth).filter(|(p, t)| p == t).count();
                    right as f64 / truth.len() as f64
                })
                .collect();
            (name.clone(), accuracy)
        })
        .collect();
    let attacked = models.first().map(|(n, _)| n.as_str()).unwrap_or("");
    let data = models
        .iter()
        .enumerate()
        .map(|(i, (name, accuracy))| {
            json!({
                "type": "scatter", "mode": "lines+markers", "name": name,
                "x": epsilons, "y": accuracy,
                "line": {"width": if i == 0 { 4 } else { 2 }},
                "hovertemplate": "ε = %{x}: %{y:.1%}<extra>%{fullData.name}</extra>",
            })
        })
        .collect();
    let figure = Figure::new(
        "attack-accuracy",
        &format!(
            "Accuracy against ε on {} test images, {} against the {attacked}",
            truth.len(),
            method.to_uppercase()
        ),
        data,
        json!({
            "xaxis": {"title": {"text": "ε (pixel levels of 255)"}},
            "yaxis": {"title": {"text": "accuracy"}, "range": [0, 1.02], "tickformat": ".0%"},
        }),
    );
    Ok(Robustness {
        epsilons: epsilons.to_vec(),
        images: truth.len(),
        models,
        figure,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_models_accuracy_is_counted_at_each_budget() {
        let truth = [0, 1, 2, 3];
        let predictions = vec![
            (
                "CNN".to_string(),
                vec![vec![0, 1, 2, 3], vec![0, 1, 9, 9], vec![5, 5, 5, 5]],
            ),
            (
                "k-NN".to_string(),
                vec![vec![0, 1, 2, 0], vec![0, 1, 2, 0], vec![0, 0, 0, 0]],
            ),
        ];
        let r = robustness("pgd", &truth, &[0, 4, 8], &predictions).unwrap();
        assert_eq!(r.models[0], ("CNN".to_string(), vec![1.0, 0.5, 0.0]));
        assert_eq!(r.models[1], ("k-NN".to_string(), vec![0.75, 0.75, 0.25]));
        assert_eq!(r.figure.data.len(), 2);
        assert_eq!(r.figure.data[1]["y"], json!([0.75, 0.75, 0.25]));
        assert_eq!(r.figure.data[0]["x"], json!([0, 4, 8]));
        assert!(
            r.figure.title.contains("PGD against the CNN"),
            "{}",
            r.figure.title
        );
    }

    #[test]
    fn predictions_that_do_not_fit_are_refused() {
        let ok = vec![vec![0, 1], vec![0, 1]];
        let go = |p: Vec<Vec<u8>>| robustness("fgsm", &[0, 1], &[0, 8], &[("CNN".into(), p)]);
        assert!(go(ok.clone()).is_ok());
        assert!(matches!(
            go(vec![vec![0, 1]]),
            Err(RobustnessError::Predictions { found: 1, .. })
        ));
        assert!(matches!(
            go(vec![vec![0, 1], vec![0]]),
            Err(RobustnessError::Predictions { found: 1, .. })
        ));
        assert_eq!(
            go(vec![vec![0, 1], vec![0, 10]]),
            Err(RobustnessError::Class(10))
        );
        assert_eq!(
            robustness("fgsm", &[], &[0], &[]),
            Err(RobustnessError::Empty)
        );
        assert_eq!(
            robustness("fgsm", &[0], &[], &[]),
            Err(RobustnessError::Empty)
        );
    }
}
