//! The weights loader: arbitrary bytes as a `.weights` file; a file that loads must classify an image.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../targets.rs"]
mod targets;

fuzz_target!(|data: &[u8]| {
    targets::weights(data);
});
