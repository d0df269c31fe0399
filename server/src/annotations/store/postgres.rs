//! The annotation store on PostgreSQL with PostGIS, for several servers on one archive.
//!
//! Tables live in the schema `tessera`, shaped as SQLite's (see [`super::sqlite`]), with
//! two additions for SQL users: `annotations.geom`, each annotation's geometry as a
//! PostGIS geometry in level-0 pixels (SRID 0) with a GiST index, and native `uuid`
//! columns. Imports arrive by binary COPY, their geometry as WKB ([`super::postgis`]).
//! The writer holds a session-level advisory lock from its first read to its last write,
//! so writers on every server follow one another as the writer's mutex and SQLite's
//! `BEGIN IMMEDIATE` make them do on one machine (see [`PgWriter`]).

use super::postgis::{Wkb, geometry_type};
use super::{
    Activity, AnnotationStore, BeforeAfter, ChangeRow, DayChanges, IDS_PER_STATEMENT, NewRow,
    Reads, RecentChange, Recording, RowView, SharedColumns, Snapshot, StoreError, StoreResult,
    Transaction, Writer, Writes,
};
use crate::annotations::audit::{Audit, AuditItem, Outcome, random_id};
use crate::annotations::error::StorageFault;
use crate::annotations::model::{Annotation, Columns, Status, now_ms};
use crate::location::without_password;
use postgres::error::SqlState;
use postgres::types::ToSql;
use postgres::{Client, NoTls};
use std::cell::RefCell;
use std::collections::HashSet;
use std::ops::Deref;
use std::sync::{Mutex, MutexGuard};
use uuid::Uuid;

const SCHEMA: &str = "
CREATE EXTENSION IF NOT EXISTS postgis;
CREATE SCHEMA IF NOT EXISTS tessera;
CREATE TABLE IF NOT EXISTS tessera.slides (
    slide TEXT PRIMARY KEY,
    number BIGINT NOT NULL UNIQUE,
    generation BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS tessera.annotations (
    seq BIGINT PRIMARY KEY,
    uuid UUID NOT NULL,
    slide TEXT NOT NULL,
    layer TEXT NOT NULL,
    class TEXT NOT NULL,
    author TEXT NOT NULL,
    status TEXT NOT NULL,
    version INTEGER NOT NULL,
    change_id BIGINT NOT NULL,
    record BYTEA NOT NULL,
    geom geometry NOT NULL
);
CREATE INDEX IF NOT EXISTS annotations_geom ON tessera.annotations USING GIST (geom);
-- Pixels have no coordinate system: SRID 0, so that ST_MakeEnvelope(x0, y0, x1, y1) meets
-- them as it is. Stores written before this check had SRID 4326 (ST_GeomFromGeoJSON's
-- default): set once, when the check is added.
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'annotations_geom_in_pixels'
                   AND conrelid = 'tessera.annotations'::regclass) THEN
        UPDATE tessera.annotations SET geom = ST_SetSRID(geom, 0) WHERE ST_SRID(geom) <> 0;
        ALTER TABLE tessera.annotations ADD CONSTRAINT annotations_geom_in_pixels
            CHECK (ST_SRID(geom) = 0);
    END IF;
END $$;
CREATE TABLE IF NOT EXISTS tessera.ids (
    uuid UUID PRIMARY KEY,
    seq BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS tessera.changes (
    id BIGINT PRIMARY KEY,
    slide TEXT NOT NULL,
    author TEXT NOT NULL,
    at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    count BIGINT NOT NULL,
    detail TEXT,
    undone BOOLEAN NOT NULL DEFAULT false
);
CREATE INDEX IF NOT EXISTS changes_by_author ON tessera.changes (slide, author, id);
CREATE TABLE IF NOT EXISTS tessera.history (
    id BIGSERIAL PRIMARY KEY,
    change_id BIGINT NOT NULL,
    uuid UUID NOT NULL,
    before BYTEA,
    after BYTEA
);
CREATE INDEX IF NOT EXISTS history_by_uuid ON tessera.history (uuid);
CREATE INDEX IF NOT EXISTS history_by_change ON tessera.history (change_id);
CREATE TABLE IF NOT EXISTS tessera.audits (
    id BIGINT PRIMARY KEY,
    slide TEXT NOT NULL,
    fraction DOUBLE PRECISION NOT NULL,
    seed BIGINT NOT NULL,
    filter TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS audits_by_slide ON tessera.audits (slide, id);
CREATE TABLE IF NOT EXISTS tessera.audit_items (
    audit_id BIGINT NOT NULL,
    uuid UUID NOT NULL,
    position BIGINT NOT NULL,
    class TEXT NOT NULL,
    author TEXT NOT NULL,
    outcome TEXT CHECK (outcome IN ('pass', 'fail')),
    comment TEXT,
    recorded_by TEXT,
    recorded_at BIGINT,
    PRIMARY KEY (audit_id, uuid)
);
";

/// The advisory lock every write transaction takes first.
pub(crate) const WRITE_LOCK: i64 = 0x0074_6573_7365_7261; // "tessera"

/// Bits of `seq` that number annotations within a slide (as in SQLite).
const SEQ_BITS: u32 = 36;

impl From<postgres::Error> for StoreError {
    fn from(e: postgres::Error) -> Self {
        let code = e.code().cloned();
        let message = e
            .as_db_error()
            .map_or_else(|| e.to_string(), |d| d.message().to_string());
        match code {
            Some(c) if c == SqlState::UNIQUE_VIOLATION => StoreError::constraint(message),
            Some(c) if c == SqlState::DISK_FULL => StoreError::new(
                format!("{message} (no space left on the disk)"),
                Some(StorageFault::Full),
            ),
            Some(c) if c == SqlState::READ_ONLY_SQL_TRANSACTION => StoreError::new(
                format!("{message} (the database is read-only)"),
                Some(StorageFault::ReadOnly),
            ),
            _ => StoreError::new(message, None),
        }
    }
}

/// One connection; reads and writes need it mutably, the traits lend it shared.
/// The client is `None` only while the connection is dropped.
pub struct PgConn(RefCell<Option<Client>>);

impl std::fmt::Debug for PgConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PgConn")
    }
}

impl Drop for PgConn {
    /// Closing a connection blocks too (see [`outside_async`]): a server that shuts down
    /// drops its stores on a runtime thread.
    fn drop(&mut self) {
        if let Some(client) = self.0.get_mut().take() {
            outside_async(move || drop(client));
        }
    }
}

impl PgConn {
    pub(crate) fn connect(url: &str) -> StoreResult<Self> {
        let client = outside_async(|| Client::connect(url, NoTls))?;
        Ok(Self(RefCell::new(Some(client))))
    }

    pub(crate) fn client(&self) -> std::cell::RefMut<'_, Client> {
        std::cell::RefMut::map(self.0.borrow_mut(), |c| {
            c.as_mut().expect("a connection is open until dropped")
        })
    }

    fn one<T: for<'a> postgres::types::FromSql<'a>>(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> StoreResult<T> {
        Ok(self.client().query_one(sql, params)?.get(0))
    }

    fn optional<T: for<'a> postgres::types::FromSql<'a>>(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> StoreResult<Option<T>> {
        Ok(self.client().query_opt(sql, params)?.map(|r| r.get(0)))
    }

    fn execute(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> StoreResult<u64> {
        Ok(self.client().execute(sql, params)?)
    }

    fn number(&self, slide: &str) -> StoreResult<Option<i64>> {
        self.optional(
            "SELECT number FROM tessera.slides WHERE slide = $1",
            &[&slide],
        )
    }

    fn seq_range(&self, slide: &str) -> StoreResult<Option<(i64, i64)>> {
        Ok(self
            .number(slide)?
            .map(|n| (n << SEQ_BITS, ((n + 1) << SEQ_BITS) - 1)))
    }

    /// The slide's number, or the one it gets when registered.
    fn number_for(&self, slide: &str) -> StoreResult<i64> {
        self.one(
            "SELECT coalesce((SELECT number FROM tessera.slides WHERE slide = $1),
                             (SELECT coalesce(max(number), 0) + 1 FROM tessera.slides))",
            &[&slide],
        )
    }

    fn slide_number(&self, slide: &str) -> StoreResult<i64> {
        let number = self.number_for(slide)?;
        self.execute(
            "INSERT INTO tessera.slides (slide, number, generation) VALUES ($1, $2, 0)
             ON CONFLICT (slide) DO NOTHING",
            &[&slide, &number],
        )?;
        Ok(number)
    }
}

/// The columns of `annotations` in the order [`copy_rows`] and `tessera migrate` send them.
pub(crate) const ANNOTATION_COLUMNS: &str =
    "seq, uuid, slide, layer, class, author, status, version, change_id, record, geom";

/// Appends rows with one binary COPY, each geometry as WKB (see [`Wkb`]).
fn copy_rows(
    conn: &PgConn,
    seq: i64,
    shared: &SharedColumns<'_>,
    rows: &[NewRow<'_>],
) -> StoreResult<()> {
    use postgres::binary_copy::BinaryCopyInWriter;
    use postgres::types::Type;
    let geometries = rows
        .iter()
        .map(|(_, body)| Wkb::of_record(body))
        .collect::<StoreResult<Vec<Wkb>>>()?;
    let mut client = conn.client();
    let geometry = geometry_type(&mut *client)?;
    let sink = client.copy_in(&format!(
        "COPY tessera.annotations ({ANNOTATION_COLUMNS}) FROM STDIN BINARY"
    ))?;
    let mut writer = BinaryCopyInWriter::new(
        sink,
        &[
            Type::INT8,
            Type::UUID,
            Type::TEXT,
            Type::TEXT,
            Type::TEXT,
            Type::TEXT,
            Type::TEXT,
            Type::INT4,
            Type::INT8,
            Type::BYTEA,
            geometry,
        ],
    );
    for (i, (&(columns, body), wkb)) in rows.iter().zip(&geometries).enumerate() {
        let version = i32::try_from(columns.version).unwrap_or(i32::MAX);
        writer.write(&[
            &(seq + i as i64),
            &columns.id,
            &shared.slide,
            &columns.layer,
            &columns.class,
            &columns.author,
            &columns.status.as_str(),
            &version,
            &shared.change_id,
            &body,
            wkb,
        ])?;
    }
    writer.finish()?;
    Ok(())
}

fn columns_of(row: &postgres::Row) -> (Columns, Vec<u8>) {
    let status: &str = row.get(4);
    let version: i32 = row.get(5);
    (
        Columns {
            id: row.get(0),
            layer: row.get(1),
            class: row.get(2),
            author: row.get(3),
            status: Status::parse(status).unwrap_or_default(),
            version: u32::try_from(version).unwrap_or_default(),
        },
        row.get(6),
    )
}

const SELECT_ROW: &str =
    "SELECT uuid, layer, class, author, status, version, record FROM tessera.annotations";

fn change_row(r: &postgres::Row, with_history: bool) -> ChangeRow {
    ChangeRow {
        change: r.get(0),
        kind: r.get(1),
        author: r.get(2),
        at: r.get(3),
        undone: r.get(4),
        detail: if with_history { r.get(7) } else { None },
        before: if with_history { r.get(5) } else { None },
        after: if with_history { r.get(6) } else { None },
    }
}

fn audit_of(r: &postgres::Row) -> Audit {
    let filter: String = r.get(4);
    Audit {
        id: r.get(0),
        slide: r.get(1),
        fraction: r.get(2),
        seed: r.get::<_, i64>(3) as u64,
        filter: serde_json::from_str(&filter).unwrap_or_default(),
        created_by: r.get(5),
        created_at: r.get(6),
        size: usize::try_from(r.get::<_, i64>(7)).unwrap_or_default(),
        recorded: usize::try_from(r.get::<_, i64>(8)).unwrap_or_default(),
    }
}

const SELECT_AUDIT: &str = "SELECT a.id, a.slide, a.fraction, a.seed, a.filter, a.created_by,
    a.created_at, (SELECT count(*) FROM tessera.audit_items i WHERE i.audit_id = a.id),
    (SELECT count(outcome) FROM tessera.audit_items i WHERE i.audit_id = a.id)
    FROM tessera.audits a";

impl Reads for PgConn {
    fn data_version(&self) -> StoreResult<i64> {
        self.one(
            "SELECT (coalesce(sum(generation), 0) + count(*))::bigint FROM tessera.slides",
            &[],
        )
    }

    fn generation(&self, slide: &str) -> StoreResult<i64> {
        Ok(self
            .optional(
                "SELECT generation FROM tessera.slides WHERE slide = $1",
                &[&slide],
            )?
            .unwrap_or_default())
    }

    fn generations(&self) -> StoreResult<Vec<(String, i64)>> {
        Ok(self
            .client()
            .query(
                "SELECT slide, generation FROM tessera.slides ORDER BY number",
                &[],
            )?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect())
    }

    fn get(&self, id: &Uuid) -> StoreResult<Option<(String, Columns, Vec<u8>)>> {
        let row = self.client().query_opt(
            "SELECT a.uuid, a.layer, a.class, a.author, a.status, a.version, a.record, a.slide
             FROM tessera.ids JOIN tessera.annotations a ON a.seq = ids.seq WHERE ids.uuid = $1",
            &[id],
        )?;
        Ok(row.map(|r| {
            let (c, body) = columns_of(&r);
            (r.get(7), c, body)
        }))
    }

    fn row_bound(&self, slide: &str) -> StoreResult<usize> {
        let Some((lo, hi)) = self.seq_range(slide)? else {
            return Ok(0);
        };
        let span: Option<i64> = self.one(
            "SELECT max(seq) - min(seq) + 1 FROM tessera.annotations WHERE seq BETWEEN $1 AND $2",
            &[&lo, &hi],
        )?;
        Ok(usize::try_from(span.unwrap_or(0)).unwrap_or_default())
    }

    fn for_each_in_slide(
        &self,
        slide: &str,
        f: &mut dyn FnMut(Columns, Vec<u8>) -> StoreResult<()>,
    ) -> StoreResult<()> {
        self.for_each_view_in_slide(slide, &mut |row| {
            let columns = Columns {
                id: row.id,
                layer: row.layer.to_string(),
                class: row.class.to_string(),
                author: row.author.to_string(),
                status: row.status,
                version: row.version,
            };
            f(columns, row.body.to_vec())
        })
    }

    fn for_each_view_in_slide(
        &self,
        slide: &str,
        f: &mut dyn FnMut(RowView<'_>) -> StoreResult<()>,
    ) -> StoreResult<()> {
        use postgres::fallible_iterator::FallibleIterator;
        let Some((lo, hi)) = self.seq_range(slide)? else {
            return Ok(());
        };
        let mut client = self.client();
        let params: [&(dyn ToSql + Sync); 2] = [&lo, &hi];
        let mut rows = client.query_raw(
            &format!("{SELECT_ROW} WHERE seq BETWEEN $1 AND $2 ORDER BY seq"),
            params,
        )?;
        while let Some(row) = rows.next()? {
            let version: i32 = row.get(5);
            f(RowView {
                id: row.get(0),
                layer: row.get(1),
                class: row.get(2),
                author: row.get(3),
                status: Status::parse(row.get(4)).unwrap_or_default(),
                version: u32::try_from(version).unwrap_or_default(),
                body: row.get(6),
            })?;
        }
        Ok(())
    }

    fn activity(&self, slide: &str) -> StoreResult<Activity> {
        let Some((lo, hi)) = self.seq_range(slide)? else {
            return Ok((Vec::new(), None));
        };
        let counts = self
            .client()
            .query(
                "SELECT author, status, count(*) FROM tessera.annotations
                 WHERE seq BETWEEN $1 AND $2 GROUP BY author, status",
                &[&lo, &hi],
            )?
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get::<_, i64>(2).max(0) as u64))
            .collect();
        let last: Option<i64> = self.one(
            "SELECT max(at) FROM tessera.changes WHERE slide = $1",
            &[&slide],
        )?;
        Ok((counts, last))
    }

    fn changes_per_day(&self) -> StoreResult<Vec<DayChanges>> {
        Ok(self
            .client()
            .query(
                "SELECT slide, author, kind, at / 86400000, sum(count)::bigint FROM tessera.changes
                 WHERE NOT undone AND kind IN ('create', 'review') GROUP BY 1, 2, 3, 4",
                &[],
            )?
            .iter()
            .map(|r| DayChanges {
                slide: r.get(0),
                author: r.get(1),
                kind: r.get(2),
                day: r.get(3),
                count: r.get::<_, i64>(4).max(0) as u64,
            })
            .collect())
    }

    fn history(&self, id: &Uuid) -> StoreResult<Vec<ChangeRow>> {
        Ok(self
            .client()
            .query(
                "SELECT c.id, c.kind, c.author, c.at, c.undone, h.before, h.after, c.detail
                 FROM tessera.history h JOIN tessera.changes c ON c.id = h.change_id
                 WHERE h.uuid = $1 ORDER BY h.id",
                &[id],
            )?
            .iter()
            .map(|r| change_row(r, true))
            .collect())
    }

    fn creating_import(&self, id: &Uuid) -> StoreResult<Option<ChangeRow>> {
        Ok(self
            .client()
            .query_opt(
                "SELECT c.id, c.kind, c.author, c.at, c.undone FROM tessera.changes c
                 JOIN tessera.annotations a ON a.change_id = c.id
                 JOIN tessera.ids ON ids.seq = a.seq
                 WHERE ids.uuid = $1 AND c.kind = 'import'",
                &[id],
            )?
            .map(|r| change_row(&r, false)))
    }

    fn last_undoable(&self, slide: &str, author: &str) -> StoreResult<Option<(i64, String)>> {
        Ok(self
            .client()
            .query_opt(
                "SELECT id, kind FROM tessera.changes WHERE slide = $1 AND author = $2
                 AND NOT undone AND kind NOT IN ('undo', 'comment') ORDER BY id DESC LIMIT 1",
                &[&slide, &author],
            )?
            .map(|r| (r.get(0), r.get(1))))
    }

    fn latest_changes(&self, slide: &str, count: usize) -> StoreResult<Vec<RecentChange>> {
        let limit = i64::try_from(count).unwrap_or(i64::MAX);
        let mut changes: Vec<RecentChange> = self
            .client()
            .query(
                "SELECT id, kind, detail FROM tessera.changes WHERE slide = $1
                 AND kind <> 'comment' ORDER BY id DESC LIMIT $2",
                &[&slide, &limit],
            )?
            .iter()
            .map(|r| RecentChange {
                id: r.get(0),
                kind: r.get(1),
                detail: r.get(2),
            })
            .collect();
        changes.reverse();
        Ok(changes)
    }

    fn change_count(&self, slide: &str) -> StoreResult<i64> {
        self.one(
            "SELECT count(*) FROM tessera.changes WHERE slide = $1 AND kind <> 'comment'",
            &[&slide],
        )
    }

    fn change_kind(&self, change_id: i64) -> StoreResult<Option<String>> {
        self.optional(
            "SELECT kind FROM tessera.changes WHERE id = $1",
            &[&change_id],
        )
    }

    fn change_history(&self, change_id: i64) -> StoreResult<Vec<BeforeAfter>> {
        Ok(self
            .client()
            .query(
                "SELECT uuid, before, after FROM tessera.history WHERE change_id = $1 ORDER BY id",
                &[&change_id],
            )?
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect())
    }

    fn created_by(&self, slide: &str, change_id: i64) -> StoreResult<Vec<(Uuid, u32)>> {
        let Some((lo, hi)) = self.seq_range(slide)? else {
            return Ok(Vec::new());
        };
        Ok(self
            .client()
            .query(
                "SELECT uuid, version FROM tessera.annotations
                 WHERE seq BETWEEN $1 AND $2 AND change_id = $3",
                &[&lo, &hi, &change_id],
            )?
            .iter()
            .map(|r| {
                (
                    r.get(0),
                    u32::try_from(r.get::<_, i32>(1)).unwrap_or_default(),
                )
            })
            .collect())
    }

    fn taken_ids(&self, ids: &[Uuid]) -> StoreResult<HashSet<Uuid>> {
        Ok(self
            .client()
            .query("SELECT uuid FROM tessera.ids WHERE uuid = ANY($1)", &[&ids])?
            .iter()
            .map(|r| r.get(0))
            .collect())
    }

    fn owns_seq(&self, slide: &str, seq: i64) -> StoreResult<bool> {
        Ok(self
            .seq_range(slide)?
            .is_some_and(|(lo, hi)| (lo..=hi).contains(&seq)))
    }

    fn audits(&self, slide: Option<&str>) -> StoreResult<Vec<Audit>> {
        Ok(self
            .client()
            .query(
                &format!(
                    "{SELECT_AUDIT} WHERE $1::text IS NULL OR a.slide = $1 ORDER BY a.created_at, a.id"
                ),
                &[&slide],
            )?
            .iter()
            .map(audit_of)
            .collect())
    }

    fn audit(&self, audit: i64) -> StoreResult<Option<(Audit, Vec<AuditItem>)>> {
        let Some(a) = self
            .client()
            .query_opt(&format!("{SELECT_AUDIT} WHERE a.id = $1"), &[&audit])?
        else {
            return Ok(None);
        };
        let items = self
            .client()
            .query(
                "SELECT uuid, class, author, outcome, comment, recorded_by, recorded_at
                 FROM tessera.audit_items WHERE audit_id = $1 ORDER BY position",
                &[&audit],
            )?
            .iter()
            .map(|r| AuditItem {
                id: r.get(0),
                class: r.get(1),
                author: r.get(2),
                outcome: r.get::<_, Option<&str>>(3).and_then(Outcome::parse),
                comment: r.get(4),
                recorded_by: r.get(5),
                recorded_at: r.get(6),
            })
            .collect();
        Ok(Some((audit_of(&a), items)))
    }

    fn audit_slide(&self, audit: i64) -> StoreResult<Option<String>> {
        self.optional("SELECT slide FROM tessera.audits WHERE id = $1", &[&audit])
    }

    fn slide_of_history(&self, id: &Uuid) -> StoreResult<Option<String>> {
        self.optional(
            "SELECT c.slide FROM tessera.history h JOIN tessera.changes c ON c.id = h.change_id
             WHERE h.uuid = $1 LIMIT 1",
            &[id],
        )
    }
}

impl Writes for PgConn {
    fn next_change_id(&self) -> StoreResult<i64> {
        self.one("SELECT coalesce(max(id), 0) + 1 FROM tessera.changes", &[])
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
        let id = match id {
            Some(id) => id,
            None => self.next_change_id()?,
        };
        self.execute(
            "INSERT INTO tessera.changes (id, slide, author, at, kind, count, detail)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &id,
                &slide,
                &author,
                &now_ms(),
                &kind,
                &(count as i64),
                &detail,
            ],
        )?;
        Ok(id)
    }

    fn bump_generation(&self, slide: &str) -> StoreResult<i64> {
        self.slide_number(slide)?;
        self.one(
            "UPDATE tessera.slides SET generation = generation + 1 WHERE slide = $1
             RETURNING generation",
            &[&slide],
        )
    }

    fn next_seq(&self, slide: &str) -> StoreResult<i64> {
        let number = self.number_for(slide)?;
        let (lo, hi) = (number << SEQ_BITS, ((number + 1) << SEQ_BITS) - 1);
        let last: Option<i64> = self.one(
            "SELECT max(seq) FROM tessera.annotations WHERE seq BETWEEN $1 AND $2",
            &[&lo, &hi],
        )?;
        Ok(last.map_or(lo, |l| l + 1))
    }

    fn insert_row(
        &self,
        seq: i64,
        slide: &str,
        columns: &Columns,
        body: &[u8],
        change_id: i64,
    ) -> StoreResult<()> {
        let geom = Wkb::of_record(body)?;
        let version = i32::try_from(columns.version).unwrap_or(i32::MAX);
        self.execute(
            &format!(
                "INSERT INTO tessera.annotations ({ANNOTATION_COLUMNS})
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
            ),
            &[
                &seq,
                &columns.id,
                &slide,
                &columns.layer,
                &columns.class,
                &columns.author,
                &columns.status.as_str(),
                &version,
                &change_id,
                &body,
                &geom,
            ],
        )?;
        Ok(())
    }

    fn insert_rows(
        &self,
        seq: i64,
        shared: &SharedColumns<'_>,
        rows: &[NewRow<'_>],
    ) -> StoreResult<()> {
        copy_rows(self, seq, shared, rows)
    }

    fn add_id(&self, id: &Uuid, seq: i64) -> StoreResult<bool> {
        Ok(self.execute(
            "INSERT INTO tessera.ids (uuid, seq) VALUES ($1, $2) ON CONFLICT (uuid) DO NOTHING",
            &[id, &seq],
        )? == 1)
    }

    fn add_ids(&self, ids: &[(Uuid, i64)]) -> StoreResult<bool> {
        assert_eq!(ids.len(), IDS_PER_STATEMENT, "add_ids takes a full chunk");
        let uuids: Vec<Uuid> = ids.iter().map(|(id, _)| *id).collect();
        let seqs: Vec<i64> = ids.iter().map(|(_, seq)| *seq).collect();
        // A taken id would abort the whole transaction: insert the free ones, and take
        // them out again when one was taken (all or none).
        let added: Vec<Uuid> = self
            .client()
            .query(
                "INSERT INTO tessera.ids (uuid, seq) SELECT * FROM unnest($1::uuid[], $2::bigint[])
                 ON CONFLICT (uuid) DO NOTHING RETURNING uuid",
                &[&uuids, &seqs],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect();
        if added.len() == ids.len() {
            return Ok(true);
        }
        self.execute("DELETE FROM tessera.ids WHERE uuid = ANY($1)", &[&added])?;
        Ok(false)
    }

    fn set_row_id(&self, seq: i64, id: &Uuid) -> StoreResult<()> {
        self.execute(
            "UPDATE tessera.annotations SET uuid = $2 WHERE seq = $1",
            &[&seq, id],
        )?;
        Ok(())
    }

    fn insert(
        &self,
        slide: &str,
        columns: &Columns,
        body: &[u8],
        change_id: i64,
    ) -> StoreResult<bool> {
        self.slide_number(slide)?;
        let seq = self.next_seq(slide)?;
        if !self.add_id(&columns.id, seq)? {
            return Ok(false);
        }
        self.insert_row(seq, slide, columns, body, change_id)?;
        Ok(true)
    }

    fn replace(&self, a: &Annotation) -> StoreResult<()> {
        let body = a.encode_body();
        let geom = Wkb::of_record(&body)?;
        let version = i32::try_from(a.version).unwrap_or(i32::MAX);
        self.execute(
            "UPDATE tessera.annotations SET layer = $2, class = $3, author = $4, status = $5,
             version = $6, record = $7, geom = $8
             WHERE seq = (SELECT seq FROM tessera.ids WHERE uuid = $1)",
            &[
                &a.id,
                &a.layer,
                &a.class,
                &a.author,
                &a.status.as_str(),
                &version,
                &body,
                &geom,
            ],
        )?;
        Ok(())
    }

    fn delete(&self, id: &Uuid) -> StoreResult<()> {
        self.execute(
            "DELETE FROM tessera.annotations WHERE seq = (SELECT seq FROM tessera.ids WHERE uuid = $1)",
            &[id],
        )?;
        self.execute("DELETE FROM tessera.ids WHERE uuid = $1", &[id])?;
        Ok(())
    }

    fn add_history(
        &self,
        change_id: i64,
        id: &Uuid,
        before: Option<&[u8]>,
        after: Option<&[u8]>,
    ) -> StoreResult<()> {
        self.execute(
            "INSERT INTO tessera.history (change_id, uuid, before, after) VALUES ($1, $2, $3, $4)",
            &[&change_id, id, &before, &after],
        )?;
        Ok(())
    }

    fn mark_undone(&self, change_id: i64) -> StoreResult<()> {
        self.execute(
            "UPDATE tessera.changes SET undone = true WHERE id = $1",
            &[&change_id],
        )?;
        Ok(())
    }

    fn delete_created_by(&self, slide: &str, change_id: i64) -> StoreResult<usize> {
        let Some((lo, hi)) = self.seq_range(slide)? else {
            return Ok(0);
        };
        self.execute(
            "DELETE FROM tessera.ids WHERE seq IN (SELECT seq FROM tessera.annotations
             WHERE seq BETWEEN $1 AND $2 AND change_id = $3)",
            &[&lo, &hi, &change_id],
        )?;
        let n = self.execute(
            "DELETE FROM tessera.annotations WHERE seq BETWEEN $1 AND $2 AND change_id = $3",
            &[&lo, &hi, &change_id],
        )?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    fn add_audit(&self, audit: &Audit, items: &[AuditItem]) -> StoreResult<i64> {
        let id = loop {
            let id = random_id();
            if self
                .optional::<i64>("SELECT id FROM tessera.audits WHERE id = $1", &[&id])?
                .is_none()
            {
                break id;
            }
        };
        let filter = serde_json::to_string(&audit.filter).unwrap_or_else(|_| "{}".into());
        self.execute(
            "INSERT INTO tessera.audits (id, slide, fraction, seed, filter, created_by, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &id,
                &audit.slide,
                &audit.fraction,
                &(audit.seed as i64),
                &filter,
                &audit.created_by,
                &audit.created_at,
            ],
        )?;
        for (position, item) in items.iter().enumerate() {
            self.execute(
                "INSERT INTO tessera.audit_items (audit_id, uuid, position, class, author)
                 VALUES ($1, $2, $3, $4, $5)",
                &[&id, &item.id, &(position as i64), &item.class, &item.author],
            )?;
        }
        Ok(id)
    }

    fn record_outcome(
        &self,
        audit: i64,
        id: &Uuid,
        outcome: Outcome,
        comment: Option<&str>,
        by: &str,
        at: i64,
    ) -> StoreResult<Recording> {
        if self
            .optional::<i64>("SELECT id FROM tessera.audits WHERE id = $1", &[&audit])?
            .is_none()
        {
            return Ok(Recording::NoSuchAudit);
        }
        let previous = self.client().query_opt(
            "SELECT outcome, class, author FROM tessera.audit_items WHERE audit_id = $1 AND uuid = $2",
            &[&audit, id],
        )?;
        let Some(previous) = previous else {
            return Ok(Recording::NotInAudit);
        };
        self.execute(
            "UPDATE tessera.audit_items SET outcome = $3, comment = $4, recorded_by = $5,
             recorded_at = $6 WHERE audit_id = $1 AND uuid = $2",
            &[&audit, id, &outcome.as_str(), &comment, &by, &at],
        )?;
        Ok(Recording::Replaced(
            previous.get(0),
            previous.get(1),
            previous.get(2),
        ))
    }
}

/// An annotation store in a PostgreSQL database (PostGIS installed or installable).
pub struct PostgresStore {
    url: String,
    writer: Mutex<PgConn>,
    reader: Mutex<PgConn>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("url", &without_password(&self.url))
            .finish_non_exhaustive()
    }
}

/// `PgConn` holds a `RefCell` (`Send`, not `Sync`): each is reached through its `Mutex`.
fn lock(m: &Mutex<PgConn>) -> MutexGuard<'_, PgConn> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl PostgresStore {
    /// Connects to `url` (`postgres://…`) and creates or updates the schema.
    pub fn open(url: &str) -> StoreResult<Self> {
        let writer = PgConn::connect(url)?;
        create_tables(&writer)?;
        Ok(Self {
            url: url.to_string(),
            writer: Mutex::new(writer),
            reader: Mutex::new(PgConn::connect(url)?),
        })
    }
}

/// Runs `f`, which calls PostgreSQL, where that is allowed: the `postgres` client drives
/// its own small runtime and refuses to start it on a thread of another (a server's
/// worker thread), so there `f` runs as [`tokio::task::block_in_place`] lets it.
pub fn outside_async<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

/// The advisory lock held while a schema is created or updated, so that servers starting
/// together do not race on `CREATE … IF NOT EXISTS`.
const SCHEMA_LOCK: i64 = 0x0074_6573_7365_7273; // "tessers"

/// Creates or updates tables with `sql` (idempotent DDL), one server at a time.
pub(crate) fn create_schema(conn: &PgConn, sql: &str) -> StoreResult<()> {
    let mut client = conn.client();
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])?;
    tx.batch_execute(sql)?;
    tx.commit()?;
    Ok(())
}

/// Creates or updates the annotation tables.
pub(crate) fn create_tables(conn: &PgConn) -> StoreResult<()> {
    create_schema(conn, SCHEMA)
}

/// A reader on a connection of its own (see [`super::open_reader_at`]).
pub fn open_reader(url: &str) -> StoreResult<Box<dyn Deref<Target = dyn Reads> + Send>> {
    let conn = PgConn::connect(url)?;
    create_tables(&conn)?;
    Ok(Box::new(OwnedReader(conn)))
}

struct OwnedReader(PgConn);

impl Deref for OwnedReader {
    type Target = dyn Reads;
    fn deref(&self) -> &(dyn Reads + 'static) {
        &self.0
    }
}

struct Lent<'a>(MutexGuard<'a, PgConn>);

impl Deref for Lent<'_> {
    type Target = dyn Reads;
    fn deref(&self) -> &(dyn Reads + 'static) {
        &*self.0
    }
}

impl AnnotationStore for PostgresStore {
    fn location(&self) -> String {
        without_password(&self.url)
    }

    fn reader(&self) -> Box<dyn Deref<Target = dyn Reads> + '_> {
        Box::new(Lent(lock(&self.reader)))
    }

    fn writer(&self) -> Box<dyn Writer + '_> {
        let conn = lock(&self.writer);
        let locked = outside_async(|| {
            conn.client()
                .execute("SELECT pg_advisory_lock($1)", &[&WRITE_LOCK])
        });
        if let Err(e) = locked {
            // The writer's statements fail the same way and say so to the caller.
            tracing::error!("the write lock could not be taken: {e}");
        }
        Box::new(PgWriter(conn))
    }

    fn try_writer(&self) -> Option<Box<dyn Writer + '_>> {
        let conn = match self.writer.try_lock() {
            Ok(guard) => guard,
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return None,
        };
        let locked = outside_async(|| {
            conn.client()
                .query_one("SELECT pg_try_advisory_lock($1)", &[&WRITE_LOCK])
                .map(|r| r.get::<_, bool>(0))
        });
        locked
            .is_ok_and(|held| held)
            .then(|| Box::new(PgWriter(conn)) as Box<dyn Writer + '_>)
    }

    fn snapshot(&self) -> StoreResult<Box<dyn Snapshot>> {
        let conn = PgConn::connect(&self.url)?;
        conn.client()
            .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")?;
        Ok(Box::new(PgSnapshot(conn)))
    }

    /// An edit through another server shows here within a quarter of a second (plus
    /// the slide's reload).
    fn recheck_after(&self) -> std::time::Duration {
        std::time::Duration::from_millis(250)
    }

    fn flush_until(&self, done: &std::sync::mpsc::Receiver<()>) {
        // PostgreSQL writes its log itself; nothing to hurry.
        let _ = done.recv();
    }
}

/// The one writer: this server's writer connection, holding the store-wide write lock
/// (a session advisory lock) from its reads through its commit, so that a version read
/// under it is still the current one when the transaction writes, whichever server
/// writes. A connection that dies releases the lock with it.
struct PgWriter<'a>(MutexGuard<'a, PgConn>);

impl Drop for PgWriter<'_> {
    fn drop(&mut self) {
        let unlocked = outside_async(|| {
            self.0
                .client()
                .execute("SELECT pg_advisory_unlock($1)", &[&WRITE_LOCK])
        });
        if let Err(e) = unlocked {
            tracing::error!("the write lock could not be released: {e}");
        }
    }
}

impl Deref for PgWriter<'_> {
    type Target = dyn Reads;
    fn deref(&self) -> &(dyn Reads + 'static) {
        &*self.0
    }
}

impl Writer for PgWriter<'_> {
    fn begin(&self) -> StoreResult<Box<dyn Transaction + '_>> {
        self.0.client().batch_execute("BEGIN")?;
        Ok(Box::new(PgTransaction {
            conn: &self.0,
            open: true,
        }))
    }

    fn bulk_writing(&self, _on: bool) -> StoreResult<()> {
        Ok(())
    }
}

struct PgTransaction<'a> {
    conn: &'a PgConn,
    open: bool,
}

impl Deref for PgTransaction<'_> {
    type Target = dyn Writes;
    fn deref(&self) -> &(dyn Writes + 'static) {
        self.conn
    }
}

impl Transaction for PgTransaction<'_> {
    fn commit(mut self: Box<Self>) -> StoreResult<()> {
        self.open = false;
        if let Err(e) = self.conn.client().batch_execute("COMMIT") {
            let _ = self.conn.client().batch_execute("ROLLBACK");
            return Err(e.into());
        }
        Ok(())
    }
}

impl Drop for PgTransaction<'_> {
    fn drop(&mut self) {
        if self.open {
            let _ = self.conn.client().batch_execute("ROLLBACK");
        }
    }
}

struct PgSnapshot(PgConn);

impl Deref for PgSnapshot {
    type Target = dyn Reads;
    fn deref(&self) -> &(dyn Reads + 'static) {
        &self.0
    }
}

impl Snapshot for PgSnapshot {}

impl Drop for PgSnapshot {
    fn drop(&mut self) {
        let _ = outside_async(|| self.0.client().batch_execute("COMMIT"));
    }
}
