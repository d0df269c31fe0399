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
use super::geojson::split::Splitter;
use super::index::Staged;
use super::model::{Provenance, now_ms};
use super::store;
use rayon::prelude::*;
use std::io::{BufRead, BufReader, Read};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use uuid::Uuid;

/// Bytes of features parsed as one batch.
const BATCH_BYTES: usize = 2 << 20;

/// How an import treats its features.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    pub layer: String,
    /// Overrides each feature's own `provenance` property.
    pub provenance: Option<Provenance>,
    pub author: String,
    /// Fix what can be fixed and report it, instead of refusing.
    pub repair: bool,
    /// Give duplicate ids fresh ones instead of refusing them.
    pub new_ids: bool,
    /// Class for features without a classification.
    pub default_class: Option<String>,
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
}

/// Opens gzip transparently (by its magic bytes).
fn maybe_gunzip<'a>(input: impl Read + Send + 'a) -> std::io::Result<Box<dyn Read + Send + 'a>> {
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
}

impl ParseOutcome {
    fn problem(&mut self, p: Problem) {
        self.total_problems += 1;
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(p);
        }
    }
}

/// Parses batches from `batches` and sends valid features on, numbered by position.
fn parse_stage(
    batches: &Receiver<super::geojson::split::Batch>,
    out: &SyncSender<Vec<(usize, Staged)>>,
    ctx: &ParseContext,
    opts: &ImportOptions,
) -> ParseOutcome {
    let mut outcome = ParseOutcome::default();
    let now = now_ms();
    for batch in batches {
        let parsed: Vec<_> =
            batch
                .items
                .par_iter()
                .map(|it| {
                    let result = parse_item(&batch.bytes[it.range.clone()], ctx).map_err(
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
                    result.and_then(|f| {
                        let repairs = f.repairs.clone();
                        let mut a = annotation_from(f, None, &opts.author, &opts.layer, now)
                            .map_err(|e| Problem {
                                index: it.index,
                                line: it.line,
                                column: it.column,
                                reason: e.to_string(),
                            })?;
                        if let Some(p) = opts.provenance {
                            a.provenance = p;
                        }
                        let staged = Staged::from_owned(a).ok_or_else(|| Problem {
                            index: it.index,
                            line: it.line,
                            column: it.column,
                            reason: "empty geometry".into(),
                        })?;
                        Ok((it.index, staged, repairs))
                    })
                })
                .collect();
        let mut valid = Vec::with_capacity(parsed.len());
        for r in parsed {
            match r {
                Err(p) => outcome.problem(p),
                Ok((index, staged, repairs)) => {
                    if !repairs.is_empty() {
                        outcome.repaired += 1;
                        if outcome.repairs.len() < MAX_PROBLEMS {
                            outcome
                                .repairs
                                .push(format!("feature {index}: {}", repairs.join(", ")));
                        }
                    }
                    valid.push((index, staged));
                }
            }
        }
        // After the first problem nothing more is stored; parsing goes on to list problems.
        if outcome.total_problems == 0 && out.send(valid).is_err() {
            break;
        }
    }
    outcome
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
        let ctx = self.parse_context(slide, opts.repair, opts.default_class.clone())?;
        let stage = self.is_loaded(slide);
        let counted = CountingReader {
            inner: input,
            read: 0,
            progress,
        };
        let input = maybe_gunzip(counted)?;
        let mut splitter = Splitter::new(input, self.limits.max_feature_bytes);
        let conn = self.writer();
        let mut staged_all: Vec<Staged> = Vec::new();
        let mut store_problems = ParseOutcome::default();
        let mut imported = 0usize;
        let result = std::thread::scope(|scope| {
            let (batch_tx, batch_rx) = sync_channel(2);
            let (parsed_tx, parsed_rx) = sync_channel::<Vec<(usize, Staged)>>(2);
            let splitting = scope.spawn(move || {
                loop {
                    match splitter.next_batch(BATCH_BYTES) {
                        Ok(Some(b)) => {
                            if batch_tx.send(b).is_err() {
                                return Ok(());
                            }
                        }
                        Ok(None) => return Ok(()),
                        Err(e) => return Err(e),
                    }
                }
            });
            let (ctx, opts2) = (&ctx, opts);
            let parsing = scope.spawn(move || parse_stage(&batch_rx, &parsed_tx, ctx, opts2));
            let stored = transaction(&conn, |tx| {
                let change =
                    store::add_change(tx, slide, &opts.author, "import", 0, Some(&opts.layer))?;
                let base = store::next_seq(tx, slide)?;
                // Rows are appended in file order; ids are indexed at the end, sorted.
                let mut ids: Vec<(Uuid, i64, usize)> = Vec::new();
                for batch in &parsed_rx {
                    for (index, s) in batch {
                        let seq = base + imported as i64;
                        store::insert_row(tx, seq, slide, &s.columns, &s.body, change)?;
                        ids.push((s.columns.id, seq, index));
                        imported += 1;
                        if stage {
                            staged_all.push(s);
                        }
                    }
                }
                ids.sort_unstable_by_key(|&(id, _, index)| (id, index));
                let mut renamed: Vec<(i64, Uuid)> = Vec::new();
                for (i, &(id, seq, index)) in ids.iter().enumerate() {
                    let repeated = i > 0 && ids[i - 1].0 == id;
                    if !repeated && store::add_id(tx, &id, seq)? {
                        continue;
                    }
                    if opts.new_ids {
                        let fresh = Uuid::new_v4();
                        store::set_row_id(tx, seq, &fresh)?;
                        store::add_id(tx, &fresh, seq)?;
                        renamed.push((seq, fresh));
                        continue;
                    }
                    store_problems.problem(Problem {
                        index,
                        line: 0,
                        column: 0,
                        reason: if repeated {
                            format!("duplicate id {id} (an earlier feature has it)")
                        } else {
                            format!("id {id} already exists in the store")
                        },
                    });
                }
                store_problems.renamed = renamed.len();
                if stage {
                    for (seq, fresh) in renamed {
                        staged_all[(seq - base) as usize].columns.id = fresh;
                    }
                }
                // Drain so the parser finishes; then decide.
                drop(parsed_rx);
                let split = splitting
                    .join()
                    .map_err(|_| Abort::Corrupt("the GeoJSON reader panicked".into()))?;
                let outcome = parsing
                    .join()
                    .map_err(|_| Abort::Corrupt("the GeoJSON parser panicked".into()))?;
                if let Err(e) = split {
                    return Err(Abort::Refused(Box::new(e.into())));
                }
                if outcome.total_problems + store_problems.total_problems > 0 {
                    let mut all = outcome.problems;
                    all.extend(store_problems.problems.drain(..));
                    all.sort_by_key(|p| p.index);
                    all.truncate(MAX_PROBLEMS);
                    let total = outcome.total_problems + store_problems.total_problems;
                    return Err(Abort::Refused(Box::new(AnnotationError::Invalid {
                        problems: all,
                        total,
                    })));
                }
                if imported == 0 {
                    return Err(Abort::Refused(Box::new(AnnotationError::BadRequest(
                        "the file holds no features".into(),
                    ))));
                }
                tx.execute(
                    "UPDATE changes SET count = ?1 WHERE id = ?2",
                    rusqlite::params![imported as i64, change],
                )?;
                let generation = store::bump_generation(tx, slide)?;
                Ok((change, generation, outcome))
            });
            stored
        });
        // A refusal inside the transaction rolled it back.
        let (change, generation, outcome) = result.map_err(|e| e.into_error(self))?;
        drop(conn);
        if stage {
            self.apply(slide, generation, |index| index.extend(staged_all));
        }
        Ok(ImportReport {
            imported,
            layer: opts.layer.clone(),
            new_ids: outcome.renamed + store_problems.renamed,
            repairs: outcome.repairs,
            repaired: outcome.repaired,
            change,
            seconds: started.elapsed().as_secs_f64(),
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
