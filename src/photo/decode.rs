//! Pictures as RGB pixel buffers: decoding files (PNG, JPEG, WebP) with their EXIF orientation, and
//! canvas frames (RGBA).

use thiserror::Error;

/// Errors of image decoding.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ImageError {
    /// No bytes were given.
    #[error("the file is empty")]
    Empty,
    /// The bytes are not a PNG, JPEG or WebP image.
    #[error("this is not a supported image (PNG, JPEG or WebP)")]
    NotAnImage,
    /// The image declares a width or height of zero.
    #[error("the image is {width}×{height}: it has no pixels")]
    ZeroSize {
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
    },
    /// The image is larger than allowed; it was not decoded.
    #[error(
        "the image is {width}×{height}, larger than the {max_pixels}-pixel limit; it was not decoded"
    )]
    TooLarge {
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
        /// The limit, in pixels.
        max_pixels: u64,
    },
    /// The image is damaged.
    #[error("the image could not be decoded: {0}")]
    Decode(String),
    /// A pixel buffer does not match its stated size.
    #[error("a {width}×{height} image needs {expected} bytes, {got} given")]
    BadBuffer {
        /// Width.
        width: u32,
        /// Height.
        height: u32,
        /// Bytes expected.
        expected: usize,
        /// Bytes given.
        got: usize,
    },
}

/// Largest image accepted, in pixels (about 40 megapixels). Checked from the header, before decoding.
const MAX_IMAGE_PIXELS: u64 = 40_000_000;

/// A `width × height` buffer of `channels` bytes a pixel must have pixels and exactly that many bytes.
fn check_buffer(width: u32, height: u32, channels: usize, len: usize) -> Result<(), ImageError> {
    if width == 0 || height == 0 {
        return Err(ImageError::ZeroSize { width, height });
    }
    let expected = width as usize * height as usize * channels;
    if len != expected {
        return Err(ImageError::BadBuffer {
            width,
            height,
            expected,
            got: len,
        });
    }
    Ok(())
}

/// An RGB picture of any size, 8 bits a channel, row-major, upright (orientation applied).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Photo {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width × height × 3` values, R G B per pixel.
    pub rgb: Vec<u8>,
}

impl Photo {
    /// A photo from its RGB bytes.
    pub fn from_rgb(width: u32, height: u32, rgb: Vec<u8>) -> Result<Self, ImageError> {
        check_buffer(width, height, 3, rgb.len())?;
        Ok(Self { width, height, rgb })
    }

    /// A grey picture (one byte a pixel) as a photo.
    pub fn from_gray(width: u32, height: u32, gray: &[u8]) -> Result<Self, ImageError> {
        check_buffer(width, height, 1, gray.len())?;
        Self::from_rgb(
            width,
            height,
            gray.iter().flat_map(|&g| [g, g, g]).collect(),
        )
    }

    /// Converts an RGBA buffer (a canvas's `ImageData`, say), compositing transparent pixels over white
    /// as a browser shows them.
    pub fn from_rgba(width: u32, height: u32, rgba: &[u8]) -> Result<Self, ImageError> {
        check_buffer(width, height, 4, rgba.len())?;
        let rgb = rgba
            .chunks_exact(4)
            .flat_map(|p| {
                let a = p[3] as u32;
                let over_white = |c: u8| ((c as u32 * a + 255 * (255 - a) + 127) / 255) as u8;
                [over_white(p[0]), over_white(p[1]), over_white(p[2])]
            })
            .collect();
        Ok(Self { width, height, rgb })
    }

    /// Decodes a PNG, JPEG or WebP file and turns it upright by its EXIF orientation (phones store
    /// portrait photos sideways with a tag, and browsers apply it when they decode). The dimensions are
    /// read from the header and checked against [`MAX_IMAGE_PIXELS`] before any pixel is decoded, so
    /// decompression bombs are refused cheaply.
    pub fn decode(bytes: &[u8]) -> Result<Self, ImageError> {
        use image::{DynamicImage, ImageDecoder, ImageReader};
        use std::io::Cursor;
        if bytes.is_empty() {
            return Err(ImageError::Empty);
        }
        let format = image::guess_format(bytes).map_err(|_| ImageError::NotAnImage)?;
        if !matches!(
            format,
            image::ImageFormat::Png | image::ImageFormat::Jpeg | image::ImageFormat::WebP
        ) {
            return Err(ImageError::NotAnImage);
        }
        let (width, height) = ImageReader::with_format(Cursor::new(bytes), format)
            .into_dimensions()
            .map_err(|e| ImageError::Decode(e.to_string()))?;
        if width == 0 || height == 0 {
            return Err(ImageError::ZeroSize { width, height });
        }
        if width as u64 * height as u64 > MAX_IMAGE_PIXELS {
            return Err(ImageError::TooLarge {
                width,
                height,
                max_pixels: MAX_IMAGE_PIXELS,
            });
        }
        let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
        let mut limits = image::Limits::default();
        limits.max_image_width = Some(width);
        limits.max_image_height = Some(height);
        limits.max_alloc = Some(MAX_IMAGE_PIXELS * 8);
        reader.limits(limits);
        let decode_error = |e: image::ImageError| ImageError::Decode(e.to_string());
        let mut decoder = reader.into_decoder().map_err(decode_error)?;
        // A damaged EXIF block is no reason to refuse the picture: it is then shown as stored.
        let orientation = decoder
            .orientation()
            .unwrap_or(image::metadata::Orientation::NoTransforms);
        let mut img = DynamicImage::from_decoder(decoder).map_err(decode_error)?;
        img.apply_orientation(orientation);
        let rgba = img.to_rgba8();
        Self::from_rgba(rgba.width(), rgba.height(), rgba.as_raw())
    }

    /// Rec. 601 luma of every pixel.
    pub(crate) fn luma(&self) -> Vec<u8> {
        self.rgb
            .chunks_exact(3)
            .map(|p| {
                ((299 * p[0] as u32 + 587 * p[1] as u32 + 114 * p[2] as u32 + 500) / 1000) as u8
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::ImageEncoder;

    fn png_bytes(w: u32, h: u32) -> Vec<u8> {
        let px: Vec<u8> = (0..w * h).map(|i| (i % 256) as u8).collect();
        let mut png = Vec::new();
        image::codecs::png::PngEncoder::new(&mut png)
            .write_image(&px, w, h, image::ExtendedColorType::L8)
            .unwrap();
        png
    }

    #[test]
    fn rgba_conversion_and_bad_buffers() {
        let p = Photo::from_rgba(2, 1, &[10, 20, 30, 255, 0, 0, 0, 0]).unwrap();
        assert_eq!(
            p.rgb,
            vec![10, 20, 30, 255, 255, 255],
            "transparent composites over white"
        );
        assert!(matches!(
            Photo::from_rgba(2, 2, &[0; 4]),
            Err(ImageError::BadBuffer { expected: 16, .. })
        ));
        assert_eq!(
            Photo::from_rgba(0, 5, &[]),
            Err(ImageError::ZeroSize {
                width: 0,
                height: 5
            })
        );
        assert_eq!(Photo::from_gray(1, 1, &[7]).unwrap().rgb, vec![7, 7, 7]);
        assert_eq!(
            Photo::from_gray(2, 1, &[0, 255]).unwrap().luma(),
            vec![0, 255]
        );
    }

    #[test]
    fn decoding_rejects_non_images() {
        assert_eq!(Photo::decode(&[]), Err(ImageError::Empty));
        assert_eq!(
            Photo::decode(b"hello, this is text"),
            Err(ImageError::NotAnImage)
        );
        // A truncated PNG is a decode error, not a panic.
        let png = png_bytes(30, 30);
        assert!(matches!(
            Photo::decode(&png[..png.len() / 2]),
            Err(ImageError::Decode(_))
        ));
    }

    /// The CRC-32 of PNG chunks.
    fn crc32(bytes: &[u8]) -> u32 {
        let mut c = 0xffff_ffffu32;
        for &b in bytes {
            c ^= b as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    0xedb8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
        }
        !c
    }

    /// A valid PNG whose header declares `w × h` (IHDR patched, its CRC mended).
    fn png_declaring(w: u32, h: u32) -> Vec<u8> {
        let mut png = png_bytes(30, 30);
        png[16..20].copy_from_slice(&w.to_be_bytes());
        png[20..24].copy_from_slice(&h.to_be_bytes());
        let crc = crc32(&png[12..29]);
        png[29..33].copy_from_slice(&crc.to_be_bytes());
        png
    }

    #[test]
    fn the_size_cap_is_read_from_valid_headers() {
        let too_large = |width, height| ImageError::TooLarge {
            width,
            height,
            max_pixels: MAX_IMAGE_PIXELS,
        };
        // PNG: a 30000×30000 header with a correct CRC is refused for its size, before decoding.
        assert_eq!(
            Photo::decode(&png_declaring(30_000, 30_000)),
            Err(too_large(30_000, 30_000))
        );
        // JPEG: the frame header (SOF0: FF C0, length, precision, height, width) says 20000×20000.
        let mut jpeg = tagged_jpeg(None);
        let sof = jpeg.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
        jpeg[sof + 5..sof + 7].copy_from_slice(&20_000u16.to_be_bytes());
        jpeg[sof + 7..sof + 9].copy_from_slice(&20_000u16.to_be_bytes());
        assert_eq!(Photo::decode(&jpeg), Err(too_large(20_000, 20_000)));
        // WebP (lossless): the VP8L header packs width − 1 and height − 1 in 14 bits each, after the
        // 0x2F signature; RIFF has no checksum. 8000×8000 is 64 million pixels. (image-webp 0.2.4 reads a
        // 16384×16384 header as 0×0, which is refused as ZeroSize.)
        let px = vec![90u8; 30 * 30 * 3];
        let mut webp = Vec::new();
        image::codecs::webp::WebPEncoder::new_lossless(&mut webp)
            .write_image(&px, 30, 30, image::ExtendedColorType::Rgb8)
            .unwrap();
        assert_eq!((&webp[12..16], webp[20]), (&b"VP8L"[..], 0x2F));
        assert_eq!(Photo::decode(&webp).unwrap().width, 30);
        let bits = u32::from_le_bytes(webp[21..25].try_into().unwrap());
        let bits = (bits & !0x0FFF_FFFF) | 7_999 | (7_999 << 14);
        webp[21..25].copy_from_slice(&bits.to_le_bytes());
        assert_eq!(Photo::decode(&webp), Err(too_large(8_000, 8_000)));
    }

    #[test]
    fn a_zero_size_header_is_its_own_error() {
        let err = Photo::decode(&png_declaring(0, 30)).unwrap_err();
        assert!(
            matches!(
                err,
                ImageError::ZeroSize {
                    width: 0,
                    height: 30
                } | ImageError::Decode(_)
            ),
            "{err}"
        );
        assert!(!matches!(err, ImageError::TooLarge { .. }));
    }

    #[test]
    fn decodes_a_real_png() {
        let g = Photo::decode(&png_bytes(64, 48)).unwrap();
        assert_eq!((g.width, g.height), (64, 48));
        assert_eq!(&g.rgb[15..18], &[5, 5, 5]);
    }

    /// A minimal big-endian EXIF block holding one tag, Orientation = `value`.
    fn exif_orientation(value: u16) -> Vec<u8> {
        let mut e = b"MM\0\x2a\0\0\0\x08".to_vec(); // TIFF header, first IFD at 8
        e.extend_from_slice(&1u16.to_be_bytes()); // one entry
        e.extend_from_slice(&0x0112u16.to_be_bytes()); // Orientation
        e.extend_from_slice(&3u16.to_be_bytes()); // SHORT
        e.extend_from_slice(&1u32.to_be_bytes()); // count
        e.extend_from_slice(&value.to_be_bytes());
        e.extend_from_slice(&[0, 0]);
        e.extend_from_slice(&0u32.to_be_bytes()); // no next IFD
        e
    }

    /// A 40×20 JPEG, dark left half and light right half, with an EXIF orientation tag.
    fn tagged_jpeg(orientation: Option<u16>) -> Vec<u8> {
        let (w, h) = (40u32, 20u32);
        let rgb: Vec<u8> = (0..w * h)
            .flat_map(|i| if i % w < w / 2 { [20u8; 3] } else { [230u8; 3] })
            .collect();
        let mut out = Vec::new();
        let mut enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 95);
        if let Some(o) = orientation {
            enc.set_exif_metadata(exif_orientation(o)).unwrap();
        }
        enc.write_image(&rgb, w, h, image::ExtendedColorType::Rgb8)
            .unwrap();
        out
    }

    #[test]
    fn exif_orientation_is_applied() {
        let plain = Photo::decode(&tagged_jpeg(None)).unwrap();
        assert_eq!((plain.width, plain.height), (40, 20));
        let at = |p: &Photo, x: u32, y: u32| p.rgb[3 * (y * p.width + x) as usize];
        assert!(at(&plain, 2, 10) < 60 && at(&plain, 37, 10) > 190);
        // Orientation 6: the stored picture is shown turned 90° clockwise, so its left (dark) half
        // becomes the top.
        let turned = Photo::decode(&tagged_jpeg(Some(6))).unwrap();
        assert_eq!((turned.width, turned.height), (20, 40));
        assert!(at(&turned, 10, 2) < 60, "top is dark");
        assert!(at(&turned, 10, 37) > 190, "bottom is light");
        // Orientation 3: turned 180°, the dark half on the right.
        let upside = Photo::decode(&tagged_jpeg(Some(3))).unwrap();
        assert_eq!((upside.width, upside.height), (40, 20));
        assert!(at(&upside, 37, 10) < 60 && at(&upside, 2, 10) > 190);
    }
}
