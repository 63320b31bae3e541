//! The classical models in the page: fitting in a worker, scoring, and loading shipped model files.

use wasm_bindgen::prelude::*;

use super::{WebDataset, js_error, to_js};
use crate::classical::{ClassicalKind, ClassicalModel};
use crate::metrics::Report;
use crate::report::summary::TestResults;
#[cfg(feature = "engine")]
use {
    crate::classical::{ClassicalConfig, FitProgress, Overrides},
    crate::data::NUM_CLASSES,
    js_sys::Function,
};

#[cfg(feature = "engine")]
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

/// Fitting: the workers' module only (the `engine` feature).
#[cfg(feature = "engine")]
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
}

#[wasm_bindgen]
impl WebClassical {
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
