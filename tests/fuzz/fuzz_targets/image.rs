//! The image decoder and the shared preprocessing: arbitrary bytes as an uploaded file (PNG, JPEG, WebP).
#![no_main]
use libfuzzer_sys::fuzz_target;

use fashionlab::photo::{Photo, PrepareConfig, prepare_image};

fuzz_target!(|data: &[u8]| {
    if let Ok(image) = Photo::decode(data) {
        let prepared = prepare_image(&image, &PrepareConfig::default());
        assert_eq!(prepared.pixels.len(), fashionlab::data::PIXELS);
    }
});
