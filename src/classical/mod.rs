//! The classical models: logistic regression, RBF SVM, random forest and k-NN, each behind a fitted
//! feature pipeline ([`features`]). One [`ClassicalModel`] type trains, predicts, and saves to / loads
//! from a versioned binary file, natively and in the browser.

pub mod features;
pub mod forest;
pub mod knn;
pub mod logreg;
mod smo;
pub(crate) mod storage;
pub mod svm;

use ndarray::{Array2, ArrayView2};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::data::Dataset;
use crate::data::NUM_CLASSES;
use features::{FeatureConfig, FeaturePipeline, HogConfig};
use forest::{ForestConfig, RandomForest};
use knn::{Knn, KnnConfig};
use logreg::{LogReg, LogRegConfig};
use svm::{OvoSvm, SvmConfig};

/// Errors of the classical models.
#[derive(Debug, Error, PartialEq)]
pub enum ClassicalError {
    /// A setting is out of range.
    #[error("invalid setting: {0}")]
    InvalidConfig(String),
    /// No images were given.
    #[error("no images were given")]
    EmptyData,
    /// Images, labels or features do not fit together.
    #[error("mismatched data: {0}")]
    Mismatch(String),
    /// The solver failed or produced non-finite numbers.
    #[error("numerical failure: {0}")]
    Numerical(String),
    /// Training was cancelled.
    #[error("training was cancelled")]
    Cancelled,
    /// The bytes are not a Fashion Lab classical-model file.
    #[error("not a Fashion Lab classical-model file")]
    NotAModelFile,
    /// The file was written by another format version.
    #[error("model file format version {found}, this build reads version {expected}")]
    Version {
        /// Version in the file.
        found: u32,
        /// Version this build reads.
        expected: u32,
    },
    /// The file is damaged or truncated.
    #[error("corrupt model file: {0}")]
    Corrupt(String),
    /// The file holds another model than the one asked for.
    #[error("the file holds a {found} model, not {expected}")]
    WrongModel {
        /// Model in the file.
        found: String,
        /// Model asked for.
        expected: String,
    },
}

/// Which classical model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClassicalKind {
    /// Multinomial logistic regression.
    LogReg,
    /// RBF-kernel SVM, one-vs-one.
    Svm,
    /// Random forest.
    Rf,
    /// k-nearest neighbours.
    Knn,
}

impl ClassicalKind {
    /// All four, in display order.
    pub const ALL: [ClassicalKind; 4] = [Self::LogReg, Self::Svm, Self::Rf, Self::Knn];

    /// Short name: `logreg`, `svm`, `rf`, `knn`.
    pub fn name(self) -> &'static str {
        match self {
            Self::LogReg => "logreg",
            Self::Svm => "svm",
            Self::Rf => "rf",
            Self::Knn => "knn",
        }
    }

    /// Parses a short name.
    pub(crate) fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Human-readable name.
    pub fn title(self) -> &'static str {
        match self {
            Self::LogReg => "Logistic regression",
            Self::Svm => "SVM (RBF)",
            Self::Rf => "Random forest",
            Self::Knn => "k-NN",
        }
    }
}

/// The estimator's settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "model", rename_all = "lowercase")]
pub enum EstimatorConfig {
    /// Logistic regression.
    LogReg(LogRegConfig),
    /// RBF SVM.
    Svm(SvmConfig),
    /// Random forest.
    Rf(ForestConfig),
    /// k-NN.
    Knn(KnnConfig),
}

impl EstimatorConfig {
    /// Which model this configures.
    pub fn kind(&self) -> ClassicalKind {
        match self {
            Self::LogReg(_) => ClassicalKind::LogReg,
            Self::Svm(_) => ClassicalKind::Svm,
            Self::Rf(_) => ClassicalKind::Rf,
            Self::Knn(_) => ClassicalKind::Knn,
        }
    }
}

/// A classical model's full recipe: features and estimator.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClassicalConfig {
    /// The feature pipeline.
    pub features: FeatureConfig,
    /// The estimator.
    pub estimator: EstimatorConfig,
}

impl ClassicalConfig {
    /// The shipped recipe of each model (the choices and their measurements are in README's Models
    /// section and BENCHMARKS.md):
    /// - logistic regression: HOG → standardise → PCA 128, α = 1, 200 iterations;
    /// - SVM: HOG → PCA 64, C = 10, γ = scale, all 6,000 images per class in each pairwise machine;
    /// - random forest: pixels, 100 trees, entropy, √784 features per split;
    /// - k-NN: HOG → PCA 64, k = 5, distance-weighted.
    pub fn recipe(kind: ClassicalKind) -> Self {
        let hog = Some(HogConfig::default());
        match kind {
            ClassicalKind::LogReg => Self {
                features: FeatureConfig {
                    hog,
                    standardize: true,
                    pca: Some(128),
                },
                estimator: EstimatorConfig::LogReg(LogRegConfig::default()),
            },
            ClassicalKind::Svm => Self {
                features: FeatureConfig {
                    hog,
                    standardize: false,
                    pca: Some(64),
                },
                estimator: EstimatorConfig::Svm(SvmConfig::default()),
            },
            ClassicalKind::Rf => Self {
                features: FeatureConfig::default(),
                estimator: EstimatorConfig::Rf(ForestConfig::default()),
            },
            ClassicalKind::Knn => Self {
                features: FeatureConfig {
                    hog,
                    standardize: false,
                    pca: Some(64),
                },
                estimator: EstimatorConfig::Knn(KnnConfig::default()),
            },
        }
    }

    /// The recipe with some settings changed (the command line's and the page's options), validated.
    pub fn with_overrides(kind: ClassicalKind, o: &Overrides) -> Result<Self, ClassicalError> {
        let mut config = Self::recipe(kind);
        match o.features.as_deref() {
            None => {}
            Some("pixels") => config.features.hog = None,
            Some("hog") => config.features.hog = Some(HogConfig::default()),
            Some(other) => {
                return Err(ClassicalError::InvalidConfig(format!(
                    "features {other:?}: expected \"pixels\" or \"hog\""
                )));
            }
        }
        if let Some(k) = o.pca {
            config.features.pca = (k > 0).then_some(k);
        }
        match &mut config.estimator {
            EstimatorConfig::Svm(c) => {
                c.seed = o.seed.unwrap_or(c.seed);
                c.per_class = o.per_class.unwrap_or(c.per_class);
            }
            EstimatorConfig::Rf(c) => {
                c.seed = o.seed.unwrap_or(c.seed);
                c.trees = o.trees.unwrap_or(c.trees);
            }
            EstimatorConfig::Knn(c) => c.k = o.k.unwrap_or(c.k),
            EstimatorConfig::LogReg(_) => {}
        }
        config.validate()?;
        Ok(config)
    }

    /// Checks every setting.
    pub(crate) fn validate(&self) -> Result<(), ClassicalError> {
        self.features.validate()?;
        match &self.estimator {
            EstimatorConfig::LogReg(c) => c.validate(),
            EstimatorConfig::Svm(c) => c.validate(),
            EstimatorConfig::Rf(c) => c.validate(),
            EstimatorConfig::Knn(c) => c.validate(),
        }
    }
}

/// Changes to a recipe; `None` keeps the recipe's value. Options that do not apply to the model are
/// ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Overrides {
    /// `pixels` or `hog`.
    pub features: Option<String>,
    /// PCA components (0: none).
    pub pca: Option<usize>,
    /// SVM: training images per class in each pairwise machine.
    pub per_class: Option<usize>,
    /// Random forest: trees.
    pub trees: Option<usize>,
    /// k-NN: neighbours.
    pub k: Option<usize>,
    /// SVM subsample and forest seed.
    pub seed: Option<u64>,
}

/// What every fitted estimator offers, as linfa's fitted models share `Predict`: the one interface
/// [`ClassicalModel`] reaches its estimator through, so that an estimator is added by implementing it
/// and naming it in [`Estimator`], not by editing a match in every method.
pub(crate) trait FittedEstimator {
    /// Which model this is.
    fn kind(&self) -> ClassicalKind;
    /// Feature count the estimator expects.
    fn dims(&self) -> usize;
    /// Number of stored numbers (nodes for a forest, points × features for k-NN).
    fn params(&self) -> usize;
    /// Checks a deserialised estimator's internal consistency.
    fn check(&self) -> Result<(), ClassicalError>;
    /// Class scores of each row of features: n × 10, the highest the prediction.
    fn predict_proba(&self, x: ArrayView2<f32>) -> Array2<f32>;
    /// Its settings and what fitting found, for the model's JSON summary.
    fn describe(&self) -> serde_json::Map<String, serde_json::Value>;
}

/// A fitted estimator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Estimator {
    /// Logistic regression.
    LogReg(LogReg),
    /// RBF SVM.
    Svm(OvoSvm),
    /// Random forest.
    Rf(RandomForest),
    /// k-NN.
    Knn(Knn),
}

impl Estimator {
    /// The estimator behind its common interface.
    pub(crate) fn fitted(&self) -> &dyn FittedEstimator {
        match self {
            Self::LogReg(m) => m,
            Self::Svm(m) => m,
            Self::Rf(m) => m,
            Self::Knn(m) => m,
        }
    }
}

/// A fitted classical model: feature pipeline + estimator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassicalModel {
    /// The fitted feature pipeline.
    pub(crate) pipeline: FeaturePipeline,
    /// The fitted estimator.
    pub(crate) estimator: Estimator,
}

/// Where training time went, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct FitTimes {
    /// Fitting the feature pipeline and transforming the training images.
    pub features: f64,
    /// Fitting the estimator.
    pub estimator: f64,
}

/// Training progress: the stage and the fraction of it done.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct FitProgress {
    /// `features` or `estimator`.
    pub stage: &'static str,
    /// Fraction of the stage done, 0..=1.
    pub fraction: f64,
}

/// File magic of a saved classical model.
const MAGIC: &[u8; 8] = b"FLABCLS\0";
/// Format version of saved classical models. Version 2 stores the k-NN's points on a 6-bit grid, the
/// SVM's support vectors in f16 and the forest's trees in preorder (version 1: f16 points, f32 vectors,
/// node records with child indices); a version-1 file gets [`ClassicalError::Version`].
pub const FORMAT_VERSION: u32 = 2;

impl ClassicalModel {
    /// Fits the pipeline and the estimator on a training set. `progress` is called between stages and
    /// steps; returning false cancels ([`ClassicalError::Cancelled`]).
    pub fn fit(
        config: &ClassicalConfig,
        train: &Dataset,
        progress: &mut dyn FnMut(FitProgress) -> bool,
    ) -> Result<(Self, FitTimes), ClassicalError> {
        config.validate()?;
        if train.is_empty() {
            return Err(ClassicalError::EmptyData);
        }
        let started = web_time::Instant::now();
        if !progress(FitProgress {
            stage: "features",
            fraction: 0.0,
        }) {
            return Err(ClassicalError::Cancelled);
        }
        // The SVM trains on a class-balanced subsample: fit the features on just those images.
        let subsample = match config.estimator {
            EstimatorConfig::Svm(c) if c.per_class * NUM_CLASSES < train.len() => {
                Some(train.subset(&svm::balanced_rows(train.labels(), c.per_class, c.seed)))
            }
            _ => None,
        };
        let train = subsample.as_ref().unwrap_or(train);
        let labels = train.labels();
        let (pipeline, x) = FeaturePipeline::fit_transform(config.features, train.pixels())?;
        let features = started.elapsed().as_secs_f64();
        let mut step = |fraction: f64| {
            progress(FitProgress {
                stage: "estimator",
                fraction,
            })
        };
        if !step(0.0) {
            return Err(ClassicalError::Cancelled);
        }
        let estimator = match config.estimator {
            EstimatorConfig::LogReg(c) => Estimator::LogReg(LogReg::fit(c, x.view(), labels)?),
            EstimatorConfig::Svm(c) => Estimator::Svm(OvoSvm::fit(c, x.view(), labels, &mut step)?),
            EstimatorConfig::Rf(c) => {
                Estimator::Rf(RandomForest::fit(c, x.view(), labels, &mut step)?)
            }
            EstimatorConfig::Knn(c) => Estimator::Knn(Knn::fit(c, x.view(), labels)?),
        };
        step(1.0);
        let times = FitTimes {
            features,
            estimator: started.elapsed().as_secs_f64() - features,
        };
        Ok((
            Self {
                pipeline,
                estimator,
            },
            times,
        ))
    }

    /// Which model this is.
    pub fn kind(&self) -> ClassicalKind {
        self.estimator.fitted().kind()
    }

    /// Number of fitted numbers (pipeline + estimator; nodes for a forest, stored points × features for
    /// k-NN).
    pub fn params(&self) -> usize {
        self.pipeline.params() + self.estimator.fitted().params()
    }

    /// The model's configuration as JSON (features, estimator, and what fitting found).
    pub fn config_json(&self) -> serde_json::Value {
        let extra = self.estimator.fitted().describe();
        let explained: f32 = self.pipeline.explained_variance_ratio.iter().sum();
        serde_json::json!({
            "model": self.kind().name(),
            "pipeline": self.pipeline.config.describe(),
            "features": self.pipeline.config,
            "pca_explained_variance": if self.pipeline.config.pca.is_some() { Some(explained) } else { None },
            "estimator": extra,
        })
    }

    /// Class probabilities of images (`pixels`: n × 784): n × 10.
    pub fn predict_proba(&self, pixels: &[u8]) -> Result<Array2<f32>, ClassicalError> {
        let x = self.pipeline.transform(pixels)?;
        let estimator = self.estimator.fitted();
        if x.ncols() != estimator.dims() {
            return Err(ClassicalError::Mismatch(format!(
                "the pipeline gives {} features, the estimator expects {}",
                x.ncols(),
                estimator.dims()
            )));
        }
        Ok(estimator.predict_proba(x.view()))
    }

    /// Predicted class of each image.
    pub fn predict(&self, pixels: &[u8]) -> Result<Vec<u8>, ClassicalError> {
        let p = self.predict_proba(pixels)?;
        Ok(crate::metrics::argmax_rows(
            p.as_slice().expect("standard layout"),
            NUM_CLASSES,
        ))
    }

    /// Serialises to the versioned binary format: magic, version, then the model (postcard).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend(postcard::to_allocvec(self).expect("in-memory serialisation cannot fail"));
        out
    }

    /// Reads a model saved by [`Self::to_bytes`], checking magic, version and internal consistency.
    /// `expected` (when given) must match the model in the file.
    pub fn from_bytes(
        bytes: &[u8],
        expected: Option<ClassicalKind>,
    ) -> Result<Self, ClassicalError> {
        if bytes.len() < 12 || &bytes[..8] != MAGIC {
            return Err(ClassicalError::NotAModelFile);
        }
        let found = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
        if found != FORMAT_VERSION {
            return Err(ClassicalError::Version {
                found,
                expected: FORMAT_VERSION,
            });
        }
        let model: Self = postcard::from_bytes(&bytes[12..])
            .map_err(|e| ClassicalError::Corrupt(e.to_string()))?;
        model.pipeline.check()?;
        let estimator = model.estimator.fitted();
        estimator.check()?;
        let dims = estimator.dims();
        if dims != model.pipeline.output_dims() {
            return Err(ClassicalError::Corrupt(format!(
                "the pipeline gives {} features, the estimator expects {dims}",
                model.pipeline.output_dims()
            )));
        }
        if let Some(kind) = expected
            && kind != model.kind()
        {
            return Err(ClassicalError::WrongModel {
                found: model.kind().name().into(),
                expected: kind.name().into(),
            });
        }
        Ok(model)
    }
}
