//! A minimal Chrome DevTools Protocol driver: enough to launch a headless Chromium, open a page
//! and evaluate JavaScript in it, for tests that need a real browser (issue 13: `EventSource`
//! with its automatic reconnect and `Last-Event-ID`).
//!
//! One WebSocket to the browser carries everything: pages are attached with
//! `Target.attachToTarget { flatten: true }` and addressed by `sessionId`. Calls are serialised
//! (the socket sits behind a mutex; a call reads until its own reply and skips events), which is
//! all a sequential test needs.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

/// How long one protocol call may take before it is an error rather than a hung test.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// How long Chromium may take to start and write its `DevToolsActivePort` file.
const LAUNCH_TIMEOUT: Duration = Duration::from_secs(30);

/// The Chromium to use: `ENTERAKSI_TEST_CHROMIUM`, else `chromium` (or a Chrome) on `PATH`.
///
/// Without one the calling test fails, saying how to install it; `ENTERAKSI_SKIP_BROWSER=1`
/// instead returns `None` after printing loudly that the browser test did not run.
pub fn chromium_or_fail(test: &str) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("ENTERAKSI_TEST_CHROMIUM").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    let on_path = ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"]
        .iter()
        .find_map(|name| {
            std::env::split_paths(&std::env::var_os("PATH")?)
                .map(|dir| dir.join(name))
                .find(|p| p.is_file())
        });
    if on_path.is_some() {
        return on_path;
    }
    if std::env::var("ENTERAKSI_SKIP_BROWSER").as_deref() == Ok("1") {
        // Straight to stderr: libtest captures `eprintln!` of passing tests, and this must show.
        let banner = format!("\n!!!!!!!! {test}: DID NOT RUN (no Chromium, ENTERAKSI_SKIP_BROWSER=1) !!!!!!!!\n");
        let _ = std::io::Write::write_all(&mut std::io::stderr(), banner.as_bytes());
        return None;
    }
    panic!(
        "{test} needs a real Chromium and none was found: install it (`apt-get install -y \
         chromium` on Debian; `.ci/run` does this) or point ENTERAKSI_TEST_CHROMIUM at the binary. \
         ENTERAKSI_SKIP_BROWSER=1 skips the browser tests (loudly)."
    );
}

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The browser-level DevTools connection, shared by the browser and its pages.
struct Connection {
    socket: Mutex<Socket>,
    next_id: AtomicU64,
}

impl Connection {
    /// Sends `method` with `params` (to the page `session`, if any) and returns its `result`;
    /// a protocol error reply becomes an error naming the method.
    async fn call(&self, session: Option<&str>, method: &str, params: Value) -> Result<Value> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut message = json!({ "id": id, "method": method, "params": params });
        if let Some(session) = session {
            message["sessionId"] = json!(session);
        }
        let mut socket = self.socket.lock().await;
        let reply = tokio::time::timeout(CALL_TIMEOUT, async {
            socket.send(Message::text(message.to_string())).await?;
            loop {
                let frame = socket
                    .next()
                    .await
                    .ok_or_else(|| anyhow!("the browser closed the DevTools connection"))??;
                let Message::Text(text) = frame else { continue };
                let reply: Value =
                    serde_json::from_str(&text).with_context(|| format!("DevTools sent non-JSON: {text}"))?;
                // Events have no `id`; other calls' replies cannot interleave (the lock).
                if reply.get("id").and_then(Value::as_u64) == Some(id) {
                    return anyhow::Ok(reply);
                }
            }
        })
        .await
        .map_err(|_| anyhow!("{method}: no reply within {CALL_TIMEOUT:?}"))??;
        if let Some(error) = reply.get("error") {
            bail!("{method} failed: {error}");
        }
        reply
            .get("result")
            .cloned()
            .ok_or_else(|| anyhow!("{method}: reply without result: {reply}"))
    }
}

/// A headless Chromium, killed (with its whole process group) when dropped.
pub struct Browser {
    process: Process,
    connection: Arc<Connection>,
    profile: tempfile::TempDir,
}

impl Browser {
    /// Starts `chromium` headless on a fresh profile and connects to its DevTools endpoint.
    pub async fn launch(chromium: &Path) -> Result<Browser> {
        use std::os::unix::process::CommandExt;
        let profile = tempfile::tempdir()?;
        let log = std::fs::File::create(profile.path().join("stderr.log"))?;
        let child = Command::new(chromium)
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            // Its own process group, so that Drop can kill the renderers and helpers too.
            .process_group(0)
            .spawn()
            .with_context(|| format!("cannot start {}", chromium.display()))?;
        // From here on a failure drops `process`, which kills Chromium.
        let mut process = Process(child);
        let socket = Self::connect(&profile, &mut process.0).await?;
        let connection = Arc::new(Connection {
            socket: Mutex::new(socket),
            next_id: AtomicU64::new(1),
        });
        Ok(Browser {
            process,
            connection,
            profile,
        })
    }

    /// Waits for `DevToolsActivePort` (port, then path) in the profile and connects to it.
    async fn connect(profile: &tempfile::TempDir, chromium: &mut Child) -> Result<Socket> {
        let file = profile.path().join("DevToolsActivePort");
        let stderr = || std::fs::read_to_string(profile.path().join("stderr.log")).unwrap_or_default();
        let started = Instant::now();
        let contents = loop {
            match std::fs::read_to_string(&file) {
                Ok(text) if text.lines().count() >= 2 => break text,
                _ if started.elapsed() > LAUNCH_TIMEOUT => {
                    bail!(
                        "chromium wrote no {} within {LAUNCH_TIMEOUT:?}: {}",
                        file.display(),
                        stderr()
                    )
                }
                _ => {}
            }
            if let Some(status) = chromium.try_wait()? {
                bail!("chromium exited ({status}) before DevTools was up: {}", stderr());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let mut lines = contents.lines();
        let (port, path) = (lines.next().unwrap_or_default(), lines.next().unwrap_or_default());
        let url = format!("ws://127.0.0.1:{}{}", port.trim(), path.trim());
        let (socket, _) = connect_async(url.as_str())
            .await
            .with_context(|| format!("cannot connect to DevTools at {url}"))?;
        Ok(socket)
    }

    /// What Chromium has printed on stderr so far (for error messages).
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.profile.path().join("stderr.log")).unwrap_or_default()
    }

    /// Opens `url` in a new tab and attaches to it.
    pub async fn open(&self, url: &str) -> Result<Page> {
        let created = self
            .connection
            .call(None, "Target.createTarget", json!({ "url": url }))
            .await?;
        let target = created["targetId"]
            .as_str()
            .ok_or_else(|| anyhow!("Target.createTarget gave no targetId: {created}"))?;
        let attached = self
            .connection
            .call(
                None,
                "Target.attachToTarget",
                json!({ "targetId": target, "flatten": true }),
            )
            .await?;
        let session = attached["sessionId"]
            .as_str()
            .ok_or_else(|| anyhow!("Target.attachToTarget gave no sessionId: {attached}"))?;
        Ok(Page {
            connection: self.connection.clone(),
            session: session.to_owned(),
        })
    }
}

/// The Chromium process, killed with its whole process group when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        // The negative pid is the group: Chromium and every process it started.
        if let Ok(pid) = i32::try_from(self.0.id()) {
            // SAFETY: kill(2) has no memory-safety preconditions.
            unsafe { libc::kill(-pid, libc::SIGKILL) };
        }
        let _ = self.0.wait();
    }
}

/// A tab of a [`Browser`].
pub struct Page {
    connection: Arc<Connection>,
    session: String,
}

impl Page {
    /// Evaluates `js` in the page (awaiting a promise result) and returns its value as JSON
    /// (`undefined` is `null`); a thrown exception is an error carrying its text.
    pub async fn eval(&self, js: &str) -> Result<Value> {
        let params = json!({ "expression": js, "returnByValue": true, "awaitPromise": true });
        let result = self
            .connection
            .call(Some(&self.session), "Runtime.evaluate", params)
            .await?;
        if let Some(exception) = result.get("exceptionDetails") {
            let text = exception["exception"]["description"]
                .as_str()
                .or_else(|| exception["text"].as_str())
                .map_or_else(|| exception.to_string(), str::to_owned);
            bail!("`{js}` threw: {text}");
        }
        Ok(result["result"].get("value").cloned().unwrap_or(Value::Null))
    }

    /// Calls the DevTools method `method` on this page (e.g. `Page.captureScreenshot`) and
    /// returns its result.
    pub async fn call(&self, method: &str, params: Value) -> Result<Value> {
        self.connection.call(Some(&self.session), method, params).await
    }

    /// A PNG of the whole page, `width` CSS pixels wide (its full height, not just the viewport).
    pub async fn screenshot(&self, width: u32) -> Result<Vec<u8>> {
        use base64::Engine as _;
        let mut height = 900;
        // Twice: the page's height at `width` is known once it is laid out at that width.
        for _ in 0..2 {
            self.call(
                "Emulation.setDeviceMetricsOverride",
                json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": false }),
            )
            .await?;
            height = self
                .eval("document.documentElement.scrollHeight")
                .await?
                .as_u64()
                .unwrap_or(900);
        }
        let shot = self
            .call(
                "Page.captureScreenshot",
                json!({ "format": "png", "captureBeyondViewport": true }),
            )
            .await?;
        let data = shot["data"]
            .as_str()
            .ok_or_else(|| anyhow!("Page.captureScreenshot gave no data: {shot}"))?;
        Ok(base64::engine::general_purpose::STANDARD.decode(data)?)
    }

    /// Evaluates `js` every 50 ms until its value is truthy (not `null`, `undefined` or `false`)
    /// and returns it; after `timeout`, an error naming the expression and its last value.
    /// Exceptions while polling (say, before the page has loaded) count as not yet.
    pub async fn wait_for(&self, js: &str, timeout: Duration) -> Result<Value> {
        let started = Instant::now();
        loop {
            let last = self.eval(js).await;
            match &last {
                Ok(Value::Null | Value::Bool(false)) | Err(_) => {}
                Ok(value) => return Ok(value.clone()),
            }
            if started.elapsed() > timeout {
                let last = match last {
                    Ok(value) => value.to_string(),
                    Err(error) => format!("error: {error:#}"),
                };
                bail!("`{js}` was not truthy within {timeout:?}; last value: {last}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
