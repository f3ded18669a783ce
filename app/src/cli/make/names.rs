//! Whether a new type's name may be used: well-formed, and not taken in its context.

use super::ScaffoldError;
use super::workspace::{Context, read, rust_files};

/// Whether `name` is a PascalCase type name: ASCII letters and digits, an upper-case letter
/// first, a lower-case letter somewhere, never two upper-case letters in a row (`XapiSent`, not
/// `XAPISent`), and not `Self`.
pub fn is_pascal_case(name: &str) -> bool {
    let mut chars = name.chars();
    let first_upper = chars.next().is_some_and(|c| c.is_ascii_uppercase());
    first_upper
        && name.chars().all(|c| c.is_ascii_alphanumeric())
        && name.chars().any(|c| c.is_ascii_lowercase())
        && !name
            .as_bytes()
            .windows(2)
            .any(|w| w[0].is_ascii_uppercase() && w[1].is_ascii_uppercase())
        && name != "Self"
}

/// Refuses `name` when the context already defines a type of that name.
pub(super) fn ensure_free(context: &Context, name: &str) -> Result<(), ScaffoldError> {
    let mut files = Vec::new();
    rust_files(&context.dir.join("src"), &mut files)?;
    for file in files {
        let text = read(&file)?;
        let defines = ["struct", "enum", "trait", "type"].iter().any(|kind| {
            text.match_indices(&format!("{kind} {name}")).any(|(i, m)| {
                let after = text[i + m.len()..].chars().next();
                !after.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
            })
        });
        if defines {
            return Err(ScaffoldError::Taken {
                name: name.to_owned(),
                path: file,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pascal_case_names_are_accepted_and_others_refused() {
        for good in ["CertificateRevoked", "Sent2", "XapiStatementSent", "A1b"] {
            assert!(is_pascal_case(good), "{good}");
        }
        for bad in [
            "certificateRevoked",
            "Certificate_Revoked",
            "CERTIFICATE",
            "XAPISent",
            "",
            "Self",
            "Kursus-Baru",
            "Ünïcode",
        ] {
            assert!(!is_pascal_case(bad), "{bad}");
        }
    }
}
