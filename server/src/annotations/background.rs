//! Threads for work nobody waits on interactively: an import's parsing and splitting, and
//! the in-memory index it builds. They run at a lower CPU priority (nice 10), so that a
//! million-cell import takes the cores queries leave idle, and a viewport on another slide
//! is not queued behind it (on two cores it was: its p99 tripled while an import ran).
//! With nothing else to do, such a thread still gets a whole core.

use std::sync::OnceLock;

/// The nice value of background threads (0 is normal, 19 the lowest).
const NICE: i32 = 10;

/// Lowers the calling thread's CPU priority to [`NICE`], unless it is lower already (a
/// server started with `nice`). On Linux the nice value belongs to a thread, so this
/// leaves the rest of the process as it is. Best effort: a system that refuses only
/// leaves the thread at its priority.
pub fn lower_this_thread() {
    if rustix::process::getpriority_process(None).is_ok_and(|now| now < NICE) {
        let _ = rustix::process::setpriority_process(None, NICE);
    }
}

/// A rayon pool of low-priority threads, one a core, for imports to parse on.
pub fn pool() -> &'static rayon::ThreadPool {
    static POOL: OnceLock<rayon::ThreadPool> = OnceLock::new();
    POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .thread_name(|i| format!("tessera-import-{i}"))
            .start_handler(|_| lower_this_thread())
            .build()
            .unwrap_or_else(|e| panic!("cannot start the import threads: {e}"))
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn pool_threads_run_at_a_lower_priority_and_the_caller_does_not() {
        let before = rustix::process::getpriority_process(None).expect("getpriority");
        let inside = super::pool().install(|| rustix::process::getpriority_process(None));
        assert_eq!(inside.expect("getpriority"), before.max(super::NICE));
        assert_eq!(
            rustix::process::getpriority_process(None).expect("getpriority"),
            before
        );
    }
}
