//! Where expensive requests run.
//!
//! Expensive requests ([`crate::api::is_heavy`]: calls, gas estimates, log queries, traces) and
//! the members of bulk batches ([`crate::server::BULK_BATCH`]) run whole — parameters decoded,
//! the work done, the answer encoded — on a Tokio runtime of their own whose threads run at a
//! lower scheduling priority ([`NICE`] on Linux), not on the runtime that serves everything
//! else: when the machine is busy, block building, the executors, sending single
//! transactions and cheap reads get the cores first, and a client whose expensive requests
//! keep the machine busy slows itself more than anyone else. On an idle machine the priority
//! changes nothing. The heavy lane ([`crate::api::HeavyLimits`]) bounds how many expensive
//! requests run at once; the runtime has a worker thread for each and one more (for bulk
//! batches), and its blocking pool at most twice as many.
//!
//! An expensive request's work itself (executing, scanning, tracing) runs on the worker thread
//! that runs the request ([`on_background_thread`]; [`crate::api`]'s `blocking`), not on the
//! blocking pool: each hand-over between threads is a wake-up, which on a virtual machine's
//! idle core costs tens of microseconds — as much as a small model's inference. Such a request
//! thus crosses threads twice (to this runtime and back), not four times. It also waits for its
//! turn here, so that a turn given back goes to the next request on the same thread. A worker
//! busy with one request does not hold up another: the lane gives fewer turns than there are
//! workers, and a request waiting for its turn holds no thread. A bulk batch's members other
//! than expensive requests keep using the blocking pool.

use crate::error::RpcError;
use std::future::Future;

/// The nice value of the expensive requests' threads (Linux; 0 is the default, 19 the
/// lowest priority): under contention a thread of nice 10 gets about a tenth of the CPU a
/// thread of nice 0 gets.
pub(crate) const NICE: i32 = 10;

/// The runtime expensive requests run on (see the module docs).
#[derive(Debug)]
pub(crate) struct Background {
    /// `None` if it could not be started: requests then run where they arrive.
    runtime: Option<tokio::runtime::Runtime>,
}

impl Background {
    /// A runtime for `threads` expensive requests at once (at least 1) at [`NICE`]: a worker
    /// for each, and one for bulk batches.
    pub(crate) fn new(threads: usize) -> Self {
        let threads = threads.max(1);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads + 1)
            .max_blocking_threads(2 * threads)
            .thread_name("anh-rpc-heavy")
            .on_thread_start(lower_priority)
            .enable_all()
            .build();
        match runtime {
            Ok(runtime) => Self { runtime: Some(runtime) },
            Err(e) => {
                tracing::warn!("cannot start the runtime for expensive requests: {e}");
                Self { runtime: None }
            }
        }
    }

    /// Runs `future` there and waits for its answer; a panic is an internal error.
    pub(crate) async fn run<T, F>(&self, future: F) -> Result<T, RpcError>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, RpcError>> + Send + 'static,
    {
        match &self.runtime {
            Some(runtime) => runtime.spawn(future).await.map_err(|e| {
                RpcError::internal(format!("an expensive request's work failed: {e}"))
            })?,
            None => future.await,
        }
    }
}

impl Background {
    /// Runs `future` there like [`Background::run`]; if the caller goes away before `started`
    /// is set, the future is cancelled (at its next await), else it runs to its end.
    pub(crate) async fn run_unless_gone<T, F>(
        &self,
        future: F,
        started: std::sync::Arc<std::sync::atomic::AtomicBool>,
    ) -> Result<T, RpcError>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, RpcError>> + Send + 'static,
    {
        /// Cancels the task when dropped before it started.
        struct Cancel {
            task: tokio::task::AbortHandle,
            started: std::sync::Arc<std::sync::atomic::AtomicBool>,
        }
        impl Drop for Cancel {
            fn drop(&mut self) {
                if !self.started.load(std::sync::atomic::Ordering::SeqCst) {
                    self.task.abort();
                }
            }
        }
        match &self.runtime {
            Some(runtime) => {
                let task = runtime.spawn(future);
                let _cancel = Cancel { task: task.abort_handle(), started };
                task.await.map_err(|e| {
                    RpcError::internal(format!("an expensive request's work failed: {e}"))
                })?
            }
            None => future.await,
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        // Dropping a runtime blocks until its threads end, which an async context forbids.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

std::thread_local! {
    /// Whether this thread is one of a [`Background`] runtime's.
    static BACKGROUND_THREAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether the calling thread is one of a [`Background`] runtime's: blocking work may run on
/// it directly (see the module docs).
pub(crate) fn on_background_thread() -> bool {
    BACKGROUND_THREAD.with(std::cell::Cell::get)
}

/// Marks this thread as a [`Background`] runtime's and lowers its scheduling priority to
/// [`NICE`] (Linux: the nice value is per thread).
fn lower_priority() {
    BACKGROUND_THREAD.with(|marked| marked.set(true));
    #[cfg(target_os = "linux")]
    {
        // SAFETY: `setpriority` only reads its integer arguments; `who = 0` is the calling
        // thread.
        let done = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, NICE) };
        if done != 0 {
            tracing::debug!(
                "cannot lower the priority of an expensive requests' thread: {}",
                std::io::Error::last_os_error()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Futures run and answer; a panicking one is an internal error and the runtime lives on;
    /// dropping it inside an async context is fine.
    #[tokio::test]
    async fn runs_and_survives_panics() {
        let background = Background::new(1);
        assert_eq!(background.run(async { Ok(6 * 7) }).await.unwrap(), 42);
        let failed = background.run(async { panic!("boom") as Result<(), RpcError> }).await;
        assert!(failed.unwrap_err().message.contains("failed"));
        let refused = background.run(async { Err::<(), _>(RpcError::invalid_params("no")) });
        assert!(refused.await.unwrap_err().message.contains("no"));
        assert_eq!(background.run(async { Ok(1) }).await.unwrap(), 1, "still running");
        drop(background);
    }

    /// Its threads, workers and blocking ones, run at the lower priority (Linux).
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn threads_are_niced() {
        // SAFETY: `getpriority` only reads its integer arguments.
        let nice = || unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
        let background = Background::new(1);
        let worker = background.run(async move { Ok(nice()) }).await.unwrap();
        let blocking = background
            .run(async move { tokio::task::spawn_blocking(nice).await.map_err(RpcError::internal) })
            .await
            .unwrap();
        assert_eq!((worker, blocking), (NICE, NICE));
        assert_eq!(nice(), 0, "the caller's thread keeps its priority");
        let marked = background.run(async { Ok(on_background_thread()) }).await.unwrap();
        assert!(marked && !on_background_thread(), "only its threads are marked");
    }
}
