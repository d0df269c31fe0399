//! Pseudonymous slide ids: derived from the file's bytes, never from its name.

use crate::error::{Result, TilerError};
use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use std::io::Read;
use std::path::Path;

/// Every pseudonymous id starts with this.
pub const PSEUDONYM_PREFIX: &str = "slide-";

/// Bytes of the file's start that go into the pseudonym.
const HEAD_BYTES: u64 = 1 << 20;

/// `slide-` and the first 12 hex digits of SHA-256 over the file's first MiB (the whole
/// file when smaller) followed by its size in bytes as a little-endian `u64`. The same
/// file gives the same id wherever it lies and whatever it is called. A directory (a DICOM
/// series) is named by its largest file, which holds the series' largest level.
pub fn pseudonymous_id(path: &Path) -> Result<String> {
    if path.is_dir() {
        return pseudonymous_id(&largest_file(path)?);
    }
    let file = std::fs::File::open(path).map_err(|e| TilerError::io(path, e))?;
    let size = file.metadata().map_err(|e| TilerError::io(path, e))?.len();
    let mut head = Vec::with_capacity(HEAD_BYTES.min(size) as usize);
    file.take(HEAD_BYTES)
        .read_to_end(&mut head)
        .map_err(|e| TilerError::io(path, e))?;
    let mut hasher = Sha256::new();
    hasher.update(&head);
    hasher.update(size.to_le_bytes());
    let digest = hasher.finalize();
    let mut id = PSEUDONYM_PREFIX.to_string();
    for b in &digest[..6] {
        // Writing into a String cannot fail.
        let _ = write!(id, "{b:02x}");
    }
    Ok(id)
}

fn largest_file(dir: &Path) -> Result<std::path::PathBuf> {
    let mut largest: Option<(u64, std::path::PathBuf)> = None;
    for entry in std::fs::read_dir(dir).map_err(|e| TilerError::io(dir, e))? {
        let entry = entry.map_err(|e| TilerError::io(dir, e))?;
        let meta = entry
            .metadata()
            .map_err(|e| TilerError::io(&entry.path(), e))?;
        let candidate = (meta.len(), entry.path());
        if meta.is_file() && largest.as_ref().is_none_or(|l| candidate > *l) {
            largest = Some(candidate);
        }
    }
    largest
        .map(|(_, path)| path)
        .ok_or_else(|| TilerError::bad_file(dir, "an empty directory"))
}

/// True for ids [`pseudonymous_id`] makes: `slide-` and 12 lowercase hex digits.
#[must_use]
pub fn is_pseudonymous_id(id: &str) -> bool {
    id.strip_prefix(PSEUDONYM_PREFIX).is_some_and(|hex| {
        hex.len() == 12
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

#[cfg(test)]
mod tests {
    use sha2::Digest;

    #[test]
    fn depends_on_bytes_and_size_only() {
        let dir = tempfile::tempdir().expect("temp dir");
        let a = dir.path().join("Doe-Jane-1234.svs");
        let b = dir.path().join("other.svs");
        std::fs::write(&a, b"same bytes").expect("write");
        std::fs::write(&b, b"same bytes").expect("write");
        let id = super::pseudonymous_id(&a).expect("id");
        assert_eq!(id, super::pseudonymous_id(&b).expect("id"));
        assert!(super::is_pseudonymous_id(&id), "{id}");
        // sha256(b"same bytes" ++ 10u64 little-endian), first 6 bytes.
        let mut h = sha2::Sha256::new();
        h.update(b"same bytes");
        h.update(10u64.to_le_bytes());
        let expected = h.finalize();
        let e = &expected[..6];
        assert_eq!(
            id,
            format!(
                "slide-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
                e[0], e[1], e[2], e[3], e[4], e[5]
            )
        );
        // Bytes past the first MiB do not count; the size does.
        let big = dir.path().join("big.svs");
        let mut bytes = vec![7u8; (1 << 20) + 10];
        std::fs::write(&big, &bytes).expect("write");
        let first = super::pseudonymous_id(&big).expect("id");
        bytes[(1 << 20) + 5] = 8;
        std::fs::write(&big, &bytes).expect("write");
        assert_eq!(super::pseudonymous_id(&big).expect("id"), first);
        bytes.push(0);
        std::fs::write(&big, &bytes).expect("write");
        assert_ne!(super::pseudonymous_id(&big).expect("id"), first);
        assert!(!super::is_pseudonymous_id("slide-ABCDEF123456"));
        assert!(!super::is_pseudonymous_id("slide-12345"));
    }
}
