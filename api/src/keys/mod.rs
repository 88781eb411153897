//! Tenant API keys and the admin token: random, shown once, kept only as SHA-256 digests.

mod stored;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};

use flowmart_schemas::Id;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use stored::{KeyTable, StoredKey};

use crate::{Store, StoreError};

type KeyDigest = [u8; 32];

fn digest(secret: &str) -> KeyDigest {
    Sha256::digest(secret.as_bytes()).into()
}

/// A new random secret: `prefix` and 64 hex digits (256 bits from the OS).
pub(crate) fn random_secret(prefix: &str) -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(bytes.iter().fold(String::from(prefix), |mut secret, byte| {
        secret.push_str(&format!("{byte:02x}"));
        secret
    }))
}

/// A key as listed to the admin: its public id and when it was issued. The secret itself is never
/// shown again.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct KeyInfo {
    /// The key's public id (`key_` and 16 hex digits of its digest), to revoke it by.
    pub key_id: String,
    /// When it was issued (ms since the epoch).
    pub created_at: i64,
}

/// A key just issued: the only time its secret is seen.
#[derive(Clone, Debug)]
pub struct IssuedKey {
    /// Its public id.
    pub key_id: String,
    /// The secret, for the `Authorization: Bearer` header.
    pub api_key: String,
}

/// Why a key could not be issued or revoked.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The OS gave no randomness.
    #[error("no randomness available to make a key")]
    Randomness,
    /// The key table failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The tenants' API keys: looked up in memory by digest; with a database, also kept there
/// (issued and revoked keys written through, live keys loaded at start, and a key this process
/// does not know looked up there at once — read-your-writes for a key issued through another
/// process of a cluster).
///
/// Keys are 256 random bits, so a plain digest (no salt, no slow hash) is enough: nothing
/// guessable goes in. Lookup is by digest, which leaks nothing useful through timing.
pub struct ApiKeys {
    by_digest: RwLock<HashMap<KeyDigest, (Id, KeyInfo)>>,
    table: Option<KeyTable>,
    /// Held by each change and each reload, so a reload read before a change never undoes it
    /// (a revoked key coming back until the next reload).
    changing: tokio::sync::Mutex<()>,
    /// Bumped by each revocation here: a key looked up in the table before one is not kept.
    revocations: AtomicU64,
    /// Digests looked up in the table and not found there since the last reload: a wrong key
    /// costs the database one query per reload, however often it is sent. (A key is random: it
    /// cannot be sent before it is issued, so none of these becomes a live key.)
    unknown: Mutex<HashSet<KeyDigest>>,
    /// Lookups in the table at once; a key that finds none free is answered as unknown (a flood
    /// of made-up keys costs the database at most this many queries at a time).
    lookups: tokio::sync::Semaphore,
}

/// How many unknown digests are remembered between reloads; beyond it, the oldest are
/// forgotten wholesale (the table answers for them again).
const UNKNOWN_REMEMBERED: usize = 65_536;
/// How many table lookups may run at once.
const CONCURRENT_LOOKUPS: usize = 4;

/// Whether `key` has the shape of a key this API issues (`fmk_` and 64 lower-case hex digits):
/// nothing else is looked up.
fn well_formed(key: &str) -> bool {
    key.strip_prefix("fmk_")
        .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f')))
}

impl Default for ApiKeys {
    fn default() -> Self {
        ApiKeys::new()
    }
}

impl ApiKeys {
    /// An empty key store in memory only (the demo).
    pub fn new() -> Self {
        ApiKeys {
            by_digest: RwLock::default(),
            table: None,
            changing: tokio::sync::Mutex::default(),
            revocations: AtomicU64::new(0),
            unknown: Mutex::default(),
            lookups: tokio::sync::Semaphore::new(CONCURRENT_LOOKUPS),
        }
    }

    /// The key store in `store`'s database, every live key loaded.
    pub async fn stored(store: &Store) -> Result<Self, StoreError> {
        let keys = ApiKeys { table: Some(KeyTable::new(store)), ..ApiKeys::new() };
        keys.reload().await?;
        Ok(keys)
    }

    /// Reads the live keys again from the database (a no-op without one): in a cluster, keys
    /// issued or revoked through another process's API take effect here at the next reload.
    pub async fn reload(&self) -> Result<(), StoreError> {
        let Some(table) = &self.table else { return Ok(()) };
        let _changing = self.changing.lock().await;
        let live = table.live().await?;
        self.unknown.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clear();
        *self.write() = live
            .into_iter()
            .map(|key| {
                let info = KeyInfo { key_id: key.key_id, created_at: key.created_at_ms };
                (key.digest, (Id::from(key.tenant_id), info))
            })
            .collect();
        Ok(())
    }

    /// Issues a new key for `tenant_id` (stored first when there is a database).
    pub async fn issue(&self, tenant_id: &str) -> Result<IssuedKey, KeyError> {
        let api_key = random_secret("fmk_").map_err(|_| KeyError::Randomness)?;
        let key_digest = digest(&api_key);
        let key_id = format!("key_{}", &hex(&key_digest)[..16]);
        let created_at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.as_millis() as i64);
        let _changing = self.changing.lock().await;
        if let Some(table) = &self.table {
            let stored = StoredKey {
                key_id: key_id.clone(),
                tenant_id: tenant_id.to_string(),
                digest: key_digest,
                created_at_ms: created_at,
            };
            table.insert(&stored).await?;
        }
        let info = KeyInfo { key_id: key_id.clone(), created_at };
        self.write().insert(key_digest, (Id::from(tenant_id), info));
        Ok(IssuedKey { key_id, api_key })
    }

    /// Revokes `tenant_id`'s key `key_id` at once; whether it was live.
    pub async fn revoke(&self, tenant_id: &str, key_id: &str) -> Result<bool, KeyError> {
        let _changing = self.changing.lock().await;
        self.revocations.fetch_add(1, Ordering::SeqCst);
        if let Some(table) = &self.table {
            table.revoke(tenant_id, key_id).await?;
        }
        let mut keys = self.write();
        let before = keys.len();
        keys.retain(|_, (tenant, info)| !(tenant.as_str() == tenant_id && info.key_id == key_id));
        Ok(keys.len() < before)
    }

    /// The live keys of `tenant_id`, oldest first.
    pub fn keys_of(&self, tenant_id: &str) -> Vec<KeyInfo> {
        let keys = self.by_digest.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut infos = keys
            .values()
            .filter(|(tenant, _)| tenant.as_str() == tenant_id)
            .map(|(_, info)| info.clone())
            .collect::<Vec<_>>();
        infos.sort_by(|a, b| (a.created_at, &a.key_id).cmp(&(b.created_at, &b.key_id)));
        infos
    }

    /// The tenant a key belongs to, if this process knows it as live (issued here, read from the
    /// table, or looked up there by [`resolve`](ApiKeys::resolve)).
    pub fn tenant_of(&self, key: &str) -> Option<Id> {
        let keys = self.by_digest.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        keys.get(&digest(key)).map(|(tenant, _)| tenant.clone())
    }

    /// The tenant and id of a key this process knows as live: who acts with it, for the audit log.
    pub fn holder_of(&self, key: &str) -> Option<(Id, String)> {
        let keys = self.by_digest.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        keys.get(&digest(key)).map(|(tenant, info)| (tenant.clone(), info.key_id.clone()))
    }

    /// The tenant and id of a live key, issued here or — with a database — through any process
    /// sharing it: a well-formed key this process has not read yet is looked up in the table
    /// (at most [`CONCURRENT_LOOKUPS`] at once; a made-up key once per reload) and kept.
    pub async fn resolve(&self, key: &str) -> Option<(Id, String)> {
        if let Some(holder) = self.holder_of(key) {
            return Some(holder);
        }
        let table = self.table.as_ref().filter(|_| well_formed(key))?;
        let key_digest = digest(key);
        let remembered = || self.unknown.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).contains(&key_digest);
        if remembered() {
            return None;
        }
        let Ok(_lookup) = self.lookups.try_acquire() else {
            metrics::counter!("flowmart_api_key_lookups_refused_total").increment(1);
            return None;
        };
        // Asked again with the permit: a lookup of the same key may have just finished.
        if let Some(holder) = self.holder_of(key) {
            return Some(holder);
        }
        if remembered() {
            return None;
        }
        let revocations = self.revocations.load(Ordering::SeqCst);
        match table.live_by_digest(&key_digest).await {
            Ok(Some(stored)) => {
                let holder = (Id::from(stored.tenant_id), stored.key_id.clone());
                let info = KeyInfo { key_id: stored.key_id, created_at: stored.created_at_ms };
                let _changing = self.changing.lock().await;
                // A revocation since the lookup may be this key's: it is not kept, and the caller
                // is answered as the table answers now.
                if self.revocations.load(Ordering::SeqCst) != revocations {
                    return None;
                }
                self.write().insert(key_digest, (holder.0.clone(), info));
                Some(holder)
            }
            Ok(None) => {
                let mut unknown = self.unknown.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                if unknown.len() >= UNKNOWN_REMEMBERED {
                    unknown.clear();
                }
                unknown.insert(key_digest);
                None
            }
            Err(error) => {
                tracing::warn!(%error, "cannot look an api key up in the key table; answering as unknown");
                None
            }
        }
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<KeyDigest, (Id, KeyInfo)>> {
        self.by_digest.write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The admin token (`FLOWMART_ADMIN_TOKEN`), kept as a digest and compared in constant time.
pub struct AdminToken(KeyDigest);

impl AdminToken {
    /// The token given.
    pub fn new(token: &str) -> Self {
        AdminToken(digest(token))
    }

    /// A fresh random token, returned with its holder (to be printed once).
    pub fn generate() -> Result<(AdminToken, String), getrandom::Error> {
        let token = random_secret("fma_")?;
        Ok((AdminToken::new(&token), token))
    }

    /// Whether `candidate` is the token.
    pub fn matches(&self, candidate: &str) -> bool {
        self.0.ct_eq(&digest(candidate)).into()
    }

    /// What the processes of a cluster prove a forwarded request with: derived from the token
    /// (every process has the same), never the token itself.
    pub(crate) fn forwarding_proof(&self) -> String {
        let mut proof = Sha256::new();
        proof.update(b"flowmart cluster forwarding\0");
        proof.update(self.0);
        proof.finalize().iter().map(|byte| format!("{byte:02x}")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn an_issued_key_names_its_tenant_until_revoked_and_nothing_else_does() {
        let keys = ApiKeys::new();
        let issued = keys.issue("acme").await.unwrap();
        let acme = issued.api_key.clone();
        let globex = keys.issue("globex").await.unwrap().api_key;
        assert_ne!(acme, globex);
        assert!(acme.starts_with("fmk_") && acme.len() == 68);
        assert_eq!(keys.tenant_of(&acme).as_deref(), Some("acme"));
        assert_eq!(keys.tenant_of(&globex).as_deref(), Some("globex"));
        assert_eq!(keys.tenant_of(&acme[..67]), None);
        assert_eq!(keys.tenant_of(""), None);
        assert_eq!(
            keys.keys_of("acme").iter().map(|info| info.key_id.clone()).collect::<Vec<_>>(),
            vec![issued.key_id.clone()]
        );
        assert!(!keys.revoke("globex", &issued.key_id).await.unwrap(), "only its own tenant revokes a key");
        assert!(keys.revoke("acme", &issued.key_id).await.unwrap());
        assert_eq!(keys.tenant_of(&acme), None, "a revoked key opens nothing");
        assert!(keys.keys_of("acme").is_empty());
    }

    #[test]
    fn the_admin_token_matches_only_itself() {
        let (token, secret) = AdminToken::generate().unwrap();
        assert!(token.matches(&secret));
        assert!(!token.matches(&secret[..secret.len() - 1]));
        assert!(AdminToken::new("s3cret").matches("s3cret"));
        assert!(!AdminToken::new("s3cret").matches("S3cret"));
    }
}
