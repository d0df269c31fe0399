// Shared by the `tess_reader` fuzz target and `tiler/tests/fuzz_regressions.rs` (through
// `include!`), so the regression test runs exactly what the fuzzer ran.

/// Tiles decoded per input at most, so a large (but valid) directory stays quick.
const MAX_TILES_READ: usize = 512;
/// Directory bytes the checksum fix-up decompresses at most.
const MAX_FIXUP_DIRECTORY: usize = 1 << 20;

/// Runs [`open_and_read`] on `data` as it is, and again with its checksums recomputed, so
/// that mutations of the metadata and payloads get past the CRC checks to the parsers and
/// decoders behind them.
pub fn run(data: &[u8]) {
    open_and_read(data.to_vec());
    if let Some(fixed) = with_fixed_checksums(data) {
        open_and_read(fixed);
    }
}

/// Opens `data` as a `.tess` cache with the default limits; if it opens, decodes every
/// tile it lists (up to [`MAX_TILES_READ`]), runs `verify` and reads a few regions.
fn open_and_read(data: Vec<u8>) {
    use tiler::{CacheReader, ReaderLimits};
    let path = std::path::Path::new("fuzz-input.tess");
    let Ok(reader) = CacheReader::from_bytes(path, data, ReaderLimits::default()) else {
        return;
    };
    let _ = reader.verify(true, &|_| {});
    for coord in reader.grid().coords().take(MAX_TILES_READ) {
        let _ = reader.entry(coord);
        let _ = reader.read_tile(coord);
    }
    let (width, height) = (reader.metadata().width, reader.metadata().height);
    for level in 0..reader.grid().level_count().min(3) {
        let _ = tiler::read_cache_region(&reader, level, 0, 0, 64, 64);
        let (x, y) = (i64::from(width / 2), i64::from(height / 2));
        let _ = tiler::read_cache_region(&reader, level, x - 40, y - 40, 80, 80);
        let _ = tiler::read_cache_region(&reader, level, -10, -10, 20, 20);
    }
}

/// `data` with the metadata CRC in the header and every payload CRC in the directory
/// recomputed (the directory recompressed and appended at the end); `None` when the
/// header or directory cannot be read.
fn with_fixed_checksums(data: &[u8]) -> Option<Vec<u8>> {
    let slice = |offset: u64, len: u64| -> Option<&[u8]> {
        let start = usize::try_from(offset).ok()?;
        data.get(start..start.checked_add(usize::try_from(len).ok()?)?)
    };
    let head = data.get(..tiler::HEADER_LEN as usize)?;
    let mut header = tiler::Header::parse(head).ok()?;
    header.metadata_crc = crc32fast::hash(slice(header.metadata_offset, header.metadata_len)?);
    let compressed = slice(header.directory_offset, header.directory_len)?;
    let expected = usize::try_from(header.tile_count).ok()?.checked_mul(16)?;
    let raw = zstd::bulk::decompress(compressed, expected.min(MAX_FIXUP_DIRECTORY)).ok()?;
    let mut directory = Vec::with_capacity(raw.len());
    for chunk in raw.chunks(16) {
        if chunk.len() < 16 {
            directory.extend_from_slice(chunk);
            break;
        }
        let mut entry = tiler::Entry::read_from(chunk);
        if let Some(payload) = slice(entry.offset, u64::from(entry.len)) {
            entry.crc = crc32fast::hash(payload);
        }
        entry.write_to(&mut directory);
    }
    let directory = zstd::bulk::compress(&directory, 1).ok()?;
    let mut fixed = data.to_vec();
    header.directory_offset = fixed.len() as u64;
    header.directory_len = directory.len() as u64;
    fixed.extend_from_slice(&directory);
    fixed[..tiler::HEADER_LEN as usize].copy_from_slice(&header.to_bytes());
    Some(fixed)
}
