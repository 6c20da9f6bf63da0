//! Tests of the store: lookups, collapsing, the tee body, invalidation and capacity.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use axum::body::Body;
use bytes::Bytes;
use http::StatusCode;
use http::header::{self, HeaderMap, HeaderValue};
use http_body_util::BodyExt;
use tokio::sync::{Barrier, mpsc};

use super::Cache;
use super::key::{self, CacheKey, KeySpec, Selection};
use super::store::{CachedObject, CachedObjectTemplate, Fill, FillGuard, Lookup, Waited, tee};
use crate::sendfile::{MIN_BODY, Mirror};

fn key_for(dist: &str, path: &str, query: Option<&str>) -> CacheKey {
    let spec = KeySpec {
        query_strings: Selection::All,
        ..KeySpec::default()
    };
    key::build(dist, false, path, query, &HeaderMap::new(), &spec, &|_| {
        false
    })
}

fn object(body: &'static str, ttl: u64) -> Arc<CachedObject> {
    Arc::new(CachedObject {
        status: StatusCode::OK,
        headers: HeaderMap::new(),
        body: Bytes::from_static(body.as_bytes()).into(),
        mirror: None,
        stored_at: SystemTime::now(),
        ttl: Duration::from_secs(ttl),
        origin_age: Duration::ZERO,
        stale: Default::default(),
        keep: Duration::from_secs(3600),
        error_cached_until: Default::default(),
        annex: Default::default(),
    })
}

fn template(content_length: Option<u64>) -> CachedObjectTemplate {
    let mut headers = HeaderMap::new();
    if let Some(l) = content_length {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(l));
    }
    CachedObjectTemplate {
        status: StatusCode::OK,
        headers,
        stored_at: SystemTime::now(),
        ttl: Duration::from_secs(60),
        stale: Default::default(),
        keep: Duration::ZERO,
    }
}

fn leader(cache: &Cache, key: &CacheKey) -> FillGuard {
    match cache.begin_fill(key) {
        Fill::Leader(g) => g,
        Fill::Follower(_) => panic!("expected to lead the fill of {key:?}"),
    }
}

async fn store(cache: &Cache, key: &CacheKey, obj: Arc<CachedObject>) {
    leader(cache, key).complete(obj).await;
}

fn is_miss(l: &Lookup) -> bool {
    matches!(l, Lookup::Miss)
}

/// A body fed chunk by chunk from the test.
fn channel_body() -> (mpsc::Sender<Result<Bytes, std::io::Error>>, Body) {
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(8);
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    (tx, Body::from_stream(stream))
}

#[tokio::test]
async fn lookup_fresh_stale_miss() {
    let cache = Cache::new(1 << 20);
    let k = key_for("D1", "/a", None);
    let now = SystemTime::now();
    assert!(is_miss(&cache.lookup(&k, now).await));
    store(&cache, &k, object("hello", 60)).await;
    match cache.lookup(&k, now).await {
        Lookup::Fresh(o) => assert_eq!(o.body, "hello"),
        other => panic!("{other:?}"),
    }
    match cache.lookup(&k, now + Duration::from_secs(61)).await {
        Lookup::Stale(o) => assert_eq!(o.body, "hello"),
        other => panic!("{other:?}"),
    }
    let s = cache.stats();
    assert_eq!(
        (s.hits, s.stale_hits, s.misses, s.fills, s.stored),
        (1, 1, 1, 1, 1)
    );
}

#[test]
fn object_age_and_freshness() {
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
    let mut o = Arc::into_inner(object("x", 10)).unwrap();
    o.stored_at = t0;
    assert_eq!(o.age(t0 + Duration::from_secs(4)), Duration::from_secs(4));
    assert_eq!(o.age(t0 - Duration::from_secs(4)), Duration::ZERO);
    assert!(o.is_fresh(t0 + Duration::from_secs(9)));
    assert!(!o.is_fresh(t0 + Duration::from_secs(10)));
    // The Age a viewer sees adds what the origin's Age said; freshness is the stored TTL.
    let aged = CachedObjectTemplate {
        status: StatusCode::OK,
        headers: HeaderMap::from_iter([(header::AGE, HeaderValue::from_static("30"))]),
        stored_at: t0,
        ttl: Duration::from_secs(10),
        stale: Default::default(),
        keep: Duration::ZERO,
    }
    .into_object(Bytes::new(), None);
    assert_eq!(aged.origin_age, Duration::from_secs(30));
    let later = t0 + Duration::from_secs(4);
    assert_eq!(aged.current_age(later), Duration::from_secs(34));
    assert!(aged.is_fresh(later));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_concurrent_fills_have_one_leader() {
    const N: usize = 200;
    let cache = Cache::new(1 << 20);
    let k = key_for("D1", "/hot", None);
    let start = Arc::new(Barrier::new(N));
    let joined = Arc::new(Barrier::new(N));
    let leaders = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..N {
        let (cache, k, start, joined, leaders) = (
            cache.clone(),
            k.clone(),
            start.clone(),
            joined.clone(),
            leaders.clone(),
        );
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            let fill = cache.begin_fill(&k);
            // Nobody completes before all 200 have called begin_fill.
            joined.wait().await;
            match fill {
                Fill::Leader(g) => {
                    leaders.fetch_add(1, Ordering::SeqCst);
                    let obj = object("body", 60);
                    g.complete(obj.clone()).await;
                    Some(obj)
                }
                Fill::Follower(w) => w.wait().await,
            }
        }));
    }
    for t in tasks {
        let got = t.await.unwrap().expect("every request gets the object");
        assert_eq!(got.body, "body");
    }
    assert_eq!(leaders.load(Ordering::SeqCst), 1);
    let s = cache.stats();
    assert_eq!((s.fills, s.collapsed), (1, N as u64 - 1));
    assert!(matches!(
        cache.lookup(&k, SystemTime::now()).await,
        Lookup::Fresh(_)
    ));
}

#[tokio::test]
async fn abandoned_fill_wakes_followers_and_one_becomes_leader() {
    let cache = Cache::new(1 << 20);
    let k = key_for("D1", "/x", None);
    let guard = leader(&cache, &k);
    let waiters: Vec<_> = (0..5)
        .map(|_| match cache.begin_fill(&k) {
            Fill::Follower(w) => w,
            Fill::Leader(_) => panic!("second leader"),
        })
        .collect();
    guard.abandon();
    for w in waiters {
        assert!(w.wait().await.is_none());
    }
    // The followers retry: exactly one leads.
    let retries: Vec<_> = (0..5).map(|_| cache.begin_fill(&k)).collect();
    assert_eq!(
        retries
            .iter()
            .filter(|f| matches!(f, Fill::Leader(_)))
            .count(),
        1
    );
    assert!(is_miss(&cache.lookup(&k, SystemTime::now()).await));
    assert_eq!(cache.stats().abandoned, 1);
}

#[tokio::test]
async fn passed_fill_tells_followers_to_go_to_the_origin() {
    let cache = Cache::new(1 << 20);
    let k = key_for("D1", "/private", None);
    let guard = leader(&cache, &k);
    let waiters: Vec<_> = (0..3)
        .map(|_| match cache.begin_fill(&k) {
            Fill::Follower(w) => w,
            Fill::Leader(_) => panic!("second leader"),
        })
        .collect();
    let mut waiters = waiters.into_iter();
    let plain = waiters.next().unwrap();
    guard.pass();
    // The slot is free at once, and followers learn not to queue behind a new leader.
    leader(&cache, &k).pass();
    assert!(plain.wait().await.is_none());
    for w in waiters {
        assert!(matches!(w.wait_outcome().await, Waited::Pass));
    }
    assert!(is_miss(&cache.lookup(&k, SystemTime::now()).await));
    let s = cache.stats();
    assert_eq!((s.passed, s.abandoned, s.stored), (2, 0, 0));
}

#[tokio::test]
async fn uncollapsible_keys_get_solo_fills_until_one_stores() {
    let cache = Cache::new(1 << 20);
    let k = key_for("D1", "/no-store", None);
    let other = key_for("D1", "/other", None);
    leader(&cache, &k).pass_uncollapsible();
    // Marked: every fill of the key leads on its own, none follows.
    let solos: Vec<_> = (0..3).map(|_| leader(&cache, &k)).collect();
    // Other keys still collapse.
    let _other_leader = leader(&cache, &other);
    assert!(matches!(cache.begin_fill(&other), Fill::Follower(_)));
    // A solo fill still stores a cacheable object, and the key collapses again.
    let mut solos = solos.into_iter();
    solos
        .next()
        .unwrap()
        .complete(object("now cacheable", 60))
        .await;
    assert!(matches!(
        cache.lookup(&k, SystemTime::now()).await,
        Lookup::Fresh(o) if o.body == "now cacheable"
    ));
    let _g = leader(&cache, &k);
    assert!(matches!(cache.begin_fill(&k), Fill::Follower(_)));
    // A solo fill dropped by its leader touches nobody else's fill.
    drop(solos);
    assert!(matches!(cache.begin_fill(&k), Fill::Follower(_)));
    // A solo fill asked for directly is never joined.
    let _solo = cache.begin_solo(&other);
    assert!(matches!(cache.begin_fill(&other), Fill::Follower(_)));
}

#[tokio::test]
async fn wait_outcome_distinguishes_object_and_retry() {
    let cache = Cache::new(1 << 20);
    let k = key_for("D1", "/o", None);
    let g = leader(&cache, &k);
    let w = match cache.begin_fill(&k) {
        Fill::Follower(w) => w,
        Fill::Leader(_) => panic!("should follow"),
    };
    drop(g);
    assert!(matches!(w.wait_outcome().await, Waited::Retry));
    let g = leader(&cache, &k);
    let w = match cache.begin_fill(&k) {
        Fill::Follower(w) => w,
        Fill::Leader(_) => panic!("should follow"),
    };
    g.complete(object("v", 60)).await;
    assert!(matches!(w.wait_outcome().await, Waited::Object(o) if o.body == "v"));
}

#[tokio::test]
async fn dropped_guard_counts_as_abandon_and_different_keys_do_not_collapse() {
    let cache = Cache::new(1 << 20);
    let a = key_for("D1", "/a", None);
    let b = key_for("D1", "/b", None);
    let ga = leader(&cache, &a);
    let _gb = leader(&cache, &b);
    let w = match cache.begin_fill(&a) {
        Fill::Follower(w) => w,
        Fill::Leader(_) => panic!("should follow"),
    };
    drop(ga);
    assert!(w.wait().await.is_none());
}

#[tokio::test]
async fn late_follower_of_completed_fill_gets_object() {
    let cache = Cache::new(1 << 20);
    let k = key_for("D1", "/x", None);
    let g = leader(&cache, &k);
    let w = match cache.begin_fill(&k) {
        Fill::Follower(w) => w,
        Fill::Leader(_) => panic!("should follow"),
    };
    g.complete(object("v", 60)).await;
    assert_eq!(w.wait().await.unwrap().body, "v");
    // The slot is gone: the next fill leads again (e.g. a later revalidation).
    assert!(matches!(cache.begin_fill(&k), Fill::Leader(_)));
}

#[tokio::test]
async fn tee_caches_after_full_read() {
    let cache = Cache::new(1 << 20);
    let k = key_for("D1", "/t", None);
    let (tx, body) = channel_body();
    let g = leader(&cache, &k);
    let w = match cache.begin_fill(&k) {
        Fill::Follower(w) => w,
        Fill::Leader(_) => panic!("should follow"),
    };
    let body = tee(body, g, template(Some(11)), 1000);
    let reader = tokio::spawn(async move { body.collect().await.unwrap().to_bytes() });
    tx.send(Ok(Bytes::from_static(b"hello "))).await.unwrap();
    tx.send(Ok(Bytes::from_static(b"world"))).await.unwrap();
    drop(tx);
    assert_eq!(reader.await.unwrap(), "hello world");
    assert_eq!(w.wait().await.unwrap().body, "hello world");
    match cache.lookup(&k, SystemTime::now()).await {
        Lookup::Fresh(o) => {
            assert_eq!(o.body, "hello world");
            assert_eq!(o.headers[header::CONTENT_LENGTH], "11");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn tee_single_chunk_and_empty_body() {
    let cache = Cache::new(1 << 20);
    let k = key_for("D1", "/one", None);
    let body = tee(Body::from("abc"), leader(&cache, &k), template(None), 1000);
    assert_eq!(body.collect().await.unwrap().to_bytes(), "abc");
    assert!(
        matches!(cache.lookup(&k, SystemTime::now()).await, Lookup::Fresh(o) if o.body == "abc")
    );

    let k = key_for("D1", "/empty", None);
    let body = tee(Body::empty(), leader(&cache, &k), template(Some(0)), 1000);
    assert!(body.collect().await.unwrap().to_bytes().is_empty());
    assert!(
        matches!(cache.lookup(&k, SystemTime::now()).await, Lookup::Fresh(o) if o.body.is_empty())
    );
}

#[tokio::test]
async fn tee_not_cached_when_dropped_midway() {
    let cache = Cache::new(1 << 20);
    let k = key_for("D1", "/t", None);
    let (tx, body) = channel_body();
    let g = leader(&cache, &k);
    let w = match cache.begin_fill(&k) {
        Fill::Follower(w) => w,
        Fill::Leader(_) => panic!("should follow"),
    };
    let mut body = tee(body, g, template(None), 1000);
    tx.send(Ok(Bytes::from_static(b"part"))).await.unwrap();
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(first, "part");
    drop(body); // the viewer disconnects
    assert!(w.wait().await.is_none());
    assert!(is_miss(&cache.lookup(&k, SystemTime::now()).await));
    assert!(matches!(cache.begin_fill(&k), Fill::Leader(_)));
}

#[tokio::test]
async fn tee_not_cached_over_limit_but_viewer_gets_everything() {
    let cache = Cache::new(1 << 20);
    let k = key_for("D1", "/big", None);
    let (tx, body) = channel_body();
    let body = tee(body, leader(&cache, &k), template(None), 8);
    let reader = tokio::spawn(async move { body.collect().await.unwrap().to_bytes() });
    tx.send(Ok(Bytes::from_static(b"12345"))).await.unwrap();
    tx.send(Ok(Bytes::from_static(b"67890"))).await.unwrap();
    drop(tx);
    assert_eq!(reader.await.unwrap(), "1234567890");
    assert!(is_miss(&cache.lookup(&k, SystemTime::now()).await));
    assert!(matches!(cache.begin_fill(&k), Fill::Leader(_)));
}

#[tokio::test]
async fn tee_with_content_length_over_limit_passes_through() {
    let cache = Cache::new(1 << 20);
    let k = key_for("D1", "/big", None);
    let body = tee(
        Body::from("0123456789"),
        leader(&cache, &k),
        template(Some(10)),
        5,
    );
    // Abandoned up front: the slot is free at once.
    assert!(matches!(cache.begin_fill(&k), Fill::Leader(_)));
    assert_eq!(body.collect().await.unwrap().to_bytes(), "0123456789");
    assert!(is_miss(&cache.lookup(&k, SystemTime::now()).await));
}

#[tokio::test]
async fn tee_not_cached_on_length_mismatch_or_error() {
    let cache = Cache::new(1 << 20);
    // Shorter than Content-Length (origin dropped the connection).
    let k = key_for("D1", "/short", None);
    let body = tee(
        Body::from("abc"),
        leader(&cache, &k),
        template(Some(10)),
        1000,
    );
    assert_eq!(body.collect().await.unwrap().to_bytes(), "abc");
    assert!(is_miss(&cache.lookup(&k, SystemTime::now()).await));

    // A body error.
    let k = key_for("D1", "/err", None);
    let (tx, body) = channel_body();
    let body = tee(body, leader(&cache, &k), template(None), 1000);
    let reader = tokio::spawn(async move { body.collect().await.is_err() });
    tx.send(Ok(Bytes::from_static(b"abc"))).await.unwrap();
    tx.send(Err(std::io::Error::other("reset"))).await.unwrap();
    drop(tx);
    assert!(reader.await.unwrap());
    assert!(is_miss(&cache.lookup(&k, SystemTime::now()).await));
}

#[tokio::test]
async fn invalidate_exact_wildcard_and_literal_star() {
    let cache = Cache::new(1 << 20);
    let keys = [
        key_for("D1", "/index.html", None),
        key_for("D1", "/images/a.jpg", None),
        key_for("D1", "/images/b/c.jpg", None),
        key_for("D1", "/file.jpg", Some("v=1")),
        key_for("D1", "/file.jpg", None),
        key_for("D1", "/a*b", None),
        key_for("D1", "/axb", None),
        key_for("D2", "/index.html", None),
    ];
    for k in &keys {
        store(&cache, k, object("x", 600)).await;
    }
    let now = SystemTime::now();
    let present = |i: usize| {
        let (cache, k) = (cache.clone(), keys[i].clone());
        async move { !is_miss(&cache.lookup(&k, now).await) }
    };

    assert_eq!(cache.invalidate("D1", &["/index.html".to_owned()]).await, 1);
    assert!(!present(0).await);
    assert!(present(7).await, "other distributions are untouched");

    // Exact path does not match the query variant; `*` at the end does.
    assert_eq!(cache.invalidate("D1", &["/file.jpg".to_owned()]).await, 1);
    assert!(present(3).await);
    assert_eq!(cache.invalidate("D1", &["/file.jpg*".to_owned()]).await, 1);
    assert!(!present(3).await);

    // `*` in the middle is literal.
    assert_eq!(cache.invalidate("D1", &["/a*b".to_owned()]).await, 1);
    assert!(!present(5).await);
    assert!(present(6).await);

    assert_eq!(
        cache
            .invalidate("D1", &["/images/*".to_owned(), "/nothing".to_owned()])
            .await,
        2
    );
    assert!(!present(1).await && !present(2).await);

    assert_eq!(cache.invalidate("D1", &["/*".to_owned()]).await, 1);
    assert!(!present(6).await);
    assert!(present(7).await);
    assert_eq!(cache.stats().invalidated, 7);
}

#[tokio::test]
async fn invalidate_covers_header_and_cookie_variants() {
    let cache = Cache::new(1 << 20);
    let spec = KeySpec {
        headers: Selection::Whitelist(vec!["X-V".into()]),
        ..KeySpec::default()
    };
    for v in ["1", "2"] {
        let mut h = HeaderMap::new();
        h.insert("x-v", HeaderValue::from_static(v));
        let k = key::build("D1", false, "/p", None, &h, &spec, &|_| false);
        store(&cache, &k, object("x", 600)).await;
    }
    assert_eq!(cache.invalidate("D1", &["/p".to_owned()]).await, 2);
}

#[tokio::test]
async fn fill_started_before_invalidation_does_not_resurrect() {
    let cache = Cache::new(1 << 20);
    let k = key_for("D1", "/doc", None);
    store(&cache, &k, object("old", 1)).await;
    // An expired entry is being refreshed when the invalidation arrives.
    let g = leader(&cache, &k);
    assert_eq!(cache.invalidate("D1", &["/doc".to_owned()]).await, 1);
    // New requests do not join the old fill.
    let g2 = leader(&cache, &k);
    g.complete(object("old-refreshed", 60)).await;
    assert!(is_miss(&cache.lookup(&k, SystemTime::now()).await));
    // The fill that began after the invalidation stores normally; the old one's slot cleanup
    // does not disturb it.
    g2.complete(object("new", 60)).await;
    assert!(
        matches!(cache.lookup(&k, SystemTime::now()).await, Lookup::Fresh(o) if o.body == "new")
    );
}

#[tokio::test]
async fn capacity_bounds_weighted_size() {
    let capacity = 64 * 1024;
    let cache = Cache::new(capacity);
    assert_eq!(cache.max_object_size(), capacity / 8);
    let body: &'static str = Box::leak("z".repeat(4000).into_boxed_str());
    for i in 0..100 {
        let k = key_for("D1", &format!("/obj/{i}"), None);
        store(&cache, &k, object(body, 600)).await;
    }
    cache.sync().await;
    let s = cache.stats();
    assert!(s.weighted_bytes <= capacity, "{s:?}");
    assert!(s.entries > 0 && s.entries < 100, "{s:?}");
    assert_eq!(
        Cache::new(1 << 40).max_object_size(),
        u64::from(u32::MAX) - 64 * 1024
    );
}

#[test]
fn stored_objects_do_not_share_the_buffers_they_were_parsed_from() {
    // hyper's header values (and body chunks) are slices of the connection's read buffer; a
    // stored object must own copies so the buffer can be freed.
    let read_buffer = Bytes::from(vec![b'x'; 64 * 1024]);
    let range = read_buffer.as_ptr() as usize..read_buffer.as_ptr() as usize + read_buffer.len();
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_maybe_shared(read_buffer.slice(0..10)).unwrap(),
    );
    let mut secret = HeaderValue::from_maybe_shared(read_buffer.slice(10..20)).unwrap();
    secret.set_sensitive(true);
    headers.insert("x-secret", secret);
    let template = CachedObjectTemplate {
        status: StatusCode::OK,
        headers,
        stored_at: SystemTime::now(),
        ttl: Duration::from_secs(60),
        stale: Default::default(),
        keep: Duration::ZERO,
    };
    let obj = template.into_object(Bytes::from_static(b"body"), None);
    let ct = obj.headers.get(header::CONTENT_TYPE).unwrap();
    assert_eq!(ct.as_bytes(), b"xxxxxxxxxx");
    assert!(!range.contains(&(ct.as_bytes().as_ptr() as usize)));
    let s = obj.headers.get("x-secret").unwrap();
    assert!(s.is_sensitive());
    assert!(!range.contains(&(s.as_bytes().as_ptr() as usize)));
}

#[tokio::test]
async fn tee_stores_a_copy_not_the_origin_chunks() {
    let cache = Cache::new(1 << 20);
    let k = key_for("D1", "/copy", None);
    let guard = leader(&cache, &k);
    // One chunk that is the whole body: a slice of a larger read buffer in real life.
    let read_buffer = Bytes::from(vec![7u8; 64 * 1024]);
    let chunk = read_buffer.slice(0..8192);
    let (tx, body) = channel_body();
    let viewer = tee(body, guard, template(Some(8192)), 1 << 20);
    tx.send(Ok(chunk.clone())).await.unwrap();
    drop(tx);
    let got = viewer.collect().await.unwrap().to_bytes();
    assert_eq!(got.len(), 8192);
    let Lookup::Fresh(obj) = cache.lookup(&k, SystemTime::now()).await else {
        panic!("the object was not stored");
    };
    let body = obj.body.in_memory().expect("in memory");
    assert_eq!(body.len(), 8192);
    assert!(body.iter().all(|b| *b == 7));
    let range = read_buffer.as_ptr() as usize..read_buffer.as_ptr() as usize + read_buffer.len();
    assert!(!range.contains(&(body.as_ptr() as usize)));
}

#[tokio::test]
async fn stored_objects_beyond_the_capacity_are_evicted_as_fills_complete() {
    // moka alone evicts once 64 writes have queued up; fill completions nudge it sooner, so
    // the objects alive (held by the cache) stay near the capacity without an explicit sync.
    // With mirrors, each object holds its body twice and weighs it twice.
    const CAPACITY: u64 = 1024 * 1024;
    const BODY: usize = 32 * 1024;
    for mirrored in [false, true] {
        let cache = Cache::new(CAPACITY);
        let mut alive = Vec::new();
        for i in 0..100 {
            let body = Bytes::from(vec![0u8; BODY]);
            let obj = Arc::new(CachedObject {
                status: StatusCode::OK,
                headers: HeaderMap::new(),
                mirror: if mirrored { Mirror::of(&body) } else { None },
                body: body.into(),
                stored_at: SystemTime::now(),
                ttl: Duration::from_secs(60),
                origin_age: Duration::ZERO,
                stale: Default::default(),
                keep: Duration::ZERO,
                error_cached_until: Default::default(),
                annex: Default::default(),
            });
            assert_eq!(obj.mirror.is_some(), mirrored);
            alive.push(Arc::downgrade(&obj));
            store(&cache, &key_for("D", &format!("/o-{i}"), None), obj).await;
        }
        let held = alive.iter().filter(|w| w.strong_count() > 0).count() as u64;
        let copies = if mirrored { 2 } else { 1 };
        let bound = CAPACITY + CAPACITY / 32 + 2 * copies * BODY as u64;
        assert!(
            held * copies * BODY as u64 <= bound,
            "{held} objects of {BODY} bytes ({copies} copies) still held by a cache of {CAPACITY} bytes"
        );
        assert!(held > 0, "the cache kept nothing");
    }
}

#[tokio::test]
async fn a_cache_with_mirrors_gives_large_filled_bodies_one() {
    for mirrors in [false, true] {
        let cache = Cache::with_mirrors(1 << 24, mirrors);
        for (path, len) in [("/small", MIN_BODY - 1), ("/large", MIN_BODY * 2)] {
            let k = key_for("D1", path, None);
            let data = Bytes::from(vec![7u8; len]);
            let body = tee(
                Body::from(data.clone()),
                leader(&cache, &k),
                template(None),
                1 << 22,
            );
            assert_eq!(body.collect().await.unwrap().to_bytes(), data);
            let Lookup::Fresh(o) = cache.lookup(&k, SystemTime::now()).await else {
                panic!("{path} was not stored");
            };
            let want = mirrors && len >= MIN_BODY;
            assert_eq!(o.mirror.is_some(), want, "{path}, mirrors {mirrors}");
            if want {
                assert_eq!(o.size(), 2 * len as u64, "a mirrored body weighs twice");
            }
        }
    }
}

#[tokio::test]
async fn expired_objects_are_held_only_for_their_keep_time() {
    let cache = Cache::new(1 << 20);
    let k = key_for("D1", "/keep", None);
    let t0 = SystemTime::now();
    let mut template = template(None);
    template.stored_at = t0;
    template.ttl = Duration::from_secs(10);
    template.stale = crate::cache::ttl::StaleWindows {
        while_revalidate: Duration::from_secs(5),
        if_error: Some(Duration::from_secs(20)),
    };
    template.keep = Duration::from_secs(20);
    let obj = Arc::new(template.into_object(Bytes::from_static(b"kept"), None));
    store(&cache, &k, Arc::clone(&obj)).await;
    let at = |s: u64| t0 + Duration::from_secs(s);
    assert!(matches!(cache.lookup(&k, at(9)).await, Lookup::Fresh(_)));
    assert!(matches!(cache.lookup(&k, at(29)).await, Lookup::Stale(_)));
    assert!(matches!(cache.lookup(&k, at(30)).await, Lookup::Miss));
    // The windows count from expiry.
    assert!(!obj.within_while_revalidate(at(9)));
    assert!(obj.within_while_revalidate(at(14)));
    assert!(!obj.within_while_revalidate(at(15)));
    assert!(obj.within_if_error(at(29), Duration::ZERO));
    assert!(!obj.within_if_error(at(30), Duration::from_secs(100)));
    // Without stale-if-error, the caller's window applies.
    let mut no_sie = template_at(t0);
    no_sie.stale.if_error = None;
    let o = no_sie.into_object(Bytes::new(), None);
    assert!(o.within_if_error(at(15), Duration::from_secs(10)));
    assert!(!o.within_if_error(at(20), Duration::from_secs(10)));
    assert!(
        !o.within_if_error(at(5), Duration::from_secs(10)),
        "fresh is not stale"
    );
}

fn template_at(t0: SystemTime) -> CachedObjectTemplate {
    let mut t = template(None);
    t.stored_at = t0;
    t.ttl = Duration::from_secs(10);
    t
}

#[tokio::test]
async fn one_revalidation_at_a_time() {
    let cache = Cache::new(1 << 20);
    let k = key_for("D1", "/reval", None);
    let first = cache.begin_revalidation(&k).expect("nothing in flight");
    assert!(cache.begin_revalidation(&k).is_none());
    // A viewer's fill in flight also counts.
    assert!(matches!(cache.begin_fill(&k), Fill::Follower(_)));
    first.abandon();
    let second = cache.begin_revalidation(&k).expect("the first one ended");
    assert!(matches!(cache.begin_fill(&k), Fill::Follower(_)));
    second.pass();
    assert!(cache.begin_revalidation(&k).is_some());
}

#[test]
fn an_origin_error_is_cached_within_the_stale_if_error_window() {
    let t0 = SystemTime::now();
    let at = |s: u64| t0 + Duration::from_secs(s);
    let obj = template_at(t0).into_object(Bytes::new(), None);
    assert!(!obj.origin_error_cached(at(11)));
    // No stale-if-error: the caller's window (here 10 s after expiry) caps it.
    obj.note_origin_error(at(25), Duration::from_secs(10));
    assert!(obj.origin_error_cached(at(19)));
    assert!(!obj.origin_error_cached(at(20)));
    // With stale-if-error=60, the error's own duration ends it.
    let mut t = template_at(t0);
    t.stale.if_error = Some(Duration::from_secs(60));
    let obj = t.into_object(Bytes::new(), None);
    obj.note_origin_error(at(25), Duration::ZERO);
    assert!(obj.origin_error_cached(at(24)));
    assert!(!obj.origin_error_cached(at(25)));
}
