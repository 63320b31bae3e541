//! The deep models, each defined once and used for training, inference and Grad-CAM on any device:
//! the study's CNN (exactly its table), a ResNet in the study's spirit, and an MLP.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig};
use burn::nn::{
    BatchNorm, BatchNormConfig, Dropout, DropoutConfig, Linear, LinearConfig, PaddingConfig2d,
};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::data::{NUM_CLASSES, PIXELS};
use crate::deep::ops::conv::conv2d;
use crate::deep::ops::dropout::dropout;
use crate::deep::ops::norm::batch_norm;
use crate::deep::ops::pool::max_pool_2x2;
use crate::deep::ops::relu::{add_relu, relu};

/// Errors of model configuration.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum ModelError {
    /// A configuration value is out of range.
    #[error("invalid {model} config: {message}")]
    InvalidConfig {
        /// The model.
        model: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The name is not a deep model.
    #[error("unknown model '{0}' (expected cnn, resnet or mlp)")]
    Unknown(String),
}

/// Which deep model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeepModelKind {
    /// The study's CNN.
    Cnn,
    /// The ResNet.
    ResNet,
    /// The multilayer perceptron.
    Mlp,
}

impl DeepModelKind {
    /// All deep models.
    pub const ALL: [DeepModelKind; 3] = [Self::Cnn, Self::ResNet, Self::Mlp];

    /// File-name and CLI name: `cnn`, `resnet`, `mlp`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Cnn => "cnn",
            Self::ResNet => "resnet",
            Self::Mlp => "mlp",
        }
    }
}

impl std::str::FromStr for DeepModelKind {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self, ModelError> {
        match s.to_ascii_lowercase().as_str() {
            "cnn" => Ok(Self::Cnn),
            "resnet" => Ok(Self::ResNet),
            "mlp" => Ok(Self::Mlp),
            _ => Err(ModelError::Unknown(s.into())),
        }
    }
}

fn invalid(model: &'static str, message: impl Into<String>) -> ModelError {
    ModelError::InvalidConfig {
        model,
        message: message.into(),
    }
}

/// `width` within `min..=max`, else the model's typed error.
fn check_width(
    model: &'static str,
    width: usize,
    min: usize,
    max: usize,
) -> Result<(), ModelError> {
    if (min..=max).contains(&width) {
        Ok(())
    } else {
        Err(invalid(
            model,
            format!("width {width} is outside {min}..={max}"),
        ))
    }
}

/// The largest dropout a model accepts (the smallest is 0).
pub const MAX_DROPOUT: f64 = 0.9;

/// The study's CNN. Defaults are the faithful variant: dropout 0 and no batch norm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CnnConfig {
    /// Dropout before each dense layer, in [0, 0.9]. Default 0 (the study's model had none).
    pub dropout: f64,
    /// Batch norm after each convolution (before its ReLU). Default false (the study's model had none).
    #[serde(default)]
    pub batch_norm: bool,
    /// Filters of the first convolution, in 8..=128; the second has twice as many, the third and the
    /// hidden dense layer four times. Default 32, the study's 32/64/128 and 128.
    #[serde(default = "CnnConfig::study_width")]
    pub width: usize,
}

impl Default for CnnConfig {
    fn default() -> Self {
        Self {
            dropout: 0.0,
            batch_norm: false,
            width: Self::study_width(),
        }
    }
}

impl CnnConfig {
    /// The study's width: 32 filters in the first convolution.
    pub const fn study_width() -> usize {
        32
    }

    /// Filters of the three convolutions and units of the hidden dense layer.
    pub fn channels(&self) -> [usize; 4] {
        let w = self.width;
        [w, 2 * w, 4 * w, 4 * w]
    }

    /// Checks the ranges.
    pub fn validate(&self) -> Result<(), ModelError> {
        if !(0.0..=MAX_DROPOUT).contains(&self.dropout) {
            return Err(invalid(
                "cnn",
                format!("dropout {} is outside [0, {MAX_DROPOUT}]", self.dropout),
            ));
        }
        check_width("cnn", self.width, MIN_CNN_WIDTH, MAX_CNN_WIDTH)
    }
}

/// The narrowest ResNet: 8 filters in every convolution.
pub const MIN_RESNET_WIDTH: usize = 8;
/// The widest ResNet: 256 filters in every convolution.
pub const MAX_RESNET_WIDTH: usize = 256;

/// Cells of the CNN's last feature map (3×3).
const CNN_FEATURE_CELLS: usize = 9;

/// The narrowest CNN: 8 filters in the first convolution.
pub const MIN_CNN_WIDTH: usize = 8;
/// The widest CNN: 128 filters in the first convolution (512 in the third).
pub const MAX_CNN_WIDTH: usize = 128;

/// Conv2D 32 3×3 → MaxPool 2×2 → Conv2D 64 3×3 → MaxPool 2×2 → Conv2D 128 3×3 → Flatten (1,152) →
/// Dense 128 ReLU → Dense 10: 241,546 parameters, as the Keras reference. Optional dropout before the
/// dense layers, batch norm after the convolutions, and a width other than the study's 32 (every layer
/// scaled with it; the shapes below are at width 32).
#[derive(Module, Debug)]
pub struct Cnn {
    conv1: Conv2d,
    conv2: Conv2d,
    conv3: Conv2d,
    /// One per convolution when batch norm is on, else empty.
    norms: Vec<BatchNorm>,
    dropout: Dropout,
    fc1: Linear,
    fc2: Linear,
}

impl Cnn {
    /// A freshly initialised CNN on `device`.
    pub fn new(config: &CnnConfig, device: &Device) -> Self {
        let conv = |i, o| Conv2dConfig::new([i, o], [3, 3]).init(device);
        let [c1, c2, c3, hidden] = config.channels();
        Self {
            conv1: conv(1, c1),
            conv2: conv(c1, c2),
            conv3: conv(c2, c3),
            norms: if config.batch_norm {
                [c1, c2, c3]
                    .map(|c| BatchNormConfig::new(c).init(device))
                    .into()
            } else {
                Vec::new()
            },
            dropout: DropoutConfig::new(config.dropout).init(),
            fc1: LinearConfig::new(c3 * CNN_FEATURE_CELLS, hidden).init(device),
            fc2: LinearConfig::new(hidden, NUM_CLASSES).init(device),
        }
    }

    /// The last convolution's activations: `[N, 1, 28, 28]` → `[N, 128, 3, 3]`.
    pub fn features(&self, x: Tensor<4>) -> Tensor<4> {
        self.features_seen(x, &mut |_| {})
    }

    /// [`Cnn::features`], showing each layer's output to `see` on the way.
    fn features_seen(&self, x: Tensor<4>, see: &mut dyn FnMut(Layer)) -> Tensor<4> {
        let norm = |i: usize, x: Tensor<4>| match self.norms.get(i) {
            Some(bn) => batch_norm(bn, x),
            None => x,
        };
        // ReLU after the pooling: the maximum and ReLU commute (values and gradients alike), so this is
        // the study's conv → ReLU → pool with ReLU on a quarter of the values.
        let mut x = norm(0, conv2d(&self.conv1, x)); // [N, 32, 26, 26]
        see(Layer::Map("conv 1", &mut x));
        let mut x = relu(max_pool_2x2(x)); // [N, 32, 13, 13]
        see(Layer::Map("pool 1 + ReLU", &mut x));
        let mut x = norm(1, conv2d(&self.conv2, x)); // [N, 64, 11, 11]
        see(Layer::Map("conv 2", &mut x));
        let mut x = relu(max_pool_2x2(x)); // [N, 64, 5, 5]
        see(Layer::Map("pool 2 + ReLU", &mut x));
        let mut x = relu(norm(2, conv2d(&self.conv3, x))); // [N, 128, 3, 3]
        see(Layer::Map("conv 3 + ReLU", &mut x));
        x
    }

    /// Logits from the last convolution's activations: `[N, 128, 3, 3]` → `[N, 10]`.
    pub fn head(&self, features: Tensor<4>) -> Tensor<2> {
        self.head_seen(features, &mut |_| {})
    }

    fn head_seen(&self, features: Tensor<4>, see: &mut dyn FnMut(Layer)) -> Tensor<2> {
        let x: Tensor<2> = features.flatten(1, 3); // [N, 1152]
        let mut x = relu(self.fc1.forward(dropout(&self.dropout, x))); // [N, 128]
        see(Layer::Vector("dense + ReLU", &mut x));
        self.fc2.forward(dropout(&self.dropout, x)) // [N, 10]
    }
}

/// One layer's output during a forward pass, as [`DeepModel::forward_seen`] shows it. The output is lent
/// mutably so that an observer can put an equal tensor in its place, one that the autodiff graph sees:
/// the trainer's backward-pass clock ([`crate::deep::ops::clock`]) does. Anything else is a different
/// model, so observers only read or mark.
pub enum Layer<'a> {
    /// Maps `[N, C, H, W]` of the named layer.
    Map(&'static str, &'a mut Tensor<4>),
    /// Maps `[N, C, H, W]` after the ResNet's residual block number `n` (from 1).
    Block(usize, &'a mut Tensor<4>),
    /// Units `[N, U]` of the named dense or pooled layer.
    Vector(&'static str, &'a mut Tensor<2>),
    /// Units `[N, U]` after the MLP's hidden layer number `n` (from 1), with its ReLU.
    Dense(usize, &'a mut Tensor<2>),
}

impl Layer<'_> {
    /// The layer's name, as the look-inside view shows it.
    pub fn name(&self) -> String {
        match self {
            Self::Map(name, _) | Self::Vector(name, _) => (*name).into(),
            Self::Block(n, _) => format!("block {n}"),
            Self::Dense(n, _) => format!("dense {n} + ReLU"),
        }
    }
}

/// The ResNet. Defaults: 32 filters throughout, 6 residual blocks at 14×14 and 4 at 7×7.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResNetConfig {
    /// Filters in every convolution. Default 32, as in the study.
    pub width: usize,
    /// Residual blocks at 14×14, then at 7×7 (2×2 max-pool between). Default [6, 4].
    pub blocks: [usize; 2],
}

impl Default for ResNetConfig {
    fn default() -> Self {
        Self {
            width: 32,
            blocks: [6, 4],
        }
    }
}

impl ResNetConfig {
    /// Checks the ranges.
    pub fn validate(&self) -> Result<(), ModelError> {
        check_width("resnet", self.width, MIN_RESNET_WIDTH, MAX_RESNET_WIDTH)?;
        if self.blocks.iter().any(|&b| !(1..=16).contains(&b)) {
            return Err(invalid(
                "resnet",
                format!("blocks {:?}: each must be 1..=16", self.blocks),
            ));
        }
        Ok(())
    }

    /// Forward-pass multiply-adds per image (convolutions and the classifier; batch norm and ReLU excluded).
    pub fn macs_per_image(&self) -> u64 {
        let w = self.width as u64;
        let stem = 28 * 28 * w * 9;
        let conv = |side: u64| side * side * w * w * 9;
        stem + 2 * self.blocks[0] as u64 * conv(14)
            + 2 * self.blocks[1] as u64 * conv(7)
            + w * NUM_CLASSES as u64
    }
}

/// One residual block: conv-BN-ReLU-conv-BN plus the identity, then ReLU. `[N, C, H, W]` → same.
#[derive(Module, Debug)]
pub struct ResidualBlock {
    conv1: Conv2d,
    bn1: BatchNorm,
    conv2: Conv2d,
    bn2: BatchNorm,
}

impl ResidualBlock {
    fn new(width: usize, device: &Device) -> Self {
        let conv = || {
            Conv2dConfig::new([width, width], [3, 3])
                .with_padding(PaddingConfig2d::Same)
                .with_bias(false)
                .init(device)
        };
        Self {
            conv1: conv(),
            bn1: BatchNormConfig::new(width).init(device),
            conv2: conv(),
            bn2: BatchNormConfig::new(width).init(device),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let y = relu(batch_norm(&self.bn1, conv2d(&self.conv1, x.clone())));
        let y = batch_norm(&self.bn2, conv2d(&self.conv2, y));
        add_relu(y, x)
    }
}

/// Stem conv 3×3 (1→32) + BN + ReLU at 28×28 → max-pool → residual blocks at 14×14 → max-pool →
/// residual blocks at 7×7 → global average pooling → Dense 10.
#[derive(Module, Debug)]
pub struct ResNet {
    stem: Conv2d,
    stem_bn: BatchNorm,
    stage1: Vec<ResidualBlock>,
    stage2: Vec<ResidualBlock>,
    gap: AdaptiveAvgPool2d,
    fc: Linear,
}

impl ResNet {
    /// A freshly initialised ResNet on `device`.
    pub fn new(config: &ResNetConfig, device: &Device) -> Self {
        let w = config.width;
        Self {
            stem: Conv2dConfig::new([1, w], [3, 3])
                .with_padding(PaddingConfig2d::Same)
                .with_bias(false)
                .init(device),
            stem_bn: BatchNormConfig::new(w).init(device),
            stage1: (0..config.blocks[0])
                .map(|_| ResidualBlock::new(w, device))
                .collect(),
            stage2: (0..config.blocks[1])
                .map(|_| ResidualBlock::new(w, device))
                .collect(),
            gap: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
            fc: LinearConfig::new(w, NUM_CLASSES).init(device),
        }
    }

    /// The last residual block's activations: `[N, 1, 28, 28]` → `[N, W, 7, 7]`.
    pub fn features(&self, x: Tensor<4>) -> Tensor<4> {
        self.features_seen(x, &mut |_| {})
    }

    /// [`ResNet::features`], showing each layer's output to `see` on the way.
    fn features_seen(&self, x: Tensor<4>, see: &mut dyn FnMut(Layer)) -> Tensor<4> {
        let mut x = batch_norm(&self.stem_bn, conv2d(&self.stem, x)); // [N, W, 28, 28]
        see(Layer::Map("stem conv", &mut x));
        // ReLU after the pooling, as in the CNN (they commute).
        let mut x = relu(max_pool_2x2(x)); // [N, W, 14, 14]
        see(Layer::Map("pool 1 + ReLU", &mut x));
        for (i, block) in self.stage1.iter().enumerate() {
            x = block.forward(x);
            see(Layer::Block(i + 1, &mut x));
        }
        x = max_pool_2x2(x); // [N, W, 7, 7]
        see(Layer::Map("pool 2", &mut x));
        for (i, block) in self.stage2.iter().enumerate() {
            x = block.forward(x);
            see(Layer::Block(self.stage1.len() + i + 1, &mut x));
        }
        x
    }

    /// Logits from the last block's activations: `[N, W, 7, 7]` → `[N, 10]`.
    pub fn head(&self, features: Tensor<4>) -> Tensor<2> {
        self.head_seen(features, &mut |_| {})
    }

    fn head_seen(&self, features: Tensor<4>, see: &mut dyn FnMut(Layer)) -> Tensor<2> {
        let mut x: Tensor<2> = self.gap.forward(features).flatten(1, 3); // [N, W]
        see(Layer::Vector("average pool", &mut x));
        self.fc.forward(x)
    }
}

/// The MLP. Defaults: hidden layers 512 and 256, dropout 0.2.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MlpConfig {
    /// Sizes of the hidden ReLU layers, 1 to 4 layers of 8..=4096 units. Default [512, 256].
    pub hidden: Vec<usize>,
    /// Dropout before each dense layer, in [0, 0.9]. Default 0.2.
    pub dropout: f64,
}

impl Default for MlpConfig {
    fn default() -> Self {
        Self {
            hidden: vec![512, 256],
            dropout: 0.2,
        }
    }
}

impl MlpConfig {
    /// Checks the ranges.
    pub fn validate(&self) -> Result<(), ModelError> {
        if self.hidden.is_empty()
            || self.hidden.len() > 4
            || self.hidden.iter().any(|&h| !(8..=4096).contains(&h))
        {
            return Err(invalid(
                "mlp",
                format!("hidden {:?}: 1 to 4 layers of 8..=4096 units", self.hidden),
            ));
        }
        if !(0.0..=MAX_DROPOUT).contains(&self.dropout) {
            return Err(invalid(
                "mlp",
                format!("dropout {} is outside [0, {MAX_DROPOUT}]", self.dropout),
            ));
        }
        Ok(())
    }
}

/// Flattened 784 inputs → ReLU hidden layers with dropout → Dense 10.
#[derive(Module, Debug)]
pub struct Mlp {
    hidden: Vec<Linear>,
    dropout: Dropout,
    output: Linear,
}

impl Mlp {
    /// A freshly initialised MLP on `device`.
    pub fn new(config: &MlpConfig, device: &Device) -> Self {
        let sizes: Vec<usize> = std::iter::once(PIXELS)
            .chain(config.hidden.iter().copied())
            .collect();
        Self {
            hidden: sizes
                .windows(2)
                .map(|w| LinearConfig::new(w[0], w[1]).init(device))
                .collect(),
            dropout: DropoutConfig::new(config.dropout).init(),
            output: LinearConfig::new(*sizes.last().expect("non-empty"), NUM_CLASSES).init(device),
        }
    }

    /// `[N, 1, 28, 28]` → `[N, 10]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        self.forward_seen(x, &mut |_| {})
    }

    fn forward_seen(&self, x: Tensor<4>, see: &mut dyn FnMut(Layer)) -> Tensor<2> {
        let mut x: Tensor<2> = x.flatten(1, 3); // [N, 784]
        for (i, layer) in self.hidden.iter().enumerate() {
            x = relu(layer.forward(dropout(&self.dropout, x))); // [N, h]
            see(Layer::Dense(i + 1, &mut x));
        }
        self.output.forward(dropout(&self.dropout, x)) // [N, 10]
    }
}

/// The configuration of any deep model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "model", rename_all = "lowercase")]
pub enum DeepModelConfig {
    /// The study's CNN.
    Cnn(CnnConfig),
    /// The ResNet.
    ResNet(ResNetConfig),
    /// The MLP.
    Mlp(MlpConfig),
}

impl DeepModelConfig {
    /// The default configuration of `kind`.
    pub fn default_for(kind: DeepModelKind) -> Self {
        match kind {
            DeepModelKind::Cnn => Self::Cnn(CnnConfig::default()),
            DeepModelKind::ResNet => Self::ResNet(ResNetConfig::default()),
            DeepModelKind::Mlp => Self::Mlp(MlpConfig::default()),
        }
    }

    /// Which model this configures.
    pub fn kind(&self) -> DeepModelKind {
        match self {
            Self::Cnn(_) => DeepModelKind::Cnn,
            Self::ResNet(_) => DeepModelKind::ResNet,
            Self::Mlp(_) => DeepModelKind::Mlp,
        }
    }

    /// Checks the ranges.
    pub fn validate(&self) -> Result<(), ModelError> {
        match self {
            Self::Cnn(c) => c.validate(),
            Self::ResNet(c) => c.validate(),
            Self::Mlp(c) => c.validate(),
        }
    }

    /// A freshly initialised model on `device`, after validation.
    pub fn init(&self, device: &Device) -> Result<DeepModel, ModelError> {
        self.validate()?;
        Ok(match self {
            Self::Cnn(c) => DeepModel::Cnn(Cnn::new(c, device)),
            Self::ResNet(c) => DeepModel::ResNet(ResNet::new(c, device)),
            Self::Mlp(c) => DeepModel::Mlp(Mlp::new(c, device)),
        })
    }
}

/// Any deep model: one type for the training loop, inference and Grad-CAM.
// The variants hold layer handles (a kilobyte or so), not weights; a model is built rarely, so boxing
// would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum DeepModel {
    /// The study's CNN.
    Cnn(Cnn),
    /// The ResNet.
    ResNet(ResNet),
    /// The MLP.
    Mlp(Mlp),
}

impl DeepModel {
    /// Logits: `[N, 1, 28, 28]` → `[N, 10]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        match self {
            Self::Cnn(m) => m.head(m.features(x)),
            Self::ResNet(m) => m.head(m.features(x)),
            Self::Mlp(m) => m.forward(x),
        }
    }

    /// [`DeepModel::forward`], the same computation, showing every layer's output to `see` in order
    /// (the look-inside view; the logits are the return value).
    pub fn forward_seen(&self, x: Tensor<4>, see: &mut dyn FnMut(Layer)) -> Tensor<2> {
        match self {
            Self::Cnn(m) => {
                let features = m.features_seen(x, see);
                m.head_seen(features, see)
            }
            Self::ResNet(m) => {
                let features = m.features_seen(x, see);
                m.head_seen(features, see)
            }
            Self::Mlp(m) => m.forward_seen(x, see),
        }
    }

    /// The first layer's weights: the convolution's filters `[C, 1, 3, 3]`, or the MLP's first dense
    /// layer `[784, U]`.
    pub fn first_layer_weights(&self) -> Tensor<4> {
        match self {
            Self::Cnn(m) => m.conv1.weight.val(),
            Self::ResNet(m) => m.stem.weight.val(),
            Self::Mlp(m) => {
                let w = m.hidden[0].weight.val(); // [784, U]
                let units = w.dims()[1];
                w.swap_dims(0, 1).reshape([units, 1, 28, 28])
            }
        }
    }

    /// Which model this is.
    pub fn kind(&self) -> DeepModelKind {
        match self {
            Self::Cnn(_) => DeepModelKind::Cnn,
            Self::ResNet(_) => DeepModelKind::ResNet,
            Self::Mlp(_) => DeepModelKind::Mlp,
        }
    }

    /// The last convolutional activations (what Grad-CAM explains), `[N, C, H, W]`; `None` for the MLP.
    pub fn features(&self, x: Tensor<4>) -> Option<Tensor<4>> {
        match self {
            Self::Cnn(m) => Some(m.features(x)),
            Self::ResNet(m) => Some(m.features(x)),
            Self::Mlp(_) => None,
        }
    }

    /// Logits from [`DeepModel::features`]' activations: `[N, C, H, W]` → `[N, 10]`. The MLP has no such
    /// split and treats its input as the image.
    pub fn head(&self, features: Tensor<4>) -> Tensor<2> {
        match self {
            Self::Cnn(m) => m.head(features),
            Self::ResNet(m) => m.head(features),
            Self::Mlp(m) => m.forward(features),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(kind: DeepModelKind) -> (usize, Vec<usize>) {
        let device = Device::flex();
        let model = DeepModelConfig::default_for(kind).init(&device).unwrap();
        let logits = model.forward(Tensor::zeros([3, 1, 28, 28], &device));
        (model.num_params(), logits.dims().to_vec())
    }

    #[test]
    fn cnn_is_the_studys_table() {
        assert_eq!(count(DeepModelKind::Cnn), (241_546, vec![3, 10]));
        let device = Device::flex();
        let cnn = Cnn::new(&CnnConfig::default(), &device);
        assert_eq!(
            cnn.features(Tensor::zeros([2, 1, 28, 28], &device)).dims(),
            [2, 128, 3, 3]
        );
    }

    #[test]
    fn cnn_batch_norm_option() {
        let device = Device::flex();
        let cnn = Cnn::new(
            &CnnConfig {
                dropout: 0.3,
                batch_norm: true,
                ..CnnConfig::default()
            },
            &device,
        );
        // 2 learned + 2 running values per channel of each of the three convolutions.
        assert_eq!(cnn.num_params(), 241_546 + 4 * (32 + 64 + 128));
        let m = DeepModel::Cnn(cnn);
        assert_eq!(
            m.forward(Tensor::zeros([2, 1, 28, 28], &device)).dims(),
            [2, 10]
        );
    }

    #[test]
    fn cnn_width_scales_every_layer() {
        let device = Device::flex();
        let config = CnnConfig {
            batch_norm: true,
            width: 48,
            ..CnnConfig::default()
        };
        let cnn = Cnn::new(&config, &device);
        let (c1, c2, c3, h) = (48, 96, 192, 192);
        let convs = c1 * 9 + c1 + c2 * c1 * 9 + c2 + c3 * c2 * 9 + c3;
        let dense = c3 * 9 * h + h + h * 10 + 10;
        assert_eq!(cnn.num_params(), convs + dense + 4 * (c1 + c2 + c3));
        assert_eq!(
            cnn.features(Tensor::zeros([2, 1, 28, 28], &device)).dims(),
            [2, c3, 3, 3]
        );
        for width in [MIN_CNN_WIDTH - 1, MAX_CNN_WIDTH + 1] {
            assert!(
                CnnConfig {
                    width,
                    ..config.clone()
                }
                .validate()
                .is_err()
            );
        }
        for width in [MIN_CNN_WIDTH, MAX_CNN_WIDTH] {
            assert!(
                CnnConfig {
                    width,
                    ..config.clone()
                }
                .validate()
                .is_ok()
            );
        }
    }

    #[test]
    fn resnet_shapes_params_and_flops() {
        let (params, dims) = count(DeepModelKind::ResNet);
        assert_eq!(dims, vec![3, 10]);
        // Learned: stem 288 + BN 64; 10 blocks × (2 × 9,216 + 2 × 64); fc 330 = 186,282. burn's count
        // also includes the 21 batch norms' running mean and variance (21 × 64 = 1,344).
        let learned = 288 + 64 + 10 * (2 * 9_216 + 2 * 64) + 330;
        assert_eq!(learned, 186_282);
        assert_eq!(params, learned + 21 * 64);
        let device = Device::flex();
        let r = ResNet::new(&ResNetConfig::default(), &device);
        assert_eq!(
            r.features(Tensor::zeros([2, 1, 28, 28], &device)).dims(),
            [2, 32, 7, 7]
        );
        assert_eq!(
            ResNetConfig::default().macs_per_image(),
            225_792 + 12 * 1_806_336 + 8 * 451_584 + 320
        );
    }

    #[test]
    fn mlp_shapes_and_params() {
        assert_eq!(
            count(DeepModelKind::Mlp),
            (
                784 * 512 + 512 + 512 * 256 + 256 + 256 * 10 + 10,
                vec![3, 10]
            )
        );
    }

    #[test]
    fn configs_are_validated() {
        assert!(
            CnnConfig {
                dropout: 1.5,
                ..CnnConfig::default()
            }
            .validate()
            .is_err()
        );
        assert!(
            ResNetConfig {
                width: 4,
                blocks: [1, 1]
            }
            .validate()
            .is_err()
        );
        assert!(
            MlpConfig {
                hidden: vec![],
                dropout: 0.1
            }
            .validate()
            .is_err()
        );
        assert!(matches!(
            "vgg".parse::<DeepModelKind>(),
            Err(ModelError::Unknown(_))
        ));
        let json =
            serde_json::to_string(&DeepModelConfig::default_for(DeepModelKind::Cnn)).unwrap();
        assert_eq!(
            json,
            r#"{"model":"cnn","dropout":0.0,"batch_norm":false,"width":32}"#
        );
        // Files written before the batch-norm and width options read as the faithful CNN.
        let old: DeepModelConfig =
            serde_json::from_str(r#"{"model":"cnn","dropout":0.3}"#).unwrap();
        assert_eq!(
            old,
            DeepModelConfig::Cnn(CnnConfig {
                dropout: 0.3,
                batch_norm: false,
                width: 32
            })
        );
    }
}
