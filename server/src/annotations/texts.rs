//! Every annotation's GeoJSON text, written once in tile order
//! ([`SlideIndex::tile_order`]), so that a query's answer is copied rather than
//! formatted: formatting the numbers of thousands of polygons was most of a query's time.
//!
//! The texts are two sections of the slide's snapshot ([`super::snapshot`]), a cache of
//! the slide's annotations, never a source of truth:
//! - it is written in the background after the index is loaded from the store, or after
//!   it gained many annotations (an import), and kept across restarts;
//! - it lies in the data directory, on disk: its pages sit in the operating system's
//!   page cache, which the system may drop and read again, not in the server's memory;
//! - it covers the slots the index had when it was made: a slot added since (an edit
//!   replaces its annotation's slot) has no text and is formatted as before.
//!
//! An annotation's Feature with QuPath's properties alone ([`Fields::QuPath`]) is
//! `prefix + "}}"`, and with every property ([`Fields::All`]) `prefix + tail`. The
//! QuPath form of each annotation lies in one section, each followed by a comma, so that
//! the features of a box, mostly neighbours in tile order, are long runs of bytes that
//! an answer sends as they were read, without copying them again; the tails lie in a
//! second section in the same order. Where each lies stays in memory (16 bytes per
//! annotation), so an answer's length is known before it is read.

use super::geojson::write::Fields;
use super::index::SlideIndex;
use super::pieces::{PIECE_CAP, Piece};
use bytes::Bytes;
use std::collections::VecDeque;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::{Arc, Mutex};

/// Bits of a spot that hold an entry's length; the offset is above them.
const LENGTH_BITS: u32 = 24;
const LENGTH_MASK: u64 = (1 << LENGTH_BITS) - 1;
/// Most bytes a query reads in one go from a file (a bigger entry is read alone).
const WINDOW: u64 = 1 << 20;
/// A gap between two wanted entries that a query reads through rather than skips.
const GAP: u64 = 8 << 10;
/// A run of entries at least this long is sent as the bytes it was read into; shorter
/// runs are copied together into pieces, so that an answer is not thousands of tiny
/// writes.
const SHARED_RUN: usize = 16 << 10;
/// Slots formatted per task.
pub(crate) const CHUNK: usize = 512;

/// The texts of one slide's annotations as they were when the files were made.
#[derive(Debug)]
pub struct FeatureTexts {
    /// The slide's snapshot file ([`super::snapshot`]), which holds each entry's QuPath
    /// form and a comma, and each entry's tail, in two sections.
    file: Arc<File>,
    /// Per slot, where its QuPath form lies in the file, `offset << 24 | length`; 0: no
    /// entry.
    spots: Vec<u64>,
    /// Per slot, where its tail lies, the same way.
    tail_spots: Vec<u64>,
    bytes: u64,
}

/// Where one annotation's texts lie; entries sort in file order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Entry {
    spot: u64,
    tail_spot: u64,
}

/// Offset of the text at `spot`.
fn at(spot: u64) -> u64 {
    spot >> LENGTH_BITS
}

/// Length of the text at `spot`.
fn length(spot: u64) -> u64 {
    spot & LENGTH_MASK
}

/// Where the text at `spot` ends.
fn end(spot: u64) -> u64 {
    at(spot) + length(spot)
}

impl Entry {
    /// Sorts entries in file order, by radix: for a region's tens of thousands of
    /// entries, this sort and the one of the candidate slots took 7% of the server's CPU
    /// as comparison sorts.
    pub fn sort_in_file_order(entries: &mut [Self]) {
        // Each entry has its own offset, so the offset alone orders them as `Ord` does;
        // below 4 GB, as a `u32`: half the passes.
        if entries.iter().all(|e| u32::try_from(e.at()).is_ok()) {
            radsort::sort_by_key(entries, |e| e.at() as u32);
        } else {
            radsort::sort_by_key(entries, |e| e.spot);
        }
    }

    fn at(self) -> u64 {
        at(self.spot)
    }

    /// Where the QuPath form ends (its comma is there).
    fn end(self) -> u64 {
        end(self.spot)
    }

    /// Bytes of the Feature's text with `fields`.
    #[must_use]
    pub fn len(self, fields: Fields) -> u64 {
        match fields {
            Fields::All => length(self.spot) - 2 + length(self.tail_spot),
            Fields::QuPath => length(self.spot),
        }
    }
}

/// `at << 24 | len`, the form of a spot.
pub(crate) fn spot(at: u64, len: usize) -> u64 {
    (at << LENGTH_BITS) | len as u64
}

/// `spot` moved `base` bytes further into its file.
pub(crate) fn moved(spot: u64, base: u64) -> u64 {
    spot + (base << LENGTH_BITS)
}

impl FeatureTexts {
    /// Texts in `file`, where `spots` and `tail_spots` (per slot) say.
    pub(crate) fn new(file: Arc<File>, spots: Vec<u64>, tail_spots: Vec<u64>, bytes: u64) -> Self {
        Self {
            file,
            spots,
            tail_spots,
            bytes,
        }
    }

    /// Slot `n`'s entry, if it has one.
    #[must_use]
    pub fn entry(&self, n: u32) -> Option<Entry> {
        let spot = self.spots.get(n as usize).copied().filter(|&s| s != 0)?;
        Some(Entry {
            spot,
            tail_spot: self.tail_spots[n as usize],
        })
    }

    /// How many slots the files were made for (slots from 0 up).
    #[must_use]
    pub fn covered(&self) -> usize {
        self.spots.len()
    }

    /// Size of the files in bytes.
    #[must_use]
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Heap bytes held: where each slot's texts lie.
    #[must_use]
    pub fn memory_bytes(&self) -> usize {
        (self.spots.capacity() + self.tail_spots.capacity()) * std::mem::size_of::<u64>()
    }
}

/// Bytes read from one of the texts files, from `at` on.
#[derive(Debug, Default)]
struct Read {
    bytes: Bytes,
    at: u64,
}

impl Read {
    /// Reads `from..to` of `file` into a window.
    fn of(file: &File, from: u64, to: u64) -> std::io::Result<Self> {
        let mut window = Window::take();
        window.read(file, from, to)?;
        Ok(Self {
            bytes: Bytes::from_owner(window),
            at: from,
        })
    }

    /// Where byte `offset` of the file is in the window.
    fn place(&self, offset: u64) -> usize {
        (offset - self.at) as usize
    }
}

/// The pieces of an answer as they are made.
#[derive(Debug, Default)]
struct Output {
    /// The piece being filled, if any.
    piece: Option<Piece>,
    /// Pieces made and not yet handed out.
    ready: VecDeque<Bytes>,
}

impl Output {
    /// Adds `parts` to the answer, copied into the piece being filled (a new one when
    /// they do not fit), or as bytes of their own when bigger than a piece.
    fn copy(&mut self, parts: &[&[u8]]) {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        if self.piece.as_ref().is_some_and(|p| p.room() < len) {
            self.send_piece();
        }
        if len > PIECE_CAP {
            self.ready.push_back(Bytes::from(parts.concat()));
            return;
        }
        let piece = self.piece.get_or_insert_with(Piece::new);
        for part in parts {
            piece.push(part);
        }
    }

    /// Moves the piece being filled, if it holds anything, to the pieces made.
    fn send_piece(&mut self) {
        if let Some(piece) = self.piece.take()
            && !piece.is_empty()
        {
            self.ready.push_back(piece.into_bytes());
        }
    }
}

/// An answer's Features copied from the texts, made a piece at a time on demand: `head`
/// first, the entries (in file order) joined by commas, then `end`. Owns what it reads
/// (the texts stay open while it lives), so it needs no lock of the index: a server makes
/// each piece as the connection asks for it, on the thread that sends it. Entries near
/// each other in the files are read together; long runs of QuPath forms go out as they
/// were read, the rest is copied into pieces.
#[derive(Debug)]
pub struct TextPieces {
    texts: Arc<FeatureTexts>,
    entries: Vec<Entry>,
    fields: Fields,
    /// The first entry not yet read.
    next: usize,
    /// Entries read and not yet sent.
    pending: std::ops::Range<usize>,
    qupath: Read,
    /// With [`Fields::All`], the tails of the pending entries (from `tails_at` in the
    /// file), read into a buffer this answer keeps: tails are always copied.
    tails: Window,
    tails_at: u64,
    out: Output,
    head: Vec<u8>,
    end: Vec<u8>,
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
            qupath: Read::default(),
            tails: if fields == Fields::All {
                Window::take()
            } else {
                Window::default()
            },
            tails_at: 0,
            out: Output::default(),
            head,
            end,
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

    /// Reads the next run of entries near each other (and, with all fields, their
    /// tails, which lie in the same order).
    fn read_window(&mut self) -> std::io::Result<()> {
        let i = self.next;
        let first = self.entries[i];
        let all = self.fields == Fields::All;
        // Each QuPath form is read with the comma after it.
        let (mut stop, mut tail_stop) = (first.end() + 1, end(first.tail_spot));
        // Whether a text from `at` to `end` joins a read that began at `from` and
        // reaches `stop` so far.
        let near =
            |from: u64, stop: u64, at: u64, end: u64| at <= stop + GAP && end - from <= WINDOW;
        let mut j = i + 1;
        while let Some(&e) = self.entries.get(j) {
            let tail_end = end(e.tail_spot);
            if !near(first.at(), stop, e.at(), e.end() + 1)
                || (all && !near(at(first.tail_spot), tail_stop, at(e.tail_spot), tail_end))
            {
                break;
            }
            (stop, tail_stop) = (e.end() + 1, tail_end);
            j += 1;
        }
        self.qupath = Read::of(&self.texts.file, first.at(), stop)?;
        if all {
            self.tails_at = at(first.tail_spot);
            self.tails
                .read(&self.texts.file, self.tails_at, tail_stop)?;
        }
        self.pending = i..j;
        self.next = j;
        Ok(())
    }

    /// Sends the next run of pending entries that follow each other in the QuPath file,
    /// with the comma after it when more entries come.
    fn send_run(&mut self) {
        let start = self.pending.start;
        let mut k = start + 1;
        let mut stop = self.entries[start].end();
        while k < self.pending.end && self.entries[k].at() == stop + 1 {
            stop = self.entries[k].end();
            k += 1;
        }
        self.pending.start = k;
        let more = k < self.entries.len();
        let from = self.qupath.place(self.entries[start].at());
        let to = self.qupath.place(stop) + usize::from(more);
        if to - from >= SHARED_RUN {
            self.out.send_piece();
            self.out.ready.push_back(self.qupath.bytes.slice(from..to));
        } else {
            self.out.copy(&[&self.qupath.bytes[from..to]]);
        }
    }

    /// Copies the next pending entry with all its fields: its QuPath form without the
    /// closing braces, then its tail.
    fn copy_with_tail(&mut self) {
        let e = self.entries[self.pending.start];
        self.pending.start += 1;
        let comma: &[u8] = if self.pending.start < self.entries.len() {
            b","
        } else {
            b""
        };
        let from = self.qupath.place(e.at());
        let prefix = &self.qupath.bytes[from..from + length(e.spot) as usize - 2];
        let from = (at(e.tail_spot) - self.tails_at) as usize;
        let tail = &self.tails.as_ref()[from..from + length(e.tail_spot) as usize];
        self.out.copy(&[prefix, tail, comma]);
    }

    /// Makes at least one more piece, or finishes.
    fn make(&mut self) -> std::io::Result<()> {
        if !self.head.is_empty() {
            let head = std::mem::take(&mut self.head);
            self.out.copy(&[&head]);
        }
        if self.pending.is_empty() {
            if self.next == self.entries.len() {
                let end = std::mem::take(&mut self.end);
                self.out.copy(&[&end]);
                self.out.send_piece();
                self.finished = true;
                return Ok(());
            }
            self.read_window()?;
        }
        while !self.pending.is_empty() && self.out.ready.is_empty() {
            match self.fields {
                Fields::QuPath => self.send_run(),
                Fields::All => self.copy_with_tail(),
            }
        }
        Ok(())
    }

    /// The next piece, `None` after the last.
    pub fn next_piece(&mut self) -> std::io::Result<Option<Bytes>> {
        loop {
            if let Some(piece) = self.out.ready.pop_front() {
                return Ok(Some(piece));
            }
            if self.finished {
                return Ok(None);
            }
            self.make()?;
        }
    }
}

impl Iterator for TextPieces {
    type Item = std::io::Result<Bytes>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_piece().transpose()
    }
}

/// A buffer a query reads entries into (up to [`WINDOW`] bytes). Kept for the next read
/// once the bytes read into it are dropped (sent), so that its pages are not faulted in
/// for every answer; one bigger than two windows (after a giant Feature) is let go.
#[derive(Debug, Default)]
struct Window {
    buf: Vec<u8>,
    /// Bytes read into `buf`.
    len: usize,
}

/// Windows kept for reuse: those of a few answers in flight, whose runs wait to be sent.
const KEPT_WINDOWS: usize = 16;
static SPARE_WINDOWS: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

impl Window {
    /// Reads `from..to` of `file` into the window.
    fn read(&mut self, file: &File, from: u64, to: u64) -> std::io::Result<()> {
        self.len = (to - from) as usize;
        if self.buf.len() < self.len {
            // Zeroed as it grows, not for every read.
            self.buf.resize(self.len, 0);
        }
        file.read_exact_at(&mut self.buf[..self.len], from)
    }

    fn take() -> Self {
        let spare = SPARE_WINDOWS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop();
        Self {
            buf: spare.unwrap_or_default(),
            len: 0,
        }
    }
}

impl AsRef<[u8]> for Window {
    fn as_ref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Drop for Window {
    fn drop(&mut self) {
        let window = std::mem::take(&mut self.buf);
        if window.is_empty() || window.len() > 2 * WINDOW as usize {
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

/// Where a slot's texts were written among others.
pub(crate) struct Placed {
    pub slot: u32,
    /// Where its QuPath form is and how long (without the comma after it).
    pub at: usize,
    pub len: usize,
    pub tail_at: usize,
    pub tail_len: usize,
}

/// The texts of some slots, one after another.
pub(crate) struct Entries {
    pub qupath: Vec<u8>,
    pub tails: Vec<u8>,
    pub placed: Vec<Placed>,
}

/// The texts of `slots` and where each lies. A slot whose record cannot be written, or
/// whose text is too long for a spot, gets none: queries format it themselves (and
/// report a damaged record).
pub(crate) fn entries(index: &SlideIndex, slots: impl Iterator<Item = u32>) -> Entries {
    let mut made = Entries {
        qupath: Vec::with_capacity(CHUNK * 1024),
        tails: Vec::with_capacity(CHUNK * 256),
        placed: Vec::with_capacity(CHUNK),
    };
    let mut feature = Vec::with_capacity(4096);
    for slot in slots {
        feature.clear();
        let Ok(tail) = index.push_feature_json(slot, Fields::All, &mut feature) else {
            continue;
        };
        let (prefix, tail) = feature.split_at(tail);
        let len = prefix.len() + 2;
        if len as u64 > LENGTH_MASK || tail.len() as u64 > LENGTH_MASK {
            continue;
        }
        made.placed.push(Placed {
            slot,
            at: made.qupath.len(),
            len,
            tail_at: made.tails.len(),
            tail_len: tail.len(),
        });
        made.qupath.extend_from_slice(prefix);
        made.qupath.extend_from_slice(b"}},");
        made.tails.extend_from_slice(tail);
    }
    made
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
