//! Deadlines on ONNX Runtime runs: one watchdog thread per [`crate::OrtRuntime`] terminates a
//! run (`RunOptions::terminate`, which ONNX Runtime checks between the graph's nodes) once it
//! passes its deadline, so that no model — a huge batch, a data-dependent `Loop` — can hold a
//! worker and its permit for ever. A terminated run fails with
//! [`crate::RuntimeError::Deadline`]: a property of this node's clock, never a job outcome the
//! committee could sign.

use ort::session::RunOptions;
use parking_lot::{Condvar, Mutex};
use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

/// A run being watched.
struct Watched {
    id: u64,
    deadline: Instant,
    options: Arc<RunOptions>,
    fired: Arc<AtomicBool>,
}

#[derive(Default)]
struct Shared {
    runs: Mutex<Runs>,
    changed: Condvar,
    next_id: AtomicU64,
    running: AtomicBool,
}

/// The runs being watched, and when the watchdog next looks at them.
#[derive(Default)]
struct Runs {
    watched: Vec<Watched>,
    /// When the sleeping watchdog wakes up on its own; `None` while it is not asleep. A run
    /// whose deadline is later needs no wake-up call: waking the watchdog on every run cost a
    /// context switch per inference, a tenth of a small model's `eth_call`.
    wake_at: Option<Instant>,
}

/// Terminates runs past their deadline (see the module docs).
pub(crate) struct Watchdog {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Watchdog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watchdog").field("watched", &self.shared.runs.lock().watched.len()).finish()
    }
}

/// Watches one run until dropped.
pub(crate) struct Guard {
    id: u64,
    shared: Arc<Shared>,
    fired: Arc<AtomicBool>,
}

impl Guard {
    /// Whether the watchdog terminated the run.
    pub(crate) fn fired(&self) -> bool {
        self.fired.load(Ordering::SeqCst)
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.shared.runs.lock().watched.retain(|w| w.id != self.id);
    }
}

impl Watchdog {
    /// A watchdog; its thread starts with the first run it watches.
    pub(crate) fn new() -> Self {
        Self { shared: Arc::default() }
    }

    /// Watches the run of `options` for `limit`: past it, the run is terminated (at once if
    /// `limit` is zero).
    pub(crate) fn watch(&self, options: Arc<RunOptions>, limit: Duration) -> Guard {
        let fired = Arc::new(AtomicBool::new(false));
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        let guard = Guard { id, shared: self.shared.clone(), fired: fired.clone() };
        if limit.is_zero() {
            fired.store(true, Ordering::SeqCst);
            let _ = options.terminate();
            return guard;
        }
        let deadline = Instant::now() + limit;
        let mut runs = self.shared.runs.lock();
        runs.watched.push(Watched { id, deadline, options, fired });
        if runs.wake_at.is_none_or(|wake_at| deadline < wake_at) {
            self.shared.changed.notify_one();
        }
        drop(runs);
        if !self.shared.running.swap(true, Ordering::SeqCst) {
            let shared = self.shared.clone();
            let spawned = std::thread::Builder::new()
                .name("anh-ort-watchdog".into())
                .spawn(move || watch_loop(&shared));
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start the ONNX Runtime watchdog: runs have no deadline");
                self.shared.running.store(false, Ordering::SeqCst);
            }
        }
        guard
    }
}

/// Terminates expired runs; sleeps until the next deadline (at most a second, so that it
/// notices when its runtime is gone and ends).
fn watch_loop(shared: &Arc<Shared>) {
    let mut runs = shared.runs.lock();
    loop {
        let now = Instant::now();
        runs.wake_at = None;
        runs.watched.retain(|w| {
            if w.deadline > now {
                return true;
            }
            w.fired.store(true, Ordering::SeqCst);
            if let Err(e) = w.options.terminate() {
                tracing::error!(error = %e, "cannot terminate an ONNX Runtime run");
            }
            false
        });
        if Arc::strong_count(shared) == 1 {
            shared.running.store(false, Ordering::SeqCst);
            return;
        }
        let next = runs.watched.iter().map(|w| w.deadline).min();
        let wait = next
            .map_or(Duration::from_secs(1), |d| d.saturating_duration_since(now))
            .min(Duration::from_secs(1));
        runs.wake_at = Some(now + wait);
        shared.changed.wait_for(&mut runs, wait);
    }
}
