//! What iocd tells operators: the metrics registry (one place names every metric) and the
//! admin HTTP server.

pub mod admin;
pub mod kafka;
pub mod metrics;

pub use metrics::Metrics;
