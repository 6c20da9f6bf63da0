//! Small validated value types used by the settings: byte sizes, billing regions, CIDR blocks
//! and admin credentials. Each parses from the text a person writes on the command line, in the
//! config file or in an `EDGEGATE_*` variable, and says what is wrong when it cannot.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// A value a person wrote that cannot be read; the message says what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ValueError(String);

/// A size in bytes, written as a plain number or with a unit: `512MiB`, `2GiB`, `64KiB`, `1GB`.
/// Binary units (KiB, MiB, GiB, TiB) are powers of 1024, decimal ones (KB, MB, GB, TB) of 1000.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl FromStr for ByteSize {
    type Err = ValueError;

    fn from_str(s: &str) -> Result<Self, ValueError> {
        let t = s.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let n: u64 = num
            .parse()
            .map_err(|_| ValueError(format!("{s:?} is not a size: expected a number with an optional unit such as 512MiB or 2GiB")))?;
        let mult: u64 = match unit.trim() {
            "" | "B" => 1,
            "KiB" | "K" | "k" => 1 << 10,
            "MiB" | "M" => 1 << 20,
            "GiB" | "G" => 1 << 30,
            "TiB" | "T" => 1 << 40,
            "KB" | "kB" => 1_000,
            "MB" => 1_000_000,
            "GB" => 1_000_000_000,
            "TB" => 1_000_000_000_000,
            other => {
                return Err(ValueError(format!(
                    "{s:?} has an unknown unit {other:?}: use B, KiB, MiB, GiB, TiB, KB, MB, GB or TB"
                )));
            }
        };
        n.checked_mul(mult)
            .map(ByteSize)
            .ok_or_else(|| ValueError(format!("{s:?} is too large")))
    }
}

/// The CloudFront billing region of this edge: the two-letter prefix of its usage types
/// (`US-DataTransfer-Out-Bytes`). CloudFront bills by the edge that served, not by the viewer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum BillingRegion {
    /// Asia Pacific (Hong Kong, Philippines, South Korea, Taiwan, Singapore, …)
    Ap,
    /// Australia and New Zealand
    Au,
    /// Canada
    Ca,
    /// Europe and Israel
    Eu,
    /// India
    In,
    /// Japan
    Jp,
    /// Middle East
    Me,
    /// South America
    Sa,
    /// United States (and, by assumption, Mexico)
    #[default]
    Us,
    /// South Africa
    Za,
}

impl BillingRegion {
    /// Every region, in the order CloudFront's documentation lists them.
    pub const ALL: [BillingRegion; 10] = [
        Self::Us,
        Self::Ca,
        Self::Eu,
        Self::Za,
        Self::Me,
        Self::Sa,
        Self::Jp,
        Self::Au,
        Self::Ap,
        Self::In,
    ];

    /// The two-letter code, as in usage types.
    pub fn code(self) -> &'static str {
        match self {
            Self::Ap => "AP",
            Self::Au => "AU",
            Self::Ca => "CA",
            Self::Eu => "EU",
            Self::In => "IN",
            Self::Jp => "JP",
            Self::Me => "ME",
            Self::Sa => "SA",
            Self::Us => "US",
            Self::Za => "ZA",
        }
    }
}

impl fmt::Display for BillingRegion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for BillingRegion {
    type Err = ValueError;

    fn from_str(s: &str) -> Result<Self, ValueError> {
        Self::ALL
            .into_iter()
            .find(|r| r.code().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                ValueError(format!("{s:?} is not a billing region: use one of US, CA, EU, ZA, ME, SA, JP, AU, AP, IN"))
            })
    }
}

/// An IPv4 or IPv6 network in CIDR notation (`10.0.0.0/8`, `::1/128`); a bare address is a /32
/// or /128.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Whether `ip` lies inside this network. IPv4-mapped IPv6 addresses match IPv4 networks.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = ValueError;

    fn from_str(s: &str) -> Result<Self, ValueError> {
        let t = s.trim();
        let (a, p) = match t.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (t, None),
        };
        let addr: IpAddr = a.parse().map_err(|_| {
            ValueError(format!(
                "{s:?} is not a CIDR block such as 10.0.0.0/8 or ::1/128"
            ))
        })?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            None => max,
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(|| {
                ValueError(format!("{s:?} has an invalid prefix length (0 to {max})"))
            })?,
        };
        Ok(Cidr { addr, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// The access key id and secret that control-plane requests must be SigV4-signed with.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminCredentials {
    /// The access key id (`AKIA…` or any non-empty string without `:`).
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: String,
}

impl fmt::Debug for AdminCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .finish()
    }
}

impl FromStr for AdminCredentials {
    type Err = ValueError;

    fn from_str(s: &str) -> Result<Self, ValueError> {
        match s.split_once(':') {
            Some((id, secret)) if !id.is_empty() && !secret.is_empty() => Ok(Self {
                access_key_id: id.to_owned(),
                secret_access_key: secret.to_owned(),
            }),
            _ => Err(ValueError(
                "admin credentials must be written ACCESS_KEY_ID:SECRET".to_owned(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!("512MiB".parse::<ByteSize>(), Ok(ByteSize(512 << 20)));
        assert_eq!("2GiB".parse::<ByteSize>(), Ok(ByteSize(2 << 30)));
        assert_eq!("1000".parse::<ByteSize>(), Ok(ByteSize(1000)));
        assert_eq!("3GB".parse::<ByteSize>(), Ok(ByteSize(3_000_000_000)));
        assert!(
            "12XB"
                .parse::<ByteSize>()
                .unwrap_err()
                .to_string()
                .contains("unknown unit")
        );
        assert!("".parse::<ByteSize>().is_err());
        assert!(
            "99999999999TiB"
                .parse::<ByteSize>()
                .unwrap_err()
                .to_string()
                .contains("too large")
        );
    }

    #[test]
    fn regions() {
        assert_eq!("eu".parse::<BillingRegion>(), Ok(BillingRegion::Eu));
        assert!("MX".parse::<BillingRegion>().is_err());
        for r in BillingRegion::ALL {
            assert_eq!(r.code().parse::<BillingRegion>(), Ok(r));
        }
    }

    #[test]
    fn cidrs() {
        let c: Cidr = "10.1.0.0/16".parse().unwrap();
        assert!(c.contains("10.1.200.3".parse().unwrap()));
        assert!(!c.contains("10.2.0.1".parse().unwrap()));
        assert!(c.contains("::ffff:10.1.0.9".parse().unwrap()));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
        let one: Cidr = "::1".parse().unwrap();
        assert!(one.contains("::1".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("bogus".parse::<Cidr>().is_err());
    }

    #[test]
    fn admin_credentials() {
        let c: AdminCredentials = "AKID:se:cret".parse().unwrap();
        assert_eq!(c.access_key_id, "AKID");
        assert_eq!(c.secret_access_key, "se:cret");
        assert!(!format!("{c:?}").contains("se:cret"));
        assert!(":x".parse::<AdminCredentials>().is_err());
    }
}
