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
//!
//! Each resource's handlers live with their request and response types: `paths` (authoring,
//! publishing and reading paths) and `enrollments` (learners' path enrollments, with each
//! course's state); the state, the error mapping and the access checks they share are here.

mod enrollments;
mod paths;

use axum::Router;
use axum::extract::FromRef;
use axum::routing::{get, post};
use shared_kernel::LearningPathId;
use shared_kernel::http::{ApiError, ApiState, Caller};

pub use enrollments::{DropRequest, NewPathEnrollment, PathCourseView, PathEnrollmentView};
pub use paths::{NewPath, NewPathCourse, PathView};

use crate::{LearningPath, LearningPathService, PathError};

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
        .route("/api/paths", post(paths::create).get(paths::list))
        .route("/api/paths/{id}", get(paths::show))
        .route("/api/paths/{id}/courses", post(paths::add_course))
        .route("/api/paths/{id}/publish", post(paths::publish))
        .route("/api/paths/{id}/enrollments", post(enrollments::enroll))
        .route("/api/path-enrollments/{id}", get(enrollments::show_enrollment))
        .route("/api/path-enrollments/{id}/drop", post(enrollments::drop_out))
        .with_state(PathApi { api, service })
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

#[derive(utoipa::OpenApi)]
#[openapi(paths(
    paths::create,
    paths::list,
    paths::show,
    paths::add_course,
    paths::publish,
    enrollments::enroll,
    enrollments::show_enrollment,
    enrollments::drop_out
))]
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
