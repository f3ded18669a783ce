//! The learner's notifications, sent by a real worker, and the listeners' registration.

use enrollment::EnrollmentCompleted;
use learning_path::{
    PathCompleted, PathEnrollmentCreated, SendPathCompletionCongratulations, SendPathEnrollmentWelcome,
    UpdatePathProgressOnCourseCompletion,
};
use shared_kernel::testing::{NotificationFake, assert_listening, drain};

use crate::support::{Harness, registry};

#[tokio::test]
async fn the_learner_is_welcomed_and_congratulated_once_each() {
    let h = Harness::new().await;
    let courses = h.published_courses(2).await;
    let path = h.path_of(&courses).await;
    h.paths.enroll(h.learner, h.learner, path).await.unwrap();
    h.notifications.assert_nothing_sent();

    drain(&h.bus).await;
    h.notifications.assert_sent_to(h.learner, "learning_path.welcome");
    h.notifications.assert_sent_times("learning_path.welcome", 1);
    h.notifications.assert_sent_times("learning_path.completed", 0);

    for course in &courses {
        h.complete_course(*course).await;
        drain(&h.bus).await;
    }
    drain(&h.bus).await;

    h.notifications.assert_sent_to(h.learner, "learning_path.completed");
    h.notifications.assert_sent_times("learning_path.completed", 1);
    h.notifications.assert_sent_times("learning_path.welcome", 1);
    // Each course of the path welcomed the learner once, through enrollment's own listener.
    h.notifications.assert_sent_times("enrollment.welcome", 2);
}

#[tokio::test]
async fn the_listeners_are_registered_on_the_catalogs_events() {
    let registry = registry(NotificationFake::new());
    assert_listening::<EnrollmentCompleted>(&registry, "UpdatePathProgressOnCourseCompletion");
    assert_listening::<PathEnrollmentCreated>(&registry, "SendPathEnrollmentWelcome");
    assert_listening::<PathCompleted>(&registry, "SendPathCompletionCongratulations");
    assert_eq!(UpdatePathProgressOnCourseCompletion::queue_options().queue(), "default");
    assert_eq!(SendPathEnrollmentWelcome::queue_options().queue(), "notifications");
    assert_eq!(
        SendPathCompletionCongratulations::queue_options().queue(),
        "notifications"
    );
}
