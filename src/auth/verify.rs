//! The verifier: credentials → key → policy bytes → signature → conditions
//! (signed-urls.md §1), with each failure mapped to the §10 error code.

use std::net::IpAddr;
use std::sync::Arc;

use super::base64;
use super::cache::{Material, Verified, VerifiedCache};
use super::keys::{self, HashAlg, KeyRing};
use super::params::{self, Extracted, Source};
use super::policy;
use super::resource::{self, RequestUrl};

/// Largest decoded signature accepted (bytes); RSA-2048 is 256, P-256 DER at most 72.
const MAX_SIGNATURE_BYTES: usize = 512;
/// Longest `Key-Pair-Id` considered well-formed.
const MAX_KEY_ID_LEN: usize = 128;

/// What the verifier needs to know about one viewer request.
#[derive(Debug, Clone, Copy)]
pub struct RequestFacts<'a> {
    /// `"http"` or `"https"`: the viewer protocol.
    pub scheme: &'a str,
    /// The Host header exactly as sent.
    pub host: &'a str,
    /// The raw path as sent on the request line (no decoding), starting with `/`.
    pub raw_path: &'a str,
    /// The raw query as sent, without the `?`.
    pub raw_query: Option<&'a str>,
    /// The raw `Cookie` header values.
    pub cookie_headers: &'a [&'a str],
    /// The viewer's address (for `AWS:SourceIp`).
    pub viewer_ip: IpAddr,
    /// The request time, Unix seconds.
    pub now_epoch: i64,
}

/// Why a request was refused. Every denial is an HTTP 403 with [`Denial::error_body`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Denial {
    /// No `Key-Pair-Id` (or cookie), an empty one, or one that is not a well-formed id.
    MissingKey,
    /// The key id is not among the behavior's trusted keys.
    InvalidKey,
    /// The signature is not CloudFront-base64.
    MalformedSignature,
    /// The policy cannot be decoded or parsed, lacks `DateLessThan`, or the parameters are
    /// structurally broken (no `Expires`/`Policy`, duplicated parameters, bad `Expires`).
    MalformedPolicy,
    /// Well-formed but not authorised: bad signature, expired, not yet valid, wrong IP, wrong
    /// resource, missing signature, unknown `Hash-Algorithm`.
    AccessDenied,
}

impl Denial {
    /// The `<Code>` value.
    pub fn code(self) -> &'static str {
        match self {
            Denial::MissingKey => "MissingKey",
            Denial::InvalidKey => "InvalidKey",
            Denial::MalformedSignature => "MalformedSignature",
            Denial::MalformedPolicy => "MalformedPolicy",
            Denial::AccessDenied => "AccessDenied",
        }
    }

    /// The `<Message>` value.
    pub fn message(self) -> &'static str {
        match self {
            Denial::MissingKey => "Missing Key-Pair-Id query parameter or cookie value",
            Denial::InvalidKey => "Unknown Key",
            Denial::MalformedSignature => "Could not unencode Signature",
            Denial::MalformedPolicy => "Malformed Policy",
            Denial::AccessDenied => "Access denied",
        }
    }

    /// The one-line XML body CloudFront sends (`Content-Type: text/xml`, no trailing newline).
    pub fn error_body(self) -> String {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{}</Code><Message>{}</Message></Error>",
            self.code(),
            self.message()
        )
    }
}

impl std::fmt::Display for Denial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code(), self.message())
    }
}

impl std::error::Error for Denial {}

/// A successful verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The credentials came from the URL: remove every query parameter for which
    /// [`is_signing_param`] holds before building the cache key and the origin request.
    pub strip_query: bool,
    /// The policy's `DateLessThan` (Unix seconds): the grant is void from then on.
    pub expires_at: i64,
}

/// Whether a query parameter name is one of CloudFront's signing parameters (exact match).
pub fn is_signing_param(name: &str) -> bool {
    params::SIGNING_PARAMS.contains(&name)
}

/// Verifies a request against the behavior's trusted keys.
///
/// `trusted_key_ids` are the public key ids of the behavior's trusted key groups, already
/// resolved; a key must be both trusted and present in `keys`.
pub fn verify(
    req: &RequestFacts<'_>,
    trusted_key_ids: &[&str],
    keys: &KeyRing,
) -> Result<Grant, Denial> {
    verify_cached(req, trusted_key_ids, keys, None)
}

/// [`verify`], remembering successful signature checks in `cache` so a repeated URL or cookie
/// costs no decoding and no public-key operation. Conditions are evaluated on every request.
pub fn verify_cached<S: AsRef<str>>(
    req: &RequestFacts<'_>,
    trusted_key_ids: &[S],
    keys: &KeyRing,
    cache: Option<&VerifiedCache>,
) -> Result<Grant, Denial> {
    // 1. Credential source.
    let Extracted {
        source,
        creds,
        rest_query,
    } = params::extract(req.raw_query, req.cookie_headers).map_err(|_| Denial::MalformedPolicy)?;

    // 2. Key.
    let key_id = creds.key_pair_id.as_deref().unwrap_or("");
    if !well_formed_key_id(key_id) {
        return Err(Denial::MissingKey);
    }
    let entry = if trusted_key_ids.iter().any(|t| t.as_ref() == key_id) {
        keys.get(key_id).ok_or(Denial::InvalidKey)?
    } else {
        return Err(Denial::InvalidKey);
    };

    // The URL the policy is checked against: the request minus the signing parameters.
    let host = strip_default_port(req.scheme, req.host);
    let url = RequestUrl {
        scheme: req.scheme,
        host,
        path: req.raw_path,
        query: rest_query.as_deref(),
    };

    // 3. A repeat of credentials already verified with this very key: only the conditions.
    let material = cache.map(|_| material(key_id, &entry.fingerprint, &creds, &url));
    if let (Some(c), Some(m)) = (cache, &material)
        && let Some(hit) = c.get(m.bytes(), req.now_epoch)
    {
        conditions(req, &url, hit.until, hit.policy.as_deref())?;
        return Ok(Grant {
            strip_query: source == Source::Url,
            expires_at: hit.until,
        });
    }

    // 4. Policy bytes.
    let (bytes, parsed, expires_at): (Vec<u8>, Option<policy::Policy>, i64) =
        match (&creds.policy, &creds.expires) {
            // A Policy wins over an Expires sent alongside it (§13 choice 12).
            (Some(p), _) => {
                let bytes =
                    base64::decode(p, policy::MAX_POLICY_BYTES).ok_or(Denial::MalformedPolicy)?;
                let parsed = policy::parse(&bytes).map_err(|_| Denial::MalformedPolicy)?;
                let expires_at = parsed.date_less_than;
                (bytes, Some(parsed), expires_at)
            }
            (None, Some(e)) => {
                let expires_at = parse_expires(e).ok_or(Denial::MalformedPolicy)?;
                let bytes = canned_policy(&url, e).into_bytes();
                (bytes, None, expires_at)
            }
            (None, None) => return Err(Denial::MalformedPolicy),
        };

    // 5. Signature.
    let sig_text = match creds.signature.as_deref() {
        Some(s) if !s.is_empty() => s,
        _ => return Err(Denial::AccessDenied),
    };
    let signature =
        base64::decode(sig_text, MAX_SIGNATURE_BYTES).ok_or(Denial::MalformedSignature)?;
    let hash = HashAlg::parse(creds.hash_algorithm.as_deref()).ok_or(Denial::AccessDenied)?;
    if !keys::verify_signature(&entry.key, hash, &bytes, &signature) {
        return Err(Denial::AccessDenied);
    }
    let parsed = parsed.map(Arc::new);
    if let (Some(c), Some(m)) = (cache, material) {
        let verified = Verified {
            until: expires_at,
            policy: parsed.clone(),
        };
        c.insert(m.into_boxed(), verified, req.now_epoch);
    }

    // 6. Conditions.
    conditions(req, &url, expires_at, parsed.as_deref())?;
    Ok(Grant {
        strip_query: source == Source::Url,
        expires_at,
    })
}

/// Everything the outcome of decoding, parsing and checking the signature depends on. A canned
/// policy's signed bytes are built from the URL, so the URL is part of it; a custom policy is
/// signed as sent, and its resource is matched against the URL in [`conditions`].
fn material(
    key_id: &str,
    fingerprint: &[u8; 32],
    creds: &params::Credentials<'_>,
    url: &RequestUrl<'_>,
) -> Material {
    let mut m = Material::new();
    // The signature first: the cache hashes only the start of the material.
    m.opt(creds.signature.as_deref().map(str::as_bytes))
        .part(key_id.as_bytes())
        .part(fingerprint)
        .opt(creds.hash_algorithm.as_deref().map(str::as_bytes));
    match (&creds.policy, &creds.expires) {
        (Some(p), _) => {
            m.part(b"custom").part(p.as_bytes());
        }
        (None, e) => {
            m.part(b"canned")
                .opt(e.as_deref().map(str::as_bytes))
                .part(url.scheme.as_bytes())
                .part(url.host.as_bytes())
                .part(url.path.as_bytes())
                .opt(url.query.map(str::as_bytes));
        }
    }
    m
}

/// The policy's conditions at request time: `DateLessThan` (always), then for a custom
/// policy `DateGreaterThan`, `AWS:SourceIp` and `Resource`.
fn conditions(
    req: &RequestFacts<'_>,
    url: &RequestUrl<'_>,
    expires_at: i64,
    policy: Option<&policy::Policy>,
) -> Result<(), Denial> {
    if req.now_epoch >= expires_at {
        return Err(Denial::AccessDenied);
    }
    if let Some(p) = policy {
        if let Some(after) = p.date_greater_than
            && req.now_epoch <= after
        {
            return Err(Denial::AccessDenied);
        }
        if let Some(range) = p.source_ip
            && !policy::ip_matches(range, req.viewer_ip)
        {
            return Err(Denial::AccessDenied);
        }
        if let Some(r) = &p.resource
            && !resource::matches(r, url)
        {
            return Err(Denial::AccessDenied);
        }
    }
    Ok(())
}

/// Public key ids are letters, digits, `-` and `_`; anything else (a pasted PEM, say) is
/// treated as missing (§13 choice 15).
fn well_formed_key_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_KEY_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `Expires`: decimal digits only, fitting in an i64.
fn parse_expires(s: &str) -> Option<i64> {
    if s.is_empty() || s.len() > 19 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Drops `:80` for http and `:443` for https from the Host (§13 choice 2).
fn strip_default_port<'a>(scheme: &str, host: &'a str) -> &'a str {
    let default = match scheme {
        "http" => ":80",
        "https" => ":443",
        _ => return host,
    };
    host.strip_suffix(default).unwrap_or(host)
}

/// The canned policy, byte-exact (§4.1): the resource and `Expires` inserted literally.
fn canned_policy(url: &RequestUrl<'_>, expires: &str) -> String {
    let mut resource = format!("{}://{}{}", url.scheme, url.host, url.path);
    if let Some(q) = url.query {
        resource.push('?');
        resource.push_str(q);
    }
    format!(
        "{{\"Statement\":[{{\"Resource\":\"{resource}\",\"Condition\":{{\"DateLessThan\":{{\"AWS:EpochTime\":{expires}}}}}}}]}}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_have_the_captured_lengths() {
        for (d, len) in [
            (Denial::MissingKey, 146),
            (Denial::InvalidKey, 106),
            (Denial::MalformedSignature, 131),
            (Denial::MalformedPolicy, 116),
            (Denial::AccessDenied, 110),
        ] {
            assert_eq!(d.error_body().len(), len, "{d}");
        }
        assert_eq!(
            Denial::MissingKey.error_body(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>MissingKey</Code><Message>Missing Key-Pair-Id query parameter or cookie value</Message></Error>"
        );
    }

    #[test]
    fn canned_policy_is_byte_exact() {
        let url = RequestUrl {
            scheme: "https",
            host: "d111111abcdef8.cloudfront.net",
            path: "/a%20b/%C3%BC.jpg",
            query: Some("x=1%202&y=a+b&z=%2F"),
        };
        assert_eq!(
            canned_policy(&url, "1893456001"),
            r#"{"Statement":[{"Resource":"https://d111111abcdef8.cloudfront.net/a%20b/%C3%BC.jpg?x=1%202&y=a+b&z=%2F","Condition":{"DateLessThan":{"AWS:EpochTime":1893456001}}}]}"#
        );
    }

    #[test]
    fn small_helpers() {
        assert!(is_signing_param("Hash-Algorithm"));
        assert!(!is_signing_param("hash-algorithm"));
        assert_eq!(parse_expires("9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_expires("9223372036854775808"), None);
        assert_eq!(parse_expires("-1"), None);
        assert_eq!(parse_expires("1e9"), None);
        assert_eq!(strip_default_port("https", "h:443"), "h");
        assert_eq!(strip_default_port("http", "h:443"), "h:443");
        assert_eq!(strip_default_port("http", "h:8080"), "h:8080");
        assert!(well_formed_key_id("K2JCJMDEHXQW5F"));
        assert!(!well_formed_key_id("-----BEGIN PUBLIC KEY-----\nMII"));
        assert!(!well_formed_key_id(""));
    }
}
