//! Opening the server's SQLite files, on a writable data directory or a read-only one.
//!
//! A lab may serve an archive from a read-only mount. SQLite in WAL mode cannot open a
//! database there (it would create `-wal` and `-shm` files), so when opening for writing
//! fails for that reason, an existing file is opened read-only and `immutable`: reads work,
//! and every write fails with `SQLITE_READONLY`, which callers report as "read-only".

use rusqlite::{Connection, ErrorCode, OpenFlags};
use std::path::Path;

/// How a database was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    ReadWrite,
    ReadOnly,
}

/// Opens `path` for reading and writing (creating it if needed) and runs `setup` on it; if
/// the file system or directory refuses writes and the file exists, opens it read-only.
pub fn open(
    path: &Path,
    setup: impl FnOnce(&Connection) -> rusqlite::Result<()>,
) -> rusqlite::Result<(Connection, Mode)> {
    let writable = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .and_then(|conn| setup(&conn).map(|()| conn));
    match writable {
        Ok(conn) => Ok((conn, Mode::ReadWrite)),
        Err(e) if is_read_only(&e) && path.is_file() => {
            let conn = Connection::open_with_flags(
                format!("file:{}?immutable=1", uri_path(path)),
                OpenFlags::SQLITE_OPEN_READ_ONLY
                    | OpenFlags::SQLITE_OPEN_URI
                    | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            Ok((conn, Mode::ReadOnly))
        }
        Err(e) => Err(e),
    }
}

/// Whether `e` says the file or its directory cannot be written.
#[must_use]
pub fn is_read_only(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::ReadOnly | ErrorCode::CannotOpen)
    )
}

/// Whether `e` says the disk is full: `SQLITE_FULL`, or `SQLITE_IOERR_SHMSIZE` (a WAL index
/// that could not grow, which SQLite documents as a sign of a full volume).
#[must_use]
pub fn is_disk_full(e: &rusqlite::Error) -> bool {
    match e {
        rusqlite::Error::SqliteFailure(inner, _) => {
            inner.code == ErrorCode::DiskFull
                || inner.extended_code == rusqlite::ffi::SQLITE_IOERR_SHMSIZE
        }
        _ => false,
    }
}

/// SQLite's message for `e`, with what it means for an operator when that is not plain.
#[must_use]
pub fn describe(e: &rusqlite::Error) -> String {
    if is_disk_full(e) {
        format!("{e} (no space left on the disk)")
    } else if is_read_only(e) {
        format!("{e} (the file or its directory is read-only)")
    } else {
        e.to_string()
    }
}

/// `path` as the path part of a `file:` URI: the characters URIs give a meaning escaped.
fn uri_path(path: &Path) -> String {
    let mut out = String::new();
    for c in path.to_string_lossy().chars() {
        match c {
            '?' => out.push_str("%3F"),
            '#' => out.push_str("%23"),
            '%' => out.push_str("%25"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_paths_escape_what_uris_give_a_meaning() {
        assert_eq!(
            uri_path(Path::new("/data/a?b#c%d.db")),
            "/data/a%3Fb%23c%25d.db"
        );
    }

    #[test]
    fn a_file_that_cannot_be_written_is_opened_read_only() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("odd?name#.db");
        let (conn, mode) = open(&path, |c| c.execute_batch("CREATE TABLE t (x)")).expect("open");
        assert_eq!(mode, Mode::ReadWrite);
        conn.execute("INSERT INTO t VALUES (1)", [])
            .expect("insert");
        drop(conn);
        // A setup that fails as a read-only file system makes it fail.
        let read_only = |_: &Connection| {
            Err(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_READONLY),
                None,
            ))
        };
        let (conn, mode) = open(&path, read_only).expect("open read-only");
        assert_eq!(mode, Mode::ReadOnly);
        let x: i64 = conn
            .query_row("SELECT x FROM t", [], |r| r.get(0))
            .expect("read");
        assert_eq!(x, 1);
        let err = conn
            .execute("INSERT INTO t VALUES (2)", [])
            .expect_err("read-only");
        assert!(is_read_only(&err), "{err}");
        let missing = dir.path().join("no-such-dir").join("missing.db");
        assert!(open(&missing, read_only).is_err(), "nothing to read");
    }
}
