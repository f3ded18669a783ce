//! Finding the workspace and its context crates, and reading their files.

use std::path::{Path, PathBuf};

use super::ScaffoldError;

/// The workspace root: `root` if given (it must hold the workspace's Cargo.toml), else `from` or
/// its nearest ancestor whose Cargo.toml has a `[workspace]` section.
pub fn workspace_root(root: Option<&Path>, from: &Path) -> Result<PathBuf, ScaffoldError> {
    let is_workspace = |dir: &Path| {
        std::fs::read_to_string(dir.join("Cargo.toml"))
            .is_ok_and(|text| text.lines().any(|l| l.trim() == "[workspace]"))
    };
    match root {
        Some(root) if is_workspace(root) => Ok(root.to_owned()),
        Some(root) => Err(ScaffoldError::NoWorkspace(root.to_owned())),
        None => from
            .ancestors()
            .find(|dir| is_workspace(dir))
            .map(Path::to_owned)
            .ok_or_else(|| ScaffoldError::NoWorkspace(from.to_owned())),
    }
}

/// A context crate: a workspace member with `src/events.rs`.
pub(super) struct Context {
    pub(super) dir: PathBuf,
    /// The folder (= package) name, e.g. `learning-path`.
    pub(super) package: String,
    /// The library's name, e.g. `learning_path`.
    pub(super) krate: String,
}

impl Context {
    pub(super) fn events(&self) -> PathBuf {
        self.dir.join("src/events.rs")
    }
    pub(super) fn lib(&self) -> PathBuf {
        self.dir.join("src/lib.rs")
    }
}

pub(super) fn read(path: &Path) -> Result<String, ScaffoldError> {
    std::fs::read_to_string(path).map_err(|source| ScaffoldError::Io {
        path: path.to_owned(),
        source,
    })
}

/// The workspace's members, from the root Cargo.toml's `members = [...]`.
fn members(root: &Path) -> Result<Vec<String>, ScaffoldError> {
    let manifest = read(&root.join("Cargo.toml"))?;
    let start = manifest
        .find("members")
        .and_then(|i| manifest[i..].find('[').map(|j| i + j + 1));
    let Some(start) = start else {
        return Ok(Vec::new());
    };
    let end = manifest[start..].find(']').map_or(manifest.len(), |j| start + j);
    Ok(manifest[start..end]
        .split(',')
        .map(|m| m.trim().trim_matches('"').to_owned())
        .filter(|m| !m.is_empty())
        .collect())
}

fn contexts(root: &Path) -> Result<Vec<Context>, ScaffoldError> {
    Ok(members(root)?
        .into_iter()
        .filter(|m| root.join(m).join("src/events.rs").is_file())
        .map(|package| Context {
            dir: root.join(&package),
            krate: package.replace('-', "_"),
            package,
        })
        .collect())
}

pub(super) fn find_context(root: &Path, name: &str) -> Result<(Context, Vec<Context>), ScaffoldError> {
    let mut all = contexts(root)?;
    match all.iter().position(|c| c.package == name || c.krate == name) {
        Some(i) => {
            let context = all.remove(i);
            Ok((context, all))
        }
        None => Err(ScaffoldError::UnknownContext {
            context: name.to_owned(),
            known: all.into_iter().map(|c| c.package).collect(),
        }),
    }
}

/// Every `.rs` file under `dir`.
pub(super) fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), ScaffoldError> {
    let entries = std::fs::read_dir(dir).map_err(|source| ScaffoldError::Io {
        path: dir.to_owned(),
        source,
    })?;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    Ok(())
}
