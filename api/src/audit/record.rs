//! One audit record, and how it is chained to the one before it:
//! `hash = SHA-256(prev_hash ‖ canonical JSON of {seq, at, actor, action, tenant_id, details})`.

use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::action::Action;
use super::canonical_json::{NotCanonical, canonical_json};

/// A SHA-256 digest.
pub type Hash = [u8; 32];

/// The `prev_hash` of the first record: 32 zero bytes.
pub const FIRST_PREV_HASH: Hash = [0; 32];

/// Who did it: the admin, a tenant's key (by its public id, never its secret), or the process
/// itself (its configuration at start).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Actor {
    /// The holder of the admin token.
    Admin,
    /// The holder of the tenant key with this id (`key_…`).
    Key(String),
    /// The process (records it makes of itself).
    System,
}

impl Actor {
    /// As stored in the `actor` column: `admin`, the key id, or `system`.
    pub fn name(&self) -> &str {
        match self {
            Actor::Admin => "admin",
            Actor::Key(key_id) => key_id,
            Actor::System => "system",
        }
    }
}

/// A record to append: everything but its place in the chain.
#[derive(Clone, Debug)]
pub struct AuditEntry {
    /// Who did it.
    pub actor: Actor,
    /// What they did.
    pub action: Action,
    /// The tenant it concerns; `None` for what concerns the whole process.
    pub tenant_id: Option<String>,
    /// What exactly (integers, strings, booleans, null, arrays, objects: no fractions).
    pub details: Value,
}

impl AuditEntry {
    /// A record of `action` by `actor` on `tenant_id`.
    pub fn new(actor: Actor, action: Action, tenant_id: Option<&str>, details: Value) -> AuditEntry {
        AuditEntry { actor, action, tenant_id: tenant_id.map(str::to_string), details }
    }

    /// The record the acknowledge route appends (with [`super::append_in`], in the transaction
    /// that stores the acknowledgement, or [`super::AuditLog::append`]): the key `key_id` of
    /// `tenant_id` acknowledged alert `alert_id` with `note`.
    pub fn alert_acknowledged(key_id: &str, tenant_id: &str, alert_id: &str, note: Option<&str>) -> AuditEntry {
        let details = json!({ "alert_id": alert_id, "note": note });
        AuditEntry::new(Actor::Key(key_id.to_string()), Action::AlertAcknowledged, Some(tenant_id), details)
    }

    /// The record the snooze route appends: the key `key_id` of `tenant_id` snoozed alert
    /// `alert_id` until `until` (ms since the epoch) with `note`.
    pub fn alert_snoozed(key_id: &str, tenant_id: &str, alert_id: &str, until: i64, note: Option<&str>) -> AuditEntry {
        let details = json!({ "alert_id": alert_id, "until": until, "note": note });
        AuditEntry::new(Actor::Key(key_id.to_string()), Action::AlertSnoozed, Some(tenant_id), details)
    }
}

/// A record as stored, chained.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct AuditRecord {
    /// Its place in the chain: 1, 2, 3, … without gaps.
    pub seq: i64,
    /// When it was appended (ms since the epoch).
    pub at: i64,
    /// `admin`, the key id of the tenant key that acted, or `system`.
    pub actor: String,
    /// What happened (`api_key.issued`, `webhook.registered`, `admin.read`, …).
    pub action: String,
    /// The tenant concerned, `null` for what concerns the whole process.
    pub tenant_id: Option<String>,
    /// The action's particulars.
    #[schema(value_type = Object)]
    pub details: Value,
    /// The previous record's hash (hex); 64 zeros for the first.
    #[serde(serialize_with = "hex_hash")]
    #[schema(value_type = String)]
    pub prev_hash: Hash,
    /// SHA-256 of `prev_hash` and this record's canonical JSON (hex).
    #[serde(serialize_with = "hex_hash")]
    #[schema(value_type = String)]
    pub hash: Hash,
}

impl AuditRecord {
    /// The canonical JSON text the record's hash covers (README "Audit log").
    pub fn canonical_text(&self) -> Result<String, NotCanonical> {
        canonical_json(&json!({
            "seq": self.seq,
            "at": self.at,
            "actor": self.actor,
            "action": self.action,
            "tenant_id": self.tenant_id,
            "details": self.details,
        }))
    }

    /// What `hash` must be: SHA-256 of `prev_hash` followed by the canonical text's UTF-8 bytes.
    pub fn expected_hash(&self) -> Result<Hash, NotCanonical> {
        Ok(chain_hash(&self.prev_hash, &self.canonical_text()?))
    }

    /// `entry` as record `seq` after the record whose hash is `prev_hash`, at `at`, hashed.
    pub fn chained(entry: &AuditEntry, seq: i64, at: i64, prev_hash: Hash) -> Result<AuditRecord, NotCanonical> {
        let mut record = AuditRecord {
            seq,
            at,
            actor: entry.actor.name().to_string(),
            action: entry.action.name().to_string(),
            tenant_id: entry.tenant_id.clone(),
            details: entry.details.clone(),
            prev_hash,
            hash: [0; 32],
        };
        record.hash = record.expected_hash()?;
        Ok(record)
    }
}

/// SHA-256(`prev_hash` ‖ `canonical_text`).
pub fn chain_hash(prev_hash: &Hash, canonical_text: &str) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update(prev_hash);
    hasher.update(canonical_text.as_bytes());
    hasher.finalize().into()
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn hex_hash<S: serde::Serializer>(hash: &Hash, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&hex(hash))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn issued(key_id: &str) -> AuditEntry {
        AuditEntry::new(Actor::Admin, Action::ApiKeyIssued, Some("acme"), json!({ "key_id": key_id }))
    }

    #[test]
    fn a_record_hashes_its_previous_hash_and_its_canonical_text() {
        let record = AuditRecord::chained(&issued("key_1"), 1, 1_700_000_000_000, FIRST_PREV_HASH).unwrap();
        let text = r#"{"action":"api_key.issued","actor":"admin","at":1700000000000,"details":{"key_id":"key_1"},"seq":1,"tenant_id":"acme"}"#;
        assert_eq!(record.canonical_text().unwrap(), text);
        let mut by_hand = Sha256::new();
        by_hand.update([0u8; 32]);
        by_hand.update(text.as_bytes());
        assert_eq!(record.hash, <Hash>::from(by_hand.finalize()));
    }

    #[test]
    fn each_record_links_to_the_one_before_and_any_changed_field_changes_its_hash() {
        let first = AuditRecord::chained(&issued("key_1"), 1, 10, FIRST_PREV_HASH).unwrap();
        let second = AuditRecord::chained(&issued("key_2"), 2, 11, first.hash).unwrap();
        assert_eq!(second.prev_hash, first.hash);
        assert_ne!(second.hash, first.hash);
        let variants = [
            AuditRecord { seq: 3, ..second.clone() },
            AuditRecord { at: 12, ..second.clone() },
            AuditRecord { actor: "key_x".into(), ..second.clone() },
            AuditRecord { action: "api_key.revoked".into(), ..second.clone() },
            AuditRecord { tenant_id: None, ..second.clone() },
            AuditRecord { details: json!({ "key_id": "key_3" }), ..second.clone() },
            AuditRecord { prev_hash: FIRST_PREV_HASH, ..second.clone() },
        ];
        for changed in variants {
            assert_ne!(changed.expected_hash().unwrap(), second.hash, "{changed:?}");
        }
        assert_eq!(second.expected_hash().unwrap(), second.hash);
    }

    #[test]
    fn a_key_actor_is_named_by_its_id_and_the_admin_as_admin() {
        assert_eq!(Actor::Key("key_0123".into()).name(), "key_0123");
        assert_eq!(Actor::Admin.name(), "admin");
        assert_eq!(Actor::System.name(), "system");
    }

    #[test]
    fn an_acknowledgement_or_a_snooze_is_recorded_against_the_key_that_made_it() {
        let acknowledged = AuditEntry::alert_acknowledged("key_1", "acme", "al-7", Some("ordered"));
        assert_eq!(acknowledged.actor, Actor::Key("key_1".into()));
        assert_eq!(
            (acknowledged.action.name(), acknowledged.tenant_id.as_deref()),
            ("alert.acknowledged", Some("acme"))
        );
        assert_eq!(acknowledged.details, json!({ "alert_id": "al-7", "note": "ordered" }));
        let snoozed = AuditEntry::alert_snoozed("key_1", "acme", "al-7", 1_770_000_000_000, None);
        assert_eq!(snoozed.action.name(), "alert.snoozed");
        assert_eq!(snoozed.details, json!({ "alert_id": "al-7", "until": 1_770_000_000_000_i64, "note": null }));
        let record = AuditRecord::chained(&snoozed, 1, 10, FIRST_PREV_HASH).expect("integers only: a canonical text");
        assert_eq!(record.actor, "key_1");
    }

    #[test]
    fn hashes_are_shown_as_lower_case_hex() {
        let record = AuditRecord::chained(&issued("key_1"), 1, 10, FIRST_PREV_HASH).unwrap();
        let shown = serde_json::to_value(&record).unwrap();
        assert_eq!(shown["prev_hash"], "0".repeat(64));
        assert_eq!(shown["hash"], hex(&record.hash));
    }
}
