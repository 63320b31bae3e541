//! The embedding map in the browser: features of a dataset's images in one space, brought to 2-D by PCA
//! or t-SNE in steps (a worker calls `step` and reports `progress` between them), and its chart. The map
//! is computed in the engine's workers only (the `engine` feature); the page's module draws the chart.

use wasm_bindgen::prelude::*;

use super::{js_error, to_js};

#[cfg(feature = "engine")]
pub use engine::WebMap;

#[cfg(feature = "engine")]
mod engine {
    use burn::tensor::Device;
    use js_sys::Promise;
    use serde::Deserialize;

    use super::super::{WebDataset, active_device, js_error, to_js};
    use crate::classical::ClassicalModel;
    use crate::deep::weights;
    use crate::embedding::{MapRun, Method, Space, features, neighbour_share};
    use wasm_bindgen::prelude::*;

    /// A map's settings as the page sends them.
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct MapOptions {
        /// `pixels`, `hog` or `deep`.
        space: String,
        /// `pca`, `tsne` or `umap`.
        method: String,
        #[serde(default = "default_perplexity")]
        perplexity: f64,
        #[serde(default = "default_iterations")]
        iterations: usize,
    }

    fn default_perplexity() -> f64 {
        30.0
    }

    fn default_iterations() -> usize {
        750
    }

    /// An embedding map being made.
    #[wasm_bindgen]
    pub struct WebMap {
        run: MapRun,
        labels: Vec<u8>,
        predicted: Vec<u8>,
        dims: usize,
    }

    #[wasm_bindgen]
    impl WebMap {
        /// Starts the map of `dataset`'s images (`options`: `{space, method, perplexity?, iterations?}`):
        /// computes their features in the space (the deep model in `deep`'s weight file, on the active
        /// backend, for the deep space; the classical model in `classical`'s file for HOG) and the deep
        /// model's answers, which the chart rings where wrong. Resolves to a `WebMap`; PCA is done at once,
        /// t-SNE then runs in `step`s.
        pub fn start(
            dataset: &WebDataset,
            options: JsValue,
            deep: Vec<u8>,
            classical: Option<Vec<u8>>,
        ) -> Promise {
            let (pixels, labels) = {
                let ds = dataset.dataset();
                (ds.pixels().to_vec(), ds.labels().to_vec())
            };
            wasm_bindgen_futures::future_to_promise(async move {
                let fail = |e: JsError| JsValue::from(e);
                let options: MapOptions = serde_wasm_bindgen::from_value(options)
                    .map_err(|e| fail(JsError::new(&format!("bad map settings: {e}"))))?;
                let space = Space::parse(&options.space).map_err(|e| fail(js_error(e)))?;
                let method = Method::parse(&options.method, options.perplexity, options.iterations)
                    .map_err(|e| fail(js_error(e)))?;
                let device = active_device().map(|(_, d)| d).unwrap_or_else(Device::flex);
                let (model, header) =
                    weights::load(&deep, None, &device).map_err(|e| fail(js_error(e)))?;
                let classical = match classical {
                    Some(bytes) => Some(
                        ClassicalModel::from_bytes(&bytes, None).map_err(|e| fail(js_error(e)))?,
                    ),
                    None => None,
                };
                let deep = (&model, header.normalization);
                let f = features(space, &pixels, classical.as_ref(), deep, &device)
                    .await
                    .map_err(|e| fail(js_error(e)))?;
                let run = MapRun::new(&f.values, f.dims, method).map_err(|e| fail(js_error(e)))?;
                Ok(JsValue::from(WebMap {
                    run,
                    predicted: f.predicted,
                    labels,
                    dims: f.dims,
                }))
            })
        }

        /// The next piece of work: true once the map is done.
        pub fn step(&mut self) -> bool {
            self.run.step()
        }

        /// `{stage, fraction, overall}`: the stage (`affinities` or `layout`), its share done and the whole
        /// run's.
        pub fn progress(&self) -> Result<JsValue, JsError> {
            to_js(&self.run.progress())
        }

        /// The map as it stands: n × 2 values.
        pub fn points(&self) -> Vec<f32> {
            self.run.embedding()
        }

        /// The images' classes.
        pub fn labels(&self) -> Vec<u8> {
            self.labels.clone()
        }

        /// The deep model's answer to each image.
        pub fn predicted(&self) -> Vec<u8> {
            self.predicted.clone()
        }

        /// Values per image in the space mapped.
        #[wasm_bindgen(getter)]
        pub fn dims(&self) -> usize {
            self.dims
        }

        /// The share of the `k` nearest neighbours in the map of each of `queries` (image indices) that are
        /// of its class: `{overall, per_class, queries, k}`.
        #[wasm_bindgen(js_name = neighbourShare)]
        pub fn neighbour_share(&self, queries: &[u32], k: usize) -> Result<JsValue, JsError> {
            let queries: Vec<usize> = queries.iter().map(|&q| q as usize).collect();
            let share = neighbour_share(&self.run.embedding(), &self.labels, &queries, k)
                .map_err(js_error)?;
            to_js(&share)
        }
    }
}

/// The map's chart (`report::map`): `points` (n × 2) of images of `labels`, ringing those `wrong`
/// marks (1 = wrong, by `judge`), with WebGL (`scattergl`) when `webgl`, else SVG.
#[wasm_bindgen(js_name = embeddingFigure)]
pub fn embedding_figure(
    points: &[f32],
    labels: &[u8],
    wrong: &[u8],
    judge: &str,
    title: &str,
    webgl: bool,
) -> Result<JsValue, JsError> {
    let wrong: Vec<bool> = wrong.iter().map(|&w| w != 0).collect();
    let figure = crate::report::map::embedding_figure(points, labels, &wrong, judge, title, webgl)
        .map_err(js_error)?;
    to_js(&figure)
}
