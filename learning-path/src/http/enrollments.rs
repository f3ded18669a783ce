//! Learners' path enrollments: `POST /api/paths/{id}/enrollments`,
//! `GET /api/path-enrollments/{id}` and `POST /api/path-enrollments/{id}/drop`, with the path
//! enrollment's request and response types and each course's state for its learner.

use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use shared_kernel::http::{ApiError, ApiJson, Caller, Created, ErrorBody, OptionalJson};
use shared_kernel::sqlx::AnyConnection;
use shared_kernel::{CourseId, EnrollmentId, LearningPathId, PathEnrollmentId, UserId};

use super::{PathApi, api_error, parse_id, path_not_found, visible};
use crate::{PathEnrollment, PathEnrollmentStatus};

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

fn enrollment_not_found(id: &str) -> ApiError {
    ApiError::not_found("path_enrollment_not_found", format!("no learning path enrollment {id}"))
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
pub(super) async fn enroll(
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
pub(super) async fn show_enrollment(
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
pub(super) async fn drop_out(
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
