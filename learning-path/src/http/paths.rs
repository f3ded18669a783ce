//! Authoring, publishing and reading learning paths: `POST /api/paths`,
//! `POST /api/paths/{id}/courses`, `POST /api/paths/{id}/publish`, `GET /api/paths/{id}` and
//! `GET /api/paths`, with the path's request and response types.

use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use shared_kernel::http::{ApiError, ApiJson, ApiQuery, Caller, Created, ErrorBody, Page, PageQuery};
use shared_kernel::users::Role;
use shared_kernel::{CourseId, LearningPathId, UserId, from_db_text};

use super::{PathApi, api_error, authored, parse_id, visible};
use crate::{LearningPath, PathError};

/// `POST /api/paths`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPath {
    /// 1 to 200 characters.
    pub title: String,
    /// Free text (may be empty).
    #[serde(default)]
    pub description: String,
}

/// `POST /api/paths/{id}/courses`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPathCourse {
    /// A published course, appended to the path's list.
    pub course_id: CourseId,
}

/// A learning path as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PathView {
    /// Its id.
    pub id: LearningPathId,
    /// Its title.
    pub title: String,
    /// Its description.
    pub description: String,
    /// `draft` or `published`.
    pub status: String,
    /// Who authors it (and alone may change it).
    pub owner_id: UserId,
    /// Its courses in order (empty in lists).
    pub courses: Vec<CourseId>,
    /// When it was published (RFC 3339).
    pub published_at: Option<String>,
}

impl PathView {
    fn of(path: &LearningPath) -> Self {
        Self {
            id: path.id(),
            title: path.title().to_owned(),
            description: path.description().to_owned(),
            status: path.status().as_str().to_owned(),
            owner_id: path.owner_id(),
            courses: path.courses().to_vec(),
            published_at: path.published_at().map(|t| t.to_rfc3339()),
        }
    }
}

/// Creates a draft learning path authored by the caller (instructors and admins).
#[utoipa::path(
    post,
    path = "/api/paths",
    tag = "learning paths",
    request_body = NewPath,
    responses(
        (status = 201, description = "Created (draft); `Location` is the path.", body = PathView),
        (status = 401, description = "No valid API token.", body = ErrorBody),
        (status = 403, description = "The caller is not an instructor.", body = ErrorBody),
        (status = 422, description = "Malformed body or invalid title.", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(super) async fn create(
    State(state): State<PathApi>,
    caller: Caller,
    ApiJson(body): ApiJson<NewPath>,
) -> Result<Created<PathView>, ApiError> {
    caller.require(&[Role::Instructor], "create a learning path")?;
    let id = state
        .service
        .create(caller.id(), &body.title, &body.description)
        .await
        .map_err(api_error)?;
    let path = visible(&state, &caller, id).await?;
    Ok(Created {
        location: format!("/api/paths/{id}"),
        body: PathView::of(&path),
    })
}

/// Appends a published course to a draft path (its author only).
#[utoipa::path(
    post,
    path = "/api/paths/{id}/courses",
    tag = "learning paths",
    params(("id" = String, Path, description = "The learning path's id.")),
    request_body = NewPathCourse,
    responses(
        (status = 200, description = "The path with the course appended.", body = PathView),
        (status = 401, description = "No valid API token.", body = ErrorBody),
        (status = 403, description = "The caller may see the path but is not its author.", body = ErrorBody),
        (status = 404, description = "No path the caller may see.", body = ErrorBody),
        (status = 409, description = "The path is published, the course is not published or already in the path, or a concurrent change.", body = ErrorBody),
        (status = 422, description = "Malformed body or an unknown course.", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(super) async fn add_course(
    State(state): State<PathApi>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<NewPathCourse>,
) -> Result<ApiJson<PathView>, ApiError> {
    let id = parse_id(&id)?;
    authored(&state, &caller, id).await?;
    state
        .service
        .add_course(caller.actor(), id, body.course_id)
        .await
        .map_err(|e| match e {
            // The unknown course came in the body: the request is invalid, the path exists.
            PathError::CourseNotFound(course) => ApiError::invalid("unknown_course", format!("no course {course}")),
            e => api_error(e),
        })?;
    Ok(ApiJson(PathView::of(&visible(&state, &caller, id).await?)))
}

/// Publishes a draft path (its author only); its course list is frozen from then on.
#[utoipa::path(
    post,
    path = "/api/paths/{id}/publish",
    tag = "learning paths",
    params(("id" = String, Path, description = "The learning path's id.")),
    responses(
        (status = 200, description = "The published path.", body = PathView),
        (status = 401, description = "No valid API token.", body = ErrorBody),
        (status = 403, description = "The caller may see the path but is not its author.", body = ErrorBody),
        (status = 404, description = "No path the caller may see, or one of its courses is gone.", body = ErrorBody),
        (status = 409, description = "Already published, a course of it is not published, or a concurrent change.", body = ErrorBody),
        (status = 422, description = "The path has no courses.", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(super) async fn publish(
    State(state): State<PathApi>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<ApiJson<PathView>, ApiError> {
    let id = parse_id(&id)?;
    authored(&state, &caller, id).await?;
    state.service.publish(caller.actor(), id).await.map_err(api_error)?;
    Ok(ApiJson(PathView::of(&visible(&state, &caller, id).await?)))
}

/// A learning path with its courses (drafts: their author and admins only).
#[utoipa::path(
    get,
    path = "/api/paths/{id}",
    tag = "learning paths",
    params(("id" = String, Path, description = "The learning path's id.")),
    responses(
        (status = 200, description = "The path.", body = PathView),
        (status = 401, description = "No valid API token.", body = ErrorBody),
        (status = 404, description = "No path the caller may see.", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(super) async fn show(
    State(state): State<PathApi>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<ApiJson<PathView>, ApiError> {
    Ok(ApiJson(PathView::of(&visible(&state, &caller, parse_id(&id)?).await?)))
}

/// `GET /api/paths`: the catalog in creation order — published paths, and the caller's own
/// drafts too (admins: every path); without their courses.
#[utoipa::path(
    get,
    path = "/api/paths",
    tag = "learning paths",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of paths, without their courses.", body = Page<PathView>),
        (status = 401, description = "No valid API token.", body = ErrorBody),
        (status = 422, description = "Malformed query, invalid limit or cursor.", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(super) async fn list(
    State(state): State<PathApi>,
    caller: Caller,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<ApiJson<Page<PathView>>, ApiError> {
    let limit = page.limit()?;
    let after = page.after()?.unwrap_or_default();
    let rows: Vec<(String, String, String, String, String, Option<String>)> = sqlx::query_as(
        "SELECT id, title, description, status, owner_id, published_at FROM learning_paths \
         WHERE (status = 'published' OR owner_id = $1 OR $2 = 1) AND id > $3 ORDER BY id LIMIT $4",
    )
    .bind(caller.id().to_string())
    .bind(i64::from(caller.is_admin()))
    .bind(after)
    .bind(i64::from(limit) + 1)
    .fetch_all(state.api.bus.db().pool())
    .await
    .map_err(|e| ApiError::internal(&e))?;
    let views = rows
        .into_iter()
        .map(|(id, title, description, status, owner, published_at)| {
            Ok(PathView {
                id: LearningPathId::parse(&id).map_err(|e| ApiError::internal(&e))?,
                title,
                description,
                status,
                owner_id: UserId::parse(&owner).map_err(|e| ApiError::internal(&e))?,
                courses: Vec::new(),
                published_at: published_at
                    .map(|t| {
                        from_db_text(&t)
                            .map(|t| t.to_rfc3339())
                            .map_err(|e| ApiError::internal(&e))
                    })
                    .transpose()?,
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(ApiJson(Page::from_rows(views, limit, |p| p.id.to_string())))
}
