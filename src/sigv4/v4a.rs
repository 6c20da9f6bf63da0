//! SigV4A verification: `Authorization: AWS4-ECDSA-P256-SHA256 Credential=…, SignedHeaders=…,
//! Signature=…`, as the AWS SDKs (through the CRT) sign `cloudfront-keyvaluestore`.
//!
//! SigV4A differs from SigV4 in three ways: the credential scope has no region
//! (`AKID/YYYYMMDD/service/aws4_request`; the regions are the signed `x-amz-region-set`
//! header, `*` here); the signature is an ECDSA P-256 signature over SHA-256 of the string to
//! sign, DER-encoded in hex; and the key pair is derived from the secret access key. The
//! derivation (AWS's SigV4A specification, NIST SP 800-108 KDF in counter mode with
//! HMAC-SHA256): for counter = 1, 2, …, 254, k = HMAC-SHA256(key = "AWS4A" + secret,
//! 0x00000001 ‖ "AWS4-ECDSA-P256-SHA256" ‖ 0x00 ‖ access key id ‖ counter ‖ 0x00000100); the
//! first k (a 256-bit big-endian number) not above n − 2 gives the private key k + 1, where n
//! is the order of P-256. The canonical request is SigV4's.

use http::{HeaderMap, Method, Uri};
use p256::elliptic_curve::PrimeField;
use p256::elliptic_curve::ops::MulByGenerator;
use time::{OffsetDateTime, PrimitiveDateTime};

use super::{
    AMZ_DATE, MAX_SKEW, MISMATCH, VerifyError, authorization, canonical_request, decode_hex,
    format_amz_date, hmac, request_time, sha256_hex, shorten,
};

/// The SigV4A algorithm name.
pub const ALGORITHM: &str = "AWS4-ECDSA-P256-SHA256";

/// The order of P-256 minus two, big-endian.
const N_MINUS_2: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x4f,
];

/// Whether an `Authorization` header value is a SigV4A one.
pub fn is_v4a(authorization: &str) -> bool {
    authorization.trim_start().starts_with(ALGORITHM)
}

/// The ECDSA P-256 key pair SigV4A derives from an access key: its public half.
pub fn derive_public_key(access_key_id: &str, secret: &str) -> Option<p256::ecdsa::VerifyingKey> {
    let secret_key = derive_secret(access_key_id, secret)?;
    let point = p256::ProjectivePoint::mul_by_generator(&secret_key);
    let public = p256::PublicKey::from_affine(point.into()).ok()?;
    Some(p256::ecdsa::VerifyingKey::from(public))
}

/// The private scalar of the derived key pair.
fn derive_secret(access_key_id: &str, secret: &str) -> Option<p256::Scalar> {
    let key = format!("AWS4A{secret}");
    let mut input = Vec::with_capacity(64 + access_key_id.len());
    for counter in 1u8..=254 {
        input.clear();
        input.extend_from_slice(&1u32.to_be_bytes());
        input.extend_from_slice(ALGORITHM.as_bytes());
        input.push(0);
        input.extend_from_slice(access_key_id.as_bytes());
        input.push(counter);
        input.extend_from_slice(&256u32.to_be_bytes());
        let k = hmac(key.as_bytes(), &input);
        // Big-endian byte strings of equal length compare as the numbers they encode.
        if k > N_MINUS_2 {
            continue;
        }
        let k: Option<p256::Scalar> = p256::Scalar::from_repr(k.into()).into();
        return Some(k? + p256::Scalar::ONE);
    }
    None
}

/// Verifies a SigV4A-signed request for `service`, with the same inputs and the same checks
/// (signed `host`, request time within 15 minutes of `now`, service in the scope) as
/// [`super::verify`]; the `x-amz-region-set` header must be signed too.
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
    let [access_key, date, cred_service, terminator] = cred[..] else {
        return Err(VerifyError::IncompleteSignature(format!(
            "Credential must have the form ACCESS_KEY_ID/YYYYMMDD/SERVICE/aws4_request, got '{}'. Authorization={}",
            auth.credential,
            shorten(raw)
        )));
    };
    for required in ["host", "x-amz-region-set"] {
        if !auth.signed_headers.iter().any(|h| h == required) {
            return Err(VerifyError::IncompleteSignature(format!(
                "'{required}' must be a 'SignedHeader' in the AWS Authorization."
            )));
        }
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
    if date != &amz_date[..8] {
        return Err(VerifyError::SignatureDoesNotMatch(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{date}' != '{}', from '{amz_date}'.",
            &amz_date[..8]
        )));
    }
    let secret = lookup(access_key).ok_or(VerifyError::InvalidClientTokenId)?;
    if when < now - MAX_SKEW || when > now + MAX_SKEW {
        return Err(VerifyError::SignatureDoesNotMatch(format!(
            "Signature expired or not yet current: {amz_date} is more than 15 minutes away from {}.",
            format_amz_date(now)
        )));
    }
    let signed: Vec<&str> = auth.signed_headers.iter().map(String::as_str).collect();
    let canonical = canonical_request(
        method,
        uri,
        headers,
        &signed,
        body_sha256_hex,
        service != "s3",
    );
    let to_sign = format!(
        "{ALGORITHM}\n{amz_date}\n{date}/{service}/aws4_request\n{}",
        sha256_hex(canonical.as_bytes())
    );
    let mismatch = || {
        tracing::debug!(canonical_request = %canonical, "SigV4A signature mismatch");
        VerifyError::SignatureDoesNotMatch(MISMATCH.to_owned())
    };
    let der = decode_hex(&auth.signature).ok_or_else(mismatch)?;
    let signature = p256::ecdsa::Signature::from_der(&der).map_err(|_| mismatch())?;
    let key = derive_public_key(access_key, &secret).ok_or_else(mismatch)?;
    use p256::ecdsa::signature::Verifier as _;
    key.verify(to_sign.as_bytes(), &signature)
        .map_err(|_| mismatch())
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::signature::Signer as _;

    /// Signs like an SDK would, with the derived private key.
    fn sign(akid: &str, secret: &str, headers: &mut HeaderMap, uri: &Uri, body: &[u8]) {
        let amz_date = "20260101T000000Z";
        headers.insert("host", "123456789012.localhost:8080".parse().unwrap());
        headers.insert("x-amz-date", amz_date.parse().unwrap());
        headers.insert("x-amz-region-set", "*".parse().unwrap());
        let signed = ["host", "x-amz-date", "x-amz-region-set"];
        let canonical =
            canonical_request(&Method::PUT, uri, headers, &signed, &sha256_hex(body), true);
        let to_sign = format!(
            "{ALGORITHM}\n{amz_date}\n20260101/cloudfront-keyvaluestore/aws4_request\n{}",
            sha256_hex(canonical.as_bytes())
        );
        let d = derive_secret(akid, secret).unwrap();
        let key = p256::ecdsa::SigningKey::from(p256::NonZeroScalar::new(d).unwrap());
        let sig: p256::ecdsa::Signature = key.sign(to_sign.as_bytes());
        let hex: String = sig
            .to_der()
            .as_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        headers.insert(
            http::header::AUTHORIZATION,
            format!(
                "{ALGORITHM} Credential={akid}/20260101/cloudfront-keyvaluestore/aws4_request, SignedHeaders={}, Signature={hex}",
                signed.join(";")
            )
            .parse()
            .unwrap(),
        );
    }

    #[test]
    fn a_signed_request_verifies_and_a_changed_one_does_not() {
        let uri: Uri = "/key-value-stores/arn%3Aaws%3Acloudfront%3A%3A123456789012%3Akey-value-store%2Fa/keys/k1"
            .parse()
            .unwrap();
        let mut h = HeaderMap::new();
        sign("AKID", "secret", &mut h, &uri, b"{\"Value\":\"v\"}");
        let now = time::macros::datetime!(2026-01-01 00:05 UTC);
        let lookup = |id: &str| (id == "AKID").then(|| "secret".to_owned());
        let body = sha256_hex(b"{\"Value\":\"v\"}");
        let svc = "cloudfront-keyvaluestore";
        assert_eq!(
            verify(&Method::PUT, &uri, &h, &body, lookup, svc, now),
            Ok(())
        );
        // Another body, another method, another secret, too late: refused.
        let other = sha256_hex(b"{\"Value\":\"w\"}");
        assert!(verify(&Method::PUT, &uri, &h, &other, lookup, svc, now).is_err());
        assert!(verify(&Method::DELETE, &uri, &h, &body, lookup, svc, now).is_err());
        let wrong = |id: &str| (id == "AKID").then(|| "other".to_owned());
        assert!(verify(&Method::PUT, &uri, &h, &body, wrong, svc, now).is_err());
        let late = time::macros::datetime!(2026-01-01 00:20 UTC);
        assert!(verify(&Method::PUT, &uri, &h, &body, lookup, svc, late).is_err());
        assert_eq!(
            verify(&Method::PUT, &uri, &h, &body, |_| None, svc, now),
            Err(VerifyError::InvalidClientTokenId)
        );
    }

    #[test]
    fn the_derived_key_is_stable_and_depends_on_both_halves() {
        let a =
            derive_public_key("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY").unwrap();
        let b =
            derive_public_key("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY").unwrap();
        assert_eq!(a, b);
        assert_ne!(
            a,
            derive_public_key("AKIDEXAMPLF", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY").unwrap()
        );
        assert_ne!(a, derive_public_key("AKIDEXAMPLE", "x").unwrap());
    }
}
