//! Assessments, questions, attempts and answers in the database. Writes take the unit of work's
//! connection; reads take any connection.
//!
//! Each aggregate's rows, their decoding and its queries live together: `assessments` (with their
//! questions) and `attempts` (with their answers); the column decoding they share is here.

mod assessments;
mod attempts;

use chrono::{DateTime, Utc};
use shared_kernel::from_db_text;

pub(crate) use assessments::{
    count_attempts, get_assessment, hold_assessment, insert_assessment, load_assessment, save_assessment,
};
pub(crate) use attempts::{
    attempt_tally, attempts_of, awaiting_grading, get_attempt, insert_answers, insert_attempt, load_attempt,
    save_attempt, update_answer,
};

use crate::error::AssessmentError;

fn corrupt(id: &str, reason: impl ToString) -> AssessmentError {
    AssessmentError::Corrupt {
        id: id.to_owned(),
        reason: reason.to_string(),
    }
}

fn time(id: &str, text: &str) -> Result<DateTime<Utc>, AssessmentError> {
    from_db_text(text).map_err(|e| corrupt(id, format!("timestamp `{text}`: {e}")))
}

fn optional_time(id: &str, text: Option<&str>) -> Result<Option<DateTime<Utc>>, AssessmentError> {
    text.map(|t| time(id, t)).transpose()
}

fn count(id: &str, value: i64) -> Result<u32, AssessmentError> {
    u32::try_from(value).map_err(|_| corrupt(id, format!("count {value} out of range")))
}

fn json<T: serde::de::DeserializeOwned>(id: &str, text: Option<&str>) -> Result<T, AssessmentError> {
    let text = text.ok_or_else(|| corrupt(id, "missing JSON column"))?;
    serde_json::from_str(text).map_err(|e| corrupt(id, format!("JSON `{text}`: {e}")))
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    // Vectors of strings and numbers always serialize.
    serde_json::to_string(value).unwrap_or_default()
}
