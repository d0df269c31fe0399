//! The caches a server serves: every `<id>.tess` in one directory or object storage
//! prefix ([`CacheRoot`]), and the heatmaps of each slide under `heatmaps/<id>/`.
//!
//! Slides are opened on first use and kept open (header, metadata and directory in
//! memory) up to [`OPEN_CACHE_BYTES`] of directories; the least recently used beyond that
//! are closed and reopened when asked for. A slide whose file was replaced (new inode,
//! size or modification time; for an object, ETag, size or last-modified time) is reopened
//! with a new generation number, so tile cache entries of the old file can never be served
//! for the new one. Ids are checked against `[A-Za-z0-9._-]` before they come near a path,
//! so no URL becomes a file path or key outside the root.

use crate::bucket::ObjectRanges;
use crate::cache_root::{CacheRoot, Identity};
use crate::research::heatmap;
use crate::slide_id;
use std::path::Path;
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

/// One open cache.
#[derive(Debug)]
pub struct Slide {
    pub id: String,
    pub cache: CacheReader,
    /// Distinguishes successive files served under the same id.
    pub generation: u64,
    identity: Identity,
    /// Ranged reads of the object, when the cache is in object storage.
    remote: Option<ObjectRanges>,
    checked: RwLock<Instant>,
}

impl Slide {
    /// Ranged reads of the cache's object, for fetching tiles without holding a thread;
    /// `None` for a local file.
    #[must_use]
    pub fn remote(&self) -> Option<&ObjectRanges> {
        self.remote.as_ref()
    }

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
    root: CacheRoot,
    /// Open caches by id, weighted by the bytes of their directories.
    slides: moka::sync::Cache<String, Arc<Slide>>,
    next_generation: AtomicU64,
    /// Decoded tiles for patch cutting, by generation: patches at a stride under their
    /// size share tiles, and each is decoded once while it is here.
    decoded: tiler::DecodedTiles,
}

/// Bytes of decoded tiles kept for patch cutting (about 500 tiles of 256×256 RGB: more
/// than two tile rows of a 0.3 Gpix slide).
const DECODED_TILE_BYTES: u64 = 96 << 20;

/// Bytes of open caches' directories (16 per tile) kept in memory: about 5,000 slides of
/// 0.3 Gpix, or 250 of 20 Gpix.
pub const OPEN_CACHE_BYTES: u64 = 512 << 20;

impl SlideStore {
    /// The caches in the local directory `dir`.
    #[must_use]
    pub fn new(dir: &Path) -> Self {
        Self::at(CacheRoot::Dir(dir.to_path_buf()))
    }

    /// The caches under `root`, local or in object storage.
    #[must_use]
    pub fn at(root: CacheRoot) -> Self {
        Self {
            root,
            slides: moka::sync::Cache::builder()
                .max_capacity(OPEN_CACHE_BYTES)
                .weigher(|_id: &String, slide: &Arc<Slide>| {
                    let directory = slide.cache.grid().tile_count().saturating_mul(16);
                    u32::try_from(directory.saturating_add(4096)).unwrap_or(u32::MAX)
                })
                .build(),
            next_generation: AtomicU64::new(1),
            decoded: tiler::DecodedTiles::new(DECODED_TILE_BYTES),
        }
    }

    /// Where the caches are.
    #[must_use]
    pub fn root(&self) -> &CacheRoot {
        &self.root
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
        self.cached(id, &format!("{id}.tess"))
    }

    /// Heatmap `name` of slide `id` (`DIR/heatmaps/ID/NAME.tess`), opened like a slide: its
    /// [`Slide::id`] is `ID/NAME`, and its tiles go through the same tile cache.
    pub fn heatmap(&self, id: &str, name: &str) -> Result<Arc<Slide>, StoreError> {
        let key = format!("{id}/{name}");
        if slide_id::validate_slide(id).is_err() || slide_id::validate(name).is_err() {
            return Err(StoreError::NotFound(key));
        }
        self.cached(&key, &heatmap::relative_name(id, name))
    }

    /// The heatmaps of slide `id`, sorted by name. Broken caches are logged and left out.
    #[must_use]
    pub fn heatmaps(&self, id: &str) -> Vec<Arc<Slide>> {
        if slide_id::validate_slide(id).is_err() {
            return Vec::new();
        }
        let found = self.root.list(&heatmap::relative_dir(id));
        opened(
            found
                .into_iter()
                .filter(|(name, _)| slide_id::validate(name).is_ok())
                .map(|(name, identity)| {
                    let key = format!("{id}/{name}");
                    self.current(&key, &heatmap::relative_name(id, &name), Some(identity))
                }),
        )
    }

    /// The cache under `key`, file or object `name` of the root, opened or reopened when
    /// it changed.
    fn cached(&self, key: &str, name: &str) -> Result<Arc<Slide>, StoreError> {
        if let Some(slide) = self.slides.get(key)
            && slide
                .checked
                .read()
                .is_ok_and(|t| t.elapsed() < RECHECK_AFTER)
        {
            return Ok(slide);
        }
        self.current(key, name, self.root.identity(name))
    }

    /// The cache under `key` as it is now (`identity`; `None` when it is gone): the open
    /// one while unchanged, else `name` opened again.
    fn current(
        &self,
        key: &str,
        name: &str,
        identity: Option<Identity>,
    ) -> Result<Arc<Slide>, StoreError> {
        let Some(identity) = identity else {
            self.slides.invalidate(key);
            return Err(StoreError::NotFound(key.to_string()));
        };
        if let Some(slide) = self.slides.get(key)
            && slide.identity == identity
        {
            if let Ok(mut t) = slide.checked.write() {
                *t = Instant::now();
            }
            return Ok(slide);
        }
        let cache = self
            .root
            .open(name, &identity)
            .map_err(|source| StoreError::Broken {
                id: key.to_string(),
                source,
            })?;
        let slide = Arc::new(Slide {
            id: key.to_string(),
            cache,
            generation: self.next_generation.fetch_add(1, Ordering::Relaxed),
            remote: self.root.remote(name, &identity),
            identity,
            checked: RwLock::new(Instant::now()),
        });
        self.slides.insert(key.to_string(), Arc::clone(&slide));
        Ok(slide)
    }

    /// Every servable slide, sorted by id, from one listing of the root. Broken caches are
    /// logged and left out.
    #[must_use]
    pub fn list(&self) -> Vec<Arc<Slide>> {
        let found = self.root.list("");
        opened(
            found
                .into_iter()
                .filter(|(id, _)| slide_id::validate(id).is_ok())
                .filter(|(id, _)| match slide_id::validate_slide(id) {
                    Ok(()) => true,
                    Err(why) => {
                        crate::fault_log::warn_once(&format!(
                            "{id}.tess is not served: {why}; rename the file"
                        ));
                        false
                    }
                })
                .map(|(id, identity)| self.current(&id, &format!("{id}.tess"), Some(identity))),
        )
    }
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
