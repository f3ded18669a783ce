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

use std::collections::BTreeSet;

use axum::Router;
use axum::extract::{FromRef, Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use chrono::SecondsFormat;
use course::{Course, CourseError};
use serde::{Deserialize, Serialize};
use shared_kernel::http::{ApiError, ApiJson, ApiQuery, ApiState, Caller, Created, ErrorBody, Page, PageQuery};
use shared_kernel::{AssessmentId, AttemptId, CourseId, EnrollmentId, LessonId, QuestionId, UserId};

use crate::{
    Assessment, AssessmentError, AssessmentService, Attempt, NewAssessment, NewQuestion, QuestionKind, Response,
    SettingsError,
};

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
        .route("/api/courses/{id}/assessments", post(create))
        .route("/api/courses/{id}/grading", get(grading))
        .route("/api/assessments/{id}", get(show))
        .route("/api/assessments/{id}/attempts", post(start))
        .route("/api/attempts/{id}", get(show_attempt))
        .route("/api/attempts/{id}/submit", post(submit))
        .route("/api/attempts/{id}/answers/{question_id}/grade", post(grade))
        .with_state(AssessmentApi { api, service })
}

/// `POST /api/courses/{id}/assessments`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAssessmentRequest {
    /// 1 to 200 characters.
    pub title: String,
    /// The percentage needed to pass, 0–100.
    pub passing_score: i64,
    /// How many attempts a learner has, at least 1.
    pub max_attempts: i64,
    /// Minutes per attempt (at least 1); no limit when absent.
    pub time_limit_minutes: Option<i64>,
    /// An assessment lesson of the course to link it to.
    pub lesson_id: Option<LessonId>,
    /// The questions in order (at least one).
    pub questions: Vec<NewQuestionRequest>,
}

/// One question of a [`NewAssessmentRequest`].
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewQuestionRequest {
    /// The question.
    pub prompt: String,
    /// `multiple_choice` or `open`.
    pub kind: String,
    /// What it is worth, 1–1000.
    pub points: i64,
    /// The options (multiple choice only; at least two).
    pub options: Option<Vec<String>>,
    /// The indices of the correct options (multiple choice only; at least one).
    pub correct: Option<Vec<usize>>,
}

/// `POST /api/attempts/{id}/submit`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitRequest {
    /// The responses, each question at most once; unanswered questions score 0.
    pub answers: Vec<AnswerRequest>,
}

/// One response of a [`SubmitRequest`]: `choices` for a multiple-choice question, `text` for an
/// open one.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswerRequest {
    /// The question answered.
    pub question_id: QuestionId,
    /// The chosen option indices.
    pub choices: Option<Vec<usize>>,
    /// The written answer.
    pub text: Option<String>,
}

/// `POST /api/attempts/{id}/answers/{question_id}/grade`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GradeRequest {
    /// From 0 to what the question is worth.
    pub points: i64,
    /// For the learner (at most 5000 characters).
    pub feedback: Option<String>,
}

/// A question as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct QuestionView {
    /// Its id.
    pub id: QuestionId,
    /// The question.
    pub prompt: String,
    /// `multiple_choice` or `open`.
    pub kind: String,
    /// What it is worth.
    pub points: u32,
    /// The options (multiple choice only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<Vec<String>>,
    /// The correct options: shown to the course's instructor and admins only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correct: Option<Vec<usize>>,
}

/// An assessment as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AssessmentView {
    /// Its id.
    pub id: AssessmentId,
    /// The course.
    pub course_id: CourseId,
    /// The assessment lesson it belongs to, if any.
    pub lesson_id: Option<LessonId>,
    /// Its title.
    pub title: String,
    /// The percentage needed to pass.
    pub passing_score: u8,
    /// How many attempts a learner has.
    pub max_attempts: u32,
    /// Minutes per attempt, if limited.
    pub time_limit_minutes: Option<u32>,
    /// The most points an attempt can earn.
    pub max_score: u32,
    /// The questions in order.
    pub questions: Vec<QuestionView>,
}

impl AssessmentView {
    fn of(assessment: &Assessment, with_answers: bool) -> Self {
        Self {
            id: assessment.id(),
            course_id: assessment.course_id(),
            lesson_id: assessment.lesson_id(),
            title: assessment.title().as_str().to_owned(),
            passing_score: assessment.passing_score().percent(),
            max_attempts: assessment.max_attempts().get(),
            time_limit_minutes: assessment.time_limit().map(|t| t.as_minutes()),
            max_score: assessment.max_score(),
            questions: assessment
                .questions()
                .iter()
                .map(|q| {
                    let (options, correct) = match q.kind() {
                        QuestionKind::MultipleChoice { options, correct } => (
                            Some(options.clone()),
                            with_answers.then(|| correct.iter().copied().collect()),
                        ),
                        QuestionKind::Open => (None, None),
                    };
                    QuestionView {
                        id: q.id(),
                        prompt: q.prompt().to_owned(),
                        kind: q.kind().as_str().to_owned(),
                        points: q.points(),
                        options,
                        correct,
                    }
                })
                .collect(),
        }
    }
}

/// One answer of an attempt as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AnswerView {
    /// The question answered.
    pub question_id: QuestionId,
    /// The chosen options (multiple choice).
    pub choices: Option<Vec<usize>>,
    /// The written answer (open).
    pub text: Option<String>,
    /// The points awarded; absent while it waits for the instructor.
    pub points: Option<u32>,
    /// What the question is worth.
    pub max_points: u32,
    /// The instructor's feedback.
    pub feedback: Option<String>,
    /// Who graded it by hand.
    pub graded_by: Option<UserId>,
}

/// An attempt as the API shows it, with its result once graded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AttemptView {
    /// Its id.
    pub id: AttemptId,
    /// The assessment.
    pub assessment_id: AssessmentId,
    /// The learner.
    pub user_id: UserId,
    /// The learner's enrollment.
    pub enrollment_id: EnrollmentId,
    /// 1, 2, … per learner and assessment.
    pub attempt_number: u32,
    /// `in_progress`, `submitted` or `graded`.
    pub status: String,
    /// When it started (RFC 3339).
    pub started_at: String,
    /// When it must be submitted by (RFC 3339), if the assessment has a time limit.
    pub deadline: Option<String>,
    /// When it was submitted.
    pub submitted_at: Option<String>,
    /// When it was fully graded.
    pub graded_at: Option<String>,
    /// Who graded it by hand, if anyone.
    pub graded_by: Option<UserId>,
    /// The points earned, once graded.
    pub score: Option<u32>,
    /// The most points it could earn.
    pub max_score: u32,
    /// The score as a percentage, once graded.
    pub percentage: Option<f64>,
    /// Whether it passed, once graded.
    pub passed: Option<bool>,
    /// How many open answers wait for the instructor.
    pub ungraded: u32,
    /// The answers (empty while in progress).
    pub answers: Vec<AnswerView>,
}

fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

impl AttemptView {
    fn of(attempt: &Attempt, assessment: &Assessment) -> Self {
        let grade = attempt.grade();
        Self {
            id: attempt.id(),
            assessment_id: attempt.assessment_id(),
            user_id: attempt.user_id(),
            enrollment_id: attempt.enrollment_id(),
            attempt_number: attempt.attempt_number(),
            status: attempt.status().as_str().to_owned(),
            started_at: rfc3339(attempt.started_at()),
            deadline: assessment
                .time_limit()
                .map(|limit| rfc3339(attempt.started_at() + limit.duration())),
            submitted_at: attempt.submitted_at().map(rfc3339),
            graded_at: attempt.graded_at().map(rfc3339),
            graded_by: attempt.graded_by(),
            score: grade.map(|g| g.score()),
            max_score: attempt.max_score(),
            percentage: grade.map(|g| g.percentage()),
            passed: grade.map(|g| g.passed()),
            ungraded: attempt.ungraded(),
            answers: attempt
                .answers()
                .iter()
                .map(|a| {
                    let (choices, text) = match a.response() {
                        Some(Response::Choices(c)) => (Some(c.iter().copied().collect()), None),
                        Some(Response::Text(t)) => (None, Some(t.clone())),
                        None => (None, None),
                    };
                    AnswerView {
                        question_id: a.question_id(),
                        choices,
                        text,
                        points: a.points(),
                        max_points: a.max_points(),
                        feedback: a.feedback().map(str::to_owned),
                        graded_by: a.graded_by(),
                    }
                })
                .collect(),
        }
    }
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

fn draft(body: NewAssessmentRequest) -> Result<NewAssessment, ApiError> {
    let questions = body
        .questions
        .into_iter()
        .enumerate()
        .map(|(index, q)| match q.kind.as_str() {
            "multiple_choice" => {
                let options = q.options.unwrap_or_default();
                let options: Vec<&str> = options.iter().map(String::as_str).collect();
                Ok(NewQuestion::multiple_choice(
                    &q.prompt,
                    &options,
                    &q.correct.unwrap_or_default(),
                    q.points,
                ))
            }
            "open" if q.options.is_some() || q.correct.is_some() => Err(ApiError::invalid(
                "invalid_question",
                format!("question {index} is open: it takes no options and no correct options"),
            )),
            "open" => Ok(NewQuestion::open(&q.prompt, q.points)),
            other => Err(ApiError::invalid(
                "invalid_question_kind",
                format!("question {index}: `{other}` is not a question kind: expected multiple_choice or open"),
            )),
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(NewAssessment {
        title: body.title,
        passing_score: body.passing_score,
        max_attempts: body.max_attempts,
        time_limit_minutes: body.time_limit_minutes,
        questions,
    })
}

/// Creates an assessment with its questions in a course (its instructor only).
#[utoipa::path(
    post,
    path = "/api/courses/{id}/assessments",
    tag = "assessments",
    params(("id" = String, Path, description = "The course's id.")),
    request_body = NewAssessmentRequest,
    responses(
        (status = 201, description = "Created; `Location` is the assessment. Shows the correct options.", body = AssessmentView),
        (status = 401, description = "No valid API token.", body = ErrorBody),
        (status = 403, description = "The caller may see the course but is not its instructor.", body = ErrorBody),
        (status = 404, description = "No course the caller may see, or no such lesson in it.", body = ErrorBody),
        (status = 409, description = "The course is archived, the lesson already has an assessment, or a concurrent change.", body = ErrorBody),
        (status = 422, description = "Malformed body; invalid title, settings or questions; a lesson that cannot hold an assessment.", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn create(
    State(state): State<AssessmentApi>,
    caller: Caller,
    Path(course): Path<String>,
    ApiJson(body): ApiJson<NewAssessmentRequest>,
) -> Result<Created<AssessmentView>, ApiError> {
    let course = taught_course(&state, &caller, &course).await?;
    let lesson = body.lesson_id;
    let draft = draft(body)?;
    let id = state
        .service
        .create(caller.actor(), course.id(), lesson, draft)
        .await
        .map_err(api_error)?;
    let assessment = crate::find(&mut *state.api.read().await?, id)
        .await
        .map_err(api_error)?
        .ok_or_else(|| no_assessment(id))?;
    Ok(Created {
        location: format!("/api/assessments/{id}"),
        body: AssessmentView::of(&assessment, true),
    })
}

/// An assessment with its questions; the correct options only for the course's instructor and
/// admins.
#[utoipa::path(
    get,
    path = "/api/assessments/{id}",
    tag = "assessments",
    params(("id" = String, Path, description = "The assessment's id.")),
    responses(
        (status = 200, description = "The assessment.", body = AssessmentView),
        (status = 401, description = "No valid API token.", body = ErrorBody),
        (status = 404, description = "No assessment of a course the caller may see.", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn show(
    State(state): State<AssessmentApi>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<ApiJson<AssessmentView>, ApiError> {
    let (assessment, course) = visible_assessment(&state, &caller, &id).await?;
    Ok(ApiJson(AssessmentView::of(&assessment, teaches(&course, &caller))))
}

/// Starts the caller's next attempt at an assessment (an actively enrolled learner).
#[utoipa::path(
    post,
    path = "/api/assessments/{id}/attempts",
    tag = "assessments",
    params(("id" = String, Path, description = "The assessment's id.")),
    responses(
        (status = 201, description = "Started; `Location` is the attempt.", body = AttemptView),
        (status = 401, description = "No valid API token.", body = ErrorBody),
        (status = 403, description = "The caller is not actively enrolled in the course.", body = ErrorBody),
        (status = 404, description = "No assessment of a course the caller may see.", body = ErrorBody),
        (status = 409, description = "An attempt is in progress, no attempts are left, or a concurrent change.", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn start(
    State(state): State<AssessmentApi>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Created<AttemptView>, ApiError> {
    let (assessment, _) = visible_assessment(&state, &caller, &id).await?;
    let attempt = state
        .service
        .start_attempt(caller.id(), assessment.id())
        .await
        .map_err(api_error)?;
    Ok(Created {
        location: format!("/api/attempts/{attempt}"),
        body: attempt_view(&state, attempt).await?,
    })
}

/// Submits an attempt in progress with the learner's answers (its learner only); multiple-choice
/// answers are graded at once.
#[utoipa::path(
    post,
    path = "/api/attempts/{id}/submit",
    tag = "assessments",
    params(("id" = String, Path, description = "The attempt's id.")),
    request_body = SubmitRequest,
    responses(
        (status = 200, description = "Submitted; the attempt, graded unless open answers wait for the instructor.", body = AttemptView),
        (status = 401, description = "No valid API token.", body = ErrorBody),
        (status = 403, description = "The caller is the course's instructor or an admin, not the attempt's learner.", body = ErrorBody),
        (status = 404, description = "No attempt the caller may read.", body = ErrorBody),
        (status = 409, description = "Already submitted, or a concurrent change.", body = ErrorBody),
        (status = 422, description = "Malformed body; an unknown question, a duplicate answer, a wrong kind of response or no such option.", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn submit(
    State(state): State<AssessmentApi>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<SubmitRequest>,
) -> Result<ApiJson<AttemptView>, ApiError> {
    let (attempt, _, reader) = readable_attempt(&state, &caller, &id).await?;
    if let Reader::Staff = reader {
        return Err(ApiError::forbidden("only the attempt's learner submits it"));
    }
    let answers = body
        .answers
        .into_iter()
        .map(|a| match (a.choices, a.text) {
            (Some(choices), None) => Ok((
                a.question_id,
                Response::Choices(choices.into_iter().collect::<BTreeSet<_>>()),
            )),
            (None, Some(text)) => Ok((a.question_id, Response::Text(text))),
            _ => Err(ApiError::invalid(
                "invalid_answer",
                format!(
                    "the answer to question {} needs exactly one of `choices` or `text`",
                    a.question_id
                ),
            )),
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    state
        .service
        .submit(caller.id(), attempt.id(), answers)
        .await
        .map_err(api_error)?;
    Ok(ApiJson(attempt_view(&state, attempt.id()).await?))
}

/// Grades the open answer to a question of a submitted attempt (the course's instructor only).
#[utoipa::path(
    post,
    path = "/api/attempts/{id}/answers/{question_id}/grade",
    tag = "assessments",
    params(
        ("id" = String, Path, description = "The attempt's id."),
        ("question_id" = String, Path, description = "The id of the question whose answer is graded."),
    ),
    request_body = GradeRequest,
    responses(
        (status = 200, description = "Graded; the attempt, with its result once no answer waits.", body = AttemptView),
        (status = 401, description = "No valid API token.", body = ErrorBody),
        (status = 403, description = "The caller is the attempt's learner, not the course's instructor.", body = ErrorBody),
        (status = 404, description = "No attempt the caller may read.", body = ErrorBody),
        (status = 409, description = "Not submitted, already graded, the answer already graded, or a concurrent change.", body = ErrorBody),
        (status = 422, description = "Malformed body; an unknown or non-open question, points out of range, feedback too long.", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn grade(
    State(state): State<AssessmentApi>,
    caller: Caller,
    Path((id, question)): Path<(String, String)>,
    ApiJson(body): ApiJson<GradeRequest>,
) -> Result<ApiJson<AttemptView>, ApiError> {
    let (attempt, _, reader) = readable_attempt(&state, &caller, &id).await?;
    if let Reader::Learner = reader {
        return Err(ApiError::forbidden("only the course's instructor grades answers"));
    }
    let question = QuestionId::parse(&question).map_err(|_| {
        ApiError::invalid(
            "unknown_question",
            format!("question {question} is not part of this assessment"),
        )
    })?;
    state
        .service
        .grade_answer(
            caller.actor(),
            attempt.id(),
            question,
            body.points,
            body.feedback.as_deref(),
        )
        .await
        .map_err(api_error)?;
    Ok(ApiJson(attempt_view(&state, attempt.id()).await?))
}

/// An attempt with its answers and, once graded, its result (its learner, the course's
/// instructor, admins).
#[utoipa::path(
    get,
    path = "/api/attempts/{id}",
    tag = "assessments",
    params(("id" = String, Path, description = "The attempt's id.")),
    responses(
        (status = 200, description = "The attempt.", body = AttemptView),
        (status = 401, description = "No valid API token.", body = ErrorBody),
        (status = 404, description = "No attempt the caller may read.", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn show_attempt(
    State(state): State<AssessmentApi>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<ApiJson<AttemptView>, ApiError> {
    let (attempt, assessment, _) = readable_attempt(&state, &caller, &id).await?;
    Ok(ApiJson(AttemptView::of(&attempt, &assessment)))
}

/// `GET /api/courses/{id}/grading`: the course's submitted attempts whose open answers wait for
/// the instructor, oldest submission first.
#[utoipa::path(
    get,
    path = "/api/courses/{id}/grading",
    tag = "assessments",
    params(("id" = String, Path, description = "The course's id."), PageQuery),
    responses(
        (status = 200, description = "A page of submitted attempts waiting for grading, oldest submission first.", body = Page<AttemptView>),
        (status = 401, description = "No valid API token.", body = ErrorBody),
        (status = 403, description = "The caller may see the course but is not its instructor.", body = ErrorBody),
        (status = 404, description = "No course the caller may see.", body = ErrorBody),
        (status = 422, description = "Malformed query, invalid limit or cursor.", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn grading(
    State(state): State<AssessmentApi>,
    caller: Caller,
    Path(course): Path<String>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<ApiJson<Page<AttemptView>>, ApiError> {
    let limit = page.limit()?;
    let after = page.after()?;
    let course = taught_course(&state, &caller, &course).await?;
    let mut conn = state.api.read().await?;
    let queue = crate::awaiting_grading(&mut conn, course.id())
        .await
        .map_err(api_error)?;
    // The cursor is the submission time (fixed-width, so that text order is time order) and the
    // id: the queue's own order, independent of how the database orders its text.
    let key = |attempt: &Attempt| {
        let submitted = attempt
            .submitted_at()
            .map(|t| t.to_rfc3339_opts(SecondsFormat::Nanos, true))
            .unwrap_or_default();
        format!("{submitted}|{}", attempt.id())
    };
    let mut queue = queue;
    queue.sort_by_cached_key(key);
    let mut views = Vec::new();
    let mut assessments: Vec<Assessment> = Vec::new();
    for attempt in queue
        .iter()
        .filter(|a| after.as_deref().is_none_or(|after| key(a).as_str() > after))
        .take(limit as usize + 1)
    {
        if !assessments.iter().any(|s| s.id() == attempt.assessment_id()) {
            let assessment = crate::find(&mut conn, attempt.assessment_id())
                .await
                .map_err(api_error)?
                .ok_or_else(|| no_assessment(attempt.assessment_id()))?;
            assessments.push(assessment);
        }
        let assessment = assessments
            .iter()
            .find(|s| s.id() == attempt.assessment_id())
            .ok_or_else(|| no_assessment(attempt.assessment_id()))?;
        views.push((key(attempt), AttemptView::of(attempt, assessment)));
    }
    let page = Page::from_rows(views, limit, |(key, _)| key.clone());
    Ok(ApiJson(Page {
        items: page.items.into_iter().map(|(_, view)| view).collect(),
        next_cursor: page.next_cursor,
    }))
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(create, grading, show, start, show_attempt, submit, grade))]
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
