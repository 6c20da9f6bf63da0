//! Range requests through the real server (caching.md §10): a cold range is answered by the
//! origin's 206 at once while the whole object is filled behind it, and later ranges are hits;
//! an origin that ignores ranges, or answers chunked, has its whole object cached; invalid
//! multi-range requests get the whole object; `If-Range` is honoured on hits; objects the cache
//! cannot hold are never fetched whole; and a signed URL is checked on every range.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use bytes::Bytes;
use edgegate::clock::ManualClock;
use tokio::sync::watch;

use crate::common::{HOST, TestEdge, custom_origin_config, send};

/// The byte at position `i` of every object the origin serves.
fn byte_at(i: u64) -> u8 {
    (i % 251) as u8
}

fn bytes(range: std::ops::RangeInclusive<u64>) -> Vec<u8> {
    range.map(byte_at).collect()
}

/// Every request an origin received: its path and Range header.
type Seen = Arc<Mutex<Vec<(String, Option<String>)>>>;

/// A loopback origin for range tests. The path names the behaviour and the object's length:
/// - `…/r/{len}/…`: honours one byte range with 206 (cacheable for an hour); a whole-object
///   GET sends its first half at once and the rest only once the gate opens;
/// - `…/norange/{len}/…`: ignores ranges, 200 with Content-Length;
/// - `…/chunked/{len}/…`: ignores ranges, 200 chunked;
/// - `…/nostore/{len}/…`: as `r`, with `Cache-Control: no-store`.
struct RangeOrigin {
    addr: SocketAddr,
    /// Every request: (path, Range header).
    seen: Seen,
    gate: watch::Sender<bool>,
}

impl RangeOrigin {
    async fn start() -> RangeOrigin {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen: Seen = Arc::default();
        let (gate, open) = watch::channel(true);
        let s = seen.clone();
        let app = axum::Router::new().fallback(move |req: Request| {
            let (s, open) = (s.clone(), open.clone());
            async move { answer(req, s, open) }
        });
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        RangeOrigin { addr, seen, gate }
    }

    fn close_gate(&self) {
        self.gate.send_replace(false);
    }

    fn open_gate(&self) {
        self.gate.send_replace(true);
    }

    /// The requests for `path`: their Range headers (None for a whole-object GET).
    fn seen_for(&self, path: &str) -> Vec<Option<String>> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, r)| r.clone())
            .collect()
    }
}

fn answer(req: Request, seen: Seen, open: watch::Receiver<bool>) -> Response {
    let path = req.uri().path().to_owned();
    let range = req
        .headers()
        .get("range")
        .map(|v| v.to_str().unwrap().to_owned());
    seen.lock().unwrap().push((path.clone(), range.clone()));
    let mut segs = path
        .split('/')
        .skip_while(|s| !matches!(*s, "r" | "norange" | "chunked" | "nostore"));
    let mode = segs.next().unwrap_or("r").to_owned();
    let len: u64 = segs.next().and_then(|n| n.parse().ok()).unwrap_or(1000);
    let cache_control = if mode == "nostore" {
        "no-store"
    } else {
        "max-age=3600"
    };
    let builder = Response::builder()
        .header("content-type", "video/mp4")
        .header("cache-control", cache_control)
        .header("etag", "\"r1\"")
        .header("last-modified", "Mon, 02 Jan 2023 03:04:05 GMT")
        .header("accept-ranges", "bytes");
    match mode.as_str() {
        "norange" => builder
            .header("content-length", len)
            .body(Body::from(bytes(0..=len - 1)))
            .unwrap(),
        "chunked" => {
            let half = len / 2;
            let parts = [bytes(0..=half - 1), bytes(half..=len - 1)];
            let stream =
                futures_util::stream::iter(parts.map(|p| Ok::<_, std::io::Error>(Bytes::from(p))));
            builder.body(Body::from_stream(stream)).unwrap()
        }
        _ => {
            if let Some((start, end)) = range.as_deref().and_then(|r| single(r, len)) {
                return builder
                    .status(206)
                    .header("content-range", format!("bytes {start}-{end}/{len}"))
                    .header("content-length", end - start + 1)
                    .body(Body::from(bytes(start..=end)))
                    .unwrap();
            }
            // The whole object: its first half at once, the rest once the gate is open.
            let half = len / 2;
            let first = Bytes::from(bytes(0..=half - 1));
            let rest = Bytes::from(bytes(half..=len - 1));
            let stream = futures_util::stream::unfold(0u8, move |step| {
                let (first, rest) = (first.clone(), rest.clone());
                let mut open = open.clone();
                async move {
                    match step {
                        0 => Some((Ok::<_, std::io::Error>(first), 1)),
                        1 => {
                            let _ = open.wait_for(|o| *o).await;
                            Some((Ok(rest), 2))
                        }
                        _ => None,
                    }
                }
            });
            builder
                .header("content-length", len)
                .body(Body::from_stream(stream))
                .unwrap()
        }
    }
}

/// One `bytes=a-b`, `a-` or `-n` range within `len`.
fn single(range: &str, len: u64) -> Option<(u64, u64)> {
    let spec = range.strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    if a.is_empty() {
        let n: u64 = b.parse().ok()?;
        return Some((len.saturating_sub(n), len - 1));
    }
    let a: u64 = a.parse().ok()?;
    let b: u64 = if b.is_empty() {
        len - 1
    } else {
        b.parse::<u64>().ok()?.min(len - 1)
    };
    (a <= b).then_some((a, b))
}

async fn range_get(edge: &TestEdge, path: &str, headers: &[(&str, &str)]) -> crate::common::Resp {
    send(edge.viewer, "GET", HOST, path, headers, b"").await
}

/// A cold range is answered with the origin's 206 while the whole object is still on its way
/// to the cache; once it is stored, ranges are hits and the origin is asked nothing more.
#[tokio::test]
async fn a_cold_range_is_answered_at_once_and_later_ranges_are_hits() {
    let origin = RangeOrigin::start().await;
    let edge = TestEdge::start(&custom_origin_config(origin.addr.port())).await;
    let path = "/v/r/1048576/movie.mp4";
    origin.close_gate();
    let r = range_get(&edge, path, &[("range", "bytes=1000-1999")]).await;
    assert_eq!(r.status, 206);
    assert_eq!(r.header("content-range"), Some("bytes 1000-1999/1048576"));
    assert_eq!(r.body.as_ref(), bytes(1000..=1999).as_slice());
    assert_eq!(r.header("x-cache"), Some("Miss from cloudfront"));
    // The whole object was asked for behind the range, and is still held at the origin's gate:
    // the range did not wait for it.
    let seen = origin.seen_for(path);
    assert_eq!(seen[0].as_deref(), Some("bytes=1000-1999"));
    for _ in 0..200 {
        if origin.seen_for(path).len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        origin.seen_for(path),
        vec![Some("bytes=1000-1999".to_owned()), None]
    );
    origin.open_gate();
    // A whole-object request collapses onto the fill under way.
    let r = range_get(&edge, path, &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), 1048576);
    assert_eq!(r.header("x-cache"), Some("Hit from cloudfront"));
    for (range, first, last) in [
        ("bytes=-1024", 1047552, 1048575),
        ("bytes=524288-", 524288, 1048575),
        ("bytes=10-19", 10, 19),
    ] {
        let r = range_get(&edge, path, &[("range", range)]).await;
        assert_eq!(r.status, 206, "{range}");
        assert_eq!(r.header("x-cache"), Some("Hit from cloudfront"), "{range}");
        assert_eq!(
            r.header("content-range").unwrap(),
            format!("bytes {first}-{last}/1048576")
        );
        assert_eq!(r.body.as_ref(), bytes(first..=last).as_slice(), "{range}");
    }
    let r = range_get(&edge, path, &[("range", "bytes=1048576-")]).await;
    assert_eq!(r.status, 416);
    assert_eq!(r.header("content-range"), Some("bytes */1048576"));
    assert_eq!(origin.seen_for(path).len(), 2, "no more origin requests");
    edge.stop().await;
}

/// An origin that ignores ranges, or answers chunked, sends the whole object: the viewer gets
/// it (200), it is cached, and later ranges are served from it.
#[tokio::test]
async fn an_origin_without_range_support_has_its_whole_object_cached() {
    let origin = RangeOrigin::start().await;
    let edge = TestEdge::start(&custom_origin_config(origin.addr.port())).await;
    for path in ["/v/norange/5000/a.mp4", "/v/chunked/5000/a.mp4"] {
        let r = range_get(&edge, path, &[("range", "bytes=0-9")]).await;
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.body.as_ref(), bytes(0..=4999).as_slice(), "{path}");
        assert_eq!(r.header("x-cache"), Some("Miss from cloudfront"));
        let r = range_get(&edge, path, &[("range", "bytes=4990-")]).await;
        assert_eq!(r.status, 206, "{path}");
        assert_eq!(r.header("x-cache"), Some("Hit from cloudfront"), "{path}");
        assert_eq!(r.header("content-range"), Some("bytes 4990-4999/5000"));
        assert_eq!(r.body.as_ref(), bytes(4990..=4999).as_slice());
        assert_eq!(origin.seen_for(path).len(), 1, "{path}");
    }
    edge.stop().await;
}

/// Invalid multi-range requests (not ascending, overlapping) get 200 with the whole object, on
/// a miss (the origin is asked for the whole object) and on a hit; a valid multi-range miss
/// goes to the origin as it is.
#[tokio::test]
async fn invalid_multi_ranges_get_the_whole_object() {
    let origin = RangeOrigin::start().await;
    let edge = TestEdge::start(&custom_origin_config(origin.addr.port())).await;
    let path = "/v/r/3000/a.mp4";
    let r = range_get(&edge, path, &[("range", "bytes=500-600,0-10")]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), 3000);
    assert_eq!(
        origin.seen_for(path),
        vec![None],
        "asked for the whole object"
    );
    for range in ["bytes=500-600,0-10", "bytes=0-10,5-20", "bytes=x"] {
        let r = range_get(&edge, path, &[("range", range)]).await;
        assert_eq!(r.status, 200, "{range}");
        assert_eq!(r.header("x-cache"), Some("Hit from cloudfront"));
        assert_eq!(r.body.as_ref(), bytes(0..=2999).as_slice(), "{range}");
    }
    let multi = "/v/r/3000/b.mp4";
    range_get(&edge, multi, &[("range", "bytes=0-1,5-6")]).await;
    assert_eq!(
        origin.seen_for(multi),
        vec![Some("bytes=0-1,5-6".to_owned())]
    );
    edge.stop().await;
}

/// `If-Range` on a hit: the range applies only when the validator matches the stored one
/// (strongly for an entity tag, exactly for a date); otherwise the whole object is sent.
#[tokio::test]
async fn if_range_decides_between_the_range_and_the_whole_object() {
    let origin = RangeOrigin::start().await;
    let edge = TestEdge::start(&custom_origin_config(origin.addr.port())).await;
    let path = "/v/norange/2000/a.mp4";
    range_get(&edge, path, &[]).await;
    for (if_range, status) in [
        ("\"r1\"", 206),
        ("Mon, 02 Jan 2023 03:04:05 GMT", 206),
        ("\"r0\"", 200),
        ("W/\"r1\"", 200),
        ("Mon, 02 Jan 2023 03:04:06 GMT", 200),
    ] {
        let r = range_get(
            &edge,
            path,
            &[("range", "bytes=0-9"), ("if-range", if_range)],
        )
        .await;
        assert_eq!(r.status, status, "If-Range: {if_range}");
        assert_eq!(r.header("x-cache"), Some("Hit from cloudfront"));
        let len = if status == 206 { 10 } else { 2000 };
        assert_eq!(r.body.len(), len, "If-Range: {if_range}");
    }
    edge.stop().await;
}

/// Ranges of an object the cache cannot store, for its headers (`no-store` under a policy with
/// MinTTL 0) or its size, go to the origin
/// each time, and the whole object is never fetched behind them.
#[tokio::test]
async fn ranges_of_objects_the_cache_cannot_hold_are_not_filled() {
    let origin = RangeOrigin::start().await;
    // A 4 MiB cache holds objects of at most 512 KiB.
    let config = format!(
        "cache_size = \"4MiB\"\n{}",
        custom_origin_config(origin.addr.port())
    );
    let edge = TestEdge::start(&config).await;
    for path in ["/nostore/5000/a.mp4", "/v/r/1048576/big.mp4"] {
        for range in ["bytes=0-9", "bytes=10-19"] {
            let r = range_get(&edge, path, &[("range", range)]).await;
            assert_eq!(r.status, 206, "{path} {range}");
            assert_eq!(r.header("x-cache"), Some("Miss from cloudfront"));
        }
        assert_eq!(
            origin.seen_for(path),
            vec![Some("bytes=0-9".to_owned()), Some("bytes=10-19".to_owned())],
            "{path}"
        );
    }
    edge.stop().await;
}

/// A signed URL is checked on every range request: once it expires, ranges of the cached object
/// are refused (signed-urls.md §4.4).
#[tokio::test]
async fn a_signed_url_is_checked_on_every_range() {
    let origin = RangeOrigin::start().await;
    let clock = ManualClock::new();
    let config = crate::common::without_403_page(&custom_origin_config(origin.addr.port()));
    let edge = TestEdge::start_clocked(&config, clock.clone()).await;
    let path = "/private/r/4000/a.mp4";
    let expires = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 600;
    let url = format!("http://{HOST}{path}");
    let signed =
        crate::common::awscli::sign_with_demo_key(&url, "KTESTKEY00001", &expires.to_string())
            .await;
    let signed = signed
        .trim()
        .strip_prefix(&format!("http://{HOST}"))
        .unwrap()
        .to_owned();
    let r = range_get(&edge, path, &[("range", "bytes=0-99")]).await;
    assert_eq!(r.status, 403, "unsigned");
    let r = range_get(&edge, &signed, &[("range", "bytes=0-99")]).await;
    assert_eq!(r.status, 206, "{}", r.text());
    // The object is whole in the cache once a whole-object request collapses onto its fill.
    let r = range_get(&edge, &signed, &[]).await;
    assert_eq!(r.status, 200);
    let r = range_get(&edge, &signed, &[("range", "bytes=100-199")]).await;
    assert_eq!(r.status, 206);
    assert_eq!(r.header("x-cache"), Some("Hit from cloudfront"));
    clock.advance(Duration::from_secs(700));
    let r = range_get(&edge, &signed, &[("range", "bytes=200-299")]).await;
    assert_eq!(r.status, 403, "expired: {}", r.text());
    assert!(r.text().contains("AccessDenied"), "{}", r.text());
    edge.stop().await;
}
