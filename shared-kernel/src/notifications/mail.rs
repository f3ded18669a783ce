//! Mail messages and the transports that carry them: `log` (the default: a tracing line per
//! message), `file` (one `.eml` file per message), `smtp` (lettre), and `memory` (tests).

use std::path::PathBuf;
use std::sync::Mutex;

use async_trait::async_trait;
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::users::User;

/// A mail transport failed.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// An address could not be used.
    #[error("invalid mail address `{0}`")]
    Address(String),
    /// The message could not be built.
    #[error("cannot build the message")]
    Build(#[source] lettre::error::Error),
    /// Writing the `.eml` file failed.
    #[error("cannot write the mail file {path}")]
    File {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The SMTP server refused or could not be reached.
    #[error("SMTP delivery failed")]
    Smtp(#[source] lettre::transport::smtp::Error),
}

/// A mail in the shape of a Laravel `MailMessage`: subject, greeting, lines before the action,
/// an optional action button, lines after it, salutation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MailMessage {
    subject: String,
    greeting: Option<String>,
    intro: Vec<String>,
    action: Option<(String, String)>,
    outro: Vec<String>,
    salutation: Option<String>,
}

impl MailMessage {
    /// A message with this subject.
    pub fn new(subject: impl Into<String>) -> Self {
        Self {
            subject: subject.into(),
            ..Self::default()
        }
    }

    /// The greeting line.
    pub fn greeting(mut self, greeting: impl Into<String>) -> Self {
        self.greeting = Some(greeting.into());
        self
    }

    /// A paragraph: before the action if none was added yet, after it otherwise.
    pub fn line(mut self, line: impl Into<String>) -> Self {
        if self.action.is_none() {
            self.intro.push(line.into());
        } else {
            self.outro.push(line.into());
        }
        self
    }

    /// The action button: its text and URL.
    pub fn action(mut self, text: impl Into<String>, url: impl Into<String>) -> Self {
        self.action = Some((text.into(), url.into()));
        self
    }

    /// The closing (default: "Salam, Enteraksi").
    pub fn salutation(mut self, salutation: impl Into<String>) -> Self {
        self.salutation = Some(salutation.into());
        self
    }

    /// The subject.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The action's text and URL.
    pub fn action_button(&self) -> Option<(&str, &str)> {
        self.action.as_ref().map(|(t, u)| (t.as_str(), u.as_str()))
    }

    /// Every paragraph, in order (greeting, lines, action text, lines, salutation).
    pub fn lines(&self) -> Vec<&str> {
        let mut lines: Vec<&str> = self.greeting.iter().map(String::as_str).collect();
        lines.extend(self.intro.iter().map(String::as_str));
        lines.extend(self.action.iter().map(|(t, _)| t.as_str()));
        lines.extend(self.outro.iter().map(String::as_str));
        lines
    }

    fn salutation_text(&self) -> &str {
        self.salutation.as_deref().unwrap_or("Salam,\nEnteraksi")
    }

    /// The plain-text body.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        if let Some(greeting) = &self.greeting {
            out.push_str(greeting);
            out.push_str("\n\n");
        }
        for line in &self.intro {
            out.push_str(line);
            out.push_str("\n\n");
        }
        if let Some((text, url)) = &self.action {
            out.push_str(&format!("{text}: {url}\n\n"));
        }
        for line in &self.outro {
            out.push_str(line);
            out.push_str("\n\n");
        }
        out.push_str(self.salutation_text());
        out.push('\n');
        out
    }

    /// The HTML body (text is escaped).
    pub fn render_html(&self) -> String {
        let p = |s: &str| format!("<p>{}</p>\n", escape(s));
        let mut out = String::from("<!doctype html>\n<html><body>\n");
        if let Some(greeting) = &self.greeting {
            out.push_str(&format!("<h1>{}</h1>\n", escape(greeting)));
        }
        self.intro.iter().for_each(|l| out.push_str(&p(l)));
        if let Some((text, url)) = &self.action {
            out.push_str(&format!(
                "<p><a href=\"{}\" style=\"padding:8px 16px;background:#2d3748;color:#fff;border-radius:4px;text-decoration:none\">{}</a></p>\n",
                escape(url),
                escape(text)
            ));
        }
        self.outro.iter().for_each(|l| out.push_str(&p(l)));
        out.push_str(&format!(
            "<p>{}</p>\n</body></html>\n",
            escape(self.salutation_text()).replace('\n', "<br>")
        ));
        out
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A rendered mail, ready for a transport.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OutgoingMail {
    /// Sender (name, address).
    pub from: (String, String),
    /// Recipient (name, address).
    pub to: (String, String),
    /// Subject.
    pub subject: String,
    /// Plain-text body.
    pub text: String,
    /// HTML body.
    pub html: String,
    /// `(event, listener, recipient, channel)`: also sent as the `Message-ID`.
    pub idempotency_key: String,
}

impl OutgoingMail {
    /// Renders `message` for `to`.
    pub fn new(from: &(String, String), to: &User, message: &MailMessage, idempotency_key: &str) -> Self {
        Self {
            from: from.clone(),
            to: (to.name().to_owned(), to.email().as_str().to_owned()),
            subject: message.subject().to_owned(),
            text: message.render_text(),
            html: message.render_html(),
            idempotency_key: idempotency_key.to_owned(),
        }
    }

    /// The RFC 5322 message.
    pub fn to_message(&self) -> Result<Message, MailError> {
        let mailbox = |(name, addr): &(String, String)| -> Result<Mailbox, MailError> {
            let address = addr.parse().map_err(|_| MailError::Address(addr.clone()))?;
            Ok(Mailbox::new(Some(name.clone()), address))
        };
        Message::builder()
            .from(mailbox(&self.from)?)
            .to(mailbox(&self.to)?)
            .subject(self.subject.clone())
            .message_id(Some(message_id(&self.idempotency_key)))
            .multipart(MultiPart::alternative_plain_html(self.text.clone(), self.html.clone()))
            .map_err(MailError::Build)
    }
}

/// Carries mail somewhere.
#[async_trait]
pub trait MailTransport: Send + Sync + 'static {
    /// The transport's configuration name (`log`, `file`, `smtp`, `memory`).
    fn name(&self) -> &'static str;
    /// Sends one mail.
    async fn send(&self, mail: &OutgoingMail) -> Result<(), MailError>;
}

/// Writes each mail as a log line (the default: nothing leaves the machine).
#[derive(Debug, Default, Clone, Copy)]
pub struct LogTransport;

#[async_trait]
impl MailTransport for LogTransport {
    fn name(&self) -> &'static str {
        "log"
    }

    async fn send(&self, mail: &OutgoingMail) -> Result<(), MailError> {
        tracing::info!(to = %mail.to.1, subject = %mail.subject, key = %mail.idempotency_key, "mail (log transport)");
        tracing::debug!(body = %mail.text, "mail body");
        Ok(())
    }
}

/// Writes each mail as one `.eml` file in a folder (created if missing): one file per send,
/// named by the idempotency key and a unique suffix, so a resend is a second file and a
/// duplicate can be seen.
#[derive(Debug, Clone)]
pub struct FileTransport {
    dir: PathBuf,
}

impl FileTransport {
    /// Mail goes to `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }
}

#[async_trait]
impl MailTransport for FileTransport {
    fn name(&self) -> &'static str {
        "file"
    }

    async fn send(&self, mail: &OutgoingMail) -> Result<(), MailError> {
        let bytes = mail.to_message()?.formatted();
        let file_name: String = mail
            .idempotency_key
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' })
            .collect();
        let path = self
            .dir
            .join(format!("{file_name}.{}.eml", uuid::Uuid::now_v7().simple()));
        let io = |source| MailError::File {
            path: path.display().to_string(),
            source,
        };
        tokio::fs::create_dir_all(&self.dir).await.map_err(io)?;
        tokio::fs::write(&path, bytes).await.map_err(io)
    }
}

/// Delivers through an SMTP server (lettre).
#[derive(Clone)]
pub struct SmtpTransport {
    inner: AsyncSmtpTransport<Tokio1Executor>,
}

impl std::fmt::Debug for SmtpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SmtpTransport")
    }
}

impl SmtpTransport {
    /// From a URL such as `smtp://user:pass@host:587?tls=required` or `smtps://host`.
    pub fn from_url(url: &str) -> Result<Self, MailError> {
        let inner = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(MailError::Smtp)?
            .build();
        Ok(Self { inner })
    }
}

#[async_trait]
impl MailTransport for SmtpTransport {
    fn name(&self) -> &'static str {
        "smtp"
    }

    async fn send(&self, mail: &OutgoingMail) -> Result<(), MailError> {
        self.inner
            .send(mail.to_message()?)
            .await
            .map(|_| ())
            .map_err(MailError::Smtp)
    }
}

/// Keeps every mail in memory (tests, the demo's summary).
#[derive(Debug, Default)]
pub struct MemoryTransport {
    sent: Mutex<Vec<OutgoingMail>>,
}

impl MemoryTransport {
    /// Everything sent so far.
    pub fn sent(&self) -> Vec<OutgoingMail> {
        self.sent.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

#[async_trait]
impl MailTransport for MemoryTransport {
    fn name(&self) -> &'static str {
        "memory"
    }

    async fn send(&self, mail: &OutgoingMail) -> Result<(), MailError> {
        self.sent.lock().unwrap_or_else(|p| p.into_inner()).push(mail.clone());
        Ok(())
    }
}

/// The `Message-ID` (`<…@enteraksi>`) of the mail whose idempotency key is `key`: the same for
/// every send of one mail, so a receiving system can drop a resend.
pub fn message_id(key: &str) -> String {
    let part: String = key
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '.' })
        .collect();
    format!("<{part}@enteraksi>")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::UserId;

    fn welcome() -> MailMessage {
        MailMessage::new("Selamat bergabung di Rust Dasar")
            .greeting("Halo, Siti!")
            .line("Anda telah berhasil mendaftar di kursus \"Rust Dasar\".")
            .action("Mulai Belajar", "https://lms.example.id/courses/1/learn")
            .line("Semoga sukses dalam pembelajaran Anda!")
    }

    #[test]
    fn lines_before_the_action_come_before_it_and_after_after() {
        let text = welcome().render_text();
        let action = text.find("Mulai Belajar: https://").unwrap();
        assert!(text.find("berhasil mendaftar").unwrap() < action);
        assert!(text.find("Semoga sukses").unwrap() > action);
    }

    #[test]
    fn html_escapes_text() {
        let html = MailMessage::new("s").line("<script>").render_html();
        assert!(html.contains("&lt;script&gt;"));
        assert!(!html.contains("<script>"));
    }

    #[tokio::test]
    async fn the_file_transport_writes_one_eml_per_message() {
        let dir = tempfile::tempdir().unwrap();
        let user = User::new(UserId::new(), "Siti", "siti@example.id", "id").unwrap();
        let mail = OutgoingMail::new(
            &("Enteraksi".into(), "noreply@example.id".into()),
            &user,
            &welcome(),
            "e:l:u:mail",
        );
        FileTransport::new(dir.path().join("mail")).send(&mail).await.unwrap();
        let files: Vec<_> = std::fs::read_dir(dir.path().join("mail")).unwrap().collect();
        assert_eq!(files.len(), 1);
        let body = std::fs::read_to_string(files[0].as_ref().unwrap().path()).unwrap();
        assert!(body.contains("Subject: Selamat bergabung di Rust Dasar"));
        assert!(body.contains("Message-ID: <e.l.u.mail@enteraksi>"));
    }

    #[tokio::test]
    async fn the_file_transport_keeps_a_resend_as_a_second_file_with_the_same_message_id() {
        let dir = tempfile::tempdir().unwrap();
        let user = User::new(UserId::new(), "Siti", "siti@example.id", "id").unwrap();
        let mail = OutgoingMail::new(
            &("Enteraksi".into(), "noreply@example.id".into()),
            &user,
            &welcome(),
            "e:l:u:mail",
        );
        let transport = FileTransport::new(dir.path());
        transport.send(&mail).await.unwrap();
        transport.send(&mail).await.unwrap();
        let files: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|f| f.unwrap().path())
            .collect();
        assert_eq!(files.len(), 2);
        for file in files {
            assert!(
                std::fs::read_to_string(file)
                    .unwrap()
                    .contains("Message-ID: <e.l.u.mail@enteraksi>")
            );
        }
    }

    #[test]
    fn an_smtp_url_that_cannot_be_parsed_is_an_error() {
        assert!(SmtpTransport::from_url("not a url").is_err());
    }
}
