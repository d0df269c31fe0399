//! Class numbers of a semantic mask: 0 is background, then 1, 2, … in the order of the
//! slide's project schema, or, outside projects, the classes of the slide's annotations
//! sorted by name. `--classes` keeps some of them without renumbering.

use super::error::ResearchError;

/// Class name → number, for one export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassNumbers {
    /// Number `i + 1` is `names[i]`.
    names: Vec<String>,
}

impl ClassNumbers {
    /// Numbers `schema`'s classes in order when there is a schema, else `present` sorted
    /// by name (duplicates dropped). At most 255 classes fit an 8-bit mask.
    pub fn new(
        schema: Option<Vec<String>>,
        present: impl IntoIterator<Item = String>,
    ) -> Result<Self, ResearchError> {
        let names = if let Some(names) = schema {
            names
        } else {
            let mut names: Vec<String> = present.into_iter().collect();
            names.sort_unstable();
            names.dedup();
            names
        };
        if names.len() > 255 {
            return Err(ResearchError::Limit(format!(
                "{} classes do not fit an 8-bit semantic mask (at most 255; choose some with --classes)",
                names.len()
            )));
        }
        Ok(Self { names })
    }

    /// The number of `class`, if it has one.
    #[must_use]
    pub fn number(&self, class: &str) -> Option<u8> {
        self.names
            .iter()
            .position(|n| n == class)
            .map(|i| (i + 1) as u8)
    }

    /// `(name, number)` in number order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, u8)> {
        self.names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str(), (i + 1) as u8))
    }

    /// `{"name": number}` in number order.
    #[must_use]
    pub fn to_json(&self) -> serde_json::Value {
        self.iter()
            .map(|(n, i)| (n.to_string(), serde_json::Value::from(i)))
            .collect::<serde_json::Map<_, _>>()
            .into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_order_wins_else_names_sorted_from_one() -> Result<(), ResearchError> {
        let present = ["Tumor", "Immune", "Tumor"].map(String::from);
        let sorted = ClassNumbers::new(None, present.clone())?;
        assert_eq!(sorted.number("Immune"), Some(1));
        assert_eq!(sorted.number("Tumor"), Some(2));
        let schema = ClassNumbers::new(
            Some(vec!["Tumor".into(), "Stroma".into(), "Immune".into()]),
            present,
        )?;
        assert_eq!(schema.number("Tumor"), Some(1));
        assert_eq!(schema.number("Immune"), Some(3));
        assert_eq!(
            schema.to_json().to_string(),
            r#"{"Tumor":1,"Stroma":2,"Immune":3}"#
        );
        Ok(())
    }

    #[test]
    fn more_than_255_classes_are_refused() {
        let many = (0..256).map(|i| format!("c{i}"));
        assert!(matches!(
            ClassNumbers::new(None, many),
            Err(ResearchError::Limit(_))
        ));
    }
}
