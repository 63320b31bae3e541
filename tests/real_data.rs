//! Checks against the real Fashion-MNIST files (installed by `.ci/setup` from Debian's
//! `dataset-fashion-mnist`), and the CLI end to end on them.
#![cfg(not(target_arch = "wasm32"))]

use std::path::PathBuf;
use std::process::Command;

use fashionlab::data::{DataError, Dataset, SAMPLE_IMAGES, SAMPLE_LABELS, Split, local};
use fashionlab::report::analysis::DatasetStats;

fn data_dir() -> PathBuf {
    local::locate(None).expect(
        "Fashion-MNIST must be installed: run .ci/setup (apt-get install dataset-fashion-mnist)",
    )
}

fn cli() -> Command {
    Command::new(env!("CARGO_BIN_EXE_fashionlab"))
}

#[test]
fn training_set_matches_published_statistics() {
    let train = local::load_split(&data_dir(), Split::Train).unwrap();
    let s = DatasetStats::compute(&train);
    assert_eq!(s.shape, [60_000, 28, 28]);
    assert!((s.mean - 72.94).abs() < 0.005, "mean {}", s.mean);
    assert_eq!(s.median, 0);
    assert!((s.std - 90.02).abs() < 0.005, "std {}", s.std);
    assert_eq!(s.class_counts, [6_000; 10]);
    assert_eq!((s.min, s.max), (0, 255));
    // The constants used for standardisation are these very statistics.
    assert!((s.mean as f32 - fashionlab::deep::input::TRAIN_PIXEL_MEAN).abs() < 1e-3);
    assert!((s.std as f32 - fashionlab::deep::input::TRAIN_PIXEL_STD).abs() < 1e-3);
}

#[test]
fn test_set_shape_and_balance() {
    let test = local::load_split(&data_dir(), Split::Test).unwrap();
    let s = DatasetStats::compute(&test);
    assert_eq!(s.shape, [10_000, 28, 28]);
    assert_eq!(s.class_counts, [1_000; 10]);
}

#[test]
fn corrupted_official_file_fails_its_checksum() {
    let dir = data_dir();
    let images = std::fs::read(dir.join("t10k-images-idx3-ubyte.gz")).unwrap();
    let labels = std::fs::read(dir.join("t10k-labels-idx1-ubyte.gz")).unwrap();
    // Swap two labels: still a valid IDX file, but not the published one.
    let mut raw = fashionlab::data::decompress(&labels).unwrap().into_owned();
    raw.swap(8, 9);
    assert_ne!(raw[8], raw[9]);
    let err = Dataset::from_official(Split::Test, &images, &raw).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::Checksum {
                file: "t10k-labels-idx1-ubyte.gz",
                ..
            }
        ),
        "{err}"
    );
    // Truncated gzip of the real file: a typed error, never a panic.
    let err =
        Dataset::from_official(Split::Test, &images[..images.len() / 3], &labels).unwrap_err();
    assert!(
        matches!(err, DataError::Gzip(_) | DataError::Checksum { .. }),
        "{err}"
    );
}

#[test]
fn shipped_sample_is_a_balanced_slice_of_the_test_set() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("www/data");
    let images = std::fs::read(root.join(SAMPLE_IMAGES)).unwrap();
    let labels = std::fs::read(root.join(SAMPLE_LABELS)).unwrap();
    assert!(
        images.len() + labels.len() <= 1_000_000,
        "the built-in sample must stay under 1 MB"
    );
    let sample = Dataset::from_idx(&images, &labels).unwrap();
    let test = local::load_split(&data_dir(), Split::Test).unwrap();
    assert_eq!(sample, test.balanced_slice(100));
}

#[test]
fn data_dir_search_order_and_missing_data_message() {
    let missing = PathBuf::from("/nonexistent/fashion");
    assert_eq!(local::candidate_dirs(Some(&missing)), vec![missing.clone()]);
    let err = local::locate(Some(&missing)).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("/nonexistent/fashion")
            && msg.contains("apt-get install dataset-fashion-mnist"),
        "{msg}"
    );
    // The CLI says the same, and fails.
    let out = cli()
        .args(["analyze", "--data", "/nonexistent/fashion"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Fashion-MNIST not found"));
}

#[test]
fn analyze_writes_a_self_contained_report() {
    let out_dir = std::env::temp_dir().join(format!("fashionlab-analyze-{}", std::process::id()));
    let report = out_dir.join("report.html");
    let out = cli()
        .args(["analyze", "--split", "test", "--json", "--out"])
        .arg(&report)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stats: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(stats["shape"][0], 10_000);
    let html = std::fs::read_to_string(&report).unwrap();
    for id in fashionlab::report::analysis::ANALYSIS_FIGURE_IDS {
        assert!(
            html.contains(&format!("id=\"{id}\"")),
            "missing figure {id}"
        );
    }
    // Plotly is inlined from node_modules (installed by .ci/setup): no request to any other origin.
    assert!(
        html.contains("Plotly.newPlot") && html.len() > 3_000_000,
        "plotly.js was not inlined"
    );
    assert!(!html.contains("<script src=\"http"));
    std::fs::remove_dir_all(&out_dir).unwrap();
}

#[test]
fn download_without_network_explains_itself_and_writes_nothing() {
    let out_dir = std::env::temp_dir().join(format!("fashionlab-dl-{}", std::process::id()));
    // Port 9 on loopback: nothing listens, the connection is refused at once.
    let out = cli()
        .args(["download", "--base-url", "http://127.0.0.1:9", "--out"])
        .arg(&out_dir)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("network") && stderr.contains("apt-get install dataset-fashion-mnist"),
        "{stderr}"
    );
    let leftovers = std::fs::read_dir(&out_dir).map(|d| d.count()).unwrap_or(0);
    assert_eq!(leftovers, 0, "nothing half-written is left behind");
}
