//! The in-memory form of one slide's annotations: compact records in an arena, an
//! R-tree of their bounding boxes, and the fields queries filter on.
//!
//! Memory per polygon cell is 64 bytes of slot, its record body (≈ 110 bytes for a
//! 20-vertex cell with a few measurements), ≈ 45 bytes of R-tree and ≈ 10 of id table;
//! [`SlideIndex::memory_bytes`] reports the real figure.

use super::codec::Corrupt;
use super::geojson::write::{Fields, RecordColumns, push_plain_extras, push_record};
use super::geometry::{Geometry, Rect, SCALE};
use super::model::{Annotation, Columns, Provenance, Status, default_color};
use super::slot_ids::SlotIds;
use super::texts::FeatureTexts;
use foldhash::HashMap;
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{AABB, RStarInsertionStrategy, RTree, RTreeParams};
use uuid::Uuid;

/// Wider nodes than rstar's default (3 to 6 children): a search among a million boxes
/// visits fewer, fuller nodes. Its share of a viewport query's CPU fell from 7.6% to
/// 4.3% (perf, 1M cells).
#[derive(Debug)]
pub struct TreeParams;

impl RTreeParams for TreeParams {
    const MIN_SIZE: usize = 8;
    const MAX_SIZE: usize = 24;
    const REINSERTION_COUNT: usize = 6;
    type DefaultInsertionStrategy = RStarInsertionStrategy;
}

/// Side of the square tiles whose row-major order numbers the slots of a loaded index
/// and orders the texts file, in pixels: the annotations of a query box are then about
/// one run of neighbours per row of tiles it covers.
const TILE: f64 = 128.0;

/// An R-tree entry: a bounding box in pixels (rounded outwards to `f32`) and a slot.
pub type Entry = GeomWithData<Rectangle<[f32; 2]>, u32>;

/// Distinct strings of one field (layers, classes, authors), numbered.
#[derive(Debug, Default)]
pub struct Interner {
    names: Vec<String>,
    numbers: HashMap<String, u16>,
    /// The number last asked for: rows in a row mostly share their layer, class, author.
    last: Option<u16>,
}

impl Interner {
    fn intern(&mut self, s: &str) -> u16 {
        if let Some(n) = self.last
            && self.name(n) == s
        {
            return n;
        }
        let n = if let Some(&n) = self.numbers.get(s) {
            n
        } else {
            let n = u16::try_from(self.names.len()).unwrap_or(u16::MAX);
            self.names.push(s.to_string());
            self.numbers.insert(s.to_string(), n);
            n
        };
        self.last = Some(n);
        n
    }

    #[must_use]
    pub fn find(&self, s: &str) -> Option<u16> {
        self.numbers.get(s).copied()
    }

    #[must_use]
    pub fn name(&self, n: u16) -> &str {
        self.names.get(usize::from(n)).map_or("", String::as_str)
    }

    #[must_use]
    pub fn names(&self) -> &[String] {
        &self.names
    }
}

/// Slots without texts that queries may format themselves before the texts are made
/// again (see [`SlideIndex::texts_behind`]).
const TEXTS_SLACK: usize = 1024;

/// Record bodies in fixed-size segments: growing never copies what is already there (a
/// doubling `Vec` would briefly hold twice a slide's bodies).
#[derive(Debug, Default)]
struct Arena {
    segments: Vec<Vec<u8>>,
}

/// Bytes per arena segment.
const SEGMENT: usize = 16 << 20;

impl Arena {
    /// Appends `bytes`; returns where they are (segment in the high 32 bits) and length.
    fn push(&mut self, bytes: &[u8]) -> (u64, u32) {
        let fits = self
            .segments
            .last()
            .is_some_and(|s| s.capacity() - s.len() >= bytes.len());
        if !fits {
            self.segments
                .push(Vec::with_capacity(SEGMENT.max(bytes.len())));
        }
        let n = self.segments.len() - 1;
        let segment = &mut self.segments[n];
        let at = segment.len();
        segment.extend_from_slice(bytes);
        (((n as u64) << 32) | at as u64, bytes.len() as u32)
    }

    fn get(&self, at: u64, len: u32) -> &[u8] {
        let (segment, offset) = ((at >> 32) as usize, (at & 0xffff_ffff) as usize);
        &self.segments[segment][offset..offset + len as usize]
    }

    /// Returns the unused tail of the last segment.
    fn trim(&mut self) {
        if let Some(last) = self.segments.last_mut() {
            last.shrink_to_fit();
        }
    }

    fn capacity(&self) -> usize {
        self.segments.iter().map(Vec::capacity).sum()
    }
}

/// The indexed fields of one annotation; its record body lives in the arena.
#[derive(Debug, Clone)]
pub struct Slot {
    pub id: Uuid,
    body_at: u64,
    body_len: u32,
    pub version: u32,
    pub class: u16,
    pub layer: u16,
    pub author: u16,
    pub status: Status,
    pub provenance: Provenance,
    pub alive: bool,
    /// Whether the body's extras are in [`super::extras`] form.
    compact: bool,
    pub bbox: Rect,
}

/// One slide's annotations in memory.
#[derive(Debug, Default)]
pub struct SlideIndex {
    slots: Vec<Slot>,
    arena: Arena,
    tree: RTree<Entry, TreeParams>,
    by_id: SlotIds,
    pub layers: Interner,
    pub classes: Interner,
    /// Each class's colour, as the first annotation of that class gave it.
    class_colors: Vec<[u8; 3]>,
    pub authors: Interner,
    live: usize,
    skeletons: super::extras::Skeletons,
    /// Reused buffer for compacting a body.
    scratch: Vec<u8>,
    /// Slot → the slot with the same id it displaced (see [`SlideIndex::rename`]).
    displaced: HashMap<u32, u32>,
    /// The store's generation of this slide that the index reflects.
    pub generation: i64,
    /// Changes each time the slots are replaced wholesale (slot numbers then mean other
    /// annotations), so that texts made for the old ones are not installed.
    pub era: u64,
    /// The annotations' GeoJSON texts on disk, for queries to copy.
    texts: Option<std::sync::Arc<FeatureTexts>>,
}

/// An annotation ready to enter the index: its columns, record body and bounding box.
#[derive(Debug, Clone)]
pub struct Staged {
    pub columns: Columns,
    pub body: Vec<u8>,
    /// Where the body's `extra` starts.
    pub extra_at: usize,
    pub bbox: Rect,
}

impl Staged {
    #[must_use]
    pub fn of(a: &Annotation) -> Option<Self> {
        let (body, extra_at) = a.encode_body_and_extra_offset();
        Some(Self {
            columns: a.columns(),
            body,
            extra_at,
            bbox: a.geometry.bbox()?,
        })
    }

    /// Like [`Staged::of`], moving the strings instead of copying them.
    #[must_use]
    pub fn from_owned(a: Annotation) -> Option<Self> {
        let bbox = a.geometry.bbox()?;
        let (body, extra_at) = a.encode_body_and_extra_offset();
        Some(Self {
            columns: Columns {
                id: a.id,
                layer: a.layer,
                class: a.class,
                author: a.author,
                status: a.status,
                version: a.version,
            },
            body,
            extra_at,
            bbox,
        })
    }
}

fn entry(bbox: &Rect, slot: u32) -> Entry {
    let down = |v: i32| {
        let exact = f64::from(v) / SCALE;
        let f = exact as f32;
        if f64::from(f) > exact {
            f.next_down()
        } else {
            f
        }
    };
    let up = |v: i32| {
        let exact = f64::from(v) / SCALE;
        let f = exact as f32;
        if f64::from(f) < exact { f.next_up() } else { f }
    };
    GeomWithData::new(
        Rectangle::from_corners([down(bbox.x0), down(bbox.y0)], [up(bbox.x1), up(bbox.y1)]),
        slot,
    )
}

/// Reorders `items` in place so that `items[new]` is what was at `order[new]`
/// (`order` a permutation), one cycle at a time: no second copy of the items.
fn permute<T>(items: &mut [T], order: &[u32]) {
    let mut placed = vec![false; items.len()];
    for start in 0..items.len() {
        let mut at = start;
        while !placed[at] {
            placed[at] = true;
            let from = order[at] as usize;
            if from == start {
                break;
            }
            items.swap(at, from);
            at = from;
        }
    }
}

/// The box a tree keeps for an annotation's bounding box `r` (rounded outwards to
/// `f32`), and the box a query for `r` searches with.
#[must_use]
pub fn entry_box(r: &Rect) -> AABB<[f32; 2]> {
    let e = entry(r, 0);
    AABB::from_corners(e.geom().lower(), e.geom().upper())
}

fn envelope(r: &Rect) -> AABB<[f32; 2]> {
    entry_box(r)
}

impl SlideIndex {
    /// An empty index whose names are numbered as given (those of a snapshot).
    #[must_use]
    pub fn named(
        layers: &[String],
        classes: &[String],
        class_colors: &[[u8; 3]],
        authors: &[String],
    ) -> Self {
        let mut index = Self::default();
        for (interner, names) in [
            (&mut index.layers, layers),
            (&mut index.classes, classes),
            (&mut index.authors, authors),
        ] {
            for name in names {
                interner.intern(name);
            }
            interner.last = None;
        }
        index.class_colors = class_colors.to_vec();
        index
    }

    /// Each class's colour, by class number.
    #[must_use]
    pub fn class_colors(&self) -> &[[u8; 3]] {
        &self.class_colors
    }

    /// Finishes a load of [`SlideIndex::push_view`]s that came in tile order (from a
    /// snapshot): one bulk load of the tree, slots numbered as they came.
    pub fn finish_in_order(&mut self, entries: Vec<Entry>) {
        self.displaced.clear();
        self.tree = RTree::bulk_load_with_params(entries);
        self.arena.trim();
        self.slots.shrink_to_fit();
    }

    /// Appends slot `n`'s record body in the form the store keeps (extras as text).
    pub fn push_plain_body(&self, n: u32, out: &mut Vec<u8>) {
        let s = &self.slots[n as usize];
        if s.compact
            && let Ok(a) = self.annotation(n)
        {
            out.extend_from_slice(&a.encode_body());
        } else {
            out.extend_from_slice(self.body(s));
        }
    }

    /// Adds a staged annotation (without an R-tree entry: the caller inserts or bulk-loads it).
    pub fn push_slot(&mut self, s: &Staged) -> Entry {
        let view = super::store::RowView {
            id: s.columns.id,
            layer: &s.columns.layer,
            class: &s.columns.class,
            author: &s.columns.author,
            status: s.columns.status,
            version: s.columns.version,
            body: &s.body,
        };
        self.push_row(&view, s.bbox, Some(s.extra_at))
    }

    /// Adds a stored row (without an R-tree entry: the caller inserts or bulk-loads it).
    pub fn push_view(&mut self, v: &super::store::RowView<'_>, bbox: Rect) -> Entry {
        // A corrupt body stays plain.
        self.push_row(v, bbox, Annotation::extra_offset(v.body).ok())
    }

    /// [`SlideIndex::push_view`] with the body's `extra` offset, if it has one.
    fn push_row(
        &mut self,
        v: &super::store::RowView<'_>,
        bbox: Rect,
        extra_at: Option<usize>,
    ) -> Entry {
        let n = self.slots.len() as u32;
        let class = self.classes.intern(v.class);
        if usize::from(class) == self.class_colors.len() {
            let color = Annotation::color_in_body(v.body).unwrap_or_else(|| default_color(v.class));
            self.class_colors.push(color);
        }
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        let compacted = extra_at.map_or(Err(Corrupt(0)), |at| {
            self.skeletons.compact_into(v.body, at, &mut scratch)
        });
        let (body_at, body_len) =
            self.arena
                .push(if compacted.is_ok() { &scratch } else { v.body });
        self.scratch = scratch;
        let slot = Slot {
            id: v.id,
            body_at,
            body_len,
            compact: compacted.is_ok(),
            version: v.version,
            class,
            layer: self.layers.intern(v.layer),
            author: self.authors.intern(v.author),
            status: v.status,
            provenance: v
                .body
                .get(3)
                .and_then(|&b| Provenance::from_byte(b))
                .unwrap_or(Provenance::Human),
            alive: true,
            bbox,
        };
        let e = entry(&slot.bbox, n);
        self.slots.push(slot);
        if let Some(old) = self.by_id.insert(&self.slots, n) {
            // A replaced version: the old slot stays as garbage.
            self.kill(old);
            self.displaced.insert(n, old);
        }
        self.live += 1;
        e
    }

    fn kill(&mut self, n: u32) {
        let slot = &mut self.slots[n as usize];
        if slot.alive {
            slot.alive = false;
            self.live -= 1;
            let e = entry(&slot.bbox, n);
            self.tree.remove(&e);
        }
    }

    /// Room for `n` more annotations, so loading does not grow (and copy) the slots
    /// and the id map: growing holds the old and the new table at once.
    pub fn reserve(&mut self, n: usize) {
        self.slots.reserve_exact(n);
        self.by_id.reserve(&self.slots, n);
    }

    /// Finishes a load of [`SlideIndex::push_view`]s: slots numbered in tile order, one
    /// bulk load of the tree, and buffers trimmed to size.
    pub fn finish_load(&mut self, entries: Vec<Entry>) {
        self.displaced.clear();
        self.build_tree(entries);
    }

    /// [`SlideIndex::finish_load`] that remembers which slots displaced which, for
    /// [`SlideIndex::finish_renames`] to come (an import's fragment, whose tree is
    /// built while the import still checks its ids). Slots get new numbers: returns
    /// each one's, `new_of[old]`.
    pub fn build_tree(&mut self, entries: Vec<Entry>) -> Vec<u32> {
        let new_of = self.number_in_tile_order();
        let entries = entries
            .into_iter()
            .map(|mut e| {
                e.data = new_of[e.data as usize];
                e
            })
            .filter(|e| self.slots[e.data as usize].alive)
            .collect();
        self.tree = RTree::bulk_load_with_params(entries);
        self.arena.trim();
        self.slots.shrink_to_fit();
        new_of
    }

    /// Numbers the slots in [`SlideIndex::tile_order`], dead ones last, so that the
    /// slots a query box meets lie together in memory however the annotations came in:
    /// on a million cells imported in a random order, region queries took ~20% longer
    /// in import order. Only for an index without a tree or texts (their slot numbers
    /// would go stale). Returns each slot's new number, `new_of[old]`.
    fn number_in_tile_order(&mut self) -> Vec<u32> {
        let mut keys = self.tile_order();
        radsort::sort(&mut keys);
        let mut order: Vec<u32> = keys.into_iter().map(|k| k as u32).collect();
        order.extend(
            self.slots
                .iter()
                .enumerate()
                .filter(|(_, s)| !s.alive)
                .map(|(n, _)| n as u32),
        );
        let mut new_of = vec![0u32; order.len()];
        for (new, &old) in order.iter().enumerate() {
            new_of[old as usize] = new as u32;
        }
        permute(&mut self.slots, &order);
        self.by_id.renumber(&new_of);
        self.displaced = self
            .displaced
            .drain()
            .map(|(n, old)| (new_of[n as usize], new_of[old as usize]))
            .collect();
        new_of
    }

    /// Live slots, each in the low 32 bits of a key whose high bits number, in
    /// row-major order, the tile holding the slot's box centre.
    #[must_use]
    pub fn tile_order(&self) -> Vec<u64> {
        let centre = |n: u32| {
            let b = self.slot(n).bbox;
            let x = f64::midpoint(f64::from(b.x0), f64::from(b.x1)) / SCALE;
            let y = f64::midpoint(f64::from(b.y0), f64::from(b.y1)) / SCALE;
            ((x / TILE).max(0.0) as u64, (y / TILE).max(0.0) as u64)
        };
        let columns = self.live_slots().map(|n| centre(n).0).max().unwrap_or(0) + 1;
        self.live_slots()
            .map(|n| {
                let (col, row) = centre(n);
                ((row * columns + col).min(u64::from(u32::MAX)) << 32) | u64::from(n)
            })
            .collect()
    }

    /// Gives slots other ids ([`SlideIndex::rename`]) after [`SlideIndex::build_tree`];
    /// the tree is built again if there were any, as a slot may have come back to life.
    pub fn finish_renames(&mut self, renames: Vec<(u32, Uuid)>) {
        if !renames.is_empty() {
            for (n, id) in renames {
                self.rename(n, id);
            }
            self.tree = RTree::bulk_load_with_params(self.live_entries());
        }
        self.displaced.clear();
    }

    /// The tree entries of every live slot.
    fn live_entries(&self) -> Vec<Entry> {
        let live = self.slots.iter().enumerate().filter(|(_, s)| s.alive);
        live.map(|(i, s)| entry(&s.bbox, i as u32)).collect()
    }

    /// Gives slot `n` another id (an import renaming a duplicate). Used on an import's
    /// fragment before its tree is built: a slot that `n` displaced by arriving with the
    /// same id comes back to life under that id.
    pub fn rename(&mut self, n: u32, id: Uuid) {
        let old = self.slots[n as usize].id;
        if self.by_id.get(&self.slots, &old) == Some(n) {
            self.by_id.remove(&self.slots, &old);
            if let Some(prev) = self.displaced.remove(&n) {
                let slot = &mut self.slots[prev as usize];
                if !slot.alive {
                    slot.alive = true;
                    self.live += 1;
                }
                self.by_id.insert(&self.slots, prev);
            }
        }
        self.slots[n as usize].id = id;
        self.by_id.insert(&self.slots, n);
    }

    /// Takes in an index built apart (an import's): adopted whole when this one is
    /// empty, else its annotations are added.
    pub fn absorb(&mut self, other: SlideIndex) {
        if self.is_empty() {
            let (generation, era) = (self.generation, self.era);
            *self = other;
            (self.generation, self.era) = (generation, era + 1);
            return;
        }
        let staged: Vec<Staged> = other
            .live_slots()
            .filter_map(|n| other.annotation(n).ok().and_then(Staged::from_owned))
            .collect();
        self.extend(staged);
    }

    /// Adds many annotations; rebuilds the tree when that is cheaper than inserting.
    pub fn extend(&mut self, staged: Vec<Staged>) {
        let bulk = staged.len() > self.live / 4;
        let entries: Vec<Entry> = staged.into_iter().map(|s| self.push_slot(&s)).collect();
        if bulk {
            self.tree = RTree::bulk_load_with_params(self.live_entries());
        } else {
            for e in entries {
                self.tree.insert(e);
            }
        }
    }

    /// Adds or replaces one annotation.
    pub fn put(&mut self, s: &Staged) {
        let e = self.push_slot(s);
        self.tree.insert(e);
    }

    /// Removes an annotation; false if it was not there.
    pub fn remove(&mut self, id: &Uuid) -> bool {
        match self.by_id.remove(&self.slots, id) {
            Some(n) => {
                self.kill(n);
                true
            }
            None => false,
        }
    }

    #[must_use]
    pub fn slot_of(&self, id: &Uuid) -> Option<&Slot> {
        self.by_id
            .get(&self.slots, id)
            .map(|n| &self.slots[n as usize])
    }

    #[must_use]
    pub fn slot(&self, n: u32) -> &Slot {
        &self.slots[n as usize]
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.live
    }

    /// Slots made so far, live or not.
    #[must_use]
    pub fn slot_count(&self) -> usize {
        self.slots.len()
    }

    /// The annotations' texts on disk, if they were made.
    #[must_use]
    pub fn texts(&self) -> Option<&std::sync::Arc<FeatureTexts>> {
        self.texts.as_ref()
    }

    /// Installs texts made for era `era`; false (and dropped) if the slots were
    /// replaced since.
    pub fn set_texts(&mut self, era: u64, texts: FeatureTexts) -> bool {
        let current = era == self.era;
        if current {
            self.texts = Some(std::sync::Arc::new(texts));
        }
        current
    }

    /// Whether so many slots came after the texts (or there are none) that they
    /// are worth making again: more than [`TEXTS_SLACK`] and an eighth of the live ones.
    #[must_use]
    pub fn texts_behind(&self) -> bool {
        let uncovered = self.slots.len() - self.texts().map_or(0, |t| t.covered());
        self.live > 0 && (self.texts.is_none() || uncovered > TEXTS_SLACK.max(self.live / 8))
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Slot numbers of live annotations, in order of arrival.
    pub fn live_slots(&self) -> impl Iterator<Item = u32> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.alive)
            .map(|(i, _)| i as u32)
    }

    /// Slots whose bounding box meets `r` (a superset of the exact answer).
    pub fn candidates(&self, r: &Rect) -> impl Iterator<Item = u32> + '_ {
        self.tree
            .locate_in_envelope_intersecting(envelope(r))
            .map(|e| e.data)
            .filter(|&n| self.slots[n as usize].alive)
    }

    fn body(&self, s: &Slot) -> &[u8] {
        self.arena.get(s.body_at, s.body_len)
    }

    /// Exact test: whether the annotation in slot `n` meets `r`.
    pub fn meets(&self, n: u32, r: &Rect) -> Result<bool, Corrupt> {
        let s = &self.slots[n as usize];
        if r.contains([s.bbox.x0, s.bbox.y0]) && r.contains([s.bbox.x1, s.bbox.y1]) {
            return Ok(true);
        }
        Ok(self.geometry(n)?.intersects(r))
    }

    pub fn geometry(&self, n: u32) -> Result<Geometry, Corrupt> {
        Annotation::decode_geometry_only(self.body(&self.slots[n as usize]))
    }

    /// The geometry in slot `n` and when its annotation was created (ms since the epoch),
    /// read from the record's head without decoding the rest.
    pub fn geometry_and_created(&self, n: u32) -> Result<(Geometry, i64), Corrupt> {
        let (head, mut r) = super::model::BodyHead::read(self.body(&self.slots[n as usize]))?;
        Ok((super::codec::decode_geometry(&mut r)?, head.created_ms))
    }

    /// The whole annotation in slot `n`.
    pub fn annotation(&self, n: u32) -> Result<Annotation, Corrupt> {
        let s = &self.slots[n as usize];
        let body = self.body(s);
        let columns = Columns {
            id: s.id,
            layer: self.layers.name(s.layer).to_string(),
            class: self.classes.name(s.class).to_string(),
            author: self.authors.name(s.author).to_string(),
            status: s.status,
            version: s.version,
        };
        if s.compact {
            Annotation::decode_with(columns, body, |r| self.skeletons.read(r))
        } else {
            Annotation::decode(columns, body)
        }
    }

    /// Appends the annotation in slot `n` as a QuPath Feature, straight from its record;
    /// returns where its properties' tail begins (see [`push_record`]).
    pub fn push_feature_json(
        &self,
        n: u32,
        fields: Fields,
        out: &mut Vec<u8>,
    ) -> Result<usize, Corrupt> {
        let s = &self.slots[n as usize];
        let columns = RecordColumns {
            id: &s.id,
            layer: self.layers.name(s.layer),
            class: self.classes.name(s.class),
            author: self.authors.name(s.author),
            status: s.status,
            version: s.version,
        };
        if s.compact {
            push_record(out, &columns, self.body(s), fields, |r, out| {
                self.skeletons.write_into(r, out)
            })
        } else {
            push_record(out, &columns, self.body(s), fields, push_plain_extras)
        }
    }

    /// Colour of class number `n`.
    #[must_use]
    pub fn class_color(&self, n: usize) -> [u8; 3] {
        self.class_colors.get(n).copied().unwrap_or([128, 128, 128])
    }

    /// Heap bytes held, for the bytes-per-annotation report.
    #[must_use]
    pub fn memory_bytes(&self) -> usize {
        let tree = self.tree.size() * (std::mem::size_of::<Entry>() + 8) * 5 / 4;
        let ids = self.by_id.memory_bytes();
        let texts = self.texts().map_or(0, |t| t.memory_bytes());
        self.slots.capacity() * std::mem::size_of::<Slot>()
            + self.arena.capacity()
            + texts
            + tree
            + ids
            + self.skeletons.memory_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boxes_round_outwards_so_the_tree_never_misses() {
        let r = Rect {
            x0: 1_234_567_891,
            y0: 3,
            x1: 1_234_567_893,
            y1: 7,
        };
        let e = entry(&r, 0);
        assert!(f64::from(e.geom().lower()[0]) <= 12_345_678.91);
        assert!(f64::from(e.geom().upper()[0]) >= 12_345_678.93);
    }

    #[test]
    fn permute_puts_what_was_at_order_new_at_new() {
        let order = [3u32, 0, 4, 1, 2, 5, 7, 6];
        let mut items: Vec<u32> = (10..18).collect();
        permute(&mut items, &order);
        let expected: Vec<u32> = order.iter().map(|&o| o + 10).collect();
        assert_eq!(items, expected);
    }

    /// A small square cell with id `n`, its corner at (x, y) pixels.
    fn cell(n: u128, x: i32, y: i32) -> Staged {
        let mut a = crate::annotations::model::tests::sample();
        a.id = Uuid::from_u128(n);
        let (x, y) = (x * 100, y * 100);
        a.geometry = Geometry::Polygon(vec![vec![
            [x, y],
            [x + 500, y],
            [x + 500, y + 500],
            [x, y + 500],
            [x, y],
        ]]);
        Staged::of(&a).expect("a geometry with a box")
    }

    /// Cells on a 40 × 30 grid 50 px apart, given in a scrambled order.
    fn scrambled_grid() -> Vec<(u128, i32, i32)> {
        let mut cells: Vec<(u128, i32, i32)> = (0..1200)
            .map(|n| (n, (n % 40) as i32 * 50, (n / 40) as i32 * 50))
            .collect();
        // 7 is coprime with 1200: a fixed scramble.
        let scrambled = (0..cells.len()).map(|i| cells[(i * 7 + 11) % cells.len()]);
        cells = scrambled.collect();
        cells
    }

    #[test]
    fn a_loaded_index_numbers_its_slots_in_tile_order_and_still_finds_every_id() {
        let mut index = SlideIndex::default();
        let cells = scrambled_grid();
        let entries = cells
            .iter()
            .map(|&(n, x, y)| index.push_slot(&cell(n, x, y)))
            .collect();
        index.finish_load(entries);
        let keys: Vec<u64> = index.tile_order().iter().map(|k| k >> 32).collect();
        assert!(
            keys.windows(2).all(|w| w[0] <= w[1]),
            "slots not in tile order"
        );
        for &(n, x, y) in &cells {
            let slot = index
                .slot_of(&Uuid::from_u128(n))
                .expect("every id resolves");
            assert_eq!((slot.bbox.x0, slot.bbox.y0), (x * 100, y * 100));
        }
        let r = Rect {
            x0: 10_000,
            y0: 20_000,
            x1: 30_000,
            y1: 25_000,
        };
        let mut found: Vec<Uuid> = index.candidates(&r).map(|n| index.slot(n).id).collect();
        found.sort();
        let mut expected: Vec<Uuid> = cells
            .iter()
            .filter(|&&(_, x, _)| x * 100 <= r.x1 && x * 100 + 500 >= r.x0)
            .filter(|&&(_, _, y)| y * 100 <= r.y1 && y * 100 + 500 >= r.y0)
            .map(|&(n, ..)| Uuid::from_u128(n))
            .collect();
        expected.sort();
        assert_eq!(found, expected);
    }

    /// An import's fragment with an id twice: the rename given by the row's number as
    /// it came, mapped through `build_tree`'s new numbers, renames the second row and
    /// brings the first back.
    #[test]
    fn renames_after_renumbering_reach_the_row_they_meant() {
        let mut fragment = SlideIndex::default();
        let rows = [(1, 3000, 3000), (2, 0, 0), (1, 0, 200), (3, 1000, 0)];
        let entries = rows
            .iter()
            .map(|&(n, x, y)| fragment.push_slot(&cell(n, x, y)))
            .collect();
        let new_of = fragment.build_tree(entries);
        assert_eq!(fragment.len(), 3, "the second id 1 displaces the first");
        fragment.finish_renames(vec![(new_of[2], Uuid::from_u128(9))]);
        assert_eq!(fragment.len(), 4);
        let corner = |n: u128| {
            let slot = fragment.slot_of(&Uuid::from_u128(n)).expect("id resolves");
            (slot.bbox.x0 / 100, slot.bbox.y0 / 100)
        };
        assert_eq!(corner(1), (3000, 3000));
        assert_eq!(corner(9), (0, 200));
        let all = Rect {
            x0: 0,
            y0: 0,
            x1: 400_000,
            y1: 400_000,
        };
        assert_eq!(fragment.candidates(&all).count(), 4);
    }

    /// The feature text written straight from a record equals the one written from the
    /// decoded annotation, for every optional field and both forms of extras.
    #[test]
    fn features_from_records_equal_features_from_annotations() {
        use crate::annotations::geojson::write::push_feature;
        use crate::annotations::model::{ObjectType, Provenance, ShapeHint, Status};
        let full = crate::annotations::model::tests::sample();
        let mut variants = vec![full.clone()];
        let mut bare = full.clone();
        (bare.color, bare.nucleus, bare.name, bare.confidence) = (None, None, None, None);
        (bare.is_locked, bare.shape, bare.extra) = (false, ShapeHint::None, String::new());
        (bare.object_type, bare.provenance, bare.status) =
            (ObjectType::Annotation, Provenance::Human, Status::Draft);
        variants.push(bare);
        for (i, (geometry, extra)) in [
            (
                Geometry::Point([-1, 250]),
                r#""measurements":{"x":-3e-4,"y":12.5}"#,
            ),
            (
                Geometry::MultiPoint(vec![[0, 0], [99_999_999, -7]]),
                r#""note":"a \"quoted\" 5, \u00e9""#,
            ),
            (
                Geometry::LineString(vec![[10, 10], [2_000_005, 30]]),
                "\"k\":[1,2,{}]",
            ),
            (
                Geometry::MultiPolygon(vec![
                    vec![
                        vec![[0, 0], [1000, 0], [0, 1000]],
                        vec![[10, 10], [20, 10], [10, 20]],
                    ],
                    vec![vec![[5000, 5000], [6000, 5000], [5000, 6001]]],
                ]),
                r#""measurements":{"Area µm^2":7}"#,
            ),
        ]
        .into_iter()
        .enumerate()
        {
            let mut a = full.clone();
            a.id = Uuid::from_u128(100 + i as u128);
            (a.geometry, a.extra) = (geometry, extra.to_string());
            a.name = Some("tab\there \"q\"".into());
            variants.push(a);
        }
        let mut index = SlideIndex::default();
        for a in &variants {
            index.put(&Staged::of(a).expect("a geometry with a box"));
        }
        for (n, a) in variants.iter().enumerate() {
            let (mut expected, mut got) = (Vec::new(), Vec::new());
            push_feature(&mut expected, a);
            index
                .push_feature_json(n as u32, Fields::All, &mut got)
                .expect("a well-formed record");
            assert_eq!(
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(&expected)
            );
            let parsed: serde_json::Value = serde_json::from_slice(&got).expect("valid JSON");
            assert_eq!(parsed["id"], a.id.to_string());
        }
    }
}
