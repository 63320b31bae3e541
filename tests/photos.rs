//! The photo path on synthetic photos of real items (`photo::synth`): the item is found, "no item" is
//! said of empty pictures, and the threshold behind it is calibrated on training-range photos only.
#![cfg(not(target_arch = "wasm32"))]

use burn::tensor::Device;
use fashionlab::data::{NUM_CLASSES, Split, local};
use fashionlab::deep::train::{block_on, predict_probabilities};
use fashionlab::deep::weights;
use fashionlab::metrics::argmax_rows;
use fashionlab::photo::synth::{
    BENCH_SEED, Condition, Ranges, TrainingRanges, benchmark_items, benchmark_photo, photo,
    photo_seed,
};
use fashionlab::photo::{PrepareConfig, prepare_image};

fn quantile(v: &mut [f32], q: f64) -> f32 {
    v.sort_by(f32::total_cmp);
    v[((v.len() - 1) as f64 * q).round() as usize]
}

/// On 600 training-range photos of training items, at most 1% are said to hold no item; on 300 empty
/// training-range scenes (the same backgrounds, light, noise and JPEG, no item), at least 85% are.
/// Prints the contrast quantiles the threshold (`MIN_ITEM_CONTRAST`) was chosen from.
#[test]
fn item_threshold_holds_on_training_range_photos() {
    let train = local::load_split(&local::locate(None).unwrap(), Split::Train).unwrap();
    let config = PrepareConfig::default();
    let items: Vec<_> = (0..600)
        .map(|i| {
            let (p, _) = photo(
                train.image(i * 97 % train.len()),
                Ranges::Training(TrainingRanges::MODERATE),
                photo_seed(7, i),
            );
            prepare_image(&p, &config)
        })
        .collect();
    let empties: Vec<_> = (0..300)
        .map(|i| {
            let (p, _) = photo(
                &[0u8; 784],
                Ranges::Training(TrainingRanges::MODERATE),
                photo_seed(8, i),
            );
            prepare_image(&p, &config)
        })
        .collect();
    let missed = items.iter().filter(|p| !p.item_found).count();
    let flagged = empties.iter().filter(|p| !p.item_found).count();
    let mut ci: Vec<f32> = items.iter().map(|p| p.contrast).collect();
    let mut ce: Vec<f32> = empties.iter().map(|p| p.contrast).collect();
    eprintln!(
        "items: {missed}/600 said empty; contrast p0.5 {:.2} p1 {:.2} p2 {:.2} p5 {:.2} | empty scenes: {flagged}/300 said empty; contrast p50 {:.2} p85 {:.2} p90 {:.2} p95 {:.2} p99 {:.2}",
        quantile(&mut ci, 0.005),
        quantile(&mut ci, 0.01),
        quantile(&mut ci, 0.02),
        quantile(&mut ci, 0.05),
        quantile(&mut ce, 0.5),
        quantile(&mut ce, 0.85),
        quantile(&mut ce, 0.9),
        quantile(&mut ce, 0.95),
        quantile(&mut ce, 0.99),
    );
    assert!(
        missed <= 6,
        "{missed} of 600 item photos said to hold no item"
    );
    assert!(
        flagged >= 255,
        "only {flagged} of 300 empty scenes said to hold no item"
    );
}

/// The shipped deep model `name` (`pretrained/<name>.weights`) and its header.
fn shipped(
    name: &str,
    device: &Device,
) -> (fashionlab::deep::models::DeepModel, weights::WeightsHeader) {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("pretrained/{name}.weights"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    weights::load(&bytes, None, device).unwrap()
}

/// Accuracy of the shipped model `name` on benchmark photos of the first `per_class` picked test items
/// of each class, by condition (a photo said to hold no item counts as wrong).
fn benchmark_accuracy(name: &str, per_class: usize) -> Vec<(Condition, f64)> {
    let test = local::load_split(&local::locate(None).unwrap(), Split::Test).unwrap();
    let items = benchmark_items(test.labels(), per_class, BENCH_SEED);
    let device = Device::flex();
    let (model, header) = shipped(name, &device);
    Condition::ALL
        .into_iter()
        .map(|condition| {
            // Two threads, each preparing every other photo.
            let prepared: Vec<_> = std::thread::scope(|s| {
                let halves: Vec<_> = (0..2)
                    .map(|t| {
                        let (test, items) = (&test, &items);
                        s.spawn(move || {
                            (t..items.len())
                                .step_by(2)
                                .map(|pos| {
                                    let p = benchmark_photo(
                                        test.image(items[pos]),
                                        condition,
                                        pos,
                                        BENCH_SEED,
                                    );
                                    (pos, prepare_image(&p, &PrepareConfig::default()))
                                })
                                .collect::<Vec<_>>()
                        })
                    })
                    .collect();
                let mut all: Vec<_> = halves.into_iter().flat_map(|h| h.join().unwrap()).collect();
                all.sort_by_key(|(pos, _)| *pos);
                all.into_iter().map(|(_, p)| p).collect()
            });
            let pixels: Vec<u8> = prepared.iter().flat_map(|p| p.pixels.clone()).collect();
            let probs = block_on(predict_probabilities(
                &model,
                &pixels,
                header.normalization,
                &device,
                256,
            ))
            .unwrap();
            let predicted = argmax_rows(&probs, NUM_CLASSES);
            let right = predicted
                .iter()
                .zip(&items)
                .zip(&prepared)
                .filter(|((p, i), prep)| **p == test.label(**i) && prep.item_found)
                .count();
            (condition, right as f64 / items.len() as f64)
        })
        .collect()
}

/// The photo-trained CNN and ResNet, which answer for photos in the page, on the photo benchmark's
/// first 20 picked items of each class (200 photos a condition; `photos bench` scores 50 of each):
/// every condition at least `EACH`, all together at least `ALL`. The benchmark's photos come from test
/// items at evaluation ranges and seeds; no threshold of the photo path was set on them.
#[test]
fn photo_trained_models_hold_on_the_photo_benchmark() {
    const EACH: f64 = 0.80;
    const ALL: f64 = 0.85;
    for name in ["cnn-photo", "resnet-photo"] {
        let by_condition = benchmark_accuracy(name, 20);
        let all = by_condition.iter().map(|(_, a)| a).sum::<f64>() / by_condition.len() as f64;
        eprintln!("{name}: {by_condition:?}, all {all:.3}");
        for (condition, acc) in &by_condition {
            assert!(*acc >= EACH, "{name}, {}: {acc}", condition.name());
        }
        assert!(all >= ALL, "{name}: {all} over all conditions");
    }
}

/// Real product photos (`tests/fixtures/real-photos/`, CC BY 4.0, from the saleor 2.10.1 package: three
/// hoodies, three T-shirts, two pairs of plimsolls, each a garment photographed on a light background).
/// Every photo is found to hold an item, and each photo-trained variant names at least `RIGHT` of the 8
/// (the pullovers are the hard part: a hoodie's pocket and hood read as a coat's to the models).
#[test]
fn real_product_photos_are_found_and_named() {
    const RIGHT: usize = 5;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/real-photos");
    let labels: std::collections::BTreeMap<String, u8> =
        serde_json::from_slice(&std::fs::read(dir.join("labels.json")).unwrap()).unwrap();
    assert_eq!(labels.len(), 8);
    let prepared: Vec<_> = labels
        .keys()
        .map(|name| {
            let bytes = std::fs::read(dir.join(name)).unwrap();
            let photo = fashionlab::photo::Photo::decode(&bytes).unwrap();
            let p = prepare_image(&photo, &PrepareConfig::default());
            assert!(p.item_found, "{name}: {:?}", p.verdict);
            p
        })
        .collect();
    let pixels: Vec<u8> = prepared.iter().flat_map(|p| p.pixels.clone()).collect();
    let device = Device::flex();
    for name in ["cnn-photo", "resnet-photo"] {
        let (model, header) = shipped(name, &device);
        let probs = block_on(predict_probabilities(
            &model,
            &pixels,
            header.normalization,
            &device,
            8,
        ))
        .unwrap();
        let predicted = argmax_rows(&probs, NUM_CLASSES);
        let right = predicted
            .iter()
            .zip(labels.values())
            .filter(|(p, t)| p == t)
            .count();
        eprintln!("{name}: {right} of 8 real photos right ({predicted:?})");
        assert!(right >= RIGHT, "{name}: {right} of 8 real photos right");
    }
}
