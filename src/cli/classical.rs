//! The CLI's classical-model commands: `train --model logreg|svm|rf|knn|classical` and their evaluation.

use std::path::Path;

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use crate::classical::{ClassicalConfig, ClassicalKind, ClassicalModel, Overrides};
use crate::cli::store::{check_reproduced, save_model, weights_dir};
use crate::cli::{CliError, TrainArgs, git_rev, load_train_test, machine};
use crate::data::{Dataset, Split, local};
use crate::metrics::Report;
use crate::report::summary::{ModelSummary, TestResults};

/// The classical models named by `--model`, or `None` when it names deep models.
pub(crate) fn classical_kinds(name: &str) -> Option<Vec<ClassicalKind>> {
    if name == "classical" {
        return Some(ClassicalKind::ALL.to_vec());
    }
    ClassicalKind::parse(name).map(|k| vec![k])
}

/// The recipe with the command line's overrides.
fn configure(kind: ClassicalKind, args: &TrainArgs) -> Result<ClassicalConfig, CliError> {
    let overrides = Overrides {
        features: args.features.clone(),
        pca: args.pca,
        per_class: args.per_class,
        trees: args.trees,
        k: args.k,
        seed: Some(args.seed),
    };
    Ok(ClassicalConfig::with_overrides(kind, &overrides)?)
}

/// Trains each classical model on the training set (all of it, or `--train-size`), saves
/// `<out>/<model>.model`, reloads it, scores the test set and writes `<out>/<model>.json` and the report.
pub(crate) fn train(kinds: &[ClassicalKind], args: &TrainArgs) -> Result<(), CliError> {
    let (train_set, test) = load_train_test(args)?;
    for &kind in kinds {
        let config = configure(kind, args)?;
        eprintln!(
            "training {} on {} images: {}",
            kind.name(),
            train_set.len(),
            config.features.describe()
        );
        let summary = train_one(kind, &config, &train_set, &test, args)?;
        eprintln!(
            "{}: test accuracy {:.2}%, fit {:.1} s, predict {:.1} s",
            kind.name(),
            100.0 * summary.test.accuracy,
            summary.train_seconds,
            summary
                .timings
                .as_ref()
                .and_then(|t| t["predict_seconds"].as_f64())
                .unwrap_or(0.0)
        );
    }
    Ok(())
}

fn train_one(
    kind: ClassicalKind,
    config: &ClassicalConfig,
    train_set: &Dataset,
    test: &Dataset,
    args: &TrainArgs,
) -> Result<ModelSummary, CliError> {
    let git_rev = git_rev();
    let bar = ProgressBar::new(1000);
    if args.quiet {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix:>6} {msg:9} [{bar:30}] {percent}% elapsed {elapsed} ETA {eta}",
        )
        .expect("template")
        .progress_chars("=> "),
    );
    bar.set_prefix(kind.name());
    let (model, times) = ClassicalModel::fit(config, train_set, &mut |p| {
        bar.set_message(p.stage);
        // Features take the first tenth of the bar, the estimator the rest.
        let done = if p.stage == "features" {
            0.0
        } else {
            0.1 + 0.9 * p.fraction
        };
        bar.set_position((done * 1000.0) as u64);
        true
    })?;
    bar.finish_and_clear();
    // Save, reload from those very bytes, and score the test set with what is shipped.
    let bytes = model.to_bytes();
    let shipped = ClassicalModel::from_bytes(&bytes, Some(kind))?;
    let started = web_time::Instant::now();
    let predicted = shipped.predict(test.pixels())?;
    let predict_seconds = started.elapsed().as_secs_f64();
    let report = Report::new(test.labels(), &predicted)?;
    let mut summary = ModelSummary {
        model: kind.name().into(),
        config: shipped.config_json(),
        train_config: json!({ "train_size": train_set.len(), "recipe": config }),
        params: shipped.params(),
        history: Vec::new(),
        best_epoch: 0,
        cancelled: false,
        test: TestResults::with_predictions(report, &predicted),
        train_seconds: times.features + times.estimator,
        images_per_second: 0.0,
        backend: "cpu (ndarray + linfa)".into(),
        seed: args.seed,
        git_rev,
        machine: machine(),
        timings: Some(json!({
            "features_seconds": times.features,
            "estimator_seconds": times.estimator,
            "fit_seconds": times.features + times.estimator,
            "predict_seconds": predict_seconds,
            "predict_images": test.len(),
            "model_bytes": bytes.len(),
        })),
        model_sha256: None,
    };
    save_model(&mut summary, kind.title(), args, "model", &bytes)?;
    Ok(summary)
}

/// `fashionlab evaluate --model logreg|svm|rf|knn`: reloads the shipped model and checks that it
/// reproduces the recorded test metrics exactly.
pub(crate) fn evaluate(
    kind: ClassicalKind,
    data: Option<&Path>,
    dir: &Path,
    record: bool,
) -> Result<(), CliError> {
    let files =
        crate::cli::store::load_model_files(&weights_dir(dir), kind.name(), "model", record)?;
    let model = ClassicalModel::from_bytes(&files.model_file, Some(kind)).map_err(|e| {
        CliError::Corrupt {
            path: files.model_path.display().to_string(),
            message: e.to_string(),
        }
    })?;
    let test = local::load_split(&local::locate(data)?, Split::Test)?;
    check_reproduced(
        kind.name(),
        &files,
        test.labels(),
        &model.predict(test.pixels())?,
        record,
    )
}
