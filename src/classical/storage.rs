//! Compact storage of the classical models' stored feature vectors (the SVM's support vectors, the
//! k-NN's training points): f16 values, and a per-feature uniform grid of a few bits. Both are applied
//! when a model is fitted, so that what is saved predicts exactly as what was fitted; the values are
//! decoded to f32 once, when a model is loaded.

use serde::{Deserialize, Deserializer, Serialize, Serializer, de::Error};

/// Rounds values to f16 precision (kept as f32).
pub fn round_to_f16(values: &mut [f32]) {
    values
        .iter_mut()
        .for_each(|v| *v = half::f16::from_f32(*v).to_f32());
}

/// Serde for f32 values held at f16 precision: written as little-endian f16 bytes (the same bytes, on the
/// wire, as a plain `Vec<u8>` field), read back into f32.
pub mod f16_bytes {
    use super::*;

    pub fn serialize<S: Serializer>(values: &[f32], serializer: S) -> Result<S::Ok, S::Error> {
        let bytes: Vec<u8> = values
            .iter()
            .flat_map(|v| half::f16::from_f32(*v).to_le_bytes())
            .collect();
        bytes.serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<f32>, D::Error> {
        let bytes = Vec::<u8>::deserialize(deserializer)?;
        if bytes.len() % 2 != 0 {
            return Err(D::Error::custom("f16 data of odd length"));
        }
        Ok(bytes
            .chunks_exact(2)
            .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect())
    }
}

/// Row-major `n × dims` vectors quantized feature by feature: feature `j` of a row is
/// `lo[j] + code × step[j]`, its code one of `2^bits` levels from the feature's smallest value over the
/// rows to its largest. Held decoded; written as the codes, feature-major
/// (one byte a code: a feature's codes side by side compress best).
#[derive(Debug, Clone, PartialEq)]
pub struct Quantized {
    dims: usize,
    lo: Vec<f32>,
    step: Vec<f32>,
    /// The decoded values, row-major.
    values: Vec<f32>,
}

/// What a [`Quantized`] is written as.
#[derive(Serialize, Deserialize)]
struct QuantizedFile {
    bits: u8,
    dims: u32,
    lo: Vec<f32>,
    step: Vec<f32>,
    /// `dims × n` codes, feature-major.
    codes: Vec<u8>,
}

impl Quantized {
    /// Quantizes row-major `values` (`n × dims`) to `bits` (1..=8) a feature.
    pub fn new(values: &[f32], dims: usize, bits: u8) -> Self {
        assert!(
            (1..=8).contains(&bits) && dims > 0 && values.len().is_multiple_of(dims),
            "quantizer settings"
        );
        let n = values.len() / dims;
        let top = ((1u32 << bits) - 1) as f32;
        let (mut lo, mut step) = (Vec::with_capacity(dims), Vec::with_capacity(dims));
        for j in 0..dims {
            let column = values.iter().skip(j).step_by(dims).copied();
            let (a, b) = if n == 0 {
                (0.0, 0.0)
            } else {
                let a = column.clone().fold(f32::INFINITY, f32::min);
                (a, column.fold(f32::NEG_INFINITY, f32::max))
            };
            lo.push(a);
            step.push(if b > a { (b - a) / top } else { 0.0 });
        }
        let values = values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let j = i % dims;
                lo[j] + Self::code(*v, lo[j], step[j], top) * step[j]
            })
            .collect();
        Self {
            dims,
            lo,
            step,
            values,
        }
    }

    fn code(v: f32, lo: f32, step: f32, top: f32) -> f32 {
        if step > 0.0 {
            ((v - lo) / step).round().clamp(0.0, top)
        } else {
            0.0
        }
    }

    /// The decoded values, row-major.
    pub fn values(&self) -> &[f32] {
        &self.values
    }

    /// Features a row.
    pub fn dims(&self) -> usize {
        self.dims
    }

    /// Rows.
    pub fn rows(&self) -> usize {
        self.values.len() / self.dims.max(1)
    }
}

/// Bits a code needs: the largest code written, at least 1.
fn bits_for(top_code: u8) -> u8 {
    (8 - top_code.leading_zeros() as u8).max(1)
}

impl Serialize for Quantized {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let n = self.rows();
        let mut codes = vec![0u8; self.values.len()];
        for (i, v) in self.values.iter().enumerate() {
            let j = i % self.dims;
            // Decoded values sit on the grid, so this gives back the code they were decoded from.
            codes[j * n + i / self.dims] = Self::code(*v, self.lo[j], self.step[j], 255.0) as u8;
        }
        QuantizedFile {
            bits: bits_for(codes.iter().copied().max().unwrap_or(0)),
            dims: self.dims as u32,
            lo: self.lo.clone(),
            step: self.step.clone(),
            codes,
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Quantized {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let file = QuantizedFile::deserialize(deserializer)?;
        let dims = file.dims as usize;
        let ok = dims > 0
            && (1..=8).contains(&file.bits)
            && file.lo.len() == dims
            && file.step.len() == dims
            && file.codes.len().is_multiple_of(dims)
            && file.lo.iter().chain(&file.step).all(|v| v.is_finite())
            && file.step.iter().all(|s| *s >= 0.0)
            && file.codes.iter().all(|c| u32::from(*c) < 1u32 << file.bits);
        if !ok {
            return Err(D::Error::custom(
                "quantized vectors and their grid disagree",
            ));
        }
        let n = file.codes.len() / dims;
        let mut values = vec![0f32; file.codes.len()];
        for (at, code) in file.codes.iter().enumerate() {
            let (j, row) = (at / n, at % n);
            values[row * dims + j] = file.lo[j] + f32::from(*code) * file.step[j];
        }
        Ok(Self {
            dims,
            lo: file.lo,
            step: file.step,
            values,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each decoded value is within half a step of its original; the grid spans each feature's range;
    /// saving and loading gives the same values bit for bit; the file states the bits its codes need.
    #[test]
    fn quantized_values_stay_on_their_grid_and_survive_saving() {
        let mut rng = crate::rng::Rng::new(3);
        let (n, dims) = (500, 7);
        let mut values: Vec<f32> = (0..n * dims).map(|_| rng.range_f32(-3.0, 5.0)).collect();
        values[3 * dims + 2] = 40.0; // an outlier: the grid reaches it
        let q = Quantized::new(&values, dims, 6);
        assert_eq!((q.rows(), q.dims()), (n, dims));
        for (i, (v, d)) in values.iter().zip(q.values()).enumerate() {
            let j = i % dims;
            assert!(
                (v - d).abs() <= 0.5 * q.step[j] * 1.0001,
                "row {} feature {j}: {v} decoded as {d}",
                i / dims
            );
        }
        assert!(
            (q.lo[2] + 63.0 * q.step[2] - 40.0).abs() < 1e-4,
            "the grid ends at the largest value"
        );
        let bytes = postcard::to_allocvec(&q).unwrap();
        let back: Quantized = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back, q);
        let file: QuantizedFile = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(file.bits, 6);
        // A constant feature takes one level and decodes exactly.
        let flat = Quantized::new(&[2.5, 2.5, 2.5], 1, 6);
        assert_eq!(flat.values(), &[2.5, 2.5, 2.5]);
    }

    /// A file whose codes pass its stated bits, or whose grid does not match its features, is refused.
    #[test]
    fn inconsistent_quantized_files_are_refused() {
        let q = Quantized::new(&[0.0, 1.0, 2.0, 3.0], 2, 2);
        let good: QuantizedFile =
            postcard::from_bytes(&postcard::to_allocvec(&q).unwrap()).unwrap();
        let cases = [
            QuantizedFile {
                bits: 1,
                ..clone(&good)
            },
            QuantizedFile {
                dims: 3,
                ..clone(&good)
            },
            QuantizedFile {
                step: vec![-1.0, 1.0],
                ..clone(&good)
            },
            QuantizedFile {
                lo: vec![f32::NAN, 0.0],
                ..clone(&good)
            },
            QuantizedFile {
                codes: vec![0, 1, 2],
                ..clone(&good)
            },
        ];
        for bad in cases {
            let bytes = postcard::to_allocvec(&bad).unwrap();
            assert!(postcard::from_bytes::<Quantized>(&bytes).is_err());
        }
        let bytes = postcard::to_allocvec(&good).unwrap();
        assert_eq!(postcard::from_bytes::<Quantized>(&bytes).unwrap(), q);
    }

    fn clone(f: &QuantizedFile) -> QuantizedFile {
        QuantizedFile {
            bits: f.bits,
            dims: f.dims,
            lo: f.lo.clone(),
            step: f.step.clone(),
            codes: f.codes.clone(),
        }
    }
}
