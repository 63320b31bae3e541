//! wasm-bindgen bindings for the page: backend selection (WebGPU with CPU fallback), datasets from
//! bytes, analysis figures, and image preparation. Every error becomes a `JsError` with a readable
//! message; no panic crosses this boundary by design (and a panic hook logs any that would).

use std::cell::RefCell;

use burn::tensor::Device;
use js_sys::{Function, Promise, Reflect};
use serde::Serialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use crate::classical::{ClassicalConfig, ClassicalKind, ClassicalModel, FitProgress, Overrides};
use crate::data::split::{SplitConfig, stratified_split};
use crate::data::{Dataset, NUM_CLASSES, PIXELS, Split};
use crate::deep::backend::{BackendKind, init_device};
use crate::deep::input::Normalization;
use crate::deep::models::{DeepModel, DeepModelConfig, DeepModelKind};
use crate::deep::recipe::{Recipe, RecipeEdits, augmentation_name, page_run, recipe};
use crate::deep::train::{Step, Trainer, predict_probabilities};
use crate::deep::weights;
use crate::metrics::Report;
use crate::photo::{Photo, PrepareConfig, PreparedImage, prepare_image};
use crate::report::analysis::{DatasetStats, analysis_figures};
use crate::report::summary::TestResults;

/// Installs the panic hook so that any panic is logged with its message.
#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}

/// Serialises to a plain JS value (objects, arrays, `null` for `None`) through JSON.
fn to_js<T: Serialize>(value: &T) -> Result<JsValue, JsError> {
    let json = serde_json::to_string(value).map_err(|e| JsError::new(&e.to_string()))?;
    js_sys::JSON::parse(&json).map_err(|_| JsError::new("internal error: JSON.parse failed"))
}

fn js_error(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

/// The backend in use and how it was chosen.
#[derive(Debug, Clone, Serialize)]
pub struct BackendReport {
    /// `wgpu` or `flex`.
    pub kind: BackendKind,
    /// Human-readable name, e.g. "WebGPU (burn-wgpu)".
    pub description: String,
    /// Whether the browser exposes `navigator.gpu`.
    pub webgpu_api: bool,
    /// Whether `navigator.gpu.requestAdapter()` returned an adapter.
    pub webgpu_adapter: bool,
    /// Why WebGPU is not in use, when it is not.
    pub fallback_reason: Option<String>,
}

thread_local! {
    /// The device chosen by [`select_backend`]. WebGPU can be initialised once per page, so it is kept.
    static ACTIVE: RefCell<Option<(BackendKind, Device)>> = const { RefCell::new(None) };
    static WGPU_DEVICE: RefCell<Option<Device>> = const { RefCell::new(None) };
}

/// The active device, if a backend was selected.
pub fn active_device() -> Option<(BackendKind, Device)> {
    ACTIVE.with(|a| a.borrow().clone())
}

/// Probes `navigator.gpu.requestAdapter()`. `Ok(())` when an adapter exists, else the reason in words.
async fn probe_webgpu() -> (bool, Result<(), String>) {
    let global = js_sys::global();
    let navigator = Reflect::get(&global, &"navigator".into()).unwrap_or(JsValue::UNDEFINED);
    let gpu = Reflect::get(&navigator, &"gpu".into()).unwrap_or(JsValue::UNDEFINED);
    if gpu.is_undefined() || gpu.is_null() {
        return (
            false,
            Err("this browser does not expose WebGPU (navigator.gpu is missing)".into()),
        );
    }
    let request =
        match Reflect::get(&gpu, &"requestAdapter".into()).map(|f| f.dyn_into::<Function>()) {
            Ok(Ok(f)) => f,
            _ => {
                return (
                    true,
                    Err("navigator.gpu.requestAdapter is not a function".into()),
                );
            }
        };
    let promise = match request.call0(&gpu).map(|p| p.dyn_into::<Promise>()) {
        Ok(Ok(p)) => p,
        _ => return (true, Err("navigator.gpu.requestAdapter() failed".into())),
    };
    match JsFuture::from(promise).await {
        Ok(adapter) if !adapter.is_null() && !adapter.is_undefined() => (true, Ok(())),
        Ok(_) => (
            true,
            Err("no WebGPU adapter: navigator.gpu.requestAdapter() returned none".into()),
        ),
        Err(e) => (
            true,
            Err(format!(
                "navigator.gpu.requestAdapter() was rejected: {e:?}"
            )),
        ),
    }
}

/// Picks the backend: WebGPU when the browser has an adapter and burn's wgpu device starts and passes its
/// self-test, else the CPU (flex). `preference` (`"wgpu"`, `"flex"` or none/`"auto"`) can force the CPU;
/// asking for WebGPU where there is none falls back with the reason recorded.
pub async fn select_backend_inner(preference: Option<String>) -> Result<BackendReport, String> {
    let pref = match preference.as_deref() {
        None | Some("") | Some("auto") => None,
        Some(p) => Some(p.parse::<BackendKind>().map_err(|e| e.to_string())?),
    };
    let (webgpu_api, probe) = probe_webgpu().await;
    let webgpu_adapter = probe.is_ok();
    let fallback_reason = if pref == Some(BackendKind::Flex) {
        "the CPU backend was chosen".to_string()
    } else {
        match probe {
            Ok(()) => match wgpu_device().await {
                Ok(device) => {
                    ACTIVE.with(|a| *a.borrow_mut() = Some((BackendKind::Wgpu, device)));
                    return Ok(report(BackendKind::Wgpu, webgpu_api, webgpu_adapter, None));
                }
                Err(e) => e,
            },
            Err(reason) => reason,
        }
    };
    let device = init_device(BackendKind::Flex)
        .await
        .map_err(|e| e.to_string())?;
    ACTIVE.with(|a| *a.borrow_mut() = Some((BackendKind::Flex, device)));
    Ok(report(
        BackendKind::Flex,
        webgpu_api,
        webgpu_adapter,
        Some(fallback_reason),
    ))
}

/// burn's wgpu device, initialised once per page and reused after.
async fn wgpu_device() -> Result<Device, String> {
    if let Some(device) = WGPU_DEVICE.with(|d| d.borrow().clone()) {
        return Ok(device);
    }
    let device = init_device(BackendKind::Wgpu)
        .await
        .map_err(|e| e.to_string())?;
    WGPU_DEVICE.with(|d| *d.borrow_mut() = Some(device.clone()));
    Ok(device)
}

fn report(
    kind: BackendKind,
    webgpu_api: bool,
    webgpu_adapter: bool,
    fallback_reason: Option<String>,
) -> BackendReport {
    BackendReport {
        kind,
        description: kind.description().to_string(),
        webgpu_api,
        webgpu_adapter,
        fallback_reason,
    }
}

/// JS: `await selectBackend(preference?)` → `{kind, description, webgpu_api, webgpu_adapter, fallback_reason}`.
#[wasm_bindgen(js_name = selectBackend)]
pub async fn select_backend(preference: Option<String>) -> Result<JsValue, JsError> {
    let report = select_backend_inner(preference)
        .await
        .map_err(|e| JsError::new(&e))?;
    to_js(&report)
}

/// A labelled Fashion-MNIST dataset held by the page.
#[wasm_bindgen]
pub struct WebDataset {
    inner: Dataset,
    label: String,
}

#[wasm_bindgen]
impl WebDataset {
    /// Parses an IDX image file and label file (gzip or raw), with no checksum (for the built-in sample).
    #[wasm_bindgen(js_name = fromIdx)]
    pub fn from_idx(images: &[u8], labels: &[u8], label: String) -> Result<WebDataset, JsError> {
        Ok(WebDataset {
            inner: Dataset::from_idx(images, labels).map_err(js_error)?,
            label,
        })
    }

    /// Parses the two official files of a split (`"train"` or `"test"`), verifying their SHA-256.
    #[wasm_bindgen(js_name = fromOfficial)]
    pub fn from_official(split: &str, images: &[u8], labels: &[u8]) -> Result<WebDataset, JsError> {
        let split = match split {
            "train" => Split::Train,
            "test" | "t10k" => Split::Test,
            other => {
                return Err(JsError::new(&format!(
                    "unknown split '{other}' (expected train or test)"
                )));
            }
        };
        let inner = Dataset::from_official(split, images, labels).map_err(js_error)?;
        let label = format!(
            "Fashion-MNIST {} set",
            if split == Split::Train {
                "training"
            } else {
                "test"
            }
        );
        Ok(WebDataset { inner, label })
    }

    /// A class-balanced subset: the first `size / 10` images of each class (what a `train_size` fit uses).
    pub fn balanced(&self, size: usize) -> WebDataset {
        WebDataset {
            inner: self.inner.balanced_slice(size / NUM_CLASSES),
            label: format!("{} ({size} balanced)", self.label),
        }
    }

    /// The images a `train_size` fit leaves out (all but the first `train_size / 10` of each class):
    /// a held-out set to score that fit on.
    #[wasm_bindgen(js_name = heldOut)]
    pub fn held_out(&self, train_size: usize) -> WebDataset {
        WebDataset {
            inner: self.inner.after_balanced_slice(train_size / NUM_CLASSES),
            label: format!("{} (held out)", self.label),
        }
    }

    /// Number of images.
    #[wasm_bindgen(getter)]
    pub fn length(&self) -> usize {
        self.inner.len()
    }

    /// The dataset's name as shown in the page.
    #[wasm_bindgen(getter)]
    pub fn label(&self) -> String {
        self.label.clone()
    }

    /// The label of every image, in order.
    pub fn labels(&self) -> Vec<u8> {
        self.inner.labels().to_vec()
    }

    /// Images per class, as an array of 10 counts.
    #[wasm_bindgen(js_name = classCounts)]
    pub fn class_counts(&self) -> Vec<u32> {
        self.inner
            .class_counts()
            .iter()
            .map(|&c| c as u32)
            .collect()
    }

    /// The 784 pixels of image `index`.
    pub fn image(&self, index: usize) -> Result<Vec<u8>, JsError> {
        if index >= self.inner.len() {
            return Err(JsError::new(&format!(
                "image {index} is out of range (0..{})",
                self.inner.len()
            )));
        }
        Ok(self.inner.image(index).to_vec())
    }

    /// Summary statistics: `{shape, mean, median, std, min, max, zero_fraction, class_counts}`.
    pub fn stats(&self) -> Result<JsValue, JsError> {
        let mut v = serde_json::to_value(DatasetStats::compute(&self.inner)).map_err(js_error)?;
        if let Some(o) = v.as_object_mut() {
            o.remove("class_means");
            o.remove("histogram");
        }
        to_js(&v)
    }

    /// The five analysis figures, each `{id, title, data, layout}` for `Plotly.newPlot`.
    #[wasm_bindgen(js_name = analysisFigures)]
    pub fn analysis_figures(&self, samples_per_class: usize) -> Result<JsValue, JsError> {
        let stats = DatasetStats::compute(&self.inner);
        to_js(&analysis_figures(
            &self.inner,
            &stats,
            samples_per_class.clamp(1, 20),
            &self.label,
        ))
    }
}

impl WebDataset {
    /// The Rust dataset.
    pub fn dataset(&self) -> &Dataset {
        &self.inner
    }
}

/// Decodes an uploaded image file and prepares it as the model's 28×28 input:
/// `{pixels: number[784], inverted, bbox, passthrough}`.
#[wasm_bindgen(js_name = prepareImageFile)]
pub fn prepare_image_file(bytes: &[u8]) -> Result<JsValue, JsError> {
    let image = Photo::decode(bytes).map_err(js_error)?;
    to_js(&prepare(&image))
}

/// The figures of one model's recorded summary (a `pretrained/<model>.json` object): training curves
/// (deep models), confusion matrix, classification report and top confusions, as Plotly JSON.
#[wasm_bindgen(js_name = modelFigures)]
pub fn model_figures(summary: JsValue) -> Result<JsValue, JsError> {
    let summary = summary_from_js(summary)?;
    to_js(&crate::report::summary::model_figures(&summary))
}

/// The comparison figures of several models' summaries: accuracy beside the study's and Zalando's, and
/// accuracy against training time.
#[wasm_bindgen(js_name = comparisonFigures)]
pub fn comparison_figures(summaries: Vec<JsValue>) -> Result<JsValue, JsError> {
    let summaries = summaries
        .into_iter()
        .map(summary_from_js)
        .collect::<Result<Vec<_>, _>>()?;
    to_js(&crate::report::summary::comparison_figures(&summaries))
}

fn summary_from_js(value: JsValue) -> Result<crate::report::summary::ModelSummary, JsError> {
    let json = js_sys::JSON::stringify(&value)
        .map_err(|_| JsError::new("a model summary must be a JSON object"))?;
    serde_json::from_str(&String::from(json))
        .map_err(|e| JsError::new(&format!("not a model summary: {e}")))
}

/// The ten class names, in class-index order ("T-shirt/top", "Trouser", …).
#[wasm_bindgen(js_name = classNames)]
pub fn class_names() -> Vec<String> {
    crate::data::CLASS_NAMES
        .iter()
        .map(|c| c.to_string())
        .collect()
}

/// Prepares an RGBA frame (a canvas's `ImageData`, e.g. from the webcam) as the 28×28 model input.
#[wasm_bindgen(js_name = prepareRgba)]
pub fn prepare_rgba(width: u32, height: u32, rgba: &[u8]) -> Result<JsValue, JsError> {
    let image = Photo::from_rgba(width, height, rgba).map_err(js_error)?;
    to_js(&prepare(&image))
}

fn prepare(image: &Photo) -> PreparedImage {
    prepare_image(image, &PrepareConfig::default())
}

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

/// A deep-model training run in the page or its worker, on the active backend. It drives the same
/// [`Trainer`] as the native CLI, one batch per `step()`, so the caller can yield, pause and cancel.
#[wasm_bindgen]
pub struct WebTrainer {
    trainer: std::rc::Rc<RefCell<Option<Trainer>>>,
    recipe: Recipe,
}

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
            trainer: std::rc::Rc::new(RefCell::new(Some(trainer))),
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

    /// Where training stands: `{epoch, epochs, batch, batches, loss, accuracy, images_per_second, eta_seconds}`.
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

/// Options of an in-browser classical fit (all optional): `{train_size, features, pca, per_class,
/// trees, k, seed}`. `train_size` (default: the whole dataset) takes a class-balanced subset; the
/// others change the model's recipe (see `ClassicalConfig::recipe`).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
struct WebClassicalOptions {
    train_size: Option<usize>,
    #[serde(flatten)]
    overrides: Overrides,
}

/// A classical model (logistic regression, SVM, random forest, k-NN) in the page or its worker.
/// Fitting is synchronous: call it in a worker, which stays responsive through the progress callback.
#[wasm_bindgen]
pub struct WebClassical {
    model: ClassicalModel,
    fit_seconds: f64,
}

#[wasm_bindgen]
impl WebClassical {
    /// Fits `model` (`logreg`, `svm`, `rf`, `knn`) on `dataset`. `progress`, when given, is called with
    /// `{stage, fraction}` between steps; returning `false` cancels (the call then throws
    /// "training was cancelled").
    pub fn fit(
        model: &str,
        dataset: &WebDataset,
        options: JsValue,
        progress: Option<Function>,
    ) -> Result<WebClassical, JsError> {
        let kind = ClassicalKind::parse(model).ok_or_else(|| {
            JsError::new(&format!(
                "unknown classical model {model:?}: expected logreg, svm, rf or knn"
            ))
        })?;
        let opts: WebClassicalOptions = if options.is_undefined() || options.is_null() {
            WebClassicalOptions::default()
        } else {
            serde_wasm_bindgen::from_value(options)
                .map_err(|e| JsError::new(&format!("bad options: {e}")))?
        };
        let config = ClassicalConfig::with_overrides(kind, &opts.overrides).map_err(js_error)?;
        let full = dataset.dataset();
        let train = match opts.train_size {
            None => full.clone(),
            Some(n) if (10..=full.len()).contains(&n) => full.balanced_slice(n / NUM_CLASSES),
            Some(n) => {
                return Err(JsError::new(&format!(
                    "train_size {n} must be in 10..={}",
                    full.len()
                )));
            }
        };
        let mut report = |p: FitProgress| match &progress {
            None => true,
            Some(f) => {
                let value = to_js(&p).unwrap_or(JsValue::NULL);
                // Only an explicit `false` cancels; a throwing callback cancels too.
                f.call1(&JsValue::NULL, &value)
                    .map(|r| r.as_bool() != Some(false))
                    .unwrap_or(false)
            }
        };
        let (model, times) = ClassicalModel::fit(&config, &train, &mut report).map_err(js_error)?;
        Ok(WebClassical {
            model,
            fit_seconds: times.features + times.estimator,
        })
    }

    /// Loads a model file (as written by the CLI or by `toBytes`); `expected`, when given, must name
    /// the model in it.
    #[wasm_bindgen(js_name = fromBytes)]
    pub fn from_bytes(bytes: &[u8], expected: Option<String>) -> Result<WebClassical, JsError> {
        let expected = match expected.as_deref() {
            None => None,
            Some(name) => Some(
                ClassicalKind::parse(name)
                    .ok_or_else(|| JsError::new(&format!("unknown classical model {name:?}")))?,
            ),
        };
        Ok(WebClassical {
            model: ClassicalModel::from_bytes(bytes, expected).map_err(js_error)?,
            fit_seconds: 0.0,
        })
    }

    /// The model file, to download and load back later.
    #[wasm_bindgen(js_name = toBytes)]
    pub fn to_bytes(&self) -> Vec<u8> {
        self.model.to_bytes()
    }

    /// The model's name: `logreg`, `svm`, `rf` or `knn`.
    #[wasm_bindgen(getter)]
    pub fn kind(&self) -> String {
        self.model.kind().name().into()
    }

    /// Seconds the fit took in this page (0 for a loaded model).
    #[wasm_bindgen(getter, js_name = fitSeconds)]
    pub fn fit_seconds(&self) -> f64 {
        self.fit_seconds
    }

    /// The model's configuration: pipeline, features and estimator settings.
    pub fn config(&self) -> Result<JsValue, JsError> {
        to_js(&self.model.config_json())
    }

    /// Class probabilities of `n` prepared images (`n × 784` pixels): a `Float32Array` of `n × 10`.
    pub fn probabilities(&self, pixels: &[u8]) -> Result<Vec<f32>, JsError> {
        let p = self.model.predict_proba(pixels).map_err(js_error)?;
        Ok(p.into_raw_vec_and_offset().0)
    }

    /// Scores a labelled dataset: `{accuracy, images, confusion_matrix, report, top_confusions,
    /// predictions}` (`predictions`: one digit per image, as in `pretrained/*.json`).
    pub fn evaluate(&self, dataset: &WebDataset) -> Result<JsValue, JsError> {
        let ds = dataset.dataset();
        let predicted = self.model.predict(ds.pixels()).map_err(js_error)?;
        let report = Report::new(ds.labels(), &predicted).map_err(js_error)?;
        to_js(&TestResults::with_predictions(report, &predicted))
    }
}
