//! The certificate of a completed enrollment and its public verification code.

use std::fmt;

use chrono::{DateTime, Utc};
use rand::Rng;
use shared_kernel::{CertificateId, CourseId, EnrollmentId, UserId};

/// A certificate's public verification code: [`VerificationCode::LEN`] characters from an
/// upper-case alphabet without look-alikes (no `0`/`O`, `1`/`I`), so it can be read aloud or
/// typed from paper. 32 symbols × 12 places = 60 random bits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VerificationCode(String);

const ALPHABET: &[u8; 32] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

impl VerificationCode {
    /// The code's length.
    pub const LEN: usize = 12;

    /// A fresh random code.
    pub(crate) fn generate() -> Self {
        let mut rng = rand::rng();
        let code = (0..Self::LEN)
            .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
            .collect();
        Self(code)
    }

    /// Reads a code as a person typed it: surrounding spaces and lower case are forgiven;
    /// anything that cannot be a code is `None`.
    pub fn parse(value: &str) -> Option<Self> {
        let code = value.trim().to_ascii_uppercase();
        let valid = code.len() == Self::LEN && code.bytes().all(|b| ALPHABET.contains(&b));
        valid.then_some(Self(code))
    }

    /// The code.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for VerificationCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A certificate of completion: one per completed enrollment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    pub(crate) id: CertificateId,
    pub(crate) enrollment_id: EnrollmentId,
    pub(crate) user_id: UserId,
    pub(crate) course_id: CourseId,
    pub(crate) verification_code: VerificationCode,
    pub(crate) issued_at: DateTime<Utc>,
}

impl Certificate {
    /// The certificate's id.
    pub fn id(&self) -> CertificateId {
        self.id
    }

    /// The completed enrollment it certifies.
    pub fn enrollment_id(&self) -> EnrollmentId {
        self.enrollment_id
    }

    /// The learner.
    pub fn user_id(&self) -> UserId {
        self.user_id
    }

    /// The course.
    pub fn course_id(&self) -> CourseId {
        self.course_id
    }

    /// The public code anyone can verify it by.
    pub fn verification_code(&self) -> &VerificationCode {
        &self.verification_code
    }

    /// When it was issued.
    pub fn issued_at(&self) -> DateTime<Utc> {
        self.issued_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_code_has_twelve_upper_case_alphanumerics_without_look_alikes() {
        let code = VerificationCode::generate();
        assert_eq!(code.as_str().len(), 12);
        assert!(
            code.as_str()
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        );
        assert!(!code.as_str().contains(['0', 'O', '1', 'I']));
    }

    #[test]
    fn generated_codes_differ() {
        let codes: std::collections::HashSet<_> = (0..1000).map(|_| VerificationCode::generate()).collect();
        assert_eq!(codes.len(), 1000);
    }

    #[test]
    fn a_typed_code_is_forgiven_case_and_spaces_but_not_wrong_characters() {
        let code = VerificationCode::generate();
        let typed = format!("  {}  ", code.as_str().to_lowercase());
        assert_eq!(VerificationCode::parse(&typed), Some(code));
        assert_eq!(VerificationCode::parse("ABCDEFGHJKL0"), None);
        assert_eq!(VerificationCode::parse("ABC"), None);
    }
}
