//! Giving memory back to the operating system after a rare, large burst of allocations
//! (loading or importing a slide's annotations). The allocator keeps pages freed by a
//! thread until that thread allocates again, so a server at rest after a load would show
//! them as its size for as long as it stays at rest.
//!
//! How to give memory back depends on the allocator, which the binary chooses: it
//! registers the way with [`set_release`]; without one, [`release_freed`] does nothing.

use std::sync::OnceLock;

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
