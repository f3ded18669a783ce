//! The assessment aggregate: its settings and its questions.

use chrono::{DateTime, Duration, Utc};
use course::Title;
use shared_kernel::{AssessmentId, CourseId, LessonId, QuestionId, UserId};

use super::question::Question;

/// Why a setting was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    /// A passing score is a percentage.
    #[error("a passing score is a percentage from 0 to 100, not {0}")]
    PassingScore(i64),
    /// At least one attempt must be allowed.
    #[error("at least one attempt must be allowed, not {0}")]
    MaxAttempts(i64),
    /// A time limit is at least one minute.
    #[error("a time limit is at least one minute, not {0}")]
    TimeLimit(i64),
}

/// The percentage of the maximum score needed to pass, 0 to 100.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PassingScore(u8);

impl PassingScore {
    /// A passing score of `percent`.
    pub fn new(percent: i64) -> Result<Self, SettingsError> {
        u8::try_from(percent)
            .ok()
            .filter(|p| *p <= 100)
            .map(Self)
            .ok_or(SettingsError::PassingScore(percent))
    }

    /// The percentage.
    pub fn percent(self) -> u8 {
        self.0
    }
}

/// How many attempts a learner has, at least one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MaxAttempts(u32);

impl MaxAttempts {
    /// `attempts` attempts.
    pub fn new(attempts: i64) -> Result<Self, SettingsError> {
        u32::try_from(attempts)
            .ok()
            .filter(|a| *a >= 1)
            .map(Self)
            .ok_or(SettingsError::MaxAttempts(attempts))
    }

    /// The number.
    pub fn get(self) -> u32 {
        self.0
    }
}

/// How long an attempt may take, in whole minutes (at least one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimeLimit(u32);

impl TimeLimit {
    /// A limit of `minutes`.
    pub fn minutes(minutes: i64) -> Result<Self, SettingsError> {
        u32::try_from(minutes)
            .ok()
            .filter(|m| *m >= 1)
            .map(Self)
            .ok_or(SettingsError::TimeLimit(minutes))
    }

    /// The minutes.
    pub fn as_minutes(self) -> u32 {
        self.0
    }

    /// The limit as a duration.
    pub fn duration(self) -> Duration {
        Duration::minutes(i64::from(self.0))
    }
}

/// An assessment of a course, possibly one of its lessons, owned by an instructor.
#[derive(Debug, Clone, PartialEq)]
pub struct Assessment {
    id: AssessmentId,
    course_id: CourseId,
    lesson_id: Option<LessonId>,
    title: Title,
    passing_score: PassingScore,
    max_attempts: MaxAttempts,
    time_limit: Option<TimeLimit>,
    instructor_id: UserId,
    questions: Vec<Question>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    version: i64,
}

/// Everything an assessment is made of, for the repository to rebuild one.
pub(crate) struct AssessmentParts {
    pub id: AssessmentId,
    pub course_id: CourseId,
    pub lesson_id: Option<LessonId>,
    pub title: Title,
    pub passing_score: PassingScore,
    pub max_attempts: MaxAttempts,
    pub time_limit: Option<TimeLimit>,
    pub instructor_id: UserId,
    pub questions: Vec<Question>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

impl Assessment {
    /// A new assessment without questions.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn create(
        course_id: CourseId,
        lesson_id: Option<LessonId>,
        title: Title,
        passing_score: PassingScore,
        max_attempts: MaxAttempts,
        time_limit: Option<TimeLimit>,
        instructor_id: UserId,
        now: DateTime<Utc>,
    ) -> Self {
        Self::from_parts(AssessmentParts {
            id: AssessmentId::new(),
            course_id,
            lesson_id,
            title,
            passing_score,
            max_attempts,
            time_limit,
            instructor_id,
            questions: Vec::new(),
            created_at: now,
            updated_at: now,
            version: 0,
        })
    }

    pub(crate) fn from_parts(parts: AssessmentParts) -> Self {
        Self {
            id: parts.id,
            course_id: parts.course_id,
            lesson_id: parts.lesson_id,
            title: parts.title,
            passing_score: parts.passing_score,
            max_attempts: parts.max_attempts,
            time_limit: parts.time_limit,
            instructor_id: parts.instructor_id,
            questions: parts.questions,
            created_at: parts.created_at,
            updated_at: parts.updated_at,
            version: parts.version,
        }
    }

    /// Changes the settings.
    pub(crate) fn edit(
        &mut self,
        title: Title,
        passing_score: PassingScore,
        max_attempts: MaxAttempts,
        time_limit: Option<TimeLimit>,
        now: DateTime<Utc>,
    ) {
        self.title = title;
        self.passing_score = passing_score;
        self.max_attempts = max_attempts;
        self.time_limit = time_limit;
        self.updated_at = now;
    }

    /// Replaces the questions (only while no attempt exists: the service checks).
    pub(crate) fn set_questions(&mut self, questions: Vec<Question>) {
        self.questions = questions;
    }

    /// Marks the assessment as stored at the next version.
    pub(crate) fn saved(&mut self) {
        self.version += 1;
    }

    /// The assessment's id.
    pub fn id(&self) -> AssessmentId {
        self.id
    }

    /// Its course.
    pub fn course_id(&self) -> CourseId {
        self.course_id
    }

    /// The course lesson it is, if any.
    pub fn lesson_id(&self) -> Option<LessonId> {
        self.lesson_id
    }

    /// Its title.
    pub fn title(&self) -> &Title {
        &self.title
    }

    /// The percentage needed to pass.
    pub fn passing_score(&self) -> PassingScore {
        self.passing_score
    }

    /// How many attempts a learner has.
    pub fn max_attempts(&self) -> MaxAttempts {
        self.max_attempts
    }

    /// How long an attempt may take, if limited.
    pub fn time_limit(&self) -> Option<TimeLimit> {
        self.time_limit
    }

    /// The instructor who owns it.
    pub fn instructor_id(&self) -> UserId {
        self.instructor_id
    }

    /// Its questions, in order.
    pub fn questions(&self) -> &[Question] {
        &self.questions
    }

    /// One of its questions.
    pub fn question(&self, id: QuestionId) -> Option<&Question> {
        self.questions.iter().find(|q| q.id() == id)
    }

    /// The most points an attempt can earn.
    pub fn max_score(&self) -> u32 {
        self.questions.iter().map(Question::points).sum()
    }

    /// Whether `score` out of `max_score` passes: `score * 100 >= passing_score * max_score`, in
    /// integers, so that 7 of 10 passes a 70 % bar exactly.
    pub fn passes(&self, score: u32, max_score: u32) -> bool {
        u64::from(score) * 100 >= u64::from(self.passing_score.percent()) * u64::from(max_score)
    }

    /// When it was created.
    pub fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }

    /// When its settings last changed.
    pub fn updated_at(&self) -> DateTime<Utc> {
        self.updated_at
    }

    pub(crate) fn version(&self) -> i64 {
        self.version
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_passing_score_is_a_percentage() {
        assert_eq!(PassingScore::new(0).unwrap().percent(), 0);
        assert_eq!(PassingScore::new(100).unwrap().percent(), 100);
        assert_eq!(PassingScore::new(101), Err(SettingsError::PassingScore(101)));
        assert_eq!(PassingScore::new(-1), Err(SettingsError::PassingScore(-1)));
    }

    #[test]
    fn at_least_one_attempt_and_one_minute_are_required() {
        assert_eq!(MaxAttempts::new(0), Err(SettingsError::MaxAttempts(0)));
        assert_eq!(MaxAttempts::new(1).unwrap().get(), 1);
        assert_eq!(TimeLimit::minutes(0), Err(SettingsError::TimeLimit(0)));
        assert_eq!(TimeLimit::minutes(30).unwrap().duration(), Duration::minutes(30));
    }

    fn with_bar(percent: i64) -> Assessment {
        Assessment::create(
            CourseId::new(),
            None,
            Title::parse("Kuis").unwrap(),
            PassingScore::new(percent).unwrap(),
            MaxAttempts::new(1).unwrap(),
            None,
            UserId::new(),
            Utc::now(),
        )
    }

    #[test]
    fn passing_is_decided_in_integers_at_the_bar_itself() {
        let seventy = with_bar(70);
        assert!(seventy.passes(7, 10));
        assert!(!seventy.passes(6, 10));
        // 2 of 3 is 66.67 %: below a 67 % bar, above a 66 % one.
        assert!(!with_bar(67).passes(2, 3));
        assert!(with_bar(66).passes(2, 3));
        assert!(with_bar(0).passes(0, 10));
        assert!(with_bar(100).passes(10, 10) && !with_bar(100).passes(9, 10));
    }
}
