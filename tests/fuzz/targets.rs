//! What each fuzz target does with one input. Shared by the libFuzzer binaries (`fuzz_targets/`, built
//! and run by `.ci/fuzz`) and by the native replay of seeds, their seeded mutations and any crash the
//! fuzzer saved (`tests/fuzz_replay.rs`, in `cargo test`): one definition of what "no crash" means.
//! Each function returns whether the input was accepted whole (parsed, loaded or decoded, and then used);
//! a panic (or an abort on a huge allocation) is the crash.

use fashionlab::data::PIXELS;

/// A target: it takes one input and returns whether it was accepted whole.
pub type Target = fn(&[u8]) -> bool;

/// Every target, by the name of its libFuzzer binary (`tests/fuzz/Cargo.toml`'s `[[bin]]`s).
pub const TARGETS: [(&str, Target); 5] = [
    ("idx", idx),
    ("weights", weights),
    ("image", image),
    ("rgba", rgba),
    ("classical", classical),
];

/// The IDX/gzip reader: arbitrary bytes as an image file and as a label file, whole, then as a dataset
/// (each may be gzip or raw). For the dataset the first byte splits the input: the images part is the
/// first `data[0] × len / 256` bytes.
pub fn idx(data: &[u8]) -> bool {
    let _ = fashionlab::data::parse_images(data);
    let _ = fashionlab::data::parse_labels(data);
    let cut = idx_cut(data);
    let (images, labels) = data.split_at(cut);
    let _ = fashionlab::data::parse_images(images);
    let _ = fashionlab::data::parse_labels(labels);
    if let Ok(ds) = fashionlab::data::Dataset::from_idx(images, labels) {
        assert_eq!(ds.pixels().len(), ds.len() * PIXELS);
        let _ = ds.class_counts();
        return true;
    }
    false
}

/// Where [`idx`] splits `data`.
pub fn idx_cut(data: &[u8]) -> usize {
    data.first()
        .map_or(0, |b| *b as usize * data.len() / 256)
        .min(data.len())
}

/// The weights loader: arbitrary bytes as a `.weights` file; a file that loads must classify an image.
pub fn weights(data: &[u8]) -> bool {
    let device = burn::tensor::Device::flex();
    let _ = fashionlab::deep::weights::read_header(data);
    if let Ok((model, header)) = fashionlab::deep::weights::load(data, None, &device) {
        let probs =
            fashionlab::deep::train::block_on(fashionlab::deep::train::predict_probabilities(
                &model,
                &[0u8; PIXELS],
                header.normalization,
                &device,
                1,
            ));
        return probs.is_ok();
    }
    false
}

/// The image decoder and the shared preprocessing: arbitrary bytes as an uploaded file (PNG, JPEG, WebP).
pub fn image(data: &[u8]) -> bool {
    use fashionlab::photo::{Photo, PrepareConfig, prepare_image};
    if let Ok(image) = Photo::decode(data) {
        let prepared = prepare_image(&image, &PrepareConfig::default());
        assert_eq!(prepared.pixels.len(), PIXELS);
        return true;
    }
    false
}

/// The preprocessing of camera frames: arbitrary dimensions and pixels (RGBA), as `prepareRgba` gets
/// them. The first four bytes are the width and the height (little-endian, up to 4,095 each).
pub fn rgba(data: &[u8]) -> bool {
    use fashionlab::photo::{Photo, PrepareConfig, prepare_image};
    if data.len() < 4 {
        return false;
    }
    let width = u32::from(u16::from_le_bytes([data[0], data[1]]) & 0x0fff);
    let height = u32::from(u16::from_le_bytes([data[2], data[3]]) & 0x0fff);
    if let Ok(image) = Photo::from_rgba(width, height, &data[4..]) {
        let prepared = prepare_image(&image, &PrepareConfig::default());
        assert_eq!(prepared.pixels.len(), PIXELS);
        return true;
    }
    false
}

/// The classical-model loader: arbitrary bytes as a `.model` file; a file that loads must classify.
pub fn classical(data: &[u8]) -> bool {
    if let Ok(model) = fashionlab::classical::ClassicalModel::from_bytes(data, None) {
        return model.predict_proba(&[128u8; PIXELS]).is_ok();
    }
    false
}
