//! Parallel loops for the kernels, the classical models and the photo path: rayon's threads natively,
//! in order in wasm, where a worker has one thread. Results never depend on the thread count.

/// Runs `f(i, chunk)` over `dst` cut in chunks of `len` (`i` counting the chunks): on rayon's threads
/// natively, one after the other in wasm.
pub(crate) fn for_each_chunk<D: Send>(
    dst: &mut [D],
    len: usize,
    f: impl Fn(usize, &mut [D]) + Sync + Send,
) {
    let count = dst.len().div_ceil(len);
    map_chunks(dst, len, count, f);
}

/// `f(i, chunk)` for `i` in `0..count`, with `dst` cut in `count` chunks of `len` (empty chunks when `dst`
/// is empty), and the results in order of `i`: on rayon's threads natively, one after the other in wasm.
pub(crate) fn map_chunks<D: Send, R: Send>(
    dst: &mut [D],
    len: usize,
    count: usize,
    f: impl Fn(usize, &mut [D]) -> R + Sync + Send,
) -> Vec<R> {
    if dst.is_empty() {
        return par_map(0..count, |i| f(i, &mut []));
    }
    debug_assert_eq!(dst.len().div_ceil(len), count);
    #[cfg(not(target_arch = "wasm32"))]
    {
        use rayon::prelude::*;
        dst.par_chunks_mut(len)
            .enumerate()
            .map(|(i, d)| f(i, d))
            .collect()
    }
    #[cfg(target_arch = "wasm32")]
    dst.chunks_mut(len)
        .enumerate()
        .map(|(i, d)| f(i, d))
        .collect()
}

/// Maps `f` over a range, in parallel natively and in order in the browser; results keep the range's
/// order.
pub(crate) fn par_map<R: Send>(
    range: std::ops::Range<usize>,
    f: impl Fn(usize) -> R + Sync + Send,
) -> Vec<R> {
    #[cfg(not(target_arch = "wasm32"))]
    {
        use rayon::prelude::*;
        range.into_par_iter().map(f).collect()
    }
    #[cfg(target_arch = "wasm32")]
    range.map(f).collect()
}
