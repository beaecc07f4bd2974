//! How metric families are made and noted: [`Families`] registers one and hands back its
//! handle, and every family made is noted for the metrics audit. Below both the registry
//! ([`super::metrics`]) and the families kept beside it ([`super::kafka`]).

use prometheus::{IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

/// Registers a family and hands back its handle: the one place families outside
/// [`Metrics::new`](super::Metrics::new) (triage, Kafka, ...) are made.
pub(crate) struct Families<'a>(pub(crate) &'a Registry);

/// Names of every family registered in this process, through `reg!` in `Metrics::new`
/// or [`Families`] (the only two ways families are made): what
/// [`family_names`](super::metrics::family_names) lists.
static FAMILIES: std::sync::Mutex<std::collections::BTreeSet<String>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

pub(super) fn note_family(m: &impl prometheus::core::Collector) {
    let mut names = FAMILIES.lock().unwrap_or_else(|e| e.into_inner());
    for d in m.desc() {
        names.insert(d.fq_name.clone());
    }
}

impl Families<'_> {
    fn reg<M: prometheus::core::Collector + Clone + 'static>(&self, m: M) -> M {
        note_family(&m);
        self.0
            .register(Box::new(m.clone()))
            .expect("metric names are unique");
        m
    }

    pub(crate) fn counters(&self, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
        self.reg(IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric"))
    }

    pub(crate) fn counter(&self, name: &str, help: &str) -> IntCounter {
        self.reg(IntCounter::new(name, help).expect("valid metric"))
    }

    pub(crate) fn gauges(&self, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
        self.reg(IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric"))
    }

    pub(crate) fn histogram(
        &self,
        name: &str,
        help: &str,
        buckets: Vec<f64>,
    ) -> prometheus::Histogram {
        self.reg(
            prometheus::Histogram::with_opts(
                prometheus::HistogramOpts::new(name, help).buckets(buckets),
            )
            .expect("valid metric"),
        )
    }

    pub(crate) fn gauge(&self, name: &str, help: &str) -> IntGauge {
        self.reg(IntGauge::new(name, help).expect("valid metric"))
    }
}

/// The names noted so far, sorted.
pub(super) fn registered() -> Vec<String> {
    let names = FAMILIES.lock().unwrap_or_else(|e| e.into_inner());
    names.iter().cloned().collect()
}
