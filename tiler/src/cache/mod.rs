//! The single-file `.tess` tile cache: format, writer and reader.

pub(crate) mod format;
mod reader;
mod writer;

pub use format::{Entry, HEADER_LEN, Header, MAGIC, Metadata, SourceDigest, VERSION};
pub use reader::{CacheReader, RangeRead, ReaderLimits, Tile, VerifySummary};
pub use writer::{CacheWriter, ContentHash, WriteSummary};
