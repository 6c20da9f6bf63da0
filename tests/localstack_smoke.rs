//! Smoke tests for the S3 test harness: LocalStack comes up (or is already up), and buckets,
//! objects and policies made through the harness are really stored and served back.

use crate::common::awscli::aws_json;
use crate::common::localstack::{
    bucket_policy_public, create_bucket, get_object, http_get, put_object, s3_endpoint,
    unique_bucket,
};

#[test]
fn localstack_s3_round_trip_through_the_aws_cli() {
    let endpoint = s3_endpoint();
    let bucket = unique_bucket("smoke");
    create_bucket(&bucket);
    create_bucket(&bucket); // creating it again is not an error

    let body = b"hello from edgegate\n".repeat(1000);
    let key = "dir/hello world.txt";
    let etag = put_object(
        &bucket,
        key,
        &body,
        "text/plain; charset=utf-8",
        Some("max-age=60"),
    );
    assert!(
        etag.starts_with('"') && etag.ends_with('"'),
        "ETag is quoted: {etag}"
    );

    let (got, meta) = get_object(&bucket, key);
    assert_eq!(got, body);
    assert_eq!(meta["ContentType"], "text/plain; charset=utf-8");
    assert_eq!(meta["CacheControl"], "max-age=60");
    assert_eq!(meta["ETag"], etag.as_str());
    assert_eq!(meta["ContentLength"], body.len() as u64);

    // The listing shows exactly that object.
    let list = aws_json(&[
        "--endpoint-url",
        &endpoint,
        "s3api",
        "list-objects-v2",
        "--bucket",
        &bucket,
    ]);
    let keys: Vec<&str> = list["Contents"]
        .as_array()
        .expect("Contents in list-objects-v2")
        .iter()
        .filter_map(|o| o["Key"].as_str())
        .collect();
    assert_eq!(keys, vec![key]);
}

#[test]
fn binary_objects_without_cache_control_and_a_public_policy() {
    let endpoint = s3_endpoint();
    let bucket = unique_bucket("Smoke_Binary");
    assert!(bucket.starts_with("smoke-binary-"), "{bucket}");
    create_bucket(&bucket);
    bucket_policy_public(&bucket);

    let policy = aws_json(&[
        "--endpoint-url",
        &endpoint,
        "s3api",
        "get-bucket-policy",
        "--bucket",
        &bucket,
    ]);
    let policy: serde_json::Value =
        serde_json::from_str(policy["Policy"].as_str().expect("Policy is a string")).expect("JSON");
    assert_eq!(policy["Statement"][0]["Action"], "s3:GetObject");
    assert_eq!(policy["Statement"][0]["Principal"], "*");
    assert_eq!(
        policy["Statement"][0]["Resource"],
        format!("arn:aws:s3:::{bucket}/*")
    );

    let body: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    put_object(
        &bucket,
        "bin/all-bytes",
        &body,
        "application/octet-stream",
        None,
    );
    let (got, meta) = get_object(&bucket, "bin/all-bytes");
    assert_eq!(got, body);
    assert_eq!(meta["ContentType"], "application/octet-stream");
    assert!(
        meta.get("CacheControl").is_none(),
        "no Cache-Control: {meta}"
    );

    // An anonymous, unsigned GET (what a public origin serves) returns the same bytes.
    let authority = endpoint
        .strip_prefix("http://")
        .expect("the test S3 endpoint is plain http");
    let (status, anon) =
        http_get(authority, &format!("/{bucket}/bin/all-bytes")).expect("S3 answers a plain GET");
    assert_eq!(status, 200);
    assert_eq!(anon, body);

    // A missing key is a 404 to that client.
    let (status, _) =
        http_get(authority, &format!("/{bucket}/bin/missing")).expect("S3 answers a plain GET");
    assert_eq!(status, 404);
}
