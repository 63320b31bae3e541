//! Each deep model's training recipe, beside the model definitions: the architecture and its options,
//! the optimiser settings, the schedule, augmentation and label smoothing. The CLI trains the shipped
//! weights with it (`train`), and the page trains with the same recipe by default; a visitor, like a
//! command-line flag, may edit its fields within the bounds Rust validates ([`RecipeEdits`]).
//!
//! Only the run's length is the page's own ([`PageRun`]): an 80-epoch ResNet does not belong in a
//! visitor's tab.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::deep::input::AugmentConfig;
use crate::deep::models::{
    CnnConfig, DeepModelConfig, DeepModelKind, MAX_CNN_WIDTH, MAX_DROPOUT, MAX_RESNET_WIDTH,
    MIN_CNN_WIDTH, MIN_RESNET_WIDTH, ModelError,
};
use crate::deep::train::{OptimizerKind, TrainConfig, TrainError, bounds};

/// Errors of building or editing a recipe.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum RecipeError {
    /// A training setting out of range.
    #[error(transparent)]
    Train(#[from] TrainError),
    /// An architecture option out of range.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// An augmentation name other than `default`, `light` or `none`.
    #[error("unknown augmentation '{0}' (default, light or none)")]
    UnknownAugmentation(String),
    /// An option the model does not have (batch norm on the MLP, dropout on the ResNet).
    #[error("the {model} has no '{field}' option")]
    NotApplicable {
        /// The field.
        field: &'static str,
        /// The model.
        model: &'static str,
    },
}

/// A model's architecture and how it is trained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recipe {
    /// The architecture and its options.
    pub architecture: DeepModelConfig,
    /// Optimiser, schedule, augmentation, label smoothing (and the run's length and batch).
    pub train: TrainConfig,
}

/// The named augmentations: `default` (pad-2 crop, flip, erasing), `light` (pad-1 crop and flip, no
/// erasing) and `none`.
pub fn augmentation(name: &str) -> Result<AugmentConfig, RecipeError> {
    match name {
        "default" => Ok(AugmentConfig::default()),
        "light" => Ok(AugmentConfig {
            crop_padding: 1,
            erase_probability: 0.0,
            ..AugmentConfig::default()
        }),
        "none" => Ok(AugmentConfig::none()),
        other => Err(RecipeError::UnknownAugmentation(other.into())),
    }
}

/// The name of a named augmentation, or `custom`.
pub fn augmentation_name(augment: &AugmentConfig) -> &'static str {
    ["default", "light", "none"]
        .into_iter()
        .find(|n| augmentation(n).as_ref() == Ok(augment))
        .unwrap_or("custom")
}

/// The recipe the shipped weights were trained with.
pub fn recipe(kind: DeepModelKind) -> Recipe {
    let base = TrainConfig::default();
    match kind {
        // The study's architecture plus two options it allows: batch norm after each convolution and
        // dropout 0.3 before the dense layers; light augmentation; 50 epochs (93.34%; 30 epochs gave
        // 92.80%). Without batch norm, with the default augmentation, 30 epochs reached 91.8%.
        DeepModelKind::Cnn => Recipe {
            architecture: DeepModelConfig::Cnn(CnnConfig {
                dropout: 0.3,
                batch_norm: true,
                ..CnnConfig::default()
            }),
            train: TrainConfig {
                epochs: 50,
                learning_rate: 2e-3,
                augment: augmentation("light").expect("a named augmentation"),
                ..base
            },
        },
        DeepModelKind::ResNet => Recipe {
            architecture: DeepModelConfig::default_for(kind),
            train: TrainConfig {
                epochs: 80,
                learning_rate: 3e-3,
                weight_decay: 5e-4,
                ..base
            },
        },
        // An MLP has no translation invariance: augmentation cost it 2.5 points (87.4% with the default
        // augmentation against 89.9% without), so its recipe has none.
        DeepModelKind::Mlp => Recipe {
            architecture: DeepModelConfig::default_for(kind),
            train: TrainConfig {
                epochs: 40,
                learning_rate: 1e-3,
                augment: AugmentConfig::none(),
                ..base
            },
        },
    }
}

/// The study's exact CNN (no dropout, no batch norm) with the default augmentation, 30 epochs (`train
/// --faithful`).
pub fn faithful_cnn() -> Recipe {
    Recipe {
        architecture: DeepModelConfig::Cnn(CnnConfig::default()),
        train: TrainConfig {
            epochs: 30,
            learning_rate: 2e-3,
            ..TrainConfig::default()
        },
    }
}

/// Changes to a recipe's fields; `None` keeps the recipe's value. The page sends these (JSON), the CLI
/// builds them from its flags. Every result is validated.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecipeEdits {
    /// Epochs (the warm-up is shortened to fit).
    pub epochs: Option<usize>,
    /// Batch size.
    pub batch_size: Option<usize>,
    /// Peak learning rate.
    pub learning_rate: Option<f64>,
    /// The optimiser.
    pub optimizer: Option<OptimizerKind>,
    /// Weight decay (AdamW's decoupled decay, SGD's L2 penalty).
    pub weight_decay: Option<f64>,
    /// Epochs of warm-up.
    pub warmup_epochs: Option<f64>,
    /// Label smoothing.
    pub label_smoothing: Option<f32>,
    /// A named augmentation (`default`, `light`, `none`).
    pub augment: Option<String>,
    /// Dropout (CNN and MLP).
    pub dropout: Option<f64>,
    /// Batch norm after each convolution (CNN).
    pub batch_norm: Option<bool>,
    /// Width: the first convolution's filters (CNN), every convolution's filters (ResNet).
    pub width: Option<usize>,
    /// Depth: the ResNet's residual blocks in all (split 3:2 between 14×14 and 7×7, as the shipped 6
    /// and 4), or the MLP's hidden layers (512 units, each next one half the one before). The CNN's
    /// three convolutions are the study's and have no such option.
    pub depth: Option<usize>,
    /// Seed of initialisation, shuffling and augmentation.
    pub seed: Option<u64>,
}

impl Recipe {
    /// This recipe with `edits` applied, validated.
    pub fn edited(mut self, edits: &RecipeEdits) -> Result<Recipe, RecipeError> {
        let t = &mut self.train;
        if let Some(e) = edits.epochs {
            t.epochs = e;
            t.warmup_epochs = t.warmup_epochs.min(e as f64);
        }
        t.batch_size = edits.batch_size.unwrap_or(t.batch_size);
        t.learning_rate = edits.learning_rate.unwrap_or(t.learning_rate);
        t.optimizer = edits.optimizer.unwrap_or(t.optimizer);
        t.weight_decay = edits.weight_decay.unwrap_or(t.weight_decay);
        t.warmup_epochs = edits.warmup_epochs.unwrap_or(t.warmup_epochs);
        t.label_smoothing = edits.label_smoothing.unwrap_or(t.label_smoothing);
        t.seed = edits.seed.unwrap_or(t.seed);
        if let Some(name) = &edits.augment {
            t.augment = augmentation(name)?;
        }
        let model = self.architecture.kind().name();
        match (&mut self.architecture, edits.width) {
            (DeepModelConfig::Cnn(c), Some(w)) => c.width = w,
            (DeepModelConfig::ResNet(r), Some(w)) => r.width = w,
            (DeepModelConfig::Mlp(_), Some(_)) => {
                return Err(RecipeError::NotApplicable {
                    field: "width",
                    model,
                });
            }
            (_, None) => {}
        }
        match (&mut self.architecture, edits.depth) {
            (DeepModelConfig::ResNet(r), Some(d)) => {
                check_depth("resnet", d, LIMITS.resnet_depth)?;
                let first = (d * 3).div_ceil(5).min(d - 1);
                r.blocks = [first, d - first];
            }
            (DeepModelConfig::Mlp(m), Some(d)) => {
                check_depth("mlp", d, LIMITS.mlp_depth)?;
                m.hidden = (0..d).map(|i| 512 >> i).collect();
            }
            (DeepModelConfig::Cnn(_), Some(_)) => {
                return Err(RecipeError::NotApplicable {
                    field: "depth",
                    model,
                });
            }
            (_, None) => {}
        }
        match (&mut self.architecture, edits.dropout, edits.batch_norm) {
            (DeepModelConfig::Cnn(c), dropout, batch_norm) => {
                c.dropout = dropout.unwrap_or(c.dropout);
                c.batch_norm = batch_norm.unwrap_or(c.batch_norm);
            }
            (DeepModelConfig::Mlp(m), dropout, None) => m.dropout = dropout.unwrap_or(m.dropout),
            (DeepModelConfig::ResNet(_), None, None) => {}
            (_, Some(_), _) => {
                return Err(RecipeError::NotApplicable {
                    field: "dropout",
                    model,
                });
            }
            (_, None, Some(_)) => {
                return Err(RecipeError::NotApplicable {
                    field: "batch_norm",
                    model,
                });
            }
        }
        self.train.validate()?;
        self.architecture.validate()?;
        Ok(self)
    }
}

/// Checks a depth against its bounds.
fn check_depth(model: &'static str, depth: usize, [lo, hi]: [usize; 2]) -> Result<(), RecipeError> {
    if (lo..=hi).contains(&depth) {
        Ok(())
    } else {
        Err(RecipeError::Model(ModelError::InvalidConfig {
            model,
            message: format!("depth {depth} is outside {lo}..={hi}"),
        }))
    }
}

/// The depth of an architecture as [`RecipeEdits::depth`] counts it (`None` for the CNN).
pub fn depth(architecture: &DeepModelConfig) -> Option<usize> {
    match architecture {
        DeepModelConfig::Cnn(_) => None,
        DeepModelConfig::ResNet(r) => Some(r.blocks.iter().sum()),
        DeepModelConfig::Mlp(m) => Some(m.hidden.len()),
    }
}

/// The page's own run length: what a visitor's tab trains by default (the recipe's epochs are for the
/// CLI's full runs).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PageRun {
    /// Epochs.
    pub epochs: usize,
    /// Batch size.
    pub batch_size: usize,
    /// Training images (a class-balanced subset of the dataset; 10% of them held out for validation).
    pub train_size: usize,
}

/// The page's run for `kind`: 3 epochs of batch 64 on 1,000 images (the sample the page loads first).
pub fn page_run(_kind: DeepModelKind) -> PageRun {
    PageRun {
        epochs: 3,
        batch_size: 64,
        train_size: 1000,
    }
}

/// The bounds every editable field is validated against, for the page's inputs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Limits {
    /// Epochs, inclusive.
    pub epochs: [usize; 2],
    /// Batch size, inclusive.
    pub batch_size: [usize; 2],
    /// Learning rate: above the first, at most the second.
    pub learning_rate: [f64; 2],
    /// Weight decay, inclusive.
    pub weight_decay: [f64; 2],
    /// Label smoothing: at least the first, below the second.
    pub label_smoothing: [f32; 2],
    /// Dropout, inclusive.
    pub dropout: [f64; 2],
    /// The CNN's width (its first convolution's filters), inclusive.
    pub cnn_width: [usize; 2],
    /// The ResNet's width (every convolution's filters), inclusive.
    pub resnet_width: [usize; 2],
    /// The ResNet's depth (residual blocks), inclusive.
    pub resnet_depth: [usize; 2],
    /// The MLP's depth (hidden layers), inclusive.
    pub mlp_depth: [usize; 2],
    /// The fewest training images the page trains on.
    pub min_train_size: usize,
}

/// The bounds [`Recipe::edited`] enforces.
pub const LIMITS: Limits = Limits {
    epochs: bounds::EPOCHS,
    batch_size: bounds::BATCH_SIZE,
    learning_rate: bounds::LEARNING_RATE,
    weight_decay: bounds::WEIGHT_DECAY,
    label_smoothing: bounds::LABEL_SMOOTHING,
    dropout: [0.0, MAX_DROPOUT],
    cnn_width: [MIN_CNN_WIDTH, MAX_CNN_WIDTH],
    resnet_width: [MIN_RESNET_WIDTH, MAX_RESNET_WIDTH],
    resnet_depth: [2, 26],
    mlp_depth: [1, 4],
    min_train_size: 100,
};

/// One model's recipe as the CLI prints it and the page shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecipeSheet {
    /// `cnn`, `resnet` or `mlp`.
    pub model: &'static str,
    /// The shipped recipe.
    pub recipe: Recipe,
    /// Its augmentation's name.
    pub augmentation: &'static str,
    /// Its depth as [`RecipeEdits::depth`] counts it (none for the CNN).
    pub depth: Option<usize>,
    /// The page's run length.
    pub page: PageRun,
}

/// Every deep model's recipe sheet and the bounds: `www/recipes.json`, which the page reads before any
/// wasm loads (`fashionlab recipe --json` writes it; a test keeps it current).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Catalogue {
    /// The bounds.
    pub limits: Limits,
    /// The recipes, CNN, ResNet, MLP.
    pub recipes: Vec<RecipeSheet>,
}

/// `kind`'s recipe sheet.
pub fn sheet(kind: DeepModelKind) -> RecipeSheet {
    let recipe = recipe(kind);
    RecipeSheet {
        model: kind.name(),
        augmentation: augmentation_name(&recipe.train.augment),
        depth: depth(&recipe.architecture),
        recipe,
        page: page_run(kind),
    }
}

/// The catalogue of every deep model.
pub fn catalogue() -> Catalogue {
    Catalogue {
        limits: LIMITS,
        recipes: DeepModelKind::ALL.iter().map(|&k| sheet(k)).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_apply_and_are_validated() {
        let cnn = recipe(DeepModelKind::Cnn);
        assert_eq!(cnn.clone().edited(&RecipeEdits::default()), Ok(cnn.clone()));
        let short = cnn
            .clone()
            .edited(&RecipeEdits {
                epochs: Some(1),
                augment: Some("none".into()),
                dropout: Some(0.5),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(
            (short.train.epochs, short.train.warmup_epochs),
            (1, 1.0_f64.min(1.0))
        );
        assert_eq!(short.train.augment, AugmentConfig::none());
        assert_eq!(
            short.architecture,
            DeepModelConfig::Cnn(CnnConfig {
                dropout: 0.5,
                batch_norm: true,
                ..CnnConfig::default()
            })
        );
        let over = |e: RecipeEdits| recipe(DeepModelKind::Cnn).edited(&e).unwrap_err();
        assert!(matches!(
            over(RecipeEdits {
                epochs: Some(LIMITS.epochs[1] + 1),
                ..Default::default()
            }),
            RecipeError::Train(_)
        ));
        assert!(matches!(
            over(RecipeEdits {
                batch_size: Some(LIMITS.batch_size[1] + 1),
                ..Default::default()
            }),
            RecipeError::Train(_)
        ));
        assert!(matches!(
            over(RecipeEdits {
                dropout: Some(LIMITS.dropout[1] + 0.01),
                ..Default::default()
            }),
            RecipeError::Model(_)
        ));
        assert!(matches!(
            over(RecipeEdits {
                augment: Some("heavy".into()),
                ..Default::default()
            }),
            RecipeError::UnknownAugmentation(_)
        ));
        assert!(matches!(
            over(RecipeEdits {
                width: Some(LIMITS.cnn_width[1] + 1),
                ..Default::default()
            }),
            RecipeError::Model(_)
        ));
        assert!(matches!(
            recipe(DeepModelKind::ResNet).edited(&RecipeEdits {
                width: Some(LIMITS.resnet_width[0] - 1),
                ..Default::default()
            }),
            Err(RecipeError::Model(_))
        ));
        assert_eq!(
            recipe(DeepModelKind::Mlp)
                .edited(&RecipeEdits {
                    width: Some(64),
                    ..Default::default()
                })
                .unwrap_err(),
            RecipeError::NotApplicable {
                field: "width",
                model: "mlp"
            }
        );
        // The limits themselves are accepted.
        let edges = RecipeEdits {
            epochs: Some(LIMITS.epochs[1]),
            batch_size: Some(LIMITS.batch_size[0]),
            learning_rate: Some(LIMITS.learning_rate[1]),
            weight_decay: Some(LIMITS.weight_decay[1]),
            dropout: Some(LIMITS.dropout[1]),
            width: Some(LIMITS.cnn_width[1]),
            ..Default::default()
        };
        recipe(DeepModelKind::Cnn).edited(&edges).unwrap();
        for width in LIMITS.resnet_width {
            recipe(DeepModelKind::ResNet)
                .edited(&RecipeEdits {
                    width: Some(width),
                    ..Default::default()
                })
                .unwrap();
        }
        assert_eq!(
            recipe(DeepModelKind::ResNet)
                .edited(&RecipeEdits {
                    batch_norm: Some(false),
                    ..Default::default()
                })
                .unwrap_err(),
            RecipeError::NotApplicable {
                field: "batch_norm",
                model: "resnet"
            }
        );
        assert_eq!(
            recipe(DeepModelKind::Mlp)
                .edited(&RecipeEdits {
                    batch_norm: Some(true),
                    ..Default::default()
                })
                .unwrap_err(),
            RecipeError::NotApplicable {
                field: "batch_norm",
                model: "mlp"
            }
        );
    }

    #[test]
    fn optimizer_and_depth_are_recipe_fields() {
        let edit = |kind, e: RecipeEdits| recipe(kind).edited(&e);
        let sgd = edit(
            DeepModelKind::Cnn,
            RecipeEdits {
                optimizer: Some(OptimizerKind::Sgd),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(sgd.train.optimizer, OptimizerKind::Sgd);
        assert_eq!(
            recipe(DeepModelKind::Cnn).train.optimizer,
            OptimizerKind::AdamW
        );
        let resnet = |d| {
            edit(
                DeepModelKind::ResNet,
                RecipeEdits {
                    depth: Some(d),
                    ..Default::default()
                },
            )
            .map(|r| match r.architecture {
                DeepModelConfig::ResNet(c) => c.blocks,
                _ => unreachable!(),
            })
        };
        assert_eq!(
            resnet(10),
            Ok([6, 4]),
            "the shipped depth gives the shipped blocks"
        );
        assert_eq!(resnet(2), Ok([1, 1]));
        assert_eq!(resnet(5), Ok([3, 2]));
        assert_eq!(resnet(LIMITS.resnet_depth[1]), Ok([16, 10]));
        for bad in [LIMITS.resnet_depth[0] - 1, LIMITS.resnet_depth[1] + 1] {
            assert!(matches!(resnet(bad), Err(RecipeError::Model(_))), "{bad}");
        }
        let mlp = |d| {
            edit(
                DeepModelKind::Mlp,
                RecipeEdits {
                    depth: Some(d),
                    ..Default::default()
                },
            )
            .map(|r| match r.architecture {
                DeepModelConfig::Mlp(c) => c.hidden,
                _ => unreachable!(),
            })
        };
        assert_eq!(
            mlp(2),
            Ok(vec![512, 256]),
            "the shipped depth gives the shipped layers"
        );
        assert_eq!(mlp(4), Ok(vec![512, 256, 128, 64]));
        assert!(matches!(mlp(5), Err(RecipeError::Model(_))));
        assert_eq!(
            edit(
                DeepModelKind::Cnn,
                RecipeEdits {
                    depth: Some(3),
                    ..Default::default()
                }
            )
            .unwrap_err(),
            RecipeError::NotApplicable {
                field: "depth",
                model: "cnn"
            }
        );
        assert_eq!(sheet(DeepModelKind::ResNet).depth, Some(10));
        assert_eq!(sheet(DeepModelKind::Mlp).depth, Some(2));
        assert_eq!(sheet(DeepModelKind::Cnn).depth, None);
        // The page's JSON names the optimiser in lower case, and a recipe without one is AdamW.
        let edits: RecipeEdits =
            serde_json::from_str(r#"{"optimizer": "sgd", "depth": 3}"#).unwrap();
        assert_eq!(edits.optimizer, Some(OptimizerKind::Sgd));
        let mut old = serde_json::to_value(recipe(DeepModelKind::Mlp).train).unwrap();
        old.as_object_mut().unwrap().remove("optimizer");
        let old: TrainConfig = serde_json::from_value(old).unwrap();
        assert_eq!(old.optimizer, OptimizerKind::AdamW);
    }

    #[test]
    fn augmentations_are_named() {
        for name in ["default", "light", "none"] {
            assert_eq!(augmentation_name(&augmentation(name).unwrap()), name);
        }
        assert_eq!(sheet(DeepModelKind::Cnn).augmentation, "light");
        assert_eq!(sheet(DeepModelKind::Mlp).augmentation, "none");
        assert_eq!(sheet(DeepModelKind::ResNet).augmentation, "default");
    }
}
