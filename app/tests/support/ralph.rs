//! A real Ralph LRS (PyPI `ralph-malph`) on loopback, for the xAPI tests and benchmark.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The variable naming the `ralph` binary of Ralph's virtual environment.
pub const RALPH_VAR: &str = "ENTERAKSI_TEST_RALPH";
/// The Basic-auth user the tests create in Ralph.
pub const KEY: &str = "enteraksi";
/// Its password.
pub const SECRET: &str = "rahasia-lrs";

/// The `ralph` binary of the virtual environment, or a failure saying the test did not run.
pub fn ralph_or_fail(test: &str) -> PathBuf {
    match std::env::var_os(RALPH_VAR).filter(|p| !p.is_empty()) {
        Some(path) => PathBuf::from(path),
        None => panic!(
            "{test} DID NOT RUN: it needs a real Ralph LRS. Install it (`python3 -m venv V && \
             V/bin/pip install \"ralph-malph[cli,lrs]\" requests`; `.ci/run` does this) and set \
             {RALPH_VAR}=V/bin/ralph."
        ),
    }
}

/// A Ralph LRS on loopback, with its file-system store in a temporary directory that outlives
/// a stop, so it can be started again on the same port with what it held.
pub struct Ralph {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
}

impl Ralph {
    /// Creates the credentials and starts the server on a free port.
    pub fn start(bin: PathBuf) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let output = Command::new(&bin)
            .args([
                "auth",
                "-u",
                KEY,
                "-p",
                SECRET,
                "-s",
                "all",
                "-A",
                KEY,
                "http://localhost",
                "-w",
            ])
            .env("RALPH_APP_DIR", dir.path())
            .env("RALPH_RUNSERVER_BACKEND", "fs")
            .output()
            .expect("`ralph auth` runs");
        assert!(
            output.status.success(),
            "`ralph auth` failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut ralph = Self {
            bin,
            dir,
            port,
            child: None,
        };
        ralph.resume();
        ralph
    }

    /// Starts the server (again) and waits until it answers.
    pub fn resume(&mut self) {
        let python = self.bin.with_file_name("python");
        let launcher = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/ralph_lrs.py");
        let child = Command::new(python)
            .args([launcher, "127.0.0.1", &self.port.to_string()])
            .arg(self.dir.path().join("fs"))
            .env("RALPH_APP_DIR", self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("Ralph's python runs");
        self.child = Some(child);
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "Ralph did not answer within 60 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops the server; what it stored stays on disk.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The LRS's base IRI (`…/xAPI/`).
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}/xAPI/", self.port)
    }

    /// Every statement Ralph holds, following `more` page by page.
    pub async fn statements(&self) -> Vec<Value> {
        let client = reqwest::Client::new();
        let mut all = Vec::new();
        let mut next = "/xAPI/statements?limit=40".to_owned();
        loop {
            let page: Value = client
                .get(format!("http://127.0.0.1:{}{next}", self.port))
                .basic_auth(KEY, Some(SECRET))
                .header("X-Experience-API-Version", "1.0.3")
                .send()
                .await
                .unwrap()
                .error_for_status()
                .unwrap()
                .json()
                .await
                .unwrap();
            all.extend(page["statements"].as_array().unwrap().iter().cloned());
            match page["more"].as_str() {
                Some(more) if !more.is_empty() => next = more.to_owned(),
                _ => return all,
            }
        }
    }
}

impl Drop for Ralph {
    fn drop(&mut self) {
        self.stop();
    }
}
