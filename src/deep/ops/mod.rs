//! The flex kernels of the deep models, one file per operation: each replaces flex's general path for
//! one layer of the CNN and the ResNet, and falls back to burn's own operation on every other backend.

pub mod conv;
pub mod norm;
pub mod pool;
