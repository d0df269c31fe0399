//! Prometheus metrics: requests and latency per route, tile-cache hits, misses and bytes.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteOnly {
    pub route: String,
}

type HistogramFamily = Family<RouteOnly, Histogram, fn() -> Histogram>;

/// Every metric the server exports.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pub requests: Family<RouteLabels, Counter>,
    pub latency: HistogramFamily,
    pub tile_cache_hits: Counter,
    pub tile_cache_misses: Counter,
    pub tile_cache_bytes: Gauge<u64, AtomicU64>,
}

fn latency_histogram() -> Histogram {
    // 50 µs … ~1.6 s.
    Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("tessera");
        let requests = Family::<RouteLabels, Counter>::default();
        let latency: HistogramFamily = Family::new_with_constructor(latency_histogram);
        let tile_cache_hits = Counter::default();
        let tile_cache_misses = Counter::default();
        let tile_cache_bytes = Gauge::<u64, AtomicU64>::default();
        registry.register(
            "http_requests",
            "HTTP requests by route and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route",
            latency.clone(),
        );
        registry.register(
            "tile_cache_hits",
            "Tile requests answered from the in-memory cache",
            tile_cache_hits.clone(),
        );
        registry.register(
            "tile_cache_misses",
            "Tile requests that had to read and encode",
            tile_cache_misses.clone(),
        );
        registry.register(
            "tile_cache_bytes",
            "Bytes held by the in-memory tile cache",
            tile_cache_bytes.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            tile_cache_hits,
            tile_cache_misses,
            tile_cache_bytes,
        }
    }
}

impl Metrics {
    /// The text exposition format.
    #[must_use]
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
