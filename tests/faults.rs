//! Fault injection, natively (the hardening issue): downloads that break or lie, and a training run
//! killed midway. Each must end with a clear error and leave no half-written file behind.
#![cfg(not(target_arch = "wasm32"))]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn cli() -> Command {
    Command::new(env!("CARGO_BIN_EXE_fashionlab"))
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fashionlab-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// A one-shot HTTP server on loopback: answers every request with `declared` as Content-Length and
/// `body` as what it actually sends, then closes the connection. Returns its base URL.
fn serve(body: Vec<u8>, declared: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().take(4) {
            let Ok(mut stream) = stream else { continue };
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/gzip\r\nContent-Length: {declared}\r\nConnection: close\r\n\r\n"
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
            let _ = stream.flush();
        }
    });
    url
}

fn download(base: &str, out: &Path) -> (bool, String) {
    let output = cli()
        .args(["download", "--base-url", base, "--out"])
        .arg(out)
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn official_train_images() -> Vec<u8> {
    let dir = fashionlab::data::local::locate(None)
        .expect("the dataset (apt-get install dataset-fashion-mnist)");
    std::fs::read(dir.join("train-images-idx3-ubyte.gz")).unwrap()
}

#[test]
fn a_download_cut_midway_is_refused_and_leaves_nothing() {
    let real = official_train_images();
    // The server promises the whole file and hangs up after a tenth of it.
    let base = serve(real[..real.len() / 10].to_vec(), real.len());
    let out = scratch("dl-cut");
    let (ok, stderr) = download(&base, &out);
    assert!(!ok, "{stderr}");
    assert!(
        stderr.contains(&base),
        "the error names what failed: {stderr}"
    );
    assert_eq!(entries(&out), Vec::<String>::new(), "{stderr}");
}

#[test]
fn a_corrupt_or_wrong_download_is_refused_and_leaves_nothing() {
    let real = official_train_images();
    // Complete as far as HTTP goes, but the gzip stream stops halfway.
    let truncated = real[..real.len() / 2].to_vec();
    let base = serve(truncated.clone(), truncated.len());
    let out = scratch("dl-truncated");
    let (ok, stderr) = download(&base, &out);
    assert!(!ok && stderr.to_lowercase().contains("gzip"), "{stderr}");
    assert_eq!(entries(&out), Vec::<String>::new());
    // A well-formed file with other contents: the checksum says no.
    let other = fashionlab::data::gzip(&fashionlab::data::encode_images(&vec![7u8; 3 * 784]));
    let base = serve(other.clone(), other.len());
    let out = scratch("dl-checksum");
    let (ok, stderr) = download(&base, &out);
    assert!(
        !ok && stderr.to_lowercase().contains("checksum"),
        "{stderr}"
    );
    assert_eq!(entries(&out), Vec::<String>::new());
}

#[test]
fn a_training_run_killed_midway_leaves_the_previous_files_intact() {
    let out = scratch("killed");
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("pretrained");
    for name in ["mlp.weights", "mlp.json"] {
        std::fs::copy(shipped.join(name), out.join(name)).unwrap();
    }
    let before: Vec<Vec<u8>> = ["mlp.weights", "mlp.json"]
        .iter()
        .map(|n| std::fs::read(out.join(n)).unwrap())
        .collect();
    let mut child = cli()
        .args([
            "train", "--model", "mlp", "--epochs", "20", "--quiet", "--out",
        ])
        .arg(&out)
        .arg("--reports")
        .arg(out.join("reports"))
        .spawn()
        .unwrap();
    // Twenty MLP epochs take well over a minute here: after five seconds it is loading data or training.
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(5) {
        assert!(child.try_wait().unwrap().is_none(), "the run ended early");
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().unwrap(); // SIGKILL: no clean-up code runs
    child.wait().unwrap();
    let after: Vec<Vec<u8>> = ["mlp.weights", "mlp.json"]
        .iter()
        .map(|n| std::fs::read(out.join(n)).unwrap())
        .collect();
    assert!(before == after, "the previous files changed");
    let stray: Vec<String> = entries(&out)
        .into_iter()
        .filter(|n| n.contains(".tmp"))
        .collect();
    assert!(stray.is_empty(), "half-written files: {stray:?}");
    std::fs::remove_dir_all(&out).unwrap();
}

/// Storage that fails at one step of a save: a write stops halfway (a full disk), a rename fails. Steps
/// are counted over writes and renames in the order they happen.
struct FailAt {
    step: usize,
    done: usize,
}

impl fashionlab::cli::store::Storage for FailAt {
    fn write(&mut self, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
        self.done += 1;
        if self.done - 1 == self.step {
            std::fs::write(path, &bytes[..bytes.len() / 2])?;
            return Err(std::io::Error::other("no space left (injected)"));
        }
        std::fs::write(path, bytes)
    }
    fn rename(&mut self, from: &Path, to: &Path) -> std::io::Result<()> {
        self.done += 1;
        if self.done - 1 == self.step {
            return Err(std::io::Error::other("rename failed (injected)"));
        }
        std::fs::rename(from, to)
    }
    fn remove(&mut self, path: &Path) {
        let _ = std::fs::remove_file(path);
    }
}

#[test]
fn a_save_that_fails_at_any_step_leaves_the_old_pair_or_a_refused_one() {
    use fashionlab::cli::CliError;
    use fashionlab::cli::store::{Disk, load_model_files, save_model_files};
    use fashionlab::report::summary::{ModelSummary, SummaryError};

    let shipped: ModelSummary = serde_json::from_slice(
        &std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("pretrained/cnn.json")).unwrap(),
    )
    .unwrap();
    let (old_file, new_file) = (vec![1u8; 4000], vec![2u8; 4000]);
    let mut old = shipped.clone();
    let mut new = shipped;
    new.test.accuracy = 0.5;
    // Steps: write the weights' temporary file, rename it, write the summary's, rename it; 4 = no fault.
    for step in 0..=4 {
        let dir = scratch(&format!("save-{step}"));
        save_model_files(&mut Disk, &dir, "weights", &old_file, &mut old).unwrap();
        let saved = save_model_files(
            &mut FailAt { step, done: 0 },
            &dir,
            "weights",
            &new_file,
            &mut new,
        );
        assert_eq!(saved.is_ok(), step == 4, "step {step}: {saved:?}");
        assert_eq!(
            entries(&dir),
            ["cnn.json", "cnn.weights"],
            "step {step}: no temporary file is left"
        );
        match (step, load_model_files(&dir, "cnn", "weights", false)) {
            (0 | 1, Ok(files)) => {
                assert_eq!(files.model_file, old_file, "step {step}");
                assert_eq!(files.summary, old, "step {step}");
            }
            (2 | 3, Err(CliError::Summary { source, .. })) => {
                assert!(
                    matches!(source, SummaryError::ModelFileMismatch { .. }),
                    "step {step}: {source}"
                );
            }
            (4, Ok(files)) => {
                assert_eq!(files.model_file, new_file);
                assert_eq!(files.summary, new);
            }
            (_, other) => panic!(
                "step {step}: {:?}",
                other.map(|f| (f.model_file[0], f.summary.test.accuracy))
            ),
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
