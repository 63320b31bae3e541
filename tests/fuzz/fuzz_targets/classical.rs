//! The classical-model loader: arbitrary bytes as a `.model` file; a file that loads must classify.
#![no_main]
use libfuzzer_sys::fuzz_target;

use fashionlab::classical::ClassicalModel;

fuzz_target!(|data: &[u8]| {
    if let Ok(model) = ClassicalModel::from_bytes(data, None) {
        let _ = model.predict_proba(&[128u8; fashionlab::data::PIXELS]);
    }
});
