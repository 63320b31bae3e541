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
