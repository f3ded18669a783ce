//! Grading: `POST /api/attempts/{id}/answers/{question_id}/grade` and the grading queue
//! `GET /api/courses/{id}/grading`.

use axum::extract::{Path, State};
use chrono::SecondsFormat;
use serde::Deserialize;
use shared_kernel::QuestionId;
use shared_kernel::http::{ApiError, ApiJson, ApiQuery, Caller, ErrorBody, Page, PageQuery};

use super::{
    AssessmentApi, AttemptView, Reader, api_error, attempt_view, no_assessment, readable_attempt, taught_course,
};
use crate::{Assessment, Attempt};

/// `POST /api/attempts/{id}/answers/{question_id}/grade`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GradeRequest {
    /// From 0 to what the question is worth.
    pub points: i64,
    /// For the learner (at most 5000 characters).
    pub feedback: Option<String>,
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
pub(super) async fn grade(
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
pub(super) async fn grading(
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
