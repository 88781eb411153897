//! Writer schemas that parse but must not be decoded with: shapes with which a body of a few
//! bytes makes apache-avro use unbounded stack, memory or time. Found by fuzzing
//! (`fuzz/`, target `decode_record`).
//!
//! apache-avro 0.22 bounds each length or count it reads from a body by its allocation limit
//! (512 MiB by default), but it decodes recursively and builds the whole writer value before
//! resolving it against the reader schema, so a field the reader skips is decoded too. Three
//! shapes escape that limit:
//!
//! - a recursive type (`Link { next: ["null", "Link"] }`): each byte of body nests the value one
//!   level deeper, and the decoder's stack overflows (the process aborts) after a few thousand;
//! - an array of items that encode in zero bytes (`null`, an empty record, `fixed` of size 0):
//!   a varint declares millions of items that take no body, and arrays of them multiply;
//! - a `fixed` larger than the allocation limit, allocated before any byte is read.
//!
//! None of them can describe a contract record (their schemas are flat), so such a writer schema
//! is refused as invalid and its records are dead-lettered.

use std::collections::HashMap;

use apache_avro::Schema;
use apache_avro::schema::{ArraySchema, FixedSchema, InnerDecimalSchema, Name, UuidSchema};

/// Why `schema` must not be decoded with, or `Ok` if it may.
pub(super) fn check(schema: &Schema) -> Result<(), String> {
    let mut named = HashMap::new();
    definitions(schema, &mut named);
    not_recursive(schema, &mut Vec::new())?;
    bounded(schema, &named)
}

/// Every named type defined in `schema`, by its full name (which `Schema::Ref` carries).
fn definitions<'s>(schema: &'s Schema, named: &mut HashMap<&'s Name, &'s Schema>) {
    for child in children(schema) {
        definitions(child, named);
    }
    match schema {
        Schema::Record(record) => named.insert(&record.name, schema),
        Schema::Enum(enumeration) => named.insert(&enumeration.name, schema),
        Schema::Fixed(fixed) => named.insert(&fixed.name, schema),
        _ => None,
    };
}

/// The schemas directly inside `schema`.
fn children(schema: &Schema) -> Vec<&Schema> {
    match schema {
        Schema::Record(record) => record.fields.iter().map(|field| &field.schema).collect(),
        Schema::Array(array) => vec![&*array.items],
        Schema::Map(map) => vec![&*map.types],
        Schema::Union(union) => union.variants().iter().collect(),
        _ => Vec::new(),
    }
}

/// Refuses a type that contains itself. A type can only refer to types defined before it or
/// inside it, so every cycle passes through a reference to a record whose definition is being
/// walked: `path` holds those records.
fn not_recursive<'s>(schema: &'s Schema, path: &mut Vec<&'s Name>) -> Result<(), String> {
    match schema {
        Schema::Ref { name } if path.contains(&name) => {
            Err(format!("type {name} contains itself: a recursive type lets a body nest as deep as it is long"))
        }
        Schema::Record(record) => {
            path.push(&record.name);
            let checked = children(schema).into_iter().try_for_each(|child| not_recursive(child, path));
            path.pop();
            checked
        }
        _ => children(schema).into_iter().try_for_each(|child| not_recursive(child, path)),
    }
}

/// Refuses arrays of zero-byte items and oversized fixed types (`schema` is not recursive).
fn bounded(schema: &Schema, named: &HashMap<&Name, &Schema>) -> Result<(), String> {
    let limit = apache_avro::util::max_allocation_bytes(apache_avro::util::DEFAULT_MAX_ALLOCATION_BYTES);
    let fixed_size = |fixed: &FixedSchema| match fixed.size {
        size if size > limit => {
            Err(format!("fixed type {} is {size} bytes, more than the allocation limit of {limit}", fixed.name))
        }
        _ => Ok(()),
    };
    match schema {
        Schema::Array(ArraySchema { items, .. }) if encodes_in_zero_bytes(items, named) => {
            Err("an array of items that encode in zero bytes (null, an empty record, a fixed of size 0) lets a \
                 few bytes declare millions of items"
                .into())
        }
        Schema::Fixed(fixed) | Schema::Duration(fixed) | Schema::Uuid(UuidSchema::Fixed(fixed)) => fixed_size(fixed),
        Schema::Decimal(decimal) => match &decimal.inner {
            InnerDecimalSchema::Fixed(fixed) => fixed_size(fixed),
            InnerDecimalSchema::Bytes => Ok(()),
        },
        _ => children(schema).into_iter().try_for_each(|child| bounded(child, named)),
    }
}

/// Whether a value of `schema` can take no byte of body (`schema` is not recursive).
fn encodes_in_zero_bytes(schema: &Schema, named: &HashMap<&Name, &Schema>) -> bool {
    match schema {
        Schema::Null => true,
        Schema::Fixed(fixed) => fixed.size == 0,
        Schema::Decimal(decimal) => matches!(&decimal.inner, InnerDecimalSchema::Fixed(fixed) if fixed.size == 0),
        Schema::Record(record) => record.fields.iter().all(|field| encodes_in_zero_bytes(&field.schema, named)),
        Schema::Ref { name } => named.get(name).is_some_and(|defined| encodes_in_zero_bytes(defined, named)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use flowmart_schemas::{AvroRecord, InventoryEvent, OrderEvent, PaymentEvent, ReorderAlert, ReorderPolicy};

    use super::*;

    /// `InventoryEvent` with one more field of type `field_type`: a writer schema whose extra
    /// field the reader would skip.
    fn inventory_with(field_type: &str) -> Schema {
        let text = InventoryEvent::SCHEMA_TEXT;
        let end = text.rfind(']').unwrap();
        let text = format!(r#"{}, {{"name": "extra", "type": {field_type}}}{}"#, &text[..end], &text[end..]);
        Schema::parse_str(&text).unwrap()
    }

    fn refused(field_type: &str) -> String {
        check(&inventory_with(field_type)).expect_err(field_type)
    }

    #[test]
    fn the_contract_schemas_and_ordinary_extra_fields_are_accepted() {
        for text in [
            InventoryEvent::SCHEMA_TEXT,
            OrderEvent::SCHEMA_TEXT,
            PaymentEvent::SCHEMA_TEXT,
            ReorderPolicy::SCHEMA_TEXT,
            ReorderAlert::SCHEMA_TEXT,
        ] {
            assert_eq!(check(&Schema::parse_str(text).unwrap()), Ok(()));
        }
        for field_type in [
            r#"{"type": "array", "items": ["null", "long"]}"#,
            r#"{"type": "map", "values": "null"}"#,
            r#"{"type": "array", "items": {"type": "fixed", "name": "Digest", "size": 32}}"#,
            r#"{"type": "record", "name": "Pair", "fields": [{"name": "a", "type": {"type": "enum", "name": "E", "symbols": ["X"]}}, {"name": "b", "type": {"type": "array", "items": "E"}}]}"#,
        ] {
            assert_eq!(check(&inventory_with(field_type)), Ok(()), "{field_type}");
        }
    }

    #[test]
    fn a_recursive_writer_schema_is_refused() {
        let linked_list =
            r#"{"type": "record", "name": "Link", "fields": [{"name": "next", "type": ["null", "Link"]}]}"#;
        assert!(refused(linked_list).contains("Link contains itself"));
        let tree = r#"{"type": "record", "name": "Tree", "fields": [{"name": "children", "type": {"type": "array", "items": {"type": "record", "name": "Branch", "fields": [{"name": "tree", "type": "Tree"}]}}}]}"#;
        assert!(refused(tree).contains("Tree contains itself"));
    }

    #[test]
    fn an_array_of_zero_byte_items_is_refused_even_nested_or_by_reference() {
        for field_type in [
            r#"{"type": "array", "items": "null"}"#,
            r#"{"type": "array", "items": {"type": "array", "items": "null"}}"#,
            r#"{"type": "array", "items": {"type": "record", "name": "Empty", "fields": []}}"#,
            r#"{"type": "map", "values": {"type": "array", "items": {"type": "fixed", "name": "F0", "size": 0}}}"#,
            r#"{"type": "record", "name": "Pair", "fields": [{"name": "a", "type": {"type": "record", "name": "Nulls", "fields": [{"name": "n", "type": "null"}]}}, {"name": "b", "type": {"type": "array", "items": "Nulls"}}]}"#,
        ] {
            assert!(refused(field_type).contains("zero bytes"), "{field_type}");
        }
    }

    #[test]
    fn a_fixed_larger_than_the_allocation_limit_is_refused() {
        let limit = apache_avro::util::max_allocation_bytes(apache_avro::util::DEFAULT_MAX_ALLOCATION_BYTES);
        let fixed = |size: usize| format!(r#"{{"type": "fixed", "name": "Blob", "size": {size}}}"#);
        assert!(refused(&fixed(limit + 1)).contains("allocation limit"));
        assert!(refused(&fixed(1 << 40)).contains("allocation limit"));
        assert_eq!(check(&inventory_with(&fixed(limit))), Ok(()));
    }
}
