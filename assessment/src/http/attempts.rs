//! Taking an assessment: `POST /api/assessments/{id}/attempts`, `POST /api/attempts/{id}/submit`
//! and `GET /api/attempts/{id}`, with the attempt's request and response types.

use std::collections::BTreeSet;

use axum::extract::{Path, State};
use chrono::SecondsFormat;
use serde::{Deserialize, Serialize};
use shared_kernel::http::{ApiError, ApiJson, Caller, Created, ErrorBody};
use shared_kernel::{AssessmentId, AttemptId, EnrollmentId, QuestionId, UserId};

use super::{AssessmentApi, Reader, api_error, attempt_view, readable_attempt, visible_assessment};
use crate::{Assessment, Attempt, Response};

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
    pub(super) fn of(attempt: &Attempt, assessment: &Assessment) -> Self {
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
pub(super) async fn start(
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
pub(super) async fn submit(
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
pub(super) async fn show_attempt(
    State(state): State<AssessmentApi>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<ApiJson<AttemptView>, ApiError> {
    let (attempt, assessment, _) = readable_attempt(&state, &caller, &id).await?;
    Ok(ApiJson(AttemptView::of(&attempt, &assessment)))
}
