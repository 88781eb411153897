//! From a source record to a validated input record, or to a dead letter.

use flowmart_operators::SourceOffset;
use flowmart_schemas::{InputRecord, Validate};

use crate::refusals::FedRecord;
use crate::{DeadLetter, SourceRecord};

/// Checks a decoded record against the contract's rules: a valid one comes back with where it
/// was read and its original bytes (which the worker keeps until its time is sealed, in case the
/// dataflow refuses it). A record that was not decoded, or breaks a rule, becomes a
/// [`DeadLetter`] carrying its original key, bytes and position.
pub(crate) fn ingest(record: SourceRecord) -> Result<(SourceOffset, InputRecord, FedRecord), DeadLetter> {
    let SourceRecord { topic, partition, offset, key, raw_value, decoded } = record;
    let checked = decoded
        .map_err(|rejection| (rejection.kind, rejection.message))
        .and_then(|input| input.validate().map(|()| input).map_err(|invalid| (invalid.kind(), invalid.to_string())));
    match checked {
        Ok(input) => {
            let fed = FedRecord { topic, partition, offset, key, value: raw_value };
            Ok((SourceOffset { partition, offset }, input, fed))
        }
        Err((kind, message)) => {
            Err(DeadLetter { topic, partition, offset, key, value: raw_value, kind: kind.into(), message })
        }
    }
}

#[cfg(test)]
mod tests {
    use flowmart_schemas::{InventoryEvent, InventoryKind};

    use super::*;
    use crate::{InputTopic, Rejection};

    fn record(decoded: Result<InputRecord, Rejection>) -> SourceRecord {
        SourceRecord {
            topic: InputTopic::Inventory,
            partition: 2,
            offset: 17,
            key: Some(b"acme".to_vec()),
            raw_value: Some(vec![0, 0, 0, 0, 1, 9]),
            decoded,
        }
    }

    fn event(quantity: i64) -> InputRecord {
        InputRecord::Inventory(InventoryEvent {
            event_id: "e".into(),
            tenant_id: "acme".into(),
            warehouse_id: "w".into(),
            sku: "s".into(),
            kind: InventoryKind::Damaged,
            quantity,
            occurred_at: 1_767_571_200_000,
            purchase_order_id: None,
        })
    }

    #[test]
    fn a_valid_record_keeps_its_position_and_bytes() {
        let (offset, input, fed) = ingest(record(Ok(event(3)))).expect("valid");
        assert_eq!((offset, input), (SourceOffset { partition: 2, offset: 17 }, event(3)));
        assert_eq!((fed.topic, fed.partition, fed.offset), (InputTopic::Inventory, 2, 17));
        assert_eq!((fed.key.as_deref(), fed.value), (Some(&b"acme"[..]), Some(vec![0, 0, 0, 0, 1, 9])));
    }

    #[test]
    fn a_record_breaking_a_rule_becomes_a_dead_letter_with_its_original_bytes() {
        let dead = ingest(record(Ok(event(-3)))).unwrap_err();
        assert_eq!(dead.kind, "non_positive_quantity");
        assert!(dead.message.contains("-3"), "{}", dead.message);
        assert_eq!((dead.topic, dead.partition, dead.offset), (InputTopic::Inventory, 2, 17));
        assert_eq!(dead.key.as_deref(), Some(&b"acme"[..]));
        assert_eq!(dead.value, Some(vec![0, 0, 0, 0, 1, 9]));
    }

    #[test]
    fn an_undecodable_record_becomes_a_dead_letter_with_the_sources_reason() {
        let rejection = Rejection { kind: "unknown_schema_id", message: "schema 9 is not registered".into() };
        let dead = ingest(record(Err(rejection))).unwrap_err();
        assert_eq!((&*dead.kind, dead.message.as_str()), ("unknown_schema_id", "schema 9 is not registered"));
    }
}
