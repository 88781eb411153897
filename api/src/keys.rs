//! Tenant API keys and the admin token: random, shown once, kept only as SHA-256 digests.

use std::collections::HashMap;
use std::sync::RwLock;

use flowmart_schemas::Id;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

type KeyDigest = [u8; 32];

fn digest(secret: &str) -> KeyDigest {
    Sha256::digest(secret.as_bytes()).into()
}

/// A new random secret: `prefix` and 64 hex digits (256 bits from the OS).
fn random_secret(prefix: &str) -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(bytes.iter().fold(String::from(prefix), |mut secret, byte| {
        secret.push_str(&format!("{byte:02x}"));
        secret
    }))
}

/// The tenants' API keys, in memory: only each key's digest is kept.
///
/// Keys are 256 random bits, so a plain digest (no salt, no slow hash) is enough: nothing
/// guessable goes in. Lookup is by digest, which leaks nothing useful through timing.
#[derive(Default)]
pub struct ApiKeys {
    tenants: RwLock<HashMap<KeyDigest, Id>>,
}

impl ApiKeys {
    /// An empty key store.
    pub fn new() -> Self {
        ApiKeys::default()
    }

    /// Issues a new key for `tenant_id` and returns it; this is the only time it is seen.
    pub fn issue(&self, tenant_id: &str) -> Result<String, getrandom::Error> {
        let key = random_secret("fmk_")?;
        self.tenants.write().unwrap_or_else(|poisoned| poisoned.into_inner()).insert(digest(&key), Id::from(tenant_id));
        Ok(key)
    }

    /// The tenant a key belongs to, if it is a key issued here.
    pub fn tenant_of(&self, key: &str) -> Option<Id> {
        self.tenants.read().unwrap_or_else(|poisoned| poisoned.into_inner()).get(&digest(key)).cloned()
    }
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_issued_key_names_its_tenant_and_nothing_else_does() {
        let keys = ApiKeys::new();
        let acme = keys.issue("acme").unwrap();
        let globex = keys.issue("globex").unwrap();
        assert_ne!(acme, globex);
        assert!(acme.starts_with("fmk_") && acme.len() == 68);
        assert_eq!(keys.tenant_of(&acme).as_deref(), Some("acme"));
        assert_eq!(keys.tenant_of(&globex).as_deref(), Some("globex"));
        assert_eq!(keys.tenant_of(&acme[..67]), None);
        assert_eq!(keys.tenant_of(""), None);
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
