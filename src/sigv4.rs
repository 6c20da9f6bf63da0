//! AWS Signature Version 4, both directions.
//!
//! * [`sign`] adds `x-amz-date`, `x-amz-content-sha256`,
//!   `x-amz-security-token` (when the credentials carry one) and `authorization` to an outgoing
//!   request. edgegate uses it to sign requests to S3 origins that have an origin access
//!   control.
//! * [`verify`] checks the `Authorization` header of an incoming
//!   request. The admin control plane uses it with service `cloudfront` (a global service
//!   whose clients sign in `us-east-1`; any region in the credential scope is accepted).
//!
//! The canonical request follows the AWS documentation ("Create a canonical request for
//! Signature Version 4"): the path is normalised and encoded a second time for every service
//! except S3, whose path is encoded exactly once and never normalised; the query is sorted by
//! encoded name then value; header values are trimmed with inner runs of spaces collapsed.
//! Presigned (query-string) requests are not verified.
//!
//! [`v4a`] verifies SigV4A (`AWS4-ECDSA-P256-SHA256`), which the SDKs use for
//! `cloudfront-keyvaluestore`.

use std::fmt;

use hmac::{Hmac, Mac};
use http::{HeaderMap, HeaderValue, Method, Uri, header};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use sha2::{Digest, Sha256};
use time::{
    Duration, OffsetDateTime, PrimitiveDateTime, format_description::FormatItem,
    macros::format_description,
};

/// SHA-256 of the empty string, the payload hash of a request without a body.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// The payload hash S3 accepts in place of a real one (`x-amz-content-sha256: UNSIGNED-PAYLOAD`).
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// The only algorithm this module speaks.
const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// How far the request time may be from the server's clock, either way.
const MAX_SKEW: Duration = Duration::minutes(15);

/// At most this many names in `SignedHeaders` (real clients sign fewer than ten).
const MAX_SIGNED_HEADERS: usize = 64;

/// `20150830T123600Z`: ISO 8601 basic format, as in `x-amz-date`.
const AMZ_DATE: &[FormatItem<'static>] =
    format_description!("[year][month][day]T[hour][minute][second]Z");

/// Characters left as they are by AWS's URI encoding: `A-Z a-z 0-9 - _ . ~`.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// [`UNRESERVED`] plus `/`, for paths.
const PATH_UNRESERVED: &AsciiSet = &UNRESERVED.remove(b'/');

/// An AWS access key pair, optionally with a session token (temporary credentials).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The access key ID, e.g. `AKIAIOSFODNN7EXAMPLE`.
    pub access_key_id: String,
    /// The secret access key. Never printed by `Debug`.
    pub secret_access_key: String,
    /// Session token of temporary credentials, sent as `x-amz-security-token`.
    pub session_token: Option<String>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// Lowercase hex SHA-256 of `data`, the form SigV4 uses for payload hashes.
pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

/// Signs a request in place for `service` in `region` at time `now`.
///
/// Adds `host` (from the URI when absent), `x-amz-date`, `x-amz-content-sha256` (set to
/// `payload_sha256_hex`, which may be [`UNSIGNED_PAYLOAD`] for S3), `x-amz-security-token` when
/// the credentials have a session token, and finally `authorization`. The signed headers are
/// `host`, `content-md5`, `range` and every `x-amz-*` header present. The path is encoded once
/// for service `s3` and normalised and encoded twice for any other service, as AWS specifies.
pub fn sign(
    parts: &mut http::request::Parts,
    creds: &Credentials,
    region: &str,
    service: &str,
    now: OffsetDateTime,
    payload_sha256_hex: &str,
) {
    let amz_date = format_amz_date(now);
    let scope = Scope {
        date: &amz_date[..8],
        region,
        service,
    };
    let headers = &mut parts.headers;
    if !headers.contains_key(header::HOST)
        && let Some(authority) = parts.uri.authority()
        && let Ok(v) = HeaderValue::from_str(authority.as_str())
    {
        headers.insert(header::HOST, v);
    }
    if let Ok(v) = HeaderValue::from_str(&amz_date) {
        headers.insert("x-amz-date", v);
    }
    if let Ok(v) = HeaderValue::from_str(payload_sha256_hex) {
        headers.insert("x-amz-content-sha256", v);
    }
    headers.remove("x-amz-security-token");
    if let Some(token) = &creds.session_token
        && let Ok(v) = HeaderValue::from_str(token)
    {
        headers.insert("x-amz-security-token", v);
    }
    headers.remove(header::AUTHORIZATION);

    let mut signed: Vec<String> = headers
        .keys()
        .map(|n| n.as_str())
        .filter(|n| matches!(*n, "host" | "content-md5" | "range") || n.starts_with("x-amz-"))
        .map(str::to_owned)
        .collect();
    signed.sort();
    signed.dedup();
    let signed_refs: Vec<&str> = signed.iter().map(String::as_str).collect();
    let canonical = canonical_request(
        &parts.method,
        &parts.uri,
        headers,
        &signed_refs,
        payload_sha256_hex,
        service != "s3",
    );
    let signature = signature(&creds.secret_access_key, &scope, &amz_date, &canonical);
    let value = format!(
        "{ALGORITHM} Credential={}/{}, SignedHeaders={}, Signature={signature}",
        creds.access_key_id,
        scope.string(),
        signed.join(";")
    );
    if let Ok(v) = HeaderValue::from_str(&value) {
        headers.insert(header::AUTHORIZATION, v);
    }
}

/// Why a request's signature was not accepted, with AWS's error code and a message like AWS's.
///
/// Every variant answers HTTP 403.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// No `Authorization` header at all.
    #[error("MissingAuthenticationToken: Missing Authentication Token")]
    MissingAuthenticationToken,
    /// The `Authorization` header or the date headers are malformed or incomplete.
    #[error("IncompleteSignature: {0}")]
    IncompleteSignature(String),
    /// The access key ID is not known.
    #[error("InvalidClientTokenId: The security token included in the request is invalid.")]
    InvalidClientTokenId,
    /// Wrong signature, wrong credential scope, or a request time more than 15 minutes away
    /// from the server's clock ("Signature expired: …").
    #[error("SignatureDoesNotMatch: {0}")]
    SignatureDoesNotMatch(String),
}

impl VerifyError {
    /// AWS's error code, e.g. `SignatureDoesNotMatch`.
    pub fn code(&self) -> &'static str {
        match self {
            VerifyError::MissingAuthenticationToken => "MissingAuthenticationToken",
            VerifyError::IncompleteSignature(_) => "IncompleteSignature",
            VerifyError::InvalidClientTokenId => "InvalidClientTokenId",
            VerifyError::SignatureDoesNotMatch(_) => "SignatureDoesNotMatch",
        }
    }

    /// The human-readable message that goes with [`code`](Self::code).
    pub fn message(&self) -> String {
        match self {
            VerifyError::MissingAuthenticationToken => "Missing Authentication Token".to_owned(),
            VerifyError::InvalidClientTokenId => {
                "The security token included in the request is invalid.".to_owned()
            }
            VerifyError::IncompleteSignature(m) | VerifyError::SignatureDoesNotMatch(m) => {
                m.clone()
            }
        }
    }

    /// The HTTP status AWS answers with (403 for all of these).
    pub fn status(&self) -> http::StatusCode {
        http::StatusCode::FORBIDDEN
    }
}

/// The standard text of a signature mismatch.
const MISMATCH: &str = "The request signature we calculated does not match the signature you provided. \
     Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";

/// Verifies the SigV4 `Authorization` header of a request for `service`.
///
/// `body_sha256_hex` is the hex SHA-256 of the request body as received (for S3, a request
/// whose `x-amz-content-sha256` is `UNSIGNED-PAYLOAD` is checked with that instead). `lookup`
/// maps an access key ID to its secret. Any region is accepted in the credential scope. The
/// request time (`x-amz-date`, else `Date`) must be within 15 minutes of `now`. The signature
/// is compared in constant time.
pub fn verify(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body_sha256_hex: &str,
    lookup: impl Fn(&str) -> Option<String>,
    service: &str,
    now: OffsetDateTime,
) -> Result<(), VerifyError> {
    let (raw, auth) = authorization(headers, ALGORITHM)?;

    let cred: Vec<&str> = auth.credential.split('/').collect();
    let [access_key, date, region, cred_service, terminator] = cred[..] else {
        return Err(VerifyError::IncompleteSignature(format!(
            "Credential must have the form ACCESS_KEY_ID/YYYYMMDD/REGION/SERVICE/aws4_request, got '{}'. Authorization={}",
            auth.credential,
            shorten(raw)
        )));
    };
    if !auth.signed_headers.iter().any(|h| h == "host") {
        return Err(VerifyError::IncompleteSignature(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.".to_owned(),
        ));
    }

    let amz_date = request_time(headers, raw)?;
    let Ok(when) = PrimitiveDateTime::parse(&amz_date, AMZ_DATE) else {
        return Err(VerifyError::IncompleteSignature(format!(
            "Date must be in ISO-8601 'basic format'. Got '{amz_date}'."
        )));
    };
    let when = when.assume_utc();

    if terminator != "aws4_request" {
        return Err(VerifyError::SignatureDoesNotMatch(format!(
            "Credential should be scoped with a valid terminator: 'aws4_request', not '{terminator}'."
        )));
    }
    if cred_service != service {
        return Err(VerifyError::SignatureDoesNotMatch(format!(
            "Credential should be scoped to correct service: '{service}'."
        )));
    }
    if region.is_empty()
        || !region
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(VerifyError::SignatureDoesNotMatch(
            "Credential should be scoped to a valid region.".to_owned(),
        ));
    }
    if date != &amz_date[..8] {
        return Err(VerifyError::SignatureDoesNotMatch(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{date}' != '{}', from '{amz_date}'.",
            &amz_date[..8]
        )));
    }

    let secret = lookup(access_key).ok_or(VerifyError::InvalidClientTokenId)?;

    if when < now - MAX_SKEW {
        return Err(VerifyError::SignatureDoesNotMatch(format!(
            "Signature expired: {amz_date} is now earlier than {} ({} - 15 min.)",
            format_amz_date(now - MAX_SKEW),
            format_amz_date(now)
        )));
    }
    if when > now + MAX_SKEW {
        return Err(VerifyError::SignatureDoesNotMatch(format!(
            "Signature not yet current: {amz_date} is still later than {} ({} + 15 min.)",
            format_amz_date(now + MAX_SKEW),
            format_amz_date(now)
        )));
    }

    let payload = match headers.get("x-amz-content-sha256") {
        Some(v) if service == "s3" && v.as_bytes() == UNSIGNED_PAYLOAD.as_bytes() => {
            UNSIGNED_PAYLOAD
        }
        _ => body_sha256_hex,
    };
    let signed: Vec<&str> = auth.signed_headers.iter().map(String::as_str).collect();
    let canonical = canonical_request(method, uri, headers, &signed, payload, service != "s3");
    let scope = Scope {
        date,
        region,
        service,
    };
    let key = signing_key(&secret, &scope);
    let provided = decode_hex(&auth.signature)
        .ok_or_else(|| VerifyError::SignatureDoesNotMatch(MISMATCH.to_owned()))?;
    let mut mac = new_mac(&key);
    mac.update(string_to_sign(&scope, &amz_date, &canonical).as_bytes());
    // `verify_slice` compares in constant time.
    mac.verify_slice(&provided).map_err(|_| {
        tracing::debug!(canonical_request = %canonical, "SigV4 signature mismatch");
        VerifyError::SignatureDoesNotMatch(MISMATCH.to_owned())
    })
}

/// The parts of an `Authorization: AWS4-HMAC-SHA256 ...` header.
struct Authorization {
    credential: String,
    signed_headers: Vec<String>,
    signature: String,
}

/// The request's `Authorization` header, as text and parsed for the `expected` algorithm.
fn authorization<'h>(
    headers: &'h HeaderMap,
    expected: &str,
) -> Result<(&'h str, Authorization), VerifyError> {
    let raw = headers
        .get(header::AUTHORIZATION)
        .ok_or(VerifyError::MissingAuthenticationToken)?;
    let raw = raw.to_str().map_err(|_| {
        VerifyError::IncompleteSignature("Authorization header is not valid ASCII.".to_owned())
    })?;
    Ok((raw, parse_authorization(raw, expected)?))
}

/// Parses `{expected} Credential=..., SignedHeaders=..., Signature=...`, where `expected` is
/// the algorithm (`AWS4-HMAC-SHA256`, or SigV4A's `AWS4-ECDSA-P256-SHA256`).
fn parse_authorization(raw: &str, expected: &str) -> Result<Authorization, VerifyError> {
    let raw_trimmed = raw.trim();
    let (algorithm, rest) = raw_trimmed.split_once(' ').unwrap_or((raw_trimmed, ""));
    if algorithm != expected {
        return Err(VerifyError::IncompleteSignature(format!(
            "Unsupported AWS 'algorithm': '{}'; only '{expected}' is supported.",
            shorten(algorithm)
        )));
    }
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let Some((k, v)) = part.trim().split_once('=') else {
            continue;
        };
        match k.trim() {
            "Credential" => credential = Some(v.trim().to_owned()),
            "SignedHeaders" => signed = Some(v.trim().to_owned()),
            "Signature" => signature = Some(v.trim().to_owned()),
            _ => {}
        }
    }
    let mut missing = String::new();
    for (name, value) in [
        ("Credential", &credential),
        ("Signature", &signature),
        ("SignedHeaders", &signed),
    ] {
        if value.as_deref().is_none_or(str::is_empty) {
            missing.push_str(&format!(
                "Authorization header requires '{name}' parameter. "
            ));
        }
    }
    let (Some(credential), Some(signed), Some(signature)) = (credential, signed, signature) else {
        return Err(VerifyError::IncompleteSignature(format!(
            "{missing}Authorization={}",
            shorten(raw)
        )));
    };
    if !missing.is_empty() {
        return Err(VerifyError::IncompleteSignature(format!(
            "{missing}Authorization={}",
            shorten(raw)
        )));
    }
    let signed_headers: Vec<String> = signed
        .split(';')
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    if signed_headers.len() > MAX_SIGNED_HEADERS || signed_headers.iter().any(String::is_empty) {
        return Err(VerifyError::IncompleteSignature(format!(
            "SignedHeaders must be 1 to {MAX_SIGNED_HEADERS} header names separated by ';'."
        )));
    }
    Ok(Authorization {
        credential,
        signed_headers,
        signature,
    })
}

/// The request time in `x-amz-date` form, from `x-amz-date` or else `Date`.
fn request_time(headers: &HeaderMap, raw_auth: &str) -> Result<String, VerifyError> {
    if let Some(v) = headers.get("x-amz-date") {
        return v.to_str().map(str::to_owned).map_err(|_| {
            VerifyError::IncompleteSignature("X-Amz-Date is not valid ASCII.".to_owned())
        });
    }
    if let Some(v) = headers.get(header::DATE) {
        let parsed = v
            .to_str()
            .ok()
            .and_then(|s| httpdate::parse_http_date(s).ok());
        return match parsed {
            Some(t) => Ok(format_amz_date(OffsetDateTime::from(t))),
            None => Err(VerifyError::IncompleteSignature(
                "Date header is not an HTTP date.".to_owned(),
            )),
        };
    }
    Err(VerifyError::IncompleteSignature(format!(
        "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization={}",
        shorten(raw_auth)
    )))
}

/// Caps echoed client input at a readable length.
fn shorten(s: &str) -> String {
    if s.len() <= 300 {
        return s.to_owned();
    }
    let mut end = 300;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

/// `YYYYMMDD/region/service`: the credential scope without its terminator.
struct Scope<'a> {
    date: &'a str,
    region: &'a str,
    service: &'a str,
}

impl Scope<'_> {
    fn string(&self) -> String {
        format!(
            "{}/{}/{}/aws4_request",
            self.date, self.region, self.service
        )
    }
}

/// `20150830T123600Z` for `now` (in UTC).
fn format_amz_date(now: OffsetDateTime) -> String {
    let utc = now.to_offset(time::UtcOffset::UTC);
    utc.format(AMZ_DATE)
        .unwrap_or_else(|_| "19700101T000000Z".to_owned())
}

/// The canonical request. `double_encode` selects the rules of every service but S3.
fn canonical_request(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    signed_headers: &[&str],
    payload_hash: &str,
    double_encode: bool,
) -> String {
    let mut out = String::with_capacity(256);
    out.push_str(method.as_str());
    out.push('\n');
    out.push_str(&canonical_path(uri.path(), double_encode));
    out.push('\n');
    out.push_str(&canonical_query(uri.query().unwrap_or("")));
    out.push('\n');
    for name in signed_headers {
        out.push_str(name);
        out.push(':');
        let mut first = true;
        for value in headers.get_all(*name) {
            if !first {
                out.push(',');
            }
            first = false;
            out.push_str(&canonical_header_value(value.as_bytes()));
        }
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&signed_headers.join(";"));
    out.push('\n');
    out.push_str(payload_hash);
    out
}

/// The canonical URI of `path` (as sent, percent-encoded).
///
/// S3: each segment is decoded and encoded once, nothing else. Other services: dot segments
/// and empty segments are removed, and the path as sent is encoded once more.
fn canonical_path(path: &str, double_encode: bool) -> String {
    if path.is_empty() {
        return "/".to_owned();
    }
    if !double_encode {
        return path
            .split('/')
            .map(|seg| {
                let raw: Vec<u8> = percent_decode_str(seg).collect();
                percent_encoding::percent_encode(&raw, UNRESERVED).to_string()
            })
            .collect::<Vec<_>>()
            .join("/");
    }
    let mut kept: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                kept.pop();
            }
            s => kept.push(s),
        }
    }
    let mut normalized = format!("/{}", kept.join("/"));
    if path.ends_with('/') && !kept.is_empty() {
        normalized.push('/');
    }
    utf8_percent_encode(&normalized, PATH_UNRESERVED).to_string()
}

/// The canonical query: each name and value decoded then encoded, sorted by name then value.
fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (aws_encode(k), aws_encode(v))
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// Decodes `%XX` escapes (not `+`) and encodes with AWS's unreserved set.
fn aws_encode(s: &str) -> String {
    let raw: Vec<u8> = percent_decode_str(s).collect();
    percent_encoding::percent_encode(&raw, UNRESERVED).to_string()
}

/// A header value trimmed, with runs of spaces collapsed to one.
fn canonical_header_value(v: &[u8]) -> String {
    let s = String::from_utf8_lossy(v);
    let mut out = String::with_capacity(s.len());
    for word in s.split([' ', '\t']).filter(|w| !w.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

fn string_to_sign(scope: &Scope<'_>, amz_date: &str, canonical: &str) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{}\n{}",
        scope.string(),
        sha256_hex(canonical.as_bytes())
    )
}

fn new_mac(key: &[u8]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length; this cannot fail.
    <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"))
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = new_mac(key);
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// The derived signing key: HMAC chain over date, region, service and `aws4_request`.
fn signing_key(secret: &str, scope: &Scope<'_>) -> [u8; 32] {
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), scope.date.as_bytes());
    let k_region = hmac(&k_date, scope.region.as_bytes());
    let k_service = hmac(&k_region, scope.service.as_bytes());
    hmac(&k_service, b"aws4_request")
}

/// Hex signature of a canonical request.
fn signature(secret: &str, scope: &Scope<'_>, amz_date: &str, canonical: &str) -> String {
    let key = signing_key(secret, scope);
    hex(&hmac(
        &key,
        string_to_sign(scope, amz_date, canonical).as_bytes(),
    ))
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    s
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || s.len() > 144 {
        return None;
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    s.as_bytes()
        .chunks(2)
        .map(|p| Some(nibble(p[0])? << 4 | nibble(p[1])?))
        .collect()
}

pub mod v4a;

#[cfg(test)]
mod tests;
