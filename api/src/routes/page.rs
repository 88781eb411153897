//! Cursor pagination: `?limit=` items per page (1–5,000, default 1,000) and `?cursor=` from the
//! previous page's `next_cursor` (`null` on the last page). A cursor is the sort key of the last
//! item served, so pages stay consistent while the results change underneath: an item is never
//! served twice, and every item present throughout is served once.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::ApiError;

/// Items per page when `limit` is not given.
const DEFAULT_LIMIT: usize = 1_000;
/// The most items per page.
const MAX_LIMIT: usize = 5_000;

/// The page size asked for, checked.
pub(super) fn limit(asked: Option<usize>) -> Result<usize, ApiError> {
    match asked {
        None => Ok(DEFAULT_LIMIT),
        Some(limit) if (1..=MAX_LIMIT).contains(&limit) => Ok(limit),
        Some(limit) => Err(ApiError::BadRequest(format!("limit must be 1 to {MAX_LIMIT}, got {limit}"))),
    }
}

/// An opaque cursor for `key` (hex of its JSON).
pub(super) fn cursor<K: Serialize>(key: &K) -> String {
    let json = serde_json::to_vec(key).expect("sort keys serialize");
    json.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The sort key in `cursor`, or a 400 naming it.
///
/// Public (as `flowmart_api::parse_cursor`) for the fuzz targets (`fuzz/`): `?cursor=` is text
/// from any client.
pub fn after<K: DeserializeOwned>(cursor: &str) -> Result<K, ApiError> {
    let bad = || ApiError::BadRequest("cursor is not one this API gave out".into());
    if !cursor.len().is_multiple_of(2) || !cursor.is_ascii() {
        return Err(bad());
    }
    let bytes = (0..cursor.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(&cursor[at..at + 2], 16))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| bad())?;
    // No key this API gives out holds a NUL (ids never do), and Postgres could not compare one.
    if bytes.windows(6).any(|window| window == b"\\u0000") {
        return Err(bad());
    }
    serde_json::from_slice(&bytes).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::{after, cursor, limit};

    #[test]
    fn cursors_round_trip_and_strangers_are_refused() {
        let key = ("berlin".to_string(), "SKU-1".to_string());
        assert_eq!(after::<(String, String)>(&cursor(&key)).unwrap(), key);
        let with_nul = cursor(&("berlin".to_string(), "a\0b".to_string()));
        for bad in ["", "zz", "abc", "5b5d", with_nul.as_str()] {
            assert!(after::<(String, String)>(bad).is_err(), "{bad:?}");
        }
        assert_eq!(limit(None).unwrap(), 1_000);
        assert!(limit(Some(0)).is_err() && limit(Some(5_001)).is_err() && limit(Some(5_000)).is_ok());
    }
}
