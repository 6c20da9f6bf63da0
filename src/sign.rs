//! The signer's side of CloudFront signed URLs and signed cookies (signed-urls.md §3, §4, §5,
//! §8, §12): policy JSON, signature, URL and cookie assembly, and key generation. The
//! `edgegate sign url|cookies` and `edgegate keygen` subcommands are thin wrappers over it.
//!
//! Output is byte-compatible with the official signers for the same key, URL and times:
//!
//! - **SHA-1** (the default) follows botocore's `CloudFrontSigner` (what `aws cloudfront sign`
//!   runs): parameters `Expires|Policy`, `Signature`, `Key-Pair-Id`; custom conditions in the
//!   order `DateLessThan`, `IpAddress`, `DateGreaterThan`; JSON strings escaped like Python's
//!   `json.dumps` (non-ASCII as `\uXXXX`).
//! - **SHA-256** follows `@aws-sdk/cloudfront-signer`: parameters `Expires|Policy`,
//!   `Key-Pair-Id`, `Signature`, `Hash-Algorithm=SHA256`; conditions `DateLessThan`,
//!   `DateGreaterThan`, `IpAddress`; JSON strings escaped like `JSON.stringify`.
//!
//! RSA signatures (PKCS#1 v1.5) are deterministic, so those outputs are identical byte for byte.
//! ECDSA P-256 signatures here are deterministic too (RFC 6979) and DER-encoded, but other
//! signers randomize theirs, so only verification can be compared.
//!
//! The URL is signed exactly as given (CloudFront rebuilds the resource from the raw request
//! line, §4.2): percent-encode it before signing, never after.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use p256::ecdsa::signature::hazmat::PrehashSigner;
use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey};
use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::auth::{base64 as cf64, keys, policy};

/// Longest `--expires`/`--not-before` text accepted.
const MAX_TIME_LEN: usize = 64;
/// Longest URL or resource accepted (a policy is at most 8 KiB anyway).
const MAX_URL_LEN: usize = 4096;

/// An error with a message a person can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SignError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, SignError> {
    Err(SignError(msg.into()))
}

/// The hash used with the key (`Hash-Algorithm`; SHA-1 when absent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HashAlgorithm {
    /// SHA-1, CloudFront's default; output as botocore makes it.
    #[default]
    Sha1,
    /// SHA-256; output as `@aws-sdk/cloudfront-signer` makes it.
    Sha256,
}

impl std::str::FromStr for HashAlgorithm {
    type Err = SignError;
    fn from_str(s: &str) -> Result<Self, SignError> {
        match s.to_ascii_uppercase().as_str() {
            "SHA1" | "SHA-1" => Ok(HashAlgorithm::Sha1),
            "SHA256" | "SHA-256" => Ok(HashAlgorithm::Sha256),
            _ => err(format!(
                "unknown hash algorithm {s:?}: use SHA1 (the default) or SHA256"
            )),
        }
    }
}

/// A private signing key: RSA (PKCS#1 v1.5 signatures) or ECDSA P-256 (DER signatures).
pub struct PrivateKey(KeyInner);

enum KeyInner {
    Rsa(Box<rsa::RsaPrivateKey>),
    P256(Box<p256::ecdsa::SigningKey>),
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.0 {
            KeyInner::Rsa(_) => "PrivateKey(RSA)",
            KeyInner::P256(_) => "PrivateKey(ECDSA P-256)",
        })
    }
}

impl PrivateKey {
    /// Parses a PEM private key: `RSA PRIVATE KEY` (PKCS#1), `EC PRIVATE KEY` (SEC1) or
    /// `PRIVATE KEY` (PKCS#8 holding RSA or P-256). Encrypted keys are refused.
    pub fn from_pem(pem: &str) -> Result<PrivateKey, SignError> {
        let (label, der) = keys::pem_block(pem).map_err(|e| SignError(e.to_string()))?;
        match label.as_str() {
            "RSA PRIVATE KEY" => rsa::RsaPrivateKey::from_pkcs1_der(&der)
                .map(|k| PrivateKey(KeyInner::Rsa(Box::new(k))))
                .map_err(|e| SignError(format!("the PKCS#1 RSA private key is invalid: {e}"))),
            "EC PRIVATE KEY" => p256::SecretKey::from_sec1_der(&der)
                .map(|k| PrivateKey(KeyInner::P256(Box::new(k.into()))))
                .map_err(|_| {
                    SignError(
                        "the EC private key is not a valid P-256 (prime256v1) key; CloudFront accepts only ECDSA P-256".into(),
                    )
                }),
            "PRIVATE KEY" => {
                if let Ok(k) = rsa::RsaPrivateKey::from_pkcs8_der(&der) {
                    return Ok(PrivateKey(KeyInner::Rsa(Box::new(k))));
                }
                if let Ok(k) = p256::SecretKey::from_pkcs8_der(&der) {
                    return Ok(PrivateKey(KeyInner::P256(Box::new(k.into()))));
                }
                err("the PKCS#8 private key is neither RSA nor ECDSA P-256")
            }
            "ENCRYPTED PRIVATE KEY" => err(
                "the private key is encrypted; decrypt it first (openssl pkey -in KEY -out PLAIN)",
            ),
            other => err(format!(
                "the PEM block is `{other}`, not a private key (expected RSA PRIVATE KEY, EC PRIVATE KEY or PRIVATE KEY)"
            )),
        }
    }

    /// Signs `message` with `hash`: RSA PKCS#1 v1.5, or ECDSA P-256 (RFC 6979) in ASN.1 DER.
    pub fn sign(&self, hash: HashAlgorithm, message: &[u8]) -> Result<Vec<u8>, SignError> {
        let fail = |e: &dyn std::fmt::Display| SignError(format!("signing failed: {e}"));
        match &self.0 {
            KeyInner::Rsa(k) => match hash {
                HashAlgorithm::Sha1 => {
                    k.sign(rsa::Pkcs1v15Sign::new::<Sha1>(), &Sha1::digest(message))
                }
                HashAlgorithm::Sha256 => {
                    k.sign(rsa::Pkcs1v15Sign::new::<Sha256>(), &Sha256::digest(message))
                }
            }
            .map_err(|e| fail(&e)),
            KeyInner::P256(k) => {
                let digest: Vec<u8> = match hash {
                    HashAlgorithm::Sha1 => Sha1::digest(message).to_vec(),
                    HashAlgorithm::Sha256 => Sha256::digest(message).to_vec(),
                };
                let sig: p256::ecdsa::Signature = k.sign_prehash(&digest).map_err(|e| fail(&e))?;
                Ok(sig.to_der().as_bytes().to_vec())
            }
        }
    }
}

/// What to sign. Either `expires` (with the optional custom conditions) or `policy`.
#[derive(Debug, Clone, Default)]
pub struct SignOptions {
    /// The URL, exactly as viewers will request it (already percent-encoded).
    pub url: String,
    /// The public key id (`Key-Pair-Id`).
    pub key_pair_id: String,
    /// `DateLessThan`, Unix seconds. Required unless `policy` is given.
    pub expires: Option<i64>,
    /// `DateGreaterThan`, Unix seconds (makes the policy custom).
    pub not_before: Option<i64>,
    /// `IpAddress` as IPv4 CIDR or address (`/32` is added); makes the policy custom.
    pub ip: Option<String>,
    /// `Resource` pattern, may hold `*`; makes the policy custom. Defaults to `url`.
    pub resource: Option<String>,
    /// A complete policy document, signed as given (surrounding whitespace removed).
    pub policy: Option<String>,
    /// The hash algorithm.
    pub hash: HashAlgorithm,
}

/// The CloudFront parameters of one signature, in the order the reference signer emits them for
/// URLs (names without the `CloudFront-` cookie prefix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    /// `(name, value)` pairs: `Expires` or `Policy`, `Signature`, `Key-Pair-Id`, and
    /// `Hash-Algorithm` for SHA-256.
    pub params: Vec<(&'static str, String)>,
    /// The exact policy bytes that were signed (the canned policy is never sent).
    pub policy: String,
    /// Whether the policy is canned.
    pub canned: bool,
}

impl Signed {
    fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Builds the policy and signs it. A canned policy is used when only `expires` is given and the
/// URL holds no `*` (a canned policy cannot match a wildcard, §4.5).
pub fn sign(opts: &SignOptions, key: &PrivateKey) -> Result<Signed, SignError> {
    check_url(&opts.url)?;
    let kid = &opts.key_pair_id;
    if kid.is_empty()
        || kid.len() > 128
        || !kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return err(format!(
            "key pair id {kid:?} is invalid: it must be 1-128 letters, digits, '-' or '_' (the public key id, such as K2JCJMDEHXQW5F)"
        ));
    }
    let (policy_text, canned) = build_policy(opts)?;
    let signature = cf64::encode(&key.sign(opts.hash, policy_text.as_bytes())?);
    let first = if canned {
        ("Expires", opts.expires.unwrap_or_default().to_string())
    } else {
        ("Policy", cf64::encode(policy_text.as_bytes()))
    };
    let params = match opts.hash {
        HashAlgorithm::Sha1 => vec![
            first,
            ("Signature", signature),
            ("Key-Pair-Id", kid.clone()),
        ],
        HashAlgorithm::Sha256 => vec![
            first,
            ("Key-Pair-Id", kid.clone()),
            ("Signature", signature),
            ("Hash-Algorithm", "SHA256".to_owned()),
        ],
    };
    Ok(Signed {
        params,
        policy: policy_text,
        canned,
    })
}

/// Signs and returns the signed URL: the parameters appended after `&` when the URL already has
/// a query, else after `?`.
pub fn signed_url(opts: &SignOptions, key: &PrivateKey) -> Result<String, SignError> {
    let signed = sign(opts, key)?;
    let mut url = opts.url.clone();
    let mut sep = if url.contains('?') { '&' } else { '?' };
    for (name, value) in &signed.params {
        let _ = write!(url, "{sep}{name}={value}");
        sep = '&';
    }
    Ok(url)
}

/// Signs and returns the `CloudFront-*` cookies in the order `@aws-sdk/cloudfront-signer`
/// lists them: `Key-Pair-Id`, `Signature`, `Expires` or `Policy`, then `Hash-Algorithm`.
pub fn signed_cookies(
    opts: &SignOptions,
    key: &PrivateKey,
) -> Result<Vec<(String, String)>, SignError> {
    let signed = sign(opts, key)?;
    let mut out = Vec::new();
    for name in [
        "Key-Pair-Id",
        "Signature",
        "Expires",
        "Policy",
        "Hash-Algorithm",
    ] {
        if let Some(v) = signed.get(name) {
            out.push((format!("CloudFront-{name}"), v.to_owned()));
        }
    }
    Ok(out)
}

/// How `edgegate sign cookies` prints the cookies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CookieFormat {
    /// One `Set-Cookie:` header line per cookie (`Domain` from the URL, `Path=/`, `Secure` for
    /// https, `HttpOnly`).
    #[default]
    SetCookie,
    /// One line for `curl -b`: `name=value; name=value`.
    Curl,
    /// A JSON object of name to value.
    Json,
}

impl std::str::FromStr for CookieFormat {
    type Err = SignError;
    fn from_str(s: &str) -> Result<Self, SignError> {
        match s {
            "set-cookie" | "header" => Ok(CookieFormat::SetCookie),
            "curl" => Ok(CookieFormat::Curl),
            "json" => Ok(CookieFormat::Json),
            _ => err(format!(
                "unknown cookie format {s:?}: use set-cookie, curl or json"
            )),
        }
    }
}

/// Formats cookies from [`signed_cookies`] for `url`; the result ends with a newline.
pub fn format_cookies(cookies: &[(String, String)], url: &str, format: CookieFormat) -> String {
    match format {
        CookieFormat::SetCookie => {
            let https = url.starts_with("https://");
            let host = url
                .split_once("://")
                .map(|(_, rest)| rest.split(['/', '?']).next().unwrap_or(""))
                .unwrap_or("");
            let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
            let mut attrs = String::new();
            if !host.is_empty() && !host.contains(['*', '[']) {
                let _ = write!(attrs, "; Domain={host}");
            }
            attrs.push_str("; Path=/");
            if https {
                attrs.push_str("; Secure");
            }
            attrs.push_str("; HttpOnly");
            cookies
                .iter()
                .map(|(n, v)| format!("Set-Cookie: {n}={v}{attrs}\n"))
                .collect()
        }
        CookieFormat::Curl => {
            let pairs: Vec<String> = cookies.iter().map(|(n, v)| format!("{n}={v}")).collect();
            format!("{}\n", pairs.join("; "))
        }
        CookieFormat::Json => {
            let mut s = String::from("{");
            for (i, (n, v)) in cookies.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                let _ = write!(
                    s,
                    "\n  {}: {}",
                    serde_json::Value::from(n.as_str()),
                    serde_json::Value::from(v.as_str())
                );
            }
            s.push_str("\n}\n");
            s
        }
    }
}

fn check_url(url: &str) -> Result<(), SignError> {
    if url.len() > MAX_URL_LEN {
        return err(format!(
            "the URL is {} bytes long; at most {MAX_URL_LEN} are accepted",
            url.len()
        ));
    }
    let Some(rest) = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
    else {
        return err(format!(
            "the URL {url:?} must start with http:// or https://"
        ));
    };
    if rest.is_empty() || rest.starts_with('/') {
        return err(format!("the URL {url:?} has no host"));
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return err(format!(
            "the URL {url:?} contains whitespace or control characters; percent-encode it first (CloudFront checks the URL as sent)"
        ));
    }
    if let Some((_, query)) = url.split_once('?') {
        for piece in query.split('&') {
            let name = piece.split_once('=').map_or(piece, |(n, _)| n);
            if crate::auth::is_signing_param(name) {
                return err(format!(
                    "the URL already carries the CloudFront parameter {name:?}; sign the URL without it"
                ));
            }
        }
    }
    Ok(())
}

/// Returns the policy text to sign and whether it is canned.
fn build_policy(opts: &SignOptions) -> Result<(String, bool), SignError> {
    if let Some(text) = &opts.policy {
        if opts.expires.is_some()
            || opts.not_before.is_some()
            || opts.ip.is_some()
            || opts.resource.is_some()
        {
            return err(
                "a policy file already holds the expiry, start, IP range and resource; do not combine it with --expires, --not-before, --ip or --resource",
            );
        }
        let text = text.trim();
        policy::parse(text.as_bytes())
            .map_err(|e| SignError(format!("the policy is not a valid CloudFront policy: {e}")))?;
        return Ok((text.to_owned(), false));
    }
    let Some(expires) = opts.expires else {
        return err("--expires is required (or give a complete policy with --policy)");
    };
    if let Some(nb) = opts.not_before
        && nb >= expires
    {
        return err(format!(
            "--not-before ({nb}) must be earlier than --expires ({expires})"
        ));
    }
    let ip = match &opts.ip {
        Some(ip) => {
            policy::parse_cidr(ip).map_err(|e| {
                SignError(format!(
                    "--ip {ip:?} is not an IPv4 address or CIDR range (CloudFront supports IPv4 only): {e}"
                ))
            })?;
            Some(if ip.contains('/') {
                ip.clone()
            } else {
                format!("{ip}/32")
            })
        }
        None => None,
    };
    let resource = opts.resource.as_deref().unwrap_or(&opts.url);
    if resource.len() > MAX_URL_LEN {
        return err("the resource is too long");
    }
    let custom = opts.not_before.is_some()
        || ip.is_some()
        || opts.resource.is_some()
        || opts.url.contains('*');
    let python = opts.hash == HashAlgorithm::Sha1;
    let mut s = String::from("{\"Statement\":[{\"Resource\":");
    json_string(&mut s, resource, python);
    let _ = write!(
        s,
        ",\"Condition\":{{\"DateLessThan\":{{\"AWS:EpochTime\":{expires}}}"
    );
    if custom {
        let ip_part = ip.map(|ip| {
            let mut p = String::from(",\"IpAddress\":{\"AWS:SourceIp\":");
            json_string(&mut p, &ip, python);
            p.push('}');
            p
        });
        let nb_part = opts
            .not_before
            .map(|nb| format!(",\"DateGreaterThan\":{{\"AWS:EpochTime\":{nb}}}"));
        let (a, b) = if python {
            (ip_part, nb_part)
        } else {
            (nb_part, ip_part)
        };
        s.push_str(&a.unwrap_or_default());
        s.push_str(&b.unwrap_or_default());
    }
    s.push_str("}}]}");
    Ok((s, !custom))
}

/// Writes `v` as a JSON string literal: like Python's `json.dumps` (ASCII only) when `python`,
/// else like JavaScript's `JSON.stringify`.
fn json_string(out: &mut String, v: &str, python: bool) {
    out.push('"');
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if python && !(' '..='~').contains(&c) => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Parses a time for `--expires`/`--not-before`: Unix seconds, RFC 3339
/// (`2030-01-01T00:00:00Z`, fractions truncated), or `+DURATION` after `now` with a unit of
/// `s`, `m`, `h`, `d` or `w` (`+90s`, `+30m`, `+1h`, `+7d`).
pub fn parse_time(s: &str, now: i64) -> Result<i64, SignError> {
    let bad = |why: &str| {
        SignError(format!(
            "bad time {s:?}: {why}; use Unix seconds (1893456000), RFC 3339 (2030-01-01T00:00:00Z) or +DURATION (+30m, +1h, +7d)"
        ))
    };
    if s.is_empty() || s.len() > MAX_TIME_LEN {
        return Err(bad("empty or too long"));
    }
    if let Some(d) = s.strip_prefix('+') {
        let split = d.find(|c: char| !c.is_ascii_digit()).unwrap_or(d.len());
        let (num, unit) = d.split_at(split);
        if num.is_empty() || num.len() > 12 {
            return Err(bad("the duration needs a number"));
        }
        let n: i64 = num
            .parse()
            .map_err(|_| bad("the duration is not a number"))?;
        let mult = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            "w" => 604_800,
            "" => return Err(bad("the duration needs a unit (s, m, h, d or w)")),
            _ => return Err(bad("unknown duration unit (use s, m, h, d or w)")),
        };
        return n
            .checked_mul(mult)
            .and_then(|x| x.checked_add(now))
            .ok_or_else(|| bad("the duration is too large"));
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().map_err(|_| bad("the number is too large"));
    }
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map(|t| t.unix_timestamp())
        .map_err(|e| bad(&format!("not RFC 3339 ({e})")))
}

/// Largest key or policy file read.
const MAX_FILE_LEN: u64 = 16 * 1024;

/// Reads a small text file (a PEM key or a policy), at most 16 KiB. A `file://` prefix, as the
/// AWS CLI takes it, is accepted. `what` names the file in errors.
pub fn read_small_file(path: &str, what: &str) -> Result<String, SignError> {
    use std::io::Read;
    let path = path.strip_prefix("file://").unwrap_or(path);
    let f = std::fs::File::open(path)
        .map_err(|e| SignError(format!("cannot read the {what} {path}: {e}")))?;
    let mut text = String::new();
    f.take(MAX_FILE_LEN + 1)
        .read_to_string(&mut text)
        .map_err(|e| SignError(format!("cannot read the {what} {path}: {e}")))?;
    if text.len() as u64 > MAX_FILE_LEN {
        return err(format!(
            "the {what} {path} is larger than {MAX_FILE_LEN} bytes; is it the right file?"
        ));
    }
    Ok(text)
}

/// Reads and parses a PEM private key file (see [`PrivateKey::from_pem`]).
pub fn read_private_key(path: &str) -> Result<PrivateKey, SignError> {
    let text = read_small_file(path, "private key")?;
    PrivateKey::from_pem(&text).map_err(|e| SignError(format!("{path}: {}", e.0)))
}

/// The algorithm of a key made by [`generate_key`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAlgorithm {
    /// RSA-2048; the private key is written as PKCS#1 (`RSA PRIVATE KEY`), which the AWS CLI's
    /// signer requires.
    Rsa,
    /// ECDSA P-256; the private key is written as SEC1 (`EC PRIVATE KEY`).
    Ecdsa,
}

impl std::str::FromStr for KeyAlgorithm {
    type Err = SignError;
    fn from_str(s: &str) -> Result<Self, SignError> {
        match s.to_ascii_lowercase().as_str() {
            "rsa" => Ok(KeyAlgorithm::Rsa),
            "ecdsa" | "ec" => Ok(KeyAlgorithm::Ecdsa),
            _ => err(format!("unknown key algorithm {s:?}: use rsa or ecdsa")),
        }
    }
}

/// A freshly generated key pair, PEM-encoded.
#[derive(Clone)]
pub struct KeyPair {
    /// The private key (PKCS#1 for RSA, SEC1 for ECDSA).
    pub private_pem: String,
    /// The public key as SubjectPublicKeyInfo (`PUBLIC KEY`), as CloudFront's `EncodedKey`.
    pub public_pem: String,
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPair")
            .field("public_pem", &self.public_pem)
            .finish_non_exhaustive()
    }
}

/// Generates a key pair with the operating system's random number generator.
pub fn generate_key(alg: KeyAlgorithm) -> Result<KeyPair, SignError> {
    let mut rng = rand_core::OsRng;
    let fail = |e: &dyn std::fmt::Display| SignError(format!("key generation failed: {e}"));
    match alg {
        KeyAlgorithm::Rsa => {
            let key = rsa::RsaPrivateKey::new(&mut rng, 2048).map_err(|e| fail(&e))?;
            let private = key.to_pkcs1_der().map_err(|e| fail(&e))?;
            let public = key
                .to_public_key()
                .to_public_key_der()
                .map_err(|e| fail(&e))?;
            Ok(KeyPair {
                private_pem: pem_encode("RSA PRIVATE KEY", private.as_bytes()),
                public_pem: pem_encode("PUBLIC KEY", public.as_bytes()),
            })
        }
        KeyAlgorithm::Ecdsa => {
            let key = p256::SecretKey::random(&mut rng);
            let private = key.to_sec1_der().map_err(|e| fail(&e))?;
            let public = key.public_key().to_public_key_der().map_err(|e| fail(&e))?;
            Ok(KeyPair {
                private_pem: pem_encode("EC PRIVATE KEY", &private),
                public_pem: pem_encode("PUBLIC KEY", public.as_bytes()),
            })
        }
    }
}

fn pem_encode(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    let _ = writeln!(out, "-----END {label}-----");
    out
}

/// Checks a key name for `--name`: 1-128 letters, digits, `-` or `_` (CloudFront's rule for
/// public key names).
pub fn check_key_name(name: &str) -> Result<(), SignError> {
    if name.is_empty()
        || name.len() > 128
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return err(format!(
            "key name {name:?} is invalid: use 1-128 letters, digits, '-' or '_'"
        ));
    }
    Ok(())
}

/// Writes `NAME-private.pem` (mode 0600) and `NAME-public.pem` into `dir`, refusing to
/// overwrite existing files. Returns both paths.
pub fn write_key_pair(
    dir: &Path,
    name: &str,
    pair: &KeyPair,
) -> Result<(PathBuf, PathBuf), SignError> {
    check_key_name(name)?;
    let private = dir.join(format!("{name}-private.pem"));
    let public = dir.join(format!("{name}-public.pem"));
    for p in [&private, &public] {
        if p.exists() {
            return err(format!(
                "{} already exists; choose another --name or --out-dir",
                p.display()
            ));
        }
    }
    write_new(&private, &pair.private_pem, 0o600)?;
    write_new(&public, &pair.public_pem, 0o644)?;
    Ok((private, public))
}

fn write_new(path: &Path, text: &str, mode: u32) -> Result<(), SignError> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut f = opts
        .open(path)
        .map_err(|e| SignError(format!("cannot create {}: {e}", path.display())))?;
    f.write_all(text.as_bytes())
        .map_err(|e| SignError(format!("cannot write {}: {e}", path.display())))
}

/// The JSON for `aws cloudfront create-public-key --public-key-config`.
pub fn public_key_config_json(name: &str, public_pem: &str, caller_reference: &str) -> String {
    let doc = serde_json::json!({
        "CallerReference": caller_reference,
        "Name": name,
        "EncodedKey": public_pem,
        "Comment": "created by edgegate keygen",
    });
    // Keys of a `json!` map are sorted; print them in CloudFront's documented order instead.
    let mut s = String::from("{\n");
    for (i, k) in ["CallerReference", "Name", "EncodedKey", "Comment"]
        .iter()
        .enumerate()
    {
        let sep = if i < 3 { "," } else { "" };
        let _ = writeln!(s, "  \"{k}\": {}{sep}", doc[*k]);
    }
    s.push_str("}\n");
    s
}

#[cfg(test)]
mod tests;
