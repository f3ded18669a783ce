//! The course domain: the [`Course`] aggregate, its [`Lesson`]s and value objects.

mod course;
mod lesson;
mod status;
mod title;

pub use course::Course;
pub(crate) use course::CourseParts;
pub use lesson::{Lesson, LessonKind};
pub use status::{CourseStatus, InvalidTransition};
pub use title::{Title, TitleError};
