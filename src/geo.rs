//! Viewer location from a MaxMind GeoIP2/GeoLite2 database (`--geoip-db`).
//!
//! CloudFront locates viewers with MaxMind's GeoIP data (viewer-headers.md §4). edgegate reads a
//! City or Country database (`.mmdb`) the operator supplies; it never ships one. The file is read
//! into memory once at start-up ([`GeoDb::open`]), and a bad file stops start-up with a clear
//! error. A lookup ([`GeoDb::locate`]) decodes only the fields CloudFront's headers use
//! (viewer-headers.md §9.2):
//!
//! | field | record path |
//! |---|---|
//! | country | `country.iso_code`, `country.names.en` (never `registered_country` or `represented_country`) |
//! | region | `subdivisions[0].iso_code`, `subdivisions[0].names.en` (the broadest subdivision) |
//! | city | `city.names.en` |
//! | postal code | `postal.code` |
//! | coordinates, metro code, time zone | `location.latitude`, `.longitude`, `.metro_code`, `.time_zone` |
//! | ASN | `autonomous_system_number` (ASN database) or `traits.autonomous_system_number` |
//!
//! An address the database does not hold, or a record without a field, leaves that field
//! unknown: the header is then left out, and a geo restriction serves the request
//! (viewer-headers.md §8, §10.2).

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Why a GeoIP database cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum GeoDbError {
    /// The file cannot be read or is not a MaxMind DB.
    #[error("--geoip-db {path}: not a readable MaxMind DB (.mmdb) file: {source}")]
    Open {
        /// The file.
        path: PathBuf,
        /// What the reader said.
        source: maxminddb::MaxMindDbError,
    },
    /// A MaxMind DB, but not one that locates addresses (for example an ASN-only database
    /// would be accepted; an anonymous-IP database is not).
    #[error(
        "--geoip-db {path}: database type {kind:?} is not a GeoIP2/GeoLite2 City, Country or ASN database"
    )]
    Kind {
        /// The file.
        path: PathBuf,
        /// Its `database_type` metadata.
        kind: String,
    },
}

/// An opened GeoIP database, shared by every request.
pub struct GeoDb {
    reader: maxminddb::Reader<Vec<u8>>,
}

impl std::fmt::Debug for GeoDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeoDb")
            .field("database_type", &self.reader.metadata().database_type)
            .finish()
    }
}

/// What the database says about one address. Every field is optional: unknown stays `None`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Location {
    /// ISO 3166-1 alpha-2 country code, upper case (`US`).
    pub country: Option<String>,
    /// Country name in English.
    pub country_name: Option<String>,
    /// First-level subdivision code without the country prefix (`WA`).
    pub region: Option<String>,
    /// First-level subdivision name in English.
    pub region_name: Option<String>,
    /// City name in English.
    pub city: Option<String>,
    /// Postal code.
    pub postal_code: Option<String>,
    /// Latitude in decimal degrees.
    pub latitude: Option<f64>,
    /// Longitude in decimal degrees.
    pub longitude: Option<f64>,
    /// US metro (DMA) code.
    pub metro_code: Option<u32>,
    /// IANA time zone.
    pub time_zone: Option<String>,
    /// Autonomous system number.
    pub asn: Option<u32>,
}

#[derive(Deserialize)]
struct Record<'a> {
    #[serde(borrow, default)]
    country: Option<Place<'a>>,
    #[serde(borrow, default)]
    subdivisions: Option<Vec<Place<'a>>>,
    #[serde(borrow, default)]
    city: Option<Place<'a>>,
    #[serde(borrow, default)]
    postal: Option<Postal<'a>>,
    #[serde(borrow, default)]
    location: Option<Coordinates<'a>>,
    #[serde(default)]
    autonomous_system_number: Option<Number>,
    #[serde(default)]
    traits: Option<Traits>,
}

#[derive(Deserialize)]
struct Place<'a> {
    #[serde(borrow, default)]
    iso_code: Option<&'a str>,
    #[serde(borrow, default)]
    names: Option<Names<'a>>,
}

#[derive(Deserialize)]
struct Names<'a> {
    #[serde(borrow, default)]
    en: Option<&'a str>,
}

#[derive(Deserialize)]
struct Postal<'a> {
    #[serde(borrow, default)]
    code: Option<&'a str>,
}

#[derive(Deserialize)]
struct Coordinates<'a> {
    #[serde(default)]
    latitude: Option<Number>,
    #[serde(default)]
    longitude: Option<Number>,
    #[serde(default)]
    metro_code: Option<Number>,
    #[serde(borrow, default)]
    time_zone: Option<&'a str>,
}

#[derive(Deserialize)]
struct Traits {
    #[serde(default)]
    autonomous_system_number: Option<Number>,
}

/// A number of whichever MaxMind type the database stored it as (the reader decodes scalar
/// types strictly; writers other than MaxMind's choose other widths).
#[derive(Debug, Clone, Copy)]
enum Number {
    Float(f64),
    Int(u64),
}

impl Number {
    fn float(self) -> f64 {
        match self {
            Number::Float(f) => f,
            Number::Int(i) => i as f64,
        }
    }

    fn int(self) -> Option<u32> {
        match self {
            Number::Int(i) => u32::try_from(i).ok(),
            Number::Float(_) => None,
        }
    }
}

impl<'de> Deserialize<'de> for Number {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Number;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a number")
            }
            fn visit_u64<E>(self, v: u64) -> Result<Number, E> {
                Ok(Number::Int(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Number, E> {
                u64::try_from(v)
                    .map(Number::Int)
                    .map_err(|_| E::custom("negative integer"))
            }
            fn visit_u128<E: serde::de::Error>(self, v: u128) -> Result<Number, E> {
                u64::try_from(v)
                    .map(Number::Int)
                    .map_err(|_| E::custom("integer too large"))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Number, E> {
                Ok(Number::Float(v))
            }
        }
        d.deserialize_any(V)
    }
}

impl Place<'_> {
    fn name(&self) -> Option<String> {
        self.names.as_ref().and_then(|n| n.en).map(str::to_owned)
    }
}

impl GeoDb {
    /// Reads a MaxMind DB file whole and checks that it is a City, Country or ASN database.
    pub fn open(path: &Path) -> Result<Self, GeoDbError> {
        let reader = maxminddb::Reader::open_readfile(path).map_err(|source| GeoDbError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        let kind = reader.metadata().database_type.clone();
        let usable = ["City", "Country", "ASN", "Enterprise", "ISP"]
            .iter()
            .any(|k| kind.contains(k));
        if !usable {
            return Err(GeoDbError::Kind {
                path: path.to_path_buf(),
                kind,
            });
        }
        Ok(Self { reader })
    }

    /// The database's `database_type` (`GeoLite2-City`, …).
    pub fn kind(&self) -> &str {
        &self.reader.metadata().database_type
    }

    /// Looks `ip` up. An IPv4-mapped IPv6 address is looked up as IPv4. An address the database
    /// does not hold, or a record that cannot be decoded, gives `None` (the location is unknown).
    pub fn locate(&self, ip: IpAddr) -> Option<Location> {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        let found = self.reader.lookup(ip).ok()?;
        if !found.has_data() {
            return None;
        }
        let record: Record<'_> = match found.decode() {
            Ok(Some(r)) => r,
            Ok(None) => return None,
            Err(e) => {
                tracing::debug!(%ip, error = %e, "GeoIP record cannot be decoded");
                return None;
            }
        };
        let region = record.subdivisions.as_ref().and_then(|s| s.first());
        let location = record.location.as_ref();
        let loc = Location {
            country: record
                .country
                .as_ref()
                .and_then(|c| c.iso_code)
                .filter(|c| !c.is_empty())
                .map(str::to_ascii_uppercase),
            country_name: record.country.as_ref().and_then(Place::name),
            region: region.and_then(|r| r.iso_code).map(str::to_owned),
            region_name: region.and_then(Place::name),
            city: record.city.as_ref().and_then(Place::name),
            postal_code: record.postal.and_then(|p| p.code).map(str::to_owned),
            latitude: location.and_then(|l| l.latitude).map(Number::float),
            longitude: location.and_then(|l| l.longitude).map(Number::float),
            metro_code: location.and_then(|l| l.metro_code).and_then(Number::int),
            time_zone: location.and_then(|l| l.time_zone).map(str::to_owned),
            asn: record
                .autonomous_system_number
                .or(record.traits.and_then(|t| t.autonomous_system_number))
                .and_then(Number::int),
        };
        Some(loc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_that_is_not_a_database_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad.mmdb");
        std::fs::write(&bad, b"this is not a MaxMind DB").unwrap();
        let e = GeoDb::open(&bad).unwrap_err().to_string();
        assert!(
            e.contains("bad.mmdb") && e.contains("not a readable MaxMind DB"),
            "{e}"
        );
        let missing = dir.path().join("missing.mmdb");
        let e = GeoDb::open(&missing).unwrap_err().to_string();
        assert!(e.contains("missing.mmdb"), "{e}");
    }
}
