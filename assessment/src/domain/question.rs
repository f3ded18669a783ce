//! A question of an assessment and a learner's response to it.

use std::collections::BTreeSet;

use shared_kernel::QuestionId;

/// Why a question was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuestionError {
    /// The prompt is blank.
    #[error("a question needs a prompt")]
    EmptyPrompt,
    /// A question is worth from 1 to [`Question::MAX_POINTS`] points.
    #[error("a question is worth from 1 to 1000 points, not {0}")]
    Points(i64),
    /// A multiple-choice question needs at least two options.
    #[error("a multiple-choice question needs at least two options")]
    TooFewOptions,
    /// An option is blank.
    #[error("option {0} is blank")]
    BlankOption(usize),
    /// At least one option must be correct.
    #[error("a multiple-choice question needs at least one correct option")]
    NoCorrectOption,
    /// A correct option's index is not one of the options.
    #[error("there is no option {0}")]
    NoSuchOption(usize),
}

/// What kind of question it is and how it is graded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuestionKind {
    /// Options to choose from, one or several of them correct; graded automatically: the answer
    /// is correct iff the chosen set equals the correct set.
    MultipleChoice {
        /// The options, in the order shown.
        options: Vec<String>,
        /// The indices of the correct options.
        correct: BTreeSet<usize>,
    },
    /// A free answer, graded by the instructor.
    Open,
}

impl QuestionKind {
    /// The stored name: `multiple_choice` or `open`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::MultipleChoice { .. } => "multiple_choice",
            Self::Open => "open",
        }
    }
}

/// One question, worth `points` (at least one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    id: QuestionId,
    prompt: String,
    kind: QuestionKind,
    points: u32,
}

impl Question {
    /// The most points one question is worth (which keeps every score well inside `u32`).
    pub const MAX_POINTS: u32 = 1000;

    /// A multiple-choice question; `correct` holds indices into `options`.
    pub fn multiple_choice(
        prompt: &str,
        options: Vec<String>,
        correct: BTreeSet<usize>,
        points: i64,
    ) -> Result<Self, QuestionError> {
        if options.len() < 2 {
            return Err(QuestionError::TooFewOptions);
        }
        if let Some(blank) = options.iter().position(|o| o.trim().is_empty()) {
            return Err(QuestionError::BlankOption(blank));
        }
        if correct.is_empty() {
            return Err(QuestionError::NoCorrectOption);
        }
        if let Some(&missing) = correct.iter().find(|&&i| i >= options.len()) {
            return Err(QuestionError::NoSuchOption(missing));
        }
        let options = options.into_iter().map(|o| o.trim().to_owned()).collect();
        Self::new(
            QuestionId::new(),
            prompt,
            QuestionKind::MultipleChoice { options, correct },
            points,
        )
    }

    /// An open question, graded by the instructor.
    pub fn open(prompt: &str, points: i64) -> Result<Self, QuestionError> {
        Self::new(QuestionId::new(), prompt, QuestionKind::Open, points)
    }

    pub(crate) fn new(id: QuestionId, prompt: &str, kind: QuestionKind, points: i64) -> Result<Self, QuestionError> {
        let prompt = prompt.trim();
        if prompt.is_empty() {
            return Err(QuestionError::EmptyPrompt);
        }
        let points = u32::try_from(points)
            .ok()
            .filter(|p| (1..=Self::MAX_POINTS).contains(p))
            .ok_or(QuestionError::Points(points))?;
        Ok(Self {
            id,
            prompt: prompt.to_owned(),
            kind,
            points,
        })
    }

    /// The question's id.
    pub fn id(&self) -> QuestionId {
        self.id
    }

    /// Its prompt.
    pub fn prompt(&self) -> &str {
        &self.prompt
    }

    /// Its kind.
    pub fn kind(&self) -> &QuestionKind {
        &self.kind
    }

    /// What it is worth.
    pub fn points(&self) -> u32 {
        self.points
    }

    /// Whether an instructor grades it.
    pub fn is_open(&self) -> bool {
        matches!(self.kind, QuestionKind::Open)
    }

    /// Whether `response` fits this question: chosen options of a multiple-choice question (each
    /// one of its options), or a text for an open one.
    pub fn accepts(&self, response: &Response) -> bool {
        match (&self.kind, response) {
            (QuestionKind::MultipleChoice { options, .. }, Response::Choices(chosen)) => {
                chosen.iter().all(|&i| i < options.len())
            }
            (QuestionKind::Open, Response::Text(_)) => true,
            _ => false,
        }
    }

    /// The points a multiple-choice response earns: all of them iff the chosen set equals the
    /// correct set, else none. `None` for an open question, which an instructor grades.
    pub fn auto_grade(&self, response: Option<&Response>) -> Option<u32> {
        match (&self.kind, response) {
            (QuestionKind::MultipleChoice { correct, .. }, Some(Response::Choices(chosen))) => {
                Some(if chosen == correct { self.points } else { 0 })
            }
            (QuestionKind::MultipleChoice { .. }, _) => Some(0),
            // An open question left unanswered has nothing to grade: it earns nothing.
            (QuestionKind::Open, None) => Some(0),
            (QuestionKind::Open, Some(_)) => None,
        }
    }
}

/// A learner's response to one question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// The chosen options of a multiple-choice question (indices).
    Choices(BTreeSet<usize>),
    /// The text of an answer to an open question.
    Text(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> Vec<String> {
        vec!["String".into(), "&str".into(), "i32".into()]
    }

    #[test]
    fn a_multiple_choice_answer_is_correct_only_when_the_chosen_set_equals_the_correct_set() {
        let question = Question::multiple_choice("Tipe teks?", options(), BTreeSet::from([0, 1]), 4).unwrap();

        let all = Response::Choices(BTreeSet::from([0, 1]));
        let some = Response::Choices(BTreeSet::from([0]));
        let more = Response::Choices(BTreeSet::from([0, 1, 2]));
        assert_eq!(question.auto_grade(Some(&all)), Some(4));
        assert_eq!(question.auto_grade(Some(&some)), Some(0));
        assert_eq!(question.auto_grade(Some(&more)), Some(0));
        assert_eq!(question.auto_grade(None), Some(0));
    }

    #[test]
    fn an_answered_open_question_waits_for_the_instructor() {
        let question = Question::open("Jelaskan ownership.", 10).unwrap();
        assert_eq!(question.auto_grade(Some(&Response::Text("...".into()))), None);
        assert_eq!(question.auto_grade(None), Some(0));
    }

    #[test]
    fn a_response_must_fit_the_question_type() {
        let choice = Question::multiple_choice("Tipe teks?", options(), BTreeSet::from([0]), 1).unwrap();
        let open = Question::open("Jelaskan.", 1).unwrap();
        assert!(!choice.accepts(&Response::Text("String".into())));
        assert!(!choice.accepts(&Response::Choices(BTreeSet::from([3]))));
        assert!(!open.accepts(&Response::Choices(BTreeSet::new())));
        assert!(open.accepts(&Response::Text("Jawaban".into())));
    }

    #[test]
    fn a_question_needs_points_and_a_correct_option() {
        assert_eq!(Question::open("Jelaskan.", 0), Err(QuestionError::Points(0)));
        assert_eq!(Question::open("Jelaskan.", -3), Err(QuestionError::Points(-3)));
        assert_eq!(Question::open("Jelaskan.", 1001), Err(QuestionError::Points(1001)));
        assert_eq!(Question::open("   ", 1), Err(QuestionError::EmptyPrompt));
        assert_eq!(
            Question::multiple_choice("?", options(), BTreeSet::new(), 1),
            Err(QuestionError::NoCorrectOption)
        );
        assert_eq!(
            Question::multiple_choice("?", options(), BTreeSet::from([5]), 1),
            Err(QuestionError::NoSuchOption(5))
        );
    }
}
