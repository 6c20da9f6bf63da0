//! CloudFront's base64 alphabet (signed-urls.md §3): standard padded base64 with `+` → `-`,
//! `=` → `_` and `/` → `~`. This is not RFC 4648 base64url, where `_` stands for `/`.
//!
//! Decoding accepts missing padding (the guide's own `Policy` example has none), and nothing
//! else: a standard `+`, `/` or `=`, whitespace, or base64url's `_` in the middle of the value is
//! an error.

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// Standard alphabet; padding optional but, when present, canonical.
const STANDARD_LENIENT_PAD: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Decodes a CloudFront-base64 value. Returns `None` for any character outside the CloudFront
/// alphabet, for misplaced padding, or when the decoded bytes would exceed `max_decoded` (checked
/// before decoding, so an oversized value costs no work).
pub(crate) fn decode(value: &str, max_decoded: usize) -> Option<Vec<u8>> {
    // 4 characters carry 3 bytes; reject early on length alone.
    if value.len() / 4 * 3 > max_decoded.saturating_add(3) {
        return None;
    }
    let mut std = String::with_capacity(value.len());
    for c in value.chars() {
        std.push(match c {
            'A'..='Z' | 'a'..='z' | '0'..='9' => c,
            '-' => '+',
            '~' => '/',
            '_' => '=',
            _ => return None,
        });
    }
    let out = STANDARD_LENIENT_PAD.decode(std.as_bytes()).ok()?;
    (out.len() <= max_decoded).then_some(out)
}

/// Encodes bytes in CloudFront-base64 (padded), as every official signer does (§3).
pub(crate) fn encode(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD
        .encode(bytes)
        .chars()
        .map(|c| match c {
            '+' => '-',
            '/' => '~',
            '=' => '_',
            c => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_guide_cookie_example() {
        let v = "eyJTdGF0ZW1lbnQiOlt7IlJlc291cmNlIjoiaHR0cHM6Ly9kMTExMTExYWJjZGVmOC5jbG91ZGZyb250Lm5ldC94LyoiLCJDb25kaXRpb24iOnsiRGF0ZUxlc3NUaGFuIjp7IkFXUzpFcG9jaFRpbWUiOjE4OTM0NTYwMDB9fX1dfQ__";
        let out = decode(v, 8192).unwrap();
        assert_eq!(
            out,
            br#"{"Statement":[{"Resource":"https://d111111abcdef8.cloudfront.net/x/*","Condition":{"DateLessThan":{"AWS:EpochTime":1893456000}}}]}"#
        );
    }

    #[test]
    fn round_trips_and_maps_all_three_characters() {
        let bytes: Vec<u8> = vec![0xfb, 0xff, 0xbf, 0x00];
        let e = encode(&bytes);
        assert_eq!(e, "-~-~AA__");
        assert_eq!(decode(&e, 16).unwrap(), bytes);
        // Missing padding is accepted.
        assert_eq!(decode("-~-~AA", 16).unwrap(), bytes);
    }

    #[test]
    fn rejects_other_alphabets_and_junk() {
        assert!(decode("+/+/AA==", 16).is_none()); // standard alphabet
        assert!(decode("ab_c", 16).is_none()); // base64url `_` in the middle
        assert!(decode("ab c", 16).is_none());
        assert!(decode("abü", 16).is_none());
        assert!(decode("A", 16).is_none());
    }

    #[test]
    fn enforces_the_size_cap() {
        let e = encode(&[7u8; 100]);
        assert!(decode(&e, 99).is_none());
        assert_eq!(decode(&e, 100).unwrap().len(), 100);
        assert!(decode(&"A".repeat(1 << 20), 8192).is_none());
    }
}
