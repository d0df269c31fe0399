//! QIDO-RS query parameters (PS3.18 8.3.4): matching keys given by keyword
//! (`StudyInstanceUID`) or tag (`0020000D`), `limit`, `offset`, `includefield` and
//! `fuzzymatching`. Tessera matches the UIDs, SOP class and modality, and the patient and
//! study attributes it presents empty (a key with a value matches no slide: there is no
//! patient data to match); a DICOM attribute it cannot match on is ignored and named in a
//! `Warning`, as the standard allows, and a key that is no DICOM attribute is refused.

use super::dataset::Dataset;
use dicom_core::Tag;
use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
use dicom_dictionary_std::{StandardDataDictionary, tags};

/// The level a search answers at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Study,
    Series,
    Instance,
}

/// Why a query string was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum QueryError {
    #[error("query key {0:?} is neither a DICOM attribute keyword nor a tag (ggggeeee)")]
    UnknownKey(String),
    #[error("query parameter {key}={value:?} is not a whole number")]
    NotANumber { key: String, value: String },
}

/// A parsed search.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    /// (attribute, the values any of which it must equal).
    matches: Vec<(Tag, Vec<String>)>,
    pub limit: Option<usize>,
    pub offset: usize,
    /// Keys and parameters that were ignored, for the `Warning` header.
    pub ignored: Vec<String>,
}

/// Attributes every slide presents without a value: a key with a value never matches.
const ALWAYS_EMPTY: [Tag; 9] = [
    tags::PATIENT_NAME,
    tags::PATIENT_ID,
    tags::PATIENT_BIRTH_DATE,
    tags::PATIENT_SEX,
    tags::STUDY_DATE,
    tags::STUDY_TIME,
    tags::ACCESSION_NUMBER,
    tags::REFERRING_PHYSICIAN_NAME,
    tags::STUDY_ID,
];

/// The attributes a search at `level` can match on (besides [`ALWAYS_EMPTY`]).
fn matchable(level: Level) -> &'static [Tag] {
    match level {
        Level::Study => &[tags::STUDY_INSTANCE_UID, tags::MODALITIES_IN_STUDY],
        Level::Series => &[
            tags::STUDY_INSTANCE_UID,
            tags::SERIES_INSTANCE_UID,
            tags::MODALITY,
        ],
        Level::Instance => &[
            tags::STUDY_INSTANCE_UID,
            tags::SERIES_INSTANCE_UID,
            tags::MODALITY,
            tags::SOP_INSTANCE_UID,
            tags::SOP_CLASS_UID,
        ],
    }
}

/// The tag a query key names: eight hex digits, or a keyword of the standard dictionary.
fn tag_of(key: &str) -> Option<Tag> {
    if key.len() == 8 && key.bytes().all(|b| b.is_ascii_hexdigit()) {
        let group = u16::from_str_radix(&key[..4], 16).ok()?;
        let element = u16::from_str_radix(&key[4..], 16).ok()?;
        return Some(Tag(group, element));
    }
    StandardDataDictionary
        .by_name(key)
        .map(DataDictionaryEntry::tag)
}

impl Query {
    /// Parses the query string's `pairs` for a search at `level`.
    pub fn parse(pairs: &[(String, String)], level: Level) -> Result<Self, QueryError> {
        let mut query = Self::default();
        for (key, value) in pairs {
            match key.as_str() {
                "limit" => query.limit = Some(number(key, value)?),
                "offset" => query.offset = number(key, value)?,
                // Every attribute Tessera has is always returned.
                "includefield" => {}
                "fuzzymatching" if value == "false" => {}
                "fuzzymatching" => query.ignored.push(key.clone()),
                _ => {
                    let tag = tag_of(key).ok_or_else(|| QueryError::UnknownKey(key.clone()))?;
                    // A study's modality is searched as ModalitiesInStudy.
                    let tag = if level == Level::Study && tag == tags::MODALITY {
                        tags::MODALITIES_IN_STUDY
                    } else {
                        tag
                    };
                    if !matchable(level).contains(&tag) && !ALWAYS_EMPTY.contains(&tag) {
                        query.ignored.push(key.clone());
                    } else if !value.is_empty() && value != "*" {
                        // UID list matching: values separated by commas or backslashes.
                        let values = value
                            .split([',', '\\'])
                            .map(|v| v.trim().to_string())
                            .collect();
                        query.matches.push((tag, values));
                    }
                }
            }
        }
        Ok(query)
    }

    /// Whether `attributes` satisfy every matching key.
    #[must_use]
    pub fn matches(&self, attributes: &Dataset) -> bool {
        self.matches.iter().all(|(tag, wanted)| {
            attributes
                .first_text(*tag)
                .is_some_and(|have| wanted.iter().any(|w| w == have))
        })
    }

    /// The page of `results` that `offset` and `limit` select.
    pub fn page<T>(&self, results: impl IntoIterator<Item = T>) -> Vec<T> {
        results
            .into_iter()
            .skip(self.offset)
            .take(self.limit.unwrap_or(usize::MAX))
            .collect()
    }
}

fn number(key: &str, value: &str) -> Result<usize, QueryError> {
    value.parse().map_err(|_| QueryError::NotANumber {
        key: key.to_string(),
        value: value.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use dicom_core::VR;

    fn pairs(q: &[(&str, &str)]) -> Vec<(String, String)> {
        q.iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect()
    }

    #[test]
    fn dicomweb_query_matches_uids_by_keyword_or_tag() {
        let mut d = Dataset::default();
        d.text(tags::STUDY_INSTANCE_UID, VR::UI, "2.25.7")
            .text(tags::MODALITY, VR::CS, "SM");
        let by_keyword =
            Query::parse(&pairs(&[("StudyInstanceUID", "2.25.7")]), Level::Series).expect("ok");
        assert!(by_keyword.matches(&d));
        let by_tag =
            Query::parse(&pairs(&[("0020000D", "2.25.1,2.25.7")]), Level::Series).expect("ok");
        assert!(by_tag.matches(&d));
        let other = Query::parse(&pairs(&[("Modality", "CT")]), Level::Series).expect("ok");
        assert!(!other.matches(&d));
        let universal = Query::parse(&pairs(&[("Modality", "*")]), Level::Series).expect("ok");
        assert!(universal.matches(&d));
    }

    #[test]
    fn dicomweb_query_on_patient_data_matches_nothing() {
        let mut d = Dataset::default();
        d.text(tags::STUDY_INSTANCE_UID, VR::UI, "2.25.7")
            .empty(tags::PATIENT_ID, VR::LO);
        for level in [Level::Study, Level::Series, Level::Instance] {
            let q = Query::parse(&pairs(&[("PatientID", "123")]), level).expect("ok");
            assert!(q.ignored.is_empty());
            assert!(!q.matches(&d), "{level:?}");
            let any = Query::parse(&pairs(&[("PatientID", "*")]), level).expect("ok");
            assert!(any.matches(&d), "{level:?}");
        }
    }

    #[test]
    fn dicomweb_query_ignores_unsupported_and_refuses_unknown_keys() {
        let q = Query::parse(
            &pairs(&[("StudyDescription", "x"), ("limit", "2"), ("offset", "1")]),
            Level::Study,
        )
        .expect("ok");
        assert_eq!(q.ignored, ["StudyDescription"]);
        assert!(q.matches(&Dataset::default()));
        assert_eq!(q.page(0..10), [1, 2]);
        assert_eq!(
            Query::parse(&pairs(&[("NoSuchKey", "1")]), Level::Study),
            Err(QueryError::UnknownKey("NoSuchKey".into()))
        );
        assert!(Query::parse(&pairs(&[("limit", "-1")]), Level::Study).is_err());
    }
}
