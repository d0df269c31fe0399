// Shared by the `geojson_import` fuzz target and `server/tests/fuzz_regressions.rs` (through
// `include!`), so the regression test runs exactly what the fuzzer ran.

/// Splits `data` into items as the importer does (default item-size limit, small batches
/// so batch boundaries are exercised; gzip input through the importer's own decoder) and
/// parses every item against a 2048 × 1536 slide, once as given and once with repairs, a
/// default class and a class schema.
pub fn run(data: &[u8]) {
    use server::annotations::EngineLimits;
    use server::annotations::geojson::parse::{ClassRule, ParseContext, parse_item};
    use server::annotations::geojson::split::Splitter;
    use std::collections::HashMap;
    use std::sync::Arc;
    let limits = EngineLimits::default();
    let plain = ParseContext {
        width: 2048.0,
        height: 1536.0,
        tolerance: limits.tolerance,
        repair: false,
        default_class: None,
        classes: None,
    };
    let rule = ClassRule {
        allowed: Some(HashMap::from([
            ("Tumor".to_string(), [200, 0, 0]),
            ("nuclei_tumor".to_string(), [0, 0, 200]),
        ])),
        map: HashMap::from([("Lymphocyte".to_string(), "Tumor".to_string())]),
        origin: "fuzz schema".to_string(),
    };
    let repairing = ParseContext {
        repair: true,
        default_class: Some("Tumor".to_string()),
        classes: Some(Arc::new(rule)),
        ..plain.clone()
    };
    let Ok(input) = server::annotations::import::maybe_gunzip(data) else {
        return;
    };
    let mut splitter = Splitter::new(input, limits.max_feature_bytes);
    while let Ok(Some(batch)) = splitter.next_batch(4096) {
        for item in &batch.items {
            let Some(bytes) = batch.bytes.get(item.range.clone()) else {
                panic!("item range {:?} outside its batch", item.range);
            };
            let _ = parse_item(bytes, &plain);
            let _ = parse_item(bytes, &repairing);
        }
    }
    let _ = splitter.items_seen();
}
