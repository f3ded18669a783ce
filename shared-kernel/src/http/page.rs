//! Paging: `?limit=` (default 50, at most 500) and an opaque `?cursor=`; a page answers
//! `{items, next_cursor}`.

use serde::{Deserialize, Serialize};

use super::ApiError;

/// The paging part of a list request.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// How many items at most (1 to 500, default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// Where the previous page ended (its `next_cursor`).
    pub cursor: Option<String>,
}

impl PageQuery {
    /// The checked limit.
    pub fn limit(&self) -> Result<u32, ApiError> {
        match self.limit {
            None => Ok(50),
            Some(n @ 1..=500) => Ok(n),
            Some(n) => Err(ApiError::invalid(
                "invalid_limit",
                format!("limit {n} is not between 1 and 500"),
            )),
        }
    }

    /// The key the previous page ended at, decoded from the opaque cursor.
    pub fn after(&self) -> Result<Option<String>, ApiError> {
        let Some(cursor) = &self.cursor else {
            return Ok(None);
        };
        let bad = || ApiError::invalid("invalid_cursor", "the cursor is not one this API gave out");
        // Hex digits only: anything else (multi-byte characters included) is not a cursor.
        if cursor.len() % 2 != 0 || cursor.len() > 512 || !cursor.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        let bytes: Result<Vec<u8>, _> = (0..cursor.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&cursor[i..i + 2], 16))
            .collect();
        String::from_utf8(bytes.map_err(|_| bad())?)
            .map(Some)
            .map_err(|_| bad())
    }
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Page<T> {
    /// The items, in the list's order.
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// A page from `limit + 1` fetched rows: the extra row only says that more exist; `key`
    /// gives the sort key the next page starts after.
    pub fn from_rows(mut rows: Vec<T>, limit: u32, key: impl Fn(&T) -> String) -> Self {
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next_cursor = if more {
            rows.last()
                .map(|last| key(last).bytes().map(|b| format!("{b:02x}")).collect())
        } else {
            None
        };
        Self {
            items: rows,
            next_cursor,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_garbage_is_refused() {
        let page = Page::from_rows(vec![1, 2, 3], 2, |n| format!("key-{n}"));
        assert_eq!(page.items, vec![1, 2]);
        let query = PageQuery {
            limit: None,
            cursor: page.next_cursor,
        };
        assert_eq!(query.after().unwrap().as_deref(), Some("key-2"));
        let bad = PageQuery {
            limit: Some(501),
            cursor: Some("zz".into()),
        };
        assert_eq!(bad.limit().unwrap_err().code(), "invalid_limit");
        assert_eq!(bad.after().unwrap_err().code(), "invalid_cursor");
        // Found by schemathesis: a cursor with a multi-byte character panicked while slicing.
        for garbage in ["000\u{800}", "0\u{80}0", "\u{10000}"] {
            let query = PageQuery {
                limit: None,
                cursor: Some(garbage.to_owned()),
            };
            assert_eq!(query.after().unwrap_err().code(), "invalid_cursor");
        }
    }
}
