//! The figures built in Rust for Plotly: the shipped models' summaries, the page's live charts, the quiz
//! and accuracy against an attack's ε.

use wasm_bindgen::prelude::*;

use super::to_js;
use crate::data::NUM_CLASSES;
use crate::metrics::argmax_rows;

/// The figures of one model's recorded summary (a `pretrained/<model>.json` object): training curves
/// (deep models), confusion matrix, classification report and top confusions, as Plotly JSON.
#[wasm_bindgen(js_name = modelFigures)]
pub fn model_figures(summary: JsValue) -> Result<JsValue, JsError> {
    let summary = summary_from_js(summary)?;
    to_js(&crate::report::summary::model_figures(&summary))
}

/// The comparison figures of several models' summaries: accuracy beside the study's and Zalando's, and
/// accuracy against training time.
#[wasm_bindgen(js_name = comparisonFigures)]
pub fn comparison_figures(summaries: Vec<JsValue>) -> Result<JsValue, JsError> {
    let summaries = summaries
        .into_iter()
        .map(summary_from_js)
        .collect::<Result<Vec<_>, _>>()?;
    to_js(&crate::report::summary::comparison_figures(&summaries))
}

/// Every answering model's class scores for the picture being classified, as one grouped bar chart:
/// `scores` holds each model's ten scores in turn, in the order of `models` (their titles).
#[wasm_bindgen(js_name = classScoresFigure)]
pub fn class_scores_figure(models: Vec<String>, scores: &[f32]) -> Result<JsValue, JsError> {
    let figure = crate::report::live::class_scores(&models, scores).map_err(super::js_error)?;
    to_js(&figure)
}

/// The live curves of training runs (`[{label, loss_x, loss_y, accuracy_x, accuracy_y}]`, the current
/// run last): two traces per run, the current run's last, which the page extends as the run reports;
/// earlier runs faded (`report::live::training_curves`).
#[wasm_bindgen(js_name = trainingCurvesFigure)]
pub fn training_curves_figure(runs: JsValue) -> Result<JsValue, JsError> {
    let runs: Vec<crate::report::live::RunCurves> = serde_wasm_bindgen::from_value(runs)
        .map_err(|e| JsError::new(&format!("not a list of training runs: {e}")))?;
    to_js(&crate::report::live::training_curves(&runs))
}

/// The quiz's questions: `per_class` images of each class among `labels`, shuffled by `seed` (any
/// whole number below 2^53): indices into the dataset.
#[wasm_bindgen(js_name = quizItems)]
pub fn quiz_items(labels: &[u8], per_class: usize, seed: f64) -> Vec<u32> {
    crate::report::quiz::quiz_items(labels, per_class, seed as u64)
        .into_iter()
        .map(|i| i as u32)
        .collect()
}

/// The quiz scored: `answers` against `truth`, beside each of `models`, whose class scores for the same
/// questions `probabilities` holds in turn (ten per question, each model's answer being its top class):
/// resolves to `{asked, right, accuracy, models, human_baseline, figures}`.
#[wasm_bindgen(js_name = scoreQuiz)]
pub fn score_quiz(
    truth: &[u8],
    answers: &[u8],
    models: Vec<String>,
    probabilities: &[f32],
) -> Result<JsValue, JsError> {
    let per_model = truth.len() * NUM_CLASSES;
    if probabilities.len() != models.len() * per_model {
        return Err(JsError::new(&format!(
            "expected {} class scores ({} models × {} questions × 10), got {}",
            models.len() * per_model,
            models.len(),
            truth.len(),
            probabilities.len()
        )));
    }
    let predictions: Vec<(String, Vec<u8>)> = models
        .into_iter()
        .zip(probabilities.chunks(per_model.max(1)))
        .map(|(m, p)| (m, argmax_rows(p, NUM_CLASSES)))
        .collect();
    let result =
        crate::report::quiz::score_quiz(truth, answers, &predictions).map_err(super::js_error)?;
    to_js(&result)
}

/// Accuracy against ε: `truth` (n labels) and, for each of `models` (the attacked model first), its
/// class scores for the n images perturbed at each of `epsilons` in turn (ten per image, its answer
/// being its top class): returns `{epsilons, images, models, figure}` (`report::robustness`).
#[wasm_bindgen(js_name = robustnessFigure)]
pub fn robustness_figure(
    method: &str,
    truth: &[u8],
    epsilons: &[u8],
    models: Vec<String>,
    probabilities: &[f32],
) -> Result<JsValue, JsError> {
    let per_eps = truth.len() * NUM_CLASSES;
    let per_model = per_eps * epsilons.len();
    if probabilities.len() != models.len() * per_model {
        return Err(JsError::new(&format!(
            "expected {} class scores ({} models × {} budgets × {} images × 10), got {}",
            models.len() * per_model,
            models.len(),
            epsilons.len(),
            truth.len(),
            probabilities.len()
        )));
    }
    let predictions: Vec<(String, Vec<Vec<u8>>)> = models
        .into_iter()
        .zip(probabilities.chunks(per_model.max(1)))
        .map(|(m, p)| {
            let per_eps = p
                .chunks(per_eps.max(1))
                .map(|p| argmax_rows(p, NUM_CLASSES))
                .collect();
            (m, per_eps)
        })
        .collect();
    let result = crate::report::robustness::robustness(method, truth, epsilons, &predictions)
        .map_err(super::js_error)?;
    to_js(&result)
}

fn summary_from_js(value: JsValue) -> Result<crate::report::summary::ModelSummary, JsError> {
    let json = js_sys::JSON::stringify(&value)
        .map_err(|_| JsError::new("a model summary must be a JSON object"))?;
    serde_json::from_str(&String::from(json))
        .map_err(|e| JsError::new(&format!("not a model summary: {e}")))
}
