//! Measures the cost of decoding one Confluent-framed Avro record, for BENCHMARKS.md.
//! `cargo run --release -p flowmart-benches --example decode_cost`
use std::time::Instant;

use flowmart_schemas::{InventoryEvent, InventoryKind, WriterSchema, decode, encode};

fn main() {
    let event = InventoryEvent {
        event_id: "evt-1-1".into(),
        tenant_id: "acme-wholesale".into(),
        warehouse_id: "rotterdam".into(),
        sku: "SKU-00001".into(),
        kind: InventoryKind::Received,
        quantity: 7,
        occurred_at: 1_767_571_200_000,
        purchase_order_id: None,
    };
    let body = encode(&event).unwrap();
    let writer = WriterSchema::own::<InventoryEvent>();
    let rounds = 20_000;
    let started = Instant::now();
    for _ in 0..rounds {
        let decoded: InventoryEvent = decode(&writer, &body).unwrap();
        assert_eq!(decoded.quantity, 7);
    }
    let per_record = started.elapsed().as_secs_f64() / rounds as f64;
    println!("decode: {:.1} µs per record ({:.0} records/s)", per_record * 1e6, 1.0 / per_record);
}
