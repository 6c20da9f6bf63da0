//! Identifiers in CloudFront's shapes: resource ids, ETags, distribution domain names, request
//! ids (`X-Amz-Cf-Id`) and the `Via` host label.

use base64::Engine;

const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const LOWER: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

fn pick(alphabet: &[u8], n: usize) -> String {
    (0..n)
        .map(|_| char::from(alphabet[fastrand::usize(..alphabet.len())]))
        .collect()
}

/// A distribution id: `E` + 13 upper-case letters and digits (`E2QWRUHEXAMPLE`).
pub fn distribution_id() -> String {
    format!("E{}", pick(UPPER, 13))
}

/// An invalidation id: `I` + 14 upper-case letters and digits (`IDFDVBD632BHDS5`).
pub fn invalidation_id() -> String {
    format!("I{}", pick(UPPER, 14))
}

/// A public key id: `K` + 13 upper-case letters and digits (`K2JCJMDEHXQW5F`).
pub fn public_key_id() -> String {
    format!("K{}", pick(UPPER, 13))
}

/// A version tag for `ETag`/`If-Match`: `E` + 13 upper-case letters and digits.
pub fn etag() -> String {
    format!("E{}", pick(UPPER, 13))
}

/// A random UUID (v4 layout), as CloudFront uses for key groups and policies.
pub fn uuid() -> String {
    let mut b = [0u8; 16];
    fastrand::fill(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// A distribution domain name: `d` + 13 lower-case letters and digits + `.` + suffix.
pub fn domain_name(suffix: &str) -> String {
    format!("d{}.{suffix}", pick(LOWER, 13))
}

/// A request id as CloudFront sends it in `X-Amz-Cf-Id`: 40 random bytes in URL-safe base64 with
/// padding, 56 characters.
pub fn request_id() -> String {
    let mut b = [0u8; 40];
    fastrand::fill(&mut b);
    base64::engine::general_purpose::URL_SAFE.encode(b)
}

/// The 32 lower-case hex characters of this edge's `Via` label
/// (`1.1 {label}.cloudfront.net (CloudFront)`), derived from the edge location so that it is
/// stable across restarts of the same edge.
pub fn via_label(pop: &str) -> String {
    use sha2::Digest;
    let d = sha2::Sha256::digest(pop.as_bytes());
    d[..16].iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let d = distribution_id();
        assert_eq!(d.len(), 14);
        assert!(
            d.starts_with('E')
                && d.bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        );
        let n = domain_name("cloudfront.net");
        assert!(n.ends_with(".cloudfront.net") && n.len() == 14 + ".cloudfront.net".len());
        assert!(
            n[..14]
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        );
        let r = request_id();
        assert_eq!(r.len(), 56);
        assert!(r.ends_with("=="));
        assert!(!r.contains('+') && !r.contains('/'));
        let u = uuid();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert_eq!(via_label("IAD89-C1"), via_label("IAD89-C1"));
        assert_eq!(via_label("IAD89-C1").len(), 32);
        assert_ne!(distribution_id(), distribution_id());
    }
}
