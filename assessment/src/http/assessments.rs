//! Authoring: `POST /api/courses/{id}/assessments` and `GET /api/assessments/{id}`, with their
//! request and response types.

use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use shared_kernel::http::{ApiError, ApiJson, Caller, Created, ErrorBody};
use shared_kernel::{AssessmentId, CourseId, LessonId, QuestionId};

use super::{AssessmentApi, api_error, no_assessment, taught_course, teaches, visible_assessment};
use crate::{Assessment, NewAssessment, NewQuestion, QuestionKind};

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
pub(super) async fn create(
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
pub(super) async fn show(
    State(state): State<AssessmentApi>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<ApiJson<AssessmentView>, ApiError> {
    let (assessment, course) = visible_assessment(&state, &caller, &id).await?;
    Ok(ApiJson(AssessmentView::of(&assessment, teaches(&course, &caller))))
}
