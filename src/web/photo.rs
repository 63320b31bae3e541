//! The photo path for the page: uploaded files and webcam frames through the one `prepare_image`.

use wasm_bindgen::prelude::*;

use super::{js_error, to_js};
use crate::photo::{Photo, PrepareConfig, PreparedImage, prepare_image};

/// Decodes an uploaded image file and prepares it as the model's 28×28 input:
/// `{pixels: number[784], inverted, bbox, passthrough}`.
#[wasm_bindgen(js_name = prepareImageFile)]
pub fn prepare_image_file(bytes: &[u8]) -> Result<JsValue, JsError> {
    let image = Photo::decode(bytes).map_err(js_error)?;
    to_js(&prepare(&image))
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
