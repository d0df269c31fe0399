//! Writes a cache: create → add tiles (any order, from any thread) → finish.
//!
//! The file is written under a hidden temporary name in the target directory and only
//! renamed to `<id>.tess` after everything is on disk (fsync of file and directory),
//! so a reader never sees half a cache and an interrupted run leaves none. The writer holds
//! an advisory lock on its temporary file; a run that was killed (and could not remove it)
//! leaves an unlocked one, which the next run for the same cache removes.

use super::format::{ENTRY_LEN, Entry, HEADER_LEN, Header, Metadata};
use crate::error::{Result, TilerError};
use crate::grid::{Grid, TileCoord};
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Identity of a tile's pixels, used to store identical tiles once.
pub type ContentHash = u128;

/// Builds one `.tess` file.
#[derive(Debug)]
pub struct CacheWriter {
    path: PathBuf,
    temp: tempfile::NamedTempFile<BufWriter<File>>,
    grid: Grid,
    entries: Vec<Option<Entry>>,
    stored: HashMap<ContentHash, Entry>,
    /// Tiles announced as duplicates before their original arrived.
    waiting: Vec<(TileCoord, ContentHash)>,
    offset: u64,
}

/// What [`CacheWriter::finish`] produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteSummary {
    pub tile_count: u64,
    pub unique_tile_count: u64,
    pub file_bytes: u64,
    pub payload_bytes: u64,
}

const PARTIAL_SUFFIX: &str = ".partial";

/// Start of the temporary names of the cache file `name`.
fn partial_prefix(name: &str) -> String {
    format!(".{name}.")
}

/// Removes the temporary files of `name` in `dir` that no running writer holds locked: they
/// were left by a run that was killed. Best effort; what cannot be removed stays hidden.
fn remove_stale_partials(dir: &Path, name: &str) {
    let prefix = partial_prefix(name);
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let file_name = file_name.to_string_lossy();
        if !(file_name.starts_with(&prefix) && file_name.ends_with(PARTIAL_SUFFIX)) {
            continue;
        }
        let path = entry.path();
        if File::open(&path).is_ok_and(|f| f.try_lock().is_ok()) {
            let _ = std::fs::remove_file(&path);
        }
    }
}

impl CacheWriter {
    /// Starts a cache that will become `path` once finished.
    pub fn create(path: &Path, grid: Grid) -> Result<Self> {
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if !dir.is_dir() {
            return Err(TilerError::io(
                &dir,
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "output directory does not exist",
                ),
            ));
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        remove_stale_partials(&dir, &name);
        let temp = tempfile::Builder::new()
            .prefix(&partial_prefix(&name))
            .suffix(PARTIAL_SUFFIX)
            .make_in(&dir, |p| {
                let file = File::create_new(p)?;
                file.try_lock().map_err(std::io::Error::from)?;
                Ok(BufWriter::with_capacity(1 << 20, file))
            })
            .map_err(|e| TilerError::io(&dir, e))?;
        let mut writer = Self {
            path: path.to_path_buf(),
            temp,
            entries: vec![None; grid.tile_count() as usize],
            grid,
            stored: HashMap::new(),
            waiting: Vec::new(),
            offset: 0,
        };
        // Placeholder; the real header is written last, once everything it points at exists.
        writer.write_all(&[0u8; HEADER_LEN as usize])?;
        Ok(writer)
    }

    /// The final path of the cache.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    #[must_use]
    pub fn grid(&self) -> &Grid {
        &self.grid
    }

    /// True when a tile with these pixels is already stored (its payload need not be encoded).
    #[must_use]
    pub fn has_content(&self, hash: ContentHash) -> bool {
        self.stored.contains_key(&hash)
    }

    /// Stores a tile's encoded payload, or points at an identical one stored before.
    pub fn add_tile(&mut self, coord: TileCoord, hash: ContentHash, payload: &[u8]) -> Result<()> {
        let entry = if let Some(entry) = self.stored.get(&hash) {
            *entry
        } else {
            let len = u32::try_from(payload.len())
                .map_err(|_| TilerError::Usage(format!("{}: payload over 4 GiB", coord.place())))?;
            let entry = Entry {
                offset: self.offset,
                len,
                crc: crc32fast::hash(payload),
            };
            self.write_all(payload)?;
            self.stored.insert(hash, entry);
            entry
        };
        self.set_entry(coord, entry)
    }

    /// Records a tile whose pixels equal a tile already added or still to come.
    pub fn add_duplicate(&mut self, coord: TileCoord, hash: ContentHash) -> Result<()> {
        if let Some(entry) = self.stored.get(&hash).copied() {
            self.set_entry(coord, entry)
        } else {
            self.waiting.push((coord, hash));
            Ok(())
        }
    }

    fn set_entry(&mut self, coord: TileCoord, entry: Entry) -> Result<()> {
        let slot = &mut self.entries[self.grid.index(coord)];
        if slot.is_some() {
            return Err(TilerError::Usage(format!(
                "{} was added twice",
                coord.place()
            )));
        }
        *slot = Some(entry);
        Ok(())
    }

    fn write_all(&mut self, bytes: &[u8]) -> Result<()> {
        self.temp
            .as_file_mut()
            .write_all(bytes)
            .map_err(|e| TilerError::io(&self.path, e))?;
        self.offset += bytes.len() as u64;
        Ok(())
    }

    /// Number of distinct payloads written so far.
    #[must_use]
    pub fn unique_tiles(&self) -> u64 {
        self.stored.len() as u64
    }

    /// Bytes of payload written so far.
    #[must_use]
    pub fn payload_bytes(&self) -> u64 {
        self.offset - HEADER_LEN
    }

    /// Writes metadata, directory and header, syncs, and renames into place.
    ///
    /// `metadata.tile_count` and `metadata.unique_tile_count` are filled in here.
    pub fn finish(mut self, mut metadata: Metadata) -> Result<WriteSummary> {
        for (coord, hash) in std::mem::take(&mut self.waiting) {
            let entry = self.stored.get(&hash).copied().ok_or_else(|| {
                TilerError::Usage(format!("{} duplicates a tile never stored", coord.place()))
            })?;
            self.set_entry(coord, entry)?;
        }
        let mut directory = Vec::with_capacity(self.entries.len() * ENTRY_LEN);
        for (index, entry) in self.entries.iter().enumerate() {
            let entry = entry.ok_or_else(|| {
                let place = self
                    .grid
                    .coord_at(index as u64)
                    .map(|c| c.place().to_string())
                    .unwrap_or_default();
                TilerError::Usage(format!("{place} was never written"))
            })?;
            entry.write_to(&mut directory);
        }
        let payload_bytes = self.payload_bytes();
        metadata.tile_count = self.grid.tile_count();
        metadata.unique_tile_count = self.stored.len() as u64;
        let json = serde_json::to_vec_pretty(&metadata)
            .map_err(|e| TilerError::Usage(format!("metadata does not serialise: {e}")))?;
        let compressed = {
            let mut encoder =
                zstd::bulk::Compressor::new(3).map_err(|e| TilerError::io(&self.path, e))?;
            encoder
                .include_checksum(true)
                .map_err(|e| TilerError::io(&self.path, e))?;
            encoder
                .compress(&directory)
                .map_err(|e| TilerError::io(&self.path, e))?
        };
        let header = Header {
            metadata_offset: self.offset,
            metadata_len: json.len() as u64,
            directory_offset: self.offset + json.len() as u64,
            directory_len: compressed.len() as u64,
            tile_count: self.grid.tile_count(),
            metadata_crc: crc32fast::hash(&json),
        };
        self.write_all(&json)?;
        self.write_all(&compressed)?;
        let path = self.path.clone();
        let io = |e| TilerError::io(&path, e);
        let file = self.temp.as_file_mut();
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        file.write_all(&header.to_bytes()).map_err(io)?;
        file.flush().map_err(io)?;
        file.get_ref().sync_all().map_err(io)?;
        let file_bytes = self.offset;
        self.temp
            .persist(&path)
            .map_err(|e| TilerError::io(&path, e.error))?;
        if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| TilerError::io(dir, e))?;
        }
        Ok(WriteSummary {
            tile_count: metadata.tile_count,
            unique_tile_count: metadata.unique_tile_count,
            file_bytes,
            payload_bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partials_of_killed_runs_go_and_those_of_running_writers_stay() {
        let dir = tempfile::tempdir().expect("temp dir");
        let stale = dir.path().join(".x.tess.a1b2c3.partial");
        let running = dir.path().join(".x.tess.d4e5f6.partial");
        let other = dir.path().join(".y.tess.a1b2c3.partial");
        for p in [&stale, &running, &other] {
            std::fs::write(p, b"half a cache").expect("write");
        }
        let held = File::open(&running).expect("open");
        held.try_lock().expect("lock");
        let grid = Grid::new(10, 10, 256).expect("grid");
        let writer = CacheWriter::create(&dir.path().join("x.tess"), grid).expect("create");
        assert!(!stale.exists(), "an unlocked partial of x.tess is removed");
        assert!(running.exists(), "a locked one is another writer's");
        assert!(other.exists(), "another cache's partial is left alone");
        drop(writer);
    }
}
