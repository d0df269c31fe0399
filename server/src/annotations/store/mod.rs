//! The annotation store's boundary: what the engine, imports, exports, audits and the
//! catalog ask of durable storage, with no database named above this module.
//!
//! - [`AnnotationStore`] is one data directory's store: one writer at a time
//!   ([`AnnotationStore::writer`]), a shared reader, and connections of their own for
//!   long consistent reads ([`AnnotationStore::snapshot`]).
//! - [`Reads`] and [`Writes`] are the row operations; a [`Writer`] reads, and opens a
//!   [`Transaction`] that commits everything it wrote or nothing.
//! - The row types the operations exchange ([`RowView`], [`ChangeRow`], …) live here.
//!
//! [`sqlite`] is the embedded implementation (`annotations.db` in the data directory),
//! [`postgres`] the one for several servers (a `postgres://…` address).

pub(crate) mod postgis;
pub mod postgres;
pub mod sqlite;

#[cfg(test)]
mod parity_tests;

use super::audit::{Audit, AuditItem, Outcome};
use super::error::StorageFault;
use super::model::{Columns, Status};
use crate::location::StoreLocation;
use std::collections::HashSet;
use std::ops::Deref;
use std::path::Path;
use uuid::Uuid;

pub use sqlite::DB_FILE;

/// A store operation that failed, in words, and whether the disk under it is at fault.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct StoreError {
    message: String,
    fault: Option<StorageFault>,
    /// The caller's own callback asked a scan to stop (see [`StoreError::stop`]).
    stopped: bool,
    /// A row that a [`Writes`] operation could not store because of a constraint.
    constraint: bool,
}

impl StoreError {
    #[must_use]
    pub fn new(message: impl Into<String>, fault: Option<StorageFault>) -> Self {
        Self {
            message: message.into(),
            fault,
            stopped: false,
            constraint: false,
        }
    }

    /// What a scan's callback returns to end the scan early; the caller keeps its own
    /// reason and recognises this with [`StoreError::is_stop`].
    #[must_use]
    pub fn stop() -> Self {
        Self {
            stopped: true,
            ..Self::new("stopped by the caller", None)
        }
    }

    /// A row broke a constraint of the store (a duplicate key).
    #[must_use]
    pub fn constraint(message: impl Into<String>) -> Self {
        Self {
            constraint: true,
            ..Self::new(message, None)
        }
    }

    #[must_use]
    pub fn is_stop(&self) -> bool {
        self.stopped
    }

    #[must_use]
    pub fn is_constraint(&self) -> bool {
        self.constraint
    }

    /// Whether the disk is full or read-only: the same request can succeed once an
    /// operator fixes it.
    #[must_use]
    pub fn fault(&self) -> Option<StorageFault> {
        self.fault
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A stored row, borrowed from the store's buffers (no allocation per row).
#[derive(Debug)]
pub struct RowView<'r> {
    pub id: Uuid,
    pub layer: &'r str,
    pub class: &'r str,
    pub author: &'r str,
    pub status: Status,
    pub version: u32,
    pub body: &'r [u8],
}

/// A change as the history endpoint shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ChangeRow {
    pub change: i64,
    pub kind: String,
    pub author: String,
    /// Milliseconds since the Unix epoch.
    pub at: i64,
    pub undone: bool,
    /// What the change said about itself (a review step: `{"from", "to", "comment"}`).
    pub detail: Option<String>,
    #[serde(skip)]
    pub before: Option<Vec<u8>>,
    #[serde(skip)]
    pub after: Option<Vec<u8>>,
}

/// What a slide holds and when it last changed: (author, status, count) of its live
/// annotations, and the time (ms) of its last change that was not undone.
pub type Activity = (Vec<(String, String, u64)>, Option<i64>);

/// How many changes of one kind an author made on a slide in one day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayChanges {
    pub slide: String,
    pub author: String,
    /// `create` or `review`.
    pub kind: String,
    /// Days since the epoch, in UTC.
    pub day: i64,
    pub count: u64,
}

/// Before/after blobs of one annotation change.
pub type BeforeAfter = (Uuid, Option<Vec<u8>>, Option<Vec<u8>>);

/// A change that bumped its slide's generation (every kind but comments).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecentChange {
    pub id: i64,
    pub kind: String,
    /// For an undo, the id of the change it undid.
    pub detail: Option<String>,
}

/// What recording an audit item's outcome found.
#[derive(Debug)]
pub enum Recording {
    NoSuchAudit,
    NotInAudit,
    /// The item's outcome before (if any), and the class and author it was sampled with.
    Replaced(Option<String>, String, String),
}

/// Ids that [`Writes::add_ids`] inserts (and [`Reads::taken_ids`] looks up) at once.
pub const IDS_PER_STATEMENT: usize = 128;

/// The columns that most rows [`Writes::insert_rows`] appends at once share.
#[derive(Debug)]
pub struct SharedColumns<'a> {
    pub slide: &'a str,
    pub layer: &'a str,
    pub author: &'a str,
    pub change_id: i64,
}

impl SharedColumns<'_> {
    /// Whether `columns` agrees with these.
    #[must_use]
    pub fn fit(&self, columns: &Columns) -> bool {
        columns.layer == self.layer && columns.author == self.author
    }
}

/// One row to append: its columns and its record body.
pub type NewRow<'r> = (&'r Columns, &'r [u8]);

/// Reads of the store. Each slide's rows are one contiguous range of row numbers
/// (`seq`), in the order they were written.
pub trait Reads {
    /// A number that changes whenever another connection (or process) commits.
    fn data_version(&self) -> StoreResult<i64>;
    /// The slide's generation (0 if it never changed); every change bumps it.
    fn generation(&self, slide: &str) -> StoreResult<i64>;
    /// Every slide the store ever wrote, with its generation, in registration order.
    fn generations(&self) -> StoreResult<Vec<(String, i64)>>;
    /// One annotation by id, with its slide.
    fn get(&self, id: &Uuid) -> StoreResult<Option<(String, Columns, Vec<u8>)>>;
    /// At least as many rows as the slide has (its `seq` span; deletions leave gaps).
    fn row_bound(&self, slide: &str) -> StoreResult<usize>;
    /// Every annotation of a slide in storage order, streamed to `f`.
    fn for_each_in_slide(
        &self,
        slide: &str,
        f: &mut dyn FnMut(Columns, Vec<u8>) -> StoreResult<()>,
    ) -> StoreResult<()>;
    /// Like [`Reads::for_each_in_slide`], lending each row instead of copying it.
    fn for_each_view_in_slide(
        &self,
        slide: &str,
        f: &mut dyn FnMut(RowView<'_>) -> StoreResult<()>,
    ) -> StoreResult<()>;
    /// A slide's [`Activity`].
    fn activity(&self, slide: &str) -> StoreResult<Activity>;
    /// Changes per slide, author, kind and day: annotations created and review steps
    /// taken; undone changes are left out.
    fn changes_per_day(&self) -> StoreResult<Vec<DayChanges>>;
    /// Every recorded change of one annotation, oldest first.
    fn history(&self, id: &Uuid) -> StoreResult<Vec<ChangeRow>>;
    /// The import that created an annotation, if it came from one.
    fn creating_import(&self, id: &Uuid) -> StoreResult<Option<ChangeRow>>;
    /// The caller's latest change on a slide that can still be undone (comments change
    /// nothing and undos are undone by redoing, so neither counts): its id and kind.
    fn last_undoable(&self, slide: &str, author: &str) -> StoreResult<Option<(i64, String)>>;
    /// The before/after pairs of a non-import change.
    fn change_history(&self, change_id: i64) -> StoreResult<Vec<BeforeAfter>>;
    /// The slide's latest `count` changes that bumped its generation, oldest first: the
    /// changes between a generation `count` behind and the current one.
    fn latest_changes(&self, slide: &str, count: usize) -> StoreResult<Vec<RecentChange>>;
    /// How many changes bumped the slide's generation (every kind but comments): its
    /// generation, unless something bumped it without recording a change.
    fn change_count(&self, slide: &str) -> StoreResult<i64>;
    /// The kind of one change (`None` if there is no such change).
    fn change_kind(&self, change_id: i64) -> StoreResult<Option<String>>;
    /// Ids and versions of the annotations a change created on a slide that still exist.
    fn created_by(&self, slide: &str, change_id: i64) -> StoreResult<Vec<(Uuid, u32)>>;
    /// Which of `ids` (at most [`IDS_PER_STATEMENT`]) the store holds.
    fn taken_ids(&self, ids: &[Uuid]) -> StoreResult<HashSet<Uuid>>;
    /// Whether `seq` is in the slide's range (`false` for a slide not registered).
    fn owns_seq(&self, slide: &str, seq: i64) -> StoreResult<bool>;
    /// The audits of `slide` (of every slide when `None`), oldest first.
    fn audits(&self, slide: Option<&str>) -> StoreResult<Vec<Audit>>;
    /// One audit and its items in sample order.
    fn audit(&self, audit: i64) -> StoreResult<Option<(Audit, Vec<AuditItem>)>>;
    /// The slide an audit samples.
    fn audit_slide(&self, audit: i64) -> StoreResult<Option<String>>;
    /// The slide an annotation was on, from its history (it may be deleted since).
    fn slide_of_history(&self, id: &Uuid) -> StoreResult<Option<String>>;
}

/// Writes, inside a [`Transaction`]. A failed operation leaves the transaction to be
/// dropped (rolled back).
pub trait Writes: Reads {
    /// The id the next change recorded will get; inside a transaction nothing else
    /// takes it. A big import names its change in every row but records it last.
    fn next_change_id(&self) -> StoreResult<i64>;
    /// Records a change under `id` ([`Writes::next_change_id`]) or the next one; returns
    /// its id.
    fn add_change(
        &self,
        id: Option<i64>,
        slide: &str,
        author: &str,
        kind: &str,
        count: usize,
        detail: Option<&str>,
    ) -> StoreResult<i64>;
    /// Bumps the slide's generation (registering the slide); returns the new one.
    fn bump_generation(&self, slide: &str) -> StoreResult<i64>;
    /// The `seq` the slide's next annotation gets.
    fn next_seq(&self, slide: &str) -> StoreResult<i64>;
    /// Appends an annotation row at `seq` without filing its id (see [`Writes::add_id`]).
    fn insert_row(
        &self,
        seq: i64,
        slide: &str,
        columns: &Columns,
        body: &[u8],
        change_id: i64,
    ) -> StoreResult<()>;
    /// Appends rows at `seq`, `seq + 1`, … in as few statements as the store can (an
    /// import's batch at once); a row whose columns do not [fit](SharedColumns::fit)
    /// `shared` keeps its own. A row that cannot be stored ends the whole transaction.
    fn insert_rows(
        &self,
        seq: i64,
        shared: &SharedColumns<'_>,
        rows: &[NewRow<'_>],
    ) -> StoreResult<()>;
    /// Files an id; `Ok(false)` if it is taken.
    fn add_id(&self, id: &Uuid, seq: i64) -> StoreResult<bool>;
    /// Files [`IDS_PER_STATEMENT`] distinct ids, all or none: `Ok(false)` if one of them
    /// is taken, and then none is added.
    fn add_ids(&self, ids: &[(Uuid, i64)]) -> StoreResult<bool>;
    /// Gives the row at `seq` another id (before it is filed).
    fn set_row_id(&self, seq: i64, id: &Uuid) -> StoreResult<()>;
    /// Inserts one annotation; `Ok(false)` if its id is taken.
    fn insert(
        &self,
        slide: &str,
        columns: &Columns,
        body: &[u8],
        change_id: i64,
    ) -> StoreResult<bool>;
    /// Replaces a stored annotation's row (its creating change stays).
    fn replace(&self, a: &super::model::Annotation) -> StoreResult<()>;
    fn delete(&self, id: &Uuid) -> StoreResult<()>;
    /// Keeps the before and after of a change to one annotation (full records).
    fn add_history(
        &self,
        change_id: i64,
        id: &Uuid,
        before: Option<&[u8]>,
        after: Option<&[u8]>,
    ) -> StoreResult<()>;
    fn mark_undone(&self, change_id: i64) -> StoreResult<()>;
    /// Deletes every annotation a change created on a slide; returns how many.
    fn delete_created_by(&self, slide: &str, change_id: i64) -> StoreResult<usize>;
    /// Records a new audit and its items under a fresh random id; returns the id.
    fn add_audit(&self, audit: &Audit, items: &[AuditItem]) -> StoreResult<i64>;
    /// Records an item's outcome.
    fn record_outcome(
        &self,
        audit: i64,
        id: &Uuid,
        outcome: Outcome,
        comment: Option<&str>,
        by: &str,
        at: i64,
    ) -> StoreResult<Recording>;
}

/// The store's one writer, held: reads see the latest commit, and no other change of
/// this server runs meanwhile.
pub trait Writer: Deref<Target = dyn Reads> {
    /// Begins a transaction that takes the store's write lock at once.
    fn begin(&self) -> StoreResult<Box<dyn Transaction + '_>>;
    /// With `true`, the store prepares for one long write (an import): work that a
    /// commit would do is left for after it. With `false`, that work is done or set
    /// going (after the import's commit or rollback).
    fn bulk_writing(&self, on: bool) -> StoreResult<()>;
}

/// A write transaction: [`Transaction::commit`] keeps everything, dropping it keeps
/// nothing.
pub trait Transaction: Deref<Target = dyn Writes> {
    fn commit(self: Box<Self>) -> StoreResult<()>;
}

/// Runs `f` in one transaction of `writer`: commits if it succeeds; an error drops the
/// transaction, which rolls it back.
pub fn transaction<T, E: From<StoreError>>(
    writer: &dyn Writer,
    f: impl FnOnce(&dyn Writes) -> Result<T, E>,
) -> Result<T, E> {
    let tx = writer.begin()?;
    let value = f(&**tx)?;
    tx.commit()?;
    Ok(value)
}

/// A consistent view of the store for a long read (an export, an agreement load), on a
/// connection of its own: edits go on meanwhile and are not seen.
pub trait Snapshot: Deref<Target = dyn Reads> + Send {}

/// One data directory's annotation store.
pub trait AnnotationStore: Send + Sync {
    /// Where the store is, for messages.
    fn location(&self) -> String;
    /// The shared reader.
    fn reader(&self) -> Box<dyn Deref<Target = dyn Reads> + '_>;
    /// The writer; waits while another change of this server holds it.
    fn writer(&self) -> Box<dyn Writer + '_>;
    /// The writer if no change of this server holds it now.
    fn try_writer(&self) -> Option<Box<dyn Writer + '_>>;
    /// A consistent view of the store, on a connection of its own.
    fn snapshot(&self) -> StoreResult<Box<dyn Snapshot>>;
    /// While a long transaction writes, puts what it wrote so far on disk now and then,
    /// until `done` says the transaction is about to commit (so the commit finds little
    /// left to sync). Runs on a thread of its own.
    fn flush_until(&self, done: &std::sync::mpsc::Receiver<()>);
    /// How long an engine may trust its indexes before it asks the store for changes
    /// made elsewhere: a store shared by several servers is asked more often.
    fn recheck_after(&self) -> std::time::Duration {
        std::time::Duration::from_secs(1)
    }
}

/// How the store treats a big import's aftermath.
#[derive(Debug, Clone, Copy, Default)]
pub struct StoreOptions {
    /// Work left after a big import (copying its log into the database file) runs on a
    /// thread of its own, so the import is answered first.
    pub background_checkpoint: bool,
}

/// Opens (creating if needed) the annotation store of a data directory.
pub fn open(dir: &Path, options: StoreOptions) -> StoreResult<Box<dyn AnnotationStore>> {
    Ok(Box::new(sqlite::SqliteStore::open(dir, options)?))
}

/// Opens (creating or updating if needed) the annotation store at `location`.
pub fn open_at(
    location: &StoreLocation,
    options: StoreOptions,
) -> StoreResult<Box<dyn AnnotationStore>> {
    match location {
        StoreLocation::Directory(dir) => open(dir, options),
        StoreLocation::Database(url) => Ok(Box::new(postgres::PostgresStore::open(url)?)),
    }
}

/// A reader of the store at `location` on a connection of its own (for the catalog and
/// the slide browser beside an engine); `None` when a directory has no store yet.
pub fn open_reader_at(
    location: &StoreLocation,
) -> StoreResult<Option<Box<dyn Deref<Target = dyn Reads> + Send>>> {
    match location {
        StoreLocation::Directory(dir) => open_reader(dir),
        StoreLocation::Database(url) => postgres::open_reader(url).map(Some),
    }
}

/// A reader of a data directory's store on a connection of its own (for the catalog and
/// the slide browser beside an engine); `None` when the directory has no store yet.
pub fn open_reader(dir: &Path) -> StoreResult<Option<Box<dyn Deref<Target = dyn Reads> + Send>>> {
    sqlite::open_reader(dir)
}
