//! Where annotations and access records live: the SQLite files of a data directory (the
//! embedded default) or a PostgreSQL database shared by several servers.

use std::path::{Path, PathBuf};

/// The store a command or server works on (`--store`, else the data directory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// `annotations.db` and `access.db` in this directory.
    Directory(PathBuf),
    /// A `postgres://…` (or `postgresql://…`) address.
    Database(String),
}

impl StoreLocation {
    /// `--store VALUE` if given, else the data directory `data`. A value is an address
    /// when it starts with `postgres://` or `postgresql://`, else a directory.
    #[must_use]
    pub fn resolve(store: Option<&str>, data: &Path) -> Self {
        match store {
            Some(s) if is_database_url(s) => Self::Database(s.to_string()),
            Some(s) => Self::Directory(PathBuf::from(s)),
            None => Self::Directory(data.to_path_buf()),
        }
    }

    /// The directory, for a store kept in one.
    #[must_use]
    pub fn directory(&self) -> Option<&Path> {
        match self {
            Self::Directory(dir) => Some(dir),
            Self::Database(_) => None,
        }
    }

    /// For messages: the directory, or the address without its password.
    #[must_use]
    pub fn describe(&self) -> String {
        match self {
            Self::Directory(dir) => dir.display().to_string(),
            Self::Database(url) => without_password(url),
        }
    }

    /// For messages about one of the store's files: `DIR/FILE`, or the address.
    #[must_use]
    pub fn describe_file(&self, file: &str) -> String {
        match self {
            Self::Directory(dir) => dir.join(file).display().to_string(),
            Self::Database(url) => without_password(url),
        }
    }
}

/// Whether `location` names a PostgreSQL database rather than a directory.
#[must_use]
pub fn is_database_url(location: &str) -> bool {
    location.starts_with("postgres://") || location.starts_with("postgresql://")
}

/// The address without its password, for messages.
#[must_use]
pub fn without_password(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let user_end = url[scheme + 3..at].find(':').map_or(at, |c| scheme + 3 + c);
            format!("{}{}", &url[..user_end], &url[at..])
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_leave_the_password_out() {
        assert_eq!(
            without_password("postgres://ann:secret@db:5432/tessera"),
            "postgres://ann@db:5432/tessera"
        );
        assert_eq!(
            without_password("postgres://db/tessera"),
            "postgres://db/tessera"
        );
    }

    #[test]
    fn a_store_is_an_address_or_a_directory_and_defaults_to_the_data_directory() {
        let data = Path::new("/srv/data");
        assert_eq!(
            StoreLocation::resolve(None, data),
            StoreLocation::Directory(data.into())
        );
        assert_eq!(
            StoreLocation::resolve(Some("postgresql://db/t"), data),
            StoreLocation::Database("postgresql://db/t".into())
        );
        assert_eq!(
            StoreLocation::resolve(Some("/srv/other"), data),
            StoreLocation::Directory("/srv/other".into())
        );
        assert_eq!(
            StoreLocation::resolve(Some("postgres://a:pw@db/t"), data).describe_file("x.db"),
            "postgres://a@db/t"
        );
    }
}
