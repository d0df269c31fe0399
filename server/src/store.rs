//! The caches a server serves: every `<id>.tess` in one directory, and the heatmaps of
//! each slide under `heatmaps/<id>/`.
//!
//! Slides are opened on first use and kept open. A slide whose file was replaced (new
//! inode, size or modification time) is reopened with a new generation number, so tile
//! cache entries of the old file can never be served for the new one. Ids are checked
//! against `[A-Za-z0-9._-]` before they come near a path, so no URL becomes a file path
//! outside the directory.

use crate::slide_id;
use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tiler::CacheReader;

/// How long a slide is trusted before its file is looked at again.
const RECHECK_AFTER: Duration = Duration::from_secs(1);

/// Why a slide could not be served.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no slide {0:?}")]
    NotFound(String),
    #[error("slide {id:?} cannot be opened: {source}")]
    Broken {
        id: String,
        #[source]
        source: tiler::TilerError,
    },
}

/// Identity of a file on disk: replaced files differ in at least one field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileIdentity {
    inode: u64,
    len: u64,
    modified_ns: i128,
}

impl FileIdentity {
    fn of(path: &Path) -> Option<Self> {
        let meta = std::fs::metadata(path).ok()?;
        meta.is_file().then(|| Self {
            inode: meta.ino(),
            len: meta.len(),
            modified_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
        })
    }
}

/// One open cache.
#[derive(Debug)]
pub struct Slide {
    pub id: String,
    pub cache: CacheReader,
    /// Distinguishes successive files served under the same id.
    pub generation: u64,
    identity: FileIdentity,
    checked: RwLock<Instant>,
}

impl Slide {
    /// A strong validator for everything derived from this file.
    #[must_use]
    pub fn etag_base(&self) -> String {
        let sha = &self.cache.metadata().source.sha256;
        format!(
            "{}-{:x}-{:x}",
            &sha[..sha.len().min(16)],
            self.identity.len,
            self.identity.modified_ns
        )
    }
}

/// The directory of caches.
#[derive(Debug)]
pub struct SlideStore {
    dir: PathBuf,
    slides: RwLock<HashMap<String, Arc<Slide>>>,
    next_generation: AtomicU64,
    /// Decoded tiles for patch cutting, by generation: patches at a stride under their
    /// size share tiles, and each is decoded once while it is here.
    decoded: tiler::DecodedTiles,
}

/// Bytes of decoded tiles kept for patch cutting (about 500 tiles of 256×256 RGB: more
/// than two tile rows of a 0.3 Gpix slide).
const DECODED_TILE_BYTES: u64 = 96 << 20;

impl SlideStore {
    #[must_use]
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
            slides: RwLock::new(HashMap::new()),
            next_generation: AtomicU64::new(1),
            decoded: tiler::DecodedTiles::new(DECODED_TILE_BYTES),
        }
    }

    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Decoded tiles shared by patch reads, keyed by [`Slide::generation`].
    #[must_use]
    pub fn decoded(&self) -> &tiler::DecodedTiles {
        &self.decoded
    }

    /// The slide with this id, opening or reopening its file when needed.
    pub fn get(&self, id: &str) -> Result<Arc<Slide>, StoreError> {
        if slide_id::validate_slide(id).is_err() {
            return Err(StoreError::NotFound(id.to_string()));
        }
        self.cached(id, &self.path_of(id))
    }

    /// Heatmap `name` of slide `id` (`DIR/heatmaps/ID/NAME.tess`), opened like a slide: its
    /// [`Slide::id`] is `ID/NAME`, and its tiles go through the same tile cache.
    pub fn heatmap(&self, id: &str, name: &str) -> Result<Arc<Slide>, StoreError> {
        let key = format!("{id}/{name}");
        if slide_id::validate_slide(id).is_err() || slide_id::validate(name).is_err() {
            return Err(StoreError::NotFound(key));
        }
        self.cached(&key, &crate::research::heatmap::path(&self.dir, id, name))
    }

    /// The heatmaps of slide `id`, sorted by name. Broken caches are logged and left out.
    #[must_use]
    pub fn heatmaps(&self, id: &str) -> Vec<Arc<Slide>> {
        if slide_id::validate_slide(id).is_err() {
            return Vec::new();
        }
        let names = tess_names(&self.dir.join("heatmaps").join(id));
        opened(names.iter().map(|n| self.heatmap(id, n)))
    }

    /// The cache under `key` at `path`, opened or reopened when its file changed.
    fn cached(&self, key: &str, path: &Path) -> Result<Arc<Slide>, StoreError> {
        let known = self
            .slides
            .read()
            .ok()
            .and_then(|map| map.get(key).cloned());
        if let Some(slide) = known {
            let fresh = slide
                .checked
                .read()
                .is_ok_and(|t| t.elapsed() < RECHECK_AFTER);
            if fresh {
                return Ok(slide);
            }
            if FileIdentity::of(path) == Some(slide.identity) {
                if let Ok(mut t) = slide.checked.write() {
                    *t = Instant::now();
                }
                return Ok(slide);
            }
        }
        self.open(key, path)
    }

    fn path_of(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.tess"))
    }

    fn open(&self, id: &str, path: &Path) -> Result<Arc<Slide>, StoreError> {
        let Some(identity) = FileIdentity::of(path) else {
            if let Ok(mut map) = self.slides.write() {
                map.remove(id);
            }
            return Err(StoreError::NotFound(id.to_string()));
        };
        let cache = CacheReader::open(path).map_err(|source| StoreError::Broken {
            id: id.to_string(),
            source,
        })?;
        let slide = Arc::new(Slide {
            id: id.to_string(),
            cache,
            generation: self.next_generation.fetch_add(1, Ordering::Relaxed),
            identity,
            checked: RwLock::new(Instant::now()),
        });
        if let Ok(mut map) = self.slides.write() {
            map.insert(id.to_string(), Arc::clone(&slide));
        }
        Ok(slide)
    }

    /// Every servable slide in the directory, sorted by id. Broken caches are logged and
    /// left out.
    #[must_use]
    pub fn list(&self) -> Vec<Arc<Slide>> {
        let ids: Vec<String> = tess_names(&self.dir)
            .into_iter()
            .filter(|id| match slide_id::validate_slide(id) {
                Ok(()) => true,
                Err(why) => {
                    crate::fault_log::warn_once(&format!(
                        "{id}.tess is not served: {why}; rename the file"
                    ));
                    false
                }
            })
            .collect();
        opened(ids.iter().map(|id| self.get(id)))
    }
}

/// The names of the `NAME.tess` files in `dir` whose NAME is a valid id, sorted; none
/// when `dir` cannot be read.
fn tess_names(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_suffix(".tess").map(str::to_string)
        })
        .filter(|n| slide_id::validate(n).is_ok())
        .collect();
    names.sort();
    names
}

/// The caches that opened; the others are logged once and left out.
fn opened(results: impl Iterator<Item = Result<Arc<Slide>, StoreError>>) -> Vec<Arc<Slide>> {
    results
        .filter_map(|r| {
            r.map_err(|e| crate::fault_log::warn_once(&e.to_string()))
                .ok()
        })
        .collect()
}

/// Slide sizes for the annotation engine, read from the caches of `store`.
#[must_use]
pub fn slide_bounds(store: Arc<SlideStore>) -> Box<crate::annotations::engine::SlideBounds> {
    Box::new(move |id: &str| {
        let slide = store.get(id).ok()?;
        let m = slide.cache.metadata();
        Some((f64::from(m.width), f64::from(m.height)))
    })
}
