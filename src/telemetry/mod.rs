//! What iocd tells operators: the metrics registry (one place names every metric). The admin
//! HTTP server that serves it is the daemon's (`daemon::admin`).

mod families;
pub mod kafka;
pub mod metrics;

pub use metrics::Metrics;
