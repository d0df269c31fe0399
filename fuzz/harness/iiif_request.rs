// Shared by the `iiif_request` fuzz target and `server/tests/fuzz_regressions.rs` (through
// `include!`), so the regression test runs exactly what the fuzzer ran.

/// Reads `data` (lossily, as UTF-8) as a request path. Its last four `/`-separated segments
/// go to the IIIF parser and, parsed, are planned against a few slide sizes with the
/// default limits; its last three go to the Deep Zoom tile-path parsers.
pub fn run(data: &[u8]) {
    use server::http::{files_slide_id, max_level, parse_tile_name, tile_format};
    use server::iiif::{Limits, parse};
    let text = String::from_utf8_lossy(data);
    let segments: Vec<&str> = text.split('/').collect();
    let last = |n: usize| -> Vec<&str> {
        let mut tail: Vec<&str> = segments.iter().rev().take(n).rev().copied().collect();
        while tail.len() < n {
            tail.insert(0, "");
        }
        tail
    };
    let iiif = last(4);
    if let Ok(request) = parse(iiif[0], iiif[1], iiif[2], iiif[3]) {
        let _ = request.format.mime();
        for (width, height) in [(2220, 2967), (1, 1), (46_000, 32_914), (u32::MAX, 3)] {
            let _ = request.plan(width, height, Limits::default());
        }
    }
    let dzi = last(3);
    let _ = files_slide_id(dzi[0]);
    if let Ok((level, _col, _row, ext)) = parse_tile_name(dzi[1], dzi[2]) {
        let _ = tile_format(ext);
        for (width, height) in [(2220, 2967), (1, 1), (u32::MAX, u32::MAX)] {
            let _ = level <= max_level(width, height);
        }
    }
}
