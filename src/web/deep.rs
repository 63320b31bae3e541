//! The deep models in the page: training in a worker one batch at a time (`WebTrainer`), and
//! inference and Grad-CAM with shipped or trained weights ([`WebModel`]). Training and Grad-CAM need
//! the `engine` feature: the workers' module has them, the page's own module does not.

use burn::tensor::Device;
use js_sys::Promise;
use serde::Serialize;
use wasm_bindgen::prelude::*;

use super::{WebDataset, active_device, js_error, to_js};
use crate::classical::ClassicalModel;
use crate::data::{NUM_CLASSES, PIXELS};
use crate::deep::input::Normalization;
use crate::deep::models::{DeepModel, DeepModelConfig, DeepModelKind};
use crate::deep::train::predict_probabilities;
use crate::deep::weights;
use crate::metrics::Report;
use crate::report::summary::TestResults;
#[cfg(feature = "engine")]
use {
    crate::data::split::{SplitConfig, stratified_split},
    crate::deep::recipe::{Recipe, RecipeEdits, augmentation_name, page_run, recipe},
    crate::deep::train::{Step, Trainer},
    std::cell::RefCell,
    std::rc::Rc,
};

#[cfg(feature = "engine")]
/// Options of an in-browser training run (all optional): `{recipe, validation_fraction}`. `recipe`
/// holds edits to the model's recipe ([`RecipeEdits`]: `epochs`, `batch_size`, `learning_rate`,
/// `weight_decay`, `warmup_epochs`, `label_smoothing`, `augment`, `dropout`, `batch_norm`, `seed`); a
/// field left out keeps the shipped recipe's value, except `epochs` and `batch_size`, which default to
/// the page's run ([`page_run`]). `validation_fraction` defaults to 0.1.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
struct WebTrainOptions {
    recipe: RecipeEdits,
    validation_fraction: Option<f32>,
}

#[cfg(feature = "engine")]
/// A deep-model training run in the page or its worker, on the active backend. It drives the same
/// [`Trainer`] as the native CLI, one batch per `step()`, so the caller can yield, pause and cancel.
#[wasm_bindgen]
pub struct WebTrainer {
    trainer: Rc<RefCell<Option<Trainer>>>,
    recipe: Recipe,
}

#[cfg(feature = "engine")]
#[wasm_bindgen]
impl WebTrainer {
    /// Prepares a run of `model` (`cnn`, `resnet`, `mlp`) on `dataset`, split stratified into training
    /// and validation. Call `selectBackend` first; the CPU is used otherwise.
    #[wasm_bindgen(constructor)]
    pub fn new(model: &str, dataset: &WebDataset, options: JsValue) -> Result<WebTrainer, JsError> {
        let kind: DeepModelKind = model.parse().map_err(js_error)?;
        let opts: WebTrainOptions = if options.is_undefined() || options.is_null() {
            WebTrainOptions::default()
        } else {
            serde_wasm_bindgen::from_value(options)
                .map_err(|e| JsError::new(&format!("bad training options: {e}")))?
        };
        let page = page_run(kind);
        let edits = RecipeEdits {
            epochs: opts.recipe.epochs.or(Some(page.epochs)),
            batch_size: opts.recipe.batch_size.or(Some(page.batch_size)),
            ..opts.recipe
        };
        let recipe = recipe(kind).edited(&edits).map_err(js_error)?;
        let split = SplitConfig::new(opts.validation_fraction.unwrap_or(0.1), recipe.train.seed)
            .map_err(js_error)?;
        let ds = dataset.dataset();
        let parts = stratified_split(ds.labels(), &split).map_err(js_error)?;
        let device = active_device().map(|(_, d)| d).unwrap_or_else(Device::flex);
        let trainer = Trainer::new(
            &recipe.architecture,
            recipe.train.clone(),
            ds.subset(&parts.train),
            ds.subset(&parts.validation),
            &device,
        )
        .map_err(js_error)?;
        Ok(WebTrainer {
            trainer: Rc::new(RefCell::new(Some(trainer))),
            recipe,
        })
    }

    /// The recipe this run trains with, after the edits: `{architecture, train, augmentation}` (the
    /// shape of `www/recipes.json`'s `recipe`, plus the augmentation's name).
    pub fn recipe(&self) -> Result<JsValue, JsError> {
        to_js(&serde_json::json!({
            "architecture": self.recipe.architecture,
            "train": self.recipe.train,
            "augmentation": augmentation_name(&self.recipe.train.augment),
        }))
    }

    /// Trains one batch. Resolves to `{kind: "batch", progress}`, `{kind: "epoch", record}` or
    /// `{kind: "finished"}`; rejects with a readable error (a diverged loss, a lost device).
    pub fn step(&self) -> Promise {
        let cell = self.trainer.clone();
        wasm_bindgen_futures::future_to_promise(async move {
            let mut trainer = cell
                .borrow_mut()
                .take()
                .ok_or_else(|| JsValue::from(JsError::new("training has ended")))?;
            let result = trainer.step().await;
            *cell.borrow_mut() = Some(trainer);
            let step = result.map_err(|e| JsValue::from(js_error(e)))?;
            let value = match step {
                Step::Batch(p) => serde_json::json!({"kind": "batch", "progress": p}),
                Step::Epoch(r) => serde_json::json!({"kind": "epoch", "record": r}),
                Step::Finished => serde_json::json!({"kind": "finished"}),
            };
            to_js(&value).map_err(JsValue::from)
        })
    }

    /// Where training stands: `{epoch, epochs, batch, batches, loss, accuracy, images_per_second,
    /// eta_seconds, timing}` (`timing`: `{name, pass, millis}` per stage, each mean milliseconds per
    /// batch this epoch, on the CPU; `pass` is `forward`, `backward` or `update`).
    pub fn progress(&self) -> Result<JsValue, JsError> {
        let guard = self.trainer.borrow();
        let trainer = guard
            .as_ref()
            .ok_or_else(|| JsError::new("a step is in progress or training has ended"))?;
        to_js(&trainer.progress())
    }

    /// Ends the run (after any number of steps: this is also how to cancel) and returns the best model.
    pub fn finish(&self) -> Result<WebModel, JsError> {
        let trainer = self
            .trainer
            .borrow_mut()
            .take()
            .ok_or_else(|| JsError::new("a step is in progress or training has ended"))?;
        let outcome = trainer.finish();
        Ok(WebModel {
            model: outcome.model,
            kind: self.recipe.architecture.kind(),
            config: self.recipe.architecture.clone(),
            normalization: self.recipe.train.normalization,
        })
    }
}

/// A trained deep model in the page: classify, and save or load its weights.
#[wasm_bindgen]
pub struct WebModel {
    model: DeepModel,
    kind: DeepModelKind,
    config: DeepModelConfig,
    normalization: Normalization,
}

#[wasm_bindgen]
impl WebModel {
    /// Loads a weight file (as written by the CLI or by `toBytes`) onto the active backend.
    #[wasm_bindgen(js_name = fromBytes)]
    pub fn from_bytes(bytes: &[u8]) -> Result<WebModel, JsError> {
        let device = active_device().map(|(_, d)| d).unwrap_or_else(Device::flex);
        let (model, header) = weights::load(bytes, None, &device).map_err(js_error)?;
        Ok(WebModel {
            kind: header.config.kind(),
            config: header.config,
            normalization: header.normalization,
            model,
        })
    }

    /// The model's name: `cnn`, `resnet` or `mlp`.
    #[wasm_bindgen(getter)]
    pub fn kind(&self) -> String {
        self.kind.name().into()
    }

    /// The weight file of this model (f16), to download and load back later: resolves to a `Uint8Array`.
    #[wasm_bindgen(js_name = toBytes)]
    pub fn to_bytes(&self) -> Promise {
        let (model, config, norm) = (self.model.clone(), self.config.clone(), self.normalization);
        wasm_bindgen_futures::future_to_promise(async move {
            let bytes = weights::save_async(&model, &config, norm)
                .await
                .map_err(|e| JsValue::from(js_error(e)))?;
            Ok(js_sys::Uint8Array::from(bytes.as_slice()).into())
        })
    }

    /// Scores a labelled dataset on the active backend: resolves to `{accuracy, images,
    /// confusion_matrix, report, top_confusions, predictions}`, the same shape as the `test` part of
    /// `pretrained/*.json`, so a model trained or loaded here compares with the shipped ones.
    pub fn evaluate(&self, dataset: &WebDataset) -> Promise {
        let (model, norm) = (self.model.clone(), self.normalization);
        let (pixels, labels) = {
            let ds = dataset.dataset();
            (ds.pixels().to_vec(), ds.labels().to_vec())
        };
        wasm_bindgen_futures::future_to_promise(async move {
            if labels.is_empty() {
                return Err(JsError::new("the dataset has no images to score").into());
            }
            let device = active_device().map(|(_, d)| d).unwrap_or_else(Device::flex);
            let probs = predict_probabilities(&model, &pixels, norm, &device, 256)
                .await
                .map_err(|e| JsValue::from(js_error(e)))?;
            let predicted = crate::metrics::argmax_rows(&probs, NUM_CLASSES);
            let report =
                Report::new(&labels, &predicted).map_err(|e| JsValue::from(js_error(e)))?;
            to_js(&TestResults::with_predictions(report, &predicted)).map_err(JsValue::from)
        })
    }

    /// Class probabilities of `n` prepared images (`n × 784` pixels, 0..=255): resolves to a
    /// `Float32Array` of `n × 10`.
    pub fn probabilities(&self, pixels: Vec<u8>) -> Promise {
        let (model, norm) = (self.model.clone(), self.normalization);
        wasm_bindgen_futures::future_to_promise(async move {
            if pixels.is_empty() || !pixels.len().is_multiple_of(PIXELS) {
                return Err(JsError::new(&format!(
                    "expected whole 28×28 images, got {} bytes",
                    pixels.len()
                ))
                .into());
            }
            let device = active_device().map(|(_, d)| d).unwrap_or_else(Device::flex);
            let probs = predict_probabilities(&model, &pixels, norm, &device, 256)
                .await
                .map_err(|e| JsValue::from(js_error(e)))?;
            Ok(js_sys::Float32Array::from(probs.as_slice()).into())
        })
    }
}

/// The look-inside view: the page's module (the CPU), no autodiff needed.
#[wasm_bindgen]
impl WebModel {
    /// Every layer's output for one prepared image (784 pixels), the first layer's weights and each
    /// layer's time, on the CPU: resolves to `{layers, filters, probabilities, total_millis}`, each
    /// layer `{name, channels, height, width, values, millis}` (see `deep::inside`).
    pub fn activations(&self, pixels: Vec<u8>) -> Promise {
        let (model, norm) = (self.model.clone(), self.normalization);
        wasm_bindgen_futures::future_to_promise(async move {
            let inside = crate::deep::inside::look_inside(&model, &pixels, norm)
                .await
                .map_err(|e| JsValue::from(js_error(e)))?;
            to_js(&inside).map_err(JsValue::from)
        })
    }
}

/// What a model file holds, read from its header: `{family: "deep" | "classical", kind}` (`kind`: `cnn`,
/// `resnet`, `mlp`, `logreg`, `svm`, `rf` or `knn`). Anything else is a readable error: not a model
/// file, another format version, truncated or damaged.
#[wasm_bindgen(js_name = modelFileKind)]
pub fn model_file_kind(bytes: &[u8]) -> Result<JsValue, JsError> {
    #[derive(Serialize)]
    struct FileKind {
        family: &'static str,
        kind: String,
    }
    let kind = if bytes.starts_with(weights::MAGIC) {
        let (header, _) = weights::read_header(bytes).map_err(js_error)?;
        FileKind {
            family: "deep",
            kind: header.config.kind().name().into(),
        }
    } else {
        let model = ClassicalModel::from_bytes(bytes, None).map_err(|e| match e {
            crate::classical::ClassicalError::NotAModelFile => JsError::new(
                "not a Fashion Lab model file (expected a .weights or .model file saved by this site or its CLI)",
            ),
            e => js_error(e),
        })?;
        FileKind {
            family: "classical",
            kind: model.kind().name().into(),
        }
    };
    to_js(&kind)
}

/// Grad-CAM and adversarial examples: the workers' module only (they need autodiff, the `engine`
/// feature).
#[cfg(feature = "engine")]
#[wasm_bindgen]
impl WebModel {
    /// Grad-CAM of `class` (default: the predicted class) for one prepared image (784 pixels), on the
    /// active backend: resolves to `{class, probabilities, coarse, side, heatmap}`, `heatmap` being
    /// 28 × 28 values in [0, 1]. Rejects with a readable error for the MLP (it has no convolution).
    #[wasm_bindgen(js_name = gradCam)]
    pub fn grad_cam(&self, pixels: Vec<u8>, class: Option<usize>) -> Promise {
        let (model, norm) = (self.model.clone(), self.normalization);
        wasm_bindgen_futures::future_to_promise(async move {
            let device = active_device().map(|(_, d)| d).unwrap_or_else(Device::flex);
            let cam = crate::deep::explain::grad_cam(&model, &pixels, norm, class, &device)
                .await
                .map_err(|e| JsValue::from(js_error(e)))?;
            to_js(&cam).map_err(JsValue::from)
        })
    }

    /// Adversarial examples against this model: `pixels` (`n × 784`, 0..=255) of classes `labels`
    /// perturbed by `config` (`{method: "fgsm" | "pgd" | "noise", epsilon, steps?, seed?}`, ε on the
    /// 0..=255 scale), on the active backend: resolves to a `Uint8Array` of `n × 784` pixels. Bad settings
    /// reject with a readable error.
    pub fn attack(&self, pixels: Vec<u8>, labels: Vec<u8>, config: JsValue) -> Promise {
        let (model, norm) = (self.model.clone(), self.normalization);
        wasm_bindgen_futures::future_to_promise(async move {
            let config: crate::deep::attack::AttackConfig = serde_wasm_bindgen::from_value(config)
                .map_err(|e| JsValue::from(JsError::new(&format!("bad attack settings: {e}"))))?;
            let device = active_device().map(|(_, d)| d).unwrap_or_else(Device::flex);
            let out = crate::deep::attack::attack(&model, &pixels, &labels, norm, &config, &device)
                .await
                .map_err(|e| JsValue::from(js_error(e)))?;
            Ok(js_sys::Uint8Array::from(out.as_slice()).into())
        })
    }
}
