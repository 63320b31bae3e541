//! The image decoder and the shared preprocessing: arbitrary bytes as an uploaded file (PNG, JPEG, WebP).
#![no_main]
use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../targets.rs"]
mod targets;

fuzz_target!(|data: &[u8]| {
    targets::image(data);
});
