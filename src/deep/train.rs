//! The one training loop for the deep models, shared by the native CLI and the browser worker.
//!
//! [`Trainer::step`] runs one batch (and, at the end of an epoch, the validation pass) and returns, so a
//! browser worker can yield between batches to handle pause and cancel; [`train`] drives it to the end.
//! Every tensor readback is asynchronous, as WebGPU requires.

use burn::tensor::Device;
use burn::tensor::activation::softmax;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::data::{NUM_CLASSES, PIXELS};
use crate::deep::backend::read_f32;
use crate::deep::input::{AugmentConfig, Normalization, normalize, to_image_tensor};
use crate::deep::models::{DeepModel, ModelError};
use crate::metrics::argmax_rows;
// The training loop's own: autodiff, the optimiser, augmentation and the loss.
#[cfg(feature = "engine")]
use {
    crate::data::Dataset,
    crate::deep::input::augment_image,
    crate::deep::models::{DeepModelConfig, Layer},
    crate::deep::ops::clock::{BackwardClock, backward_split},
    crate::rng::Rng,
    burn::module::Module,
    burn::nn::loss::{CrossEntropyLoss, CrossEntropyLossConfig},
    burn::optim::{
        AdamWConfig, GradientsParams, ModuleOptimizer, SgdConfig, decay::WeightDecayConfig,
        momentum::MomentumConfig,
    },
    burn::tensor::activation::log_softmax,
    burn::tensor::{Int, Tensor, TensorData},
    web_time::Instant,
};

/// Errors of training and evaluation.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum TrainError {
    /// A training setting is out of range.
    #[error("invalid training config: {0}")]
    Config(String),
    /// The model configuration is invalid.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The training or validation set is empty.
    #[error("the {0} set is empty")]
    EmptyData(&'static str),
    /// The loss became NaN or infinite; nothing is saved from such a run.
    #[error(
        "training diverged: the loss became {value} at epoch {epoch}, batch {batch}. Try a lower learning rate. \
         Nothing was saved."
    )]
    NonFiniteLoss {
        /// Epoch (1-based).
        epoch: usize,
        /// Batch within the epoch (1-based).
        batch: usize,
        /// The loss value.
        value: f32,
    },
    /// Reading a tensor back from the device failed (a lost GPU device, say).
    #[error("reading results back from the device failed: {0}")]
    Readback(String),
}

/// The optimiser of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// AdamW (Loshchilov & Hutter): Adam with the weight decay decoupled from the gradient. The
    /// shipped recipes' optimiser.
    #[default]
    AdamW,
    /// Stochastic gradient descent with Nesterov momentum 0.9, the weight decay as an L2 penalty.
    Sgd,
}

/// Training settings. Defaults: 20 epochs, batch 128, AdamW at peak learning rate 2e-3 with weight decay
/// 1e-4, one epoch of linear warm-up then cosine decay to 1% of the peak, label smoothing 0.1, the default
/// augmentation, unit normalisation, seed 0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Passes over the training set, 1..=500. Default 20.
    pub epochs: usize,
    /// Images per batch, 1..=4096. Default 128.
    pub batch_size: usize,
    /// Peak learning rate, in (0, 1]. Default 2e-3.
    pub learning_rate: f64,
    /// The optimiser. Default AdamW (files written before the field existed read as AdamW).
    #[serde(default)]
    pub optimizer: OptimizerKind,
    /// Weight decay, in [0, 1]: decoupled for AdamW, an L2 penalty for SGD. Default 1e-4.
    pub weight_decay: f64,
    /// Epochs of linear warm-up from 10% of the peak, in [0, epochs]. Default 1.
    pub warmup_epochs: f64,
    /// Label smoothing, in [0, 0.5). Default 0.1; 0 disables it.
    pub label_smoothing: f32,
    /// Augmentation of training images. Default: [`AugmentConfig::default`].
    pub augment: AugmentConfig,
    /// Pixel normalisation. Default: [`Normalization::Unit`].
    pub normalization: Normalization,
    /// Seed of the initialisation, shuffling and augmentation. Default 0.
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: 20,
            batch_size: 128,
            learning_rate: 2e-3,
            optimizer: OptimizerKind::AdamW,
            weight_decay: 1e-4,
            warmup_epochs: 1.0,
            label_smoothing: 0.1,
            augment: AugmentConfig::default(),
            normalization: Normalization::Unit,
            seed: 0,
        }
    }
}

/// The ranges [`TrainConfig::validate`] enforces. The page reads them too (`recipe::Limits`), so that
/// its inputs offer exactly what Rust accepts.
pub mod bounds {
    /// Epochs, inclusive.
    pub const EPOCHS: [usize; 2] = [1, 500];
    /// Batch size, inclusive.
    pub const BATCH_SIZE: [usize; 2] = [1, 4096];
    /// Peak learning rate: above the first, at most the second.
    pub const LEARNING_RATE: [f64; 2] = [0.0, 1.0];
    /// Weight decay, inclusive.
    pub const WEIGHT_DECAY: [f64; 2] = [0.0, 1.0];
    /// Label smoothing: at least the first, below the second.
    pub const LABEL_SMOOTHING: [f32; 2] = [0.0, 0.5];
}

impl TrainConfig {
    /// Checks every range (see [`bounds`]); warm-up is in [0, epochs].
    pub fn validate(&self) -> Result<(), TrainError> {
        use bounds::*;
        let bad = |m: String| Err(TrainError::Config(m));
        if !(EPOCHS[0]..=EPOCHS[1]).contains(&self.epochs) {
            return bad(format!(
                "epochs {} is outside {}..={}",
                self.epochs, EPOCHS[0], EPOCHS[1]
            ));
        }
        if !(BATCH_SIZE[0]..=BATCH_SIZE[1]).contains(&self.batch_size) {
            return bad(format!(
                "batch size {} is outside {}..={}",
                self.batch_size, BATCH_SIZE[0], BATCH_SIZE[1]
            ));
        }
        if !(self.learning_rate > LEARNING_RATE[0] && self.learning_rate <= LEARNING_RATE[1]) {
            return bad(format!(
                "learning rate {} is outside ({}, {}]",
                self.learning_rate, LEARNING_RATE[0], LEARNING_RATE[1]
            ));
        }
        if !(WEIGHT_DECAY[0]..=WEIGHT_DECAY[1]).contains(&self.weight_decay) {
            return bad(format!(
                "weight decay {} is outside [{}, {}]",
                self.weight_decay, WEIGHT_DECAY[0], WEIGHT_DECAY[1]
            ));
        }
        if !(self.warmup_epochs >= 0.0 && self.warmup_epochs <= self.epochs as f64) {
            return bad(format!(
                "warm-up {} must be in [0, epochs]",
                self.warmup_epochs
            ));
        }
        if !(LABEL_SMOOTHING[0]..LABEL_SMOOTHING[1]).contains(&self.label_smoothing) {
            return bad(format!(
                "label smoothing {} is outside [{}, {})",
                self.label_smoothing, LABEL_SMOOTHING[0], LABEL_SMOOTHING[1]
            ));
        }
        self.augment
            .validate()
            .map_err(|e| TrainError::Config(e.to_string()))
    }
}

/// Knowledge distillation: a trained teacher's answers, softened by a temperature, as a second target
/// beside the labels. The loss is `(1 − weight) · CE(labels) + weight · T² · CE(softmax(teacher / T),
/// softmax(student / T))`, the `T²` keeping the soft term's gradients on the scale of the hard one's
/// (Hinton et al., 2015). The teacher sees the very augmented batch the student sees.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Distillation {
    /// The soft target's share of the loss, in (0, 1].
    pub weight: f32,
    /// The softening temperature, in [1, 20].
    pub temperature: f32,
}

impl Distillation {
    /// Checks both ranges.
    pub fn validate(&self) -> Result<(), TrainError> {
        if !(self.weight > 0.0 && self.weight <= 1.0) {
            return Err(TrainError::Config(format!(
                "distillation weight {} is outside (0, 1]",
                self.weight
            )));
        }
        if !(1.0..=20.0).contains(&self.temperature) {
            return Err(TrainError::Config(format!(
                "distillation temperature {} is outside [1, 20]",
                self.temperature
            )));
        }
        Ok(())
    }
}

/// The learning rate at `step` of `total`: linear warm-up from 10% of `peak` over `warmup` steps, then
/// cosine decay to 1% of `peak` at the last step.
pub fn learning_rate(step: usize, total: usize, warmup: usize, peak: f64) -> f64 {
    if step < warmup {
        return peak * (0.1 + 0.9 * step as f64 / warmup as f64);
    }
    let span = total.saturating_sub(warmup).max(1) as f64;
    let t = ((step - warmup) as f64 / span).min(1.0);
    let floor = 0.01 * peak;
    floor + (peak - floor) * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())
}

/// One epoch of the history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// Epoch number, from 1.
    pub epoch: usize,
    /// Mean training loss (with label smoothing, on augmented images).
    pub train_loss: f64,
    /// Training accuracy on augmented images.
    pub train_accuracy: f64,
    /// Validation loss (plain cross-entropy).
    pub val_loss: f64,
    /// Validation accuracy.
    pub val_accuracy: f64,
    /// Learning rate at the end of the epoch.
    pub learning_rate: f64,
    /// Seconds the epoch took, validation included.
    pub seconds: f64,
    /// Seconds of the training batches alone.
    #[serde(default)]
    pub train_seconds: f64,
}

/// Where training stands, for progress bars and the page.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Progress {
    /// Current epoch, from 1.
    pub epoch: usize,
    /// Total epochs.
    pub epochs: usize,
    /// Batches done in this epoch.
    pub batch: usize,
    /// Batches per epoch.
    pub batches: usize,
    /// Mean training loss so far this epoch.
    pub loss: f64,
    /// Training accuracy so far this epoch.
    pub accuracy: f64,
    /// Training throughput since the start.
    pub images_per_second: f64,
    /// Estimated seconds left.
    pub eta_seconds: f64,
    /// Where a batch's time goes this epoch, on the CPU (empty on a GPU, whose operations are only
    /// queued when called, so that timing them would time the queueing).
    pub timing: Vec<StageTime>,
}

/// One stage of a training batch and its mean time per batch this epoch, in the order a batch runs
/// them: each layer's forward pass (by its look-inside name), the logits with the loss, the backward
/// pass through the logits and the loss, each layer's backward pass from the last layer to the first,
/// and the optimiser's update.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StageTime {
    /// `conv 1`…, `logits + loss`, `update`.
    pub name: String,
    /// Which part of the batch.
    pub pass: Pass,
    /// Mean milliseconds per batch.
    pub millis: f64,
}

/// The three parts of a training batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Pass {
    /// Layer outputs from the batch, and the loss.
    Forward,
    /// Gradients from the loss back to every parameter.
    Backward,
    /// The optimiser's step on the parameters.
    Update,
}

/// What one [`Trainer::step`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// A batch was trained.
    Batch(Progress),
    /// The last batch of an epoch was trained and the model validated.
    Epoch(EpochRecord),
    /// All epochs are done.
    Finished,
}

/// The result of a training run.
#[derive(Debug)]
pub struct TrainOutcome {
    /// The model of the best validation epoch, in inference mode.
    pub model: DeepModel,
    /// One record per completed epoch.
    pub history: Vec<EpochRecord>,
    /// The epoch whose model was kept (1-based).
    pub best_epoch: usize,
    /// Whether training was cancelled before the last epoch.
    pub cancelled: bool,
    /// Seconds of training, validation included.
    pub seconds: f64,
}

#[cfg(feature = "engine")]
/// A training run in progress.
pub struct Trainer {
    architecture: DeepModelConfig,
    config: TrainConfig,
    device: Device,
    model: Option<DeepModel>,
    optimizer: ModuleOptimizer,
    loss: CrossEntropyLoss,
    train: Dataset,
    validation: Dataset,
    rng: Rng,
    order: Vec<usize>,
    epoch: usize,
    batch: usize,
    epoch_loss: f64,
    epoch_correct: usize,
    epoch_seen: usize,
    epoch_started: Instant,
    started: Instant,
    /// This epoch's summed seconds per stage ([`StageTime`]) when the device is the CPU, and the
    /// batches they sum.
    stage_seconds: Vec<(String, Pass, f64)>,
    timed_batches: usize,
    images_trained: usize,
    history: Vec<EpochRecord>,
    best: Option<(f64, usize, DeepModel)>,
    /// A teacher in inference mode (on the device without autodiff) and how its answers are weighed.
    teacher: Option<(DeepModel, Distillation)>,
}

#[cfg(feature = "engine")]
impl Trainer {
    /// Prepares a run: validates the settings and initialises the model on `device` (an autodiff device
    /// is made from it). Seeds the device's random generator natively.
    pub fn new(
        model: &DeepModelConfig,
        config: TrainConfig,
        train: Dataset,
        validation: Dataset,
        device: &Device,
    ) -> Result<Self, TrainError> {
        config.validate()?;
        if train.is_empty() {
            return Err(TrainError::EmptyData("training"));
        }
        if validation.is_empty() {
            return Err(TrainError::EmptyData("validation"));
        }
        let device = device.clone().autodiff();
        device.seed(config.seed);
        let architecture = model.clone();
        let model = model.init(&device)?;
        let optimizer = match config.optimizer {
            OptimizerKind::AdamW => AdamWConfig::new()
                .with_weight_decay(config.weight_decay as f32)
                .init(),
            OptimizerKind::Sgd => SgdConfig::new()
                .with_momentum(Some(
                    MomentumConfig::new()
                        .with_dampening(0.0)
                        .with_nesterov(true),
                ))
                .with_weight_decay(
                    (config.weight_decay > 0.0)
                        .then(|| WeightDecayConfig::new(config.weight_decay as f32)),
                )
                .init(),
        };
        let smoothing = (config.label_smoothing > 0.0).then_some(config.label_smoothing);
        let loss = CrossEntropyLossConfig::new()
            .with_smoothing(smoothing)
            .init(&device);
        let rng = Rng::new(config.seed);
        let now = Instant::now();
        Ok(Self {
            architecture,
            config,
            device,
            model: Some(model),
            optimizer,
            loss,
            train,
            validation,
            rng,
            order: Vec::new(),
            epoch: 0,
            batch: 0,
            epoch_loss: 0.0,
            epoch_correct: 0,
            epoch_seen: 0,
            epoch_started: now,
            started: now,
            stage_seconds: Vec::new(),
            timed_batches: 0,
            images_trained: 0,
            history: Vec::new(),
            best: None,
            teacher: None,
        })
    }

    /// Replaces the freshly initialised model by the one in `weights`, so that the run fine-tunes it.
    /// The file holds this run's model and configuration, or a narrower CNN, which is widened to this
    /// run's width first ([`crate::deep::weights::widen`]).
    pub fn init_from(&mut self, weights: &[u8]) -> Result<(), crate::deep::weights::WeightsError> {
        use crate::deep::weights;
        let kind = self.model.as_ref().map(DeepModel::kind);
        let (header, _) = weights::read_header(weights)?;
        let widened;
        let weights = if header.config != self.architecture
            && matches!(
                (&header.config, &self.architecture),
                (DeepModelConfig::Cnn(_), DeepModelConfig::Cnn(_))
            ) {
            widened = weights::widen(weights, &self.architecture, self.config.seed)?;
            &widened[..]
        } else {
            weights
        };
        let (model, _) = weights::load_trainable(weights, kind, &self.device)?;
        self.model = Some(model);
        Ok(())
    }

    /// Trains against `teacher`'s softened answers as well as the labels (see [`Distillation`]).
    /// `teacher` is a model in inference mode, on this run's device without autodiff.
    pub fn distill_from(
        &mut self,
        teacher: DeepModel,
        settings: Distillation,
    ) -> Result<(), TrainError> {
        settings.validate()?;
        self.teacher = Some((teacher, settings));
        Ok(())
    }

    fn batches_per_epoch(&self) -> usize {
        self.train.len().div_ceil(self.config.batch_size)
    }

    /// Where training stands.
    pub fn progress(&self) -> Progress {
        let batches = self.batches_per_epoch();
        let elapsed = self.started.elapsed().as_secs_f64();
        let ips = if elapsed > 0.0 {
            self.images_trained as f64 / elapsed
        } else {
            0.0
        };
        let total_images = (self.config.epochs * self.train.len()) as f64;
        let left = (total_images - self.images_trained as f64).max(0.0);
        // Validation costs about a third of an epoch's forward passes: count it in the estimate.
        let val_share = 1.0 + self.validation.len() as f64 / (3.0 * self.train.len() as f64);
        Progress {
            epoch: self.epoch.max(1),
            epochs: self.config.epochs,
            batch: self.batch,
            batches,
            loss: if self.epoch_seen > 0 {
                self.epoch_loss / self.epoch_seen as f64
            } else {
                0.0
            },
            accuracy: if self.epoch_seen > 0 {
                self.epoch_correct as f64 / self.epoch_seen as f64
            } else {
                0.0
            },
            images_per_second: ips,
            eta_seconds: if ips > 0.0 {
                left / ips * val_share
            } else {
                f64::NAN
            },
            timing: self
                .stage_seconds
                .iter()
                .map(|(name, pass, s)| StageTime {
                    name: name.clone(),
                    pass: *pass,
                    millis: 1e3 * s / self.timed_batches.max(1) as f64,
                })
                .collect(),
        }
    }

    /// Trains one batch; at an epoch's end also validates and records the epoch.
    pub async fn step(&mut self) -> Result<Step, TrainError> {
        if self.epoch >= self.config.epochs && self.batch == 0 {
            return Ok(Step::Finished);
        }
        if self.batch == 0 {
            self.epoch += 1;
            self.order = (0..self.train.len()).collect();
            self.rng.shuffle(&mut self.order);
            self.epoch_loss = 0.0;
            self.epoch_correct = 0;
            self.epoch_seen = 0;
            self.epoch_started = Instant::now();
            self.stage_seconds.clear();
            self.timed_batches = 0;
        }
        let batches = self.batches_per_epoch();
        let bs = self.config.batch_size;
        let idx = &self.order[self.batch * bs..((self.batch + 1) * bs).min(self.order.len())];
        let n = idx.len();
        // Augmented, normalised batch: [n, 1, 28, 28]; labels [n].
        let fill = self.config.normalization.zero();
        let mut values = vec![0.0f32; n * PIXELS];
        let mut labels = Vec::with_capacity(n);
        let mut plain = vec![0.0f32; PIXELS];
        for (k, &i) in idx.iter().enumerate() {
            for (p, &v) in plain.iter_mut().zip(self.train.image(i)) {
                *p = self.config.normalization.apply(v);
            }
            augment_image(
                &plain,
                &mut values[k * PIXELS..(k + 1) * PIXELS],
                &self.config.augment,
                fill,
                &mut self.rng,
            );
            labels.push(self.train.label(i) as i64);
        }
        let inner = self.device.clone().without_autodiff();
        let cpu = inner == Device::flex();
        // The teacher's softened answers to this very batch: [n, 10], no gradient.
        let soft_targets = match &self.teacher {
            Some((teacher, settings)) => {
                let x = to_image_tensor(values.clone(), &inner);
                let soft = on_cpu_pool(cpu, || {
                    softmax(teacher.forward(x).div_scalar(settings.temperature), 1) // [n, 10]
                });
                // A constant of the student's graph, left on the device: no readback.
                Some((soft.autodiff(), *settings))
            }
            None => None,
        };
        let x = to_image_tensor(values, &self.device);
        let y = Tensor::<1, Int>::from_data(TensorData::new(labels, [n]), &self.device);

        let step = (self.epoch - 1) * batches + self.batch;
        let lr = learning_rate(
            step,
            self.config.epochs * batches,
            (self.config.warmup_epochs * batches as f64) as usize,
            self.config.learning_rate,
        );
        let model = self.model.take().expect("model is present between steps");
        // On the CPU each operation runs when called, so the time between layer outputs is the layer's;
        // each output is marked for the backward pass's clock, which splits that pass the same way.
        let clock = BackwardClock::new();
        let (optimizer, loss_fn) = (&mut self.optimizer, &self.loss);
        // The batch's forward pass, backward pass and update: synchronous on every backend (WebGPU
        // queues them).
        let train_batch = || {
            let mut stages: Vec<(String, Pass, f64)> = Vec::new();
            let mut last = Instant::now();
            let logits = model.forward_seen(x, &mut |layer| {
                if cpu {
                    let now = Instant::now();
                    let index = stages.len();
                    stages.push((layer.name(), Pass::Forward, (now - last).as_secs_f64()));
                    match layer {
                        Layer::Map(_, t) | Layer::Block(_, t) => *t = clock.mark(t.clone(), index),
                        Layer::Vector(_, t) | Layer::Dense(_, t) => {
                            *t = clock.mark(t.clone(), index)
                        }
                    }
                    last = Instant::now();
                }
            }); // [n, 10]
            let hard = loss_fn.forward(logits.clone(), y.clone()); // [1]
            let loss = match soft_targets {
                Some((
                    soft,
                    Distillation {
                        weight,
                        temperature,
                    },
                )) => {
                    let log_student = log_softmax(logits.clone().div_scalar(temperature), 1); // [n, 10]
                    let soft_ce = (soft * log_student).sum_dim(1).mean().neg(); // [1]
                    hard.mul_scalar(1.0 - weight)
                        + soft_ce.mul_scalar(weight * temperature * temperature)
                }
                None => hard,
            };
            let correct = logits
                .detach()
                .argmax(1)
                .flatten::<1>(0, 1)
                .equal(y)
                .int()
                .sum(); // [1]
            let backward_start = Instant::now();
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            let backward_done = Instant::now();
            let model = optimizer.step(lr, model, grads);
            let times = (stages, last, backward_start, backward_done);
            (model, loss, correct, times)
        };
        let (model, loss, correct, (mut stages, last, backward_start, backward_done)) =
            on_cpu_pool(cpu, train_batch);
        self.model = Some(model);
        if cpu {
            let marks = stages.len();
            let head = "logits + loss";
            stages.push((
                head.into(),
                Pass::Forward,
                (backward_start - last).as_secs_f64(),
            ));
            match backward_split(&clock.take(), marks, backward_start, backward_done) {
                Some((head_seconds, layers)) => {
                    stages.push((head.into(), Pass::Backward, head_seconds));
                    for k in (0..marks).rev() {
                        stages.push((stages[k].0.clone(), Pass::Backward, layers[k]));
                    }
                }
                // A mark the backward pass did not reach (an input that needs no gradient): the pass
                // as one stage.
                None => stages.push((
                    "backward".into(),
                    Pass::Backward,
                    (backward_done - backward_start).as_secs_f64(),
                )),
            }
            stages.push((
                "update".into(),
                Pass::Update,
                backward_done.elapsed().as_secs_f64(),
            ));
            let same_stages = self.stage_seconds.len() == stages.len()
                && self
                    .stage_seconds
                    .iter()
                    .zip(&stages)
                    .all(|(a, b)| a.0 == b.0 && a.1 == b.1);
            if !same_stages {
                self.stage_seconds = stages
                    .iter()
                    .map(|(n, p, _)| (n.clone(), *p, 0.0))
                    .collect();
                self.timed_batches = 0;
            }
            for ((_, _, sum), (_, _, s)) in self.stage_seconds.iter_mut().zip(&stages) {
                *sum += s;
            }
            self.timed_batches += 1;
        }

        let loss_value: f32 = loss
            .detach()
            .into_scalar_async()
            .await
            .map_err(|e| TrainError::Readback(format!("{e:?}")))?;
        let correct: i64 = correct
            .into_scalar_async()
            .await
            .map_err(|e| TrainError::Readback(format!("{e:?}")))?;
        self.batch += 1;
        check_loss(loss_value, self.epoch, self.batch)?;
        self.epoch_loss += loss_value as f64 * n as f64;
        self.epoch_correct += correct as usize;
        self.epoch_seen += n;
        self.images_trained += n;
        if self.batch < batches {
            return Ok(Step::Batch(self.progress()));
        }

        // End of epoch: validate, keep the best model.
        self.batch = 0;
        let train_seconds = self.epoch_started.elapsed().as_secs_f64();
        let eval_model = self.model.as_ref().expect("model present").valid();
        let probs = predict_probabilities(
            &eval_model,
            self.validation.pixels(),
            self.config.normalization,
            &self.device,
            500,
        )
        .await?;
        let (val_loss, val_accuracy) = loss_and_accuracy(&probs, self.validation.labels());
        let record = EpochRecord {
            epoch: self.epoch,
            train_loss: self.epoch_loss / self.epoch_seen as f64,
            train_accuracy: self.epoch_correct as f64 / self.epoch_seen as f64,
            val_loss,
            val_accuracy,
            learning_rate: lr,
            seconds: self.epoch_started.elapsed().as_secs_f64(),
            train_seconds,
        };
        if self
            .best
            .as_ref()
            .is_none_or(|(acc, _, _)| val_accuracy > *acc)
        {
            self.best = Some((val_accuracy, self.epoch, eval_model));
        }
        self.history.push(record.clone());
        Ok(Step::Epoch(record))
    }

    /// Ends the run, returning the best model so far (the current one if no epoch has completed).
    pub fn finish(self) -> TrainOutcome {
        let cancelled = self.history.len() < self.config.epochs;
        let seconds = self.started.elapsed().as_secs_f64();
        let (best_epoch, model) = match self.best {
            Some((_, epoch, model)) => (epoch, model),
            None => (0, self.model.expect("model present").valid()),
        };
        TrainOutcome {
            model,
            history: self.history,
            best_epoch,
            cancelled,
            seconds,
        }
    }
}

#[cfg(feature = "engine")]
/// A NaN or infinite loss stops training with [`TrainError::NonFiniteLoss`].
fn check_loss(value: f32, epoch: usize, batch: usize) -> Result<(), TrainError> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(TrainError::NonFiniteLoss {
            epoch,
            batch,
            value,
        })
    }
}

/// What the caller of [`train`] wants after each step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Keep going.
    Continue,
    /// Stop now and keep the best model so far.
    Cancel,
}

#[cfg(feature = "engine")]
/// Runs a whole training: `observe` sees every step and may cancel.
pub async fn train(
    model: &DeepModelConfig,
    config: TrainConfig,
    train_set: Dataset,
    validation: Dataset,
    device: &Device,
    mut observe: impl FnMut(&Step) -> Control,
) -> Result<TrainOutcome, TrainError> {
    let mut trainer = Trainer::new(model, config, train_set, validation, device)?;
    loop {
        let step = trainer.step().await?;
        if step == Step::Finished || observe(&step) == Control::Cancel {
            return Ok(trainer.finish());
        }
    }
}

/// Class probabilities of `pixels` (`n × 784`, 0..=255), `n × 10`, computed in batches of `batch` on
/// `device` without gradients.
pub async fn predict_probabilities(
    model: &DeepModel,
    pixels: &[u8],
    norm: Normalization,
    device: &Device,
    batch: usize,
) -> Result<Vec<f32>, TrainError> {
    let device = device.clone().without_autodiff();
    let cpu = device == Device::flex();
    let mut out = Vec::with_capacity(pixels.len() / PIXELS * NUM_CLASSES);
    for chunk in pixels.chunks(batch.max(1) * PIXELS) {
        let x = to_image_tensor(normalize(chunk, norm), &device); // [b, 1, 28, 28]
        let forward = || softmax(model.forward(x), 1); // [b, 10]
        let images = chunk.len() / PIXELS;
        // On the CPU, a batch that fits one of the convolutions' groups of images runs on the calling
        // thread alone: each convolution is one task then, and handing the other layers' small loops to
        // rayon's pool costs more than it saves (measured in BENCHMARKS.md, "one image, after two fixes").
        let probs = if cpu && images <= crate::deep::ops::conv::GROUP_IMAGES {
            crate::parallel::in_order(forward)
        } else {
            on_cpu_pool(cpu, forward)
        };
        out.extend(read_f32(probs).await.map_err(TrainError::Readback)?);
    }
    Ok(out)
}

/// Runs a batch's work on the pool's first thread when it runs on the CPU (`parallel::on_pool_thread`
/// says why), and where it stands on other backends, whose operations WebGPU queues.
fn on_cpu_pool<R: Send>(cpu: bool, work: impl FnOnce() -> R + Send) -> R {
    if cpu {
        crate::parallel::on_pool_thread(work)
    } else {
        work()
    }
}

/// Mean cross-entropy and accuracy of `n × 10` probabilities against labels.
pub fn loss_and_accuracy(probs: &[f32], labels: &[u8]) -> (f64, f64) {
    let preds = argmax_rows(probs, NUM_CLASSES);
    let n = labels.len().max(1) as f64;
    let loss: f64 = labels
        .iter()
        .enumerate()
        .map(|(i, &l)| -(probs[i * NUM_CLASSES + l as usize].max(1e-12) as f64).ln())
        .sum();
    let correct = preds.iter().zip(labels).filter(|(p, l)| p == l).count();
    (loss / n, correct as f64 / n)
}

/// Runs a future to completion on the current thread (native code: the CLI and tests).
#[cfg(not(target_arch = "wasm32"))]
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    pollster::block_on(future)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_warms_up_then_decays() {
        let peak = 1e-3;
        assert!((learning_rate(0, 100, 10, peak) - 1e-4).abs() < 1e-12);
        assert!((learning_rate(10, 100, 10, peak) - peak).abs() < 1e-12);
        assert!(
            learning_rate(55, 100, 10, peak) < peak
                && learning_rate(55, 100, 10, peak) > 0.01 * peak
        );
        assert!((learning_rate(100, 100, 10, peak) - 0.01 * peak).abs() < 1e-12);
        let lrs: Vec<f64> = (10..=100)
            .map(|s| learning_rate(s, 100, 10, peak))
            .collect();
        assert!(lrs.windows(2).all(|w| w[1] <= w[0]));
    }

    #[test]
    fn config_validation() {
        TrainConfig::default().validate().unwrap();
        for bad in [
            TrainConfig {
                epochs: 0,
                ..Default::default()
            },
            TrainConfig {
                batch_size: 0,
                ..Default::default()
            },
            TrainConfig {
                learning_rate: 0.0,
                ..Default::default()
            },
            TrainConfig {
                learning_rate: f64::NAN,
                ..Default::default()
            },
            TrainConfig {
                label_smoothing: 0.7,
                ..Default::default()
            },
            TrainConfig {
                warmup_epochs: 21.0,
                ..Default::default()
            },
        ] {
            assert!(
                matches!(bad.validate(), Err(TrainError::Config(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn non_finite_loss_is_a_clear_error() {
        assert!(check_loss(2.3, 1, 1).is_ok());
        for v in [f32::NAN, f32::INFINITY] {
            let e = check_loss(v, 3, 7).unwrap_err();
            assert!(matches!(
                e,
                TrainError::NonFiniteLoss {
                    epoch: 3,
                    batch: 7,
                    ..
                }
            ));
            assert!(e.to_string().contains("Nothing was saved"));
        }
    }

    #[test]
    fn loss_and_accuracy_by_hand() {
        let mut probs = vec![0.0f32; 20];
        probs[3] = 1.0; // row 0 predicts 3
        probs[10 + 1] = 0.5; // row 1 predicts 1 (0.5) over 2 (0.25)
        probs[10 + 2] = 0.25;
        let (loss, acc) = loss_and_accuracy(&probs, &[3, 2]);
        assert!((acc - 0.5).abs() < 1e-12);
        assert!((loss - (-(0.25f64).ln() / 2.0)).abs() < 1e-6);
    }
}
