//! Slide ids: the name a cache is stored and served under.

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
}
