//! Byte layout of a `.tess` file (see `tiler/FORMAT.md`, which is the normative text).

use crate::codec::Codec;
use crate::grid::LevelSize;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The first 8 bytes of every cache: a high byte, the name, CR LF and Ctrl-Z catch
/// text-mode transfers the way PNG's signature does.
pub const MAGIC: [u8; 8] = [0x89, b'T', b'E', b'S', b'S', b'\r', b'\n', 0x1a];
/// The only layout version written and read.
pub const VERSION: u32 = 1;
/// Header size; tile payloads start right after it.
pub const HEADER_LEN: u64 = 64;
/// Bytes per directory entry: offset u64, length u32, crc32 u32.
pub const ENTRY_LEN: usize = 16;
/// Value of `format` in the metadata.
pub const FORMAT_NAME: &str = "tessera-cache";

/// The fixed-size header at offset 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Header {
    pub metadata_offset: u64,
    pub metadata_len: u64,
    pub directory_offset: u64,
    pub directory_len: u64,
    pub tile_count: u64,
    pub metadata_crc: u32,
}

impl Header {
    #[must_use]
    pub fn to_bytes(&self) -> [u8; HEADER_LEN as usize] {
        let mut b = [0u8; HEADER_LEN as usize];
        b[0..8].copy_from_slice(&MAGIC);
        b[8..12].copy_from_slice(&VERSION.to_le_bytes());
        b[12..16].copy_from_slice(&(HEADER_LEN as u32).to_le_bytes());
        b[16..24].copy_from_slice(&self.metadata_offset.to_le_bytes());
        b[24..32].copy_from_slice(&self.metadata_len.to_le_bytes());
        b[32..40].copy_from_slice(&self.directory_offset.to_le_bytes());
        b[40..48].copy_from_slice(&self.directory_len.to_le_bytes());
        b[48..56].copy_from_slice(&self.tile_count.to_le_bytes());
        b[56..60].copy_from_slice(&self.metadata_crc.to_le_bytes());
        let crc = crc32fast::hash(&b[0..60]);
        b[60..64].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Parses and checks a header; the error says what is wrong with it.
    pub fn parse(b: &[u8]) -> Result<Self, String> {
        if b.len() < HEADER_LEN as usize {
            return Err(format!(
                "file is {} bytes, shorter than the {HEADER_LEN}-byte header",
                b.len()
            ));
        }
        if b[0..8] != MAGIC {
            return Err("not a Tessera cache (wrong magic bytes)".into());
        }
        let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let u64_at = |i: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[i..i + 8]);
            u64::from_le_bytes(a)
        };
        let version = u32_at(8);
        if version != VERSION {
            return Err(format!(
                "cache format version {version} is not supported (this build reads {VERSION})"
            ));
        }
        if u32_at(12) != HEADER_LEN as u32 {
            return Err(format!("header length {} is not {HEADER_LEN}", u32_at(12)));
        }
        if crc32fast::hash(&b[0..60]) != u32_at(60) {
            return Err("header checksum does not match".into());
        }
        Ok(Self {
            metadata_offset: u64_at(16),
            metadata_len: u64_at(24),
            directory_offset: u64_at(32),
            directory_len: u64_at(40),
            tile_count: u64_at(48),
            metadata_crc: u32_at(56),
        })
    }
}

/// Where one tile's payload lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Entry {
    pub offset: u64,
    pub len: u32,
    pub crc: u32,
}

impl Entry {
    pub fn write_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.offset.to_le_bytes());
        out.extend_from_slice(&self.len.to_le_bytes());
        out.extend_from_slice(&self.crc.to_le_bytes());
    }

    #[must_use]
    pub fn read_from(b: &[u8]) -> Self {
        let mut o = [0u8; 8];
        o.copy_from_slice(&b[0..8]);
        Self {
            offset: u64::from_le_bytes(o),
            len: u32::from_le_bytes([b[8], b[9], b[10], b[11]]),
            crc: u32::from_le_bytes([b[12], b[13], b[14], b[15]]),
        }
    }
}

/// What the source of a cache was, without naming it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceDigest {
    /// sha256 of the slide's main file, lowercase hex.
    pub sha256: String,
    /// Size of that file in bytes.
    pub bytes: u64,
    /// Which reader decoded it: `tiff`, `openslide` or `image`.
    pub reader: String,
}

/// The JSON metadata block. Unknown fields are ignored by readers, so it can grow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    pub format: String,
    pub format_version: u32,
    pub width: u32,
    pub height: u32,
    pub tile_size: u32,
    pub levels: Vec<LevelSize>,
    pub codec: Codec,
    /// zstd level, or JPEG/WebP quality.
    pub quality: u8,
    /// Prediction filter of zstd payloads (`sg-up`), absent for other codecs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    pub mpp_x: Option<f64>,
    pub mpp_y: Option<f64>,
    pub objective_power: Option<f64>,
    pub vendor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scanner_model: Option<String>,
    /// The slide's properties that [`crate::deid::classify`] knows to be safe.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub properties: BTreeMap<String, String>,
    /// Level-0 position of the cache's top-left pixel in the source slide (MRXS bounds).
    #[serde(default)]
    pub origin: [u64; 2],
    /// Colour transparent and out-of-slide pixels were flattened onto.
    pub background: [u8; 3],
    pub source: SourceDigest,
    pub tile_count: u64,
    pub unique_tile_count: u64,
    /// The program and version that wrote the cache.
    pub tool: String,
    /// Fields this version does not know (another writer's). Readers ignore them; they
    /// are kept only so `tessera deid-check` can report them. The slide writer adds none;
    /// a heatmap cache (`tessera heatmap import`) adds its `"heatmap"` description here.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}
