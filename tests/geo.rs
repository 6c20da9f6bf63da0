//! CloudFront-* viewer headers, GeoIP and geo restriction, through the real server: a GeoIP
//! database built at set-up by scripts/gen-geoip-fixtures.py (mmdb-writer from tests/.venv),
//! read with `geoip_db` (the config-file key of `--geoip-db`), and a real origin that records
//! the headers it received. Addresses other than loopback arrive through `X-Forwarded-For` from
//! a trusted proxy (127.0.0.0/8).

use std::path::PathBuf;
use std::sync::OnceLock;

use crate::common::meter::{field, journal, journal_line};
use crate::common::origin::TestOrigin;
use crate::common::{TestEdge, get, send};

const HOST: &str = "dgeo0000000001.cloudfront.localhost";
/// CachingDisabled.
const CACHING_DISABLED: &str = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad";
/// AllViewerAndCloudFrontHeaders-2022-06.
const ALL_VIEWER_AND_CF: &str = "33f36d7e-f396-46d9-90e0-52428a34d9dc";
/// AllViewer.
const ALL_VIEWER: &str = "216adef6-5c7f-47e4-b989-5492eafa07d3";
/// Position of `x-edge-detailed-result-type` on a journal line (CloudFront's field order).
const DETAILED: usize = 28;

/// The generated databases: (test City database, real 2018 GeoLite2 City from PyPI).
struct Dbs {
    city: PathBuf,
    geolite2: PathBuf,
    _dir: tempfile::TempDir,
}

fn dbs() -> &'static Dbs {
    static DBS: OnceLock<Dbs> = OnceLock::new();
    DBS.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let python = std::env::var_os("EDGEGATE_TEST_PYTHON")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("tests/.venv/bin/python"));
        let dir = tempfile::tempdir().expect("temp dir");
        let out = std::process::Command::new(&python)
            .arg(root.join("scripts/gen-geoip-fixtures.py"))
            .arg(dir.path())
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "{}: {e} (run the tests with scripts/test, which sets up tests/.venv)",
                    python.display()
                )
            });
        assert!(out.status.success(), "gen-geoip-fixtures.py: {out:?}");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        Dbs {
            city: PathBuf::from(v["city"].as_str().unwrap()),
            geolite2: PathBuf::from(v["geolite2"].as_str().unwrap()),
            _dir: dir,
        }
    })
}

/// A config for distribution `EGEO00000001` on `localhost:{port}`, with `geoip_db` when given
/// and `restriction` (a TOML inline table for `restrictions`) when given. Behaviors:
/// - default: CachingDisabled + AllViewerAndCloudFrontHeaders-2022-06;
/// - `/allviewer/*`: CachingDisabled + AllViewer;
/// - `/country/*`: CachingDisabled + a custom policy listing only CloudFront-Viewer-Country;
/// - `/keyed/*`: a cache policy with CloudFront-Viewer-Country in the key (60 s).
fn config(port: u16, geoip_db: Option<&PathBuf>, restriction: Option<&str>) -> String {
    let db = geoip_db
        .map(|p| format!("geoip_db = \"{}\"", p.display()))
        .unwrap_or_default();
    let restrictions = restriction
        .map(|r| format!("restrictions = {{ geo_restriction = {r} }}"))
        .unwrap_or_default();
    format!(
        r#"
trusted_proxies = ["127.0.0.0/8"]
{db}

[[cache_policies]]
id = "a0000000-0000-4000-8000-00000000c001"
name = "by-country"
min_ttl = 0
default_ttl = 60
max_ttl = 300
[cache_policies.parameters_in_cache_key_and_forwarded_to_origin]
enable_accept_encoding_gzip = false
headers_config = {{ header_behavior = "whitelist", headers = ["CloudFront-Viewer-Country"] }}
cookies_config = {{ cookie_behavior = "none" }}
query_strings_config = {{ query_string_behavior = "none" }}

[[origin_request_policies]]
id = "a0000000-0000-4000-8000-00000000e001"
name = "country-only"
headers_config = {{ header_behavior = "whitelist", headers = ["CloudFront-Viewer-Country"] }}
cookies_config = {{ cookie_behavior = "none" }}
query_strings_config = {{ query_string_behavior = "none" }}

[[distributions]]
id = "EGEO00000001"
domain_name = "{HOST}"
caller_reference = "geo"
comment = "geo tests"
enabled = true
{restrictions}

[[distributions.origins]]
id = "web"
domain_name = "localhost"
connection_attempts = 1
connection_timeout = 2
custom_origin_config = {{ http_port = {port}, https_port = 443, origin_protocol_policy = "http-only", origin_read_timeout = 5 }}

[distributions.default_cache_behavior]
target_origin_id = "web"
viewer_protocol_policy = "allow-all"
cache_policy_id = "{CACHING_DISABLED}"
origin_request_policy_id = "{ALL_VIEWER_AND_CF}"

[[distributions.cache_behaviors]]
path_pattern = "/allviewer/*"
target_origin_id = "web"
viewer_protocol_policy = "allow-all"
cache_policy_id = "{CACHING_DISABLED}"
origin_request_policy_id = "{ALL_VIEWER}"

[[distributions.cache_behaviors]]
path_pattern = "/country/*"
target_origin_id = "web"
viewer_protocol_policy = "allow-all"
cache_policy_id = "{CACHING_DISABLED}"
origin_request_policy_id = "a0000000-0000-4000-8000-00000000e001"

[[distributions.cache_behaviors]]
path_pattern = "/keyed/*"
target_origin_id = "web"
viewer_protocol_policy = "allow-all"
cache_policy_id = "a0000000-0000-4000-8000-00000000c001"
"#
    )
}

/// GET `path` as viewer `ip` (through the trusted loopback proxy), with extra headers.
async fn get_as(
    edge: &TestEdge,
    ip: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> crate::common::Resp {
    let mut all = vec![("x-forwarded-for", ip)];
    all.extend_from_slice(headers);
    send(edge.viewer, "GET", HOST, path, &all, b"").await
}

fn seen(origin: &TestOrigin, name: &str) -> Option<String> {
    origin
        .last()
        .headers
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}

#[tokio::test]
async fn managed_2022_06_policy_gets_generated_headers_and_never_the_viewers() {
    let origin = TestOrigin::start().await;
    let edge = TestEdge::start(&config(origin.addr.port(), Some(&dbs().city), None)).await;
    let r = get_as(
        &edge,
        "216.160.83.56",
        "/a",
        &[
            ("cloudfront-viewer-country", "FR"),
            ("CloudFront-Viewer-City", "Paris"),
            ("cloudfront-is-desktop-viewer", "spoofed"),
        ],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let h = |n: &str| seen(&origin, n);
    // Location from the database: country, not registered_country (GB).
    assert_eq!(h("cloudfront-viewer-country").as_deref(), Some("US"));
    assert_eq!(
        h("cloudfront-viewer-country-name").as_deref(),
        Some("United States")
    );
    assert_eq!(h("cloudfront-viewer-city").as_deref(), Some("Milton"));
    assert_eq!(h("cloudfront-viewer-country-region").as_deref(), Some("WA"));
    assert_eq!(
        h("cloudfront-viewer-country-region-name").as_deref(),
        Some("Washington")
    );
    assert_eq!(h("cloudfront-viewer-postal-code").as_deref(), Some("98354"));
    assert_eq!(h("cloudfront-viewer-metro-code").as_deref(), Some("819"));
    assert_eq!(
        h("cloudfront-viewer-time-zone").as_deref(),
        Some("America/Los_Angeles")
    );
    assert_eq!(h("cloudfront-viewer-latitude").as_deref(), Some("47.2513"));
    assert_eq!(
        h("cloudfront-viewer-longitude").as_deref(),
        Some("-122.3149")
    );
    assert_eq!(h("cloudfront-viewer-asn").as_deref(), Some("209"));
    // Connection facts.
    let address = h("cloudfront-viewer-address").expect("address");
    let (ip, port) = address.rsplit_once(':').unwrap();
    assert_eq!(ip, "216.160.83.56");
    assert!(port.parse::<u16>().is_ok_and(|p| p > 0), "{address}");
    assert_eq!(h("cloudfront-viewer-http-version").as_deref(), Some("1.1"));
    assert_eq!(h("cloudfront-forwarded-proto").as_deref(), Some("http"));
    assert_eq!(h("cloudfront-viewer-tls"), None, "no TLS on plain HTTP");
    // No User-Agent: every device flag is false.
    for d in ["android", "ios", "desktop", "mobile", "smarttv", "tablet"] {
        assert_eq!(
            h(&format!("cloudfront-is-{d}-viewer")).as_deref(),
            Some("false"),
            "{d}"
        );
    }
    // Not in the 2022-06 policy: never generated, never passed on.
    assert_eq!(h("cloudfront-viewer-ja3-fingerprint"), None);
    edge.stop().await;
}

#[tokio::test]
async fn device_type_comes_from_the_user_agent() {
    let origin = TestOrigin::start().await;
    let edge = TestEdge::start(&config(origin.addr.port(), Some(&dbs().city), None)).await;
    let flags = |origin: &TestOrigin| {
        ["android", "ios", "desktop", "mobile", "smarttv", "tablet"]
            .map(|d| seen(origin, &format!("cloudfront-is-{d}-viewer")).unwrap() == "true")
    };
    let ipad = "Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1";
    get_as(&edge, "216.160.83.56", "/ua", &[("user-agent", ipad)]).await;
    // iOS and Tablet, and Mobile too (Safari's Mobile token); not Desktop.
    assert_eq!(flags(&origin), [false, true, false, true, false, true]);
    // The viewer's User-Agent is forwarded (AllViewer…) and classified.
    assert_eq!(seen(&origin, "user-agent").as_deref(), Some(ipad));
    let pixel = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36";
    get_as(&edge, "216.160.83.56", "/ua", &[("user-agent", pixel)]).await;
    assert_eq!(flags(&origin), [true, false, false, true, false, false]);
    let desktop = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0";
    get_as(&edge, "216.160.83.56", "/ua", &[("user-agent", desktop)]).await;
    assert_eq!(flags(&origin), [false, false, true, false, false, false]);
    let tv = "Mozilla/5.0 (SMART-TV; Linux; Tizen 6.0) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/4.0 Chrome/76.0 TV Safari/537.36";
    get_as(&edge, "216.160.83.56", "/ua", &[("user-agent", tv)]).await;
    assert_eq!(flags(&origin), [false, false, false, false, true, false]);
    edge.stop().await;
}

#[tokio::test]
async fn only_the_headers_a_policy_lists_are_added_and_spoofed_ones_never_pass() {
    let origin = TestOrigin::start().await;
    let edge = TestEdge::start(&config(origin.addr.port(), Some(&dbs().city), None)).await;
    let spoof = [
        ("cloudfront-viewer-country", "FR"),
        ("cloudfront-viewer-city", "Paris"),
        ("cloudfront-viewer-address", "10.0.0.1:1"),
        ("cloudfront-is-mobile-viewer", "true"),
        ("x-custom", "kept"),
    ];
    // A policy listing only Country: the generated Country, nothing else of CloudFront's.
    let r = get_as(&edge, "216.160.83.56", "/country/x", &spoof).await;
    assert_eq!(r.status, 200);
    let last = origin.last();
    assert_eq!(last.headers["cloudfront-viewer-country"], "US");
    let cf: Vec<&str> = last
        .headers
        .keys()
        .map(|n| n.as_str())
        .filter(|n| n.starts_with("cloudfront-"))
        .collect();
    assert_eq!(cf, ["cloudfront-viewer-country"]);
    assert!(!last.headers.contains_key("x-custom"), "not in the policy");
    // AllViewer asks for no CloudFront header: the viewer's copies are removed, the rest pass.
    let r = get_as(&edge, "216.160.83.56", "/allviewer/x", &spoof).await;
    assert_eq!(r.status, 200);
    let last = origin.last();
    assert_eq!(last.headers["x-custom"], "kept");
    let cf: Vec<&str> = last
        .headers
        .keys()
        .map(|n| n.as_str())
        .filter(|n| n.starts_with("cloudfront-"))
        .collect();
    assert!(
        cf.is_empty(),
        "viewer-sent CloudFront-* headers reached the origin: {cf:?}"
    );
    edge.stop().await;
}

#[tokio::test]
async fn loopback_viewer_city_is_percent_encoded_and_unknown_fields_are_left_out() {
    let origin = TestOrigin::start().await;
    let edge = TestEdge::start(&config(origin.addr.port(), Some(&dbs().city), None)).await;
    // Straight from 127.0.0.1 (no X-Forwarded-For): the test database puts it in Linköping.
    let r = send(edge.viewer, "GET", HOST, "/direct", &[], b"").await;
    assert_eq!(r.status, 200);
    let h = |n: &str| seen(&origin, n);
    assert_eq!(h("cloudfront-viewer-country").as_deref(), Some("SE"));
    assert_eq!(
        h("cloudfront-viewer-city").as_deref(),
        Some("Link%C3%B6ping")
    );
    assert_eq!(h("cloudfront-viewer-country-region").as_deref(), Some("E"));
    assert_eq!(
        h("cloudfront-viewer-country-region-name").as_deref(),
        Some("%C3%96sterg%C3%B6tland County")
    );
    assert_eq!(
        h("cloudfront-viewer-time-zone").as_deref(),
        Some("Europe/Stockholm")
    );
    assert_eq!(h("cloudfront-viewer-metro-code"), None, "not in the US");
    assert_eq!(
        h("cloudfront-viewer-postal-code"),
        None,
        "not in the record"
    );
    assert!(
        h("cloudfront-viewer-address")
            .unwrap()
            .starts_with("127.0.0.1:")
    );
    // An address the database does not hold: no location headers, the rest still there.
    get_as(&edge, "198.51.100.7", "/unknown", &[]).await;
    assert_eq!(h("cloudfront-viewer-country"), None);
    assert_eq!(h("cloudfront-viewer-city"), None);
    assert_eq!(h("cloudfront-forwarded-proto").as_deref(), Some("http"));
    // A record without location (anycast): likewise.
    get_as(&edge, "214.1.1.1", "/anycast", &[]).await;
    assert_eq!(h("cloudfront-viewer-country"), None);
    // IPv6 lookups work too.
    get_as(&edge, "2001:218::1", "/v6", &[]).await;
    assert_eq!(h("cloudfront-viewer-country").as_deref(), Some("JP"));
    assert_eq!(
        h("cloudfront-viewer-address")
            .unwrap()
            .rsplit_once(':')
            .unwrap()
            .0,
        "2001:218::1"
    );
    edge.stop().await;
}

#[tokio::test]
async fn the_cache_key_uses_the_generated_country() {
    let origin = TestOrigin::start().await;
    let edge = TestEdge::start(&config(origin.addr.port(), Some(&dbs().city), None)).await;
    let us = get_as(&edge, "216.160.83.56", "/keyed/page", &[]).await;
    assert_eq!(us.header("x-cache"), Some("Miss from cloudfront"));
    assert_eq!(
        seen(&origin, "cloudfront-viewer-country").as_deref(),
        Some("US")
    );
    // Another country is another object.
    let gb = get_as(&edge, "81.2.69.160", "/keyed/page", &[]).await;
    assert_eq!(gb.header("x-cache"), Some("Miss from cloudfront"));
    assert_eq!(
        seen(&origin, "cloudfront-viewer-country").as_deref(),
        Some("GB")
    );
    // A US viewer claiming GB still gets the US object: the viewer's value is not keyed on.
    let spoof = get_as(
        &edge,
        "216.160.83.56",
        "/keyed/page",
        &[("cloudfront-viewer-country", "GB")],
    )
    .await;
    assert_eq!(spoof.header("x-cache"), Some("Hit from cloudfront"));
    // A viewer the database cannot locate is keyed without the header (a third object).
    let unknown = get_as(
        &edge,
        "198.51.100.7",
        "/keyed/page",
        &[("cloudfront-viewer-country", "US")],
    )
    .await;
    assert_eq!(unknown.header("x-cache"), Some("Miss from cloudfront"));
    assert_eq!(seen(&origin, "cloudfront-viewer-country"), None);
    assert_eq!(origin.hits_for("/keyed/page"), 3);
    edge.stop().await;
}

#[tokio::test]
async fn geo_restriction_blocks_by_country() {
    let origin = TestOrigin::start().await;
    let edge = TestEdge::start(&config(
        origin.addr.port(),
        Some(&dbs().city),
        Some(r#"{ restriction_type = "blacklist", items = ["GB"] }"#),
    ))
    .await;
    // Country GB (its registered country is FR): refused before the origin is asked.
    let blocked = get_as(&edge, "2.125.160.216", "/blocked", &[]).await;
    assert_eq!(blocked.status, 403);
    assert!(
        blocked
            .text()
            .contains("configured to block access from your country"),
        "{}",
        blocked.text()
    );
    assert_eq!(blocked.header("x-cache"), Some("Error from cloudfront"));
    assert_eq!(origin.hits_for("/blocked"), 0);
    // A spoofed CloudFront-Viewer-Country does not help.
    let still = get_as(
        &edge,
        "81.2.69.160",
        "/blocked",
        &[("cloudfront-viewer-country", "US")],
    )
    .await;
    assert_eq!(still.status, 403);
    // Other countries and unlocatable viewers are served.
    for ip in ["216.160.83.56", "214.1.1.1", "198.51.100.7"] {
        let r = get_as(&edge, ip, "/served", &[]).await;
        assert_eq!(r.status, 200, "{ip}: {}", r.text());
    }
    assert_eq!(origin.hits_for("/served"), 3);

    // The access log says why: 403, Error, ClientGeoBlocked.
    let metrics = get(edge.admin, "localhost", "/metrics").await;
    assert_eq!(metrics.status, 200);
    let lines = journal(edge.data_dir.path());
    let rid = blocked.header("x-amz-cf-id").unwrap();
    let l = journal_line(&lines, rid);
    assert_eq!(l[field::STATUS], "403");
    assert_eq!(l[field::RESULT], "Error");
    assert_eq!(l[DETAILED], "ClientGeoBlocked", "{l:?}");
    let served = lines
        .iter()
        .find(|l| l[field::STEM] == "/served")
        .expect("a served line");
    assert_ne!(served[DETAILED], "ClientGeoBlocked");
    edge.stop().await;
}

#[tokio::test]
async fn geo_restriction_whitelist_serves_only_listed_countries_and_unknown_locations() {
    let origin = TestOrigin::start().await;
    let edge = TestEdge::start(&config(
        origin.addr.port(),
        Some(&dbs().city),
        Some(r#"{ restriction_type = "whitelist", items = ["US", "JP"] }"#),
    ))
    .await;
    assert_eq!(get_as(&edge, "81.2.69.160", "/w", &[]).await.status, 403);
    assert_eq!(get_as(&edge, "216.160.83.56", "/w", &[]).await.status, 200);
    assert_eq!(get_as(&edge, "2001:218::1", "/w", &[]).await.status, 200);
    // Not in the database: the location is unknown, and CloudFront serves unknown locations.
    assert_eq!(get_as(&edge, "198.51.100.7", "/w", &[]).await.status, 200);
    // Loopback itself is in Sweden in the test database: refused.
    let direct = send(edge.viewer, "GET", HOST, "/w", &[], b"").await;
    assert_eq!(direct.status, 403);
    assert_eq!(origin.hits_for("/w"), 3);
    edge.stop().await;
}

#[tokio::test]
async fn without_a_database_locations_are_unknown_so_restrictions_serve_everyone() {
    let origin = TestOrigin::start().await;
    let edge = TestEdge::start(&config(
        origin.addr.port(),
        None,
        Some(r#"{ restriction_type = "whitelist", items = ["US"] }"#),
    ))
    .await;
    let r = get_as(
        &edge,
        "81.2.69.160",
        "/nodb",
        &[("cloudfront-viewer-country", "US")],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    // No location headers, and the viewer's copy is still removed; the rest are generated.
    assert_eq!(seen(&origin, "cloudfront-viewer-country"), None);
    assert_eq!(
        seen(&origin, "cloudfront-forwarded-proto").as_deref(),
        Some("http")
    );
    edge.stop().await;
}

#[tokio::test]
async fn a_real_geolite2_database_locates_a_well_known_address() {
    let origin = TestOrigin::start().await;
    let edge = TestEdge::start(&config(origin.addr.port(), Some(&dbs().geolite2), None)).await;
    // RIPE NCC's own address, in Amsterdam.
    let r = get_as(&edge, "193.0.6.139", "/ripe", &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        seen(&origin, "cloudfront-viewer-country").as_deref(),
        Some("NL")
    );
    assert_eq!(
        seen(&origin, "cloudfront-viewer-country-name").as_deref(),
        Some("Netherlands")
    );
    assert_eq!(
        seen(&origin, "cloudfront-viewer-city").as_deref(),
        Some("Amsterdam")
    );
    // Google's public resolver over IPv6.
    get_as(&edge, "2001:4860:4860::8888", "/google", &[]).await;
    assert_eq!(
        seen(&origin, "cloudfront-viewer-country").as_deref(),
        Some("US")
    );
    edge.stop().await;
}

#[tokio::test]
async fn a_bad_geoip_database_stops_start_up_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.mmdb");
    std::fs::write(&bad, b"not a database").unwrap();
    let file: edgegate::config::FileConfig =
        toml::from_str(&format!("geoip_db = \"{}\"", bad.display())).unwrap();
    let args = edgegate::config::ServeArgs {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        admin_listen: Some("127.0.0.1:0".parse().unwrap()),
        data_dir: Some(dir.path().join("data")),
        ..Default::default()
    };
    let settings = edgegate::config::Settings::resolve(&args, &file, dir.path()).expect("settings");
    let e = match edgegate::app::start(settings, file, None).await {
        Ok(_) => panic!("started with a bad GeoIP database"),
        Err(e) => e,
    };
    assert!(matches!(e, edgegate::app::StartError::GeoIp(_)), "{e:?}");
    let e = e.to_string();
    assert!(e.contains("bad.mmdb") && e.contains("MaxMind DB"), "{e}");
}

/// Runs curl over HTTPS to the edge's TLS listener with Host [`HOST`], fetching every path in
/// `paths` on one connection.
async fn curl_tls(tls: std::net::SocketAddr, version: &'static str, paths: &[&str]) {
    let resolve = format!("{HOST}:{}:127.0.0.1", tls.port());
    let urls: Vec<String> = paths
        .iter()
        .map(|p| format!("https://{HOST}:{}{p}", tls.port()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let out = std::process::Command::new("curl")
            .args([
                "-sk",
                "-o",
                "/dev/null",
                "-o",
                "/dev/null",
                version,
                "--resolve",
            ])
            .arg(&resolve)
            .args(&urls)
            .output()
            .expect("curl is installed");
        assert!(out.status.success(), "curl: {out:?}");
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_viewers_get_tls_protocol_and_http_version_headers() {
    let origin = TestOrigin::start().await;
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = crate::common::self_signed(certs.path());
    let top = format!(
        "listen_tls = \"127.0.0.1:0\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\n",
        cert.display(),
        key.display()
    );
    let cfg = format!(
        "{top}{}",
        config(origin.addr.port(), Some(&dbs().city), None)
    );
    let edge = TestEdge::start(&cfg).await;
    let tls = edge.viewer_tls.expect("TLS listener");
    let h = |n: &str| seen(&origin, n);

    curl_tls(tls, "--http2", &["/tls/one"]).await;
    assert_eq!(h("cloudfront-forwarded-proto").as_deref(), Some("https"));
    assert_eq!(h("cloudfront-viewer-http-version").as_deref(), Some("2.0"));
    let v = h("cloudfront-viewer-tls").expect("CloudFront-Viewer-TLS");
    let parts: Vec<&str> = v.split(':').collect();
    assert_eq!(parts.len(), 3, "{v}");
    assert!(parts[0].starts_with("TLSv1."), "{v}");
    assert!(!parts[1].is_empty(), "{v}");
    assert_eq!(parts[2], "fullHandshake", "{v}");
    // The viewer is 127.0.0.1 (Sweden in the test database) on HTTPS too.
    assert_eq!(h("cloudfront-viewer-country").as_deref(), Some("SE"));

    // Two requests on one HTTP/1.1 connection: the second reuses it.
    curl_tls(tls, "--http1.1", &["/tls/a", "/tls/b"]).await;
    assert_eq!(origin.last().path_and_query, "/tls/b");
    assert_eq!(h("cloudfront-viewer-http-version").as_deref(), Some("1.1"));
    let v = h("cloudfront-viewer-tls").unwrap();
    assert!(v.ends_with(":connectionReused"), "{v}");
    edge.stop().await;
}

#[tokio::test]
async fn a_custom_error_response_for_403_replaces_the_geo_block_page() {
    let origin = TestOrigin::start().await;
    let cfg = config(
        origin.addr.port(),
        Some(&dbs().city),
        Some(r#"{ restriction_type = "blacklist", items = ["GB"] }"#),
    )
    .replace(
        "enabled = true\n",
        "enabled = true\ncustom_error_responses = [{ error_code = 403, response_page_path = \"/errors/geo.html\", response_code = \"403\", error_caching_min_ttl = 0 }]\n",
    );
    let edge = TestEdge::start(&cfg).await;
    let r = get_as(&edge, "81.2.69.160", "/page", &[]).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.text(), "origin:/errors/geo.html");
    assert_eq!(origin.hits_for("/page"), 0);
    edge.stop().await;
}
