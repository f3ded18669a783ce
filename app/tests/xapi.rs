//! xAPI against a real learning record store: Ralph (PyPI `ralph-malph`, its LRS with the
//! file-system backend), started by the test, receives the statements of the whole LMS flow;
//! read back with `GET /xAPI/statements` (following `more`), each is there exactly once with
//! the expected verb, result and registration; forwarding the same history again stores
//! nothing new; with Ralph stopped the jobs are retried and succeed once it is back. Run on
//! SQLite and on PostgreSQL.
//!
//! They need Ralph: `.ci/run` installs it into a virtual environment and sets
//! `ENTERAKSI_TEST_RALPH` to its `ralph` binary; without it they fail, saying they did not run.
//! Beside them, a fake LRS that rejects one kind of statement shows that only those jobs fail,
//! for good, with the LRS's message.

mod support;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use app::Application;
use app::config::Config;
use serde_json::Value;
use shared_kernel::integrations::xapi::{LrsClient, LrsEndpoint, Statement, XapiProfile, export_statements};
use shared_kernel::testing::{TestDb, drain};
use shared_kernel::{EventBus, ManualClock};
use support::ralph::{KEY, Ralph, SECRET, ralph_or_fail};

const APP_URL: &str = "https://lms.example";
fn config(database_url: &str, lrs: &str) -> Config {
    let vars: HashMap<&str, String> = HashMap::from([
        ("DATABASE_URL", database_url.to_owned()),
        ("APP_URL", APP_URL.to_owned()),
        ("XAPI_LRS_URL", lrs.to_owned()),
        ("XAPI_LRS_KEY", KEY.to_owned()),
        ("XAPI_LRS_SECRET", SECRET.to_owned()),
        ("XAPI_LRS_TIMEOUT_SECS", "5".to_owned()),
    ]);
    Config::from_lookup(|k| vars.get(k).cloned()).unwrap()
}

/// The statements of the whole history, as `export xapi` writes them.
async fn exported(bus: &EventBus) -> Vec<Statement> {
    let mut out = Vec::new();
    export_statements(
        bus,
        &app::provider::xapi_mappings(),
        &XapiProfile::new(APP_URL),
        None,
        None,
        |s| {
            out.push(s.clone());
            Ok(())
        },
    )
    .await
    .unwrap();
    out
}

/// Whether `stored` holds everything `sent` says (the LRS adds `stored` and `authority`);
/// numbers compare as numbers (`10.0` and `10` are one score).
fn holds(stored: &Value, sent: &Value) -> bool {
    match (sent, stored) {
        (Value::Object(s), Value::Object(t)) => s.iter().all(|(k, v)| t.get(k).is_some_and(|w| holds(w, v))),
        (Value::Array(s), Value::Array(t)) => s.len() == t.len() && s.iter().zip(t).all(|(v, w)| holds(w, v)),
        (Value::Number(s), Value::Number(t)) => s.as_f64() == t.as_f64(),
        _ => sent == stored,
    }
}

/// Asserts Ralph holds exactly `expected`: each id once, each with its verb, result, context.
fn assert_holds_exactly(stored: &[Value], expected: &[Statement]) {
    let mut by_id: HashMap<String, Vec<&Value>> = HashMap::new();
    for s in stored {
        by_id.entry(s["id"].as_str().unwrap().to_owned()).or_default().push(s);
    }
    for statement in expected {
        let sent = statement.to_json();
        let id = statement.id().to_string();
        let found = by_id.get(&id).map(Vec::as_slice).unwrap_or_default();
        assert_eq!(
            found.len(),
            1,
            "statement {id} ({}) is held {} times",
            sent["verb"]["id"],
            found.len()
        );
        assert!(holds(found[0], &sent), "Ralph holds {} for the sent {sent}", found[0]);
    }
    assert_eq!(stored.len(), expected.len(), "Ralph holds statements nobody sent");
}

/// The whole scenario on the database at `url`.
async fn scenario(test: &str, url: &str) {
    // Arrange: Ralph, and the application configured to forward to it.
    let mut ralph = Ralph::start(ralph_or_fail(test));
    let app = Application::start(&config(url, &ralph.base())).await.unwrap();

    // Act: the whole LMS flow, its workers forwarding as they go; then drain what is left.
    let summary = app::demo::run_flow(&app, 4, false).await.unwrap();
    drain(app.bus()).await;

    // Assert: every learning record's statements, each exactly once, as sent.
    assert_eq!(summary.failed_jobs, 0, "{summary:?}");
    let expected = exported(app.bus()).await;
    let verbs: BTreeSet<String> = expected
        .iter()
        .map(|s| s.verb().id().rsplit('/').next().unwrap().to_owned())
        .collect();
    for verb in ["registered", "completed", "attempted", "passed", "failed", "exited"] {
        assert!(verbs.contains(verb), "the flow gives a `{verb}` statement: {verbs:?}");
    }
    let stored = ralph.statements().await;
    assert_holds_exactly(&stored, &expected);
    let graded = stored
        .iter()
        .find(|s| s["verb"]["id"] == "http://adlnet.gov/expapi/verbs/failed")
        .unwrap();
    assert_eq!(graded["result"]["success"], false);
    assert!(graded["result"]["score"]["scaled"].as_f64().unwrap() < 1.0);
    assert!(graded["context"]["registration"].is_string());

    // Forwarding the same history again, both ways, adds nothing: the listener replayed over
    // the audit log, and the export posted in bulk batches.
    shared_kernel::audit::replay::replay(
        app.bus(),
        "ForwardToLrs",
        &shared_kernel::audit::replay::ReplayFilter::default(),
        |_| {},
    )
    .await
    .unwrap();
    let report = drain(app.bus()).await;
    assert_eq!(report.failed, 0);
    let client = LrsClient::new(
        LrsEndpoint::parse(&ralph.base(), KEY, SECRET).unwrap(),
        Duration::from_secs(5),
    )
    .unwrap();
    for batch in expected.chunks(25) {
        let report = client.post_bisecting(batch).await.unwrap();
        assert_eq!((report.accepted, report.rejected.len()), (batch.len(), 0));
    }
    assert_holds_exactly(&ralph.statements().await, &expected);

    // With Ralph stopped, a new learner enrolls: the job fails its try and waits for a retry.
    ralph.stop();
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let bus = EventBus::builder(app.db().clone(), app.bus().registry().clone())
        .clock(clock.clone())
        .build();
    let learner = {
        let mut uow = bus.begin();
        let user = shared_kernel::users::create_user(uow.conn().await.unwrap(), "Dewi", "dewi@example.id", "id")
            .await
            .unwrap();
        uow.commit().await.unwrap();
        user.id()
    };
    let course: (String,) = shared_kernel::sqlx::query_as("SELECT id FROM courses WHERE status = 'published' LIMIT 1")
        .fetch_one(app.db().pool())
        .await
        .unwrap();
    let course = shared_kernel::CourseId::parse(&course.0).unwrap();
    enrollment::EnrollmentService::new(bus.clone())
        .enroll(learner, learner, course)
        .await
        .unwrap();
    let report = drain(&bus).await;
    assert!(report.retried >= 1, "{report:?}");
    let (attempts, error): (i64, Option<String>) =
        shared_kernel::sqlx::query_as("SELECT attempts, last_error FROM jobs WHERE listener = 'ForwardToLrs'")
            .fetch_one(app.db().pool())
            .await
            .unwrap();
    assert_eq!(attempts, 1);
    assert!(
        error.as_deref().unwrap_or_default().contains("could not be reached"),
        "{error:?}"
    );

    // Once Ralph is back and the backoff has passed, the retry succeeds; nothing failed.
    ralph.resume();
    clock.advance(chrono::Duration::seconds(15));
    let report = drain(&bus).await;
    assert_eq!(report.failed, 0, "{report:?}");
    let (waiting,): (i64,) = shared_kernel::sqlx::query_as("SELECT COUNT(*) FROM jobs WHERE listener = 'ForwardToLrs'")
        .fetch_one(app.db().pool())
        .await
        .unwrap();
    assert_eq!(waiting, 0);
    let expected = exported(app.bus()).await;
    let stored = ralph.statements().await;
    assert_holds_exactly(&stored, &expected);
    assert!(
        stored
            .iter()
            .any(|s| s["actor"]["account"]["name"] == learner.to_string()
                && s["verb"]["id"] == "http://adlnet.gov/expapi/verbs/registered"),
        "the enrollment made while Ralph was down reached it"
    );
    assert!(
        !stored.iter().any(|s| s.to_string().contains("dewi@example.id")),
        "no e-mail address leaves"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ralph_receives_the_whole_flow_once_and_gets_what_it_missed_while_down_on_sqlite() {
    let db = TestDb::new(app::provider::migrators()).await;
    scenario("xapi on SQLite", db.url()).await;
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ralph_receives_the_whole_flow_once_and_gets_what_it_missed_while_down_on_postgres() {
    let Some(db) = TestDb::postgres("xapi on PostgreSQL", app::provider::migrators()).await else {
        return;
    };
    scenario("xapi on PostgreSQL", db.url()).await;
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_the_lrs_rejects_fails_only_its_job_for_good_with_the_lrs_message() {
    // Arrange: an LRS that refuses every `exited` statement with 400, and stores the rest.
    let stored: Arc<Mutex<Vec<Value>>> = Arc::default();
    let sink = stored.clone();
    let lrs = axum::Router::new().route(
        "/xAPI/statements",
        axum::routing::post(move |body: String| {
            let sink = sink.clone();
            async move {
                let batch: Vec<Value> = serde_json::from_str(&body).unwrap();
                if batch
                    .iter()
                    .any(|s| s["verb"]["id"] == "http://adlnet.gov/expapi/verbs/exited")
                {
                    return (
                        axum::http::StatusCode::BAD_REQUEST,
                        "exits are not accepted here".to_owned(),
                    );
                }
                sink.lock().unwrap().extend(batch);
                (axum::http::StatusCode::OK, "[]".to_owned())
            }
        }),
    );
    let (base, _server) = shared_kernel::testing::serve_on_loopback(lrs).await;
    let db = TestDb::new(app::provider::migrators()).await;
    let app = Application::start(&config(db.url(), &format!("{base}/xAPI")))
        .await
        .unwrap();

    // Act
    app::demo::run_flow(&app, 4, false).await.unwrap();
    drain(app.bus()).await;

    // Assert: the drops' jobs, and only they, failed for good with the LRS's message; every
    // other statement was stored.
    let failed = shared_kernel::Queue::new(app.bus().clone())
        .failed_jobs(None, 1000)
        .await
        .unwrap();
    let expected = exported(app.bus()).await;
    let exits = expected.iter().filter(|s| s.verb().id().ends_with("/exited")).count();
    assert!(exits > 0, "the flow has drops");
    assert_eq!(failed.len(), exits, "{failed:?}");
    for job in &failed {
        assert_eq!(job.listener, "ForwardToLrs");
        assert!(job.event_name.ends_with("dropped"), "{job:?}");
        assert!(
            job.exception.contains("exits are not accepted here"),
            "{}",
            job.exception
        );
        assert_eq!(job.attempts, 1, "a rejection is not retried");
    }
    // Within one process no statement is posted twice, not even for jobs a stopping worker
    // gave back after their batch was prepared (the demo stops its workers mid-way).
    let stored = stored.lock().unwrap().clone();
    let ids: std::collections::HashSet<&str> = stored.iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), stored.len(), "a statement was posted twice");
    assert_eq!(stored.len(), expected.len() - exits);
    db.cleanup().await;
}

/// Switched on after the fact: an LMS that ran without an LRS gets one configured, and the
/// first worker to start replays the history to `ForwardToLrs` (a catch-up listener): Ralph
/// then holds every past statement exactly once.
async fn catch_up_scenario(test: &str, url: &str) {
    let without: HashMap<&str, String> =
        HashMap::from([("DATABASE_URL", url.to_owned()), ("APP_URL", APP_URL.to_owned())]);
    let before = Application::start(&Config::from_lookup(|k| without.get(k).cloned()).unwrap())
        .await
        .unwrap();
    app::demo::run_flow(&before, 3, false).await.unwrap();
    drain(before.bus()).await;

    let ralph = Ralph::start(ralph_or_fail(test));
    let app = Application::start(&config(url, &ralph.base())).await.unwrap();
    let report = drain(app.bus()).await;
    assert_eq!(report.failed, 0, "{report:?}");
    let expected = exported(app.bus()).await;
    assert!(expected.len() > 20, "the flow has a history: {}", expected.len());
    // Each past learning record (one statement each) was delivered once: one job each, no more
    // (Ralph would store a second POST of a statement only once, so it cannot tell).
    assert_eq!(report.processed as usize, expected.len(), "{report:?}");
    assert_holds_exactly(&ralph.statements().await, &expected);
    // A second start replays nothing more: the listener is caught up (and the ledger holds).
    let again = drain(app.bus()).await;
    assert_eq!(again.processed, 0, "{again:?}");
    assert_holds_exactly(&ralph.statements().await, &expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_lrs_switched_on_later_gets_the_history_once_on_sqlite() {
    let db = TestDb::new(app::provider::migrators()).await;
    catch_up_scenario("xapi catch-up on SQLite", db.url()).await;
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_lrs_switched_on_later_gets_the_history_once_on_postgres() {
    let Some(db) = TestDb::postgres("xapi catch-up on PostgreSQL", app::provider::migrators()).await else {
        return;
    };
    catch_up_scenario("xapi catch-up on PostgreSQL", db.url()).await;
    db.cleanup().await;
}
