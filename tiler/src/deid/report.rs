//! What could identify a patient in a slide or a cache: the findings `deid-check` lists.

use super::{Class, Reason, classify, identifying_values, text};
use crate::cache::Metadata;
use crate::source::SlideInfo;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// One thing that could identify a patient.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Finding {
    /// An image stored beside the pyramid (label, macro, thumbnail).
    AssociatedImage {
        name: String,
        width: u32,
        height: u32,
        why: Reason,
    },
    /// The file's own name.
    FileName {
        name: String,
        why: Reason,
        detail: String,
    },
    /// A property of the slide (or, in a cache, one the cache carries).
    Property {
        key: String,
        value: String,
        why: Reason,
    },
    /// A field inside a free-text property, not also reported as a property of its own.
    Embedded {
        within: String,
        key: String,
        value: String,
        why: Reason,
    },
    /// A metadata field of a cache.
    CacheField {
        field: String,
        value: String,
        why: Reason,
    },
}

impl Finding {
    /// One line for people: what, its value, and why it matters.
    #[must_use]
    pub fn describe(&self) -> String {
        match self {
            Self::AssociatedImage {
                name,
                width,
                height,
                why,
            } => format!(
                "associated image  {name} ({width}×{height}): {}",
                why.describe()
            ),
            Self::FileName { name, detail, .. } => format!("file name         {name}: {detail}"),
            Self::Property { key, value, why } => {
                format!(
                    "property          {key} = {}: {}",
                    shorten(value),
                    why.describe()
                )
            }
            Self::Embedded {
                within,
                key,
                value,
                why,
            } => format!(
                "embedded          {key} = {} (inside {within}): {}",
                shorten(value),
                why.describe()
            ),
            Self::CacheField { field, value, why } => {
                format!(
                    "cache field       {field} = {}: {}",
                    shorten(value),
                    why.describe()
                )
            }
        }
    }
}

/// Long values (whole descriptions) cut to one readable line.
fn shorten(value: &str) -> String {
    const MAX: usize = 100;
    let flat: String = value
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.chars().count() <= MAX {
        flat
    } else {
        flat.chars().take(MAX).chain(std::iter::once('…')).collect()
    }
}

/// Everything in a slide file that could identify a patient: its associated images, its
/// file name, its identifying properties, and identifying fields inside its free-text
/// properties that no property repeats.
#[must_use]
pub fn slide_findings(path: &Path, info: &SlideInfo) -> Vec<Finding> {
    let mut findings: Vec<Finding> = info
        .associated_images
        .iter()
        .map(|image| Finding::AssociatedImage {
            name: image.name.clone(),
            width: image.width,
            height: image.height,
            why: match image.name.as_str() {
                "label" => Reason::LabelImage,
                "macro" => Reason::MacroImage,
                _ => Reason::OtherImage,
            },
        })
        .collect();
    findings.sort_by(|a, b| match (a, b) {
        (Finding::AssociatedImage { name: x, .. }, Finding::AssociatedImage { name: y, .. }) => {
            x.cmp(y)
        }
        _ => std::cmp::Ordering::Equal,
    });
    findings.extend(file_name_finding(path, &info.properties));
    let mut seen: Vec<(String, String)> = Vec::new();
    for (key, value) in &info.properties {
        if let Class::Identifying(why) = classify(key, value) {
            seen.push((last_word(key).to_string(), value.trim().to_string()));
            findings.push(Finding::Property {
                key: key.clone(),
                value: value.clone(),
                why,
            });
        }
    }
    for v in identifying_values(&info.properties) {
        let Some(within) = v.within else { continue };
        let pair = (v.key.clone(), v.value.trim().to_string());
        if !seen.contains(&pair) {
            seen.push(pair);
            findings.push(Finding::Embedded {
                within,
                key: v.key,
                value: v.value,
                why: v.reason,
            });
        }
    }
    findings
}

/// The part of a property name after its vendor prefix (`aperio.ScanScope ID` → `ScanScope ID`).
fn last_word(key: &str) -> &str {
    key.split_once('.').map_or(key, |(_, rest)| rest)
}

/// What a cache carries that it should not: properties that are not safe, a scanner
/// model with a serial number, fields this version does not write, and a file name that
/// looks like an identifier. A cache this version writes has none.
#[must_use]
pub fn cache_findings(path: &Path, metadata: &Metadata) -> Vec<Finding> {
    let mut findings: Vec<Finding> = file_name_finding(path, &BTreeMap::new())
        .into_iter()
        .collect();
    for (key, value) in &metadata.properties {
        let why = match classify(key, value) {
            Class::Safe => continue,
            Class::Identifying(why) => why,
            Class::Unrecognised => Reason::NotKnownSafe,
        };
        findings.push(Finding::Property {
            key: key.clone(),
            value: value.clone(),
            why,
        });
    }
    let servable = super::servable(metadata);
    for (field, value, kept) in [
        ("vendor", &metadata.vendor, &servable.vendor),
        (
            "scanner_model",
            &metadata.scanner_model,
            &servable.scanner_model,
        ),
    ] {
        if let (Some(value), None) = (value, kept) {
            findings.push(Finding::CacheField {
                field: field.into(),
                value: value.clone(),
                why: super::value_reason(value, true).unwrap_or(Reason::NotKnownSafe),
            });
        }
    }
    for (field, value) in &metadata.other {
        findings.push(Finding::CacheField {
            field: field.clone(),
            value: value
                .as_str()
                .map_or_else(|| value.to_string(), str::to_string),
            why: Reason::NotKnownSafe,
        });
    }
    findings
}

/// The file name, when it contains an identifying value of the slide, a run of four or
/// more digits, a date, a UUID or a long hexadecimal token. Pseudonymous names pass.
fn file_name_finding(path: &Path, properties: &BTreeMap<String, String>) -> Option<Finding> {
    let name = path.file_name()?.to_string_lossy().into_owned();
    let stem = path
        .file_stem()
        .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
    if super::is_pseudonymous_id(&stem) {
        return None;
    }
    let found = |why: Reason, detail: String| {
        Some(Finding::FileName {
            name: name.clone(),
            why,
            detail,
        })
    };
    if let Some(v) = super::leaked_value(&name, properties) {
        let holder = v.within.map_or_else(
            || v.key.clone(),
            |within| format!("{} (inside {within})", v.key),
        );
        return found(v.reason, format!("contains the value of {holder}"));
    }
    match text::looks(&name) {
        Some(text::Looks::DateOrTime) => {
            return found(Reason::Date, "contains a date or time".into());
        }
        Some(text::Looks::UniqueId) => {
            return found(Reason::UniqueId, "contains a UUID or UID".into());
        }
        None => {}
    }
    let digits = text::longest_digit_run(&stem);
    if digits >= 4 {
        return found(
            Reason::Accession,
            format!(
                "contains {digits} digits in a row (a case, accession or record number, or a date?)"
            ),
        );
    }
    if text::has_hex_token(&stem, 8) {
        return found(Reason::UniqueId, "contains a long hexadecimal token".into());
    }
    None
}

/// Properties that are neither safe nor identifying: left out of caches, not findings.
#[must_use]
pub fn unrecognised_keys(properties: &BTreeMap<String, String>) -> Vec<String> {
    properties
        .iter()
        .filter(|(k, v)| classify(k, v) == Class::Unrecognised)
        .map(|(k, _)| k.clone())
        .collect()
}
