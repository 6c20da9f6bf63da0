//! Custom policies (signed-urls.md §5): parsing the decoded `Policy` bytes and evaluating the
//! conditions. The signature is always checked over the exact bytes; this module only reads them.
//!
//! Parsing is strict about structure and bounded: at most [`MAX_POLICY_BYTES`] of UTF-8, at most
//! [`MAX_DEPTH`] nested arrays/objects, field names exactly as CloudFront spells them, no unknown
//! or duplicate fields, exactly one statement (a one-element array or a bare object), a required
//! integer `DateLessThan`, and an IPv4 `AWS:SourceIp`.

use std::net::{IpAddr, Ipv4Addr};

use serde::Deserialize;

/// Largest decoded policy accepted (bytes).
pub(crate) const MAX_POLICY_BYTES: usize = 8 * 1024;
/// Deepest nesting of arrays and objects accepted; a valid policy needs 5.
pub(crate) const MAX_DEPTH: usize = 8;

/// A parsed custom policy: the one statement's resource and conditions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Policy {
    /// `Resource`; `None` when omitted (matches any URL).
    pub(crate) resource: Option<String>,
    /// `DateLessThan`: the request time must be strictly before it.
    pub(crate) date_less_than: i64,
    /// `DateGreaterThan`: the request time must be strictly after it.
    pub(crate) date_greater_than: Option<i64>,
    /// `IpAddress.AWS:SourceIp` as (network, prefix length).
    pub(crate) source_ip: Option<(Ipv4Addr, u8)>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Doc {
    #[serde(rename = "Statement")]
    statement: OneOrMany,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(Statement),
    Many(Vec<Statement>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Statement {
    #[serde(rename = "Resource")]
    resource: Option<String>,
    #[serde(rename = "Condition")]
    condition: Condition,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Condition {
    #[serde(rename = "DateLessThan")]
    date_less_than: Option<Epoch>,
    #[serde(rename = "DateGreaterThan")]
    date_greater_than: Option<Epoch>,
    #[serde(rename = "IpAddress")]
    ip_address: Option<SourceIp>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Epoch {
    #[serde(rename = "AWS:EpochTime")]
    epoch: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceIp {
    #[serde(rename = "AWS:SourceIp")]
    cidr: String,
}

/// Why a custom policy is refused. The text is for logs and the `sign` command; a viewer sees
/// only `MalformedPolicy`.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PolicyError {
    /// Over [`MAX_POLICY_BYTES`].
    #[error("policy is {len} bytes, over the {MAX_POLICY_BYTES}-byte limit")]
    TooLarge {
        /// The policy's length in bytes.
        len: usize,
    },
    /// Not UTF-8.
    #[error("policy is not UTF-8")]
    NotUtf8,
    /// Nested deeper than [`MAX_DEPTH`].
    #[error("policy is nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
    /// Not JSON of the policy's shape (unknown, misspelt or duplicate fields included).
    #[error("policy JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// Not exactly one statement.
    #[error("policy has {0} statements; exactly one is allowed")]
    Statements(usize),
    /// The required `DateLessThan` is missing.
    #[error("policy has no DateLessThan condition")]
    NoDateLessThan,
    /// `AWS:SourceIp` is not an IPv4 address or range.
    #[error(transparent)]
    SourceIp(#[from] CidrError),
}

/// Why an `AWS:SourceIp` value is refused; each variant carries the value as given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum CidrError {
    /// The prefix length is empty, signed, or not a number.
    #[error("bad prefix length in {0:?}")]
    BadPrefix(String),
    /// The prefix length is over 32.
    #[error("prefix length over 32 in {0:?}")]
    PrefixTooLong(String),
    /// The address is not IPv4.
    #[error("AWS:SourceIp {0:?} is not an IPv4 address or CIDR range")]
    NotIpv4(String),
}

/// Parses decoded policy bytes. `Err` carries a reason for logs; the viewer sees only
/// `MalformedPolicy`.
pub(crate) fn parse(bytes: &[u8]) -> Result<Policy, PolicyError> {
    if bytes.len() > MAX_POLICY_BYTES {
        return Err(PolicyError::TooLarge { len: bytes.len() });
    }
    let text = std::str::from_utf8(bytes).map_err(|_| PolicyError::NotUtf8)?;
    check_depth(text)?;
    let doc: Doc = serde_json::from_str(text)?;
    let statement = match doc.statement {
        OneOrMany::One(s) => s,
        OneOrMany::Many(mut v) => {
            if v.len() != 1 {
                return Err(PolicyError::Statements(v.len()));
            }
            v.remove(0)
        }
    };
    let c = statement.condition;
    let date_less_than = c.date_less_than.ok_or(PolicyError::NoDateLessThan)?.epoch;
    let source_ip = match c.ip_address {
        None => None,
        Some(s) => Some(parse_cidr(&s.cidr)?),
    };
    Ok(Policy {
        resource: statement.resource,
        date_less_than,
        date_greater_than: c.date_greater_than.map(|e| e.epoch),
        source_ip,
    })
}

/// Refuses JSON nested deeper than [`MAX_DEPTH`] before handing it to the parser.
fn check_depth(text: &str) -> Result<(), PolicyError> {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for b in text.bytes() {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(PolicyError::TooDeep);
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Parses `a.b.c.d/n` (or a bare address, taken as `/32`). IPv6 is not supported by CloudFront.
pub(crate) fn parse_cidr(s: &str) -> Result<(Ipv4Addr, u8), CidrError> {
    let (addr, len) = match s.split_once('/') {
        Some((a, l)) => {
            let len: u8 = if !l.is_empty() && l.len() <= 2 && l.bytes().all(|b| b.is_ascii_digit())
            {
                l.parse().map_err(|_| CidrError::BadPrefix(s.to_owned()))?
            } else {
                return Err(CidrError::BadPrefix(s.to_owned()));
            };
            (a, len)
        }
        None => (s, 32),
    };
    if len > 32 {
        return Err(CidrError::PrefixTooLong(s.to_owned()));
    }
    let addr: Ipv4Addr = addr.parse().map_err(|_| CidrError::NotIpv4(s.to_owned()))?;
    Ok((addr, len))
}

/// Whether the viewer address is inside the range. IPv4-mapped IPv6 addresses count as IPv4;
/// any other IPv6 viewer never matches (§13 choice 19).
pub(crate) fn ip_matches(range: (Ipv4Addr, u8), viewer: IpAddr) -> bool {
    let v4 = match viewer {
        IpAddr::V4(v) => v,
        IpAddr::V6(v) => match v.to_ipv4_mapped() {
            Some(v) => v,
            None => return false,
        },
    };
    let mask = if range.1 == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(range.1))
    };
    u32::from(v4) & mask == u32::from(range.0) & mask
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_full_template_in_any_condition_order() {
        let p = parse(br#"{"Statement":[{"Resource":"https://h/x/*","Condition":{"IpAddress":{"AWS:SourceIp":"192.0.2.0/24"},"DateGreaterThan":{"AWS:EpochTime":100},"DateLessThan":{"AWS:EpochTime":200}}}]}"#).unwrap();
        assert_eq!(
            p,
            Policy {
                resource: Some("https://h/x/*".into()),
                date_less_than: 200,
                date_greater_than: Some(100),
                source_ip: Some((Ipv4Addr::new(192, 0, 2, 0), 24)),
            }
        );
    }

    #[test]
    fn accepts_whitespace_crlf_and_a_bare_statement_object() {
        let p = parse(b"{ \r\n   \"Statement\": { \r\n \"Condition\":{\"DateLessThan\":{\"AWS:EpochTime\":5}}}}\r\n").unwrap();
        assert_eq!(p.resource, None);
        assert_eq!(p.date_less_than, 5);
    }

    #[test]
    fn refuses_structural_problems() {
        for bad in [
            &br#"{"Statement":[{"Resource":"x","Condition":{}}]}"#[..],
            br#"{"Statement":[]}"#,
            br#"{"Statement":[{"Condition":{"DateLessThan":{"AWS:EpochTime":5}}},{"Condition":{"DateLessThan":{"AWS:EpochTime":5}}}]}"#,
            br#"{"Statement":[{"Condition":{"DateLessThan":{"AWS:EpochTime":"5"}}}]}"#,
            br#"{"Statement":[{"Condition":{"DateLessThan":{"AWS:EpochTime":5.5}}}]}"#,
            br#"{"Statement":[{"Condition":{"DateLessThan":{"AWS:EpochTime":99999999999999999999}}}]}"#,
            br#"{"Statement":[{"Condition":{"DateLessThan":{"AWS:EpochTime":5},"DateLessThan":{"AWS:EpochTime":9}}}]}"#,
            br#"{"Statement":[{"Condition":{"DateLessThan":{"AWS:EpochTime":5},"IpAdress":{"AWS:SourceIp":"1.2.3.4/32"}}}]}"#,
            br#"{"Statement":[{"Condition":{"DateLessThan":{"AWS:EpochTime":5},"IpAddress":{"AWS:SourceIp":"2001:db8::/32"}}}]}"#,
            br#"{"Statement":[{"Condition":{"DateLessThan":{"AWS:EpochTime":5},"IpAddress":{"AWS:SourceIp":"1.2.3.4/33"}}}]}"#,
            br#"{"Statement":[{"Condition":{"DateLessThan":{"AWS:EpochTime":5}}}]} trailing"#,
            br#"{"statement":[{"Condition":{"DateLessThan":{"AWS:EpochTime":5}}}]}"#,
            b"not json",
            b"",
            b"\xff\xfe",
        ] {
            assert!(parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn bounds_size_and_depth() {
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let e = parse(&deep.as_bytes()[..MAX_POLICY_BYTES]).unwrap_err();
        assert!(matches!(e, PolicyError::TooDeep), "{e}");
        assert_eq!(e.to_string(), "policy is nested deeper than 8 levels");
        let big = vec![b' '; MAX_POLICY_BYTES + 1];
        let e = parse(&big).unwrap_err();
        assert!(matches!(e, PolicyError::TooLarge { len } if len == MAX_POLICY_BYTES + 1));
        assert!(e.to_string().contains("limit"), "{e}");
        // Brackets inside strings do not count.
        let p = format!(
            r#"{{"Statement":[{{"Resource":"https://h/{}","Condition":{{"DateLessThan":{{"AWS:EpochTime":5}}}}}}]}}"#,
            "[{".repeat(50)
        );
        assert!(parse(p.as_bytes()).is_ok());
    }

    #[test]
    fn cidr_matching() {
        let r = parse_cidr("192.0.2.0/24").unwrap();
        assert!(ip_matches(r, "192.0.2.77".parse().unwrap()));
        assert!(!ip_matches(r, "192.0.3.1".parse().unwrap()));
        assert!(ip_matches(r, "::ffff:192.0.2.9".parse().unwrap()));
        assert!(!ip_matches(r, "2001:db8::1".parse().unwrap()));
        let one = parse_cidr("203.0.113.5").unwrap();
        assert_eq!(one, (Ipv4Addr::new(203, 0, 113, 5), 32));
        assert!(ip_matches(one, "203.0.113.5".parse().unwrap()));
        assert!(!ip_matches(one, "203.0.113.6".parse().unwrap()));
        assert!(ip_matches(
            parse_cidr("0.0.0.0/0").unwrap(),
            "8.8.8.8".parse().unwrap()
        ));
        assert_eq!(
            parse_cidr("1.2.3.4/"),
            Err(CidrError::BadPrefix("1.2.3.4/".into()))
        );
        assert_eq!(
            parse_cidr("1.2.3.4/33").unwrap_err().to_string(),
            "prefix length over 32 in \"1.2.3.4/33\""
        );
        assert!(parse_cidr("1.2.3.4/+1").is_err());
        assert!(parse_cidr("1.2.3/8").is_err());
    }
}
