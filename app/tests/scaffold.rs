//! `enteraksi make event|listener` on a copy of this workspace: what it writes compiles (`cargo
//! test -p enrollment --no-run` there), and the test skeletons it writes fail, with their
//! message, until someone writes them.
//!
//! The copy and its build directory are kept between runs (under `$CARGO_TARGET_DIR/scaffold`,
//! or the system's temporary directory) and the copy keeps the sources' modification times, so
//! after the first run (a build of `enrollment`'s dependencies, several minutes) only the
//! scaffolded crate is compiled again (about a minute).

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::process::enteraksi;

/// The workspace this test belongs to.
fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned()
}

/// Where the copy and its build directory live, across runs.
fn scaffold_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(target) => PathBuf::from(target).join("scaffold"),
        None => std::env::temp_dir().join("enteraksi-scaffold"),
    }
}

/// Copies `from` to `to` (no `target` directories, nothing hidden), keeping modification times so
/// Cargo sees the unchanged crates as fresh.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == "target" || name.to_string_lossy().starts_with('.') {
            continue;
        }
        let (source, dest) = (entry.path(), to.join(&name));
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&source, &dest);
        } else {
            std::fs::copy(&source, &dest).unwrap();
            let modified = entry.metadata().unwrap().modified().unwrap();
            std::fs::File::options()
                .write(true)
                .open(&dest)
                .unwrap()
                .set_modified(modified)
                .unwrap();
        }
    }
}

/// A fresh copy of the workspace's manifests and member crates.
fn copy_workspace(to: &Path) {
    if to.exists() {
        std::fs::remove_dir_all(to).unwrap();
    }
    std::fs::create_dir_all(to).unwrap();
    let root = workspace();
    for file in ["Cargo.toml", "Cargo.lock", "rustfmt.toml"] {
        std::fs::copy(root.join(file), to.join(file)).unwrap();
    }
    for member in [
        "shared-kernel",
        "course",
        "enrollment",
        "progress",
        "assessment",
        "learning-path",
        "app",
        "tests",
    ] {
        copy_tree(&root.join(member), &to.join(member));
    }
}

/// Every file under `dir` with its text, in order.
fn sources(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let text = std::fs::read_to_string(&path).unwrap();
                files.push((path, text));
            }
        }
    }
    files.sort();
    files
}

fn make(root: &Path, args: &[&str]) -> String {
    let output = enteraksi()
        .arg("make")
        .args(args)
        .arg("--root")
        .arg(root)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "make {args:?}: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

fn cargo(root: &Path, target: &Path, args: &[&str]) -> Output {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
        .args(args)
        .arg("--offline")
        .current_dir(root)
        .env("CARGO_TARGET_DIR", target)
        .output()
        .unwrap()
}

#[test]
fn a_scaffolded_event_and_listeners_compile_and_their_skeleton_tests_fail_until_written() {
    let base = scaffold_dir();
    let root = base.join("workspace");
    let target = base.join("target");
    copy_workspace(&root);

    let event = make(&root, &["event", "enrollment", "CertificateRevoked"]);
    assert!(
        event.contains(".event::<enrollment::CertificateRevoked>()"),
        "the provider line: {event}"
    );
    assert!(
        event.contains("| CertificateRevoked | enrollment.certificate_revoked | enrollment |"),
        "{event}"
    );
    let queued = make(
        &root,
        &[
            "listener",
            "enrollment",
            "NotifyRegistrar",
            "--event",
            "CertificateRevoked",
            "--queued",
        ],
    );
    assert!(
        queued.contains(
            ".listen_queued::<enrollment::CertificateRevoked, _>(enrollment::NotifyRegistrar::new(), \
             enrollment::NotifyRegistrar::queue_options())"
        ),
        "{queued}"
    );
    // A sync listener of an upstream context's event, named by its event name.
    let sync = make(
        &root,
        &[
            "listener",
            "enrollment",
            "CountPublications",
            "--event",
            "course.published",
        ],
    );
    assert!(
        sync.contains(".listen_sync::<course::CoursePublished, _>(enrollment::CountPublications::new())"),
        "{sync}"
    );

    // Compiling the crate and its tests (what `cargo check --tests` checks, plus code generation)
    // leaves the build the test run below reuses: one build instead of two.
    let check = cargo(&root, &target, &["test", "-p", "enrollment", "--lib", "--no-run"]);
    assert!(
        check.status.success(),
        "the scaffolded code compiles: {}",
        String::from_utf8_lossy(&check.stderr)
    );

    let test = cargo(
        &root,
        &target,
        &["test", "-p", "enrollment", "--lib", "skeleton_is_filled_in"],
    );
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&test.stdout),
        String::from_utf8_lossy(&test.stderr)
    );
    assert!(!test.status.success(), "the skeletons fail: {out}");
    for (name, test) in [
        ("CertificateRevoked", "certificate_revoked_skeleton_is_filled_in"),
        ("NotifyRegistrar", "notify_registrar_skeleton_is_filled_in"),
        ("CountPublications", "count_publications_skeleton_is_filled_in"),
    ] {
        assert!(
            out.contains(&format!("{test} ... FAILED")),
            "{test} ran and failed: {out}"
        );
        assert!(
            out.contains(&format!("not yet implemented: {name} is scaffolded: write its test")),
            "{name}'s skeleton says what to write: {out}"
        );
    }
    assert!(out.contains("0 passed; 3 failed"), "{out}");
}

#[test]
fn a_refused_scaffold_says_why_and_changes_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::copy(workspace().join("Cargo.toml"), root.join("Cargo.toml")).unwrap();
    for member in ["course", "enrollment"] {
        copy_tree(&workspace().join(member).join("src"), &root.join(member).join("src"));
        std::fs::copy(
            workspace().join(member).join("Cargo.toml"),
            root.join(member).join("Cargo.toml"),
        )
        .unwrap();
    }
    let before = sources(root);
    for (args, says) in [
        (
            &["event", "enrollment", "certificate_revoked"][..],
            "`certificate_revoked` is not a PascalCase type name",
        ),
        (
            &["event", "billing", "InvoicePaid"][..],
            "no context `billing` in the workspace",
        ),
        (
            &["event", "enrollment", "UserEnrolled"][..],
            "`UserEnrolled` already exists",
        ),
        (
            &["listener", "enrollment", "NotifyPathTeam", "--event", "PathCompleted"][..],
            "no event `PathCompleted` that `enrollment` can listen to",
        ),
    ] {
        let output = enteraksi()
            .arg("make")
            .args(args)
            .arg("--root")
            .arg(root)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
    assert_eq!(sources(root), before, "no file changed or appeared");
}
