//! The engine: the durable store plus one in-memory index per open slide, kept in step.
//!
//! Writes go to SQLite first and reach the index only once committed, so nothing the
//! index shows can be lost. Each slide's index is loaded on first use; a slide changed by
//! another process (`tessera import` next to a running server) is reloaded, noticed
//! through SQLite's `data_version` at most once a second.
//!
//! Loaded indexes are held within a memory budget ([`EngineLimits::index_bytes`]),
//! weighed in bytes; the slides least recently used leave memory first (their users
//! keep them until done). A region query of a slide not in memory reads the slide's
//! snapshot on disk ([`super::snapshot`]) instead of loading it.

use super::error::AnnotationError;
use super::extras;
use super::geojson::parse::{ClassRule, ParseContext, ParsedFeature, Problem, parse_item};
use super::geometry::Rect;
use super::index::{SlideIndex, Staged, entry_box};
use super::model::{Annotation, Provenance, Status, now_ms};
use super::review;
use super::snapshot::{self, Snapshot};
use super::store::{self, AnnotationStore, Reads, StoreError, StoreOptions, Writer, Writes};
use crate::location::StoreLocation;
use std::collections::HashMap;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};
use uuid::Uuid;

mod catch_up;

/// Size of a slide in pixels, by id; `None` for an unknown slide.
pub type SlideBounds = dyn Fn(&str) -> Option<(f64, f64)> + Send + Sync;

/// The classes a slide accepts (its project's schema), by slide id; `None`: any class.
pub type ClassRules = dyn Fn(&str) -> Option<Arc<ClassRule>> + Send + Sync;

/// A caller's say on a write, asked inside the write's transaction with the annotation
/// as it is and as it would be (`None`: absent); an error refuses the write.
pub type Guard<'a> =
    &'a (dyn Fn(Option<&Annotation>, Option<&Annotation>) -> Result<(), AnnotationError> + Sync);

/// A guard that lets every write through (the CLI, tests).
pub fn unguarded(_: Option<&Annotation>, _: Option<&Annotation>) -> Result<(), AnnotationError> {
    Ok(())
}

/// How long the engine trusts its indexes on SQLite before asking for outside changes
/// (see [`AnnotationStore::recheck_after`]).
#[cfg(test)]
const RECHECK_AFTER: Duration = Duration::from_secs(1);

/// Records a region query of a cold slide reads from its snapshot at most (more: the
/// slide is loaded), unless an eighth of the slide is more.
const COLD_RECORDS: u64 = 1 << 16;

/// What a region query answers from (see [`Engine::view`]).
#[derive(Debug)]
pub(crate) enum View {
    Loaded(Arc<LoadedSlide>),
    /// The annotations near the region, read from the slide's snapshot.
    Cold(Box<SlideIndex>),
}

/// Counts of the engine's memory budget at work.
#[derive(Debug, Default)]
struct Counts {
    loads: AtomicU64,
    evictions: AtomicU64,
    cold_queries: AtomicU64,
}

/// The engine's memory budget at work (see [`Engine::residency`]).
#[derive(Debug, Clone, Copy)]
pub struct Residency {
    /// Slides whose index is in memory, and its bytes.
    pub slides: u64,
    pub bytes: u64,
    pub budget: u64,
    /// Loads of a slide's index, and slides that left memory for the budget.
    pub loads: u64,
    pub evictions: u64,
    /// Region queries answered from a snapshot without loading the slide.
    pub cold_queries: u64,
}

/// A weight for moka, in KiB.
fn weight(bytes: u64) -> u32 {
    u32::try_from(bytes >> 10).unwrap_or(u32::MAX).max(1)
}

/// The loaded slides, at most `budget` bytes of them, least recently used out first.
fn resident_slides(
    budget: u64,
    counts: Arc<Counts>,
) -> moka::sync::Cache<String, Arc<LoadedSlide>> {
    moka::sync::Cache::builder()
        .max_capacity((budget >> 10).max(1))
        .eviction_policy(moka::policy::EvictionPolicy::lru())
        .weigher(|_, l: &Arc<LoadedSlide>| weight(l.bytes.load(Ordering::Relaxed)))
        .eviction_listener(move |slide, _, cause| {
            if cause == moka::notification::RemovalCause::Size {
                counts.evictions.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(slide = %slide, "slide left memory for the budget");
            }
        })
        .build()
}

/// Writes the snapshot of `slide` from its loaded `index` and installs its texts (see
/// [`super::snapshot`], [`super::texts`]).
pub(crate) fn make_snapshot(dir: &Path, slide: &str, loaded: &LoadedSlide) {
    let Some(Ok(index)) = loaded.index.get() else {
        return;
    };
    let started = Instant::now();
    match snapshot::write(dir, slide, index) {
        Ok(Some((era, generation, texts))) => {
            loaded.written.store(generation, Ordering::Release);
            let bytes = texts.bytes();
            let mut index = index
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if index.set_texts(era, texts) {
                tracing::info!(
                    annotations = index.len(),
                    megabytes = bytes >> 20,
                    seconds = started.elapsed().as_secs_f64(),
                    slide,
                    "snapshot written"
                );
            }
        }
        Ok(None) => {}
        Err(e) => {
            tracing::warn!(dir = %dir.display(), slide, "snapshot not written (queries format instead): {e}");
        }
    }
    // Formatted on rayon's threads, freed here.
    crate::memory::release_freed_everywhere();
}

/// Tunables with documented defaults.
#[derive(Debug, Clone, Copy)]
pub struct EngineLimits {
    /// How far outside the slide a vertex may lie, in pixels.
    pub tolerance: f64,
    /// Largest single feature an import accepts, in bytes.
    pub max_feature_bytes: usize,
    /// Whether a big import's write-ahead log is copied into the database file by a
    /// thread of its own after the import is answered (a server), rather than before
    /// (the CLI, which exits next).
    pub background_checkpoint: bool,
    /// Whether each loaded slide's snapshot (its records and GeoJSON texts) is written
    /// to disk in the background, for queries to copy and for cold slides to be read
    /// from (a server; see [`super::snapshot`]).
    pub answer_texts: bool,
    /// Bytes of loaded indexes kept in memory; the least recently used slides leave
    /// beyond it.
    pub index_bytes: u64,
    /// How long a loaded slide goes without changes before its snapshot is written
    /// again (a server).
    pub settle: Duration,
}

impl Default for EngineLimits {
    fn default() -> Self {
        Self {
            tolerance: 2.0,
            max_feature_bytes: 64 << 20,
            background_checkpoint: false,
            answer_texts: false,
            index_bytes: u64::MAX,
            settle: Duration::from_secs(30),
        }
    }
}

/// One slide's index, loaded once.
#[derive(Debug, Default)]
pub struct LoadedSlide {
    index: OnceLock<Result<RwLock<SlideIndex>, String>>,
    /// Heap bytes of the index when last weighed, for the memory budget.
    bytes: AtomicU64,
    /// Whether a thread is making the slide's texts (one at a time).
    texts_running: AtomicBool,
    /// Whether texts were asked for since that thread began.
    texts_wanted: AtomicBool,
    /// The store's generation of the slide in its snapshot on disk, as far as this
    /// index knows (-1: none).
    written: AtomicI64,
    /// When the index last changed (ms since the epoch), and whether a thread waits for
    /// its changes to settle to write the snapshot again.
    changed_ms: AtomicI64,
    settling: AtomicBool,
}

/// The annotation engine of one data directory.
pub struct Engine {
    dir: PathBuf,
    store: Box<dyn AnnotationStore>,
    /// Loaded slides, within the memory budget.
    slides: moka::sync::Cache<String, Arc<LoadedSlide>>,
    /// Opened snapshots of slides (their trees), for region queries of cold slides.
    snapshots: moka::sync::Cache<String, Arc<Snapshot>>,
    residency: Arc<Counts>,
    bounds: Box<SlideBounds>,
    class_rules: RwLock<Option<Box<ClassRules>>>,
    checked: Mutex<(i64, Instant)>,
    pub limits: EngineLimits,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// A read-locked slide index.
pub type IndexGuard<'a> = RwLockReadGuard<'a, SlideIndex>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Engine {
    /// Opens the store in `dir`; `bounds` tells slide sizes (and which slides exist).
    pub fn open(
        dir: &Path,
        bounds: Box<SlideBounds>,
        limits: EngineLimits,
    ) -> Result<Self, AnnotationError> {
        let options = StoreOptions {
            background_checkpoint: limits.background_checkpoint,
        };
        let store = store::open(dir, options).map_err(|e| AnnotationError::db(dir, e))?;
        Self::with_store(dir, store, bounds, limits)
    }

    /// Opens the store at `location` for the slides of the data directory `dir`.
    pub fn open_at(
        dir: &Path,
        location: &StoreLocation,
        bounds: Box<SlideBounds>,
        limits: EngineLimits,
    ) -> Result<Self, AnnotationError> {
        let options = StoreOptions {
            background_checkpoint: limits.background_checkpoint,
        };
        let store = store::open_at(location, options)
            .map_err(|e| AnnotationError::db_at(location, store::DB_FILE, e))?;
        Self::with_store(dir, store, bounds, limits)
    }

    /// An engine on `store` (a database beside the data directory `dir`, which holds the
    /// slides and the annotation snapshots).
    pub fn with_store(
        dir: &Path,
        store: Box<dyn AnnotationStore>,
        bounds: Box<SlideBounds>,
        limits: EngineLimits,
    ) -> Result<Self, AnnotationError> {
        let version = store
            .reader()
            .data_version()
            .map_err(|e| AnnotationError::db(dir, e))?;
        let residency = Arc::new(Counts::default());
        Ok(Self {
            dir: dir.to_path_buf(),
            store,
            slides: resident_slides(limits.index_bytes, Arc::clone(&residency)),
            snapshots: moka::sync::Cache::builder()
                .max_capacity((limits.index_bytes / 8 / 1024).max(1 << 10))
                .weigher(|_, s: &Arc<Snapshot>| weight(s.memory_bytes() as u64))
                .build(),
            residency,
            bounds,
            class_rules: RwLock::new(None),
            checked: Mutex::new((version, Instant::now())),
            limits,
        })
    }

    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub(crate) fn db_error(&self, e: StoreError) -> AnnotationError {
        AnnotationError::Db {
            path: self.store.location(),
            source: e,
        }
    }

    /// The store's writer; every change holds it from its transaction through its
    /// [`Engine::apply`].
    pub(crate) fn writer(&self) -> Box<dyn Writer + '_> {
        self.store.writer()
    }

    pub(crate) fn reader(&self) -> Box<dyn Deref<Target = dyn Reads> + '_> {
        self.store.reader()
    }

    /// A consistent view of the store on a connection of its own, for a long read.
    pub(crate) fn store_snapshot(&self) -> Result<Box<dyn store::Snapshot>, AnnotationError> {
        self.store.snapshot().map_err(|e| self.db_error(e))
    }

    /// See [`AnnotationStore::flush_until`].
    pub(crate) fn flush_store_until(&self, done: &std::sync::mpsc::Receiver<()>) {
        self.store.flush_until(done);
    }

    /// Size of `slide` in pixels, or `UnknownSlide`.
    pub fn slide_size(&self, slide: &str) -> Result<(f64, f64), AnnotationError> {
        (self.bounds)(slide).ok_or_else(|| AnnotationError::UnknownSlide(slide.to_string()))
    }

    /// Sets where each slide's accepted classes come from (a project's label schema).
    pub fn set_class_rules(&self, rules: Box<ClassRules>) {
        *self
            .class_rules
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(rules);
    }

    /// The classes `slide` accepts, if it is limited.
    #[must_use]
    pub fn class_rule(&self, slide: &str) -> Option<Arc<ClassRule>> {
        self.class_rules
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .and_then(|rules| rules(slide))
    }

    /// What features for `slide` are checked against; `class_map` renames classes first.
    pub fn parse_context(
        &self,
        slide: &str,
        repair: bool,
        default_class: Option<String>,
        class_map: Option<&HashMap<String, String>>,
    ) -> Result<ParseContext, AnnotationError> {
        let (width, height) = self.slide_size(slide)?;
        let mut classes = self.class_rule(slide);
        if let Some(map) = class_map.filter(|m| !m.is_empty()) {
            let mut rule = classes.as_deref().cloned().unwrap_or_default();
            rule.map.clone_from(map);
            classes = Some(Arc::new(rule));
        }
        Ok(ParseContext {
            width,
            height,
            tolerance: self.limits.tolerance,
            repair,
            default_class,
            classes,
        })
    }

    /// Drops indexes (and opened snapshots) of slides another process changed.
    ///
    /// A change of this engine holds the writer from its transaction through its
    /// [`Engine::apply`], so between its commit and its apply SQLite is a generation ahead
    /// of the index. The comparison is therefore made holding the writer: an index behind
    /// SQLite then means another process wrote. While a change of ours is under way the
    /// check is left to a later call (never waited for: an import holds the writer for
    /// minutes), else every such race would drop the index and reload it in full.
    fn forget_outside_changes(&self) -> Result<(), AnnotationError> {
        let mut checked = lock(&self.checked);
        if checked.1.elapsed() < self.store.recheck_after() {
            return Ok(());
        }
        let Some(_writer) = self.store.try_writer() else {
            return Ok(());
        };
        let reader = self.reader();
        let version = reader.data_version().map_err(|e| self.db_error(e))?;
        if version != checked.0 {
            for (id, loaded) in &self.slides {
                if let Some(Ok(index)) = loaded.index.get() {
                    let mine = read(index).generation;
                    let now = reader.generation(&id).map_err(|e| self.db_error(e))?;
                    if now != mine && !self.catch_up(&**reader, &id, &loaded, (mine, now))? {
                        tracing::info!(slide = %id, "annotations changed outside this server; reloading");
                        self.slides.invalidate(id.as_str());
                    }
                }
            }
            for (id, opened) in &self.snapshots {
                if reader.generation(&id).map_err(|e| self.db_error(e))? != opened.generation() {
                    self.snapshots.invalidate(id.as_str());
                }
            }
        }
        *checked = (version, Instant::now());
        Ok(())
    }

    /// The slide's index if it is loaded and no look for outside changes is due (see
    /// [`Engine::forget_outside_changes`]); `None` rather than waiting for anything.
    pub(crate) fn loaded_now(&self, slide: &str) -> Option<Arc<LoadedSlide>> {
        if self.checked.try_lock().ok()?.1.elapsed() >= self.store.recheck_after() {
            return None;
        }
        let loaded = self.slides.get(slide)?;
        self.slide_size(slide).ok()?;
        matches!(loaded.index.get(), Some(Ok(_))).then_some(loaded)
    }

    /// The slide's index, loading it on first use.
    pub fn index(&self, slide: &str) -> Result<Arc<LoadedSlide>, AnnotationError> {
        self.slide_size(slide)?;
        self.forget_outside_changes()?;
        let loaded = self
            .slides
            .get_with_by_ref(slide, || Arc::new(LoadedSlide::default()));
        let mut fresh = false;
        let result = loaded.index.get_or_init(|| {
            fresh = true;
            self.load(slide).map(RwLock::new).map_err(|e| e.to_string())
        });
        match result {
            Err(e) => {
                self.slides.invalidate(slide);
                return Err(AnnotationError::Corrupt(e.clone()));
            }
            Ok(index) if fresh => {
                self.residency.loads.fetch_add(1, Ordering::Relaxed);
                {
                    // Loaded from the snapshot: it holds this generation.
                    let index = read(index);
                    let written = if index.texts().is_some() {
                        index.generation
                    } else {
                        -1
                    };
                    loaded.written.store(written, Ordering::Release);
                }
                self.weigh(slide, &loaded);
                if read(index).texts_behind() {
                    self.refresh_texts(slide, &loaded);
                }
            }
            Ok(_) => {}
        }
        Ok(loaded)
    }

    /// Weighs a loaded slide again (after a load or a change) for the memory budget.
    fn weigh(&self, slide: &str, loaded: &Arc<LoadedSlide>) {
        if let Some(Ok(index)) = loaded.index.get() {
            let bytes = read(index).memory_bytes() as u64;
            loaded.bytes.store(bytes, Ordering::Relaxed);
        }
        // Only if it is still the slide's entry: another may have taken its place.
        if self
            .slides
            .get(slide)
            .is_some_and(|held| Arc::ptr_eq(&held, loaded))
        {
            self.slides.insert(slide.to_string(), Arc::clone(loaded));
        }
    }

    /// What to answer a region query of `slide` for `rect` from: its loaded index, or,
    /// when it is not in memory (a server), an index of just the annotations near `rect`
    /// read from its snapshot, so that a cold slide answers without loading. Answers
    /// are the same either way.
    pub(crate) fn view(&self, slide: &str, rect: &Rect) -> Result<View, AnnotationError> {
        self.slide_size(slide)?;
        self.forget_outside_changes()?;
        if let Some(loaded) = self.loaded(slide) {
            return Ok(View::Loaded(loaded));
        }
        if self.limits.answer_texts
            && let Some(opened) = self.snapshot(slide)?
        {
            let env = entry_box(rect);
            let runs = opened.search(&env);
            let records: u64 = runs.iter().map(|r| r.end - r.start).sum();
            if records <= COLD_RECORDS.max(opened.len() / 8) {
                match opened.index(&runs, Some(&env)) {
                    Ok(index) => {
                        self.residency.cold_queries.fetch_add(1, Ordering::Relaxed);
                        return Ok(View::Cold(Box::new(index)));
                    }
                    Err(why) => {
                        tracing::warn!(slide, "snapshot unreadable, loading from the store: {why}");
                        self.snapshots.invalidate(slide);
                    }
                }
            }
        }
        self.index(slide).map(View::Loaded)
    }

    /// The slide's snapshot if there is one holding the store's state of the slide.
    fn snapshot(&self, slide: &str) -> Result<Option<Arc<Snapshot>>, AnnotationError> {
        // One lookup by key: a change by this server, or by another process (a `tessera
        // import` beside it), leaves an opened snapshot behind the store.
        let generation = self
            .reader()
            .generation(slide)
            .map_err(|e| self.db_error(e))?;
        if let Some(opened) = self.snapshots.get(slide) {
            if opened.generation() == generation {
                return Ok(Some(opened));
            }
            self.snapshots.invalidate(slide);
        }
        match Snapshot::open(&self.dir, slide, generation) {
            Ok(Some(opened)) => {
                let opened = Arc::new(opened);
                self.snapshots
                    .insert(slide.to_string(), Arc::clone(&opened));
                Ok(Some(opened))
            }
            Ok(None) => Ok(None),
            Err(why) => {
                tracing::info!(slide, "snapshot not used, made again from the store: {why}");
                Ok(None)
            }
        }
    }

    /// Writes the slide's snapshot now, on this thread (after a `tessera import`, so
    /// that a server starts with it), unless one holding the store's state is there.
    pub fn write_snapshot(&self, slide: &str) -> Result<(), AnnotationError> {
        if self.snapshot(slide)?.is_some() {
            return Ok(());
        }
        let loaded = self.index(slide)?;
        make_snapshot(&self.dir, slide, &loaded);
        Ok(())
    }

    /// Makes the slide's texts now, on this thread (tests; a server makes them in the
    /// background).
    #[cfg(test)]
    pub(crate) fn make_texts_now(&self, slide: &str) -> Result<(), AnnotationError> {
        let loaded = self.index(slide)?;
        make_snapshot(&self.dir, slide, &loaded);
        Ok(())
    }

    /// Has the slide's snapshot written again on a thread of its own, if this engine
    /// keeps snapshots; one such thread per slide, which runs once more when asked
    /// meanwhile.
    fn refresh_texts(&self, slide: &str, loaded: &Arc<LoadedSlide>) {
        if self.limits.answer_texts {
            rewrite_snapshot(loaded, &self.dir, slide);
        }
    }

    /// After a change: the snapshot is written again once the slide's changes settle
    /// (no change for [`EngineLimits::settle`]), so that a restart, or a query after
    /// the slide left memory, finds it up to date. The waiting thread keeps the index
    /// until then.
    fn settle_later(&self, slide: &str, loaded: &Arc<LoadedSlide>) {
        if !self.limits.answer_texts {
            return;
        }
        loaded.changed_ms.store(now_ms(), Ordering::Release);
        if loaded.settling.swap(true, Ordering::AcqRel) {
            return;
        }
        let (loaded, dir, slide) = (Arc::clone(loaded), self.dir.clone(), slide.to_string());
        let settle = self.limits.settle;
        std::thread::spawn(move || {
            loop {
                std::thread::sleep(settle);
                let quiet = now_ms() - loaded.changed_ms.load(Ordering::Acquire);
                if quiet >= settle.as_millis() as i64 {
                    break;
                }
            }
            loaded.settling.store(false, Ordering::Release);
            let behind = loaded.index.get().is_some_and(|index| {
                index.as_ref().is_ok_and(|index| {
                    read(index).generation != loaded.written.load(Ordering::Acquire)
                })
            });
            if behind {
                rewrite_snapshot(&loaded, &dir, &slide);
            }
        });
    }

    /// The index if the slide is already loaded (a write then keeps it up to date).
    fn loaded(&self, slide: &str) -> Option<Arc<LoadedSlide>> {
        self.slides
            .get(slide)
            .filter(|l| matches!(l.index.get(), Some(Ok(_))))
    }

    fn load(&self, slide: &str) -> Result<SlideIndex, AnnotationError> {
        let started = Instant::now();
        if let Some(opened) = self.snapshot(slide)? {
            match opened.load() {
                Ok(index) => {
                    crate::memory::release_freed();
                    tracing::info!(
                        slide,
                        annotations = index.len(),
                        seconds = started.elapsed().as_secs_f64(),
                        "loaded annotations from the snapshot"
                    );
                    return Ok(index);
                }
                Err(why) => {
                    tracing::warn!(slide, "snapshot unreadable, loading from the store: {why}");
                    self.snapshots.invalidate(slide);
                }
            }
        }
        let reader = self.reader();
        let generation = reader.generation(slide).map_err(|e| self.db_error(e))?;
        let mut index = SlideIndex::default();
        index.generation = generation;
        let rows = reader.row_bound(slide).map_err(|e| self.db_error(e))?;
        index.reserve(rows);
        let mut entries = Vec::with_capacity(rows);
        reader
            .for_each_view_in_slide(slide, &mut |row| {
                let geometry = Annotation::decode_geometry_only(row.body)
                    .map_err(|e| StoreError::new(format!("a damaged record: {e}"), None))?;
                if let Some(bbox) = geometry.bbox() {
                    entries.push(index.push_view(&row, bbox));
                }
                Ok(())
            })
            .map_err(|e| self.db_error(e))?;
        index.finish_load(entries);
        crate::memory::release_freed();
        tracing::info!(
            slide,
            annotations = index.len(),
            seconds = started.elapsed().as_secs_f64(),
            bytes_per_annotation = index.memory_bytes() / index.len().max(1),
            "loaded annotations"
        );
        Ok(index)
    }

    /// Applies committed changes to a loaded index; the slide's opened snapshot no
    /// longer holds its state. An index more than this change behind (another server or
    /// process wrote the slide since it was read) is dropped instead, to be read again.
    pub(crate) fn apply(&self, slide: &str, generation: i64, change: impl FnOnce(&mut SlideIndex)) {
        self.snapshots.invalidate(slide);
        if let Some(loaded) = self.loaded(slide)
            && let Some(Ok(index)) = loaded.index.get()
        {
            let current = read(index).generation;
            // Others' changes since the index was last brought up to date come first.
            if current + 1 != generation
                && !self
                    .catch_up(&**self.reader(), slide, &loaded, (current, generation - 1))
                    .unwrap_or(false)
            {
                tracing::info!(slide, "annotations changed outside this server; reloading");
                self.slides.invalidate(slide);
                return;
            }
            let mut index = index
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if index.generation + 1 != generation {
                drop(index);
                self.slides.invalidate(slide);
                return;
            }
            change(&mut index);
            index.generation = generation;
            let behind = index.texts_behind();
            drop(index);
            self.settle(slide, &loaded, behind);
        }
    }

    /// After a change to a loaded index: weighs it again, and brings its answer texts up
    /// to date now if they fell `behind`, else later.
    fn settle(&self, slide: &str, loaded: &Arc<LoadedSlide>, behind: bool) {
        self.weigh(slide, loaded);
        if behind {
            self.refresh_texts(slide, loaded);
        } else {
            self.settle_later(slide, loaded);
        }
    }

    /// Makes sure every slide that has annotations has a snapshot holding its state (a
    /// server does this at start, so that the first viewer of any slide does not wait
    /// for a load): slides without one are loaded, one at a time, and theirs written.
    pub fn preload(&self) {
        let slides: Vec<String> = {
            let listed = self.reader().generations();
            listed
                .map(|slides| slides.into_iter().map(|(slide, _)| slide).collect())
                .unwrap_or_default()
        };
        for slide in slides {
            if (self.bounds)(&slide).is_none() || matches!(self.snapshot(&slide), Ok(Some(_))) {
                continue;
            }
            match self.index(&slide) {
                Ok(loaded) => {
                    // One slide at a time: wait for its snapshot before the next load.
                    while loaded.texts_running.load(Ordering::Acquire) {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                }
                Err(e) => tracing::warn!(slide = %slide, "annotations not loaded: {e}"),
            }
        }
    }

    /// Whether the slide's index is in memory.
    #[must_use]
    pub fn is_loaded(&self, slide: &str) -> bool {
        self.loaded(slide).is_some()
    }

    /// Slides in memory, their bytes, and how often slides were loaded, left memory,
    /// and were queried from their snapshots.
    #[must_use]
    pub fn residency(&self) -> Residency {
        self.slides.run_pending_tasks();
        Residency {
            slides: self.slides.entry_count(),
            bytes: self
                .slides
                .iter()
                .map(|(_, l)| l.bytes.load(Ordering::Relaxed))
                .sum(),
            budget: self.limits.index_bytes,
            loads: self.residency.loads.load(Ordering::Relaxed),
            evictions: self.residency.evictions.load(Ordering::Relaxed),
            cold_queries: self.residency.cold_queries.load(Ordering::Relaxed),
        }
    }

    fn parse_one(&self, slide: &str, bytes: &[u8]) -> Result<ParsedFeature, AnnotationError> {
        let ctx = self.parse_context(slide, false, None, None)?;
        parse_item(bytes, &ctx).map_err(|(line, column, reason)| AnnotationError::Invalid {
            problems: vec![Problem {
                index: 0,
                line,
                column,
                reason,
            }],
            total: 1,
        })
    }

    /// Creates one annotation from a GeoJSON Feature. A new annotation starts as a
    /// draft unless the feature asks for a status `draft` may legally step to. The
    /// feature's own id is kept; an id in use, or used before by an annotation since
    /// deleted (its history stays), is refused as a duplicate.
    pub fn create(
        &self,
        slide: &str,
        layer: &str,
        feature: &[u8],
        caller: &str,
        guard: Guard<'_>,
    ) -> Result<Annotation, AnnotationError> {
        self.create_as(slide, layer, feature, caller, guard, IdUse::Given)
    }

    /// [`Engine::create`], with the id chosen as `id_use` says.
    pub fn create_as(
        &self,
        slide: &str,
        layer: &str,
        feature: &[u8],
        caller: &str,
        guard: Guard<'_>,
        id_use: IdUse,
    ) -> Result<Annotation, AnnotationError> {
        let f = self.parse_one(slide, feature)?;
        let fresh = (id_use == IdUse::New).then(Uuid::now_v7);
        let asked = f.id.filter(|_| id_use != IdUse::New);
        let mut a = annotation_from(f, fresh, caller, layer, now_ms());
        if let Some(id) = asked
            && let Some(before) = self.slide_of_history(&id)
            && (id_use == IdUse::Given || before != slide)
        {
            return Err(AnnotationError::DuplicateId(id));
        }
        server_owned(&mut a, None);
        if a.status != Status::Draft && !review::legal(Status::Draft, a.status, a.provenance) {
            return Err(AnnotationError::IllegalTransition(format!(
                "a new annotation starts as a draft; it cannot be created as {:?}",
                a.status.as_str()
            )));
        }
        let staged =
            Staged::of(&a).ok_or_else(|| AnnotationError::Corrupt("empty geometry".into()))?;
        let conn = self.writer();
        guard(None, Some(&a))?;
        let generation = transaction(&*conn, |tx| {
            let change = tx.add_change(None, slide, caller, "create", 1, None)?;
            if !tx.insert(slide, &staged.columns, &staged.body, change)? {
                return Err(Abort::Duplicate(a.id));
            }
            tx.add_history(change, &a.id, None, Some(&a.encode_full()))?;
            Ok(tx.bump_generation(slide)?)
        })
        .map_err(|e| e.into_error(self))?;
        self.apply(slide, generation, |index| index.put(&staged));
        Ok(a)
    }

    /// The current annotation and its slide.
    pub fn get(&self, id: &Uuid) -> Result<(String, Annotation), AnnotationError> {
        let row = self.reader().get(id).map_err(|e| self.db_error(e))?;
        let (slide, columns, body) = row.ok_or(AnnotationError::NotFound(*id))?;
        let a = Annotation::decode(columns, &body)
            .map_err(|e| AnnotationError::Corrupt(e.to_string()))?;
        Ok((slide, a))
    }

    /// The slide an annotation was on, from its history (it may be deleted since).
    #[must_use]
    pub fn slide_of_history(&self, id: &Uuid) -> Option<String> {
        self.reader().slide_of_history(id).ok().flatten()
    }

    /// The slide an audit samples.
    pub fn audit_slide(&self, audit: &str) -> Result<String, AnnotationError> {
        let missing = || AnnotationError::Missing(format!("no audit {audit:?}"));
        let id: i64 = audit.parse().map_err(|_| missing())?;
        let slide = self
            .reader()
            .audit_slide(id)
            .map_err(|e| self.db_error(e))?;
        slide.ok_or_else(missing)
    }

    /// Replaces an annotation's geometry and properties if `if_match` is its version.
    /// A feature without a `status` keeps the current one; a changed status must be a
    /// legal review step. The first edit of a model's pre-label makes it `model-edited`
    /// and its editor its author.
    pub fn update(
        &self,
        id: &Uuid,
        if_match: u32,
        feature: &[u8],
        caller: &str,
        guard: Guard<'_>,
    ) -> Result<Annotation, AnnotationError> {
        let conn = self.writer();
        let (slide, current) = current(self, &**conn, id)?;
        if current.version != if_match {
            return Err(AnnotationError::Conflict {
                current: current.version,
            });
        }
        let f = self.parse_one(&slide, feature)?;
        if f.id.is_some_and(|fid| fid != *id) {
            return Err(AnnotationError::BadRequest(
                "the feature's id differs from the URL's".into(),
            ));
        }
        let status = f.status;
        let taken_over = current.provenance == Provenance::Model;
        let author = if taken_over { caller } else { &current.author };
        let mut a = annotation_from(f, Some(*id), author, &current.layer, current.created_ms);
        a.status = status.unwrap_or(current.status);
        check_step(&current, a.status)?;
        server_owned(&mut a, Some(&current));
        self.rewrite(&*conn, &slide, &current, a, caller, "update", None, guard)
    }

    /// Moves an annotation along the review workflow (`comment` is kept in history).
    pub fn review(
        &self,
        id: &Uuid,
        if_match: Option<u32>,
        to: Status,
        comment: Option<&str>,
        caller: &str,
        guard: Guard<'_>,
    ) -> Result<Annotation, AnnotationError> {
        let conn = self.writer();
        let (slide, current) = current(self, &**conn, id)?;
        if if_match.is_some_and(|v| v != current.version) {
            return Err(AnnotationError::Conflict {
                current: current.version,
            });
        }
        if to == current.status {
            return Err(AnnotationError::IllegalTransition(format!(
                "the annotation is already {:?}",
                to.as_str()
            )));
        }
        check_step(&current, to)?;
        let mut a = current.clone();
        a.status = to;
        let detail = review_detail(current.status, to, comment);
        self.rewrite(
            &*conn,
            &slide,
            &current,
            a,
            caller,
            "review",
            Some(&detail),
            guard,
        )
    }

    /// Adds a comment to an annotation's history without changing it: a change of kind
    /// `comment` with `detail: {"comment"}`, which undo passes over. `may` decides
    /// whether the caller may comment on this annotation.
    pub fn comment(
        &self,
        id: &Uuid,
        text: &str,
        caller: &str,
        may: impl Fn(&Annotation) -> Result<(), AnnotationError>,
    ) -> Result<store::ChangeRow, AnnotationError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(AnnotationError::BadRequest("the comment is empty".into()));
        }
        if text.chars().count() > MAX_COMMENT_CHARS {
            return Err(AnnotationError::BadRequest(format!(
                "the comment is longer than {MAX_COMMENT_CHARS} characters"
            )));
        }
        let conn = self.writer();
        let (slide, current) = current(self, &**conn, id)?;
        may(&current)?;
        let detail = serde_json::json!({ "comment": text }).to_string();
        let full = current.encode_full();
        let change = transaction(&*conn, |tx| {
            let change = tx.add_change(None, &slide, caller, "comment", 1, Some(&detail))?;
            tx.add_history(change, id, Some(&full), Some(&full))?;
            Ok(change)
        })
        .map_err(|e| e.into_error(self))?;
        Ok(store::ChangeRow {
            change,
            kind: "comment".into(),
            author: caller.to_string(),
            at: now_ms(),
            undone: false,
            detail: Some(detail),
            before: None,
            after: None,
        })
    }

    /// Writes `next` over `current` as one versioned, recorded change.
    #[expect(clippy::too_many_arguments, reason = "one change's parts")]
    fn rewrite(
        &self,
        conn: &dyn Writer,
        slide: &str,
        current: &Annotation,
        mut next: Annotation,
        caller: &str,
        kind: &str,
        detail: Option<&str>,
        guard: Guard<'_>,
    ) -> Result<Annotation, AnnotationError> {
        next.version = current.version + 1;
        next.updated_ms = now_ms();
        guard(Some(current), Some(&next))?;
        let staged =
            Staged::of(&next).ok_or_else(|| AnnotationError::Corrupt("empty geometry".into()))?;
        let generation = transaction(conn, |tx| {
            let change = tx.add_change(None, slide, caller, kind, 1, detail)?;
            tx.replace(&next)?;
            tx.add_history(
                change,
                &next.id,
                Some(&current.encode_full()),
                Some(&next.encode_full()),
            )?;
            Ok(tx.bump_generation(slide)?)
        })
        .map_err(|e| e.into_error(self))?;
        self.apply(slide, generation, |index| index.put(&staged));
        Ok(next)
    }

    /// The pending pre-labels (`draft`, provenance `model`) that `selection` takes, as
    /// [`Engine::decide_pre_labels`] would decide them; the viewer asks for their count
    /// before it asks to decide.
    pub fn pending_pre_labels(
        &self,
        slide: &str,
        selection: &PreLabelSelection,
    ) -> Result<Vec<Annotation>, AnnotationError> {
        let loaded = self.index(slide)?;
        let index = loaded.read();
        let mut chosen = Vec::new();
        for n in index.candidates(&selection.bbox) {
            let s = index.slot(n);
            let pending = s.provenance == Provenance::Model && s.status == Status::Draft;
            let of_class = selection.classes.as_ref().is_none_or(|c| {
                c.iter()
                    .any(|name| index.classes.find(name) == Some(s.class))
            });
            let in_layer = selection
                .layer
                .as_ref()
                .is_none_or(|l| index.layers.find(l) == Some(s.layer));
            if !(pending && of_class && in_layer) {
                continue;
            }
            let corrupt = |e: super::codec::Corrupt| AnnotationError::Corrupt(e.to_string());
            if !index.meets(n, &selection.bbox).map_err(corrupt)? {
                continue;
            }
            let a = index.annotation(n).map_err(corrupt)?;
            let confidence = a.confidence.map(f64::from);
            let within = |bound: Option<f64>, ok: fn(f64, f64) -> bool| {
                bound.is_none_or(|b| confidence.is_some_and(|c| ok(c, b)))
            };
            if within(selection.min_confidence, |c, b| c >= b)
                && within(selection.max_confidence, |c, b| c < b)
            {
                chosen.push(a);
            }
        }
        Ok(chosen)
    }

    /// Decides a model's pending pre-labels in bulk: every `draft` with provenance
    /// `model` that meets `selection` becomes `to` (`approved` or `rejected`), as one
    /// change with a history entry per annotation.
    pub fn decide_pre_labels(
        &self,
        slide: &str,
        selection: &PreLabelSelection,
        to: Status,
        comment: Option<&str>,
        caller: &str,
    ) -> Result<usize, AnnotationError> {
        if !matches!(to, Status::Approved | Status::Rejected) {
            return Err(AnnotationError::BadRequest(format!(
                "pre-labels are decided as approved or rejected, not {:?}",
                to.as_str()
            )));
        }
        let chosen = self.pending_pre_labels(slide, selection)?;
        Ok(self
            .step_all(slide, &chosen, Status::Draft, to, comment, caller)?
            .len())
    }

    /// The drafts `author` has on `slide`, oldest first: what marking the slide done
    /// submits.
    pub fn drafts_of(&self, slide: &str, author: &str) -> Result<Vec<Annotation>, AnnotationError> {
        let loaded = self.index(slide)?;
        let index = loaded.read();
        let Some(me) = index.authors.find(author) else {
            return Ok(Vec::new());
        };
        let corrupt = |e: super::codec::Corrupt| AnnotationError::Corrupt(e.to_string());
        let mut drafts = Vec::new();
        for n in 0..u32::try_from(index.slot_count()).unwrap_or(u32::MAX) {
            let s = index.slot(n);
            if s.alive && s.author == me && s.status == Status::Draft {
                drafts.push(index.annotation(n).map_err(corrupt)?);
            }
        }
        drafts.sort_by(|a, b| a.created_ms.cmp(&b.created_ms).then(a.id.cmp(&b.id)));
        Ok(drafts)
    }

    /// Submits every draft `author` has on `slide` (`draft → submitted`), as one change
    /// with a history entry per annotation; returns them as submitted.
    pub fn submit_drafts(
        &self,
        slide: &str,
        author: &str,
        comment: Option<&str>,
    ) -> Result<Vec<Annotation>, AnnotationError> {
        let drafts = self.drafts_of(slide, author)?;
        self.step_all(
            slide,
            &drafts,
            Status::Draft,
            Status::Submitted,
            comment,
            author,
        )
    }

    /// Moves `chosen` (each at `from`) to `to` as one change by `caller`; refuses, changing
    /// nothing, if one of them was changed since it was read.
    fn step_all(
        &self,
        slide: &str,
        chosen: &[Annotation],
        from: Status,
        to: Status,
        comment: Option<&str>,
        caller: &str,
    ) -> Result<Vec<Annotation>, AnnotationError> {
        let conn = self.writer();
        if chosen.is_empty() {
            return Ok(Vec::new());
        }
        let now = now_ms();
        let decided: Vec<Annotation> = chosen
            .iter()
            .map(|a| {
                let mut next = a.clone();
                next.status = to;
                next.version += 1;
                next.updated_ms = now;
                next
            })
            .collect();
        let detail = review_detail(from, to, comment);
        let generation = transaction(&*conn, |tx| {
            let change =
                tx.add_change(None, slide, caller, "review", decided.len(), Some(&detail))?;
            for (before, after) in chosen.iter().zip(&decided) {
                if tx
                    .get(&before.id)?
                    .is_none_or(|(_, c, _)| c.version != before.version)
                {
                    return Err(Abort::EditedSince(before.id));
                }
                tx.replace(after)?;
                tx.add_history(
                    change,
                    &after.id,
                    Some(&before.encode_full()),
                    Some(&after.encode_full()),
                )?;
            }
            Ok(tx.bump_generation(slide)?)
        })
        .map_err(|e| e.into_error(self))?;
        self.apply(slide, generation, |index| {
            for a in &decided {
                if let Some(s) = Staged::of(a) {
                    index.put(&s);
                }
            }
        });
        Ok(decided)
    }

    /// Deletes an annotation (if `if_match` is given, only at that version).
    pub fn delete(
        &self,
        id: &Uuid,
        if_match: Option<u32>,
        caller: &str,
        guard: Guard<'_>,
    ) -> Result<Annotation, AnnotationError> {
        let conn = self.writer();
        let (slide, current) = current(self, &**conn, id)?;
        if if_match.is_some_and(|v| v != current.version) {
            return Err(AnnotationError::Conflict {
                current: current.version,
            });
        }
        guard(Some(&current), None)?;
        let generation = transaction(&*conn, |tx| {
            let change = tx.add_change(None, &slide, caller, "delete", 1, None)?;
            tx.delete(id)?;
            tx.add_history(change, id, Some(&current.encode_full()), None)?;
            Ok(tx.bump_generation(&slide)?)
        })
        .map_err(|e| e.into_error(self))?;
        self.apply(&slide, generation, |index| {
            index.remove(id);
        });
        Ok(current)
    }

    /// Every recorded change of an annotation: (change, before, after), oldest first.
    pub fn history(&self, id: &Uuid) -> Result<Vec<HistoryEntry>, AnnotationError> {
        let reader = self.reader();
        let mut out = Vec::new();
        if let Some(import) = reader.creating_import(id).map_err(|e| self.db_error(e))? {
            out.push(HistoryEntry {
                change: import,
                before: None,
                after: None,
            });
        }
        for row in reader.history(id).map_err(|e| self.db_error(e))? {
            let decode = |b: &Option<Vec<u8>>| {
                b.as_deref()
                    .map(|b| Annotation::decode_full(*id, b))
                    .transpose()
                    .map_err(|e| AnnotationError::Corrupt(e.to_string()))
            };
            let (before, after) = (decode(&row.before)?, decode(&row.after)?);
            out.push(HistoryEntry {
                change: row,
                before,
                after,
            });
        }
        if out.is_empty() {
            return Err(AnnotationError::NotFound(*id));
        }
        Ok(out)
    }

    /// Undoes the caller's latest change on `slide` that is not undone yet.
    pub fn undo(&self, slide: &str, caller: &str) -> Result<UndoReport, AnnotationError> {
        self.slide_size(slide)?;
        let conn = self.writer();
        let last = conn
            .last_undoable(slide, caller)
            .map_err(|e| self.db_error(e))?;
        let (change_id, kind) =
            last.ok_or_else(|| AnnotationError::NothingToUndo(caller.to_string()))?;
        let mut removed: Vec<Uuid> = Vec::new();
        let mut restored: Vec<Annotation> = Vec::new();
        let generation = transaction(&*conn, |tx| {
            let undo =
                tx.add_change(None, slide, caller, "undo", 0, Some(&change_id.to_string()))?;
            if kind == "import" {
                let created = tx.created_by(slide, change_id)?;
                if let Some((id, _)) = created.iter().find(|(_, v)| *v != 1) {
                    return Err(Abort::EditedSince(*id));
                }
                tx.delete_created_by(slide, change_id)?;
                removed.extend(created.into_iter().map(|(id, _)| id));
            } else {
                for (id, before, after) in tx.change_history(change_id)? {
                    let now = tx.get(&id)?;
                    let now_version = now.as_ref().map(|(_, c, _)| c.version);
                    let now_full = now
                        .map(|(_, c, b)| Annotation::decode(c, &b).map(|a| a.encode_full()))
                        .transpose()
                        .map_err(|e| Abort::Corrupt(e.to_string()))?;
                    // Changed since? Compared by content: an undo in between restores the
                    // same content under a newer version.
                    if !same_content(&id, now_full.as_deref(), after.as_deref())? {
                        return Err(Abort::EditedSince(id));
                    }
                    match before {
                        None => {
                            tx.delete(&id)?;
                            removed.push(id);
                        }
                        Some(b) => {
                            let mut a = Annotation::decode_full(id, &b)
                                .map_err(|e| Abort::Corrupt(e.to_string()))?;
                            a.version = now_version.unwrap_or(a.version).max(a.version) + 1;
                            a.updated_ms = now_ms();
                            if now_version.is_some() {
                                tx.replace(&a)?;
                            } else {
                                tx.insert(slide, &a.columns(), &a.encode_body(), undo)?;
                            }
                            tx.add_history(undo, &id, now_full.as_deref(), Some(&a.encode_full()))?;
                            restored.push(a);
                        }
                    }
                }
            }
            tx.mark_undone(change_id)?;
            Ok(tx.bump_generation(slide)?)
        })
        .map_err(|e| e.into_error(self))?;
        let report = UndoReport {
            change: change_id,
            kind,
            removed: removed.len(),
            restored: restored.len(),
        };
        self.apply(slide, generation, |index| {
            for id in &removed {
                index.remove(id);
            }
            for a in &restored {
                if let Some(s) = Staged::of(a) {
                    index.put(&s);
                }
            }
        });
        Ok(report)
    }
}

/// Refuses a status change that is not a legal review step.
fn check_step(current: &Annotation, to: Status) -> Result<(), AnnotationError> {
    if to == current.status || review::legal(current.status, to, current.provenance) {
        return Ok(());
    }
    let next = review::next_steps(current.status, current.provenance);
    Err(AnnotationError::IllegalTransition(format!(
        "{:?} cannot become {:?} (from {:?} it can go to: {})",
        current.status.as_str(),
        to.as_str(),
        current.status.as_str(),
        if next.is_empty() {
            "nothing".to_string()
        } else {
            next.join(", ")
        }
    )))
}

/// Longest comment [`Engine::comment`] keeps, in characters.
pub const MAX_COMMENT_CHARS: usize = 4000;

/// A review change's detail, as stored in `changes.detail`.
fn review_detail(from: Status, to: Status, comment: Option<&str>) -> String {
    serde_json::json!({"from": from.as_str(), "to": to.as_str(), "comment": comment}).to_string()
}

/// Which pre-labels a bulk decision takes.
#[derive(Debug, Clone)]
pub struct PreLabelSelection {
    pub bbox: super::geometry::Rect,
    pub classes: Option<Vec<String>>,
    pub layer: Option<String>,
    /// Confidence ≥ this (pre-labels without a confidence are then left out).
    pub min_confidence: Option<f64>,
    /// Confidence < this.
    pub max_confidence: Option<f64>,
}

/// Whether two stored states (full records, or absent) hold the same annotation apart
/// from version and update time.
fn same_content(id: &Uuid, a: Option<&[u8]>, b: Option<&[u8]>) -> Result<bool, Abort> {
    let decode = |bytes: &[u8]| {
        Annotation::decode_full(*id, bytes)
            .map(|mut x| {
                x.version = 0;
                x.updated_ms = 0;
                x
            })
            .map_err(|e| Abort::Corrupt(e.to_string()))
    };
    Ok(match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => decode(a)? == decode(b)?,
        _ => false,
    })
}

/// A change and the annotation before and after it (`None`: did not exist, or, for an
/// import, not recorded separately).
#[derive(Debug)]
pub struct HistoryEntry {
    pub change: store::ChangeRow,
    pub before: Option<Annotation>,
    pub after: Option<Annotation>,
}

/// What an undo did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct UndoReport {
    /// The change that was undone.
    pub change: i64,
    pub kind: String,
    pub removed: usize,
    pub restored: usize,
}

/// Has the slide's snapshot written again on a thread of its own: one such thread per
/// slide, which runs once more when asked meanwhile.
fn rewrite_snapshot(loaded: &Arc<LoadedSlide>, dir: &Path, slide: &str) {
    loaded.texts_wanted.store(true, Ordering::Release);
    if loaded.texts_running.swap(true, Ordering::AcqRel) {
        return;
    }
    let (loaded, dir, slide) = (Arc::clone(loaded), dir.to_path_buf(), slide.to_string());
    std::thread::spawn(move || {
        loop {
            loaded.texts_wanted.store(false, Ordering::Release);
            make_snapshot(&dir, &slide, &loaded);
            loaded.texts_running.store(false, Ordering::Release);
            if !loaded.texts_wanted.load(Ordering::Acquire)
                || loaded.texts_running.swap(true, Ordering::AcqRel)
            {
                break;
            }
        }
    });
}

fn read(index: &RwLock<SlideIndex>) -> RwLockReadGuard<'_, SlideIndex> {
    index
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl LoadedSlide {
    /// Read access to the index unless a writer holds it; `None` also when it failed
    /// to load.
    pub fn try_read(&self) -> Option<IndexGuard<'_>> {
        match self.index.get()?.as_ref().ok()?.try_read() {
            Ok(guard) => Some(guard),
            Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }

    /// Read access to the index ([`Engine::index`] only hands out loaded slides).
    pub fn read(&self) -> IndexGuard<'_> {
        match self.index.get() {
            Some(Ok(index)) => read(index),
            // `Engine::index` only hands out loaded slides.
            _ => unreachable!("slide index used before it was loaded"),
        }
    }
}

fn current(
    engine: &Engine,
    conn: &dyn Reads,
    id: &Uuid,
) -> Result<(String, Annotation), AnnotationError> {
    let row = conn.get(id).map_err(|e| engine.db_error(e))?;
    let (slide, columns, body) = row.ok_or(AnnotationError::NotFound(*id))?;
    let a =
        Annotation::decode(columns, &body).map_err(|e| AnnotationError::Corrupt(e.to_string()))?;
    Ok((slide, a))
}

/// Builds a stored annotation from a parsed feature.
pub(crate) fn annotation_from(
    f: ParsedFeature,
    id: Option<Uuid>,
    author: &str,
    layer: &str,
    created_ms: i64,
) -> Annotation {
    Annotation {
        id: id.or(f.id).unwrap_or_else(Uuid::now_v7),
        layer: layer.to_string(),
        class: f.class,
        color: f.color,
        geometry: f.geometry,
        nucleus: f.nucleus,
        object_type: f.object_type,
        shape: f.shape,
        name: f.name,
        is_locked: f.is_locked,
        author: author.to_string(),
        provenance: f.provenance.unwrap_or(Provenance::Human),
        status: f.status.unwrap_or(Status::Draft),
        confidence: f.confidence,
        extra: f.extra,
        version: 1,
        created_ms: f.created_ms.unwrap_or(created_ms),
        updated_ms: now_ms(),
    }
}

/// Which id a created annotation gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdUse {
    /// The feature's own, if it was never used.
    Given,
    /// The feature's own, which may be that of an annotation deleted from this slide
    /// (a redo of an undone create): its history goes on. Refused as a duplicate when
    /// the id is in use or was used on another slide.
    Revived,
    /// A new one, whatever id the feature has.
    New,
}

/// What the server, not the client, says of an annotation created or edited one at a
/// time: a new one is a person's (`human`, no model, no confidence) created now; an
/// edit keeps the creation time, confidence and model of `current`, and a model's
/// pre-label becomes `model-edited`. Only an import may say an annotation is a model's.
fn server_owned(a: &mut Annotation, current: Option<&Annotation>) {
    let model = current.and_then(|c| extras::member(&c.extra, "model"));
    a.extra = extras::without_member(&a.extra, "model");
    if let Some(model) = model {
        extras::push_member(&mut a.extra, "model", &model);
    }
    match current {
        None => {
            a.provenance = Provenance::Human;
            a.confidence = None;
            a.created_ms = now_ms();
        }
        Some(c) => {
            a.provenance = match c.provenance {
                Provenance::Model | Provenance::ModelEdited => Provenance::ModelEdited,
                Provenance::Human => Provenance::Human,
            };
            a.confidence = c.confidence;
            a.created_ms = c.created_ms;
        }
    }
}

/// Why a transaction was rolled back.
#[derive(Debug)]
pub(crate) enum Abort {
    Db(StoreError),
    Duplicate(Uuid),
    EditedSince(Uuid),
    Corrupt(String),
    /// The input was refused; roll back and report this.
    Refused(Box<AnnotationError>),
}

impl From<StoreError> for Abort {
    fn from(e: StoreError) -> Self {
        Self::Db(e)
    }
}

impl Abort {
    pub(crate) fn into_error(self, engine: &Engine) -> AnnotationError {
        match self {
            Self::Db(e) => engine.db_error(e),
            Self::Duplicate(id) => AnnotationError::DuplicateId(id),
            Self::EditedSince(id) => AnnotationError::EditedSince(id),
            Self::Corrupt(e) => AnnotationError::Corrupt(e),
            Self::Refused(e) => *e,
        }
    }
}

/// Runs `f` in one transaction of the writer (see [`store::transaction`]).
pub(crate) fn transaction<T>(
    writer: &dyn Writer,
    f: impl FnOnce(&dyn Writes) -> Result<T, Abort>,
) -> Result<T, Abort> {
    store::transaction(writer, f)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An engine on the store in `dir`, with a 1000×1000 slide `s`.
    fn open(dir: &Path) -> Engine {
        Engine::open(
            dir,
            Box::new(|s| (s == "s").then_some((1000.0, 1000.0))),
            EngineLimits::default(),
        )
        .expect("engine")
    }

    /// A triangle at `x` of class `class`.
    fn triangle(x: u32, class: &str) -> Vec<u8> {
        format!(
            r#"{{"type":"Feature","geometry":{{"type":"Polygon","coordinates":[[[{x},10],[{},10],[{},30],[{x},10]]]}},"properties":{{"classification":{{"name":"{class}"}}}}}}"#,
            x + 20,
            x + 20
        )
        .into_bytes()
    }

    /// An engine on a 1000×1000 slide `s` with one annotation, its index loaded.
    fn engine(dir: &Path) -> Engine {
        let e = open(dir);
        e.create("s", "cells", &triangle(10, "Tumor"), "t", &unguarded)
            .expect("a valid feature");
        e.index("s").expect("the index loads");
        e
    }

    /// Id, version and class of every annotation a loaded index holds.
    fn held(loaded: &LoadedSlide) -> std::collections::BTreeSet<(Uuid, u32, String)> {
        let Some(Ok(index)) = loaded.index.get() else {
            panic!("the index is loaded")
        };
        let index = read(index);
        index
            .live_slots()
            .map(|n| {
                let a = index.annotation(n).expect("decodes");
                (a.id, a.version, a.class)
            })
            .collect()
    }

    #[test]
    fn edits_made_elsewhere_are_caught_up_and_an_import_reloads() {
        let dir = tempfile::tempdir().expect("temp dir");
        let e = engine(dir.path());
        let before = e.index("s").expect("index");
        let other = open(dir.path());
        let x = other
            .create("s", "cells", &triangle(100, "Tumor"), "o", &unguarded)
            .expect("create");
        let y = other
            .create("s", "cells", &triangle(200, "Tumor"), "o", &unguarded)
            .expect("create");
        other
            .update(&x.id, 1, &triangle(110, "Stroma"), "o", &unguarded)
            .expect("update");
        other.delete(&y.id, None, "o", &unguarded).expect("delete");
        other.undo("s", "o").expect("undo the delete");
        other
            .create(
                "s",
                "cells",
                &triangle(300, "Immune cells"),
                "o",
                &unguarded,
            )
            .expect("create");
        other.undo("s", "o").expect("undo the create");
        other
            .comment(&x.id, "looks right", "o", |_| Ok(()))
            .expect("comment");
        std::thread::sleep(RECHECK_AFTER + Duration::from_millis(100));
        let after = e.index("s").expect("index");
        assert!(
            Arc::ptr_eq(&before, &after),
            "the index was reloaded instead of caught up"
        );
        let fresh = open(dir.path()).index("s").expect("index");
        assert_eq!(held(&after), held(&fresh));
        assert_eq!(held(&after).len(), 3, "{:?}", held(&after));

        let file = format!(
            r#"{{"type":"FeatureCollection","features":[{}]}}"#,
            String::from_utf8(triangle(400, "Tumor")).expect("utf-8")
        );
        let opts = crate::annotations::import::ImportOptions {
            layer: "imported".into(),
            author: "model".into(),
            ..Default::default()
        };
        other
            .import("s", file.as_bytes(), &opts, &|_| {})
            .expect("import");
        std::thread::sleep(RECHECK_AFTER + Duration::from_millis(100));
        let reloaded = e.index("s").expect("index");
        assert!(
            !Arc::ptr_eq(&after, &reloaded),
            "an import elsewhere reloads"
        );
        assert_eq!(held(&reloaded).len(), 4);
    }

    /// Bumps slide `s`'s generation in a transaction of `writer`.
    fn bump(writer: &dyn Writer) {
        let tx = writer.begin().expect("begin");
        tx.bump_generation("s").expect("bump");
        tx.commit().expect("commit");
    }

    #[test]
    fn a_change_of_ours_between_commit_and_apply_is_not_taken_for_an_outside_one() {
        let dir = tempfile::tempdir().expect("temp dir");
        let e = engine(dir.path());
        let before = e.index("s").expect("index");
        {
            // Our own change, committed (the writer's connection bumped the generation)
            // and not yet applied to the index: the writer is still held.
            let writer = e.writer();
            bump(&*writer);
            std::thread::sleep(RECHECK_AFTER + Duration::from_millis(100));
            let during = std::thread::scope(|s| s.spawn(|| e.index("s")).join())
                .expect("no panic")
                .expect("index");
            assert!(
                Arc::ptr_eq(&before, &during),
                "the index was dropped for a change this engine was still applying"
            );
        }
        // Another process's change (its own connection, our writer free) is noticed.
        let other = store::open(dir.path(), StoreOptions::default()).expect("a second store");
        bump(&*other.writer());
        std::thread::sleep(RECHECK_AFTER + Duration::from_millis(100));
        let after = e.index("s").expect("index");
        assert!(
            !Arc::ptr_eq(&before, &after),
            "an outside change must drop the index"
        );
    }
}
