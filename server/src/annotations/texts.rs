//! Every annotation's GeoJSON text, written once to a file in tile order, so that a
//! query's answer is copied rather than formatted: formatting the numbers of thousands
//! of polygons was most of a query's time.
//!
//! The file is a cache of one slide's index, never a source of truth:
//! - it is made in the background ([`build`]) after the index is loaded, or after it
//!   gained many annotations (an import);
//! - it lies in the data directory, on disk: its pages sit in the operating system's
//!   page cache, which the system may drop and read again, not in the server's memory;
//! - it is unlinked as soon as it is created, so it goes away with the index that reads
//!   it, and a crash leaves nothing behind;
//! - it covers the slots the index had when it was made: a slot added since (an edit
//!   replaces its annotation's slot) has no text and is formatted as before.
//!
//! An entry is `prefix + tail`: the Feature with every property ([`Fields::All`]), where
//! `prefix + "}}"` is the Feature with QuPath's properties alone. Where each entry lies
//! and how long its tail is stay in memory (10 bytes per annotation), so an answer's
//! length is known before it is read.

use super::geojson::write::Fields;
use super::index::SlideIndex;
use super::pieces::Piece;
use bytes::Bytes;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};

/// Side of the square tiles whose row-major order is the file's, in pixels: the texts
/// of a query box are then about one contiguous run per row of tiles it covers.
const TILE: f64 = 128.0;
/// Bits of a spot that hold an entry's length; the offset is above them.
const LENGTH_BITS: u32 = 24;
const LENGTH_MASK: u64 = (1 << LENGTH_BITS) - 1;
/// Most bytes a query reads in one go (a bigger entry is read alone).
const WINDOW: u64 = 1 << 20;
/// A gap between two wanted entries that a query reads through rather than skips.
const GAP: u64 = 32 << 10;
/// Slots formatted under one read lock of the index (edits wait at most that long), and
/// held formatted at once (a few MB).
const BATCH: usize = 4096;
/// Slots formatted per task.
const CHUNK: usize = 512;

/// The texts of one slide's annotations as they were when the file was made.
#[derive(Debug)]
pub struct FeatureTexts {
    file: File,
    /// Per slot, where its entry lies, `offset << 24 | length`; 0: no entry.
    spots: Vec<u64>,
    /// Per slot, the length of its entry's tail.
    tails: Vec<u16>,
    bytes: u64,
}

/// Where one annotation's text lies in the file; entries sort in file order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Entry {
    spot: u64,
    tail: u16,
}

impl Entry {
    /// Sorts entries in file order, by radix: for a region's tens of thousands of
    /// entries, this sort and the one of the candidate slots took 7% of the server's CPU
    /// as comparison sorts.
    pub fn sort_in_file_order(entries: &mut [Self]) {
        // Each entry has its own offset, so the spot alone orders them as `Ord` does.
        radsort::sort_by_key(entries, |e| e.spot);
    }

    fn at(self) -> u64 {
        self.spot >> LENGTH_BITS
    }

    fn stored(self) -> u64 {
        self.spot & LENGTH_MASK
    }

    /// Bytes of the Feature's text with `fields`.
    #[must_use]
    pub fn len(self, fields: Fields) -> u64 {
        match fields {
            Fields::All => self.stored(),
            Fields::QuPath => self.stored() - u64::from(self.tail) + 2,
        }
    }
}

impl FeatureTexts {
    /// Slot `n`'s entry, if it has one.
    #[must_use]
    pub fn entry(&self, n: u32) -> Option<Entry> {
        let spot = self.spots.get(n as usize).copied().filter(|&s| s != 0)?;
        Some(Entry {
            spot,
            tail: self.tails[n as usize],
        })
    }

    /// How many slots the file was made for (slots from 0 up).
    #[must_use]
    pub fn covered(&self) -> usize {
        self.spots.len()
    }

    /// Size of the file in bytes.
    #[must_use]
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

/// An answer's Features copied from the texts, made a piece at a time on demand: `head`
/// first, the entries (in file order) joined by commas, then `end`. Owns what it reads
/// (the texts stay open while it lives), so it needs no lock of the index: a server makes
/// each piece as the connection asks for it, on the thread that sends it. Entries near
/// each other in the file are read together, then copied into the pieces.
#[derive(Debug)]
pub struct TextPieces {
    texts: Arc<FeatureTexts>,
    entries: Vec<Entry>,
    fields: Fields,
    /// The first entry not yet read.
    next: usize,
    /// Entries read into `window` (from `window_at` in the file) and not yet copied.
    pending: std::ops::Range<usize>,
    window: Window,
    window_at: u64,
    head: Vec<u8>,
    end: Vec<u8>,
    /// Whether an entry was copied (the next one follows a comma).
    comma: bool,
    finished: bool,
}

impl TextPieces {
    /// The pieces of `head`, the texts of `entries` with `fields`, and `end`.
    #[must_use]
    pub fn new(
        texts: Arc<FeatureTexts>,
        mut entries: Vec<Entry>,
        fields: Fields,
        head: Vec<u8>,
        end: Vec<u8>,
    ) -> Self {
        Entry::sort_in_file_order(&mut entries);
        Self {
            texts,
            entries,
            fields,
            next: 0,
            pending: 0..0,
            window: Window::take(),
            window_at: 0,
            head,
            end,
            comma: false,
            finished: false,
        }
    }

    /// Bytes of every piece together.
    #[must_use]
    pub fn bytes(&self) -> u64 {
        let texts: u64 = self.entries.iter().map(|e| e.len(self.fields)).sum();
        let commas = self.entries.len().saturating_sub(1) as u64;
        (self.head.len() + self.end.len()) as u64 + texts + commas
    }

    /// Reads the next run of entries near each other into the window.
    fn read_window(&mut self) -> std::io::Result<()> {
        let i = self.next;
        let start = self.entries[i].at();
        let mut stop = start + self.entries[i].stored();
        let mut j = i + 1;
        while let Some(&e) = self.entries.get(j) {
            if e.at() > stop + GAP || e.at() + e.stored() - start > WINDOW {
                break;
            }
            stop = e.at() + e.stored();
            j += 1;
        }
        let window = &mut self.window.0;
        window.resize((stop - start) as usize, 0);
        self.texts.file.read_exact_at(window, start)?;
        self.window_at = start;
        self.pending = i..j;
        self.next = j;
        Ok(())
    }

    /// The next piece, `None` after the last. A Feature bigger than a piece is a piece
    /// of its own.
    pub fn next_piece(&mut self) -> std::io::Result<Option<Bytes>> {
        if self.finished {
            return Ok(None);
        }
        let mut piece = Piece::new();
        let head = std::mem::take(&mut self.head);
        piece.push(&head);
        loop {
            if self.pending.is_empty() {
                if self.next == self.entries.len() {
                    break;
                }
                self.read_window()?;
            }
            let e = self.entries[self.pending.start];
            let at = (e.at() - self.window_at) as usize;
            let text = &self.window.0[at..at + e.stored() as usize];
            let (text, close): (&[u8], &[u8]) = match self.fields {
                Fields::All => (text, b""),
                Fields::QuPath => (&text[..text.len() - usize::from(e.tail)], b"}}"),
            };
            let lead: &[u8] = if self.comma { b"," } else { b"" };
            let len = lead.len() + text.len() + close.len();
            if len > piece.room() {
                if !piece.is_empty() {
                    return Ok(Some(piece.into_bytes()));
                }
                self.pending.start += 1;
                self.comma = true;
                return Ok(Some(Bytes::from([lead, text, close].concat())));
            }
            for part in [lead, text, close] {
                piece.push(part);
            }
            self.pending.start += 1;
            self.comma = true;
        }
        if self.end.len() > piece.room() && !piece.is_empty() {
            return Ok(Some(piece.into_bytes()));
        }
        self.finished = true;
        if self.end.len() > piece.room() {
            return Ok(Some(Bytes::from(std::mem::take(&mut self.end))));
        }
        piece.push(&self.end);
        Ok(Some(piece.into_bytes()))
    }
}

impl Iterator for TextPieces {
    type Item = std::io::Result<Bytes>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_piece().transpose()
    }
}

/// Where a query reads its entries before copying them (up to [`WINDOW`] bytes). Kept
/// for the next query when dropped, so that its pages are not faulted in for every
/// answer; one bigger than two windows (after a giant Feature) is let go.
#[derive(Debug)]
struct Window(Vec<u8>);

/// Windows kept for reuse, a few answers in flight.
const KEPT_WINDOWS: usize = 4;
static SPARE_WINDOWS: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

impl Window {
    fn take() -> Self {
        let spare = SPARE_WINDOWS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop();
        Self(spare.unwrap_or_default())
    }
}

impl Drop for Window {
    fn drop(&mut self) {
        let window = std::mem::take(&mut self.0);
        if window.capacity() == 0 || window.capacity() > 2 * WINDOW as usize {
            return;
        }
        let mut spare = SPARE_WINDOWS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if spare.len() < KEPT_WINDOWS {
            spare.push(window);
        }
    }
}

/// Writes the texts of the live annotations of `index` to a new file in `dir`, taking
/// the read lock once per [`BATCH`] so that edits go on meanwhile. Returns the index's
/// era with the texts (for [`SlideIndex::set_texts`]), or `None` when the index was
/// replaced while they were written.
pub fn build(
    dir: &Path,
    index: &RwLock<SlideIndex>,
) -> std::io::Result<Option<(u64, FeatureTexts)>> {
    use rayon::prelude::*;
    let read = || {
        index
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    };
    let (era, slots, mut order) = {
        let index = read();
        (index.era, index.slot_count(), tile_order(&index))
    };
    order.sort_unstable();
    let path = dir.join(format!(".answer-texts-{}.tmp", uuid::Uuid::new_v4()));
    let mut file = File::options()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)?;
    std::fs::remove_file(&path)?;
    let (mut spots, mut tails) = (vec![0u64; slots], vec![0u16; slots]);
    let mut bytes = 0u64;
    for batch in order.chunks(BATCH) {
        let pieces: Vec<(Vec<u8>, Vec<Placed>)> = {
            let index = read();
            if index.era != era {
                return Ok(None);
            }
            batch
                .par_chunks(CHUNK)
                .map(|chunk| entries(&index, chunk.iter().map(|&key| key as u32)))
                .collect()
        };
        for (text, placed) in pieces {
            file.write_all(&text)?;
            for p in placed {
                spots[p.slot as usize] = ((bytes + p.at as u64) << LENGTH_BITS) | p.len as u64;
                tails[p.slot as usize] = p.tail;
            }
            bytes += text.len() as u64;
        }
    }
    // On disk now, by this thread: left dirty, the pages would be written back later,
    // and an fsync of the store (every edit) could wait for them.
    file.sync_data()?;
    let texts = FeatureTexts {
        file,
        spots,
        tails,
        bytes,
    };
    Ok(Some((era, texts)))
}

/// Live slots, each in the low 32 bits of a key whose high bits number, in row-major
/// order, the tile holding the slot's box centre.
fn tile_order(index: &SlideIndex) -> Vec<u64> {
    let centre = |n: u32| {
        let b = index.slot(n).bbox;
        let x = f64::midpoint(f64::from(b.x0), f64::from(b.x1)) / super::geometry::SCALE;
        let y = f64::midpoint(f64::from(b.y0), f64::from(b.y1)) / super::geometry::SCALE;
        ((x / TILE).max(0.0) as u64, (y / TILE).max(0.0) as u64)
    };
    let columns = index.live_slots().map(|n| centre(n).0).max().unwrap_or(0) + 1;
    index
        .live_slots()
        .map(|n| {
            let (col, row) = centre(n);
            ((row * columns + col).min(u64::from(u32::MAX)) << 32) | u64::from(n)
        })
        .collect()
}

/// Where a slot's entry was written among others.
struct Placed {
    slot: u32,
    at: usize,
    len: usize,
    tail: u16,
}

/// The entries of `slots`, one after another, and where each lies. A slot whose record
/// cannot be written, or whose entry is too long for a spot, gets none: queries format
/// it themselves (and report a damaged record).
fn entries(index: &SlideIndex, slots: impl Iterator<Item = u32>) -> (Vec<u8>, Vec<Placed>) {
    let (mut out, mut placed) = (Vec::with_capacity(CHUNK * 1024), Vec::with_capacity(CHUNK));
    for slot in slots {
        let at = out.len();
        let Ok(tail) = index.push_feature_json(slot, Fields::All, &mut out) else {
            out.truncate(at);
            continue;
        };
        let len = out.len() - at;
        match u16::try_from(out.len() - tail) {
            Ok(tail) if len as u64 <= LENGTH_MASK => placed.push(Placed {
                slot,
                at,
                len,
                tail,
            }),
            _ => out.truncate(at),
        }
    }
    (out, placed)
}

#[cfg(test)]
mod tests {
    use super::WINDOW;
    use crate::annotations::engine::{Engine, EngineLimits, unguarded};
    use crate::annotations::query::Part;
    use crate::annotations::{ImportOptions, QueryParams};
    use std::fmt::Write as _;
    use std::path::Path;

    const SIDE: u32 = 4000;

    fn open(dir: &Path) -> Engine {
        Engine::open(
            dir,
            Box::new(|s| (s == "s").then_some((f64::from(SIDE), f64::from(SIDE)))),
            EngineLimits::default(),
        )
        .expect("engine")
    }

    /// A cell of 12 vertices at grid place `i`, with a name and measurements.
    fn cell(i: u32) -> String {
        polygon(i, 12, 9.0)
    }

    /// A polygon of `n` vertices about `radius` px around grid place `i`.
    fn polygon(i: u32, n: u32, radius: f64) -> String {
        let (cx, cy) = (f64::from(20 + (i % 60) * 66), f64::from(20 + (i / 60) * 66));
        let mut ring = String::new();
        for k in 0..=n {
            let a = f64::from(k % n) * std::f64::consts::TAU / f64::from(n);
            let r = radius + f64::from((i + k % n) % 5);
            let _ = write!(
                ring,
                "{}[{:.2},{:.2}]",
                if k > 0 { "," } else { "" },
                cx + r * a.cos(),
                cy + r * a.sin()
            );
        }
        let class = ["Tumor", "Stroma", "Immune cells"][(i % 3) as usize];
        format!(
            r#"{{"type":"Feature","geometry":{{"type":"Polygon","coordinates":[[{ring}]]}},"properties":{{"objectType":"detection","name":"cell {i}","classification":{{"name":"{class}"}},"measurements":{{"Area":{}.5}}}}}}"#,
            i % 97
        )
    }

    /// The answer's features, each as canonical JSON, sorted (texts answer in their
    /// own order).
    fn features(e: &Engine, bbox: &str, fields: &str) -> Vec<String> {
        answer(e, bbox, fields).0
    }

    /// [`features`], and the body's length if the head told it.
    fn answer(e: &Engine, bbox: &str, fields: &str) -> (Vec<String>, Option<u64>) {
        let p = QueryParams {
            bbox: Some(bbox.into()),
            fields: Some(fields.into()),
            ..QueryParams::default()
        };
        let (mut length, mut body) = (None, Vec::new());
        e.query_streamed("s", &p, &mut |part| {
            match part {
                Part::Head(head) => length = head.length,
                Part::Piece(piece) => body.extend_from_slice(&piece),
            }
            true
        })
        .expect("a query");
        // A length told ahead is the body's.
        if let Some(length) = length {
            assert_eq!(length, body.len() as u64, "{bbox} {fields}");
        }
        let answer: serde_json::Value = serde_json::from_slice(&body).expect("valid JSON");
        let list = answer["features"].as_array().expect("features");
        assert_eq!(answer["count"].as_u64(), Some(list.len() as u64));
        let mut texts: Vec<String> = list.iter().map(ToString::to_string).collect();
        texts.sort();
        (texts, length)
    }

    /// The whole body of a query with `query` (`bbox=…&fields=…` and the like), made by
    /// [`Engine::query_streamed`] and, when it answers, by [`Engine::query_now`].
    fn both_ways(e: &Engine, query: &str) -> (Vec<u8>, Option<Vec<u8>>) {
        let mut p = QueryParams::default();
        for pair in query.split('&') {
            let (key, value) = pair.split_once('=').expect("key=value");
            let value = Some(value.to_string());
            match key {
                "bbox" => p.bbox = value,
                "fields" => p.fields = value,
                "format" => p.format = value,
                "lod" => p.lod = value,
                "budget" => p.budget = value.and_then(|v| v.parse().ok()),
                _ => panic!("{key} is not used here"),
            }
        }
        let mut streamed = Vec::new();
        e.query_streamed("s", &p, &mut |part| {
            if let Part::Piece(piece) = part {
                streamed.extend_from_slice(&piece);
            }
            true
        })
        .expect("a query");
        // Answered now only within a second of the last look for outside changes,
        // which `index` takes when due.
        let now = (0..3).find_map(|_| {
            e.index("s").expect("index");
            e.query_now("s", &p)
        });
        let now = now.map(|ready| {
            let ready = ready.expect("a query answered now");
            let body: Vec<u8> = ready
                .pieces
                .flat_map(|p| p.expect("a piece").to_vec())
                .collect();
            assert_eq!(ready.head.length, Some(body.len() as u64), "{query}");
            body
        });
        (streamed, now)
    }

    /// Queries answered at once give the bytes a streamed query gives, for every kind
    /// of answer they make, and leave the others (another level of detail) to it.
    fn assert_now_answers_as_streamed(e: &Engine) {
        for b in BOXES {
            for rest in [
                "fields=all",
                "fields=qupath",
                "format=binary",
                "lod=auto&budget=100000",
                "lod=auto&budget=1",
                "lod=centroids",
            ] {
                let query = format!("bbox={b}&{rest}");
                let (streamed, now) = both_ways(e, &query);
                let geometry = streamed
                    .starts_with(br#"{"type":"FeatureCollection","lod":"geometry""#)
                    || streamed.get(5) == Some(&0); // binary: lod 0
                assert_eq!(now, geometry.then_some(streamed), "{query}");
            }
        }
    }

    const BOXES: [&str; 5] = [
        "0,0,4000,4000",
        "100,100,1920,1080",
        "1234,2345,700,300",
        "3900,3900,100,100",
        "37,1500,2,2",
    ];

    /// Queries answer the same features, byte for byte in each, whether they copy the
    /// texts or format: both field sets, before and after edits (whose new versions
    /// have no text yet) and deletions, over boxes that need several reads.
    #[test]
    fn answers_from_texts_equal_formatted_answers() {
        let dir = tempfile::tempdir().expect("temp dir");
        let e = open(dir.path());
        let mut cells: Vec<String> = (0..3600).map(cell).collect();
        // Bigger than a piece: sent as a piece of its own.
        cells.push(polygon(1830, 20_000, 600.0));
        let file = format!(
            r#"{{"type":"FeatureCollection","features":[{}]}}"#,
            cells.join(",")
        );
        let opts = ImportOptions {
            layer: "cells".into(),
            author: "t".into(),
            ..ImportOptions::default()
        };
        e.import("s", file.as_bytes(), &opts, &|_| {})
            .expect("import");
        let formatted: Vec<_> = BOXES
            .iter()
            .flat_map(|b| [features(&e, b, "all"), features(&e, b, "qupath")])
            .collect();
        assert_eq!(formatted[0].len(), 3601);
        assert_eq!(
            answer(&e, BOXES[0], "all").1,
            None,
            "formatted: no length ahead"
        );
        e.make_texts_now("s").expect("texts");
        {
            let loaded = e.index("s").expect("index");
            let index = loaded.read();
            let texts = index.texts().expect("texts made");
            assert!(
                texts.bytes() > 2 * WINDOW,
                "{} bytes: too few for several reads",
                texts.bytes()
            );
        }
        assert_now_answers_as_streamed(&e);
        let copied: Vec<_> = BOXES
            .iter()
            .flat_map(|b| [features(&e, b, "all"), features(&e, b, "qupath")])
            .collect();
        assert_eq!(copied, formatted);
        assert!(
            answer(&e, BOXES[0], "qupath").1.is_some(),
            "copied: a length ahead"
        );

        // Edits after the texts: their new versions are formatted, the rest copied.
        let ids: Vec<uuid::Uuid> = {
            let loaded = e.index("s").expect("index");
            let index = loaded.read();
            index
                .live_slots()
                .take(10)
                .map(|n| index.slot(n).id)
                .collect()
        };
        for (k, id) in ids.iter().enumerate() {
            if k % 2 == 0 {
                e.update(id, 1, cell(7).as_bytes(), "t", &unguarded)
                    .expect("update");
            } else {
                e.delete(id, None, "t", &unguarded).expect("delete");
            }
        }
        e.create("s", "cells", cell(3601).as_bytes(), "t", &unguarded)
            .expect("create");
        assert_now_answers_as_streamed(&e);
        let fresh = open(dir.path());
        for b in BOXES {
            for fields in ["all", "qupath"] {
                assert_eq!(
                    features(&e, b, fields),
                    features(&fresh, b, fields),
                    "{b} {fields}"
                );
            }
        }
    }
}
