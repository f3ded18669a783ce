//! The course context's HTTP routes: authoring (instructors, their own courses), publishing, and
//! reading the catalog. `app` mounts [`routes`].
//!
//! | route | who |
//! |---|---|
//! | `POST /api/courses` `{title, description}` | instructor |
//! | `POST /api/courses/{id}/lessons` `{title, kind}` | its instructor |
//! | `POST /api/courses/{id}/publish`, `…/unpublish`, `…/archive` | its instructor |
//! | `GET /api/courses`, `GET /api/courses/{id}` | anyone with a token (drafts: their instructor) |

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use shared_kernel::http::{ApiError, ApiJson, ApiQuery, ApiState, Caller, Created, ErrorBody, Page, PageQuery};
use shared_kernel::users::Role;
use shared_kernel::{CourseId, LessonId, UserId};

use crate::{Course, CourseError, CourseService, CourseStatus, LessonKind};

#[derive(Clone)]
struct CourseApi {
    api: ApiState,
    service: CourseService,
}

impl axum::extract::FromRef<CourseApi> for ApiState {
    fn from_ref(state: &CourseApi) -> Self {
        state.api.clone()
    }
}

/// The course routes over `service`.
pub fn routes(api: ApiState, service: CourseService) -> Router {
    Router::new()
        .route("/api/courses", post(create).get(list))
        .route("/api/courses/{id}", get(show))
        .route("/api/courses/{id}/lessons", post(add_lesson))
        .route("/api/courses/{id}/lessons/order", post(reorder_lessons))
        .route("/api/courses/{id}/publish", post(publish))
        .route("/api/courses/{id}/unpublish", post(unpublish))
        .route("/api/courses/{id}/archive", post(archive))
        .with_state(CourseApi { api, service })
}

/// `POST /api/courses`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCourse {
    /// 1 to 200 characters.
    pub title: String,
    /// Free text (may be empty).
    #[serde(default)]
    pub description: String,
}

/// `POST /api/courses/{id}/lessons`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewLesson {
    /// 1 to 200 characters.
    pub title: String,
    /// `content` or `assessment`.
    pub kind: String,
}

/// A lesson as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LessonView {
    /// Its id.
    pub id: LessonId,
    /// Its title.
    pub title: String,
    /// `content` or `assessment`.
    pub kind: String,
    /// 1, 2, … in the course.
    pub position: u32,
}

/// A course as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CourseView {
    /// Its id.
    pub id: CourseId,
    /// Its title.
    pub title: String,
    /// Its description.
    pub description: String,
    /// `draft`, `published` or `archived`.
    pub status: String,
    /// Who authors it.
    pub instructor_id: UserId,
    /// Its lessons in order (empty in lists).
    pub lessons: Vec<LessonView>,
}

impl CourseView {
    fn of(course: &Course) -> Self {
        Self {
            id: course.id(),
            title: course.title().as_str().to_owned(),
            description: course.description().to_owned(),
            status: course.status().as_str().to_owned(),
            instructor_id: course.instructor_id(),
            lessons: course
                .lessons()
                .iter()
                .map(|l| LessonView {
                    id: l.id(),
                    title: l.title().as_str().to_owned(),
                    kind: l.kind().as_str().to_owned(),
                    position: l.position(),
                })
                .collect(),
        }
    }
}

/// The course's error as an answer: one stable code per variant.
pub fn api_error(e: CourseError) -> ApiError {
    match &e {
        CourseError::InvalidTitle(_) => ApiError::invalid("invalid_title", e.to_string()),
        CourseError::NotFound(_) => ApiError::not_found("course_not_found", e.to_string()),
        CourseError::LessonNotFound { .. } => ApiError::not_found("lesson_not_found", e.to_string()),
        CourseError::NotAnAssessmentLesson { .. } => ApiError::conflict("not_an_assessment_lesson", e.to_string()),
        CourseError::AssessmentAlreadyLinked { .. } => ApiError::conflict("assessment_already_linked", e.to_string()),
        CourseError::InvalidTransition(_) => ApiError::conflict("invalid_transition", e.to_string()),
        CourseError::NoLessons(_) => ApiError::conflict("no_lessons", e.to_string()),
        CourseError::NotAPermutation { .. } => ApiError::invalid("not_a_permutation", e.to_string()),
        CourseError::Archived(_) => ApiError::conflict("course_archived", e.to_string()),
        CourseError::LastLessonOfPublishedCourse(_) => ApiError::conflict("last_lesson", e.to_string()),
        CourseError::ConcurrentChange(_) => ApiError::conflict("concurrent_change", e.to_string()),
        CourseError::EnrollmentCounts(_)
        | CourseError::Corrupt { .. }
        | CourseError::Database(_)
        | CourseError::UnitOfWork(_) => ApiError::internal(&e),
    }
}

async fn load(state: &CourseApi, id: CourseId) -> Result<Option<Course>, ApiError> {
    let mut conn = state.api.read().await?;
    crate::find(&mut conn, id).await.map_err(api_error)
}

/// A course the caller may see: published ones for everyone, drafts and archived ones for their
/// instructor and admins. Anything else is 404, as if it did not exist.
async fn visible(state: &CourseApi, caller: &Caller, id: CourseId) -> Result<Course, ApiError> {
    match load(state, id).await? {
        Some(course)
            if course.status() == CourseStatus::Published
                || course.instructor_id() == caller.id()
                || caller.is_admin() =>
        {
            Ok(course)
        }
        _ => Err(ApiError::not_found("course_not_found", format!("no course {id}"))),
    }
}

/// A course the caller may change: its instructor or an admin; 403 for one they may only read.
async fn authored(state: &CourseApi, caller: &Caller, id: CourseId) -> Result<Course, ApiError> {
    let course = visible(state, caller, id).await?;
    if course.instructor_id() == caller.id() || caller.is_admin() {
        Ok(course)
    } else {
        Err(ApiError::forbidden("only the course's instructor may change it"))
    }
}

fn parse_id(id: &str) -> Result<CourseId, ApiError> {
    CourseId::parse(id).map_err(|_| ApiError::not_found("course_not_found", format!("no course {id}")))
}

/// Creates a draft course authored by the caller (an instructor).
#[utoipa::path(
    post,
    path = "/api/courses",
    tag = "course",
    operation_id = "create_course",
    request_body = NewCourse,
    responses(
        (status = 201, description = "Created (draft); `Location` is the course.", body = CourseView,
            headers(("Location" = String, description = "Where the new resource is.")),
        ),
        (status = 401, description = "No valid API token.", body = ErrorBody),
        (status = 403, description = "The caller is not an instructor.", body = ErrorBody),
        (status = 422, description = "Malformed body or invalid title.", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
async fn create(
    State(state): State<CourseApi>,
    caller: Caller,
    ApiJson(body): ApiJson<NewCourse>,
) -> Result<Created<CourseView>, ApiError> {
    caller.require(&[Role::Instructor], "create a course")?;
    let id = state
        .service
        .create(caller.id(), &body.title, &body.description)
        .await
        .map_err(api_error)?;
    let course = visible(&state, &caller, id).await?;
    Ok(Created {
        location: format!("/api/courses/{id}"),
        body: CourseView::of(&course),
    })
}

/// Appends a lesson to a course the caller authors.
#[utoipa::path(
    post,
    path = "/api/courses/{id}/lessons",
    tag = "course",
    operation_id = "add_lesson",
    params(("id" = String, Path, description = "The course's id (a UUID; anything else is 404).")),
    request_body = NewLesson,
    responses(
        (status = 201, description = "The lesson added.", body = LessonView,
            headers(("Location" = String, description = "Where the new resource is.")),
        ),
        (status = 401, description = "No valid API token.", body = ErrorBody),
        (status = 403, description = "The caller may read the course but not change it.", body = ErrorBody),
        (status = 404, description = "No such course visible to the caller.", body = ErrorBody),
        (status = 409, description = "The course is archived, or a concurrent change got there first.", body = ErrorBody),
        (status = 422, description = "Malformed body, invalid title or lesson kind.", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
async fn add_lesson(
    State(state): State<CourseApi>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<NewLesson>,
) -> Result<Created<LessonView>, ApiError> {
    let id = parse_id(&id)?;
    // Who may change the course is checked first: a stranger learns nothing from a bad body.
    authored(&state, &caller, id).await?;
    let kind = match body.kind.as_str() {
        "content" => LessonKind::Content,
        "assessment" => LessonKind::assessment(),
        other => {
            return Err(ApiError::invalid(
                "invalid_lesson_kind",
                format!("`{other}` is not a lesson kind: expected content or assessment"),
            ));
        }
    };
    let lesson = state
        .service
        .add_lesson(caller.id(), id, &body.title, kind)
        .await
        .map_err(api_error)?;
    let course = visible(&state, &caller, id).await?;
    let view = CourseView::of(&course)
        .lessons
        .into_iter()
        .find(|l| l.id == lesson)
        .ok_or_else(|| ApiError::not_found("lesson_not_found", format!("no lesson {lesson}")))?;
    Ok(Created {
        location: format!("/api/courses/{id}"),
        body: view,
    })
}

async fn transition(
    state: CourseApi,
    caller: Caller,
    id: String,
    change: impl AsyncFnOnce(&CourseService, UserId, CourseId) -> Result<(), CourseError>,
) -> Result<ApiJson<CourseView>, ApiError> {
    let id = parse_id(&id)?;
    authored(&state, &caller, id).await?;
    change(&state.service, caller.id(), id).await.map_err(api_error)?;
    Ok(ApiJson(CourseView::of(&visible(&state, &caller, id).await?)))
}

/// Publishes a course the caller authors.
#[utoipa::path(
    post,
    path = "/api/courses/{id}/publish",
    tag = "course",
    operation_id = "publish_course",
    params(("id" = String, Path, description = "The course's id (a UUID; anything else is 404).")),
    responses(
        (status = 200, description = "The course after the change.", body = CourseView),
        (status = 401, description = "No valid API token.", body = ErrorBody),
        (status = 403, description = "The caller may read the course but not change it.", body = ErrorBody),
        (status = 404, description = "No such course visible to the caller.", body = ErrorBody),
        (status = 409, description = "Not a legal transition from its status (e.g. already published), no lessons, or a concurrent change.", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
async fn publish(
    State(state): State<CourseApi>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<ApiJson<CourseView>, ApiError> {
    transition(state, caller, id, async |s, actor, id| s.publish(actor, id).await).await
}

/// Unpublishes (back to draft) a course the caller authors.
#[utoipa::path(
    post,
    path = "/api/courses/{id}/unpublish",
    tag = "course",
    operation_id = "unpublish_course",
    params(("id" = String, Path, description = "The course's id (a UUID; anything else is 404).")),
    responses(
        (status = 200, description = "The course after the change.", body = CourseView),
        (status = 401, description = "No valid API token.", body = ErrorBody),
        (status = 403, description = "The caller may read the course but not change it.", body = ErrorBody),
        (status = 404, description = "No such course visible to the caller.", body = ErrorBody),
        (status = 409, description = "Not a legal transition from its status, or a concurrent change.", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
async fn unpublish(
    State(state): State<CourseApi>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<ApiJson<CourseView>, ApiError> {
    transition(state, caller, id, async |s, actor, id| s.unpublish(actor, id).await).await
}

/// Archives a course the caller authors.
#[utoipa::path(
    post,
    path = "/api/courses/{id}/archive",
    tag = "course",
    operation_id = "archive_course",
    params(("id" = String, Path, description = "The course's id (a UUID; anything else is 404).")),
    responses(
        (status = 200, description = "The course after the change.", body = CourseView),
        (status = 401, description = "No valid API token.", body = ErrorBody),
        (status = 403, description = "The caller may read the course but not change it.", body = ErrorBody),
        (status = 404, description = "No such course visible to the caller.", body = ErrorBody),
        (status = 409, description = "Not a legal transition from its status, or a concurrent change.", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
async fn archive(
    State(state): State<CourseApi>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<ApiJson<CourseView>, ApiError> {
    transition(state, caller, id, async |s, actor, id| s.archive(actor, id).await).await
}

/// A course with its lessons: published ones for everyone, others for their instructor and admins.
#[utoipa::path(
    get,
    path = "/api/courses/{id}",
    tag = "course",
    operation_id = "show_course",
    params(("id" = String, Path, description = "The course's id (a UUID; anything else is 404).")),
    responses(
        (status = 200, description = "The course with its lessons.", body = CourseView),
        (status = 401, description = "No valid API token.", body = ErrorBody),
        (status = 404, description = "No such course visible to the caller.", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
async fn show(
    State(state): State<CourseApi>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<ApiJson<CourseView>, ApiError> {
    Ok(ApiJson(CourseView::of(
        &visible(&state, &caller, parse_id(&id)?).await?,
    )))
}

/// `GET /api/courses`: the catalog in creation order — published courses, and for instructors
/// their own drafts and archived courses too (admins: every course); without lessons.
#[utoipa::path(
    get,
    path = "/api/courses",
    tag = "course",
    operation_id = "list_courses",
    params(PageQuery),
    responses(
        (status = 200, description = "One page of the catalog.", body = Page<CourseView>),
        (status = 401, description = "No valid API token.", body = ErrorBody),
        (status = 422, description = "Invalid `limit` or `cursor`.", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
async fn list(
    State(state): State<CourseApi>,
    caller: Caller,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<ApiJson<Page<CourseView>>, ApiError> {
    let limit = page.limit()?;
    let after = page.after()?.unwrap_or_default();
    let rows: Vec<(String, String, String, String, String)> = sqlx::query_as(
        "SELECT id, title, description, status, instructor_id FROM courses \
         WHERE (status = 'published' OR instructor_id = $1 OR $2 = 1) AND id > $3 ORDER BY id LIMIT $4",
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
        .map(|(id, title, description, status, instructor)| {
            Ok(CourseView {
                id: CourseId::parse(&id).map_err(|e| ApiError::internal(&e))?,
                title,
                description,
                status,
                instructor_id: UserId::parse(&instructor).map_err(|e| ApiError::internal(&e))?,
                lessons: Vec::new(),
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(ApiJson(Page::from_rows(views, limit, |c| c.id.to_string())))
}

/// `POST /api/courses/{id}/lessons/order`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LessonOrder {
    /// Every lesson of the course, each once, in the new order.
    pub lesson_ids: Vec<LessonId>,
}

/// Puts the course's lessons in a new order.
#[utoipa::path(
    post,
    path = "/api/courses/{id}/lessons/order",
    tag = "course",
    operation_id = "reorder_lessons",
    params(("id" = String, Path, description = "The course's id (a UUID; anything else is 404).")),
    request_body = LessonOrder,
    responses(
        (status = 200, description = "The course with its lessons in the new order.", body = CourseView),
        (status = 401, description = "No valid API token.", body = ErrorBody),
        (status = 403, description = "The caller may read the course but not change it.", body = ErrorBody),
        (status = 404, description = "No such course visible to the caller.", body = ErrorBody),
        (status = 409, description = "The course is archived, or a concurrent change got there first.", body = ErrorBody),
        (status = 422, description = "Malformed body, or not every lesson exactly once.", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
async fn reorder_lessons(
    State(state): State<CourseApi>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<LessonOrder>,
) -> Result<ApiJson<CourseView>, ApiError> {
    let id = parse_id(&id)?;
    authored(&state, &caller, id).await?;
    state
        .service
        .reorder_lessons(caller.id(), id, &body.lesson_ids)
        .await
        .map_err(api_error)?;
    Ok(ApiJson(CourseView::of(&visible(&state, &caller, id).await?)))
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(create, list, show, add_lesson, reorder_lessons, publish, unpublish, archive))]
struct ApiDoc;

/// This context's part of the OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    <ApiDoc as utoipa::OpenApi>::openapi()
}

#[cfg(test)]
mod tests {
    use super::openapi;

    /// Every path [`super::routes`] registers, as registered there.
    const ROUTES: &[&str] = &[
        "/api/courses",
        "/api/courses/{id}",
        "/api/courses/{id}/lessons",
        "/api/courses/{id}/lessons/order",
        "/api/courses/{id}/publish",
        "/api/courses/{id}/unpublish",
        "/api/courses/{id}/archive",
    ];

    #[test]
    fn openapi_lists_every_route() {
        shared_kernel::testing::assert_documents_exactly(&openapi(), ROUTES);
    }

    #[test]
    fn the_catalog_documents_get_and_post() {
        let doc = openapi();
        let item = &doc.paths.paths["/api/courses"];
        assert!(item.get.is_some() && item.post.is_some());
    }
}
