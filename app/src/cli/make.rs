//! `enteraksi make event|listener`: writes a new event or listener into a context crate, in its
//! house style, with a test skeleton that fails until it is written, and prints the line that
//! registers it in `app/src/provider.rs` (and the event's catalog row).
//!
//! Everything is checked before anything is written: a name that is not PascalCase or already
//! taken in the context, an unknown context or event, or a workspace that cannot be found is an
//! error, and the files are left as they were.

mod edits;
mod learn;
mod names;
mod templates;
mod workspace;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use clap::Subcommand;

use edits::{Writes, add_line_after_last, add_reexport};
use learn::{KnownEvent, events_in, learn_aggregate};
use names::{ensure_free, is_pascal_case};
use templates::{EventSpec, ListenerSpec};
use workspace::{Context, find_context, read, workspace_root};

/// `enteraksi make …`.
#[derive(Debug, Subcommand)]
pub(super) enum MakeCommand {
    /// Write a new event into CONTEXT's events.rs (with a failing test skeleton) and print the
    /// provider line that lists it in `event list`.
    Event {
        /// The context crate (`course`, `enrollment`, `assessment`, `progress`, `learning-path`).
        context: String,
        /// The event type, PascalCase and past tense (`CertificateRevoked`).
        name: String,
        /// The workspace root. Default: the current directory or its nearest ancestor whose
        /// Cargo.toml has a [workspace].
        #[arg(long)]
        root: Option<PathBuf>,
    },
    /// Write a new listener into CONTEXT's listeners/ (with a failing test skeleton) and print
    /// the provider line that registers it.
    Listener {
        /// The context crate.
        context: String,
        /// The listener type, PascalCase (`NotifyAuditor`).
        name: String,
        /// The event it listens to: its type (`UserDropped`) or name (`enrollment.dropped`), of
        /// this context or one it depends on.
        #[arg(long)]
        event: String,
        /// Run after commit from a job (queue `default`) instead of in the command's transaction.
        #[arg(long)]
        queued: bool,
        /// The workspace root (as for `make event`).
        #[arg(long)]
        root: Option<PathBuf>,
    },
}

/// Why nothing was scaffolded. Nothing was written in any case.
#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    /// No Cargo.toml with a `[workspace]` at `--root` or above the current directory.
    #[error("no Cargo workspace at or above {0} (give its root with --root)")]
    NoWorkspace(PathBuf),
    /// The name is not PascalCase (`CertificateRevoked`: letters and digits, an upper-case
    /// letter first, no two upper-case letters in a row).
    #[error("`{0}` is not a PascalCase type name (e.g. `CertificateRevoked`)")]
    NotPascalCase(String),
    /// The context is not a context crate of the workspace.
    #[error("no context `{context}` in the workspace; the contexts are: {}", known.join(", "))]
    UnknownContext {
        /// What was asked for.
        context: String,
        /// The contexts there are.
        known: Vec<String>,
    },
    /// A type (or the file a listener would go to) of that name exists in the context already.
    #[error("`{name}` already exists in {}", path.display())]
    Taken {
        /// The name.
        name: String,
        /// Where.
        path: PathBuf,
    },
    /// Another event of the workspace already has the event name.
    #[error("an event is already named `{0}`")]
    EventNameTaken(String),
    /// The event is neither the context's nor of a context it depends on.
    #[error("no event `{event}` that `{context}` can listen to; it can listen to: {}", known.join(", "))]
    UnknownEvent {
        /// What was asked for.
        event: String,
        /// The context.
        context: String,
        /// The events it can listen to.
        known: Vec<String>,
    },
    /// The context's files do not look like a context crate (e.g. no event to learn the
    /// aggregate from).
    #[error("cannot scaffold into {}: {reason}", path.display())]
    Unrecognized {
        /// The file.
        path: PathBuf,
        /// What is missing.
        reason: String,
    },
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// Runs `enteraksi make …`: scaffolds, then prints what was written and what to add by hand.
pub(super) fn run(command: MakeCommand) -> anyhow::Result<()> {
    let cwd = std::env::current_dir()?;
    let scaffolded = match command {
        MakeCommand::Event { context, name, root } => {
            make_event(&workspace_root(root.as_deref(), &cwd)?, &context, &name)?
        }
        MakeCommand::Listener {
            context,
            name,
            event,
            queued,
            root,
        } => make_listener(&workspace_root(root.as_deref(), &cwd)?, &context, &name, &event, queued)?,
    };
    print!("{}", scaffolded.report());
    Ok(())
}

/// What a scaffold wrote, and what is left to the person.
#[derive(Debug)]
pub struct Scaffolded {
    /// The files written (created or changed).
    pub files: Vec<PathBuf>,
    /// The failing test skeleton's name (`cargo test -p CONTEXT NAME`).
    pub test: String,
    /// The line to add to `app/src/provider.rs`.
    pub provider_line: String,
    /// The event catalog's row (events only).
    pub catalog_row: Option<String>,
    /// The context's package.
    pub package: String,
}

impl Scaffolded {
    /// What `make` prints.
    pub fn report(&self) -> String {
        let mut out = String::new();
        for file in &self.files {
            let _ = writeln!(out, "wrote {}", file.display());
        }
        let _ = writeln!(out, "add to app/src/provider.rs:\n        {}", self.provider_line);
        if let Some(row) = &self.catalog_row {
            let _ = writeln!(out, "catalog row (DESIGN.md §5):\n{row}");
        }
        let _ = writeln!(
            out,
            "its test fails until written: cargo test -p {} {}",
            self.package, self.test
        );
        out
    }
}

/// Writes event `name` into `context` (see the module docs).
///
/// # Errors
/// [`ScaffoldError`]; nothing is written then.
pub fn make_event(root: &Path, context: &str, name: &str) -> Result<Scaffolded, ScaffoldError> {
    if !is_pascal_case(name) {
        return Err(ScaffoldError::NotPascalCase(name.to_owned()));
    }
    let (context, others) = find_context(root, context)?;
    ensure_free(&context, name)?;
    let events_path = context.events();
    let events = read(&events_path)?;
    let (aggregate_type, id_field, id_type, prefix) = learn_aggregate(&events_path, &events)?;
    let event_name = format!("{prefix}.{}", templates::snake_case(name));
    for other in std::iter::once(&context).chain(&others) {
        if events_in(&read(&other.events())?).iter().any(|e| e.name == event_name) {
            return Err(ScaffoldError::EventNameTaken(event_name));
        }
    }
    let spec = EventSpec {
        name,
        event_name: &event_name,
        aggregate_type: &aggregate_type,
        id_field: &id_field,
        id_type: &id_type,
        has_json: events.contains("use serde_json::{Value, json};"),
    };
    let lib = read(&context.lib())?;
    let files = Writes(vec![
        (events_path, format!("{events}{}", templates::event(&spec))),
        (context.lib(), add_reexport(&lib, "events", name)),
    ])
    .apply()?;
    Ok(Scaffolded {
        files,
        test: templates::skeleton_test(name),
        provider_line: templates::provider_event_line(&context.krate, name),
        catalog_row: Some(templates::catalog_row(&spec)),
        package: context.package,
    })
}

/// Writes listener `name` of `event` into `context` (see the module docs).
///
/// # Errors
/// [`ScaffoldError`]; nothing is written then.
pub fn make_listener(
    root: &Path,
    context: &str,
    name: &str,
    event: &str,
    queued: bool,
) -> Result<Scaffolded, ScaffoldError> {
    if !is_pascal_case(name) {
        return Err(ScaffoldError::NotPascalCase(name.to_owned()));
    }
    let (context, others) = find_context(root, context)?;
    ensure_free(&context, name)?;
    // The events it may listen to: its own, and those of the contexts it depends on.
    let manifest = read(&context.dir.join("Cargo.toml"))?;
    let dependencies = manifest.split("[dev-dependencies]").next().unwrap_or_default();
    let mut known: Vec<(KnownEvent, Option<&Context>)> = events_in(&read(&context.events())?)
        .into_iter()
        .map(|e| (e, None))
        .collect();
    for other in &others {
        if dependencies
            .lines()
            .any(|l| l.starts_with(&format!("{} ", other.package)))
        {
            known.extend(events_in(&read(&other.events())?).into_iter().map(|e| (e, Some(other))));
        }
    }
    let Some((found, owner)) = known.iter().find(|(e, _)| e.ty == event || e.name == event) else {
        return Err(ScaffoldError::UnknownEvent {
            event: event.to_owned(),
            context: context.package.clone(),
            known: known.iter().map(|(e, _)| format!("{} ({})", e.ty, e.name)).collect(),
        });
    };
    let (event_path, provider_event) = match owner {
        None => (
            format!("crate::events::{}", found.ty),
            format!("{}::{}", context.krate, found.ty),
        ),
        Some(owner) => {
            let path = format!("{}::{}", owner.krate, found.ty);
            (path.clone(), path)
        }
    };
    let snake = templates::snake_case(name);
    let listeners = context.dir.join("src/listeners");
    let file = listeners.join(format!("{snake}.rs"));
    if file.exists() {
        return Err(ScaffoldError::Taken {
            name: name.to_owned(),
            path: file,
        });
    }
    let spec = ListenerSpec {
        name,
        event: &found.ty,
        event_name: &found.name,
        event_path: &event_path,
        queued,
    };
    let mod_path = listeners.join("mod.rs");
    let mut lib = read(&context.lib())?;
    let module = if mod_path.is_file() {
        read(&mod_path)?
    } else {
        // The context's first listener: the module, declared after `mod events;`.
        lib = add_line_after_last(&lib, "mod events;", "mod listeners;");
        templates::listeners_mod(&context.package)
    };
    let module = add_line_after_last(&module, "mod ", &format!("mod {snake};"));
    let module = add_reexport(&module, &snake, name);
    let lib = add_reexport(&lib, "listeners", name);
    if !listeners.is_dir() {
        std::fs::create_dir(&listeners).map_err(|source| ScaffoldError::Io {
            path: listeners.clone(),
            source,
        })?;
    }
    let files = Writes(vec![
        (file, templates::listener(&spec)),
        (mod_path, module),
        (context.lib(), lib),
    ])
    .apply()?;
    Ok(Scaffolded {
        files,
        test: templates::skeleton_test(name),
        provider_line: templates::provider_listener_line(&context.krate, name, &provider_event, queued),
        catalog_row: None,
        package: context.package,
    })
}

#[cfg(test)]
mod tests {
    use super::workspace::rust_files;
    use super::*;

    /// A throwaway workspace of one context crate, `enrollment`, beside `course`.
    fn workspace() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(
            root.join("Cargo.toml"),
            "[workspace]\nmembers = [\"course\", \"enrollment\"]\n",
        )
        .unwrap();
        for (package, event, name, deps) in [
            ("course", "CoursePublished", "course.published", ""),
            (
                "enrollment",
                "UserEnrolled",
                "enrollment.created",
                "course = { workspace = true }\n",
            ),
        ] {
            let src = root.join(package).join("src");
            std::fs::create_dir_all(&src).unwrap();
            std::fs::write(
                root.join(package).join("Cargo.toml"),
                format!("[package]\nname = \"{package}\"\n\n[dependencies]\n{deps}"),
            )
            .unwrap();
            std::fs::write(
                src.join("lib.rs"),
                "//! A context.\n\nmod events;\n\npub use events::Existing;\n",
            )
            .unwrap();
            std::fs::write(
                src.join("events.rs"),
                format!(
                    "pub struct {event} {{\n    pub {package}_id: Id,\n}}\n\nimpl DomainEvent for {event} {{\n    \
                     const NAME: &'static str = \"{name}\";\n    const AGGREGATE_TYPE: &'static str = \"{package}\";\n\n    \
                     fn aggregate_id(&self) -> String {{\n        self.{package}_id.to_string()\n    }}\n}}\n"
                ),
            )
            .unwrap();
        }
        dir
    }

    fn snapshot(root: &Path) -> Vec<(PathBuf, String)> {
        let mut files = Vec::new();
        rust_files(root, &mut files).unwrap();
        files.sort();
        files
            .into_iter()
            .map(|f| (f.clone(), std::fs::read_to_string(f).unwrap()))
            .collect()
    }

    #[test]
    fn bad_requests_are_refused_and_write_nothing() {
        let dir = workspace();
        let root = dir.path();
        let before = snapshot(root);
        let refused = [
            make_event(root, "enrollment", "certificateRevoked").unwrap_err(),
            make_event(root, "billing", "InvoicePaid").unwrap_err(),
            make_event(root, "enrollment", "UserEnrolled").unwrap_err(),
            make_listener(root, "enrollment", "SendWelcome", "enrollment.nope", true).unwrap_err(),
            make_listener(root, "course", "Welcome", "UserEnrolled", true).unwrap_err(),
            make_listener(root, "enrollment", "Bad_Name", "UserEnrolled", false).unwrap_err(),
        ];
        assert!(matches!(refused[0], ScaffoldError::NotPascalCase(_)));
        assert!(
            matches!(&refused[1], ScaffoldError::UnknownContext { known, .. } if known == &["course", "enrollment"]),
            "{}",
            refused[1]
        );
        assert!(matches!(refused[2], ScaffoldError::Taken { .. }));
        assert!(matches!(refused[3], ScaffoldError::UnknownEvent { .. }));
        // `course` does not depend on `enrollment`, so it cannot listen to its events.
        assert!(
            matches!(&refused[4], ScaffoldError::UnknownEvent { known, .. } if known == &["CoursePublished (course.published)"]),
            "{}",
            refused[4]
        );
        assert!(matches!(refused[5], ScaffoldError::NotPascalCase(_)));
        assert_eq!(snapshot(root), before, "nothing was written");
    }

    #[test]
    fn an_event_and_a_listener_are_written_into_the_context_and_reexported() {
        let dir = workspace();
        let root = dir.path();
        let made = make_event(root, "enrollment", "CertificateRevoked").unwrap();
        assert_eq!(made.provider_line, ".event::<enrollment::CertificateRevoked>()");
        assert_eq!(made.test, "certificate_revoked_skeleton_is_filled_in");
        let events = std::fs::read_to_string(root.join("enrollment/src/events.rs")).unwrap();
        assert!(events.contains("const NAME: &'static str = \"enrollment.certificate_revoked\";"));
        assert!(events.contains("pub enrollment_id: Id,"));
        let lib = std::fs::read_to_string(root.join("enrollment/src/lib.rs")).unwrap();
        assert!(lib.contains("pub use events::{CertificateRevoked, Existing};"), "{lib}");

        // A second event of the same name is refused; so is its event name.
        assert!(matches!(
            make_event(root, "enrollment", "CertificateRevoked"),
            Err(ScaffoldError::Taken { .. })
        ));

        let made = make_listener(root, "enrollment", "NotifyRegistrar", "course.published", true).unwrap();
        assert_eq!(
            made.provider_line,
            ".listen_queued::<course::CoursePublished, _>(enrollment::NotifyRegistrar::new(), \
             enrollment::NotifyRegistrar::queue_options())"
        );
        let listener = std::fs::read_to_string(root.join("enrollment/src/listeners/notify_registrar.rs")).unwrap();
        assert!(listener.contains("use course::CoursePublished;"));
        let module = std::fs::read_to_string(root.join("enrollment/src/listeners/mod.rs")).unwrap();
        assert!(module.contains("mod notify_registrar;\n"), "{module}");
        assert!(
            module.contains("pub use notify_registrar::NotifyRegistrar;"),
            "{module}"
        );
        let lib = std::fs::read_to_string(root.join("enrollment/src/lib.rs")).unwrap();
        assert!(lib.contains("mod events;\nmod listeners;\n"), "{lib}");
        assert!(lib.contains("pub use listeners::NotifyRegistrar;"), "{lib}");

        // A listener of its own context's event is imported from `crate::events`.
        let made = make_listener(root, "enrollment", "CountRevocations", "CertificateRevoked", false).unwrap();
        assert_eq!(
            made.provider_line,
            ".listen_sync::<enrollment::CertificateRevoked, _>(enrollment::CountRevocations::new())"
        );
        let lib = std::fs::read_to_string(root.join("enrollment/src/lib.rs")).unwrap();
        assert!(
            lib.contains("pub use listeners::{CountRevocations, NotifyRegistrar};"),
            "{lib}"
        );
    }

    #[test]
    fn the_workspace_is_found_above_the_current_directory_or_at_root() {
        let dir = workspace();
        let root = dir.path();
        assert_eq!(workspace_root(None, &root.join("enrollment/src")).unwrap(), root);
        assert_eq!(workspace_root(Some(root), Path::new("/")).unwrap(), root);
        assert!(matches!(
            workspace_root(Some(&root.join("enrollment")), root),
            Err(ScaffoldError::NoWorkspace(_))
        ));
    }
}
