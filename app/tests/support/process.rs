//! Running the `enteraksi` binary from tests: a command with a clean environment, and spawning
//! one that announces its address on stderr.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// `enteraksi` with none of the environment that would change what a test sets.
pub fn enteraksi() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_enteraksi"));
    command
        .env_remove("DATABASE_URL")
        .env_remove("MAIL_TRANSPORT")
        .env_remove("SMTP_URL")
        .env_remove("ENTERAKSI_LOG");
    command
}

/// Spawns `command` and waits until a line of its stderr contains `announce`; returns the child
/// and the word after it (e.g. `127.0.0.1:4321` after `on http://`). The rest of stderr is
/// drained in the background.
pub fn spawn_announcing(command: &mut Command, announce: &str) -> (Child, String) {
    let mut child = command.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    let address = loop {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "{command:?} ended before announcing `{announce}`"
        );
        if let Some(rest) = line.split(announce).nth(1) {
            break rest
                .split_whitespace()
                .next()
                .unwrap()
                .trim_end_matches("/metrics")
                .to_owned();
        }
    };
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    (child, address)
}

/// Sends the signal `name` (`TERM`, `INT`, `KILL`) to `child`.
pub fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([format!("-{name}"), child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Waits up to `within` for `child` to exit; its exit code, or a panic.
pub fn exit_code(child: &mut Child, within: std::time::Duration) -> Option<i32> {
    let started = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        assert!(started.elapsed() < within, "the process did not stop within {within:?}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The URL of a new SQLite database file in `dir`.
pub fn sqlite_url(dir: &tempfile::TempDir) -> String {
    format!("sqlite:{}", dir.path().join("lms.db").display())
}

/// `enteraksi user add` on `url` (migrating it first if new); the new user's API token.
pub fn add_user(url: &str, name: &str, email: &str, role: &str) -> String {
    let output = enteraksi()
        .args([
            "--database-url",
            url,
            "user",
            "add",
            "--name",
            name,
            "--email",
            email,
            "--role",
            role,
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// `enteraksi serve` on `url`, listening on `bind` (`127.0.0.1:0` for any port), with `workers`
/// worker slots; the process (killed if the test ends first, a failed assertion included) and
/// its address (`127.0.0.1:4321`).
pub fn serve(url: &str, bind: &str, workers: usize) -> (KillOnDrop, String) {
    let workers = workers.to_string();
    let (child, address) = spawn_announcing(
        enteraksi().args(["--database-url", url, "serve", "--bind", bind, "--workers", &workers]),
        "on http://",
    );
    (KillOnDrop(child), address)
}

/// A child process that is killed when dropped unless it has exited, so a failing test leaves
/// no server running.
#[derive(Debug)]
pub struct KillOnDrop(pub Child);

impl std::ops::Deref for KillOnDrop {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for KillOnDrop {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}
