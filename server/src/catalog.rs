//! The slide browser's catalogue: every servable slide with what the list shows, filters
//! and sorts on (size, project, assignment, the state of each annotator's work, counts of
//! annotations by status, last change), answered from memory so that a page of 10,000
//! slides costs a scan of an in-memory table, not 10,000 file and database reads.
//!
//! - Slide files: the directory is listed and each cache looked at (`SlideStore::list`)
//!   at most once a second, on a thread of its own while requests read the previous
//!   list (the first request waits for the first list).
//! - Annotations: per slide, counts by author and status and the last change's time, read
//!   from `annotations.db` when the slide's generation moved; whether anything moved is one
//!   `PRAGMA data_version` per request, so a list is never staler than the last commit.
//! - Assignments and roles come from the access [`Directory`] snapshot of the request.
//!
//! Blind mode applies as for annotations: a caller below reviewer in a blind project sees
//! only their own assignment on a slide (not who else annotates it) and counts of their
//! own annotations and of reviewed work only.
//!
//! Knows nothing of HTTP; `http::browse` turns its answers into JSON.

use crate::access::{AssignState, Caller, Directory, Role, SlideAssignment, StatusCounts};
use crate::annotations::Status;
use crate::annotations::store::{self, Reads, StoreResult};
use crate::location::StoreLocation;
use crate::store::SlideStore;
use std::collections::HashMap;
use std::ops::Deref;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

/// How often the list of slide files is read again.
const RELIST_AFTER: Duration = Duration::from_secs(1);

/// The most rows one page holds (`limit=`).
pub const MAX_LIMIT: usize = 1000;

/// Rows in a page when `limit=` is not given.
pub const DEFAULT_LIMIT: usize = 100;

/// One slide file as the list shows it.
#[derive(Debug, Clone)]
pub struct SlideFile {
    pub id: String,
    pub width: u32,
    pub height: u32,
    pub bytes: u64,
    pub mpp_x: Option<f64>,
}

/// A slide's annotations: counts by author and status, and its last change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Activity {
    /// By author name.
    pub by_author: Vec<(String, StatusCounts)>,
    pub last_change_ms: Option<i64>,
}

impl Activity {
    /// The counts of one author (zeros when they have none).
    #[must_use]
    pub fn of(&self, author: &str) -> StatusCounts {
        self.by_author
            .iter()
            .find(|(a, _)| a == author)
            .map_or([0; 5], |(_, c)| *c)
    }

    /// Counts over every author, or, for a blind caller `me`, over their own work and
    /// everyone's reviewed work.
    #[must_use]
    pub fn visible(&self, blind_for: Option<&str>) -> StatusCounts {
        let mut sum = [0; 5];
        for (author, c) in &self.by_author {
            let own = blind_for.is_none_or(|me| me == author);
            for (i, n) in c.iter().enumerate() {
                if own || i >= 2 {
                    sum[i] += n;
                }
            }
        }
        sum
    }
}

fn status_index(s: &str) -> Option<usize> {
    Status::ALL.iter().position(|v| v.as_str() == s)
}

struct ActivityCache {
    conn: Option<Box<dyn Deref<Target = dyn Reads> + Send>>,
    data_version: Option<i64>,
    /// slide → (generation, activity)
    slides: HashMap<String, (i64, Arc<Activity>)>,
    /// The same without generations, shared by requests until something changes.
    view: Arc<HashMap<String, Arc<Activity>>>,
}

/// The activity of a slide nothing was ever written to.
static NO_ACTIVITY: Activity = Activity {
    by_author: Vec::new(),
    last_change_ms: None,
};

/// The catalogue of a data directory.
pub struct Catalog {
    store: Arc<SlideStore>,
    /// Where the annotations whose activity rows show live.
    location: StoreLocation,
    files: RwLock<Option<(Instant, Arc<Vec<SlideFile>>)>>,
    relisting: AtomicBool,
    activity: Mutex<ActivityCache>,
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalog")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What every row of a list needs, read once per request.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub files: Arc<Vec<SlideFile>>,
    pub activity: Arc<HashMap<String, Arc<Activity>>>,
}

impl Snapshot {
    #[must_use]
    pub fn activity_of(&self, slide: &str) -> &Activity {
        self.activity.get(slide).map_or(&NO_ACTIVITY, |a| a)
    }
}

impl Catalog {
    /// The catalogue of the slides in `store` and the annotations at `location`.
    #[must_use]
    pub fn new(store: Arc<SlideStore>, location: StoreLocation) -> Self {
        Self {
            location,
            store,
            files: RwLock::new(None),
            relisting: AtomicBool::new(false),
            activity: Mutex::new(ActivityCache {
                conn: None,
                data_version: None,
                slides: HashMap::new(),
                view: Arc::default(),
            }),
        }
    }

    fn list_files(&self) -> Arc<Vec<SlideFile>> {
        let files: Vec<SlideFile> = self
            .store
            .list()
            .iter()
            .map(|s| {
                let m = s.cache.metadata();
                SlideFile {
                    id: s.id.clone(),
                    width: m.width,
                    height: m.height,
                    bytes: s.cache.file_bytes(),
                    mpp_x: m.mpp_x,
                }
            })
            .collect();
        let files = Arc::new(files);
        *self
            .files
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some((Instant::now(), Arc::clone(&files)));
        files
    }

    /// The slide files: the last list, read again in the background when it is older than
    /// [`RELIST_AFTER`]; the first call lists them itself. Blocking.
    /// Where the annotations and access records live.
    #[must_use]
    pub fn location(&self) -> &StoreLocation {
        &self.location
    }

    pub fn files(self: &Arc<Self>) -> Arc<Vec<SlideFile>> {
        let current = self
            .files
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        match current {
            None => self.list_files(),
            Some((at, files)) => {
                if at.elapsed() >= RELIST_AFTER && !self.relisting.swap(true, Ordering::AcqRel) {
                    let me = Arc::clone(self);
                    std::thread::spawn(move || {
                        me.list_files();
                        me.relisting.store(false, Ordering::Release);
                    });
                }
                files
            }
        }
    }

    /// Every written slide's activity, brought up to date with the store. Blocking.
    pub fn activity(&self) -> Arc<HashMap<String, Arc<Activity>>> {
        let mut cache = lock(&self.activity);
        if let Err(e) = refresh(&mut cache, &self.location) {
            tracing::warn!(store = %self.location.describe(), "annotation counts for the slide list: {e}");
            cache.conn = None;
            cache.data_version = None;
        }
        Arc::clone(&cache.view)
    }

    /// One slide's activity, up to date. Blocking.
    pub fn activity_of(&self, slide: &str) -> Arc<Activity> {
        let mut cache = lock(&self.activity);
        if let Err(e) = refresh(&mut cache, &self.location) {
            tracing::warn!(store = %self.location.describe(), "annotation counts: {e}");
            cache.conn = None;
            cache.data_version = None;
        }
        cache
            .slides
            .get(slide)
            .map(|(_, a)| Arc::clone(a))
            .unwrap_or_default()
    }

    /// Files and activity for one request. Blocking.
    pub fn snapshot(self: &Arc<Self>) -> Snapshot {
        Snapshot {
            files: self.files(),
            activity: self.activity(),
        }
    }
}

/// Reads the activity of every slide whose generation moved since the last look; nothing
/// when SQLite's `data_version` says no other connection committed.
fn refresh(cache: &mut ActivityCache, location: &StoreLocation) -> StoreResult<()> {
    if cache.conn.is_none() {
        cache.conn = store::open_reader_at(location)?;
    }
    let Some(conn) = cache.conn.as_ref() else {
        return Ok(());
    };
    let version = conn.data_version()?;
    if cache.data_version == Some(version) {
        return Ok(());
    }
    for (slide, generation) in conn.generations()? {
        if cache
            .slides
            .get(&slide)
            .is_some_and(|(g, _)| *g == generation)
        {
            continue;
        }
        let (counts, last) = conn.activity(&slide)?;
        let mut by_author: Vec<(String, StatusCounts)> = Vec::new();
        for (author, status, n) in counts {
            let Some(i) = status_index(&status) else {
                continue;
            };
            if let Some((_, c)) = by_author.iter_mut().find(|(a, _)| *a == author) {
                c[i] += n;
            } else {
                let mut c = [0; 5];
                c[i] = n;
                by_author.push((author, c));
            }
        }
        by_author.sort_by(|a, b| a.0.cmp(&b.0));
        cache.slides.insert(
            slide,
            (
                generation,
                Arc::new(Activity {
                    by_author,
                    last_change_ms: last,
                }),
            ),
        );
    }
    cache.view = Arc::new(
        cache
            .slides
            .iter()
            .map(|(k, (_, a))| (k.clone(), Arc::clone(a)))
            .collect(),
    );
    cache.data_version = Some(version);
    Ok(())
}

/// What the caller sees of a slide's assignment, and the state that goes with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// (user, state, done at) of each annotator the caller may see.
    pub annotators: Vec<(String, AssignState, Option<i64>)>,
    pub reviewer: Option<String>,
    /// The caller's own state when they annotate the slide; else the least advanced
    /// visible annotator's; `None` when nobody annotates it.
    pub state: Option<AssignState>,
    /// `annotator` or `reviewer` when the caller is assigned to the slide.
    pub mine: Option<&'static str>,
}

/// The caller's view of a slide's assignment.
#[must_use]
pub fn seen(
    assignment: Option<&SlideAssignment>,
    activity: &Activity,
    caller: &str,
    blind_for: Option<&str>,
) -> Seen {
    let Some(a) = assignment else {
        return Seen {
            annotators: Vec::new(),
            reviewer: None,
            state: None,
            mine: None,
        };
    };
    let annotators: Vec<(String, AssignState, Option<i64>)> = a
        .annotators
        .iter()
        .filter(|x| blind_for.is_none_or(|me| me == x.user))
        .map(|x| {
            let state = AssignState::of(x.done_at.is_some(), &activity.of(&x.user));
            (x.user.clone(), state, x.done_at)
        })
        .collect();
    let own = annotators.iter().find(|(u, _, _)| u == caller).map(|x| x.1);
    let state = own.or_else(|| annotators.iter().map(|x| x.1).min());
    let mine = if own.is_some() {
        Some("annotator")
    } else if a.reviewer.as_deref() == Some(caller) {
        Some("reviewer")
    } else {
        None
    };
    Seen {
        annotators,
        reviewer: a.reviewer.clone(),
        state,
        mine,
    }
}

/// What a list filters by state: a state, or no annotator at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateFilter {
    State(AssignState),
    Unassigned,
}

/// Who a list filters by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assignee {
    /// Slides this user annotates or reviews.
    User(String),
    /// Slides nobody is assigned to.
    Nobody,
}

/// What a list sorts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Name,
    Project,
    Size,
    State,
    LastChange,
    Annotations,
}

impl SortKey {
    pub const CHOICES: &'static str =
        "name, project, size, state, last_change, annotations (- first for descending)";

    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "name" => Self::Name,
            "project" => Self::Project,
            "size" => Self::Size,
            "state" => Self::State,
            "last_change" => Self::LastChange,
            "annotations" => Self::Annotations,
            _ => return None,
        })
    }
}

/// A list request, checked.
#[derive(Debug, Clone)]
pub struct ListQuery {
    /// Lower case; a slide matches when its name contains it.
    pub q: Option<String>,
    /// A project name, or `None` inside for slides outside every project.
    pub project: Option<Option<String>>,
    pub states: Option<Vec<StateFilter>>,
    pub assignee: Option<Assignee>,
    pub sort: SortKey,
    pub descending: bool,
    pub limit: usize,
    pub offset: usize,
}

/// One row of a list.
#[derive(Debug, Clone)]
pub struct Row<'a> {
    pub file: &'a SlideFile,
    pub project: Option<&'a str>,
    pub role: Role,
    pub seen: Seen,
    /// Annotations by status the caller may know of.
    pub counts: StatusCounts,
    pub last_change_ms: Option<i64>,
}

/// A page of a list.
#[derive(Debug)]
pub struct Page<'a> {
    /// Rows matching the filters, over every page.
    pub total: usize,
    pub rows: Vec<Row<'a>>,
    /// Where the next page starts, if there is one.
    pub next_offset: Option<usize>,
}

/// Every slide the caller has a role on that passes the query's filters, sorted, and the
/// page the query asks for. What only the page shows (the caller's view of the
/// assignment, counts) is worked out for the page's rows alone unless a filter or the
/// sort needs it for every slide.
#[must_use]
pub fn list<'a>(
    snapshot: &'a Snapshot,
    directory: &'a Directory,
    caller: &Caller,
    query: &ListQuery,
) -> Page<'a> {
    let row_of = |(file, project, role): Found<'a>| {
        let blind = directory.blind_for(caller, &file.id);
        let activity = snapshot.activity_of(&file.id);
        Row {
            file,
            project,
            role,
            seen: seen(
                directory.assignment(&file.id),
                activity,
                &caller.name,
                blind.as_deref(),
            ),
            counts: activity.visible(blind.as_deref()),
            last_change_ms: activity.last_change_ms,
        }
    };
    let found = snapshot.files.iter().filter_map(|file| {
        let project = directory.project_of(&file.id).map(|p| p.name.as_str());
        let role = caller.role_in(project)?;
        if let Some(q) = &query.q
            && !contains_ignoring_case(&file.id, q)
        {
            return None;
        }
        if let Some(want) = &query.project
            && want.as_deref() != project
        {
            return None;
        }
        // Someone not assigned to the slide at all cannot be seen on it.
        if let Some(Assignee::User(u)) = &query.assignee
            && !directory
                .assignment(&file.id)
                .is_some_and(|a| a.involves(u))
        {
            return None;
        }
        Some((file, project, role))
    });
    let page = |total: usize| {
        let end = query.offset.saturating_add(query.limit).min(total);
        (query.offset.min(end), end)
    };
    let per_caller = query.states.is_some()
        || query.assignee.is_some()
        || matches!(query.sort, SortKey::State | SortKey::Annotations);
    let (total, rows, end) = if per_caller {
        let mut rows: Vec<Row<'a>> = found
            .map(row_of)
            .filter(|r| passes(&r.seen, query))
            .collect();
        sort_by_place(&mut rows, query.sort, query.descending, |r| Place {
            project: r.project,
            size: area(r.file),
            state: r.seen.state,
            last_change_ms: r.last_change_ms,
            annotations: r.counts.iter().sum(),
        });
        let total = rows.len();
        let (start, end) = page(total);
        (total, rows.drain(start..end).collect(), end)
    } else {
        let mut found: Vec<Found<'a>> = found.collect();
        sort_by_place(
            &mut found,
            query.sort,
            query.descending,
            |&(file, project, _)| {
                Place {
                    project,
                    size: area(file),
                    // Sorts by state or annotations take the other branch.
                    state: None,
                    last_change_ms: snapshot.activity_of(&file.id).last_change_ms,
                    annotations: 0,
                }
            },
        );
        let total = found.len();
        let (start, end) = page(total);
        (
            total,
            found[start..end].iter().copied().map(row_of).collect(),
            end,
        )
    };
    Page {
        total,
        rows,
        next_offset: (end < total).then_some(end),
    }
}

/// A slide the caller may see that passes the filters every caller's view shares:
/// (file, project, the caller's role).
type Found<'a> = (&'a SlideFile, Option<&'a str>, Role);

fn area(file: &SlideFile) -> u64 {
    u64::from(file.width) * u64::from(file.height)
}

/// Whether `name` contains `lower` (lower case), ignoring ASCII case; ids are ASCII.
fn contains_ignoring_case(name: &str, lower: &str) -> bool {
    let (hay, needle) = (name.as_bytes(), lower.as_bytes());
    needle.is_empty()
        || hay.windows(needle.len()).any(|w| {
            w.iter()
                .zip(needle)
                .all(|(a, b)| a.to_ascii_lowercase() == *b)
        })
}

/// Whether a slide, as the caller sees it, passes the state and assignee filters.
fn passes(seen: &Seen, query: &ListQuery) -> bool {
    let nobody = seen.annotators.is_empty() && seen.reviewer.is_none();
    if let Some(states) = &query.states {
        let ok = states.iter().any(|f| match f {
            StateFilter::State(s) => seen.state == Some(*s),
            StateFilter::Unassigned => nobody,
        });
        if !ok {
            return false;
        }
    }
    match &query.assignee {
        Some(Assignee::User(u)) => {
            seen.annotators.iter().any(|(a, _, _)| a == u)
                || seen.reviewer.as_deref() == Some(u.as_str())
        }
        Some(Assignee::Nobody) => nobody,
        None => true,
    }
}

/// What a slide sorts by, for each key but the name.
struct Place<'a> {
    project: Option<&'a str>,
    size: u64,
    state: Option<AssignState>,
    last_change_ms: Option<i64>,
    annotations: u64,
}

/// The one field of a [`Place`] a sort reads.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum SortValue<'a> {
    Project(Option<&'a str>),
    Number(u64),
    State(Option<AssignState>),
    Time(Option<i64>),
}

/// Sorts by `key`, keeping the order of slides with equal keys; `place` need only fill
/// in the field the key reads, and is asked once per item.
fn sort_by_place<'a, T>(
    items: &mut [T],
    key: SortKey,
    descending: bool,
    place: impl Fn(&T) -> Place<'a>,
) {
    // Files come sorted by id: a stable sort keeps names in order within equal keys.
    if key == SortKey::Name {
        if descending {
            items.reverse();
        }
        return;
    }
    let value = |x: &T| {
        let p = place(x);
        match key {
            SortKey::Project => SortValue::Project(p.project),
            SortKey::Size => SortValue::Number(p.size),
            SortKey::State => SortValue::State(p.state),
            SortKey::LastChange => SortValue::Time(p.last_change_ms),
            SortKey::Name | SortKey::Annotations => SortValue::Number(p.annotations),
        }
    };
    if descending {
        items.sort_by_cached_key(|x| std::cmp::Reverse(value(x)));
    } else {
        items.sort_by_cached_key(value);
    }
}

/// The slide after `current` in the caller's to-do list: for a caller who annotates
/// slides, the next of theirs (by name, wrapping around) not yet submitted; for a
/// reviewer, the next they review whose work waits for review; else the next slide they
/// may see. `None` when nothing is left.
#[must_use]
pub fn next_slide(
    snapshot: &Snapshot,
    directory: &Directory,
    caller: &Caller,
    current: &str,
) -> Option<String> {
    let todo = |file: &SlideFile| -> Option<bool> {
        directory.role_on_slide(caller, &file.id)?;
        let a = directory.assignment(&file.id);
        let activity = snapshot.activity_of(&file.id);
        let blind = directory.blind_for(caller, &file.id);
        let s = seen(a, activity, &caller.name, blind.as_deref());
        Some(match s.mine {
            Some("annotator") => s.state < Some(AssignState::Submitted),
            Some(_) => s.state == Some(AssignState::Submitted),
            None => false,
        })
    };
    let files = &snapshot.files;
    let assigned_any = files.iter().any(|f| {
        directory
            .assignment(&f.id)
            .is_some_and(|a| a.involves(&caller.name))
    });
    let after = files.partition_point(|f| f.id.as_str() <= current);
    let order = files[after..].iter().chain(files[..after].iter());
    for f in order {
        if f.id == current {
            continue;
        }
        let ok = if assigned_any {
            todo(f) == Some(true)
        } else {
            directory.role_on_slide(caller, &f.id).is_some()
        };
        if ok {
            return Some(f.id.clone());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::store as access_store;

    /// Eight slides `s0`…`s7` with sizes and last changes that tie, five in project `p`
    /// (three of them assigned to `ann`), three in none.
    fn fixture() -> (tempfile::TempDir, Directory, Snapshot) {
        let dir = tempfile::tempdir().expect("temp dir");
        let conn = access_store::open(dir.path()).expect("access db");
        conn.add_project("p", false).expect("project");
        conn.add_user("ann", Role::Annotator, "p", "hash")
            .expect("user");
        let ids: Vec<String> = (0..8).map(|i| format!("s{i}")).collect();
        for id in &ids[..5] {
            conn.add_slide("p", id).expect("slide");
        }
        conn.assign("p", &ids[1..4], &["ann".to_string()], None, "adm")
            .expect("assign");
        let directory = Directory::read(&*conn).expect("directory");
        let sides = [3, 1, 2, 1, 3, 2, 1, 0];
        let files = ids
            .iter()
            .zip(sides)
            .map(|(id, side)| SlideFile {
                id: id.clone(),
                width: side * 100,
                height: side * 10,
                bytes: 1,
                mpp_x: None,
            })
            .collect();
        let changed = [(1, 50), (2, 20), (4, 50), (6, 10)];
        let activity = changed
            .iter()
            .map(|&(i, at)| {
                let a = Activity {
                    by_author: vec![("ann".into(), [i, 0, 0, 0, 0])],
                    last_change_ms: Some(at),
                };
                (ids[usize::try_from(i).expect("index")].clone(), Arc::new(a))
            })
            .collect();
        let snapshot = Snapshot {
            files: Arc::new(files),
            activity: Arc::new(activity),
        };
        (dir, directory, snapshot)
    }

    fn ids(page: &Page<'_>) -> Vec<String> {
        page.rows.iter().map(|r| r.file.id.clone()).collect()
    }

    #[test]
    fn sorts_and_pages_agree_whether_rows_are_worked_out_before_or_after_the_page() {
        let (_dir, directory, snapshot) = fixture();
        let admin = Caller::single_user();
        let query = |sort, descending, limit, offset, states| ListQuery {
            q: None,
            project: None,
            states,
            assignee: None,
            sort,
            descending,
            limit,
            offset,
        };
        // Every state and "nobody": a filter every slide passes, taking the path that
        // works out each slide's row before sorting.
        let every_state = || {
            let mut v: Vec<StateFilter> = AssignState::ALL
                .into_iter()
                .map(StateFilter::State)
                .collect();
            v.push(StateFilter::Unassigned);
            Some(v)
        };
        let mut orders = Vec::new();
        for key in [
            SortKey::Name,
            SortKey::Project,
            SortKey::Size,
            SortKey::LastChange,
        ] {
            for descending in [false, true] {
                let whole = list(
                    &snapshot,
                    &directory,
                    &admin,
                    &query(key, descending, 100, 0, None),
                );
                assert_eq!(whole.total, 8);
                assert_eq!(whole.next_offset, None);
                let filtered = list(
                    &snapshot,
                    &directory,
                    &admin,
                    &query(key, descending, 100, 0, every_state()),
                );
                assert_eq!(
                    ids(&filtered),
                    ids(&whole),
                    "{key:?} descending {descending}"
                );
                let mut paged = Vec::new();
                let mut offset = Some(0);
                while let Some(at) = offset {
                    let page = list(
                        &snapshot,
                        &directory,
                        &admin,
                        &query(key, descending, 3, at, None),
                    );
                    assert_eq!(page.total, 8);
                    paged.extend(ids(&page));
                    offset = page.next_offset;
                }
                assert_eq!(
                    paged,
                    ids(&whole),
                    "{key:?} descending {descending}, pages of 3"
                );
                orders.push(ids(&whole).join(" "));
            }
        }
        // Ties keep names in order, either way.
        assert_eq!(
            orders,
            [
                "s0 s1 s2 s3 s4 s5 s6 s7",
                "s7 s6 s5 s4 s3 s2 s1 s0",
                "s5 s6 s7 s0 s1 s2 s3 s4",
                "s0 s1 s2 s3 s4 s5 s6 s7",
                "s7 s1 s3 s6 s2 s5 s0 s4",
                "s0 s4 s2 s5 s1 s3 s6 s7",
                "s0 s3 s5 s7 s6 s2 s1 s4",
                "s1 s4 s2 s6 s0 s3 s5 s7",
            ]
        );
        // Rows carry what only the page shows: the state and counts of `ann`'s slides.
        let page = list(
            &snapshot,
            &directory,
            &admin,
            &query(SortKey::Name, false, 2, 1, None),
        );
        assert_eq!(ids(&page), ["s1", "s2"]);
        assert_eq!(page.rows[0].seen.state, Some(AssignState::InProgress));
        assert_eq!(page.rows[0].counts, [1, 0, 0, 0, 0]);
        assert_eq!(page.rows[1].counts, [2, 0, 0, 0, 0]);
        assert_eq!(page.next_offset, Some(3));
    }
}
