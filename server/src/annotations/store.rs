//! The durable store: `annotations.db`, SQLite in WAL mode with `synchronous=FULL`, so a
//! change is on disk before it is acknowledged.
//!
//! Tables:
//! - `annotations`: one row per live annotation; the fields queries filter on are columns,
//!   the rest is a compact record body (`model::Annotation::encode_body`); `change_id` is
//!   the change that created it.
//! - `changes`: one row per change (an import, a create, an update, a delete, an undo),
//!   with its author and time; `undone` marks changes that were undone.
//! - `history`: before and after of every annotation a non-import change touched, as
//!   full records (an import's annotations point to their change instead).
//! - `slides`: a generation per slide, bumped by every change, so a server notices
//!   changes another process made.

use super::model::{Annotation, Columns, Status};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use std::path::{Path, PathBuf};
use std::time::Duration;
use uuid::Uuid;

/// File name of the store inside the data directory.
pub const DB_FILE: &str = "annotations.db";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS annotations (
    seq INTEGER PRIMARY KEY,
    uuid BLOB NOT NULL UNIQUE,
    slide TEXT NOT NULL,
    layer TEXT NOT NULL,
    class TEXT NOT NULL,
    author TEXT NOT NULL,
    status TEXT NOT NULL,
    version INTEGER NOT NULL,
    change_id INTEGER NOT NULL,
    record BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS annotations_by_slide ON annotations (slide, seq);
CREATE INDEX IF NOT EXISTS annotations_by_change ON annotations (change_id);
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
    generation INTEGER NOT NULL
);
";

/// Opens (creating if needed) the store in `dir`.
pub fn open(dir: &Path) -> rusqlite::Result<Connection> {
    let path: PathBuf = dir.join(DB_FILE);
    let conn = Connection::open_with_flags(
        &path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(30))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "cache_size", -32_000)?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.pragma_update(None, "journal_size_limit", 64 << 20)?;
    conn.execute_batch(SCHEMA)?;
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
pub fn for_each_in_slide(
    conn: &Connection,
    slide: &str,
    mut f: impl FnMut(Columns, Vec<u8>) -> rusqlite::Result<()>,
) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare_cached(&format!("{SELECT_ROW} WHERE slide = ?1 ORDER BY seq"))?;
    let mut rows = stmt.query(params![slide])?;
    while let Some(row) = rows.next()? {
        let (c, body) = row_to_parts(row)?;
        f(c, body)?;
    }
    Ok(())
}

/// One annotation by id, with its slide.
pub fn get(conn: &Connection, id: &Uuid) -> rusqlite::Result<Option<(String, Columns, Vec<u8>)>> {
    conn.query_row(
        "SELECT uuid, layer, class, author, status, version, record, slide FROM annotations WHERE uuid = ?1",
        params![id.as_bytes()],
        |row| {
            let (c, b) = row_to_parts(row)?;
            Ok((row.get(7)?, c, b))
        },
    )
    .optional()
}

/// The slide's generation (0 if it never changed).
pub fn generation(conn: &Connection, slide: &str) -> rusqlite::Result<i64> {
    conn.query_row(
        "SELECT generation FROM slides WHERE slide = ?1",
        params![slide],
        |r| r.get(0),
    )
    .optional()
    .map(Option::unwrap_or_default)
}

/// Bumps the slide's generation; returns the new one.
pub fn bump_generation(conn: &Connection, slide: &str) -> rusqlite::Result<i64> {
    conn.query_row(
        "INSERT INTO slides (slide, generation) VALUES (?1, 1)
         ON CONFLICT (slide) DO UPDATE SET generation = generation + 1 RETURNING generation",
        params![slide],
        |r| r.get(0),
    )
}

/// Records a change; returns its id.
pub fn add_change(
    conn: &Connection,
    slide: &str,
    author: &str,
    kind: &str,
    count: usize,
    detail: Option<&str>,
) -> rusqlite::Result<i64> {
    conn.execute(
        "INSERT INTO changes (slide, author, at, kind, count, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![slide, author, super::model::now_ms(), kind, count as i64, detail],
    )?;
    Ok(conn.last_insert_rowid())
}

/// Inserts one annotation row; `Ok(false)` if its id is taken.
pub fn insert(
    conn: &Connection,
    slide: &str,
    columns: &Columns,
    body: &[u8],
    change_id: i64,
) -> rusqlite::Result<bool> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO annotations (uuid, slide, layer, class, author, status, version, change_id, record)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (uuid) DO NOTHING",
    )?;
    let n = stmt.execute(params![
        columns.id.as_bytes(),
        slide,
        columns.layer,
        columns.class,
        columns.author,
        columns.status.as_str(),
        columns.version,
        change_id,
        body
    ])?;
    Ok(n == 1)
}

/// Replaces a stored annotation's row (its creating change stays).
pub fn replace(conn: &Connection, a: &Annotation) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE annotations SET layer = ?2, class = ?3, author = ?4, status = ?5, version = ?6,
         record = ?7 WHERE uuid = ?1",
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

pub fn delete(conn: &Connection, id: &Uuid) -> rusqlite::Result<()> {
    conn.execute(
        "DELETE FROM annotations WHERE uuid = ?1",
        params![id.as_bytes()],
    )?;
    Ok(())
}

/// Keeps the before and after of a change to one annotation
/// ([`Annotation::encode_full`] blobs).
pub fn add_history(
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

/// A change as the history endpoint shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ChangeRow {
    pub change: i64,
    pub kind: String,
    pub author: String,
    /// Milliseconds since the Unix epoch.
    pub at: i64,
    pub undone: bool,
    #[serde(skip)]
    pub before: Option<Vec<u8>>,
    #[serde(skip)]
    pub after: Option<Vec<u8>>,
}

/// Every recorded change of one annotation, oldest first.
pub fn history(conn: &Connection, id: &Uuid) -> rusqlite::Result<Vec<ChangeRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT c.id, c.kind, c.author, c.at, c.undone, h.before, h.after FROM history h
         JOIN changes c ON c.id = h.change_id WHERE h.uuid = ?1 ORDER BY h.id",
    )?;
    let rows = stmt.query_map(params![id.as_bytes()], |r| {
        Ok(ChangeRow {
            change: r.get(0)?,
            kind: r.get(1)?,
            author: r.get(2)?,
            at: r.get(3)?,
            undone: r.get::<_, i64>(4)? != 0,
            before: r.get(5)?,
            after: r.get(6)?,
        })
    })?;
    rows.collect()
}

/// The import that created an annotation, if it came from one.
pub fn creating_import(conn: &Connection, id: &Uuid) -> rusqlite::Result<Option<ChangeRow>> {
    conn.query_row(
        "SELECT c.id, c.kind, c.author, c.at, c.undone FROM changes c
         JOIN annotations a ON a.change_id = c.id WHERE a.uuid = ?1 AND c.kind = 'import'",
        params![id.as_bytes()],
        |r| {
            Ok(ChangeRow {
                change: r.get(0)?,
                kind: r.get(1)?,
                author: r.get(2)?,
                at: r.get(3)?,
                undone: r.get::<_, i64>(4)? != 0,
                before: None,
                after: None,
            })
        },
    )
    .optional()
}

/// The caller's latest change on a slide that can still be undone.
pub fn last_undoable(
    conn: &Connection,
    slide: &str,
    author: &str,
) -> rusqlite::Result<Option<(i64, String)>> {
    conn.query_row(
        "SELECT id, kind FROM changes WHERE slide = ?1 AND author = ?2 AND undone = 0 AND kind != 'undo'
         ORDER BY id DESC LIMIT 1",
        params![slide, author],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()
}

/// The before/after pairs of a non-import change.
/// Before/after blobs of one annotation change.
pub type BeforeAfter = (Uuid, Option<Vec<u8>>, Option<Vec<u8>>);

pub fn change_history(conn: &Connection, change_id: i64) -> rusqlite::Result<Vec<BeforeAfter>> {
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

pub fn mark_undone(conn: &Connection, change_id: i64) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE changes SET undone = 1 WHERE id = ?1",
        params![change_id],
    )?;
    Ok(())
}

/// Ids of the annotations an import created that still exist.
pub fn created_by(conn: &Connection, change_id: i64) -> rusqlite::Result<Vec<(Uuid, u32)>> {
    let mut stmt =
        conn.prepare_cached("SELECT uuid, version FROM annotations WHERE change_id = ?1")?;
    let rows = stmt.query_map(params![change_id], |r| {
        let u: Vec<u8> = r.get(0)?;
        Ok((Uuid::from_slice(&u).unwrap_or_default(), r.get(1)?))
    })?;
    rows.collect()
}

/// Deletes every annotation an import created.
pub fn delete_created_by(conn: &Connection, change_id: i64) -> rusqlite::Result<usize> {
    conn.execute(
        "DELETE FROM annotations WHERE change_id = ?1",
        params![change_id],
    )
}
