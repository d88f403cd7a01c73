//! Prometheus metrics of the calls made through the gateway: calls, errors
//! and a latency histogram per library, version and function.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::time::Duration;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CallLabels {
    pub library: String,
    pub version: String,
    pub function: String,
}

pub struct Metrics {
    registry: Registry,
    calls: Family<CallLabels, Counter>,
    errors: Family<CallLabels, Counter>,
    latency: Family<CallLabels, Histogram>,
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("pattern_engine");
        let calls = Family::<CallLabels, Counter>::default();
        let errors = Family::<CallLabels, Counter>::default();
        // 50 µs to ~1.6 s: pattern calls are sub-millisecond; the tail shows
        // deadlines and network trouble.
        let latency = Family::<CallLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
        });
        registry.register("calls", "Calls through the HTTP API", calls.clone());
        registry.register(
            "call_errors",
            "Calls that returned an error",
            errors.clone(),
        );
        registry.register(
            "call_duration_seconds",
            "Call latency seen by the gateway",
            latency.clone(),
        );
        Self {
            registry,
            calls,
            errors,
            latency,
        }
    }

    pub fn record(&self, labels: &CallLabels, elapsed: Duration, failed: bool) {
        self.calls.get_or_create(labels).inc();
        if failed {
            self.errors.get_or_create(labels).inc();
        }
        self.latency
            .get_or_create(labels)
            .observe(elapsed.as_secs_f64());
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String");
        out
    }
}
