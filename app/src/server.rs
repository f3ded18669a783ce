//! `enteraksi serve`: the LMS over HTTP. Each context owns its routes; this module mounts them,
//! the kernel's events dashboard ([`shared_kernel::admin`]: `/admin`) and the operations routes
//! ([`crate::ops`]: `/healthz`, `/readyz`, `/metrics`), adds what every
//! request gets (request and correlation ids, tracing, request metrics, a body limit, a
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
use shared_kernel::broadcast::Tailer;
use shared_kernel::http::redacted_uri;
use shared_kernel::http::{
    ApiError, ApiState, CORRELATION_HEADER, REQUEST_ID_HEADER, http_metrics, idempotency, request_context,
};
use shared_kernel::metrics::MetricsExporter;
use shared_kernel::{Shutdown, Worker, WorkerOptions, WorkerReport};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::trace::TraceLayer;

use crate::Application;
use crate::adapters::EnrollmentCountsFromEnrollments;
use crate::ops::{Ops, WorkersAlive};

/// The largest request body accepted (1 MiB); larger is 413.
pub const BODY_LIMIT: usize = 1024 * 1024;
/// How long one request may take before it is answered 503 `timeout`.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The OpenAPI 3.1 document of the whole API, assembled from each context's part (generated from
/// its route annotations), with the bearer scheme; served at `GET /openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
    use utoipa::openapi::{InfoBuilder, OpenApiBuilder};
    let mut doc = OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Enteraksi")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "The Enteraksi learning-management system's HTTP API. Send `Authorization: Bearer <token>`; \
                     errors are `{\"error\": {\"code\", \"message\"}}`; every POST takes an `Idempotency-Key`.",
                ))
                .build(),
        )
        .build();
    for part in [
        shared_kernel::users::http::openapi(),
        shared_kernel::notifications::http::openapi(),
        shared_kernel::audit::http::openapi(),
        shared_kernel::integrations::webhooks::http::openapi(),
        course::http::openapi(),
        enrollment::http::openapi(),
        progress::http::openapi(),
        assessment::http::openapi(),
        learning_path::http::openapi(),
        shared_kernel::broadcast::http::openapi(),
        crate::ops::openapi(),
    ] {
        doc.merge(part);
    }
    unique_operation_ids(&mut doc);
    doc.components.get_or_insert_with(Default::default).add_security_scheme(
        "bearer",
        SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
    );
    doc
}

/// Gives every operation whose id another operation also has (contexts name handlers alike:
/// `create`, `show`, `list`) an id made of its method and path.
fn unique_operation_ids(doc: &mut utoipa::openapi::OpenApi) {
    let mut seen = std::collections::HashMap::<String, usize>::new();
    for item in doc.paths.paths.values() {
        for op in [&item.get, &item.post].into_iter().flatten() {
            if let Some(id) = &op.operation_id {
                *seen.entry(id.clone()).or_default() += 1;
            }
        }
    }
    for (path, item) in doc.paths.paths.iter_mut() {
        let slug: String = path
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        for (method, op) in [("get", &mut item.get), ("post", &mut item.post)] {
            if let Some(op) = op
                && op
                    .operation_id
                    .as_ref()
                    .is_none_or(|id| seen.get(id).copied().unwrap_or(0) > 1)
            {
                op.operation_id = Some(format!("{method}{slug}"));
            }
        }
    }
}

/// The whole API: every context's routes and the operations routes of `ops`, mounted, with the
/// shared layers.
pub fn router(app: &Application, cors_origins: &[HeaderValue], ops: Ops) -> Router {
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
        .merge(shared_kernel::integrations::webhooks::http::routes(api.clone()))
        .merge(course::http::routes(api.clone(), courses))
        .merge(enrollment::http::routes(api.clone()))
        .merge(progress::http::routes(api.clone()))
        .merge(assessment::http::routes(api.clone()))
        .merge(learning_path::http::routes(api.clone()))
        .merge(shared_kernel::broadcast::http::routes(
            api,
            app.live().clone(),
            &Application::broadcast_channels(),
        ))
        .merge(shared_kernel::admin::routes(shared_kernel::admin::AdminState::new(
            ApiState { bus: app.bus().clone() },
            MetricsExporter::new(app.bus().clone(), app.queues()),
            app.queues(),
        )))
        .merge(crate::ops::routes(ops))
        // Kept for probes configured before `/healthz`; undocumented.
        .route("/health", get(|| async { "ok" }))
        .route(
            "/openapi.json",
            get({
                let doc = Arc::new(openapi());
                move || async move { axum::Json((*doc).clone()) }
            }),
        )
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
        // A handler that panics is a server fault: 500 in the error shape, not a dropped connection.
        .layer(CatchPanicLayer::custom(|_panic: Box<dyn std::any::Any + Send>| {
            tracing::error!("a request handler panicked");
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the server failed").into_response()
        }))
        // Outside the panic and timeout layers, so a panic's 500 and a timeout's 503 are counted;
        // added with `Router::layer`, so it sees the matched route template.
        .layer(from_fn(http_metrics))
        // The request's span names its path and query with any `token` redacted (a browser's
        // EventSource sends its API token in the query).
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request| {
            tracing::info_span!(
                "request",
                method = %request.method(),
                uri = %redacted_uri(request.uri()),
                version = ?request.version(),
            )
        }))
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
    let alive = (workers > 0).then(WorkersAlive::default);
    let worker = alive.as_ref().map(|alive| {
        let worker = Worker::new(
            app.bus().clone(),
            WorkerOptions::new(app.queues())
                .concurrency(workers)
                .grace(grace)
                .broadcast_retention(app.broadcast_retention()),
        );
        let shutdown = shutdown.clone();
        let running = alive.running();
        tokio::spawn(async move {
            let _running = running;
            worker.run(shutdown).await
        })
    });
    // Every `serve` process tails the broadcast log to its own subscribers.
    let _tailer = Tailer::start(app.bus(), app.live().clone()).await;
    let mut stop = shutdown.clone();
    let live = app.live().clone();
    axum::serve(listener, router(app, cors_origins, Ops::new(app, alive)))
        .with_graceful_shutdown(async move {
            stop.wait().await;
            // Streams never end by themselves: end each with a final `shutdown` event, so the
            // graceful shutdown can finish and clients resume elsewhere.
            live.close();
        })
        .await?;
    let report = match worker {
        Some(handle) => handle.await??,
        None => WorkerReport::default(),
    };
    Ok(report)
}
