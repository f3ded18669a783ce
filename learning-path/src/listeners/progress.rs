//! Moving learners along their paths as they complete courses.

use std::time::Duration;

use async_trait::async_trait;
use enrollment::EnrollmentCompleted;
use shared_kernel::{Envelope, JobContext, JobFailure, ListenerError, QueueOptions, QueuedListener};

use crate::repository;
use crate::service;

/// On [`EnrollmentCompleted`] (queue `default`): every active path enrollment of the learner
/// whose current course is the completed one advances: the next course is unlocked and the
/// learner enrolled in it, or, after the last course, the path is completed. Its writes and
/// events go through the job's unit of work, so they commit together with the job's
/// acknowledgement.
///
/// Idempotent: once advanced, a path enrollment's current course no longer matches, so a
/// redelivered job changes nothing. Without overlapping per learner: the job advances every
/// path enrollment of the learner, so two completions of one learner (two courses of two paths
/// finished at once) run one after the other instead of racing on the same path enrollments;
/// other learners' jobs run concurrently. The path enrollment's version still keeps writers
/// apart should anything else change it meanwhile.
#[derive(Debug, Default, Clone, Copy)]
pub struct UpdatePathProgressOnCourseCompletion;

impl UpdatePathProgressOnCourseCompletion {
    /// The path progress updater.
    pub fn new() -> Self {
        Self
    }

    /// Queue `default`, 5 tries, backoff 5 s, 30 s, 2 min, 30 s per try: only the database is
    /// involved (a lost race is retried at once and then finds nothing to do), and a course
    /// unpublished meanwhile may be republished. Without overlapping per learner
    /// ([`QueuedListener::overlap_key`]): a job whose learner is being advanced waits 200 ms.
    pub fn queue_options() -> QueueOptions {
        QueueOptions::on("default")
            .without_overlapping(Duration::from_millis(200))
            .tries(5)
            .backoff([
                Duration::from_secs(5),
                Duration::from_secs(30),
                Duration::from_secs(120),
            ])
            .timeout(Duration::from_secs(30))
    }
}

#[async_trait]
impl QueuedListener<EnrollmentCompleted> for UpdatePathProgressOnCourseCompletion {
    const NAME: &'static str = "UpdatePathProgressOnCourseCompletion";
    // Database work only, through the job's unit of work.
    const SHARES_TRANSACTION: bool = true;

    async fn handle(&self, event: &Envelope<EnrollmentCompleted>, job: &mut JobContext) -> Result<(), ListenerError> {
        let completed = event.event();
        let conn = job.uow().conn().await?;
        let on_course = repository::active_on_course(conn, completed.user_id, completed.course_id)
            .await
            .map_err(ListenerError::new)?;
        for mut path_enrollment in on_course {
            // The learner moves themselves along: the next course's enrollment has no inviter.
            let advanced = service::advance_in(job.uow(), completed.user_id, &mut path_enrollment, completed.course_id)
                .await
                .map_err(ListenerError::new)?;
            tracing::info!(
                path_enrollment = %path_enrollment.id(),
                course = %completed.course_id,
                advanced,
                status = %path_enrollment.status(),
                "path progress updated"
            );
        }
        Ok(())
    }

    /// The learner: their path enrollments are what the job advances.
    fn overlap_key(&self, event: &Envelope<EnrollmentCompleted>) -> String {
        format!("learner:{}", event.event().user_id)
    }

    async fn failed(&self, event: &Envelope<EnrollmentCompleted>, failure: &JobFailure) {
        tracing::error!(
            enrollment = %event.event().enrollment_id,
            user = %event.event().user_id,
            course = %event.event().course_id,
            error = %failure.error,
            attempts = failure.attempts,
            "the learner's paths could not be advanced past the completed course"
        );
    }
}
