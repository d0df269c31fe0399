//! Where a server's caches live: a local directory or a prefix in object storage. The one
//! place that lists caches, tells whether one was replaced, and opens one, by its name
//! relative to the root (`ID.tess`, `heatmaps/ID/NAME.tess`).

use crate::bucket::{self, Bucket, BucketError, ObjectRanges};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use tiler::{CacheReader, ReaderLimits, TilerError};

/// A directory of caches, local or in a bucket.
#[derive(Debug, Clone)]
pub enum CacheRoot {
    Dir(PathBuf),
    Bucket(Bucket),
}

/// What tells one version of a cache from the next: a replaced cache differs in at least
/// one field (a file's inode, size and modification time; an object's ETag, size and
/// last-modified time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The inode of a file, or the ETag of an object.
    tag: String,
    pub len: u64,
    pub modified_ns: i128,
}

impl CacheRoot {
    /// `s3://bucket/prefix` for object storage (configured from the AWS environment
    /// variables), anything else a local directory.
    pub fn new(location: &Path) -> Result<Self, BucketError> {
        match location.to_str() {
            Some(url) if bucket::is_url(location) => Ok(Self::Bucket(Bucket::connect(url)?)),
            _ => Ok(Self::Dir(location.to_path_buf())),
        }
    }

    /// The path or URL of `name`, for messages and [`CacheReader::path`].
    #[must_use]
    pub fn location(&self, name: &str) -> PathBuf {
        match self {
            Self::Dir(dir) => dir.join(name),
            Self::Bucket(bucket) => PathBuf::from(bucket.url(name)),
        }
    }

    /// The identity of cache `name`, or `None` when there is none (or it cannot be looked
    /// at: an unreachable bucket is logged and serves nothing).
    #[must_use]
    pub fn identity(&self, name: &str) -> Option<Identity> {
        match self {
            Self::Dir(dir) => file_identity(&dir.join(name)),
            Self::Bucket(bucket) => match bucket.head(name) {
                Ok(meta) => meta.as_ref().map(object_identity),
                Err(e) => {
                    crate::fault_log::warn_once(&e.to_string());
                    None
                }
            },
        }
    }

    /// Opens cache `name` as it was when `identity` was taken (an object replaced since
    /// fails to read rather than mixing versions).
    pub fn open(&self, name: &str, identity: &Identity) -> Result<CacheReader, TilerError> {
        match (self, self.remote(name, identity)) {
            (Self::Bucket(_), Some(ranges)) => CacheReader::from_ranges(
                &self.location(name),
                Box::new(ranges),
                identity.len,
                ReaderLimits::default(),
            ),
            _ => CacheReader::open(&self.location(name)),
        }
    }

    /// Ranged reads of object `name` as it was when `identity` was taken, for async callers
    /// that fetch tiles themselves; `None` for a local directory.
    #[must_use]
    pub fn remote(&self, name: &str, identity: &Identity) -> Option<ObjectRanges> {
        let Self::Bucket(bucket) = self else {
            return None;
        };
        let e_tag = (!identity.tag.is_empty()).then(|| identity.tag.clone());
        Some(bucket.ranges(name, e_tag))
    }

    /// The caches directly in `dir` (relative to the root: empty, or ending in `/`) as
    /// (name without `.tess`, identity), sorted by name; none when it cannot be read. One
    /// listing request for a bucket, a `stat` per file for a directory.
    #[must_use]
    pub fn list(&self, dir: &str) -> Vec<(String, Identity)> {
        let mut found: Vec<(String, Identity)> = match self {
            Self::Dir(root) => {
                let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
                    return Vec::new();
                };
                entries
                    .flatten()
                    .filter_map(|e| {
                        let name = e.file_name().to_string_lossy().into_owned();
                        let stem = name.strip_suffix(".tess")?.to_string();
                        Some((stem, file_identity(&e.path())?))
                    })
                    .collect()
            }
            Self::Bucket(bucket) => match bucket.list_tess(dir) {
                Ok(found) => found
                    .iter()
                    .map(|(name, meta)| (name.clone(), object_identity(meta)))
                    .collect(),
                Err(e) => {
                    crate::fault_log::warn_once(&e.to_string());
                    Vec::new()
                }
            },
        };
        found.sort_by(|a, b| a.0.cmp(&b.0));
        found
    }
}

/// A regular file's identity (symbolic links followed); `None` for anything else.
fn file_identity(path: &Path) -> Option<Identity> {
    let meta = std::fs::metadata(path).ok()?;
    meta.is_file().then(|| Identity {
        tag: meta.ino().to_string(),
        len: meta.len(),
        modified_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
    })
}

fn object_identity(meta: &object_store::ObjectMeta) -> Identity {
    Identity {
        tag: meta.e_tag.clone().unwrap_or_default(),
        len: meta.size,
        modified_ns: meta
            .last_modified
            .timestamp_nanos_opt()
            .map_or(0, i128::from),
    }
}
