//! The audit log (README "Audit log", `CONTRACT.md` §5 "Audit trail"): every privileged action —
//! a key issued or revoked, a webhook registered or removed, an alert acknowledged or snoozed, an
//! admin's read of a tenant's data, the configuration a process started with — appended to one
//! append-only, hash-chained table, `audit_log`.
//!
//! Each record's `hash` is SHA-256 of the previous record's hash followed by the record's
//! canonical JSON ([`canonical_json`]), so changing, deleting or reordering any record breaks
//! the chain at that record ([`ChainCheck`], `flowmart audit verify`).

mod action;
mod audit_log;
mod canonical_json;
mod chain_check;
mod record;

pub use action::Action;
pub use audit_log::{AUDIT_LOCK_KEY, AuditError, AuditFilter, AuditLog, RECORD_COLUMNS, append_in, record_from_row};
pub use canonical_json::{NotCanonical, canonical_json};
pub use chain_check::{ChainBreak, ChainCheck};
pub use record::{Actor, AuditEntry, AuditRecord, FIRST_PREV_HASH, Hash, chain_hash, hex};
