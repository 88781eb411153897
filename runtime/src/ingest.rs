//! From a source record to a validated input record, or to a dead letter.

use flowmart_schemas::{InputRecord, Validate};

use crate::fed::FedRecord;
use crate::rewind::Skips;
use crate::{DeadLetter, SourceRecord};

/// Checks a decoded record against the contract's rules: a valid one comes back with where it
/// was read and its original bytes (which the worker keeps until its results are committed, in
/// case the dataflow or a sink refuses it; the worker adds a decoded copy when it may rewind). A record that was not decoded, or breaks a rule,
/// becomes a [`DeadLetter`] carrying its original key, bytes and position; so does a record a
/// sink refused, among `skips` (`sink_rejected`).
pub(crate) fn ingest(record: SourceRecord, skips: &Skips) -> Result<(InputRecord, FedRecord), DeadLetter> {
    let SourceRecord { topic, partition, offset, key, raw_value, decoded } = record;
    let checked = match skips.get(&(topic, partition, offset)) {
        Some(reason) => Err(("sink_rejected", reason.clone())),
        None => decoded.map_err(|rejection| (rejection.kind, rejection.message)).and_then(|input| {
            input.validate().map(|()| input).map_err(|invalid| (invalid.kind(), invalid.to_string()))
        }),
    };
    match checked {
        Ok(input) => {
            Ok((input, FedRecord { topic, partition, offset, key, value: raw_value, record: None, dead: false }))
        }
        Err((kind, message)) => {
            Err(DeadLetter { topic, partition, offset, key, value: raw_value, kind: kind.into(), message })
        }
    }
}

#[cfg(test)]
mod tests {
    use flowmart_operators::SourceOffset;
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
        let (input, fed) = ingest(record(Ok(event(3))), &Skips::new()).expect("valid");
        assert_eq!((fed.source(), input), (SourceOffset { partition: 2, offset: 17 }, event(3)));
        assert_eq!((fed.topic, fed.partition, fed.offset), (InputTopic::Inventory, 2, 17));
        assert_eq!((fed.key.as_deref(), fed.value), (Some(&b"acme"[..]), Some(vec![0, 0, 0, 0, 1, 9])));
    }

    #[test]
    fn a_record_breaking_a_rule_becomes_a_dead_letter_with_its_original_bytes() {
        let dead = ingest(record(Ok(event(-3))), &Skips::new()).unwrap_err();
        assert_eq!(dead.kind, "non_positive_quantity");
        assert!(dead.message.contains("-3"), "{}", dead.message);
        assert_eq!((dead.topic, dead.partition, dead.offset), (InputTopic::Inventory, 2, 17));
        assert_eq!(dead.key.as_deref(), Some(&b"acme"[..]));
        assert_eq!(dead.value, Some(vec![0, 0, 0, 0, 1, 9]));
    }

    #[test]
    fn a_record_a_sink_refused_becomes_a_dead_letter_when_read_again() {
        let skips = Skips::from([((InputTopic::Inventory, 2, 17), "postgres refused a stock change: no".to_string())]);
        let dead = ingest(record(Ok(event(3))), &skips).unwrap_err();
        assert_eq!((&*dead.kind, dead.message.as_str()), ("sink_rejected", "postgres refused a stock change: no"));
        assert_eq!((dead.offset, dead.value), (17, Some(vec![0, 0, 0, 0, 1, 9])));
    }

    #[test]
    fn an_undecodable_record_becomes_a_dead_letter_with_the_sources_reason() {
        let rejection = Rejection { kind: "unknown_schema_id", message: "schema 9 is not registered".into() };
        let dead = ingest(record(Err(rejection)), &Skips::new()).unwrap_err();
        assert_eq!((&*dead.kind, dead.message.as_str()), ("unknown_schema_id", "schema 9 is not registered"));
    }
}
