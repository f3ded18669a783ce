//! What the learner is told, in the seeds' words (Bahasa Indonesia), by mail and in the
//! database channel.

use serde_json::{Value, json};
use shared_kernel::notifications::{AppUrl, MailMessage, Notification};
use shared_kernel::users::User;
use shared_kernel::{CourseId, EnrollmentId};

/// Welcomes a learner to the course they enrolled in (`enrollment.welcome`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WelcomeToCourse {
    course_id: CourseId,
    course_title: String,
}

impl WelcomeToCourse {
    /// The welcome to `course_title`.
    pub fn new(course_id: CourseId, course_title: impl Into<String>) -> Self {
        Self {
            course_id,
            course_title: course_title.into(),
        }
    }
}

impl Notification for WelcomeToCourse {
    fn notification_type(&self) -> &'static str {
        "enrollment.welcome"
    }

    fn to_mail(&self, to: &User, app: &AppUrl) -> MailMessage {
        let title = &self.course_title;
        MailMessage::new(format!("Selamat bergabung di {title}"))
            .greeting(format!("Halo, {}!", to.name()))
            .line(format!("Anda telah berhasil mendaftar di kursus \"{title}\"."))
            .line("Mulai perjalanan belajar Anda sekarang!")
            .action("Mulai Belajar", app.join(&format!("courses/{}/learn", self.course_id)))
            .line("Semoga sukses dalam pembelajaran Anda!")
    }

    fn to_database(&self, _to: &User) -> Value {
        json!({
            "type": "enrollment.welcome",
            "course_id": self.course_id,
            "course_title": self.course_title,
            "message": format!("Anda berhasil mendaftar di kursus \"{}\"", self.course_title),
        })
    }
}

/// Congratulates a learner on completing a course (`enrollment.completed`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CourseCompleted {
    course_id: CourseId,
    course_title: String,
    enrollment_id: EnrollmentId,
}

impl CourseCompleted {
    /// The congratulation for completing `course_title` through `enrollment_id`.
    pub fn new(course_id: CourseId, course_title: impl Into<String>, enrollment_id: EnrollmentId) -> Self {
        Self {
            course_id,
            course_title: course_title.into(),
            enrollment_id,
        }
    }
}

impl Notification for CourseCompleted {
    fn notification_type(&self) -> &'static str {
        "enrollment.completed"
    }

    fn to_mail(&self, to: &User, app: &AppUrl) -> MailMessage {
        let title = &self.course_title;
        MailMessage::new(format!("Selamat! Anda telah menyelesaikan {title}"))
            .greeting(format!("Selamat, {}!", to.name()))
            .line(format!("Anda telah berhasil menyelesaikan kursus \"{title}\"."))
            .line("Sertifikat Anda akan segera tersedia.")
            .action(
                "Lihat Sertifikat",
                app.join(&format!("certificates/{}", self.enrollment_id)),
            )
            .line("Terima kasih telah belajar bersama kami!")
    }

    fn to_database(&self, _to: &User) -> Value {
        json!({
            "type": "enrollment.completed",
            "course_id": self.course_id,
            "course_title": self.course_title,
            "enrollment_id": self.enrollment_id,
            "message": format!("Selamat! Anda menyelesaikan kursus \"{}\"", self.course_title),
        })
    }
}

#[cfg(test)]
mod tests {
    use shared_kernel::UserId;

    use super::*;

    fn siti() -> User {
        User::new(UserId::new(), "Siti", "siti@example.id", "id").unwrap()
    }

    fn app() -> AppUrl {
        AppUrl::parse("https://lms.example.id").unwrap()
    }

    #[test]
    fn the_welcome_mail_has_the_seeds_texts_in_order() {
        let course = CourseId::new();
        let mail = WelcomeToCourse::new(course, "Rust Dasar").to_mail(&siti(), &app());

        assert_eq!(mail.subject(), "Selamat bergabung di Rust Dasar");
        assert_eq!(
            mail.lines(),
            [
                "Halo, Siti!",
                "Anda telah berhasil mendaftar di kursus \"Rust Dasar\".",
                "Mulai perjalanan belajar Anda sekarang!",
                "Mulai Belajar",
                "Semoga sukses dalam pembelajaran Anda!",
            ]
        );
        let learn = format!("https://lms.example.id/courses/{course}/learn");
        assert_eq!(mail.action_button(), Some(("Mulai Belajar", learn.as_str())));
    }

    #[test]
    fn the_welcome_database_payload_has_the_seeds_keys() {
        let course = CourseId::new();
        let payload = WelcomeToCourse::new(course, "Rust Dasar").to_database(&siti());

        assert_eq!(
            payload,
            json!({
                "type": "enrollment.welcome",
                "course_id": course,
                "course_title": "Rust Dasar",
                "message": "Anda berhasil mendaftar di kursus \"Rust Dasar\"",
            })
        );
    }

    #[test]
    fn the_completion_mail_has_the_seeds_texts_and_links_to_the_certificate() {
        let enrollment = EnrollmentId::new();
        let mail = CourseCompleted::new(CourseId::new(), "Rust Dasar", enrollment).to_mail(&siti(), &app());

        assert_eq!(mail.subject(), "Selamat! Anda telah menyelesaikan Rust Dasar");
        assert_eq!(
            mail.lines(),
            [
                "Selamat, Siti!",
                "Anda telah berhasil menyelesaikan kursus \"Rust Dasar\".",
                "Sertifikat Anda akan segera tersedia.",
                "Lihat Sertifikat",
                "Terima kasih telah belajar bersama kami!",
            ]
        );
        let certificate = format!("https://lms.example.id/certificates/{enrollment}");
        assert_eq!(mail.action_button(), Some(("Lihat Sertifikat", certificate.as_str())));
    }

    #[test]
    fn the_completion_database_payload_has_the_seeds_keys() {
        let (course, enrollment) = (CourseId::new(), EnrollmentId::new());
        let payload = CourseCompleted::new(course, "Rust Dasar", enrollment).to_database(&siti());

        assert_eq!(
            payload,
            json!({
                "type": "enrollment.completed",
                "course_id": course,
                "course_title": "Rust Dasar",
                "enrollment_id": enrollment,
                "message": "Selamat! Anda menyelesaikan kursus \"Rust Dasar\"",
            })
        );
    }
}

/// Reminds a learner who enrolled some days ago and has not completed a lesson yet
/// (`enrollment.inactivity_reminder`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InactivityReminder {
    course_id: CourseId,
    course_title: String,
    days: u64,
}

impl InactivityReminder {
    /// The reminder to start `course_title`, `days` after enrolling.
    pub fn new(course_id: CourseId, course_title: impl Into<String>, days: u64) -> Self {
        Self {
            course_id,
            course_title: course_title.into(),
            days,
        }
    }
}

impl Notification for InactivityReminder {
    fn notification_type(&self) -> &'static str {
        "enrollment.inactivity_reminder"
    }

    fn to_mail(&self, to: &User, app: &AppUrl) -> MailMessage {
        let title = &self.course_title;
        MailMessage::new(format!("Yuk, mulai belajar {title}"))
            .greeting(format!("Halo, {}!", to.name()))
            .line(format!(
                "Sudah {} hari sejak Anda mendaftar di kursus \"{title}\", tetapi belum ada pelajaran yang Anda selesaikan.",
                self.days
            ))
            .line("Luangkan waktu sebentar hari ini untuk pelajaran pertama Anda.")
            .action("Lanjutkan Belajar", app.join(&format!("courses/{}/learn", self.course_id)))
            .line("Semangat belajar!")
    }

    fn to_database(&self, _to: &User) -> Value {
        json!({
            "type": "enrollment.inactivity_reminder",
            "course_id": self.course_id,
            "course_title": self.course_title,
            "days": self.days,
            "message": format!("Anda belum memulai kursus \"{}\". Yuk, mulai belajar hari ini!", self.course_title),
        })
    }
}
