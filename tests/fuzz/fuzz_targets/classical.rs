//! The classical-model loader: arbitrary bytes as a `.model` file; a file that loads must classify.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../targets.rs"]
mod targets;

fuzz_target!(|data: &[u8]| {
    targets::classical(data);
});
