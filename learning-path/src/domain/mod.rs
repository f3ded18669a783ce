//! The learning-path domain: the [`LearningPath`] aggregate (an ordered, frozen-once-published
//! list of courses) and the [`PathEnrollment`] aggregate (a learner's way through one).

mod path;
mod path_enrollment;
mod status;

pub(crate) use path::PathParts;
pub use path::{LearningPath, PathTitle};
pub(crate) use path_enrollment::PathEnrollmentParts;
pub use path_enrollment::{DropReason, PathEnrollment};
pub use status::{InvalidTransition, PathEnrollmentStatus, PathStatus};
