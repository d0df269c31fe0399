//! Per-tile costs of the tiling and serving paths: encode and decode of each payload
//! codec, and the 2×2 box downsample.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use tiler::{Codec, CodecConfig};

fn codecs(c: &mut Criterion) {
    let rgb = tessera_benches::tissue_tile();
    let mut group = c.benchmark_group("tile 256×256");
    group.throughput(Throughput::Bytes(rgb.len() as u64));
    for codec in [Codec::Zstd, Codec::Jpeg, Codec::Webp] {
        let config = CodecConfig::new(codec, None);
        let payload = config.encode(&rgb, 256, 256).expect("encode");
        group.bench_function(format!("{} encode", codec.name()), |b| {
            b.iter(|| config.encode(black_box(&rgb), 256, 256));
        });
        group.bench_function(format!("{} decode", codec.name()), |b| {
            b.iter(|| tiler::decode_payload(codec, black_box(&payload), 256, 256));
        });
    }
    let mosaic: Vec<u8> = rgb
        .iter()
        .chain(&rgb)
        .chain(&rgb)
        .chain(&rgb)
        .copied()
        .collect();
    group.bench_function("halve 512×512", |b| {
        b.iter(|| tiler::halve(black_box(&mosaic), 512, 512));
    });
    group.finish();
}

criterion_group!(benches, codecs);
criterion_main!(benches);
