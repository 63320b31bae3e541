//! Parallel loops for the kernels, the classical models and the photo path: rayon's threads natively and
//! in the threaded wasm build (the `threads` feature), in order in the other wasm builds, where a worker
//! has one thread, and inside `in_order`. Results never depend on the thread count.

/// Runs `f(i, chunk)` over `dst` cut in chunks of `len` (`i` counting the chunks): on rayon's threads
/// where there are some, one after the other in a single-threaded wasm build and inside `in_order`.
pub(crate) fn for_each_chunk<D: Send>(
    dst: &mut [D],
    len: usize,
    f: impl Fn(usize, &mut [D]) + Sync + Send,
) {
    let count = dst.len().div_ceil(len);
    map_chunks(dst, len, count, f);
}

/// `f(i, chunk)` for `i` in `0..count`, with `dst` cut in `count` chunks of `len` (empty chunks when `dst`
/// is empty), and the results in order of `i`: on rayon's threads where there are some, one after the
/// other otherwise and inside `in_order`.
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
    if !in_order_here() {
        use rayon::prelude::*;
        return dst
            .par_chunks_mut(len)
            .enumerate()
            .map(|(i, d)| f(i, d))
            .collect();
    }
    dst.chunks_mut(len)
        .enumerate()
        .map(|(i, d)| f(i, d))
        .collect()
}

/// `vec![T::default(); n]` cut in chunks of `len`, each then written by `f(i, chunk)` as
/// [`map_chunks`] does (`count` = `n.div_ceil(len)` chunks, the results in order), except that each
/// chunk is set to `T::default()` on the thread that then runs `f` on it, just before.
///
/// Why: the kernels' outputs and gradients are megabytes, and the allocator hands them memory that the
/// previous batch's tensors freed, which `vec![0.0; n]` clears with one thread's `memset` of the whole
/// buffer while the pool's other threads wait for the loop to start. Cleared chunk by chunk, the work is
/// shared, and each chunk is still in cache when it is written (on 2 threads a ResNet training batch
/// about 8% faster, the shipped CNN recipe's 10–15%; on one thread under 2%: BENCHMARKS.md). The result
/// is the same vector either way.
#[allow(unsafe_code)] // lib.rs names the crate's unsafe code
pub(crate) fn map_zeroed_chunks<T: Copy + Default + Send, R: Send>(
    n: usize,
    len: usize,
    count: usize,
    f: impl Fn(usize, &mut [T]) -> R + Sync + Send,
) -> (Vec<T>, Vec<R>) {
    use std::mem::MaybeUninit;
    let mut out: Vec<T> = Vec::with_capacity(n);
    let results = map_chunks(
        &mut out.spare_capacity_mut()[..n],
        len,
        count,
        |i, chunk| {
            for slot in chunk.iter_mut() {
                slot.write(T::default());
            }
            // SAFETY: every element of `chunk` was written just above, and `MaybeUninit<T>` has the layout
            // of `T`.
            let chunk = unsafe { &mut *(chunk as *mut [MaybeUninit<T>] as *mut [T]) };
            f(i, chunk)
        },
    );
    // SAFETY: `map_chunks` returned, so it ran the closure on every chunk of the first `n` elements (its
    // chunks cover the slice), and each chunk was written in full before `f` saw it. A panic in `f`
    // unwinds past this point and the vector is dropped empty.
    unsafe { out.set_len(n) };
    (out, results)
}

/// [`map_zeroed_chunks`] without results: `vec![T::default(); n]` written by `f(i, chunk)` over chunks of
/// `len`, each chunk cleared on the thread that writes it.
pub(crate) fn zeroed_by_chunks<T: Copy + Default + Send>(
    n: usize,
    len: usize,
    f: impl Fn(usize, &mut [T]) + Sync + Send,
) -> Vec<T> {
    map_zeroed_chunks(n, len, n.div_ceil(len), f).0
}

/// Maps `f` over a range, on rayon's threads where there are some, in order otherwise and inside
/// `in_order`; results keep the range's order.
pub(crate) fn par_map<R: Send>(
    range: std::ops::Range<usize>,
    f: impl Fn(usize) -> R + Sync + Send,
) -> Vec<R> {
    #[cfg(any(not(target_arch = "wasm32"), feature = "threads"))]
    if !in_order_here() {
        use rayon::prelude::*;
        return range.into_par_iter().map(f).collect();
    }
    range.map(f).collect()
}

#[cfg(any(not(target_arch = "wasm32"), feature = "threads"))]
thread_local! {
    /// Set while `in_order` runs its work on this thread.
    static IN_ORDER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

#[cfg(any(not(target_arch = "wasm32"), feature = "threads"))]
fn in_order_here() -> bool {
    IN_ORDER.with(|flag| flag.get())
}

/// Runs `f` on the calling thread with every loop above running in order there, none on rayon's
/// threads: for work too small to repay waking the pool, such as one image's inference, where each of a
/// few dozen loops would hand a few microseconds of work to other threads and wait for it. The results
/// are the same either way (the loops' results never depend on the thread count).
pub(crate) fn in_order<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(any(not(target_arch = "wasm32"), feature = "threads"))]
    {
        /// Puts the flag back as it was, also when `f` panics.
        struct Restore(bool);
        impl Drop for Restore {
            fn drop(&mut self) {
                IN_ORDER.with(|flag| flag.set(self.0));
            }
        }
        let _restore = Restore(IN_ORDER.with(|flag| flag.replace(true)));
        f()
    }
    #[cfg(all(target_arch = "wasm32", not(feature = "threads")))]
    f()
}

/// Runs `f` on the first of rayon's threads where there is a pool (natively, and in the threaded wasm
/// build), the calling thread waiting for it; directly otherwise, and directly on a thread of a pool.
///
/// Why: a parallel loop started from outside the pool hands all of its work to the pool's threads, which
/// have usually gone to sleep since the last loop, and then waits to be woken itself: two hand-overs per
/// loop, and a training batch runs hundreds of loops. Started from a pool thread, a loop runs its first
/// part on that thread at once while the other threads wake and take the rest.
///
/// Why always the same thread: burn's batch norm keeps its running statistics per thread (`RunningState`,
/// a map from thread to value, averaged when read back), so the batches of one training must all update
/// them from one thread, as they did from the caller's.
///
/// For a whole CPU training or inference batch; not for work that awaits the browser (a WebGPU readback).
pub(crate) fn on_pool_thread<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    #[cfg(any(not(target_arch = "wasm32"), feature = "threads"))]
    {
        if rayon::current_thread_index().is_some() {
            return f();
        }
        // Every thread of the pool runs the closure; the first one does the work, the others return at
        // once and are awake to take part in its loops.
        let work = std::sync::Mutex::new(Some(f));
        let mut results = rayon::broadcast(|context| {
            if context.index() != 0 {
                return None;
            }
            let f = work.lock().unwrap_or_else(|e| e.into_inner()).take();
            f.map(|f| f())
        });
        results
            .swap_remove(0)
            .expect("the pool's first thread ran the work")
    }
    #[cfg(all(target_arch = "wasm32", not(feature = "threads")))]
    f()
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

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::{
        in_order, map_chunks, map_zeroed_chunks, on_pool_thread, par_map, zeroed_by_chunks,
    };
    use std::collections::HashSet;
    use std::sync::Mutex;
    use std::time::{Duration, Instant};

    /// How many threads ran the two tasks of a `par_map`, and those of a `map_chunks`: each task waits
    /// (all of them together up to `patience`) until a second thread has taken the other.
    fn threads_in_loops(patience: Duration) -> [usize; 2] {
        let deadline = Instant::now() + patience;
        let count = |run: &dyn Fn(&(dyn Fn() + Sync))| {
            let seen = Mutex::new(HashSet::new());
            let task = || {
                seen.lock().unwrap().insert(std::thread::current().id());
                while seen.lock().unwrap().len() < 2 && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(1));
                }
            };
            run(&task);
            seen.into_inner().unwrap().len()
        };
        [
            count(&|task| {
                par_map(0..2, |_| task());
            }),
            count(&|task| {
                map_chunks(&mut [0u8; 2], 1, 2, |_, _| task());
            }),
        ]
    }

    #[test]
    fn in_order_runs_every_loop_on_the_calling_thread_and_then_lets_go() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .expect("a pool of 2");
        pool.install(|| {
            // Inside: both tasks of each loop on this thread, in order.
            let inside = in_order(|| threads_in_loops(Duration::from_millis(200)));
            assert_eq!(inside, [1, 1]);
            assert_eq!(in_order(|| par_map(0..5, |i| i * i)), [0, 1, 4, 9, 16]);
            // After it, and after a panic inside it, the loops share the pool's two threads again.
            assert_eq!(threads_in_loops(Duration::from_secs(20)), [2, 2]);
            let panicked = std::panic::catch_unwind(|| in_order(|| panic!("inside")));
            assert!(panicked.is_err());
            assert_eq!(threads_in_loops(Duration::from_secs(20)), [2, 2]);
        });
    }

    #[test]
    fn on_pool_thread_runs_the_work_on_the_first_thread_of_the_pool() {
        // The test's own thread is not one of rayon's.
        assert_eq!(rayon::current_thread_index(), None);
        for k in 0..50 {
            let (index, value) = on_pool_thread(|| (rayon::current_thread_index(), k));
            assert_eq!(index, Some(0), "call {k}");
            assert_eq!(value, k);
        }
        // From a thread of a pool, the work stays on that thread of that pool.
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .expect("a pool of 3");
        let (outer, inner, threads) = pool.install(|| {
            let outer = rayon::current_thread_index();
            on_pool_thread(|| (outer, rayon::current_thread_index(), super::threads()))
        });
        assert!(outer.is_some());
        assert_eq!(outer, inner);
        assert_eq!(threads, 3);
    }

    #[test]
    fn zeroed_chunks_hand_each_chunk_over_cleared_and_cover_the_buffer() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .expect("a pool of 2");
        for (n, len) in [
            (0usize, 4usize),
            (1, 4),
            (10_000, 1_000),
            (10_001, 1_000),
            (10_000, 3),
            (7, 10),
        ] {
            let count = n.div_ceil(len);
            for ordered in [false, true] {
                let run = || {
                    // Freed memory full of NaN, which the allocator is likely to hand back below: each
                    // chunk must arrive cleared all the same.
                    drop(std::hint::black_box(vec![f32::NAN; n]));
                    map_zeroed_chunks(n, len, count, |i, chunk: &mut [f32]| {
                        let cleared = chunk.iter().all(|&v| v.to_bits() == 0);
                        // Write some of the chunk only: the rest must stay as cleared.
                        for (j, v) in chunk.iter_mut().enumerate().step_by(2) {
                            *v = (i * len + j) as f32;
                        }
                        (i, chunk.len(), cleared)
                    })
                };
                let (values, results) =
                    pool.install(|| if ordered { in_order(run) } else { run() });
                let expected: Vec<f32> = (0..n)
                    .map(|k| if (k % len) % 2 == 0 { k as f32 } else { 0.0 })
                    .collect();
                assert_eq!(values.len(), n);
                assert!(
                    values
                        .iter()
                        .zip(&expected)
                        .all(|(a, b)| a.to_bits() == b.to_bits()),
                    "n {n}, len {len}"
                );
                let lens: Vec<usize> = (0..count).map(|i| len.min(n - i * len)).collect();
                assert_eq!(
                    results,
                    (0..count).map(|i| (i, lens[i], true)).collect::<Vec<_>>()
                );
            }
        }
        // The plain form, and a panic inside: it unwinds out, nothing handed back.
        assert_eq!(
            zeroed_by_chunks(5, 2, |i, c: &mut [u8]| c[0] = i as u8 + 1),
            [1, 0, 2, 0, 3]
        );
        let panicked = std::panic::catch_unwind(|| {
            zeroed_by_chunks(100, 10, |i, _: &mut [f32]| assert!(i != 5, "chunk 5"))
        });
        assert!(panicked.is_err());
    }
}
