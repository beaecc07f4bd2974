//! The admin HTTP server: `/metrics`, `/healthz`, `/readyz`, `POST /reload`.
