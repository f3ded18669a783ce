//! Counts every answered request for `/metrics` by route template, method and status, with its
//! duration ([`crate::metrics::HTTP_REQUESTS`], [`crate::metrics::HTTP_DURATION`]).

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;

/// The `route` label of a request that matched no route: one series for every unknown path, so
/// a scanner cannot create a series per path it tries.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// Middleware (`axum::middleware::from_fn(http_metrics)`, added with `Router::layer` so the
/// matched route is known): see the module docs.
pub async fn http_metrics(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| UNMATCHED_ROUTE.to_owned(), |path| path.as_str().to_owned());
    let method = request.method().clone();
    let response = next.run(request).await;
    crate::metrics::http_request(&route, method.as_str(), response.status().as_u16(), started.elapsed());
    response
}
