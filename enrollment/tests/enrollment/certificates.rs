//! Certificates: one per completed enrollment, issued by the queued job, with a verifiable code.

use enrollment::{EnrollmentCompleted, GenerateCertificate};
use shared_kernel::testing::drain;
use shared_kernel::{JobContext, QueuedListener};

use crate::support::harness;

#[tokio::test]
async fn a_completed_enrollment_gets_one_certificate_with_a_verifiable_code() {
    let (h, _) = harness().await;
    let id = h.completed().await;

    drain(&h.bus).await;

    let certificate = enrollment::certificate_of(&mut *h.conn().await, id)
        .await
        .unwrap()
        .expect("a certificate");
    assert_eq!(certificate.user_id(), h.learner);
    assert_eq!(certificate.verification_code().as_str().len(), 12);
    let typed = certificate.verification_code().as_str().to_lowercase();
    let verified = enrollment::verify_certificate(&mut *h.conn().await, &typed)
        .await
        .unwrap();
    assert_eq!(verified, Some(certificate));
    assert_eq!(
        enrollment::verify_certificate(&mut *h.conn().await, "ABCDEFGHJKLM")
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn the_certificate_job_running_twice_still_leaves_one_certificate() {
    let (h, _) = harness().await;
    let id = h.completed().await;
    drain(&h.bus).await;
    let first = enrollment::certificate_of(&mut *h.conn().await, id)
        .await
        .unwrap()
        .unwrap();
    let event = h.fake.dispatched::<EnrollmentCompleted>().pop().unwrap();

    let mut job = JobContext::standalone(&h.bus, "GenerateCertificate", event.meta());
    GenerateCertificate::new().handle(&event, &mut job).await.unwrap();
    job.finish().await.unwrap();

    assert_eq!(h.count("certificates").await, 1);
    let again = enrollment::certificate_of(&mut *h.conn().await, id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again, first);
}

#[tokio::test]
async fn no_certificate_is_issued_before_the_job_runs() {
    let (h, _) = harness().await;
    let id = h.completed().await;

    let certificate = enrollment::certificate_of(&mut *h.conn().await, id).await.unwrap();

    assert_eq!(certificate, None);
}
