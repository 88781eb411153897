//! The canonical JSON text an audit record is hashed over (README "Audit log"): one text for one
//! value, so that anyone can recompute a record's hash from its fields.
//!
//! The rules (RFC 8785, JCS, restricted to integers):
//! - no whitespace anywhere;
//! - object members sorted by their keys' UTF-16 code units (as RFC 8785; for ASCII keys this is
//!   byte order), each key once;
//! - strings in double quotes, escaping only `"` as `\"`, `\` as `\\`, the control characters
//!   U+0008, U+0009, U+000A, U+000C, U+000D as `\b`, `\t`, `\n`, `\f`, `\r` and every other one
//!   below U+0020 as `\u00XX` (lower-case hex); everything else, non-ASCII included, as its UTF-8;
//! - numbers are integers (`-?[0-9]+`, no leading zeros, no `+`, no exponent): a fraction or an
//!   exponent is refused, never rounded, since JSON readers disagree on them;
//! - `true`, `false`, `null` as they are; arrays in their order.

use std::fmt::Write;

use serde_json::Value;

/// A value with no canonical text: a number that is not an integer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0} is not an integer: audit records hold integers only")]
pub struct NotCanonical(pub String);

/// The canonical text of `value`.
pub fn canonical_json(value: &Value) -> Result<String, NotCanonical> {
    let mut text = String::new();
    write_value(&mut text, value)?;
    Ok(text)
}

fn write_value(text: &mut String, value: &Value) -> Result<(), NotCanonical> {
    match value {
        Value::Null => text.push_str("null"),
        Value::Bool(true) => text.push_str("true"),
        Value::Bool(false) => text.push_str("false"),
        Value::Number(number) => match (number.as_i64(), number.as_u64()) {
            (Some(integer), _) => write!(text, "{integer}").expect("writing to a String"),
            (None, Some(integer)) => write!(text, "{integer}").expect("writing to a String"),
            (None, None) => return Err(NotCanonical(number.to_string())),
        },
        Value::String(string) => write_string(text, string),
        Value::Array(items) => {
            text.push('[');
            for (at, item) in items.iter().enumerate() {
                if at > 0 {
                    text.push(',');
                }
                write_value(text, item)?;
            }
            text.push(']');
        }
        Value::Object(members) => {
            let mut members = members.iter().collect::<Vec<_>>();
            members.sort_by(|(a, _), (b, _)| a.encode_utf16().cmp(b.encode_utf16()));
            text.push('{');
            for (at, (key, item)) in members.into_iter().enumerate() {
                if at > 0 {
                    text.push(',');
                }
                write_string(text, key);
                text.push(':');
                write_value(text, item)?;
            }
            text.push('}');
        }
    }
    Ok(())
}

fn write_string(text: &mut String, string: &str) {
    text.push('"');
    for character in string.chars() {
        match character {
            '"' => text.push_str("\\\""),
            '\\' => text.push_str("\\\\"),
            '\u{8}' => text.push_str("\\b"),
            '\t' => text.push_str("\\t"),
            '\n' => text.push_str("\\n"),
            '\u{c}' => text.push_str("\\f"),
            '\r' => text.push_str("\\r"),
            control if u32::from(control) < 0x20 => {
                write!(text, "\\u{:04x}", u32::from(control)).expect("writing to a String")
            }
            other => text.push(other),
        }
    }
    text.push('"');
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{NotCanonical, canonical_json};

    #[test]
    fn members_are_sorted_and_nothing_is_spaced() {
        let value = json!({ "seq": 1, "action": "api_key.issued", "details": { "z": [1, 2], "a": null } });
        assert_eq!(
            canonical_json(&value).unwrap(),
            r#"{"action":"api_key.issued","details":{"a":null,"z":[1,2]},"seq":1}"#
        );
    }

    #[test]
    fn the_same_value_parsed_from_differently_written_texts_has_one_canonical_text() {
        let spaced: serde_json::Value = serde_json::from_str("{ \"b\" : -12 ,\n \"a\":\"\\u00e9\\/\" }").unwrap();
        let tight: serde_json::Value = serde_json::from_str(r#"{"a":"é/","b":-12}"#).unwrap();
        assert_eq!(canonical_json(&spaced).unwrap(), canonical_json(&tight).unwrap());
        assert_eq!(canonical_json(&tight).unwrap(), r#"{"a":"é/","b":-12}"#);
    }

    #[test]
    fn strings_escape_only_quotes_backslashes_and_control_characters() {
        let value = json!("a\"b\\c\n\t\u{1}\u{1f}é\u{2028}/");
        assert_eq!(canonical_json(&value).unwrap(), "\"a\\\"b\\\\c\\n\\t\\u0001\\u001fé\u{2028}/\"");
    }

    #[test]
    fn keys_sort_by_utf16_code_units_as_rfc_8785_does() {
        // U+E000 is one UTF-16 unit 0xE000; U+1F600 is the surrogate pair 0xD83D 0xDE00, which sorts
        // first in UTF-16 though last by code point.
        let value = json!({ "\u{e000}": 1, "\u{1f600}": 2, "a": 3 });
        assert_eq!(canonical_json(&value).unwrap(), "{\"a\":3,\"\u{1f600}\":2,\"\u{e000}\":1}");
    }

    #[test]
    fn integers_are_written_whole_and_fractions_are_refused() {
        assert_eq!(
            canonical_json(&json!([u64::MAX, i64::MIN, 0])).unwrap(),
            "[18446744073709551615,-9223372036854775808,0]"
        );
        assert_eq!(canonical_json(&json!({ "x": 1.5 })), Err(NotCanonical("1.5".into())));
    }
}
