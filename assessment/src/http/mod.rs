//! The assessment context's HTTP routes. `app` mounts [`routes`].
//!
//! | route | who |
//! |---|---|
//! | `POST /api/courses/{id}/assessments` `{title, passing_score, max_attempts, time_limit_minutes?, lesson_id?, questions}` | the course's instructor |
//! | `GET /api/assessments/{id}` | anyone who may see the course (correct options: its instructor and admins only) |
//! | `POST /api/assessments/{id}/attempts` | an actively enrolled learner |
//! | `POST /api/attempts/{id}/submit` `{answers: [{question_id, choices? \| text?}]}` | the attempt's learner |
//! | `POST /api/attempts/{id}/answers/{question_id}/grade` `{points, feedback?}` | the course's instructor |
//! | `GET /api/attempts/{id}` | its learner, the course's instructor, admins |
//! | `GET /api/courses/{id}/grading` | the course's instructor, admins (paged) |
//!
//! Each resource's handlers live with their request and response types: `assessments`
//! (authoring), `attempts` (taking one) and `grading` (the instructor's side); the state, the
//! error mapping and the access checks they share are here.

mod assessments;
mod attempts;
mod grading;

use axum::Router;
use axum::extract::FromRef;
use axum::http::StatusCode;
use axum::routing::{get, post};
use course::{Course, CourseError};
use shared_kernel::http::{ApiError, ApiState, Caller};
use shared_kernel::{AssessmentId, AttemptId, CourseId};

pub use assessments::{AssessmentView, NewAssessmentRequest, NewQuestionRequest, QuestionView};
pub use attempts::{AnswerRequest, AnswerView, AttemptView, SubmitRequest};
pub use grading::GradeRequest;

use crate::{Assessment, AssessmentError, AssessmentService, Attempt, SettingsError};

#[derive(Clone)]
struct AssessmentApi {
    api: ApiState,
    service: AssessmentService,
}

impl FromRef<AssessmentApi> for ApiState {
    fn from_ref(state: &AssessmentApi) -> Self {
        state.api.clone()
    }
}

/// The assessment routes.
pub fn routes(api: ApiState) -> Router {
    let service = AssessmentService::new(api.bus.clone());
    Router::new()
        .route("/api/courses/{id}/assessments", post(assessments::create))
        .route("/api/courses/{id}/grading", get(grading::grading))
        .route("/api/assessments/{id}", get(assessments::show))
        .route("/api/assessments/{id}/attempts", post(attempts::start))
        .route("/api/attempts/{id}", get(attempts::show_attempt))
        .route("/api/attempts/{id}/submit", post(attempts::submit))
        .route("/api/attempts/{id}/answers/{question_id}/grade", post(grading::grade))
        .with_state(AssessmentApi { api, service })
}

/// The assessment's error as an answer: one stable code per variant.
pub fn api_error(e: AssessmentError) -> ApiError {
    use AssessmentError as E;
    let forbidden = |code, e: &AssessmentError| ApiError::new(StatusCode::FORBIDDEN, code, e.to_string());
    match &e {
        E::NotFound(_) => ApiError::not_found("assessment_not_found", e.to_string()),
        E::AttemptNotFound(_) => ApiError::not_found("attempt_not_found", e.to_string()),
        E::CourseNotFound(_) => ApiError::not_found("course_not_found", e.to_string()),
        E::NotInstructor { .. } => forbidden("not_instructor", &e),
        E::NotEnrolled { .. } => forbidden("not_enrolled", &e),
        E::NotYourAttempt(_) => forbidden("not_your_attempt", &e),
        E::InvalidTitle(_) => ApiError::invalid("invalid_title", e.to_string()),
        E::InvalidSettings(SettingsError::PassingScore(_)) => ApiError::invalid("invalid_passing_score", e.to_string()),
        E::InvalidSettings(SettingsError::MaxAttempts(_)) => ApiError::invalid("invalid_max_attempts", e.to_string()),
        E::InvalidSettings(SettingsError::TimeLimit(_)) => ApiError::invalid("invalid_time_limit", e.to_string()),
        E::NoQuestions => ApiError::invalid("no_questions", e.to_string()),
        E::InvalidQuestion { .. } => ApiError::invalid("invalid_question", e.to_string()),
        E::UnknownQuestion(_) => ApiError::invalid("unknown_question", e.to_string()),
        E::DuplicateAnswer(_) => ApiError::invalid("duplicate_answer", e.to_string()),
        E::WrongResponseKind(_) => ApiError::invalid("wrong_response_kind", e.to_string()),
        E::NoSuchOption { .. } => ApiError::invalid("no_such_option", e.to_string()),
        E::NotAnOpenQuestion(_) => ApiError::invalid("not_an_open_question", e.to_string()),
        E::PointsOutOfRange { .. } => ApiError::invalid("points_out_of_range", e.to_string()),
        E::FeedbackTooLong { .. } => ApiError::invalid("feedback_too_long", e.to_string()),
        E::HasAttempts(_) => ApiError::conflict("has_attempts", e.to_string()),
        E::AttemptInProgress { .. } => ApiError::conflict("attempt_in_progress", e.to_string()),
        E::NoAttemptsLeft { .. } => ApiError::conflict("no_attempts_left", e.to_string()),
        E::AlreadySubmitted(_) => ApiError::conflict("already_submitted", e.to_string()),
        E::NotSubmitted(_) => ApiError::conflict("not_submitted", e.to_string()),
        E::AlreadyGraded(_) => ApiError::conflict("already_graded", e.to_string()),
        E::AnswerAlreadyGraded { .. } => ApiError::conflict("answer_already_graded", e.to_string()),
        E::ConcurrentChange(_) => ApiError::conflict("concurrent_change", e.to_string()),
        E::Course(_) => course_error(e),
        E::Enrollment(_) | E::Corrupt { .. } | E::Database(_) | E::UnitOfWork(_) => ApiError::internal(&e),
    }
}

/// A course refusal or failure, mapped as the course maps it, except that the lesson came in the
/// request body: a lesson that cannot hold an assessment is an invalid value there.
fn course_error(e: AssessmentError) -> ApiError {
    match e {
        AssessmentError::Course(inner @ CourseError::NotAnAssessmentLesson { .. }) => {
            ApiError::invalid("not_an_assessment_lesson", inner.to_string())
        }
        AssessmentError::Course(inner) => course::http::api_error(inner),
        other => ApiError::internal(&other),
    }
}

fn no_course(id: impl std::fmt::Display) -> ApiError {
    ApiError::not_found("course_not_found", format!("no course {id}"))
}

fn no_assessment(id: impl std::fmt::Display) -> ApiError {
    ApiError::not_found("assessment_not_found", format!("no assessment {id}"))
}

fn no_attempt(id: impl std::fmt::Display) -> ApiError {
    ApiError::not_found("attempt_not_found", format!("no attempt {id}"))
}

fn teaches(course: &Course, caller: &Caller) -> bool {
    course.instructor_id() == caller.id() || caller.is_admin()
}

/// A course the caller may see (published, or theirs, or they are an admin), or `None`.
async fn visible_course(state: &AssessmentApi, caller: &Caller, id: CourseId) -> Result<Option<Course>, ApiError> {
    let found = course::find(&mut *state.api.read().await?, id)
        .await
        .map_err(course::http::api_error)?;
    Ok(found.filter(|c| c.is_published() || teaches(c, caller)))
}

/// A course whose assessments the caller manages (its instructor, admins): 404 if they may not
/// see it, 403 if they may only read it.
async fn taught_course(state: &AssessmentApi, caller: &Caller, id: &str) -> Result<Course, ApiError> {
    let id = CourseId::parse(id).map_err(|_| no_course(id))?;
    let course = visible_course(state, caller, id).await?.ok_or_else(|| no_course(id))?;
    if teaches(&course, caller) {
        Ok(course)
    } else {
        Err(ApiError::forbidden(
            "only the course's instructor manages its assessments",
        ))
    }
}

/// An assessment of a course the caller may see, with the course; 404 otherwise.
async fn visible_assessment(
    state: &AssessmentApi,
    caller: &Caller,
    id: &str,
) -> Result<(Assessment, Course), ApiError> {
    let id = AssessmentId::parse(id).map_err(|_| no_assessment(id))?;
    let assessment = crate::find(&mut *state.api.read().await?, id)
        .await
        .map_err(api_error)?
        .ok_or_else(|| no_assessment(id))?;
    let course = visible_course(state, caller, assessment.course_id())
        .await?
        .ok_or_else(|| no_assessment(id))?;
    Ok((assessment, course))
}

/// Who an attempt is readable by.
enum Reader {
    /// The attempt's learner.
    Learner,
    /// The course's instructor or an admin.
    Staff,
}

/// An attempt the caller may read (its learner, the course's instructor, admins) with its
/// assessment and how the caller relates to it; 404 for anyone else.
async fn readable_attempt(
    state: &AssessmentApi,
    caller: &Caller,
    id: &str,
) -> Result<(Attempt, Assessment, Reader), ApiError> {
    let id = AttemptId::parse(id).map_err(|_| no_attempt(id))?;
    let mut conn = state.api.read().await?;
    let attempt = crate::find_attempt(&mut conn, id)
        .await
        .map_err(api_error)?
        .ok_or_else(|| no_attempt(id))?;
    let assessment = crate::find(&mut conn, attempt.assessment_id())
        .await
        .map_err(api_error)?
        .ok_or_else(|| no_attempt(id))?;
    if attempt.user_id() == caller.id() {
        return Ok((attempt, assessment, Reader::Learner));
    }
    let course = course::find(&mut conn, assessment.course_id())
        .await
        .map_err(course::http::api_error)?;
    match course {
        Some(course) if teaches(&course, caller) => Ok((attempt, assessment, Reader::Staff)),
        _ => Err(no_attempt(id)),
    }
}

async fn attempt_view(state: &AssessmentApi, id: AttemptId) -> Result<AttemptView, ApiError> {
    let mut conn = state.api.read().await?;
    let attempt = crate::find_attempt(&mut conn, id)
        .await
        .map_err(api_error)?
        .ok_or_else(|| no_attempt(id))?;
    let assessment = crate::find(&mut conn, attempt.assessment_id())
        .await
        .map_err(api_error)?
        .ok_or_else(|| no_attempt(id))?;
    Ok(AttemptView::of(&attempt, &assessment))
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(
    assessments::create,
    grading::grading,
    assessments::show,
    attempts::start,
    attempts::show_attempt,
    attempts::submit,
    grading::grade
))]
struct ApiDoc;

/// This context's part of the OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    <ApiDoc as utoipa::OpenApi>::openapi()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every path registered in [`routes`].
    const ROUTES: [&str; 7] = [
        "/api/courses/{id}/assessments",
        "/api/courses/{id}/grading",
        "/api/assessments/{id}",
        "/api/assessments/{id}/attempts",
        "/api/attempts/{id}",
        "/api/attempts/{id}/submit",
        "/api/attempts/{id}/answers/{question_id}/grade",
    ];

    #[test]
    fn openapi_documents_every_route() {
        let doc = openapi();
        let documented: Vec<&str> = doc.paths.paths.keys().map(String::as_str).collect();
        for path in ROUTES {
            assert!(documented.contains(&path), "{path} is not documented: {documented:?}");
        }
        assert_eq!(documented.len(), ROUTES.len(), "{documented:?}");
    }

    #[test]
    fn openapi_operations_are_tagged_and_secured() {
        let doc = openapi();
        for (path, item) in &doc.paths.paths {
            let operations = [&item.get, &item.post, &item.put, &item.patch, &item.delete];
            for operation in operations.into_iter().flatten() {
                assert_eq!(
                    operation.tags.as_deref(),
                    Some(&["assessments".to_owned()][..]),
                    "{path}"
                );
                assert!(operation.security.is_some(), "{path} has no security");
                assert!(operation.responses.responses.contains_key("401"), "{path} has no 401");
            }
        }
    }
}
