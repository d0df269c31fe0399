//! The audit tables in `annotations.db`, created on first use rather than when the store
//! opens: a store that never audits carries none, and its schema stays as it was
//! (`CREATE TABLE IF NOT EXISTS` on existing tables only reads the schema).
//! - `audits(id, slide, fraction, seed, filter, created_by, created_at)`: `seed` holds
//!   the u64's bits as an i64; `filter` is JSON; `created_at` milliseconds since the epoch.
//! - `audit_items(audit_id, uuid, position, class, author, outcome, comment, recorded_by,
//!   recorded_at)`: `position` is the item's rank in the sample; `outcome` is NULL
//!   (pending), `pass` or `fail`.

use crate::annotations::audit::{Audit, AuditItem, Outcome, random_id};
use crate::annotations::store::Recording;
use rusqlite::{Connection, OptionalExtension, params};
use uuid::Uuid;

const TABLES: &str = "
CREATE TABLE IF NOT EXISTS audits (
    id INTEGER PRIMARY KEY,
    slide TEXT NOT NULL,
    fraction REAL NOT NULL,
    seed INTEGER NOT NULL,
    filter TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS audits_by_slide ON audits (slide, id);
CREATE TABLE IF NOT EXISTS audit_items (
    audit_id INTEGER NOT NULL,
    uuid BLOB NOT NULL,
    position INTEGER NOT NULL,
    class TEXT NOT NULL,
    author TEXT NOT NULL,
    outcome TEXT CHECK (outcome IN ('pass', 'fail')),
    comment TEXT,
    recorded_by TEXT,
    recorded_at INTEGER,
    PRIMARY KEY (audit_id, uuid)
) WITHOUT ROWID;
";

/// Creates the audit tables if they are missing.
fn create_tables(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(TABLES)
}

/// Records an audit and its items under a fresh random id (below 2^53, so JavaScript
/// reads it exactly: audits cannot be counted or guessed from their numbers).
pub(super) fn add_audit(
    conn: &Connection,
    audit: &Audit,
    items: &[AuditItem],
) -> rusqlite::Result<i64> {
    create_tables(conn)?;
    let id = loop {
        let id = random_id();
        if !conn
            .prepare_cached("SELECT 1 FROM audits WHERE id = ?1")?
            .exists([id])?
        {
            break id;
        }
    };
    let filter = serde_json::to_string(&audit.filter).unwrap_or_else(|_| "{}".into());
    conn.execute(
        "INSERT INTO audits (id, slide, fraction, seed, filter, created_by, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            id,
            audit.slide,
            audit.fraction,
            audit.seed as i64,
            filter,
            audit.created_by,
            audit.created_at
        ],
    )?;
    let mut insert = conn.prepare_cached(
        "INSERT INTO audit_items (audit_id, uuid, position, class, author)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for (position, item) in items.iter().enumerate() {
        insert.execute(params![
            id,
            item.id.as_bytes(),
            position as i64,
            item.class,
            item.author
        ])?;
    }
    Ok(id)
}

/// Records an item's outcome (see [`crate::annotations::store::Writes::record_outcome`]).
pub(super) fn record_outcome(
    conn: &Connection,
    audit: i64,
    id: &Uuid,
    outcome: Outcome,
    comment: Option<&str>,
    by: &str,
    at: i64,
) -> rusqlite::Result<Recording> {
    create_tables(conn)?;
    if !conn
        .prepare_cached("SELECT 1 FROM audits WHERE id = ?1")?
        .exists([audit])?
    {
        return Ok(Recording::NoSuchAudit);
    }
    let previous: Option<(Option<String>, String, String)> = conn
        .query_row(
            "SELECT outcome, class, author FROM audit_items WHERE audit_id = ?1 AND uuid = ?2",
            params![audit, id.as_bytes()],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let Some((outcome_before, class, author)) = previous else {
        return Ok(Recording::NotInAudit);
    };
    conn.execute(
        "UPDATE audit_items SET outcome = ?3, comment = ?4, recorded_by = ?5,
         recorded_at = ?6 WHERE audit_id = ?1 AND uuid = ?2",
        params![audit, id.as_bytes(), outcome.as_str(), comment, by, at],
    )?;
    Ok(Recording::Replaced(outcome_before, class, author))
}

const SELECT_AUDIT: &str = "SELECT a.id, a.slide, a.fraction, a.seed, a.filter, a.created_by,
    a.created_at, (SELECT count(*) FROM audit_items i WHERE i.audit_id = a.id),
    (SELECT count(outcome) FROM audit_items i WHERE i.audit_id = a.id) FROM audits a";

fn audit_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Audit> {
    let filter: String = r.get(4)?;
    Ok(Audit {
        id: r.get(0)?,
        slide: r.get(1)?,
        fraction: r.get(2)?,
        seed: r.get::<_, i64>(3)? as u64,
        filter: serde_json::from_str(&filter).unwrap_or_default(),
        created_by: r.get(5)?,
        created_at: r.get(6)?,
        size: r.get::<_, i64>(7)? as usize,
        recorded: r.get::<_, i64>(8)? as usize,
    })
}

/// The audits of `slide` (of every slide when `None`), oldest first.
pub(super) fn audits(conn: &Connection, slide: Option<&str>) -> rusqlite::Result<Vec<Audit>> {
    create_tables(conn)?;
    let mut stmt = conn.prepare(&format!(
        "{SELECT_AUDIT} WHERE ?1 IS NULL OR a.slide = ?1 ORDER BY a.created_at, a.rowid"
    ))?;
    stmt.query_map(params![slide], audit_row)?.collect()
}

/// One audit and its items in sample order.
pub(super) fn audit(
    conn: &Connection,
    audit: i64,
) -> rusqlite::Result<Option<(Audit, Vec<AuditItem>)>> {
    create_tables(conn)?;
    let Some(a) = conn
        .query_row(
            &format!("{SELECT_AUDIT} WHERE a.id = ?1"),
            params![audit],
            audit_row,
        )
        .optional()?
    else {
        return Ok(None);
    };
    let mut stmt = conn.prepare(
        "SELECT uuid, class, author, outcome, comment, recorded_by, recorded_at
         FROM audit_items WHERE audit_id = ?1 ORDER BY position",
    )?;
    let items = stmt
        .query_map(params![audit], |r| {
            let uuid: Vec<u8> = r.get(0)?;
            let outcome: Option<String> = r.get(3)?;
            Ok(AuditItem {
                id: Uuid::from_slice(&uuid).unwrap_or_default(),
                class: r.get(1)?,
                author: r.get(2)?,
                outcome: outcome.as_deref().and_then(Outcome::parse),
                comment: r.get(4)?,
                recorded_by: r.get(5)?,
                recorded_at: r.get(6)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Some((a, items)))
}

/// The slide an audit samples.
pub(super) fn audit_slide(conn: &Connection, audit: i64) -> rusqlite::Result<Option<String>> {
    create_tables(conn)?;
    conn.query_row("SELECT slide FROM audits WHERE id = ?1", [audit], |r| {
        r.get(0)
    })
    .optional()
}
