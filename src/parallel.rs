//! Parallel loops for the kernels, the classical models and the photo path: rayon's threads natively and
//! in the threaded wasm build (the `threads` feature), in order in the other wasm builds, where a worker
//! has one thread. Results never depend on the thread count.

/// Runs `f(i, chunk)` over `dst` cut in chunks of `len` (`i` counting the chunks): on rayon's threads
/// where there are some, one after the other in a single-threaded wasm build.
pub(crate) fn for_each_chunk<D: Send>(
    dst: &mut [D],
    len: usize,
    f: impl Fn(usize, &mut [D]) + Sync + Send,
) {
    let count = dst.len().div_ceil(len);
    map_chunks(dst, len, count, f);
}

/// `f(i, chunk)` for `i` in `0..count`, with `dst` cut in `count` chunks of `len` (empty chunks when `dst`
/// is empty), and the results in order of `i`: on rayon's threads where there are some, one after the other otherwise.
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
    #[cfg(any(not(target_arch = "wasm32"), feature = "threads"))]
    {
        use rayon::prelude::*;
        dst.par_chunks_mut(len)
            .enumerate()
            .map(|(i, d)| f(i, d))
            .collect()
    }
    #[cfg(all(target_arch = "wasm32", not(feature = "threads")))]
    dst.chunks_mut(len)
        .enumerate()
        .map(|(i, d)| f(i, d))
        .collect()
}

/// Maps `f` over a range, on rayon's threads where there are some and in order otherwise; results keep the range's
/// order.
pub(crate) fn par_map<R: Send>(
    range: std::ops::Range<usize>,
    f: impl Fn(usize) -> R + Sync + Send,
) -> Vec<R> {
    #[cfg(any(not(target_arch = "wasm32"), feature = "threads"))]
    {
        use rayon::prelude::*;
        range.into_par_iter().map(f).collect()
    }
    #[cfg(all(target_arch = "wasm32", not(feature = "threads")))]
    range.map(f).collect()
}

/// How many threads the loops above and flex's kernels run on: rayon's pool where there is one, else 1.
pub(crate) fn threads() -> usize {
    #[cfg(any(not(target_arch = "wasm32"), feature = "threads"))]
    {
        rayon::current_num_threads()
    }
    #[cfg(all(target_arch = "wasm32", not(feature = "threads")))]
    1
}
