//! The EventServiceProvider: one readable place that registers every listener of the catalog
//! (DESIGN.md §5), in order, with its mode and queue — and does nothing else.

use std::sync::Arc;

use assessment::{AnswerGraded, AssessmentGraded, AssessmentSubmitted, AttemptStarted, NotifyUserOfGradedAssessment};
use course::{CourseArchived, CoursePublished, CourseUnpublished};
use enrollment::{
    EnrollmentCompleted, EnrollmentNotifications, GenerateCertificate, UserDropped, UserEnrolled, UserReenrolled,
};
use learning_path::{
    CourseUnlockedInPath, PathCompleted, PathDropped, PathEnrollmentCreated, SendPathCompletionCongratulations,
    SendPathEnrollmentWelcome, UpdatePathProgressOnCourseCompletion,
};
use progress::{
    CompleteLessonOnPassedAssessment, CourseProgressTracker, LessonCompleted, ProgressUpdated,
    RecalculateCourseProgress,
};
use shared_kernel::QueueOptions;
use shared_kernel::integrations::webhooks::{DeliverWebhook, FanOutWebhooks, WEBHOOK_QUEUE, webhook_queue_options};
use shared_kernel::integrations::xapi::{ForwardToLrs, LrsClient, XapiMappings, XapiProfile, xapi_queue_options};
use shared_kernel::notifications::{AppUrl, MailTransport, NotificationSender, SendMail, notification_queue_options};
use shared_kernel::sqlx::migrate::Migrator;
use shared_kernel::{DomainEvent, LogDomainEvent, RateLimit, Registry, RegistryError, StateTransitioned};

/// What listeners are built from.
pub struct Dependencies {
    /// Delivers notifications (database and mail).
    pub notifier: Arc<dyn NotificationSender>,
    /// Carries the mail the notifier enqueues (the `SendMail` job).
    pub mail: Arc<dyn MailTransport>,
    /// The public base URL for links.
    pub app_url: AppUrl,
    /// How long after enrolling a learner who has not started is reminded.
    pub inactivity_reminder: std::time::Duration,
    /// How long a webhook receiver may take to answer.
    pub webhook_timeout: std::time::Duration,
    /// The learning record store statements are forwarded to, if one is configured, and how
    /// long it may take to answer.
    pub lrs: Option<(LrsClient, std::time::Duration)>,
    /// At most this many mails per interval across every worker (`MAIL_RATE_LIMIT`); `None`:
    /// unlimited.
    pub mail_rate_limit: Option<RateLimit>,
}

/// Every context's events that are learning records, mapped to xAPI statements by the
/// context that owns them.
pub fn xapi_mappings() -> XapiMappings {
    let mappings = enrollment::xapi_mappings(XapiMappings::new());
    let mappings = progress::xapi_mappings(mappings);
    let mappings = assessment::xapi_mappings(mappings);
    learning_path::xapi_mappings(mappings)
}

/// Every crate's migrations, the kernel's first.
pub fn migrators() -> Vec<Migrator> {
    vec![
        shared_kernel::migrator(),
        course::migrator(),
        enrollment::migrator(),
        assessment::migrator(),
        progress::migrator(),
        learning_path::migrator(),
    ]
}

/// Every registration of the catalog.
pub fn register(deps: &Dependencies) -> Result<Registry, RegistryError> {
    let notifier = &deps.notifier;
    let mail_options = match deps.mail_rate_limit {
        Some(limit) => notification_queue_options().rate_limit(limit),
        None => notification_queue_options(),
    };
    let builder = Registry::builder()
        // The audit trail: first for every event, in the command's own transaction.
        // ProgressUpdated is broadcast only: too noisy to audit.
        .listen_all_sync(LogDomainEvent, &[ProgressUpdated::NAME])
        // Notification mail: each mail is a job of its own, sent outside any transaction, within
        // the provider's rate limit if one is configured.
        .job(SendMail::new(deps.mail.clone()), mail_options)
        // course
        .event::<CoursePublished>()
        .event::<CourseUnpublished>()
        .event::<CourseArchived>()
        // enrollment: its events in the catalog's order, then the learner's notifications (one
        // subscriber: welcome, inactivity reminder, congratulation), then the rest.
        .event::<UserEnrolled>()
        .event::<UserReenrolled>()
        .event::<EnrollmentCompleted>()
        .subscribe(EnrollmentNotifications::new(notifier.clone(), deps.inactivity_reminder))
        .listen_queued::<EnrollmentCompleted, _>(GenerateCertificate::new(), GenerateCertificate::queue_options())
        .listen_queued::<EnrollmentCompleted, _>(
            UpdatePathProgressOnCourseCompletion::new(),
            UpdatePathProgressOnCourseCompletion::queue_options(),
        )
        .event::<UserDropped>()
        // progress
        .listen_sync::<LessonCompleted, _>(RecalculateCourseProgress::new(Arc::new(CourseProgressTracker::new())))
        .event::<ProgressUpdated>()
        // assessment
        .event::<AttemptStarted>()
        .event::<AssessmentSubmitted>()
        .event::<AnswerGraded>()
        .listen_queued::<AssessmentGraded, _>(
            NotifyUserOfGradedAssessment::new(notifier.clone()),
            NotifyUserOfGradedAssessment::queue_options(),
        )
        .listen_sync::<AssessmentGraded, _>(CompleteLessonOnPassedAssessment::new())
        // learning-path
        .listen_queued::<PathEnrollmentCreated, _>(
            SendPathEnrollmentWelcome::new(notifier.clone()),
            SendPathEnrollmentWelcome::queue_options(),
        )
        .event::<CourseUnlockedInPath>()
        .listen_queued::<PathCompleted, _>(
            SendPathCompletionCongratulations::new(notifier.clone()),
            SendPathCompletionCongratulations::queue_options(),
        )
        .event::<PathDropped>()
        // Webhooks, last for every event (but the noisy ProgressUpdated, and StateTransitioned,
        // which repeats its cause's news): one job per event finds the endpoints subscribed to
        // it; each endpoint's delivery is a job of its own, sent outside any transaction.
        .listen_all_queued(
            FanOutWebhooks,
            QueueOptions::on(WEBHOOK_QUEUE),
            &[ProgressUpdated::NAME, StateTransitioned::NAME],
        )
        .job(
            DeliverWebhook::new(deps.webhook_timeout),
            webhook_queue_options(deps.webhook_timeout),
        );
    // xAPI, only when an LRS is configured: each learning record's statements, one job per
    // event on queue `xapi`, posted outside any transaction.
    let builder = match &deps.lrs {
        Some((client, timeout)) => xapi_mappings().register(
            builder,
            &ForwardToLrs::new(client.clone(), XapiProfile::new(deps.app_url.as_str())),
            &xapi_queue_options(*timeout),
        ),
        None => builder,
    };
    builder.build()
}

/// The order workers take queues in by default: state-changing work first, then what people
/// wait for, then the rest. Queues a registration names but this list does not come last.
pub fn queues_in_priority_order(registry: &Registry) -> Vec<String> {
    const PRIORITY: [&str; 7] = [
        "default",
        "certificates",
        "notifications",
        "webhooks",
        "xapi",
        "broadcasts",
        "audit",
    ];
    let mut queues: Vec<String> = PRIORITY.iter().map(|q| (*q).to_owned()).collect();
    for q in registry.queues() {
        if !queues.contains(&q) {
            queues.push(q);
        }
    }
    queues
}
