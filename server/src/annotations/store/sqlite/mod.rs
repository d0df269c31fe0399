//! The embedded annotation store: `annotations.db`, SQLite in WAL mode with
//! `synchronous=FULL`, so a change is on disk before it is acknowledged. [`SqliteStore`]
//! is the [`AnnotationStore`]; [`Reads`] and [`Writes`] are implemented on a connection,
//! each method by the function of the same name below (the audit tables' in [`audit`]).
//!
//! Tables:
//! - `annotations`: one row per live annotation; the fields queries filter on are columns,
//!   the rest is a compact record body (`model::Annotation::encode_body`); `change_id` is
//!   the change that created it. The row id `seq` is the slide's number shifted left 36
//!   bits plus a counter, so each slide's rows are one contiguous, append-only range:
//!   loading a slide is a range scan and a bulk import appends without any secondary
//!   index to maintain.
//! - `ids`: UUID → `seq`, the one index on annotations; an import fills it at the end, in
//!   UUID order, which makes a million insertions sequential.
//! - `changes`: one row per change (an import, a create, an update, a delete, an undo),
//!   with its author and time; `undone` marks changes that were undone.
//! - `history`: before and after of every annotation a non-import change touched, as
//!   full records (an import's annotations point to their change instead).
//! - `slides`: each slide's number and a generation, bumped by every change, so a server notices
//!   changes another process made.
//!
//! SQLite's `user_version` holds [`SCHEMA_VERSION`]: a store from a newer Tessera, or from
//! the one development build before versions were recorded, is refused with the reason.

mod audit;

use super::{
    Activity, AnnotationStore, BeforeAfter, ChangeRow, DayChanges, IDS_PER_STATEMENT, NewRow,
    Reads, RecentChange, RowView, SharedColumns, Snapshot, StoreError, StoreOptions, StoreResult,
    Transaction, Writer, Writes,
};
use crate::annotations::error::StorageFault;
use crate::annotations::model::{Annotation, Columns, Status};
use rusqlite::{Connection, OptionalExtension, params};
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use uuid::Uuid;

/// File name of the store inside the data directory.
pub const DB_FILE: &str = "annotations.db";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS annotations (
    seq INTEGER PRIMARY KEY,
    uuid BLOB NOT NULL,
    slide TEXT NOT NULL,
    layer TEXT NOT NULL,
    class TEXT NOT NULL,
    author TEXT NOT NULL,
    status TEXT NOT NULL,
    version INTEGER NOT NULL,
    change_id INTEGER NOT NULL,
    record BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS ids (
    uuid BLOB PRIMARY KEY,
    seq INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS changes (
    id INTEGER PRIMARY KEY,
    slide TEXT NOT NULL,
    author TEXT NOT NULL,
    at INTEGER NOT NULL,
    kind TEXT NOT NULL,
    count INTEGER NOT NULL,
    detail TEXT,
    undone INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS changes_by_author ON changes (slide, author, id);
CREATE TABLE IF NOT EXISTS history (
    id INTEGER PRIMARY KEY,
    change_id INTEGER NOT NULL,
    uuid BLOB NOT NULL,
    before BLOB,
    after BLOB
);
CREATE INDEX IF NOT EXISTS history_by_uuid ON history (uuid);
CREATE INDEX IF NOT EXISTS history_by_change ON history (change_id);
CREATE TABLE IF NOT EXISTS slides (
    slide TEXT PRIMARY KEY,
    number INTEGER NOT NULL UNIQUE,
    generation INTEGER NOT NULL
);
";

/// Version of [`SCHEMA`], kept in SQLite's `user_version`. A store made before versions
/// were recorded reads 0 and has this same schema (checked); the next schema change adds
/// a migration from 1.
pub const SCHEMA_VERSION: i64 = 1;

/// An error that says why a store cannot be used, in words.
fn refused(message: String) -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_MISMATCH),
        Some(message),
    )
}

/// Checks the store's schema version before anything is created or changed, and
/// records it in a store that has none yet.
fn check_schema(conn: &Connection) -> rusqlite::Result<()> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(refused(format!(
            "written by a newer Tessera (annotation schema {version}; this build reads \
             schema {SCHEMA_VERSION}): use that version or a newer one"
        )));
    }
    let existing: i64 = conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE name = 'slides'",
        [],
        |r| r.get(0),
    )?;
    if version == 0
        && existing > 0
        && conn
            .prepare("SELECT number, generation FROM slides LIMIT 0")
            .is_err()
    {
        return Err(refused(
            "made by a development build older than schema versions (its `slides` table \
             has no `number`): export it with that build, then import into a new store"
                .into(),
        ));
    }
    Ok(())
}

/// Bits of `seq` that number annotations within a slide; the bits above number the slide.
const SEQ_BITS: u32 = 36;

/// Opens (creating if needed) the store in `dir`; on a read-only file system, an existing
/// store read-only (see [`crate::sqlite`]).
pub(crate) fn connect(dir: &Path) -> rusqlite::Result<Connection> {
    let path: PathBuf = dir.join(DB_FILE);
    let (conn, mode) = crate::sqlite::open(&path, |conn| {
        conn.busy_timeout(Duration::from_secs(30))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "cache_size", -8_000)?;
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        conn.pragma_update(None, "journal_size_limit", 64 << 20)?;
        check_schema(conn)?;
        conn.execute_batch(SCHEMA)?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version < SCHEMA_VERSION {
            conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        }
        Ok(())
    })?;
    if mode == crate::sqlite::Mode::ReadOnly {
        check_schema(&conn)?;
    }
    Ok(conn)
}

/// Reads an annotation row (`uuid, layer, class, author, status, version, record`).
fn row_to_parts(row: &rusqlite::Row<'_>) -> rusqlite::Result<(Columns, Vec<u8>)> {
    let uuid: Vec<u8> = row.get(0)?;
    let status: String = row.get(4)?;
    let columns = Columns {
        id: Uuid::from_slice(&uuid).unwrap_or_default(),
        layer: row.get(1)?,
        class: row.get(2)?,
        author: row.get(3)?,
        status: Status::parse(&status).unwrap_or_default(),
        version: row.get(5)?,
    };
    Ok((columns, row.get(6)?))
}

const SELECT_ROW: &str =
    "SELECT uuid, layer, class, author, status, version, record FROM annotations";

/// Every annotation of a slide in storage order, streamed to `f`.
fn for_each_in_slide(
    conn: &Connection,
    slide: &str,
    f: &mut dyn FnMut(Columns, Vec<u8>) -> StoreResult<()>,
) -> StoreResult<()> {
    let Some((lo, hi)) = seq_range(conn, slide)? else {
        return Ok(());
    };
    let mut stmt = conn.prepare_cached(&format!(
        "{SELECT_ROW} WHERE seq BETWEEN ?1 AND ?2 ORDER BY seq"
    ))?;
    let mut rows = stmt.query(params![lo, hi])?;
    while let Some(row) = rows.next()? {
        let (c, body) = row_to_parts(row)?;
        f(c, body)?;
    }
    Ok(())
}

/// Like [`for_each_in_slide`], lending each row instead of copying it.
fn for_each_view_in_slide(
    conn: &Connection,
    slide: &str,
    f: &mut dyn FnMut(RowView<'_>) -> StoreResult<()>,
) -> StoreResult<()> {
    let Some((lo, hi)) = seq_range(conn, slide)? else {
        return Ok(());
    };
    let mut stmt = conn.prepare_cached(&format!(
        "{SELECT_ROW} WHERE seq BETWEEN ?1 AND ?2 ORDER BY seq"
    ))?;
    let mut rows = stmt.query(params![lo, hi])?;
    while let Some(row) = rows.next()? {
        let text = |i: usize| {
            row.get_ref(i)
                .and_then(|v| v.as_str().map_err(rusqlite::Error::from))
        };
        f(RowView {
            id: Uuid::from_slice(row.get_ref(0)?.as_blob()?).unwrap_or_default(),
            layer: text(1)?,
            class: text(2)?,
            author: text(3)?,
            status: Status::parse(text(4)?).unwrap_or_default(),
            version: row.get(5)?,
            body: row.get_ref(6)?.as_blob()?,
        })?;
    }
    Ok(())
}

/// One annotation by id, with its slide.
fn get(conn: &Connection, id: &Uuid) -> rusqlite::Result<Option<(String, Columns, Vec<u8>)>> {
    conn.query_row(
        "SELECT a.uuid, a.layer, a.class, a.author, a.status, a.version, a.record, a.slide
         FROM ids JOIN annotations a ON a.seq = ids.seq WHERE ids.uuid = ?1",
        params![id.as_bytes()],
        |row| {
            let (c, b) = row_to_parts(row)?;
            Ok((row.get(7)?, c, b))
        },
    )
    .optional()
}

/// The slide's generation (0 if it never changed).
fn generation(conn: &Connection, slide: &str) -> rusqlite::Result<i64> {
    conn.query_row(
        "SELECT generation FROM slides WHERE slide = ?1",
        params![slide],
        |r| r.get(0),
    )
    .optional()
    .map(Option::unwrap_or_default)
}

/// Pages of write-ahead log after which SQLite copies it into the database file at a
/// commit (its automatic checkpoint; SQLite's default).
const AUTO_CHECKPOINT_PAGES: i64 = 1000;

/// Turns SQLite's automatic checkpoint at commit off (for a big import, whose log is
/// checkpointed after it is answered) or back on.
fn set_auto_checkpoint(conn: &Connection, on: bool) -> rusqlite::Result<()> {
    let pages = if on { AUTO_CHECKPOINT_PAGES } else { 0 };
    conn.pragma_update(None, "wal_autocheckpoint", pages)
}

/// The store's write-ahead log.
fn wal_path(dir: &Path) -> PathBuf {
    dir.join(format!("{DB_FILE}-wal"))
}

/// Bytes in the store's write-ahead log (0 when there is none).
#[must_use]
fn wal_bytes(dir: &Path) -> u64 {
    std::fs::metadata(wal_path(dir)).map_or(0, |m| m.len())
}

/// How often [`flush_wal_until`] puts the log on disk.
const WAL_FLUSH_EVERY: Duration = Duration::from_millis(250);

/// Puts what a long transaction has written to the write-ahead log so far on disk, every
/// [`WAL_FLUSH_EVERY`], until `done` says the transaction is about to commit. The commit's
/// own sync then finds little left: after a 1M-cell import it waited 0.3 s for the
/// whole log, all of it written at once. Durability is unchanged (the commit still syncs);
/// the disk just works while the import computes.
fn flush_wal_until(dir: &Path, done: &std::sync::mpsc::Receiver<()>) {
    let mut log = None;
    while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = done.recv_timeout(WAL_FLUSH_EVERY) {
        if log.is_none() {
            log = std::fs::File::open(wal_path(dir)).ok();
        }
        // A failed sync here only leaves more for the commit's own.
        if let Some(file) = &log {
            let _ = file.sync_data();
        }
    }
}

/// Copies what it can of the write-ahead log into the database file without waiting
/// for readers or blocking writers (a passive checkpoint).
fn checkpoint(conn: &Connection) -> rusqlite::Result<()> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
}

/// [`checkpoint`] on a connection of its own (for a thread of its own).
fn checkpoint_apart(dir: &Path) -> rusqlite::Result<()> {
    let conn = Connection::open(dir.join(DB_FILE))?;
    conn.busy_timeout(Duration::from_secs(30))?;
    checkpoint(&conn)
}

/// Bumps the slide's generation; returns the new one.
fn bump_generation(conn: &Connection, slide: &str) -> rusqlite::Result<i64> {
    slide_number(conn, slide)?;
    conn.query_row(
        "UPDATE slides SET generation = generation + 1 WHERE slide = ?1 RETURNING generation",
        params![slide],
        |r| r.get(0),
    )
}

/// Records a change under `id` if given; returns its id.
fn add_change(
    conn: &Connection,
    id: Option<i64>,
    slide: &str,
    author: &str,
    kind: &str,
    count: usize,
    detail: Option<&str>,
) -> rusqlite::Result<i64> {
    conn.execute(
        "INSERT INTO changes (id, slide, author, at, kind, count, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![id, slide, author, crate::annotations::model::now_ms(), kind, count as i64, detail],
    )?;
    Ok(conn.last_insert_rowid())
}

/// The id the next change recorded will get; inside a write transaction nothing else
/// takes it. A big import names its change in every row but records the change itself
/// last (see [`next_seq`] for why).
fn next_change_id(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("SELECT coalesce(max(id), 0) + 1 FROM changes", [], |r| {
        r.get(0)
    })
}

/// The slide's number, registering the slide on first use.
fn slide_number(conn: &Connection, slide: &str) -> rusqlite::Result<i64> {
    let number = number_for(conn, slide)?;
    conn.execute(
        "INSERT INTO slides (slide, number, generation) VALUES (?1, ?2, 0)
         ON CONFLICT (slide) DO NOTHING",
        params![slide, number],
    )?;
    Ok(number)
}

/// The slide's number, or the one it gets when registered (the next free one).
fn number_for(conn: &Connection, slide: &str) -> rusqlite::Result<i64> {
    conn.query_row(
        "SELECT coalesce((SELECT number FROM slides WHERE slide = ?1),
                         (SELECT coalesce(max(number), 0) + 1 FROM slides))",
        params![slide],
        |r| r.get(0),
    )
}

/// First and last possible `seq` of a slide's rows; `None` for a slide never written.
fn seq_range(conn: &Connection, slide: &str) -> rusqlite::Result<Option<(i64, i64)>> {
    let number: Option<i64> = conn
        .query_row(
            "SELECT number FROM slides WHERE slide = ?1",
            params![slide],
            |r| r.get(0),
        )
        .optional()?;
    Ok(number.map(|n| (n << SEQ_BITS, ((n + 1) << SEQ_BITS) - 1)))
}

/// Every slide the store ever wrote, with its generation (bumped by each change).
fn generations(conn: &Connection) -> rusqlite::Result<Vec<(String, i64)>> {
    let mut stmt = conn.prepare_cached("SELECT slide, generation FROM slides ORDER BY number")?;
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect()
}

/// A slide's [`Activity`]: one range scan of its rows and one index lookup.
fn activity(conn: &Connection, slide: &str) -> rusqlite::Result<Activity> {
    let Some((lo, hi)) = seq_range(conn, slide)? else {
        return Ok((Vec::new(), None));
    };
    let mut stmt = conn.prepare_cached(
        "SELECT author, status, count(*) FROM annotations WHERE seq BETWEEN ?1 AND ?2
         GROUP BY author, status",
    )?;
    let counts = stmt
        .query_map(params![lo, hi], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)?.max(0) as u64))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let last: Option<i64> = conn
        .prepare_cached("SELECT max(at) FROM changes WHERE slide = ?1")?
        .query_row([slide], |r| r.get(0))?;
    Ok((counts, last))
}

/// Changes per slide, author, kind and day: annotations created and review steps taken,
/// for throughput figures; undone changes are left out.
fn changes_per_day(conn: &Connection) -> rusqlite::Result<Vec<DayChanges>> {
    let mut stmt = conn.prepare(
        "SELECT slide, author, kind, at / 86400000, sum(count) FROM changes
         WHERE undone = 0 AND kind IN ('create', 'review') GROUP BY 1, 2, 3, 4",
    )?;
    stmt.query_map([], |r| {
        Ok(DayChanges {
            slide: r.get(0)?,
            author: r.get(1)?,
            kind: r.get(2)?,
            day: r.get(3)?,
            count: r.get::<_, i64>(4)?.max(0) as u64,
        })
    })?
    .collect()
}

/// Whether `seq` is in the slide's range (`false` for a slide not registered).
fn owns_seq(conn: &Connection, slide: &str, seq: i64) -> rusqlite::Result<bool> {
    Ok(seq_range(conn, slide)?.is_some_and(|(lo, hi)| (lo..=hi).contains(&seq)))
}

/// At least as many rows as the slide has (its `seq` span; deletions leave gaps).
fn row_bound(conn: &Connection, slide: &str) -> rusqlite::Result<usize> {
    let Some((lo, hi)) = seq_range(conn, slide)? else {
        return Ok(0);
    };
    let span: Option<i64> = conn.query_row(
        "SELECT max(seq) - min(seq) + 1 FROM annotations WHERE seq BETWEEN ?1 AND ?2",
        params![lo, hi],
        |r| r.get(0),
    )?;
    Ok(span.unwrap_or(0).max(0) as usize)
}

/// The `seq` the slide's next annotation gets.
///
/// A slide without a number yet is not registered here: the [`bump_generation`] that
/// ends the transaction registers it, with this same number, as nothing else registers
/// slides meanwhile. A big import writes the small tables (`slides`, `changes`) only as
/// it ends: a page written to the log early in a transaction and again later makes SQLite
/// re-read and re-checksum every log frame after it at commit, which took 0.34 s of a
/// 1M-cell import.
fn next_seq(conn: &Connection, slide: &str) -> rusqlite::Result<i64> {
    let number = number_for(conn, slide)?;
    let (lo, hi) = (number << SEQ_BITS, ((number + 1) << SEQ_BITS) - 1);
    let last: Option<i64> = conn.query_row(
        "SELECT max(seq) FROM annotations WHERE seq BETWEEN ?1 AND ?2",
        params![lo, hi],
        |r| r.get(0),
    )?;
    Ok(last.map_or(lo, |l| l + 1))
}

/// Appends an annotation row at `seq` without touching the id index (see [`add_id`]).
fn insert_row(
    conn: &Connection,
    seq: i64,
    slide: &str,
    columns: &Columns,
    body: &[u8],
    change_id: i64,
) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO annotations (seq, uuid, slide, layer, class, author, status, version, change_id, record)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?;
    stmt.raw_bind_parameter(1, seq)?;
    stmt.raw_bind_parameter(2, columns.id.as_bytes())?;
    stmt.raw_bind_parameter(3, slide)?;
    stmt.raw_bind_parameter(4, &columns.layer)?;
    stmt.raw_bind_parameter(5, &columns.class)?;
    stmt.raw_bind_parameter(6, &columns.author)?;
    stmt.raw_bind_parameter(7, columns.status.as_str())?;
    stmt.raw_bind_parameter(8, columns.version)?;
    stmt.raw_bind_parameter(9, change_id)?;
    stmt.raw_bind_parameter(10, body)?;
    stmt.raw_execute()?;
    Ok(())
}

/// `n` groups of `width` placeholders, `(?, ?), (?, ?), …`: the values of a statement
/// that inserts `n` rows.
fn placeholders(width: usize, n: usize) -> String {
    vec![format!("({})", vec!["?"; width].join(", ")); n].join(", ")
}

/// Rows that [`insert_chunk`] appends with one statement.
const ROWS_PER_STATEMENT: usize = 32;

/// Appends rows at `seq`, `seq + 1`, …: full chunks of rows that fit `shared` with one
/// statement each ([`insert_chunk`]), the others one by one.
fn insert_rows(
    conn: &Connection,
    seq: i64,
    shared: &SharedColumns<'_>,
    rows: &[NewRow<'_>],
) -> rusqlite::Result<()> {
    for (n, chunk) in rows.chunks(ROWS_PER_STATEMENT).enumerate() {
        let seq = seq + (n * ROWS_PER_STATEMENT) as i64;
        if chunk.len() == ROWS_PER_STATEMENT && chunk.iter().all(|(c, _)| shared.fit(c)) {
            insert_chunk(conn, seq, shared, chunk)?;
            continue;
        }
        for (i, &(columns, body)) in chunk.iter().enumerate() {
            insert_row(
                conn,
                seq + i as i64,
                shared.slide,
                columns,
                body,
                shared.change_id,
            )?;
        }
    }
    Ok(())
}

/// Appends [`ROWS_PER_STATEMENT`] rows at `seq`, `seq + 1`, … with one statement, as
/// [`insert_row`] does one; each row's columns must [fit](SharedColumns::fit) `shared`.
/// `OR ROLLBACK`: a row that cannot be stored ends the whole transaction (as it ends an
/// import anyway), which spares SQLite the statement journal it keeps to undo half of a
/// statement (4% of the store stage's instructions).
fn insert_chunk(
    conn: &Connection,
    seq: i64,
    shared: &SharedColumns<'_>,
    rows: &[NewRow<'_>],
) -> rusqlite::Result<()> {
    const SHARED: usize = 4;
    const OWN: usize = 6;
    assert_eq!(
        rows.len(),
        ROWS_PER_STATEMENT,
        "insert_chunk takes a full chunk"
    );
    thread_local! {
        static SQL: String = format!(
            "INSERT OR ROLLBACK INTO annotations (seq, uuid, slide, layer, class, author, status, version, change_id, record) VALUES {}",
            (0..ROWS_PER_STATEMENT)
                .map(|row| {
                    let own = |k: usize| SHARED + OWN * row + k;
                    format!(
                        "(?{}, ?{}, ?1, ?2, ?{}, ?3, ?{}, ?{}, ?4, ?{})",
                        own(1), own(2), own(3), own(4), own(5), own(6)
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let mut stmt = SQL.with(|sql| conn.prepare_cached(sql))?;
    stmt.raw_bind_parameter(1, shared.slide)?;
    stmt.raw_bind_parameter(2, shared.layer)?;
    stmt.raw_bind_parameter(3, shared.author)?;
    stmt.raw_bind_parameter(4, shared.change_id)?;
    for (i, &(columns, body)) in rows.iter().enumerate() {
        assert!(shared.fit(columns), "insert_chunk takes rows that fit");
        let first = SHARED + OWN * i + 1;
        stmt.raw_bind_parameter(first, seq + i as i64)?;
        stmt.raw_bind_parameter(first + 1, columns.id.as_bytes())?;
        stmt.raw_bind_parameter(first + 2, &columns.class)?;
        stmt.raw_bind_parameter(first + 3, columns.status.as_str())?;
        stmt.raw_bind_parameter(first + 4, columns.version)?;
        stmt.raw_bind_parameter(first + 5, body)?;
    }
    stmt.raw_execute()?;
    Ok(())
}

/// Indexes an id; `Ok(false)` if it is taken.
fn add_id(conn: &Connection, id: &Uuid, seq: i64) -> rusqlite::Result<bool> {
    let n = conn
        .prepare_cached(
            "INSERT INTO ids (uuid, seq) VALUES (?1, ?2) ON CONFLICT (uuid) DO NOTHING",
        )?
        .execute(params![id.as_bytes(), seq])?;
    Ok(n == 1)
}

/// Which of `ids` (at most [`IDS_PER_STATEMENT`]) the store holds, looked up with one
/// statement.
fn taken_ids(conn: &Connection, ids: &[Uuid]) -> rusqlite::Result<std::collections::HashSet<Uuid>> {
    assert!(
        ids.len() <= IDS_PER_STATEMENT,
        "taken_ids takes at most a chunk"
    );
    let sql = format!(
        "SELECT uuid FROM ids WHERE uuid IN ({})",
        vec!["?"; ids.len()].join(",")
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(
        rusqlite::params_from_iter(ids.iter().map(Uuid::as_bytes)),
        |row| Ok(Uuid::from_slice(row.get_ref(0)?.as_blob()?).unwrap_or_default()),
    )?;
    rows.collect()
}

/// Indexes [`IDS_PER_STATEMENT`] distinct ids with one statement, all or none:
/// `Ok(false)` if one of them is taken, and then none is added.
fn add_ids(conn: &Connection, ids: &[(Uuid, i64)]) -> rusqlite::Result<bool> {
    assert_eq!(ids.len(), IDS_PER_STATEMENT, "add_ids takes a full chunk");
    thread_local! {
        static SQL: String = format!(
            "INSERT INTO ids (uuid, seq) VALUES {}",
            placeholders(2, IDS_PER_STATEMENT)
        );
    }
    let mut stmt = SQL.with(|sql| conn.prepare_cached(sql))?;
    for (i, (id, seq)) in ids.iter().enumerate() {
        stmt.raw_bind_parameter(2 * i + 1, id.as_bytes())?;
        stmt.raw_bind_parameter(2 * i + 2, seq)?;
    }
    match stmt.raw_execute() {
        Ok(_) => Ok(true),
        Err(rusqlite::Error::SqliteFailure(e, _))
            if e.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// Gives the row at `seq` another id (before it is indexed).
fn set_row_id(conn: &Connection, seq: i64, id: &Uuid) -> rusqlite::Result<()> {
    conn.prepare_cached("UPDATE annotations SET uuid = ?2 WHERE seq = ?1")?
        .execute(params![seq, id.as_bytes()])?;
    Ok(())
}

/// Inserts one annotation; `Ok(false)` if its id is taken.
fn insert(
    conn: &Connection,
    slide: &str,
    columns: &Columns,
    body: &[u8],
    change_id: i64,
) -> rusqlite::Result<bool> {
    slide_number(conn, slide)?;
    let seq = next_seq(conn, slide)?;
    if !add_id(conn, &columns.id, seq)? {
        return Ok(false);
    }
    insert_row(conn, seq, slide, columns, body, change_id)?;
    Ok(true)
}

/// Replaces a stored annotation's row (its creating change stays).
fn replace(conn: &Connection, a: &Annotation) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE annotations SET layer = ?2, class = ?3, author = ?4, status = ?5, version = ?6,
         record = ?7 WHERE seq = (SELECT seq FROM ids WHERE uuid = ?1)",
        params![
            a.id.as_bytes(),
            a.layer,
            a.class,
            a.author,
            a.status.as_str(),
            a.version,
            a.encode_body()
        ],
    )?;
    Ok(())
}

fn delete(conn: &Connection, id: &Uuid) -> rusqlite::Result<()> {
    conn.execute(
        "DELETE FROM annotations WHERE seq = (SELECT seq FROM ids WHERE uuid = ?1)",
        params![id.as_bytes()],
    )?;
    conn.execute("DELETE FROM ids WHERE uuid = ?1", params![id.as_bytes()])?;
    Ok(())
}

/// Keeps the before and after of a change to one annotation
/// ([`Annotation::encode_full`] blobs).
fn add_history(
    conn: &Connection,
    change_id: i64,
    id: &Uuid,
    before: Option<&[u8]>,
    after: Option<&[u8]>,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO history (change_id, uuid, before, after) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![change_id, id.as_bytes(), before, after])?;
    Ok(())
}

/// Every recorded change of one annotation, oldest first.
fn history(conn: &Connection, id: &Uuid) -> rusqlite::Result<Vec<ChangeRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT c.id, c.kind, c.author, c.at, c.undone, h.before, h.after, c.detail FROM history h
         JOIN changes c ON c.id = h.change_id WHERE h.uuid = ?1 ORDER BY h.id",
    )?;
    let rows = stmt.query_map(params![id.as_bytes()], |r| {
        Ok(ChangeRow {
            change: r.get(0)?,
            kind: r.get(1)?,
            author: r.get(2)?,
            at: r.get(3)?,
            undone: r.get::<_, i64>(4)? != 0,
            detail: r.get(7)?,
            before: r.get(5)?,
            after: r.get(6)?,
        })
    })?;
    rows.collect()
}

/// The import that created an annotation, if it came from one.
fn creating_import(conn: &Connection, id: &Uuid) -> rusqlite::Result<Option<ChangeRow>> {
    conn.query_row(
        "SELECT c.id, c.kind, c.author, c.at, c.undone FROM changes c
         JOIN annotations a ON a.change_id = c.id JOIN ids ON ids.seq = a.seq
         WHERE ids.uuid = ?1 AND c.kind = 'import'",
        params![id.as_bytes()],
        |r| {
            Ok(ChangeRow {
                change: r.get(0)?,
                kind: r.get(1)?,
                author: r.get(2)?,
                at: r.get(3)?,
                undone: r.get::<_, i64>(4)? != 0,
                detail: None,
                before: None,
                after: None,
            })
        },
    )
    .optional()
}

/// The caller's latest change on a slide that can still be undone (comments change
/// nothing and undos are undone by redoing, so neither counts).
fn last_undoable(
    conn: &Connection,
    slide: &str,
    author: &str,
) -> rusqlite::Result<Option<(i64, String)>> {
    conn.query_row(
        "SELECT id, kind FROM changes WHERE slide = ?1 AND author = ?2 AND undone = 0 AND kind NOT IN ('undo', 'comment')
         ORDER BY id DESC LIMIT 1",
        params![slide, author],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()
}

fn change_history(conn: &Connection, change_id: i64) -> rusqlite::Result<Vec<BeforeAfter>> {
    let mut stmt = conn.prepare_cached(
        "SELECT uuid, before, after FROM history WHERE change_id = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map(params![change_id], |r| {
        let u: Vec<u8> = r.get(0)?;
        Ok((
            Uuid::from_slice(&u).unwrap_or_default(),
            r.get(1)?,
            r.get(2)?,
        ))
    })?;
    rows.collect()
}

fn latest_changes(
    conn: &Connection,
    slide: &str,
    count: usize,
) -> rusqlite::Result<Vec<RecentChange>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, kind, detail FROM changes WHERE slide = ?1 AND kind <> 'comment'
         ORDER BY id DESC LIMIT ?2",
    )?;
    let limit = i64::try_from(count).unwrap_or(i64::MAX);
    let mut changes = stmt
        .query_map(params![slide, limit], |r| {
            Ok(RecentChange {
                id: r.get(0)?,
                kind: r.get(1)?,
                detail: r.get(2)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    changes.reverse();
    Ok(changes)
}

fn change_count(conn: &Connection, slide: &str) -> rusqlite::Result<i64> {
    conn.query_row(
        "SELECT count(*) FROM changes WHERE slide = ?1 AND kind <> 'comment'",
        params![slide],
        |r| r.get(0),
    )
}

fn change_kind(conn: &Connection, change_id: i64) -> rusqlite::Result<Option<String>> {
    conn.query_row(
        "SELECT kind FROM changes WHERE id = ?1",
        params![change_id],
        |r| r.get(0),
    )
    .optional()
}

fn mark_undone(conn: &Connection, change_id: i64) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE changes SET undone = 1 WHERE id = ?1",
        params![change_id],
    )?;
    Ok(())
}

/// Ids of the annotations a change created on a slide that still exist.
fn created_by(
    conn: &Connection,
    slide: &str,
    change_id: i64,
) -> rusqlite::Result<Vec<(Uuid, u32)>> {
    let Some((lo, hi)) = seq_range(conn, slide)? else {
        return Ok(Vec::new());
    };
    let mut stmt = conn.prepare_cached(
        "SELECT uuid, version FROM annotations WHERE seq BETWEEN ?1 AND ?2 AND change_id = ?3",
    )?;
    let rows = stmt.query_map(params![lo, hi, change_id], |r| {
        let u: Vec<u8> = r.get(0)?;
        Ok((Uuid::from_slice(&u).unwrap_or_default(), r.get(1)?))
    })?;
    rows.collect()
}

/// Deletes every annotation a change created on a slide.
fn delete_created_by(conn: &Connection, slide: &str, change_id: i64) -> rusqlite::Result<usize> {
    let Some((lo, hi)) = seq_range(conn, slide)? else {
        return Ok(0);
    };
    conn.execute(
        "DELETE FROM ids WHERE seq IN (SELECT seq FROM annotations WHERE seq BETWEEN ?1 AND ?2 AND change_id = ?3)",
        params![lo, hi, change_id],
    )?;
    conn.execute(
        "DELETE FROM annotations WHERE seq BETWEEN ?1 AND ?2 AND change_id = ?3",
        params![lo, hi, change_id],
    )
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        let message = crate::sqlite::describe(&e);
        if e.sqlite_error_code() == Some(rusqlite::ErrorCode::ConstraintViolation) {
            return StoreError::constraint(message);
        }
        let fault = if crate::sqlite::is_disk_full(&e) {
            Some(StorageFault::Full)
        } else if crate::sqlite::is_read_only(&e) {
            Some(StorageFault::ReadOnly)
        } else {
            None
        };
        StoreError::new(message, fault)
    }
}

impl From<rusqlite::types::FromSqlError> for StoreError {
    fn from(e: rusqlite::types::FromSqlError) -> Self {
        StoreError::new(format!("a stored value of an unexpected type: {e}"), None)
    }
}

impl Reads for Connection {
    fn data_version(&self) -> StoreResult<i64> {
        Ok(self
            .prepare_cached("PRAGMA data_version")?
            .query_row([], |r| r.get(0))?)
    }
    fn generation(&self, slide: &str) -> StoreResult<i64> {
        Ok(generation(self, slide)?)
    }
    fn generations(&self) -> StoreResult<Vec<(String, i64)>> {
        Ok(generations(self)?)
    }
    fn get(&self, id: &Uuid) -> StoreResult<Option<(String, Columns, Vec<u8>)>> {
        Ok(get(self, id)?)
    }
    fn row_bound(&self, slide: &str) -> StoreResult<usize> {
        Ok(row_bound(self, slide)?)
    }
    fn for_each_in_slide(
        &self,
        slide: &str,
        f: &mut dyn FnMut(Columns, Vec<u8>) -> StoreResult<()>,
    ) -> StoreResult<()> {
        for_each_in_slide(self, slide, f)
    }
    fn for_each_view_in_slide(
        &self,
        slide: &str,
        f: &mut dyn FnMut(RowView<'_>) -> StoreResult<()>,
    ) -> StoreResult<()> {
        for_each_view_in_slide(self, slide, f)
    }
    fn activity(&self, slide: &str) -> StoreResult<Activity> {
        Ok(activity(self, slide)?)
    }
    fn changes_per_day(&self) -> StoreResult<Vec<DayChanges>> {
        Ok(changes_per_day(self)?)
    }
    fn history(&self, id: &Uuid) -> StoreResult<Vec<ChangeRow>> {
        Ok(history(self, id)?)
    }
    fn creating_import(&self, id: &Uuid) -> StoreResult<Option<ChangeRow>> {
        Ok(creating_import(self, id)?)
    }
    fn last_undoable(&self, slide: &str, author: &str) -> StoreResult<Option<(i64, String)>> {
        Ok(last_undoable(self, slide, author)?)
    }
    fn change_history(&self, change_id: i64) -> StoreResult<Vec<BeforeAfter>> {
        Ok(change_history(self, change_id)?)
    }
    fn latest_changes(&self, slide: &str, count: usize) -> StoreResult<Vec<RecentChange>> {
        Ok(latest_changes(self, slide, count)?)
    }
    fn change_count(&self, slide: &str) -> StoreResult<i64> {
        Ok(change_count(self, slide)?)
    }
    fn change_kind(&self, change_id: i64) -> StoreResult<Option<String>> {
        Ok(change_kind(self, change_id)?)
    }
    fn created_by(&self, slide: &str, change_id: i64) -> StoreResult<Vec<(Uuid, u32)>> {
        Ok(created_by(self, slide, change_id)?)
    }
    fn taken_ids(&self, ids: &[Uuid]) -> StoreResult<std::collections::HashSet<Uuid>> {
        Ok(taken_ids(self, ids)?)
    }
    fn owns_seq(&self, slide: &str, seq: i64) -> StoreResult<bool> {
        Ok(owns_seq(self, slide, seq)?)
    }
    fn audits(&self, slide: Option<&str>) -> StoreResult<Vec<crate::annotations::audit::Audit>> {
        Ok(audit::audits(self, slide)?)
    }
    fn audit(
        &self,
        id: i64,
    ) -> StoreResult<
        Option<(
            crate::annotations::audit::Audit,
            Vec<crate::annotations::audit::AuditItem>,
        )>,
    > {
        Ok(audit::audit(self, id)?)
    }
    fn audit_slide(&self, id: i64) -> StoreResult<Option<String>> {
        Ok(audit::audit_slide(self, id)?)
    }
    fn slide_of_history(&self, id: &Uuid) -> StoreResult<Option<String>> {
        Ok(self
            .query_row(
                "SELECT c.slide FROM history h JOIN changes c ON c.id = h.change_id
                 WHERE h.uuid = ?1 LIMIT 1",
                [id.as_bytes().as_slice()],
                |r| r.get(0),
            )
            .optional()?)
    }
}

impl Writes for Connection {
    fn next_change_id(&self) -> StoreResult<i64> {
        Ok(next_change_id(self)?)
    }
    fn add_change(
        &self,
        id: Option<i64>,
        slide: &str,
        author: &str,
        kind: &str,
        count: usize,
        detail: Option<&str>,
    ) -> StoreResult<i64> {
        Ok(add_change(self, id, slide, author, kind, count, detail)?)
    }
    fn bump_generation(&self, slide: &str) -> StoreResult<i64> {
        Ok(bump_generation(self, slide)?)
    }
    fn next_seq(&self, slide: &str) -> StoreResult<i64> {
        Ok(next_seq(self, slide)?)
    }
    fn insert_row(
        &self,
        seq: i64,
        slide: &str,
        columns: &Columns,
        body: &[u8],
        change_id: i64,
    ) -> StoreResult<()> {
        Ok(insert_row(self, seq, slide, columns, body, change_id)?)
    }
    fn insert_rows(
        &self,
        seq: i64,
        shared: &SharedColumns<'_>,
        rows: &[NewRow<'_>],
    ) -> StoreResult<()> {
        Ok(insert_rows(self, seq, shared, rows)?)
    }
    fn add_id(&self, id: &Uuid, seq: i64) -> StoreResult<bool> {
        Ok(add_id(self, id, seq)?)
    }
    fn add_ids(&self, ids: &[(Uuid, i64)]) -> StoreResult<bool> {
        Ok(add_ids(self, ids)?)
    }
    fn set_row_id(&self, seq: i64, id: &Uuid) -> StoreResult<()> {
        Ok(set_row_id(self, seq, id)?)
    }
    fn insert(
        &self,
        slide: &str,
        columns: &Columns,
        body: &[u8],
        change_id: i64,
    ) -> StoreResult<bool> {
        Ok(insert(self, slide, columns, body, change_id)?)
    }
    fn replace(&self, a: &Annotation) -> StoreResult<()> {
        Ok(replace(self, a)?)
    }
    fn delete(&self, id: &Uuid) -> StoreResult<()> {
        Ok(delete(self, id)?)
    }
    fn add_history(
        &self,
        change_id: i64,
        id: &Uuid,
        before: Option<&[u8]>,
        after: Option<&[u8]>,
    ) -> StoreResult<()> {
        Ok(add_history(self, change_id, id, before, after)?)
    }
    fn mark_undone(&self, change_id: i64) -> StoreResult<()> {
        Ok(mark_undone(self, change_id)?)
    }
    fn delete_created_by(&self, slide: &str, change_id: i64) -> StoreResult<usize> {
        Ok(delete_created_by(self, slide, change_id)?)
    }
    fn add_audit(
        &self,
        a: &crate::annotations::audit::Audit,
        items: &[crate::annotations::audit::AuditItem],
    ) -> StoreResult<i64> {
        Ok(audit::add_audit(self, a, items)?)
    }
    fn record_outcome(
        &self,
        audit: i64,
        id: &Uuid,
        outcome: crate::annotations::audit::Outcome,
        comment: Option<&str>,
        by: &str,
        at: i64,
    ) -> StoreResult<super::Recording> {
        Ok(audit::record_outcome(
            self, audit, id, outcome, comment, by, at,
        )?)
    }
}

/// Write-ahead log bytes past which the checkpoint after an import runs on a thread of
/// its own (when the store's options allow).
const BIG_WAL_BYTES: u64 = 64 << 20;

/// `annotations.db` of one data directory: a writer connection and a reader connection,
/// each used by one thread at a time.
#[derive(Debug)]
pub struct SqliteStore {
    dir: PathBuf,
    writer: Mutex<Connection>,
    reader: Mutex<Connection>,
    options: StoreOptions,
    /// Whether a background checkpoint is running (one at a time).
    checkpointing: Arc<AtomicBool>,
}

fn lock(m: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl SqliteStore {
    /// Opens (creating if needed) the store in `dir`.
    pub fn open(dir: &Path, options: StoreOptions) -> StoreResult<Self> {
        Ok(Self {
            dir: dir.to_path_buf(),
            writer: Mutex::new(connect(dir)?),
            reader: Mutex::new(connect(dir)?),
            options,
            checkpointing: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Copies a big write-ahead log into the database file after an import committed
    /// with automatic checkpoints off: on a thread of its own with
    /// [`StoreOptions::background_checkpoint`] (the import is answered meanwhile, and
    /// edits go on), else now on `conn`. A small log is checkpointed now either way.
    fn checkpoint_after_import(&self, conn: &Connection) {
        let now = |conn: &Connection| {
            if let Err(e) = checkpoint(conn) {
                tracing::warn!(dir = %self.dir.display(), "checkpoint after an import: {e}");
            }
        };
        if !self.options.background_checkpoint || wal_bytes(&self.dir) < BIG_WAL_BYTES {
            return now(conn);
        }
        if self.checkpointing.swap(true, Ordering::AcqRel) {
            return; // the running one copies this import's pages too, or the next commit does
        }
        let (dir, running) = (self.dir.clone(), Arc::clone(&self.checkpointing));
        std::thread::spawn(move || {
            if let Err(e) = checkpoint_apart(&dir) {
                tracing::warn!(dir = %dir.display(), "background checkpoint: {e}");
            }
            running.store(false, Ordering::Release);
        });
    }
}

/// A connection lent out as [`Reads`] (a held mutex guard, or one of its own).
struct Lent<C>(C);

impl<C: Deref<Target = Connection>> Deref for Lent<C> {
    type Target = dyn Reads;
    fn deref(&self) -> &(dyn Reads + 'static) {
        &*self.0
    }
}

/// An owned connection as a [`Deref`] to itself, for [`Lent`].
struct Own(Connection);

impl Deref for Own {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        &self.0
    }
}

impl AnnotationStore for SqliteStore {
    fn location(&self) -> String {
        self.dir.join(DB_FILE).display().to_string()
    }

    fn reader(&self) -> Box<dyn Deref<Target = dyn Reads> + '_> {
        Box::new(Lent(lock(&self.reader)))
    }

    fn writer(&self) -> Box<dyn Writer + '_> {
        Box::new(SqliteWriter {
            conn: lock(&self.writer),
            store: self,
        })
    }

    fn try_writer(&self) -> Option<Box<dyn Writer + '_>> {
        let conn = match self.writer.try_lock() {
            Ok(guard) => guard,
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return None,
        };
        Some(Box::new(SqliteWriter { conn, store: self }))
    }

    fn snapshot(&self) -> StoreResult<Box<dyn Snapshot>> {
        let conn = connect(&self.dir)?;
        conn.execute_batch("BEGIN")?;
        Ok(Box::new(SqliteSnapshot(conn)))
    }

    fn flush_until(&self, done: &std::sync::mpsc::Receiver<()>) {
        flush_wal_until(&self.dir, done);
    }
}

/// The writer connection, held.
struct SqliteWriter<'a> {
    conn: MutexGuard<'a, Connection>,
    store: &'a SqliteStore,
}

impl Deref for SqliteWriter<'_> {
    type Target = dyn Reads;
    fn deref(&self) -> &(dyn Reads + 'static) {
        &*self.conn
    }
}

impl Writer for SqliteWriter<'_> {
    fn begin(&self) -> StoreResult<Box<dyn Transaction + '_>> {
        self.conn.execute_batch("BEGIN IMMEDIATE")?;
        Ok(Box::new(SqliteTransaction {
            conn: &self.conn,
            open: true,
        }))
    }

    fn bulk_writing(&self, on: bool) -> StoreResult<()> {
        // The log is copied into the database file after the commit, not inside it.
        set_auto_checkpoint(&self.conn, !on)?;
        if !on {
            self.store.checkpoint_after_import(&self.conn);
        }
        Ok(())
    }
}

/// An immediate transaction on the writer; rolled back when dropped uncommitted.
struct SqliteTransaction<'a> {
    conn: &'a Connection,
    open: bool,
}

impl Deref for SqliteTransaction<'_> {
    type Target = dyn Writes;
    fn deref(&self) -> &(dyn Writes + 'static) {
        self.conn
    }
}

impl Transaction for SqliteTransaction<'_> {
    fn commit(mut self: Box<Self>) -> StoreResult<()> {
        self.open = false;
        if let Err(e) = self.conn.execute_batch("COMMIT") {
            let _ = self.conn.execute_batch("ROLLBACK");
            return Err(e.into());
        }
        Ok(())
    }
}

impl Drop for SqliteTransaction<'_> {
    fn drop(&mut self) {
        if self.open {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}

/// A read transaction on a connection of its own, ended when dropped.
struct SqliteSnapshot(Connection);

impl Deref for SqliteSnapshot {
    type Target = dyn Reads;
    fn deref(&self) -> &(dyn Reads + 'static) {
        &self.0
    }
}

impl Snapshot for SqliteSnapshot {}

impl Drop for SqliteSnapshot {
    fn drop(&mut self) {
        let _ = self.0.execute_batch("COMMIT");
    }
}

/// See [`super::open_reader`].
pub fn open_reader(dir: &Path) -> StoreResult<Option<Box<dyn Deref<Target = dyn Reads> + Send>>> {
    if !dir.join(DB_FILE).exists() {
        return Ok(None);
    }
    Ok(Some(Box::new(Lent(Own(connect(dir)?)))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_record_their_schema_version_and_refuse_others() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let conn = connect(dir.path()).expect("a new store opens");
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .expect("user_version");
        assert_eq!(version, SCHEMA_VERSION);
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .expect("set user_version");
        drop(conn);
        let newer = connect(dir.path())
            .map(|_| ())
            .expect_err("a newer schema is refused");
        assert!(newer.to_string().contains("newer Tessera"), "{newer}");

        let old = tempfile::tempdir().expect("a temporary directory");
        let conn = Connection::open(old.path().join(DB_FILE)).expect("sqlite");
        conn.execute_batch("CREATE TABLE slides (slide TEXT PRIMARY KEY, generation INTEGER)")
            .expect("an old slides table");
        drop(conn);
        let e = connect(old.path())
            .map(|_| ())
            .expect_err("the old schema is refused");
        assert!(e.to_string().contains("no `number`"), "{e}");
    }
}
