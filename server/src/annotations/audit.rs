//! Random audits: a reproducible sample of a slide's annotations whose review outcomes
//! are recorded and summarised.
//!
//! **Sampling.** Every live annotation of the slide that passes the filters (layer,
//! class, status, author; each a comma-separated list) is ranked by
//! SHA-256(seed as 8 bytes big-endian ‖ the UUID's 16 bytes), smallest first, and the
//! first ⌈fraction × n⌉ are the sample (a product within 10⁻⁹ of an integer counts as
//! that integer, so 0.1 × 30 is 3). An annotation's rank depends on the seed and its own
//! id only: the same seed on the same set gives the same sample, in the same order,
//! whatever the storage order; a different seed gives an independent one.
//!
//! **Outcomes.** Each item is `pass` or `fail`, with an optional comment, who recorded it
//! and when. Recording again replaces the earlier outcome: the latest counts (the answer
//! says what it replaced). Items keep the class and author they had when sampled, so
//! later edits do not move them between the summary's groups; `author` is whose work
//! was audited.
//!
//! **Storage**: the store keeps audits and their items beside the annotations (see
//! `store::Writes::add_audit`).

use super::engine::Engine;
use super::error::AnnotationError;
use super::index::SlideIndex;
use super::model::now_ms;
use super::query::{Filter, QueryParams};
use super::store::{Recording, transaction};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use uuid::Uuid;

/// Why an audit request was refused.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("no audit {0}")]
    UnknownAudit(i64),
    #[error("annotation {id} is not in audit {audit}")]
    NotInAudit { audit: i64, id: Uuid },
    #[error("fraction {0} must be in (0, 1]: the share of the annotations to audit")]
    BadFraction(f64),
    #[error("nothing to audit: no annotation of slide {0:?} matches the filters")]
    NothingToSample(String),
    #[error(transparent)]
    Engine(#[from] AnnotationError),
}

/// An audit outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    Fail,
}

impl Outcome {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Fail => "fail",
        }
    }

    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pass" => Some(Self::Pass),
            "fail" => Some(Self::Fail),
            _ => None,
        }
    }
}

impl serde::Serialize for Outcome {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Which annotations are eligible: comma-separated lists, as queries take them.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AuditFilter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
}

/// An audit, with how far it got.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Audit {
    pub id: i64,
    pub slide: String,
    pub fraction: f64,
    pub seed: u64,
    pub filter: AuditFilter,
    pub created_by: String,
    #[serde(serialize_with = "time_text")]
    pub created_at: i64,
    /// Items in the sample.
    pub size: usize,
    /// Items with an outcome.
    pub recorded: usize,
}

/// One sampled annotation and its outcome, if recorded.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AuditItem {
    pub id: Uuid,
    /// Class and author when sampled.
    pub class: String,
    pub author: String,
    pub outcome: Option<Outcome>,
    pub comment: Option<String>,
    pub recorded_by: Option<String>,
    #[serde(serialize_with = "optional_time_text")]
    pub recorded_at: Option<i64>,
}

/// A new audit and its items, in sample order.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Sample {
    #[serde(flatten)]
    pub audit: Audit,
    /// Annotations the sample was drawn from.
    pub eligible: usize,
    pub items: Vec<AuditItem>,
}

/// What recording an outcome did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Recorded {
    pub audit: i64,
    #[serde(flatten)]
    pub item: AuditItem,
    /// The outcome this one replaced.
    pub replaced: Option<Outcome>,
}

/// Outcome counts of a group of items.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Tally {
    pub items: usize,
    pub recorded: usize,
    pub pending: usize,
    pub pass: usize,
    pub fail: usize,
    /// pass ÷ recorded; `None` until something is recorded.
    pub pass_rate: Option<f64>,
}

impl Tally {
    fn add(&mut self, outcome: Option<Outcome>) {
        self.items += 1;
        match outcome {
            None => self.pending += 1,
            Some(Outcome::Pass) => self.pass += 1,
            Some(Outcome::Fail) => self.fail += 1,
        }
        self.recorded = self.pass + self.fail;
        self.pass_rate = (self.recorded > 0).then(|| self.pass as f64 / self.recorded as f64);
    }
}

/// An audit's outcomes: overall, per class and per audited author.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Summary {
    #[serde(flatten)]
    pub total: Tally,
    pub by_class: BTreeMap<String, Tally>,
    pub by_author: BTreeMap<String, Tally>,
}

/// Sums up items.
#[must_use]
pub fn summarise(items: &[AuditItem]) -> Summary {
    let mut s = Summary::default();
    for i in items {
        s.total.add(i.outcome);
        s.by_class
            .entry(i.class.clone())
            .or_default()
            .add(i.outcome);
        s.by_author
            .entry(i.author.clone())
            .or_default()
            .add(i.outcome);
    }
    s
}

fn rfc3339(ms: i64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_millis(at).to_string()
}

#[expect(
    clippy::trivially_copy_pass_by_ref,
    reason = "serde's serialize_with hands over a reference to the field"
)]
fn time_text<S: serde::Serializer>(ms: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&rfc3339(*ms))
}

#[expect(
    clippy::ref_option,
    reason = "serde's serialize_with hands over a reference to the field"
)]
fn optional_time_text<S: serde::Serializer>(ms: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
    match ms {
        Some(ms) => s.serialize_str(&rfc3339(*ms)),
        None => s.serialize_none(),
    }
}

/// An annotation's place in the sample order of `seed`: smaller comes first.
#[must_use]
pub fn rank(seed: u64, id: &Uuid) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(seed.to_be_bytes());
    h.update(id.as_bytes());
    h.finalize().into()
}

/// ⌈fraction × n⌉, with a product within 10⁻⁹ of an integer taken as that integer;
/// at least 1 of a non-empty set.
pub fn sample_size(fraction: f64, n: usize) -> Result<usize, AuditError> {
    if !(fraction.is_finite() && fraction > 0.0 && fraction <= 1.0) {
        return Err(AuditError::BadFraction(fraction));
    }
    let x = fraction * n as f64;
    let k = (x - 1e-9 * x.max(1.0)).ceil().max(1.0) as usize;
    Ok(k.min(n))
}

/// The first `k` ids in the order of `seed`.
#[must_use]
pub fn draw(ids: Vec<Uuid>, seed: u64, k: usize) -> Vec<Uuid> {
    let mut ranked: Vec<([u8; 32], Uuid)> =
        ids.into_iter().map(|id| (rank(seed, &id), id)).collect();
    ranked.sort_unstable();
    ranked.into_iter().take(k).map(|(_, id)| id).collect()
}

/// Ids of the live annotations that pass the filter, in storage order.
fn eligible(index: &SlideIndex, filter: &AuditFilter) -> Result<Vec<Uuid>, AnnotationError> {
    let params = QueryParams {
        layer: filter.layer.clone(),
        class: filter.class.clone(),
        status: filter.status.clone(),
        author: filter.author.clone(),
        ..QueryParams::default()
    };
    let filter = Filter::new(&params, index)?;
    Ok(index
        .live_slots()
        .map(|n| index.slot(n))
        .filter(|s| filter.matches(s))
        .map(|s| s.id)
        .collect())
}

/// Draws an audit set of `slide` and stores it; `by` names who asked.
pub fn sample(
    engine: &Engine,
    slide: &str,
    fraction: f64,
    seed: u64,
    filter: &AuditFilter,
    by: &str,
) -> Result<Sample, AuditError> {
    sample_size(fraction, 1)?;
    let (eligible, chosen) = {
        let loaded = engine.index(slide)?;
        let index = loaded.read();
        let ids = eligible(&index, filter)?;
        if ids.is_empty() {
            return Err(AuditError::NothingToSample(slide.to_string()));
        }
        let n = ids.len();
        let chosen: Vec<AuditItem> = draw(ids, seed, sample_size(fraction, n)?)
            .into_iter()
            .filter_map(|id| {
                let s = index.slot_of(&id)?;
                Some(AuditItem {
                    id,
                    class: index.classes.name(s.class).to_string(),
                    author: index.authors.name(s.author).to_string(),
                    outcome: None,
                    comment: None,
                    recorded_by: None,
                    recorded_at: None,
                })
            })
            .collect();
        (n, chosen)
    };
    let created_at = now_ms();
    let mut audit = Audit {
        id: 0,
        slide: slide.to_string(),
        fraction,
        seed,
        filter: filter.clone(),
        created_by: by.to_string(),
        created_at,
        size: chosen.len(),
        recorded: 0,
    };
    audit.id = transaction(&*engine.writer(), |tx| tx.add_audit(&audit, &chosen))
        .map_err(|e| engine.db_error(e))?;
    Ok(Sample {
        audit,
        eligible,
        items: chosen,
    })
}
/// Records `outcome` for annotation `id` of `audit` (replacing an earlier one).
pub fn record(
    engine: &Engine,
    audit: i64,
    id: &Uuid,
    outcome: Outcome,
    comment: Option<&str>,
    by: &str,
) -> Result<Recorded, AuditError> {
    let at = now_ms();
    let found = transaction(&*engine.writer(), |tx| {
        tx.record_outcome(audit, id, outcome, comment, by, at)
    })
    .map_err(|e| engine.db_error(e))?;
    let (replaced, class, author) = match found {
        Recording::NoSuchAudit => return Err(AuditError::UnknownAudit(audit)),
        Recording::NotInAudit => return Err(AuditError::NotInAudit { audit, id: *id }),
        Recording::Replaced(replaced, class, author) => (replaced, class, author),
    };
    Ok(Recorded {
        audit,
        item: AuditItem {
            id: *id,
            class,
            author,
            outcome: Some(outcome),
            comment: comment.map(str::to_string),
            recorded_by: Some(by.to_string()),
            recorded_at: Some(at),
        },
        replaced: replaced.as_deref().and_then(Outcome::parse),
    })
}

/// The audits of `slide` (of every slide when `None`), oldest first.
pub fn list_audits(engine: &Engine, slide: Option<&str>) -> Result<Vec<Audit>, AuditError> {
    if let Some(s) = slide {
        engine.slide_size(s)?;
    }
    Ok(engine
        .reader()
        .audits(slide)
        .map_err(|e| engine.db_error(e))?)
}

/// An audit with its items, in sample order, and their summary.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AuditReport {
    #[serde(flatten)]
    pub audit: Audit,
    pub items: Vec<AuditItem>,
    pub summary: Summary,
}

/// One audit, its items and their summary.
pub fn show(engine: &Engine, audit: i64) -> Result<AuditReport, AuditError> {
    let found = engine
        .reader()
        .audit(audit)
        .map_err(|e| engine.db_error(e))?;
    let (audit_row, items) = found.ok_or(AuditError::UnknownAudit(audit))?;
    Ok(AuditReport {
        audit: audit_row,
        summary: summarise(&items),
        items,
    })
}

/// A random audit id in `1..2^53`.
pub(crate) fn random_id() -> i64 {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("the operating system's random generator");
    (u64::from_le_bytes(bytes) >> 11).max(1) as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::annotations::engine::{EngineLimits, unguarded};

    fn engine(dir: &std::path::Path) -> Engine {
        Engine::open(
            dir,
            Box::new(|s| (s == "s").then_some((1000.0, 1000.0))),
            EngineLimits::default(),
        )
        .expect("engine")
    }

    fn point(i: usize, class: &str, who: &str, e: &Engine) -> Uuid {
        let f = format!(
            r#"{{"type":"Feature","geometry":{{"type":"Point","coordinates":[{i},5]}},"properties":{{"classification":{{"name":"{class}"}}}}}}"#
        );
        e.create("s", "cells", f.as_bytes(), who, &unguarded)
            .expect("created")
            .id
    }

    #[test]
    fn sizes_round_up_and_fractions_are_checked() {
        assert_eq!(sample_size(0.25, 37).ok(), Some(10));
        assert_eq!(sample_size(0.1, 30).ok(), Some(3), "0.1 × 30 is 3, not 4");
        assert_eq!(sample_size(1.0, 7).ok(), Some(7));
        assert_eq!(sample_size(1e-6, 7).ok(), Some(1));
        for bad in [0.0, -0.5, 1.01, f64::NAN] {
            assert!(matches!(
                sample_size(bad, 7),
                Err(AuditError::BadFraction(_))
            ));
        }
    }

    #[test]
    fn draws_depend_on_seed_and_ids_only() {
        let ids: Vec<Uuid> = (0..200u128).map(Uuid::from_u128).collect();
        let a = draw(ids.clone(), 7, 20);
        let reversed: Vec<Uuid> = ids.iter().rev().copied().collect();
        assert_eq!(
            a,
            draw(reversed, 7, 20),
            "order of the input does not matter"
        );
        assert_ne!(
            a,
            draw(ids.clone(), 8, 20),
            "another seed draws another set"
        );
        // A bigger draw of the same seed starts with the smaller one.
        assert_eq!(draw(ids, 7, 40)[..20], a[..]);
    }

    #[test]
    fn samples_are_stored_recorded_and_summarised() {
        let dir = tempfile::tempdir().expect("temp dir");
        let e = engine(dir.path());
        for i in 0..12 {
            point(
                i,
                if i % 2 == 0 { "Tumor" } else { "Stroma" },
                if i < 6 { "ana" } else { "bo" },
                &e,
            );
        }
        let filter = AuditFilter {
            class: Some("Tumor".into()),
            ..AuditFilter::default()
        };
        let s = sample(&e, "s", 0.5, 1, &filter, "rev").expect("a sample");
        assert_eq!((s.eligible, s.items.len()), (6, 3));
        assert!(s.items.iter().all(|i| i.class == "Tumor"));
        let again = sample(&e, "s", 0.5, 1, &filter, "rev").expect("a sample");
        let ids = |s: &Sample| s.items.iter().map(|i| i.id).collect::<Vec<_>>();
        assert_eq!(ids(&s), ids(&again));
        assert_ne!(s.audit.id, again.audit.id);

        let (first, second) = (s.items[0].id, s.items[1].id);
        record(&e, s.audit.id, &first, Outcome::Fail, None, "rev").expect("recorded");
        let r =
            record(&e, s.audit.id, &first, Outcome::Pass, Some("fine"), "rev").expect("recorded");
        assert_eq!(r.replaced, Some(Outcome::Fail));
        record(
            &e,
            s.audit.id,
            &second,
            Outcome::Fail,
            Some("too big"),
            "rev",
        )
        .expect("ok");
        let report = show(&e, s.audit.id).expect("shown");
        assert_eq!((report.audit.size, report.audit.recorded), (3, 2));
        let sum = report.summary;
        assert_eq!(
            (
                sum.total.items,
                sum.total.recorded,
                sum.total.pending,
                sum.total.pass,
                sum.total.fail
            ),
            (3, 2, 1, 1, 1)
        );
        assert_eq!(sum.total.pass_rate, Some(0.5));
        assert_eq!(sum.by_class["Tumor"].items, 3);
        assert_eq!(
            sum.by_author.values().map(|t| t.items).sum::<usize>(),
            3,
            "{:?}",
            sum.by_author
        );

        let stranger = Uuid::from_u128(99);
        assert!(matches!(
            record(&e, s.audit.id, &stranger, Outcome::Pass, None, "rev"),
            Err(AuditError::NotInAudit { .. })
        ));
        assert!(matches!(
            record(&e, 999, &first, Outcome::Pass, None, "rev"),
            Err(AuditError::UnknownAudit(999))
        ));
        assert!(matches!(show(&e, 999), Err(AuditError::UnknownAudit(999))));
        assert_eq!(list_audits(&e, Some("s")).expect("listed").len(), 2);
        let nobody = AuditFilter {
            author: Some("nobody".into()),
            ..AuditFilter::default()
        };
        assert!(matches!(
            sample(&e, "s", 0.5, 1, &nobody, "rev"),
            Err(AuditError::NothingToSample(_))
        ));
    }
}
