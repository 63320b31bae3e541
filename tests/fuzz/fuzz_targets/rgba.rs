//! The preprocessing of camera frames: arbitrary dimensions and pixels (RGBA), as `prepareRgba` gets them.
#![no_main]
use libfuzzer_sys::fuzz_target;

use fashionlab::photo::{Photo, PrepareConfig, prepare_image};

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    // Dimensions from the first four bytes (up to 4095 × 4095 is cheap enough to fuzz); then pixels.
    let width = u32::from(u16::from_le_bytes([data[0], data[1]]) & 0x0fff);
    let height = u32::from(u16::from_le_bytes([data[2], data[3]]) & 0x0fff);
    let rgba = &data[4..];
    if let Ok(image) = Photo::from_rgba(width, height, rgba) {
        let prepared = prepare_image(&image, &PrepareConfig::default());
        assert_eq!(prepared.pixels.len(), fashionlab::data::PIXELS);
    }
});
