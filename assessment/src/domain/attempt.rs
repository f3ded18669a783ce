//! A learner's attempt at an assessment: its answers, their grading and the final grade.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use shared_kernel::{AssessmentId, AttemptId, EnrollmentId, QuestionId, UserId};

use super::assessment::Assessment;
use super::question::{QuestionKind, Response};
use crate::error::AssessmentError;

/// The longest feedback an instructor may give on one answer, in characters.
pub const MAX_FEEDBACK_CHARS: usize = 5000;

/// Where an attempt stands: `in_progress → submitted → graded`, or `in_progress → graded` when
/// every answer is graded automatically at submission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttemptStatus {
    /// Started, not yet submitted.
    InProgress,
    /// Submitted; open answers wait for the instructor.
    Submitted,
    /// Every answer graded; the attempt has its score.
    Graded,
}

impl AttemptStatus {
    /// The stored name: `in_progress`, `submitted` or `graded`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InProgress => "in_progress",
            Self::Submitted => "submitted",
            Self::Graded => "graded",
        }
    }

    pub(crate) fn from_stored(value: &str) -> Option<Self> {
        match value {
            "in_progress" => Some(Self::InProgress),
            "submitted" => Some(Self::Submitted),
            "graded" => Some(Self::Graded),
            _ => None,
        }
    }
}

impl fmt::Display for AttemptStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The grade of a fully graded attempt.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Grade {
    score: u32,
    max_score: u32,
    passed: bool,
}

impl Grade {
    /// The points earned.
    pub fn score(&self) -> u32 {
        self.score
    }

    /// The most points the attempt could earn.
    pub fn max_score(&self) -> u32 {
        self.max_score
    }

    /// The score as a percentage of the maximum, rounded to two decimals.
    pub fn percentage(&self) -> f64 {
        percentage(self.score, self.max_score)
    }

    /// Whether the score reached the assessment's passing score.
    pub fn passed(&self) -> bool {
        self.passed
    }
}

fn percentage(score: u32, max_score: u32) -> f64 {
    if max_score == 0 {
        return 0.0;
    }
    (f64::from(score) * 10_000.0 / f64::from(max_score)).round() / 100.0
}

/// The answer to one question of an attempt (one per question once submitted; an unanswered
/// question has no response and scores 0).
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub(crate) question_id: QuestionId,
    pub(crate) response: Option<Response>,
    pub(crate) points: Option<u32>,
    pub(crate) max_points: u32,
    pub(crate) feedback: Option<String>,
    pub(crate) graded_by: Option<UserId>,
    pub(crate) graded_at: Option<DateTime<Utc>>,
}

impl Answer {
    /// The question answered.
    pub fn question_id(&self) -> QuestionId {
        self.question_id
    }

    /// The learner's response, or `None` when they left the question unanswered.
    pub fn response(&self) -> Option<&Response> {
        self.response.as_ref()
    }

    /// The points awarded, or `None` while an open answer waits for the instructor.
    pub fn points(&self) -> Option<u32> {
        self.points
    }

    /// What the question is worth.
    pub fn max_points(&self) -> u32 {
        self.max_points
    }

    /// The instructor's feedback, if any.
    pub fn feedback(&self) -> Option<&str> {
        self.feedback.as_deref()
    }

    /// Who graded it by hand (`None` for automatic grading).
    pub fn graded_by(&self) -> Option<UserId> {
        self.graded_by
    }

    /// When it was graded.
    pub fn graded_at(&self) -> Option<DateTime<Utc>> {
        self.graded_at
    }

    /// Whether it waits for the instructor.
    pub fn is_pending(&self) -> bool {
        self.points.is_none()
    }
}

/// A learner's attempt at an assessment.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    id: AttemptId,
    assessment_id: AssessmentId,
    user_id: UserId,
    enrollment_id: EnrollmentId,
    attempt_number: u32,
    status: AttemptStatus,
    started_at: DateTime<Utc>,
    submitted_at: Option<DateTime<Utc>>,
    graded_at: Option<DateTime<Utc>>,
    graded_by: Option<UserId>,
    score: Option<u32>,
    max_score: u32,
    passed: Option<bool>,
    answers: Vec<Answer>,
    version: i64,
}

/// Everything an attempt is made of, for the repository to rebuild one.
pub(crate) struct AttemptParts {
    pub id: AttemptId,
    pub assessment_id: AssessmentId,
    pub user_id: UserId,
    pub enrollment_id: EnrollmentId,
    pub attempt_number: u32,
    pub status: AttemptStatus,
    pub started_at: DateTime<Utc>,
    pub submitted_at: Option<DateTime<Utc>>,
    pub graded_at: Option<DateTime<Utc>>,
    pub graded_by: Option<UserId>,
    pub score: Option<u32>,
    pub max_score: u32,
    pub passed: Option<bool>,
    pub answers: Vec<Answer>,
    pub version: i64,
}

/// What grading one answer did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct AnswerGrading {
    pub points: u32,
    pub max_points: u32,
    /// The attempt's grade when this was its last ungraded answer.
    pub completed: Option<Grade>,
}

impl Attempt {
    /// The `attempt_number`th attempt of `user` (through `enrollment`) at `assessment`.
    pub(crate) fn start(
        assessment: &Assessment,
        user: UserId,
        enrollment: EnrollmentId,
        attempt_number: u32,
        now: DateTime<Utc>,
    ) -> Self {
        Self::from_parts(AttemptParts {
            id: AttemptId::new(),
            assessment_id: assessment.id(),
            user_id: user,
            enrollment_id: enrollment,
            attempt_number,
            status: AttemptStatus::InProgress,
            started_at: now,
            submitted_at: None,
            graded_at: None,
            graded_by: None,
            score: None,
            max_score: assessment.max_score(),
            passed: None,
            answers: Vec::new(),
            version: 0,
        })
    }

    pub(crate) fn from_parts(parts: AttemptParts) -> Self {
        Self {
            id: parts.id,
            assessment_id: parts.assessment_id,
            user_id: parts.user_id,
            enrollment_id: parts.enrollment_id,
            attempt_number: parts.attempt_number,
            status: parts.status,
            started_at: parts.started_at,
            submitted_at: parts.submitted_at,
            graded_at: parts.graded_at,
            graded_by: parts.graded_by,
            score: parts.score,
            max_score: parts.max_score,
            passed: parts.passed,
            answers: parts.answers,
            version: parts.version,
        }
    }

    /// Submits the learner's responses: checks them against the questions, grades every
    /// multiple-choice answer (and every unanswered question, with 0), and, when no open answer
    /// waits for the instructor, grades the attempt. A submission after the time limit is
    /// accepted as if it had arrived at the limit.
    ///
    /// Returns the grade when the attempt is now fully graded.
    ///
    /// # Errors
    /// [`AssessmentError::NotYourAttempt`], [`AssessmentError::AlreadySubmitted`],
    /// [`AssessmentError::UnknownQuestion`], [`AssessmentError::DuplicateAnswer`],
    /// [`AssessmentError::WrongResponseKind`], [`AssessmentError::NoSuchOption`]. On error the
    /// attempt is unchanged.
    pub(crate) fn submit(
        &mut self,
        learner: UserId,
        assessment: &Assessment,
        responses: Vec<(QuestionId, Response)>,
        now: DateTime<Utc>,
    ) -> Result<Option<Grade>, AssessmentError> {
        if learner != self.user_id {
            return Err(AssessmentError::NotYourAttempt(self.id));
        }
        if self.status != AttemptStatus::InProgress {
            return Err(AssessmentError::AlreadySubmitted(self.id));
        }
        let mut by_question = BTreeMap::new();
        for (question_id, response) in responses {
            let question = assessment
                .question(question_id)
                .ok_or(AssessmentError::UnknownQuestion(question_id))?;
            match (question.kind(), &response) {
                (QuestionKind::MultipleChoice { options, .. }, Response::Choices(chosen)) => {
                    if let Some(&option) = chosen.iter().find(|&&i| i >= options.len()) {
                        return Err(AssessmentError::NoSuchOption {
                            question: question_id,
                            option,
                        });
                    }
                }
                (QuestionKind::Open, Response::Text(_)) => {}
                _ => return Err(AssessmentError::WrongResponseKind(question_id)),
            }
            if by_question.insert(question_id, response).is_some() {
                return Err(AssessmentError::DuplicateAnswer(question_id));
            }
        }
        let submitted_at = match assessment.time_limit() {
            Some(limit) => now.min(self.started_at + limit.duration()),
            None => now,
        };
        self.answers = assessment
            .questions()
            .iter()
            .map(|question| {
                let response = by_question.remove(&question.id());
                let points = question.auto_grade(response.as_ref());
                Answer {
                    question_id: question.id(),
                    graded_at: points.map(|_| submitted_at),
                    response,
                    points,
                    max_points: question.points(),
                    feedback: None,
                    graded_by: None,
                }
            })
            .collect();
        self.max_score = assessment.max_score();
        self.submitted_at = Some(submitted_at);
        self.status = AttemptStatus::Submitted;
        Ok(self.finish_if_complete(assessment, None, submitted_at))
    }

    /// Grades the open answer to `question` with `points` (0 to the question's worth) and
    /// optional feedback; when it was the last ungraded answer, grades the attempt.
    ///
    /// # Errors
    /// [`AssessmentError::NotSubmitted`], [`AssessmentError::AlreadyGraded`],
    /// [`AssessmentError::UnknownQuestion`], [`AssessmentError::NotAnOpenQuestion`],
    /// [`AssessmentError::AnswerAlreadyGraded`], [`AssessmentError::PointsOutOfRange`],
    /// [`AssessmentError::FeedbackTooLong`]. On error the attempt is unchanged.
    pub(crate) fn grade_answer(
        &mut self,
        assessment: &Assessment,
        question_id: QuestionId,
        points: i64,
        feedback: Option<&str>,
        grader: UserId,
        now: DateTime<Utc>,
    ) -> Result<AnswerGrading, AssessmentError> {
        match self.status {
            AttemptStatus::InProgress => return Err(AssessmentError::NotSubmitted(self.id)),
            AttemptStatus::Graded => return Err(AssessmentError::AlreadyGraded(self.id)),
            AttemptStatus::Submitted => {}
        }
        let question = assessment
            .question(question_id)
            .ok_or(AssessmentError::UnknownQuestion(question_id))?;
        if !question.is_open() {
            return Err(AssessmentError::NotAnOpenQuestion(question_id));
        }
        let attempt = self.id;
        let answer = self
            .answers
            .iter_mut()
            .find(|a| a.question_id == question_id)
            .ok_or(AssessmentError::UnknownQuestion(question_id))?;
        if !answer.is_pending() {
            return Err(AssessmentError::AnswerAlreadyGraded {
                attempt,
                question: question_id,
            });
        }
        let max = answer.max_points;
        let awarded = u32::try_from(points)
            .ok()
            .filter(|p| *p <= max)
            .ok_or(AssessmentError::PointsOutOfRange { points, max })?;
        let feedback = feedback.map(str::trim).filter(|f| !f.is_empty());
        if feedback.is_some_and(|f| f.chars().count() > MAX_FEEDBACK_CHARS) {
            return Err(AssessmentError::FeedbackTooLong {
                max: MAX_FEEDBACK_CHARS,
            });
        }
        answer.points = Some(awarded);
        answer.feedback = feedback.map(str::to_owned);
        answer.graded_by = Some(grader);
        answer.graded_at = Some(now);
        Ok(AnswerGrading {
            points: awarded,
            max_points: max,
            completed: self.finish_if_complete(assessment, Some(grader), now),
        })
    }

    fn finish_if_complete(
        &mut self,
        assessment: &Assessment,
        grader: Option<UserId>,
        now: DateTime<Utc>,
    ) -> Option<Grade> {
        if self.answers.iter().any(Answer::is_pending) {
            return None;
        }
        let score = self.answers.iter().filter_map(|a| a.points).sum();
        let passed = assessment.passes(score, self.max_score);
        self.status = AttemptStatus::Graded;
        self.score = Some(score);
        self.passed = Some(passed);
        self.graded_at = Some(now);
        self.graded_by = grader;
        self.grade()
    }

    /// Marks the attempt as stored at the next version.
    pub(crate) fn saved(&mut self) {
        self.version += 1;
    }

    /// The attempt's id.
    pub fn id(&self) -> AttemptId {
        self.id
    }

    /// The assessment attempted.
    pub fn assessment_id(&self) -> AssessmentId {
        self.assessment_id
    }

    /// The learner.
    pub fn user_id(&self) -> UserId {
        self.user_id
    }

    /// The learner's enrollment in the assessment's course when they started.
    pub fn enrollment_id(&self) -> EnrollmentId {
        self.enrollment_id
    }

    /// Which of the learner's attempts this is, from 1.
    pub fn attempt_number(&self) -> u32 {
        self.attempt_number
    }

    /// Where it stands.
    pub fn status(&self) -> AttemptStatus {
        self.status
    }

    /// When it started.
    pub fn started_at(&self) -> DateTime<Utc> {
        self.started_at
    }

    /// When it was submitted (at most the start plus the time limit).
    pub fn submitted_at(&self) -> Option<DateTime<Utc>> {
        self.submitted_at
    }

    /// When its last answer was graded.
    pub fn graded_at(&self) -> Option<DateTime<Utc>> {
        self.graded_at
    }

    /// The instructor whose grading completed it (`None` when graded automatically).
    pub fn graded_by(&self) -> Option<UserId> {
        self.graded_by
    }

    /// The final score, once graded.
    pub fn score(&self) -> Option<u32> {
        self.score
    }

    /// The most points it can earn.
    pub fn max_score(&self) -> u32 {
        self.max_score
    }

    /// Whether it passed, once graded.
    pub fn passed(&self) -> Option<bool> {
        self.passed
    }

    /// The grade, once every answer is graded.
    pub fn grade(&self) -> Option<Grade> {
        match (self.status, self.score, self.passed) {
            (AttemptStatus::Graded, Some(score), Some(passed)) => Some(Grade {
                score,
                max_score: self.max_score,
                passed,
            }),
            _ => None,
        }
    }

    /// Its answers, in question order (empty before submission).
    pub fn answers(&self) -> &[Answer] {
        &self.answers
    }

    /// How many open answers wait for the instructor.
    pub fn ungraded(&self) -> u32 {
        u32::try_from(self.answers.iter().filter(|a| a.is_pending()).count()).unwrap_or(u32::MAX)
    }

    pub(crate) fn version(&self) -> i64 {
        self.version
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use chrono::Duration;
    use course::Title;
    use shared_kernel::CourseId;

    use super::*;
    use crate::domain::{MaxAttempts, PassingScore, Question, TimeLimit};

    fn assessment(questions: Vec<Question>, limit: Option<i64>) -> Assessment {
        let mut assessment = Assessment::create(
            CourseId::new(),
            None,
            Title::parse("Kuis Rust").unwrap(),
            PassingScore::new(70).unwrap(),
            MaxAttempts::new(2).unwrap(),
            limit.map(|m| TimeLimit::minutes(m).unwrap()),
            UserId::new(),
            Utc::now(),
        );
        assessment.set_questions(questions);
        assessment
    }

    fn choice(points: i64) -> Question {
        Question::multiple_choice(
            "Tipe teks milik sendiri?",
            vec!["String".into(), "&str".into(), "char".into()],
            BTreeSet::from([0]),
            points,
        )
        .unwrap()
    }

    fn picks(options: &[usize]) -> Response {
        Response::Choices(options.iter().copied().collect())
    }

    fn started(assessment: &Assessment, at: DateTime<Utc>) -> Attempt {
        Attempt::start(assessment, UserId::new(), EnrollmentId::new(), 1, at)
    }

    #[test]
    fn an_all_multiple_choice_submission_is_graded_at_once() {
        let quiz = assessment(vec![choice(3), choice(7)], None);
        let (q1, q2) = (quiz.questions()[0].id(), quiz.questions()[1].id());
        let now = Utc::now();
        let mut attempt = started(&quiz, now);

        let grade = attempt
            .submit(
                attempt.user_id(),
                &quiz,
                vec![(q1, picks(&[1])), (q2, picks(&[0]))],
                now,
            )
            .unwrap()
            .unwrap();

        assert_eq!((grade.score(), grade.max_score(), grade.passed()), (7, 10, true));
        assert_eq!(grade.percentage(), 70.0);
        assert_eq!(attempt.status(), AttemptStatus::Graded);
        assert_eq!(attempt.graded_by(), None);
    }

    #[test]
    fn unanswered_questions_score_nothing() {
        let quiz = assessment(vec![choice(3), Question::open("Jelaskan.", 7).unwrap()], None);
        let q1 = quiz.questions()[0].id();
        let mut attempt = started(&quiz, Utc::now());

        let grade = attempt
            .submit(attempt.user_id(), &quiz, vec![(q1, picks(&[0]))], Utc::now())
            .unwrap()
            .unwrap();

        assert_eq!((grade.score(), grade.passed()), (3, false));
        assert_eq!(grade.percentage(), 30.0);
        assert_eq!(attempt.answers()[1].response(), None);
    }

    #[test]
    fn an_answered_open_question_waits_and_its_grading_completes_the_attempt() {
        let quiz = assessment(vec![choice(2), Question::open("Jelaskan.", 8).unwrap()], None);
        let (q1, q2) = (quiz.questions()[0].id(), quiz.questions()[1].id());
        let mut attempt = started(&quiz, Utc::now());
        let grader = UserId::new();

        let graded = attempt
            .submit(
                attempt.user_id(),
                &quiz,
                vec![(q1, picks(&[0])), (q2, Response::Text("Ownership...".into()))],
                Utc::now(),
            )
            .unwrap();
        assert_eq!(graded, None);
        assert_eq!((attempt.status(), attempt.ungraded()), (AttemptStatus::Submitted, 1));

        let grading = attempt
            .grade_answer(&quiz, q2, 6, Some(" Bagus "), grader, Utc::now())
            .unwrap();

        let grade = grading.completed.unwrap();
        assert_eq!((grade.score(), grade.max_score(), grade.passed()), (8, 10, true));
        assert_eq!(attempt.graded_by(), Some(grader));
        assert_eq!(attempt.answers()[1].feedback(), Some("Bagus"));
    }

    #[test]
    fn grading_is_refused_out_of_range_twice_or_on_a_multiple_choice_question() {
        let quiz = assessment(vec![choice(2), Question::open("Jelaskan.", 8).unwrap()], None);
        let (q1, q2) = (quiz.questions()[0].id(), quiz.questions()[1].id());
        let mut attempt = started(&quiz, Utc::now());
        let grader = UserId::new();
        assert!(matches!(
            attempt.grade_answer(&quiz, q2, 1, None, grader, Utc::now()),
            Err(AssessmentError::NotSubmitted(_))
        ));
        let text = Response::Text("...".into());
        attempt
            .submit(attempt.user_id(), &quiz, vec![(q2, text)], Utc::now())
            .unwrap();

        for points in [9, -1] {
            assert!(matches!(
                attempt.grade_answer(&quiz, q2, points, None, grader, Utc::now()),
                Err(AssessmentError::PointsOutOfRange { points: p, max: 8 }) if p == points
            ));
        }
        assert!(matches!(
            attempt.grade_answer(&quiz, q1, 1, None, grader, Utc::now()),
            Err(AssessmentError::NotAnOpenQuestion(q)) if q == q1
        ));
        assert_eq!(attempt.ungraded(), 1, "refusals change nothing");
        attempt.grade_answer(&quiz, q2, 8, None, grader, Utc::now()).unwrap();
        assert!(matches!(
            attempt.grade_answer(&quiz, q2, 8, None, grader, Utc::now()),
            Err(AssessmentError::AlreadyGraded(_))
        ));
    }

    #[test]
    fn a_late_submission_counts_as_submitted_at_the_limit() {
        let quiz = assessment(vec![choice(1)], Some(30));
        let start = Utc::now();
        let mut late = started(&quiz, start);
        let mut in_time = started(&quiz, start);

        late.submit(late.user_id(), &quiz, vec![], start + Duration::minutes(45))
            .unwrap();
        in_time
            .submit(in_time.user_id(), &quiz, vec![], start + Duration::minutes(10))
            .unwrap();

        assert_eq!(late.submitted_at(), Some(start + Duration::minutes(30)));
        assert_eq!(in_time.submitted_at(), Some(start + Duration::minutes(10)));
    }

    #[test]
    fn invalid_responses_are_refused_and_leave_the_attempt_in_progress() {
        let quiz = assessment(vec![choice(1), Question::open("Jelaskan.", 1).unwrap()], None);
        let (q1, q2) = (quiz.questions()[0].id(), quiz.questions()[1].id());
        let mut attempt = started(&quiz, Utc::now());
        let learner = attempt.user_id();
        let unknown = QuestionId::new();
        let now = Utc::now();

        let cases = [
            (vec![(unknown, picks(&[0]))], "unknown"),
            (vec![(q1, picks(&[0])), (q1, picks(&[1]))], "duplicate"),
            (vec![(q1, Response::Text("String".into()))], "kind"),
            (vec![(q2, picks(&[0]))], "kind"),
            (vec![(q1, picks(&[3]))], "option"),
        ];
        for (responses, case) in cases {
            let err = attempt.submit(learner, &quiz, responses, now).unwrap_err();
            let expected = match case {
                "unknown" => matches!(err, AssessmentError::UnknownQuestion(q) if q == unknown),
                "duplicate" => matches!(err, AssessmentError::DuplicateAnswer(q) if q == q1),
                "kind" => matches!(err, AssessmentError::WrongResponseKind(_)),
                _ => matches!(err, AssessmentError::NoSuchOption { option: 3, .. }),
            };
            assert!(expected, "{case}: {err:?}");
            assert_eq!(attempt.status(), AttemptStatus::InProgress);
        }
        assert!(matches!(
            attempt.submit(UserId::new(), &quiz, vec![], now),
            Err(AssessmentError::NotYourAttempt(_))
        ));
        attempt.submit(learner, &quiz, vec![], now).unwrap();
        assert!(matches!(
            attempt.submit(learner, &quiz, vec![], now),
            Err(AssessmentError::AlreadySubmitted(_))
        ));
    }

    #[test]
    fn percentages_are_rounded_to_two_decimals() {
        assert_eq!(percentage(2, 3), 66.67);
        assert_eq!(percentage(0, 5), 0.0);
        assert_eq!(percentage(5, 5), 100.0);
    }
}
