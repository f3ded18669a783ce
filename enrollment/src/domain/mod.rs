//! The enrollment domain: the [`Enrollment`] aggregate, its lifecycle, progress and certificate.

mod certificate;
mod enrollment;
mod percentage;
mod status;

pub use certificate::{Certificate, VerificationCode};
pub(crate) use enrollment::EnrollmentParts;
pub use enrollment::{DropReason, Enrollment};
pub use percentage::{Percentage, PercentageError};
pub use status::{EnrollmentStatus, InvalidTransition};
