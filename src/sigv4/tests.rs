//! Tests for SigV4: AWS's published examples, sign→verify round trips and each failure code.

use super::*;
use time::macros::datetime;

const SUITE_KEY: &str = "AKIDEXAMPLE";
const SUITE_SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const S3_KEY: &str = "AKIAIOSFODNN7EXAMPLE";
const S3_SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

fn suite_headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("host", HeaderValue::from_static("example.amazonaws.com"));
    h.insert("x-amz-date", HeaderValue::from_static("20150830T123600Z"));
    h
}

fn suite_signature(uri: &str) -> String {
    let uri: Uri = uri.parse().unwrap();
    let scope = Scope {
        date: "20150830",
        region: "us-east-1",
        service: "service",
    };
    let canonical = canonical_request(
        &Method::GET,
        &uri,
        &suite_headers(),
        &["host", "x-amz-date"],
        EMPTY_SHA256,
        true,
    );
    signature(SUITE_SECRET, &scope, "20150830T123600Z", &canonical)
}

#[test]
fn get_vanilla_vector() {
    let uri: Uri = "/".parse().unwrap();
    let canonical = canonical_request(
        &Method::GET,
        &uri,
        &suite_headers(),
        &["host", "x-amz-date"],
        EMPTY_SHA256,
        true,
    );
    assert_eq!(
        canonical,
        "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n\
         e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(
        suite_signature("/"),
        "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
    );
}

#[test]
fn get_vanilla_query_order_key_case_vector() {
    assert_eq!(
        suite_signature("/?Param2=value2&Param1=value1"),
        "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"
    );
}

#[test]
fn get_vanilla_verifies_with_published_authorization() {
    let mut h = suite_headers();
    h.insert(
        "authorization",
        HeaderValue::from_static(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=host;x-amz-date, \
             Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
        ),
    );
    let lookup = |k: &str| (k == SUITE_KEY).then(|| SUITE_SECRET.to_owned());
    let now = datetime!(2015-08-30 12:40:00 UTC);
    let uri: Uri = "/".parse().unwrap();
    assert_eq!(
        verify(&Method::GET, &uri, &h, EMPTY_SHA256, lookup, "service", now),
        Ok(())
    );
}

fn s3_parts(uri: &str, range: Option<&'static str>) -> http::request::Parts {
    let mut b = http::Request::builder().method(Method::GET).uri(uri);
    if let Some(r) = range {
        b = b.header("range", r);
    }
    b.body(()).unwrap().into_parts().0
}

fn s3_creds() -> Credentials {
    Credentials {
        access_key_id: S3_KEY.into(),
        secret_access_key: S3_SECRET.into(),
        session_token: None,
    }
}

#[test]
fn s3_get_object_example() {
    let mut parts = s3_parts(
        "https://examplebucket.s3.amazonaws.com/test.txt",
        Some("bytes=0-9"),
    );
    sign(
        &mut parts,
        &s3_creds(),
        "us-east-1",
        "s3",
        datetime!(2013-05-24 00:00:00 UTC),
        EMPTY_SHA256,
    );
    assert_eq!(parts.headers["host"], "examplebucket.s3.amazonaws.com");
    assert_eq!(parts.headers["x-amz-date"], "20130524T000000Z");
    assert_eq!(parts.headers["x-amz-content-sha256"], EMPTY_SHA256);
    assert_eq!(
        parts.headers["authorization"],
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, \
         SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, \
         Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    );
}

#[test]
fn s3_list_objects_example_signs_the_query() {
    let mut parts = s3_parts(
        "https://examplebucket.s3.amazonaws.com/?max-keys=2&prefix=J",
        None,
    );
    sign(
        &mut parts,
        &s3_creds(),
        "us-east-1",
        "s3",
        datetime!(2013-05-24 00:00:00 UTC),
        EMPTY_SHA256,
    );
    let auth = parts.headers["authorization"].to_str().unwrap();
    assert!(
        auth.contains("SignedHeaders=host;x-amz-content-sha256;x-amz-date,"),
        "{auth}"
    );
    assert!(
        auth.ends_with(
            "Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"
        ),
        "{auth}"
    );
}

#[test]
fn canonical_paths() {
    // S3: decode once, encode once, no normalisation.
    assert_eq!(canonical_path("/a%20b/c+d/./e", false), "/a%20b/c%2Bd/./e");
    assert_eq!(canonical_path("/caf%C3%A9!", false), "/caf%C3%A9%21");
    assert_eq!(canonical_path("", false), "/");
    // Other services: normalised, then the encoded path is encoded again.
    assert_eq!(canonical_path("/a/./b/../c//d/", true), "/a/c/d/");
    assert_eq!(canonical_path("/example/..", true), "/");
    assert_eq!(canonical_path("/a%20b", true), "/a%2520b");
    assert_eq!(canonical_path("//", true), "/");
}

#[test]
fn canonical_query_sorts_encoded_pairs() {
    assert_eq!(canonical_query("b=2&a=1&A=0&a=0"), "A=0&a=0&a=1&b=2");
    assert_eq!(
        canonical_query("flag&x=a%20b&y=c+d"),
        "flag=&x=a%20b&y=c%2Bd"
    );
    assert_eq!(canonical_query(""), "");
}

#[test]
fn header_values_are_trimmed_and_collapsed() {
    assert_eq!(canonical_header_value(b"  a   b \t c  "), "a b c");
}

#[test]
fn debug_hides_the_secret() {
    let c = Credentials {
        session_token: Some("SeSsIoNtOkEn".into()),
        ..s3_creds()
    };
    let s = format!("{c:?}");
    assert!(
        !s.contains(S3_SECRET) && !s.contains("SeSsIoNtOkEn") && s.contains(S3_KEY),
        "{s}"
    );
}

const KEY: &str = "AKIAEDGEGATETEST0001";
const SECRET: &str = "edgegate/test/secret+key";

fn lookup(k: &str) -> Option<String> {
    (k == KEY).then(|| SECRET.to_owned())
}

const NOW: OffsetDateTime = datetime!(2026-03-01 10:00:00 UTC);

/// A signed control-plane request (POST with a body), as the AWS CLI would send it.
fn signed_request(region: &str, token: Option<&str>) -> (http::request::Parts, String) {
    let body = b"<InvalidationBatch/>";
    let mut parts = http::Request::builder()
        .method(Method::POST)
        .uri("http://127.0.0.1:9090/2020-05-31/distribution/EDFDVBD6EXAMPLE/invalidation?x=1%202")
        .header("content-type", "text/xml")
        .header("x-amz-user-agent", "aws-cli/2")
        .body(())
        .unwrap()
        .into_parts()
        .0;
    let creds = Credentials {
        access_key_id: KEY.into(),
        secret_access_key: SECRET.into(),
        session_token: token.map(str::to_owned),
    };
    let hash = sha256_hex(body);
    sign(&mut parts, &creds, region, "cloudfront", NOW, &hash);
    (parts, hash)
}

fn check(parts: &http::request::Parts, hash: &str, now: OffsetDateTime) -> Result<(), VerifyError> {
    verify(
        &parts.method,
        &parts.uri,
        &parts.headers,
        hash,
        lookup,
        "cloudfront",
        now,
    )
}

#[test]
fn round_trip_in_any_region_and_with_session_token() {
    for region in ["us-east-1", "eu-west-3"] {
        let (parts, hash) = signed_request(region, None);
        assert_eq!(check(&parts, &hash, NOW), Ok(()));
    }
    let (parts, hash) = signed_request("us-east-1", Some("session-token"));
    assert_eq!(parts.headers["x-amz-security-token"], "session-token");
    assert!(
        parts.headers["authorization"]
            .to_str()
            .unwrap()
            .contains("x-amz-security-token")
    );
    assert_eq!(check(&parts, &hash, NOW + Duration::minutes(14)), Ok(()));
}

#[test]
fn round_trip_s3_unsigned_payload() {
    let mut parts = s3_parts(
        "http://127.0.0.1:4566/bucket/a%20b/c.txt?versionId=3",
        Some("bytes=1-2"),
    );
    let creds = Credentials {
        access_key_id: KEY.into(),
        secret_access_key: SECRET.into(),
        session_token: None,
    };
    sign(
        &mut parts,
        &creds,
        "eu-central-1",
        "s3",
        NOW,
        UNSIGNED_PAYLOAD,
    );
    let r = verify(
        &parts.method,
        &parts.uri,
        &parts.headers,
        EMPTY_SHA256,
        lookup,
        "s3",
        NOW,
    );
    assert_eq!(r, Ok(()));
}

#[test]
fn missing_authorization() {
    let (mut parts, hash) = signed_request("us-east-1", None);
    parts.headers.remove("authorization");
    let e = check(&parts, &hash, NOW).unwrap_err();
    assert_eq!(
        (e.code(), e.message().as_str()),
        ("MissingAuthenticationToken", "Missing Authentication Token")
    );
    assert_eq!(e.status(), http::StatusCode::FORBIDDEN);
}

#[test]
fn malformed_authorization_is_incomplete() {
    let (mut parts, hash) = signed_request("us-east-1", None);
    let cases = [
        "AWS4-HMAC-SHA256 Credential=AKIAEDGEGATETEST0001/20260301/us-east-1/cloudfront/aws4_request",
        "AWS4-HMAC-SHA512 Credential=a/b/c/d/aws4_request, SignedHeaders=host, Signature=00",
        "AWS4-HMAC-SHA256 Credential=AKIAEDGEGATETEST0001/us-east-1/cloudfront/aws4_request, SignedHeaders=host, Signature=00",
        "AWS4-HMAC-SHA256 Credential=AKIAEDGEGATETEST0001/20260301/us-east-1/cloudfront/aws4_request, SignedHeaders=x-amz-date, Signature=00",
        "garbage",
    ];
    for case in cases {
        parts
            .headers
            .insert("authorization", HeaderValue::from_static(case));
        let e = check(&parts, &hash, NOW).unwrap_err();
        assert_eq!(e.code(), "IncompleteSignature", "{case}: {e}");
    }
    parts
        .headers
        .insert("authorization", HeaderValue::from_static(cases[0]));
    let msg = check(&parts, &hash, NOW).unwrap_err().message();
    assert!(
        msg.contains("requires 'Signature' parameter") && msg.contains("requires 'SignedHeaders'"),
        "{msg}"
    );
}

#[test]
fn missing_date_is_incomplete() {
    let (mut parts, hash) = signed_request("us-east-1", None);
    parts.headers.remove("x-amz-date");
    let e = check(&parts, &hash, NOW).unwrap_err();
    assert_eq!(e.code(), "IncompleteSignature");
    assert!(
        e.message().contains("'X-Amz-Date' or a 'Date' header"),
        "{e}"
    );
}

#[test]
fn unknown_access_key() {
    let (parts, hash) = signed_request("us-east-1", None);
    let e = verify(
        &parts.method,
        &parts.uri,
        &parts.headers,
        &hash,
        |_| None,
        "cloudfront",
        NOW,
    )
    .unwrap_err();
    assert_eq!(e.code(), "InvalidClientTokenId");
    assert_eq!(
        e.message(),
        "The security token included in the request is invalid."
    );
}

#[test]
fn wrong_secret_body_path_or_header_do_not_match() {
    let (parts, hash) = signed_request("us-east-1", None);
    let wrong = |_: &str| Some("not-the-secret".to_owned());
    let e = verify(
        &parts.method,
        &parts.uri,
        &parts.headers,
        &hash,
        wrong,
        "cloudfront",
        NOW,
    )
    .unwrap_err();
    assert_eq!(e.code(), "SignatureDoesNotMatch");
    assert!(
        e.message()
            .starts_with("The request signature we calculated does not match"),
        "{e}"
    );

    assert_eq!(
        check(&parts, &sha256_hex(b"other body"), NOW)
            .unwrap_err()
            .code(),
        "SignatureDoesNotMatch"
    );

    let mut moved = parts.clone();
    moved.uri = "http://127.0.0.1:9090/2020-05-31/distribution/OTHER/invalidation?x=1%202"
        .parse()
        .unwrap();
    assert_eq!(
        check(&moved, &hash, NOW).unwrap_err().code(),
        "SignatureDoesNotMatch"
    );

    let mut changed = parts.clone();
    changed
        .headers
        .insert("x-amz-user-agent", HeaderValue::from_static("evil"));
    assert_eq!(
        check(&changed, &hash, NOW).unwrap_err().code(),
        "SignatureDoesNotMatch"
    );

    let mut bad_hex = parts.clone();
    let auth = bad_hex.headers["authorization"]
        .to_str()
        .unwrap()
        .to_owned();
    let cut = auth.rfind('=').unwrap();
    bad_hex.headers.insert(
        "authorization",
        HeaderValue::from_str(&format!("{}=zz", &auth[..cut])).unwrap(),
    );
    assert_eq!(
        check(&bad_hex, &hash, NOW).unwrap_err().code(),
        "SignatureDoesNotMatch"
    );
}

#[test]
fn clock_skew_beyond_fifteen_minutes() {
    let (parts, hash) = signed_request("us-east-1", None);
    let e = check(&parts, &hash, NOW + Duration::minutes(16)).unwrap_err();
    assert_eq!(e.code(), "SignatureDoesNotMatch");
    assert_eq!(
        e.message(),
        "Signature expired: 20260301T100000Z is now earlier than 20260301T100100Z (20260301T101600Z - 15 min.)"
    );
    let e = check(&parts, &hash, NOW - Duration::minutes(16)).unwrap_err();
    assert_eq!(e.code(), "SignatureDoesNotMatch");
    assert!(
        e.message()
            .starts_with("Signature not yet current: 20260301T100000Z is still later than"),
        "{e}"
    );
}

#[test]
fn wrong_scope() {
    let (parts, hash) = signed_request("us-east-1", None);
    let e = verify(
        &parts.method,
        &parts.uri,
        &parts.headers,
        &hash,
        lookup,
        "s3",
        NOW,
    )
    .unwrap_err();
    assert_eq!(e.code(), "SignatureDoesNotMatch");
    assert_eq!(
        e.message(),
        "Credential should be scoped to correct service: 's3'."
    );

    let mut other_day = parts.clone();
    let auth = other_day.headers["authorization"]
        .to_str()
        .unwrap()
        .replace("/20260301/", "/20260302/");
    other_day
        .headers
        .insert("authorization", HeaderValue::from_str(&auth).unwrap());
    let e = check(&other_day, &hash, NOW).unwrap_err();
    assert_eq!(e.code(), "SignatureDoesNotMatch");
    assert!(
        e.message()
            .starts_with("Date in Credential scope does not match"),
        "{e}"
    );
}

#[test]
fn date_header_is_accepted_instead_of_x_amz_date() {
    let mut h = HeaderMap::new();
    h.insert("host", HeaderValue::from_static("example.amazonaws.com"));
    h.insert(
        "date",
        HeaderValue::from_static("Sun, 01 Mar 2026 10:00:00 GMT"),
    );
    let uri: Uri = "/".parse().unwrap();
    let scope = Scope {
        date: "20260301",
        region: "us-east-1",
        service: "cloudfront",
    };
    let canonical = canonical_request(
        &Method::GET,
        &uri,
        &h,
        &["date", "host"],
        EMPTY_SHA256,
        true,
    );
    let sig = signature(SECRET, &scope, "20260301T100000Z", &canonical);
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential={KEY}/20260301/us-east-1/cloudfront/aws4_request, SignedHeaders=date;host, Signature={sig}"
    );
    h.insert("authorization", HeaderValue::from_str(&auth).unwrap());
    assert_eq!(
        verify(
            &Method::GET,
            &uri,
            &h,
            EMPTY_SHA256,
            lookup,
            "cloudfront",
            NOW
        ),
        Ok(())
    );
}
