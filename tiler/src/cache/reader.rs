//! Reads a cache: header and directory at open, then any tile by one positional read.

use super::format::{ENTRY_LEN, Entry, FORMAT_NAME, HEADER_LEN, Header, Metadata};
use crate::codec;
use crate::error::{Result, TilerError};
use crate::grid::{Grid, TileCoord};
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Sizes a reader accepts before allocating; caches past them are refused.
#[derive(Debug, Clone, Copy)]
pub struct ReaderLimits {
    pub max_metadata_bytes: u64,
    pub max_tiles: u64,
    /// Bytes of the directory, compressed as stored and decompressed (16 per tile).
    pub max_directory_bytes: u64,
    pub max_tile_payload: u32,
}

impl Default for ReaderLimits {
    fn default() -> Self {
        Self {
            max_metadata_bytes: 16 << 20,
            max_tiles: 1 << 26,
            // 16 Mi tiles: four times the tiles of a 20-gigapixel slide cut at 64 px.
            max_directory_bytes: 256 << 20,
            max_tile_payload: 64 << 20,
        }
    }
}

/// A cache's bytes somewhere other than a local file (an object in S3-compatible storage):
/// the one thing a reader needs is to fill a buffer from an offset. Called from any thread,
/// never from an async task.
pub trait RangeRead: Send + Sync + std::fmt::Debug {
    /// Fills `buf` from `offset`; reading past the end is an `UnexpectedEof` error.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
}

/// Where a cache's bytes come from: a file read positionally, bytes already in memory
/// (tests and fuzzing), or ranges of a remote object.
#[derive(Debug)]
enum Backend {
    File(File),
    Memory(Vec<u8>),
    Ranges(Box<dyn RangeRead>),
}

impl Backend {
    /// Fills `buf` from `offset`; reading past the end is an `UnexpectedEof` error.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        match self {
            Self::File(file) => file.read_exact_at(buf, offset),
            Self::Memory(bytes) => {
                let src = usize::try_from(offset)
                    .ok()
                    .and_then(|start| bytes.get(start..start.checked_add(buf.len())?))
                    .ok_or_else(|| {
                        io::Error::new(io::ErrorKind::UnexpectedEof, "read past the end")
                    })?;
                buf.copy_from_slice(src);
                Ok(())
            }
            Self::Ranges(source) => source.read_exact_at(buf, offset),
        }
    }
}

/// An open `.tess` file. Cheap to share between threads: reads are positional.
#[derive(Debug)]
pub struct CacheReader {
    path: PathBuf,
    file: Backend,
    file_len: u64,
    metadata: Metadata,
    grid: Grid,
    entries: Vec<Entry>,
}

/// A decoded tile: packed RGB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tile {
    pub width: u32,
    pub height: u32,
    pub rgb: Vec<u8>,
}

impl CacheReader {
    /// Opens and checks a cache with the default limits.
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_with_limits(path, ReaderLimits::default())
    }

    /// Opens a cache, checking header, metadata and directory against `limits`.
    pub fn open_with_limits(path: &Path, limits: ReaderLimits) -> Result<Self> {
        let bad = |reason: String| TilerError::bad_file(path, reason);
        let file = File::open(path).map_err(|e| TilerError::io(path, e))?;
        let meta = file.metadata().map_err(|e| TilerError::io(path, e))?;
        if meta.is_dir() {
            return Err(bad("is a directory, not a cache file".into()));
        }
        Self::from_backend(path, Backend::File(file), meta.len(), limits)
    }

    /// Opens a cache held in memory, with the same checks as [`CacheReader::open_with_limits`];
    /// `label` stands for the file in errors and [`CacheReader::path`].
    pub fn from_bytes(label: &Path, bytes: Vec<u8>, limits: ReaderLimits) -> Result<Self> {
        let len = bytes.len() as u64;
        Self::from_backend(label, Backend::Memory(bytes), len, limits)
    }

    /// Opens a cache of `len` bytes read by ranges from `source`, with the same checks as
    /// [`CacheReader::open_with_limits`]: header, metadata and directory are read now (three
    /// reads), each tile later by one read. `label` (`s3://bucket/key`) stands for the file
    /// in errors and [`CacheReader::path`].
    pub fn from_ranges(
        label: &Path,
        source: Box<dyn RangeRead>,
        len: u64,
        limits: ReaderLimits,
    ) -> Result<Self> {
        Self::from_backend(label, Backend::Ranges(source), len, limits)
    }

    fn from_backend(
        path: &Path,
        file: Backend,
        file_len: u64,
        limits: ReaderLimits,
    ) -> Result<Self> {
        let bad = |reason: String| TilerError::bad_file(path, reason);
        let mut head = vec![0u8; HEADER_LEN.min(file_len) as usize];
        file.read_exact_at(&mut head, 0)
            .map_err(|e| TilerError::io(path, e))?;
        let header = Header::parse(&head).map_err(bad)?;
        let end = |offset: u64, len: u64| offset.checked_add(len).filter(|&e| e <= file_len);
        if header.metadata_len > limits.max_metadata_bytes {
            return Err(bad(format!(
                "metadata of {} bytes is over the {}-byte limit",
                header.metadata_len, limits.max_metadata_bytes
            )));
        }
        if end(header.metadata_offset, header.metadata_len).is_none()
            || end(header.directory_offset, header.directory_len).is_none()
            || header.metadata_offset < HEADER_LEN
        {
            return Err(bad(format!(
                "metadata or directory lies past the end of the {file_len}-byte file (truncated?)"
            )));
        }
        let mut json = vec![0u8; header.metadata_len as usize];
        file.read_exact_at(&mut json, header.metadata_offset)
            .map_err(|e| TilerError::io(path, e))?;
        if crc32fast::hash(&json) != header.metadata_crc {
            return Err(bad("metadata checksum does not match".into()));
        }
        let metadata: Metadata = serde_json::from_slice(&json)
            .map_err(|e| bad(format!("metadata is not valid JSON: {e}")))?;
        if metadata.format != FORMAT_NAME {
            return Err(bad(format!("metadata format is {:?}", metadata.format)));
        }
        if metadata.codec == crate::codec::Codec::Zstd
            && metadata.filter.as_deref() != Some("sg-up")
        {
            return Err(bad(format!(
                "zstd payload filter {:?} is not one this build reads (\"sg-up\")",
                metadata.filter
            )));
        }
        let grid = Grid::new(metadata.width, metadata.height, metadata.tile_size)
            .map_err(|e| bad(format!("metadata describes no valid pyramid: {e}")))?;
        if grid.levels() != metadata.levels.as_slice() {
            return Err(bad("metadata level sizes do not follow ceil(w/2^k)".into()));
        }
        if header.tile_count != grid.tile_count() || header.tile_count > limits.max_tiles {
            return Err(bad(format!(
                "directory has {} tiles, the pyramid needs {} (limit {})",
                header.tile_count,
                grid.tile_count(),
                limits.max_tiles
            )));
        }
        let entries = read_directory(path, &file, &header, &grid, file_len, limits)?;
        Ok(Self {
            path: path.to_path_buf(),
            file,
            file_len,
            metadata,
            grid,
            entries,
        })
    }

    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    #[must_use]
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    #[must_use]
    pub fn grid(&self) -> &Grid {
        &self.grid
    }

    /// Size of the cache file in bytes.
    #[must_use]
    pub fn file_bytes(&self) -> u64 {
        self.file_len
    }

    /// The directory entry of a tile.
    #[must_use]
    pub fn entry(&self, coord: TileCoord) -> Entry {
        self.entries[self.grid.index(coord)]
    }

    /// The stored payload of a tile, after its checksum is checked.
    pub fn read_payload(&self, coord: TileCoord) -> Result<Vec<u8>> {
        let entry = self.entry(coord);
        let mut payload = vec![0u8; entry.len as usize];
        self.file
            .read_exact_at(&mut payload, entry.offset)
            .map_err(|e| TilerError::bad_tile(&self.path, coord.place(), e.to_string()))?;
        self.check_payload(coord, &payload)?;
        Ok(payload)
    }

    /// Checks `payload`, the bytes of the tile's [`Entry`] (`offset`, `len`) read by the
    /// caller (an async fetch from object storage), against the tile's length and checksum.
    pub fn check_payload(&self, coord: TileCoord, payload: &[u8]) -> Result<()> {
        let entry = self.entry(coord);
        if payload.len() != entry.len as usize || crc32fast::hash(payload) != entry.crc {
            return Err(TilerError::bad_tile(
                &self.path,
                coord.place(),
                "payload checksum does not match",
            ));
        }
        Ok(())
    }

    /// A tile decoded to RGB.
    pub fn read_tile(&self, coord: TileCoord) -> Result<Tile> {
        let payload = self.read_payload(coord)?;
        self.decode_tile(coord, &payload)
    }

    /// Decodes the tile's payload, checked by [`CacheReader::check_payload`], to RGB.
    pub fn decode_tile(&self, coord: TileCoord, payload: &[u8]) -> Result<Tile> {
        let (_, _, width, height) = self.grid.tile_rect(coord);
        let rgb = codec::decode(self.metadata.codec, payload, width, height)
            .map_err(|e| TilerError::bad_tile(&self.path, coord.place(), e))?;
        Ok(Tile { width, height, rgb })
    }

    /// Checks every payload's checksum (and with `decode`, that it decodes), calling
    /// `progress` after each tile. Stops at the first bad tile, in directory order.
    pub fn verify(&self, decode: bool, progress: &dyn Fn(u64)) -> Result<VerifySummary> {
        use std::collections::HashSet;
        let mut seen = HashSet::new();
        let mut checked = 0;
        for coord in self.grid.coords() {
            let entry = self.entry(coord);
            if seen.insert(entry.offset) {
                if decode {
                    self.read_tile(coord)?;
                } else {
                    self.read_payload(coord)?;
                }
                checked += 1;
            }
            progress(1);
        }
        Ok(VerifySummary {
            tiles: self.grid.tile_count(),
            payloads_checked: checked,
        })
    }
}

/// Result of a successful [`CacheReader::verify`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifySummary {
    pub tiles: u64,
    pub payloads_checked: u64,
}

/// Reads, decompresses and range-checks the directory.
fn read_directory(
    path: &Path,
    file: &Backend,
    header: &Header,
    grid: &Grid,
    file_len: u64,
    limits: ReaderLimits,
) -> Result<Vec<Entry>> {
    let bad = |reason: String| TilerError::bad_file(path, reason);
    let end = |offset: u64, len: u64| offset.checked_add(len).filter(|&e| e <= file_len);
    let expected = header.tile_count.saturating_mul(ENTRY_LEN as u64);
    if header.directory_len > limits.max_directory_bytes || expected > limits.max_directory_bytes {
        return Err(bad(format!(
            "directory of {} bytes ({expected} decompressed) is over the {}-byte limit",
            header.directory_len, limits.max_directory_bytes
        )));
    }
    let expected = expected as usize;
    let mut compressed = vec![0u8; header.directory_len as usize];
    file.read_exact_at(&mut compressed, header.directory_offset)
        .map_err(|e| TilerError::io(path, e))?;
    let raw = zstd::bulk::decompress(&compressed, expected)
        .map_err(|e| bad(format!("directory does not decompress: {e}")))?;
    if raw.len() != expected {
        return Err(bad(format!(
            "directory holds {} bytes, expected {expected}",
            raw.len()
        )));
    }
    let entries: Vec<Entry> = raw.chunks_exact(ENTRY_LEN).map(Entry::read_from).collect();
    for (index, entry) in entries.iter().enumerate() {
        let in_payload_area = entry.offset >= HEADER_LEN
            && entry.len > 0
            && entry.len <= limits.max_tile_payload
            && end(entry.offset, u64::from(entry.len)).is_some_and(|e| e <= header.metadata_offset);
        if !in_payload_area {
            let place = grid.coord_at(index as u64).map(TileCoord::place);
            return Err(match place {
                Some(place) => TilerError::bad_tile(
                    path,
                    place,
                    format!(
                        "directory points at bytes {}..{} outside the payload area",
                        entry.offset,
                        entry.offset.saturating_add(u64::from(entry.len))
                    ),
                ),
                None => bad("directory entry out of range".into()),
            });
        }
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small zstd cache of a synthetic slide, committed as a fuzz seed.
    fn seed() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/tess_reader/synth-zstd.tess")
    }

    #[test]
    fn from_bytes_reads_what_open_reads() {
        let path = seed();
        let bytes = std::fs::read(&path).expect("seed cache");
        let from_file = CacheReader::open(&path).expect("opens from the file");
        let from_bytes = CacheReader::from_bytes(
            Path::new("mem.tess"),
            bytes.clone(),
            ReaderLimits::default(),
        )
        .expect("opens from bytes");
        assert_eq!(from_bytes.path(), Path::new("mem.tess"));
        assert_eq!(from_bytes.file_bytes(), bytes.len() as u64);
        assert_eq!(
            from_bytes.grid().tile_count(),
            from_file.grid().tile_count()
        );
        for coord in from_file.grid().coords() {
            assert_eq!(
                from_bytes.read_tile(coord).expect("tile from bytes"),
                from_file.read_tile(coord).expect("tile from file")
            );
        }
        assert_eq!(
            from_bytes.verify(true, &|_| {}).expect("verifies"),
            from_file.verify(true, &|_| {}).expect("verifies")
        );
    }

    /// Ranges served from memory, counting the reads.
    #[derive(Debug)]
    struct CountedRanges {
        bytes: Backend,
        reads: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    }

    impl RangeRead for CountedRanges {
        fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
            self.reads
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.bytes.read_exact_at(buf, offset)
        }
    }

    #[test]
    fn from_ranges_reads_what_open_reads_with_one_read_per_tile() {
        use std::sync::atomic::Ordering::Relaxed;
        let path = seed();
        let bytes = std::fs::read(&path).expect("seed cache");
        let len = bytes.len() as u64;
        let reads = std::sync::Arc::default();
        let ranges = Box::new(CountedRanges {
            bytes: Backend::Memory(bytes),
            reads: std::sync::Arc::clone(&reads),
        });
        let label = Path::new("s3://bucket/key.tess");
        let from_ranges = CacheReader::from_ranges(label, ranges, len, ReaderLimits::default())
            .expect("opens from ranges");
        let from_file = CacheReader::open(&path).expect("opens from the file");
        assert_eq!(from_ranges.path(), label);
        assert_eq!(reads.load(Relaxed), 3, "header, metadata and directory");
        let coord = from_file.grid().coords().last().expect("a tile");
        assert_eq!(
            from_ranges.read_tile(coord).expect("tile from ranges"),
            from_file.read_tile(coord).expect("tile from file")
        );
        assert_eq!(reads.load(Relaxed), 4, "one read per tile");
        assert_eq!(
            from_ranges.verify(true, &|_| {}).expect("verifies"),
            from_file.verify(true, &|_| {}).expect("verifies")
        );
    }

    #[test]
    fn from_bytes_refuses_a_truncated_cache() {
        let bytes = std::fs::read(seed()).expect("seed cache");
        for len in [0, 10, HEADER_LEN as usize, bytes.len() / 2, bytes.len() - 1] {
            let cut = bytes[..len].to_vec();
            let err = CacheReader::from_bytes(Path::new("cut.tess"), cut, ReaderLimits::default())
                .expect_err("a truncated cache is refused");
            assert!(matches!(err, TilerError::BadFile { .. }), "{len}: {err}");
        }
    }

    #[test]
    fn a_directory_over_the_limit_is_refused_before_it_is_read() {
        let bytes = std::fs::read(seed()).expect("seed cache");
        let tiles =
            CacheReader::from_bytes(Path::new("s.tess"), bytes.clone(), ReaderLimits::default())
                .expect("opens")
                .grid()
                .tile_count();
        let limits = ReaderLimits {
            max_directory_bytes: tiles * ENTRY_LEN as u64 - 1,
            ..ReaderLimits::default()
        };
        let err = CacheReader::from_bytes(Path::new("s.tess"), bytes, limits).expect_err("refused");
        assert!(err.to_string().contains("over the"), "{err}");
    }
}
