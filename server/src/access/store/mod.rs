//! The access store's boundary: users, tokens, grants, projects, schemas and assignments
//! as [`AccessRows`], with no database named above this module. Every operation is
//! atomic on its own (those that write several rows run one transaction).
//!
//! [`sqlite`] is the embedded implementation (`access.db` in the data directory),
//! [`postgres`] the one several servers share.

pub mod postgres;
pub mod sqlite;

use super::{ClassSpec, Role, Schema};
use crate::annotations::store::StoreResult;
use crate::location::StoreLocation;
use std::path::Path;

pub use sqlite::DB_FILE;

/// One user as `tessera user list` shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct UserRow {
    pub name: String,
    pub created_ms: i64,
    pub revoked: bool,
    pub tokens: i64,
    /// (project, role); an empty project means every project.
    pub grants: Vec<(String, String)>,
}

/// One assignment of a slide to a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssignmentRow {
    pub slide: String,
    pub user: String,
    /// `annotator` or `reviewer`.
    pub role: String,
    pub project: String,
    pub assigned_by: String,
    pub assigned_at: i64,
    pub done_at: Option<i64>,
}

/// One recorded assignment event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRow {
    pub slide: String,
    pub user: String,
    pub role: String,
    pub event: String,
    pub by: String,
    pub at: i64,
}

/// Everything the server's in-memory directory is built from but schemas and
/// assignments.
#[derive(Debug, Default)]
pub struct DirectoryRows {
    /// (name, revoked, sessions_after ms)
    pub users: Vec<(String, bool, i64)>,
    /// (user, project, role)
    pub grants: Vec<(String, String, String)>,
    /// (SHA-256 of a token, user)
    pub tokens: Vec<(String, String)>,
    /// (slide, project)
    pub project_slides: Vec<(String, String)>,
    /// (name, blind)
    pub projects: Vec<(String, bool)>,
}

/// A project as `tessera project show` shows it.
#[derive(Debug, Clone)]
pub struct ProjectRow {
    pub blind: bool,
    pub slides: Vec<String>,
}

/// Reads and changes of the access store.
pub trait AccessRows: Send + std::fmt::Debug {
    /// Whether calls go over the network and may not run on an async runtime's thread
    /// (see [`crate::annotations::store::postgres::outside_async`]).
    fn is_remote(&self) -> bool {
        false
    }
    /// A number that changes whenever another connection (or process) commits.
    fn data_version(&self) -> StoreResult<i64>;
    fn directory_rows(&self) -> StoreResult<DirectoryRows>;
    /// Whether a user of that name exists (revoked or not).
    fn user_exists(&self, name: &str) -> StoreResult<bool>;
    /// Adds a user with one grant and one token (given as its hash).
    fn add_user(&self, name: &str, role: Role, project: &str, token_hash: &str) -> StoreResult<()>;
    /// Gives a user a role in a project (`''` = every project), replacing the one it had
    /// there.
    fn grant(&self, name: &str, role: Role, project: &str) -> StoreResult<()>;
    /// A new token for an existing user; earlier tokens keep working.
    fn add_token(&self, name: &str, token_hash: &str) -> StoreResult<()>;
    /// Revokes a user: every token stops working and every browser session opened so
    /// far ends for good (a new token later does not bring them back). Returns false if
    /// there is no such user.
    fn revoke(&self, name: &str) -> StoreResult<bool>;
    /// Every user, by name.
    fn users(&self) -> StoreResult<Vec<UserRow>>;
    /// Creates a project. Returns false if it already exists.
    fn add_project(&self, name: &str, blind: bool) -> StoreResult<bool>;
    fn project_exists(&self, name: &str) -> StoreResult<bool>;
    /// A project's blind mode and slides (sorted), if it exists.
    fn project(&self, name: &str) -> StoreResult<Option<ProjectRow>>;
    /// Switches a project's blind mode.
    fn set_blind(&self, name: &str, blind: bool) -> StoreResult<()>;
    /// Puts a slide in a project (moving it out of any other).
    fn add_slide(&self, project: &str, slide: &str) -> StoreResult<()>;
    /// Stores a new version of a project's schema and returns its number.
    fn set_schema(&self, project: &str, classes: &[ClassSpec], author: &str) -> StoreResult<u32>;
    /// Every version of a project's schema, oldest first.
    fn schema_history(&self, project: &str) -> StoreResult<Vec<Schema>>;
    /// Every assignment.
    fn assignments(&self) -> StoreResult<Vec<AssignmentRow>>;
    /// Assigns `slides` of `project` to `annotators` (added to those a slide has) and to
    /// `reviewer` (replacing the slide's reviewer), recorded under `by`. The caller has
    /// checked names, roles and that the slides are in the project. Returns how many
    /// assignments are new.
    fn assign(
        &self,
        project: &str,
        slides: &[String],
        annotators: &[String],
        reviewer: Option<&str>,
        by: &str,
    ) -> StoreResult<usize>;
    /// Marks `user`'s assignment to annotate `slide` done (again: the time moves on).
    /// Returns false if there is no such assignment.
    fn mark_done(&self, slide: &str, user: &str) -> StoreResult<bool>;
    /// Every assignment event of a project, oldest first.
    fn assignment_events(&self, project: &str) -> StoreResult<Vec<EventRow>>;
    /// Keeps a browser session (by the hash of its id) for every server on the store,
    /// and forgets the sessions that expired before `opened_ms`.
    fn add_session(
        &self,
        hash: &str,
        user: &str,
        opened_ms: i64,
        expires_ms: i64,
    ) -> StoreResult<()>;
    /// A session's user, opening and expiry (ms since the epoch), if it was not ended.
    fn session(&self, hash: &str) -> StoreResult<Option<SessionRow>>;
    /// Ends a session (signing out).
    fn end_session(&self, hash: &str) -> StoreResult<()>;
}

/// A browser session as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    pub user: String,
    pub opened_ms: i64,
    pub expires_ms: i64,
}

/// Opens (creating if needed) the access store of a data directory; on a read-only file
/// system, an existing store read-only, where changes fail as read-only.
pub fn open(dir: &Path) -> StoreResult<Box<dyn AccessRows>> {
    Ok(Box::new(sqlite::open(dir)?))
}

/// For reading only: the access store of `dir`, or, when there is none and none can be
/// created (a read-only data directory), an empty one in memory: no users, no projects.
pub fn open_for_reading(dir: &Path) -> StoreResult<Box<dyn AccessRows>> {
    Ok(Box::new(sqlite::open_for_reading(dir)?))
}

/// Opens (creating or updating if needed) the access store at `location`.
pub fn open_at(location: &StoreLocation) -> StoreResult<Box<dyn AccessRows>> {
    match location {
        StoreLocation::Directory(dir) => open(dir),
        StoreLocation::Database(url) => Ok(Box::new(postgres::open(url)?)),
    }
}

/// For reading only: as [`open_for_reading`] for a directory.
pub fn open_for_reading_at(location: &StoreLocation) -> StoreResult<Box<dyn AccessRows>> {
    match location {
        StoreLocation::Directory(dir) => open_for_reading(dir),
        StoreLocation::Database(url) => Ok(Box::new(postgres::open(url)?)),
    }
}
