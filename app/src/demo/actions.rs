//! The steps the flow is made of: the instructor building a course from its plan, and a learner
//! studying, taking an assessment, and waiting for the learning path to unlock a course.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use assessment::{AssessmentService, NewAssessment, NewQuestion, Response};
use course::{CourseService, LessonKind};
use enrollment::EnrollmentService;
use progress::ProgressService;
use shared_kernel::{AssessmentId, CourseId, EnrollmentId, LessonId, QuestionId, UserId};

use super::plan::{CoursePlan, QuestionPlan};
use crate::Application;

/// A published course as the demo uses it.
pub(super) struct CourseInfo {
    pub(super) id: CourseId,
    pub(super) content: Vec<LessonId>,
    pub(super) quiz: Quiz,
}

pub(super) struct Quiz {
    pub(super) id: AssessmentId,
    pub(super) questions: Vec<(QuestionId, &'static QuestionPlan)>,
}

/// The services the flow drives, and the instructor who grades.
pub(super) struct Services {
    pub(super) app_bus: shared_kernel::EventBus,
    pub(super) enrollments: EnrollmentService,
    pub(super) progress: ProgressService,
    pub(super) assessments: AssessmentService,
    pub(super) instructor: UserId,
}

impl Services {
    /// Studies the content lessons of a course (all, or the first half): time spent, partial
    /// progress, completion. Returns whether the enrollment is still active.
    pub(super) async fn study(
        &self,
        learner: UserId,
        enrollment: EnrollmentId,
        course: &CourseInfo,
        all: bool,
    ) -> anyhow::Result<bool> {
        let count = if all {
            course.content.len()
        } else {
            course.content.len() / 2
        };
        for (k, lesson) in course.content.iter().take(count).enumerate() {
            match self
                .progress
                .record_time_spent(learner, enrollment, *lesson, 300 + 60 * k as u64)
                .await
            {
                Ok(_) => {}
                // A dropped enrollment cannot make progress: that is the rule, not a failure.
                Err(progress::ProgressError::EnrollmentNotActive { .. }) => return Ok(false),
                Err(e) => return Err(e.into()),
            }
            self.progress
                .update_lesson_progress(learner, enrollment, *lesson, 50.0)
                .await?;
            self.progress.complete_lesson(learner, enrollment, *lesson).await?;
        }
        Ok(true)
    }

    /// Takes the course's assessment until it is passed: a first attempt that fails when
    /// `fail_first`, then one that passes. Open answers are graded by the instructor right
    /// after submission. Passing completes the assessment lesson, and so the course.
    pub(super) async fn pass_quiz(&self, learner: UserId, quiz: &Quiz, fail_first: bool) -> anyhow::Result<()> {
        if fail_first {
            self.attempt(learner, quiz, false).await?;
        }
        self.attempt(learner, quiz, true).await
    }

    async fn attempt(&self, learner: UserId, quiz: &Quiz, pass: bool) -> anyhow::Result<()> {
        let attempt = self.assessments.start_attempt(learner, quiz.id).await?;
        let answers = quiz
            .questions
            .iter()
            .map(|(id, question)| {
                let response = match question {
                    QuestionPlan::Choice { options, correct, .. } => {
                        let chosen = if pass { *correct } else { (*correct + 1) % options.len() };
                        Response::Choices(BTreeSet::from([chosen]))
                    }
                    QuestionPlan::Open { .. } if pass => {
                        Response::Text("Jawaban lengkap dengan contoh dan alasannya.".to_owned())
                    }
                    QuestionPlan::Open { .. } => Response::Text("Belum tahu.".to_owned()),
                };
                (*id, response)
            })
            .collect();
        self.assessments.submit(learner, attempt, answers).await?;
        for (id, question) in &quiz.questions {
            if let QuestionPlan::Open { points, .. } = question {
                let (awarded, feedback) = if pass {
                    (*points, "Bagus, lengkap dan jelas.")
                } else {
                    (0, "Belum menjawab pertanyaan; pelajari lagi materinya.")
                };
                self.assessments
                    .grade_answer(self.instructor, attempt, *id, awarded, Some(feedback))
                    .await?;
            }
        }
        Ok(())
    }

    /// Waits until the learning path has enrolled `learner` in `course` (a queued listener does
    /// it once the previous course is completed), and returns the enrollment.
    pub(super) async fn unlocked(&self, learner: UserId, course: CourseId) -> anyhow::Result<EnrollmentId> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let found = {
                let mut conn = self.app_bus.db().pool().acquire().await?;
                enrollment::find_active(&mut conn, learner, course).await?
            };
            if let Some(found) = found {
                return Ok(found.id());
            }
            if Instant::now() > deadline {
                bail!("the learning path did not unlock course {course} for {learner} within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// Creates a course with its content lessons and an assessment lesson linked to its
/// assessment, then publishes it.
pub(super) async fn build_course(
    app: &Application,
    courses: &CourseService,
    assessments: &AssessmentService,
    instructor: UserId,
    plan: &'static CoursePlan,
) -> anyhow::Result<CourseInfo> {
    let id = courses.create(instructor, plan.title, plan.description).await?;
    let mut content = Vec::new();
    for lesson in plan.lessons {
        content.push(courses.add_lesson(instructor, id, lesson, LessonKind::Content).await?);
    }
    let quiz_lesson = courses
        .add_lesson(instructor, id, plan.quiz.title, LessonKind::assessment())
        .await?;
    let questions = plan
        .quiz
        .questions
        .iter()
        .map(|q| match q {
            QuestionPlan::Choice {
                prompt,
                options,
                correct,
                points,
            } => NewQuestion::multiple_choice(prompt, options, &[*correct], *points),
            QuestionPlan::Open { prompt, points } => NewQuestion::open(prompt, *points),
        })
        .collect();
    let quiz = assessments
        .create(
            instructor,
            id,
            Some(quiz_lesson),
            NewAssessment {
                title: plan.quiz.title.to_owned(),
                passing_score: plan.quiz.passing_score,
                max_attempts: plan.quiz.max_attempts,
                time_limit_minutes: plan.quiz.time_limit_minutes,
                questions,
            },
        )
        .await?;
    courses.publish(instructor, id).await?;
    let stored = {
        let mut conn = app.db().pool().acquire().await?;
        assessment::find(&mut conn, quiz)
            .await?
            .context("the assessment just created is missing")?
    };
    let questions = stored
        .questions()
        .iter()
        .map(|q| q.id())
        .zip(plan.quiz.questions.iter())
        .collect();
    Ok(CourseInfo {
        id,
        content,
        quiz: Quiz { id: quiz, questions },
    })
}
