//! Node-signed requests: an executor takes jobs only from the nodes it serves.
//!
//! Every signed request (`/v1/compute`, `/v1/attest`, `/v1/attest-failure`,
//! `/v1/attest-block`, `/v1/artifact`) carries three headers:
//!
//! - `x-anh-timestamp`: unix seconds, decimal;
//! - `x-anh-body-hash`: `keccak256(body)`, 32 bytes of hex (`0x` optional);
//! - `x-anh-signature`: the node key's 65-byte signature (hex, `0x` optional, low-s, `v` 27/28)
//!   of `keccak256("\x19ANH-EXECUTOR-REQUEST-v1" ‖ timestamp as 8 bytes big-endian ‖
//!   keccak256(body))`.
//!
//! The executor accepts a request only if the signer is one of its allowed node addresses and
//! the timestamp is within ±120 s of its clock; otherwise HTTP 401 with the reason. The
//! signature is checked against the body hash header before the body is read, so a client
//! without a served node's key cannot hold the executor's body readers with a slow upload;
//! then the body must hash to the header. A request replayed within the window only asks
//! again for a job the node asked for (answered from the executor's cache).

use crate::error::{ExecutorError, Result};
use alloy_primitives::{Address, B256, hex, keccak256};
use anh_primitives::signature::{recover, sign};
use k256::ecdsa::SigningKey;
use std::{
    collections::HashSet,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

/// The domain-separation prefix of request signatures.
pub const REQUEST_DOMAIN: &[u8] = b"\x19ANH-EXECUTOR-REQUEST-v1";
/// The header carrying the request's timestamp (unix seconds).
pub const TIMESTAMP_HEADER: &str = "x-anh-timestamp";
/// The header carrying the node's signature (hex).
pub const SIGNATURE_HEADER: &str = "x-anh-signature";
/// The header carrying `keccak256(body)` (hex), which the signature covers.
pub const BODY_HASH_HEADER: &str = "x-anh-body-hash";
/// How far a request's timestamp may be from the executor's clock, by default.
pub const DEFAULT_MAX_SKEW: Duration = Duration::from_secs(120);

/// Seconds since the unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// What a node signs for a request with `body` at `timestamp`.
pub fn request_digest(timestamp: u64, body: &[u8]) -> B256 {
    digest_of_hash(timestamp, keccak256(body))
}

/// [`request_digest`] given `keccak256(body)`.
fn digest_of_hash(timestamp: u64, body_hash: B256) -> B256 {
    let mut preimage = Vec::with_capacity(REQUEST_DOMAIN.len() + 8 + 32);
    preimage.extend_from_slice(REQUEST_DOMAIN);
    preimage.extend_from_slice(&timestamp.to_be_bytes());
    preimage.extend_from_slice(body_hash.as_slice());
    keccak256(preimage)
}

/// The header values of a signed request (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHeaders {
    /// `x-anh-timestamp`.
    pub timestamp: String,
    /// `x-anh-signature`, `0x`-hex.
    pub signature: String,
    /// `x-anh-body-hash`, `0x`-hex.
    pub body_hash: String,
}

/// The headers of a request with `body`, signed by `key` at `timestamp`.
pub fn sign_request(key: &SigningKey, timestamp: u64, body: &[u8]) -> Result<RequestHeaders> {
    let body_hash = keccak256(body);
    let digest = digest_of_hash(timestamp, body_hash);
    let signature = sign(key, &digest).map_err(ExecutorError::Signing)?;
    Ok(RequestHeaders {
        timestamp: timestamp.to_string(),
        signature: hex::encode_prefixed(signature),
        body_hash: body_hash.to_string(),
    })
}

/// Which nodes an executor serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeAuth {
    nodes: HashSet<Address>,
    max_skew: Duration,
}

impl NodeAuth {
    /// Accepts requests signed by any of `nodes`, within [`DEFAULT_MAX_SKEW`].
    pub fn new(nodes: impl IntoIterator<Item = Address>) -> Self {
        Self { nodes: nodes.into_iter().collect(), max_skew: DEFAULT_MAX_SKEW }
    }

    /// With a different allowed clock skew.
    pub fn with_max_skew(mut self, max_skew: Duration) -> Self {
        self.max_skew = max_skew;
        self
    }

    /// The nodes served.
    pub fn nodes(&self) -> &HashSet<Address> {
        &self.nodes
    }

    /// Checks the headers' presence, form and timestamp (before the body is read).
    pub fn check_headers(
        &self,
        timestamp: Option<&str>,
        signature: Option<&str>,
        now: u64,
    ) -> Result<(u64, [u8; 65])> {
        let unauthorized = |m: String| ExecutorError::Unauthorized(m);
        let (Some(timestamp), Some(signature)) = (timestamp, signature) else {
            return Err(unauthorized(format!(
                "missing {TIMESTAMP_HEADER} or {SIGNATURE_HEADER} header: requests must be signed by the key of a node this executor serves"
            )));
        };
        let timestamp: u64 = timestamp.trim().parse().map_err(|_| {
            unauthorized(format!("{TIMESTAMP_HEADER} must be unix seconds, not {timestamp:?}"))
        })?;
        let skew = now.abs_diff(timestamp);
        if skew > self.max_skew.as_secs() {
            return Err(unauthorized(format!(
                "request timestamp {timestamp} is {skew} s away from this executor's clock ({now}); at most {} s is allowed: check both clocks",
                self.max_skew.as_secs()
            )));
        }
        let digits = signature.trim();
        let digits = digits.strip_prefix("0x").unwrap_or(digits);
        let signature: [u8; 65] = hex::decode(digits)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| unauthorized(format!("{SIGNATURE_HEADER} must be 65 bytes of hex")))?;
        Ok((timestamp, signature))
    }

    /// Checks a request before its body is read: the headers ([`NodeAuth::check_headers`])
    /// and that the signature over the `body_hash` header is by a node this executor serves.
    /// Returns the node's address and the body's hash the node signed (the body read then
    /// must hash to it).
    pub fn verify(
        &self,
        timestamp: Option<&str>,
        signature: Option<&str>,
        body_hash: Option<&str>,
        now: u64,
    ) -> Result<(Address, B256)> {
        let body_hash = body_hash.and_then(|h| h.trim().parse::<B256>().ok()).ok_or_else(|| {
            ExecutorError::Unauthorized(format!(
                "missing or malformed {BODY_HASH_HEADER} header: keccak256 of the body, 32 \
                     bytes of hex"
            ))
        })?;
        Ok((self.verify_hash(timestamp, signature, body_hash, now)?, body_hash))
    }

    fn verify_hash(
        &self,
        timestamp: Option<&str>,
        signature: Option<&str>,
        body_hash: B256,
        now: u64,
    ) -> Result<Address> {
        let (timestamp, signature) = self.check_headers(timestamp, signature, now)?;
        let digest = digest_of_hash(timestamp, body_hash);
        let signer = recover(&digest, &signature).map_err(|e| {
            ExecutorError::Unauthorized(format!("{SIGNATURE_HEADER} does not recover: {e}"))
        })?;
        if !self.nodes.contains(&signer) {
            return Err(ExecutorError::Unauthorized(format!(
                "request signed by {signer}, which is not a node this executor serves (start it with --node-address {signer} to serve it)"
            )));
        }
        Ok(signer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anh_primitives::signature::address_of;

    fn key(i: u8) -> SigningKey {
        SigningKey::from_slice(&[i; 32]).unwrap()
    }

    /// A request signed by an allowed node verifies before its body is read, and recovers that
    /// node and the body's hash.
    #[test]
    fn signed_request_verifies() {
        let auth = NodeAuth::new([address_of(&key(1))]);
        let RequestHeaders { timestamp: ts, signature: sig, body_hash } =
            sign_request(&key(1), 1_000, b"{}").unwrap();
        assert_eq!(body_hash, keccak256(b"{}").to_string());
        let want = (address_of(&key(1)), keccak256(b"{}"));
        assert_eq!(auth.verify(Some(&ts), Some(&sig), Some(&body_hash), 1_000).unwrap(), want);
        let bare = |h: &str| h.trim_start_matches("0x").to_string();
        assert_eq!(
            auth.verify(Some(&ts), Some(&bare(&sig)), Some(&bare(&body_hash)), 1_100).unwrap(),
            want,
            "without 0x, 100 s later"
        );
    }

    /// name, timestamp, signature, body-hash headers, executor's clock, expected reason.
    type Case<'a> = (&'a str, Option<&'a str>, Option<&'a str>, Option<&'a str>, u64, &'a str);

    /// Another key, another body's hash, a stale or future timestamp, missing or malformed
    /// headers: all refused, each with its reason.
    #[test]
    fn bad_requests_are_refused() {
        let auth = NodeAuth::new([address_of(&key(1))]);
        let now = 10_000;
        let RequestHeaders { timestamp: ts, signature: sig, body_hash: hash } =
            sign_request(&key(1), now, b"body").unwrap();
        let other = sign_request(&key(2), now, b"body").unwrap().signature;
        let other_hash = keccak256(b"bodx").to_string();
        let (ts, sig, hash) = (Some(ts.as_str()), Some(sig.as_str()), Some(hash.as_str()));
        let cases: [Case<'_>; 10] = [
            ("foreign key", ts, Some(&other), hash, now, "not a node"),
            ("another body's hash", ts, sig, Some(&other_hash), now, "not a node"),
            ("stale", ts, sig, hash, now + 121, "away from"),
            ("future", ts, sig, hash, now - 121, "away from"),
            ("unsigned", None, None, hash, now, "missing"),
            ("bad timestamp", Some("yesterday"), sig, hash, now, "unix seconds"),
            ("short signature", ts, Some("0x1234"), hash, now, "65 bytes"),
            ("no body hash", ts, sig, None, now, "missing or malformed x-anh-body-hash"),
            ("short body hash", ts, sig, Some("0x12"), now, "missing or malformed x-anh-body-hash"),
            ("not hex", ts, sig, Some("body"), now, "missing or malformed x-anh-body-hash"),
        ];
        for (name, ts, sig, hash, at, want) in cases {
            match auth.verify(ts, sig, hash, at) {
                Err(ExecutorError::Unauthorized(reason)) => {
                    assert!(reason.contains(want), "{name}: {reason}")
                }
                other => panic!("{name}: {other:?}"),
            }
        }
        assert!(auth.verify(ts, sig, hash, now).is_ok());
    }

    /// The digest binds the timestamp and the body, under the request domain.
    #[test]
    fn digest_binds_timestamp_and_body() {
        let d = request_digest(7, b"x");
        assert_ne!(d, request_digest(8, b"x"));
        assert_ne!(d, request_digest(7, b"y"));
        let mut preimage = REQUEST_DOMAIN.to_vec();
        preimage.extend_from_slice(&7u64.to_be_bytes());
        preimage.extend_from_slice(keccak256(b"x").as_slice());
        assert_eq!(d, keccak256(preimage));
    }
}
