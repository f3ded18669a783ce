//! What the binary prints to an operator: its help, its errors, and a closed pipe.

use std::process::Command;

use crate::helpers::run;
use crate::support::process::{enteraksi, sqlite_url};

#[test]
fn a_closed_pipe_ends_the_program_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    for command in [
        format!(
            "'{}' --database-url '{url}' demo --learners 3 | head -2",
            env!("CARGO_BIN_EXE_enteraksi")
        ),
        format!(
            "'{}' --database-url '{url}' audit --all | head -1",
            env!("CARGO_BIN_EXE_enteraksi")
        ),
    ] {
        let output = Command::new("bash")
            .args(["-o", "pipefail", "-c", &command])
            .env_remove("DATABASE_URL")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !stderr.contains("panicked") && !stderr.contains("Broken pipe") && !stderr.contains("error"),
            "{command}: {stderr}"
        );
        // Ended by SIGPIPE (128 + 13) or done before the pipe closed: never a panic (101) or an error (1).
        assert!(
            matches!(output.status.code(), Some(0 | 141)),
            "{command}: {:?}",
            output.status
        );
    }
}

#[test]
fn errors_print_their_message_chain_without_a_backtrace_and_logs_have_no_colour_in_a_file() {
    let (output, stderr) = run(enteraksi()
        .env("RUST_BACKTRACE", "1")
        .env("ENTERAKSI_LOG", "info")
        .args(["--database-url", "postgres://postgres@127.0.0.1:1/x", "migrate"]));

    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr.starts_with("") && stderr.contains("error: cannot connect"),
        "{stderr}"
    );
    assert!(!stderr.to_lowercase().contains("backtrace"), "{stderr}");
    assert!(
        !stderr.contains('\u{1b}'),
        "no ANSI colour when stderr is not a terminal: {stderr:?}"
    );
}

#[test]
fn the_help_speaks_to_an_operator_and_documents_the_worker_flags() {
    let (output, _) = run(enteraksi().arg("--help"));
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(help.contains("learning-management system"), "{help}");
    assert!(!help.contains("registration of every listener"), "{help}");
    let (output, _) = run(enteraksi().args(["queue", "work", "--help"]));
    let help = String::from_utf8_lossy(&output.stdout);
    for flag in ["--lease", "--poll-ms", "--grace"] {
        assert!(help.contains(flag), "{help}");
    }
    let (output, _) = run(enteraksi().args(["demo", "--help"]));
    assert!(String::from_utf8_lossy(&output.stdout).contains("sqlite:data/demo.db"));
}
