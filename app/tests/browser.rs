//! Tests in a real, headless Chromium driven over the DevTools protocol (issue 13): the driver
//! itself, a browser `EventSource` that reconnects with `Last-Event-ID` after its stream closes,
//! and the learner's live channel of `enteraksi serve` watched from a page across a restart of
//! that server.
//!
//! They need Chromium (`.ci/run` installs Debian's `chromium` and sets `ENTERAKSI_TEST_CHROMIUM`);
//! without it they fail, saying so, unless `ENTERAKSI_SKIP_BROWSER=1`.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use support::api::{post, published_course, sign_up};
use support::cdp::{Browser, chromium_or_fail};
use support::process::{add_user, exit_code, serve, signal, sqlite_url};

#[tokio::test]
async fn the_driver_runs_javascript_in_a_real_chromium() {
    let Some(chromium) = chromium_or_fail("the_driver_runs_javascript_in_a_real_chromium") else {
        return;
    };
    let browser = Browser::launch(&chromium).await.expect("chromium starts");
    let page = browser
        .open("data:text/html,<script>window.x = 41 + 1</script>")
        .await
        .expect("the page opens");

    let x = page
        .wait_for("window.x", Duration::from_secs(10))
        .await
        .expect("the script ran");
    assert_eq!(x, json!(42));
    assert_eq!(page.eval("Promise.resolve(6 * 7)").await.expect("awaited"), json!(42));
    let thrown = page.eval("(() => { throw new Error('boom') })()").await.unwrap_err();
    assert!(thrown.to_string().contains("boom"), "{thrown}");
}

/// The page under test: collects every `hello` event's id and data into `window.received`.
const EVENT_SOURCE_PAGE: &str = "<!doctype html><script>
window.received = [];
const source = new EventSource('/stream');
source.addEventListener('hello', e => window.received.push({ id: e.lastEventId, data: e.data }));
</script>";

/// A one-thread HTTP server: `GET /` is [`EVENT_SOURCE_PAGE`]; the first `GET /stream` sends
/// event 1 and closes, the second sends event 2 and closes, later ones get 204 (which stops an
/// `EventSource` for good). Returns its address and the `Last-Event-ID` of every stream request.
fn event_stream_server() -> (String, Arc<Mutex<Vec<Option<String>>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a local port");
    let address = format!("http://{}", listener.local_addr().expect("its address"));
    let streams = Arc::new(Mutex::new(Vec::new()));
    let seen = streams.clone();
    std::thread::spawn(move || {
        for connection in listener.incoming() {
            let Ok(connection) = connection else { continue };
            let _ = answer(connection, &seen);
        }
    });
    (address, streams)
}

fn answer(mut connection: TcpStream, streams: &Mutex<Vec<Option<String>>>) -> std::io::Result<()> {
    let mut reader = BufReader::new(connection.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut last_event_id = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("last-event-id")
        {
            last_event_id = Some(value.trim().to_owned());
        }
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or_default();
    let response = match path {
        "/" => format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{EVENT_SOURCE_PAGE}",
            EVENT_SOURCE_PAGE.len()
        ),
        "/stream" => {
            let mut streams = streams.lock().expect("not poisoned");
            streams.push(last_event_id);
            let sse = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\
                       Cache-Control: no-cache\r\nConnection: close\r\n\r\nretry: 100\n";
            match streams.len() {
                1 => format!("{sse}id: 1\nevent: hello\ndata: {{\"a\":1}}\n\n"),
                2 => format!("{sse}id: 2\nevent: hello\ndata: {{\"a\":2}}\n\n"),
                _ => "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n".to_owned(),
            }
        }
        _ => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_owned(),
    };
    connection.write_all(response.as_bytes())?;
    connection.shutdown(std::net::Shutdown::Both)
}

#[tokio::test]
async fn a_browser_event_source_reconnects_with_last_event_id_and_loses_nothing() {
    let test = "a_browser_event_source_reconnects_with_last_event_id_and_loses_nothing";
    let Some(chromium) = chromium_or_fail(test) else {
        return;
    };
    let (address, streams) = event_stream_server();
    let browser = Browser::launch(&chromium).await.expect("chromium starts");
    let page = browser.open(&format!("{address}/")).await.expect("the page opens");

    let received = page
        .wait_for(
            "window.received && window.received.length >= 2 && window.received",
            Duration::from_secs(10),
        )
        .await
        .expect("both events arrive");
    assert_eq!(
        received,
        json!([{ "id": "1", "data": "{\"a\":1}" }, { "id": "2", "data": "{\"a\":2}" }])
    );
    let streams = streams.lock().expect("not poisoned").clone();
    assert_eq!(
        streams.get(..2),
        Some(&[None, Some("1".to_owned())][..]),
        "the first stream request has no Last-Event-ID, the reconnect carries the last id seen"
    );
}

/// A free local port (bound, then let go).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn serve_on(url: &str, port: u16) -> support::process::KillOnDrop {
    serve(url, &format!("127.0.0.1:{port}"), 1).0
}

/// The learner's page on server A shows their enrollment as it commits; A is stopped (the page
/// gets the final `shutdown` event), the learner completes the course through server B meanwhile,
/// A starts again on the same address, and the browser's own reconnect (with `Last-Event-ID`)
/// brings exactly the missed broadcasts, in order, nothing twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_learners_page_sees_their_broadcasts_live_and_resumes_after_a_server_restart() {
    let test = "a_learners_page_sees_their_broadcasts_live_and_resumes_after_a_server_restart";
    let Some(chromium) = chromium_or_fail(test) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    let instructor = add_user(&url, "Bu Ratna", "ratna@example.id", "instructor");
    let (port_a, port_b) = (free_port(), free_port());
    let mut server_a = serve_on(&url, port_a);
    let mut server_b = serve_on(&url, port_b);
    let (a, b) = (
        format!("http://127.0.0.1:{port_a}"),
        format!("http://127.0.0.1:{port_b}"),
    );
    let client = reqwest::Client::new();

    let (course, lesson) = published_course(&client, &b, &instructor, "Rust Dasar").await;
    let (learner_id, token) = sign_up(&client, &b, "Siti", "siti@example.id").await;
    let (learner_id, token) = (learner_id.as_str(), token.as_str());

    let browser = Browser::launch(&chromium).await.expect("chromium starts");
    let events = "enrollment.created,enrollment.completed,lesson.completed,progress.updated";
    let page = browser
        .open(&format!(
            "{a}/broadcasting/watch#channels=private-user.{learner_id}&token={token}&events={events}"
        ))
        .await
        .expect("the page opens");
    page.wait_for("window.opened >= 1", Duration::from_secs(20))
        .await
        .expect("the stream opens");

    // Live: the enrollment, made through the other server.
    let enrollment = post(
        &client,
        format!("{b}/api/courses/{course}/enrollments"),
        token,
        json!({}),
    )
    .await;
    let enrollment = enrollment["id"].as_str().unwrap().to_owned();
    page.wait_for(
        "window.received.some(e => e.event === 'enrollment.created')",
        Duration::from_secs(20),
    )
    .await
    .expect("the enrollment arrives live");

    // A stops: the page is told, and its EventSource keeps trying to reconnect.
    signal(&server_a, "TERM");
    assert_eq!(exit_code(&mut server_a, Duration::from_secs(30)), Some(0));
    page.wait_for(
        "window.received.some(e => e.event === 'shutdown')",
        Duration::from_secs(20),
    )
    .await
    .expect("the final shutdown event");
    // Meanwhile the learner gets halfway (progress: broadcast, not audited), then completes the
    // course, through B.
    post(
        &client,
        format!("{b}/api/enrollments/{enrollment}/lessons/{lesson}/progress"),
        token,
        json!({"percentage": 50}),
    )
    .await;
    post(
        &client,
        format!("{b}/api/enrollments/{enrollment}/lessons/{lesson}/complete"),
        token,
        json!({}),
    )
    .await;
    let committed: Vec<(i64, String)> = {
        let db = shared_kernel::Database::connect(&url).await.unwrap();
        let rows = sqlx::query_as("SELECT position, event FROM broadcast_log WHERE channel = $1 ORDER BY position")
            .bind(format!("private-user.{learner_id}"))
            .fetch_all(db.pool())
            .await
            .unwrap();
        db.close().await;
        rows
    };
    assert!(committed.len() >= 3, "the completion broadcast more: {committed:?}");
    assert!(
        committed.iter().any(|(_, event)| event == "progress.updated"),
        "progress, though not audited, is broadcast: {committed:?}"
    );

    // A is back on the same address; the browser reconnects by itself and resumes.
    let mut server_a = serve_on(&url, port_a);
    let want = committed.len();
    page.wait_for(
        &format!("window.received.filter(e => e.event !== 'shutdown').length >= {want}"),
        Duration::from_secs(30),
    )
    .await
    .expect("the missed broadcasts arrive after the reconnect");
    assert!(
        page.eval("window.opened").await.unwrap().as_i64().unwrap() >= 2,
        "the EventSource reconnected"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let received: Vec<(i64, String)> = page
        .eval("window.received.filter(e => e.event !== 'shutdown')")
        .await
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["id"].as_str().unwrap().parse().unwrap(),
                e["event"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        received, committed,
        "every broadcast exactly once, in order, across the restart"
    );

    for server in [&mut server_a, &mut server_b] {
        signal(server, "TERM");
        assert_eq!(exit_code(&mut *server, Duration::from_secs(30)), Some(0));
    }
}
