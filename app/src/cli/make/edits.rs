//! The edits a scaffold makes to existing files (re-exports, module lines), and the writing of
//! every file once all are checked.

use std::path::PathBuf;

use super::ScaffoldError;

/// Adds `name` to the `pub use {module}::…;` statement of `text` (making it a list), or adds
/// such a statement after the last `pub use` (or at the end).
pub(super) fn add_reexport(text: &str, module: &str, name: &str) -> String {
    let head = format!("pub use {module}::");
    if let Some(start) = text.find(&head)
        && let Some(len) = text[start..].find(';')
    {
        let items = &text[start + head.len()..start + len];
        let mut names: Vec<String> = items
            .trim_matches(|c| c == '{' || c == '}')
            .split(',')
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty())
            .collect();
        names.push(name.to_owned());
        names.sort();
        return format!(
            "{}{head}{{{}}}{}",
            &text[..start],
            names.join(", "),
            &text[start + len..]
        );
    }
    let line = format!("{head}{name};\n");
    match text.rfind("\npub use ") {
        Some(i) => {
            let end = text[i + 1..].find(";\n").map_or(text.len(), |j| i + 1 + j + 2);
            format!("{}{line}{}", &text[..end], &text[end..])
        }
        None => format!("{text}{line}"),
    }
}

/// Adds `line` after the last line of `text` starting with `prefix`, or after the doc comment at
/// the top.
pub(super) fn add_line_after_last(text: &str, prefix: &str, line: &str) -> String {
    let mut lines: Vec<&str> = text.lines().collect();
    let at = lines
        .iter()
        .rposition(|l| l.starts_with(prefix))
        .map(|i| i + 1)
        .or_else(|| lines.iter().position(|l| !l.starts_with("//!")).map(|i| i + 1))
        .unwrap_or(lines.len());
    lines.insert(at.min(lines.len()), line);
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

/// The files to write, all checked before any is.
pub(super) struct Writes(pub(super) Vec<(PathBuf, String)>);

impl Writes {
    pub(super) fn apply(self) -> Result<Vec<PathBuf>, ScaffoldError> {
        let mut written = Vec::new();
        for (path, text) in self.0 {
            std::fs::write(&path, text).map_err(|source| ScaffoldError::Io {
                path: path.clone(),
                source,
            })?;
            written.push(path);
        }
        Ok(written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reexport_list_gains_the_name_in_order() {
        let lib = "mod events;\n\npub use events::{EnrollmentCompleted, UserEnrolled};\npub use x::Y;\n";
        assert_eq!(
            add_reexport(lib, "events", "CertificateRevoked"),
            "mod events;\n\npub use events::{CertificateRevoked, EnrollmentCompleted, UserEnrolled};\npub use x::Y;\n"
        );
        assert_eq!(
            add_reexport("pub use events::A;\n", "events", "B"),
            "pub use events::{A, B};\n"
        );
        assert_eq!(
            add_reexport("mod a;\npub use error::E;\n\nfn f() {}\n", "listeners", "N"),
            "mod a;\npub use error::E;\npub use listeners::N;\n\nfn f() {}\n"
        );
    }
}
