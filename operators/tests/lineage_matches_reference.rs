//! Lineage: the dataflow's stock and settlement history against the reference model's over random
//! event streams (retries, late and equal order versions, refused records at the edge of the
//! range) — the same rows, each once, and per position and settlement row adding up to the value.

mod support;

use flowmart_operators::SourceOffset;
use flowmart_schemas::{
    InputRecord, InputTopic, InventoryEvent, InventoryKind, OrderEvent, OrderLine, OrderStatus, PositionKey,
    RecordSource, StockChangeKind, StockHistoryRow,
};
use proptest::prelude::*;
use support::{Arrival, arrivals, extreme_arrivals, lineage_equals_model, run_dataflow, run_model};

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn every_applied_record_leaves_the_history_the_model_gives_it_and_the_history_sums_to_the_value(
        arrivals in arrivals(60, 4),
        workers in 1..4usize,
    ) {
        let captured = run_dataflow(workers, &arrivals);
        let model = run_model(&arrivals).model;
        lineage_equals_model(&captured.stock_history, &captured.settlement_history, &model)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, max_shrink_time: 30_000, ..ProptestConfig::default() })]

    #[test]
    fn refused_records_leave_no_history_at_the_edge_of_the_range(arrivals in extreme_arrivals(40, 3)) {
        let captured = run_dataflow(2, &arrivals);
        let model = run_model(&arrivals).model;
        lineage_equals_model(&captured.stock_history, &captured.settlement_history, &model)?;
    }
}

fn order(event_id: &str, version: i32, status: OrderStatus, lines: &[(&str, i64)]) -> InputRecord {
    InputRecord::Order(OrderEvent {
        event_id: event_id.into(),
        tenant_id: "acme".into(),
        order_id: "o-1".into(),
        buyer_id: "buyer".into(),
        version,
        status,
        lines: lines
            .iter()
            .map(|(sku, quantity)| OrderLine {
                sku: (*sku).into(),
                warehouse_id: "berlin".into(),
                quantity: *quantity,
                unit_price_minor: 1,
            })
            .collect(),
        currency: "EUR".into(),
        occurred_at: 1_764_000_000_000 + i64::from(version),
    })
}

#[test]
fn a_new_order_version_records_its_change_against_the_version_it_replaces_and_a_stale_one_nothing() {
    let received = InputRecord::Inventory(InventoryEvent {
        event_id: "inv-1".into(),
        tenant_id: "acme".into(),
        warehouse_id: "berlin".into(),
        sku: "SKU-1".into(),
        kind: InventoryKind::Received,
        quantity: 50,
        occurred_at: 1_764_000_000_000,
        purchase_order_id: None,
    });
    let records = [
        (1, received.clone()),
        (1, order("ord-1", 1, OrderStatus::Placed, &[("SKU-1", 5), ("SKU-2", 3)])),
        (2, order("ord-2", 2, OrderStatus::Shipped, &[("SKU-1", 5)])),
        // Stale: an older version, an equal one, and a retry of the inventory event.
        (3, order("ord-3", 1, OrderStatus::Cancelled, &[("SKU-1", 5)])),
        (3, order("ord-4", 2, OrderStatus::Cancelled, &[("SKU-1", 5)])),
        (3, received),
    ];
    let arrivals = records
        .into_iter()
        .enumerate()
        .map(|(offset, (time, record))| Arrival {
            time,
            offset: SourceOffset { partition: 0, offset: offset as u64 },
            record,
        })
        .collect::<Vec<_>>();
    let captured = run_dataflow(1, &arrivals);
    let mut history = captured.stock_history.into_iter().map(|(row, _, _)| row).collect::<Vec<_>>();
    history.sort();
    let row = |time, offset, topic, event_id: &str, sku: &str, kind, [on_hand, reserved]: [i128; 2]| StockHistoryRow {
        applied_at: time,
        source: RecordSource { topic, partition: 0, offset },
        position: PositionKey::new("acme", "berlin", sku),
        event_id: event_id.into(),
        kind,
        on_hand_delta: on_hand,
        reserved_delta: reserved,
        on_order_delta: 0,
        occurred_at: match topic {
            InputTopic::Orders => 1_764_000_000_000 + if offset == 1 { 1 } else { 2 },
            _ => 1_764_000_000_000,
        },
    };
    let placed = StockChangeKind::Order { from: None, to: OrderStatus::Placed };
    let shipped = StockChangeKind::Order { from: Some(OrderStatus::Placed), to: OrderStatus::Shipped };
    let expected = vec![
        row(
            1,
            0,
            InputTopic::Inventory,
            "inv-1",
            "SKU-1",
            StockChangeKind::Inventory(InventoryKind::Received),
            [50, 0],
        ),
        row(1, 1, InputTopic::Orders, "ord-1", "SKU-1", placed, [0, 5]),
        row(1, 1, InputTopic::Orders, "ord-1", "SKU-2", placed, [0, 3]),
        row(2, 2, InputTopic::Orders, "ord-2", "SKU-1", shipped, [-5, -5]),
        row(2, 2, InputTopic::Orders, "ord-2", "SKU-2", shipped, [0, -3]),
    ];
    assert_eq!(history, expected);
    let model = run_model(&arrivals).model;
    let mut model_history = model.stock_history().to_vec();
    model_history.sort();
    assert_eq!(model_history, expected, "the model agrees");
}
