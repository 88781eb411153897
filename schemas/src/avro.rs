//! Avro bodies to typed records and back, with writer/reader schema resolution.

use std::sync::LazyLock;

use std::io::Read;

use apache_avro::Schema;
use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::writer::datum::GenericDatumWriter;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::own_schema::{Body, Malformed, ReadOwn};
use crate::{InventoryEvent, OrderEvent, PaymentEvent, ReorderAlert, ReorderPolicy};

/// A contract record with a reader schema in `schemas/avro/`.
pub trait AvroRecord: Serialize + DeserializeOwned + ReadOwn {
    /// The record's full name, e.g. `io.flowmart.events.InventoryEvent`.
    const FULL_NAME: &'static str;
    /// The schema's text, as in the repository's `.avsc` file.
    const SCHEMA_TEXT: &'static str;
    /// The parsed reader schema.
    fn reader_schema() -> &'static Schema;
}

macro_rules! avro_records {
    ($($record:ty => $name:literal),+ $(,)?) => {
        $(impl AvroRecord for $record {
            const FULL_NAME: &'static str = concat!("io.flowmart.events.", $name);
            const SCHEMA_TEXT: &'static str = include_str!(concat!("../avro/", $name, ".avsc"));
            fn reader_schema() -> &'static Schema {
                static SCHEMA: LazyLock<Schema> = LazyLock::new(|| {
                    // The text is compiled in and covered by tests: a parse failure is a build defect.
                    Schema::parse_str(<$record as AvroRecord>::SCHEMA_TEXT)
                        .expect(concat!($name, ".avsc is a valid schema"))
                });
                &SCHEMA
            }
        })+

        /// The full name of the record whose reader schema `schema` equals, if any.
        fn reader_of(schema: &Schema) -> Option<&'static str> {
            $(if schema == <$record>::reader_schema() {
                return Some(<$record>::FULL_NAME);
            })+
            None
        }
    };
}

avro_records! {
    InventoryEvent => "InventoryEvent",
    OrderEvent => "OrderEvent",
    PaymentEvent => "PaymentEvent",
    ReorderPolicy => "ReorderPolicy",
    ReorderAlert => "ReorderAlert",
}

/// A writer schema, with the record whose reader schema it equals (if any) found once, when it
/// is made: decoding then knows whether a body can be read as it is without comparing schemas
/// for every record.
#[derive(Clone, Debug)]
pub struct WriterSchema {
    schema: Schema,
    reader_of: Option<&'static str>,
}

impl WriterSchema {
    /// `T`'s reader schema as the writer schema: what FlowMart's own producers write, read as it
    /// is.
    pub fn own<T: AvroRecord>() -> Self {
        WriterSchema::from(T::reader_schema().clone())
    }

    /// `schema`, always read through apache-avro's generic reading, even when it is a record's
    /// reader schema: the reference the tests and the `decode_record` fuzz target check the
    /// own-schema reader against. Slower, and nothing else to use it for.
    pub fn generic(schema: Schema) -> Self {
        WriterSchema { schema, reader_of: None }
    }
}

impl From<Schema> for WriterSchema {
    fn from(schema: Schema) -> Self {
        WriterSchema { reader_of: reader_of(&schema), schema }
    }
}

/// Why an Avro body could not be turned into a record.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The body does not decode under its writer schema (read through apache-avro: one other than
    /// the reader's, or [`WriterSchema::generic`]), or the writer schema cannot be resolved
    /// against the reader schema (not backward compatible).
    #[error("avro body does not decode as {record}: {source}")]
    Avro {
        /// The record expected.
        record: &'static str,
        /// What apache-avro reported.
        #[source]
        source: Box<apache_avro::Error>,
    },
    /// The body, written with the reader schema itself, does not decode under it.
    #[error("avro body does not decode as {record}: {source}")]
    Malformed {
        /// The record expected.
        record: &'static str,
        /// What is wrong with it.
        #[source]
        source: Malformed,
    },
    /// The body ended inside a value. (apache-avro reads a truncated string or union as null,
    /// which a defaulted field would then silently accept; [`decode`] refuses it instead.)
    #[error("the {record} body is truncated")]
    Truncated {
        /// The record expected.
        record: &'static str,
    },
    /// The body decoded but bytes were left over: the writer schema does not describe it.
    #[error("{trailing} bytes left after the {record} body")]
    TrailingBytes {
        /// The record expected.
        record: &'static str,
        /// How many bytes were left.
        trailing: usize,
    },
}

/// Why a record could not be encoded.
#[derive(Debug, thiserror::Error)]
#[error("cannot encode {record} as avro: {source}")]
pub struct EncodeError {
    /// The record being encoded.
    pub record: &'static str,
    /// What apache-avro reported.
    #[source]
    pub source: Box<apache_avro::Error>,
}

/// Decodes an Avro binary body written with `writer`, resolved against `T`'s reader schema.
///
/// Any writer schema backward compatible with the reader's decodes: fields the reader does not
/// know are skipped, fields the writer lacks take the reader's defaults. A writer schema found
/// equal to the reader's when it was made (the usual case; apache-avro's equality: names, fields,
/// types and logical types, docs aside; not for [`WriterSchema::generic`]) is read as it is,
/// field by field straight into `T` (`own_schema.rs`): resolving it would change nothing and cost
/// twice the decoding, and apache-avro's serde reader as much again (BENCHMARKS.md, "Kafka →
/// queryable from process start", "Reading a record's own schema" and "The writer schema's
/// verdict, found once").
pub fn decode<T: AvroRecord>(writer: &WriterSchema, body: &[u8]) -> Result<T, DecodeError> {
    let record = T::FULL_NAME;
    if writer.reader_of == Some(record) {
        let mut own = Body::new(body);
        let decoded = T::read_own(&mut own).map_err(|malformed| match malformed {
            Malformed::Truncated => DecodeError::Truncated { record },
            source => DecodeError::Malformed { record, source },
        })?;
        return match own.remaining() {
            0 => Ok(decoded),
            trailing => Err(DecodeError::TrailingBytes { record, trailing }),
        };
    }
    let avro = |source| DecodeError::Avro { record, source: Box::new(source) };
    let mut guard = EndGuard { rest: body, read_past_end: false };
    let decoded = GenericDatumReader::builder(&writer.schema)
        .reader_schema(T::reader_schema())
        .build()
        .and_then(|datum_reader| datum_reader.read_value(&mut guard))
        .and_then(|value| apache_avro::from_value(&value))
        .map_err(avro)?;
    if guard.read_past_end {
        return Err(DecodeError::Truncated { record: T::FULL_NAME });
    }
    if !guard.rest.is_empty() {
        return Err(DecodeError::TrailingBytes { record: T::FULL_NAME, trailing: guard.rest.len() });
    }
    Ok(decoded)
}

/// A body reader that notes whether the decoder asked for bytes past the end.
struct EndGuard<'a> {
    rest: &'a [u8],
    read_past_end: bool,
}

impl Read for EndGuard<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let read = self.rest.read(buf)?;
        self.read_past_end |= read < buf.len();
        Ok(read)
    }
}

/// Encodes a record as an Avro binary body under its reader schema.
pub fn encode<T: AvroRecord>(record: &T) -> Result<Vec<u8>, EncodeError> {
    let avro = |source| EncodeError { record: T::FULL_NAME, source: Box::new(source) };
    let value = apache_avro::to_value(record).map_err(avro)?.resolve(T::reader_schema()).map_err(avro)?;
    GenericDatumWriter::builder(T::reader_schema()).build().map_err(avro)?.write_value_to_vec(value).map_err(avro)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::{Id, InventoryKind, OrderLine, OrderStatus, PaymentKind, ReorderAlertStatus};

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

    #[test]
    fn each_reader_schema_is_found_as_its_own_record_and_no_other() {
        fn found<T: AvroRecord>() -> Option<&'static str> {
            WriterSchema::own::<T>().reader_of
        }
        assert_eq!(found::<InventoryEvent>(), Some(InventoryEvent::FULL_NAME));
        assert_eq!(found::<OrderEvent>(), Some(OrderEvent::FULL_NAME));
        assert_eq!(found::<PaymentEvent>(), Some(PaymentEvent::FULL_NAME));
        assert_eq!(found::<ReorderPolicy>(), Some(ReorderPolicy::FULL_NAME));
        assert_eq!(found::<ReorderAlert>(), Some(ReorderAlert::FULL_NAME));
        // Another record's schema is resolved against the reader's, and refused as it lacks fields.
        let body = encode(&inventory()).unwrap();
        assert!(matches!(
            decode::<PaymentEvent>(&WriterSchema::own::<InventoryEvent>(), &body),
            Err(DecodeError::Avro { .. })
        ));
    }

    fn round_trip<T: AvroRecord + PartialEq + std::fmt::Debug>(record: T) {
        let body = encode(&record).unwrap();
        assert_eq!(decode::<T>(&WriterSchema::own::<T>(), &body).unwrap(), record);
    }

    #[test]
    fn every_record_round_trips_through_its_schema() {
        round_trip(inventory());
        round_trip(OrderEvent {
            event_id: "e-2".into(),
            tenant_id: "acme".into(),
            order_id: "o-1".into(),
            buyer_id: "b-1".into(),
            version: 3,
            status: OrderStatus::Shipped,
            lines: vec![OrderLine {
                sku: "SKU-1".into(),
                warehouse_id: "berlin".into(),
                quantity: 2,
                unit_price_minor: 1999,
            }],
            currency: "EUR".into(),
            occurred_at: 1_764_000_000_001,
        });
        round_trip(PaymentEvent {
            event_id: "e-3".into(),
            tenant_id: "acme".into(),
            payment_id: "p-1".into(),
            buyer_id: "b-1".into(),
            order_id: None,
            kind: PaymentKind::Chargeback,
            amount_minor: 500,
            currency: "USD".into(),
            occurred_at: 1_764_000_000_002,
        });
        round_trip(ReorderPolicy {
            tenant_id: "acme".into(),
            warehouse_id: "berlin".into(),
            sku: "SKU-1".into(),
            reorder_point: 10,
            reorder_quantity: 50,
            max_level: Some(200),
            order_multiple: None,
            lead_time_days: Some(4),
        });
        round_trip(ReorderAlert {
            alert_id: "a-1".into(),
            tenant_id: "acme".into(),
            warehouse_id: "berlin".into(),
            sku: "SKU-1".into(),
            status: ReorderAlertStatus::Updated,
            projected: -3,
            reorder_point: 10,
            suggested_quantity: 50,
            changed_at: 1_764_000_000_003,
        });
    }

    /// The reference: apache-avro's generic reading (its `Value` turned into the record), the
    /// body read to its end and no further.
    fn decode_through_value<T: AvroRecord>(body: &[u8]) -> Option<T> {
        decode::<T>(&WriterSchema::generic(T::reader_schema().clone()), body).ok()
    }

    fn any_order() -> impl Strategy<Value = OrderEvent> {
        let text = || "\\PC{0,12}".prop_map(Id::from);
        let line = (text(), text(), any::<i64>(), any::<i64>()).prop_map(|(sku, warehouse_id, quantity, price)| {
            OrderLine { sku, warehouse_id, quantity, unit_price_minor: price }
        });
        let status = prop::sample::select(OrderStatus::ALL.to_vec());
        (text(), text(), text(), text(), any::<i32>(), status, prop::collection::vec(line, 0..4), text(), any::<i64>())
            .prop_map(|(event_id, tenant_id, order_id, buyer_id, version, status, lines, currency, occurred_at)| {
                OrderEvent { event_id, tenant_id, order_id, buyer_id, version, status, lines, currency, occurred_at }
            })
    }

    fn any_inventory() -> impl Strategy<Value = InventoryEvent> {
        (any::<i64>(), prop::sample::select(InventoryKind::ALL.to_vec()), prop::option::of("\\PC{0,8}"), "\\PC{0,8}")
            .prop_map(|(quantity, kind, purchase_order_id, sku)| InventoryEvent {
                kind,
                quantity,
                sku: sku.into(),
                purchase_order_id: purchase_order_id.map(Into::into),
                ..inventory()
            })
    }

    fn any_payment() -> impl Strategy<Value = PaymentEvent> {
        let text = || "\\PC{0,12}".prop_map(Id::from);
        (text(), prop::option::of(text()), prop::sample::select(PaymentKind::ALL.to_vec()), any::<i64>(), any::<i64>())
            .prop_map(|(payment_id, order_id, kind, amount_minor, occurred_at)| PaymentEvent {
                event_id: "p-1".into(),
                tenant_id: "acme".into(),
                payment_id,
                buyer_id: "b".into(),
                order_id,
                kind,
                amount_minor,
                currency: "EUR".into(),
                occurred_at,
            })
    }

    fn any_policy() -> impl Strategy<Value = ReorderPolicy> {
        let optional_long = || prop::option::of(any::<i64>());
        (any::<i64>(), any::<i64>(), optional_long(), optional_long(), prop::option::of(any::<i32>())).prop_map(
            |(reorder_point, reorder_quantity, max_level, order_multiple, lead_time_days)| ReorderPolicy {
                tenant_id: "acme".into(),
                warehouse_id: "berlin".into(),
                sku: "SKU-1".into(),
                reorder_point,
                reorder_quantity,
                max_level,
                order_multiple,
                lead_time_days,
            },
        )
    }

    fn any_alert() -> impl Strategy<Value = ReorderAlert> {
        (prop::sample::select(ReorderAlertStatus::ALL.to_vec()), any::<i64>(), any::<i64>()).prop_map(
            |(status, projected, changed_at)| ReorderAlert {
                alert_id: "a-1".into(),
                tenant_id: "acme".into(),
                warehouse_id: "berlin".into(),
                sku: "SKU-1".into(),
                status,
                projected,
                reorder_point: 5,
                suggested_quantity: 10,
                changed_at,
            },
        )
    }

    /// The symbols of the enum `name` in `schema`'s fields.
    fn symbols(schema: &Schema, name: &str) -> Vec<String> {
        let Schema::Record(record) = schema else { panic!("a record schema") };
        record
            .fields
            .iter()
            .find_map(|field| match &field.schema {
                Schema::Enum(found) if found.name.name() == name => Some(found.symbols.clone()),
                _ => None,
            })
            .unwrap_or_else(|| panic!("an enum {name}"))
    }

    #[test]
    fn the_kind_and_status_lists_are_the_avro_enums() {
        let kinds = InventoryKind::ALL.map(|kind| kind.as_str().to_string());
        assert_eq!(symbols(InventoryEvent::reader_schema(), "InventoryKind"), kinds);
        let statuses = OrderStatus::ALL.map(|status| status.as_str().to_string());
        assert_eq!(symbols(OrderEvent::reader_schema(), "OrderStatus"), statuses);
        let kinds = PaymentKind::ALL.map(|kind| kind.as_str().to_string());
        assert_eq!(symbols(PaymentEvent::reader_schema(), "PaymentKind"), kinds);
        let statuses = ReorderAlertStatus::ALL.map(|status| status.as_str().to_string());
        assert_eq!(symbols(ReorderAlert::reader_schema(), "ReorderAlertStatus"), statuses);
    }

    /// A body changed as a broken or hostile producer might: a byte overwritten, cut short.
    fn mutated(body: &[u8], at: usize, byte: u8, cut: bool) -> Vec<u8> {
        let mut body = body.to_vec();
        if !body.is_empty() {
            let at = at % body.len();
            match cut {
                true => body.truncate(at),
                false => body[at] = byte,
            }
        }
        body
    }

    /// `record` decodes to itself, and its body mutated decodes as the generic reading says.
    fn agrees_on_it_and_on_it_mutated<T: AvroRecord + PartialEq + std::fmt::Debug>(
        record: T,
        at: usize,
        byte: u8,
        cut: bool,
    ) -> Result<(), TestCaseError> {
        let body = encode(&record).unwrap();
        prop_assert_eq!(decode::<T>(&WriterSchema::own::<T>(), &body).ok(), Some(record));
        let broken = mutated(&body, at, byte, cut);
        prop_assert_eq!(decode::<T>(&WriterSchema::own::<T>(), &broken).ok(), decode_through_value::<T>(&broken));
        Ok(())
    }

    proptest! {
        /// Reading straight into the record agrees with the generic reading on every body:
        /// the same record, or both refuse it.
        #[test]
        fn decoding_agrees_with_the_generic_reading_on_any_body(
            order in any_order(),
            inventory in any_inventory(),
            at in any::<usize>(),
            byte in any::<u8>(),
            cut in any::<bool>(),
        ) {
            agrees_on_it_and_on_it_mutated(order, at, byte, cut)?;
            agrees_on_it_and_on_it_mutated(inventory, at, byte, cut)?;
        }

        /// The same for the other records read from Kafka or its alert topic.
        #[test]
        fn decoding_the_other_records_agrees_with_the_generic_reading_on_any_body(
            payment in any_payment(),
            policy in any_policy(),
            alert in any_alert(),
            at in any::<usize>(),
            byte in any::<u8>(),
            cut in any::<bool>(),
        ) {
            agrees_on_it_and_on_it_mutated(payment, at, byte, cut)?;
            agrees_on_it_and_on_it_mutated(policy, at, byte, cut)?;
            agrees_on_it_and_on_it_mutated(alert, at, byte, cut)?;
        }

        /// Any bytes at all: both readings make the same record of them, or both refuse them.
        #[test]
        fn any_bytes_decode_alike(body in prop::collection::vec(any::<u8>(), 0..64)) {
            prop_assert_eq!(decode::<InventoryEvent>(&WriterSchema::own::<InventoryEvent>(), &body).ok(), decode_through_value(&body));
            prop_assert_eq!(decode::<OrderEvent>(&WriterSchema::own::<OrderEvent>(), &body).ok(), decode_through_value(&body));
            prop_assert_eq!(decode::<PaymentEvent>(&WriterSchema::own::<PaymentEvent>(), &body).ok(), decode_through_value(&body));
            prop_assert_eq!(decode::<ReorderPolicy>(&WriterSchema::own::<ReorderPolicy>(), &body).ok(), decode_through_value(&body));
            prop_assert_eq!(decode::<ReorderAlert>(&WriterSchema::own::<ReorderAlert>(), &body).ok(), decode_through_value(&body));
        }
    }

    /// Lines written in blocks with a byte size (negative counts), and integers written in more
    /// bytes than they need: valid Avro that apache-avro's writer never makes.
    #[test]
    fn blocked_arrays_and_long_varints_decode_alike() {
        let string = |text: &str| [&[(text.len() * 2) as u8][..], text.as_bytes()].concat();
        let line = [string("SKU-1"), string("berlin"), vec![0x06], vec![0x08]].concat();
        let head = [string("e-1"), string("acme"), string("o-1"), string("b"), vec![0x02], vec![0x00]].concat();
        let tail = [string("EUR"), vec![0x80, 0x80, 0x00]].concat();
        // One block of -2 lines (its size in bytes after it), then one of 1, then the end.
        let lines = [vec![0x03, (line.len() * 4) as u8], line.clone(), line.clone(), vec![0x02], line, vec![0x00]];
        let body = [head, lines.concat(), tail].concat();
        let decoded = decode::<OrderEvent>(&WriterSchema::own::<OrderEvent>(), &body).unwrap();
        assert_eq!(decoded.lines.len(), 3);
        assert_eq!(decoded.occurred_at, 0, "a zero in three bytes");
        assert_eq!(Some(decoded), decode_through_value::<OrderEvent>(&body));
        // Ten continuation bytes: past a 64-bit varint, refused by both.
        let overflow = [string("e-1"), vec![0xFF; 10], vec![0x01]].concat();
        assert!(decode::<InventoryEvent>(&WriterSchema::own::<InventoryEvent>(), &overflow).is_err());
        assert_eq!(decode_through_value::<InventoryEvent>(&overflow), None);
    }

    /// More lines than apache-avro's allocation limit allows for their generic values: refused
    /// by both, the lines there or not (apache-avro checks each block's count before its items).
    #[test]
    fn arrays_over_the_allocation_limit_are_refused_alike() {
        let most = (512 << 20) / size_of::<apache_avro::types::Value>();
        let zigzag = |value: u64| {
            let mut bytes = Vec::new();
            let mut rest = value << 1;
            while rest > 0x7F {
                bytes.push((rest as u8 & 0x7F) | 0x80);
                rest >>= 7;
            }
            bytes.push(rest as u8);
            bytes
        };
        let head = vec![0x00, 0x00, 0x00, 0x00, 0x02, 0x00];
        let empty_line = [0x00, 0x00, 0x00, 0x00];
        for count in [most as u64 + 1, 1 << 40] {
            let body = [head.clone(), zigzag(count), empty_line.to_vec()].concat();
            assert!(matches!(
                decode::<OrderEvent>(&WriterSchema::own::<OrderEvent>(), &body),
                Err(DecodeError::Malformed { source: Malformed::OverLimit, .. })
            ));
            assert_eq!(decode_through_value::<OrderEvent>(&body), None);
        }
        // At the limit the announced lines are read (here: missing, so the body is truncated).
        let body = [head, zigzag(most as u64), empty_line.to_vec()].concat();
        assert!(matches!(
            decode::<OrderEvent>(&WriterSchema::own::<OrderEvent>(), &body),
            Err(DecodeError::Truncated { .. })
        ));
    }

    #[test]
    fn writer_schema_with_an_extra_defaulted_field_decodes() {
        let v2 = InventoryEvent::SCHEMA_TEXT.replace(
            r#"{"name": "quantity", "type": "long"},"#,
            r#"{"name": "quantity", "type": "long"}, {"name": "lot", "type": "string", "default": ""},"#,
        );
        assert_ne!(v2, InventoryEvent::SCHEMA_TEXT, "the v2 schema must differ");
        let writer = Schema::parse_str(&v2).unwrap();
        let event = inventory();
        let mut value = apache_avro::to_value(&event).unwrap();
        if let apache_avro::types::Value::Record(fields) = &mut value {
            fields.insert(6, ("lot".to_string(), apache_avro::types::Value::String("L-42".into())));
        }
        let body = GenericDatumWriter::builder(&writer)
            .build()
            .unwrap()
            .write_value_to_vec(value.resolve(&writer).unwrap())
            .unwrap();
        assert_eq!(decode::<InventoryEvent>(&WriterSchema::from(writer), &body).unwrap(), event);
    }

    #[test]
    fn writer_schema_without_a_defaulted_field_decodes_with_the_default() {
        let v0 = InventoryEvent::SCHEMA_TEXT.replace(
            r#",
    {"name": "purchase_order_id", "type": ["null", "string"], "default": null}"#,
            "",
        );
        assert_ne!(v0, InventoryEvent::SCHEMA_TEXT, "the v0 schema must differ");
        let writer = Schema::parse_str(&v0).unwrap();
        let mut value = apache_avro::to_value(inventory()).unwrap();
        if let apache_avro::types::Value::Record(fields) = &mut value {
            fields.retain(|(name, _)| name != "purchase_order_id");
        }
        let body = GenericDatumWriter::builder(&writer)
            .build()
            .unwrap()
            .write_value_to_vec(value.resolve(&writer).unwrap())
            .unwrap();
        let decoded = decode::<InventoryEvent>(&WriterSchema::from(writer), &body).unwrap();
        assert_eq!(decoded, InventoryEvent { purchase_order_id: None, ..inventory() });
    }

    #[test]
    fn a_writer_schema_equal_to_the_readers_but_for_docs_decodes_alike_unresolved() {
        let redocumented = InventoryEvent::SCHEMA_TEXT.replace("A movement of stock", "Stock moved");
        // Without the logical type the schemas differ, and the writer's is resolved as before.
        let plain =
            InventoryEvent::SCHEMA_TEXT.replace(r#"{"type": "long", "logicalType": "timestamp-millis"}"#, r#""long""#);
        for (text, equal) in [(redocumented, true), (plain, false)] {
            assert_ne!(text, InventoryEvent::SCHEMA_TEXT, "the schema text must differ");
            let writer = Schema::parse_str(&text).unwrap();
            assert_eq!(writer == *InventoryEvent::reader_schema(), equal, "{text}");
            assert_eq!(reader_of(&writer), equal.then_some(InventoryEvent::FULL_NAME), "{text}");
            let body = GenericDatumWriter::builder(&writer)
                .build()
                .unwrap()
                .write_value_to_vec(apache_avro::to_value(inventory()).unwrap().resolve(&writer).unwrap())
                .unwrap();
            assert_eq!(body, encode(&inventory()).unwrap(), "the same bytes");
            assert_eq!(decode::<InventoryEvent>(&WriterSchema::from(writer), &body).unwrap(), inventory());
        }
    }

    #[test]
    fn truncated_and_padded_bodies_are_errors() {
        let body = encode(&inventory()).unwrap();
        for cut in 1..body.len() {
            let truncated = &body[..body.len() - cut];
            assert!(
                matches!(
                    decode::<InventoryEvent>(&WriterSchema::own::<InventoryEvent>(), truncated),
                    Err(DecodeError::Truncated { .. } | DecodeError::Avro { .. })
                ),
                "a body cut by {cut} bytes must not decode"
            );
        }
        let mut padded = body.clone();
        padded.extend_from_slice(&[0, 0]);
        assert!(matches!(
            decode::<InventoryEvent>(&WriterSchema::own::<InventoryEvent>(), &padded),
            Err(DecodeError::TrailingBytes { trailing: 2, .. })
        ));
    }
}
