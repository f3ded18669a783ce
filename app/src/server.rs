//! `enteraksi serve`: the LMS over HTTP. Each context owns its routes; this module mounts them,
//! adds what every request gets (request and correlation ids, tracing, a body limit, a
//! per-request timeout, CORS) and runs the server with the queue workers embedded.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use course::CourseService;
use shared_kernel::http::{ApiError, ApiState, CORRELATION_HEADER, REQUEST_ID_HEADER, idempotency, request_context};
use shared_kernel::{Shutdown, Worker, WorkerOptions, WorkerReport};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::trace::TraceLayer;

use crate::Application;
use crate::adapters::EnrollmentCountsFromEnrollments;

/// The largest request body accepted (1 MiB); larger is 413.
pub const BODY_LIMIT: usize = 1024 * 1024;
/// How long one request may take before it is answered 503 `timeout`.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The whole API: every context's routes, mounted, with the shared layers.
pub fn router(app: &Application, cors_origins: &[HeaderValue]) -> Router {
    let api = ApiState { bus: app.bus().clone() };
    let keys = api.clone();
    let courses = CourseService::new(app.bus().clone(), Arc::new(EnrollmentCountsFromEnrollments));
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::list(cors_origins.iter().cloned()))
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([
            axum::http::header::AUTHORIZATION,
            axum::http::header::CONTENT_TYPE,
            HeaderName::from_static(REQUEST_ID_HEADER),
            HeaderName::from_static("idempotency-key"),
        ])
        .expose_headers([
            HeaderName::from_static(REQUEST_ID_HEADER),
            HeaderName::from_static(CORRELATION_HEADER),
            axum::http::header::LOCATION,
        ]);
    Router::new()
        .merge(shared_kernel::users::http::routes(api.clone()))
        .merge(shared_kernel::notifications::http::routes(api.clone()))
        .merge(shared_kernel::audit::http::routes(api.clone()))
        .merge(course::http::routes(api.clone(), courses))
        .merge(enrollment::http::routes(api.clone()))
        .merge(progress::http::routes(api.clone()))
        .merge(assessment::http::routes(api.clone()))
        .merge(learning_path::http::routes(api))
        .route("/health", get(|| async { "ok" }))
        .fallback(|| async { ApiError::not_found("route_not_found", "no such route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not take that method",
            )
        })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(from_fn_with_state(keys, idempotency))
        .layer(from_fn(timeout))
        .layer(from_fn(request_context))
        .layer(TraceLayer::new_for_http())
        .layer(cors)
}

async fn timeout(request: Request, next: Next) -> Response {
    match tokio::time::timeout(REQUEST_TIMEOUT, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            format!("the request took longer than {REQUEST_TIMEOUT:?}"),
        )
        .into_response(),
    }
}

/// Listens on `bind` (a clear error naming `HTTP_BIND` when it cannot).
pub async fn listen(bind: SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(bind)
        .await
        .map_err(|e| anyhow::anyhow!("HTTP_BIND: cannot listen on {bind}: {e}"))
}

/// Serves the API on `listener` with `workers` queue worker slots embedded (0: API only), until
/// `shutdown`; then stops accepting, finishes the requests in flight and the jobs in hand.
pub async fn serve(
    app: &Application,
    listener: tokio::net::TcpListener,
    cors_origins: &[HeaderValue],
    workers: usize,
    grace: Duration,
    shutdown: Shutdown,
) -> anyhow::Result<WorkerReport> {
    let local = listener.local_addr()?;
    eprintln!("Serving the API on http://{local} with {workers} worker slots");
    let worker = (workers > 0).then(|| {
        let worker = Worker::new(
            app.bus().clone(),
            WorkerOptions::new(app.queues()).concurrency(workers).grace(grace),
        );
        let shutdown = shutdown.clone();
        tokio::spawn(async move { worker.run(shutdown).await })
    });
    let mut stop = shutdown.clone();
    axum::serve(listener, router(app, cors_origins))
        .with_graceful_shutdown(async move { stop.wait().await })
        .await?;
    let report = match worker {
        Some(handle) => handle.await??,
        None => WorkerReport::default(),
    };
    Ok(report)
}
