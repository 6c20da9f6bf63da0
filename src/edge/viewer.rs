//! The viewer checks and headers that depend on who the viewer is: geo restriction, and the
//! `CloudFront-*` headers CloudFront generates (viewer-headers.md).
//!
//! Position in the request path: after the signed-URL check and before the cache
//! ([`check_geo`]), then [`rewrite_headers`] replaces the request's `CloudFront-*` headers, so
//! the cache key and the origin request both see the generated values only.
//!
//! Rules, with the choices edgegate makes where CloudFront is silent (viewer-headers.md §10):
//! - a header is generated only when the behavior's cache policy or origin request policy
//!   lists it (or the managed AllViewerAndCloudFrontHeaders-2022-06 / AllViewerExceptHostHeader
//!   policies include it); listed in the cache policy it is part of the key;
//! - every viewer-sent header with a name CloudFront generates (all of [`GENERATED`]) is
//!   removed on arrival, whatever the policies say: stricter than AWS, which only overwrites the
//!   ones it adds (§6);
//! - a value that is unknown (no database, an address the database does not hold, a field the
//!   record lacks) leaves its header out rather than sending it empty;
//! - location comes from the viewer address the pipeline computes: the TCP peer, or the
//!   right-most untrusted `X-Forwarded-For` hop when the peer is a trusted proxy;
//! - `CloudFront-Viewer-Address` is `ip:port` with an unbracketed IPv6 address; the port is the
//!   TCP peer's (a trusted proxy's when the address came through one);
//! - non-ASCII (and control) bytes in location values are percent-encoded; ASCII spaces stay;
//! - latitude and longitude are the database's values as plain decimals;
//! - `CloudFront-Forwarded-Proto` is lower case (`http`/`https`);
//! - `CloudFront-Viewer-TLS` is left out on plain HTTP;
//! - device flags come from the viewer's `User-Agent` by the rule table [`DEVICE_RULES`]; a
//!   missing `User-Agent` makes all six `false`;
//! - `CloudFront-Viewer-Header-Order` lists names as they arrived in lower case (the HTTP
//!   library lower-cases them), pseudo-headers excluded, one entry per header line;
//! - JA3/JA4 fingerprints and `CloudFront-Error-Uri`/`-Args` are not generated (a load warning
//!   names the behavior asking for them);
//! - geo restriction: a viewer whose country is unknown is served, under an allow list and a
//!   block list alike (as CloudFront does, §8).

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

use crate::cache::key::Selection;
use crate::geo::{GeoDb, Location};
use crate::server::ConnInfo;

/// Every header name CloudFront generates (viewer-headers.md §2), lower case. A viewer's own
/// header of any of these names never reaches the origin or the cache key.
pub const GENERATED: [&str; 27] = [
    "cloudfront-viewer-address",
    "cloudfront-viewer-asn",
    "cloudfront-viewer-country",
    "cloudfront-viewer-city",
    "cloudfront-viewer-country-name",
    "cloudfront-viewer-country-region",
    "cloudfront-viewer-country-region-name",
    "cloudfront-viewer-latitude",
    "cloudfront-viewer-longitude",
    "cloudfront-viewer-metro-code",
    "cloudfront-viewer-postal-code",
    "cloudfront-viewer-time-zone",
    "cloudfront-viewer-http-version",
    "cloudfront-forwarded-proto",
    "cloudfront-viewer-tls",
    "cloudfront-viewer-header-order",
    "cloudfront-viewer-header-count",
    "cloudfront-is-android-viewer",
    "cloudfront-is-ios-viewer",
    "cloudfront-is-desktop-viewer",
    "cloudfront-is-mobile-viewer",
    "cloudfront-is-smarttv-viewer",
    "cloudfront-is-tablet-viewer",
    "cloudfront-viewer-ja3-fingerprint",
    "cloudfront-viewer-ja4-fingerprint",
    "cloudfront-error-uri",
    "cloudfront-error-args",
];

// Indexes into GENERATED.
const ADDRESS: usize = 0;
const ASN: usize = 1;
const COUNTRY: usize = 2;
const CITY: usize = 3;
const COUNTRY_NAME: usize = 4;
const REGION: usize = 5;
const REGION_NAME: usize = 6;
const LATITUDE: usize = 7;
const LONGITUDE: usize = 8;
const METRO_CODE: usize = 9;
const POSTAL_CODE: usize = 10;
const TIME_ZONE: usize = 11;
const HTTP_VERSION: usize = 12;
const FORWARDED_PROTO: usize = 13;
const TLS: usize = 14;
const HEADER_ORDER: usize = 15;
const HEADER_COUNT: usize = 16;
const IS_ANDROID: usize = 17;
const IS_IOS: usize = 18;
const IS_DESKTOP: usize = 19;
const IS_MOBILE: usize = 20;
const IS_SMARTTV: usize = 21;
const IS_TABLET: usize = 22;
/// The device-type headers (`CloudFront-Is-*-Viewer`), worked out from `User-Agent`.
pub const DEVICE_HEADERS: &[&str] = GENERATED
    .split_at(IS_ANDROID)
    .1
    .split_at(IS_TABLET + 1 - IS_ANDROID)
    .0;
const JA3: usize = 23;
const JA4: usize = 24;
const ERROR_URI: usize = 25;
const ERROR_ARGS: usize = 26;

/// The `CloudFront-*` headers used by the managed AllViewerAndCloudFrontHeaders-2022-06 policy
/// (and, by edgegate's choice, AllViewerExceptHostHeader; viewer-headers.md §7).
pub const MANAGED_2022_06: [&str; 21] = [
    "cloudfront-forwarded-proto",
    "cloudfront-is-android-viewer",
    "cloudfront-is-desktop-viewer",
    "cloudfront-is-ios-viewer",
    "cloudfront-is-mobile-viewer",
    "cloudfront-is-smarttv-viewer",
    "cloudfront-is-tablet-viewer",
    "cloudfront-viewer-address",
    "cloudfront-viewer-asn",
    "cloudfront-viewer-city",
    "cloudfront-viewer-country",
    "cloudfront-viewer-country-name",
    "cloudfront-viewer-country-region",
    "cloudfront-viewer-country-region-name",
    "cloudfront-viewer-http-version",
    "cloudfront-viewer-latitude",
    "cloudfront-viewer-longitude",
    "cloudfront-viewer-metro-code",
    "cloudfront-viewer-postal-code",
    "cloudfront-viewer-time-zone",
    "cloudfront-viewer-tls",
];

/// Whether `name` is one CloudFront generates (any case).
pub fn is_generated(name: &str) -> bool {
    index_of(name).is_some()
}

fn index_of(name: &str) -> Option<usize> {
    GENERATED.iter().position(|g| g.eq_ignore_ascii_case(name))
}

/// A set of generated headers: those a behavior asks CloudFront to add.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HeaderSet(u32);

impl HeaderSet {
    /// The generated headers among `names` (others are ignored).
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        let mut set = HeaderSet::default();
        for n in names {
            if let Some(i) = index_of(n) {
                set.0 |= 1 << i;
            }
        }
        set
    }

    /// The generated headers a selection lists by name. `All`/`AllExcept` select viewer
    /// headers only: they never ask CloudFront to add one.
    pub fn from_selection(sel: &Selection) -> Self {
        match sel {
            Selection::Whitelist(names) => Self::from_names(names.iter().map(String::as_str)),
            _ => HeaderSet::default(),
        }
    }

    /// Both sets.
    pub fn union(self, other: HeaderSet) -> Self {
        HeaderSet(self.0 | other.0)
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    fn has(self, i: usize) -> bool {
        self.0 & (1 << i) != 0
    }

    /// Whether any header needs the viewer's location.
    pub fn needs_location(self) -> bool {
        [
            ASN,
            COUNTRY,
            CITY,
            COUNTRY_NAME,
            REGION,
            REGION_NAME,
            LATITUDE,
            LONGITUDE,
            METRO_CODE,
            POSTAL_CODE,
            TIME_ZONE,
        ]
        .iter()
        .any(|i| self.has(*i))
    }

    /// The names in the set that edgegate does not generate (JA3/JA4 fingerprints,
    /// `CloudFront-Error-Uri`/`-Args`), for the load warning.
    pub fn not_generated(self) -> Vec<&'static str> {
        [JA3, JA4, ERROR_URI, ERROR_ARGS]
            .iter()
            .filter(|i| self.has(**i))
            .map(|i| GENERATED[*i])
            .collect()
    }
}

/// What is known about the viewer's connection, for the generated headers.
#[derive(Debug, Clone, Copy)]
pub struct ViewerFacts<'a> {
    /// The viewer address (after trusted-proxy handling).
    pub ip: IpAddr,
    /// The TCP peer (its port goes into `CloudFront-Viewer-Address`).
    pub peer: SocketAddr,
    /// The request's HTTP version.
    pub version: http::Version,
    /// Whether the viewer connection is TLS.
    pub https: bool,
    /// `TLSv1.3`, … when TLS.
    pub tls_protocol: Option<&'a str>,
    /// The cipher suite in OpenSSL naming, when TLS.
    pub tls_cipher: Option<&'a str>,
    /// `fullHandshake`, `sessionResumed` or `connectionReused`, when TLS.
    pub tls_handshake: Option<&'a str>,
    /// The viewer's location, if known.
    pub location: Option<&'a Location>,
}

impl<'a> ViewerFacts<'a> {
    /// The facts of a request on connection `conn` from viewer `ip`.
    pub fn new(
        conn: &'a ConnInfo,
        ip: IpAddr,
        version: http::Version,
        location: Option<&'a Location>,
    ) -> Self {
        Self {
            // An IPv4 viewer on a dual-stack listener is shown as IPv4.
            ip: ip.to_canonical(),
            peer: conn.peer,
            version,
            https: conn.https,
            tls_protocol: conn.tls_protocol,
            tls_cipher: conn.tls_cipher,
            tls_handshake: conn.tls_handshake,
            location,
        }
    }
}

/// Looks the viewer up in the GeoIP database, only when the distribution's geo restriction or
/// the behavior's headers need the location.
pub fn locate(
    db: Option<&GeoDb>,
    rule: Option<&GeoRule>,
    wanted: HeaderSet,
    ip: IpAddr,
) -> Option<Location> {
    let db = db?;
    if rule.is_none() && !wanted.needs_location() {
        return None;
    }
    db.locate(ip)
}

/// Removes every viewer header whose name CloudFront generates, then adds the generated
/// headers of `wanted` whose values are known. Call before the cache key is built.
pub fn rewrite_headers(headers: &mut HeaderMap, wanted: HeaderSet, facts: &ViewerFacts<'_>) {
    // The header order and count describe what the viewer sent, CloudFront-* copies included.
    let (order, count) = if wanted.has(HEADER_ORDER) || wanted.has(HEADER_COUNT) {
        header_order(headers)
    } else {
        (String::new(), 0)
    };
    let present = headers
        .keys()
        .any(|n| n.as_str().starts_with("cloudfront-"));
    if present {
        for name in GENERATED {
            headers.remove(name);
        }
    }
    if wanted.is_empty() {
        return;
    }
    let device = (IS_ANDROID..=IS_TABLET).any(|i| wanted.has(i)).then(|| {
        let ua = headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok());
        Device::from_user_agent(ua.unwrap_or(""))
    });
    let mut put = |i: usize, value: String| {
        if !wanted.has(i) {
            return;
        }
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(GENERATED[i]), v);
        }
    };
    put(ADDRESS, format!("{}:{}", facts.ip, facts.peer.port()));
    put(
        HTTP_VERSION,
        match facts.version {
            http::Version::HTTP_09 => "0.9",
            http::Version::HTTP_10 => "1.0",
            http::Version::HTTP_2 => "2.0",
            http::Version::HTTP_3 => "3.0",
            _ => "1.1",
        }
        .to_owned(),
    );
    put(
        FORWARDED_PROTO,
        if facts.https { "https" } else { "http" }.to_owned(),
    );
    if facts.https
        && let (Some(v), Some(c)) = (facts.tls_protocol, facts.tls_cipher)
    {
        let kind = facts.tls_handshake.unwrap_or("fullHandshake");
        put(TLS, format!("{v}:{c}:{kind}"));
    }
    if wanted.has(HEADER_ORDER) {
        put(HEADER_ORDER, order);
    }
    put(HEADER_COUNT, count.to_string());
    if let Some(d) = device {
        for (i, flag) in [
            (IS_ANDROID, d.android),
            (IS_IOS, d.ios),
            (IS_DESKTOP, d.desktop),
            (IS_MOBILE, d.mobile),
            (IS_SMARTTV, d.smart_tv),
            (IS_TABLET, d.tablet),
        ] {
            put(i, flag.to_string());
        }
    }
    let Some(loc) = facts.location else {
        return;
    };
    let text = |v: &Option<String>| v.as_deref().map(percent_encode_non_ascii);
    for (i, value) in [
        (COUNTRY, text(&loc.country)),
        (COUNTRY_NAME, text(&loc.country_name)),
        (REGION, text(&loc.region)),
        (REGION_NAME, text(&loc.region_name)),
        (CITY, text(&loc.city)),
        (POSTAL_CODE, text(&loc.postal_code)),
        (TIME_ZONE, text(&loc.time_zone)),
        (LATITUDE, loc.latitude.map(|v| v.to_string())),
        (LONGITUDE, loc.longitude.map(|v| v.to_string())),
        (METRO_CODE, loc.metro_code.map(|v| v.to_string())),
        (ASN, loc.asn.map(|v| v.to_string())),
    ] {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            put(i, v);
        }
    }
}

/// The viewer's header names in arrival order, `:`-separated and cut before 7,680 characters,
/// and how many header lines there are.
fn header_order(headers: &HeaderMap) -> (String, usize) {
    const LIMIT: usize = 7_680;
    let mut order = String::new();
    let mut count = 0;
    // HeaderMap iterates names in first-arrival order, each name's values together.
    for (name, _) in headers {
        count += 1;
        let n = name.as_str();
        if order.len() + n.len() + 1 > LIMIT {
            continue;
        }
        if !order.is_empty() {
            order.push(':');
        }
        order.push_str(n);
    }
    (order, count)
}

/// Percent-encodes non-ASCII and control bytes (RFC 3986 style, upper-case hex); printable
/// ASCII, spaces included, stays as it is.
pub fn percent_encode_non_ascii(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii() && !b.is_ascii_control() {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The device flags derived from a `User-Agent`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Device {
    /// `CloudFront-Is-Android-Viewer`.
    pub android: bool,
    /// `CloudFront-Is-IOS-Viewer`.
    pub ios: bool,
    /// `CloudFront-Is-Desktop-Viewer`.
    pub desktop: bool,
    /// `CloudFront-Is-Mobile-Viewer`.
    pub mobile: bool,
    /// `CloudFront-Is-SmartTV-Viewer`.
    pub smart_tv: bool,
    /// `CloudFront-Is-Tablet-Viewer`.
    pub tablet: bool,
}

/// Which flag a rule sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceFlag {
    /// Android.
    Android,
    /// iOS.
    Ios,
    /// Mobile.
    Mobile,
    /// Smart TV.
    SmartTv,
    /// Tablet.
    Tablet,
}

/// A device rule: the flag is set when the lower-cased `User-Agent` contains every one of
/// `all` and none of `none`.
#[derive(Debug, Clone, Copy)]
pub struct DeviceRule {
    /// The flag set.
    pub flag: DeviceFlag,
    /// Substrings that must all be present.
    pub all: &'static [&'static str],
    /// Substrings that must all be absent.
    pub none: &'static [&'static str],
}

const fn rule(
    flag: DeviceFlag,
    all: &'static [&'static str],
    none: &'static [&'static str],
) -> DeviceRule {
    DeviceRule { flag, all, none }
}

/// The device rules, in data so they can be reviewed and extended. Desktop is set when the
/// `User-Agent` is non-empty and no Mobile, Tablet or SmartTV rule matched. An iPad's Safari
/// sends a `Mobile/…` token, so it is Mobile and Tablet at once (CloudFront says some tablets
/// get both); an Android tablet (no `Mobile` token) is Tablet only.
pub const DEVICE_RULES: &[DeviceRule] = &[
    rule(DeviceFlag::Android, &["android"], &[]),
    rule(DeviceFlag::Ios, &["iphone"], &[]),
    rule(DeviceFlag::Ios, &["ipod"], &[]),
    rule(DeviceFlag::Ios, &["ipad"], &[]),
    rule(DeviceFlag::Tablet, &["ipad"], &[]),
    rule(DeviceFlag::Tablet, &["android"], &["mobile", "tv"]),
    rule(DeviceFlag::Tablet, &["tablet"], &[]),
    rule(DeviceFlag::Tablet, &["kindle"], &[]),
    rule(DeviceFlag::Tablet, &["silk/"], &[]),
    rule(DeviceFlag::Tablet, &["playbook"], &[]),
    rule(DeviceFlag::Mobile, &["mobile"], &[]),
    rule(DeviceFlag::Mobile, &["iphone"], &[]),
    rule(DeviceFlag::Mobile, &["ipod"], &[]),
    rule(DeviceFlag::Mobile, &["windows phone"], &[]),
    rule(DeviceFlag::Mobile, &["blackberry"], &[]),
    rule(DeviceFlag::Mobile, &["opera mini"], &[]),
    rule(DeviceFlag::SmartTv, &["smart-tv"], &[]),
    rule(DeviceFlag::SmartTv, &["smarttv"], &[]),
    rule(DeviceFlag::SmartTv, &["googletv"], &[]),
    rule(DeviceFlag::SmartTv, &["android tv"], &[]),
    rule(DeviceFlag::SmartTv, &["appletv"], &[]),
    rule(DeviceFlag::SmartTv, &["apple tv"], &[]),
    rule(DeviceFlag::SmartTv, &["crkey"], &[]),
    rule(DeviceFlag::SmartTv, &["bravia"], &[]),
    rule(DeviceFlag::SmartTv, &["netcast"], &[]),
    rule(DeviceFlag::SmartTv, &["hbbtv"], &[]),
    rule(DeviceFlag::SmartTv, &["roku"], &[]),
    rule(DeviceFlag::SmartTv, &["web0s"], &[]),
    rule(DeviceFlag::SmartTv, &["aftb"], &[]),
    rule(DeviceFlag::SmartTv, &["aftm"], &[]),
    rule(DeviceFlag::SmartTv, &["aftt"], &[]),
];

impl Device {
    /// Classifies a `User-Agent` by [`DEVICE_RULES`].
    pub fn from_user_agent(ua: &str) -> Self {
        let mut d = Device::default();
        let ua = ua.trim();
        if ua.is_empty() {
            return d;
        }
        let lower = ua.to_ascii_lowercase();
        for r in DEVICE_RULES {
            let hit = r.all.iter().all(|s| lower.contains(s))
                && !r.none.iter().any(|s| lower.contains(s));
            if !hit {
                continue;
            }
            match r.flag {
                DeviceFlag::Android => d.android = true,
                DeviceFlag::Ios => d.ios = true,
                DeviceFlag::Mobile => d.mobile = true,
                DeviceFlag::SmartTv => d.smart_tv = true,
                DeviceFlag::Tablet => d.tablet = true,
            }
        }
        // A smart TV is not a tablet or phone even if its UA names Android.
        if d.smart_tv {
            d.tablet = false;
            d.mobile = false;
        }
        d.desktop = !(d.mobile || d.tablet || d.smart_tv);
        d
    }
}

/// A compiled `Restrictions.GeoRestriction`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GeoRule {
    /// `whitelist`: only these countries are served.
    Allow(Vec<String>),
    /// `blacklist`: these countries are refused.
    Block(Vec<String>),
}

/// What the geo check decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GeoVerdict {
    /// The request is refused (403, `ClientGeoBlocked`).
    Blocked,
    /// The request goes on.
    Served,
}

impl GeoRule {
    /// Decides for a viewer in `country` (ISO 3166-1 alpha-2). An unknown country is served,
    /// as CloudFront serves viewers it cannot locate (viewer-headers.md §8).
    pub fn check(&self, country: Option<&str>) -> GeoVerdict {
        let Some(c) = country else {
            return GeoVerdict::Served;
        };
        let listed = |list: &[String]| list.iter().any(|x| x.eq_ignore_ascii_case(c));
        let blocked = match self {
            GeoRule::Allow(list) => !listed(list),
            GeoRule::Block(list) => listed(list),
        };
        if blocked {
            GeoVerdict::Blocked
        } else {
            GeoVerdict::Served
        }
    }
}

/// The geo check of the request path: `Blocked` when the distribution has a restriction that
/// refuses the viewer's country.
pub fn check_geo(rule: Option<&GeoRule>, location: Option<&Location>) -> GeoVerdict {
    match rule {
        None => GeoVerdict::Served,
        Some(r) => r.check(location.and_then(|l| l.country.as_deref())),
    }
}

/// The text of CloudFront's error page for a geo block.
pub const GEO_BLOCKED_MESSAGE: &str =
    "The Amazon CloudFront distribution is configured to block access from your country.";

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(loc: Option<&Location>) -> ViewerFacts<'_> {
        ViewerFacts {
            ip: "216.160.83.56".parse().unwrap(),
            peer: "127.0.0.1:46532".parse().unwrap(),
            version: http::Version::HTTP_11,
            https: false,
            tls_protocol: None,
            tls_cipher: None,
            tls_handshake: None,
            location: loc,
        }
    }

    #[test]
    fn device_table() {
        // (user agent, android, ios, desktop, mobile, smarttv, tablet)
        let table: &[(&str, [bool; 6])] = &[
            ("", [false; 6]),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
                [false, false, true, false, false, false],
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
                [false, true, false, true, false, false],
            ),
            (
                "Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
                [false, true, false, true, false, true],
            ),
            (
                "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36",
                [true, false, false, true, false, false],
            ),
            (
                "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
                [true, false, false, false, false, true],
            ),
            (
                "Mozilla/5.0 (SMART-TV; Linux; Tizen 6.0) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/4.0 Chrome/76.0 TV Safari/537.36",
                [false, false, false, false, true, false],
            ),
            (
                "Mozilla/5.0 (Linux; Android 9; AFTMM) AppleWebKit/537.36 (KHTML, like Gecko) Silk/98.3 like Chrome/98.0 Safari/537.36",
                [true, false, false, false, true, false],
            ),
            ("curl/8.5.0", [false, false, true, false, false, false]),
        ];
        for (ua, want) in table {
            let d = Device::from_user_agent(ua);
            let got = [d.android, d.ios, d.desktop, d.mobile, d.smart_tv, d.tablet];
            assert_eq!(&got, want, "{ua}");
        }
    }

    #[test]
    fn viewer_copies_are_removed_and_only_wanted_headers_added() {
        let mut h = HeaderMap::new();
        h.insert("cloudfront-viewer-country", HeaderValue::from_static("FR"));
        h.insert("cloudfront-viewer-city", HeaderValue::from_static("Paris"));
        h.insert("cloudfront-is-mobile-viewer", HeaderValue::from_static("x"));
        h.insert("user-agent", HeaderValue::from_static("curl/8"));
        let loc = Location {
            country: Some("US".into()),
            city: Some("Milton".into()),
            ..Default::default()
        };
        let wanted = HeaderSet::from_names(["CloudFront-Viewer-Country", "X-Other"]);
        rewrite_headers(&mut h, wanted, &facts(Some(&loc)));
        assert_eq!(h["cloudfront-viewer-country"], "US");
        assert!(!h.contains_key("cloudfront-viewer-city"));
        assert!(!h.contains_key("cloudfront-is-mobile-viewer"));
        assert_eq!(h["user-agent"], "curl/8");
        // Unknown location: the header is left out, not sent empty.
        let mut h = HeaderMap::new();
        h.insert("cloudfront-viewer-country", HeaderValue::from_static("FR"));
        rewrite_headers(&mut h, wanted, &facts(None));
        assert!(h.is_empty());
    }

    #[test]
    fn generated_values() {
        let mut h = HeaderMap::new();
        h.insert("host", HeaderValue::from_static("x"));
        h.append("accept", HeaderValue::from_static("a"));
        h.append("accept", HeaderValue::from_static("b"));
        let loc = Location {
            country: Some("SE".into()),
            city: Some("Linköping".into()),
            region_name: Some("Östergötland County".into()),
            latitude: Some(47.2513),
            longitude: Some(-122.3149),
            ..Default::default()
        };
        let all = HeaderSet::from_names(GENERATED);
        rewrite_headers(&mut h, all, &facts(Some(&loc)));
        assert_eq!(h["cloudfront-viewer-address"], "216.160.83.56:46532");
        assert_eq!(h["cloudfront-viewer-http-version"], "1.1");
        assert_eq!(h["cloudfront-forwarded-proto"], "http");
        assert!(!h.contains_key("cloudfront-viewer-tls"));
        assert_eq!(h["cloudfront-viewer-city"], "Link%C3%B6ping");
        assert_eq!(
            h["cloudfront-viewer-country-region-name"],
            "%C3%96sterg%C3%B6tland County"
        );
        assert_eq!(h["cloudfront-viewer-latitude"], "47.2513");
        assert_eq!(h["cloudfront-viewer-longitude"], "-122.3149");
        assert_eq!(h["cloudfront-viewer-header-order"], "host:accept:accept");
        assert_eq!(h["cloudfront-viewer-header-count"], "3");
        assert_eq!(h["cloudfront-is-desktop-viewer"], "false");
        assert!(!h.contains_key("cloudfront-viewer-metro-code"));
        assert!(!h.contains_key("cloudfront-viewer-ja3-fingerprint"));

        let mut h = HeaderMap::new();
        let tls = ViewerFacts {
            ip: "2001:db8::1".parse().unwrap(),
            https: true,
            version: http::Version::HTTP_2,
            tls_protocol: Some("TLSv1.3"),
            tls_cipher: Some("TLS_AES_128_GCM_SHA256"),
            tls_handshake: Some("connectionReused"),
            ..facts(None)
        };
        rewrite_headers(&mut h, all, &tls);
        assert_eq!(h["cloudfront-viewer-address"], "2001:db8::1:46532");
        assert_eq!(
            h["cloudfront-viewer-tls"],
            "TLSv1.3:TLS_AES_128_GCM_SHA256:connectionReused"
        );
        assert_eq!(h["cloudfront-viewer-http-version"], "2.0");
        assert_eq!(h["cloudfront-forwarded-proto"], "https");
    }

    #[test]
    fn geo_rules() {
        let allow = GeoRule::Allow(vec!["US".into(), "CA".into()]);
        let block = GeoRule::Block(vec!["GB".into()]);
        assert_eq!(allow.check(Some("US")), GeoVerdict::Served);
        assert_eq!(allow.check(Some("GB")), GeoVerdict::Blocked);
        assert_eq!(allow.check(None), GeoVerdict::Served);
        assert_eq!(block.check(Some("GB")), GeoVerdict::Blocked);
        assert_eq!(block.check(Some("US")), GeoVerdict::Served);
        assert_eq!(block.check(None), GeoVerdict::Served);
        assert_eq!(check_geo(None, None), GeoVerdict::Served);
    }
}
