//! The API's `?cursor=` parameter (`flowmart_api::parse_cursor`), read as each list's sort key:
//! the stock list's `(warehouse_id, sku)` and the alert list's urgency. Any text must give a
//! key or a 400, and a key must survive the API's own encoding (hex of its JSON) unchanged.

#![no_main]

use std::cmp::Reverse;

use flowmart_api::parse_cursor;
use flowmart_schemas::Id;
use libfuzzer_sys::fuzz_target;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The alert list's sort key (`api/src/routes/alerts.rs`).
type Urgency = (bool, i64, Reverse<Option<u64>>, Id);

/// How the API writes a cursor (`page::cursor`): lower-case hex of the key's JSON.
fn cursor_for<K: Serialize>(key: &K) -> String {
    serde_json::to_vec(key).expect("sort keys serialize").iter().map(|byte| format!("{byte:02x}")).collect()
}

fn check<K: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(cursor: &str) {
    if let Ok(key) = parse_cursor::<K>(cursor) {
        let again = parse_cursor::<K>(&cursor_for(&key)).expect("the API's own cursor parses");
        assert_eq!(again, key, "a cursor's key survives re-encoding");
    }
}

fuzz_target!(|data: &[u8]| {
    // A query parameter reaches the handler as a String: only UTF-8 gets this far.
    let Ok(cursor) = std::str::from_utf8(data) else { return };
    check::<(Id, Id)>(cursor);
    check::<Urgency>(cursor);
});
