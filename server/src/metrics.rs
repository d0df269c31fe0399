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
    /// The annotation engine's memory budget at work, set at each scrape.
    pub index: IndexGauges,
}

/// Gauges of [`crate::annotations::Residency`].
#[derive(Debug, Default)]
pub struct IndexGauges {
    slides: Gauge<u64, AtomicU64>,
    bytes: Gauge<u64, AtomicU64>,
    budget: Gauge<u64, AtomicU64>,
    loads: Gauge<u64, AtomicU64>,
    evictions: Gauge<u64, AtomicU64>,
    cold_queries: Gauge<u64, AtomicU64>,
}

impl IndexGauges {
    fn register(&self, registry: &mut Registry) {
        for (name, help, gauge) in [
            (
                "annotation_slides_resident",
                "Slides whose annotation index is in memory",
                &self.slides,
            ),
            (
                "annotation_index_bytes",
                "Bytes of annotation indexes in memory",
                &self.bytes,
            ),
            (
                "annotation_index_budget_bytes",
                "Memory budget of annotation indexes (--index-mb)",
                &self.budget,
            ),
            (
                "annotation_slide_loads",
                "Loads of a slide's annotation index since start",
                &self.loads,
            ),
            (
                "annotation_slide_evictions",
                "Slides that left memory for the budget since start",
                &self.evictions,
            ),
            (
                "annotation_cold_queries",
                "Region queries answered from a slide's snapshot on disk",
                &self.cold_queries,
            ),
        ] {
            registry.register(name, help, gauge.clone());
        }
    }

    /// Sets every gauge from `r`.
    pub fn set(&self, r: &crate::annotations::Residency) {
        self.slides.set(r.slides);
        self.bytes.set(r.bytes);
        self.budget.set(r.budget);
        self.loads.set(r.loads);
        self.evictions.set(r.evictions);
        self.cold_queries.set(r.cold_queries);
    }
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
        let index = IndexGauges::default();
        index.register(&mut registry);
        Self {
            registry,
            requests,
            latency,
            tile_cache_hits,
            tile_cache_misses,
            tile_cache_bytes,
            index,
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
