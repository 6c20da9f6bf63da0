//! KeyValueStore through the real server: the control-plane resource with `aws cloudfront
//! *-key-value-store`, the data-plane API with `aws cloudfront-keyvaluestore` (signed with
//! SigV4A by the CLI's CRT), its ETags and limits, and a function that checks an HS256 JWT with
//! the secret in the store (functions.md §11.6), exercised through the edge while the secret is
//! rotated, and after a restart on the same data directory; a store imported from S3
//! (LocalStack); acknowledged key writes surviving a SIGKILL of the binary.
//!
//! The SDKs send data-plane calls to `{account id}.{endpoint host}` even with a custom
//! endpoint (`http://123456789012.localhost:PORT`), a name the test machines do not resolve.
//! The CLI is therefore given the admin listener as its HTTP proxy too (`HTTP_PROXY`), so the
//! request reaches the edge on loopback whatever the host name, with that host signed.

use std::path::Path;
use std::process::Output;

use base64::Engine as _;
use hmac::Mac as _;
use serde_json::{Value, json};

use crate::common::awscli::{aws_async, blob_arg as file, credentials, err_of, json_of};
use crate::common::localstack::{create_bucket, put_object, s3_endpoint, unique_bucket};
use crate::common::origin::TestOrigin;
use crate::common::{TestEdge, get, send};

const CACHING_DISABLED: &str = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad";
/// AllViewer (origin request policy): every viewer header, cookie and query string.
const ALL_VIEWER: &str = "216adef6-5c7f-47e4-b989-5492eafa07d3";

/// An HS256 JWT check in the manner of the kvs-jwt-verify sample: the secret is the store's
/// `jwt.secret`, the token comes in `?jwt=`, and a missing key, a bad signature or an expired
/// token get 401.
const JWT: &str = r#"import crypto from 'crypto';
import cf from 'cloudfront';

const kvs = cf.kvs();

function unauthorized() {
    return { statusCode: 401, statusDescription: 'Unauthorized' };
}

function same(a, b) {
    if (a.length !== b.length) return false;
    let diff = 0;
    for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
    return diff === 0;
}

async function handler(event) {
    const request = event.request;
    const token = request.querystring.jwt;
    if (!token) return unauthorized();
    let secret;
    try {
        secret = await kvs.get('jwt.secret');
    } catch (e) {
        console.log('no secret: ' + e.message);
        return unauthorized();
    }
    const parts = token.value.split('.');
    if (parts.length !== 3) return unauthorized();
    const mac = crypto.createHmac('sha256', secret).update(parts[0] + '.' + parts[1]).digest('base64url');
    if (!same(mac, parts[2])) return unauthorized();
    let claims;
    try {
        claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
    } catch (e) {
        return unauthorized();
    }
    const now = Math.floor(Date.now() / 1000);
    if ((claims.nbf && now < claims.nbf) || (claims.exp && now > claims.exp)) return unauthorized();
    delete request.querystring.jwt;
    console.log('Valid JWT token');
    return request;
}
"#;

/// Reads the store by Id with every format, `exists` and `meta` (for test-function).
const READER: &str = r#"import cf from 'cloudfront';

async function handler(event) {
    const kvs = cf.kvs('STORE_ID');
    const text = await kvs.get('text');
    const cfg = await kvs.get('cfg', { format: 'json' });
    const bytes = await kvs.get('text', { format: 'bytes' });
    const meta = await kvs.meta();
    let missing;
    try {
        await kvs.get('nope');
        missing = 'resolved';
    } catch (e) {
        missing = 'rejected';
    }
    return {
        statusCode: 200,
        statusDescription: 'OK',
        headers: {
            'x-text': { value: text },
            'x-cfg': { value: String(cfg.n) },
            'x-bytes': { value: String(bytes.length) },
            'x-exists': { value: String(await kvs.exists('text')) + '/' + String(await kvs.exists('nope')) },
            'x-count': { value: String(meta.keyCount) },
            'x-missing': { value: missing }
        }
    };
}
"#;

fn config() -> String {
    let (id, secret) = credentials();
    format!("admin_credentials = \"{id}:{secret}\"\naccount_id = \"123456789012\"\n")
}

/// Runs the CLI with the admin listener as its endpoint and its HTTP proxy (the account-id
/// host prefix), and `env`.
async fn cli_env(admin: std::net::SocketAddr, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut all: Vec<String> = vec![
        "--endpoint-url".into(),
        format!("http://localhost:{}", admin.port()),
    ];
    all.extend(args.iter().map(|s| s.to_string()));
    let mut vars: Vec<(String, String)> = ["NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy"]
        .iter()
        .map(|k| (k.to_string(), String::new()))
        .collect();
    vars.push(("HTTP_PROXY".into(), format!("http://{admin}")));
    vars.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    aws_async(all, vars).await
}

async fn cli(admin: std::net::SocketAddr, args: &[&str]) -> Output {
    cli_env(admin, args, &[]).await
}

async fn ok(admin: std::net::SocketAddr, args: &[&str]) -> Value {
    json_of(&cli(admin, args).await, &args.join(" "))
}

/// The CLI's error text, asserting it failed.
async fn err(admin: std::net::SocketAddr, args: &[&str]) -> String {
    err_of(&cli(admin, args).await, &args.join(" "))
}

/// A JSON parameter in a file (`file://`, read as text; `fileb://` is for blobs).
fn json_file(dir: &Path, name: &str, content: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    format!("file://{}", p.display())
}

/// The store's current data-plane ETag.
async fn etag(admin: std::net::SocketAddr, arn: &str) -> String {
    ok(
        admin,
        &[
            "cloudfront-keyvaluestore",
            "describe-key-value-store",
            "--kvs-arn",
            arn,
        ],
    )
    .await["ETag"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn create_store(admin: std::net::SocketAddr, name: &str) -> Value {
    ok(
        admin,
        &[
            "cloudfront",
            "create-key-value-store",
            "--name",
            name,
            "--comment",
            "test store",
        ],
    )
    .await
}

/// A data-plane request signed with SigV4 (the edge takes SigV4 and SigV4A), for bulk loads.
async fn signed(
    admin: std::net::SocketAddr,
    method: &str,
    path: &str,
    if_match: &str,
    body: &[u8],
) -> crate::common::Resp {
    let host = format!("123456789012.localhost:{}", admin.port());
    signed_to(admin, &host, method, path, if_match, body).await
}

/// [`signed`] with a Host header of the caller's choice.
async fn signed_to(
    admin: std::net::SocketAddr,
    host: &str,
    method: &str,
    path: &str,
    if_match: &str,
    body: &[u8],
) -> crate::common::Resp {
    let (id, secret) = credentials();
    let (mut parts, ()) = http::Request::builder()
        .method(method)
        .uri(format!("http://{host}{path}"))
        .header("host", host)
        .header("if-match", if_match)
        .header("content-type", "application/json")
        .body(())
        .unwrap()
        .into_parts();
    let creds = edgegate::sigv4::Credentials {
        access_key_id: id,
        secret_access_key: secret,
        session_token: None,
    };
    edgegate::sigv4::sign(
        &mut parts,
        &creds,
        "us-east-1",
        "cloudfront-keyvaluestore",
        time::OffsetDateTime::now_utc(),
        &edgegate::sigv4::sha256_hex(body),
    );
    // `send` sets the Host header itself.
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .filter(|(k, _)| *k != http::header::HOST)
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_owned()))
        .collect();
    let refs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    send(admin, method, host, path, &refs, body).await
}

fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

#[tokio::test]
async fn key_value_stores_with_the_cli_control_and_data_plane() {
    let edge = TestEdge::start(&config()).await;
    let admin = edge.admin;
    let tmp = tempfile::tempdir().unwrap();

    // === control plane ===
    let created = create_store(admin, "settings").await;
    let store = &created["KeyValueStore"];
    let arn = store["ARN"].as_str().unwrap().to_owned();
    let id = store["Id"].as_str().unwrap().to_owned();
    assert_eq!(
        arn,
        format!("arn:aws:cloudfront::123456789012:key-value-store/{id}")
    );
    assert_eq!(store["Status"], "READY");
    assert_eq!(store["Comment"], "test store");
    assert!(created["ETag"].as_str().is_some_and(|e| !e.is_empty()));
    assert!(
        created["Location"]
            .as_str()
            .is_some_and(|l| l.ends_with(&format!("/2020-05-31/key-value-store/{arn}"))),
        "{created}"
    );
    let again = err(
        admin,
        &["cloudfront", "create-key-value-store", "--name", "settings"],
    )
    .await;
    assert!(again.contains("EntityAlreadyExists"), "{again}");
    let bad = err(
        admin,
        &[
            "cloudfront",
            "create-key-value-store",
            "--name",
            "no spaces",
        ],
    )
    .await;
    assert!(bad.contains("InvalidArgument"), "{bad}");
    create_store(admin, "other").await;

    let described = ok(
        admin,
        &[
            "cloudfront",
            "describe-key-value-store",
            "--name",
            "settings",
        ],
    )
    .await;
    assert_eq!(described["KeyValueStore"]["ARN"], arn.as_str());
    let control_etag = described["ETag"].as_str().unwrap().to_owned();
    // Paging: one store per page, the CLI follows NextMarker.
    let listed = ok(
        admin,
        &["cloudfront", "list-key-value-stores", "--page-size", "1"],
    )
    .await;
    let names: Vec<&str> = listed["KeyValueStoreList"]["Items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["Name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["other", "settings"]);
    let stale = err(
        admin,
        &[
            "cloudfront",
            "update-key-value-store",
            "--name",
            "settings",
            "--comment",
            "x",
            "--if-match",
            "ENOTCURRENT",
        ],
    )
    .await;
    assert!(stale.contains("PreconditionFailed"), "{stale}");
    let updated = ok(
        admin,
        &[
            "cloudfront",
            "update-key-value-store",
            "--name",
            "settings",
            "--comment",
            "renamed",
            "--if-match",
            &control_etag,
        ],
    )
    .await;
    assert_eq!(updated["KeyValueStore"]["Comment"], "renamed");
    assert_ne!(updated["ETag"].as_str().unwrap(), control_etag);

    // === data plane (SigV4A from the CLI) ===
    let d = ok(
        admin,
        &[
            "cloudfront-keyvaluestore",
            "describe-key-value-store",
            "--kvs-arn",
            &arn,
        ],
    )
    .await;
    assert_eq!(
        (d["ItemCount"].as_u64(), d["TotalSizeInBytes"].as_u64()),
        (Some(0), Some(0))
    );
    assert_eq!(d["KvsARN"], arn.as_str());
    let e0 = d["ETag"].as_str().unwrap().to_owned();
    let put = ok(
        admin,
        &[
            "cloudfront-keyvaluestore",
            "put-key",
            "--kvs-arn",
            &arn,
            "--key",
            "key1",
            "--value",
            "value1",
            "--if-match",
            &e0,
        ],
    )
    .await;
    // AWS's example: key1/value1 is 11 bytes.
    assert_eq!(
        (put["ItemCount"].as_u64(), put["TotalSizeInBytes"].as_u64()),
        (Some(1), Some(11))
    );
    let e1 = put["ETag"].as_str().unwrap().to_owned();
    assert_ne!(e1, e0);
    // The old ETag is stale now.
    let conflict = err(
        admin,
        &[
            "cloudfront-keyvaluestore",
            "put-key",
            "--kvs-arn",
            &arn,
            "--key",
            "key2",
            "--value",
            "v",
            "--if-match",
            &e0,
        ],
    )
    .await;
    assert!(conflict.contains("ConflictException"), "{conflict}");
    let got = ok(
        admin,
        &[
            "cloudfront-keyvaluestore",
            "get-key",
            "--kvs-arn",
            &arn,
            "--key",
            "key1",
        ],
    )
    .await;
    assert_eq!(
        (got["Key"].as_str(), got["Value"].as_str()),
        (Some("key1"), Some("value1"))
    );
    let missing = err(
        admin,
        &[
            "cloudfront-keyvaluestore",
            "get-key",
            "--kvs-arn",
            &arn,
            "--key",
            "nope",
        ],
    )
    .await;
    assert!(missing.contains("ResourceNotFoundException"), "{missing}");

    // UpdateKeys: all or nothing.
    let puts = json_file(
        tmp.path(),
        "puts.json",
        &json!([{"Key": "a/b c", "Value": "1"}, {"Key": "b", "Value": "2"}, {"Key": "c", "Value": "3"}])
            .to_string(),
    );
    let refused = err(
        admin,
        &[
            "cloudfront-keyvaluestore",
            "update-keys",
            "--kvs-arn",
            &arn,
            "--if-match",
            &e1,
            "--puts",
            &puts,
            "--deletes",
            r#"[{"Key": "not-there"}]"#,
        ],
    )
    .await;
    assert!(refused.contains("ResourceNotFoundException"), "{refused}");
    assert_eq!(
        etag(admin, &arn).await,
        e1,
        "a refused write changes nothing"
    );
    let u = ok(
        admin,
        &[
            "cloudfront-keyvaluestore",
            "update-keys",
            "--kvs-arn",
            &arn,
            "--if-match",
            &e1,
            "--puts",
            &puts,
            "--deletes",
            r#"[{"Key": "key1"}]"#,
        ],
    )
    .await;
    assert_eq!(u["ItemCount"].as_u64(), Some(3));
    let e2 = u["ETag"].as_str().unwrap().to_owned();
    // ListKeys one key per page: the CLI follows NextToken.
    let listed = ok(
        admin,
        &[
            "cloudfront-keyvaluestore",
            "list-keys",
            "--kvs-arn",
            &arn,
            "--page-size",
            "1",
        ],
    )
    .await;
    assert_eq!(
        listed["Items"],
        json!([{"Key": "a/b c", "Value": "1"}, {"Key": "b", "Value": "2"}, {"Key": "c", "Value": "3"}])
    );
    let page = ok(
        admin,
        &[
            "cloudfront-keyvaluestore",
            "list-keys",
            "--kvs-arn",
            &arn,
            "--max-results",
            "2",
            "--no-paginate",
        ],
    )
    .await;
    assert_eq!(page["Items"].as_array().unwrap().len(), 2);
    assert!(page["NextToken"].as_str().is_some(), "{page}");
    let deleted = ok(
        admin,
        &[
            "cloudfront-keyvaluestore",
            "delete-key",
            "--kvs-arn",
            &arn,
            "--key",
            "a/b c",
            "--if-match",
            &e2,
        ],
    )
    .await;
    assert_eq!(deleted["ItemCount"].as_u64(), Some(2));
    let e3 = deleted["ETag"].as_str().unwrap().to_owned();

    // Limits: 512 bytes of key, 1 KB of value, 50 keys per write.
    for (key, value) in [
        ("k".repeat(513), "v".to_owned()),
        ("k".into(), "v".repeat(1025)),
    ] {
        let e = err(
            admin,
            &[
                "cloudfront-keyvaluestore",
                "put-key",
                "--kvs-arn",
                &arn,
                "--key",
                &key,
                "--value",
                &value,
                "--if-match",
                &e3,
            ],
        )
        .await;
        assert!(e.contains("ValidationException"), "{e}");
    }
    let many: Vec<Value> = (0..51)
        .map(|i| json!({"Key": format!("m{i}"), "Value": "v"}))
        .collect();
    let many = json_file(tmp.path(), "many.json", &Value::Array(many).to_string());
    let e = err(
        admin,
        &[
            "cloudfront-keyvaluestore",
            "update-keys",
            "--kvs-arn",
            &arn,
            "--if-match",
            &e3,
            "--puts",
            &many,
        ],
    )
    .await;
    assert!(e.contains("ValidationException"), "{e}");

    // 5 MB: fill the store with 50 × 1 KB per request (SigV4), then the CLI's next put is
    // refused with 402.
    let path = format!("/key-value-stores/{}/keys", enc(&arn));
    let mut current = e3.clone();
    let mut refused_at = None;
    for batch in 0..120 {
        let puts: Vec<Value> = (0..50)
            .map(|i| json!({"Key": format!("fill-{batch:03}-{i:02}"), "Value": "x".repeat(1000)}))
            .collect();
        let body = json!({ "Puts": puts }).to_string();
        let r = signed(admin, "POST", &path, &current, body.as_bytes()).await;
        if r.status == 200 {
            current = r.header("etag").unwrap().to_owned();
        } else {
            assert_eq!(r.status, 402, "{}", r.text());
            assert_eq!(
                r.header("x-amzn-errortype"),
                Some("ServiceQuotaExceededException")
            );
            refused_at = Some(batch);
            break;
        }
    }
    assert!(refused_at.is_some_and(|b| b > 90), "{refused_at:?}");
    // Top up with single keys until one more is refused: less than one 1 KB item is left.
    let mut topped = false;
    for i in 0..60 {
        let body = json!({ "Value": "x".repeat(1000) }).to_string();
        let r = signed(
            admin,
            "PUT",
            &format!("{path}/top-{i:02}"),
            &current,
            body.as_bytes(),
        )
        .await;
        if r.status == 402 {
            topped = true;
            break;
        }
        assert_eq!(r.status, 200, "{}", r.text());
        current = r.header("etag").unwrap().to_owned();
    }
    assert!(topped);
    let quota = err(
        admin,
        &[
            "cloudfront-keyvaluestore",
            "put-key",
            "--kvs-arn",
            &arn,
            "--key",
            "one-more",
            "--value",
            &"y".repeat(1024),
            "--if-match",
            &current,
        ],
    )
    .await;
    assert!(quota.contains("ServiceQuotaExceededException"), "{quota}");

    // The host need not carry the account id; the model's validation errors.
    let host = format!("localhost:{}", admin.port());
    let r = signed_to(
        admin,
        &host,
        "GET",
        &format!("{path}?MaxResults=2"),
        "",
        b"",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let page: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(page["Items"].as_array().map(Vec::len), Some(2));
    let next = page["NextToken"].as_str().unwrap();
    let r = signed_to(
        admin,
        &host,
        "GET",
        &format!("{path}?MaxResults=2&NextToken={next}"),
        "",
        b"",
    )
    .await;
    let second: Value = serde_json::from_slice(&r.body).unwrap();
    assert_ne!(second["Items"][0], page["Items"][0]);
    for (method, path, if_match, body) in [
        ("GET", format!("{path}?MaxResults=51"), "", &b""[..]),
        ("GET", format!("{path}?MaxResults=0"), "", &b""[..]),
        ("GET", format!("{path}?NextToken=%21%21"), "", &b""[..]),
        ("PUT", format!("{path}/k"), "", &br#"{"Value":"v"}"#[..]),
        (
            "PUT",
            format!("{path}/k"),
            current.as_str(),
            &b"not json"[..],
        ),
        (
            "POST",
            path.clone(),
            current.as_str(),
            &br#"{"Puts":[]}"#[..],
        ),
    ] {
        let r = signed_to(admin, &host, method, &path, if_match, body).await;
        assert_eq!(
            (r.status, r.header("x-amzn-errortype")),
            (400, Some("ValidationException")),
            "{method} {path}: {}",
            r.text()
        );
        assert!(serde_json::from_slice::<Value>(&r.body).unwrap()["message"].is_string());
    }

    // Signatures: a wrong secret, an unsigned request and a stale SigV4 signature are denied.
    let wrong = cli_env(
        admin,
        &[
            "cloudfront-keyvaluestore",
            "describe-key-value-store",
            "--kvs-arn",
            &arn,
        ],
        &[("AWS_SECRET_ACCESS_KEY", "not-the-secret")],
    )
    .await;
    assert!(!wrong.status.success());
    assert!(
        String::from_utf8_lossy(&wrong.stderr).contains("AccessDeniedException"),
        "{}",
        String::from_utf8_lossy(&wrong.stderr)
    );
    let unsigned = get(
        admin,
        "localhost",
        &format!("/key-value-stores/{}", enc(&arn)),
    )
    .await;
    assert_eq!(unsigned.status, 403);
    assert_eq!(
        unsigned.header("x-amzn-errortype"),
        Some("AccessDeniedException")
    );
    let unsigned_put = send(
        admin,
        "PUT",
        "localhost",
        &format!("{path}/k"),
        &[("if-match", current.as_str())],
        br#"{"Value":"v"}"#,
    )
    .await;
    assert_eq!(unsigned_put.status, 403);
    assert_eq!(
        etag(admin, &arn).await,
        current,
        "nothing unsigned is written"
    );

    // A function naming an unknown store is refused; one naming this store holds it.
    let code = file(
        tmp.path(),
        "f.js",
        "function handler(e) { return e.request; }",
    );
    let unknown = format!(
        "arn:aws:cloudfront::123456789012:key-value-store/{}",
        edgegate::ids::uuid()
    );
    let cfg = |store: &str| {
        json!({"Comment": "f", "Runtime": "cloudfront-js-2.0",
               "KeyValueStoreAssociations": {"Quantity": 1, "Items": [{"KeyValueStoreARN": store}]}})
        .to_string()
    };
    let e = err(
        admin,
        &[
            "cloudfront",
            "create-function",
            "--name",
            "f",
            "--function-config",
            &cfg(&unknown),
            "--function-code",
            &code,
        ],
    )
    .await;
    assert!(e.contains("InvalidArgument"), "{e}");
    ok(
        admin,
        &[
            "cloudfront",
            "create-function",
            "--name",
            "f",
            "--function-config",
            &cfg(&arn),
            "--function-code",
            &code,
        ],
    )
    .await;
    let etag_now = ok(
        admin,
        &[
            "cloudfront",
            "describe-key-value-store",
            "--name",
            "settings",
        ],
    )
    .await["ETag"]
        .as_str()
        .unwrap()
        .to_owned();
    let in_use = err(
        admin,
        &[
            "cloudfront",
            "delete-key-value-store",
            "--name",
            "settings",
            "--if-match",
            &etag_now,
        ],
    )
    .await;
    assert!(in_use.contains("CannotDeleteEntityWhileInUse"), "{in_use}");
    let other_etag = ok(
        admin,
        &["cloudfront", "describe-key-value-store", "--name", "other"],
    )
    .await["ETag"]
        .as_str()
        .unwrap()
        .to_owned();
    ok(
        admin,
        &[
            "cloudfront",
            "delete-key-value-store",
            "--name",
            "other",
            "--if-match",
            &other_etag,
        ],
    )
    .await;
    let gone = err(
        admin,
        &["cloudfront", "describe-key-value-store", "--name", "other"],
    )
    .await;
    assert!(gone.contains("EntityNotFound"), "{gone}");
}

/// `header.payload.signature` signed with `secret`.
fn jwt(secret: &str, claims: &Value) -> String {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let head = b64.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let body = b64.encode(claims.to_string());
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{head}.{body}").as_bytes());
    format!("{head}.{body}.{}", b64.encode(mac.finalize().into_bytes()))
}

#[tokio::test]
async fn jwt_check_with_the_secret_in_a_key_value_store_through_the_edge() {
    let edge = TestEdge::start(&config()).await;
    let admin = edge.admin;
    let tmp = tempfile::tempdir().unwrap();
    let origin = TestOrigin::start().await;

    let store = create_store(admin, "secrets").await;
    let arn = store["KeyValueStore"]["ARN"].as_str().unwrap().to_owned();
    let id = store["KeyValueStore"]["Id"].as_str().unwrap().to_owned();
    let e0 = etag(admin, &arn).await;
    ok(
        admin,
        &[
            "cloudfront-keyvaluestore",
            "put-key",
            "--kvs-arn",
            &arn,
            "--key",
            "jwt.secret",
            "--value",
            "first-secret",
            "--if-match",
            &e0,
        ],
    )
    .await;

    let assoc = |runtime: &str| {
        json!({"Comment": "jwt", "Runtime": runtime,
               "KeyValueStoreAssociations": {"Quantity": 1, "Items": [{"KeyValueStoreARN": arn}]}})
        .to_string()
    };
    let code = file(tmp.path(), "jwt.js", JWT);
    let created = ok(
        admin,
        &[
            "cloudfront",
            "create-function",
            "--name",
            "jwt",
            "--function-config",
            &assoc("cloudfront-js-2.0"),
            "--function-code",
            &code,
        ],
    )
    .await;
    assert_eq!(
        created["FunctionSummary"]["FunctionConfig"]["KeyValueStoreAssociations"]["Items"][0]["KeyValueStoreARN"],
        arn.as_str()
    );
    let published = ok(
        admin,
        &[
            "cloudfront",
            "publish-function",
            "--name",
            "jwt",
            "--if-match",
            created["ETag"].as_str().unwrap(),
        ],
    )
    .await;
    let fn_arn = published["FunctionSummary"]["FunctionMetadata"]["FunctionARN"]
        .as_str()
        .unwrap()
        .to_owned();

    // test-function sees the store, reading it by Id in every format.
    let reader = file(tmp.path(), "reader.js", &READER.replace("STORE_ID", &id));
    let e = etag(admin, &arn).await;
    let puts = json!([{"Key": "text", "Value": "héllo"}, {"Key": "cfg", "Value": "{\"n\": 7}"}])
        .to_string();
    ok(
        admin,
        &[
            "cloudfront-keyvaluestore",
            "update-keys",
            "--kvs-arn",
            &arn,
            "--if-match",
            &e,
            "--puts",
            &puts,
        ],
    )
    .await;
    let reader_fn = ok(
        admin,
        &[
            "cloudfront",
            "create-function",
            "--name",
            "reader",
            "--function-config",
            &assoc("cloudfront-js-2.0"),
            "--function-code",
            &reader,
        ],
    )
    .await;
    let event = json!({"version": "1.0", "context": {"eventType": "viewer-request"},
        "viewer": {"ip": "1.2.3.4"},
        "request": {"method": "GET", "uri": "/", "querystring": {}, "headers": {}, "cookies": {}}});
    let event = file(tmp.path(), "event.json", &event.to_string());
    let tested = ok(
        admin,
        &[
            "cloudfront",
            "test-function",
            "--name",
            "reader",
            "--if-match",
            reader_fn["ETag"].as_str().unwrap(),
            "--event-object",
            &event,
        ],
    )
    .await;
    let result = &tested["TestResult"];
    assert_eq!(result["FunctionErrorMessage"], "", "{tested}");
    let output: Value = serde_json::from_str(result["FunctionOutput"].as_str().unwrap()).unwrap();
    let h = &output["response"]["headers"];
    assert_eq!(h["x-text"]["value"], "héllo");
    assert_eq!(h["x-cfg"]["value"], "7");
    assert_eq!(h["x-bytes"]["value"], "6");
    assert_eq!(h["x-exists"]["value"], "true/false");
    assert_eq!(h["x-count"]["value"], "3");
    assert_eq!(h["x-missing"]["value"], "rejected");
    // The 1.0 runtime has no key value stores.
    let v1 = err(
        admin,
        &[
            "cloudfront",
            "create-function",
            "--name",
            "v1",
            "--function-config",
            &assoc("cloudfront-js-1.0"),
            "--function-code",
            &code,
        ],
    )
    .await;
    assert!(v1.contains("InvalidArgument"), "{v1}");

    let dist = json!({
        "CallerReference": format!("kvs-{}", edgegate::ids::uuid()),
        "Comment": "kvs",
        "Enabled": true,
        "Origins": {"Quantity": 1, "Items": [{
            "Id": "web", "DomainName": "localhost", "ConnectionAttempts": 1, "ConnectionTimeout": 2,
            "CustomOriginConfig": {"HTTPPort": origin.addr.port(), "HTTPSPort": 443,
                "OriginProtocolPolicy": "http-only", "OriginReadTimeout": 5}
        }]},
        "DefaultCacheBehavior": {
            "TargetOriginId": "web", "ViewerProtocolPolicy": "allow-all",
            "CachePolicyId": CACHING_DISABLED, "OriginRequestPolicyId": ALL_VIEWER,
            "FunctionAssociations": {"Quantity": 1, "Items": [{"FunctionARN": fn_arn, "EventType": "viewer-request"}]}
        }
    });
    let dist_file = tmp.path().join("dist.json");
    std::fs::write(&dist_file, dist.to_string()).unwrap();
    let d = ok(
        admin,
        &[
            "cloudfront",
            "create-distribution",
            "--distribution-config",
            &format!("file://{}", dist_file.display()),
        ],
    )
    .await;
    let domain = d["Distribution"]["DomainName"].as_str().unwrap().to_owned();

    let far = json!({"sub": "viewer", "exp": 4_102_444_800u64});
    let good = jwt("first-secret", &far);
    let r = get(edge.viewer, &domain, &format!("/doc?jwt={good}&keep=1")).await;
    // The token is taken off the query the origin sees; the other parameter stays.
    assert_eq!((r.status, r.text()), (200, "origin:/doc?keep=1".to_owned()));
    assert_eq!(origin.last().path_and_query, "/doc?keep=1");
    for path in [
        "/doc".to_owned(),
        format!("/doc?jwt={}", jwt("wrong-secret", &far)),
        format!(
            "/doc?jwt={}",
            jwt("first-secret", &json!({"exp": 1_000_000_000u64}))
        ),
        "/doc?jwt=not.a.token".to_owned(),
    ] {
        let r = get(edge.viewer, &domain, &path).await;
        assert_eq!(r.status, 401, "{path}: {}", r.text());
    }

    // Rotation: the next request sees the new secret.
    let e = etag(admin, &arn).await;
    ok(
        admin,
        &[
            "cloudfront-keyvaluestore",
            "put-key",
            "--kvs-arn",
            &arn,
            "--key",
            "jwt.secret",
            "--value",
            "second-secret",
            "--if-match",
            &e,
        ],
    )
    .await;
    let r = get(edge.viewer, &domain, &format!("/doc?jwt={good}")).await;
    assert_eq!(r.status, 401, "the old secret no longer verifies");
    let rotated = jwt("second-secret", &far);
    let r = get(edge.viewer, &domain, &format!("/doc?jwt={rotated}")).await;
    assert_eq!(r.status, 200, "{}", r.text());

    // Persistence: the store, its items and ETag survive a restart on the same data directory.
    let before = etag(admin, &arn).await;
    let data = edge.stop().await;
    let edge = TestEdge::start_in(&config(), data).await;
    let admin = edge.admin;
    assert_eq!(etag(admin, &arn).await, before);
    let got = ok(
        admin,
        &[
            "cloudfront-keyvaluestore",
            "get-key",
            "--kvs-arn",
            &arn,
            "--key",
            "jwt.secret",
        ],
    )
    .await;
    assert_eq!(got["Value"], "second-secret");
    let r = get(edge.viewer, &domain, &format!("/doc?jwt={rotated}")).await;
    assert_eq!(r.status, 200, "{}", r.text());

    // The key gone: the function's get rejects, and it answers 401.
    ok(
        admin,
        &[
            "cloudfront-keyvaluestore",
            "delete-key",
            "--kvs-arn",
            &arn,
            "--key",
            "jwt.secret",
            "--if-match",
            &before,
        ],
    )
    .await;
    let r = get(edge.viewer, &domain, &format!("/doc?jwt={rotated}")).await;
    assert_eq!(r.status, 401, "{}", r.text());
}

#[tokio::test]
async fn a_key_value_store_is_imported_from_s3() {
    let endpoint = tokio::task::spawn_blocking(s3_endpoint).await.unwrap();
    let bucket = unique_bucket("kvs-import");
    let (good, bad, dup) = {
        let bucket = bucket.clone();
        tokio::task::spawn_blocking(move || {
            create_bucket(&bucket);
            let json = "application/json";
            let data = json!({"data": [{"key": "k1", "value": "v1"}, {"key": "jwt.secret", "value": "s"}]});
            put_object(&bucket, "keys.json", data.to_string().as_bytes(), json, None);
            put_object(&bucket, "bad.json", b"[1, 2]", json, None);
            let dup = json!({"data": [{"key": "k", "value": "1"}, {"key": "k", "value": "2"}]});
            put_object(&bucket, "dup.json", dup.to_string().as_bytes(), json, None);
            ("keys.json", "bad.json", "dup.json")
        })
        .await
        .unwrap()
    };
    let (ak, sk) = credentials();
    let edge = TestEdge::start(&format!(
        "{}s3_endpoint = \"{endpoint}\"\norigin_credentials = \"{ak}:{sk}\"\n",
        config()
    ))
    .await;
    let admin = edge.admin;
    let source = |key: &str| format!("SourceType=S3,SourceARN=arn:aws:s3:::{bucket}/{key}");
    let created = ok(
        admin,
        &[
            "cloudfront",
            "create-key-value-store",
            "--name",
            "imported",
            "--import-source",
            &source(good),
        ],
    )
    .await;
    assert_eq!(created["KeyValueStore"]["Status"], "READY");
    let arn = created["KeyValueStore"]["ARN"].as_str().unwrap().to_owned();
    let keys = ok(
        admin,
        &["cloudfront-keyvaluestore", "list-keys", "--kvs-arn", &arn],
    )
    .await;
    assert_eq!(
        keys["Items"],
        json!([{"Key": "jwt.secret", "Value": "s"}, {"Key": "k1", "Value": "v1"}])
    );
    let d = ok(
        admin,
        &[
            "cloudfront-keyvaluestore",
            "describe-key-value-store",
            "--kvs-arn",
            &arn,
        ],
    )
    .await;
    assert_eq!(d["ItemCount"].as_u64(), Some(2));
    // An import that cannot be read or breaks a rule refuses the create; no store is left.
    for (name, key) in [("missing", "nope.json"), ("bad", bad), ("dup", dup)] {
        let e = err(
            admin,
            &[
                "cloudfront",
                "create-key-value-store",
                "--name",
                name,
                "--import-source",
                &source(key),
            ],
        )
        .await;
        assert!(e.contains("InvalidArgument"), "{name}: {e}");
        let gone = err(
            admin,
            &["cloudfront", "describe-key-value-store", "--name", name],
        )
        .await;
        assert!(gone.contains("EntityNotFound"), "{gone}");
    }
}

/// Starts the real binary with the admin credentials; returns it with its admin address.
fn spawn_binary(data_dir: &Path) -> (std::process::Child, std::net::SocketAddr) {
    let (id, secret) = credentials();
    let edge = crate::common::process::spawn(
        crate::common::process::serve_command()
            .arg("--admin-credentials")
            .arg(format!("{id}:{secret}"))
            .arg("--data-dir")
            .arg(data_dir)
            .stderr(std::process::Stdio::null()),
        None,
    );
    (edge.child, edge.admin)
}

#[tokio::test]
async fn acknowledged_key_writes_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, admin) = spawn_binary(dir.path());
    let arn = create_store(admin, "durable").await["KeyValueStore"]["ARN"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut current = etag(admin, &arn).await;
    for i in 0..3 {
        let key = format!("k{i}");
        let put = ok(
            admin,
            &[
                "cloudfront-keyvaluestore",
                "put-key",
                "--kvs-arn",
                &arn,
                "--key",
                &key,
                "--value",
                "v",
                "--if-match",
                &current,
            ],
        )
        .await;
        current = put["ETag"].as_str().unwrap().to_owned();
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let (mut child, admin) = spawn_binary(dir.path());
    assert_eq!(etag(admin, &arn).await, current);
    let keys = ok(
        admin,
        &["cloudfront-keyvaluestore", "list-keys", "--kvs-arn", &arn],
    )
    .await;
    assert_eq!(
        keys["Items"],
        json!([{"Key": "k0", "Value": "v"}, {"Key": "k1", "Value": "v"}, {"Key": "k2", "Value": "v"}])
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Without admin credentials the admin listener is loopback-only, and the data plane is as open
/// there as the control plane: the CLI's SigV4A calls are answered whatever the key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_admin_credentials_the_loopback_data_plane_takes_any_signature() {
    let edge = TestEdge::start("account_id = \"123456789012\"\n").await;
    let admin = edge.admin;
    let arn = create_store(admin, "open").await["KeyValueStore"]["ARN"]
        .as_str()
        .unwrap()
        .to_owned();
    let tag = etag(admin, &arn).await;
    let put = cli_env(
        admin,
        &[
            "cloudfront-keyvaluestore",
            "put-key",
            "--kvs-arn",
            &arn,
            "--key",
            "k",
            "--value",
            "v",
            "--if-match",
            &tag,
        ],
        &[
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
        ],
    )
    .await;
    assert!(
        put.status.success(),
        "{}",
        String::from_utf8_lossy(&put.stderr)
    );
    let got = ok(
        admin,
        &[
            "cloudfront-keyvaluestore",
            "get-key",
            "--kvs-arn",
            &arn,
            "--key",
            "k",
        ],
    )
    .await;
    assert_eq!(got["Value"], "v");
}
