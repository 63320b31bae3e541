//! Fashion-MNIST data: a byte-level IDX reader (gzip or raw), checksums of the official files, and
//! the in-memory [`Dataset`], and its train/validation [`split`]. Everything here works on bytes, so the
//! browser and the native CLI share it.

pub mod split;

use std::io::Read;

use sha2::{Digest, Sha256};
use thiserror::Error;

/// A setting outside its allowed range: the error the split's and the augmentation's settings share.
#[derive(Debug, Error, Clone, PartialEq)]
#[error("{name} = {value} is out of range ({allowed})")]
pub struct OutOfRange {
    /// Parameter name.
    pub name: &'static str,
    /// The value given.
    pub value: f64,
    /// The allowed range, in words.
    pub allowed: &'static str,
}

/// `Ok` when `ok`, else [`OutOfRange`] naming the setting, its value and the allowed range.
pub(crate) fn check_range(
    name: &'static str,
    value: f64,
    ok: bool,
    allowed: &'static str,
) -> Result<(), OutOfRange> {
    if ok {
        Ok(())
    } else {
        Err(OutOfRange {
            name,
            value,
            allowed,
        })
    }
}

/// Image side length in pixels.
pub(crate) const SIDE: usize = 28;
/// Pixels per image (28 × 28).
pub const PIXELS: usize = SIDE * SIDE;
/// Number of classes.
pub const NUM_CLASSES: usize = 10;
/// Human-readable class names, indexed by label.
pub const CLASS_NAMES: [&str; NUM_CLASSES] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];
/// File name of the built-in sample's images: a balanced slice of the test set shipped with the site.
pub const SAMPLE_IMAGES: &str = "sample-images-idx3-ubyte.gz";
/// File name of the built-in sample's labels.
pub const SAMPLE_LABELS: &str = "sample-labels-idx1-ubyte.gz";
/// Largest decompressed payload accepted (the training images are 47,040,016 bytes).
pub(crate) const MAX_DECOMPRESSED_BYTES: usize = 64 * 1024 * 1024;

/// Everything that can go wrong when reading Fashion-MNIST bytes.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DataError {
    /// The input had no bytes at all.
    #[error("the file is empty")]
    Empty,
    /// The gzip stream could not be decoded.
    #[error("the gzip stream is corrupt: {0}")]
    Gzip(String),
    /// The decompressed payload exceeds [`MAX_DECOMPRESSED_BYTES`].
    #[error("the decompressed file is larger than {limit} bytes; this is not a Fashion-MNIST file")]
    DecompressedTooLarge {
        /// The limit that was exceeded.
        limit: usize,
    },
    /// Fewer bytes than an IDX header needs.
    #[error("truncated IDX header: {needed} bytes needed, {got} given")]
    TruncatedHeader {
        /// Header bytes needed.
        needed: usize,
        /// Bytes available.
        got: usize,
    },
    /// The magic number is not an unsigned-byte IDX file.
    #[error(
        "bad IDX magic number 0x{found:08x} (expected 0x00000801 for labels or 0x00000803 for images)"
    )]
    BadMagic {
        /// The magic number found.
        found: u32,
    },
    /// The IDX file has the wrong number of dimensions for what was asked.
    #[error("wrong IDX rank: expected {expected} dimensions, found {found}")]
    WrongRank {
        /// Dimensions expected (3 for images, 1 for labels).
        expected: u8,
        /// Dimensions found.
        found: u8,
    },
    /// Images are not 28 × 28.
    #[error("wrong image dimensions {rows}×{cols} (expected 28×28)")]
    WrongDimensions {
        /// Rows declared.
        rows: u32,
        /// Columns declared.
        cols: u32,
    },
    /// The header declares more data than the bytes given hold.
    #[error(
        "truncated payload: the header declares {declared} bytes of data but only {available} follow"
    )]
    TruncatedPayload {
        /// Payload bytes the header declares.
        declared: u64,
        /// Payload bytes present.
        available: u64,
    },
    /// Bytes follow the declared payload.
    #[error("{extra} unexpected bytes after the declared payload")]
    TrailingBytes {
        /// Number of extra bytes.
        extra: u64,
    },
    /// A label is outside 0..=9.
    #[error("label {value} at index {index} is outside 0..=9")]
    LabelOutOfRange {
        /// Position of the bad label.
        index: usize,
        /// The bad value.
        value: u8,
    },
    /// The image file and the label file hold different counts.
    #[error("{images} images but {labels} labels")]
    CountMismatch {
        /// Number of images.
        images: usize,
        /// Number of labels.
        labels: usize,
    },
    /// A decompressed official file does not match its published SHA-256.
    #[error("checksum mismatch for {file}: expected {expected}, got {actual}")]
    Checksum {
        /// File name.
        file: &'static str,
        /// Published digest.
        expected: &'static str,
        /// Digest of the bytes given.
        actual: String,
    },
    /// An I/O failure while reading a local file (native only).
    #[error("cannot read {path}: {message}")]
    Io {
        /// The path that failed.
        path: String,
        /// The operating system's message.
        message: String,
    },
    /// No directory with the four Fashion-MNIST files was found (native only).
    #[error(
        "Fashion-MNIST not found. Looked in: {searched}. Install it with `apt-get install dataset-fashion-mnist`, \
         pass --data DIR, set FASHION_MNIST_DIR, or run `fashionlab download`."
    )]
    NotFound {
        /// The directories searched, in order.
        searched: String,
    },
}

/// Which half of Fashion-MNIST.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// The 60,000 training images.
    Train,
    /// The 10,000 test images.
    Test,
}

impl Split {
    /// The official files (images, labels) of this split.
    pub(crate) fn files(self) -> (OfficialFile, OfficialFile) {
        match self {
            Split::Train => (OFFICIAL_FILES[0], OFFICIAL_FILES[1]),
            Split::Test => (OFFICIAL_FILES[2], OFFICIAL_FILES[3]),
        }
    }
}

/// One of the four files Zalando publishes, with the SHA-256 of its decompressed payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OfficialFile {
    /// File name, as published (gzip-compressed).
    pub name: &'static str,
    /// SHA-256 of the decompressed bytes, lower-case hex.
    pub sha256: &'static str,
}

/// The four official files: train images, train labels, test images, test labels.
pub(crate) const OFFICIAL_FILES: [OfficialFile; 4] = [
    OfficialFile {
        name: "train-images-idx3-ubyte.gz",
        sha256: "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    },
    OfficialFile {
        name: "train-labels-idx1-ubyte.gz",
        sha256: "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    },
    OfficialFile {
        name: "t10k-images-idx3-ubyte.gz",
        sha256: "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    },
    OfficialFile {
        name: "t10k-labels-idx1-ubyte.gz",
        sha256: "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    },
];

impl OfficialFile {
    /// Checks a decompressed payload against this file's published SHA-256.
    pub(crate) fn verify(&self, payload: &[u8]) -> Result<(), DataError> {
        let actual = sha256_hex(payload);
        if actual == self.sha256 {
            Ok(())
        } else {
            Err(DataError::Checksum {
                file: self.name,
                expected: self.sha256,
                actual,
            })
        }
    }
}

/// Lower-case hex SHA-256 of `bytes`.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Returns the raw payload: gunzipped if `bytes` starts with the gzip magic, borrowed as-is otherwise.
///
/// Decompression stops with [`DataError::DecompressedTooLarge`] past [`MAX_DECOMPRESSED_BYTES`].
pub fn decompress(bytes: &[u8]) -> Result<std::borrow::Cow<'_, [u8]>, DataError> {
    if bytes.is_empty() {
        return Err(DataError::Empty);
    }
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return Ok(std::borrow::Cow::Borrowed(bytes));
    }
    // The gzip trailer states the uncompressed size (mod 2^32). It is only a hint for the buffer's
    // capacity: a truncated stream ends in arbitrary bytes, so the limit is enforced while decoding.
    let stated = bytes
        .len()
        .checked_sub(4)
        .map(|i| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]) as usize)
        .filter(|&n| n <= MAX_DECOMPRESSED_BYTES)
        .unwrap_or(0);
    let mut out = Vec::with_capacity(stated);
    flate2::read::GzDecoder::new(bytes)
        .take(MAX_DECOMPRESSED_BYTES as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| DataError::Gzip(e.to_string()))?;
    if out.len() > MAX_DECOMPRESSED_BYTES {
        return Err(DataError::DecompressedTooLarge {
            limit: MAX_DECOMPRESSED_BYTES,
        });
    }
    Ok(std::borrow::Cow::Owned(out))
}

/// A parsed IDX header: its dimensions and where the payload starts.
#[derive(Debug, Clone, PartialEq, Eq)]
struct IdxHeader {
    dims: Vec<u32>,
    payload_offset: usize,
}

/// Parses and checks an unsigned-byte IDX header of `rank` dimensions against the bytes that follow it.
/// Allocates only the tiny dimension list; the payload length is checked before anything else is.
fn parse_header(raw: &[u8], rank: u8) -> Result<IdxHeader, DataError> {
    if raw.len() < 4 {
        return Err(DataError::TruncatedHeader {
            needed: 4,
            got: raw.len(),
        });
    }
    let magic = u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]);
    // 0x0000 08 NN: unsigned bytes, NN dimensions.
    if raw[0] != 0 || raw[1] != 0 || raw[2] != 0x08 || raw[3] == 0 {
        return Err(DataError::BadMagic { found: magic });
    }
    if raw[3] != rank {
        return Err(DataError::WrongRank {
            expected: rank,
            found: raw[3],
        });
    }
    let payload_offset = 4 + 4 * rank as usize;
    if raw.len() < payload_offset {
        return Err(DataError::TruncatedHeader {
            needed: payload_offset,
            got: raw.len(),
        });
    }
    let dims: Vec<u32> = (0..rank as usize)
        .map(|i| {
            let o = 4 + 4 * i;
            u32::from_be_bytes([raw[o], raw[o + 1], raw[o + 2], raw[o + 3]])
        })
        .collect();
    if rank == 3 && (dims[1] as usize != SIDE || dims[2] as usize != SIDE) {
        return Err(DataError::WrongDimensions {
            rows: dims[1],
            cols: dims[2],
        });
    }
    let declared: u64 = dims.iter().map(|&d| d as u64).product();
    let available = (raw.len() - payload_offset) as u64;
    if declared > available {
        return Err(DataError::TruncatedPayload {
            declared,
            available,
        });
    }
    if declared < available {
        return Err(DataError::TrailingBytes {
            extra: available - declared,
        });
    }
    Ok(IdxHeader {
        dims,
        payload_offset,
    })
}

/// Parses an IDX image file (gzip or raw) into `n × 784` pixels, row-major.
pub fn parse_images(bytes: &[u8]) -> Result<Vec<u8>, DataError> {
    let raw = decompress(bytes)?;
    let header = parse_header(&raw, 3)?;
    Ok(raw[header.payload_offset..].to_vec())
}

/// Parses an IDX label file (gzip or raw), checking every label is in 0..=9.
pub fn parse_labels(bytes: &[u8]) -> Result<Vec<u8>, DataError> {
    let raw = decompress(bytes)?;
    let header = parse_header(&raw, 1)?;
    let labels = &raw[header.payload_offset..];
    debug_assert_eq!(labels.len(), header.dims[0] as usize);
    if let Some((index, &value)) = labels
        .iter()
        .enumerate()
        .find(|(_, v)| **v as usize >= NUM_CLASSES)
    {
        return Err(DataError::LabelOutOfRange { index, value });
    }
    Ok(labels.to_vec())
}

/// Encodes images as a raw (uncompressed) IDX file. The inverse of [`parse_images`].
pub fn encode_images(pixels: &[u8]) -> Vec<u8> {
    let n = (pixels.len() / PIXELS) as u32;
    let mut out = Vec::with_capacity(16 + pixels.len());
    out.extend_from_slice(&[0, 0, 0x08, 3]);
    for d in [n, SIDE as u32, SIDE as u32] {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(pixels);
    out
}

/// Encodes labels as a raw (uncompressed) IDX file. The inverse of [`parse_labels`].
pub fn encode_labels(labels: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + labels.len());
    out.extend_from_slice(&[0, 0, 0x08, 1]);
    out.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    out.extend_from_slice(labels);
    out
}

/// Gzip-compresses `bytes` (best compression).
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(bytes).expect("writing to a Vec cannot fail");
    enc.finish().expect("writing to a Vec cannot fail")
}

/// Labelled 28 × 28 grey images held in memory: pixels 0..=255, white object on black, as published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dataset {
    /// `len × 784` pixels, row-major.
    images: Vec<u8>,
    /// `len` labels in 0..=9.
    labels: Vec<u8>,
}

impl Dataset {
    /// Builds a dataset from pixel and label vectors, checking their sizes and the label range.
    pub fn new(images: Vec<u8>, labels: Vec<u8>) -> Result<Self, DataError> {
        if !images.len().is_multiple_of(PIXELS) {
            return Err(DataError::TruncatedPayload {
                declared: (images.len().div_ceil(PIXELS) * PIXELS) as u64,
                available: images.len() as u64,
            });
        }
        if images.len() / PIXELS != labels.len() {
            return Err(DataError::CountMismatch {
                images: images.len() / PIXELS,
                labels: labels.len(),
            });
        }
        if let Some((index, &value)) = labels
            .iter()
            .enumerate()
            .find(|(_, v)| **v as usize >= NUM_CLASSES)
        {
            return Err(DataError::LabelOutOfRange { index, value });
        }
        Ok(Self { images, labels })
    }

    /// Parses an image file and a label file (each gzip or raw IDX).
    pub fn from_idx(images: &[u8], labels: &[u8]) -> Result<Self, DataError> {
        Self::new(parse_images(images)?, parse_labels(labels)?)
    }

    /// Parses the two official files of `split`, verifying both SHA-256 digests.
    pub fn from_official(split: Split, images: &[u8], labels: &[u8]) -> Result<Self, DataError> {
        let (image_file, label_file) = split.files();
        let raw_images = decompress(images)?;
        image_file.verify(&raw_images)?;
        let raw_labels = decompress(labels)?;
        label_file.verify(&raw_labels)?;
        Self::from_idx(&raw_images, &raw_labels)
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// All pixels, `len × 784`, row-major.
    pub fn pixels(&self) -> &[u8] {
        &self.images
    }

    /// All labels.
    pub fn labels(&self) -> &[u8] {
        &self.labels
    }

    /// The 784 pixels of image `i`.
    pub fn image(&self, i: usize) -> &[u8] {
        &self.images[i * PIXELS..(i + 1) * PIXELS]
    }

    /// The label of image `i`.
    pub fn label(&self, i: usize) -> u8 {
        self.labels[i]
    }

    /// Images per class.
    pub fn class_counts(&self) -> [usize; NUM_CLASSES] {
        let mut counts = [0; NUM_CLASSES];
        for &l in &self.labels {
            counts[l as usize] += 1;
        }
        counts
    }

    /// A new dataset holding the images at `indices`, in that order.
    pub fn subset(&self, indices: &[usize]) -> Dataset {
        let mut images = Vec::with_capacity(indices.len() * PIXELS);
        let mut labels = Vec::with_capacity(indices.len());
        for &i in indices {
            images.extend_from_slice(self.image(i));
            labels.push(self.labels[i]);
        }
        Dataset { images, labels }
    }

    /// The first `per_class` images of each class, grouped by class (0 first): a balanced slice.
    pub fn balanced_slice(&self, per_class: usize) -> Dataset {
        let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); NUM_CLASSES];
        for (i, &l) in self.labels.iter().enumerate() {
            if by_class[l as usize].len() < per_class {
                by_class[l as usize].push(i);
            }
        }
        self.subset(&by_class.concat())
    }

    /// The images [`Self::balanced_slice`] leaves out: all but the first `per_class` of each class,
    /// in order (a held-out set for a model fitted on the slice).
    pub fn after_balanced_slice(&self, per_class: usize) -> Dataset {
        let mut seen = [0usize; NUM_CLASSES];
        let rest: Vec<usize> = (0..self.len())
            .filter(|i| {
                let c = self.labels[*i] as usize;
                seen[c] += 1;
                seen[c] > per_class
            })
            .collect();
        self.subset(&rest)
    }
}

/// Native file access: finding the data directory and reading the official files from it.
#[cfg(not(target_arch = "wasm32"))]
pub mod local {
    use std::path::{Path, PathBuf};

    use super::{DataError, Dataset, OFFICIAL_FILES, Split};

    /// Where Debian's `dataset-fashion-mnist` package installs the files.
    pub(crate) const DEBIAN_DIR: &str = "/usr/share/datasets/fashion-mnist";

    /// The directories searched, in order: `explicit` (`--data`), `$FASHION_MNIST_DIR`, then [`DEBIAN_DIR`].
    pub fn candidate_dirs(explicit: Option<&Path>) -> Vec<PathBuf> {
        let mut dirs = Vec::new();
        if let Some(dir) = explicit {
            dirs.push(dir.to_path_buf());
            return dirs; // an explicit choice is never silently replaced
        }
        if let Some(dir) = std::env::var_os("FASHION_MNIST_DIR").filter(|d| !d.is_empty()) {
            dirs.push(PathBuf::from(dir));
        }
        dirs.push(PathBuf::from(DEBIAN_DIR));
        dirs
    }

    /// The first candidate directory holding all four official files.
    pub fn locate(explicit: Option<&Path>) -> Result<PathBuf, DataError> {
        let dirs = candidate_dirs(explicit);
        dirs.iter()
            .find(|d| OFFICIAL_FILES.iter().all(|f| d.join(f.name).is_file()))
            .cloned()
            .ok_or_else(|| DataError::NotFound {
                searched: dirs
                    .iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    fn read(path: &Path) -> Result<Vec<u8>, DataError> {
        std::fs::read(path).map_err(|e| DataError::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        })
    }

    /// Reads and verifies one split from `dir`.
    pub fn load_split(dir: &Path, split: Split) -> Result<Dataset, DataError> {
        let (images, labels) = split.files();
        Dataset::from_official(
            split,
            &read(&dir.join(images.name))?,
            &read(&dir.join(labels.name))?,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny(n: usize) -> (Vec<u8>, Vec<u8>) {
        let pixels: Vec<u8> = (0..n * PIXELS).map(|i| (i % 251) as u8).collect();
        let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
        (encode_images(&pixels), encode_labels(&labels))
    }

    #[test]
    fn round_trips_raw_and_gzip() {
        let (img, lab) = tiny(7);
        let raw = Dataset::from_idx(&img, &lab).unwrap();
        let gz = Dataset::from_idx(&gzip(&img), &gzip(&lab)).unwrap();
        assert_eq!(raw, gz);
        assert_eq!(raw.len(), 7);
        assert_eq!(raw.label(3), 3);
        assert_eq!(raw.image(1)[0], (PIXELS % 251) as u8);
    }

    #[test]
    fn empty_input() {
        assert_eq!(parse_images(&[]), Err(DataError::Empty));
    }

    #[test]
    fn bad_magic() {
        let (mut img, _) = tiny(1);
        img[2] = 0x0D; // float type
        assert!(matches!(
            parse_images(&img),
            Err(DataError::BadMagic { found: 0x0000_0D03 })
        ));
        assert!(matches!(
            parse_images(b"PK\x03\x04 not idx at all"),
            Err(DataError::BadMagic { .. })
        ));
    }

    #[test]
    fn wrong_rank() {
        let (img, lab) = tiny(2);
        assert_eq!(
            parse_images(&lab),
            Err(DataError::WrongRank {
                expected: 3,
                found: 1
            })
        );
        assert_eq!(
            parse_labels(&img),
            Err(DataError::WrongRank {
                expected: 1,
                found: 3
            })
        );
    }

    #[test]
    fn wrong_dimensions() {
        let mut img = encode_images(&[0; PIXELS]);
        img[11] = 32; // rows = 32
        assert_eq!(
            parse_images(&img),
            Err(DataError::WrongDimensions { rows: 32, cols: 28 })
        );
    }

    #[test]
    fn truncated_header() {
        let (img, _) = tiny(1);
        assert_eq!(
            parse_images(&img[..3]),
            Err(DataError::TruncatedHeader { needed: 4, got: 3 })
        );
        assert_eq!(
            parse_images(&img[..10]),
            Err(DataError::TruncatedHeader {
                needed: 16,
                got: 10
            })
        );
    }

    #[test]
    fn truncated_payload() {
        let (img, lab) = tiny(3);
        let cut = &img[..img.len() - 100];
        assert_eq!(
            parse_images(cut),
            Err(DataError::TruncatedPayload {
                declared: 3 * PIXELS as u64,
                available: 3 * PIXELS as u64 - 100
            })
        );
        assert_eq!(
            parse_labels(&lab[..9]),
            Err(DataError::TruncatedPayload {
                declared: 3,
                available: 1
            })
        );
        // A gzip stream cut short is a corrupt stream, not a silently shorter dataset.
        let gz = gzip(&img);
        assert!(matches!(
            parse_images(&gz[..gz.len() / 2]),
            Err(DataError::Gzip(_) | DataError::TruncatedPayload { .. })
        ));
    }

    #[test]
    fn declared_size_larger_than_bytes_given_is_rejected_without_allocating() {
        // A header claiming 4 billion images over 784 bytes of payload: refused from the header alone.
        let mut img = encode_images(&[0; PIXELS]);
        img[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(
            parse_images(&img),
            Err(DataError::TruncatedPayload {
                declared: u32::MAX as u64 * PIXELS as u64,
                available: PIXELS as u64
            })
        );
        // A gzip trailer that lies about the size is caught by the decoder's own check.
        let mut gz = gzip(&img);
        let n = gz.len();
        gz[n - 4..].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(parse_images(&gz), Err(DataError::Gzip(_))));
    }

    #[test]
    fn decompression_bomb_stops_at_the_limit() {
        let bomb = gzip(&vec![0u8; MAX_DECOMPRESSED_BYTES + 4096]);
        assert!(bomb.len() < 200_000);
        assert_eq!(
            parse_images(&bomb),
            Err(DataError::DecompressedTooLarge {
                limit: MAX_DECOMPRESSED_BYTES
            })
        );
    }

    #[test]
    fn trailing_bytes() {
        let (mut img, _) = tiny(1);
        img.extend_from_slice(&[1, 2, 3]);
        assert_eq!(
            parse_images(&img),
            Err(DataError::TrailingBytes { extra: 3 })
        );
    }

    #[test]
    fn label_out_of_range() {
        let lab = encode_labels(&[0, 9, 10, 3]);
        assert_eq!(
            parse_labels(&lab),
            Err(DataError::LabelOutOfRange {
                index: 2,
                value: 10
            })
        );
    }

    #[test]
    fn count_mismatch() {
        let (img, _) = tiny(3);
        let lab = encode_labels(&[1, 2]);
        assert_eq!(
            Dataset::from_idx(&img, &lab),
            Err(DataError::CountMismatch {
                images: 3,
                labels: 2
            })
        );
    }

    #[test]
    fn corrupt_gzip() {
        let (img, _) = tiny(2);
        let mut gz = gzip(&img);
        for b in gz.iter_mut().skip(12).take(40) {
            *b ^= 0x5a;
        }
        assert!(matches!(parse_images(&gz), Err(DataError::Gzip(_))));
    }

    #[test]
    fn checksum_mismatch_is_typed() {
        let (img, lab) = tiny(2);
        let err = Dataset::from_official(Split::Test, &img, &lab).unwrap_err();
        assert!(
            matches!(
                err,
                DataError::Checksum {
                    file: "t10k-images-idx3-ubyte.gz",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn balanced_slice_groups_by_class() {
        let (img, lab) = tiny(40);
        let d = Dataset::from_idx(&img, &lab).unwrap().balanced_slice(3);
        assert_eq!(d.len(), 30);
        assert_eq!(d.class_counts(), [3; 10]);
        assert_eq!(&d.labels()[..4], &[0, 0, 0, 1]);
    }
}
