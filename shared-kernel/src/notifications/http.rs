//! The caller's in-app notifications over HTTP. `app` mounts [`routes`].
//!
//! | route | who |
//! |---|---|
//! | `GET /api/me/notifications` (unread first, then newest; paged) | the caller |
//! | `POST /api/me/notifications/read` → `{marked}` | the caller: marks all read |
//! | `POST /api/me/notifications/{id}/read` | the caller: marks one read |

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};

use super::{StoredNotification, mark_read};
use crate::clock::to_db_text;
use crate::http::{ApiError, ApiJson, ApiQuery, ApiState, Caller, ErrorBody, Page, PageQuery};

/// The notification routes.
pub fn routes(api: ApiState) -> Router {
    Router::new()
        .route("/api/me/notifications", get(list))
        .route("/api/me/notifications/read", post(read_all))
        .route("/api/me/notifications/{id}/read", post(read_one))
        .with_state(api)
}

/// How many were marked read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Marked {
    /// Notifications that were unread.
    pub marked: u64,
}

type Row = (String, String, String, String, Option<String>, String);

/// The caller's notifications, unread first, then newest.
#[utoipa::path(get, path = "/api/me/notifications", operation_id = "list_my_notifications", tag = "notifications", security(("bearer" = [])),
    params(PageQuery),
    responses(
        (status = 200, description = "A page of notifications", body = Page<StoredNotification>),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 422, description = "Invalid limit, cursor or query parameter", body = ErrorBody),
    ))]
async fn list(
    State(api): State<ApiState>,
    caller: Caller,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<ApiJson<Page<StoredNotification>>, ApiError> {
    let limit = page.limit()?;
    // The cursor is `<0 unread | 1 read>|<created_at>|<id>` of the last row shown.
    let after = page.after()?;
    let (flag, created, id) = match after.as_deref().map(|a| a.splitn(3, '|').collect::<Vec<_>>()) {
        None => (-1, String::new(), String::new()),
        Some(parts) if parts.len() == 3 && (parts[0] == "0" || parts[0] == "1") => {
            (i64::from(parts[0] == "1"), parts[1].to_owned(), parts[2].to_owned())
        }
        Some(_) => {
            return Err(ApiError::invalid(
                "invalid_cursor",
                "the cursor is not one this API gave out",
            ));
        }
    };
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, notifiable_id, type, data, read_at, created_at FROM notifications \
         WHERE notifiable_id = $1 AND ($2 < 0 \
           OR (CASE WHEN read_at IS NULL THEN 0 ELSE 1 END) > $2 \
           OR ((CASE WHEN read_at IS NULL THEN 0 ELSE 1 END) = $2 \
               AND (created_at < $3 OR (created_at = $3 AND id < $4)))) \
         ORDER BY CASE WHEN read_at IS NULL THEN 0 ELSE 1 END, created_at DESC, id DESC LIMIT $5",
    )
    .bind(caller.id().to_string())
    .bind(flag)
    .bind(created)
    .bind(id)
    .bind(i64::from(limit) + 1)
    .fetch_all(api.bus.db().pool())
    .await
    .map_err(|e| ApiError::internal(&e))?;
    let items: Vec<StoredNotification> = rows
        .into_iter()
        .map(
            |(id, notifiable_id, kind, data, read_at, created_at)| StoredNotification {
                id,
                notifiable_id,
                kind,
                data: serde_json::from_str(&data).unwrap_or(serde_json::Value::Null),
                read_at,
                created_at,
            },
        )
        .collect();
    Ok(ApiJson(Page::from_rows(items, limit, |n| {
        format!("{}|{}|{}", u8::from(n.read_at.is_some()), n.created_at, n.id)
    })))
}

/// Marks all the caller's notifications read.
#[utoipa::path(post, path = "/api/me/notifications/read", operation_id = "mark_all_notifications_read", tag = "notifications", security(("bearer" = [])),
    responses(
        (status = 200, description = "How many were unread", body = Marked),
        (status = 401, description = "No valid token", body = ErrorBody),
    ))]
async fn read_all(State(api): State<ApiState>, caller: Caller) -> Result<ApiJson<Marked>, ApiError> {
    let marked = api
        .bus
        .retrying(|| async {
            let mut uow = api.bus.begin();
            let now = api.bus.clock().now();
            let marked =
                sqlx::query("UPDATE notifications SET read_at = $1 WHERE notifiable_id = $2 AND read_at IS NULL")
                    .bind(to_db_text(now))
                    .bind(caller.id().to_string())
                    .execute(uow.conn().await?)
                    .await
                    .map_err(|e| ApiError::internal(&e))?
                    .rows_affected();
            uow.commit().await?;
            Ok::<_, ApiError>(marked)
        })
        .await?;
    Ok(ApiJson(Marked { marked }))
}

/// Marks one of the caller's notifications read.
#[utoipa::path(post, path = "/api/me/notifications/{id}/read", operation_id = "mark_notification_read", tag = "notifications", security(("bearer" = [])),
    params(("id" = String, Path, description = "The notification")),
    responses(
        (status = 204, description = "Read"),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such notification of the caller", body = ErrorBody),
    ))]
async fn read_one(State(api): State<ApiState>, caller: Caller, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    api.bus
        .retrying(|| async {
            let mut uow = api.bus.begin();
            let now = api.bus.clock().now();
            let conn = uow.conn().await?;
            let exists: Option<(String,)> =
                sqlx::query_as("SELECT id FROM notifications WHERE id = $1 AND notifiable_id = $2")
                    .bind(id.clone())
                    .bind(caller.id().to_string())
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(|e| ApiError::internal(&e))?;
            if exists.is_none() {
                return Err(ApiError::not_found(
                    "notification_not_found",
                    format!("no notification {id}"),
                ));
            }
            mark_read(conn, caller.id(), &id, now)
                .await
                .map_err(|e| ApiError::internal(&e))?;
            uow.commit().await?;
            Ok(())
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(list, read_all, read_one))]
struct ApiDoc;

/// This module's part of the OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    <ApiDoc as utoipa::OpenApi>::openapi()
}
