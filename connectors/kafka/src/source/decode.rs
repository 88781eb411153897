//! From a Kafka record (topic role, key, value bytes) to a decoded input record.

use flowmart_schemas::{
    AvroRecord, InputRecord, InventoryEvent, OrderEvent, PaymentEvent, PolicyUpdate, ReorderPolicy, WriterSchema,
    decode,
};

use super::writer_schemas::{LookupError, WriterSchemas};
use crate::wire::split_frame;
use flowmart_runtime::{InputTopic, Rejection};

/// Decodes one record. `Err` means the registry could not be asked: the caller retries the same
/// record later. `Ok(Err(rejection))` means the record itself cannot be decoded (it goes to the
/// DLQ with the rejection's kind and message).
///
/// Public for the fuzz targets (`fuzz/`): this is where bytes from Kafka are first read.
pub fn decode_record(
    topic: InputTopic,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    schemas: &WriterSchemas,
) -> Result<Result<InputRecord, Rejection>, LookupError> {
    let reject = |kind: &'static str, message: String| Ok(Err(Rejection { kind, message }));
    let Some(value) = value else {
        return match topic {
            InputTopic::ReorderPolicies => Ok(policy_update(key, None)),
            _ => reject("null_value", "a null value is only a delete on the policies topic".into()),
        };
    };
    let (schema_id, body) = match split_frame(value) {
        Ok(split) => split,
        Err(error) => return reject("bad_wire_format", error.to_string()),
    };
    let writer = match schemas.get(schema_id) {
        Ok(writer) => writer,
        Err(LookupError::Unavailable(message)) => return Err(LookupError::Unavailable(message)),
        Err(error @ LookupError::UnknownId(_)) => return reject("unknown_schema_id", error.to_string()),
        Err(error @ LookupError::Invalid { .. }) => return reject("invalid_writer_schema", error.to_string()),
    };
    fn body_as<T: AvroRecord>(writer: &WriterSchema, body: &[u8]) -> Result<T, Rejection> {
        decode::<T>(writer, body).map_err(|error| Rejection { kind: "avro_decode", message: error.to_string() })
    }
    Ok(match topic {
        InputTopic::Inventory => body_as::<InventoryEvent>(&writer, body).map(InputRecord::Inventory),
        InputTopic::Orders => body_as::<OrderEvent>(&writer, body).map(InputRecord::Order),
        InputTopic::Payments => body_as::<PaymentEvent>(&writer, body).map(InputRecord::Payment),
        InputTopic::ReorderPolicies => match body_as::<ReorderPolicy>(&writer, body) {
            Ok(policy) => policy_update(key, Some(policy)),
            Err(rejection) => Err(rejection),
        },
    })
}

fn policy_update(key: Option<&[u8]>, policy: Option<ReorderPolicy>) -> Result<InputRecord, Rejection> {
    let key = key.and_then(|key| std::str::from_utf8(key).ok()).ok_or_else(|| Rejection {
        kind: "invalid_policy_key",
        message: "a policy record needs a UTF-8 key tenant_id/warehouse_id/sku".into(),
    })?;
    PolicyUpdate::from_record(key, policy)
        .map(InputRecord::Policy)
        .map_err(|invalid| Rejection { kind: invalid.kind(), message: invalid.to_string() })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use flowmart_schemas::{InventoryKind, PositionKey, encode};

    use super::*;
    use crate::source::writer_schemas::SchemaLookup;
    use crate::wire::frame;

    struct Fixed(HashMap<u32, String>, bool);

    impl SchemaLookup for Fixed {
        fn schema_text(&self, id: u32) -> Result<String, LookupError> {
            if self.1 {
                return Err(LookupError::Unavailable("connection refused".into()));
            }
            self.0.get(&id).cloned().ok_or(LookupError::UnknownId(id))
        }
    }

    fn schemas(up: bool) -> WriterSchemas {
        let registered = HashMap::from([
            (1, InventoryEvent::SCHEMA_TEXT.to_string()),
            (2, ReorderPolicy::SCHEMA_TEXT.to_string()),
            (3, "{\"type\": \"nonsense\"}".to_string()),
            (4, InventoryEvent::SCHEMA_TEXT.replacen(
                r#"{"name": "event_id", "type": "string"},"#,
                r#"{"name": "event_id", "type": "string"}, {"name": "chain", "type": {"type": "record", "name": "Link", "fields": [{"name": "next", "type": ["null", "Link"]}]}},"#,
                1,
            )),
        ]);
        WriterSchemas::new(Box::new(Fixed(registered, !up)))
    }

    fn inventory() -> InventoryEvent {
        InventoryEvent {
            event_id: "e-1".into(),
            tenant_id: "acme".into(),
            warehouse_id: "berlin".into(),
            sku: "SKU-1".into(),
            kind: InventoryKind::Received,
            quantity: 4,
            occurred_at: 0,
            purchase_order_id: None,
        }
    }

    fn policy() -> ReorderPolicy {
        ReorderPolicy {
            tenant_id: "acme".into(),
            warehouse_id: "berlin".into(),
            sku: "SKU-1".into(),
            reorder_point: 5,
            reorder_quantity: 10,
            max_level: None,
            order_multiple: None,
            lead_time_days: None,
        }
    }

    fn kind(result: Result<Result<InputRecord, Rejection>, LookupError>) -> &'static str {
        result.expect("the registry answered").expect_err("rejected").kind
    }

    #[test]
    fn a_framed_record_decodes_under_its_registered_schema() {
        let value = frame(1, &encode(&inventory()).unwrap());
        let decoded = decode_record(InputTopic::Inventory, Some(b"acme"), Some(&value), &schemas(true));
        assert_eq!(decoded, Ok(Ok(InputRecord::Inventory(inventory()))));
    }

    #[test]
    fn a_null_policy_value_deletes_and_a_policy_needs_a_matching_key() {
        let position = PositionKey::new("acme", "berlin", "SKU-1");
        let delete = decode_record(InputTopic::ReorderPolicies, Some(b"acme/berlin/SKU-1"), None, &schemas(true));
        assert_eq!(delete, Ok(Ok(InputRecord::Policy(PolicyUpdate { position, policy: None }))));
        let value = frame(2, &encode(&policy()).unwrap());
        let other_key =
            decode_record(InputTopic::ReorderPolicies, Some(b"acme/lyon/SKU-1"), Some(&value), &schemas(true));
        assert_eq!(kind(other_key), "policy_key_mismatch");
        assert_eq!(kind(decode_record(InputTopic::ReorderPolicies, None, None, &schemas(true))), "invalid_policy_key");
    }

    #[test]
    fn every_undecodable_record_is_rejected_with_its_reason() {
        let schemas = schemas(true);
        let body = encode(&inventory()).unwrap();
        let decode = |value: &[u8]| decode_record(InputTopic::Inventory, Some(b"acme"), Some(value), &schemas);
        assert_eq!(kind(decode(b"\x00\x00")), "bad_wire_format");
        let mut wrong_magic = frame(1, &body);
        wrong_magic[0] = 1;
        assert_eq!(kind(decode(&wrong_magic)), "bad_wire_format");
        assert_eq!(kind(decode(&frame(99, &body))), "unknown_schema_id");
        assert_eq!(kind(decode(&frame(3, &body))), "invalid_writer_schema");
        // A recursive writer schema parses, but a body of n bytes would nest n deep: refused
        // before any body is read (found by fuzzing).
        let nested = [&[2u8; 8][..], &[0u8; 40][..]].concat();
        let recursive = decode(&frame(4, &nested)).expect("the registry answered").expect_err("refused");
        assert_eq!(recursive.kind, "invalid_writer_schema");
        assert!(recursive.message.contains("Link contains itself"), "{}", recursive.message);
        assert_eq!(kind(decode(&frame(1, &body[..body.len() - 2]))), "avro_decode");
        assert_eq!(kind(decode(&frame(2, &body))), "avro_decode");
        assert_eq!(kind(decode_record(InputTopic::Inventory, Some(b"acme"), None, &schemas)), "null_value");
    }

    #[test]
    fn an_unreachable_registry_is_not_the_records_fault() {
        let value = frame(1, &encode(&inventory()).unwrap());
        let decoded = decode_record(InputTopic::Inventory, Some(b"acme"), Some(&value), &schemas(false));
        assert!(matches!(decoded, Err(LookupError::Unavailable(_))));
    }
}
