//! A DICOM data set in the DICOM JSON model (PS3.18 F.2): attributes keyed by their tag as
//! eight upper-case hex digits, each `{"vr": …, "Value": […]}`, sequences as arrays of
//! data sets. Attributes are kept in tag order, as DICOM writes them.

use dicom_core::{Tag, VR};
use serde_json::Value;
use std::collections::BTreeMap;

/// A data set being built for a `application/dicom+json` answer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Dataset(BTreeMap<String, Value>);

/// The DICOM JSON key of `tag`: `0020000D`.
#[must_use]
pub fn key(tag: Tag) -> String {
    format!("{:04X}{:04X}", tag.0, tag.1)
}

/// `v` with as many decimals as a Decimal String's 16 characters hold (PS3.5 6.2):
/// written as the shortest decimal that reads back as the rounded value.
fn fit_ds(v: f64) -> f64 {
    (0..=15)
        .rev()
        .map(|decimals| {
            let scale = 10f64.powi(decimals);
            (v * scale).round() / scale
        })
        .find(|r| serde_json::Number::from_f64(*r).is_some_and(|n| n.to_string().len() <= 16))
        .unwrap_or(v)
}

impl Dataset {
    /// Sets `tag` to `values` (none: present but empty, as Type 2 attributes may be).
    pub fn put(&mut self, tag: Tag, vr: VR, values: Vec<Value>) -> &mut Self {
        let mut element = serde_json::Map::new();
        element.insert("vr".into(), vr.to_string().into());
        if !values.is_empty() {
            element.insert("Value".into(), Value::Array(values));
        }
        self.0.insert(key(tag), Value::Object(element));
        self
    }

    /// One text value (UI, CS, SH, LO, DA…).
    pub fn text(&mut self, tag: Tag, vr: VR, value: &str) -> &mut Self {
        self.put(tag, vr, vec![Value::from(value)])
    }

    /// Several text values (a CS with multiplicity, as ImageType).
    pub fn texts(&mut self, tag: Tag, vr: VR, values: &[&str]) -> &mut Self {
        self.put(tag, vr, values.iter().map(|v| Value::from(*v)).collect())
    }

    /// One integer (US, UL, IS).
    pub fn int(&mut self, tag: Tag, vr: VR, value: u64) -> &mut Self {
        self.put(tag, vr, vec![Value::from(value)])
    }

    /// Decimal numbers (DS, FL, FD); a DS value is rounded to fit its 16 characters.
    pub fn decimals(&mut self, tag: Tag, vr: VR, values: &[f64]) -> &mut Self {
        let fit = |v: f64| if vr == VR::DS { fit_ds(v) } else { v };
        self.put(
            tag,
            vr,
            values.iter().map(|v| Value::from(fit(*v))).collect(),
        )
    }

    /// Present without a value.
    pub fn empty(&mut self, tag: Tag, vr: VR) -> &mut Self {
        self.put(tag, vr, Vec::new())
    }

    /// A sequence of `items`.
    pub fn sequence(&mut self, tag: Tag, items: Vec<Dataset>) -> &mut Self {
        self.put(
            tag,
            VR::SQ,
            items.into_iter().map(Dataset::into_json).collect(),
        )
    }

    /// The first value of `tag` as text, for matching a query: `None` when the attribute
    /// is missing or empty.
    #[must_use]
    pub fn first_text(&self, tag: Tag) -> Option<&str> {
        self.0.get(&key(tag))?.get("Value")?.get(0)?.as_str()
    }

    /// Whether the data set has `tag`, with or without a value.
    #[must_use]
    pub fn has(&self, tag: Tag) -> bool {
        self.0.contains_key(&key(tag))
    }

    /// Copies the attributes of `other` into this data set.
    pub fn extend(&mut self, other: Dataset) -> &mut Self {
        self.0.extend(other.0);
        self
    }

    #[must_use]
    pub fn into_json(self) -> Value {
        Value::Object(self.0.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dicom_dictionary_std::tags;
    use serde_json::json;

    #[test]
    fn dicomweb_dataset_is_dicom_json() {
        let mut item = Dataset::default();
        item.text(tags::CODE_VALUE, VR::SH, "111744");
        let mut d = Dataset::default();
        d.text(tags::STUDY_INSTANCE_UID, VR::UI, "2.25.1")
            .int(tags::ROWS, VR::US, 256)
            .empty(tags::PATIENT_NAME, VR::PN)
            .sequence(tags::ILLUMINATION_TYPE_CODE_SEQUENCE, vec![item]);
        assert_eq!(d.first_text(tags::STUDY_INSTANCE_UID), Some("2.25.1"));
        assert_eq!(d.first_text(tags::PATIENT_NAME), None);
        assert!(d.has(tags::PATIENT_NAME));
        let json = d.into_json();
        assert_eq!(json["0020000D"], json!({"vr": "UI", "Value": ["2.25.1"]}));
        assert_eq!(json["00280010"], json!({"vr": "US", "Value": [256]}));
        assert_eq!(json["00100010"], json!({"vr": "PN"}));
        assert_eq!(
            json["00220016"]["Value"][0]["00080100"]["Value"][0],
            "111744"
        );
        let keys: Vec<&String> = json.as_object().expect("object").keys().collect();
        assert!(keys.is_sorted(), "attributes in tag order: {keys:?}");
    }

    #[test]
    fn dicomweb_decimal_strings_fit_16_characters() {
        let mut d = Dataset::default();
        d.decimals(
            tags::PIXEL_SPACING,
            VR::DS,
            &[0.000_997_663_746_630_727_7, 0.0005],
        )
        .decimals(
            tags::IMAGED_VOLUME_WIDTH,
            VR::FL,
            &[0.000_997_663_746_630_727_7],
        );
        let json = d.into_json();
        let spacing = &json["00280030"]["Value"];
        assert_eq!(spacing[0].to_string(), "0.00099766374663");
        assert_eq!(spacing[1].to_string(), "0.0005");
        // Floats (FL) are binary: no length to fit.
        assert_eq!(
            json["00480001"]["Value"][0].as_f64(),
            Some(0.000_997_663_746_630_727_7)
        );
    }
}
