//! Crypto-shredding, on SQLite and PostgreSQL: an event's personal fields are stored sealed in
//! the audit log and read back revealed; erasing the person deletes their key, so those fields
//! read as `[erased]` in the audit log and in replays, their waiting jobs lose their copies,
//! data of theirs written later is stored as erased — and the hash chain still verifies.

use std::sync::{Arc, Mutex};

#[macro_use]
mod common;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use shared_kernel::audit::replay::{ReplayFilter, replay};
use shared_kernel::audit::{AuditLog, AuditQuery, chain};
use shared_kernel::privacy::erase::{EraseError, erase};
use shared_kernel::testing::{TestDb, drain};
use shared_kernel::{
    DomainEvent, Envelope, EventBus, JobContext, ListenerError, LogDomainEvent, QueueOptions, QueuedListener, Registry,
    UserId,
};

/// A learner wrote a note (`note` is their own words: personal data).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct NoteWritten {
    note_id: String,
    user_id: UserId,
    note: String,
    topic: String,
}

impl DomainEvent for NoteWritten {
    const NAME: &'static str = "note.written";
    const AGGREGATE_TYPE: &'static str = "note";
    const PERSONAL_FIELDS: &'static [&'static str] = &["note"];
    fn aggregate_id(&self) -> String {
        self.note_id.clone()
    }
    fn data_subject(&self) -> Option<UserId> {
        Some(self.user_id)
    }
}

#[derive(Clone, Default)]
struct Notes(Arc<Mutex<Vec<String>>>);

#[async_trait]
impl QueuedListener<NoteWritten> for Notes {
    const NAME: &'static str = "Notes";
    async fn handle(&self, event: &Envelope<NoteWritten>, _job: &mut JobContext) -> Result<(), ListenerError> {
        self.0.lock().unwrap().push(event.event().note.clone());
        Ok(())
    }
}

async fn write_note(bus: &EventBus, user: UserId, note: &str) {
    let mut uow = bus.begin();
    uow.record(NoteWritten {
        note_id: uuid::Uuid::now_v7().to_string(),
        user_id: user,
        note: note.to_owned(),
        topic: "rust".to_owned(),
    });
    uow.commit().await.unwrap();
}

async fn notes_in_audit(db: &TestDb) -> Vec<String> {
    AuditLog::new(db.db().clone())
        .query(&AuditQuery::new().event_name("note.written"))
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.metadata["note"].as_str().unwrap_or_default().to_owned())
        .collect()
}

on_both!(
    an_erased_persons_fields_read_as_erased_and_the_chain_still_verifies,
    erasure_scenario
);
async fn erasure_scenario(db: TestDb) {
    let notes = Notes::default();
    let registry = Registry::builder()
        .listen_all_sync(LogDomainEvent, &[])
        .listen_queued::<NoteWritten, _>(notes.clone(), QueueOptions::on("default"))
        .build()
        .unwrap();
    let bus = EventBus::builder(db.db().clone(), Arc::new(registry)).build();
    let (siti, budi) = {
        let mut conn = db.db().writer().acquire().await.unwrap();
        let siti = shared_kernel::users::create_user(&mut conn, "Siti Rahma", "siti@example.id", "id")
            .await
            .unwrap();
        let budi = shared_kernel::users::create_user(&mut conn, "Budi", "budi@example.id", "id")
            .await
            .unwrap();
        (siti.id(), budi.id())
    };
    write_note(&bus, siti, "Saya kesulitan dengan lifetime").await;
    write_note(&bus, budi, "Catatan Budi").await;

    // Stored sealed (not in the row), read revealed.
    let (stored,): (String,) = sqlx::query_as(
        "SELECT payload FROM domain_event_log WHERE event_name = 'note.written' AND payload LIKE '%rust%' LIMIT 1",
    )
    .fetch_one(db.db().pool())
    .await
    .unwrap();
    assert!(!stored.contains("kesulitan") && !stored.contains("Catatan"), "{stored}");
    assert_eq!(
        notes_in_audit(&db).await,
        ["Saya kesulitan dengan lifetime", "Catatan Budi"]
    );
    let before = chain::verify(db.db(), None).await.unwrap();
    assert!(before.problem.is_none());

    // Erased while her job still waits.
    let erased = erase(&bus, "siti@example.id").await.unwrap();
    assert_eq!(erased.user_id, siti.to_string());
    assert_eq!((erased.sealed_audit_rows, erased.scrubbed), (1, 1), "{erased:?}");
    assert_eq!(notes_in_audit(&db).await, ["[erased]", "Catatan Budi"]);
    let after = chain::verify(db.db(), None).await.unwrap();
    assert!(after.problem.is_none(), "{:?}", after.problem);
    assert_eq!(after.head, before.head, "nothing hashed changed");
    let (name, email): (String, String) = sqlx::query_as("SELECT name, email FROM users WHERE id = $1")
        .bind(siti.to_string())
        .fetch_one(db.db().pool())
        .await
        .unwrap();
    assert_eq!(name, "[erased]");
    assert!(!email.contains("siti"), "{email}");

    // Her waiting job runs with her words scrubbed; a replay gets them erased too.
    drain(&bus).await;
    let failed = shared_kernel::Queue::new(bus.clone())
        .failed_jobs(None, 10)
        .await
        .unwrap();
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(*notes.0.lock().unwrap(), ["[erased]", "Catatan Budi"]);
    replay(&bus, "Notes", &ReplayFilter::default(), |_| {}).await.unwrap();
    drain(&bus).await;
    assert_eq!(
        notes.0.lock().unwrap().len(),
        2,
        "both were delivered already (the ledger)"
    );

    // Written after the erasure: stored as erased, never sealed with a new key.
    write_note(&bus, siti, "Masih menulis").await;
    let (stored,): (String,) = sqlx::query_as(
        "SELECT metadata FROM domain_event_log WHERE event_name = 'note.written' ORDER BY created_at DESC LIMIT 1",
    )
    .fetch_one(db.db().pool())
    .await
    .unwrap();
    assert!(stored.contains("[erased]") && !stored.contains("Masih"), "{stored}");

    // Once: the address is gone.
    assert!(matches!(
        erase(&bus, "siti@example.id").await,
        Err(EraseError::UnknownEmail(_))
    ));
    db.cleanup().await;
}
