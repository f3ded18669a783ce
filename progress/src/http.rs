//! The progress context's HTTP routes. `app` mounts [`routes`].
//!
//! | route | who |
//! |---|---|
//! | `POST /api/enrollments/{id}/lessons/{lesson_id}/complete` | its learner |
//! | `POST /api/enrollments/{id}/lessons/{lesson_id}/progress` `{percentage}` | its learner |

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::post;
use serde::{Deserialize, Serialize};
use shared_kernel::http::{ApiError, ApiJson, ApiState, Caller, ErrorBody};
use shared_kernel::{EnrollmentId, LessonId};

use crate::{LessonCompletion, ProgressError, ProgressService};

#[derive(Clone)]
struct ProgressApi {
    api: ApiState,
    service: ProgressService,
}

impl axum::extract::FromRef<ProgressApi> for ApiState {
    fn from_ref(state: &ProgressApi) -> Self {
        state.api.clone()
    }
}

/// The progress routes.
pub fn routes(api: ApiState) -> Router {
    let service = ProgressService::new(api.bus.clone());
    Router::new()
        .route("/api/enrollments/{id}/lessons/{lesson_id}/complete", post(complete))
        .route("/api/enrollments/{id}/lessons/{lesson_id}/progress", post(progress))
        .route("/api/enrollments/{id}/lessons/{lesson_id}/time", post(time_spent))
        .with_state(ProgressApi { api, service })
}

/// `POST …/progress`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProgressRequest {
    /// How far through the lesson, 0–100.
    pub percentage: f64,
}

/// What completing a lesson did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CompletionView {
    /// False when the lesson was already completed (nothing changed: a retry is safe).
    pub completed_now: bool,
    /// The course progress after it (absent when nothing changed).
    pub course_progress: Option<f64>,
}

/// The progress error as an answer: one stable code per variant.
pub fn api_error(e: ProgressError) -> ApiError {
    match &e {
        ProgressError::EnrollmentNotFound(_) => ApiError::not_found("enrollment_not_found", e.to_string()),
        ProgressError::CourseNotFound(_) => ApiError::not_found("course_not_found", e.to_string()),
        ProgressError::LessonNotInCourse { .. } => ApiError::not_found("lesson_not_found", e.to_string()),
        ProgressError::EnrollmentNotActive { .. } => ApiError::conflict("enrollment_not_active", e.to_string()),
        ProgressError::InvalidTimeSpent(_) => ApiError::invalid("invalid_time_spent", e.to_string()),
        ProgressError::InvalidPercentage(_) => ApiError::invalid("invalid_percentage", e.to_string()),
        ProgressError::Enrollment(_)
        | ProgressError::Course(_)
        | ProgressError::Corrupt { .. }
        | ProgressError::Database(_)
        | ProgressError::UnitOfWork(_) => ApiError::internal(&e),
    }
}

/// The enrollment and lesson of the path, if the caller is the enrollment's learner (or an
/// admin); 403 for the course's instructor, who may read it but not change it; 404 otherwise.
async fn own(
    state: &ProgressApi,
    caller: &Caller,
    id: &str,
    lesson: &str,
) -> Result<(EnrollmentId, LessonId), ApiError> {
    let missing = || ApiError::not_found("enrollment_not_found", format!("no enrollment {id}"));
    let enrollment_id = EnrollmentId::parse(id).map_err(|_| missing())?;
    let lesson =
        LessonId::parse(lesson).map_err(|_| ApiError::not_found("lesson_not_found", format!("no lesson {lesson}")))?;
    let mut conn = state.api.read().await?;
    let enrollment = enrollment::find(&mut conn, enrollment_id)
        .await
        .map_err(enrollment::http::api_error)?
        .ok_or_else(missing)?;
    if enrollment.user_id() == caller.id() || caller.is_admin() {
        return Ok((enrollment_id, lesson));
    }
    let instructor = course::find(&mut conn, enrollment.course_id())
        .await
        .map_err(|e| ApiError::internal(&e))?
        .map(|c| c.instructor_id());
    if instructor == Some(caller.id()) {
        Err(ApiError::forbidden("only the enrolled learner records their progress"))
    } else {
        Err(missing())
    }
}

/// Completes a lesson of the caller's enrollment; completing it again changes nothing.
#[utoipa::path(
    post,
    path = "/api/enrollments/{id}/lessons/{lesson_id}/complete",
    tag = "progress",
    operation_id = "complete_lesson",
    params(
        ("id" = String, Path, description = "The enrollment's id (a UUID; anything else is 404)."),
        ("lesson_id" = String, Path, description = "The lesson's id (a UUID; anything else is 404)."),
    ),
    responses(
        (status = 200, description = "What completing the lesson did.", body = CompletionView),
        (status = 401, description = "No valid API token.", body = ErrorBody),
        (status = 403, description = "The caller (the course's instructor) may read the enrollment but not change it.", body = ErrorBody),
        (status = 404, description = "No such enrollment readable by the caller, or no such lesson in its course.", body = ErrorBody),
        (status = 409, description = "The enrollment is not active, or a concurrent change.", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
async fn complete(
    State(state): State<ProgressApi>,
    caller: Caller,
    Path((id, lesson)): Path<(String, String)>,
) -> Result<ApiJson<CompletionView>, ApiError> {
    let (enrollment, lesson) = own(&state, &caller, &id, &lesson).await?;
    let outcome = state
        .service
        .complete_lesson(caller.id(), enrollment, lesson)
        .await
        .map_err(api_error)?;
    Ok(ApiJson(match outcome {
        LessonCompletion::Completed { course_progress } => CompletionView {
            completed_now: true,
            course_progress: Some(course_progress.value()),
        },
        LessonCompletion::AlreadyCompleted => CompletionView {
            completed_now: false,
            course_progress: None,
        },
    }))
}

/// Records partial progress through a lesson of the caller's enrollment.
#[utoipa::path(
    post,
    path = "/api/enrollments/{id}/lessons/{lesson_id}/progress",
    tag = "progress",
    operation_id = "update_lesson_progress",
    params(
        ("id" = String, Path, description = "The enrollment's id (a UUID; anything else is 404)."),
        ("lesson_id" = String, Path, description = "The lesson's id (a UUID; anything else is 404)."),
    ),
    request_body = ProgressRequest,
    responses(
        (status = 204, description = "Recorded."),
        (status = 401, description = "No valid API token.", body = ErrorBody),
        (status = 403, description = "The caller (the course's instructor) may read the enrollment but not change it.", body = ErrorBody),
        (status = 404, description = "No such enrollment readable by the caller, or no such lesson in its course.", body = ErrorBody),
        (status = 409, description = "The enrollment is not active, or a concurrent change.", body = ErrorBody),
        (status = 422, description = "Malformed body, or a percentage outside 0–100.", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
async fn progress(
    State(state): State<ProgressApi>,
    caller: Caller,
    Path((id, lesson)): Path<(String, String)>,
    ApiJson(body): ApiJson<ProgressRequest>,
) -> Result<axum::http::StatusCode, ApiError> {
    let (enrollment, lesson) = own(&state, &caller, &id, &lesson).await?;
    state
        .service
        .update_lesson_progress(caller.id(), enrollment, lesson, body.percentage)
        .await
        .map_err(api_error)?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// `POST …/time`: one sitting's time on the lesson.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TimeSpentRequest {
    /// Seconds spent in this sitting.
    pub seconds: u64,
}

/// The lesson's total time after a sitting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TimeSpentView {
    /// Seconds spent on the lesson in all.
    pub total_seconds: u64,
}

/// Records time spent on a lesson of the caller's active enrollment.
#[utoipa::path(
    post,
    path = "/api/enrollments/{id}/lessons/{lesson_id}/time",
    tag = "progress",
    operation_id = "record_time_spent",
    params(
        ("id" = String, Path, description = "The enrollment's id."),
        ("lesson_id" = String, Path, description = "The lesson's id."),
    ),
    request_body = TimeSpentRequest,
    responses(
        (status = 200, description = "The lesson's total time.", body = TimeSpentView),
        (status = 401, description = "No valid API token.", body = ErrorBody),
        (status = 403, description = "The course's instructor may read the enrollment but not record for it.", body = ErrorBody),
        (status = 404, description = "No such enrollment of the caller, or lesson of its course.", body = ErrorBody),
        (status = 409, description = "The enrollment is not active.", body = ErrorBody),
        (status = 422, description = "Malformed body or an invalid number of seconds.", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
async fn time_spent(
    State(state): State<ProgressApi>,
    caller: Caller,
    Path((id, lesson)): Path<(String, String)>,
    ApiJson(body): ApiJson<TimeSpentRequest>,
) -> Result<ApiJson<TimeSpentView>, ApiError> {
    let (enrollment, lesson) = own(&state, &caller, &id, &lesson).await?;
    let total_seconds = state
        .service
        .record_time_spent(caller.id(), enrollment, lesson, body.seconds)
        .await
        .map_err(api_error)?;
    Ok(ApiJson(TimeSpentView { total_seconds }))
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(complete, progress, time_spent))]
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
        "/api/enrollments/{id}/lessons/{lesson_id}/complete",
        "/api/enrollments/{id}/lessons/{lesson_id}/progress",
        "/api/enrollments/{id}/lessons/{lesson_id}/time",
    ];

    #[test]
    fn openapi_lists_every_route() {
        shared_kernel::testing::assert_documents_exactly(&openapi(), ROUTES);
    }
}
