//! The weights loader: arbitrary bytes as a `.weights` file; a file that loads must classify an image.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let device = burn::tensor::Device::flex();
    let _ = fashionlab::deep::weights::read_header(data);
    if let Ok((model, header)) = fashionlab::deep::weights::load(data, None, &device) {
        let probs =
            fashionlab::deep::train::block_on(fashionlab::deep::train::predict_probabilities(
                &model,
                &[0u8; fashionlab::data::PIXELS],
                header.normalization,
                &device,
                1,
            ));
        let _ = probs;
    }
});
