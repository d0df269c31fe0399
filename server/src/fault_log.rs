//! Damage found while serving is logged once per distinct fault, not once per request that
//! meets it: a damaged tile asked for by every viewer would otherwise flood the log.

use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::sync::{Mutex, OnceLock};

/// Distinct faults remembered; past this the memory starts over (and they log again).
const REMEMBERED: usize = 1 << 16;

/// Logs `message` at error level the first time it is seen.
pub fn error_once(message: &str) {
    if first_time(message) {
        tracing::error!("{message}");
    }
}

/// Logs `message` at warning level the first time it is seen.
pub fn warn_once(message: &str) {
    if first_time(message) {
        tracing::warn!("{message}");
    }
}

fn first_time(message: &str) -> bool {
    static SEEN: OnceLock<Mutex<HashSet<u64>>> = OnceLock::new();
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    message.hash(&mut hasher);
    let key = hasher.finish();
    let Ok(mut seen) = SEEN.get_or_init(Mutex::default).lock() else {
        return true;
    };
    if seen.len() >= REMEMBERED {
        seen.clear();
    }
    seen.insert(key)
}

#[cfg(test)]
mod tests {
    use super::first_time;

    #[test]
    fn a_message_is_new_only_once() {
        assert!(first_time("fault-log test: tile (1, 2) damaged"));
        assert!(!first_time("fault-log test: tile (1, 2) damaged"));
        assert!(first_time("fault-log test: tile (1, 3) damaged"));
    }
}
