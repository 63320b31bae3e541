//! Datasets from the bytes the page holds (the built-in sample or the official files), their analysis
//! figures and the held-out parts the page scores models on.

use wasm_bindgen::prelude::*;

use super::{js_error, to_js};
use crate::data::{Dataset, NUM_CLASSES, Split};
use crate::report::analysis::{DatasetStats, analysis_figures};

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
