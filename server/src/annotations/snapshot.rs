//! A slide's annotations as one file on disk, `DIR/index/{slide}.tidx`: what a query of
//! a slide that is not in memory reads, a page at a time, and what a load of the slide
//! reads instead of the store, so that neither a cold slide nor a restart waits for the
//! whole index to be built again.
//!
//! Layout (little-endian): [`MAGIC`]; the QuPath texts ([`super::texts`]); then, each
//! 8-aligned, one [`RECORD`]-byte record per annotation in tile order, the records'
//! bodies in the same order, the texts' tails, and the nodes of a packed R-tree; then
//! the header (JSON), its length (`u64`) and [`MAGIC`] again. The tree is packed as
//! FlatGeobuf packs its own: node `k` of level 0 bounds records `16k .. 16k + 16`, node
//! `k` of level `l + 1` bounds nodes `16k .. 16k + 16` of level `l`. Its nodes stay in
//! memory (about a byte per annotation); records in tile order make the annotations of
//! one viewport a few runs of neighbouring records, read with one `pread` each.
//!
//! A snapshot is a cache, never the truth: it is written beside the old one and renamed
//! over it once complete, and trusted only when its format, slide, size and the store's
//! generation of the slide all match (anything else is rebuilt from the store).

use super::geometry::Rect;
use super::index::{Entry, SlideIndex, entry_box};
use super::model::Status;
use super::store::RowView;
use super::texts::{self, FeatureTexts};
use rstar::{AABB, Envelope};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use uuid::Uuid;

/// Version of the layout; a file of another is rebuilt.
pub const FORMAT: u32 = 1;
const MAGIC: &[u8; 8] = b"TESSIDX1";
/// Children per node of the packed tree.
const NODE: u64 = 16;
/// Bytes per record.
const RECORD: usize = 72;
/// Slots written under one read lock of the index (edits wait at most that long).
const BATCH: usize = 4096;
/// Records read at once by a load of the whole slide.
const LOAD_RUN: u64 = 1 << 16;

/// The snapshot file of `slide` in the data directory `dir`.
#[must_use]
pub fn path(dir: &Path, slide: &str) -> PathBuf {
    dir.join("index").join(format!("{slide}.tidx"))
}

/// Where a section lies in the file.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
struct Section {
    at: u64,
    len: u64,
}

impl Section {
    fn end(self) -> u64 {
        self.at + self.len
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Header {
    format: u32,
    slide: String,
    /// The store's generation of the slide that the file holds.
    generation: i64,
    records: u64,
    layers: Vec<String>,
    classes: Vec<String>,
    class_colors: Vec<[u8; 3]>,
    authors: Vec<String>,
    qupath: Section,
    tails: Section,
    record_section: Section,
    bodies: Section,
    nodes: Section,
    /// Nodes per level of the tree, level 0 (the records' parents) first.
    levels: Vec<u64>,
}

/// One annotation's fixed-size record.
#[derive(Debug, Clone, Copy)]
struct Record {
    id: Uuid,
    /// Where its body lies in the bodies section, and how long it is.
    body_at: u64,
    body_len: u32,
    version: u32,
    class: u16,
    layer: u16,
    author: u16,
    status: Status,
    bbox: Rect,
    /// Its texts' spots, relative to the QuPath and tails sections (0: no text).
    spot: u64,
    tail_spot: u64,
}

impl Record {
    fn put(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.id.as_bytes());
        out.extend_from_slice(&self.body_at.to_le_bytes());
        out.extend_from_slice(&self.body_len.to_le_bytes());
        out.extend_from_slice(&self.version.to_le_bytes());
        for v in [self.class, self.layer, self.author] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&[self.status as u8, 0]);
        for v in [self.bbox.x0, self.bbox.y0, self.bbox.x1, self.bbox.y1] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&self.spot.to_le_bytes());
        out.extend_from_slice(&self.tail_spot.to_le_bytes());
    }

    fn read(b: &[u8]) -> Option<Self> {
        let u64_at = |i: usize| Some(u64::from_le_bytes(b.get(i..i + 8)?.try_into().ok()?));
        let u32_at = |i: usize| Some(u32::from_le_bytes(b.get(i..i + 4)?.try_into().ok()?));
        let u16_at = |i: usize| Some(u16::from_le_bytes(b.get(i..i + 2)?.try_into().ok()?));
        let i32_at = |i: usize| Some(u32_at(i)? as i32);
        Some(Self {
            id: Uuid::from_slice(b.get(..16)?).ok()?,
            body_at: u64_at(16)?,
            body_len: u32_at(24)?,
            version: u32_at(28)?,
            class: u16_at(32)?,
            layer: u16_at(34)?,
            author: u16_at(36)?,
            status: Status::from_byte(*b.get(38)?)?,
            bbox: Rect {
                x0: i32_at(40)?,
                y0: i32_at(44)?,
                x1: i32_at(48)?,
                y1: i32_at(52)?,
            },
            spot: u64_at(56)?,
            tail_spot: u64_at(64)?,
        })
    }
}

/// Nodes per level of a packed tree over `records` boxes, level 0 first.
fn levels(records: u64) -> Vec<u64> {
    let mut levels = Vec::new();
    let mut n = records;
    while n > 1 || (levels.is_empty() && n == 1) {
        n = n.div_ceil(NODE);
        levels.push(n);
    }
    levels
}

/// The packed tree's nodes over `boxes`, level by level from level 0.
fn pack(boxes: &[AABB<[f32; 2]>]) -> Vec<AABB<[f32; 2]>> {
    let mut nodes = Vec::new();
    let mut below: Vec<AABB<[f32; 2]>> = boxes.to_vec();
    for _ in levels(boxes.len() as u64) {
        let level: Vec<AABB<[f32; 2]>> = below
            .chunks(NODE as usize)
            .map(|c| c.iter().fold(AABB::new_empty(), |a, b| a.merged(b)))
            .collect();
        nodes.extend_from_slice(&level);
        below = level;
    }
    nodes
}

/// The writing side's files: the QuPath texts go straight into the snapshot, the other
/// sections into unlinked files appended to it at the end.
struct Sinks {
    main: BufWriter<File>,
    records: BufWriter<File>,
    bodies: BufWriter<File>,
    tails: BufWriter<File>,
    qupath_len: u64,
    bodies_len: u64,
    tails_len: u64,
    records_len: u64,
    boxes: Vec<AABB<[f32; 2]>>,
}

/// What a batch of slots came to, made on rayon's threads.
struct Made {
    texts: texts::Entries,
    /// Per slot of the batch, its record (offsets relative to this batch) and body.
    records: Vec<(u32, Record)>,
    bodies: Vec<u8>,
}

fn make(index: &SlideIndex, slots: &[u32]) -> Made {
    let texts = texts::entries(index, slots.iter().copied());
    let mut placed = texts.placed.iter().peekable();
    let mut bodies = Vec::with_capacity(slots.len() * 256);
    let mut records = Vec::with_capacity(slots.len());
    for &n in slots {
        let s = index.slot(n);
        let body_at = bodies.len() as u64;
        index.push_plain_body(n, &mut bodies);
        let (mut spot, mut tail_spot) = (0, 0);
        if let Some(p) = placed.next_if(|p| p.slot == n) {
            spot = texts::spot(p.at as u64, p.len);
            tail_spot = texts::spot(p.tail_at as u64, p.tail_len);
        }
        records.push((
            n,
            Record {
                id: s.id,
                body_at,
                body_len: (bodies.len() as u64 - body_at) as u32,
                version: s.version,
                class: s.class,
                layer: s.layer,
                author: s.author,
                status: s.status,
                bbox: s.bbox,
                spot,
                tail_spot,
            },
        ));
    }
    Made {
        texts,
        records,
        bodies,
    }
}

impl Sinks {
    fn new(main: File, folder: &Path) -> std::io::Result<Self> {
        let temp = || Ok::<_, std::io::Error>(BufWriter::new(tempfile::tempfile_in(folder)?));
        let mut main = BufWriter::with_capacity(1 << 20, main);
        main.write_all(MAGIC)?;
        Ok(Self {
            main,
            records: temp()?,
            bodies: temp()?,
            tails: temp()?,
            qupath_len: 0,
            bodies_len: 0,
            tails_len: 0,
            records_len: 0,
            boxes: Vec::new(),
        })
    }

    /// Writes a batch; sets each slot's spots (relative to their sections) in `spots`.
    fn add(&mut self, made: Made, spots: &mut [(u64, u64)]) -> std::io::Result<()> {
        let mut record = Vec::with_capacity(made.records.len() * RECORD);
        for (n, mut r) in made.records {
            r.body_at += self.bodies_len;
            if r.spot != 0 {
                r.spot = texts::moved(r.spot, self.qupath_len);
                r.tail_spot = texts::moved(r.tail_spot, self.tails_len);
            }
            spots[n as usize] = (r.spot, r.tail_spot);
            self.boxes.push(entry_box(&r.bbox));
            r.put(&mut record);
        }
        self.records.write_all(&record)?;
        self.bodies.write_all(&made.bodies)?;
        self.main.write_all(&made.texts.qupath)?;
        self.tails.write_all(&made.texts.tails)?;
        self.records_len += record.len() as u64;
        self.bodies_len += made.bodies.len() as u64;
        self.qupath_len += made.texts.qupath.len() as u64;
        self.tails_len += made.texts.tails.len() as u64;
        Ok(())
    }

    /// Appends the other sections, the tree and `header` (its sections filled in here).
    fn finish(mut self, header: &mut Header) -> std::io::Result<File> {
        let mut at = MAGIC.len() as u64 + self.qupath_len;
        header.qupath = Section {
            at: MAGIC.len() as u64,
            len: self.qupath_len,
        };
        let mut append = |main: &mut BufWriter<File>, part: BufWriter<File>, len: u64| {
            let pad = at.next_multiple_of(8) - at;
            main.write_all(&[0; 8][..pad as usize])?;
            let mut part = part
                .into_inner()
                .map_err(std::io::IntoInnerError::into_error)?;
            part.seek(SeekFrom::Start(0))?;
            let copied = std::io::copy(&mut part, main)?;
            if copied != len {
                return Err(std::io::Error::other("a section came out short"));
            }
            let section = Section { at: at + pad, len };
            at = section.end();
            Ok::<_, std::io::Error>(section)
        };
        header.record_section = append(&mut self.main, self.records, self.records_len)?;
        header.bodies = append(&mut self.main, self.bodies, self.bodies_len)?;
        header.tails = append(&mut self.main, self.tails, self.tails_len)?;
        let pad = at.next_multiple_of(8) - at;
        self.main.write_all(&[0; 8][..pad as usize])?;
        let nodes = pack(&self.boxes);
        header.levels = levels(self.boxes.len() as u64);
        header.nodes = Section {
            at: at + pad,
            len: nodes.len() as u64 * 16,
        };
        for node in &nodes {
            for v in [node.lower(), node.upper()].concat() {
                self.main.write_all(&v.to_le_bytes())?;
            }
        }
        let head = serde_json::to_vec(header).map_err(std::io::Error::other)?;
        self.main.write_all(&head)?;
        self.main.write_all(&(head.len() as u64).to_le_bytes())?;
        self.main.write_all(MAGIC)?;
        let file = self
            .main
            .into_inner()
            .map_err(std::io::IntoInnerError::into_error)?;
        file.sync_all()?;
        Ok(file)
    }
}

/// Writes the snapshot of `slide` from its loaded `index`, taking the read lock once per
/// [`BATCH`] slots so that edits go on meanwhile, and renames it into place. Returns the
/// index's era, the generation written and the texts of the index's slots (for
/// [`SlideIndex::set_texts`]), or `None` when the index was replaced meanwhile. A snapshot written while edits came in holds
/// an older generation than the store and is not trusted, as it should not be.
pub fn write(
    dir: &Path,
    slide: &str,
    index: &RwLock<SlideIndex>,
) -> std::io::Result<Option<(u64, i64, FeatureTexts)>> {
    use rayon::prelude::*;
    let read = || {
        index
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    };
    let (era, generation, slots, mut order) = {
        let index = read();
        (
            index.era,
            index.generation,
            index.slot_count(),
            index.tile_order(),
        )
    };
    order.sort_unstable();
    let order: Vec<u32> = order.into_iter().map(|key| key as u32).collect();
    let target = path(dir, slide);
    let folder = target.parent().unwrap_or(dir);
    std::fs::create_dir_all(folder)?;
    let file = tempfile::NamedTempFile::new_in(folder)?;
    let mut sinks = Sinks::new(file.as_file().try_clone()?, folder)?;
    let mut spots = vec![(0u64, 0u64); slots];
    let mut header = Header {
        format: FORMAT,
        slide: slide.to_string(),
        generation,
        records: order.len() as u64,
        layers: Vec::new(),
        classes: Vec::new(),
        class_colors: Vec::new(),
        authors: Vec::new(),
        qupath: Section::default(),
        tails: Section::default(),
        record_section: Section::default(),
        bodies: Section::default(),
        nodes: Section::default(),
        levels: Vec::new(),
    };
    for batch in order.chunks(BATCH) {
        let made: Vec<Made> = {
            let index = read();
            if index.era != era {
                return Ok(None);
            }
            // Names only grow; those of the last batch cover every record.
            (
                header.layers,
                header.classes,
                header.authors,
                header.class_colors,
            ) = (
                index.layers.names().to_vec(),
                index.classes.names().to_vec(),
                index.authors.names().to_vec(),
                index.class_colors().to_vec(),
            );
            batch
                .par_chunks(texts::CHUNK)
                .map(|chunk| make(&index, chunk))
                .collect()
        };
        for made in made {
            sinks.add(made, &mut spots)?;
        }
    }
    let bytes = sinks.qupath_len + sinks.tails_len;
    let file_handle = sinks.finish(&mut header)?;
    file.persist(&target).map_err(|e| e.error)?;
    File::open(folder)?.sync_all()?;
    let (qupath, tails) = (header.qupath.at, header.tails.at);
    let (spots, tail_spots): (Vec<u64>, Vec<u64>) = spots
        .into_iter()
        .map(|(s, t)| {
            if s == 0 {
                (0, 0)
            } else {
                (texts::moved(s, qupath), texts::moved(t, tails))
            }
        })
        .unzip();
    let texts = FeatureTexts::new(Arc::new(file_handle), spots, tail_spots, bytes);
    Ok(Some((era, generation, texts)))
}

/// An opened snapshot: its header and tree in memory, the rest read as needed.
#[derive(Debug)]
pub struct Snapshot {
    file: Arc<File>,
    path: PathBuf,
    header: Header,
    nodes: Vec<AABB<[f32; 2]>>,
    /// Where each level's nodes start in `nodes`.
    starts: Vec<usize>,
}

impl Snapshot {
    /// The snapshot of `slide` if there is one holding the store's `generation` of it;
    /// `Err` says why one that is there cannot be used (it is then written again).
    pub fn open(dir: &Path, slide: &str, generation: i64) -> Result<Option<Self>, String> {
        let path = path(dir, slide);
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        Self::read(file, &path, slide, generation).map(Some)
    }

    fn read(file: File, path: &Path, slide: &str, generation: i64) -> Result<Self, String> {
        let bad = |why: &str| format!("{}: {why}", path.display());
        let size = file.metadata().map_err(|e| bad(&e.to_string()))?.len();
        let mut tail = [0u8; 16];
        if size < 32 {
            return Err(bad("truncated"));
        }
        file.read_exact_at(&mut tail, size - 16)
            .map_err(|e| bad(&e.to_string()))?;
        let mut magic = [0u8; 8];
        file.read_exact_at(&mut magic, 0)
            .map_err(|e| bad(&e.to_string()))?;
        if &tail[8..] != MAGIC || &magic != MAGIC {
            return Err(bad("truncated, or not a snapshot of this version"));
        }
        let head_len = u64::from_le_bytes(tail[..8].try_into().unwrap_or_default());
        if head_len > size - 24 {
            return Err(bad("truncated"));
        }
        let mut head = vec![0u8; head_len as usize];
        file.read_exact_at(&mut head, size - 16 - head_len)
            .map_err(|e| bad(&e.to_string()))?;
        let header: Header =
            serde_json::from_slice(&head).map_err(|e| bad(&format!("header: {e}")))?;
        let head_at = size - 16 - head_len;
        if header.format != FORMAT {
            return Err(bad(&format!(
                "format {} (this server writes {FORMAT})",
                header.format
            )));
        }
        if header.slide != slide {
            return Err(bad(&format!("made for slide {:?}", header.slide)));
        }
        if header.generation != generation {
            return Err(bad(&format!(
                "holds generation {} of the slide, the store {generation}",
                header.generation
            )));
        }
        let sections = [
            header.qupath,
            header.tails,
            header.record_section,
            header.bodies,
            header.nodes,
        ];
        if sections.iter().any(|s| s.end() > head_at)
            || header.record_section.len != header.records * RECORD as u64
            || header.levels != levels(header.records)
            || header.nodes.len != header.levels.iter().sum::<u64>() * 16
            || header.class_colors.len() != header.classes.len()
        {
            return Err(bad("sections do not add up"));
        }
        let mut raw = vec![0u8; header.nodes.len as usize];
        file.read_exact_at(&mut raw, header.nodes.at)
            .map_err(|e| bad(&e.to_string()))?;
        let nodes = raw
            .chunks_exact(16)
            .map(|c| {
                let f = |i: usize| f32::from_le_bytes([c[i], c[i + 1], c[i + 2], c[i + 3]]);
                AABB::from_corners([f(0), f(4)], [f(8), f(12)])
            })
            .collect();
        let mut starts = vec![0usize];
        for &n in &header.levels {
            starts.push(starts.last().copied().unwrap_or(0) + n as usize);
        }
        Ok(Self {
            file: Arc::new(file),
            path: path.to_path_buf(),
            header,
            nodes,
            starts,
        })
    }

    /// The store's generation of the slide that this snapshot holds.
    #[must_use]
    pub fn generation(&self) -> i64 {
        self.header.generation
    }

    /// Annotations it holds.
    #[must_use]
    pub fn len(&self) -> u64 {
        self.header.records
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.header.records == 0
    }

    /// Heap bytes held (the tree and the names).
    #[must_use]
    pub fn memory_bytes(&self) -> usize {
        let names = [
            &self.header.layers,
            &self.header.classes,
            &self.header.authors,
        ];
        self.nodes.capacity() * std::mem::size_of::<AABB<[f32; 2]>>()
            + names
                .iter()
                .flat_map(|n| n.iter())
                .map(|s| s.len() + 24)
                .sum::<usize>()
    }

    /// Runs of records whose level-0 node meets `env`, in file order: a superset of
    /// those whose box does.
    #[must_use]
    pub fn search(&self, env: &AABB<[f32; 2]>) -> Vec<Range<u64>> {
        let Some(top) = self.header.levels.len().checked_sub(1) else {
            return Vec::new();
        };
        let mut leaves = Vec::new();
        let mut stack = vec![(top, 0u64)];
        while let Some((level, k)) = stack.pop() {
            if !self.nodes[self.starts[level] + k as usize].intersects(env) {
                continue;
            }
            if level == 0 {
                leaves.push(k);
            } else {
                let below = self.header.levels[level - 1];
                stack.extend((k * NODE..((k + 1) * NODE).min(below)).map(|c| (level - 1, c)));
            }
        }
        leaves.sort_unstable();
        let mut runs: Vec<Range<u64>> = Vec::new();
        for k in leaves {
            let run = k * NODE..((k + 1) * NODE).min(self.header.records);
            match runs.last_mut() {
                Some(last) if last.end == run.start => last.end = run.end,
                _ => runs.push(run),
            }
        }
        runs
    }

    /// An index of every annotation: a load of the slide.
    pub fn load(&self) -> Result<SlideIndex, String> {
        let runs: Vec<Range<u64>> = (0..self.header.records)
            .step_by(LOAD_RUN as usize)
            .map(|at| at..(at + LOAD_RUN).min(self.header.records))
            .collect();
        self.index(&runs, None)
    }

    /// An index of the records of `runs` (those whose box meets `env`, if given), with
    /// their texts, in file order and numbered as in a load of the whole slide
    /// relative to each other, so that answers come out as a loaded slide's would.
    pub fn index(
        &self,
        runs: &[Range<u64>],
        env: Option<&AABB<[f32; 2]>>,
    ) -> Result<SlideIndex, String> {
        let h = &self.header;
        let bad = |why: String| format!("{}: {why}", self.path.display());
        let mut index = SlideIndex::named(&h.layers, &h.classes, &h.class_colors, &h.authors);
        index.generation = h.generation;
        let (mut entries, mut spots, mut tail_spots): (Vec<Entry>, Vec<u64>, Vec<u64>) =
            Default::default();
        let (mut raw, mut bodies) = (Vec::new(), Vec::new());
        index.reserve(runs.iter().map(|r| (r.end - r.start) as usize).sum());
        for run in runs {
            raw.resize((run.end - run.start) as usize * RECORD, 0);
            let at = h.record_section.at + run.start * RECORD as u64;
            self.file
                .read_exact_at(&mut raw, at)
                .map_err(|e| bad(format!("records {}..{}: {e}", run.start, run.end)))?;
            let mut kept = Vec::with_capacity(raw.len() / RECORD);
            for (i, b) in raw.chunks_exact(RECORD).enumerate() {
                let n = run.start + i as u64;
                let r = Record::read(b).ok_or_else(|| bad(format!("record {n} is damaged")))?;
                let names_fit = usize::from(r.class) < h.classes.len()
                    && usize::from(r.layer) < h.layers.len()
                    && usize::from(r.author) < h.authors.len();
                if !names_fit || r.body_at + u64::from(r.body_len) > h.bodies.len {
                    return Err(bad(format!("record {n} points outside the file")));
                }
                if env.is_none_or(|env| entry_box(&r.bbox).intersects(env)) {
                    kept.push(r);
                }
            }
            let (Some(first), Some(last)) = (kept.first(), kept.last()) else {
                continue;
            };
            let span = first.body_at..last.body_at + u64::from(last.body_len);
            bodies.resize((span.end.saturating_sub(span.start)) as usize, 0);
            self.file
                .read_exact_at(&mut bodies, h.bodies.at + span.start)
                .map_err(|e| bad(format!("bodies of records {}..{}: {e}", run.start, run.end)))?;
            for r in kept {
                let from = r
                    .body_at
                    .checked_sub(span.start)
                    .ok_or_else(|| bad("bodies out of order".to_string()))?
                    as usize;
                let view = RowView {
                    id: r.id,
                    layer: &h.layers[usize::from(r.layer)],
                    class: &h.classes[usize::from(r.class)],
                    author: &h.authors[usize::from(r.author)],
                    status: r.status,
                    version: r.version,
                    body: bodies
                        .get(from..from + r.body_len as usize)
                        .ok_or_else(|| bad("bodies out of order".to_string()))?,
                };
                entries.push(index.push_view(&view, r.bbox));
                let (spot, tail) = if r.spot == 0 {
                    (0, 0)
                } else {
                    (
                        texts::moved(r.spot, h.qupath.at),
                        texts::moved(r.tail_spot, h.tails.at),
                    )
                };
                spots.push(spot);
                tail_spots.push(tail);
            }
        }
        index.finish_in_order(entries);
        let texts = FeatureTexts::new(
            Arc::clone(&self.file),
            spots,
            tail_spots,
            h.qupath.len + h.tails.len,
        );
        index.set_texts(index.era, texts);
        Ok(index)
    }
}

#[cfg(test)]
#[path = "snapshot_tests.rs"]
mod tests;
