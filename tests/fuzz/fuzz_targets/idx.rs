//! The IDX/gzip reader: arbitrary bytes as an image file and as a label file (each may be gzip or raw).
#![no_main]
use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../targets.rs"]
mod targets;

fuzz_target!(|data: &[u8]| {
    targets::idx(data);
});
