//! UIDs of a cached slide's DICOM presentation, derived from what the cache holds so they
//! are the same on every server and after every restart, and change when the pixels do.
//!
//! Each UID is `2.25.<decimal>` (ISO/IEC 9834-8: a UUID as one integer), the UUID being
//! the first 128 bits of a SHA-256 over a purpose label and the inputs, with the version
//! and variant bits of a version-8 (custom) UUID set. Nothing identifying goes in: the
//! slide id and the source file's digest are hashed, never shown.

use sha2::{Digest, Sha256};
use tiler::Metadata;

/// The root of every UID Tessera makes: UUID-derived UIDs, which need no registration.
pub const UID_ROOT: &str = "2.25";

/// A `2.25.` UID from the SHA-256 of `label` and `parts` (each length-prefixed, so no two
/// different inputs hash the same bytes).
#[must_use]
pub fn derive(label: &str, parts: &[&[u8]]) -> String {
    let mut hash = Sha256::new();
    for part in std::iter::once(label.as_bytes()).chain(parts.iter().copied()) {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part);
    }
    let digest = hash.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    // RFC 9562 version 8 and variant 10xx: a well-formed UUID.
    bytes[6] = (bytes[6] & 0x0f) | 0x80;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    format!("{UID_ROOT}.{}", u128::from_be_bytes(bytes))
}

/// The UIDs of one slide: one study, one series, one instance per pyramid level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlideUids {
    pub study: String,
    pub series: String,
    pub frame_of_reference: String,
    pub specimen: String,
    /// SOP Instance UIDs by cache level (0 = full resolution).
    instances: Vec<String>,
}

impl SlideUids {
    /// The UIDs of slide `id` whose cache metadata is `m`. The study and frame of
    /// reference follow the slide (its id and source file); the series and instances also
    /// follow how it was tiled (tile size, levels, codec), as their frames do.
    #[must_use]
    pub fn new(id: &str, m: &Metadata) -> Self {
        let slide = [id.as_bytes(), m.source.sha256.as_bytes()];
        let study = derive("study", &slide);
        let tiling = format!(
            "{}x{} tile {} levels {} codec {} quality {}",
            m.width,
            m.height,
            m.tile_size,
            m.levels.len(),
            m.codec.name(),
            m.quality
        );
        let series = derive("series", &[study.as_bytes(), tiling.as_bytes()]);
        let instances = (0..m.levels.len() as u32)
            .map(|level| derive("instance", &[series.as_bytes(), &level.to_be_bytes()]))
            .collect();
        Self {
            frame_of_reference: derive("frame of reference", &[study.as_bytes()]),
            specimen: derive("specimen", &[study.as_bytes()]),
            study,
            series,
            instances,
        }
    }

    /// The SOP Instance UID of cache level `level`.
    #[must_use]
    pub fn instance(&self, level: u32) -> Option<&str> {
        self.instances.get(level as usize).map(String::as_str)
    }

    /// The cache level whose SOP Instance UID is `uid`.
    #[must_use]
    pub fn level_of(&self, uid: &str) -> Option<u32> {
        self.instances
            .iter()
            .position(|u| u == uid)
            .map(|i| i as u32)
    }

    /// Every SOP Instance UID, by level.
    #[must_use]
    pub fn instances(&self) -> &[String] {
        &self.instances
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dicomweb_uids_are_valid_and_stable() {
        let a = derive("study", &[b"s", b"abc"]);
        assert_eq!(a, derive("study", &[b"s", b"abc"]));
        assert_ne!(
            a,
            derive("study", &[b"sa", b"bc"]),
            "parts are length-prefixed"
        );
        assert_ne!(a, derive("series", &[b"s", b"abc"]));
        // PS3.5 9.1: at most 64 characters, digits and dots, no leading zero in a component.
        assert!(a.len() <= 64, "{a}");
        assert!(a.starts_with("2.25."));
        let number = &a[5..];
        assert!(number.bytes().all(|b| b.is_ascii_digit()) && !number.starts_with('0'));
    }
}
