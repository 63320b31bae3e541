//! Files on disk: every file the CLI writes goes through a temporary file and a rename, and a model's
//! two files (the model file and its summary) form a set that is checked on load.
//!
//! A model is saved as `<name>.weights` (or `.model`) and `<name>.json`. Each is replaced atomically, but
//! the two replacements cannot be one: the model file is replaced first, then the summary, which records
//! the model file's SHA-256. A crash anywhere leaves either the old pair, or the new model file beside the
//! old summary, which [`load_model_files`] refuses with [`SummaryError::ModelFileMismatch`]. Never a
//! half-written file, and never a pair that silently disagrees.
//!
//! The disk is reached through [`Storage`], so that tests can make any step fail.

use std::io;
use std::path::{Path, PathBuf};

use crate::cli::{CliError, TrainArgs, find_plotly};
use crate::metrics::Report;
use crate::report::plot::html_report;
use crate::report::summary::{ModelSummary, SummaryError, model_figures};

/// The two operations a save needs. [`Disk`] is the file system; tests inject failures.
pub trait Storage {
    /// Creates or truncates `path` and writes `bytes` to it.
    fn write(&mut self, path: &Path, bytes: &[u8]) -> io::Result<()>;
    /// Renames `from` to `to`, replacing `to` (atomic on one file system).
    fn rename(&mut self, from: &Path, to: &Path) -> io::Result<()>;
    /// Removes `path` (best effort: used to clean up after a failure).
    fn remove(&mut self, path: &Path);
}

/// The real file system.
pub struct Disk;

impl Storage for Disk {
    fn write(&mut self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        std::fs::write(path, bytes)
    }
    fn rename(&mut self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }
    fn remove(&mut self, path: &Path) {
        let _ = std::fs::remove_file(path);
    }
}

/// Writes `bytes` to a temporary file beside `path`, then renames it into place: a reader never sees
/// half a file, and a failure leaves any previous file intact (and no temporary file behind).
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    write_atomic_with(&mut Disk, path, bytes)
}

/// [`write_atomic`] through `storage`.
pub(crate) fn write_atomic_with(
    storage: &mut dyn Storage,
    path: &Path,
    bytes: &[u8],
) -> Result<(), CliError> {
    let err = |e: io::Error| CliError::Write {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(err)?;
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    let written = storage
        .write(&tmp, bytes)
        .and_then(|()| storage.rename(&tmp, path));
    written.map_err(|e| {
        storage.remove(&tmp);
        err(e)
    })
}

/// Reads a whole file; the error names it.
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>, CliError> {
    std::fs::read(path).map_err(|e| CliError::Read {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}

/// The paths of a model's two files in `dir`: `<name>.<extension>` and `<name>.json`.
pub(crate) fn model_paths(dir: &Path, name: &str, extension: &str) -> (PathBuf, PathBuf) {
    (
        dir.join(format!("{name}.{extension}")),
        dir.join(format!("{name}.json")),
    )
}

/// Saves a model: its file (`extension` is `weights` or `model`), then its summary, which gets the
/// file's digest. See the module's documentation for what a failure at any step leaves.
pub fn save_model_files(
    storage: &mut dyn Storage,
    dir: &Path,
    extension: &str,
    model_file: &[u8],
    summary: &mut ModelSummary,
) -> Result<(), CliError> {
    let (model_path, json_path) = model_paths(dir, &summary.model, extension);
    summary.model_sha256 = Some(crate::data::sha256_hex(model_file));
    let json = serde_json::to_string_pretty(summary).expect("summary serialises");
    write_atomic_with(storage, &model_path, model_file)?;
    write_atomic_with(storage, &json_path, json.as_bytes())
}

/// A model's file and summary, read from `dir` and checked against each other.
pub struct ModelFiles {
    /// The model file's bytes.
    pub model_file: Vec<u8>,
    /// Its path.
    pub model_path: PathBuf,
    /// The summary.
    pub summary: ModelSummary,
    /// Its path.
    pub json_path: PathBuf,
}

/// Reads `<name>.<extension>` and `<name>.json` from `dir`, and checks that the summary describes that
/// file. A summary without a digest is accepted only with `allow_no_digest` (`evaluate --record`, which
/// then writes the digest in once the results are reproduced).
pub fn load_model_files(
    dir: &Path,
    name: &str,
    extension: &str,
    allow_no_digest: bool,
) -> Result<ModelFiles, CliError> {
    let (model_path, json_path) = model_paths(dir, name, extension);
    let model_file = read_file(&model_path)?;
    let summary: ModelSummary =
        serde_json::from_slice(&read_file(&json_path)?).map_err(|e| CliError::Corrupt {
            path: json_path.display().to_string(),
            message: e.to_string(),
        })?;
    match summary.check_model_file(&model_file) {
        Ok(()) => {}
        Err(SummaryError::NoDigest { .. }) if allow_no_digest => {}
        Err(source) => {
            return Err(CliError::Summary {
                path: json_path.display().to_string(),
                source,
            });
        }
    }
    Ok(ModelFiles {
        model_file,
        model_path,
        summary,
        json_path,
    })
}

/// Saves a trained model's file (`<out>/<model>.<extension>`) and summary (`<out>/<model>.json`, with the
/// file's digest) as a set, writes `<reports>/<model>.html`, and prints the report and the top five
/// confusions (`train`, for every model).
pub(crate) fn save_model(
    summary: &mut ModelSummary,
    title: &str,
    args: &TrainArgs,
    extension: &str,
    model_file: &[u8],
) -> Result<(), CliError> {
    save_model_files(&mut Disk, &args.out, extension, model_file, summary)?;
    let html = html_report(
        &format!("Fashion Lab: {title}"),
        &model_figures(summary),
        find_plotly(None)?.as_deref(),
    );
    write_atomic(
        &args.reports.join(format!("{}.html", summary.model)),
        html.as_bytes(),
    )?;
    print!("{}", summary.test.report.to_text());
    for c in &summary.test.top_confusions[..summary.test.top_confusions.len().min(5)] {
        println!("  {}", c.text);
    }
    Ok(())
}

/// Where model files are read from and written to: `dir` itself when it exists or is absolute, else the
/// folder of that name in this crate (so that the CLI finds `pretrained/` from any working directory).
pub(crate) fn weights_dir(dir: &Path) -> PathBuf {
    if dir.is_dir() || dir.is_absolute() {
        dir.to_path_buf()
    } else {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(dir)
    }
}

/// Scores predictions of the test set, prints the report and checks that it matches the recorded
/// summary exactly (`evaluate`, for every model): the confusion matrix, and the per-image predictions
/// where the summary has them. With `record`, a summary written before a field existed gets it written
/// in once its matrix is reproduced: the per-image predictions and the model file's digest; nothing else
/// in it changes.
pub(crate) fn check_reproduced(
    name: &str,
    files: &ModelFiles,
    truth: &[u8],
    predicted: &[u8],
    record: bool,
) -> Result<(), CliError> {
    let (recorded, json_path) = (&files.summary, &files.json_path);
    let report = Report::new(truth, predicted)?;
    print!("{}", report.to_text());
    println!(
        "recorded accuracy {:.4}, reproduced {:.4}",
        recorded.test.accuracy, report.accuracy
    );
    if report.confusion_matrix != recorded.test.confusion_matrix {
        return Err(CliError::Mismatch(format!(
            "reproduced metrics differ from {}: accuracy {:.4} vs recorded {:.4}",
            json_path.display(),
            report.accuracy,
            recorded.test.accuracy
        )));
    }
    let encoded = crate::report::summary::encode_predictions(predicted);
    if let Some(p) = &recorded.test.predictions
        && *p != encoded
    {
        let differing = p
            .chars()
            .zip(encoded.chars())
            .filter(|(a, b)| a != b)
            .count();
        return Err(CliError::Mismatch(format!(
            "same confusion matrix as {}, but {differing} per-image predictions differ",
            json_path.display()
        )));
    }
    let missing = recorded.test.predictions.is_none() || recorded.model_sha256.is_none();
    if record && missing {
        let mut updated = recorded.clone();
        updated.test.predictions = Some(encoded);
        updated.model_sha256 = Some(crate::data::sha256_hex(&files.model_file));
        let json = serde_json::to_string_pretty(&updated).expect("summary serialises");
        write_atomic(json_path, json.as_bytes())?;
        println!(
            "{name}: per-image predictions and model-file digest written into {}",
            json_path.display()
        );
    }
    println!("{name}: reproduced exactly ({} test images)", truth.len());
    Ok(())
}
