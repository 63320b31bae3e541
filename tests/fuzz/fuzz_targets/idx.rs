//! The IDX/gzip reader: arbitrary bytes as an image file and as a label file (each may be gzip or raw).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte splits the input into an images part and a labels part.
    let cut = data.first().map_or(0, |b| *b as usize * data.len() / 256);
    let (images, labels) = data.split_at(cut.min(data.len()));
    let _ = fashionlab::data::parse_images(images);
    let _ = fashionlab::data::parse_labels(labels);
    if let Ok(ds) = fashionlab::data::Dataset::from_idx(images, labels) {
        assert_eq!(ds.pixels().len(), ds.len() * fashionlab::data::PIXELS);
        let _ = ds.class_counts();
    }
});
