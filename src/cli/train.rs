//! The CLI's deep-model commands: `train`, `evaluate`, `bench` and `classify` (native only).

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::cli::store::{check_reproduced, read_file, save_model, weights_dir};
use crate::cli::{CliError, TrainArgs, git_rev, load_train_test, machine};
use crate::data::split::{SplitConfig, stratified_split};
use crate::data::{CLASS_NAMES, Dataset, NUM_CLASSES, Split, local};
use crate::deep::backend::BackendKind;
use crate::deep::models::{DeepModelConfig, DeepModelKind};
use crate::deep::recipe::{Recipe, RecipeEdits, faithful_cnn, recipe};
use crate::deep::train::{
    Distillation, OptimizerKind, Step, TrainConfig, Trainer, block_on, predict_probabilities,
};
use crate::deep::weights;
use crate::metrics::{Report, argmax_rows};
use crate::photo::{Photo, PrepareConfig, prepare_image};
use crate::report::summary::{ModelSummary, TestResults};

/// The recipe `train` starts from: the shipped one, or with `--faithful` the study's exact CNN.
fn base_recipe(kind: DeepModelKind, faithful: bool) -> Recipe {
    if faithful && kind == DeepModelKind::Cnn {
        faithful_cnn()
    } else {
        recipe(kind)
    }
}

fn model_kinds(name: &str) -> Result<Vec<DeepModelKind>, CliError> {
    if name == "all" {
        return Ok(DeepModelKind::ALL.to_vec());
    }
    name.parse::<DeepModelKind>()
        .map(|k| vec![k])
        .map_err(|e| CliError::Usage(e.to_string()))
}

fn device(backend: &str) -> Result<(BackendKind, Device), CliError> {
    let kind: BackendKind = backend.parse()?;
    Ok((kind, kind.device()?))
}

/// The training set with `per_image × len` photo-style copies of its images added (items drawn at
/// random by `seed`, each photo seeded by its position), every copy sent through the photo path.
fn with_training_photos(
    train: &Dataset,
    per_image: f64,
    ranges: crate::photo::synth::TrainingRanges,
    seed: u64,
) -> Result<Dataset, CliError> {
    if !(0.0..=2.0).contains(&per_image) {
        return Err(CliError::Usage(format!(
            "--photos {per_image} is outside 0..=2"
        )));
    }
    let count = (per_image * train.len() as f64).round() as usize;
    let mut order: Vec<usize> = (0..train.len()).collect();
    crate::rng::Rng::new(seed ^ 0x9407_0500).shuffle(&mut order);
    let indices: Vec<usize> = (0..count).map(|i| order[i % order.len()]).collect();
    let started = std::time::Instant::now();
    let photos = crate::photo::synth::training_photos(train, &indices, ranges, seed);
    eprintln!(
        "photo-style augmentation: {} photos of training items ({} without an item found, left out), {:.0} s",
        photos.len(),
        count - photos.len(),
        started.elapsed().as_secs_f64()
    );
    let mut images = train.pixels().to_vec();
    images.extend_from_slice(photos.pixels());
    let mut labels = train.labels().to_vec();
    labels.extend_from_slice(photos.labels());
    Ok(Dataset::new(images, labels)?)
}

/// `fashionlab train` for deep models.
pub(crate) fn train(args: &TrainArgs) -> Result<(), CliError> {
    let kinds = model_kinds(&args.model)?;
    if let Some(name) = &args.name {
        let (kind, _) = deep_model_name(name)?;
        if kinds != [kind] {
            return Err(CliError::Usage(format!(
                "--name {name} needs --model {}",
                kind.name()
            )));
        }
    }
    let (backend, device) = device(&args.backend)?;
    let (full, test) = load_train_test(args)?;
    let split = stratified_split(
        full.labels(),
        &SplitConfig {
            seed: args.seed,
            ..SplitConfig::default()
        },
    )?;
    let (mut train_set, val_set) = (full.subset(&split.train), full.subset(&split.validation));
    if args.photos > 0.0 {
        train_set = with_training_photos(
            &train_set,
            args.photos,
            args.photo_ranges.ranges(),
            args.seed,
        )?;
    }
    // Ctrl-C stops after the current batch and keeps the best epoch so far (a second Ctrl-C kills).
    let interrupted = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    {
        let flag = interrupted.clone();
        let _ = ctrlc::set_handler(move || {
            if flag.swap(true, std::sync::atomic::Ordering::SeqCst) {
                std::process::exit(130);
            }
            eprintln!(
                "\ninterrupted: stopping after this batch and keeping the best epoch so far (Ctrl-C again to abort)"
            );
        });
    }
    for kind in kinds {
        if interrupted.load(std::sync::atomic::Ordering::SeqCst) {
            break;
        }
        let mut base = base_recipe(kind, args.faithful);
        let init = match &args.init_from {
            Some(path) => {
                let bytes = read_file(path)?;
                let (header, _) =
                    weights::read_header(&bytes).map_err(|source| CliError::Weights {
                        path: path.display().to_string(),
                        source,
                    })?;
                base.architecture = header.config;
                Some((path, bytes))
            }
            None => None,
        };
        let edits = RecipeEdits {
            epochs: args.epochs,
            batch_size: Some(args.batch),
            learning_rate: args.lr,
            augment: args.augment.clone(),
            batch_norm: args.batch_norm.then_some(true),
            width: args.width,
            depth: args.depth,
            optimizer: match args.optimizer.as_deref() {
                None => None,
                Some("adamw") => Some(OptimizerKind::AdamW),
                Some("sgd") => Some(OptimizerKind::Sgd),
                Some(other) => {
                    return Err(CliError::Usage(format!(
                        "unknown optimizer {other:?}: adamw or sgd"
                    )));
                }
            },
            seed: Some(args.seed),
            ..RecipeEdits::default()
        };
        let Recipe {
            architecture: model_config,
            train: config,
        } = base
            .edited(&edits)
            .map_err(|e| CliError::Usage(e.to_string()))?;
        eprintln!(
            "training {} on {} images ({} validation), {} epochs, batch {}, backend {backend}",
            kind.name(),
            train_set.len(),
            val_set.len(),
            config.epochs,
            config.batch_size
        );
        let summary = train_one(
            &interrupted,
            kind,
            &model_config,
            config,
            &train_set,
            &val_set,
            &test,
            backend,
            &device,
            init.as_ref().map(|(_, b)| b.as_slice()),
            args,
        )?;
        eprintln!(
            "{}: test accuracy {:.2}% (best epoch {}), {:.0} s, {:.0} images/s",
            kind.name(),
            100.0 * summary.test.accuracy,
            summary.best_epoch,
            summary.train_seconds,
            summary.images_per_second
        );
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn train_one(
    interrupted: &std::sync::atomic::AtomicBool,
    kind: DeepModelKind,
    model_config: &DeepModelConfig,
    config: TrainConfig,
    train_set: &Dataset,
    val_set: &Dataset,
    test: &Dataset,
    backend: BackendKind,
    device: &Device,
    init_from: Option<&[u8]>,
    args: &TrainArgs,
) -> Result<ModelSummary, CliError> {
    let norm = config.normalization;
    let git_rev = git_rev(); // the code that trains, read before training starts
    let mut train_config_json = serde_json::to_value(&config).expect("config serialises");
    // How the run differs from a fresh one on the plain training set, so that `train` can redo it.
    if args.photos > 0.0 {
        train_config_json["photos_per_image"] = args.photos.into();
        train_config_json["photo_ranges"] = args.photo_ranges.name().into();
    }
    if let Some(path) = &args.init_from {
        train_config_json["init_from"] = path.display().to_string().into();
    }
    let distillation = Distillation {
        weight: args.distill_weight,
        temperature: args.distill_temperature,
    };
    if let Some(path) = &args.teacher {
        train_config_json["teacher"] = path.display().to_string().into();
        train_config_json["distillation"] =
            serde_json::to_value(distillation).expect("settings serialise");
    }
    let epochs = config.epochs;
    let mut trainer = Trainer::new(
        model_config,
        config,
        train_set.clone(),
        val_set.clone(),
        device,
    )?;
    if let Some(bytes) = init_from {
        trainer
            .init_from(bytes)
            .map_err(|source| CliError::Weights {
                path: args
                    .init_from
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
                source,
            })?;
    }
    if let Some(path) = &args.teacher {
        let bytes = read_file(path)?;
        let weights_error = |source| CliError::Weights {
            path: path.display().to_string(),
            source,
        };
        let (teacher, header) = weights::load(&bytes, None, device).map_err(weights_error)?;
        if header.normalization != norm {
            return Err(CliError::Usage(format!(
                "--teacher {} expects {:?} inputs, the student {norm:?}",
                path.display(),
                header.normalization
            )));
        }
        trainer.distill_from(teacher, distillation)?;
    }
    let bars = MultiProgress::new();
    if args.quiet {
        bars.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let epoch_bar = bars.add(ProgressBar::new(epochs as u64));
    epoch_bar.set_style(
        ProgressStyle::with_template("{prefix:>6} epoch {pos}/{len} [{bar:30}] ETA {eta} {msg}")
            .expect("template")
            .progress_chars("=> "),
    );
    epoch_bar.set_prefix(kind.name());
    let batch_bar = bars.add(ProgressBar::new(1));
    batch_bar.set_style(
        ProgressStyle::with_template("       batch {pos}/{len} [{bar:30}] {msg}")
            .expect("template")
            .progress_chars("=> "),
    );
    loop {
        if interrupted.load(std::sync::atomic::Ordering::SeqCst) {
            break;
        }
        match block_on(trainer.step())? {
            Step::Batch(p) => {
                batch_bar.set_length(p.batches as u64);
                batch_bar.set_position(p.batch as u64);
                batch_bar.set_message(format!(
                    "loss {:.4} acc {:.2}% | {:.0} img/s | total ETA {:.0} s",
                    p.loss,
                    100.0 * p.accuracy,
                    p.images_per_second,
                    p.eta_seconds
                ));
            }
            Step::Epoch(r) => {
                epoch_bar.inc(1);
                let line = format!(
                    "epoch {:>3}: train loss {:.4} acc {:.2}% | val loss {:.4} acc {:.2}% | lr {:.2e} | {:.1} s",
                    r.epoch,
                    r.train_loss,
                    100.0 * r.train_accuracy,
                    r.val_loss,
                    100.0 * r.val_accuracy,
                    r.learning_rate,
                    r.seconds
                );
                epoch_bar.set_message(format!("val {:.2}%", 100.0 * r.val_accuracy));
                if args.quiet {
                    eprintln!("{line}")
                } else {
                    bars.println(line).ok();
                }
            }
            Step::Finished => break,
        }
    }
    batch_bar.finish_and_clear();
    epoch_bar.finish();
    let images_per_second = trainer.progress().images_per_second;
    let outcome = trainer.finish();

    // Save in f16, reload from those very bytes, and score the test set with what is shipped.
    let bytes =
        weights::save(&outcome.model, model_config, norm).map_err(|source| CliError::Weights {
            path: "(new)".into(),
            source,
        })?;
    let name = args.name.clone().unwrap_or_else(|| kind.name().to_string());
    let weights_path = args.out.join(format!("{name}.weights"));
    let (shipped, _) =
        weights::load(&bytes, Some(kind), device).map_err(|source| CliError::Weights {
            path: weights_path.display().to_string(),
            source,
        })?;
    let probs = block_on(predict_probabilities(
        &shipped,
        test.pixels(),
        norm,
        device,
        500,
    ))?;
    let predicted = argmax_rows(&probs, NUM_CLASSES);
    let report = Report::new(test.labels(), &predicted)?;
    let mut summary = ModelSummary {
        model: name.clone(),
        config: serde_json::to_value(model_config).expect("config serialises"),
        train_config: train_config_json,
        params: burn::module::Module::num_params(&shipped),
        history: outcome.history,
        best_epoch: outcome.best_epoch,
        cancelled: outcome.cancelled,
        test: TestResults::with_predictions(report, &predicted),
        train_seconds: outcome.seconds,
        images_per_second,
        backend: backend.name().into(),
        seed: args.seed,
        git_rev,
        machine: machine(),
        timings: None,
        model_sha256: None,
    };
    save_model(&mut summary, &name.to_uppercase(), args, "weights", &bytes)?;
    Ok(summary)
}

/// `fashionlab bench`: the Keras reference's settings, one JSON line per epoch.
pub(crate) fn bench(
    model: &str,
    epochs: usize,
    batch: usize,
    backend: &str,
    data: Option<&Path>,
) -> Result<(), CliError> {
    let kind: DeepModelKind = model
        .parse()
        .map_err(|e: crate::deep::models::ModelError| CliError::Usage(e.to_string()))?;
    let (backend_kind, device) = device(backend)?;
    let dir = local::locate(data)?;
    let train_set = local::load_split(&dir, Split::Train)?;
    let test = local::load_split(&dir, Split::Test)?;
    let model_config = base_recipe(kind, true).architecture;
    let config = TrainConfig {
        epochs,
        batch_size: batch,
        learning_rate: 1e-3,
        weight_decay: 0.0,
        warmup_epochs: 0.0,
        label_smoothing: 0.0,
        augment: crate::deep::input::AugmentConfig::none(),
        ..TrainConfig::default()
    };
    let params = burn::module::Module::num_params(&model_config.init(&Device::flex())?);
    // Keras fits all 60,000 images and evaluates on the test set: the test set stands in for validation.
    let n_train = train_set.len();
    let mut trainer = Trainer::new(&model_config, config, train_set, test, &device)?;
    // rayon's pool: RAYON_NUM_THREADS where set, else every core.
    let threads = crate::parallel::threads();
    // The epoch's mean milliseconds a batch by stage, from its last batch's progress (CPU only).
    let mut stages = serde_json::Value::Null;
    loop {
        match block_on(trainer.step())? {
            Step::Batch(p) => {
                stages = p
                    .timing
                    .iter()
                    .map(|t| serde_json::json!([t.pass, t.name, round2(t.millis)]))
                    .collect();
            }
            Step::Epoch(r) => {
                println!(
                    "{}",
                    serde_json::json!({"epoch": r.epoch, "train_s": round2(r.train_seconds),
                        "images_per_s": (n_train as f64 / r.train_seconds).round(),
                        "eval_s": round2(r.seconds - r.train_seconds),
                        "loss": round4(r.train_loss), "train_acc": round4(r.train_accuracy), "test_acc": round4(r.val_accuracy),
                        "model": kind.name(), "batch": batch, "threads": threads, "backend": backend_kind.name(),
                        "params": params, "batch_ms_by_stage": stages})
                );
            }
            Step::Finished => break,
        }
    }
    Ok(())
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

fn round4(v: f64) -> f64 {
    (v * 10_000.0).round() / 10_000.0
}

/// A shipped deep model's name, `cnn`, `resnet` or `mlp`, or one of their photo-trained variants
/// (`cnn-photo`, `resnet-photo`): its kind and the stem of its files.
pub(crate) fn deep_model_name(name: &str) -> Result<(DeepModelKind, String), CliError> {
    let base = name.strip_suffix(PHOTO_SUFFIX).unwrap_or(name);
    let kind: DeepModelKind = base
        .parse()
        .map_err(|e: crate::deep::models::ModelError| CliError::Usage(e.to_string()))?;
    Ok((kind, name.to_string()))
}

/// The file-name suffix of a photo-trained variant (`cnn-photo.weights`).
pub(crate) const PHOTO_SUFFIX: &str = "-photo";

/// Loads `<dir>/<name>.weights`, which must hold a `kind` model.
pub(crate) fn load_model(
    kind: DeepModelKind,
    name: &str,
    dir: &Path,
    device: &Device,
) -> Result<(crate::deep::models::DeepModel, weights::WeightsHeader), CliError> {
    let path = weights_dir(dir).join(format!("{name}.weights"));
    weights::load(&read_file(&path)?, Some(kind), device).map_err(|source| CliError::Weights {
        path: path.display().to_string(),
        source,
    })
}

/// `fashionlab evaluate` for deep models: reloads the shipped weights and checks the recorded test
/// metrics.
pub(crate) fn evaluate(
    model: &str,
    data: Option<&Path>,
    dir: &Path,
    backend: &str,
    record: bool,
) -> Result<(), CliError> {
    let (kind, name) = deep_model_name(model)?;
    let (_, device) = device(backend)?;
    let files = crate::cli::store::load_model_files(&weights_dir(dir), &name, "weights", record)?;
    let (net, header) =
        weights::load(&files.model_file, Some(kind), &device).map_err(|source| {
            CliError::Weights {
                path: files.model_path.display().to_string(),
                source,
            }
        })?;
    let test = local::load_split(&local::locate(data)?, Split::Test)?;
    let probs = block_on(predict_probabilities(
        &net,
        test.pixels(),
        header.normalization,
        &device,
        500,
    ))?;
    check_reproduced(
        &name,
        &files,
        test.labels(),
        &argmax_rows(&probs, NUM_CLASSES),
        record,
    )
}

/// `fashionlab classify`: each picture through the photo path, then the model. A picture in which no
/// item is found says so instead of naming a class.
pub(crate) fn classify(
    images: &[PathBuf],
    model: &str,
    dir: &Path,
    json: bool,
) -> Result<(), CliError> {
    let (kind, name) = deep_model_name(model)?;
    let device = Device::flex();
    let (net, header) = load_model(kind, &name, dir, &device)?;
    let mut pixels = Vec::new();
    let mut prepared = Vec::new();
    for path in images {
        let image = Photo::decode(&read_file(path)?).map_err(|source| CliError::Image {
            path: path.display().to_string(),
            source,
        })?;
        let p = prepare_image(&image, &PrepareConfig::default());
        pixels.extend_from_slice(&p.pixels);
        prepared.push(p);
    }
    let probs = block_on(predict_probabilities(
        &net,
        &pixels,
        header.normalization,
        &device,
        256,
    ))?;
    let results: Vec<serde_json::Value> = images
        .iter()
        .zip(probs.chunks_exact(NUM_CLASSES))
        .zip(&prepared)
        .map(|((path, p), prep)| {
            let class = argmax_rows(p, NUM_CLASSES)[0] as usize;
            let mut r = serde_json::json!({
                "file": path.display().to_string(),
                "item_found": prep.item_found,
                "verdict": prep.verdict,
                "bbox": prep.bbox,
                "probabilities": p,
            });
            if prep.item_found {
                r["class_index"] = class.into();
                r["class"] = CLASS_NAMES[class].into();
            }
            r
        })
        .collect();
    if json {
        println!("{}", serde_json::to_string(&results).expect("json"));
    } else {
        for (r, prep) in results.iter().zip(&prepared) {
            let file = r["file"].as_str().unwrap_or("");
            match r["class_index"].as_u64() {
                Some(i) => println!(
                    "{file}: {} ({:.1}%)",
                    CLASS_NAMES[i as usize],
                    100.0 * r["probabilities"][i as usize].as_f64().unwrap_or(0.0)
                ),
                None => println!("{file}: {}", prep.verdict.message()),
            }
        }
    }
    Ok(())
}
