//! Short training runs on real images: the loop learns, and the same seed gives the same result.
#![cfg(not(target_arch = "wasm32"))]

use burn::tensor::Device;
use fashionlab::data::{Dataset, Split, local};
use fashionlab::models::{DeepModelConfig, DeepModelKind};
use fashionlab::preprocess::{AugmentConfig, SplitConfig, stratified_split};
use fashionlab::train::{
    Control, Step, TrainConfig, block_on, loss_and_accuracy, predict_probabilities, train,
};

fn subsets(n_train: usize, n_test: usize) -> (Dataset, Dataset, Dataset) {
    let dir = local::locate(None).expect("Fashion-MNIST must be installed: run .ci/setup");
    let full = local::load_split(&dir, Split::Train).unwrap();
    let head: Vec<usize> = (0..n_train).collect();
    let part = full.subset(&head);
    let split = stratified_split(part.labels(), &SplitConfig::default()).unwrap();
    let test = local::load_split(&dir, Split::Test).unwrap();
    let test_idx: Vec<usize> = (0..n_test).collect();
    (
        part.subset(&split.train),
        part.subset(&split.validation),
        test.subset(&test_idx),
    )
}

fn test_accuracy(kind: DeepModelKind, config: TrainConfig, n_train: usize) -> (f64, usize) {
    let (tr, va, te) = subsets(n_train, 2000);
    let device = Device::flex();
    let batches_per_epoch = tr.len().div_ceil(config.batch_size);
    let (mut batch_steps, mut epoch_steps, mut last_batch) = (0, 0, 0);
    let out = block_on(train(
        &DeepModelConfig::default_for(kind),
        config,
        tr,
        va,
        &device,
        |s| {
            match s {
                Step::Batch(p) => {
                    assert!(p.images_per_second > 0.0, "{}", p.images_per_second);
                    assert_eq!((p.batch, p.batches), (last_batch + 1, batches_per_epoch));
                    last_batch = p.batch;
                    batch_steps += 1;
                }
                // An epoch's last batch is reported as the epoch.
                Step::Epoch(_) => {
                    assert_eq!(last_batch, batches_per_epoch - 1);
                    last_batch = 0;
                    epoch_steps += 1;
                }
                Step::Finished => {}
            }
            Control::Continue
        },
    ))
    .unwrap();
    // Every batch of every epoch was reported, in order.
    assert_eq!(epoch_steps, out.history.len());
    assert_eq!(
        batch_steps + epoch_steps,
        out.history.len() * batches_per_epoch
    );
    let probs = block_on(predict_probabilities(
        &out.model,
        te.pixels(),
        Default::default(),
        &device,
        500,
    ))
    .unwrap();
    (loss_and_accuracy(&probs, te.labels()).1, out.history.len())
}

#[test]
fn mlp_learns_from_a_few_thousand_images() {
    // Augmentation regularises long runs but slows a short one down: off here, where learning is the point.
    let config = TrainConfig {
        epochs: 6,
        batch_size: 64,
        augment: AugmentConfig::none(),
        ..Default::default()
    };
    let (acc, epochs) = test_accuracy(DeepModelKind::Mlp, config, 10_000);
    assert_eq!(epochs, 6);
    assert!(acc > 0.82, "MLP test accuracy {acc}");
}

#[test]
fn cnn_learns_from_a_few_thousand_images() {
    let config = TrainConfig {
        epochs: 4,
        batch_size: 64,
        augment: AugmentConfig::none(),
        ..Default::default()
    };
    let (acc, _) = test_accuracy(DeepModelKind::Cnn, config, 10_000);
    assert!(acc > 0.84, "CNN test accuracy {acc}");
}

#[test]
fn cancel_keeps_the_best_model_so_far() {
    let (tr, va, _) = subsets(2000, 10);
    let config = TrainConfig {
        epochs: 5,
        batch_size: 100,
        ..Default::default()
    };
    let mut epochs_seen = 0;
    let out = block_on(train(
        &DeepModelConfig::default_for(DeepModelKind::Mlp),
        config,
        tr,
        va,
        &Device::flex(),
        |s| {
            if matches!(s, Step::Epoch(_)) {
                epochs_seen += 1;
            }
            if epochs_seen == 2 {
                Control::Cancel
            } else {
                Control::Continue
            }
        },
    ))
    .unwrap();
    assert!(out.cancelled);
    assert_eq!(out.history.len(), 2);
    assert!((1..=2).contains(&out.best_epoch));
}

#[test]
fn same_seed_same_history() {
    let run = || {
        let (tr, va, _) = subsets(1500, 10);
        let config = TrainConfig {
            epochs: 1,
            batch_size: 50,
            ..Default::default()
        };
        block_on(train(
            &DeepModelConfig::default_for(DeepModelKind::Mlp),
            config,
            tr,
            va,
            &Device::flex(),
            |_| Control::Continue,
        ))
        .unwrap()
        .history
    };
    let (a, b) = (run(), run());
    assert_eq!(a[0].train_loss, b[0].train_loss);
    assert_eq!(a[0].val_accuracy, b[0].val_accuracy);
}
