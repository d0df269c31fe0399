//! Importing a GeoJSON file: all or nothing, streamed, parsed on every core.
//!
//! Three stages run at once: one thread splits the input into batches of features
//! ([`split`](super::geojson::split)), a second parses and validates each batch in
//! parallel (rayon), and the calling thread inserts the results into one SQLite
//! transaction. Nothing is committed unless every feature is valid; on the first problem
//! the inserts stop, parsing goes on to count (and list up to 100) problems, and the
//! transaction is rolled back. Memory holds a few batches, not the file.

use super::engine::{Abort, Engine, annotation_from, transaction};
use super::error::{AnnotationError, MAX_PROBLEMS};
use super::geojson::parse::{ParseContext, Problem, parse_item};
use super::geojson::split::{Batch, ItemPlace, Splitter};
use super::index::{SlideIndex, Staged};
use super::model::{Provenance, now_ms};
use super::store::{self, StoreResult, Writes};
use std::io::{BufRead, BufReader, Read};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use uuid::Uuid;

/// Bytes of features parsed as one batch.
const BATCH_BYTES: usize = 2 << 20;

/// How an import treats its features.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    pub layer: String,
    /// Overrides each feature's own `provenance` property.
    pub provenance: Option<Provenance>,
    /// Each imported annotation's author (a model's name for its output).
    pub author: String,
    /// Who makes the import: the change's author in history, whose undo may take it
    /// back. `None`: the `author`.
    pub changed_by: Option<String>,
    /// Fix what can be fixed and report it, instead of refusing.
    pub repair: bool,
    /// Give duplicate ids fresh ones instead of refusing them.
    pub new_ids: bool,
    /// Store the valid features and list the invalid ones (with their text) in the
    /// report, instead of refusing the whole input.
    pub skip_invalid: bool,
    /// Class for features without a classification.
    pub default_class: Option<String>,
    /// Incoming class → stored class, applied before the slide's schema check.
    pub class_map: std::collections::HashMap<String, String>,
    /// For a model's output: the model's name and version, added to each feature's
    /// properties as `"model": {"name", "version"}` unless it has its own.
    pub model: Option<(String, String)>,
    /// The most bytes the input may hold once inflated (a gzip input counts what it
    /// inflates to); `None`: no limit.
    pub max_input_bytes: Option<u64>,
    /// The input's size in bytes if known (a `Content-Length`, a file's size): room for
    /// its features is then reserved once, instead of grown (and copied) many times.
    pub size_hint: Option<u64>,
}

/// Features an input of `size` bytes holds, judged by a first batch; at most one per 64
/// bytes, so a misleading first batch cannot reserve much more than the input could hold.
fn expected_features(size: u64, batch: &Batch) -> usize {
    let per_feature = (batch.bytes.len() / batch.items.len().max(1)).max(64);
    usize::try_from(size / per_feature as u64).unwrap_or(0)
}

/// What an import stored.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ImportReport {
    pub imported: usize,
    pub layer: String,
    /// Features whose id was taken and got a new one (`new_ids`).
    pub new_ids: usize,
    /// What repair changed, per feature (the first 100).
    pub repairs: Vec<String>,
    pub repaired: usize,
    /// The change id, for history and undo.
    pub change: i64,
    pub seconds: f64,
    /// With `skip_invalid`: every feature left out, in file order, with the reason.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<Skipped>,
}

/// A feature `skip_invalid` left out: where it is, why, and its text as read.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Skipped {
    pub index: usize,
    pub line: u64,
    pub column: u64,
    pub reason: String,
    /// The feature's JSON text (lossy UTF-8).
    pub feature: String,
}

/// Opens gzip transparently (by its magic bytes); other input passes through buffered.
pub fn maybe_gunzip<'a>(
    input: impl Read + Send + 'a,
) -> std::io::Result<Box<dyn Read + Send + 'a>> {
    let mut buffered = BufReader::with_capacity(1 << 20, input);
    let head = buffered.fill_buf()?;
    Ok(if head.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::MultiGzDecoder::new(buffered))
    } else {
        Box::new(buffered)
    })
}

/// What the parsing stage found, apart from the features it passed on.
#[derive(Debug, Default)]
struct ParseOutcome {
    problems: Vec<Problem>,
    total_problems: usize,
    repairs: Vec<String>,
    repaired: usize,
    renamed: usize,
    skipped: Vec<Skipped>,
}

impl ParseOutcome {
    fn problem(&mut self, p: Problem) {
        self.total_problems += 1;
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(p);
        }
    }
}

/// A parsed feature, or why it is not one (with its text when invalid features are
/// skipped); with what repair changed.
type ParsedItem = Result<(usize, Staged, Vec<String>), (Problem, Option<String>)>;

/// Batches being parsed at once, on rayon's threads, each by one thread.
const BATCHES_IN_FLIGHT: usize = 4;

/// What is needed to parse one item of a batch.
struct ItemParser<'a> {
    ctx: &'a ParseContext,
    opts: &'a ImportOptions,
    now: i64,
    /// The member `"model":{…}`, without the braces of the object around it.
    model_tag: Option<String>,
}

impl ItemParser<'_> {
    fn parse(&self, batch: &Batch, it: &ItemPlace) -> ParsedItem {
        let result = parse_item(&batch.bytes[it.range.clone()], self.ctx).map_err(
            |(line, column, reason)| {
                // serde counts from the item's start; make it a place in the file.
                let (line, column) = match line {
                    0 => (it.line, it.column),
                    1 => (it.line, it.column + column - 1),
                    l => (it.line + l - 1, column),
                };
                Problem {
                    index: it.index,
                    line,
                    column,
                    reason,
                }
            },
        );
        result
            .and_then(|f| {
                let repairs = f.repairs.clone();
                let opts = self.opts;
                let mut a = annotation_from(f, None, &opts.author, &opts.layer, self.now);
                if let Some(p) = opts.provenance {
                    a.provenance = p;
                }
                if let Some(tag) = &self.model_tag
                    && !a.extra.contains("\"model\":")
                {
                    if !a.extra.is_empty() {
                        a.extra.push(',');
                    }
                    a.extra.push_str(tag);
                }
                let staged = Staged::from_owned(a).ok_or_else(|| Problem {
                    index: it.index,
                    line: it.line,
                    column: it.column,
                    reason: "empty geometry".into(),
                })?;
                Ok((it.index, staged, repairs))
            })
            .map_err(|p| {
                let text = self
                    .opts
                    .skip_invalid
                    .then(|| String::from_utf8_lossy(&batch.bytes[it.range.clone()]).into_owned());
                (p, text)
            })
    }
}

impl ParseOutcome {
    /// Takes in a batch's parsed items: the valid features, to send on; problems and
    /// repairs are counted (and the first ones listed).
    fn take(&mut self, parsed: Vec<ParsedItem>) -> Vec<(usize, Staged)> {
        let mut valid = Vec::with_capacity(parsed.len());
        for r in parsed {
            match r {
                Err((p, Some(feature))) => self.skipped.push(Skipped {
                    index: p.index,
                    line: p.line,
                    column: p.column,
                    reason: p.reason,
                    feature,
                }),
                Err((p, None)) => self.problem(p),
                Ok((index, staged, repairs)) => {
                    if !repairs.is_empty() {
                        self.repaired += 1;
                        if self.repairs.len() < MAX_PROBLEMS {
                            self.repairs
                                .push(format!("feature {index}: {}", repairs.join(", ")));
                        }
                    }
                    valid.push((index, staged));
                }
            }
        }
        valid
    }
}

/// Parses batches from `batches` and sends valid features on, numbered by position and
/// in file order. Each batch is parsed whole by one of rayon's threads, several at once,
/// and put back in order here: parsing a batch in parallel left a core idle at the end
/// of every batch and while the next one was handed over (the machine was 5-15% idle
/// during an import on two cores).
fn parse_stage(
    batches: &Receiver<Batch>,
    spare: &SyncSender<Batch>,
    out: &SyncSender<Vec<(usize, Staged)>>,
    ctx: &ParseContext,
    opts: &ImportOptions,
    expected: &AtomicUsize,
) -> ParseOutcome {
    let parser = ItemParser {
        ctx,
        opts,
        now: now_ms(),
        model_tag: opts.model.as_ref().map(|(name, version)| {
            let object =
                serde_json::json!({"model": {"name": name, "version": version}}).to_string();
            object[1..object.len() - 1].to_string()
        }),
    };
    let parser = &parser;
    let mut outcome = ParseOutcome::default();
    // A batch's parsed items, or the panic that stopped its parsing (raised again here,
    // as it would have been had this thread parsed the batch).
    let (done_tx, done_rx) =
        std::sync::mpsc::channel::<(usize, std::thread::Result<Vec<ParsedItem>>)>();
    // Batches parsed out of order, waiting for those before them.
    let mut waiting = std::collections::BTreeMap::new();
    let (mut started, mut delivered, mut stopped) = (0usize, 0usize, false);
    // Counts the problems of the parsed batches that are next in order and sends their
    // features on (until the first problem); false once the store stage stopped.
    let mut deliver = |done: (usize, std::thread::Result<Vec<ParsedItem>>),
                       delivered: &mut usize| {
        let parsed = done
            .1
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        waiting.insert(done.0, parsed);
        while let Some(parsed) = waiting.remove(delivered) {
            *delivered += 1;
            let valid = outcome.take(parsed);
            // After the first problem nothing more is stored; parsing goes on to list
            // problems.
            if outcome.total_problems == 0 && !stopped && out.send(valid).is_err() {
                stopped = true;
            }
        }
        !stopped
    };
    super::background::pool().in_place_scope(|scope| {
        for batch in batches {
            if let Some(size) = opts.size_hint
                && expected.load(Ordering::Relaxed) == 0
            {
                // Told before the first parsed batch is sent, so the stages after see it.
                expected.store(expected_features(size, &batch), Ordering::Relaxed);
            }
            while started - delivered >= BATCHES_IN_FLIGHT {
                let done = done_rx
                    .recv()
                    .expect("a batch being parsed sends its result");
                if !deliver(done, &mut delivered) {
                    return;
                }
            }
            let (number, done_tx) = (started, done_tx.clone());
            started += 1;
            scope.spawn(move |_| {
                let parsed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    batch
                        .items
                        .iter()
                        .map(|it| parser.parse(&batch, it))
                        .collect()
                }));
                // Full or gone: the splitter has enough spares, or stopped.
                let _ = spare.try_send(batch);
                let _ = done_tx.send((number, parsed));
            });
            while let Ok(done) = done_rx.try_recv() {
                if !deliver(done, &mut delivered) {
                    return;
                }
            }
        }
        while delivered < started {
            let done = done_rx
                .recv()
                .expect("a batch being parsed sends its result");
            if !deliver(done, &mut delivered) {
                return;
            }
        }
    });
    outcome
}

/// What the store stage wrote inside the import's transaction.
struct Stored {
    change: i64,
    /// The `seq` of the first row.
    first_seq: i64,
    imported: usize,
    problems: ParseOutcome,
    fragment: Option<SlideIndex>,
}

/// An imported row's id, where the row is among the import's rows and which feature of
/// the file it came from: 24 bytes, sorted by id (a million of them are sorted and
/// written at the end of an import, so their size is time).
struct IdToIndex {
    id: Uuid,
    row: u32,
    feature: u32,
}

/// `n` as a row or feature number of one import (an input of 2³² features would be over
/// a terabyte: refused long before by the size limit).
fn row_number(n: usize) -> u32 {
    u32::try_from(n).expect("an import holds fewer than 2^32 features")
}

/// Appends the parsed features as rows in file order, then files their ids
/// ([`file_ids`]). With `keep`, the rows also go into a fresh in-memory index fragment that
/// joins the slide's index once committed.
fn store_stage(
    tx: &dyn Writes,
    slide: &str,
    opts: &ImportOptions,
    parsed: &Receiver<Vec<(usize, Staged)>>,
    keep: bool,
    expected: &AtomicUsize,
) -> Result<Stored, Abort> {
    // The change and the slide are recorded last (see `store::next_seq`).
    let change = tx.next_change_id()?;
    let base = tx.next_seq(slide)?;
    let mut out = Stored {
        change,
        first_seq: base,
        imported: 0,
        problems: ParseOutcome::default(),
        fragment: None,
    };
    // Every row of an import has its layer and author.
    let shared = store::SharedColumns {
        slide,
        layer: &opts.layer,
        author: &opts.author,
        change_id: change,
    };
    let mut ids: Vec<IdToIndex> = Vec::new();
    let built = std::thread::scope(|scope| -> Result<_, Abort> {
        // With `keep`, another thread builds the in-memory fragment from each batch once
        // its rows are written, beside the SQLite inserts instead of after them.
        let (index_tx, index_rx) = sync_channel::<Vec<(usize, Staged)>>(4);
        let indexer = keep.then(|| {
            scope.spawn(move || {
                super::background::lower_this_thread();
                fragment_of(&index_rx, expected)
            })
        });
        for mut batch in parsed {
            if opts.new_ids {
                out.problems.renamed += renew_stored_ids(tx, &mut batch)?;
            }
            if ids.capacity() == 0 {
                ids.reserve(expected.load(Ordering::Relaxed).max(batch.len()));
            }
            let rows: Vec<store::NewRow<'_>> = batch
                .iter()
                .map(|(_, s)| (&s.columns, s.body.as_slice()))
                .collect();
            tx.insert_rows(base + out.imported as i64, &shared, &rows)?;
            drop(rows);
            for (n, (index, s)) in batch.iter().enumerate() {
                ids.push(IdToIndex {
                    id: s.columns.id,
                    row: row_number(out.imported + n),
                    feature: row_number(*index),
                });
            }
            out.imported += batch.len();
            if keep && index_tx.send(batch).is_err() {
                break;
            }
        }
        drop(index_tx);
        let renames = file_ids(tx, &mut ids, base, opts.new_ids, &mut out.problems)?;
        let fragment = indexer
            .map(std::thread::ScopedJoinHandle::join)
            .transpose()
            .map_err(|_| Abort::Corrupt("the import's indexing thread panicked".into()))?;
        Ok(fragment.map(|f| (f, renames)))
    })?;
    if let Some(((mut fragment, new_of), mut renames)) = built {
        // The renames number rows as they came; the fragment's slots were renumbered.
        for (n, _) in &mut renames {
            *n = new_of[*n as usize];
        }
        fragment.finish_renames(renames);
        out.fragment = Some(fragment);
    }
    Ok(out)
}

/// Files the ids of an import's rows in the store's id index, sorted (so that a million
/// insertions are sequential). A duplicate, within the file or of an id already stored,
/// gets a fresh id with `new_ids` (see [`rename_rows`]) and is otherwise a problem. Returns
/// the renamed rows (their number among the import's rows and their new id).
fn file_ids(
    tx: &dyn Writes,
    ids: &mut [IdToIndex],
    base: i64,
    new_ids: bool,
    problems: &mut ParseOutcome,
) -> Result<Vec<(u32, Uuid)>, Abort> {
    ids.sort_unstable_by_key(|i| (i.id, i.feature));
    let repeated = |i: usize| i > 0 && ids[i - 1].id == ids[i].id;
    let seq = |i: &IdToIndex| base + i64::from(i.row);
    let mut to_rename = Vec::new();
    let mut chunk = Vec::with_capacity(store::IDS_PER_STATEMENT);
    let mut start = 0;
    while start < ids.len() {
        let end = (start + store::IDS_PER_STATEMENT).min(ids.len());
        // A full chunk of distinct ids goes in with one statement, unless one is taken.
        if end - start == store::IDS_PER_STATEMENT && !(start..end).any(repeated) {
            chunk.clear();
            chunk.extend(ids[start..end].iter().map(|i| (i.id, seq(i))));
            if tx.add_ids(&chunk)? {
                start = end;
                continue;
            }
        }
        for (i, taken) in ids.iter().enumerate().take(end).skip(start) {
            let (id, seq) = (taken.id, seq(taken));
            if !repeated(i) && tx.add_id(&id, seq)? {
                continue;
            }
            if new_ids {
                to_rename.push((taken.row, seq));
                continue;
            }
            problems.problem(Problem {
                index: taken.feature as usize,
                line: 0,
                column: 0,
                reason: if repeated(i) {
                    format!("duplicate id {id} (an earlier feature has it)")
                } else {
                    format!("id {id} already exists in the store")
                },
            });
        }
        start = end;
    }
    problems.renamed += to_rename.len();
    Ok(rename_rows(tx, to_rename)?)
}

/// With `new_ids`: gives the features of a batch whose ids the store already holds a
/// fresh id before their rows are written, and returns how many. (Renaming them after the
/// rows were written rewrote every row of a file imported again onto another slide.)
/// Duplicates within the file are left to [`file_ids`].
fn renew_stored_ids(tx: &dyn Writes, batch: &mut [(usize, Staged)]) -> StoreResult<usize> {
    let mut renamed = 0;
    let mut ids = Vec::with_capacity(store::IDS_PER_STATEMENT);
    for chunk in batch.chunks_mut(store::IDS_PER_STATEMENT) {
        ids.clear();
        ids.extend(chunk.iter().map(|(_, s)| s.columns.id));
        let taken = tx.taken_ids(&ids)?;
        for (_, s) in chunk
            .iter_mut()
            .filter(|(_, s)| taken.contains(&s.columns.id))
        {
            s.columns.id = Uuid::now_v7();
            renamed += 1;
        }
    }
    Ok(renamed)
}

/// Gives each row (its number among the import's rows, its `seq`) a fresh id. The fresh
/// ids are time-ordered (UUIDv7), so they sort beside each other in the id index and go
/// in as one sequential run, like an import's own ids, instead of as a million random
/// insertions all over an index that grows with the store.
fn rename_rows(tx: &dyn Writes, rows: Vec<(u32, i64)>) -> StoreResult<Vec<(u32, Uuid)>> {
    let mut fresh: Vec<(Uuid, i64, u32)> = rows
        .into_iter()
        .map(|(row, seq)| (Uuid::now_v7(), seq, row))
        .collect();
    fresh.sort_unstable_by_key(|f| f.0);
    let mut pairs = Vec::with_capacity(store::IDS_PER_STATEMENT);
    for chunk in fresh.chunks_mut(store::IDS_PER_STATEMENT) {
        pairs.clear();
        pairs.extend(chunk.iter().map(|f| (f.0, f.1)));
        if chunk.len() == store::IDS_PER_STATEMENT && tx.add_ids(&pairs)? {
            continue;
        }
        for f in chunk {
            // A fresh id that is taken would need another process minting the same
            // time-ordered id: try the next one.
            while !tx.add_id(&f.0, f.1)? {
                f.0 = Uuid::now_v7();
            }
        }
    }
    // The rows get their ids in store order: one pass over the slide's new range.
    fresh.sort_unstable_by_key(|f| f.1);
    for (id, seq, _) in &fresh {
        tx.set_row_id(*seq, id)?;
    }
    Ok(fresh.into_iter().map(|(id, _, row)| (row, id)).collect())
}

/// The in-memory index fragment of an import's rows, its tree built (renames of
/// duplicate ids come later), and the new number of each row's slot (see
/// [`SlideIndex::build_tree`]).
fn fragment_of(
    batches: &Receiver<Vec<(usize, Staged)>>,
    expected: &AtomicUsize,
) -> (SlideIndex, Vec<u32>) {
    let mut fragment = SlideIndex::default();
    let mut entries = Vec::new();
    for batch in batches {
        if entries.capacity() == 0 {
            let n = expected.load(Ordering::Relaxed).max(batch.len());
            fragment.reserve(n);
            entries.reserve(n);
        }
        for (_, s) in &batch {
            entries.push(fragment.push_slot(s));
        }
    }
    let new_of = fragment.build_tree(entries);
    (fragment, new_of)
}

/// The refusal an import ends with, if any.
fn refusal(parsed: &mut ParseOutcome, stored: &mut Stored) -> Option<AnnotationError> {
    let total = parsed.total_problems + stored.problems.total_problems;
    if total > 0 {
        let mut all = std::mem::take(&mut parsed.problems);
        all.append(&mut stored.problems.problems);
        all.sort_by_key(|p| p.index);
        all.truncate(MAX_PROBLEMS);
        return Some(AnnotationError::Invalid {
            problems: all,
            total,
        });
    }
    (stored.imported == 0).then(|| AnnotationError::BadRequest("the file holds no features".into()))
}

impl Engine {
    /// Imports every feature of `input` into `slide`, or nothing.
    ///
    /// `progress` is told how many input bytes have been read.
    pub fn import(
        &self,
        slide: &str,
        input: impl Read + Send,
        opts: &ImportOptions,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<ImportReport, AnnotationError> {
        let started = std::time::Instant::now();
        let ctx = self.parse_context(
            slide,
            opts.repair,
            opts.default_class.clone(),
            Some(&opts.class_map),
        )?;
        let keep = self.is_loaded(slide);
        let input = opened(input, opts.max_input_bytes, progress)?;
        let mut splitter = Splitter::new(input, self.limits.max_feature_bytes);
        let conn = self.writer();
        conn.bulk_writing(true).map_err(|e| self.db_error(e))?;
        // Features the input holds, once the first batch tells (0 until then or unknown).
        let expected = AtomicUsize::new(0);
        let result = std::thread::scope(|scope| {
            let (batch_tx, batch_rx) = sync_channel(2);
            // Parsed batches come back to be filled again.
            let (spare_tx, spare_rx) = sync_channel::<Batch>(4);
            let (parsed_tx, parsed_rx) = sync_channel::<Vec<(usize, Staged)>>(2);
            let splitting = scope.spawn(move || {
                super::background::lower_this_thread();
                loop {
                    let spare = spare_rx.try_recv().unwrap_or_else(|_| Batch {
                        bytes: Vec::with_capacity(BATCH_BYTES + (BATCH_BYTES >> 2)),
                        items: Vec::new(),
                    });
                    let Some(b) = splitter.next_batch_in(BATCH_BYTES, spare)? else {
                        break;
                    };
                    if batch_tx.send(b).is_err() {
                        break;
                    }
                }
                Ok::<(), super::geojson::split::SplitError>(())
            });
            let ctx = &ctx;
            let expected = &expected;
            let parsing = scope
                .spawn(move || parse_stage(&batch_rx, &spare_tx, &parsed_tx, ctx, opts, expected));
            // The log goes to disk while rows go in; dropping `stored_tx` stops it.
            let (stored_tx, stored_rx) = sync_channel::<()>(0);
            scope.spawn(move || self.flush_store_until(&stored_rx));
            transaction(&*conn, |tx| {
                let stored = store_stage(tx, slide, opts, &parsed_rx, keep, expected);
                drop(stored_tx);
                let mut stored = stored?;
                drop(parsed_rx);
                let split = splitting
                    .join()
                    .map_err(|_| Abort::Corrupt("the GeoJSON reader panicked".into()))?;
                let mut parsed = parsing
                    .join()
                    .map_err(|_| Abort::Corrupt("the GeoJSON parser panicked".into()))?;
                if let Err(e) = split {
                    return Err(Abort::Refused(Box::new(e.into())));
                }
                if let Some(e) = refusal(&mut parsed, &mut stored) {
                    return Err(Abort::Refused(Box::new(e)));
                }
                tx.add_change(
                    Some(stored.change),
                    slide,
                    opts.changed_by.as_deref().unwrap_or(&opts.author),
                    "import",
                    stored.imported,
                    Some(&opts.layer),
                )?;
                let generation = tx.bump_generation(slide)?;
                if !tx.owns_seq(slide, stored.first_seq)? {
                    return Err(Abort::Corrupt(format!(
                        "slide {slide} was registered under another number during its import"
                    )));
                }
                Ok((stored, parsed, generation))
            })
        });
        let restored = conn.bulk_writing(false);
        // A refusal inside the transaction rolled it back.
        let (stored, parsed, generation) = result.map_err(|e| e.into_error(self))?;
        restored.map_err(|e| self.db_error(e))?;
        let (imported, change, renamed) = (stored.imported, stored.change, stored.problems.renamed);
        if let Some(fragment) = stored.fragment {
            self.apply(slide, generation, |index| index.absorb(fragment));
        }
        // Held through the apply, as every change does (see `forget_outside_changes`).
        drop(conn);
        // The batches were parsed on rayon's threads and freed on others.
        crate::memory::release_freed_everywhere();
        Ok(ImportReport {
            imported,
            layer: opts.layer.clone(),
            new_ids: parsed.renamed + renamed,
            repairs: parsed.repairs,
            repaired: parsed.repaired,
            change,
            seconds: started.elapsed().as_secs_f64(),
            skipped: parsed.skipped,
        })
    }
}

/// Counts bytes read and reports them.
struct CountingReader<'p, R> {
    inner: R,
    read: u64,
    progress: &'p (dyn Fn(u64) + Sync),
}

impl<R: Read> Read for CountingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        (self.progress)(self.read);
        Ok(n)
    }
}

/// The input as the splitter reads it: counted for `progress`, inflated if it is gzip,
/// and limited to `max` bytes once inflated (not as sent).
fn opened<'a>(
    input: impl Read + Send + 'a,
    max: Option<u64>,
    progress: &'a (dyn Fn(u64) + Sync),
) -> std::io::Result<Box<dyn Read + Send + 'a>> {
    let input = maybe_gunzip(CountingReader {
        inner: input,
        read: 0,
        progress,
    })?;
    Ok(match max {
        Some(limit) => Box::new(LimitedReader {
            inner: input,
            left: limit,
            limit,
        }),
        None => input,
    })
}

/// Refused input: larger, once inflated, than [`ImportOptions::max_input_bytes`].
#[derive(Debug, thiserror::Error)]
#[error("the input is larger than the limit of {} MiB", .limit >> 20)]
pub struct InputTooLarge {
    pub limit: u64,
}

/// A reader that fails with [`InputTooLarge`] past `limit` bytes.
struct LimitedReader<R> {
    inner: R,
    left: u64,
    limit: u64,
}

impl<R: Read> Read for LimitedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.left = self
            .left
            .checked_sub(n as u64)
            .ok_or_else(|| std::io::Error::other(InputTooLarge { limit: self.limit }))?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::annotations::engine::EngineLimits;

    const FEATURES: usize = 6000;

    fn engine(dir: &std::path::Path) -> Engine {
        Engine::open(
            dir,
            Box::new(|s| (s == "s").then_some((10_000.0, 10_000.0))),
            EngineLimits::default(),
        )
        .expect("engine")
    }

    fn id(i: usize) -> Uuid {
        Uuid::from_u128(0x5eed_0000_0000_4000_8000_0000_0000_0000 + i as u128)
    }

    /// Feature `i`: a square of its own, or a ring of two points when `bad`; with a long
    /// name, so that the file is several batches.
    fn feature(i: usize, bad: bool) -> String {
        let (x, y) = (
            (i % 90) as f64 * 100.0 + 10.0,
            (i / 90) as f64 * 100.0 + 10.0,
        );
        let (x1, y1) = (x + 50.0, y + 50.0);
        let ring = if bad {
            format!("[[{x},{y}],[{x1},{y1}]]")
        } else {
            format!("[[{x},{y}],[{x1},{y}],[{x1},{y1}],[{x},{y1}],[{x},{y}]]")
        };
        format!(
            r#"{{"type":"Feature","id":"{}","geometry":{{"type":"Polygon","coordinates":[{ring}]}},"properties":{{"objectType":"detection","name":"{}","classification":{{"name":"Tumor"}}}}}}"#,
            id(i),
            "n".repeat(900)
        )
    }

    fn import(e: &Engine, bad: impl Fn(usize) -> bool) -> Result<ImportReport, AnnotationError> {
        let features: Vec<String> = (0..FEATURES).map(|i| feature(i, bad(i))).collect();
        let file = format!(
            r#"{{"type":"FeatureCollection","features":[{}]}}"#,
            features.join(",")
        );
        assert!(file.len() > 2 * BATCH_BYTES, "several batches");
        let opts = ImportOptions {
            layer: "cells".into(),
            author: "t".into(),
            ..ImportOptions::default()
        };
        e.import("s", file.as_bytes(), &opts, &|_| {})
    }

    /// Batches parsed at once are stored in file order: the export (in storage order)
    /// lists the ids as the file did.
    #[test]
    fn batches_parsed_at_once_are_stored_in_file_order() {
        let dir = tempfile::tempdir().expect("temp dir");
        let e = engine(dir.path());
        let report = import(&e, |_| false).expect("import");
        assert_eq!(report.imported, FEATURES);
        let mut out = Vec::new();
        e.export("s", None, &mut out).expect("export");
        let exported: serde_json::Value = serde_json::from_slice(&out).expect("JSON");
        let ids: Vec<String> = exported["features"]
            .as_array()
            .expect("features")
            .iter()
            .map(|f| f["id"].as_str().expect("id").to_string())
            .collect();
        let expected: Vec<String> = (0..FEATURES).map(|i| id(i).to_string()).collect();
        assert_eq!(ids, expected);
    }

    /// Problems in later batches are listed by feature index: the first hundred of
    /// the file, not of the batches that happened to be parsed first; nothing is stored.
    #[test]
    fn problems_across_batches_list_the_first_hundred_of_the_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let e = engine(dir.path());
        let bad = |i: usize| i > 2500 && i.is_multiple_of(13);
        let Err(AnnotationError::Invalid { problems, total }) = import(&e, bad) else {
            panic!("the import must be refused");
        };
        let bad_indices: Vec<usize> = (0..FEATURES).filter(|&i| bad(i)).collect();
        assert_eq!(total, bad_indices.len());
        let listed: Vec<usize> = problems.iter().map(|p| p.index).collect();
        assert_eq!(listed, bad_indices[..MAX_PROBLEMS]);
        let mut out = Vec::new();
        let report = e.export("s", None, &mut out).expect("export");
        assert_eq!(report.features, 0, "nothing stored");
    }
}
