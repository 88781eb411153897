//! Writes the checked-in seed corpora under `fuzz/corpus/<target>/`: valid records of every
//! input type (encoded with the repository's encoder), the shapes of the known apache-avro
//! denial-of-service reports (huge and negative lengths and counts, zero-byte items, deep and
//! recursive nesting, huge fixed sizes, truncated bodies), and peers files, pipeline files and
//! cursors with odd content.
//!
//! `cargo run -p flowmart-fuzz-seed` from `fuzz/` (run again after changing it; it rewrites
//! only its own files).

#[path = "../../record_input.rs"]
mod record_input;

use std::path::{Path, PathBuf};

use flowmart_schemas::{
    AvroRecord, InventoryEvent, InventoryKind, OrderEvent, OrderLine, OrderStatus, PaymentEvent, PaymentKind,
    ReorderPolicy, encode,
};
use record_input::*;

fn main() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpus");
    decode_record_seeds(&Seeds::new(&corpus, "decode_record"));
    cursor_seeds(&Seeds::new(&corpus, "cursor"));
    peers_file_seeds(&Seeds::new(&corpus, "peers_file"));
    config_seeds(&Seeds::new(&corpus, "config"));
}

/// One target's corpus directory.
struct Seeds(PathBuf);

impl Seeds {
    fn new(corpus: &Path, target: &str) -> Seeds {
        let dir = corpus.join(target);
        std::fs::create_dir_all(&dir).unwrap();
        Seeds(dir)
    }

    fn write(&self, name: &str, bytes: &[u8]) {
        std::fs::write(self.0.join(format!("seed-{name}")), bytes).unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// decode_record

const INVENTORY: u8 = 0;
const ORDERS: u8 = 1;
const PAYMENTS: u8 = 2;
const POLICIES: u8 = 3;

/// Avro's zig-zag varint of `n`.
fn varint(n: i64) -> Vec<u8> {
    let mut zigzag = ((n << 1) ^ (n >> 63)) as u64;
    let mut bytes = Vec::new();
    loop {
        let byte = (zigzag & 0x7f) as u8;
        zigzag >>= 7;
        if zigzag == 0 {
            bytes.push(byte);
            return bytes;
        }
        bytes.push(byte | 0x80);
    }
}

fn string(text: &str) -> Vec<u8> {
    let mut bytes = varint(text.len() as i64);
    bytes.extend_from_slice(text.as_bytes());
    bytes
}

fn framed(schema_id: u32, body: &[u8]) -> Vec<u8> {
    let mut value = vec![0];
    value.extend_from_slice(&schema_id.to_be_bytes());
    value.extend_from_slice(body);
    value
}

fn record(topic: u8, key: Option<&[u8]>, writer_schema: &str, value: Option<&[u8]>) -> Vec<u8> {
    RecordInput { topic, key, writer_schema: writer_schema.as_bytes(), value }.to_bytes()
}

fn inventory() -> InventoryEvent {
    InventoryEvent {
        event_id: "e-1".into(),
        tenant_id: "acme".into(),
        warehouse_id: "berlin".into(),
        sku: "SKU-1".into(),
        kind: InventoryKind::Received,
        quantity: 12,
        occurred_at: 1_764_000_000_000,
        purchase_order_id: Some("po-7".into()),
    }
}

fn order() -> OrderEvent {
    let line = |sku: &str, quantity| OrderLine {
        sku: sku.into(),
        warehouse_id: "berlin".into(),
        quantity,
        unit_price_minor: 1999,
    };
    OrderEvent {
        event_id: "e-2".into(),
        tenant_id: "acme".into(),
        order_id: "o-1".into(),
        buyer_id: "b-1".into(),
        version: 3,
        status: OrderStatus::Shipped,
        lines: vec![line("SKU-1", 2), line("SKU-2", 5)],
        currency: "EUR".into(),
        occurred_at: 1_764_000_000_001,
    }
}

fn payment() -> PaymentEvent {
    PaymentEvent {
        event_id: "e-3".into(),
        tenant_id: "acme".into(),
        payment_id: "p-1".into(),
        buyer_id: "b-1".into(),
        order_id: Some("o-1".into()),
        kind: PaymentKind::Captured,
        amount_minor: 500,
        currency: "USD".into(),
        occurred_at: 1_764_000_000_002,
    }
}

fn policy() -> ReorderPolicy {
    ReorderPolicy {
        tenant_id: "acme".into(),
        warehouse_id: "berlin".into(),
        sku: "SKU-1".into(),
        reorder_point: 10,
        reorder_quantity: 50,
        max_level: Some(200),
        order_multiple: None,
        lead_time_days: Some(4),
    }
}

const POLICY_KEY: &[u8] = b"acme/berlin/SKU-1";

/// `InventoryEvent`'s schema with `extra` (JSON field declarations) appended to its fields: a
/// writer schema the reader must skip fields of.
fn inventory_with(extra: &str) -> String {
    let text = InventoryEvent::SCHEMA_TEXT;
    let end = text.rfind(']').expect("a fields array");
    format!("{}, {extra}{}", &text[..end], &text[end..])
}

fn decode_record_seeds(seeds: &Seeds) {
    let bodies = [
        (INVENTORY, INVENTORY_ID, encode(&inventory()).unwrap(), "inventory"),
        (ORDERS, ORDER_ID, encode(&order()).unwrap(), "order"),
        (PAYMENTS, PAYMENT_ID, encode(&payment()).unwrap(), "payment"),
        (POLICIES, POLICY_ID, encode(&policy()).unwrap(), "policy"),
    ];
    // Valid records, then each cut short, padded, and under another topic's schema.
    for (topic, id, body, name) in &bodies {
        let key = (*topic == POLICIES).then_some(POLICY_KEY).or(Some(b"acme"));
        seeds.write(&format!("valid-{name}"), &record(*topic, key, "", Some(&framed(*id, body))));
        for cut in [1, 2, body.len() / 2, body.len() - 1] {
            let value = framed(*id, &body[..body.len() - cut]);
            seeds.write(&format!("truncated-{name}-by-{cut}"), &record(*topic, key, "", Some(&value)));
        }
        let mut padded = body.clone();
        padded.extend_from_slice(&[0, 0]);
        seeds.write(&format!("padded-{name}"), &record(*topic, key, "", Some(&framed(*id, &padded))));
        let other = (*topic + 1) % 4;
        seeds.write(&format!("{name}-on-another-topic"), &record(other, key, "", Some(&framed(*id, body))));
    }
    let inventory_body = &bodies[0].2;
    let inventory_record = |name: &str, schema: &str, value: &[u8]| {
        seeds.write(name, &record(INVENTORY, Some(b"acme"), schema, Some(value)));
    };
    // Rule-breaking records that decode.
    let mut negative = inventory();
    negative.kind = InventoryKind::Damaged;
    negative.quantity = -3;
    inventory_record("rule-negative-quantity", "", &framed(INVENTORY_ID, &encode(&negative).unwrap()));
    let mut control = order();
    control.lines[1].sku = "SKU\u{7}".into();
    let value = framed(ORDER_ID, &encode(&control).unwrap());
    seeds.write("rule-control-character", &record(ORDERS, Some(b"acme"), "", Some(&value)));
    let mut zero = payment();
    zero.amount_minor = 0;
    zero.currency = "EURO".into();
    let value = framed(PAYMENT_ID, &encode(&zero).unwrap());
    seeds.write("rule-zero-amount", &record(PAYMENTS, Some(b"acme"), "", Some(&value)));
    // Policies: a delete, keys that do not match, no key.
    seeds.write("policy-delete", &record(POLICIES, Some(POLICY_KEY), "", None));
    seeds.write("policy-delete-bad-key", &record(POLICIES, Some(b"acme/berlin"), "", None));
    let policy_value = framed(POLICY_ID, &bodies[3].2);
    seeds.write("policy-other-key", &record(POLICIES, Some(b"acme/lyon/SKU-1"), "", Some(&policy_value)));
    seeds.write("policy-no-key", &record(POLICIES, None, "", Some(&policy_value)));
    seeds.write("policy-key-not-utf8", &record(POLICIES, Some(b"acme/\xff/SKU-1"), "", Some(&policy_value)));
    seeds.write("inventory-null-value", &record(INVENTORY, Some(b"acme"), "", None));
    // Frames: short, wrong magic, unknown id, registry down, the alert schema.
    inventory_record("frame-short", "", &[0, 0, 0]);
    let mut magic = framed(INVENTORY_ID, inventory_body);
    magic[0] = 1;
    inventory_record("frame-bad-magic", "", &magic);
    inventory_record("frame-unknown-id", "", &framed(99, inventory_body));
    inventory_record("frame-registry-down", "", &framed(UNAVAILABLE_ID, inventory_body));
    inventory_record("frame-alert-schema", "", &framed(ALERT_ID, inventory_body));

    // Writer schemas that differ from the reader's: an extra field, a missing defaulted field,
    // a promoted type, not a schema at all.
    let mut extra = inventory_body.clone();
    extra.extend(string("L-42"));
    let lot = inventory_with(r#"{"name": "lot", "type": "string", "default": ""}"#);
    inventory_record("writer-extra-field", &lot, &framed(FUZZED_ID, &extra));
    let v0 = InventoryEvent::SCHEMA_TEXT
        .replace(",\n    {\"name\": \"purchase_order_id\", \"type\": [\"null\", \"string\"], \"default\": null}", "");
    assert_ne!(v0, InventoryEvent::SCHEMA_TEXT);
    let mut v0_body = inventory();
    v0_body.purchase_order_id = None;
    let v0_body = encode(&v0_body).unwrap();
    inventory_record("writer-missing-default", &v0, &framed(FUZZED_ID, &v0_body[..v0_body.len() - 1]));
    let promoted = OrderEvent::SCHEMA_TEXT
        .replace(r#"{"name": "quantity", "type": "long"}"#, r#"{"name": "quantity", "type": "int"}"#);
    let value = framed(FUZZED_ID, &bodies[1].2);
    seeds.write("writer-int-promoted-to-long", &record(ORDERS, Some(b"acme"), &promoted, Some(&value)));
    inventory_record("writer-not-json", "{\"type\": \"record\", \"name\": ", &framed(FUZZED_ID, inventory_body));
    inventory_record("writer-primitive", "\"string\"", &framed(FUZZED_ID, &string("x")));

    // apache-avro denial-of-service shapes. Lengths and counts: 2^31, 2^62, i64::MAX, just over
    // and under the 512 MiB allocation limit, and negative ones.
    let lengths: [(i64, &str); 9] = [
        (1 << 31, "2p31"),
        (1 << 62, "2p62"),
        (i64::MAX, "max"),
        (512 * 1024 * 1024 + 1, "over-limit"),
        (500 * 1024 * 1024, "under-limit"),
        (-1, "minus-1"),
        (-(1 << 31), "minus-2p31"),
        (i64::MIN, "min"),
        (-(1 << 62), "minus-2p62"),
    ];
    for (length, name) in lengths {
        // The first string of every input record.
        let mut body = varint(length);
        body.extend_from_slice(b"abc");
        inventory_record(&format!("string-length-{name}"), "", &framed(INVENTORY_ID, &body));
        // A later string, after valid fields.
        let mut body = string("e-1");
        body.extend(string("acme"));
        body.extend(varint(length));
        body.extend_from_slice(b"x");
        let value = framed(PAYMENT_ID, &body);
        seeds.write(&format!("string-length-{name}-later"), &record(PAYMENTS, Some(b"acme"), "", Some(&value)));
        // An order's line count (a negative count is followed by a block size).
        let mut body = Vec::new();
        for text in ["e-2", "acme", "o-1", "b-1"] {
            body.extend(string(text));
        }
        body.extend(varint(3)); // version
        body.extend(varint(2)); // status
        body.extend(varint(length));
        if length < 0 {
            body.extend(varint(1 << 40));
        }
        body.extend(string("SKU-1"));
        let value = framed(ORDER_ID, &body);
        seeds.write(&format!("array-count-{name}"), &record(ORDERS, Some(b"acme"), "", Some(&value)));
        // Fields the reader skips: bytes, an array and a map of zero-byte items.
        let mut body = inventory_body.clone();
        body.extend(varint(length));
        body.extend_from_slice(b"y");
        let bytes_field = inventory_with(r#"{"name": "blob", "type": "bytes"}"#);
        inventory_record(&format!("bytes-length-{name}"), &bytes_field, &framed(FUZZED_ID, &body));
        let mut body = inventory_body.clone();
        body.extend(varint(length));
        if length < 0 {
            body.extend(varint(0));
        }
        body.push(0);
        let nulls = inventory_with(r#"{"name": "nulls", "type": {"type": "array", "items": "null"}}"#);
        inventory_record(&format!("null-array-count-{name}"), &nulls, &framed(FUZZED_ID, &body));
        let mut body = inventory_body.clone();
        body.extend(varint(length));
        body.extend(string("k"));
        body.push(0);
        let map = inventory_with(r#"{"name": "labels", "type": {"type": "map", "values": "null"}}"#);
        inventory_record(&format!("map-count-{name}"), &map, &framed(FUZZED_ID, &body));
    }
    // Nested arrays of nulls: each inner block of 2^23 nulls costs 4 bytes of input.
    let mut body = inventory_body.clone();
    body.extend(varint(64));
    for _ in 0..64 {
        body.extend(varint(1 << 23));
        body.push(0);
    }
    body.push(0);
    let nested_nulls =
        inventory_with(r#"{"name": "grid", "type": {"type": "array", "items": {"type": "array", "items": "null"}}}"#);
    inventory_record("nested-null-arrays", &nested_nulls, &framed(FUZZED_ID, &body));
    // Empty records as items (zero bytes each).
    let mut body = inventory_body.clone();
    body.extend(varint(1 << 24));
    body.push(0);
    let empties = inventory_with(
        r#"{"name": "empties", "type": {"type": "array", "items": {"type": "record", "name": "Empty", "fields": []}}}"#,
    );
    inventory_record("empty-record-array", &empties, &framed(FUZZED_ID, &body));
    // A fixed whose declared size is huge.
    for (size, name) in [(1u64 << 31, "2p31"), (1 << 40, "2p40"), (u64::from(u32::MAX), "u32-max")] {
        let fixed = inventory_with(&format!(
            r#"{{"name": "digest", "type": {{"type": "fixed", "name": "Digest", "size": {size}}}}}"#
        ));
        inventory_record(&format!("fixed-size-{name}"), &fixed, &framed(FUZZED_ID, inventory_body));
    }
    // Deep nesting: a recursive union chain, arrays 100 deep, unions of records 60 deep. (Every
    // seed stays under the 16 KiB -max_len of scripts/fuzz.sh.)
    let recursive = inventory_with(
        r#"{"name": "chain", "type": {"type": "record", "name": "Link", "fields": [{"name": "next", "type": ["null", "Link"]}]}}"#,
    );
    for depth in [1_000, 12_000] {
        let mut body = inventory_body.clone();
        body.extend(std::iter::repeat_n(2, depth));
        body.push(0);
        inventory_record(&format!("recursive-union-{depth}"), &recursive, &framed(FUZZED_ID, &body));
    }
    let list = inventory_with(
        r#"{"name": "tree", "type": {"type": "record", "name": "Tree", "fields": [{"name": "children", "type": {"type": "array", "items": "Tree"}}]}}"#,
    );
    let mut body = inventory_body.clone();
    body.extend(std::iter::repeat_n(2, 6_000)); // one child each level (count 1, zig-zag 2)
    body.extend(std::iter::repeat_n(0, 6_001));
    inventory_record("recursive-array-6000", &list, &framed(FUZZED_ID, &body));
    let mut deep = String::from("\"long\"");
    for _ in 0..100 {
        deep = format!(r#"{{"type": "array", "items": {deep}}}"#);
    }
    let deep_arrays = inventory_with(&format!(r#"{{"name": "deep", "type": {deep}}}"#));
    let mut body = inventory_body.clone();
    body.extend(std::iter::repeat_n(2, 100));
    body.push(2); // the long
    body.extend(std::iter::repeat_n(0, 100));
    inventory_record("deep-arrays-100", &deep_arrays, &framed(FUZZED_ID, &body));
    let mut deep = String::from("\"long\"");
    for level in 0..60 {
        deep = format!(
            r#"["null", {{"type": "record", "name": "R{level}", "fields": [{{"name": "f", "type": {deep}}}]}}]"#
        );
    }
    let deep_unions = inventory_with(&format!(r#"{{"name": "deep", "type": {deep}}}"#));
    let mut body = inventory_body.clone();
    body.extend(std::iter::repeat_n(2, 60));
    body.push(2);
    inventory_record("deep-unions-60", &deep_unions, &framed(FUZZED_ID, &body));
    // Union and enum indexes out of range.
    // purchase_order_id, the last field, is encoded 02 (union index 1), 08 (length 4), "po-7".
    let index_at = inventory_body.len() - "po-7".len() - 2;
    for (index, name) in [(2i64, "2"), (-1, "minus-1"), (i64::MAX, "max")] {
        let mut body = inventory_body.clone();
        body.splice(index_at..index_at + 1, varint(index));
        inventory_record(&format!("union-index-{name}"), "", &framed(INVENTORY_ID, &body));
    }
    let mut enum_body = Vec::new();
    for text in ["e-1", "acme", "berlin", "SKU-1"] {
        enum_body.extend(string(text));
    }
    for (index, name) in [(99i64, "99"), (-1, "minus-1")] {
        let mut body = enum_body.clone();
        body.extend(varint(index));
        body.extend(varint(12));
        body.extend(varint(1_764_000_000_000));
        body.push(0);
        inventory_record(&format!("enum-index-{name}"), "", &framed(INVENTORY_ID, &body));
    }
    // A varint longer than ten bytes.
    inventory_record("varint-overlong", "", &framed(INVENTORY_ID, &[0xff; 16]));
}

// ---------------------------------------------------------------------------------------------
// cursor

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn cursor_seeds(seeds: &Seeds) {
    let cursors = [
        ("stock", hex(br#"["berlin","SKU-1"]"#)),
        ("alert", hex(br#"[true,-3,null,"a-1"]"#)),
        ("alert-since", hex(br#"[false,12,1764000000000,"a-2"]"#)),
        ("empty", String::new()),
        ("odd-length", "abc".into()),
        ("not-hex", "zz".into()),
        ("upper-case-hex", hex(br#"["B","S"]"#).to_uppercase()),
        ("non-ascii", "5bé5d".into()),
        ("empty-array", hex(b"[]")),
        ("deep-json", hex(&[b"[".repeat(10_000), b"]".repeat(10_000)].concat())),
        ("huge-number", hex(br#"[true,99999999999999999999999999,null,"a"]"#)),
        ("lone-surrogate", hex(br#"["\ud800","x"]"#)),
        ("escaped-control", hex(br#"["\u0000","\n"]"#)),
        ("long-id", hex(format!(r#"["{}","x"]"#, "w".repeat(4096)).as_bytes())),
        ("trailing", hex(br#"["a","b"] ["c"]"#)),
        ("object", hex(br#"{"0":"a","1":"b"}"#)),
    ];
    for (name, cursor) in cursors {
        seeds.write(name, cursor.as_bytes());
    }
}

// ---------------------------------------------------------------------------------------------
// peers_file

fn peers_file_seeds(seeds: &Seeds) {
    // Byte 0 is cluster.processes - 1.
    let files: [(&str, u8, &[u8]); 14] = [
        ("two", 1, b"# the cluster\n127.0.0.1:2101 http://127.0.0.1:8080\n\n127.0.0.1:2102 http://127.0.0.1:8081/\n"),
        ("one", 0, b"10.0.0.7:2101 https://10.0.0.7:8080"),
        ("crlf", 1, b"a:1 http://a:8080\r\nb:2 http://b:8080\r\n"),
        ("ipv6", 0, b"[::1]:2101 http://[::1]:8080 # me\n"),
        ("tabs-and-comments", 1, b"\t# x\n\ta:1\thttp://a  # one\n#\nb:65535 http://b\n"),
        ("no-port", 0, b"127.0.0.1 http://127.0.0.1:8080\n"),
        ("port-too-big", 0, b"host:65536 http://host:8080\n"),
        ("empty-host", 0, b":2101 http://x\n"),
        ("three-fields", 0, b"a:1 http://a b\n"),
        ("not-http", 0, b"a:1 ftp://a\n"),
        ("not-utf8", 0, b"a:1 http://\xff\xfe\n"),
        ("empty", 0, b""),
        ("only-comments", 2, b"# a\n# b\n\n   \n"),
        ("nul-bytes", 0, b"a:1\0 http://a\0\n"),
    ];
    for (name, processes, file) in files {
        seeds.write(name, &[&[processes][..], file].concat());
    }
    let many = (0..16).map(|i| format!("10.0.0.{i}:2101 http://10.0.0.{i}:8080\n")).collect::<String>();
    seeds.write("sixteen", &[&[15][..], many.as_bytes()].concat());
    seeds.write("wrong-count", &[&[3][..], many.as_bytes()].concat());
}

// ---------------------------------------------------------------------------------------------
// config

fn config_seeds(seeds: &Seeds) {
    let example = include_str!("../../../flowmart/flowmart.toml");
    let minimal = "[kafka]\nbrokers = \"kafka:9092\"\nschema_registry_url = \"http://registry:8081\"\n";
    let with = |extra: &str| format!("{minimal}{extra}");
    let files = [
        ("example", example.to_string()),
        ("minimal", minimal.to_string()),
        ("empty", String::new()),
        ("unknown-keys", with("colour = \"blue\"\n[runtime]\nworkerz = 2\n[nonsense.deep]\nx = 1\n")),
        ("bad-values", "[kafka]\nbrokers = \"\"\nschema_registry_url = \"registry\"\n[runtime]\nworkers = 0\nnice = 20\n[topics]\ndlq = \"has space\"\n".into()),
        ("wrong-types", "[kafka]\nbrokers = 9092\nschema_registry_url = [\"http://r\"]\n[api]\nlisten = true\n".into()),
        ("start-times", with("start = \"2026-02-30T25:61:61Z\"\n")),
        ("start-latest", with("start = \"latest\"\n")),
        ("huge-integers", with("[runtime]\nworkers = 18446744073709551616\n[retention]\norder_days = 9223372036854775807\nevent_id_days = -1\n")),
        ("retention-overflow", with("[retention]\nevent_id_days = 18446744073709551\norder_days = 213503982334601\nresolved_alert_days = 213503982334602\n")),
        ("zero-rate", with("[api]\nrate_limit_per_second = 0\nrate_limit_burst = 4294967296\nlisten = \"[::1]:0\"\n")),
        ("cluster-no-peers", with("[cluster]\nprocesses = 3\nprocess_index = 7\n")),
        ("cluster-missing-peers-file", with("[cluster]\nprocesses = 2\npeers = \"/no/such/peers.txt\"\n")),
        ("cluster-peers-is-a-directory", with("[cluster]\nprocesses = 2\npeers = \"/\"\n")),
        ("database-url", with("[postgres]\ndatabase_url = \"mysql://x\"\n")),
        ("consumer-properties", with("[kafka.consumer]\n\"security.protocol\" = \"SASL_SSL\"\n\"\" = \"\"\n[kafka.producer]\nx = 1\n")),
        ("inline-and-dotted", "kafka = { brokers = \"k:1\", schema_registry_url = \"https://r\" }\ntopics.dlq = \"d\"\napi.listen = \"0.0.0.0:80\"\n".into()),
        ("duplicate-keys", with("[kafka]\nbrokers = \"again\"\n")),
        ("deep-arrays", with(&format!("[kafka.producer]\nx = {}{}\n", "[".repeat(5_000), "]".repeat(5_000)))),
        ("deep-tables", with(&format!("x = {}{}\n", "{a=".repeat(5_000), "}".repeat(5_000)))),
        ("long-dotted-key", with(&format!("{} = 1\n", vec!["a"; 5_000].join(".")))),
        ("topic-names", with(&format!("[topics]\ninventory = \"{}\"\norders = \"ü\"\n", "x".repeat(250)))),
        ("not-toml", "this is not toml = = [\n\"unterminated".into()),
        ("bom-and-crlf", format!("\u{feff}{}", minimal.replace('\n', "\r\n"))),
        ("nul-byte", with("[topics]\ndlq = \"a\u{0}b\"\n")),
    ];
    for (name, text) in files {
        seeds.write(name, text.as_bytes());
    }
    seeds.write("not-utf8", &[minimal.as_bytes(), b"group_id = \"\xff\xfe\"\n"].concat());
}

/// Keeps `AvroRecord` in use for the schema texts above.
const _: &str = <InventoryEvent as AvroRecord>::SCHEMA_TEXT;
