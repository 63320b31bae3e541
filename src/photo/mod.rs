//! The photo path: every picture the models are asked about (a dataset image, an upload, a webcam frame,
//! a file given to the CLI, a synthetic training photo) goes through this module, in one order:
//!
//! 1. [`Photo::decode`] (files: size checked from the header, EXIF orientation applied) or
//!    [`Photo::from_rgba`] (a canvas frame, already oriented by the browser);
//! 2. [`prepare_image`]: a colour background model fitted to the border, the item's mask, the item on
//!    black with Fashion-MNIST's polarity, then crop, pad, area-resize and stretch to 28 × 28;
//! 3. its [`PreparedImage`] says whether an item was found at all ([`PreparedImage::item_found`]).
//!
//! [`synth`] makes labelled photos of dataset items (backgrounds, light, noise, JPEG) for the
//! photo-style augmentation and for the photo benchmark.

mod decode;
mod prepare;
pub mod synth;

pub use decode::{ImageError, Photo};
pub use prepare::{ItemVerdict, PrepareConfig, PreparedImage, prepare_image};
