//! Speed regressions fail CI. Each guarded path is timed against a fixed calibration workload run in
//! the same process (a plain f32 matrix product over all cores), and its time relative to that workload
//! must stay within 3× of the ratio recorded in `tests/fixtures/speed-baseline.json`. Measuring against a
//! calibration rather than against another path of ours keeps the guards independent: speeding up one
//! path cannot trip another's. The figures themselves belong in BENCHMARKS.md; this only catches a
//! path becoming several times slower. `FASHIONLAB_WRITE_SPEED=1` records the ratios again (and fails).
//! The ratios move with load (the calibration and each path feel a busy machine differently: on this
//! 2-core machine logistic regression's ratio was 0.86 quiet and 1.85 during a build), so the recorded
//! baseline is the larger of a quiet run and a run during a build, each path's own.
#![cfg(not(target_arch = "wasm32"))]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use burn::tensor::Device;
use fashionlab::data::{Dataset, Split, local};
use fashionlab::deep::models::DeepModelKind;
use fashionlab::deep::recipe::{RecipeEdits, recipe};
use fashionlab::deep::train::{Step, Trainer, block_on, predict_probabilities};
use fashionlab::photo::{Photo, PrepareConfig, prepare_image};

/// The fastest of `runs` timings of `work`, in seconds (the minimum is what load on the machine inflates
/// least).
fn fastest(runs: usize, mut work: impl FnMut()) -> f64 {
    work(); // warm caches and pools
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            work();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

/// The calibration: 8 independent 192 × 192 × 192 f32 matrix products, plain loops, one per rayon task.
fn calibration() {
    use rayon::prelude::*;
    let n = 192;
    let a: Vec<f32> = (0..n * n).map(|i| (i % 13) as f32 * 0.1).collect();
    let b: Vec<f32> = (0..n * n).map(|i| (i % 7) as f32 * 0.2).collect();
    let sums: Vec<f32> = (0..8)
        .into_par_iter()
        .map(|k| {
            let mut c = vec![0f32; n * n];
            for i in 0..n {
                for p in 0..n {
                    let x = a[i * n + p] + k as f32;
                    for j in 0..n {
                        c[i * n + j] += x * b[p * n + j];
                    }
                }
            }
            c.iter().sum()
        })
        .collect();
    std::hint::black_box(sums);
}

#[test]
fn guarded_paths_stay_within_3x_of_their_recorded_speed() {
    let device = Device::flex();
    let test =
        local::load_split(&local::locate(None).expect("run .ci/setup"), Split::Test).unwrap();
    let cal = fastest(7, calibration);
    let mut ratios = BTreeMap::new();

    // Inference: the shipped CNN on 1,000 test images.
    let (cnn, header) = fashionlab::deep::weights::load(
        &std::fs::read(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("pretrained/cnn.weights"))
            .unwrap(),
        Some(DeepModelKind::Cnn),
        &device,
    )
    .unwrap();
    let pixels = &test.pixels()[..1000 * 784];
    let t = fastest(5, || {
        block_on(predict_probabilities(
            &cnn,
            pixels,
            header.normalization,
            &device,
            500,
        ))
        .unwrap();
    });
    ratios.insert("cnn_inference_1000", t / cal);

    // Training: 8 batches of 128 with the shipped CNN recipe.
    let train_part: Vec<usize> = (0..1024).collect();
    let val_part: Vec<usize> = (1024..1124).collect();
    let (tr, va): (Dataset, Dataset) = (test.subset(&train_part), test.subset(&val_part));
    let r = recipe(DeepModelKind::Cnn)
        .edited(&RecipeEdits {
            epochs: Some(1),
            ..Default::default()
        })
        .unwrap();
    let t = fastest(3, || {
        let mut trainer = Trainer::new(
            &r.architecture,
            r.train.clone(),
            tr.clone(),
            va.clone(),
            &device,
        )
        .unwrap();
        for _ in 0..7 {
            block_on(trainer.step()).unwrap();
        }
    });
    ratios.insert("cnn_training_7_batches", t / cal);

    // The photo path on a 640 × 480 frame.
    let frame = fashionlab::photo::synth::benchmark_photo(
        test.image(0),
        fashionlab::photo::synth::Condition::Textured,
        0,
        1,
    );
    let frame = resize_to(&frame, 640, 480);
    let t = fastest(11, || {
        std::hint::black_box(prepare_image(&frame, &PrepareConfig::default()));
    });
    ratios.insert("photo_path_640x480", t / cal);

    // A classical model: the shipped logistic regression on 1,000 images.
    let logreg = fashionlab::classical::ClassicalModel::from_bytes(
        &std::fs::read(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("pretrained/logreg.model"))
            .unwrap(),
        None,
    )
    .unwrap();
    let t = fastest(5, || {
        std::hint::black_box(logreg.predict(pixels).unwrap());
    });
    ratios.insert("logreg_predict_1000", t / cal);

    eprintln!("calibration {:.1} ms; ratios {ratios:?}", cal * 1e3);
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/speed-baseline.json");
    if std::env::var_os("FASHIONLAB_WRITE_SPEED").is_some() {
        std::fs::write(&path, serde_json::to_string_pretty(&ratios).unwrap() + "\n").unwrap();
        panic!(
            "{} rewritten; rerun without FASHIONLAB_WRITE_SPEED",
            path.display()
        );
    }
    let baseline: BTreeMap<String, f64> =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(
        baseline.keys().collect::<Vec<_>>(),
        ratios.keys().collect::<Vec<_>>()
    );
    for (name, ratio) in &ratios {
        let recorded = baseline[*name];
        assert!(
            *ratio <= 3.0 * recorded,
            "{name}: {ratio:.3} × the calibration, recorded {recorded:.3} (3× is the limit)"
        );
    }
}

/// A measurement, not a check: milliseconds a training batch of the shipped ResNet's recipe (or the
/// CNN's, with `MODEL=cnn`; `BATCH` changes its batch size) on 9,000 test-set images, `STEPS` batches
/// (40), the first three left out; prints the fastest, the 25th percentile and the median. The fastest
/// batch is what stays comparable between builds on a noisy machine (BENCHMARKS.md). It also prints the
/// median of each quarter of the run, which shows a machine slowing down or speeding up during it, the
/// process's page faults a batch, and the mean milliseconds a batch of each stage (forward and backward
/// by layer, the update), as the page's threads check prints them.
///
/// In this process glibc's allocator may give each batch's freed memory back to the kernel and fault it in
/// again, thousands of pages a batch: its thresholds rise only as large buffers are freed, and here the
/// 47 MB training file is not read first, as it is in the CLI. Raise them, so that freed memory stays in
/// the process as it does in `fashionlab train` and the batches are timed as it runs them (BENCHMARKS.md,
/// session 26):
/// `GLIBC_TUNABLES=glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=2147483647
/// RAYON_NUM_THREADS=2 cargo test --release --test speed training_batch_timing -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement, not a check"]
fn training_batch_timing() {
    let device = Device::flex();
    let test =
        local::load_split(&local::locate(None).expect("run .ci/setup"), Split::Test).unwrap();
    let kind = match std::env::var("MODEL").as_deref() {
        Ok("cnn") => DeepModelKind::Cnn,
        _ => DeepModelKind::ResNet,
    };
    let steps: usize = std::env::var("STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(40)
        .max(4);
    let train_part: Vec<usize> = (0..9000).collect();
    let val_part: Vec<usize> = (9000..9100).collect();
    let r = recipe(kind)
        .edited(&RecipeEdits {
            epochs: Some(100),
            batch_size: std::env::var("BATCH").ok().and_then(|s| s.parse().ok()),
            ..Default::default()
        })
        .unwrap();
    let mut trainer = Trainer::new(
        &r.architecture,
        r.train.clone(),
        test.subset(&train_part),
        test.subset(&val_part),
        &device,
    )
    .unwrap();
    let faults_before = minor_faults();
    // The epoch's mean milliseconds a batch by stage so far, from the last batch's progress.
    let mut stages = Vec::new();
    // Batches only: an epoch's last step also validates.
    let mut ms: Vec<f64> = (0..steps)
        .filter_map(|_| {
            let t = Instant::now();
            let step = block_on(trainer.step()).unwrap();
            let ms = t.elapsed().as_secs_f64() * 1e3;
            match step {
                Step::Batch(p) => {
                    stages = p.timing;
                    Some(ms)
                }
                _ => None,
            }
        })
        .skip(3)
        .collect();
    for t in &stages {
        eprintln!("  {:?} {}: {:.2} ms a batch", t.pass, t.name, t.millis);
    }
    let faults = (minor_faults() - faults_before) / steps as u64;
    let quarter = ms.len().div_ceil(4);
    let medians: Vec<String> = ms
        .chunks(quarter)
        .map(|c| {
            let mut c = c.to_vec();
            c.sort_by(f64::total_cmp);
            format!("{:.1}", c[c.len() / 2])
        })
        .collect();
    eprintln!(
        "medians by quarter of the run: {}; {faults} page faults a batch",
        medians.join(", ")
    );
    ms.sort_by(f64::total_cmp);
    eprintln!(
        "{kind:?}, {} threads: a batch {:.2} ms fastest, {:.2} 25th percentile, {:.2} median",
        rayon::current_num_threads(),
        ms[0],
        ms[ms.len() / 4],
        ms[ms.len() / 2]
    );
}

/// The process's minor page faults so far: field 10 of `/proc/self/stat`, counted after the command
/// name's closing parenthesis (the name may hold spaces); 0 where there is no procfs.
fn minor_faults() -> u64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0;
    };
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    // From the third field on: state, ppid, pgrp, session, tty, tpgid, flags, minflt.
    after_name
        .split_whitespace()
        .nth(7)
        .and_then(|f| f.parse().ok())
        .unwrap_or(0)
}

/// `photo` resized (nearest) to `w × h`.
fn resize_to(photo: &Photo, w: u32, h: u32) -> Photo {
    let mut rgb = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h {
        for x in 0..w {
            let sx = (x * photo.width / w) as usize;
            let sy = (y * photo.height / h) as usize;
            let i = (sy * photo.width as usize + sx) * 3;
            rgb.extend_from_slice(&photo.rgb[i..i + 3]);
        }
    }
    Photo::from_rgb(w, h, rgb).unwrap()
}
