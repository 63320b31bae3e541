//! The photo path on synthetic photos of real items (`photo::synth`): the item is found, "no item" is
//! said of empty pictures, and the threshold behind it is calibrated on training-range photos only.

use fashionlab::data::{Split, local};
use fashionlab::photo::synth::{Ranges, photo, photo_seed};
use fashionlab::photo::{PrepareConfig, prepare_image};

fn quantile(v: &mut [f32], q: f64) -> f32 {
    v.sort_by(f32::total_cmp);
    v[((v.len() - 1) as f64 * q).round() as usize]
}

/// On 600 training-range photos of training items, at most 1% are said to hold no item; on 300 empty
/// training-range scenes (the same backgrounds, light, noise and JPEG, no item), at least 85% are.
/// Prints the contrast quantiles the threshold (`MIN_ITEM_CONTRAST`) was chosen from.
#[test]
fn item_threshold_holds_on_training_range_photos() {
    let train = local::load_split(&local::locate(None).unwrap(), Split::Train).unwrap();
    let config = PrepareConfig::default();
    let items: Vec<_> = (0..600)
        .map(|i| {
            let (p, _) = photo(
                train.image(i * 97 % train.len()),
                Ranges::Training,
                photo_seed(7, i),
            );
            prepare_image(&p, &config)
        })
        .collect();
    let empties: Vec<_> = (0..300)
        .map(|i| {
            let (p, _) = photo(&[0u8; 784], Ranges::Training, photo_seed(8, i));
            prepare_image(&p, &config)
        })
        .collect();
    let missed = items.iter().filter(|p| !p.item_found).count();
    let flagged = empties.iter().filter(|p| !p.item_found).count();
    let mut ci: Vec<f32> = items.iter().map(|p| p.contrast).collect();
    let mut ce: Vec<f32> = empties.iter().map(|p| p.contrast).collect();
    eprintln!(
        "items: {missed}/600 said empty; contrast p0.5 {:.2} p1 {:.2} p2 {:.2} p5 {:.2} | empty scenes: {flagged}/300 said empty; contrast p50 {:.2} p85 {:.2} p90 {:.2} p95 {:.2} p99 {:.2}",
        quantile(&mut ci, 0.005),
        quantile(&mut ci, 0.01),
        quantile(&mut ci, 0.02),
        quantile(&mut ci, 0.05),
        quantile(&mut ce, 0.5),
        quantile(&mut ce, 0.85),
        quantile(&mut ce, 0.9),
        quantile(&mut ce, 0.95),
        quantile(&mut ce, 0.99),
    );
    assert!(
        missed <= 6,
        "{missed} of 600 item photos said to hold no item"
    );
    assert!(
        flagged >= 255,
        "only {flagged} of 300 empty scenes said to hold no item"
    );
}
