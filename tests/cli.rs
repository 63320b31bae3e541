//! The CLI end to end: each command run to completion as a user runs it, and what it writes checked.
#![cfg(not(target_arch = "wasm32"))]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use fashionlab::report::summary::ModelSummary;

fn cli(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fashionlab"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap()
}

fn ok(args: &[&str]) -> String {
    let out = cli(args);
    assert!(
        out.status.success(),
        "fashionlab {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fashionlab-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `command` with each case's arguments added fails, and its error says the case's words.
fn refused(command: &[&str], cases: &[(&[&str], &str)]) {
    for (bad, says) in cases {
        let args: Vec<&str> = command.iter().chain(bad.iter()).copied().collect();
        let run = cli(&args);
        assert!(!run.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&run.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

fn dataset_dir() -> PathBuf {
    fashionlab::data::local::locate(None)
        .expect("the dataset (apt-get install dataset-fashion-mnist)")
}

/// `train` (a short MLP run), then `evaluate` of what it wrote: the weights, the summary (with the
/// weights' digest and all 10,000 per-image predictions) and the report; `evaluate` reproduces it, and
/// refuses the summary once one per-image prediction is changed.
#[test]
fn train_then_evaluate_what_it_wrote() {
    let dir = scratch("train");
    ok(&[
        "train",
        "--model",
        "mlp",
        "--train-size",
        "3000",
        "--epochs",
        "1",
        "--out",
        s(&dir),
        "--reports",
        s(&dir),
        "--quiet",
    ]);
    let weights = std::fs::read(dir.join("mlp.weights")).unwrap();
    let summary: ModelSummary =
        serde_json::from_slice(&std::fs::read(dir.join("mlp.json")).unwrap()).unwrap();
    summary.check_model_file(&weights).unwrap();
    assert_eq!((summary.model.as_str(), summary.history.len()), ("mlp", 1));
    assert_eq!(summary.test.images, 10_000);
    assert!(summary.test.accuracy > 0.5, "{}", summary.test.accuracy); // 0.586 measured; chance 0.1
    let predictions = summary.test.predictions.clone().unwrap();
    assert_eq!(predictions.len(), 10_000);
    let html = std::fs::read_to_string(dir.join("mlp.html")).unwrap();
    assert!(html.contains("mlp-confusion") && html.contains("Plotly"));

    let out = ok(&["evaluate", "--model", "mlp", "--weights", s(&dir)]);
    assert!(
        out.contains("mlp: reproduced exactly (10000 test images)"),
        "{out}"
    );

    // One per-image prediction changed: the confusion matrix no longer tells it, the predictions do.
    let mut tampered = summary.clone();
    let mut chars: Vec<char> = predictions.chars().collect();
    chars[0] = if chars[0] == '0' { '1' } else { '0' };
    tampered.test.predictions = Some(chars.into_iter().collect());
    std::fs::write(
        dir.join("mlp.json"),
        serde_json::to_string_pretty(&tampered).unwrap(),
    )
    .unwrap();
    let out = cli(&["evaluate", "--model", "mlp", "--weights", s(&dir)]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("1 per-image predictions differ"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `sample` rewrites the page's built-in sample byte for byte; `analyze` prints the training set's
/// statistics and writes its report; `bench` trains one epoch and prints one JSON line for it; `recipe`
/// prints what `www/recipes.json` holds.
#[test]
fn sample_analyze_bench_and_recipe_write_what_they_say() {
    let dir = scratch("misc");
    ok(&["sample", "--per-class", "100", "--out", s(&dir)]);
    for name in ["sample-images-idx3-ubyte.gz", "sample-labels-idx1-ubyte.gz"] {
        assert_eq!(
            std::fs::read(dir.join(name)).unwrap(),
            std::fs::read(
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("www/data")
                    .join(name)
            )
            .unwrap(),
            "{name}"
        );
    }

    let report = dir.join("analysis.html");
    let stats: serde_json::Value =
        serde_json::from_str(&ok(&["analyze", "--json", "--out", s(&report)])).unwrap();
    assert_eq!(
        stats["shape"],
        serde_json::json!([60_000, 28, 28]),
        "{stats}"
    );
    let (mean, std) = (
        stats["mean"].as_f64().unwrap(),
        stats["std"].as_f64().unwrap(),
    );
    assert!(
        (mean - 72.94).abs() < 0.005 && (std - 90.02).abs() < 0.005,
        "{stats}"
    );
    assert_eq!(stats["median"], 0);
    assert_eq!(stats["class_counts"], serde_json::json!(vec![6000; 10]));
    assert!(std::fs::read_to_string(&report).unwrap().contains("Plotly"));

    let lines = ok(&["bench", "--model", "mlp", "--epochs", "1"]);
    let epochs: Vec<serde_json::Value> = lines
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(epochs.len(), 1, "{lines}");
    assert_eq!(epochs[0]["epoch"], 1);
    assert_eq!(
        (epochs[0]["model"].as_str(), epochs[0]["params"].as_u64()),
        (Some("mlp"), Some(535_818))
    );
    assert!(epochs[0]["train_s"].as_f64().unwrap() > 0.0);
    assert!(
        epochs[0]["test_acc"].as_f64().unwrap() > 0.8,
        "{}",
        epochs[0]
    );

    let recipes = ok(&["recipe", "--json"]);
    assert_eq!(
        recipes.trim_end(),
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("www/recipes.json"))
            .unwrap()
            .trim_end()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `download` from a local server that serves the real files: all four arrive verified; run again, it
/// finds them present and fetches nothing.
#[test]
fn download_from_a_local_server() {
    let source = dataset_dir();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let served = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = served.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = [0u8; 4096];
            let n = stream.read(&mut request).unwrap_or(0);
            let line = String::from_utf8_lossy(&request[..n]).into_owned();
            let name = line
                .split_whitespace()
                .nth(1)
                .unwrap_or("/")
                .trim_start_matches('/')
                .to_string();
            let body = std::fs::read(source.join(&name)).unwrap_or_default();
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let head = format!(
                "HTTP/1.1 {}\r\nContent-Type: application/gzip\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                if body.is_empty() {
                    "404 Not Found"
                } else {
                    "200 OK"
                },
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        }
    });
    let dir = scratch("download");
    let out = cli(&["download", "--base-url", &base, "--out", s(&dir)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for name in [
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ] {
        assert_eq!(
            std::fs::read(dir.join(name)).unwrap(),
            std::fs::read(dataset_dir().join(name)).unwrap(),
            "{name}"
        );
    }
    assert_eq!(served.load(std::sync::atomic::Ordering::SeqCst), 4);
    let again = cli(&["download", "--base-url", &base, "--out", s(&dir)]);
    assert!(again.status.success());
    assert_eq!(
        String::from_utf8_lossy(&again.stderr)
            .matches("present and verified")
            .count(),
        4
    );
    assert_eq!(served.load(std::sync::atomic::Ordering::SeqCst), 4);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `attack`: at ε = 0 every shipped model's accuracy is exactly what its recorded per-image predictions
/// give on the same test images; FGSM at ε = 8 lowers the attacked CNN's; bad settings are refused.
#[test]
fn attack_scores_every_shipped_model_at_each_budget() {
    let dir = scratch("attack");
    let out = dir.join("attack.json");
    let printed = ok(&[
        "attack",
        "--method",
        "fgsm",
        "--images",
        "100",
        "--epsilons",
        "0,8",
        "--json",
        s(&out),
    ]);
    assert!(
        printed.contains("FGSM against cnn on the first 100 test images"),
        "{printed}"
    );
    let result: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let models = result["models"].as_array().unwrap();
    assert_eq!(models.len(), 9, "seven models and two photo variants");
    assert_eq!(models[0][0], "cnn", "the attacked model first");
    let labels = fashionlab::data::local::load_split(&dataset_dir(), fashionlab::data::Split::Test)
        .unwrap()
        .labels()[..100]
        .to_vec();
    for model in models {
        let name = model[0].as_str().unwrap();
        let summary: ModelSummary = serde_json::from_slice(
            &std::fs::read(
                Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("pretrained/{name}.json")),
            )
            .unwrap(),
        )
        .unwrap();
        let recorded = summary.test.predictions.unwrap();
        let right = recorded
            .bytes()
            .zip(&labels)
            .filter(|(p, l)| (p - b'0') == **l)
            .count();
        assert_eq!(
            model[1][0].as_f64().unwrap(),
            right as f64 / 100.0,
            "{name} at ε = 0"
        );
    }
    let cnn = &models[0][1];
    assert!(
        cnn[1].as_f64().unwrap() < cnn[0].as_f64().unwrap() - 0.15,
        "{cnn}"
    );
    refused(
        &["attack", "--images", "2"],
        &[
            (&["--epsilons", "65"], "64"),
            (&["--method", "cw"], "fgsm, pgd or noise"),
            (&["--steps", "0"], "PGD takes 1 to 100 steps"),
        ],
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `map`: the t-SNE and UMAP maps of the first 1,000 test images from the CNN's space keep at least 70%
/// of the 10 nearest neighbours in their class, and are written as WebGL charts; bad settings are refused.
#[test]
fn map_places_the_test_images_and_measures_the_neighbours() {
    let dir = scratch("map");
    let html = dir.join("map.html");
    for method in ["tsne", "umap"] {
        let printed = ok(&[
            "map",
            "--space",
            "deep",
            "--method",
            method,
            "--images",
            "1000",
            "--html",
            s(&html),
        ]);
        let share: f64 = printed
            .lines()
            .find(|l| l.starts_with("10 nearest neighbours"))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|p| p.trim_end_matches('%').parse().ok())
            .unwrap_or_else(|| panic!("{printed}"));
        assert!(share >= 70.0, "{method}: {printed}");
        let page = std::fs::read_to_string(&html).unwrap();
        assert!(
            page.contains("\"scattergl\"") && page.contains("CNN wrong"),
            "{method}: the chart"
        );
    }
    refused(
        &["map", "--images", "100"],
        &[
            (&["--method", "isomap"], "pca, tsne or umap"),
            (&["--perplexity", "60"], "outside 5..=50"),
            (&["--space", "colour"], "pixels, hog or deep"),
        ],
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
