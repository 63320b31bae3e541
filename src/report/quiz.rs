//! Human against machine: a short quiz of test images, the visitor's answers scored and set beside every
//! model's answers to the same images and beside the published human baseline.

use serde::Serialize;
use serde_json::json;
use thiserror::Error;

use crate::data::NUM_CLASSES;
use crate::metrics::Report;
use crate::report::plot::Figure;
use crate::report::summary::confusion_figure;
use crate::rng::Rng;

/// Fashion-MNIST's published human performance: crowd-sourced labels (people with no fashion
/// expertise, three labels per image, the majority kept) on 1,000 test images, 83.5% right (the
/// dataset's README, "Human Performance").
pub(crate) const HUMAN_BASELINE: f64 = 0.835;

/// Errors of the quiz.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum QuizError {
    /// No question was answered.
    #[error("the quiz has no answers")]
    Empty,
    /// The answers and the true labels differ in number.
    #[error("{answers} answers for {questions} questions")]
    Count {
        /// Answers given.
        answers: usize,
        /// Questions asked.
        questions: usize,
    },
    /// A model's predictions are not one per question.
    #[error("{model}: {found} predictions for {questions} questions")]
    Predictions {
        /// The model.
        model: String,
        /// Predictions given.
        found: usize,
        /// Questions asked.
        questions: usize,
    },
    /// A class outside 0..=9.
    #[error("class {0} is outside 0..=9")]
    Class(u8),
}

/// `per_class` images of each class among `labels`, shuffled by `seed`: the quiz's questions, as
/// indices into the dataset. A class with fewer images gives what it has.
pub(crate) fn quiz_items(labels: &[u8], per_class: usize, seed: u64) -> Vec<usize> {
    let mut rng = Rng::new(seed);
    let mut items = Vec::with_capacity(per_class * NUM_CLASSES);
    for class in 0..NUM_CLASSES as u8 {
        let mut of_class: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == class).collect();
        rng.shuffle(&mut of_class);
        items.extend(of_class.into_iter().take(per_class));
    }
    rng.shuffle(&mut items);
    items
}

/// The quiz scored: the visitor's accuracy, each model's on the same images, and the figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuizResult {
    /// Questions answered.
    pub asked: usize,
    /// Answered right.
    pub right: usize,
    /// `right / asked`.
    pub accuracy: f64,
    /// Each model's name and accuracy on the same images, in the order given.
    pub models: Vec<(String, f64)>,
    /// The published human baseline ([`HUMAN_BASELINE`]).
    pub human_baseline: f64,
    /// Accuracy beside the models' and the baseline; the visitor's confusion matrix; the first
    /// model's.
    pub figures: Vec<Figure>,
}

/// Scores `answers` against `truth` and sets them beside each model's `predictions` on the same
/// images (`(name, one class per question)`); the first model's confusion matrix is drawn beside the
/// visitor's.
pub fn score_quiz(
    truth: &[u8],
    answers: &[u8],
    predictions: &[(String, Vec<u8>)],
) -> Result<QuizResult, QuizError> {
    if answers.is_empty() {
        return Err(QuizError::Empty);
    }
    if answers.len() != truth.len() {
        return Err(QuizError::Count {
            answers: answers.len(),
            questions: truth.len(),
        });
    }
    if let Some(&c) = truth
        .iter()
        .chain(answers)
        .chain(predictions.iter().flat_map(|(_, p)| p))
        .find(|&&c| c as usize >= NUM_CLASSES)
    {
        return Err(QuizError::Class(c));
    }
    if let Some((model, p)) = predictions.iter().find(|(_, p)| p.len() != truth.len()) {
        return Err(QuizError::Predictions {
            model: model.clone(),
            found: p.len(),
            questions: truth.len(),
        });
    }
    let report = |predicted: &[u8]| Report::new(truth, predicted).expect("checked above");
    let you = report(answers);
    let right = truth.iter().zip(answers).filter(|(t, a)| t == a).count();
    let models: Vec<(String, f64)> = predictions
        .iter()
        .map(|(name, p)| (name.clone(), report(p).accuracy))
        .collect();
    let mut names = vec!["You".to_string()];
    names.extend(models.iter().map(|(n, _)| n.clone()));
    let mut accuracies = vec![you.accuracy];
    accuracies.extend(models.iter().map(|(_, a)| *a));
    let colours: Vec<&str> = (0..names.len())
        .map(|i| if i == 0 { "#e45756" } else { "#4c78a8" })
        .collect();
    let mut figures = vec![Figure::new(
        "quiz-accuracy",
        &format!(
            "You and the models on the same {} images (dashed: people, {:.1}%)",
            truth.len(),
            100.0 * HUMAN_BASELINE
        ),
        vec![json!({
            "type": "bar", "x": names, "y": accuracies, "marker": {"color": colours},
            "text": accuracies.iter().map(|a| format!("{:.0}%", 100.0 * a)).collect::<Vec<_>>(),
            "textposition": "outside",
        })],
        json!({
            "yaxis": {"range": [0, 1.1], "tickformat": ".0%"},
            "shapes": [{"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": HUMAN_BASELINE,
                        "y1": HUMAN_BASELINE, "line": {"dash": "dash", "color": "#444"}}],
            "height": 360,
        }),
    )];
    figures.push(confusion_figure(
        "quiz-you-confusion",
        "Your confusion matrix",
        &you.confusion_matrix,
        "answers",
    ));
    if let Some((name, p)) = predictions.first() {
        figures.push(confusion_figure(
            "quiz-model-confusion",
            &format!("{name}'s confusion matrix on the same images"),
            &report(p).confusion_matrix,
            "answers",
        ));
    }
    Ok(QuizResult {
        asked: truth.len(),
        right,
        accuracy: right as f64 / truth.len() as f64,
        models,
        human_baseline: HUMAN_BASELINE,
        figures,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_are_balanced_distinct_and_seeded() {
        let labels: Vec<u8> = (0..1000).map(|i| (i % 10) as u8).collect();
        let items = quiz_items(&labels, 2, 7);
        assert_eq!(items.len(), 20);
        let mut counts = [0; 10];
        for &i in &items {
            counts[labels[i] as usize] += 1;
        }
        assert_eq!(counts, [2; 10]);
        let mut sorted = items.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 20);
        assert_eq!(quiz_items(&labels, 2, 7), items);
        assert_ne!(quiz_items(&labels, 2, 8), items);
        // A class with one image gives that one.
        let few = [0u8, 1, 1, 1];
        assert_eq!(quiz_items(&few, 2, 1).len(), 3);
    }

    #[test]
    fn the_score_counts_the_answers_given() {
        let truth = [0u8, 1, 2, 3, 1];
        let answers = [0u8, 1, 1, 3, 0];
        let cnn = vec![0u8, 1, 2, 3, 1];
        let r = score_quiz(&truth, &answers, &[("CNN".into(), cnn)]).unwrap();
        assert_eq!((r.asked, r.right), (5, 3));
        assert!((r.accuracy - 0.6).abs() < 1e-12);
        assert_eq!(r.models, vec![("CNN".to_string(), 1.0)]);
        assert_eq!(r.figures.len(), 3);
        assert_eq!(r.figures[0].data[0]["y"], json!([0.6, 1.0]));
        // The visitor's confusion matrix: true Pullover answered Trouser; true Trouser once T-shirt.
        let text = &r.figures[1].data[0]["text"];
        assert_eq!(text[2][1], "1");
        assert_eq!(text[1][0], "1");
        assert_eq!(text[1][1], "1");
        assert_eq!(r.figures[2].data[0]["text"][2][2], "1");
        assert_eq!(
            score_quiz(&truth, &answers[..4], &[]).unwrap_err(),
            QuizError::Count {
                answers: 4,
                questions: 5
            }
        );
        assert_eq!(score_quiz(&[], &[], &[]).unwrap_err(), QuizError::Empty);
        assert_eq!(
            score_quiz(&truth, &[0, 1, 2, 3, 10], &[]).unwrap_err(),
            QuizError::Class(10)
        );
        assert!(matches!(
            score_quiz(&truth, &answers, &[("k-NN".into(), vec![0])]).unwrap_err(),
            QuizError::Predictions { .. }
        ));
    }
}
