//! Slide ids: the name a cache is stored and served under.

use std::collections::BTreeMap;
use std::path::Path;

/// The id of a slide tiled without `--id`: its file stem with every character outside
/// `[A-Za-z0-9._-]` replaced by `_`.
///
/// ```
/// use std::path::Path;
/// assert_eq!(server::slide_id::from_path(Path::new("/x/CMU 1 (small).svs")), "CMU_1__small_");
/// assert_eq!(server::slide_id::from_path(Path::new("a.b.tiff")), "a.b");
/// ```
#[must_use]
pub fn from_path(path: &Path) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    sanitize(&stem)
}

/// The id a slide gets without `--id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefaultId {
    pub id: String,
    /// When the id is a pseudonym: the property whose value the file name contains.
    pub pseudonym_because: Option<String>,
}

/// The file stem made safe ([`from_path`]) and without a Deep Zoom ending (`x_files`
/// becomes `x-files`, see [`validate_slide`]), unless the stem or that id contains, ignoring
/// case, the value (4 characters or more) of one of the slide's identifying `properties`:
/// then a pseudonym, `slide-` and 12 hex digits of the file's content
/// ([`tiler::deid::pseudonymous_id`]), so the served id does not repeat the value.
pub fn default_for(
    path: &Path,
    properties: &BTreeMap<String, String>,
) -> Result<DefaultId, tiler::TilerError> {
    let id = from_path(path);
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let id = without_deep_zoom_ending(&id);
    let leak = tiler::deid::leaked_value(&stem, properties)
        .or_else(|| tiler::deid::leaked_value(&id, properties));
    let Some(leak) = leak else {
        return Ok(DefaultId {
            id,
            pseudonym_because: None,
        });
    };
    Ok(DefaultId {
        id: tiler::deid::pseudonymous_id(path)?,
        pseudonym_because: Some(match leak.within {
            Some(within) => format!("{} (inside {within})", leak.key),
            None => leak.key,
        }),
    })
}

/// Replaces every character outside `[A-Za-z0-9._-]` with `_`.
#[must_use]
pub fn sanitize(raw: &str) -> String {
    raw.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Checks an id given on the command line: non-empty, only `[A-Za-z0-9._-]`, not `.`/`..`.
pub fn validate(id: &str) -> Result<(), String> {
    if id.is_empty() || id == "." || id == ".." || sanitize(id) != id || id.starts_with('.') {
        return Err(format!(
            "slide id {id:?} must be non-empty, use only A-Z a-z 0-9 . _ - and not start with '.'"
        ));
    }
    Ok(())
}

/// Endings a slide id may not have: Deep Zoom's paths append them to the id
/// (`/dzi/{id}.dzi`, `/dzi/{id}.json`, `/dzi/{id}_files/…`), and ids that end so are
/// confusing to people and to other Deep Zoom clients.
const DEEP_ZOOM_ENDINGS: [&str; 3] = ["_files", ".dzi", ".json"];

/// Checks a slide id: [`validate`], and no Deep Zoom ending (`_files`, `.dzi`, `.json`,
/// in any case).
///
/// ```
/// assert!(server::slide_id::validate_slide("CMU-1").is_ok());
/// assert!(server::slide_id::validate_slide("t_files").is_err());
/// assert!(server::slide_id::validate_slide("u.JSON").is_err());
/// ```
pub fn validate_slide(id: &str) -> Result<(), String> {
    validate(id)?;
    let lower = id.to_ascii_lowercase();
    if let Some(ending) = DEEP_ZOOM_ENDINGS.iter().find(|e| lower.ends_with(*e)) {
        return Err(format!(
            "slide id {id:?} ends in {ending:?}, which Deep Zoom paths add to an id; \
             choose another (for example {:?})",
            without_deep_zoom_ending(id)
        ));
    }
    Ok(())
}

/// The id with a Deep Zoom ending's separator turned into `-` (`t_files` → `t-files`).
fn without_deep_zoom_ending(id: &str) -> String {
    let lower = id.to_ascii_lowercase();
    match DEEP_ZOOM_ENDINGS.iter().find(|e| lower.ends_with(*e)) {
        Some(ending) => {
            let cut = id.len() - ending.len();
            format!("{}-{}", &id[..cut], &id[cut + 1..])
        }
        None => id.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_safe_file_names() {
        assert!(super::validate("CMU-1.small_2").is_ok());
        for bad in ["", "..", "a/b", "x y", ".hidden", "é"] {
            assert!(super::validate(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            super::from_path(std::path::Path::new("Ünï côdé.svs")),
            "_n__c_d_"
        );
    }

    #[test]
    fn ids_with_deep_zoom_endings_are_refused_or_renamed() {
        for bad in ["t_files", "a.dzi", "u.json", "X_FILES"] {
            assert!(super::validate_slide(bad).is_err(), "{bad}");
        }
        assert_eq!(super::without_deep_zoom_ending("t_files"), "t-files");
        assert_eq!(super::without_deep_zoom_ending("u.JSON"), "u-JSON");
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("scan_files.svs");
        std::fs::write(&path, b"slide bytes").expect("write");
        let chosen = super::default_for(&path, &std::collections::BTreeMap::new()).expect("id");
        assert_eq!(chosen.id, "scan-files");
    }

    #[test]
    fn a_stem_holding_an_identifying_value_gets_a_pseudonym() {
        let dir = tempfile::tempdir().expect("temp dir");
        let properties: std::collections::BTreeMap<String, String> = [
            ("aperio.Filename", "CMU-1"),
            ("aperio.Date", "12/29/09"),
            ("aperio.AppMag", "20"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect();
        for (name, pseudonym) in [
            ("CMU-1-Small-Region.svs", true),
            ("cmu-1.svs", true),
            ("scan 12_29_09.svs", true),
            ("scan-20x.svs", false),
            ("CMU-2.svs", false),
        ] {
            let path = dir.path().join(name);
            std::fs::write(&path, b"slide bytes").expect("write");
            let chosen = super::default_for(&path, &properties).expect("id");
            assert_eq!(chosen.pseudonym_because.is_some(), pseudonym, "{name}");
            if pseudonym {
                assert!(
                    tiler::deid::is_pseudonymous_id(&chosen.id),
                    "{name}: {chosen:?}"
                );
            } else {
                assert_eq!(chosen.id, super::from_path(&path));
            }
        }
    }
}
