//! The embedded access store, `DIR/access.db`: users, their hashed tokens and roles, projects, which slides each
//! project groups, and each project's versioned label schema. SQLite in WAL mode with
//! `synchronous=FULL`, like the annotation store.
//!
//! Tables:
//! - `users`: name, created, revoked (a revoked user keeps its row, so history still
//!   names it, but none of its tokens work), sessions_after (browser sessions opened at
//!   or before this time, in ms, have ended: set by every revocation).
//! - `tokens`: SHA-256 of each token (never the token itself) → user.
//! - `grants`: user, project (`''` = every project), role.
//! - `projects`: name, blind mode, created.
//! - `project_slides`: slide → project (a slide is in at most one project).
//! - `schemas`: project, version, the schema as JSON, who set it and when.
//! - `assignments`: slide, user, role (`annotator` or `reviewer`; one reviewer a slide),
//!   project, who assigned it and when, and the annotator's "done" mark (when, by whom).
//! - `assignment_events`: every assignment, done mark and reopening: who, when, what.
//! - `sessions`: browser sessions by the SHA-256 of their id (never the id itself): user,
//!   opened, expires (ms), so that every server on the store knows them.

use super::{AccessRows, AssignmentRow, DirectoryRows, EventRow, ProjectRow, SessionRow, UserRow};
use crate::access::{ClassSpec, Role, Schema};
use crate::annotations::store::StoreResult;
use rusqlite::{Connection, OptionalExtension, params};
use std::path::Path;
use std::time::Duration;

/// File name of the access store inside the data directory.
pub const DB_FILE: &str = "access.db";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY,
    created INTEGER NOT NULL,
    revoked INTEGER
);
CREATE TABLE IF NOT EXISTS tokens (
    hash TEXT PRIMARY KEY,
    user TEXT NOT NULL REFERENCES users(name),
    created INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS grants (
    user TEXT NOT NULL REFERENCES users(name),
    project TEXT NOT NULL,
    role TEXT NOT NULL,
    PRIMARY KEY (user, project)
);
CREATE TABLE IF NOT EXISTS projects (
    name TEXT PRIMARY KEY,
    blind INTEGER NOT NULL DEFAULT 0,
    created INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS project_slides (
    slide TEXT PRIMARY KEY,
    project TEXT NOT NULL REFERENCES projects(name)
);
CREATE TABLE IF NOT EXISTS schemas (
    project TEXT NOT NULL REFERENCES projects(name),
    version INTEGER NOT NULL,
    body TEXT NOT NULL,
    author TEXT NOT NULL,
    at INTEGER NOT NULL,
    PRIMARY KEY (project, version)
);
CREATE TABLE IF NOT EXISTS assignments (
    slide TEXT NOT NULL,
    user TEXT NOT NULL REFERENCES users(name),
    role TEXT NOT NULL,
    project TEXT NOT NULL REFERENCES projects(name),
    assigned_by TEXT NOT NULL,
    assigned_at INTEGER NOT NULL,
    done_at INTEGER,
    done_by TEXT,
    PRIMARY KEY (slide, user, role)
);
CREATE TABLE IF NOT EXISTS assignment_events (
    id INTEGER PRIMARY KEY,
    project TEXT NOT NULL,
    slide TEXT NOT NULL,
    user TEXT NOT NULL,
    role TEXT NOT NULL,
    event TEXT NOT NULL,
    by TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS assignment_events_by_project ON assignment_events (project, at);
CREATE TABLE IF NOT EXISTS sessions (
    hash TEXT PRIMARY KEY,
    user TEXT NOT NULL,
    opened INTEGER NOT NULL,
    expires INTEGER NOT NULL
);
";

/// Opens (creating if needed) the access store in `dir`; on a read-only file system, an
/// existing store read-only (see [`crate::sqlite`]), where changes fail as read-only.
pub fn open(dir: &Path) -> rusqlite::Result<Connection> {
    let (conn, _) = crate::sqlite::open(&dir.join(DB_FILE), |conn| {
        conn.busy_timeout(Duration::from_secs(30))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.execute_batch(SCHEMA)?;
        migrate(conn)
    })?;
    Ok(conn)
}

/// Brings a store made by an earlier version up to date: `users.sessions_after` (ms; a
/// browser session opened at or before it has ended).
fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    let has = conn
        .prepare("SELECT 1 FROM pragma_table_info('users') WHERE name = 'sessions_after'")?
        .exists([])?;
    if !has {
        conn.execute_batch(
            "ALTER TABLE users ADD COLUMN sessions_after INTEGER NOT NULL DEFAULT 0",
        )?;
    }
    Ok(())
}

/// For reading only: the access store in `dir`, or, when there is none and none can be
/// created (a read-only data directory), an empty one in memory: no users, no projects.
pub fn open_for_reading(dir: &Path) -> rusqlite::Result<Connection> {
    match open(dir) {
        Err(e)
            if crate::sqlite::is_read_only(&e) && dir.is_dir() && !dir.join(DB_FILE).exists() =>
        {
            let conn = Connection::open_in_memory()?;
            conn.execute_batch(SCHEMA)?;
            migrate(&conn)?;
            Ok(conn)
        }
        other => other,
    }
}

/// SQLite's count of commits by other connections, to notice outside changes. Asked on
/// every request, so its statement is prepared once (from the connection's cache).
fn data_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.prepare_cached("PRAGMA data_version")?
        .query_row([], |r| r.get(0))
}

fn now_ms() -> i64 {
    crate::annotations::model::now_ms()
}

/// Whether a user of that name exists (revoked or not).
fn user_exists(conn: &Connection, name: &str) -> rusqlite::Result<bool> {
    conn.query_row("SELECT 1 FROM users WHERE name = ?1", [name], |_| Ok(()))
        .optional()
        .map(|r| r.is_some())
}

/// Adds a user with one grant and one token (given as its hash).
fn add_user(
    conn: &Connection,
    name: &str,
    role: Role,
    project: &str,
    token_hash: &str,
) -> rusqlite::Result<()> {
    let tx = conn.unchecked_transaction()?;
    tx.execute(
        "INSERT INTO users (name, created) VALUES (?1, ?2)",
        params![name, now_ms()],
    )?;
    tx.execute(
        "INSERT INTO grants (user, project, role) VALUES (?1, ?2, ?3)",
        params![name, project, role.as_str()],
    )?;
    tx.execute(
        "INSERT INTO tokens (hash, user, created) VALUES (?1, ?2, ?3)",
        params![token_hash, name, now_ms()],
    )?;
    tx.commit()
}

/// Gives a user a role in a project (`''` = every project), replacing the one it had there.
fn grant(conn: &Connection, name: &str, role: Role, project: &str) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO grants (user, project, role) VALUES (?1, ?2, ?3)
         ON CONFLICT (user, project) DO UPDATE SET role = excluded.role",
        params![name, project, role.as_str()],
    )?;
    Ok(())
}

/// A new token for an existing user; earlier tokens keep working.
fn add_token(conn: &Connection, name: &str, token_hash: &str) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE users SET revoked = NULL WHERE name = ?1",
        params![name],
    )?;
    conn.execute(
        "INSERT INTO tokens (hash, user, created) VALUES (?1, ?2, ?3)",
        params![token_hash, name, now_ms()],
    )?;
    Ok(())
}

/// Revokes a user: every token stops working and every browser session opened so far
/// ends for good (a new token later does not bring them back). Returns false if there
/// is no such user.
fn revoke(conn: &Connection, name: &str) -> rusqlite::Result<bool> {
    let tx = conn.unchecked_transaction()?;
    let n = tx.execute(
        "UPDATE users SET revoked = ?2, sessions_after = ?2 WHERE name = ?1",
        params![name, now_ms()],
    )?;
    tx.execute("DELETE FROM tokens WHERE user = ?1", params![name])?;
    tx.commit()?;
    Ok(n > 0)
}

/// Every user, by name.
fn users(conn: &Connection) -> rusqlite::Result<Vec<UserRow>> {
    let mut stmt = conn.prepare(
        "SELECT name, created, revoked IS NOT NULL,
                (SELECT count(*) FROM tokens t WHERE t.user = u.name)
         FROM users u ORDER BY name",
    )?;
    let mut rows = stmt
        .query_map([], |r| {
            Ok(UserRow {
                name: r.get(0)?,
                created_ms: r.get(1)?,
                revoked: r.get(2)?,
                tokens: r.get(3)?,
                grants: Vec::new(),
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut grants = conn.prepare("SELECT project, role FROM grants WHERE user = ?1 ORDER BY 1")?;
    for row in &mut rows {
        row.grants = grants
            .query_map([&row.name], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
    }
    Ok(rows)
}

/// Creates a project. Returns false if it already exists.
fn add_project(conn: &Connection, name: &str, blind: bool) -> rusqlite::Result<bool> {
    let n = conn.execute(
        "INSERT INTO projects (name, blind, created) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
        params![name, blind, now_ms()],
    )?;
    Ok(n > 0)
}

/// Whether the project exists.
fn project_exists(conn: &Connection, name: &str) -> rusqlite::Result<bool> {
    conn.query_row("SELECT 1 FROM projects WHERE name = ?1", [name], |_| Ok(()))
        .optional()
        .map(|r| r.is_some())
}

/// Switches a project's blind mode.
fn set_blind(conn: &Connection, name: &str, blind: bool) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE projects SET blind = ?2 WHERE name = ?1",
        params![name, blind],
    )?;
    Ok(())
}

/// Puts a slide in a project (moving it out of any other).
fn add_slide(conn: &Connection, project: &str, slide: &str) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO project_slides (slide, project) VALUES (?1, ?2)
         ON CONFLICT (slide) DO UPDATE SET project = excluded.project",
        params![slide, project],
    )?;
    Ok(())
}

/// Stores a new version of a project's schema and returns its number.
fn set_schema(
    conn: &Connection,
    project: &str,
    classes: &[ClassSpec],
    author: &str,
) -> rusqlite::Result<u32> {
    let tx = conn.unchecked_transaction()?;
    let version: u32 = tx.query_row(
        "SELECT coalesce(max(version), 0) + 1 FROM schemas WHERE project = ?1",
        [project],
        |r| r.get(0),
    )?;
    let body = serde_json::to_string(classes).unwrap_or_else(|_| "[]".into());
    tx.execute(
        "INSERT INTO schemas (project, version, body, author, at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![project, version, body, author, now_ms()],
    )?;
    tx.commit()?;
    Ok(version)
}

/// Every version of a project's schema, oldest first.
fn schema_history(conn: &Connection, project: &str) -> rusqlite::Result<Vec<Schema>> {
    let mut stmt = conn.prepare(
        "SELECT version, body, author, at FROM schemas WHERE project = ?1 ORDER BY version",
    )?;
    stmt.query_map([project], |r| {
        let body: String = r.get(1)?;
        Ok(Schema {
            project: project.to_string(),
            version: r.get(0)?,
            classes: serde_json::from_str(&body).unwrap_or_default(),
            author: r.get(2)?,
            at_ms: r.get(3)?,
        })
    })?
    .collect()
}

/// Every assignment.
fn assignments(conn: &Connection) -> rusqlite::Result<Vec<AssignmentRow>> {
    let mut stmt = conn.prepare(
        "SELECT slide, user, role, project, assigned_by, assigned_at, done_at
         FROM assignments ORDER BY slide, role, user",
    )?;
    stmt.query_map([], |r| {
        Ok(AssignmentRow {
            slide: r.get(0)?,
            user: r.get(1)?,
            role: r.get(2)?,
            project: r.get(3)?,
            assigned_by: r.get(4)?,
            assigned_at: r.get(5)?,
            done_at: r.get(6)?,
        })
    })?
    .collect()
}

/// Records an event: `[project, slide, user, role, event, by]` at `at`.
fn event(tx: &Connection, e: [&str; 6], at: i64) -> rusqlite::Result<()> {
    let [project, slide, user, role, what, by] = e;
    tx.execute(
        "INSERT INTO assignment_events (project, slide, user, role, event, by, at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![project, slide, user, role, what, by, at],
    )?;
    Ok(())
}

/// Assigns `slides` of `project` to `annotators` (added to those a slide has) and to
/// `reviewer` (replacing the slide's reviewer), as one transaction recorded under `by`.
/// The caller has checked names, roles and that the slides are in the project.
/// Returns how many assignments are new.
fn assign(
    conn: &Connection,
    project: &str,
    slides: &[String],
    annotators: &[String],
    reviewer: Option<&str>,
    by: &str,
) -> rusqlite::Result<usize> {
    let tx = conn.unchecked_transaction()?;
    let at = now_ms();
    let mut added = 0;
    for slide in slides {
        for user in annotators {
            let n = tx.execute(
                "INSERT INTO assignments (slide, user, role, project, assigned_by, assigned_at)
                 VALUES (?1, ?2, 'annotator', ?3, ?4, ?5) ON CONFLICT DO NOTHING",
                params![slide, user, project, by, at],
            )?;
            if n > 0 {
                event(&tx, [project, slide, user, "annotator", "assigned", by], at)?;
                added += 1;
            }
        }
        if let Some(user) = reviewer {
            let same: bool = tx
                .prepare(
                    "SELECT 1 FROM assignments WHERE slide = ?1 AND role = 'reviewer' AND user = ?2",
                )?
                .exists(params![slide, user])?;
            if same {
                continue;
            }
            let before: Vec<String> = tx
                .prepare("SELECT user FROM assignments WHERE slide = ?1 AND role = 'reviewer'")?
                .query_map([slide], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            for old in before {
                event(
                    &tx,
                    [project, slide, &old, "reviewer", "unassigned", by],
                    at,
                )?;
            }
            tx.execute(
                "DELETE FROM assignments WHERE slide = ?1 AND role = 'reviewer'",
                [slide],
            )?;
            tx.execute(
                "INSERT INTO assignments (slide, user, role, project, assigned_by, assigned_at)
                 VALUES (?1, ?2, 'reviewer', ?3, ?4, ?5)",
                params![slide, user, project, by, at],
            )?;
            event(&tx, [project, slide, user, "reviewer", "assigned", by], at)?;
            added += 1;
        }
    }
    tx.commit()?;
    Ok(added)
}

/// Marks `user`'s assignment to annotate `slide` done (again: the time moves on).
/// Returns false if there is no such assignment.
fn mark_done(conn: &Connection, slide: &str, user: &str) -> rusqlite::Result<bool> {
    let tx = conn.unchecked_transaction()?;
    let at = now_ms();
    let project: Option<String> = tx
        .query_row(
            "UPDATE assignments SET done_at = ?3, done_by = ?2
             WHERE slide = ?1 AND user = ?2 AND role = 'annotator' RETURNING project",
            params![slide, user, at],
            |r| r.get(0),
        )
        .optional()?;
    let Some(project) = project else {
        return Ok(false);
    };
    event(&tx, [&project, slide, user, "annotator", "done", user], at)?;
    tx.commit()?;
    Ok(true)
}

/// Every assignment event of a project, oldest first.
fn assignment_events(conn: &Connection, project: &str) -> rusqlite::Result<Vec<EventRow>> {
    let mut stmt = conn.prepare(
        "SELECT slide, user, role, event, by, at FROM assignment_events
         WHERE project = ?1 ORDER BY at, id",
    )?;
    stmt.query_map([project], |r| {
        Ok(EventRow {
            slide: r.get(0)?,
            user: r.get(1)?,
            role: r.get(2)?,
            event: r.get(3)?,
            by: r.get(4)?,
            at: r.get(5)?,
        })
    })?
    .collect()
}

/// The rows [`crate::access::Directory`] is built from (see [`DirectoryRows`]).
fn directory_rows(conn: &Connection) -> rusqlite::Result<DirectoryRows> {
    fn all<T>(
        conn: &Connection,
        sql: &str,
        row: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<Vec<T>> {
        conn.prepare(sql)?.query_map([], row)?.collect()
    }
    Ok(DirectoryRows {
        users: all(
            conn,
            "SELECT name, revoked IS NOT NULL, sessions_after FROM users",
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?,
        grants: all(conn, "SELECT user, project, role FROM grants", |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?,
        tokens: all(conn, "SELECT hash, user FROM tokens", |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?,
        project_slides: all(conn, "SELECT slide, project FROM project_slides", |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?,
        projects: all(conn, "SELECT name, blind FROM projects", |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?,
    })
}

/// A project's blind mode and its slides, sorted.
fn project(conn: &Connection, name: &str) -> rusqlite::Result<Option<ProjectRow>> {
    let blind: Option<bool> = conn
        .query_row("SELECT blind FROM projects WHERE name = ?1", [name], |r| {
            r.get(0)
        })
        .optional()?;
    let Some(blind) = blind else {
        return Ok(None);
    };
    let slides = conn
        .prepare("SELECT slide FROM project_slides WHERE project = ?1 ORDER BY 1")?
        .query_map([name], |r| r.get(0))?
        .collect::<rusqlite::Result<Vec<String>>>()?;
    Ok(Some(ProjectRow { blind, slides }))
}

/// Keeps a session and forgets those that expired.
fn add_session(
    conn: &Connection,
    hash: &str,
    user: &str,
    opened_ms: i64,
    expires_ms: i64,
) -> rusqlite::Result<()> {
    let tx = conn.unchecked_transaction()?;
    tx.execute("DELETE FROM sessions WHERE expires < ?1", [opened_ms])?;
    tx.execute(
        "INSERT INTO sessions (hash, user, opened, expires) VALUES (?1, ?2, ?3, ?4)",
        params![hash, user, opened_ms, expires_ms],
    )?;
    tx.commit()
}

fn session(conn: &Connection, hash: &str) -> rusqlite::Result<Option<SessionRow>> {
    conn.prepare_cached("SELECT user, opened, expires FROM sessions WHERE hash = ?1")?
        .query_row([hash], |r| {
            Ok(SessionRow {
                user: r.get(0)?,
                opened_ms: r.get(1)?,
                expires_ms: r.get(2)?,
            })
        })
        .optional()
}

impl AccessRows for Connection {
    fn data_version(&self) -> StoreResult<i64> {
        Ok(data_version(self)?)
    }
    fn directory_rows(&self) -> StoreResult<DirectoryRows> {
        Ok(directory_rows(self)?)
    }
    fn user_exists(&self, name: &str) -> StoreResult<bool> {
        Ok(user_exists(self, name)?)
    }
    fn add_user(&self, name: &str, role: Role, project: &str, token_hash: &str) -> StoreResult<()> {
        Ok(add_user(self, name, role, project, token_hash)?)
    }
    fn grant(&self, name: &str, role: Role, project: &str) -> StoreResult<()> {
        Ok(grant(self, name, role, project)?)
    }
    fn add_token(&self, name: &str, token_hash: &str) -> StoreResult<()> {
        Ok(add_token(self, name, token_hash)?)
    }
    fn revoke(&self, name: &str) -> StoreResult<bool> {
        Ok(revoke(self, name)?)
    }
    fn users(&self) -> StoreResult<Vec<UserRow>> {
        Ok(users(self)?)
    }
    fn add_project(&self, name: &str, blind: bool) -> StoreResult<bool> {
        Ok(add_project(self, name, blind)?)
    }
    fn project_exists(&self, name: &str) -> StoreResult<bool> {
        Ok(project_exists(self, name)?)
    }
    fn project(&self, name: &str) -> StoreResult<Option<ProjectRow>> {
        Ok(project(self, name)?)
    }
    fn set_blind(&self, name: &str, blind: bool) -> StoreResult<()> {
        Ok(set_blind(self, name, blind)?)
    }
    fn add_slide(&self, project: &str, slide: &str) -> StoreResult<()> {
        Ok(add_slide(self, project, slide)?)
    }
    fn set_schema(&self, project: &str, classes: &[ClassSpec], author: &str) -> StoreResult<u32> {
        Ok(set_schema(self, project, classes, author)?)
    }
    fn schema_history(&self, project: &str) -> StoreResult<Vec<Schema>> {
        Ok(schema_history(self, project)?)
    }
    fn assignments(&self) -> StoreResult<Vec<AssignmentRow>> {
        Ok(assignments(self)?)
    }
    fn assign(
        &self,
        project: &str,
        slides: &[String],
        annotators: &[String],
        reviewer: Option<&str>,
        by: &str,
    ) -> StoreResult<usize> {
        Ok(assign(self, project, slides, annotators, reviewer, by)?)
    }
    fn mark_done(&self, slide: &str, user: &str) -> StoreResult<bool> {
        Ok(mark_done(self, slide, user)?)
    }
    fn assignment_events(&self, project: &str) -> StoreResult<Vec<EventRow>> {
        Ok(assignment_events(self, project)?)
    }
    fn add_session(
        &self,
        hash: &str,
        user: &str,
        opened_ms: i64,
        expires_ms: i64,
    ) -> StoreResult<()> {
        Ok(add_session(self, hash, user, opened_ms, expires_ms)?)
    }
    fn session(&self, hash: &str) -> StoreResult<Option<SessionRow>> {
        Ok(session(self, hash)?)
    }
    fn end_session(&self, hash: &str) -> StoreResult<()> {
        self.execute("DELETE FROM sessions WHERE hash = ?1", [hash])?;
        Ok(())
    }
}
