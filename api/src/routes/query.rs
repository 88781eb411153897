//! What query parameters must be beyond their type, checked as they are read, so that a request
//! the OpenAPI document calls invalid is refused (400) and one it calls valid is not.

use serde::{Deserialize, Deserializer};

/// An optional string parameter that may not be empty when given (`minLength: 1`).
pub(super) fn non_empty<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    let text = String::deserialize(deserializer)?;
    if text.is_empty() {
        return Err(serde::de::Error::custom("must not be empty when given"));
    }
    Ok(Some(text))
}
