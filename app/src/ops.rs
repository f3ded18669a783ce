//! The operations surface of a node: `GET /healthz` (the process answers), `GET /readyz`
//! (database reachable, migrations current, workers alive) and `GET /metrics` (Prometheus text
//! format, [`shared_kernel::metrics`]). `enteraksi serve` mounts [`routes`] beside the API;
//! `queue work --metrics-bind ADDR` serves them on a listener of their own ([`serve_routes`]).

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use serde::Serialize;
use shared_kernel::http::{ApiError, ErrorBody};
use shared_kernel::metrics::MetricsExporter;
use shared_kernel::{Database, Shutdown};

use crate::Application;

/// The `Content-Type` of `GET /metrics`: Prometheus text format 0.0.4.
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// How long the readiness probe's database queries may take before the node counts as not
/// ready: a probe must answer even when the database hangs.
const READINESS_TIMEOUT: Duration = Duration::from_secs(2);

/// Whether a node's queue workers still run: set while their task lives.
#[derive(Debug, Clone, Default)]
pub struct WorkersAlive(Arc<AtomicBool>);

impl WorkersAlive {
    /// Marks the workers as running until the returned guard drops (their task ended, however).
    pub fn running(&self) -> WorkersRunning {
        self.0.store(true, Ordering::Release);
        WorkersRunning(self.0.clone())
    }

    fn is_alive(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// Held by the workers' task; see [`WorkersAlive::running`].
#[derive(Debug)]
pub struct WorkersRunning(Arc<AtomicBool>);

impl Drop for WorkersRunning {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// What the operations routes look at.
#[derive(Debug, Clone)]
pub struct Ops {
    db: Database,
    migrations: Arc<HashSet<i64>>,
    /// `None` when the node runs no workers (`serve --workers 0`): nothing to be alive.
    workers: Option<WorkersAlive>,
    exporter: MetricsExporter,
}

impl Ops {
    /// The operations state of `app`'s node; `workers` when it runs queue workers.
    pub fn new(app: &Application, workers: Option<WorkersAlive>) -> Self {
        let migrations = crate::provider::migrators()
            .iter()
            .flat_map(|m| m.iter())
            .filter(|m| !m.migration_type.is_down_migration())
            .map(|m| m.version)
            .collect();
        Self {
            db: app.db().clone(),
            migrations: Arc::new(migrations),
            workers,
            exporter: MetricsExporter::new(app.bus().clone(), app.queues()),
        }
    }

    /// Why the node is not ready, if it is not.
    async fn not_ready(&self) -> Option<ApiError> {
        let unavailable = |code, message: &str| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, code, message);
        let applied = tokio::time::timeout(
            READINESS_TIMEOUT,
            sqlx::query_scalar::<_, i64>("SELECT version FROM _sqlx_migrations WHERE success")
                .fetch_all(self.db.pool()),
        )
        .await;
        let applied: HashSet<i64> = match applied {
            Ok(Ok(versions)) => versions.into_iter().collect(),
            Ok(Err(e)) => {
                // The cause is logged, never sent: it may name hosts or tables.
                tracing::warn!(error = %e, "readiness: the database does not answer");
                return Some(unavailable("database_unreachable", "the database does not answer"));
            }
            Err(_) => {
                tracing::warn!(timeout = ?READINESS_TIMEOUT, "readiness: the database does not answer in time");
                return Some(unavailable(
                    "database_unreachable",
                    "the database does not answer in time",
                ));
            }
        };
        let pending = self.migrations.difference(&applied).count();
        if pending > 0 {
            return Some(unavailable(
                "migrations_pending",
                &format!("{pending} migrations are not applied; run `enteraksi migrate`"),
            ));
        }
        if self.workers.as_ref().is_some_and(|w| !w.is_alive()) {
            return Some(unavailable("workers_stopped", "the queue workers have stopped"));
        }
        None
    }
}

/// The answer of `/healthz` and `/readyz` when all is well.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Status {
    /// `ok` (healthz) or `ready` (readyz).
    pub status: String,
}

/// The operations routes: `/healthz`, `/readyz`, `/metrics`.
pub fn routes(ops: Ops) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(ops)
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", operation_id = "healthz", tag = "operations",
    responses((status = 200, description = "The process answers", body = Status)))]
async fn healthz() -> axum::Json<Status> {
    axum::Json(Status { status: "ok".into() })
}

/// The node can serve: the database answers, every migration is applied and its workers (if it
/// runs any) are alive.
#[utoipa::path(get, path = "/readyz", operation_id = "readyz", tag = "operations",
    responses(
        (status = 200, description = "Ready", body = Status),
        (status = 503, description = "Not ready: `database_unreachable`, `migrations_pending` or `workers_stopped`", body = ErrorBody),
    ))]
async fn readyz(State(ops): State<Ops>) -> Result<axum::Json<Status>, ApiError> {
    match ops.not_ready().await {
        Some(reason) => Err(reason),
        None => Ok(axum::Json(Status { status: "ready".into() })),
    }
}

/// Prometheus metrics, every name prefixed `enteraksi_`.
#[utoipa::path(get, path = "/metrics", operation_id = "metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format 0.0.4", body = String, content_type = "text/plain")))]
async fn metrics(State(ops): State<Ops>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, METRICS_CONTENT_TYPE)],
        ops.exporter.render().await,
    )
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(healthz, readyz, metrics))]
struct ApiDoc;

/// The operations routes' part of the OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    <ApiDoc as utoipa::OpenApi>::openapi()
}

/// Listens on `bind` for [`serve_routes`] (a clear error naming `--metrics-bind` when it cannot).
pub async fn listen(bind: SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(bind)
        .await
        .map_err(|e| anyhow::anyhow!("--metrics-bind: cannot listen on {bind}: {e}"))
}

/// Serves [`routes`] on `listener` until `shutdown` (`queue work --metrics-bind`): the metrics
/// and probes of a node that serves no API.
pub async fn serve_routes(ops: Ops, listener: tokio::net::TcpListener, mut shutdown: Shutdown) -> anyhow::Result<()> {
    eprintln!("Serving metrics on http://{}/metrics", listener.local_addr()?);
    axum::serve(listener, routes(ops))
        .with_graceful_shutdown(async move { shutdown.wait().await })
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StartOptions;
    use crate::config::Config;

    async fn app() -> (tempfile::TempDir, Application) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}", dir.path().join("ops.db").display());
        let config = Config::from_lookup(|key| (key == "DATABASE_URL").then(|| url.clone())).unwrap();
        let app = Application::start_with(&config, StartOptions::default()).await.unwrap();
        (dir, app)
    }

    #[tokio::test]
    async fn a_node_whose_workers_stopped_is_not_ready() {
        let (_dir, app) = app().await;
        let alive = WorkersAlive::default();
        let running = alive.running();
        let ops = Ops::new(&app, Some(alive));
        assert!(ops.not_ready().await.is_none(), "ready while the workers run");
        // The workers' task ends (a panic, an error): its guard drops.
        drop(running);
        let reason = ops.not_ready().await.expect("not ready once they stopped");
        assert_eq!(reason.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(reason.code(), "workers_stopped");
    }

    #[tokio::test]
    async fn a_node_without_workers_is_ready_with_its_database() {
        let (_dir, app) = app().await;
        assert!(Ops::new(&app, None).not_ready().await.is_none());
    }
}
