//! Edge compression through the real server (caching.md §13): gzip and Brotli variants of a
//! compressible origin answer are made once, when filled, cached under the normalised
//! Accept-Encoding, served with a weak ETag and `Vary: Accept-Encoding`, and decodable to the
//! origin's body; nothing is compressed where CloudFront would not compress.

use std::io::Read;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use edgegate::clock::ManualClock;

use crate::common::*;

const CACHING_OPTIMIZED: &str = "658327ea-f89d-4fab-a63d-7e88639e58f6";
const UNCOMPRESSED_POLICY: &str = "b2884449-e4de-46a7-ac36-70bc7f1ddd6d";

/// The compressible body: about 100 KiB of JavaScript-like text.
fn script() -> Vec<u8> {
    let mut s = String::new();
    let mut i = 0u64;
    while s.len() < 100 * 1024 {
        s.push_str(&format!(
            "function f{i}(a, b) {{ return a * {} + b - {}; }}\n",
            i * 7919 % 1000,
            i % 13
        ));
        i += 1;
    }
    s.into_bytes()
}

/// An origin whose first path segment chooses the answer:
/// - `/js/...`, `/off/...`, `/nogzip/...`, `/legacy/...`: 200 `text/javascript` [`script`];
/// - `/missing/...`: the same body with 404; `/fail/...`: with 500;
/// - `/small/...`: 999 bytes; `/huge/...`: 10,000,001 bytes (both `text/javascript`);
/// - `/image/...`: the script as `image/png`;
/// - `/encoded/...`: the script under the origin's own `Content-Encoding: gzip` (bytes the
///   edge must pass through untouched);
/// - `/chunked/...`: the script streamed without `Content-Length`.
///
/// Every answer has `ETag: "v1"` and `max-age=3600`; a request whose `If-None-Match` matches
/// it (weakly) gets 304. Paths seen are recorded.
async fn origin() -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let s = seen.clone();
    let app = axum::Router::new().fallback(move |req: Request| {
        let s = s.clone();
        async move {
            let path = req.uri().path().to_owned();
            s.lock().unwrap().push(path.clone());
            // Revalidation, with RFC 9110's weak comparison for If-None-Match.
            let inm = req
                .headers()
                .get("if-none-match")
                .map(|v| v.as_bytes().to_vec());
            if let Some(inm) = inm {
                let tag = inm.strip_prefix(b"W/").unwrap_or(&inm);
                if tag == b"\"v1\"" {
                    return Response::builder()
                        .status(304)
                        .header("etag", "\"v1\"")
                        .header("cache-control", "max-age=3600")
                        .body(Body::empty())
                        .unwrap();
                }
            }
            let first = path.split('/').nth(1).unwrap_or_default().to_owned();
            let (status, ctype, body): (u16, &str, Vec<u8>) = match first.as_str() {
                "missing" => (404, "text/javascript", script()),
                "fail" => (500, "text/javascript", script()),
                "small" => (200, "text/javascript", vec![b'a'; 999]),
                "huge" => (200, "text/javascript", vec![b'a'; 10_000_001]),
                "image" => (200, "image/png", script()),
                _ => (200, "text/javascript; charset=utf-8", script()),
            };
            let b = Response::builder()
                .status(status)
                .header("content-type", ctype)
                .header("etag", "\"v1\"")
                .header("cache-control", "max-age=3600");
            match first.as_str() {
                "encoded" => b.header("content-encoding", "gzip").body(Body::from(body)),
                "chunked" => {
                    let chunks = body
                        .chunks(8192)
                        .map(|c| Ok::<_, std::io::Error>(bytes::Bytes::copy_from_slice(c)))
                        .collect::<Vec<_>>();
                    b.body(Body::from_stream(futures_util::stream::iter(chunks)))
                }
                _ => b.body(Body::from(body)),
            }
            .unwrap()
        }
    });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, seen)
}

fn hits(seen: &Mutex<Vec<String>>, path: &str) -> usize {
    seen.lock().unwrap().iter().filter(|p| *p == path).count()
}

fn config(port: u16) -> String {
    let behavior = |pattern: &str, extra: &str| {
        format!(
            r#"
[[distributions.cache_behaviors]]
path_pattern = "{pattern}"
target_origin_id = "web"
viewer_protocol_policy = "allow-all"
{extra}
"#
        )
    };
    format!(
        r#"
[[distributions]]
id = "ECOMPRESS001"
domain_name = "{HOST}"
caller_reference = "compress"
comment = "compress"
enabled = true

[[distributions.origins]]
id = "web"
domain_name = "localhost"
connection_attempts = 1
connection_timeout = 2
custom_origin_config = {{ http_port = {port}, https_port = 443, origin_protocol_policy = "http-only", origin_read_timeout = 5 }}

[distributions.default_cache_behavior]
target_origin_id = "web"
viewer_protocol_policy = "allow-all"
cache_policy_id = "{CACHING_OPTIMIZED}"
compress = true
{}{}{}"#,
        behavior(
            "/off/*",
            &format!("cache_policy_id = \"{CACHING_OPTIMIZED}\"\ncompress = false")
        ),
        behavior(
            "/nogzip/*",
            &format!("cache_policy_id = \"{UNCOMPRESSED_POLICY}\"\ncompress = true")
        ),
        behavior(
            "/legacy/*",
            "min_ttl = 0\ndefault_ttl = 86400\nmax_ttl = 31536000\ncompress = true\nforwarded_values = { query_string = false, cookies = { forward = \"none\" }, headers = [] }"
        ),
    )
}

fn gunzip(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(b)
        .read_to_end(&mut out)
        .expect("valid gzip");
    out
}

fn unbrotli(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    brotli::Decompressor::new(b, 4096)
        .read_to_end(&mut out)
        .expect("valid brotli");
    out
}

async fn get_ae(edge: &TestEdge, path: &str, ae: &str) -> Resp {
    send(
        edge.viewer,
        "GET",
        HOST,
        path,
        &[("accept-encoding", ae)],
        b"",
    )
    .await
}

/// Asserts `r` is the origin's answer as sent: no Content-Encoding, the strong ETag, the
/// whole body.
fn assert_uncompressed(r: &Resp, body_len: usize, what: &str) {
    assert_eq!(r.header("content-encoding"), None, "{what}: not compressed");
    assert_eq!(r.body.len(), body_len, "{what}: the origin's body");
    assert_eq!(
        r.header("etag"),
        Some("\"v1\""),
        "{what}: ETag as the origin sent it"
    );
}

#[tokio::test]
async fn compress_brotli_and_gzip_variants_made_once_and_cached() {
    let (addr, seen) = origin().await;
    let edge = TestEdge::start(&config(addr.port())).await;
    let original = script();

    // A viewer accepting both gets Brotli; the variant is made once.
    let br = get_ae(&edge, "/js/app.js", "gzip, deflate, br").await;
    assert_eq!(br.status, 200);
    assert_eq!(br.header("content-encoding"), Some("br"));
    assert_eq!(br.header("etag"), Some("W/\"v1\""));
    assert_eq!(br.header("vary"), Some("Accept-Encoding"));
    assert_eq!(br.header("x-cache"), Some("Miss from cloudfront"));
    assert_eq!(
        br.header("content-length"),
        Some(br.body.len().to_string().as_str())
    );
    assert!(
        br.body.len() < original.len() / 4,
        "Brotli shrinks the script"
    );
    assert_eq!(unbrotli(&br.body), original);
    let again = get_ae(&edge, "/js/app.js", "br, gzip").await;
    assert_eq!(again.header("x-cache"), Some("Hit from cloudfront"));
    assert_eq!(again.body, br.body, "the cached variant, not a new one");

    // gzip is a variant of its own, also made once.
    let gz = get_ae(&edge, "/js/app.js", "gzip").await;
    assert_eq!(gz.header("content-encoding"), Some("gzip"));
    assert_eq!(gz.header("etag"), Some("W/\"v1\""));
    assert_eq!(gz.header("x-cache"), Some("Miss from cloudfront"));
    assert_eq!(gunzip(&gz.body), original);
    let gz2 = get_ae(&edge, "/js/app.js", "gzip;q=1").await;
    assert_eq!(gz2.header("x-cache"), Some("Hit from cloudfront"));
    assert_eq!(gz2.body, gz.body);

    // No Accept-Encoding: the identity variant.
    let plain = get(edge.viewer, HOST, "/js/app.js").await;
    assert_uncompressed(&plain, original.len(), "identity");
    assert_eq!(plain.body, original);
    assert_eq!(hits(&seen, "/js/app.js"), 3, "one fill per variant");

    // A range on the compressed variant applies to the compressed bytes.
    let ranged = send(
        edge.viewer,
        "GET",
        HOST,
        "/js/app.js",
        &[("accept-encoding", "gzip,br"), ("range", "bytes=10-109")],
        b"",
    )
    .await;
    assert_eq!(ranged.status, 206);
    assert_eq!(ranged.header("content-encoding"), Some("br"));
    assert_eq!(
        ranged.header("content-range"),
        Some(format!("bytes 10-109/{}", br.body.len()).as_str())
    );
    assert_eq!(ranged.body, br.body.slice(10..110));
    assert_eq!(
        hits(&seen, "/js/app.js"),
        3,
        "the range is served from the cache"
    );

    // 404 is compressed too.
    let missing = get_ae(&edge, "/missing/x.js", "gzip").await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.header("content-encoding"), Some("gzip"));
    assert_eq!(gunzip(&missing.body), original);

    // Legacy ForwardedValues with Compress: gzip only.
    let legacy = get_ae(&edge, "/legacy/a.js", "br, gzip").await;
    assert_eq!(legacy.header("content-encoding"), Some("gzip"));
    assert_eq!(gunzip(&legacy.body), original);
    edge.stop().await;
}

#[tokio::test]
async fn compress_only_where_cloudfront_compresses() {
    let (addr, seen) = origin().await;
    let edge = TestEdge::start(&config(addr.port())).await;
    let n = script().len();

    let r = get_ae(&edge, "/off/a.js", "br, gzip").await;
    assert_uncompressed(&r, n, "Compress false");
    let r = get_ae(&edge, "/nogzip/a.js", "br, gzip").await;
    assert_uncompressed(&r, n, "policy without the encodings");
    let r = get_ae(&edge, "/small/a.js", "br, gzip").await;
    assert_uncompressed(&r, 999, "999 bytes");
    let r = get_ae(&edge, "/huge/a.js", "br, gzip").await;
    assert_uncompressed(&r, 10_000_001, "over 10,000,000 bytes");
    let r = get_ae(&edge, "/image/a.png", "br, gzip").await;
    assert_uncompressed(&r, n, "image/png");
    let r = get_ae(&edge, "/fail/a.js", "br, gzip").await;
    assert_eq!(r.status, 500);
    assert_uncompressed(&r, n, "status 500");
    let r = get_ae(&edge, "/chunked/a.js", "br, gzip").await;
    assert_eq!(r.header("content-encoding"), None, "no Content-Length");
    assert_eq!(r.body.len(), n);
    let r = get_ae(&edge, "/encoded/a.js", "br, gzip").await;
    assert_eq!(
        r.header("content-encoding"),
        Some("gzip"),
        "the origin's own"
    );
    assert_eq!(r.body, script(), "passed through untouched");
    assert_eq!(r.header("etag"), Some("\"v1\""));

    // HTTP/1.0: Accept-Encoding is removed, nothing is compressed.
    let mut conn = tokio::net::TcpStream::connect(edge.viewer).await.unwrap();
    conn.write_all(
        format!("GET /js/old.js HTTP/1.0\r\nHost: {HOST}\r\nAccept-Encoding: br, gzip\r\n\r\n")
            .as_bytes(),
    )
    .await
    .unwrap();
    let mut raw = Vec::new();
    conn.read_to_end(&mut raw).await.unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head");
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    assert!(
        head.starts_with("http/1.0 200") || head.starts_with("http/1.1 200"),
        "{head}"
    );
    assert!(!head.contains("content-encoding"), "{head}");
    assert_eq!(raw.len() - split - 4, n, "the whole uncompressed body");
    assert_eq!(hits(&seen, "/js/old.js"), 1);
    edge.stop().await;
}

#[tokio::test]
async fn compress_variant_revalidated_keeps_its_bytes_and_weak_etag() {
    let (addr, seen) = origin().await;
    let clock = ManualClock::new();
    let edge = TestEdge::start_clocked(&config(addr.port()), clock.clone()).await;
    let first = get_ae(&edge, "/js/reval.js", "br").await;
    assert_eq!(first.header("content-encoding"), Some("br"));
    clock.advance(std::time::Duration::from_secs(3_601));
    // Expired: revalidated with the origin, whose 304 (strong "v1") refreshes the variant.
    let again = get_ae(&edge, "/js/reval.js", "br").await;
    assert_eq!(again.header("x-cache"), Some("RefreshHit from cloudfront"));
    assert_eq!(again.header("content-encoding"), Some("br"));
    assert_eq!(
        again.header("etag"),
        Some("W/\"v1\""),
        "still the weak ETag"
    );
    assert_eq!(again.body, first.body);
    assert_eq!(unbrotli(&again.body), script());
    assert_eq!(hits(&seen, "/js/reval.js"), 2);
    edge.stop().await;
}

/// Ranges on a variant the edge compresses apply to the compressed bytes (caching.md §10): a
/// range miss is filled with the whole compressed object, which the first viewer gets (200),
/// and later ranges are cut from the compressed bytes; the origin is asked once, without the
/// range. A viewer that accepts no compression gets its ranges from the identity variant.
#[tokio::test]
async fn compress_ranges_apply_to_the_compressed_bytes() {
    let (addr, seen) = origin().await;
    let edge = TestEdge::start(&config(addr.port())).await;
    let path = "/js/ranged.js";
    let ranged = |range: &'static str| {
        let viewer = edge.viewer;
        async move {
            let headers = [("accept-encoding", "gzip"), ("range", range)];
            send(viewer, "GET", HOST, path, &headers, b"").await
        }
    };
    let first = ranged("bytes=0-99").await;
    assert_eq!(first.status, 200);
    assert_eq!(first.header("content-encoding"), Some("gzip"));
    assert_eq!(gunzip(&first.body), script());
    let whole = first.body.clone();
    let r = ranged("bytes=100-199").await;
    assert_eq!(r.status, 206);
    assert_eq!(r.header("x-cache"), Some("Hit from cloudfront"));
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert_eq!(
        r.header("content-range").unwrap(),
        format!("bytes 100-199/{}", whole.len())
    );
    assert_eq!(r.body.as_ref(), &whole[100..200]);
    assert_eq!(hits(&seen, path), 1);
    // The identity variant: this origin ignores ranges, so its whole answer is the first
    // viewer's and the next range is a hit.
    for status in [200, 206] {
        let r = send(
            edge.viewer,
            "GET",
            HOST,
            path,
            &[("range", "bytes=0-9")],
            b"",
        )
        .await;
        assert_eq!(r.status, status);
        assert_eq!(r.header("content-encoding"), None);
        let expected = if status == 200 {
            &script()[..]
        } else {
            &script()[0..10]
        };
        assert_eq!(r.body.as_ref(), expected);
    }
    assert_eq!(hits(&seen, path), 2);
    edge.stop().await;
}
