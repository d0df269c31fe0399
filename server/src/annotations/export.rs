//! Streaming a slide's annotations out as one QuPath FeatureCollection.
//!
//! Rows are read from SQLite inside one read transaction (a consistent snapshot, even
//! while edits go on) by a thread of their own, formatted in parallel in chunks, and
//! written in order. Memory holds a few chunks, whatever the slide's size.

use super::engine::Engine;
use super::error::AnnotationError;
use super::geojson::write::{
    COLLECTION_END, COLLECTION_START, Fields, RecordColumns, push_plain_extras, push_record,
};
use super::geometry::Rect;
use super::model::{Annotation, Columns, Provenance};
use super::review::visible_blind;
use super::store::{StoreError, StoreResult};
use rayon::prelude::*;
use std::io::Write;
use std::sync::mpsc::sync_channel;

/// Rows read and formatted together.
const CHUNK_ROWS: usize = 4096;

/// What an export wrote.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct ExportReport {
    pub features: u64,
    pub bytes: u64,
}

/// Whether an exported row is wanted: visible to a blind caller, meeting the box.
fn wanted(
    c: &Columns,
    body: &[u8],
    bbox: Option<&Rect>,
    blind_for: Option<&str>,
) -> Result<bool, super::codec::Corrupt> {
    if let Some(me) = blind_for {
        let provenance = body
            .get(3)
            .and_then(|&b| Provenance::from_byte(b))
            .unwrap_or(Provenance::Human);
        if !visible_blind(me, &c.author, provenance, c.status) {
            return Ok(false);
        }
    }
    match bbox {
        Some(r) => Ok(Annotation::decode_geometry_only(body)?.intersects(r)),
        None => Ok(true),
    }
}

/// Counts bytes on their way to the output.
struct Counting<W> {
    inner: W,
    bytes: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl Engine {
    /// Writes the slide's annotations (those meeting `bbox`, if given) to `out`.
    pub fn export(
        &self,
        slide: &str,
        bbox: Option<Rect>,
        out: impl Write,
    ) -> Result<ExportReport, AnnotationError> {
        self.export_visible(slide, bbox, None, out)
    }

    /// Like [`Engine::export`]; with `blind_for`, only what that blind annotator may see.
    pub fn export_visible(
        &self,
        slide: &str,
        bbox: Option<Rect>,
        blind_for: Option<&str>,
        out: impl Write,
    ) -> Result<ExportReport, AnnotationError> {
        self.slide_size(slide)?;
        let view = self.store_snapshot()?;
        let mut out = Counting {
            inner: out,
            bytes: 0,
        };
        let mut features = 0u64;
        std::thread::scope(|scope| -> Result<(), AnnotationError> {
            let (tx, rx) = sync_channel::<Vec<(Columns, Vec<u8>)>>(2);
            let reading = scope.spawn(move || -> StoreResult<()> {
                let mut chunk = Vec::with_capacity(CHUNK_ROWS);
                let result = view.for_each_in_slide(slide, &mut |c, body| {
                    chunk.push((c, body));
                    if chunk.len() == CHUNK_ROWS {
                        let full = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK_ROWS));
                        if tx.send(full).is_err() {
                            // The writer stopped (a client went away): stop reading.
                            return Err(StoreError::stop());
                        }
                    }
                    Ok(())
                });
                if !chunk.is_empty() {
                    let _ = tx.send(chunk);
                }
                match result {
                    Err(e) if e.is_stop() => Ok(()),
                    other => other,
                }
            });
            out.write_all(COLLECTION_START)?;
            let written = (|| -> Result<(), AnnotationError> {
                for chunk in &rx {
                    let formatted: Vec<Result<(Vec<u8>, u64), AnnotationError>> = chunk
                        .par_chunks(256)
                        .map(|rows| {
                            let mut buf = Vec::with_capacity(rows.len() * 700);
                            let mut n = 0;
                            for (c, body) in rows {
                                let corrupt =
                                    |e| AnnotationError::Corrupt(format!("{}: {e}", c.id));
                                if !wanted(c, body, bbox.as_ref(), blind_for).map_err(corrupt)? {
                                    continue;
                                }
                                let columns = RecordColumns {
                                    id: &c.id,
                                    layer: &c.layer,
                                    class: &c.class,
                                    author: &c.author,
                                    status: c.status,
                                    version: c.version,
                                };
                                buf.push(b',');
                                push_record(
                                    &mut buf,
                                    &columns,
                                    body,
                                    Fields::All,
                                    push_plain_extras,
                                )
                                .map_err(corrupt)?;
                                n += 1;
                            }
                            Ok((buf, n))
                        })
                        .collect();
                    for piece in formatted {
                        let (buf, n) = piece?;
                        // Every feature was written with a leading comma; the first drops it.
                        let skip = usize::from(features == 0 && !buf.is_empty());
                        out.write_all(&buf[skip..])?;
                        features += n;
                    }
                }
                Ok(())
            })();
            drop(rx);
            let read = reading
                .join()
                .map_err(|_| AnnotationError::Corrupt("the export reader panicked".into()))?;
            written?;
            read.map_err(|e| self.db_error(e))?;
            out.write_all(COLLECTION_END)?;
            out.flush()?;
            Ok(())
        })?;
        Ok(ExportReport {
            features,
            bytes: out.bytes,
        })
    }
}
