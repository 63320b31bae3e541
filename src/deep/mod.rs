//! The deep models and everything around them: their definitions ([`models`]) and recipes ([`recipe`]),
//! the one training loop and inference ([`train`]), weight files ([`weights`]), the input tensors and
//! augmentation ([`input`]), Grad-CAM (`explain`) and adversarial examples (`attack`), both with the
//! `engine` feature, the look-inside view ([`inside`]), the compute backends ([`backend`]) and the flex
//! kernels the models run on ([`ops`]).

#[cfg(feature = "engine")]
pub mod attack;
pub mod backend;
#[cfg(feature = "engine")]
pub mod explain;
pub mod input;
pub mod inside;
pub mod models;
pub(crate) mod ops;
pub mod recipe;
pub mod train;
pub mod weights;
