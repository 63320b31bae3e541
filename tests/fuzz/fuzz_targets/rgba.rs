//! The preprocessing of camera frames: arbitrary dimensions and pixels (RGBA), as `prepareRgba` gets them.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../targets.rs"]
mod targets;

fuzz_target!(|data: &[u8]| {
    targets::rgba(data);
});
