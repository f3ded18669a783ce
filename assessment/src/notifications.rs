//! What the learner is told when an attempt is graded, in Bahasa Indonesia like the other
//! contexts' notifications, by mail and in the database channel.

use serde_json::{Value, json};
use shared_kernel::notifications::{AppUrl, MailMessage, Notification};
use shared_kernel::users::User;
use shared_kernel::{AssessmentId, AttemptId, CourseId};

use crate::events::AssessmentGraded;

/// Tells a learner their attempt is graded: the score and whether they passed
/// (`assessment.graded`).
#[derive(Debug, Clone, PartialEq)]
pub struct AssessmentResult {
    attempt_id: AttemptId,
    assessment_id: AssessmentId,
    assessment_title: String,
    course_id: CourseId,
    score: u32,
    max_score: u32,
    percentage: f64,
    passed: bool,
}

impl AssessmentResult {
    /// The result reported by `graded`.
    pub fn new(graded: &AssessmentGraded) -> Self {
        Self {
            attempt_id: graded.attempt_id,
            assessment_id: graded.assessment_id,
            assessment_title: graded.assessment_title.clone(),
            course_id: graded.course_id,
            score: graded.score,
            max_score: graded.max_score,
            percentage: graded.percentage,
            passed: graded.passed,
        }
    }

    fn verdict(&self) -> &'static str {
        if self.passed { "Lulus" } else { "Belum lulus" }
    }

    /// The percentage as Indonesians write it: `70`, `66,67`.
    fn percent_text(&self) -> String {
        let text = format!("{:.2}", self.percentage);
        let text = text.trim_end_matches('0').trim_end_matches('.');
        text.replace('.', ",")
    }
}

impl Notification for AssessmentResult {
    fn notification_type(&self) -> &'static str {
        "assessment.graded"
    }

    fn to_mail(&self, to: &User, app: &AppUrl) -> MailMessage {
        let title = &self.assessment_title;
        let closing = if self.passed {
            "Selamat! Anda telah lulus penilaian ini."
        } else {
            "Jangan menyerah, pelajari lagi materinya dan coba lagi!"
        };
        MailMessage::new(format!("Penilaian Anda: {title}"))
            .greeting(format!("Halo, {}!", to.name()))
            .line(format!("Penilaian Anda untuk \"{title}\" telah selesai dinilai."))
            .line(format!(
                "Nilai: {} dari {} ({}%)",
                self.score,
                self.max_score,
                self.percent_text()
            ))
            .line(format!("Status: {}", self.verdict()))
            .action(
                "Lihat Hasil",
                app.join(&format!(
                    "courses/{}/assessments/{}",
                    self.course_id, self.assessment_id
                )),
            )
            .line(closing)
    }

    fn to_database(&self, _to: &User) -> Value {
        json!({
            "type": "assessment.graded",
            "attempt_id": self.attempt_id,
            "assessment_id": self.assessment_id,
            "assessment_title": self.assessment_title,
            "course_id": self.course_id,
            "score": self.score,
            "max_score": self.max_score,
            "percentage": self.percentage,
            "passed": self.passed,
            "message": format!(
                "Penilaian \"{}\" telah dinilai: {}/{} ({})",
                self.assessment_title,
                self.score,
                self.max_score,
                self.verdict().to_lowercase()
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use shared_kernel::{EnrollmentId, UserId};

    use super::*;

    fn siti() -> User {
        User::new(UserId::new(), "Siti", "siti@example.id", "id").unwrap()
    }

    fn graded(score: u32, passed: bool) -> AssessmentGraded {
        AssessmentGraded {
            attempt_id: AttemptId::new(),
            assessment_id: AssessmentId::new(),
            assessment_title: "Kuis Rust".into(),
            user_id: UserId::new(),
            course_id: CourseId::new(),
            lesson_id: None,
            enrollment_id: EnrollmentId::new(),
            score,
            max_score: 3,
            percentage: f64::from(score) * 100.0 / 3.0,
            passed,
            graded_by: None,
        }
    }

    #[test]
    fn a_passed_result_mail_has_the_score_the_verdict_and_a_link_to_the_assessment() {
        let event = graded(3, true);
        let app = AppUrl::parse("https://lms.example.id").unwrap();

        let mail = AssessmentResult::new(&event).to_mail(&siti(), &app);

        assert_eq!(mail.subject(), "Penilaian Anda: Kuis Rust");
        assert_eq!(
            mail.lines(),
            [
                "Halo, Siti!",
                "Penilaian Anda untuk \"Kuis Rust\" telah selesai dinilai.",
                "Nilai: 3 dari 3 (100%)",
                "Status: Lulus",
                "Lihat Hasil",
                "Selamat! Anda telah lulus penilaian ini.",
            ]
        );
        let url = format!(
            "https://lms.example.id/courses/{}/assessments/{}",
            event.course_id, event.assessment_id
        );
        assert_eq!(mail.action_button(), Some(("Lihat Hasil", url.as_str())));
    }

    #[test]
    fn a_failed_result_says_not_yet_passed_in_mail_and_database() {
        let event = graded(2, false);
        let result = AssessmentResult::new(&event);
        let app = AppUrl::parse("https://lms.example.id").unwrap();

        let mail = result.to_mail(&siti(), &app);
        let payload = result.to_database(&siti());

        assert!(mail.lines().contains(&"Nilai: 2 dari 3 (66,67%)"));
        assert!(mail.lines().contains(&"Status: Belum lulus"));
        assert_eq!(payload["type"], "assessment.graded");
        assert_eq!(payload["passed"], false);
        assert_eq!(
            payload["message"],
            "Penilaian \"Kuis Rust\" telah dinilai: 2/3 (belum lulus)"
        );
    }
}
