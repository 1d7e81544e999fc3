//! The HTTP edge: liveness, readiness and Prometheus metrics.

use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use ringside_bus::Bus;
use ringside_storage::Db;

/// What `/readyz` checks.
#[derive(Clone)]
pub struct Readiness {
    /// `None` for services without a database (ingest).
    pub db: Option<Db>,
    pub bus: Arc<dyn Bus>,
}

/// The process-wide Prometheus recorder (installed once, also when tests start
/// several suites in one process).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // Fails only when another recorder is installed; then ours stays unused.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

pub fn router(readiness: Readiness) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .with_state(readiness)
}

impl Readiness {
    /// Whether the database (when there is one) and the bus answer.
    pub async fn check(&self) -> (bool, bool) {
        let db = async {
            match &self.db {
                Some(db) => db.is_ready().await,
                None => true,
            }
        };
        tokio::join!(db, self.bus.is_ready())
    }
}

async fn readyz(State(r): State<Readiness>) -> (StatusCode, &'static str) {
    match r.check().await {
        (true, true) => (StatusCode::OK, "ready"),
        (false, _) => (StatusCode::SERVICE_UNAVAILABLE, "database unavailable"),
        (_, false) => (StatusCode::SERVICE_UNAVAILABLE, "bus unavailable"),
    }
}

async fn metrics_text() -> String {
    let handle = metrics_handle();
    handle.run_upkeep();
    handle.render()
}
