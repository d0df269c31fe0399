// Shared by `tiler/tests/fuzz_regressions.rs` and `server/tests/fuzz_regressions.rs`
// (through `include!`): every input a target's regression test feeds its harness.

/// The committed corpus and regression inputs of `target`, then the real files in
/// `../shared/data` that `fuzz/run.sh` seeds it with (never copied into the repository).
/// Under `CI=true` a missing shared file fails the test instead of being left out.
fn inputs(target: &str) -> Vec<std::path::PathBuf> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let fuzz = root.join("fuzz");
    let mut files = Vec::new();
    for dir in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(fuzz.join(dir).join(target)) else {
            continue;
        };
        files.extend(
            entries
                .filter_map(|e| Some(e.ok()?.path()))
                .filter(|p| p.is_file()),
        );
    }
    files.sort();
    let shared = root.join("../shared/data");
    let seeds: &[&str] = match target {
        "tiff_source" => &["slides/boxes.tiff", "slides/small.svs"],
        "geojson_import" => &["annotations/puma_training_set_metastatic_roi_001_nuclei.geojson"],
        _ => &[],
    };
    for seed in seeds {
        let path = shared.join(seed);
        if path.is_file() {
            files.push(path);
        } else {
            assert!(
                std::env::var("CI").map_or(true, |v| v != "true"),
                "{} is missing (CI=true needs ../shared/data)",
                path.display()
            );
        }
    }
    files
}

/// Runs `run` on every input of `target`; errors are fine, panics are not.
fn feed(target: &str, run: fn(&[u8])) {
    let files = inputs(target);
    assert!(!files.is_empty(), "no fuzz inputs for {target}");
    for file in files {
        let data = std::fs::read(&file).expect("readable fuzz input");
        let outcome = std::panic::catch_unwind(|| run(&data));
        assert!(outcome.is_ok(), "{target} panicked on {}", file.display());
    }
}
