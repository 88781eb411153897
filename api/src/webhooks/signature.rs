//! The two signatures on every delivery, both HMAC-SHA256 under the webhook's secret:
//!
//! - `X-FlowMart-Timestamped-Signature: t=<unix seconds>,v1=<hex>` over
//!   `"<t>.<delivery id>.<body>"`: a receiver that checks it and refuses a `t` older than a few
//!   minutes, or a delivery id it has already handled, cannot be fooled by a replayed request
//!   (README "Webhooks" shows how);
//! - `X-FlowMart-Signature: sha256=<hex>` over the body alone, kept for existing receivers: it
//!   proves origin and integrity, not freshness.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The header carrying the body's signature.
pub const SIGNATURE_HEADER: &str = "x-flowmart-signature";
/// The header carrying the signature of the timestamp, the delivery id and the body.
pub const TIMESTAMPED_SIGNATURE_HEADER: &str = "x-flowmart-timestamped-signature";

/// The [`SIGNATURE_HEADER`] value for `body` under `secret`: `sha256=` and the HMAC's hex digits.
pub fn sign(secret: &str, body: &[u8]) -> String {
    format!("sha256={}", hmac_hex(secret, &[body]))
}

/// The [`TIMESTAMPED_SIGNATURE_HEADER`] value for a request sent at `timestamp` (seconds since
/// the epoch) with `delivery_id` (its `X-FlowMart-Delivery`) and `body`.
pub fn sign_timestamped(secret: &str, timestamp: u64, delivery_id: &str, body: &[u8]) -> String {
    let prefix = format!("{timestamp}.{delivery_id}.");
    format!("t={timestamp},v1={}", hmac_hex(secret, &[prefix.as_bytes(), body]))
}

fn hmac_hex(secret: &str, parts: &[&[u8]]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_signature_is_rfc_4231_hmac_sha256() {
        // RFC 4231, test case 2.
        assert_eq!(
            super::sign("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn the_timestamped_signature_covers_the_timestamp_the_delivery_id_and_the_body() {
        // The README's example, computed by Python's hmac module.
        let signed = super::sign_timestamped("whsec_example", 1_764_000_000, "wh_1:42", br#"{"a":1}"#);
        assert_eq!(signed, "t=1764000000,v1=49d1cc1c4fa4731b513178cbb12e4d9f534da5c181aadcd52e4bf8c5391af9ce");
        assert_ne!(signed, super::sign_timestamped("whsec_example", 1_764_000_001, "wh_1:42", br#"{"a":1}"#));
        assert_ne!(signed, super::sign_timestamped("whsec_example", 1_764_000_000, "wh_1:43", br#"{"a":1}"#));
    }
}
