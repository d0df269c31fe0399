//! The access store on PostgreSQL, beside the annotation store in the schema `tessera`:
//! the tables of [`super::sqlite`] under the same names, with `user_name` and `by_user`
//! for SQLite's `user` and `by` (reserved words here).
//!
//! `tessera.sessions` holds browser sessions for every server; it alone does not raise
//! the version below (a sign-in changes no one's rights).
//!
//! `tessera.access_version` holds one number that a statement trigger on every access
//! table raises, so [`AccessRows::data_version`] sees every commit, by any server or by
//! SQL written by hand.

use super::{AccessRows, AssignmentRow, DirectoryRows, EventRow, ProjectRow, SessionRow, UserRow};
use crate::access::{ClassSpec, Role, Schema};
use crate::annotations::model::now_ms;
use crate::annotations::store::StoreResult;
use crate::annotations::store::postgres::{PgConn, create_schema};
use postgres::Transaction;

const TABLES: [&str; 8] = [
    "users",
    "tokens",
    "grants",
    "projects",
    "project_slides",
    "schemas",
    "assignments",
    "assignment_events",
];

const SCHEMA: &str = "
CREATE SCHEMA IF NOT EXISTS tessera;
CREATE TABLE IF NOT EXISTS tessera.users (
    name TEXT PRIMARY KEY,
    created BIGINT NOT NULL,
    revoked BIGINT,
    sessions_after BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS tessera.tokens (
    hash TEXT PRIMARY KEY,
    user_name TEXT NOT NULL REFERENCES tessera.users(name),
    created BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS tessera.grants (
    user_name TEXT NOT NULL REFERENCES tessera.users(name),
    project TEXT NOT NULL,
    role TEXT NOT NULL,
    PRIMARY KEY (user_name, project)
);
CREATE TABLE IF NOT EXISTS tessera.projects (
    name TEXT PRIMARY KEY,
    blind BOOLEAN NOT NULL DEFAULT false,
    created BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS tessera.project_slides (
    slide TEXT PRIMARY KEY,
    project TEXT NOT NULL REFERENCES tessera.projects(name)
);
CREATE TABLE IF NOT EXISTS tessera.schemas (
    project TEXT NOT NULL REFERENCES tessera.projects(name),
    version INTEGER NOT NULL,
    body TEXT NOT NULL,
    author TEXT NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (project, version)
);
CREATE TABLE IF NOT EXISTS tessera.assignments (
    slide TEXT NOT NULL,
    user_name TEXT NOT NULL REFERENCES tessera.users(name),
    role TEXT NOT NULL,
    project TEXT NOT NULL REFERENCES tessera.projects(name),
    assigned_by TEXT NOT NULL,
    assigned_at BIGINT NOT NULL,
    done_at BIGINT,
    done_by TEXT,
    PRIMARY KEY (slide, user_name, role)
);
CREATE TABLE IF NOT EXISTS tessera.assignment_events (
    id BIGSERIAL PRIMARY KEY,
    project TEXT NOT NULL,
    slide TEXT NOT NULL,
    user_name TEXT NOT NULL,
    role TEXT NOT NULL,
    event TEXT NOT NULL,
    by_user TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS assignment_events_by_project
    ON tessera.assignment_events (project, at);
CREATE TABLE IF NOT EXISTS tessera.sessions (
    hash TEXT PRIMARY KEY,
    user_name TEXT NOT NULL,
    opened BIGINT NOT NULL,
    expires BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS tessera.access_version (
    one BOOLEAN PRIMARY KEY DEFAULT true CHECK (one),
    version BIGINT NOT NULL
);
INSERT INTO tessera.access_version (version) VALUES (0) ON CONFLICT DO NOTHING;
CREATE OR REPLACE FUNCTION tessera.access_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE tessera.access_version SET version = version + 1;
    RETURN NULL;
END $$;
";

/// The trigger that raises `access_version` after any change to `table`.
fn version_trigger(table: &str) -> String {
    format!(
        "CREATE OR REPLACE TRIGGER {table}_changed
         AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON tessera.{table}
         FOR EACH STATEMENT EXECUTE FUNCTION tessera.access_changed();"
    )
}

/// Connects to `url` and creates or updates the access tables.
pub fn open(url: &str) -> StoreResult<PgConn> {
    let conn = PgConn::connect(url)?;
    create_tables(&conn)?;
    Ok(conn)
}

/// Creates or updates the access tables and their version triggers.
pub(crate) fn create_tables(conn: &PgConn) -> StoreResult<()> {
    let mut sql = SCHEMA.to_string();
    for table in TABLES {
        sql.push_str(&version_trigger(table));
    }
    create_schema(conn, &sql)
}

impl PgConn {
    /// Runs `f` in one transaction, committed if it succeeds.
    fn in_transaction<T>(
        &self,
        f: impl FnOnce(&mut Transaction<'_>) -> Result<T, postgres::Error>,
    ) -> StoreResult<T> {
        let mut client = self.client();
        let mut tx = client.transaction()?;
        let out = f(&mut tx)?;
        tx.commit()?;
        Ok(out)
    }

    fn exists(&self, sql: &str, key: &str) -> StoreResult<bool> {
        Ok(self.client().query_opt(sql, &[&key])?.is_some())
    }
}

/// Records an event: `[project, slide, user, role, event, by]` at `at`.
fn event(tx: &mut Transaction<'_>, e: [&str; 6], at: i64) -> Result<(), postgres::Error> {
    let [project, slide, user, role, what, by] = e;
    tx.execute(
        "INSERT INTO tessera.assignment_events
             (project, slide, user_name, role, event, by_user, at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[&project, &slide, &user, &role, &what, &by, &at],
    )?;
    Ok(())
}

impl AccessRows for PgConn {
    fn is_remote(&self) -> bool {
        true
    }

    fn data_version(&self) -> StoreResult<i64> {
        Ok(self
            .client()
            .query_one("SELECT version FROM tessera.access_version", &[])?
            .get(0))
    }

    fn directory_rows(&self) -> StoreResult<DirectoryRows> {
        fn pairs<A, B>(tx: &mut Transaction<'_>, sql: &str) -> Result<Vec<(A, B)>, postgres::Error>
        where
            A: for<'a> postgres::types::FromSql<'a>,
            B: for<'a> postgres::types::FromSql<'a>,
        {
            Ok(tx
                .query(sql, &[])?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect())
        }
        self.in_transaction(|tx| {
            Ok(DirectoryRows {
                users: tx
                    .query(
                        "SELECT name, revoked IS NOT NULL, sessions_after FROM tessera.users",
                        &[],
                    )?
                    .iter()
                    .map(|r| (r.get(0), r.get(1), r.get(2)))
                    .collect(),
                grants: tx
                    .query("SELECT user_name, project, role FROM tessera.grants", &[])?
                    .iter()
                    .map(|r| (r.get(0), r.get(1), r.get(2)))
                    .collect(),
                tokens: pairs(tx, "SELECT hash, user_name FROM tessera.tokens")?,
                project_slides: pairs(tx, "SELECT slide, project FROM tessera.project_slides")?,
                projects: pairs(tx, "SELECT name, blind FROM tessera.projects")?,
            })
        })
    }

    fn user_exists(&self, name: &str) -> StoreResult<bool> {
        self.exists("SELECT 1 FROM tessera.users WHERE name = $1", name)
    }

    fn add_user(&self, name: &str, role: Role, project: &str, token_hash: &str) -> StoreResult<()> {
        self.in_transaction(|tx| {
            let now = now_ms();
            tx.execute(
                "INSERT INTO tessera.users (name, created) VALUES ($1, $2)",
                &[&name, &now],
            )?;
            tx.execute(
                "INSERT INTO tessera.grants (user_name, project, role) VALUES ($1, $2, $3)",
                &[&name, &project, &role.as_str()],
            )?;
            tx.execute(
                "INSERT INTO tessera.tokens (hash, user_name, created) VALUES ($1, $2, $3)",
                &[&token_hash, &name, &now],
            )?;
            Ok(())
        })
    }

    fn grant(&self, name: &str, role: Role, project: &str) -> StoreResult<()> {
        self.client().execute(
            "INSERT INTO tessera.grants (user_name, project, role) VALUES ($1, $2, $3)
             ON CONFLICT (user_name, project) DO UPDATE SET role = excluded.role",
            &[&name, &project, &role.as_str()],
        )?;
        Ok(())
    }

    fn add_token(&self, name: &str, token_hash: &str) -> StoreResult<()> {
        self.in_transaction(|tx| {
            tx.execute(
                "UPDATE tessera.users SET revoked = NULL WHERE name = $1",
                &[&name],
            )?;
            tx.execute(
                "INSERT INTO tessera.tokens (hash, user_name, created) VALUES ($1, $2, $3)",
                &[&token_hash, &name, &now_ms()],
            )?;
            Ok(())
        })
    }

    fn revoke(&self, name: &str) -> StoreResult<bool> {
        self.in_transaction(|tx| {
            let n = tx.execute(
                "UPDATE tessera.users SET revoked = $2, sessions_after = $2 WHERE name = $1",
                &[&name, &now_ms()],
            )?;
            tx.execute("DELETE FROM tessera.tokens WHERE user_name = $1", &[&name])?;
            Ok(n > 0)
        })
    }

    fn users(&self) -> StoreResult<Vec<UserRow>> {
        self.in_transaction(|tx| {
            let mut rows: Vec<UserRow> = tx
                .query(
                    "SELECT name, created, revoked IS NOT NULL,
                            (SELECT count(*) FROM tessera.tokens t WHERE t.user_name = u.name)
                     FROM tessera.users u ORDER BY name COLLATE \"C\"",
                    &[],
                )?
                .iter()
                .map(|r| UserRow {
                    name: r.get(0),
                    created_ms: r.get(1),
                    revoked: r.get(2),
                    tokens: r.get(3),
                    grants: Vec::new(),
                })
                .collect();
            let grants = tx.prepare(
                "SELECT project, role FROM tessera.grants WHERE user_name = $1
                 ORDER BY project COLLATE \"C\"",
            )?;
            for row in &mut rows {
                row.grants = tx
                    .query(&grants, &[&row.name])?
                    .iter()
                    .map(|r| (r.get(0), r.get(1)))
                    .collect();
            }
            Ok(rows)
        })
    }

    fn add_project(&self, name: &str, blind: bool) -> StoreResult<bool> {
        let n = self.client().execute(
            "INSERT INTO tessera.projects (name, blind, created) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING",
            &[&name, &blind, &now_ms()],
        )?;
        Ok(n > 0)
    }

    fn project_exists(&self, name: &str) -> StoreResult<bool> {
        self.exists("SELECT 1 FROM tessera.projects WHERE name = $1", name)
    }

    fn project(&self, name: &str) -> StoreResult<Option<ProjectRow>> {
        self.in_transaction(|tx| {
            let Some(blind) = tx
                .query_opt(
                    "SELECT blind FROM tessera.projects WHERE name = $1",
                    &[&name],
                )?
                .map(|r| r.get(0))
            else {
                return Ok(None);
            };
            let slides = tx
                .query(
                    "SELECT slide FROM tessera.project_slides WHERE project = $1
                     ORDER BY slide COLLATE \"C\"",
                    &[&name],
                )?
                .iter()
                .map(|r| r.get(0))
                .collect();
            Ok(Some(ProjectRow { blind, slides }))
        })
    }

    fn set_blind(&self, name: &str, blind: bool) -> StoreResult<()> {
        self.client().execute(
            "UPDATE tessera.projects SET blind = $2 WHERE name = $1",
            &[&name, &blind],
        )?;
        Ok(())
    }

    fn add_slide(&self, project: &str, slide: &str) -> StoreResult<()> {
        self.client().execute(
            "INSERT INTO tessera.project_slides (slide, project) VALUES ($1, $2)
             ON CONFLICT (slide) DO UPDATE SET project = excluded.project",
            &[&slide, &project],
        )?;
        Ok(())
    }

    fn set_schema(&self, project: &str, classes: &[ClassSpec], author: &str) -> StoreResult<u32> {
        let body = serde_json::to_string(classes).unwrap_or_else(|_| "[]".into());
        self.in_transaction(|tx| {
            // Two servers setting a schema at once must not pick the same version.
            tx.execute(
                "SELECT 1 FROM tessera.projects WHERE name = $1 FOR UPDATE",
                &[&project],
            )?;
            let version: i32 = tx
                .query_one(
                    "SELECT coalesce(max(version), 0) + 1 FROM tessera.schemas
                     WHERE project = $1",
                    &[&project],
                )?
                .get(0);
            tx.execute(
                "INSERT INTO tessera.schemas (project, version, body, author, at)
                 VALUES ($1, $2, $3, $4, $5)",
                &[&project, &version, &body, &author, &now_ms()],
            )?;
            Ok(u32::try_from(version).unwrap_or_default())
        })
    }

    fn schema_history(&self, project: &str) -> StoreResult<Vec<Schema>> {
        Ok(self
            .client()
            .query(
                "SELECT version, body, author, at FROM tessera.schemas WHERE project = $1
                 ORDER BY version",
                &[&project],
            )?
            .iter()
            .map(|r| {
                let version: i32 = r.get(0);
                let body: &str = r.get(1);
                Schema {
                    project: project.to_string(),
                    version: u32::try_from(version).unwrap_or_default(),
                    classes: serde_json::from_str(body).unwrap_or_default(),
                    author: r.get(2),
                    at_ms: r.get(3),
                }
            })
            .collect())
    }

    fn assignments(&self) -> StoreResult<Vec<AssignmentRow>> {
        Ok(self
            .client()
            .query(
                "SELECT slide, user_name, role, project, assigned_by, assigned_at, done_at
                 FROM tessera.assignments
                 ORDER BY slide COLLATE \"C\", role COLLATE \"C\", user_name COLLATE \"C\"",
                &[],
            )?
            .iter()
            .map(|r| AssignmentRow {
                slide: r.get(0),
                user: r.get(1),
                role: r.get(2),
                project: r.get(3),
                assigned_by: r.get(4),
                assigned_at: r.get(5),
                done_at: r.get(6),
            })
            .collect())
    }

    fn assign(
        &self,
        project: &str,
        slides: &[String],
        annotators: &[String],
        reviewer: Option<&str>,
        by: &str,
    ) -> StoreResult<usize> {
        self.in_transaction(|tx| {
            let at = now_ms();
            let mut added = 0;
            for slide in slides {
                // One assigner of a slide at a time, on every server.
                tx.execute(
                    "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                    &[&format!("assign {slide}")],
                )?;
                for user in annotators {
                    let n = tx.execute(
                        "INSERT INTO tessera.assignments
                             (slide, user_name, role, project, assigned_by, assigned_at)
                         VALUES ($1, $2, 'annotator', $3, $4, $5) ON CONFLICT DO NOTHING",
                        &[slide, user, &project, &by, &at],
                    )?;
                    if n > 0 {
                        event(tx, [project, slide, user, "annotator", "assigned", by], at)?;
                        added += 1;
                    }
                }
                let Some(user) = reviewer else { continue };
                let before: Vec<String> = tx
                    .query(
                        "SELECT user_name FROM tessera.assignments
                         WHERE slide = $1 AND role = 'reviewer'",
                        &[slide],
                    )?
                    .iter()
                    .map(|r| r.get(0))
                    .collect();
                if before.iter().any(|u| u == user) {
                    continue;
                }
                for old in &before {
                    event(tx, [project, slide, old, "reviewer", "unassigned", by], at)?;
                }
                tx.execute(
                    "DELETE FROM tessera.assignments WHERE slide = $1 AND role = 'reviewer'",
                    &[slide],
                )?;
                tx.execute(
                    "INSERT INTO tessera.assignments
                         (slide, user_name, role, project, assigned_by, assigned_at)
                     VALUES ($1, $2, 'reviewer', $3, $4, $5)",
                    &[slide, &user, &project, &by, &at],
                )?;
                event(tx, [project, slide, user, "reviewer", "assigned", by], at)?;
                added += 1;
            }
            Ok(added)
        })
    }

    fn mark_done(&self, slide: &str, user: &str) -> StoreResult<bool> {
        self.in_transaction(|tx| {
            let at = now_ms();
            let Some(project) = tx
                .query_opt(
                    "UPDATE tessera.assignments SET done_at = $3, done_by = $2
                     WHERE slide = $1 AND user_name = $2 AND role = 'annotator'
                     RETURNING project",
                    &[&slide, &user, &at],
                )?
                .map(|r| r.get::<_, String>(0))
            else {
                return Ok(false);
            };
            event(tx, [&project, slide, user, "annotator", "done", user], at)?;
            Ok(true)
        })
    }

    fn assignment_events(&self, project: &str) -> StoreResult<Vec<EventRow>> {
        Ok(self
            .client()
            .query(
                "SELECT slide, user_name, role, event, by_user, at
                 FROM tessera.assignment_events WHERE project = $1 ORDER BY at, id",
                &[&project],
            )?
            .iter()
            .map(|r| EventRow {
                slide: r.get(0),
                user: r.get(1),
                role: r.get(2),
                event: r.get(3),
                by: r.get(4),
                at: r.get(5),
            })
            .collect())
    }

    fn add_session(
        &self,
        hash: &str,
        user: &str,
        opened_ms: i64,
        expires_ms: i64,
    ) -> StoreResult<()> {
        self.in_transaction(|tx| {
            tx.execute(
                "DELETE FROM tessera.sessions WHERE expires < $1",
                &[&opened_ms],
            )?;
            tx.execute(
                "INSERT INTO tessera.sessions (hash, user_name, opened, expires)
                 VALUES ($1, $2, $3, $4)",
                &[&hash, &user, &opened_ms, &expires_ms],
            )?;
            Ok(())
        })
    }

    fn session(&self, hash: &str) -> StoreResult<Option<SessionRow>> {
        Ok(self
            .client()
            .query_opt(
                "SELECT user_name, opened, expires FROM tessera.sessions WHERE hash = $1",
                &[&hash],
            )?
            .map(|r| SessionRow {
                user: r.get(0),
                opened_ms: r.get(1),
                expires_ms: r.get(2),
            }))
    }

    fn end_session(&self, hash: &str) -> StoreResult<()> {
        self.client()
            .execute("DELETE FROM tessera.sessions WHERE hash = $1", &[&hash])?;
        Ok(())
    }
}
