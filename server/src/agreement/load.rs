//! Raters read from the annotation engine: who a rater is (`user:NAME`, `layer:NAME`, or
//! a bare name) and its annotations on a slide.
//!
//! A bare name is the author if any annotation on the slide has that author, else the
//! layer of that name. The slide is read in one pass over the store, inside one read
//! transaction (a consistent snapshot while edits go on), whatever the number of raters;
//! only the geometries of the raters' annotations are decoded.

use super::error::{AgreementError, rater_parameter};
use super::{Instance, Rater};
use crate::annotations::model::Annotation;
use crate::annotations::store::StoreError;
use crate::annotations::{AnnotationError, Engine};
use serde::Serialize;

/// What a rater name refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// The annotations whose author is the name.
    User,
    /// The annotations in the layer of that name.
    Layer,
}

impl Source {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Layer => "layer",
        }
    }
}

/// A rater as the caller named it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaterSpec {
    /// The text given (`user:ana`, `layer:review`, `ana`).
    pub given: String,
    /// `None` for a bare name: the author if there is one, else the layer.
    pub source: Option<Source>,
    pub name: String,
}

impl RaterSpec {
    /// Reads `user:NAME`, `layer:NAME` or a bare `NAME`; `parameter` names it in errors.
    pub fn parse(text: &str, parameter: &'static str) -> Result<Self, AgreementError> {
        let text = text.trim();
        let (source, name) = match text.split_once(':') {
            Some(("user", name)) => (Some(Source::User), name),
            Some(("layer", name)) => (Some(Source::Layer), name),
            _ => (None, text),
        };
        if name.trim().is_empty() {
            return Err(AgreementError::bad(
                parameter,
                format!("{text:?} names no rater"),
            ));
        }
        Ok(Self {
            given: text.to_string(),
            source,
            name: name.to_string(),
        })
    }
}

/// A rater read from the store.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub spec: RaterSpec,
    /// What the name turned out to be.
    pub source: Source,
    /// Named by `spec.given`.
    pub rater: Rater,
}

/// What one pass over a slide found.
#[derive(Debug)]
pub struct Scan {
    pub raters: Vec<Loaded>,
    /// Annotations in the layer `count_layer` named, if it did.
    pub in_layer: usize,
}

/// Per spec, the annotations found by author and by layer (a bare name collects both
/// until it is known which one it is).
#[derive(Default)]
struct Buckets {
    by_author: Option<Vec<Instance>>,
    by_layer: Option<Vec<Instance>>,
}

/// Reads the raters' annotations on `slide` and counts those in `count_layer`.
pub fn scan(
    engine: &Engine,
    slide: &str,
    specs: &[RaterSpec],
    count_layer: Option<&str>,
) -> Result<Scan, AgreementError> {
    engine.slide_size(slide)?;
    let mut buckets: Vec<Buckets> = specs
        .iter()
        .map(|s| Buckets {
            by_author: (s.source != Some(Source::Layer)).then(Vec::new),
            by_layer: (s.source != Some(Source::User)).then(Vec::new),
        })
        .collect();
    let mut in_layer = 0usize;
    let view = engine.store_snapshot()?;
    let mut failure = None;
    let result = view.for_each_view_in_slide(slide, &mut |row| {
        if count_layer == Some(row.layer) {
            in_layer += 1;
        }
        let mut geometry = None;
        for (spec, b) in specs.iter().zip(&mut buckets) {
            let targets = [
                (row.author == spec.name).then_some(&mut b.by_author),
                (row.layer == spec.name).then_some(&mut b.by_layer),
            ];
            for list in targets.into_iter().flatten().filter_map(Option::as_mut) {
                if geometry.is_none() {
                    match Annotation::decode_geometry_only(row.body) {
                        Ok(g) => geometry = Some(g),
                        Err(e) => {
                            failure = Some(AnnotationError::Corrupt(format!("{}: {e}", row.id)));
                            return Err(StoreError::stop());
                        }
                    }
                }
                if let Some(g) = &geometry {
                    list.push(Instance {
                        id: row.id,
                        class: row.class.to_string(),
                        geometry: g.clone(),
                    });
                }
            }
        }
        Ok(())
    });
    if let Some(e) = failure {
        return Err(e.into());
    }
    result.map_err(|e| engine.db_error(e))?;
    let mut raters = Vec::with_capacity(specs.len());
    for (k, (spec, b)) in specs.iter().zip(buckets).enumerate() {
        let (source, instances) = match (spec.source, b.by_author, b.by_layer) {
            (_, Some(found), _) if !found.is_empty() => (Source::User, found),
            (_, _, Some(found)) if !found.is_empty() => (Source::Layer, found),
            (source, ..) => {
                let what = match source {
                    Some(Source::User) => format!("the author {:?}", spec.name),
                    Some(Source::Layer) => format!("the layer {:?}", spec.name),
                    None => format!("the author or layer {:?}", spec.name),
                };
                return Err(AgreementError::UnknownRater {
                    rater: spec.given.clone(),
                    slide: slide.to_string(),
                    what,
                });
            }
        };
        if let Some(earlier) = raters
            .iter()
            .find(|l: &&Loaded| l.source == source && l.spec.name == spec.name)
        {
            return Err(AgreementError::bad(
                rater_parameter(k),
                format!(
                    "{:?} is the same rater as {:?}",
                    spec.given, earlier.spec.given
                ),
            ));
        }
        raters.push(Loaded {
            spec: spec.clone(),
            source,
            rater: Rater {
                name: spec.given.clone(),
                instances,
            },
        });
    }
    Ok(Scan { raters, in_layer })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rater_names_take_optional_prefixes() {
        let s = RaterSpec::parse("user:ana", "a").expect("valid");
        assert_eq!((s.source, s.name.as_str()), (Some(Source::User), "ana"));
        let s = RaterSpec::parse("layer:review 2", "b").expect("valid");
        assert_eq!(
            (s.source, s.name.as_str()),
            (Some(Source::Layer), "review 2")
        );
        let s = RaterSpec::parse("ana", "a").expect("valid");
        assert_eq!((s.source, s.name.as_str()), (None, "ana"));
        // Any other prefix is part of a bare name.
        let s = RaterSpec::parse("dr:who", "a").expect("valid");
        assert_eq!((s.source, s.name.as_str()), (None, "dr:who"));
        for bad in ["", "  ", "user:", "layer: "] {
            let e = RaterSpec::parse(bad, "also").expect_err("invalid");
            assert!(e.to_string().starts_with("parameter also:"), "{e}");
        }
    }
}
