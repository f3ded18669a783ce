//! Course progress follows lesson completions, in the same transaction.

use std::sync::Arc;

use async_trait::async_trait;
use shared_kernel::{Envelope, ListenerError, SyncListener, UnitOfWork};

use crate::events::LessonCompleted;
use crate::ports::ProgressTracking;

/// On [`LessonCompleted`], recomputes the enrollment's course progress and completes the
/// enrollment on reaching 100 % (register it **sync**: it is a consistency rule, and its failure
/// must roll the lesson completion back).
#[derive(Clone)]
pub struct RecalculateCourseProgress {
    tracking: Arc<dyn ProgressTracking>,
}

impl RecalculateCourseProgress {
    /// Recalculates through `tracking` (in production, [`CourseProgressTracker`](crate::CourseProgressTracker)).
    pub fn new(tracking: Arc<dyn ProgressTracking>) -> Self {
        Self { tracking }
    }
}

#[async_trait]
impl SyncListener<LessonCompleted> for RecalculateCourseProgress {
    const NAME: &'static str = "RecalculateCourseProgress";

    async fn handle(&self, event: &Envelope<LessonCompleted>, uow: &mut UnitOfWork) -> Result<(), ListenerError> {
        let enrollment = event.event().enrollment_id;
        let progress = self
            .tracking
            .recalculate_course_progress(uow, enrollment)
            .await
            .map_err(ListenerError::new)?;
        tracing::debug!(%enrollment, progress = progress.value(), "course progress recalculated");
        Ok(())
    }
}
