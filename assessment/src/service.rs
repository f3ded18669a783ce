//! The assessment commands and the reads other contexts and `app` use.
//!
//! Every command runs as one unit of work: it parses its input first (a bad draft opens no
//! transaction), loads what it needs, applies the domain rule (a broken rule is a typed error and
//! the unit of work rolls back, leaving no row and no event), saves, records its events and
//! commits.

use std::collections::BTreeSet;

use course::{Course, CourseError, CourseStatus, Title};
use shared_kernel::sqlx::AnyConnection;
use shared_kernel::users::Actor;
use shared_kernel::{AssessmentId, AttemptId, CourseId, EventBus, LessonId, QuestionId, UnitOfWork, UserId};

use crate::domain::{
    Assessment, Attempt, AttemptStatus, Grade, MaxAttempts, PassingScore, Question, QuestionError, Response, TimeLimit,
};
use crate::error::AssessmentError;
use crate::events::{AnswerGraded, AssessmentGraded, AssessmentSubmitted, AttemptStarted};
use crate::repository;

/// An assessment as the instructor writes it: title, settings and questions in order. The
/// commands parse it (see [`AssessmentError::InvalidTitle`], [`AssessmentError::InvalidSettings`],
/// [`AssessmentError::NoQuestions`], [`AssessmentError::InvalidQuestion`]) before touching the
/// database.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAssessment {
    /// The title (1 to 200 characters once trimmed).
    pub title: String,
    /// The percentage of the maximum score needed to pass, 0 to 100.
    pub passing_score: i64,
    /// How many attempts a learner has, at least 1.
    pub max_attempts: i64,
    /// How long an attempt may take, in minutes (at least 1), or `None` for no limit.
    pub time_limit_minutes: Option<i64>,
    /// The questions, in the order shown (at least one).
    pub questions: Vec<NewQuestion>,
}

/// One question of a [`NewAssessment`], as written; checked when the command parses the draft.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewQuestion {
    prompt: String,
    kind: NewKind,
    points: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum NewKind {
    MultipleChoice { options: Vec<String>, correct: Vec<usize> },
    Open,
}

impl NewQuestion {
    /// A multiple-choice question worth `points` (1 to 1000): at least two non-blank options,
    /// `correct` holding the indices of the correct ones (at least one). Auto-graded: all the
    /// points iff the chosen set equals the correct set.
    pub fn multiple_choice(prompt: &str, options: &[&str], correct: &[usize], points: i64) -> Self {
        Self {
            prompt: prompt.to_owned(),
            kind: NewKind::MultipleChoice {
                options: options.iter().map(|&o| o.to_owned()).collect(),
                correct: correct.to_vec(),
            },
            points,
        }
    }

    /// An open question worth `points` (1 to 1000), graded by the instructor.
    pub fn open(prompt: &str, points: i64) -> Self {
        Self {
            prompt: prompt.to_owned(),
            kind: NewKind::Open,
            points,
        }
    }

    fn parse(&self) -> Result<Question, QuestionError> {
        match &self.kind {
            NewKind::MultipleChoice { options, correct } => Question::multiple_choice(
                &self.prompt,
                options.clone(),
                correct.iter().copied().collect::<BTreeSet<_>>(),
                self.points,
            ),
            NewKind::Open => Question::open(&self.prompt, self.points),
        }
    }
}

/// A parsed [`NewAssessment`].
struct Draft {
    title: Title,
    passing_score: PassingScore,
    max_attempts: MaxAttempts,
    time_limit: Option<TimeLimit>,
    questions: Vec<Question>,
}

impl Draft {
    fn parse(draft: &NewAssessment) -> Result<Self, AssessmentError> {
        let title = Title::parse(&draft.title)?;
        let passing_score = PassingScore::new(draft.passing_score)?;
        let max_attempts = MaxAttempts::new(draft.max_attempts)?;
        let time_limit = draft.time_limit_minutes.map(TimeLimit::minutes).transpose()?;
        if draft.questions.is_empty() {
            return Err(AssessmentError::NoQuestions);
        }
        let questions = draft
            .questions
            .iter()
            .enumerate()
            .map(|(index, q)| {
                q.parse()
                    .map_err(|source| AssessmentError::InvalidQuestion { index, source })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            title,
            passing_score,
            max_attempts,
            time_limit,
            questions,
        })
    }
}

/// What a submission led to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SubmitOutcome {
    /// Every answer was graded automatically: the attempt is graded ([`AssessmentGraded`] was
    /// recorded with the submission).
    Graded(Grade),
    /// Open answers wait for the instructor.
    AwaitingGrading {
        /// How many.
        ungraded: u32,
    },
}

/// What grading one answer led to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum GradeOutcome {
    /// It was the last ungraded answer: the attempt is graded ([`AssessmentGraded`] recorded).
    Graded(Grade),
    /// Other open answers still wait.
    AwaitingGrading {
        /// How many.
        ungraded: u32,
    },
}

/// The assessment commands.
#[derive(Debug, Clone)]
pub struct AssessmentService {
    bus: EventBus,
}

impl AssessmentService {
    /// Commands over `bus`.
    pub fn new(bus: EventBus) -> Self {
        Self { bus }
    }

    fn begin(&self, actor: UserId) -> UnitOfWork {
        self.bus.begin().with_actor(Some(actor))
    }

    /// Creates an assessment of `course` from `draft`; when `lesson` is given, links it to that
    /// assessment lesson of the course in the same unit of work. Only the course's instructor (or an admin) may.
    /// Records no event (the catalog has none for authoring).
    ///
    /// # Errors
    /// Draft errors ([`AssessmentError::InvalidTitle`], [`AssessmentError::InvalidSettings`],
    /// [`AssessmentError::NoQuestions`], [`AssessmentError::InvalidQuestion`]) before any
    /// database work; [`AssessmentError::CourseNotFound`], [`AssessmentError::NotInstructor`];
    /// [`AssessmentError::Course`] when the course is archived or the lesson cannot be linked;
    /// storage failures.
    pub async fn create(
        &self,
        actor: impl Into<Actor>,
        course: CourseId,
        lesson: Option<LessonId>,
        draft: NewAssessment,
    ) -> Result<AssessmentId, AssessmentError> {
        let actor = actor.into();
        let draft = Draft::parse(&draft)?;
        let draft = &draft;
        self.bus
            .retrying(|| async move {
                let mut uow = self.begin(actor.id());
                let now = uow.bus().clock().now();
                let conn = uow.conn().await?;
                let loaded = load_course(conn, course).await?;
                ensure_instructor(&loaded, actor)?;
                ensure_not_archived(&loaded)?;
                let mut assessment = Assessment::create(
                    course,
                    lesson,
                    draft.title.clone(),
                    draft.passing_score,
                    draft.max_attempts,
                    draft.time_limit,
                    actor.id(),
                    now,
                );
                assessment.set_questions(draft.questions.clone());
                repository::insert_assessment(conn, &assessment).await?;
                if let Some(lesson) = lesson {
                    course::link_assessment_in(conn, course, lesson, assessment.id())
                        .await
                        .map_err(AssessmentError::Course)?;
                }
                uow.commit().await?;
                Ok(assessment.id())
            })
            .await
    }

    /// Replaces an assessment's title, settings and questions (the questions get new ids). Only
    /// the course's instructor (or an admin) may, and only while nobody has attempted it: attempts are graded
    /// against the questions they answered. The lesson link is kept.
    ///
    /// # Errors
    /// Draft errors as for [`AssessmentService::create`]; [`AssessmentError::NotFound`],
    /// [`AssessmentError::NotInstructor`], [`AssessmentError::Course`] (`Archived`),
    /// [`AssessmentError::HasAttempts`]; [`AssessmentError::ConcurrentChange`]; storage failures.
    pub async fn update(
        &self,
        actor: impl Into<Actor>,
        assessment: AssessmentId,
        draft: NewAssessment,
    ) -> Result<(), AssessmentError> {
        let actor = actor.into();
        let draft = Draft::parse(&draft)?;
        let draft = &draft;
        self.bus
            .retrying(|| async move {
                let mut uow = self.begin(actor.id());
                let now = uow.bus().clock().now();
                let conn = uow.conn().await?;
                let mut loaded = repository::get_assessment(conn, assessment).await?;
                let course = load_course(conn, loaded.course_id()).await?;
                ensure_instructor(&course, actor)?;
                ensure_not_archived(&course)?;
                // Held before counting, so that an attempt starting meanwhile is either counted here or
                // refused there.
                repository::hold_assessment(conn, &loaded).await?;
                if repository::count_attempts(conn, assessment).await? > 0 {
                    return Err(AssessmentError::HasAttempts(assessment));
                }
                loaded.edit(
                    draft.title.clone(),
                    draft.passing_score,
                    draft.max_attempts,
                    draft.time_limit,
                    now,
                );
                loaded.set_questions(draft.questions.clone());
                repository::save_assessment(conn, &mut loaded).await?;
                uow.commit().await?;
                Ok(())
            })
            .await
    }

    /// Starts `learner`'s next attempt, recording [`AttemptStarted`]. The learner needs an
    /// active enrollment in the assessment's course, no attempt in progress (an attempt past its
    /// time limit is still in progress until submitted) and an attempt left.
    ///
    /// # Errors
    /// [`AssessmentError::NotFound`], [`AssessmentError::NotEnrolled`],
    /// [`AssessmentError::AttemptInProgress`], [`AssessmentError::NoAttemptsLeft`];
    /// [`AssessmentError::ConcurrentChange`] (the assessment changed meanwhile); storage failures.
    pub async fn start_attempt(&self, learner: UserId, assessment: AssessmentId) -> Result<AttemptId, AssessmentError> {
        self.bus
            .retrying(|| async move {
                let mut uow = self.begin(learner);
                let now = uow.bus().clock().now();
                let conn = uow.conn().await?;
                let loaded = repository::get_assessment(conn, assessment).await?;
                let enrollment = enrollment::find_active(conn, learner, loaded.course_id())
                    .await
                    .map_err(AssessmentError::Enrollment)?
                    .ok_or(AssessmentError::NotEnrolled {
                        user: learner,
                        course: loaded.course_id(),
                    })?;
                repository::hold_assessment(conn, &loaded).await?;
                let (taken, in_progress) = repository::attempt_tally(conn, assessment, learner).await?;
                if in_progress {
                    return Err(AssessmentError::AttemptInProgress {
                        assessment,
                        user: learner,
                    });
                }
                let max = loaded.max_attempts().get();
                if taken >= max {
                    return Err(AssessmentError::NoAttemptsLeft { max });
                }
                let attempt = Attempt::start(&loaded, learner, enrollment.id(), taken + 1, now);
                repository::insert_attempt(conn, &attempt).await?;
                uow.record(AttemptStarted {
                    attempt_id: attempt.id(),
                    assessment_id: assessment,
                    assessment_title: loaded.title().to_string(),
                    user_id: learner,
                    attempt_number: attempt.attempt_number(),
                    started_at: now,
                });
                uow.commit().await?;
                Ok(attempt.id())
            })
            .await
    }

    /// Submits an attempt in progress with the learner's responses (each question at most once;
    /// unanswered questions score 0). Multiple-choice answers are graded at once. Records
    /// [`AssessmentSubmitted`] and, when no open answer waits for the instructor,
    /// [`AssessmentGraded`] in the same unit of work. A submission after the time limit is
    /// accepted as submitted at the limit.
    ///
    /// # Errors
    /// [`AssessmentError::AttemptNotFound`], [`AssessmentError::NotYourAttempt`],
    /// [`AssessmentError::AlreadySubmitted`], [`AssessmentError::UnknownQuestion`],
    /// [`AssessmentError::DuplicateAnswer`], [`AssessmentError::WrongResponseKind`],
    /// [`AssessmentError::NoSuchOption`]; [`AssessmentError::ConcurrentChange`]; storage
    /// failures.
    pub async fn submit(
        &self,
        learner: UserId,
        attempt: AttemptId,
        answers: Vec<(QuestionId, Response)>,
    ) -> Result<SubmitOutcome, AssessmentError> {
        let answers = &answers;
        self.bus
            .retrying(|| async move {
                let mut uow = self.begin(learner);
                let now = uow.bus().clock().now();
                let conn = uow.conn().await?;
                let mut loaded = repository::get_attempt(conn, attempt).await?;
                let assessment = repository::get_assessment(conn, loaded.assessment_id()).await?;
                let graded = loaded.submit(learner, &assessment, answers.clone(), now)?;
                repository::save_attempt(conn, &mut loaded).await?;
                repository::insert_answers(conn, &loaded).await?;
                uow.record(AssessmentSubmitted {
                    attempt_id: attempt,
                    assessment_id: assessment.id(),
                    user_id: learner,
                    status: loaded.status().as_str().to_owned(),
                    requires_manual_grading: graded.is_none(),
                });
                let outcome = match graded {
                    Some(grade) => {
                        uow.record(graded_event(&assessment, &loaded, grade));
                        SubmitOutcome::Graded(grade)
                    }
                    None => SubmitOutcome::AwaitingGrading {
                        ungraded: loaded.ungraded(),
                    },
                };
                uow.commit().await?;
                Ok(outcome)
            })
            .await
    }

    /// Grades the open answer to `question` of a submitted attempt with `points` (0 to the
    /// question's worth) and optional feedback, recording [`AnswerGraded`]; when it was the last
    /// ungraded answer, also [`AssessmentGraded`] with `graded_by = grader`. Only the course's
    /// instructor (or an admin) grades.
    ///
    /// # Errors
    /// [`AssessmentError::AttemptNotFound`], [`AssessmentError::NotInstructor`],
    /// [`AssessmentError::NotSubmitted`], [`AssessmentError::AlreadyGraded`],
    /// [`AssessmentError::UnknownQuestion`], [`AssessmentError::NotAnOpenQuestion`],
    /// [`AssessmentError::AnswerAlreadyGraded`], [`AssessmentError::PointsOutOfRange`],
    /// [`AssessmentError::FeedbackTooLong`]; [`AssessmentError::ConcurrentChange`]; storage
    /// failures.
    pub async fn grade_answer(
        &self,
        grader: impl Into<Actor>,
        attempt: AttemptId,
        question: QuestionId,
        points: i64,
        feedback: Option<&str>,
    ) -> Result<GradeOutcome, AssessmentError> {
        let grader = grader.into();
        self.bus
            .retrying(|| async move {
                let mut uow = self.begin(grader.id());
                let now = uow.bus().clock().now();
                let conn = uow.conn().await?;
                let mut loaded = repository::get_attempt(conn, attempt).await?;
                let assessment = repository::get_assessment(conn, loaded.assessment_id()).await?;
                let course = load_course(conn, assessment.course_id()).await?;
                ensure_instructor(&course, grader)?;
                let grading = loaded.grade_answer(&assessment, question, points, feedback, grader.id(), now)?;
                repository::save_attempt(conn, &mut loaded).await?;
                repository::update_answer(conn, &loaded, question).await?;
                uow.record(AnswerGraded {
                    attempt_id: attempt,
                    question_id: question,
                    points: grading.points,
                    max_points: grading.max_points,
                    graded_by: grader.id(),
                });
                let outcome = match grading.completed {
                    Some(grade) => {
                        uow.record(graded_event(&assessment, &loaded, grade));
                        GradeOutcome::Graded(grade)
                    }
                    None => GradeOutcome::AwaitingGrading {
                        ungraded: loaded.ungraded(),
                    },
                };
                uow.commit().await?;
                Ok(outcome)
            })
            .await
    }
}

fn graded_event(assessment: &Assessment, attempt: &Attempt, grade: Grade) -> AssessmentGraded {
    AssessmentGraded {
        attempt_id: attempt.id(),
        assessment_id: assessment.id(),
        assessment_title: assessment.title().to_string(),
        user_id: attempt.user_id(),
        course_id: assessment.course_id(),
        lesson_id: assessment.lesson_id(),
        enrollment_id: attempt.enrollment_id(),
        score: grade.score(),
        max_score: grade.max_score(),
        percentage: grade.percentage(),
        passed: grade.passed(),
        graded_by: attempt.graded_by(),
    }
}

async fn load_course(conn: &mut AnyConnection, id: CourseId) -> Result<Course, AssessmentError> {
    course::find(conn, id)
        .await
        .map_err(AssessmentError::Course)?
        .ok_or(AssessmentError::CourseNotFound(id))
}

/// The course's instructor, or an admin.
fn ensure_instructor(course: &Course, actor: Actor) -> Result<(), AssessmentError> {
    if actor.may_manage(course.instructor_id()) {
        Ok(())
    } else {
        Err(AssessmentError::NotInstructor {
            user: actor.id(),
            course: course.id(),
        })
    }
}

/// An archived course is final (DESIGN.md §6): its assessments are neither created nor changed,
/// refused as course refuses changes to it.
fn ensure_not_archived(course: &Course) -> Result<(), AssessmentError> {
    if course.status() == CourseStatus::Archived {
        Err(AssessmentError::Course(CourseError::Archived(course.id())))
    } else {
        Ok(())
    }
}

/// An assessment with its questions in order, or `None`.
///
/// # Errors
/// [`AssessmentError::Database`], [`AssessmentError::Corrupt`].
pub async fn find(conn: &mut AnyConnection, id: AssessmentId) -> Result<Option<Assessment>, AssessmentError> {
    repository::load_assessment(conn, id).await
}

/// An attempt with its answers, or `None`.
///
/// # Errors
/// [`AssessmentError::Database`], [`AssessmentError::Corrupt`].
pub async fn find_attempt(conn: &mut AnyConnection, id: AttemptId) -> Result<Option<Attempt>, AssessmentError> {
    repository::load_attempt(conn, id).await
}

/// A learner's attempts at an assessment, oldest first.
///
/// # Errors
/// [`AssessmentError::Database`], [`AssessmentError::Corrupt`].
pub async fn attempts_of(
    conn: &mut AnyConnection,
    assessment: AssessmentId,
    user: UserId,
) -> Result<Vec<Attempt>, AssessmentError> {
    repository::attempts_of(conn, assessment, user).await
}

/// A course's grading queue: its submitted attempts whose open answers wait for the instructor,
/// oldest submission first.
///
/// # Errors
/// [`AssessmentError::Database`], [`AssessmentError::Corrupt`].
pub async fn awaiting_grading(conn: &mut AnyConnection, course: CourseId) -> Result<Vec<Attempt>, AssessmentError> {
    let attempts = repository::awaiting_grading(conn, course).await?;
    debug_assert!(attempts.iter().all(|a| a.status() == AttemptStatus::Submitted));
    Ok(attempts)
}
