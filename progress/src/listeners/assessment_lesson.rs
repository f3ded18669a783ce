//! Passing an assessment lesson completes the lesson, in the same transaction.

use assessment::AssessmentGraded;
use async_trait::async_trait;
use shared_kernel::{Envelope, ListenerError, SyncListener, UnitOfWork};

use crate::error::ProgressError;
use crate::service::{LessonCompletion, complete_lesson_in};

/// On a passed [`AssessmentGraded`] of an assessment that is a lesson, completes that lesson of
/// the learner's enrollment (register it **sync**: the lesson completion, its
/// `LessonCompleted`, the recalculated course progress and, at 100 %, the
/// `EnrollmentCompleted` then commit with the grading, or none of them do).
///
/// A failed assessment, or one that is no lesson, changes nothing. Neither does a pass on an
/// enrollment that is no longer active (dropped or already completed while the attempt waited
/// for grading) or whose lesson has since been removed from the course: the grade stands, and
/// the reason is logged, rather than rolling the instructor's grading back.
#[derive(Debug, Default, Clone, Copy)]
pub struct CompleteLessonOnPassedAssessment;

impl CompleteLessonOnPassedAssessment {
    /// The listener.
    pub fn new() -> Self {
        Self
    }
}

#[async_trait]
impl SyncListener<AssessmentGraded> for CompleteLessonOnPassedAssessment {
    const NAME: &'static str = "CompleteLessonOnPassedAssessment";

    async fn handle(&self, event: &Envelope<AssessmentGraded>, uow: &mut UnitOfWork) -> Result<(), ListenerError> {
        let graded = event.event();
        let Some(lesson) = graded.lesson_id.filter(|_| graded.passed) else {
            return Ok(());
        };
        match complete_lesson_in(uow, graded.enrollment_id, lesson).await {
            Ok(LessonCompletion::Completed { course_progress }) => {
                tracing::debug!(
                    enrollment = %graded.enrollment_id,
                    %lesson,
                    progress = course_progress.value(),
                    "assessment lesson completed"
                );
                Ok(())
            }
            Ok(LessonCompletion::AlreadyCompleted) => Ok(()),
            Err(error @ (ProgressError::EnrollmentNotActive { .. } | ProgressError::LessonNotInCourse { .. })) => {
                tracing::info!(
                    enrollment = %graded.enrollment_id,
                    %lesson,
                    %error,
                    "passed assessment leaves its lesson as it is"
                );
                Ok(())
            }
            Err(error) => Err(ListenerError::new(error)),
        }
    }
}
