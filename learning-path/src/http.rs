//! The learning-path context's HTTP routes: authoring paths (instructors, their own paths),
//! publishing, reading the catalog, and learners' path enrollments. `app` mounts [`routes`].
//!
//! | route | who |
//! |---|---|
//! | `POST /api/paths` `{title, description}` | instructor |
//! | `POST /api/paths/{id}/courses` `{course_id}` | its author |
//! | `POST /api/paths/{id}/publish` | its author |
//! | `GET /api/paths`, `GET /api/paths/{id}` | anyone with a token (drafts: their author) |
//! | `POST /api/paths/{id}/enrollments` `{}` | the caller, for themselves |
//! | `GET /api/path-enrollments/{id}` | its learner, the path's author, admins |
//! | `POST /api/path-enrollments/{id}/drop` `{reason?}` | its learner |

use axum::Router;
use axum::extract::{FromRef, Path, State};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use shared_kernel::http::{
    ApiError, ApiJson, ApiQuery, ApiState, Caller, Created, ErrorBody, OptionalJson, Page, PageQuery,
};
use shared_kernel::sqlx::AnyConnection;
use shared_kernel::users::Role;
use shared_kernel::{CourseId, EnrollmentId, LearningPathId, PathEnrollmentId, UserId, from_db_text};

use crate::{LearningPath, LearningPathService, PathEnrollment, PathEnrollmentStatus, PathError};

#[derive(Clone)]
struct PathApi {
    api: ApiState,
    service: LearningPathService,
}

impl FromRef<PathApi> for ApiState {
    fn from_ref(state: &PathApi) -> Self {
        state.api.clone()
    }
}

/// The learning-path routes.
pub fn routes(api: ApiState) -> Router {
    let service = LearningPathService::new(api.bus.clone());
    Router::new()
        .route("/api/paths", post(create).get(list))
        .route("/api/paths/{id}", get(show))
        .route("/api/paths/{id}/courses", post(add_course))
        .route("/api/paths/{id}/publish", post(publish))
        .route("/api/paths/{id}/enrollments", post(enroll))
        .route("/api/path-enrollments/{id}", get(show_enrollment))
        .route("/api/path-enrollments/{id}/drop", post(drop_out))
        .with_state(PathApi { api, service })
}

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

/// `POST /api/paths/{id}/enrollments`: empty (the caller enrolls themselves).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPathEnrollment {}

/// `POST /api/path-enrollments/{id}/drop`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DropRequest {
    /// Why (at most 500 characters).
    pub reason: Option<String>,
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

/// One course of a path as a path enrollment sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PathCourseView {
    /// The course.
    pub course_id: CourseId,
    /// 0, 1, … in the path.
    pub position: usize,
    /// `completed` (the learner completed it, or the path moved past it), `active` (the course
    /// the learner is on in an active path enrollment) or `locked` (not reached yet; every
    /// course not completed once the path enrollment is dropped).
    pub state: String,
    /// The learner's active enrollment in the course, if they have one.
    pub enrollment_id: Option<EnrollmentId>,
}

/// A path enrollment as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PathEnrollmentView {
    /// Its id.
    pub id: PathEnrollmentId,
    /// The path.
    pub path_id: LearningPathId,
    /// The learner.
    pub user_id: UserId,
    /// `active`, `completed` or `dropped`.
    pub status: String,
    /// The course the learner is on; absent once the path is completed.
    pub current_course_id: Option<CourseId>,
    /// When the learner enrolled (RFC 3339).
    pub enrolled_at: String,
    /// When they completed the path.
    pub completed_at: Option<String>,
    /// When they dropped it.
    pub dropped_at: Option<String>,
    /// Why, if they said.
    pub drop_reason: Option<String>,
    /// Every course of the path, in order, with its state for this learner.
    pub courses: Vec<PathCourseView>,
}

/// The learning-path error as an answer: one stable code per variant.
pub fn api_error(e: PathError) -> ApiError {
    let e = match e {
        // Maps as the source does (its refusals keep their codes; its faults are 500).
        PathError::Enrollment(source) => return enrollment::http::api_error(source),
        e => e,
    };
    match &e {
        PathError::NotFound(_) => ApiError::not_found("path_not_found", e.to_string()),
        PathError::EnrollmentNotFound(_) => ApiError::not_found("path_enrollment_not_found", e.to_string()),
        PathError::CourseNotFound(_) => ApiError::not_found("course_not_found", e.to_string()),
        PathError::UserNotFound(_) => ApiError::not_found("user_not_found", e.to_string()),
        PathError::CourseNotInPath { .. } => ApiError::not_found("course_not_in_path", e.to_string()),
        PathError::InvalidTitle { .. } => ApiError::invalid("invalid_title", e.to_string()),
        PathError::ReasonTooLong { .. } => ApiError::invalid("reason_too_long", e.to_string()),
        PathError::EmptyPath(_) => ApiError::invalid("empty_path", e.to_string()),
        PathError::NotOwner { .. } => ApiError::forbidden(e.to_string()),
        PathError::CourseNotPublished { .. } => ApiError::conflict("course_not_published", e.to_string()),
        PathError::DuplicateCourse { .. } => ApiError::conflict("duplicate_course", e.to_string()),
        PathError::CourseListFrozen(_) => ApiError::conflict("course_list_frozen", e.to_string()),
        PathError::AlreadyPublished(_) => ApiError::conflict("already_published", e.to_string()),
        PathError::PathNotPublished { .. } => ApiError::conflict("path_not_published", e.to_string()),
        PathError::AlreadyEnrolled { .. } => ApiError::conflict("already_enrolled", e.to_string()),
        PathError::InvalidTransition(_) => ApiError::conflict("invalid_transition", e.to_string()),
        PathError::ConcurrentChange(_) | PathError::PathConcurrentChange(_) => {
            ApiError::conflict("concurrent_change", e.to_string())
        }
        PathError::Enrollment(_)
        | PathError::Course(_)
        | PathError::User(_)
        | PathError::Corrupt { .. }
        | PathError::Database(_)
        | PathError::UnitOfWork(_) => ApiError::internal(&e),
    }
}

fn path_not_found(id: &str) -> ApiError {
    ApiError::not_found("path_not_found", format!("no learning path {id}"))
}

fn enrollment_not_found(id: &str) -> ApiError {
    ApiError::not_found("path_enrollment_not_found", format!("no learning path enrollment {id}"))
}

fn parse_id(id: &str) -> Result<LearningPathId, ApiError> {
    LearningPathId::parse(id).map_err(|_| path_not_found(id))
}

/// A path the caller may see: published ones for everyone, drafts for their author and admins.
/// Anything else is 404, as if it did not exist.
async fn visible(state: &PathApi, caller: &Caller, id: LearningPathId) -> Result<LearningPath, ApiError> {
    match crate::find(&mut *state.api.read().await?, id)
        .await
        .map_err(api_error)?
    {
        Some(path) if path.is_published() || path.owner_id() == caller.id() || caller.is_admin() => Ok(path),
        _ => Err(path_not_found(&id.to_string())),
    }
}

/// A path the caller may change: its author's or, for an admin, any; 403 for one they may only
/// read.
async fn authored(state: &PathApi, caller: &Caller, id: LearningPathId) -> Result<LearningPath, ApiError> {
    let path = visible(state, caller, id).await?;
    if caller.actor().may_manage(path.owner_id()) {
        Ok(path)
    } else {
        Err(ApiError::forbidden("only the learning path's author may change it"))
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
async fn create(
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
async fn add_course(
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
async fn publish(
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
async fn show(
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
async fn list(
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

/// Enrolls the caller in a published path, and in its first course not completed yet.
#[utoipa::path(
    post,
    path = "/api/paths/{id}/enrollments",
    tag = "learning paths",
    params(("id" = String, Path, description = "The learning path's id.")),
    request_body(content = NewPathEnrollment, description = "optional; may be empty"),
    responses(
        (status = 201, description = "Enrolled; `Location` is the path enrollment.", body = PathEnrollmentView),
        (status = 401, description = "No valid API token.", body = ErrorBody),
        (status = 404, description = "No path the caller may see, or a course of it is gone.", body = ErrorBody),
        (status = 409, description = "The path is not published, the caller is already enrolled, a course of it is not published, or a concurrent change.", body = ErrorBody),
        (status = 422, description = "A body that is not `{}`.", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn enroll(
    State(state): State<PathApi>,
    caller: Caller,
    Path(id): Path<String>,
    OptionalJson(_body): OptionalJson<NewPathEnrollment>,
) -> Result<Created<PathEnrollmentView>, ApiError> {
    let id = parse_id(&id)?;
    visible(&state, &caller, id).await?;
    let enrollment = state
        .service
        .enroll(caller.id(), caller.id(), id)
        .await
        .map_err(api_error)?;
    Ok(Created {
        location: format!("/api/path-enrollments/{enrollment}"),
        body: view(&state, enrollment).await?,
    })
}

/// A path enrollment the caller may read (its learner, the path's author, admins), with whether
/// they may change it (its learner, admins). Others get 404.
async fn readable(state: &PathApi, caller: &Caller, id: &str) -> Result<(PathEnrollment, bool), ApiError> {
    let id = PathEnrollmentId::parse(id).map_err(|_| enrollment_not_found(id))?;
    let mut conn = state.api.read().await?;
    let Some(enrollment) = crate::find_enrollment(&mut conn, id).await.map_err(api_error)? else {
        return Err(enrollment_not_found(&id.to_string()));
    };
    if enrollment.user_id() == caller.id() || caller.is_admin() {
        return Ok((enrollment, true));
    }
    let author = crate::find(&mut conn, enrollment.path_id())
        .await
        .map_err(api_error)?
        .map(|p| p.owner_id());
    if author == Some(caller.id()) {
        Ok((enrollment, false))
    } else {
        Err(enrollment_not_found(&id.to_string()))
    }
}

async fn view(state: &PathApi, id: PathEnrollmentId) -> Result<PathEnrollmentView, ApiError> {
    let mut conn = state.api.read().await?;
    let enrollment = crate::find_enrollment(&mut conn, id)
        .await
        .map_err(api_error)?
        .ok_or_else(|| enrollment_not_found(&id.to_string()))?;
    view_of(&mut conn, &enrollment).await
}

/// The path enrollment with each course's state: `completed` when the learner has completed
/// the course (in any enrollment) or the path moved past it, `active` for the current course
/// of an active path enrollment, `locked` otherwise.
async fn view_of(conn: &mut AnyConnection, enrollment: &PathEnrollment) -> Result<PathEnrollmentView, ApiError> {
    let path = crate::find(conn, enrollment.path_id())
        .await
        .map_err(api_error)?
        .ok_or_else(|| path_not_found(&enrollment.path_id().to_string()))?;
    let learner = enrollment.user_id();
    let mut courses = Vec::with_capacity(path.courses().len());
    for (position, course) in path.courses().iter().copied().enumerate() {
        let completed = enrollment::has_completed(conn, learner, course)
            .await
            .map_err(enrollment::http::api_error)?;
        let active = enrollment::find_active(conn, learner, course)
            .await
            .map_err(enrollment::http::api_error)?;
        let state = if completed || position < enrollment.position() {
            "completed"
        } else if position == enrollment.position() && enrollment.status() == PathEnrollmentStatus::Active {
            "active"
        } else {
            "locked"
        };
        courses.push(PathCourseView {
            course_id: course,
            position,
            state: state.to_owned(),
            enrollment_id: active.map(|e| e.id()),
        });
    }
    Ok(PathEnrollmentView {
        id: enrollment.id(),
        path_id: enrollment.path_id(),
        user_id: learner,
        status: enrollment.status().as_str().to_owned(),
        current_course_id: enrollment.current_course(),
        enrolled_at: enrollment.enrolled_at().to_rfc3339(),
        completed_at: enrollment.completed_at().map(|t| t.to_rfc3339()),
        dropped_at: enrollment.dropped_at().map(|t| t.to_rfc3339()),
        drop_reason: enrollment.drop_reason().map(|r| r.as_str().to_owned()),
        courses,
    })
}

/// A path enrollment with each course's state (its learner, the path's author, admins).
#[utoipa::path(
    get,
    path = "/api/path-enrollments/{id}",
    tag = "learning paths",
    params(("id" = String, Path, description = "The path enrollment's id.")),
    responses(
        (status = 200, description = "The path enrollment.", body = PathEnrollmentView),
        (status = 401, description = "No valid API token.", body = ErrorBody),
        (status = 404, description = "No path enrollment the caller may read.", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn show_enrollment(
    State(state): State<PathApi>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<ApiJson<PathEnrollmentView>, ApiError> {
    let (enrollment, _) = readable(&state, &caller, &id).await?;
    Ok(ApiJson(view_of(&mut *state.api.read().await?, &enrollment).await?))
}

/// Drops an active path enrollment, with an optional reason (its learner, admins).
#[utoipa::path(
    post,
    path = "/api/path-enrollments/{id}/drop",
    tag = "learning paths",
    params(("id" = String, Path, description = "The path enrollment's id.")),
    request_body(content = DropRequest, description = "optional; may be empty"),
    responses(
        (status = 200, description = "The dropped path enrollment.", body = PathEnrollmentView),
        (status = 401, description = "No valid API token.", body = ErrorBody),
        (status = 403, description = "The caller is the path's author, not the enrolled learner.", body = ErrorBody),
        (status = 404, description = "No path enrollment the caller may read.", body = ErrorBody),
        (status = 409, description = "Already completed or dropped, or a concurrent change.", body = ErrorBody),
        (status = 422, description = "Malformed body or a reason too long.", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn drop_out(
    State(state): State<PathApi>,
    caller: Caller,
    Path(id): Path<String>,
    OptionalJson(body): OptionalJson<DropRequest>,
) -> Result<ApiJson<PathEnrollmentView>, ApiError> {
    let id = match readable(&state, &caller, &id).await? {
        (enrollment, true) => enrollment.id(),
        (_, false) => {
            return Err(ApiError::forbidden(
                "only the enrolled learner may drop their learning path enrollment",
            ));
        }
    };
    state
        .service
        .drop_out(caller.id(), id, body.reason.as_deref())
        .await
        .map_err(api_error)?;
    Ok(ApiJson(view(&state, id).await?))
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(create, list, show, add_course, publish, enroll, show_enrollment, drop_out))]
struct ApiDoc;

/// This context's part of the OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = <ApiDoc as utoipa::OpenApi>::openapi();
    // `OptionalJson` bodies may be left out, but utoipa marks every body that is not an `Option`
    // required (and an `Option` would document a JSON `null`, which is refused).
    for path in OPTIONAL_BODIES {
        if let Some(body) = doc
            .paths
            .paths
            .get_mut(path)
            .and_then(|item| item.post.as_mut())
            .and_then(|operation| operation.request_body.as_mut())
        {
            body.required = Some(utoipa::openapi::Required::False);
        }
    }
    doc
}

/// The `POST` routes whose body is an `OptionalJson`.
const OPTIONAL_BODIES: [&str; 2] = ["/api/paths/{id}/enrollments", "/api/path-enrollments/{id}/drop"];

#[cfg(test)]
mod tests {
    use super::*;

    /// Every path registered in [`routes`].
    const ROUTES: [&str; 7] = [
        "/api/paths",
        "/api/paths/{id}",
        "/api/paths/{id}/courses",
        "/api/paths/{id}/publish",
        "/api/paths/{id}/enrollments",
        "/api/path-enrollments/{id}",
        "/api/path-enrollments/{id}/drop",
    ];

    #[test]
    fn openapi_documents_every_route() {
        let doc = openapi();
        let documented: Vec<&str> = doc.paths.paths.keys().map(String::as_str).collect();
        for path in ROUTES {
            assert!(documented.contains(&path), "{path} is not documented: {documented:?}");
        }
        assert_eq!(documented.len(), ROUTES.len(), "{documented:?}");
        let root = &doc.paths.paths["/api/paths"];
        assert!(root.get.is_some() && root.post.is_some(), "GET and POST /api/paths");
    }

    #[test]
    fn optional_bodies_are_not_required_and_the_others_are() {
        use utoipa::openapi::Required;
        let doc = openapi();
        for (path, item) in &doc.paths.paths {
            let Some(body) = item.post.as_ref().and_then(|operation| operation.request_body.as_ref()) else {
                continue;
            };
            let expected = if OPTIONAL_BODIES.contains(&path.as_str()) {
                Required::False
            } else {
                Required::True
            };
            assert!(body.required == Some(expected), "{path}");
        }
    }

    #[test]
    fn openapi_operations_are_tagged_and_secured() {
        let doc = openapi();
        for (path, item) in &doc.paths.paths {
            let operations = [&item.get, &item.post, &item.put, &item.patch, &item.delete];
            for operation in operations.into_iter().flatten() {
                assert_eq!(
                    operation.tags.as_deref(),
                    Some(&["learning paths".to_owned()][..]),
                    "{path}"
                );
                assert!(operation.security.is_some(), "{path} has no security");
                assert!(operation.responses.responses.contains_key("401"), "{path} has no 401");
            }
        }
    }
}
