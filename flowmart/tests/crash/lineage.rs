//! Lineage after crashes: for every position and settlement row, the history Postgres holds is
//! the reference model's list of contributing records — by topic, partition and offset, each
//! once — and its deltas sum to the stored value.
//!
//! The model is fed the input topics as the broker holds them (each record with its partition and
//! offset, read back), so that it names the same records the pipeline read.

use std::collections::BTreeMap;
use std::time::Duration;

use flowmart_kafka::split_frame;
use flowmart_operators::reference::{ReadAt, ReferenceModel};
use flowmart_runtime::Topics;
use flowmart_schemas::{
    AvroRecord, InputRecord, InputTopic, InventoryEvent, OrderEvent, PaymentEvent, WriterSchema, decode,
};
use flowmart_testkit::consume;

use super::query;

/// A result's key (a position, or a settlement row), as text.
type Key = (String, String, String);

/// Asserts the lineage tables of `database` against the model of the input topics on `brokers`
/// (`produced` says how many records each holds), and against the stored values.
pub(super) fn assert_history_equals_model(brokers: &str, produced: &[InputRecord], database: &str) {
    let model = model_of_topics(brokers, produced);
    let topics = Topics::default();

    let expected_stock = group(model.stock_history().iter().map(|row| {
        let key =
            (row.position.tenant_id.to_string(), row.position.warehouse_id.to_string(), row.position.sku.to_string());
        let source = row.source;
        let values = [row.on_hand_delta, row.reserved_delta, row.on_order_delta].map(|delta| delta.to_string());
        let mut line =
            vec![topics.name(source.topic).to_string(), source.partition.to_string(), source.offset.to_string()];
        line.extend([row.event_id.to_string(), row.kind.to_string()]);
        line.extend(values);
        (key, line)
    }));
    let stored_stock = group(
        query(
            database,
            "SELECT tenant_id, warehouse_id, sku, topic, partition, \"offset\", event_id, kind,
                    on_hand_delta, reserved_delta, on_order_delta FROM stock_history",
        )
        .into_iter()
        .map(|row| ((row[0].clone(), row[1].clone(), row[2].clone()), row[3..].to_vec())),
    );
    assert!(!expected_stock.is_empty(), "the workload moves stock");
    assert_eq!(stored_stock, expected_stock, "stock_history: each contributing record once, per position");
    let levels = query(database, "SELECT tenant_id, warehouse_id, sku, on_hand, reserved, on_order FROM stock_levels");
    assert_sums(&stored_stock, &levels, &[5, 6, 7], "stock_levels");

    let expected_settlements = group(model.settlement_history().iter().map(|row| {
        let key = (
            row.settlement.tenant_id.to_string(),
            row.settlement.currency.to_string(),
            row.settlement.settlement_date.to_string(),
        );
        let source = row.source;
        let line = vec![
            topics.name(source.topic).to_string(),
            source.partition.to_string(),
            source.offset.to_string(),
            row.event_id.to_string(),
            row.kind.as_str().to_string(),
            row.amount_minor.to_string(),
        ];
        (key, line)
    }));
    let stored_settlements = group(
        query(
            database,
            "SELECT tenant_id, currency, settlement_date::text, topic, partition, \"offset\", event_id, kind,
                    amount_minor FROM settlement_history",
        )
        .into_iter()
        .map(|row| ((row[0].clone(), row[1].clone(), row[2].clone()), row[3..].to_vec())),
    );
    assert!(!expected_settlements.is_empty(), "the workload has payments");
    assert_eq!(stored_settlements, expected_settlements, "settlement_history: each payment once, per settlement row");
    let totals = query(
        database,
        "SELECT tenant_id, currency, date::text, captured, refunded, chargebacks, fees, payouts, authorized
         FROM settlement_totals",
    );
    for total in &totals {
        let key = (total[0].clone(), total[1].clone(), total[2].clone());
        let history = stored_settlements.get(&key).map(Vec::as_slice).unwrap_or_default();
        for (column, kind) in
            [(3, "CAPTURED"), (4, "REFUNDED"), (5, "CHARGEBACK"), (6, "FEE"), (7, "PAYOUT"), (8, "AUTHORIZED")]
        {
            let sum =
                history.iter().filter(|line| line[4] == kind).map(|line| line[5].parse::<i64>().unwrap()).sum::<i64>();
            assert_eq!(sum.to_string(), total[column], "the {kind} history of {key:?} sums to its total");
        }
    }
    assert_eq!(totals.len(), stored_settlements.len(), "every settlement row with a history is stored, and only those");
}

/// Per key, its lines, sorted.
fn group(lines: impl Iterator<Item = (Key, Vec<String>)>) -> BTreeMap<Key, Vec<Vec<String>>> {
    let mut grouped = BTreeMap::<Key, Vec<Vec<String>>>::new();
    for (key, line) in lines {
        grouped.entry(key).or_default().push(line);
    }
    grouped.values_mut().for_each(|lines| lines.sort());
    grouped
}

/// Asserts that the deltas in columns `columns` of each position's history lines sum to its
/// stored values (the columns after the key of each `stored` row), a position with a history but
/// no stored row to zero, and that every stored position has a history.
fn assert_sums(history: &BTreeMap<Key, Vec<Vec<String>>>, stored: &[Vec<String>], columns: &[usize], table: &str) {
    let stored = stored
        .iter()
        .map(|row| ((row[0].clone(), row[1].clone(), row[2].clone()), row[3..].to_vec()))
        .collect::<BTreeMap<_, _>>();
    for (key, lines) in history {
        let sums = columns
            .iter()
            .map(|column| lines.iter().map(|line| line[*column].parse::<i64>().unwrap()).sum::<i64>().to_string())
            .collect::<Vec<_>>();
        let expected = stored.get(key).cloned().unwrap_or_else(|| vec!["0".to_string(); columns.len()]);
        assert_eq!(sums, expected, "the history of {key:?} sums to its {table} row");
    }
    assert!(stored.keys().all(|key| history.contains_key(key)), "every {table} row has a history");
}

/// The reference model of the inventory, order and payment topics as the broker holds them, each
/// record applied with its partition and offset (within a partition in offset order: a tenant's
/// records share one, so a retry is read after its original). Policies change no lineage.
fn model_of_topics(brokers: &str, produced: &[InputRecord]) -> ReferenceModel {
    let topics = Topics::default();
    let mut read = Vec::new();
    for topic in [InputTopic::Inventory, InputTopic::Orders, InputTopic::Payments] {
        let count = produced.iter().filter(|record| record.topic() == topic).count();
        let consumed = consume(brokers, topics.name(topic), count, Duration::from_secs(60));
        assert_eq!(consumed.len(), count, "{} holds every record produced to it", topics.name(topic));
        for record in consumed {
            let body = split_frame(record.value.as_deref().expect("a value")).expect("framed").1;
            let decoded = match topic {
                InputTopic::Inventory => InputRecord::Inventory(decoded::<InventoryEvent>(body)),
                InputTopic::Orders => InputRecord::Order(decoded::<OrderEvent>(body)),
                _ => InputRecord::Payment(decoded::<PaymentEvent>(body)),
            };
            read.push((record.partition as u32, record.offset as u64, topic, decoded));
        }
    }
    read.sort_by_key(|(partition, offset, topic, _)| (*partition, *offset, *topic));
    let mut model = ReferenceModel::new();
    for (partition, offset, _, record) in read {
        // Rule breakers are refused, as the pipeline dead-letters them: no lineage.
        let _ = model.apply_read(record, ReadAt { partition, offset, time: 0 });
    }
    model
}

fn decoded<T: AvroRecord>(body: &[u8]) -> T {
    let writer = WriterSchema::own::<T>();
    decode::<T>(&writer, body).expect("the generator's records decode")
}

/// Exports each tenant with `flowmart audit export` (JSON lines) and asserts that re-summing the
/// exported stock lineage per position gives its stored levels — what the API serves — and the
/// exported payments per settlement row its stored totals by kind.
pub(super) fn assert_export_resums(database: &str) {
    let tenants = query(database, "SELECT DISTINCT tenant_id FROM stock_levels ORDER BY 1");
    assert!(!tenants.is_empty(), "the workload has tenants");
    for tenant in tenants.iter().map(|row| &row[0]) {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_flowmart"))
            .args(["audit", "export", "--tenant", tenant, "--from", "2000-01-01", "--to", "2100-12-31"])
            .args(["--format", "jsonl", "--database-url", database])
            .output()
            .expect("flowmart audit export runs");
        assert!(output.status.success(), "export of {tenant}: {}", String::from_utf8_lossy(&output.stderr));
        let (mut stock, mut settlements) =
            (BTreeMap::<Key, [i64; 3]>::new(), BTreeMap::<Key, BTreeMap<String, i64>>::new());
        for line in String::from_utf8(output.stdout).expect("UTF-8").lines() {
            let record: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
            assert_eq!(record["tenant_id"].as_str(), Some(tenant.as_str()), "only {tenant}'s records: {record}");
            let text = |field: &str| record[field].as_str().expect(field).to_string();
            match record["record"].as_str() {
                Some("stock_history") => {
                    let sums = stock.entry((tenant.clone(), text("warehouse_id"), text("sku"))).or_default();
                    for (sum, field) in sums.iter_mut().zip(["on_hand_delta", "reserved_delta", "on_order_delta"]) {
                        *sum += record[field].as_i64().expect(field);
                    }
                }
                Some("settlement_history") => {
                    let row =
                        settlements.entry((tenant.clone(), text("currency"), text("settlement_date"))).or_default();
                    *row.entry(text("kind")).or_default() += record["amount_minor"].as_i64().expect("amount_minor");
                }
                _ => {}
            }
        }
        let levels = query(
            database,
            &format!(
                "SELECT warehouse_id, sku, on_hand, reserved, on_order FROM stock_levels WHERE tenant_id = '{tenant}'"
            ),
        );
        for row in &levels {
            let key = (tenant.clone(), row[0].clone(), row[1].clone());
            let stored = [&row[2], &row[3], &row[4]].map(|value| value.parse::<i64>().unwrap());
            assert_eq!(
                stock.get(&key).copied().unwrap_or_default(),
                stored,
                "the export of {key:?} re-sums to its levels"
            );
        }
        assert_eq!(stock.len(), levels.len(), "{tenant}: every exported position is stored");
        let totals = query(
            database,
            &format!(
                "SELECT currency, date::text, captured, refunded, chargebacks, fees, payouts, authorized \
                 FROM settlement_totals WHERE tenant_id = '{tenant}'"
            ),
        );
        for row in &totals {
            let key = (tenant.clone(), row[0].clone(), row[1].clone());
            let exported = settlements.get(&key).cloned().unwrap_or_default();
            let by_kind = |kind: &str| exported.get(kind).copied().unwrap_or(0).to_string();
            let resummed = ["CAPTURED", "REFUNDED", "CHARGEBACK", "FEE", "PAYOUT", "AUTHORIZED"].map(by_kind);
            assert_eq!(resummed.as_slice(), &row[2..], "the export of settlement row {key:?} re-sums to its totals");
        }
        assert_eq!(settlements.len(), totals.len(), "{tenant}: every exported settlement row is stored");
    }
}
