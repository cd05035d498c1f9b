//! `/metrics`: Prometheus text from prometheus-client.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use super::lines::Caveat;

type Labels = Vec<(String, String)>;

pub struct Metrics {
    registry: Registry,
    pub ready: Gauge,
    pub check_up: Family<Labels, Gauge>,
    pub degraded: Family<Labels, Gauge>,
    pub forced: Family<Labels, Gauge>,
    pub transitions: Family<Labels, Counter>,
    pub rounds: Family<Labels, Counter>,
    pub latency: Family<Labels, Histogram, fn() -> Histogram>,
    pub evicted: Counter,
    build: Family<Labels, Gauge>,
    build_labels: std::sync::Mutex<Labels>,
}

fn latency_histogram() -> Histogram {
    // 5 ms to ~20 s: a one-token completion on a warm server to a cold, overloaded one.
    Histogram::new(exponential_buckets(0.005, 2.0, 13))
}

fn build_labels(pins: &[(String, String)]) -> Labels {
    let mut labels = label("version", env!("CARGO_PKG_VERSION"));
    labels.extend(pins.iter().cloned());
    labels
}

pub fn label(key: &str, value: &str) -> Labels {
    vec![(key.to_string(), value.to_string())]
}

impl Metrics {
    /// One check's gauges: up when it passes cleanly, and each caveat as its own 0 or 1.
    pub fn show(&self, check: &str, ok: bool, caveat: Option<Caveat>) {
        let labels = label("check", check);
        self.check_up
            .get_or_create(&labels)
            .set(i64::from(ok && caveat.is_none()));
        self.forced
            .get_or_create(&labels)
            .set(i64::from(caveat == Some(Caveat::Forced)));
        self.degraded
            .get_or_create(&labels)
            .set(i64::from(caveat == Some(Caveat::Degraded)));
    }

    pub fn new(pins: &[(String, String)]) -> Self {
        let mut registry = Registry::default();
        let ready = Gauge::default();
        registry.register(
            "bootgate_ready",
            "1 when the pod may take traffic",
            ready.clone(),
        );
        let check_up = Family::<Labels, Gauge>::default();
        registry.register(
            "bootgate_check_up",
            "1 when a check passes, 0 when it fails",
            check_up.clone(),
        );
        let degraded = Family::<Labels, Gauge>::default();
        registry.register(
            "bootgate_degraded",
            "1 when a check failed with on_fail: degrade and the server runs in a safe mode",
            degraded.clone(),
        );
        let forced = Family::<Labels, Gauge>::default();
        registry.register(
            "bootgate_forced",
            "1 when a gate check passed only because of force: true",
            forced.clone(),
        );
        let transitions = Family::<Labels, Counter>::default();
        registry.register(
            "bootgate_transitions",
            "Readiness transitions, by the phase entered",
            transitions.clone(),
        );
        let rounds = Family::<Labels, Counter>::default();
        registry.register(
            "bootgate_sentinel_rounds",
            "Sentinel rounds, by result",
            rounds.clone(),
        );
        let latency =
            Family::<Labels, Histogram, fn() -> Histogram>::new_with_constructor(latency_histogram);
        registry.register(
            "bootgate_sentinel_latency_seconds",
            "Sentinel query latency, by query",
            latency.clone(),
        );
        let evicted = Counter::default();
        registry.register(
            "bootgate_connections_evicted",
            "Probe-server connections closed at the connection cap to make room for a new one",
            evicted.clone(),
        );
        let build = Family::<Labels, Gauge>::default();
        let labels = build_labels(pins);
        build.get_or_create(&labels).set(1);
        registry.register(
            "bootgate_build_info",
            "Version and configured pins",
            build.clone(),
        );
        Metrics {
            registry,
            ready,
            check_up,
            degraded,
            forced,
            transitions,
            rounds,
            latency,
            evicted,
            build,
            build_labels: std::sync::Mutex::new(labels),
        }
    }

    /// New pins from a reloaded config: the old series goes, so a scrape shows one.
    pub fn set_pins(&self, pins: &[(String, String)]) {
        let mut current = self.build_labels.lock().unwrap_or_else(|e| e.into_inner());
        self.build.remove(&current);
        *current = build_labels(pins);
        self.build.get_or_create(&current).set(1);
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        // Encoding into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}
