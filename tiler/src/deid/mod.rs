//! De-identification: what in a slide could identify a patient, and what a cache may keep.
//!
//! Every property a reader reports goes through [`classify`], which sorts it into one of
//! three classes:
//! - **safe**: geometry, optics, colour, vendor and model names, by exact name per vendor
//!   (free-text ones such as `tiff.Model` are still checked for serial numbers, dates and
//!   ids);
//! - **identifying**, with a [`Reason`]: exact names per vendor, then words in the name
//!   (date, time, user, barcode, label, file, patient, accession, serial, uid, name… or a
//!   last word "id"), then the value itself (a date, a time, a UUID, a dotted UID).
//!   Free-text properties (TIFF `ImageDescription`, OpenSlide's comment, any
//!   `…Description` or `…Comment`) are identifying when a field they embed is, or when
//!   their text holds a date or an id;
//! - **unrecognised**: everything else. Not reported as identifying, and not kept either.
//!
//! Caches keep only [`safe_properties`] (deny by default), and the server filters what it
//! serves through [`servable`] again, so a cache from an older or foreign writer cannot
//! leak what this version would not have written. Label, macro and thumbnail images never
//! enter a cache. [`slide_findings`] and [`cache_findings`] list what could identify a
//! patient, for `tessera deid-check`.

mod embedded;
mod keys;
mod pseudonym;
mod report;
mod text;

pub use embedded::embedded_fields;
pub use pseudonym::{PSEUDONYM_PREFIX, is_pseudonymous_id, pseudonymous_id};
pub use report::{Finding, cache_findings, slide_findings, unrecognised_keys};

use crate::cache::Metadata;
use serde::Serialize;
use std::collections::BTreeMap;

/// Why something could identify a patient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    Date,
    Person,
    Patient,
    Barcode,
    FileName,
    Name,
    Accession,
    UniqueId,
    Institution,
    FreeText,
    LabelImage,
    MacroImage,
    OtherImage,
    NotKnownSafe,
}

impl Reason {
    /// What the reason means, for people.
    #[must_use]
    pub fn describe(self) -> &'static str {
        match self {
            Self::Date => "a date or time (of scanning, creation, birth…)",
            Self::Person => "a user, operator or other person",
            Self::Patient => "patient data",
            Self::Barcode => "a barcode or label text",
            Self::FileName => "a file name",
            Self::Name => "a name or reference given to the slide, case or project",
            Self::Accession => "an accession, case, specimen, study or slot number",
            Self::UniqueId => "a unique id of the scan, slide or instrument (serial, UID, host)",
            Self::Institution => "an institution, place or copyright holder",
            Self::FreeText => "free text that embeds identifying fields",
            Self::LabelImage => "a photograph of the slide label (names, barcodes, case numbers)",
            Self::MacroImage => "an overview photograph of the glass slide, label included",
            Self::OtherImage => {
                "an image stored beside the pyramid; some formats draw the label into it"
            }
            Self::NotKnownSafe => "not known to be safe (this version would not have written it)",
        }
    }
}

/// What [`classify`] decides about one property.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Safe,
    Identifying(Reason),
    Unrecognised,
}

/// Classifies one property, by its name first and then by its value.
///
/// ```
/// use tiler::deid::{Class, Reason, classify};
/// assert_eq!(classify("aperio.MPP", "0.4990"), Class::Safe);
/// assert_eq!(classify("aperio.Filename", "CMU-1"), Class::Identifying(Reason::FileName));
/// assert_eq!(classify("aperio.Date", "12/29/09"), Class::Identifying(Reason::Date));
/// assert_eq!(classify("tiff.Model", "Scanner SN 1234567"), Class::Identifying(Reason::UniqueId));
/// assert_eq!(classify("acme.Scribble", "2009-12-29"), Class::Identifying(Reason::Date));
/// assert_eq!(classify("aperio.Parmset", "USM Filter"), Class::Unrecognised);
/// ```
#[must_use]
pub fn classify(key: &str, value: &str) -> Class {
    if keys::is_free_text(key) {
        return classify_free_text(value);
    }
    match keys::by_name(key) {
        keys::ByName::Safe { free_text: false } => Class::Safe,
        keys::ByName::Safe { free_text: true } => {
            value_reason(value, true).map_or(Class::Safe, Class::Identifying)
        }
        keys::ByName::Identifying(reason) => Class::Identifying(reason),
        keys::ByName::Neither => Class::Unrecognised,
        keys::ByName::Unknown => {
            value_reason(value, false).map_or(Class::Unrecognised, Class::Identifying)
        }
    }
}

fn classify_free_text(value: &str) -> Class {
    let embeds = embedded_fields(value)
        .iter()
        .any(|(k, v)| matches!(classify(k, v), Class::Identifying(_)));
    if embeds || text::looks(value).is_some() {
        Class::Identifying(Reason::FreeText)
    } else {
        Class::Unrecognised
    }
}

/// What a value says by itself: a date, a time or an id; with `serial`, also a serial
/// number (five digits in a row, or the words serial or S/N).
fn value_reason(value: &str, serial: bool) -> Option<Reason> {
    match text::looks(value) {
        Some(text::Looks::DateOrTime) => return Some(Reason::Date),
        Some(text::Looks::UniqueId) => return Some(Reason::UniqueId),
        None => {}
    }
    let lower = value.to_ascii_lowercase();
    let serial_like =
        text::longest_digit_run(value) >= 5 || lower.contains("serial") || lower.contains("s/n");
    (serial && serial_like).then_some(Reason::UniqueId)
}

/// The properties a cache may keep and the server may serve: the safe ones.
#[must_use]
pub fn safe_properties(properties: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    properties
        .iter()
        .filter(|(k, v)| classify(k, v) == Class::Safe)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// One identifying value of a slide: a property, or a field inside a free-text property.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identifying {
    /// The property, or the field name inside `within`.
    pub key: String,
    /// The free-text property the field was found in.
    pub within: Option<String>,
    pub value: String,
    pub reason: Reason,
}

/// Every identifying value among `properties`: identifying properties, and the
/// identifying fields free-text properties embed (the free text itself is not listed).
#[must_use]
pub fn identifying_values(properties: &BTreeMap<String, String>) -> Vec<Identifying> {
    let mut out = Vec::new();
    for (key, value) in properties {
        if keys::is_free_text(key) {
            for (field, v) in embedded_fields(value) {
                if let Class::Identifying(reason) = classify(&field, &v) {
                    out.push(Identifying {
                        key: field,
                        within: Some(key.clone()),
                        value: v,
                        reason,
                    });
                }
            }
        } else if let Class::Identifying(reason) = classify(key, value) {
            out.push(Identifying {
                key: key.clone(),
                within: None,
                value: value.clone(),
                reason,
            });
        }
    }
    out
}

/// Values shorter than this are not looked for inside names (`20`, `F`, `yes` would
/// match by chance).
pub const MIN_LEAK_CHARS: usize = 4;

/// The first identifying value of at least [`MIN_LEAK_CHARS`] characters that `name`
/// contains, ignoring case, as it is or with the characters ids may not hold replaced
/// by `_` (`12/29/09` → `12_29_09`).
#[must_use]
pub fn leaked_value(name: &str, properties: &BTreeMap<String, String>) -> Option<Identifying> {
    let name = name.to_lowercase();
    identifying_values(properties).into_iter().find(|v| {
        let value = v.value.trim().to_lowercase();
        value.chars().count() >= MIN_LEAK_CHARS
            && (name.contains(&value) || name.contains(&id_safe(&value)))
    })
}

/// Every character outside `[A-Za-z0-9._-]` replaced by `_`, as slide ids are made.
fn id_safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The part of a cache's metadata that describes the slide, as it may be served.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Servable {
    pub vendor: Option<String>,
    pub scanner_model: Option<String>,
    pub properties: BTreeMap<String, String>,
}

/// Filters a cache's descriptive metadata through the classifier, whoever wrote it.
#[must_use]
pub fn servable(metadata: &Metadata) -> Servable {
    Servable {
        vendor: metadata.vendor.clone().filter(|v| is_vendor_name(v)),
        scanner_model: metadata.scanner_model.clone().filter(|v| is_safe_model(v)),
        properties: safe_properties(&metadata.properties),
    }
}

/// A scanner model name with no serial number, date or id in it.
#[must_use]
pub fn is_safe_model(value: &str) -> bool {
    value_reason(value, true).is_none()
}

/// A vendor name as readers report them (`aperio`, `generic-tiff`, `png`).
fn is_vendor_name(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 32
        && v.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[cfg(test)]
mod tests;
