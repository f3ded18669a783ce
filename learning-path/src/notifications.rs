//! What the learner is told about their paths, in the seeds' words (Bahasa Indonesia), by mail
//! and in the database channel.

use serde_json::{Value, json};
use shared_kernel::LearningPathId;
use shared_kernel::notifications::{AppUrl, MailMessage, Notification};
use shared_kernel::users::User;

/// Welcomes a learner to the path they enrolled in (`learning_path.welcome`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WelcomeToLearningPath {
    path_id: LearningPathId,
    path_title: String,
}

impl WelcomeToLearningPath {
    /// The welcome to `path_title`.
    pub fn new(path_id: LearningPathId, path_title: impl Into<String>) -> Self {
        Self {
            path_id,
            path_title: path_title.into(),
        }
    }
}

impl Notification for WelcomeToLearningPath {
    fn notification_type(&self) -> &'static str {
        "learning_path.welcome"
    }

    fn to_mail(&self, to: &User, app: &AppUrl) -> MailMessage {
        let title = &self.path_title;
        MailMessage::new(format!("Selamat bergabung di {title}"))
            .greeting(format!("Halo, {}!", to.name()))
            .line(format!("Anda telah berhasil mendaftar di jalur belajar \"{title}\"."))
            .line("Kursus pertama Anda sudah terbuka. Mulai perjalanan belajar Anda sekarang!")
            .action(
                "Lihat Jalur Belajar",
                app.join(&format!("learning-paths/{}", self.path_id)),
            )
            .line("Semoga sukses dalam pembelajaran Anda!")
    }

    fn to_database(&self, _to: &User) -> Value {
        json!({
            "type": "learning_path.welcome",
            "path_id": self.path_id,
            "path_title": self.path_title,
            "message": format!("Anda berhasil mendaftar di jalur belajar \"{}\"", self.path_title),
        })
    }
}

/// Congratulates a learner on completing a path (`learning_path.completed`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LearningPathCompleted {
    path_id: LearningPathId,
    path_title: String,
}

impl LearningPathCompleted {
    /// The congratulation for completing `path_title`.
    pub fn new(path_id: LearningPathId, path_title: impl Into<String>) -> Self {
        Self {
            path_id,
            path_title: path_title.into(),
        }
    }
}

impl Notification for LearningPathCompleted {
    fn notification_type(&self) -> &'static str {
        "learning_path.completed"
    }

    fn to_mail(&self, to: &User, app: &AppUrl) -> MailMessage {
        let title = &self.path_title;
        MailMessage::new(format!("Selamat! Anda telah menyelesaikan {title}"))
            .greeting(format!("Selamat, {}!", to.name()))
            .line(format!(
                "Anda telah berhasil menyelesaikan seluruh kursus di jalur belajar \"{title}\"."
            ))
            .action(
                "Lihat Jalur Belajar",
                app.join(&format!("learning-paths/{}", self.path_id)),
            )
            .line("Terima kasih telah belajar bersama kami!")
    }

    fn to_database(&self, _to: &User) -> Value {
        json!({
            "type": "learning_path.completed",
            "path_id": self.path_id,
            "path_title": self.path_title,
            "message": format!("Selamat! Anda menyelesaikan jalur belajar \"{}\"", self.path_title),
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
    fn the_path_welcome_mail_greets_in_bahasa_indonesia_and_links_to_the_path() {
        let path = LearningPathId::new();
        let mail = WelcomeToLearningPath::new(path, "Jalur Rust").to_mail(&siti(), &app());

        assert_eq!(mail.subject(), "Selamat bergabung di Jalur Rust");
        assert_eq!(
            mail.lines(),
            [
                "Halo, Siti!",
                "Anda telah berhasil mendaftar di jalur belajar \"Jalur Rust\".",
                "Kursus pertama Anda sudah terbuka. Mulai perjalanan belajar Anda sekarang!",
                "Lihat Jalur Belajar",
                "Semoga sukses dalam pembelajaran Anda!",
            ]
        );
        let link = format!("https://lms.example.id/learning-paths/{path}");
        assert_eq!(mail.action_button(), Some(("Lihat Jalur Belajar", link.as_str())));
    }

    #[test]
    fn the_path_completion_mail_congratulates_and_the_database_payload_names_the_path() {
        let path = LearningPathId::new();
        let completed = LearningPathCompleted::new(path, "Jalur Rust");
        let mail = completed.to_mail(&siti(), &app());

        assert_eq!(mail.subject(), "Selamat! Anda telah menyelesaikan Jalur Rust");
        assert_eq!(mail.lines()[0], "Selamat, Siti!");
        assert_eq!(
            completed.to_database(&siti()),
            json!({
                "type": "learning_path.completed",
                "path_id": path,
                "path_title": "Jalur Rust",
                "message": "Selamat! Anda menyelesaikan jalur belajar \"Jalur Rust\"",
            })
        );
        assert_eq!(
            WelcomeToLearningPath::new(path, "Jalur Rust").to_database(&siti())["type"],
            "learning_path.welcome"
        );
    }
}
