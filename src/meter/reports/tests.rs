//! Tests for the console reports, with hand-built entries.

use super::*;
use crate::meter::record::ResultType::{CapacityExceeded, Error, Hit, Miss, RefreshHit};

/// 2023-11-14T22:00:00Z.
const H22: i64 = 1_699_999_200;
const H23: i64 = H22 + 3_600;
/// 2023-11-14T00:00:00Z and the next two midnights.
const DAY: i64 = 1_699_920_000;

#[allow(clippy::too_many_arguments)]
fn entry(
    time: i64,
    dist: &str,
    stem: &str,
    status: u16,
    result: ResultType,
    response: ResultType,
    sc_bytes: u64,
    referer: Option<&str>,
) -> Entry {
    Entry {
        time,
        pop: "IAD89-C1".into(),
        sc_bytes,
        client_ip: "192.0.2.1".into(),
        method: "GET".into(),
        host: format!("{}.cloudfront.net", dist.to_ascii_lowercase()),
        uri_stem: stem.into(),
        status,
        referer: referer.map(str::to_string),
        result_type: Some(result),
        https: true,
        cs_bytes: 100,
        response_result_type: Some(response),
        distribution_id: dist.into(),
        billing_region: None,
        ttl_class: None,
        origin_bytes_out: 0,
        origin_shield: None,
    }
}

fn traffic() -> Vec<Entry> {
    vec![
        entry(H22 + 800, "E1", "/a", 200, Hit, Hit, 1_000, None),
        entry(H22 + 3_000, "E1", "/a", 200, Miss, Miss, 2_000, None),
        // Viewer left mid-body: incomplete download.
        entry(H22 + 3_599, "E1", "/b", 200, Error, Miss, 500, None),
        entry(H23 + 300, "E1", "/missing", 404, Error, Error, 300, None),
        entry(
            H23 + 600,
            "E1",
            "/b",
            503,
            CapacityExceeded,
            CapacityExceeded,
            200,
            None,
        ),
        entry(
            H23 + 1_200,
            "E1",
            "/a",
            304,
            RefreshHit,
            RefreshHit,
            100,
            None,
        ),
        // Viewer left before any response.
        entry(H23 + 1_800, "E1", "/a", 0, Error, Error, 0, None),
        entry(H22 + 1_800, "E2", "/x", 200, Hit, Hit, 50, None),
        // Outside the range.
        entry(DAY + 86_400, "E1", "/a", 200, Hit, Hit, 7, None),
        entry(DAY - 1, "E1", "/a", 200, Hit, Hit, 7, None),
    ]
}

fn scope(dist: Option<&str>) -> ReportScope {
    ReportScope {
        from: DAY,
        to: DAY + 86_400,
        distribution: dist.map(str::to_string),
        generated_at: DAY + 2 * 86_400 + 61,
    }
}

fn counts(n: [u64; 11]) -> Counts {
    Counts {
        request_count: n[0],
        hit_count: n[1],
        miss_count: n[2],
        error_count: n[3],
        incomplete_download_count: n[4],
        http_2xx: n[5],
        http_3xx: n[6],
        http_4xx: n[7],
        http_5xx: n[8],
        total_bytes: n[9],
        bytes_from_misses: n[10],
    }
}

#[test]
fn cache_statistics_hourly_counts() {
    let r = cache_statistics(traffic(), &scope(None), ReportGranularity::Hour);
    assert_eq!(r.header.distribution_id, "ALL");
    assert!(!r.truncated);
    let got: Vec<(&str, i64, Counts)> = r
        .rows
        .iter()
        .map(|row| (row.distribution_id.as_str(), row.time_bucket, row.counts))
        .collect();
    assert_eq!(
        got,
        vec![
            ("E1", H22, counts([3, 1, 2, 0, 1, 3, 0, 0, 0, 3_500, 2_000])),
            ("E1", H23, counts([4, 0, 0, 3, 0, 0, 1, 1, 1, 600, 0])),
            ("E2", H22, counts([1, 1, 0, 0, 0, 1, 0, 0, 0, 50, 0])),
        ]
    );
    assert!(r.rows.iter().all(|row| row.viewer_location == "All"));
    assert_eq!(r.rows[2].friendly_name, "e2.cloudfront.net");
}

#[test]
fn cache_statistics_daily_csv_is_exact() {
    let r = cache_statistics(traffic(), &scope(Some("E1")), ReportGranularity::Day);
    assert_eq!(
        r.to_csv(),
        "Version,1.0\n\
         Report,CacheStatistics\n\
         DistributionID,E1\n\
         StartDateUTC,2023-11-14T00:00:00Z\n\
         EndDateUTC,2023-11-15T00:00:00Z\n\
         GeneratedTimeUTC,2023-11-16T00:01:01Z\n\
         Granularity,Daily\n\
         ViewerLocation,All\n\
         \n\
         DistributionID,FriendlyName,ViewerLocation,TimeBucket,RequestCount,HitCount,MissCount,ErrorCount,IncompleteDownloadCount,HTTP2xx,HTTP3xx,HTTP4xx,HTTP5xx,TotalBytes,BytesFromMisses\n\
         E1,e1.cloudfront.net,All,2023-11-14T00:00:00Z,7,1,2,3,1,3,1,1,1,4100,2000\n"
    );
}

#[test]
fn cache_statistics_json_uses_console_names() {
    let r = cache_statistics(traffic(), &scope(Some("E2")), ReportGranularity::Hour);
    let v: serde_json::Value = serde_json::from_str(&r.to_json().unwrap()).unwrap();
    assert_eq!(v["Report"], "CacheStatistics");
    assert_eq!(v["DistributionID"], "E2");
    assert_eq!(v["Granularity"], "Hourly");
    assert_eq!(v["ViewerLocation"], "All");
    assert_eq!(v["StartDateUTC"], "2023-11-14T00:00:00Z");
    assert!(v.get("Truncated").is_none());
    let rows = v["Rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["TimeBucket"], "2023-11-14T22:00:00Z");
    assert_eq!(rows[0]["RequestCount"], 1);
    assert_eq!(rows[0]["HTTP2xx"], 1);
    assert_eq!(rows[0]["TotalBytes"], 50);
    assert_eq!(rows[0]["FriendlyName"], "e2.cloudfront.net");
}

#[test]
fn empty_input_gives_header_only() {
    let r = cache_statistics(Vec::new(), &scope(None), ReportGranularity::Hour);
    assert!(r.rows.is_empty());
    assert!(r.to_csv().ends_with("Granularity,Hourly\nViewerLocation,All\n\nDistributionID,FriendlyName,ViewerLocation,TimeBucket,RequestCount,HitCount,MissCount,ErrorCount,IncompleteDownloadCount,HTTP2xx,HTTP3xx,HTTP4xx,HTTP5xx,TotalBytes,BytesFromMisses\n"));
    assert!(popular_objects(Vec::new(), &scope(None)).rows.is_empty());
    assert!(top_referrers(Vec::new(), &scope(None)).rows.is_empty());
}

#[test]
fn popular_objects_counts_and_csv() {
    let r = popular_objects(traffic(), &scope(Some("E1")));
    assert_eq!(
        r.to_csv(),
        "Version,1.0\n\
         Report,PopularObjects\n\
         DistributionID,E1\n\
         StartDateUTC,2023-11-14T00:00:00Z\n\
         EndDateUTC,2023-11-15T00:00:00Z\n\
         GeneratedTimeUTC,2023-11-16T00:01:01Z\n\
         \n\
         DistributionID,FriendlyName,Object,RequestCount,HitCount,MissCount,HitCountPct,BytesFromMisses,TotalBytes,IncompleteDownloadCount,HTTP2xx,HTTP3xx,HTTP4xx,HTTP5xx\n\
         E1,e1.cloudfront.net,/a,4,1,1,25.00,2000,3100,0,2,1,0,0\n\
         E1,e1.cloudfront.net,/b,2,0,1,0.00,0,700,1,1,0,0,1\n\
         E1,e1.cloudfront.net,/missing,1,0,0,0.00,0,300,0,0,0,1,0\n"
    );
    let v: serde_json::Value = serde_json::from_str(&r.to_json().unwrap()).unwrap();
    assert_eq!(v["Rows"][0]["Object"], "/a");
    assert_eq!(v["Rows"][0]["HitCountPct"], 25.0);
}

#[test]
fn popular_objects_top_50_per_distribution_and_last_500_chars() {
    let mut entries = Vec::new();
    // Object /o{i} is requested i times (i = 1..=60), on E1; and 2/3 hits on /p for E2.
    for i in 1..=60u64 {
        for _ in 0..i {
            entries.push(entry(H22, "E1", &format!("/o{i}"), 200, Hit, Hit, 10, None));
        }
    }
    entries.push(entry(H22, "E2", "/p", 200, Hit, Hit, 1, None));
    entries.push(entry(H22, "E2", "/p", 200, Hit, Hit, 1, None));
    entries.push(entry(H22, "E2", "/p", 200, Miss, Miss, 1, None));
    let long = format!("/{}", "x".repeat(600));
    entries.push(entry(H22, "E2", &long, 200, Hit, Hit, 1, None));

    let r = popular_objects(entries, &scope(None));
    let e1: Vec<&PopularObjectRow> = r
        .rows
        .iter()
        .filter(|r| r.distribution_id == "E1")
        .collect();
    assert_eq!(e1.len(), TOP_OBJECTS);
    assert_eq!(e1[0].object, "/o60");
    assert_eq!(e1[0].counts.request_count, 60);
    assert_eq!(e1[49].object, "/o11");
    let e2: Vec<&PopularObjectRow> = r
        .rows
        .iter()
        .filter(|r| r.distribution_id == "E2")
        .collect();
    assert_eq!(e2.len(), 2);
    assert_eq!(e2[0].object, "/p");
    assert_eq!(e2[0].hit_count_pct, 66.67);
    assert_eq!(e2[1].object, "x".repeat(500));
}

#[test]
fn referrer_domains() {
    let cases = [
        (
            "https://www.Example.com:8443/page?x=1",
            Some("www.example.com"),
        ),
        ("http://user:pw@b.example/", Some("b.example")),
        ("http://c.example", Some("c.example")),
        ("http://d.example.?q", Some("d.example")),
        ("http://e.example%23frag", Some("e.example")),
        ("android-app://com.example.app/", Some("com.example.app")),
        ("http://%5B2001:db8::1%5D:8080/x", Some("%5b2001:db8::1%5d")),
        ("f.example/path", Some("f.example")),
        ("https:///nohost", None),
        ("-", None),
        ("", None),
    ];
    for (referer, want) in cases {
        assert_eq!(referrer_domain(referer).as_deref(), want, "{referer}");
    }
}

#[test]
fn top_referrers_counts_pct_and_csv() {
    let mut entries = vec![
        entry(
            H22,
            "E1",
            "/a",
            200,
            Hit,
            Hit,
            1,
            Some("https://www.example.com/a"),
        ),
        entry(
            H22,
            "E1",
            "/b",
            200,
            Hit,
            Hit,
            1,
            Some("https://WWW.example.com:443/b"),
        ),
        entry(
            H22,
            "E1",
            "/c",
            200,
            Hit,
            Hit,
            1,
            Some("http://search.example/?q=a,b"),
        ),
        entry(H22, "E1", "/d", 200, Hit, Hit, 1, None),
        entry(H23, "E1", "/d", 200, Hit, Hit, 1, None),
        entry(
            H23,
            "E1",
            "/d",
            404,
            Error,
            Error,
            1,
            Some("http://other.example/"),
        ),
        entry(H23, "E1", "/e", 200, Hit, Hit, 1, Some("-")),
        entry(
            H23,
            "E1",
            "/f",
            200,
            Hit,
            Hit,
            1,
            Some("http://www.example.com/"),
        ),
    ];
    entries.push(entry(
        DAY - 5,
        "E1",
        "/x",
        200,
        Hit,
        Hit,
        1,
        Some("http://old.example/"),
    ));
    let r = top_referrers(entries, &scope(Some("E1")));
    assert_eq!(
        r.to_csv(),
        "Version,1.0\n\
         Report,TopReferrers\n\
         DistributionID,E1\n\
         StartDateUTC,2023-11-14T00:00:00Z\n\
         EndDateUTC,2023-11-15T00:00:00Z\n\
         GeneratedTimeUTC,2023-11-16T00:01:01Z\n\
         \n\
         DistributionID,FriendlyName,Referrer,RequestCount,RequestsPct\n\
         E1,e1.cloudfront.net,www.example.com,3,37.50\n\
         E1,e1.cloudfront.net,other.example,1,12.50\n\
         E1,e1.cloudfront.net,search.example,1,12.50\n"
    );
    let v: serde_json::Value = serde_json::from_str(&r.to_json().unwrap()).unwrap();
    assert_eq!(v["Report"], "TopReferrers");
    assert_eq!(v["Rows"][0]["RequestsPct"], 37.5);
}

#[test]
fn top_referrers_keeps_25_per_distribution() {
    let mut entries = Vec::new();
    for i in 1..=30u64 {
        for _ in 0..i {
            let referer = format!("https://r{i}.example/");
            entries.push(entry(H22, "E1", "/", 200, Hit, Hit, 1, Some(&referer)));
        }
    }
    let r = top_referrers(entries, &scope(None));
    assert_eq!(r.rows.len(), TOP_REFERRERS);
    assert_eq!(r.rows[0].referrer, "r30.example");
    assert_eq!(r.rows[24].referrer, "r6.example");
    // 30 of 465 requests.
    assert_eq!(r.rows[0].requests_pct, 6.45);
}

#[test]
fn csv_fields_with_commas_are_quoted() {
    let e = entry(H22, "E1", "/a,b\"c", 200, Hit, Hit, 1, None);
    let csv = popular_objects(vec![e], &scope(None)).to_csv();
    assert!(
        csv.ends_with("E1,e1.cloudfront.net,\"/a,b\"\"c\",1,1,0,100.00,0,1,0,1,0,0,0\n"),
        "{csv}"
    );
}

#[test]
fn granularity_buckets() {
    assert_eq!(ReportGranularity::Hour.bucket_start(H22 + 3_599), H22);
    assert_eq!(ReportGranularity::Day.bucket_start(H23), DAY);
    assert_eq!(ReportGranularity::Hour.bucket_start(-1), -3_600);
}

#[test]
fn prune_keeps_the_most_requested() {
    let mut m: HashMap<String, u64> = (0..10u64).map(|i| (format!("k{i}"), i)).collect();
    m.insert("tie".into(), 9);
    prune(&mut m, 3, |n| *n);
    let mut kept: Vec<&str> = m.keys().map(String::as_str).collect();
    kept.sort();
    assert_eq!(kept, ["k8", "k9", "tie"]);
}
