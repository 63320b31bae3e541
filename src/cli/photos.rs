//! The CLI's photo commands: `photos bench` (every model's accuracy on synthetic photos of test items,
//! by condition) and `photos write` (the photos as files, and a video for a fake camera).

use std::path::{Path, PathBuf};

use burn::tensor::Device;

use crate::classical::{ClassicalKind, ClassicalModel};
use crate::cli::store::{read_file, weights_dir};
use crate::cli::train::{PHOTO_SUFFIX, load_model};
use crate::cli::{CliError, write_atomic};
use crate::data::split::{SplitConfig, stratified_split};
use crate::data::{CLASS_NAMES, NUM_CLASSES, SIDE, Split, local};
use crate::deep::models::DeepModelKind;
use crate::deep::train::{block_on, predict_probabilities};
use crate::metrics::argmax_rows;
use crate::photo::synth::{
    Condition, Ranges, Scene, TrainingRanges, benchmark_items, benchmark_photo, jpeg_bytes, photo,
    photo_seed,
};
use crate::photo::{Photo, PrepareConfig, PreparedImage, prepare_image};
use crate::rng::Rng;

/// What a benchmark run scores: benchmark photos of test items by condition, or (for tuning the photo
/// path without looking at the benchmark) training-range photos of the validation split's items.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum BenchSet {
    /// Test items, one row per [`Condition`].
    Benchmark,
    /// Items of the training split's held-out validation part (split seed 0), in these training ranges.
    Validation(TrainingRanges),
}

/// A model of the benchmark: a name and a function from prepared pixels to probabilities.
pub(crate) type Scorer = (String, Box<dyn Fn(&[u8]) -> Result<Vec<f32>, CliError>>);

/// Every model found in `dir`: the deep models (and any `<kind>-photo.weights` beside them) and the
/// classical ones.
pub(crate) fn scorers(dir: &Path) -> Result<Vec<Scorer>, CliError> {
    let dir = weights_dir(dir);
    let mut out: Vec<Scorer> = Vec::new();
    let names = DeepModelKind::ALL.iter().flat_map(|k| {
        [
            (*k, k.name().to_string()),
            (*k, format!("{}{PHOTO_SUFFIX}", k.name())),
        ]
    });
    for (kind, name) in names {
        if !dir.join(format!("{name}.weights")).is_file() {
            continue;
        }
        let device = Device::flex();
        let (net, header) = load_model(kind, &name, &dir, &device)?;
        out.push((
            name,
            Box::new(move |pixels: &[u8]| {
                Ok(block_on(predict_probabilities(
                    &net,
                    pixels,
                    header.normalization,
                    &device,
                    256,
                ))?)
            }),
        ));
    }
    for kind in ClassicalKind::ALL {
        let path = dir.join(format!("{}.model", kind.name()));
        if !path.is_file() {
            continue;
        }
        let model = ClassicalModel::from_bytes(&read_file(&path)?, Some(kind)).map_err(|e| {
            CliError::Corrupt {
                path: path.display().to_string(),
                message: e.to_string(),
            }
        })?;
        out.push((
            kind.name().to_string(),
            Box::new(move |pixels: &[u8]| {
                Ok(model.predict_proba(pixels)?.into_raw_vec_and_offset().0)
            }),
        ));
    }
    Ok(out)
}

/// `fashionlab photos bench`: every model's accuracy by condition on `per_class × 10` photos per
/// condition, and the share of item photos and of empty pictures flagged "no item".
pub(crate) fn bench(
    data: Option<&Path>,
    weights: &Path,
    per_class: usize,
    seed: u64,
    config: &PrepareConfig,
    json_out: Option<&Path>,
    set: BenchSet,
) -> Result<(), CliError> {
    let dir = local::locate(data)?;
    let (test, items) = match set {
        BenchSet::Benchmark => {
            let test = local::load_split(&dir, Split::Test)?;
            let items = benchmark_items(test.labels(), per_class, seed);
            (test, items)
        }
        BenchSet::Validation(_) => {
            let train = local::load_split(&dir, Split::Train)?;
            let split = stratified_split(train.labels(), &SplitConfig::default())?;
            let validation = train.subset(&split.validation);
            let items = benchmark_items(validation.labels(), per_class, seed);
            (validation, items)
        }
    };
    // One row of photos per condition, or one of training-range photos.
    let conditions: Vec<Ranges> = match set {
        BenchSet::Benchmark => Condition::ALL.map(Ranges::Evaluation).to_vec(),
        BenchSet::Validation(ranges) => vec![Ranges::Training(ranges)],
    };
    let row_name = |ranges: Ranges| match ranges {
        Ranges::Evaluation(c) => c.name(),
        Ranges::Training(_) => "training mix",
    };
    let make_scene = |pos: usize, ranges: Ranges| match ranges {
        Ranges::Evaluation(c) => (benchmark_photo(test.image(items[pos]), c, pos, seed), None),
        Ranges::Training(_) => {
            let (p, scene) = photo(
                test.image(items[pos]),
                ranges,
                photo_seed(seed ^ 0x0000_7A11, pos),
            );
            (p, Some(scene))
        }
    };
    let make = |pos: usize, ranges: Ranges| make_scene(pos, ranges).0;
    let models = scorers(weights)?;
    let started = std::time::Instant::now();
    let mut rows: Vec<serde_json::Value> = Vec::new();
    let mut table: Vec<(String, Vec<f64>)> =
        models.iter().map(|(n, _)| (n.clone(), vec![])).collect();
    let mut flagged_items = Vec::new();
    // Validation photos by what their scene holds (training ranges), for tuning by effect: each group
    // with every model's accuracy on it.
    let mut by_scene: Vec<(SceneGroup, Vec<f64>)> = Vec::new();
    for &condition in &conditions {
        let (prepared, scenes): (Vec<PreparedImage>, Vec<Option<Scene>>) =
            crate::parallel::par_map(0..items.len(), |pos| {
                let (p, scene) = make_scene(pos, condition);
                (prepare_image(&p, config), scene)
            })
            .into_iter()
            .unzip();
        let pixels: Vec<u8> = prepared.iter().flat_map(|p| p.pixels.clone()).collect();
        let truth: Vec<u8> = items.iter().map(|&i| test.label(i)).collect();
        let flagged = prepared.iter().filter(|p| !p.item_found).count();
        flagged_items.push(flagged as f64 / items.len() as f64);
        if matches!(condition, Ranges::Training(_)) {
            by_scene = scene_groups(&scenes, &prepared)
                .into_iter()
                .map(|group| (group, Vec::new()))
                .collect();
        }
        let mut accs = serde_json::Map::new();
        for ((name, score), (_, col)) in models.iter().zip(table.iter_mut()) {
            let predicted = argmax_rows(&score(&pixels)?, NUM_CLASSES);
            // A photo flagged "no item" is not answered: it counts as wrong.
            let right = predicted
                .iter()
                .zip(&truth)
                .zip(&prepared)
                .filter(|((p, t), prep)| p == t && prep.item_found)
                .count();
            let acc = right as f64 / items.len() as f64;
            col.push(acc);
            accs.insert(name.clone(), acc.into());
            for (group, accs) in &mut by_scene {
                let right = predicted
                    .iter()
                    .zip(&truth)
                    .zip(&prepared)
                    .zip(&scenes)
                    .filter(|(((p, t), prep), s)| {
                        p == t && prep.item_found && s.as_ref().is_some_and(group.member)
                    })
                    .count();
                accs.push(right as f64 / group.photos.max(1) as f64);
            }
        }
        rows.push(serde_json::json!({
            "condition": row_name(condition),
            "photos": items.len(),
            "no_item": flagged,
            "accuracy": accs,
        }));
    }
    // Pictures without an item: the same scenes with an empty item, plus flat grey and pure noise.
    let empties = items.len();
    let empty_flagged = crate::parallel::par_map(0..empties, |pos| {
        let condition = Condition::ALL[pos % Condition::ALL.len()];
        let picture = match pos % 9 {
            7 => flat(pos),
            8 => noise(pos, seed),
            _ => {
                photo(
                    &[0u8; SIDE * SIDE],
                    Ranges::Evaluation(condition),
                    photo_seed(seed ^ 0xE4_97, pos),
                )
                .0
            }
        };
        !prepare_image(&picture, config).item_found
    })
    .into_iter()
    .filter(|&f| f)
    .count();
    println!(
        "photo benchmark: {} photos per condition ({per_class} per class), seed {seed}, {:.1} s",
        items.len(),
        started.elapsed().as_secs_f64()
    );
    print!("{:<18}", "model");
    for c in &conditions {
        print!("{:>17}", row_name(*c));
    }
    println!("{:>9}", "all");
    for (name, col) in &table {
        print!("{name:<18}");
        for a in col {
            print!("{:>16.1}%", 100.0 * a);
        }
        println!(
            "{:>8.1}%",
            100.0 * col.iter().sum::<f64>() / col.len() as f64
        );
    }
    print!("{:<18}", "no item (items)");
    for f in &flagged_items {
        print!("{:>16.1}%", 100.0 * f);
    }
    println!();
    if !by_scene.is_empty() {
        println!("validation photos by scene (a photo counts in every group it belongs to):");
        print!("{:<24}{:>8}{:>9}", "scene", "photos", "no item");
        for (name, _) in &table {
            print!("{name:>14}");
        }
        println!();
        for (group, accs) in &by_scene {
            print!(
                "{:<24}{:>8}{:>8.1}%",
                group.name,
                group.photos,
                100.0 * group.no_item as f64 / group.photos.max(1) as f64
            );
            for a in accs {
                print!("{:>13.1}%", 100.0 * a);
            }
            println!();
        }
    }
    println!(
        "pictures without an item flagged \"no item\": {empty_flagged} of {empties} ({:.1}%)",
        100.0 * empty_flagged as f64 / empties as f64
    );
    // The photo path's speed on a webcam-sized frame, on one thread.
    let frame = {
        let p = make(0, conditions[0]);
        let (sw, sh) = (p.width as usize, p.height as usize);
        let rgb = (0..640 * 480)
            .flat_map(|i| {
                let (x, y) = (i % 640 * sw / 640, i / 640 * sh / 480);
                let o = (y * sw + x) * 3;
                [p.rgb[o], p.rgb[o + 1], p.rgb[o + 2]]
            })
            .collect();
        Photo::from_rgb(640, 480, rgb).expect("sizes match")
    };
    let mut times: Vec<f64> = (0..21)
        .map(|_| {
            let t = std::time::Instant::now();
            std::hint::black_box(prepare_image(&frame, config));
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    println!(
        "photo path on a 640×480 frame: {:.2} ms (median of 21, one thread)",
        times[10]
    );
    if let Some(path) = json_out {
        let json = serde_json::json!({
            "seed": seed,
            "per_class": per_class,
            "background_handling": config.background_handling,
            "conditions": rows,
            "empty_pictures": empties,
            "empty_flagged": empty_flagged,
        });
        write_atomic(
            path,
            serde_json::to_string_pretty(&json)
                .expect("json")
                .as_bytes(),
        )?;
    }
    Ok(())
}

/// A group of validation photos reported by scene: its name, who belongs, how many photos it holds and
/// how many of them were said to hold no item.
struct SceneGroup {
    name: &'static str,
    member: ScenePredicate,
    photos: usize,
    no_item: usize,
}

/// Whether a scene belongs to a group.
type ScenePredicate = fn(&Scene) -> bool;

/// The groups of validation photos reported by scene (a photo may belong to several).
fn scene_groups(scenes: &[Option<Scene>], prepared: &[PreparedImage]) -> Vec<SceneGroup> {
    let groups: [(&'static str, ScenePredicate); 7] = [
        ("no texture", |s| s.texture.0 == 0),
        ("texture < 0.15", |s| s.texture.0 > 0 && s.texture.1 < 0.15),
        ("texture >= 0.15", |s| {
            s.texture.0 > 0 && s.texture.1 >= 0.15
        }),
        ("texture >= 0.22", |s| {
            s.texture.0 > 0 && s.texture.1 >= 0.22
        }),
        ("shadow", |s| s.shadow > 0.0),
        ("cut by the edge", |s| s.cut > 0.0),
        ("dark background", |s| {
            0.299 * s.background[0] + 0.587 * s.background[1] + 0.114 * s.background[2] < 0.35
        }),
    ];
    groups
        .into_iter()
        .map(|(name, member)| {
            let (photos, no_item) = scenes
                .iter()
                .zip(prepared)
                .filter(|(s, _)| s.as_ref().is_some_and(member))
                .fold((0, 0), |(t, n), (_, p)| {
                    (t + 1, n + usize::from(!p.item_found))
                });
            SceneGroup {
                name,
                member,
                photos,
                no_item,
            }
        })
        .collect()
}

/// A flat grey picture.
fn flat(pos: usize) -> Photo {
    let v = (pos * 37 % 256) as u8;
    Photo::from_rgb(160, 120, vec![v; 160 * 120 * 3]).expect("sizes match")
}

/// Uniform random noise.
fn noise(pos: usize, seed: u64) -> Photo {
    let mut rng = Rng::new(photo_seed(seed ^ 0x0004_015E, pos));
    let rgb = (0..160 * 120 * 3).map(|_| rng.below(256) as u8).collect();
    Photo::from_rgb(160, 120, rgb).expect("sizes match")
}

/// `fashionlab photos write`: `count` benchmark photos of `condition` as JPEG files with a
/// `labels.json`, and with `--y4m`, a video for Chromium's fake camera showing the first of them.
pub(crate) fn write(
    data: Option<&Path>,
    out: &Path,
    condition: &str,
    count: usize,
    seed: u64,
    y4m: Option<&PathBuf>,
) -> Result<(), CliError> {
    let condition = Condition::ALL
        .into_iter()
        .find(|c| c.name().replace(' ', "-") == condition || c.name() == condition)
        .ok_or_else(|| {
            CliError::Usage(format!(
                "unknown condition '{condition}' (plain, textured, gradient, dark-background, low-contrast, shadow, cut-by-the-edge)"
            ))
        })?;
    let test = local::load_split(&local::locate(data)?, Split::Test)?;
    let items = benchmark_items(test.labels(), count.div_ceil(NUM_CLASSES), seed);
    std::fs::create_dir_all(out).map_err(|e| CliError::Write {
        path: out.display().to_string(),
        message: e.to_string(),
    })?;
    let mut labels = serde_json::Map::new();
    // Interleave the classes so that the first files cover all ten.
    let per = count.div_ceil(NUM_CLASSES);
    let order: Vec<usize> = (0..per)
        .flat_map(|k| (0..NUM_CLASSES).map(move |c| c * per + k))
        .filter(|&p| p < items.len())
        .take(count)
        .collect();
    for (n, &pos) in order.iter().enumerate() {
        let p = benchmark_photo(test.image(items[pos]), condition, pos, seed);
        let name = format!(
            "{n:03}-{}.jpg",
            CLASS_NAMES[test.label(items[pos]) as usize].replace('/', "-")
        );
        let bytes = jpeg_bytes(&p.rgb, p.width, p.height, 92)
            .ok_or_else(|| CliError::Encode("JPEG encoding failed".into()))?;
        write_atomic(&out.join(&name), &bytes)?;
        // What the models see, beside the photo.
        let prepared = prepare_image(&p, &PrepareConfig::default());
        let png = png_gray(&prepared.pixels, SIDE as u32, SIDE as u32)?;
        write_atomic(&out.join(name.replace(".jpg", ".prepared.png")), &png)?;
        labels.insert(name, test.label(items[pos]).into());
        if let (0, Some(path)) = (n, y4m) {
            write_atomic(path, &y4m_video(&p, 640, 480, 10))?;
        }
    }
    write_atomic(
        &out.join("labels.json"),
        serde_json::to_string_pretty(&labels)
            .expect("json")
            .as_bytes(),
    )?;
    println!(
        "{} photos ({}) written to {}",
        order.len(),
        condition.name(),
        out.display()
    );
    Ok(())
}

/// A still `photo` scaled to `w × h`, as `frames` frames of a YUV 4:2:0 video (the y4m format Chromium's
/// `--use-file-for-fake-video-capture` plays).
fn y4m_video(photo: &Photo, w: usize, h: usize, frames: usize) -> Vec<u8> {
    let (sw, sh) = (photo.width as usize, photo.height as usize);
    let px = |x: usize, y: usize| {
        let (sx, sy) = ((x * sw / w).min(sw - 1), (y * sh / h).min(sh - 1));
        let o = (sy * sw + sx) * 3;
        [
            photo.rgb[o] as f32,
            photo.rgb[o + 1] as f32,
            photo.rgb[o + 2] as f32,
        ]
    };
    let mut frame = Vec::with_capacity(w * h * 3 / 2);
    for y in 0..h {
        for x in 0..w {
            let [r, g, b] = px(x, y);
            frame.push((16.0 + 0.257 * r + 0.504 * g + 0.098 * b).round() as u8);
        }
    }
    for plane in 0..2 {
        for y in (0..h).step_by(2) {
            for x in (0..w).step_by(2) {
                let [r, g, b] = px(x, y);
                let v = if plane == 0 {
                    128.0 - 0.148 * r - 0.291 * g + 0.439 * b
                } else {
                    128.0 + 0.439 * r - 0.368 * g - 0.071 * b
                };
                frame.push(v.round().clamp(0.0, 255.0) as u8);
            }
        }
    }
    let mut out = format!("YUV4MPEG2 W{w} H{h} F10:1 Ip A1:1 C420jpeg\n").into_bytes();
    for _ in 0..frames {
        out.extend_from_slice(b"FRAME\n");
        out.extend_from_slice(&frame);
    }
    out
}

/// A grey PNG.
fn png_gray(pixels: &[u8], w: u32, h: u32) -> Result<Vec<u8>, CliError> {
    use image::ImageEncoder;
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(pixels, w, h, image::ExtendedColorType::L8)
        .map_err(|e| CliError::Encode(format!("PNG encoding failed: {e}")))?;
    Ok(out)
}
