//! Data parallelism over the machine's cores without a thread pool: scoped threads, each taking
//! the next item until none is left (so a slow item does not leave a core idle, as fixed
//! chunks would), the calling thread one of them.
//!
//! Used where a block's independent checks are spread out: sender recovery and record
//! verification on import, and an executor's check of a block's jobs.

use std::{
    panic::{AssertUnwindSafe, catch_unwind},
    sync::{
        OnceLock,
        atomic::{AtomicUsize, Ordering},
    },
};

/// The machine's cores, asked once (on Linux, asking reads the cgroup files).
pub fn cores() -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, usize::from))
}

/// `f` of every item, in order, on all cores. An item is `None` when `f` panicked on it (the
/// other items are still computed).
pub fn map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<Option<R>> {
    map_beside(items, f, || ()).0
}

/// [`map`], and `first()`, which the calling thread runs before it joins in on the items (a
/// panic in `first` is raised here, after the other threads finished).
pub fn map_beside<T: Sync, R: Send, F>(
    items: &[T],
    f: impl Fn(&T) -> R + Sync,
    first: impl FnOnce() -> F,
) -> (Vec<Option<R>>, F) {
    let next = AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(item) = items.get(i) else { return done };
            done.push((i, catch_unwind(AssertUnwindSafe(|| f(item))).ok()));
        }
    };
    let helpers = cores().saturating_sub(1).min(items.len());
    let (parts, first) = std::thread::scope(|scope| {
        let helpers: Vec<_> = (0..helpers).map(|_| scope.spawn(work)).collect();
        let first = catch_unwind(AssertUnwindSafe(first));
        let mut parts = vec![work()];
        // `work` catches `f`'s panics: a helper always returns.
        parts.extend(helpers.into_iter().filter_map(|h| h.join().ok()));
        (parts, first)
    });
    let first = first.unwrap_or_else(|panic| std::panic::resume_unwind(panic));
    let mut results: Vec<Option<R>> = items.iter().map(|_| None).collect();
    for (i, result) in parts.into_iter().flatten() {
        results[i] = result;
    }
    (results, first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_item_in_order_and_first_beside() {
        let items: Vec<u64> = (0..1000).collect();
        let (squares, first) = map_beside(&items, |x| x * x, || "first ran");
        assert_eq!(first, "first ran");
        let expected: Vec<Option<u64>> = items.iter().map(|x| Some(x * x)).collect();
        assert_eq!(squares, expected);
        assert_eq!(map(&[] as &[u64], |x| *x), Vec::<Option<u64>>::new());
    }

    #[test]
    fn a_panicking_item_is_none_and_the_rest_are_computed() {
        let items: Vec<u64> = (0..64).collect();
        let results = map(&items, |&x| {
            assert!(x != 17, "item 17 fails");
            x + 1
        });
        for (x, result) in items.iter().zip(&results) {
            assert_eq!(*result, (*x != 17).then_some(x + 1), "item {x}");
        }
    }

    #[test]
    #[should_panic(expected = "first fails")]
    fn a_panic_in_first_is_raised() {
        let fails = true;
        let _ = map_beside(&[1, 2, 3], |x| x + 1, || assert!(!fails, "first fails"));
    }
}
