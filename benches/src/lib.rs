//! Inputs shared by Tessera's benchmarks. The benchmarks themselves are in `benches/`
//! (criterion, `cargo bench -p tessera-benches`) and the peer comparisons in shell
//! scripts beside them (`benches/tiling/run.sh`).

#![forbid(unsafe_code)]

use tiler::synth::{SynthSpec, TissueModel};

/// A 256×256 tile of synthetic tissue, packed RGB: deterministic, and with the texture
/// of real H&E (glass, stroma and nuclei), so codec speeds and ratios are realistic.
#[must_use]
pub fn tissue_tile() -> Vec<u8> {
    let model = TissueModel::new(SynthSpec {
        width: 8192,
        height: 8192,
        ..SynthSpec::default()
    });
    model.render(4096, 4096, 256, 256)
}
