//! Giving memory back to the operating system after a large burst of allocations
//! (loading or importing a slide's annotations, a big query answer, an export). The
//! allocator keeps pages freed by a thread until that thread allocates again, so a server
//! at rest after such work would show them as its size for as long as it stays at rest.
//! (Giving every free back at once instead, `MIMALLOC_PURGE_DELAY=0`, made exports about
//! 20% slower; see also [`release_soon`].)
//!
//! How to give memory back depends on the allocator, which the binary chooses: it
//! registers the way with [`set_release`]; without one, [`release_freed`] does nothing.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

static RELEASE: OnceLock<fn()> = OnceLock::new();

/// Sets how the calling thread's freed memory goes back to the system (once).
pub fn set_release(release: fn()) {
    let _ = RELEASE.set(release);
}

/// Gives the calling thread's freed memory back to the system, if the binary said how.
pub fn release_freed() {
    if let Some(release) = RELEASE.get() {
        release();
    }
}

/// Gives back what rayon's threads and the calling thread freed: after work that
/// formatted or parsed on rayon's threads and freed the results elsewhere.
pub fn release_freed_everywhere() {
    rayon::broadcast(|_| release_freed());
    release_freed();
}

/// Bytes of a query answer from which its buffers are given back (soon) once it is sent.
pub const BIG_ANSWER_BYTES: usize = 8 << 20;

/// Whether a [`release_soon`] is pending.
static DUE: AtomicBool = AtomicBool::new(false);

/// Gives back what rayon's threads freed a second from now, once however often it is
/// asked meanwhile: big answers can come many times a second, and giving back after
/// each one cost tile serving a third of its throughput under mixed load.
pub fn release_soon() {
    if RELEASE.get().is_none() || DUE.swap(true, Ordering::AcqRel) {
        return;
    }
    std::thread::spawn(|| {
        std::thread::sleep(Duration::from_secs(1));
        DUE.store(false, Ordering::Release);
        release_freed_everywhere();
    });
}
