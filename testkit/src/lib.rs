//! Test support: real parts on free loopback ports — a Tansu broker per test, a Schema
//! Registry stub serving the Confluent routes, a database of its own per test — plus producing the generator's workload as
//! Confluent-framed Avro, comparing a serving snapshot with the reference model, and the records
//! and batches tests build by hand.

#![warn(missing_docs)]

mod captured_batches;
mod certificates;
mod database;
mod fixed_source;
mod fixtures;
mod https;
mod kafka;
mod model;
mod own_session;
mod private_postgres;
mod registry;
mod tansu;
mod tcp_proxy;

pub use captured_batches::CapturedBatches;
pub use certificates::TestCertificates;
pub use database::TestDatabase;
pub use fixed_source::FixedRecords;
pub use fixtures::{OCCURRED_AT, alert_batch, inventory_event, reorder_alert, stock_batch};
pub use kafka::{
    Consumed, OutgoingRecord, Produced, committed_offsets, consume, create_topics, produce, produce_uneven_workload,
    produce_workload,
};
pub use model::{STOCK_ROWS_QUERY, assert_snapshot_equals_model, model_of, settlement_rows, stock_rows};
pub use own_session::in_own_session;
pub use private_postgres::PrivatePostgres;
pub use registry::RegistryStub;
pub use tansu::{Tansu, TansuAuth};
pub use tcp_proxy::TcpProxy;

/// A free loopback port (bound and released; good enough for tests).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
}
