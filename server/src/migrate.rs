//! `tessera migrate`: moves a data directory's stores (`annotations.db`, `access.db`)
//! into a PostgreSQL database, whole or not at all.
//!
//! The one module that names both databases: it copies table by table, each with one
//! binary `COPY`, between the schemas that [`crate::annotations::store`] and
//! [`crate::access::store`] define, inside one PostgreSQL transaction that also holds
//! the writers' lock, and compares every table's row count before committing.

use crate::annotations::store::postgis::{Wkb, geometry_type};
use crate::annotations::store::postgres::{self as annotations_pg, PgConn};
use crate::annotations::store::{StoreError, StoreResult};
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::{ToSql, Type};
use rusqlite::Connection;
use std::path::Path;

/// How a column travels: its PostgreSQL type, read from SQLite as the matching value.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Int8,
    Int4,
    Float8,
    Text,
    Bytes,
    /// A 16-byte BLOB in SQLite.
    Uuid,
    /// 0 or 1 in SQLite.
    Bool,
}

impl Kind {
    fn pg_type(self) -> Type {
        match self {
            Self::Int8 => Type::INT8,
            Self::Int4 => Type::INT4,
            Self::Float8 => Type::FLOAT8,
            Self::Text => Type::TEXT,
            Self::Bytes => Type::BYTEA,
            Self::Uuid => Type::UUID,
            Self::Bool => Type::BOOL,
        }
    }

    /// Column `i` of `row` as a PostgreSQL value (NULL stays NULL).
    fn read(self, row: &rusqlite::Row<'_>, i: usize) -> Result<Box<dyn ToSql + Sync>, String> {
        let e = |e: rusqlite::Error| e.to_string();
        Ok(match self {
            Self::Int8 => Box::new(row.get::<_, Option<i64>>(i).map_err(e)?),
            Self::Int4 => {
                let v: Option<i64> = row.get(i).map_err(e)?;
                Box::new(
                    v.map(i32::try_from)
                        .transpose()
                        .map_err(|_| format!("{v:?} is too large for an integer"))?,
                )
            }
            Self::Float8 => Box::new(row.get::<_, Option<f64>>(i).map_err(e)?),
            Self::Text => Box::new(row.get::<_, Option<String>>(i).map_err(e)?),
            Self::Bytes => Box::new(row.get::<_, Option<Vec<u8>>>(i).map_err(e)?),
            Self::Uuid => {
                let v: Option<Vec<u8>> = row.get(i).map_err(e)?;
                Box::new(
                    v.map(|b| uuid::Uuid::from_slice(&b))
                        .transpose()
                        .map_err(|_| "an id that is not 16 bytes".to_string())?,
                )
            }
            Self::Bool => Box::new(row.get::<_, Option<i64>>(i).map_err(e)?.map(|v| v != 0)),
        })
    }
}

/// A table to copy: its name in SQLite and in PostgreSQL's `tessera` schema, and its
/// columns (SQLite's name, PostgreSQL's name, kind).
struct Table {
    name: &'static str,
    columns: &'static [(&'static str, &'static str, Kind)],
}

use Kind::{Bool, Bytes, Float8, Int4, Int8, Text, Uuid};

/// `annotations.db`, in an order that meets every reference.
const ANNOTATION_TABLES: &[Table] = &[
    Table {
        name: "slides",
        columns: &[
            ("slide", "slide", Text),
            ("number", "number", Int8),
            ("generation", "generation", Int8),
        ],
    },
    Table {
        name: "annotations",
        columns: &[
            ("seq", "seq", Int8),
            ("uuid", "uuid", Uuid),
            ("slide", "slide", Text),
            ("layer", "layer", Text),
            ("class", "class", Text),
            ("author", "author", Text),
            ("status", "status", Text),
            ("version", "version", Int4),
            ("change_id", "change_id", Int8),
            ("record", "record", Bytes),
        ],
    },
    Table {
        name: "ids",
        columns: &[("uuid", "uuid", Uuid), ("seq", "seq", Int8)],
    },
    Table {
        name: "changes",
        columns: &[
            ("id", "id", Int8),
            ("slide", "slide", Text),
            ("author", "author", Text),
            ("at", "at", Int8),
            ("kind", "kind", Text),
            ("count", "count", Int8),
            ("detail", "detail", Text),
            ("undone", "undone", Bool),
        ],
    },
    Table {
        name: "history",
        columns: &[
            ("id", "id", Int8),
            ("change_id", "change_id", Int8),
            ("uuid", "uuid", Uuid),
            ("before", "before", Bytes),
            ("after", "after", Bytes),
        ],
    },
    Table {
        name: "audits",
        columns: &[
            ("id", "id", Int8),
            ("slide", "slide", Text),
            ("fraction", "fraction", Float8),
            ("seed", "seed", Int8),
            ("filter", "filter", Text),
            ("created_by", "created_by", Text),
            ("created_at", "created_at", Int8),
        ],
    },
    Table {
        name: "audit_items",
        columns: &[
            ("audit_id", "audit_id", Int8),
            ("uuid", "uuid", Uuid),
            ("position", "position", Int8),
            ("class", "class", Text),
            ("author", "author", Text),
            ("outcome", "outcome", Text),
            ("comment", "comment", Text),
            ("recorded_by", "recorded_by", Text),
            ("recorded_at", "recorded_at", Int8),
        ],
    },
];

/// `access.db`, users and projects before what refers to them.
const ACCESS_TABLES: &[Table] = &[
    Table {
        name: "users",
        columns: &[
            ("name", "name", Text),
            ("created", "created", Int8),
            ("revoked", "revoked", Int8),
            ("sessions_after", "sessions_after", Int8),
        ],
    },
    Table {
        name: "tokens",
        columns: &[
            ("hash", "hash", Text),
            ("user", "user_name", Text),
            ("created", "created", Int8),
        ],
    },
    Table {
        name: "grants",
        columns: &[
            ("user", "user_name", Text),
            ("project", "project", Text),
            ("role", "role", Text),
        ],
    },
    Table {
        name: "projects",
        columns: &[
            ("name", "name", Text),
            ("blind", "blind", Bool),
            ("created", "created", Int8),
        ],
    },
    Table {
        name: "project_slides",
        columns: &[("slide", "slide", Text), ("project", "project", Text)],
    },
    Table {
        name: "schemas",
        columns: &[
            ("project", "project", Text),
            ("version", "version", Int4),
            ("body", "body", Text),
            ("author", "author", Text),
            ("at", "at", Int8),
        ],
    },
    Table {
        name: "assignments",
        columns: &[
            ("slide", "slide", Text),
            ("user", "user_name", Text),
            ("role", "role", Text),
            ("project", "project", Text),
            ("assigned_by", "assigned_by", Text),
            ("assigned_at", "assigned_at", Int8),
            ("done_at", "done_at", Int8),
            ("done_by", "done_by", Text),
        ],
    },
    Table {
        name: "assignment_events",
        columns: &[
            ("id", "id", Int8),
            ("project", "project", Text),
            ("slide", "slide", Text),
            ("user", "user_name", Text),
            ("role", "role", Text),
            ("event", "event", Text),
            ("by", "by_user", Text),
            ("at", "at", Int8),
        ],
    },
];

/// Serial columns whose sequences must continue after the copied ids.
const SERIALS: [&str; 2] = ["history", "assignment_events"];

/// One copied table and its row count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    pub table: &'static str,
    pub rows: u64,
}

/// Moves the stores of the data directory `dir` into the empty PostgreSQL database at
/// `url`; `progress` hears each table as it is done. Nothing is written unless every
/// table arrives whole.
pub fn to_postgres(
    dir: &Path,
    url: &str,
    mut progress: impl FnMut(&Copied),
) -> StoreResult<Vec<Copied>> {
    let annotations_file = dir.join(crate::annotations::store::DB_FILE);
    let access_file = dir.join(crate::access::store::DB_FILE);
    if !annotations_file.is_file() && !access_file.is_file() {
        return Err(StoreError::new(
            format!(
                "{}: no {} or {} to migrate",
                dir.display(),
                crate::annotations::store::DB_FILE,
                crate::access::store::DB_FILE
            ),
            None,
        ));
    }
    let source_error = |file: &Path| {
        let file = file.display().to_string();
        move |e: rusqlite::Error| StoreError::new(format!("{file}: {e}"), None)
    };
    // Only the files that are there: a directory without users has no `access.db`.
    let mut sources: Vec<(Connection, &Path, &[Table])> = Vec::new();
    if annotations_file.is_file() {
        let conn = crate::annotations::store::sqlite::connect(dir)
            .map_err(source_error(&annotations_file))?;
        sources.push((conn, &annotations_file, ANNOTATION_TABLES));
    }
    if access_file.is_file() {
        let conn = crate::access::store::sqlite::open(dir).map_err(source_error(&access_file))?;
        sources.push((conn, &access_file, ACCESS_TABLES));
    }
    // One connection: both stores' tables, then the whole copy.
    let target = PgConn::connect(url)?;
    annotations_pg::create_tables(&target)?;
    crate::access::store::postgres::create_tables(&target)?;
    let mut client = target.client();
    let mut tx = client.transaction()?;
    tx.execute(
        "SELECT pg_advisory_xact_lock($1)",
        &[&annotations_pg::WRITE_LOCK],
    )?;
    let held: i64 = tx
        .query_one(
            "SELECT (SELECT count(*) FROM tessera.slides) + (SELECT count(*) FROM tessera.users)
                  + (SELECT count(*) FROM tessera.projects)",
            &[],
        )?
        .get(0);
    if held > 0 {
        return Err(StoreError::new(
            format!(
                "{}: the database already holds slides, users or projects; \
                 migrate into an empty one",
                crate::location::without_password(url)
            ),
            None,
        ));
    }
    let mut copied = Vec::new();
    for (source, file, tables) in &sources {
        // One read transaction: every table as of the same moment.
        source.execute_batch("BEGIN").map_err(source_error(file))?;
        for table in *tables {
            let rows = copy_table(source, &mut tx, table)
                .map_err(|e| StoreError::new(format!("{}: {e}", file.display()), None))?;
            let done = Copied {
                table: table.name,
                rows,
            };
            progress(&done);
            copied.push(done);
        }
        source.execute_batch("COMMIT").map_err(source_error(file))?;
    }
    for table in SERIALS {
        tx.batch_execute(&format!(
            "SELECT setval(pg_get_serial_sequence('tessera.{table}', 'id'),
                           coalesce((SELECT max(id) FROM tessera.{table}), 0) + 1, false)"
        ))?;
    }
    tx.commit()?;
    Ok(copied)
}

/// Copies one table with a binary `COPY` and checks that every row arrived; each
/// annotation's geometry goes with it as WKB, decoded from its record.
fn copy_table(
    source: &Connection,
    tx: &mut postgres::Transaction<'_>,
    table: &Table,
) -> Result<u64, String> {
    let exists: bool = source
        .query_row(
            "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = ?1",
            [table.name],
            |r| r.get(0),
        )
        .map_err(|e| e.to_string())?;
    if !exists {
        // An older store without audits: nothing to copy.
        return Ok(0);
    }
    let geometry = table.name == "annotations";
    let select = format!(
        "SELECT {} FROM \"{}\"",
        table
            .columns
            .iter()
            .map(|(from, _, _)| format!("\"{from}\""))
            .collect::<Vec<_>>()
            .join(", "),
        table.name
    );
    let mut into: Vec<&str> = table.columns.iter().map(|(_, to, _)| *to).collect();
    let mut types: Vec<Type> = table.columns.iter().map(|(_, _, k)| k.pg_type()).collect();
    if geometry {
        into.push("geom");
        types.push(geometry_type(tx).map_err(|e| e.to_string())?);
    }
    let sink = tx
        .copy_in(&format!(
            "COPY tessera.{} ({}) FROM STDIN BINARY",
            table.name,
            into.join(", ")
        ))
        .map_err(|e| format!("table {}: {e}", table.name))?;
    let mut writer = BinaryCopyInWriter::new(sink, &types);
    let mut statement = source.prepare(&select).map_err(|e| e.to_string())?;
    let mut rows = statement.query([]).map_err(|e| e.to_string())?;
    let mut count = 0_u64;
    while let Some(row) = rows.next().map_err(|e| e.to_string())? {
        let place = |e: String| format!("table {}, row {}: {e}", table.name, count + 1);
        let mut values = table
            .columns
            .iter()
            .enumerate()
            .map(|(i, (_, _, kind))| kind.read(row, i))
            .collect::<Result<Vec<_>, String>>()
            .map_err(place)?;
        if geometry {
            let record: Vec<u8> = row.get(9).map_err(|e| place(e.to_string()))?;
            let wkb = Wkb::of_record(&record).map_err(|e| place(e.to_string()))?;
            values.push(Box::new(wkb));
        }
        let refs: Vec<&(dyn ToSql + Sync)> = values.iter().map(AsRef::as_ref).collect();
        writer.write(&refs).map_err(|e| place(e.to_string()))?;
        count += 1;
    }
    writer
        .finish()
        .map_err(|e| format!("table {}: {e}", table.name))?;
    let arrived: i64 = tx
        .query_one(&format!("SELECT count(*) FROM tessera.{}", table.name), &[])
        .map_err(|e| e.to_string())?
        .get(0);
    if u64::try_from(arrived).ok() != Some(count) {
        return Err(format!(
            "table {}: {count} rows read but {arrived} arrived",
            table.name
        ));
    }
    Ok(count)
}
