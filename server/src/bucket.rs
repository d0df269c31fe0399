//! Caches in S3-compatible object storage: a prefix `s3://bucket/prefix` holds `NAME.tess`
//! objects as a directory holds files.
//!
//! Everything goes through object_store (signing, retries, multipart uploads); the
//! credentials, region and endpoint come from the usual AWS environment variables
//! (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT_URL`, and
//! `AWS_ALLOW_HTTP=true` for a plain-HTTP endpoint such as a local test server).
//!
//! The tiler's reader and the slide store are synchronous, so this module offers blocking
//! calls. Each runs on a small runtime of its own and the caller waits on a channel, which
//! works from any thread, an async task's included (it blocks that thread for the request).
//! Tiles, read by the server's async tasks, go through [`ObjectRanges::read`] instead.

use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as Key;
use object_store::{GetOptions, GetRange, ObjectMeta, ObjectStore, ObjectStoreExt};
use std::future::Future;
use std::io::Read;
use std::path::Path;
use std::sync::{Arc, OnceLock};

/// The scheme of object storage locations.
pub const SCHEME: &str = "s3://";

/// Bytes per part of an upload (S3 wants at least 5 MiB for all parts but the last).
const PART_BYTES: usize = 16 << 20;

/// Parts of one upload in flight at once.
const PARTS_IN_FLIGHT: usize = 4;

/// What went wrong with an object, named by its `s3://` URL.
#[derive(Debug, thiserror::Error)]
pub enum BucketError {
    #[error("{0}: not an s3://BUCKET[/PREFIX] location")]
    BadUrl(String),
    #[error("{url}: cannot {action}: {source}")]
    Store {
        url: String,
        action: String,
        #[source]
        source: object_store::Error,
    },
    #[error("{url}: cannot read {file}: {source}")]
    Local {
        url: String,
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}: upload interrupted; nothing was written")]
    Interrupted(String),
}

/// True when `location` names object storage rather than a local path.
#[must_use]
pub fn is_url(location: &Path) -> bool {
    location.to_str().is_some_and(|s| s.starts_with(SCHEME))
}

/// A prefix of a bucket, with a client for it.
#[derive(Debug, Clone)]
pub struct Bucket {
    store: Arc<AmazonS3>,
    /// A second client, with a connection pool of its own, for [`ObjectRanges::read`]: its
    /// connections are driven by the async caller's runtime (see there).
    caller_store: Arc<AmazonS3>,
    name: String,
    /// Empty, or ends with `/`.
    prefix: String,
}

impl Bucket {
    /// A client for `s3://bucket[/prefix]`, configured from the environment. Nothing is
    /// sent until the first request.
    pub fn connect(url: &str) -> Result<Self, BucketError> {
        Self::configured(url, std::env::vars())
    }

    /// A client for `s3://bucket[/prefix]` configured from `variables` (`AWS_*` names as
    /// in the environment; others are ignored).
    pub fn configured(
        url: &str,
        variables: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, BucketError> {
        let bad = || BucketError::BadUrl(url.to_string());
        let rest = url.strip_prefix(SCHEME).ok_or_else(bad)?;
        let (name, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if name.is_empty() || prefix.split('/').any(|part| part == "." || part == "..") {
            return Err(bad());
        }
        let prefix = prefix.trim_matches('/');
        let mut builder = AmazonS3Builder::new();
        for (key, value) in variables {
            if let Some(Ok(key)) = key
                .starts_with("AWS_")
                .then(|| key.to_ascii_lowercase().parse())
            {
                builder = builder.with_config(key, value);
            }
        }
        let builder = builder.with_bucket_name(name);
        let build = |builder: AmazonS3Builder| {
            builder.build().map_err(|source| BucketError::Store {
                url: url.to_string(),
                action: "configure a client (AWS_* environment variables)".into(),
                source,
            })
        };
        Ok(Self {
            store: Arc::new(build(builder.clone())?),
            caller_store: Arc::new(build(builder)?),
            name: name.to_string(),
            prefix: if prefix.is_empty() {
                String::new()
            } else {
                format!("{prefix}/")
            },
        })
    }

    /// The `s3://` URL of `name` (relative to the prefix).
    #[must_use]
    pub fn url(&self, name: &str) -> String {
        format!("{SCHEME}{}/{}{name}", self.name, self.prefix)
    }

    fn key(&self, name: &str) -> Key {
        Key::from(format!("{}{name}", self.prefix))
    }

    fn error(&self, name: &str, action: &str, source: object_store::Error) -> BucketError {
        BucketError::Store {
            url: self.url(name),
            action: action.to_string(),
            source,
        }
    }

    /// The `NAME.tess` objects directly under `dir` (relative to the prefix, empty or
    /// ending in `/`), as (NAME, metadata), sorted by name.
    pub fn list_tess(&self, dir: &str) -> Result<Vec<(String, ObjectMeta)>, BucketError> {
        let store = Arc::clone(&self.store);
        let key = self.key(dir);
        let listed = block_on(async move { store.list_with_delimiter(Some(&key)).await })
            .map_err(|e| self.error(dir, "list objects", e))?;
        let mut found: Vec<(String, ObjectMeta)> = listed
            .objects
            .into_iter()
            .filter_map(|meta| {
                let name = meta.location.filename()?.strip_suffix(".tess")?.to_string();
                Some((name, meta))
            })
            .collect();
        found.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(found)
    }

    /// The metadata of object `name`, or `None` when there is none.
    pub fn head(&self, name: &str) -> Result<Option<ObjectMeta>, BucketError> {
        let store = Arc::clone(&self.store);
        let key = self.key(name);
        match block_on(async move { store.head(&key).await }) {
            Ok(meta) => Ok(Some(meta)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.error(name, "read the object's metadata", e)),
        }
    }

    /// Ranged reads of object `name`; with its ETag, each read is refused once the
    /// object is replaced (If-Match), so no reader mixes two versions.
    #[must_use]
    pub fn ranges(&self, name: &str, e_tag: Option<String>) -> ObjectRanges {
        ObjectRanges {
            store: Arc::clone(&self.store),
            caller_store: Arc::clone(&self.caller_store),
            key: self.key(name),
            e_tag,
            url: self.url(name),
        }
    }

    /// Uploads the local file `from` as object `name` in one multipart upload that is
    /// completed only after every part arrived: an error, or `keep_going` answering false
    /// between parts, aborts it and leaves no object (and any earlier object of that name
    /// as it was). Returns the bytes uploaded.
    pub fn upload(
        &self,
        from: &Path,
        name: &str,
        keep_going: &(dyn Fn() -> bool + Sync),
    ) -> Result<u64, BucketError> {
        let local = |source| BucketError::Local {
            url: self.url(name),
            file: from.display().to_string(),
            source,
        };
        let file = std::fs::File::open(from).map_err(local)?;
        let store = Arc::clone(&self.store);
        let key = self.key(name);
        let mut upload = block_on(async move { store.put_multipart(&key).await })
            .map_err(|e| self.error(name, "start a multipart upload", e))?;
        match self.send_parts((file, from), upload.as_mut(), name, keep_going) {
            Ok(sent) => block_on(async move { upload.complete().await })
                .map(|_| sent)
                .map_err(|e| self.error(name, "complete the multipart upload", e)),
            Err(e) => {
                // The parts sent are discarded with the upload; if the abort fails too, they
                // stay invisible until the bucket's lifecycle rules remove them.
                let _ = block_on(async move { upload.abort().await });
                Err(e)
            }
        }
    }

    /// Sends `file` as the parts of `upload`, a few at once; returns the bytes sent.
    fn send_parts(
        &self,
        (mut file, from): (std::fs::File, &Path),
        upload: &mut dyn object_store::MultipartUpload,
        name: &str,
        keep_going: &(dyn Fn() -> bool + Sync),
    ) -> Result<u64, BucketError> {
        let mut in_flight = Vec::new();
        let mut sent = 0u64;
        loop {
            if !keep_going() {
                return Err(BucketError::Interrupted(self.url(name)));
            }
            let mut part = Vec::with_capacity(PART_BYTES);
            (&mut file)
                .take(PART_BYTES as u64)
                .read_to_end(&mut part)
                .map_err(|source| BucketError::Local {
                    url: self.url(name),
                    file: from.display().to_string(),
                    source,
                })?;
            let last = part.len() < PART_BYTES;
            if !part.is_empty() || sent == 0 {
                sent += part.len() as u64;
                in_flight.push(upload.put_part(part.into()));
            }
            if in_flight.len() >= PARTS_IN_FLIGHT || last {
                let parts = std::mem::take(&mut in_flight);
                block_on(futures_util::future::try_join_all(parts))
                    .map_err(|e| self.error(name, "upload a part", e))?;
            }
            if last {
                return Ok(sent);
            }
        }
    }

    /// Removes object `name` (tests and tools; a missing object is not an error).
    pub fn delete(&self, name: &str) -> Result<(), BucketError> {
        let store = Arc::clone(&self.store);
        let key = self.key(name);
        match block_on(async move { store.delete(&key).await }) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.error(name, "delete the object", e)),
        }
    }
}

/// One object read by ranges: the tiler's [`tiler::RangeRead`] over object storage, and
/// [`ObjectRanges::read`] for async callers.
#[derive(Debug, Clone)]
pub struct ObjectRanges {
    store: Arc<AmazonS3>,
    caller_store: Arc<AmazonS3>,
    key: Key,
    e_tag: Option<String>,
    url: String,
}

impl ObjectRanges {
    /// Bytes `offset..offset + len` of the object in one ranged GET, for async callers: the
    /// request runs in the caller's task, on a client of its own whose pooled connections
    /// are therefore driven by the caller's runtime. (Not on the object storage runtime:
    /// handing every tile over to it and back costs two thread switches a request. Not on the blocking calls' client either: a connection opened
    /// by the caller's runtime would then serve blocking calls, and those wait on async
    /// threads, a slide's identity check among them, possibly the very threads that drive
    /// it.) All async callers must share one runtime, the server's.
    pub async fn read(&self, offset: u64, len: usize) -> std::io::Result<bytes::Bytes> {
        fetch(
            &self.caller_store,
            &self.key,
            self.e_tag.clone(),
            &self.url,
            offset,
            len,
        )
        .await
    }
}

/// One ranged GET of `key` through `store`, on whichever runtime polls it.
async fn fetch(
    store: &AmazonS3,
    key: &Key,
    e_tag: Option<String>,
    url: &str,
    offset: u64,
    len: usize,
) -> std::io::Result<bytes::Bytes> {
    let end = offset + len as u64;
    if len == 0 {
        return Ok(bytes::Bytes::new());
    }
    let options = GetOptions {
        range: Some(GetRange::Bounded(offset..end)),
        if_match: e_tag,
        ..GetOptions::default()
    };
    let fetched = async { store.get_opts(key, options).await?.bytes().await };
    let bytes = fetched.await.map_err(|e| {
        let kind = match e {
            object_store::Error::NotFound { .. } => std::io::ErrorKind::NotFound,
            _ => std::io::ErrorKind::Other,
        };
        std::io::Error::new(kind, format!("{url}: bytes {offset}..{end}: {e}"))
    })?;
    if bytes.len() != len {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!(
                "{url}: bytes {offset}..{end}: {} bytes came back",
                bytes.len()
            ),
        ));
    }
    Ok(bytes)
}

impl tiler::RangeRead for ObjectRanges {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        let this = self.clone();
        let len = buf.len();
        let bytes = block_on(async move {
            fetch(&this.store, &this.key, this.e_tag, &this.url, offset, len).await
        })?;
        buf.copy_from_slice(&bytes);
        Ok(())
    }
}

/// The runtime the blocking calls' requests run on: two threads of its own, which never
/// block, so the connections they drive always make progress.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("object-io")
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("cannot start the object storage runtime: {e}"))
    })
}

/// Runs `work` on the object storage runtime and waits for it; callable from any thread.
fn block_on<T: Send + 'static>(work: impl Future<Output = T> + Send + 'static) -> T {
    let (done, result) = std::sync::mpsc::sync_channel(1);
    runtime().spawn(async move {
        let _ = done.send(work.await);
    });
    result
        .recv()
        .unwrap_or_else(|_| panic!("an object storage request was dropped before it answered"))
}
