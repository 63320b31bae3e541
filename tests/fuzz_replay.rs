//! The fuzz targets, run natively in `cargo test`: each target's seeds (real files of its kind) and a
//! fixed set of seeded mutations of them, through the same functions the libFuzzer binaries call
//! (`tests/fuzz/targets.rs`). A panic, a failed assertion inside a target, or an abort fails the test,
//! which names the input and saves it for `.ci/fuzz`'s binaries to reproduce.
//!
//! This is CI's smoke of the fuzzers: deterministic, and built with the native tests. The
//! coverage-guided runs, with AddressSanitizer where nightly is installed, are `.ci/fuzz`'s.
#![cfg(not(target_arch = "wasm32"))]

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;

#[path = "fuzz/targets.rs"]
mod targets;

use fashionlab::data::{self, PIXELS};

/// xorshift64*: a small seeded generator, so that every run tries the same inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
    /// A position in a buffer of `len` bytes: half the time in its first 64 bytes, where the headers are.
    fn position(&mut self, len: usize) -> usize {
        if self.next() & 1 == 0 {
            self.below(len.min(64))
        } else {
            self.below(len)
        }
    }
}

const INTERESTING_BYTES: [u8; 6] = [0, 1, 0x7f, 0x80, 0xfe, 0xff];
const INTERESTING_WORDS: [u32; 7] = [0, 1, 28, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff, 0x0001_0000];

/// One mutation of `input`, as libFuzzer's mutators do: from one to four edits, each a bit flip, a byte
/// or a 32-bit word (either byte order) set to a random or boundary value, a cut, a deleted range, a
/// duplicated range or inserted random bytes.
fn mutate(input: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let len = out.len();
        match rng.below(8) {
            0 if len > 0 => {
                let at = rng.position(len);
                out[at] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let at = rng.position(len);
                out[at] = rng.next() as u8;
            }
            2 if len > 0 => {
                let at = rng.position(len);
                out[at] = INTERESTING_BYTES[rng.below(INTERESTING_BYTES.len())];
            }
            3 if len >= 4 => {
                let at = rng.position(len - 3);
                let word = INTERESTING_WORDS[rng.below(INTERESTING_WORDS.len())];
                let bytes = if rng.next() & 1 == 0 {
                    word.to_be_bytes()
                } else {
                    word.to_le_bytes()
                };
                out[at..at + 4].copy_from_slice(&bytes);
            }
            4 => out.truncate(rng.below(len + 1)),
            5 if len > 0 => {
                let at = rng.position(len);
                let end = (at + 1 + rng.below(256)).min(len);
                out.drain(at..end);
            }
            6 if len > 0 => {
                let at = rng.position(len);
                let end = (at + 1 + rng.below(256)).min(len);
                let copy = out[at..end].to_vec();
                let to = rng.below(len + 1);
                out.splice(to..to, copy);
            }
            _ => {
                let to = rng.below(len + 1);
                let bytes: Vec<u8> = (0..1 + rng.below(64)).map(|_| rng.next() as u8).collect();
                out.splice(to..to, bytes);
            }
        }
    }
    out
}

/// Runs `target` on each seed and on `mutants` seeded mutations of each, and returns how many mutants
/// the target accepted whole. Every seed must be accepted. On a crash, saves the input under the target
/// directory's `fuzz-replay/` and fails naming it.
fn replay(name: &str, seeds: &[Vec<u8>], mutants: usize) -> usize {
    run(name, seeds, mutants, true)
}

/// [`replay`] for seeds that exercise a target without being accepted whole.
fn replay_unchecked(name: &str, seeds: &[Vec<u8>], mutants: usize) {
    run(name, seeds, mutants, false);
}

fn run(name: &str, seeds: &[Vec<u8>], mutants: usize, seeds_accepted: bool) -> usize {
    let target = targets::TARGETS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, f)| *f)
        .expect("a target of tests/fuzz/targets.rs");
    let mut accepted = 0;
    for (s, seed) in seeds.iter().enumerate() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ ((s as u64 + 1) << 32) ^ name.len() as u64);
        for m in 0..=mutants {
            // Input 0 is the seed itself.
            let input = if m == 0 {
                seed.clone()
            } else {
                mutate(seed, &mut rng)
            };
            let Ok(whole) = catch_unwind(AssertUnwindSafe(|| target(&input))) else {
                let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("fuzz-replay");
                std::fs::create_dir_all(&dir).expect("a folder for the crashing input");
                let path = dir.join(format!("{name}-seed{s}-mutant{m}"));
                std::fs::write(&path, &input).expect("the crashing input saved");
                panic!(
                    "fuzz target `{name}` crashed on seed {s}, mutant {m} ({} bytes), saved as {}",
                    input.len(),
                    path.display()
                );
            };
            if m == 0 {
                assert!(whole || !seeds_accepted, "`{name}`'s seed {s} is accepted");
            } else {
                accepted += usize::from(whole);
            }
        }
    }
    println!(
        "{name}: {accepted} of {} mutants accepted",
        seeds.len() * mutants
    );
    accepted
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> Vec<u8> {
    std::fs::read(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The built-in sample's images (row-major 28 × 28, white item on black) and labels, read once.
fn sample() -> &'static (Vec<u8>, Vec<u8>) {
    static SAMPLE: std::sync::OnceLock<(Vec<u8>, Vec<u8>)> = std::sync::OnceLock::new();
    SAMPLE.get_or_init(|| {
        let images = data::parse_images(&read("www/data/sample-images-idx3-ubyte.gz")).unwrap();
        let labels = data::parse_labels(&read("www/data/sample-labels-idx1-ubyte.gz")).unwrap();
        (images, labels)
    })
}

/// The first sample image of `label`, enlarged `scale` times and inverted: a dark item on white.
fn item_on_white(label: u8, scale: u32) -> image::GrayImage {
    let (images, labels) = sample();
    let i = labels.iter().position(|&l| l == label).unwrap();
    let item = &images[i * PIXELS..(i + 1) * PIXELS];
    image::GrayImage::from_fn(28 * scale, 28 * scale, |x, y| {
        image::Luma([255 - item[(y / scale * 28 + x / scale) as usize]])
    })
}

fn encoded(img: &image::DynamicImage, format: image::ImageFormat) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, format).unwrap();
    out.into_inner()
}

/// An input that [`targets::idx`] loads, of the first `n` sample images. The target splits at
/// `data[0] × len / 256`, and a gzip file starts with 0x1f, so the labels part (gzip, its header's
/// comment field as padding) is sized to put the cut right after the images.
fn idx_seed(n: usize) -> Vec<u8> {
    let (images, labels) = sample();
    let images_gz = data::gzip(&data::encode_images(&images[..n * PIXELS]));
    let labels_raw = data::encode_labels(&labels[..n]);
    let bare = data::gzip(&labels_raw).len();
    let wanted = (225 * images_gz.len()).div_ceil(31);
    let padding = wanted.checked_sub(bare + 1).expect("the padding fits");
    let labels_gz = {
        use std::io::Write;
        let mut enc = flate2::GzBuilder::new()
            .comment(vec![b'x'; padding])
            .write(Vec::new(), flate2::Compression::best());
        enc.write_all(&labels_raw).unwrap();
        enc.finish().unwrap()
    };
    let seed = [images_gz.as_slice(), &labels_gz].concat();
    assert_eq!(
        targets::idx_cut(&seed),
        images_gz.len(),
        "the seed splits at its boundary"
    );
    let ds = data::Dataset::from_idx(&images_gz, &labels_gz).expect("the seed loads");
    assert_eq!(ds.len(), n);
    seed
}

#[test]
fn idx_survives_its_seeds_and_their_mutations() {
    // Raw files as well: the target parses the whole input as an image file and as a label file, which
    // reaches the IDX header's checks without a gzip stream around it.
    let (images, labels) = sample();
    let raw = [
        data::encode_images(&images[..2 * PIXELS]),
        data::encode_labels(&labels[..20]),
    ];
    for seed in &raw {
        assert!(data::parse_images(seed).is_ok() || data::parse_labels(seed).is_ok());
    }
    let loaded = replay("idx", &[idx_seed(12), idx_seed(1)], 1500);
    assert!(loaded > 0);
    replay_unchecked("idx", &raw, 1500);
}

#[test]
fn weights_survive_their_seeds_and_their_mutations() {
    let seeds = ["cnn", "resnet", "mlp"].map(|m| read(&format!("pretrained/{m}.weights")));
    assert!(replay("weights", &seeds, 300) > 0);
}

#[test]
fn images_survive_their_seeds_and_their_mutations() {
    let gray = image::DynamicImage::ImageLuma8(item_on_white(8, 8));
    let rgb = image::DynamicImage::ImageRgb8(gray.to_rgb8());
    let small = image::DynamicImage::ImageLuma8(item_on_white(0, 3));
    let seeds = [
        encoded(&gray, image::ImageFormat::Png),
        encoded(&rgb, image::ImageFormat::Jpeg),
        encoded(&small, image::ImageFormat::WebP),
        encoded(&small.to_rgba8().into(), image::ImageFormat::Png),
    ];
    assert!(replay("image", &seeds, 800) > 0);
}

#[test]
fn camera_frames_survive_their_seeds_and_their_mutations() {
    let frame = |w: u16, h: u16, img: &image::GrayImage| {
        let mut out = [w.to_le_bytes(), h.to_le_bytes()].concat();
        for y in 0..u32::from(h) {
            for x in 0..u32::from(w) {
                let v = img.get_pixel(x % img.width(), y % img.height())[0];
                out.extend_from_slice(&[v, v, v.saturating_sub(40), 255]);
            }
        }
        out
    };
    let item = item_on_white(1, 2);
    // A frame with the item, and strips too thin to search for an item (the crop's edge cases).
    let seeds = [
        frame(56, 56, &item),
        frame(600, 1, &item),
        frame(1, 600, &item),
        frame(4095, 2, &item),
    ];
    assert!(replay("rgba", &seeds, 1500) > 0);
}

#[test]
fn classical_models_survive_their_seeds_and_their_mutations() {
    let seeds = ["logreg", "rf"].map(|m| read(&format!("pretrained/{m}.model")));
    assert!(replay("classical", &seeds, 1000) > 0);
}

/// Every libFuzzer binary is replayed here, and every target here is a binary of the fuzz crate.
#[test]
fn every_fuzz_target_is_replayed() {
    let manifest = String::from_utf8(read("tests/fuzz/Cargo.toml")).unwrap();
    let bins: Vec<&str> = manifest
        .lines()
        .filter_map(|l| l.strip_prefix("name = \""))
        .filter_map(|l| l.strip_suffix('"'))
        .filter(|n| *n != "fashionlab-fuzz")
        .collect();
    let names: Vec<&str> = targets::TARGETS.iter().map(|(n, _)| *n).collect();
    assert_eq!(bins, names);
    let this = String::from_utf8(read("tests/fuzz_replay.rs")).unwrap();
    for name in names {
        assert!(
            this.contains(&format!("replay(\"{name}\"")),
            "{name} is replayed"
        );
    }
}
