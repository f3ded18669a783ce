//! The title of a course or a lesson.

use std::fmt;

/// Why a title was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TitleError {
    /// Nothing but whitespace was given.
    #[error("a title cannot be empty")]
    Empty,
    /// The title is longer than [`Title::MAX_CHARS`] characters.
    #[error("a title can have at most {max} characters, this one has {actual}")]
    TooLong {
        /// The limit.
        max: usize,
        /// The length given, in characters.
        actual: usize,
    },
}

/// A trimmed, non-empty title of at most [`Title::MAX_CHARS`] characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Title(String);

impl Title {
    /// The longest title allowed, in characters (not bytes: Indonesian titles are mostly ASCII,
    /// but a title in any script gets the same allowance).
    pub const MAX_CHARS: usize = 200;

    /// Trims `value` and checks it is a usable title.
    pub fn parse(value: &str) -> Result<Self, TitleError> {
        let trimmed = value.trim();
        if trimmed.is_empty() {
            return Err(TitleError::Empty);
        }
        let actual = trimmed.chars().count();
        if actual > Self::MAX_CHARS {
            return Err(TitleError::TooLong {
                max: Self::MAX_CHARS,
                actual,
            });
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// The title's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Title {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_title_is_trimmed() {
        assert_eq!(Title::parse("  Rust Dasar \n").unwrap().as_str(), "Rust Dasar");
    }

    #[test]
    fn a_blank_title_is_rejected() {
        assert_eq!(Title::parse(" \t "), Err(TitleError::Empty));
    }

    #[test]
    fn a_title_of_exactly_two_hundred_characters_is_accepted() {
        let title = "é".repeat(Title::MAX_CHARS);
        assert_eq!(Title::parse(&title).unwrap().as_str().chars().count(), 200);
    }

    #[test]
    fn a_title_of_two_hundred_and_one_characters_is_rejected() {
        let title = "a".repeat(Title::MAX_CHARS + 1);
        assert_eq!(Title::parse(&title), Err(TitleError::TooLong { max: 200, actual: 201 }));
    }
}
