//! Who may do what: users with hashed API tokens, roles per project, browser sessions,
//! projects that group slides, and each project's versioned label schema. Knows nothing
//! of HTTP.
//!
//! - Roles are ordered: `viewer` (read) < `annotator` (create and edit their own
//!   annotations and model pre-labels) < `reviewer` (review others' work) < `admin`
//!   (schemas, projects, imports). A grant with no project applies to every project; a
//!   caller's role on a slide is the highest of that and the grant in the slide's project.
//! - With no user in `access.db` the server is single-user: every request acts as
//!   `local`, an admin, and the server only listens on loopback.
//! - Tokens are 256-bit random strings (from the OS generator) shown once; only their
//!   SHA-256 is stored.
//! - The in-memory [`Directory`] is reloaded whenever another process (the CLI) changed
//!   `access.db`, so a revoked token stops working at the next request.

mod assign;
pub mod store;

pub use assign::{
    Annotator, AssignState, SlideAssignment, StatusCounts, check as check_assignment,
};

use crate::annotations::Engine;
use crate::annotations::geojson::parse::ClassRule;
use crate::annotations::store::StoreResult;
use crate::location::StoreLocation;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};
use store::AccessRows;

/// How long a browser session lasts.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// How long a server trusts a session it knows before asking the store again, so that a
/// sign-out through another server ends it here too.
const SESSION_RECHECK: Duration = Duration::from_secs(1);

/// The name every request acts as when no user is configured.
pub const SINGLE_USER: &str = "local";

/// A role in a project, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Annotator,
    Reviewer,
    Admin,
}

impl Role {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Annotator => "annotator",
            Self::Reviewer => "reviewer",
            Self::Admin => "admin",
        }
    }

    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "viewer" => Some(Self::Viewer),
            "annotator" => Some(Self::Annotator),
            "reviewer" => Some(Self::Reviewer),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }
}

/// One class of a label schema.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassSpec {
    pub name: String,
    /// `#rrggbb`.
    pub color: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// What the class means and how to decide its edge cases.
    #[serde(default)]
    pub guideline: String,
}

impl ClassSpec {
    /// The colour as RGB, if it is `#rrggbb`.
    #[must_use]
    pub fn rgb(&self) -> Option<[u8; 3]> {
        let hex = self.color.strip_prefix('#')?;
        if hex.len() != 6 {
            return None;
        }
        let byte = |i: usize| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok();
        Some([byte(0)?, byte(2)?, byte(4)?])
    }
}

/// One version of a project's label schema.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Schema {
    pub project: String,
    pub version: u32,
    pub classes: Vec<ClassSpec>,
    pub author: String,
    pub at_ms: i64,
}

/// Reads a schema file: `{"classes": [...]}` or a bare array of classes. Every class
/// needs a unique name and a `#rrggbb` colour.
pub fn parse_schema(text: &str, origin: &str) -> Result<Vec<ClassSpec>, String> {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum File {
        Wrapped { classes: Vec<ClassSpec> },
        Bare(Vec<ClassSpec>),
    }
    let classes = match serde_json::from_str::<File>(text) {
        Ok(File::Wrapped { classes } | File::Bare(classes)) => classes,
        Err(e) => {
            return Err(format!(
                "{origin}: line {}, column {}: not a label schema ({{\"classes\": [{{\"name\", \"color\": \"#rrggbb\", \"code\"?, \"guideline\"?}}]}}): {e}",
                e.line(),
                e.column()
            ));
        }
    };
    if classes.is_empty() {
        return Err(format!("{origin}: the schema lists no class"));
    }
    let mut seen = HashSet::new();
    for (i, c) in classes.iter().enumerate() {
        if c.name.trim().is_empty() {
            return Err(format!("{origin}: class {i} has no name"));
        }
        if !seen.insert(c.name.as_str()) {
            return Err(format!("{origin}: class {:?} is listed twice", c.name));
        }
        if c.rgb().is_none() {
            return Err(format!(
                "{origin}: class {:?}: colour {:?} is not #rrggbb",
                c.name, c.color
            ));
        }
    }
    Ok(classes)
}

/// A project as the server knows it.
#[derive(Debug, Clone)]
pub struct Project {
    pub name: String,
    pub blind: bool,
    pub schema: Option<Arc<Schema>>,
}

#[derive(Debug, Clone)]
struct User {
    revoked: bool,
    /// Sessions opened at or before this time (ms) have ended.
    sessions_after: i64,
    /// project (`""` = every project) → role.
    grants: HashMap<String, Role>,
}

/// A snapshot of `access.db`.
#[derive(Debug, Default)]
pub struct Directory {
    users: HashMap<String, User>,
    /// SHA-256 (hex) of a token → user.
    tokens: HashMap<String, String>,
    slide_project: HashMap<String, String>,
    projects: HashMap<String, Project>,
    /// slide → who works on it, in the project the slide is in now.
    assignments: HashMap<String, SlideAssignment>,
}

impl Directory {
    fn load(conn: &dyn AccessRows) -> StoreResult<Self> {
        let mut d = Self::default();
        let rows = conn.directory_rows()?;
        for (name, revoked, sessions_after) in rows.users {
            d.users.insert(
                name,
                User {
                    revoked,
                    sessions_after,
                    grants: HashMap::new(),
                },
            );
        }
        for (user, project, role) in rows.grants {
            if let (Some(u), Some(role)) = (d.users.get_mut(&user), Role::parse(&role)) {
                u.grants.insert(project, role);
            }
        }
        d.tokens.extend(rows.tokens);
        d.slide_project.extend(rows.project_slides);
        let projects = rows.projects;
        for (name, blind) in projects {
            let schema = conn.schema_history(&name)?.pop().map(Arc::new);
            d.projects.insert(
                name.clone(),
                Project {
                    name,
                    blind,
                    schema,
                },
            );
        }
        for row in conn.assignments()? {
            // An assignment made in the project a slide has since left is kept, unused.
            if d.slide_project.get(&row.slide) != Some(&row.project) {
                continue;
            }
            let a = d
                .assignments
                .entry(row.slide)
                .or_insert_with(|| SlideAssignment {
                    project: row.project,
                    ..SlideAssignment::default()
                });
            if row.role == "reviewer" {
                a.reviewer = Some(row.user);
            } else {
                a.annotators.push(Annotator {
                    user: row.user,
                    assigned_at: row.assigned_at,
                    done_at: row.done_at,
                });
            }
        }
        Ok(d)
    }

    /// Reads a snapshot from a connection (the CLI checks assignments against it).
    pub fn read(conn: &dyn AccessRows) -> StoreResult<Self> {
        Self::load(conn)
    }

    /// Who works on a slide, if anyone was assigned to it in its project.
    #[must_use]
    pub fn assignment(&self, slide: &str) -> Option<&SlideAssignment> {
        self.assignments.get(slide)
    }

    /// The name of every user, active or revoked, by name.
    #[must_use]
    pub fn user_names(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.users.keys().map(String::as_str).collect();
        v.sort_unstable();
        v
    }

    /// Whether any user is configured (otherwise the server is single-user).
    #[must_use]
    pub fn has_users(&self) -> bool {
        !self.users.is_empty()
    }

    /// The project a slide belongs to.
    #[must_use]
    pub fn project_of(&self, slide: &str) -> Option<&Project> {
        self.projects.get(self.slide_project.get(slide)?)
    }

    /// Every project, by name.
    #[must_use]
    pub fn projects(&self) -> Vec<&Project> {
        let mut v: Vec<_> = self.projects.values().collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    #[must_use]
    pub fn project(&self, name: &str) -> Option<&Project> {
        self.projects.get(name)
    }

    /// The slides of a project.
    #[must_use]
    pub fn slides_of(&self, project: &str) -> Vec<String> {
        let mut v: Vec<_> = self
            .slide_project
            .iter()
            .filter(|(_, p)| *p == project)
            .map(|(s, _)| s.clone())
            .collect();
        v.sort();
        v
    }

    /// The caller a token stands for, if it is valid.
    fn caller_of_token(&self, token: &str) -> Option<Caller> {
        let user = self.tokens.get(&token_hash(token))?;
        self.caller_named(user)
    }

    /// The caller of a browser session opened at `opened_ms`, unless the user was
    /// revoked since.
    fn caller_of_session(&self, name: &str, opened_ms: i64) -> Option<Caller> {
        let u = self.users.get(name)?;
        (opened_ms > u.sessions_after)
            .then(|| self.caller_named(name))
            .flatten()
    }

    fn caller_named(&self, name: &str) -> Option<Caller> {
        let u = self.users.get(name).filter(|u| !u.revoked)?;
        Some(Caller {
            name: name.to_string(),
            grants: Arc::new(u.grants.clone()),
        })
    }

    /// The caller's role on a slide: the highest of their global grant and their grant
    /// in the slide's project.
    #[must_use]
    pub fn role_on_slide(&self, caller: &Caller, slide: &str) -> Option<Role> {
        caller.role_in(self.slide_project.get(slide).map(String::as_str))
    }

    /// The name whose work alone the caller may see on this slide, when its project is
    /// blind and the caller reviews nothing there.
    #[must_use]
    pub fn blind_for(&self, caller: &Caller, slide: &str) -> Option<String> {
        let project = self.project_of(slide)?;
        let role = self.role_on_slide(caller, slide)?;
        (project.blind && role < Role::Reviewer).then(|| caller.name.clone())
    }
}

/// Who is asking, with the roles they hold.
#[derive(Debug, Clone)]
pub struct Caller {
    pub name: String,
    grants: Arc<HashMap<String, Role>>,
}

impl Caller {
    /// The single user of a server without accounts: an admin everywhere.
    #[must_use]
    pub fn single_user() -> Self {
        static SINGLE: std::sync::OnceLock<Caller> = std::sync::OnceLock::new();
        SINGLE
            .get_or_init(|| Self {
                name: SINGLE_USER.to_string(),
                grants: Arc::new(HashMap::from([(String::new(), Role::Admin)])),
            })
            .clone()
    }

    /// The single user under another name (the `X-Tessera-User` header of a server
    /// without accounts labels authorship; it grants nothing more).
    #[must_use]
    pub fn single_user_named(name: &str) -> Self {
        Self {
            name: name.to_string(),
            ..Self::single_user()
        }
    }

    /// The caller's role in a project (`None`: a slide outside every project).
    #[must_use]
    pub fn role_in(&self, project: Option<&str>) -> Option<Role> {
        let global = self.grants.get("").copied();
        let local = project.and_then(|p| self.grants.get(p).copied());
        global.max(local)
    }

    /// The highest role the caller holds anywhere.
    #[must_use]
    pub fn highest_role(&self) -> Option<Role> {
        self.grants.values().copied().max()
    }

    /// The caller's grants, as (project, role); an empty project is every project.
    #[must_use]
    pub fn grants(&self) -> Vec<(String, Role)> {
        let mut v: Vec<_> = self.grants.iter().map(|(p, r)| (p.clone(), *r)).collect();
        v.sort();
        v
    }
}

/// SHA-256 of a token, hex.
#[must_use]
pub fn token_hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// A new random secret: 64 hex digits (256 random bits from the operating system's
/// generator), with a prefix that says what it is.
///
/// ```
/// let s = server::access::new_secret("tsr_");
/// assert!(s.starts_with("tsr_") && s.len() == 4 + 64);
/// assert_ne!(s, server::access::new_secret("tsr_"));
/// ```
#[must_use]
pub fn new_secret(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    // The OS generator fails only where nothing could run safely (no /dev/urandom,
    // no getrandom(2)): refuse to make a guessable secret.
    getrandom::fill(&mut bytes).expect("the operating system's random generator");
    let mut s = String::with_capacity(prefix.len() + 64);
    s.push_str(prefix);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Why a request was not let in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// No valid credentials (401).
    Unauthenticated(String),
}

/// A browser session, as this server last saw it in the store.
#[derive(Debug, Clone)]
struct Session {
    user: String,
    /// When it was opened (ms since the epoch), to end it at a later revocation.
    opened_ms: i64,
    expires_ms: i64,
    /// When the store last vouched for it; `None`: the store could not keep it (a
    /// read-only data directory), so it lives in this server alone.
    checked: Option<Instant>,
}

/// The access service the server holds: the snapshot, kept fresh, and browser sessions.
#[derive(Debug)]
pub struct Access {
    conn: Mutex<Box<dyn AccessRows>>,
    directory: RwLock<(i64, Arc<Directory>)>,
    /// SHA-256 of a session id → the session (the store has them all; these are the
    /// ones this server saw lately).
    sessions: Mutex<HashMap<String, Session>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Access {
    /// Opens `DIR/access.db` (creating it empty: single-user until a user is added; on a
    /// read-only data directory without one, an empty one in memory).
    pub fn open(dir: &Path) -> StoreResult<Self> {
        Self::open_at(&StoreLocation::Directory(dir.to_path_buf()))
    }

    /// Opens the access store at `location` (see [`Access::open`] for a directory).
    pub fn open_at(location: &StoreLocation) -> StoreResult<Self> {
        let conn = store::open_for_reading_at(location)?;
        let version = conn.data_version()?;
        let directory = Directory::load(&*conn)?;
        Ok(Self {
            conn: Mutex::new(conn),
            directory: RwLock::new((version, Arc::new(directory))),
            sessions: Mutex::new(HashMap::new()),
        })
    }

    /// The current snapshot, reloaded first if another process changed the store.
    pub fn directory(&self) -> Arc<Directory> {
        self.on_conn(|conn| self.fresh_directory(conn))
    }

    /// Runs `f` on the store's connection; a database's off the async runtime's threads.
    fn on_conn<T>(&self, f: impl FnOnce(&dyn AccessRows) -> T) -> T {
        let conn = lock(&self.conn);
        if conn.is_remote() {
            crate::annotations::store::postgres::outside_async(|| f(&**conn))
        } else {
            f(&**conn)
        }
    }

    /// The snapshot, reloaded from `conn` if the store moved on.
    fn fresh_directory(&self, conn: &dyn AccessRows) -> Arc<Directory> {
        let current = conn.data_version().ok();
        let (version, directory) = {
            let d = self
                .directory
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            (d.0, Arc::clone(&d.1))
        };
        match current {
            Some(v) if v != version => match Directory::load(conn) {
                Ok(fresh) => {
                    let fresh = Arc::new(fresh);
                    *self
                        .directory
                        .write()
                        .unwrap_or_else(std::sync::PoisonError::into_inner) =
                        (v, Arc::clone(&fresh));
                    fresh
                }
                Err(e) => {
                    tracing::error!("access.db could not be reloaded: {e}");
                    directory
                }
            },
            _ => directory,
        }
    }

    /// Runs a read on the store the server was opened on (what the snapshot does not
    /// hold: schema history, assignment events).
    pub fn read<T>(&self, f: impl FnOnce(&dyn AccessRows) -> StoreResult<T>) -> StoreResult<T> {
        self.on_conn(f)
    }

    /// Runs a change on the store and reloads the snapshot.
    pub fn change<T>(&self, f: impl FnOnce(&dyn AccessRows) -> StoreResult<T>) -> StoreResult<T> {
        self.on_conn(|conn| self.change_on(conn, f))
    }

    fn change_on<T>(
        &self,
        conn: &dyn AccessRows,
        f: impl FnOnce(&dyn AccessRows) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let out = f(conn)?;
        let version = conn.data_version()?;
        let fresh = Directory::load(conn)?;
        *self
            .directory
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = (version, Arc::new(fresh));
        Ok(out)
    }

    /// Who a bearer token or a session id stands for, in `directory` (a snapshot from
    /// [`Access::directory`]); with no users configured, the single user.
    pub fn authenticate(
        &self,
        directory: &Directory,
        bearer: Option<&str>,
        session: Option<&str>,
    ) -> Result<Caller, Denied> {
        if !directory.has_users() {
            return Ok(Caller::single_user());
        }
        if let Some(token) = bearer {
            return directory.caller_of_token(token).ok_or_else(|| {
                Denied::Unauthenticated("the token is not valid (unknown or revoked)".into())
            });
        }
        if let Some(sid) = session {
            return self
                .session(&token_hash(sid))
                .and_then(|s| directory.caller_of_session(&s.user, s.opened_ms))
                .ok_or_else(|| {
                    Denied::Unauthenticated("the session has ended; sign in again".into())
                });
        }
        Err(Denied::Unauthenticated(
            "sign in: send Authorization: Bearer <token>".into(),
        ))
    }

    /// Opens a browser session for a valid token; returns the session id for the cookie.
    pub fn open_session(&self, token: &str) -> Result<(String, Caller), Denied> {
        let directory = self.directory();
        let caller = directory.caller_of_token(token).ok_or_else(|| {
            Denied::Unauthenticated("the token is not valid (unknown or revoked)".into())
        })?;
        let sid = new_secret("tss_");
        let key = token_hash(&sid);
        let opened_ms = crate::annotations::model::now_ms();
        let expires_ms = opened_ms + i64::try_from(SESSION_LIFETIME.as_millis()).unwrap_or(0);
        let kept = self.on_conn(|c| c.add_session(&key, &caller.name, opened_ms, expires_ms));
        if let Err(e) = &kept {
            tracing::warn!("the session is kept by this server alone: {e}");
        }
        let mut sessions = lock(&self.sessions);
        sessions.retain(|_, s| s.expires_ms > opened_ms);
        sessions.insert(
            key,
            Session {
                user: caller.name.clone(),
                opened_ms,
                expires_ms,
                checked: kept.is_ok().then(Instant::now),
            },
        );
        Ok((sid, caller))
    }

    /// The live session of that id hash: from memory when the store vouched for it
    /// within [`SESSION_RECHECK`], else from the store.
    fn session(&self, key: &str) -> Option<Session> {
        let now_ms = crate::annotations::model::now_ms();
        if let Some(s) = lock(&self.sessions).get(key) {
            let trusted = s.checked.is_none_or(|at| at.elapsed() < SESSION_RECHECK);
            if trusted {
                return (s.expires_ms > now_ms).then(|| s.clone());
            }
        }
        let stored = match self.on_conn(|c| c.session(key)) {
            Ok(found) => found,
            Err(e) => {
                tracing::error!("sessions could not be read: {e}");
                None
            }
        };
        let mut sessions = lock(&self.sessions);
        match stored {
            Some(row) if row.expires_ms > now_ms => {
                let session = Session {
                    user: row.user,
                    opened_ms: row.opened_ms,
                    expires_ms: row.expires_ms,
                    checked: Some(Instant::now()),
                };
                sessions.insert(key.to_string(), session.clone());
                Some(session)
            }
            _ => {
                sessions.remove(key);
                None
            }
        }
    }

    /// Ends a browser session, on every server of the store.
    pub fn close_session(&self, sid: &str) {
        let key = token_hash(sid);
        if let Err(e) = self.on_conn(|c| c.end_session(&key)) {
            tracing::error!("a session could not be ended in the store: {e}");
        }
        lock(&self.sessions).remove(&key);
    }
}

/// The classes a slide accepts: its project's latest schema, each class with its colour.
#[must_use]
pub fn class_rule(directory: &Directory, slide: &str) -> Option<Arc<ClassRule>> {
    let project = directory.project_of(slide)?;
    let schema = project.schema.as_ref()?;
    Some(Arc::new(ClassRule {
        allowed: Some(
            schema
                .classes
                .iter()
                .map(|c| (c.name.clone(), c.rgb().unwrap_or([128, 128, 128])))
                .collect(),
        ),
        map: HashMap::new(),
        origin: format!(
            "project {:?}'s label schema (version {})",
            project.name, schema.version
        ),
    }))
}

/// Makes the engine check every import and edit against the slide's project schema, as
/// `access.db` says at the time.
pub fn follow_schemas(engine: &Engine, access: &Arc<Access>) {
    let access = Arc::clone(access);
    engine.set_class_rules(Box::new(move |slide| {
        class_rule(&access.directory(), slide)
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_order_and_project_grants_combine() {
        assert!(Role::Viewer < Role::Annotator && Role::Reviewer < Role::Admin);
        let c = Caller {
            name: "a".into(),
            grants: Arc::new(HashMap::from([
                (String::new(), Role::Viewer),
                ("p".into(), Role::Reviewer),
            ])),
        };
        assert_eq!(c.role_in(Some("p")), Some(Role::Reviewer));
        assert_eq!(c.role_in(Some("q")), Some(Role::Viewer));
        assert_eq!(c.role_in(None), Some(Role::Viewer));
    }

    #[test]
    fn tokens_are_checked_by_hash_and_revocation_is_immediate() {
        let dir = tempfile::tempdir().expect("temp dir");
        let access = Access::open(dir.path()).expect("open");
        let auth = |bearer| access.authenticate(&access.directory(), bearer, None);
        assert_eq!(
            auth(None).map(|c| c.name).ok(),
            Some(SINGLE_USER.to_string())
        );
        let token = new_secret("tsr_");
        access
            .change(|c| c.add_user("ana", Role::Annotator, "", &token_hash(&token)))
            .expect("add");
        assert!(auth(None).is_err());
        assert_eq!(
            auth(Some(&token)).map(|c| c.name).ok(),
            Some("ana".to_string())
        );
        let other = store::open(dir.path()).expect("open");
        let stored = other.directory_rows().expect("rows").tokens;
        assert_eq!(stored.len(), 1);
        assert_ne!(stored[0].0, token);
        // Revoked from another connection, as the CLI does.
        assert!(other.revoke("ana").expect("revoke"));
        assert!(auth(Some(&token)).is_err());
    }

    #[test]
    fn schemas_need_names_and_colours() {
        let ok = parse_schema(
            r##"{"classes":[{"name":"Tumor","color":"#c83232","code":"T","guideline":"Malignant epithelium."}]}"##,
            "s.json",
        );
        assert_eq!(ok.map(|c| c[0].rgb()), Ok(Some([200, 50, 50])));
        assert!(parse_schema(r#"[{"name":"A","color":"red"}]"#, "s.json").is_err());
        assert!(
            parse_schema(
                r##"[{"name":"A","color":"#000000"},{"name":"A","color":"#000000"}]"##,
                "s.json"
            )
            .is_err()
        );
    }
}
