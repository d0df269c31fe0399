//! Working through a cohort over HTTP: the slide browser's list (`GET /api/slides` with
//! `q=`, filters, `sort=`, `limit=`, `cursor=`), assignments, a slide's assignment and
//! "Mark done", and a project's progress. The rules live in [`crate::catalog`] and
//! [`crate::access`]; this module parses, checks and answers.

use super::access::SlideRole;
use super::annotations::blocking;
use super::{AppError, AppState};
use crate::access::store;
use crate::access::{Access, AssignState, Caller, Directory, Role, StatusCounts};
use crate::annotations::error::StorageFault;
use crate::annotations::store::StoreError;
use crate::annotations::{AnnotationError, Status};
use crate::catalog::{self, Assignee, ListQuery, SortKey, StateFilter};
use crate::location::StoreLocation;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// The parameters `GET /api/slides` takes.
const LIST_PARAMS: &str = "q, project, state, assignee, sort, limit, cursor";

fn rfc3339(ms: i64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0).unsigned_abs());
    humantime::format_rfc3339_millis(at).to_string()
}

fn counts_json(c: &StatusCounts) -> Value {
    let mut m = Map::new();
    for (s, n) in Status::ALL.iter().zip(c) {
        m.insert(s.as_str().into(), json!(n));
    }
    Value::Object(m)
}

fn states_json(c: &BTreeMap<AssignState, u64>) -> Value {
    let mut m = Map::new();
    for s in AssignState::ALL {
        m.insert(s.as_str().into(), json!(c.get(&s).copied().unwrap_or(0)));
    }
    Value::Object(m)
}

fn seen_json(seen: &catalog::Seen) -> (Value, Value) {
    let annotators = seen
        .annotators
        .iter()
        .map(|(user, state, done)| {
            json!({"user": user, "state": state, "done_at": done.map(rfc3339)})
        })
        .collect::<Vec<_>>();
    (json!(annotators), json!(seen.reviewer))
}

/// Parses the list's query string; every problem names the parameter and what it takes.
fn parse_list_query(pairs: Vec<(String, String)>, caller: &Caller) -> Result<ListQuery, AppError> {
    let mut q = ListQuery {
        q: None,
        project: None,
        states: None,
        assignee: None,
        sort: SortKey::Name,
        descending: false,
        limit: catalog::DEFAULT_LIMIT,
        offset: 0,
    };
    for (name, value) in pairs {
        let value = value.trim().to_string();
        match name.as_str() {
            "q" => q.q = Some(value.to_lowercase()).filter(|v| !v.is_empty()),
            "project" => {
                q.project = Some((value != "none").then_some(value));
            }
            "state" => {
                let mut states = Vec::new();
                for s in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    states.push(if s == "unassigned" {
                        StateFilter::Unassigned
                    } else {
                        StateFilter::State(AssignState::parse(s).ok_or_else(|| {
                            AppError::bad_request(format!(
                                "state {s:?} is not one of not_started, in_progress, submitted, reviewed, unassigned"
                            ))
                        })?)
                    });
                }
                q.states = Some(states).filter(|s| !s.is_empty());
            }
            "assignee" => {
                q.assignee = match value.as_str() {
                    "" => None,
                    "none" => Some(Assignee::Nobody),
                    "me" => Some(Assignee::User(caller.name.clone())),
                    other => Some(Assignee::User(other.to_string())),
                };
            }
            "sort" => {
                let (desc, key) = value
                    .strip_prefix('-')
                    .map_or((false, value.as_str()), |k| (true, k));
                q.sort = SortKey::parse(key).ok_or_else(|| {
                    AppError::bad_request(format!(
                        "sort {value:?} is not one of {}",
                        SortKey::CHOICES
                    ))
                })?;
                q.descending = desc;
            }
            "limit" => {
                q.limit = value
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=catalog::MAX_LIMIT).contains(n))
                    .ok_or_else(|| {
                        AppError::bad_request(format!(
                            "limit {value:?} is not a number from 1 to {}",
                            catalog::MAX_LIMIT
                        ))
                    })?;
            }
            "cursor" => {
                q.offset = value
                    .strip_prefix("o")
                    .and_then(|n| n.parse::<usize>().ok())
                    .ok_or_else(|| {
                        AppError::bad_request(format!(
                            "cursor {value:?} is not one this server gave (pass next_cursor of the previous page)"
                        ))
                    })?;
            }
            other => {
                return Err(AppError::bad_request(format!(
                    "unknown parameter {other:?} (GET /api/slides takes {LIST_PARAMS})"
                )));
            }
        }
    }
    Ok(q)
}

/// `GET /api/slides?…`: a page of the slide browser's table. Without any parameter,
/// `slides::list` answers the plain array of slide descriptions instead.
pub async fn list_page(
    state: AppState,
    who: Caller,
    pairs: Vec<(String, String)>,
) -> Result<Response, AppError> {
    let query = parse_list_query(pairs, &who)?;
    let catalog = Arc::clone(&state.catalog);
    let directory = state.access.directory();
    let body = tokio::task::spawn_blocking(move || {
        let snapshot = catalog.snapshot();
        let page = catalog::list(&snapshot, &directory, &who, &query);
        let rows: Vec<Value> = page
            .rows
            .iter()
            .map(|r| {
                let (annotators, reviewer) = seen_json(&r.seen);
                json!({
                    "id": r.file.id,
                    "width": r.file.width,
                    "height": r.file.height,
                    "bytes": r.file.bytes,
                    "mpp_x": r.file.mpp_x,
                    "project": r.project,
                    "role": r.role,
                    "annotators": annotators,
                    "reviewer": reviewer,
                    "state": r.seen.state,
                    "mine": r.seen.mine,
                    "counts": counts_json(&r.counts),
                    "annotations": r.counts.iter().sum::<u64>(),
                    "last_change": r.last_change_ms.map(rfc3339),
                })
            })
            .collect();
        json!({
            "total": page.total,
            "offset": query.offset,
            "limit": query.limit,
            "slides": rows,
            "next_cursor": page.next_offset.map(|o| format!("o{o}")),
        })
    })
    .await
    .map_err(|_| AppError::new(StatusCode::INTERNAL_SERVER_ERROR, "the slide list failed"))?;
    Ok(Json(body).into_response())
}

fn store_failed(e: &StoreError) -> AppError {
    if e.fault() == Some(StorageFault::ReadOnly) {
        return AppError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the access store is read-only; nothing was changed",
        );
    }
    tracing::error!("access.db: {e}");
    AppError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "the access store failed; nothing was changed",
    )
}

/// Whether the project is blind to the caller (blind, and they review nothing there);
/// 404 when there is no such project.
fn blind_in(directory: &Directory, project: &str, who: &Caller) -> Result<bool, AppError> {
    let p = directory
        .project(project)
        .ok_or_else(|| AppError::not_found(format!("no project {project:?}")))?;
    Ok(p.blind && who.role_in(Some(project)) < Some(Role::Reviewer))
}

/// An assignment request.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewAssignment {
    slides: Vec<String>,
    #[serde(default)]
    annotators: Vec<String>,
    reviewer: Option<String>,
}

/// `PUT /api/projects/{project}/assignments` with `{"slides", "annotators"?, "reviewer"?}`
/// (admin in the project): adds the annotators to each slide and makes the reviewer its
/// reviewer, as `tessera assign` does; 422 naming the slide or user that cannot be.
pub async fn assign(
    State(state): State<AppState>,
    Extension(who): Extension<Caller>,
    Path(project): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, AppError> {
    let a: NewAssignment = AppError::json_body(&body)?;
    let directory = state.access.directory();
    blind_in(&directory, &project, &who)?; // 404 for a project that does not exist
    crate::access::check_assignment(
        &directory,
        &project,
        &a.slides,
        &a.annotators,
        a.reviewer.as_deref(),
    )
    .map_err(|m| AppError::new(StatusCode::UNPROCESSABLE_ENTITY, m))?;
    let access = Arc::clone(&state.access);
    let (p, by) = (project.clone(), who.name.clone());
    let slides = a.slides.clone();
    let added = tokio::task::spawn_blocking(move || {
        access.change(|c| c.assign(&p, &slides, &a.annotators, a.reviewer.as_deref(), &by))
    })
    .await
    .map_err(|_| AppError::new(StatusCode::INTERNAL_SERVER_ERROR, "assigning failed"))?
    .map_err(|e| store_failed(&e))?;
    Ok(Json(json!({"project": project, "slides": a.slides.len(), "added": added})).into_response())
}

/// `GET /api/projects/{project}/assignments`: every assigned slide of the project with
/// its annotators (each with their state), reviewer and state; in a blind project a
/// caller below reviewer sees only their own assignments.
pub async fn assignments(
    State(state): State<AppState>,
    Extension(who): Extension<Caller>,
    Path(project): Path<String>,
) -> Result<Response, AppError> {
    let directory = state.access.directory();
    let blind = blind_in(&directory, &project, &who)?;
    let catalog = Arc::clone(&state.catalog);
    let body = tokio::task::spawn_blocking(move || {
        let activity = catalog.activity();
        let mut rows = Vec::new();
        for slide in directory.slides_of(&project) {
            let Some(a) = directory.assignment(&slide) else {
                continue;
            };
            let me = blind.then_some(who.name.as_str());
            if me.is_some_and(|me| !a.involves(me)) {
                continue;
            }
            let act = activity.get(&slide).cloned().unwrap_or_default();
            let seen = catalog::seen(Some(a), &act, &who.name, me);
            let (annotators, reviewer) = seen_json(&seen);
            rows.push(json!({
                "slide": slide,
                "annotators": annotators,
                "reviewer": reviewer,
                "state": seen.state,
            }));
        }
        json!({"project": project, "blind": blind, "assignments": rows})
    })
    .await
    .map_err(|_| AppError::new(StatusCode::INTERNAL_SERVER_ERROR, "listing failed"))?;
    Ok(Json(body).into_response())
}

/// What `GET /api/slides/{id}/assignment` and "Mark done" answer about a slide.
fn slide_json(
    catalog: &Arc<catalog::Catalog>,
    directory: &Directory,
    who: &Caller,
    slide: &str,
    blind_for: Option<&str>,
) -> Value {
    let activity = catalog.activity_of(slide);
    let seen = catalog::seen(directory.assignment(slide), &activity, &who.name, blind_for);
    let (annotators, reviewer) = seen_json(&seen);
    let snapshot = catalog.snapshot();
    let next = catalog::next_slide(&snapshot, directory, who, slide);
    json!({
        "slide": slide,
        "project": directory.project_of(slide).map(|p| p.name.clone()),
        "annotators": annotators,
        "reviewer": reviewer,
        "state": seen.state,
        "mine": seen.mine,
        "counts": counts_json(&activity.visible(blind_for)),
        "own": counts_json(&activity.of(&who.name)),
        "next": next,
    })
}

/// [`slide_json`] off the async threads.
async fn slide_answer(state: &AppState, who: Caller, role: SlideRole) -> Result<Value, AppError> {
    let (catalog, directory) = (Arc::clone(&state.catalog), state.access.directory());
    tokio::task::spawn_blocking(move || {
        slide_json(
            &catalog,
            &directory,
            &who,
            &role.slide,
            role.blind_for.as_deref(),
        )
    })
    .await
    .map_err(|_| AppError::new(StatusCode::INTERNAL_SERVER_ERROR, "lookup failed"))
}

/// `GET /api/slides/{id}/assignment`: who works on the slide (as the caller may see),
/// its state, the caller's part, and the next slide in the caller's list.
pub async fn slide_assignment(
    State(state): State<AppState>,
    Extension(who): Extension<Caller>,
    Extension(role): Extension<SlideRole>,
) -> Result<Response, AppError> {
    state.store.get(&role.slide)?;
    let body = slide_answer(&state, who, role).await?;
    Ok(Json(body).into_response())
}

/// "Mark done".
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Done {
    /// Only list the drafts that would be submitted, changing nothing.
    #[serde(default)]
    dry_run: bool,
    comment: Option<String>,
}

fn draft_json(a: &crate::annotations::Annotation) -> Value {
    json!({
        "id": a.id.to_string(),
        "class": a.class,
        "layer": a.layer,
        "created": rfc3339(a.created_ms),
    })
}

/// `POST /api/slides/{id}/done` with `{"dry_run"?, "comment"?}` (an annotator assigned to
/// the slide): submits the caller's drafts on the slide as one change and marks their
/// assignment done; with `"dry_run": true` it lists those drafts and changes nothing.
/// 409 when the caller is not assigned to annotate the slide.
pub async fn mark_done(
    State(state): State<AppState>,
    Extension(who): Extension<Caller>,
    Extension(role): Extension<SlideRole>,
    body: axum::body::Bytes,
) -> Result<Response, AppError> {
    let d: Done = if body.iter().all(u8::is_ascii_whitespace) {
        Done::default()
    } else {
        AppError::json_body(&body)?
    };
    let slide = role.slide.clone();
    state.store.get(&slide)?;
    let directory = state.access.directory();
    let assigned = directory
        .assignment(&slide)
        .is_some_and(|a| a.annotator(&who.name).is_some());
    if !assigned {
        let project = directory
            .project_of(&slide)
            .map_or_else(|| "PROJECT".to_string(), |p| p.name.clone());
        return Err(AppError::new(
            StatusCode::CONFLICT,
            format!(
                "{} is not assigned to annotate slide {slide:?}: an admin assigns it with `tessera assign {project} {slide} --annotator {}`",
                who.name, who.name
            ),
        ));
    }
    let engine = Arc::clone(&state.annotations);
    let (me, s2) = (who.name.clone(), slide.clone());
    if d.dry_run {
        let drafts = blocking(move || engine.drafts_of(&s2, &me)).await?;
        return Ok(Json(json!({
            "slide": slide,
            "dry_run": true,
            "drafts": drafts.iter().map(draft_json).collect::<Vec<_>>(),
        }))
        .into_response());
    }
    let comment = d.comment.unwrap_or_else(|| "marked done".to_string());
    let submitted = blocking(move || engine.submit_drafts(&s2, &me, Some(&comment))).await?;
    let (access, s3, me) = (Arc::clone(&state.access), slide.clone(), who.name.clone());
    tokio::task::spawn_blocking(move || access.change(|c| c.mark_done(&s3, &me)))
        .await
        .map_err(|_| AppError::new(StatusCode::INTERNAL_SERVER_ERROR, "marking done failed"))?
        .map_err(|e| store_failed(&e))?;
    let mut body = slide_answer(&state, who, role).await?;
    body["submitted"] = json!(submitted.iter().map(draft_json).collect::<Vec<_>>());
    Ok(Json(body).into_response())
}

/// One person's row of a project's progress.
#[derive(Default)]
struct Person {
    assigned: u64,
    states: BTreeMap<AssignState, u64>,
    annotations: StatusCounts,
    /// day (days since the epoch) → (annotations created, slides marked done, review steps)
    days: BTreeMap<i64, (u64, u64, u64)>,
}

fn day_text(day: i64) -> String {
    rfc3339(day * 86_400_000)[..10].to_string()
}

fn person_json(user: &str, p: &Person, reviewer: bool) -> Value {
    let per_day: Vec<Value> = p
        .days
        .iter()
        .map(|(d, (created, done, reviews))| {
            if reviewer {
                json!({"day": day_text(*d), "review_steps": reviews})
            } else {
                json!({"day": day_text(*d), "created": created, "done": done})
            }
        })
        .collect();
    let mut v = json!({
        "user": user,
        "assigned": p.assigned,
        "slides": states_json(&p.states),
        "per_day": per_day,
    });
    if !reviewer {
        v["annotations"] = counts_json(&p.annotations);
    }
    v
}

/// `GET /api/projects/{project}/progress`: per annotator and per reviewer, slides by
/// state, annotations by status and throughput per day; the project's slides by state;
/// and agreement between the first two annotators of each slide where both annotated.
/// In a blind project a caller below reviewer gets only their own figures.
pub async fn progress(
    State(state): State<AppState>,
    Extension(who): Extension<Caller>,
    Path(project): Path<String>,
) -> Result<Response, AppError> {
    let directory = state.access.directory();
    let blind = blind_in(&directory, &project, &who)?;
    let (catalog, engine) = (Arc::clone(&state.catalog), Arc::clone(&state.annotations));
    let access = Arc::clone(&state.access);
    let body = blocking(move || {
        let me = blind.then_some(who.name.as_str());
        let mut figures = progress_figures(&catalog, &access, &directory, &project, me)?;
        figures["agreement"] = if blind {
            json!([])
        } else {
            json!(agreement_rows(&engine, &directory, &catalog, &project))
        };
        figures["blind"] = json!(blind);
        Ok(figures)
    })
    .await?;
    Ok(Json(body).into_response())
}

fn progress_figures(
    catalog: &catalog::Catalog,
    access: &Access,
    directory: &Directory,
    project: &str,
    me: Option<&str>,
) -> Result<Value, AnnotationError> {
    let activity = catalog.activity();
    let slides = directory.slides_of(project);
    let mut annotators: BTreeMap<String, Person> = BTreeMap::new();
    let mut reviewers: BTreeMap<String, Person> = BTreeMap::new();
    let mut states: BTreeMap<AssignState, u64> = BTreeMap::new();
    let mut totals: StatusCounts = [0; 5];
    let (mut assigned, mut reviewer_of) = (0, HashMap::new());
    for slide in &slides {
        let act = activity.get(slide).cloned().unwrap_or_default();
        let visible = act.visible(me);
        for (t, n) in totals.iter_mut().zip(visible) {
            *t += n;
        }
        let Some(a) = directory.assignment(slide) else {
            continue;
        };
        if me.is_some_and(|me| !a.involves(me)) {
            continue;
        }
        assigned += 1;
        let seen = catalog::seen(Some(a), &act, "", me);
        if let Some(s) = seen.state {
            *states.entry(s).or_default() += 1;
        }
        for (user, s, _) in &seen.annotators {
            let person = annotators.entry(user.clone()).or_default();
            person.assigned += 1;
            *person.states.entry(*s).or_default() += 1;
            for (t, n) in person.annotations.iter_mut().zip(act.of(user)) {
                *t += n;
            }
        }
        if let Some(r) = &a.reviewer {
            reviewer_of.insert(slide.clone(), r.clone());
            let person = reviewers.entry(r.clone()).or_default();
            person.assigned += 1;
            if let Some(s) = seen.state {
                *person.states.entry(s).or_default() += 1;
            }
        }
    }
    let location = catalog.location();
    throughput(
        location,
        access,
        directory,
        project,
        &mut annotators,
        &mut reviewers,
        me,
    )?;
    Ok(json!({
        "project": project,
        "slides": slides.len(),
        "assigned": assigned,
        "states": states_json(&states),
        "annotations": counts_json(&totals),
        "annotators": annotators.iter().map(|(u, p)| person_json(u, p, false)).collect::<Vec<_>>(),
        "reviewers": reviewers.iter().map(|(u, p)| person_json(u, p, true)).collect::<Vec<_>>(),
    }))
}

/// Fills each person's days: annotations created and review steps (from the annotation
/// store's changes on the project's slides), slides marked done (from the assignment
/// events).
fn throughput(
    location: &StoreLocation,
    access: &Access,
    directory: &Directory,
    project: &str,
    annotators: &mut BTreeMap<String, Person>,
    reviewers: &mut BTreeMap<String, Person>,
    me: Option<&str>,
) -> Result<(), AnnotationError> {
    let in_project = |slide: &str| {
        directory
            .project_of(slide)
            .is_some_and(|p| p.name == project)
    };
    let annotations_error =
        |e| AnnotationError::db_at(location, crate::annotations::store::DB_FILE, e);
    let reader = crate::annotations::store::open_reader_at(location).map_err(annotations_error)?;
    if let Some(conn) = reader {
        let rows = conn.changes_per_day().map_err(annotations_error)?;
        for c in rows {
            if !in_project(&c.slide) {
                continue;
            }
            if c.kind == "create" {
                if let Some(p) = annotators.get_mut(&c.author) {
                    p.days.entry(c.day).or_default().0 += c.count;
                }
            } else if let Some(p) = reviewers.get_mut(&c.author) {
                p.days.entry(c.day).or_default().2 += c.count;
            }
        }
    }
    let events = access
        .read(|c| c.assignment_events(project))
        .map_err(|e| AnnotationError::db_at(location, store::DB_FILE, e))?;
    for e in events {
        if e.event != "done" || me.is_some_and(|me| me != e.user) {
            continue;
        }
        if let Some(p) = annotators.get_mut(&e.user) {
            p.days.entry(e.at.div_euclid(86_400_000)).or_default().1 += 1;
        }
    }
    Ok(())
}

/// How many slides' agreement a progress answer computes at most.
const MAX_AGREEMENT_SLIDES: usize = 20;

/// Agreement between the first two annotators (by name) of each slide of the project
/// where both have annotations, for at most [`MAX_AGREEMENT_SLIDES`] slides.
fn agreement_rows(
    engine: &crate::annotations::Engine,
    directory: &Directory,
    catalog: &catalog::Catalog,
    project: &str,
) -> Vec<Value> {
    let activity = catalog.activity();
    let mut rows = Vec::new();
    for slide in directory.slides_of(project) {
        let Some(a) = directory.assignment(&slide) else {
            continue;
        };
        let act = activity.get(&slide).cloned().unwrap_or_default();
        let raters: Vec<String> = a
            .annotators
            .iter()
            .filter(|x| act.of(&x.user).iter().sum::<u64>() > 0)
            .map(|x| format!("user:{}", x.user))
            .take(2)
            .collect();
        if raters.len() < 2 {
            continue;
        }
        if rows.len() == MAX_AGREEMENT_SLIDES {
            break;
        }
        let request = crate::agreement::request::Request::new(
            &slide,
            &raters,
            crate::agreement::Options::default(),
            None,
        );
        let report = request.and_then(|r| crate::agreement::request::evaluate(engine, &r));
        match report {
            Ok(o) => {
                if let Some(pair) = o.report.pairs.first() {
                    rows.push(json!({
                        "slide": slide,
                        "a": pair.a,
                        "b": pair.b,
                        "overall": pair.overall,
                        "cohen_kappa": pair.cohen_kappa,
                    }));
                }
            }
            Err(e) => rows.push(json!({"slide": slide, "error": e.to_string()})),
        }
    }
    rows
}
