//! The native CLI: `fashionlab train | evaluate | classify | analyze | download | sample`.

mod attack;
mod classical;
mod map;
mod photos;
pub mod store;
mod train;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::data::{
    self, DataError, Dataset, OFFICIAL_FILES, SAMPLE_IMAGES, SAMPLE_LABELS, Split, local,
};
use crate::report::analysis::{DatasetStats, analysis_figures};
use crate::report::plot::html_report;

/// Fashion Lab: train, compare and explain Fashion-MNIST classifiers.
#[derive(Debug, Parser)]
#[command(name = "fashionlab", version, about)]
pub(crate) struct Cli {
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// CLI subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Trains models on the full training set and writes pretrained/<model>.weights (.model for the
    /// classical models) and .json.
    Train(Box<TrainArgs>),
    /// Reloads shipped weights and reproduces the recorded test metrics exactly.
    Evaluate {
        /// Model to evaluate: cnn, resnet, mlp, logreg, svm, rf or knn.
        #[arg(long, default_value = "cnn")]
        model: String,
        /// Directory with the four official .gz files.
        #[arg(long)]
        data: Option<PathBuf>,
        /// Directory of the pretrained files.
        #[arg(long, default_value = "pretrained")]
        weights: PathBuf,
        /// Backend: flex, wgpu or ndarray.
        #[arg(long, default_value = "flex")]
        backend: String,
        /// Once the metrics are reproduced, write into the summary what it lacks from before the field
        /// existed: the per-image test predictions and the model file's SHA-256; nothing else changes.
        /// Without it, a summary that records no digest is refused.
        #[arg(long)]
        record: bool,
    },
    /// Prints a deep model's training recipe: the one `train` uses, and the page trains with by default.
    /// `--model all --json` prints every recipe with the bounds of each field (www/recipes.json).
    Recipe {
        /// cnn, resnet, mlp or all.
        #[arg(long, default_value = "all")]
        model: String,
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Classifies image files (PNG, JPEG, WebP, any size) through the same preprocessing as the browser.
    Classify {
        /// Image files.
        #[arg(required = true)]
        images: Vec<PathBuf>,
        /// Model: cnn, resnet or mlp, or a photo-trained variant (cnn-photo, resnet-photo).
        #[arg(long, default_value = "cnn")]
        model: String,
        /// Directory of the pretrained files.
        #[arg(long, default_value = "pretrained")]
        weights: PathBuf,
        /// Print one JSON array, one object per image in argument order.
        #[arg(long)]
        json: bool,
    },
    /// Training-speed benchmark of the study's faithful CNN (or another model) with the settings of the
    /// Keras reference (`../shared/bench/peers/keras_cnn.py`): Adam 1e-3, no augmentation, all 60,000
    /// images. Prints one JSON object per epoch.
    Bench {
        /// cnn, resnet or mlp.
        #[arg(long, default_value = "cnn")]
        model: String,
        /// Epochs.
        #[arg(long, default_value_t = 2)]
        epochs: usize,
        /// Batch size.
        #[arg(long, default_value_t = 128)]
        batch: usize,
        /// Backend: flex, wgpu or ndarray.
        #[arg(long, default_value = "flex")]
        backend: String,
        /// Directory with the four official .gz files.
        #[arg(long)]
        data: Option<PathBuf>,
    },
    /// Dataset analysis: prints summary statistics and writes an HTML report with the Plotly charts.
    Analyze {
        /// Directory with the four official .gz files (default: $FASHION_MNIST_DIR, then /usr/share/datasets/fashion-mnist).
        #[arg(long)]
        data: Option<PathBuf>,
        /// Which split to analyse.
        #[arg(long, value_enum, default_value = "train")]
        split: SplitArg,
        /// Where to write the HTML report.
        #[arg(long, default_value = "fashionlab-analysis.html")]
        out: PathBuf,
        /// Sample images shown per class.
        #[arg(long, default_value_t = 10)]
        samples: usize,
        /// plotly.min.js to inline into the report (default: node_modules/plotly.js-dist-min/plotly.min.js).
        #[arg(long)]
        plotly: Option<PathBuf>,
        /// Print the statistics as JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Downloads the four official files, verifying each SHA-256 before it is moved into place.
    Download {
        /// Destination directory (default: $FASHION_MNIST_DIR, else ./data/fashion-mnist).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Base URL of the files.
        #[arg(long, default_value = DOWNLOAD_BASE_URL)]
        base_url: String,
    },
    /// Synthetic photos of test items: the photo benchmark, or the photos as files.
    Photos {
        /// What to do with them.
        #[command(subcommand)]
        action: PhotosCommand,
    },
    /// Adversarial examples against one shipped deep model on the first test images (FGSM, PGD or
    /// random ±ε noise), and every shipped model's accuracy on them at each ε.
    Attack {
        /// The attacked model: cnn, resnet, mlp, or a photo-trained variant (cnn-photo, resnet-photo).
        #[arg(long, default_value = "cnn")]
        model: String,
        /// fgsm, pgd or noise.
        #[arg(long, default_value = "pgd")]
        method: String,
        /// The budgets ε, on the 0..=255 pixel scale (at most 64).
        #[arg(long, value_delimiter = ',', default_value = "0,1,2,4,8,16,32")]
        epsilons: Vec<u8>,
        /// How many test images (the first ones).
        #[arg(long, default_value_t = 1000)]
        images: usize,
        /// PGD's steps.
        #[arg(long, default_value_t = 10)]
        steps: usize,
        /// The seed of PGD's random start and of the noise.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Directory with the four official .gz files.
        #[arg(long)]
        data: Option<PathBuf>,
        /// Directory of the shipped models.
        #[arg(long, default_value = "pretrained")]
        weights: PathBuf,
        /// Also write the accuracies as JSON to this file.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// The embedding map of the first test images: each placed in 2-D from a space (pixels, the SVM's
    /// HOG → PCA features, or the CNN's penultimate layer) by PCA, t-SNE or UMAP, with the share of
    /// nearest neighbours of the same class.
    Map {
        /// pixels, hog or deep.
        #[arg(long, default_value = "deep")]
        space: String,
        /// pca, tsne or umap.
        #[arg(long, default_value = "tsne")]
        method: String,
        /// How many test images (the first ones).
        #[arg(long, default_value_t = 10_000)]
        images: usize,
        /// t-SNE's perplexity (5 to 50).
        #[arg(long, default_value_t = 30.0)]
        perplexity: f64,
        /// t-SNE's iterations (300 to 2000).
        #[arg(long, default_value_t = 750)]
        iterations: usize,
        /// Directory with the four official .gz files.
        #[arg(long)]
        data: Option<PathBuf>,
        /// Directory of the shipped models.
        #[arg(long, default_value = "pretrained")]
        weights: PathBuf,
        /// Write the chart to this HTML file.
        #[arg(long)]
        html: Option<PathBuf>,
    },
    /// Writes a balanced slice of the test set (the page's built-in default data) as two IDX .gz files.
    Sample {
        /// Directory with the four official .gz files.
        #[arg(long)]
        data: Option<PathBuf>,
        /// Images per class.
        #[arg(long, default_value_t = 100)]
        per_class: usize,
        /// Output directory.
        #[arg(long, default_value = "www/data")]
        out: PathBuf,
    },
}

/// `photos` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum PhotosCommand {
    /// Every model's accuracy on synthetic photos of test items, by condition (plain, textured, gradient,
    /// dark background, low contrast, shadow, cut by the edge), and how often "no item" is said.
    Bench {
        /// Directory with the four official .gz files.
        #[arg(long)]
        data: Option<PathBuf>,
        /// Directory of the pretrained files (every model found there is scored).
        #[arg(long, default_value = "pretrained")]
        weights: PathBuf,
        /// Test items per class, for each condition.
        #[arg(long, default_value_t = 50)]
        per_class: usize,
        /// Seed of the items and the photos.
        #[arg(long, default_value_t = crate::photo::synth::BENCH_SEED)]
        seed: u64,
        /// Skip the item search: the whole picture, grey, squared and resized (for comparison).
        #[arg(long)]
        naive: bool,
        /// Also write the results as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Score training-range photos of the training split's validation items instead (for tuning
        /// the photo path without looking at the benchmark).
        #[arg(long)]
        validation: bool,
        /// With `--validation`: the training ranges the photos are drawn from.
        #[arg(long, value_enum, default_value = "moderate")]
        photo_ranges: PhotoRanges,
    },
    /// Writes benchmark photos of one condition as JPEG files with labels.json.
    Write {
        /// Directory with the four official .gz files.
        #[arg(long)]
        data: Option<PathBuf>,
        /// Output directory.
        #[arg(long, default_value = "photos")]
        out: PathBuf,
        /// plain, textured, gradient, dark-background, low-contrast, shadow or cut-by-the-edge.
        #[arg(long, default_value = "textured")]
        condition: String,
        /// Number of photos (the classes in turn).
        #[arg(long, default_value_t = 20)]
        count: usize,
        /// Seed of the items and the photos.
        #[arg(long, default_value_t = crate::photo::synth::BENCH_SEED)]
        seed: u64,
        /// Also write the first photo as a 640×480 y4m video (Chromium's fake camera).
        #[arg(long)]
        y4m: Option<PathBuf>,
    },
}

/// Options of `train`.
#[derive(Debug, clap::Args)]
pub(crate) struct TrainArgs {
    /// cnn, resnet, mlp, or all (the three in turn); logreg, svm, rf, knn, or classical (the four in turn).
    #[arg(long, default_value = "cnn")]
    pub model: String,
    /// Classical models: features, `pixels` or `hog` (default: the model's recipe).
    #[arg(long)]
    pub features: Option<String>,
    /// Classical models: PCA components, 0 for none (default: the model's recipe).
    #[arg(long)]
    pub pca: Option<usize>,
    /// SVM: training images per class in each pairwise machine (default 2000).
    #[arg(long)]
    pub per_class: Option<usize>,
    /// Random forest: number of trees (default 100).
    #[arg(long)]
    pub trees: Option<usize>,
    /// k-NN: neighbours (default 5).
    #[arg(long)]
    pub k: Option<usize>,
    /// Epochs (default: the model's recipe).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Batch size.
    #[arg(long, default_value_t = 128)]
    pub batch: usize,
    /// Peak learning rate (default: the model's recipe).
    #[arg(long)]
    pub lr: Option<f64>,
    /// Seed of initialisation, split, shuffling and augmentation.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Backend: flex, wgpu or ndarray.
    #[arg(long, default_value = "flex")]
    pub backend: String,
    /// Directory with the four official .gz files.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Output directory for weights and metrics.
    #[arg(long, default_value = "pretrained")]
    pub out: PathBuf,
    /// Train on the first N training images only (quick experiments; the shipped models use all).
    #[arg(long)]
    pub train_size: Option<usize>,
    /// The study's exact CNN: no dropout, no batch norm (the shipped CNN uses both).
    #[arg(long)]
    pub faithful: bool,
    /// Augmentation: default (pad-2 crop, flip, erasing), light (pad-1 crop, flip) or none
    /// (default: the model's recipe).
    #[arg(long)]
    pub augment: Option<String>,
    /// The stem of the files written (default: the model's name), e.g. `cnn-photo` for the CNN's
    /// photo-trained variant.
    #[arg(long)]
    pub name: Option<String>,
    /// Start from these weights instead of a fresh initialisation (fine-tuning); the file's model must be
    /// the one trained. With `--width` above the file's, a CNN is widened first: the new filters start
    /// fresh and add nothing until trained.
    #[arg(long)]
    pub init_from: Option<PathBuf>,
    /// Photo-style augmentation: add this many synthetic photos of training items, per training image
    /// (0 to 2), each sent through the photo path, to the training set.
    #[arg(long, default_value_t = 0.0)]
    pub photos: f64,
    /// The ranges those photos' scenes are drawn from (a recipe without this field in its summary used
    /// `moderate`).
    #[arg(long, value_enum, default_value = "moderate")]
    pub photo_ranges: PhotoRanges,
    /// Knowledge distillation: also train against this trained model's softened answers (a weight file
    /// of any deep model, e.g. `pretrained/resnet-photo.weights`), seeing the same augmented batches.
    #[arg(long)]
    pub teacher: Option<PathBuf>,
    /// With `--teacher`: the soft target's share of the loss, in (0, 1].
    #[arg(long, default_value_t = 0.5)]
    pub distill_weight: f32,
    /// With `--teacher`: the temperature that softens both models' answers, in [1, 20].
    #[arg(long, default_value_t = 2.0)]
    pub distill_temperature: f32,
    /// CNN only: batch norm after each convolution (an option beside the study's architecture).
    #[arg(long)]
    pub batch_norm: bool,
    /// Width: the CNN's first-convolution filters (the others scale with it; study: 32), or the
    /// ResNet's filters (default: the model's recipe, or the `--init-from` file's).
    #[arg(long)]
    pub width: Option<usize>,
    /// Depth: the ResNet's residual blocks in all (split 3:2 between 14×14 and 7×7; shipped 10), or
    /// the MLP's hidden layers (512 units, halving; shipped 2). Default: the model's recipe.
    #[arg(long)]
    pub depth: Option<usize>,
    /// The optimiser: adamw (the recipes') or sgd (Nesterov momentum 0.9). Default: the recipe's.
    #[arg(long)]
    pub optimizer: Option<String>,
    /// Where to write the HTML report (Plotly inlined).
    #[arg(long, default_value = "reports")]
    pub reports: PathBuf,
    /// No progress bars (for logs).
    #[arg(long)]
    pub quiet: bool,
}

/// The photo-style augmentation's presets ([`crate::photo::synth::TrainingRanges`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum PhotoRanges {
    /// [`crate::photo::synth::TrainingRanges::MODERATE`].
    Moderate,
    /// [`crate::photo::synth::TrainingRanges::WIDE`].
    Wide,
}

impl PhotoRanges {
    /// The preset's ranges.
    pub(crate) fn ranges(self) -> crate::photo::synth::TrainingRanges {
        match self {
            PhotoRanges::Moderate => crate::photo::synth::TrainingRanges::MODERATE,
            PhotoRanges::Wide => crate::photo::synth::TrainingRanges::WIDE,
        }
    }

    /// The name `--photo-ranges` takes.
    pub(crate) fn name(self) -> &'static str {
        match self {
            PhotoRanges::Moderate => "moderate",
            PhotoRanges::Wide => "wide",
        }
    }
}

/// A split named on the command line.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum SplitArg {
    /// 60,000 training images.
    Train,
    /// 10,000 test images.
    Test,
}

impl From<SplitArg> for Split {
    fn from(s: SplitArg) -> Self {
        match s {
            SplitArg::Train => Split::Train,
            SplitArg::Test => Split::Test,
        }
    }
}

/// Where Zalando publishes the files.
pub(crate) const DOWNLOAD_BASE_URL: &str =
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com";

/// Errors of the CLI.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A data error.
    #[error(transparent)]
    Data(#[from] DataError),
    /// A file could not be written.
    #[error("cannot write {path}: {message}")]
    Write {
        /// The path.
        path: String,
        /// The OS message.
        message: String,
    },
    /// A download failed.
    #[error(
        "cannot download {url}: {message}\nIs there a network connection? Without one, install the data with \
         `apt-get install dataset-fashion-mnist` or copy the four .gz files into a directory and pass --data DIR."
    )]
    Download {
        /// The URL.
        url: String,
        /// What failed.
        message: String,
    },
    /// A bad argument value (a name or a setting given on the command line).
    #[error("{0}")]
    Usage(String),
    /// Training failed.
    #[error(transparent)]
    Train(#[from] crate::deep::train::TrainError),
    /// A weight file could not be used.
    #[error("{path}: {source}")]
    Weights {
        /// The file.
        path: String,
        /// What is wrong with it.
        source: crate::deep::weights::WeightsError,
    },
    /// A backend could not start.
    #[error(transparent)]
    Backend(#[from] crate::deep::backend::BackendError),
    /// An image could not be read.
    #[error("{path}: {source}")]
    Image {
        /// The file.
        path: String,
        /// What is wrong with it.
        source: crate::photo::ImageError,
    },
    /// Recorded and reproduced metrics differ.
    #[error("{0}")]
    Mismatch(String),
    /// A file could not be read.
    #[error("cannot read {path}: {message}")]
    Read {
        /// The path.
        path: String,
        /// The OS message.
        message: String,
    },
    /// A file was read but its contents are not what they should be (a summary that is not valid JSON,
    /// a classical model file that does not decode).
    #[error("{path}: {message}")]
    Corrupt {
        /// The path.
        path: String,
        /// What is wrong with it.
        message: String,
    },
    /// Metrics could not be computed (labels and predictions that do not match).
    #[error(transparent)]
    Metrics(#[from] crate::metrics::MetricsError),
    /// A deep model could not be built from its configuration.
    #[error(transparent)]
    Model(#[from] crate::deep::models::ModelError),
    /// A classical model could not be fitted or used.
    #[error(transparent)]
    Classical(#[from] crate::classical::ClassicalError),
    /// The train/validation split could not be made.
    #[error(transparent)]
    Split(#[from] crate::data::split::SplitError),
    /// An image could not be encoded (for `photos write`).
    #[error("{0}")]
    Encode(String),
    /// An attack's settings or inputs were refused.
    #[error(transparent)]
    Attack(#[from] crate::deep::attack::AttackError),
    /// The accuracy-against-ε table could not be made.
    #[error(transparent)]
    Robustness(#[from] crate::report::robustness::RobustnessError),
    /// The embedding map could not be made.
    #[error(transparent)]
    Embedding(#[from] crate::embedding::EmbeddingError),
    /// The embedding map's chart could not be made.
    #[error(transparent)]
    MapFigure(#[from] crate::report::map::MapFigureError),
    /// A model's summary does not describe the model file beside it.
    #[error("{path}: {source}")]
    Summary {
        /// The summary's path.
        path: String,
        /// What disagrees.
        source: crate::report::summary::SummaryError,
    },
}

/// Parses the command line, runs it, prints any error, and returns the exit code.
pub fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs one parsed command.
pub(crate) fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Train(args) => match crate::cli::classical::classical_kinds(&args.model) {
            Some(kinds) => crate::cli::classical::train(&kinds, &args),
            None => crate::cli::train::train(&args),
        },
        Command::Evaluate {
            model,
            data,
            weights,
            backend,
            record,
        } => match crate::classical::ClassicalKind::parse(&model) {
            Some(kind) => crate::cli::classical::evaluate(kind, data.as_deref(), &weights, record),
            None => {
                crate::cli::train::evaluate(&model, data.as_deref(), &weights, &backend, record)
            }
        },
        Command::Bench {
            model,
            epochs,
            batch,
            backend,
            data,
        } => crate::cli::train::bench(&model, epochs, batch, &backend, data.as_deref()),
        Command::Recipe { model, json } => print_recipe(&model, json),
        Command::Classify {
            images,
            model,
            weights,
            json,
        } => crate::cli::train::classify(&images, &model, &weights, json),
        Command::Analyze {
            data,
            split,
            out,
            samples,
            plotly,
            json,
        } => analyze(
            data.as_deref(),
            split.into(),
            &out,
            samples,
            plotly.as_deref(),
            json,
        ),
        Command::Download { out, base_url } => {
            let dir = out
                .or_else(|| std::env::var_os("FASHION_MNIST_DIR").map(PathBuf::from))
                .unwrap_or_else(|| PathBuf::from("data/fashion-mnist"));
            download(&dir, &base_url)
        }
        Command::Photos { action } => match action {
            PhotosCommand::Bench {
                data,
                weights,
                per_class,
                seed,
                naive,
                json,
                validation,
                photo_ranges,
            } => crate::cli::photos::bench(
                data.as_deref(),
                &weights,
                per_class,
                seed,
                &crate::photo::PrepareConfig {
                    background_handling: !naive,
                },
                json.as_deref(),
                if validation {
                    crate::cli::photos::BenchSet::Validation(photo_ranges.ranges())
                } else {
                    crate::cli::photos::BenchSet::Benchmark
                },
            ),
            PhotosCommand::Write {
                data,
                out,
                condition,
                count,
                seed,
                y4m,
            } => crate::cli::photos::write(
                data.as_deref(),
                &out,
                &condition,
                count,
                seed,
                y4m.as_ref(),
            ),
        },
        Command::Attack {
            model,
            method,
            epsilons,
            images,
            steps,
            seed,
            data,
            weights,
            json,
        } => crate::cli::attack::run(&crate::cli::attack::AttackArgs {
            model: &model,
            method: &method,
            epsilons: &epsilons,
            images,
            steps,
            seed,
            data: data.as_deref(),
            weights: &weights,
            json: json.as_deref(),
        }),
        Command::Map {
            space,
            method,
            images,
            perplexity,
            iterations,
            data,
            weights,
            html,
        } => crate::cli::map::run(&crate::cli::map::MapArgs {
            space: &space,
            method: &method,
            images,
            perplexity,
            iterations,
            data: data.as_deref(),
            weights: &weights,
            html: html.as_deref(),
        }),
        Command::Sample {
            data,
            per_class,
            out,
        } => sample(data.as_deref(), per_class, &out),
    }
}

fn analyze(
    data_dir: Option<&Path>,
    split: Split,
    out: &Path,
    samples: usize,
    plotly: Option<&Path>,
    json: bool,
) -> Result<(), CliError> {
    let dir = local::locate(data_dir)?;
    let ds = local::load_split(&dir, split)?;
    let stats = DatasetStats::compute(&ds);
    let label = format!("Fashion-MNIST {split:?} set ({})", dir.display());
    if json {
        let mut v = serde_json::to_value(&stats).expect("stats serialise");
        let obj = v.as_object_mut().expect("object");
        obj.remove("class_means");
        obj.remove("histogram");
        println!("{}", serde_json::to_string_pretty(&v).expect("json"));
    } else {
        println!("{label}");
        println!(
            "  shape        ({}, {}, {})",
            stats.shape[0], stats.shape[1], stats.shape[2]
        );
        println!("  pixel mean   {:.2}", stats.mean);
        println!("  pixel median {}", stats.median);
        println!("  pixel std    {:.2}", stats.std);
        println!("  min / max    {} / {}", stats.min, stats.max);
        for (name, count) in data::CLASS_NAMES.iter().zip(stats.class_counts) {
            println!("  {name:<12} {count}");
        }
    }
    let figures = analysis_figures(&ds, &stats, samples, &label);
    let plotly_js = find_plotly(plotly)?;
    if plotly_js.is_none() {
        eprintln!(
            "note: plotly.min.js not found (run `npm ci`); the report loads it from beside the HTML file"
        );
    }
    let html = html_report(
        "Fashion-MNIST dataset analysis",
        &figures,
        plotly_js.as_deref(),
    );
    write_atomic(out, html.as_bytes())?;
    eprintln!("wrote {}", out.display());
    Ok(())
}

/// Reads plotly.min.js from `explicit`, else from the npm install in the working directory or the crate.
pub(crate) fn find_plotly(explicit: Option<&Path>) -> Result<Option<String>, CliError> {
    const REL: &str = "node_modules/plotly.js-dist-min/plotly.min.js";
    if let Some(p) = explicit {
        return std::fs::read_to_string(p)
            .map(Some)
            .map_err(|e| CliError::Read {
                path: format!("--plotly {}", p.display()),
                message: e.to_string(),
            });
    }
    let candidates = [
        PathBuf::from(REL),
        Path::new(env!("CARGO_MANIFEST_DIR")).join(REL),
    ];
    Ok(candidates
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok()))
}

pub(crate) use crate::cli::store::write_atomic;

/// `fashionlab recipe`.
fn print_recipe(model: &str, json: bool) -> Result<(), CliError> {
    use crate::deep::recipe::{catalogue, sheet};
    let sheets = if model == "all" {
        if json {
            let text = serde_json::to_string_pretty(&catalogue()).expect("recipes serialise");
            println!("{text}");
            return Ok(());
        }
        catalogue().recipes
    } else {
        let kind: crate::deep::models::DeepModelKind = model
            .parse()
            .map_err(|e: crate::deep::models::ModelError| CliError::Usage(e.to_string()))?;
        if json {
            let text = serde_json::to_string_pretty(&sheet(kind)).expect("recipe serialises");
            println!("{text}");
            return Ok(());
        }
        vec![sheet(kind)]
    };
    for s in sheets {
        let t = &s.recipe.train;
        println!(
            "{}: {}\n  AdamW, peak learning rate {}, weight decay {}, {} warm-up epoch(s) then cosine; \
             label smoothing {}; augmentation {}; {} epochs of batch {}\n  in the page: {} epochs of \
             batch {} on {} images",
            s.model,
            serde_json::to_string(&s.recipe.architecture).expect("config serialises"),
            t.learning_rate,
            t.weight_decay,
            t.warmup_epochs,
            t.label_smoothing,
            s.augmentation,
            t.epochs,
            t.batch_size,
            s.page.epochs,
            s.page.batch_size,
            s.page.train_size
        );
    }
    Ok(())
}

fn download(dir: &Path, base_url: &str) -> Result<(), CliError> {
    for file in OFFICIAL_FILES {
        let path = dir.join(file.name);
        if let Ok(existing) = std::fs::read(&path)
            && data::decompress(&existing).is_ok_and(|raw| file.verify(&raw).is_ok())
        {
            eprintln!("{}: present and verified", path.display());
            continue;
        }
        let url = format!("{}/{}", base_url.trim_end_matches('/'), file.name);
        eprintln!("downloading {url}");
        let bytes = fetch(&url)?;
        let raw = data::decompress(&bytes)?;
        file.verify(&raw)?;
        write_atomic(&path, &bytes)?;
        eprintln!("{}: verified ({} bytes)", path.display(), bytes.len());
    }
    eprintln!(
        "done: use --data {} or set FASHION_MNIST_DIR={}",
        dir.display(),
        dir.display()
    );
    Ok(())
}

fn fetch(url: &str) -> Result<Vec<u8>, CliError> {
    let fail = |message: String| CliError::Download {
        url: url.to_string(),
        message,
    };
    let mut response = ureq::get(url).call().map_err(|e| fail(e.to_string()))?;
    response
        .body_mut()
        .with_config()
        .limit(data::MAX_DECOMPRESSED_BYTES as u64)
        .read_to_vec()
        .map_err(|e| fail(e.to_string()))
}

fn sample(data_dir: Option<&Path>, per_class: usize, out: &Path) -> Result<(), CliError> {
    if per_class == 0 || per_class > 1000 {
        return Err(CliError::Usage(format!(
            "--per-class must be 1..=1000, got {per_class}"
        )));
    }
    let dir = local::locate(data_dir)?;
    let test: Dataset = local::load_split(&dir, Split::Test)?;
    let slice = test.balanced_slice(per_class);
    let images = data::gzip(&data::encode_images(slice.pixels()));
    let labels = data::gzip(&data::encode_labels(slice.labels()));
    write_atomic(&out.join(SAMPLE_IMAGES), &images)?;
    write_atomic(&out.join(SAMPLE_LABELS), &labels)?;
    eprintln!(
        "wrote {} images ({} per class) to {}: {} + {} bytes",
        slice.len(),
        per_class,
        out.display(),
        images.len(),
        labels.len()
    );
    Ok(())
}

/// The git revision of the working tree ("-dirty" when it has uncommitted changes), or "unknown".
pub(crate) fn git_rev() -> String {
    std::process::Command::new("git")
        .args(["describe", "--always", "--dirty", "--abbrev=12"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// The CPU model and thread count, e.g. "AMD EPYC 9654 (2 threads)".
pub(crate) fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    format!("{cpu} ({threads} threads)")
}

/// The training set (all of it, or the first `--train-size` images) and the test set.
pub(crate) fn load_train_test(args: &TrainArgs) -> Result<(Dataset, Dataset), CliError> {
    let dir = local::locate(args.data.as_deref())?;
    let mut train = local::load_split(&dir, Split::Train)?;
    if let Some(n) = args.train_size {
        if !(100..=train.len()).contains(&n) {
            return Err(CliError::Usage(format!(
                "--train-size must be 100..={}",
                train.len()
            )));
        }
        train = train.subset(&(0..n).collect::<Vec<_>>());
    }
    Ok((train, local::load_split(&dir, Split::Test)?))
}
