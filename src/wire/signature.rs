//! Authenticity of inbound webhooks: HMAC signatures and shared secrets, checked in constant time.
//!
//! Every check here is pure: it takes the header's value (or `None` when the header is absent), the raw
//! request body where the scheme signs it, and the configured secret(s). Verify **before** parsing.
//!
//! - Comparisons never stop at the first differing byte: digests are compared with [`subtle`] or
//!   `hmac`'s `verify_slice`, and every candidate signature is compared with every secret, whatever matched.
//! - Shared secrets and tokens are compared as HMAC-SHA256 digests of both values under a fixed key, so
//!   the time taken does not depend on where they differ nor on the expected value's length.
//! - Errors say what was wrong with the request (missing, malformed, mismatch) and never carry the secret,
//!   the expected signature, or the header's value.

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt;
use subtle::{Choice, ConstantTimeEq};

type HmacSha256 = Hmac<Sha256>;

/// Length of an HMAC-SHA256 digest in bytes.
const DIGEST_LEN: usize = 32;

/// Key under which shared secrets are hashed before comparison (it hides length, not the value).
const COMPARE_KEY: &[u8] = b"firehouse/wire/signature: shared-secret comparison";

/// PagerDuty's v3 signature header: `v1=<hex>[,v1=<hex>...]`.
pub const PAGERDUTY_SIGNATURE_HEADER: &str = "X-PagerDuty-Signature";
/// GitHub's signature header: `sha256=<hex>` ([`Encoding::Prefixed`]).
pub const GITHUB_SIGNATURE_HEADER: &str = "X-Hub-Signature-256";
/// GitLab's secret token header, compared with [`verify_token`].
pub const GITLAB_TOKEN_HEADER: &str = "X-Gitlab-Token";

/// A webhook secret. Its `Debug` never shows the value, and it has no `Display` or `PartialEq`.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// Wraps a secret's text (used as its UTF-8 bytes).
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into().into_bytes())
    }

    /// Wraps raw secret bytes.
    pub fn from_bytes(value: impl Into<Vec<u8>>) -> Self {
        Secret(value.into())
    }

    /// The secret's bytes, for the one place that must use them.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Whether the secret is empty (an empty secret never authenticates anything).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Why a request is not authentic. The messages name only the problem, never a secret or a signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The signature or token header is absent.
    #[error("the signature header is missing")]
    Missing,
    /// The header is present and well-formed but matches no configured secret (or none is configured).
    #[error("the signature does not match")]
    Mismatch,
    /// The header cannot be read; the text says what shape was expected.
    #[error("the signature header is malformed: {0}")]
    Malformed(&'static str),
}

/// How a single HMAC-SHA256 signature is written in its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// `sha256=<hex>`, as GitHub's `X-Hub-Signature-256`.
    Prefixed,
    /// Bare hex digits (either case).
    Hex,
    /// Standard base64 (padding optional).
    Base64,
}

/// HMAC-SHA256 of `body` keyed with `secret`.
pub fn hmac_sha256(secret: &Secret, body: &[u8]) -> [u8; DIGEST_LEN] {
    let mut mac = new_mac(secret.expose());
    mac.update(body);
    mac.finalize().into_bytes().into()
}

fn new_mac(key: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length; this cannot fail.
    <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC accepts keys of any length")
}

fn decode_hex_digest(text: &str) -> Result<[u8; DIGEST_LEN], SignatureError> {
    if text.len() != DIGEST_LEN * 2 {
        return Err(SignatureError::Malformed("expected 64 hex digits of HMAC-SHA256"));
    }
    let mut out = [0u8; DIGEST_LEN];
    hex::decode_to_slice(text, &mut out)
        .map_err(|_| SignatureError::Malformed("expected 64 hex digits of HMAC-SHA256"))?;
    Ok(out)
}

/// Verifies PagerDuty's `X-PagerDuty-Signature: v1=<hex>,v1=<hex>` over the raw `body`.
///
/// Authentic when any `v1` value is the HMAC-SHA256 of `body` under any of `secrets` (several values and
/// several secrets occur during rotation). Values of other versions are ignored; a header without any `v1`
/// value, or with a `v1` value that is not 64 hex digits, is malformed. Every `v1` value is compared with
/// every secret's digest in constant time, whether or not an earlier one matched. With no (non-empty)
/// secret configured nothing is authentic.
pub fn verify_pagerduty(header_value: Option<&str>, body: &[u8], secrets: &[Secret]) -> Result<(), SignatureError> {
    let header = header_value.ok_or(SignatureError::Missing)?;
    let mut candidates = Vec::new();
    for part in header.split(',') {
        let part = part.trim();
        if let Some(sig) = part.strip_prefix("v1=") {
            candidates.push(decode_hex_digest(sig.trim())?);
        }
    }
    if candidates.is_empty() {
        return Err(SignatureError::Malformed("expected one or more comma-separated v1=<hex> values"));
    }
    let mut matched = Choice::from(0);
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        let expected = hmac_sha256(secret, body);
        for candidate in &candidates {
            matched |= expected.ct_eq(candidate);
        }
    }
    if bool::from(matched) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// Verifies a single HMAC-SHA256 signature of `body`, written as `encoding` says.
pub fn verify_hmac(
    header_value: Option<&str>,
    body: &[u8],
    secret: &Secret,
    encoding: Encoding,
) -> Result<(), SignatureError> {
    let header = header_value.ok_or(SignatureError::Missing)?.trim();
    let signature: [u8; DIGEST_LEN] = match encoding {
        Encoding::Prefixed => {
            let hex =
                header.strip_prefix("sha256=").ok_or(SignatureError::Malformed("expected sha256=<64 hex digits>"))?;
            decode_hex_digest(hex)?
        }
        Encoding::Hex => decode_hex_digest(header)?,
        Encoding::Base64 => {
            let engine = GeneralPurpose::new(
                &base64::alphabet::STANDARD,
                GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
            );
            let bytes =
                engine.decode(header).map_err(|_| SignatureError::Malformed("expected base64 of HMAC-SHA256"))?;
            bytes.try_into().map_err(|_| SignatureError::Malformed("expected base64 of the 32 bytes of HMAC-SHA256"))?
        }
    };
    if secret.is_empty() {
        return Err(SignatureError::Mismatch);
    }
    let mut mac = new_mac(secret.expose());
    mac.update(body);
    mac.verify_slice(&signature).map_err(|_| SignatureError::Mismatch)
}

/// Verifies a header that carries a shared secret itself (e.g. a PagerDuty subscription's custom
/// `X-Webhook-Secret` header). Constant time, and independent of the expected secret's length: both
/// values are hashed under a fixed key and the digests compared. An empty expected secret matches nothing.
pub fn verify_shared_secret(header_value: Option<&str>, expected: &Secret) -> Result<(), SignatureError> {
    let presented = header_value.ok_or(SignatureError::Missing)?;
    let a = keyed_digest(presented.as_bytes());
    let b = keyed_digest(expected.expose());
    let equal = a.ct_eq(&b) & Choice::from(u8::from(!expected.is_empty()));
    if bool::from(equal) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// Verifies GitLab's `X-Gitlab-Token` (the webhook's secret token, sent as is), in constant time.
pub fn verify_token(header_value: Option<&str>, expected: &Secret) -> Result<(), SignatureError> {
    verify_shared_secret(header_value, expected)
}

fn keyed_digest(value: &[u8]) -> [u8; DIGEST_LEN] {
    let mut mac = new_mac(COMPARE_KEY);
    mac.update(value);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex_sig(secret: &str, body: &[u8]) -> String {
        hex::encode(hmac_sha256(&Secret::new(secret), body))
    }

    #[test]
    fn github_documented_test_vector() {
        // docs.github.com, "Validating webhook deliveries": secret "It's a Secret to Everybody",
        // payload "Hello, World!".
        let header = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        let secret = Secret::new("It's a Secret to Everybody");
        assert_eq!(verify_hmac(Some(header), b"Hello, World!", &secret, Encoding::Prefixed), Ok(()));
        assert_eq!(
            verify_hmac(Some(header), b"Hello, World?", &secret, Encoding::Prefixed),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn pagerduty_accepts_any_v1_for_any_secret_and_ignores_other_versions() {
        let body = br#"{"event":{}}"#;
        let (a, b) = (hex_sig("old", body), hex_sig("new", body));
        let both = format!("v1={a},v1={b}");
        let secrets_old = [Secret::new("old")];
        let secrets_new = [Secret::new("new")];
        let secrets_both = [Secret::new("other"), Secret::new("new")];
        assert_eq!(verify_pagerduty(Some(&both), body, &secrets_old), Ok(()));
        assert_eq!(verify_pagerduty(Some(&both), body, &secrets_new), Ok(()));
        assert_eq!(verify_pagerduty(Some(&both), body, &secrets_both), Ok(()));
        let with_v2 = format!("v2=zzzz, v1={b}");
        assert_eq!(verify_pagerduty(Some(&with_v2), body, &secrets_new), Ok(()));
        assert_eq!(
            verify_pagerduty(Some("v2=abcd"), body, &secrets_new),
            Err(SignatureError::Malformed("expected one or more comma-separated v1=<hex> values"))
        );
        assert_eq!(verify_pagerduty(Some(&both), body, &[]), Err(SignatureError::Mismatch));
        assert_eq!(verify_pagerduty(Some(&both), body, &[Secret::new("")]), Err(SignatureError::Mismatch));
        assert_eq!(verify_pagerduty(None, body, &secrets_new), Err(SignatureError::Missing));
    }

    #[test]
    fn encodings() {
        let body = b"payload";
        let secret = Secret::new("s3cret");
        let digest = hmac_sha256(&secret, body);
        let hex = hex::encode(digest);
        let b64 = base64::engine::general_purpose::STANDARD.encode(digest);
        assert_eq!(verify_hmac(Some(&hex), body, &secret, Encoding::Hex), Ok(()));
        assert_eq!(verify_hmac(Some(&hex.to_uppercase()), body, &secret, Encoding::Hex), Ok(()));
        assert_eq!(verify_hmac(Some(&b64), body, &secret, Encoding::Base64), Ok(()));
        assert_eq!(verify_hmac(Some(b64.trim_end_matches('=')), body, &secret, Encoding::Base64), Ok(()));
        assert_eq!(verify_hmac(Some(&format!("sha256={hex}")), body, &secret, Encoding::Prefixed), Ok(()));
        assert!(matches!(
            verify_hmac(Some(&hex), body, &secret, Encoding::Prefixed),
            Err(SignatureError::Malformed(_))
        ));
        assert!(matches!(verify_hmac(Some(&b64), body, &secret, Encoding::Hex), Err(SignatureError::Malformed(_))));
        assert!(matches!(verify_hmac(Some("!!"), body, &secret, Encoding::Base64), Err(SignatureError::Malformed(_))));
        assert!(matches!(
            verify_hmac(Some("AAAA"), body, &secret, Encoding::Base64),
            Err(SignatureError::Malformed(_))
        ));
    }

    #[test]
    fn shared_secrets_compare_whole_values() {
        let expected = Secret::new("correct horse");
        assert_eq!(verify_shared_secret(Some("correct horse"), &expected), Ok(()));
        assert_eq!(verify_shared_secret(Some("correct hors"), &expected), Err(SignatureError::Mismatch));
        assert_eq!(verify_shared_secret(Some("correct horse "), &expected), Err(SignatureError::Mismatch));
        assert_eq!(verify_shared_secret(Some(""), &expected), Err(SignatureError::Mismatch));
        assert_eq!(verify_shared_secret(None, &expected), Err(SignatureError::Missing));
        assert_eq!(verify_shared_secret(Some(""), &Secret::new("")), Err(SignatureError::Mismatch));
        assert_eq!(verify_token(Some("correct horse"), &expected), Ok(()));
    }

    #[test]
    fn secrets_do_not_print() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(format!("{:?}", std::slice::from_ref(&s)), "[Secret(***)]");
    }
}
