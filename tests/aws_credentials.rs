//! Credentials from aws-config's default chain, through the real `edgegate serve` process with
//! a controlled environment: an OAC-signed S3 origin (a loopback recorder standing in for S3)
//! must see the access key id of the profile, assumed role or web identity the chain resolved.
//! STS is a loopback server speaking STS's query protocol (LocalStack here serves S3 only).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::HeaderMap;

use crate::common::origin::TestOrigin;
use crate::common::*;

/// One request STS received: its form fields and its Authorization header.
#[derive(Debug, Clone)]
struct StsCall {
    form: Vec<(String, String)>,
    authorization: Option<String>,
}

impl StsCall {
    fn field(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A loopback STS answering `AssumeRole` and `AssumeRoleWithWebIdentity` with credentials
/// `ASIATEST{n}` (n counts calls from 1) expiring `lifetime` from now.
struct FakeSts {
    addr: SocketAddr,
    calls: Arc<Mutex<Vec<StsCall>>>,
}

impl FakeSts {
    async fn start(lifetime: time::Duration) -> FakeSts {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let calls: Arc<Mutex<Vec<StsCall>>> = Arc::default();
        let c = calls.clone();
        let app = axum::Router::new().fallback(move |headers: HeaderMap, body: Bytes| {
            let c = c.clone();
            async move {
                let form: Vec<(String, String)> = url_decode_form(&body);
                let call = StsCall {
                    form,
                    authorization: headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned),
                };
                let action = call.field("Action").unwrap_or("").to_owned();
                let n = {
                    let mut calls = c.lock().unwrap();
                    calls.push(call);
                    calls.len()
                };
                let expires = (time::OffsetDateTime::now_utc() + lifetime)
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap();
                let body = format!(
                    r#"<{action}Response xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
<{action}Result>
<Credentials><AccessKeyId>ASIATEST{n}</AccessKeyId><SecretAccessKey>secret{n}</SecretAccessKey><SessionToken>token{n}</SessionToken><Expiration>{expires}</Expiration></Credentials>
<AssumedRoleUser><Arn>arn:aws:sts::000000000000:assumed-role/edge/s{n}</Arn><AssumedRoleId>AROATEST:s{n}</AssumedRoleId></AssumedRoleUser>
</{action}Result>
<ResponseMetadata><RequestId>r{n}</RequestId></ResponseMetadata>
</{action}Response>"#
                );
                ([("content-type", "text/xml")], body)
            }
        });
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeSts { addr, calls }
    }

    fn calls(&self) -> Vec<StsCall> {
        self.calls.lock().unwrap().clone()
    }
}

fn url_decode_form(body: &[u8]) -> Vec<(String, String)> {
    let dec = |s: &str| {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (dec(k), dec(v))
        })
        .collect()
}

/// A config with one distribution whose S3 origin at `s3` is signed with an OAC (always).
fn oac_config(s3: SocketAddr) -> String {
    format!(
        r#"
s3_endpoint = "http://{s3}"

[[origin_access_controls]]
id = "ECREDSOAC0001"
name = "creds"
signing_protocol = "sigv4"
signing_behavior = "always"
origin_access_control_origin_type = "s3"

[[distributions]]
id = "ECREDS0000001"
domain_name = "dcreds0000001.cloudfront.localhost"
caller_reference = "creds"
comment = ""
enabled = true

[[distributions.origins]]
id = "bucket"
domain_name = "photos.s3.us-east-1.amazonaws.com"
origin_access_control_id = "ECREDSOAC0001"
s3_origin_config = {{ origin_access_identity = "" }}

[distributions.default_cache_behavior]
target_origin_id = "bucket"
viewer_protocol_policy = "allow-all"
cache_policy_id = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
"#
    )
}

/// `edgegate serve` with `config`, in an environment holding only `env` (plus `HOME` = `dir`
/// and `PATH`), and the viewer address it printed. The child is killed on drop.
struct Served {
    child: std::process::Child,
    viewer: SocketAddr,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(dir: &Path, config: &str, env: &[(&str, String)]) -> Served {
    let file = dir.join("edgegate.toml");
    std::fs::write(&file, config).unwrap();
    let log = dir.join("stderr.log");
    let mut cmd = crate::common::process::serve_command();
    cmd.arg("--config")
        .arg(&file)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .env_clear()
        .env("HOME", dir)
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stderr(std::fs::File::create(&log).unwrap());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let edge = crate::common::process::spawn(&mut cmd, Some(&log));
    Served {
        child: edge.child,
        viewer: edge.viewer,
    }
}

/// The environment that points the AWS shared config and credentials files at files that do
/// not exist, so that no profile on this machine supplies credentials.
fn no_shared_files(dir: &Path) -> [(&'static str, String); 2] {
    [
        ("AWS_CONFIG_FILE", dir.join("none-c").display().to_string()),
        (
            "AWS_SHARED_CREDENTIALS_FILE",
            dir.join("none-s").display().to_string(),
        ),
    ]
}

/// The access key id in the `Authorization` header S3 last saw.
fn last_key_id(s3: &TestOrigin) -> (String, Option<String>) {
    let seen = s3.last();
    let auth = seen.headers["authorization"].to_str().unwrap().to_owned();
    let key = auth
        .strip_prefix("AWS4-HMAC-SHA256 Credential=")
        .and_then(|r| r.split('/').next())
        .unwrap_or_else(|| panic!("not a SigV4 Authorization: {auth}"))
        .to_owned();
    let token = seen
        .headers
        .get("x-amz-security-token")
        .map(|v| v.to_str().unwrap().to_owned());
    (key, token)
}

const HOST: &str = "dcreds0000001.cloudfront.localhost";

/// A named profile's static keys from shared files that `AWS_CONFIG_FILE` and
/// `AWS_SHARED_CREDENTIALS_FILE` point at; the credentials file wins over the config file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn named_profile_from_the_shared_files_signs_oac_requests() {
    let dir = tempfile::tempdir().unwrap();
    let s3 = TestOrigin::start().await;
    let creds = dir.path().join("creds.ini");
    let conf = dir.path().join("conf.ini");
    std::fs::write(
        &creds,
        "[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = d\n\n\
         [edge]\naws_access_key_id = AKIDPROFILEFILE\naws_secret_access_key = s\n\
         aws_session_token = profile-token\n",
    )
    .unwrap();
    std::fs::write(
        &conf,
        "[profile edge]\naws_access_key_id = AKIDFROMCONFIG\naws_secret_access_key = c\nregion = us-east-1\n",
    )
    .unwrap();
    let edge = serve(
        dir.path(),
        &oac_config(s3.addr),
        &[
            ("AWS_SHARED_CREDENTIALS_FILE", creds.display().to_string()),
            ("AWS_CONFIG_FILE", conf.display().to_string()),
            ("AWS_PROFILE", "edge".to_owned()),
        ],
    );
    let r = get(edge.viewer, HOST, "/a.txt").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(s3.last().path_and_query, "/photos/a.txt");
    let (key, token) = last_key_id(&s3);
    assert_eq!(key, "AKIDPROFILEFILE");
    assert_eq!(token.as_deref(), Some("profile-token"));
}

/// A profile with `role_arn` and `source_profile`: the source profile's keys sign the
/// `AssumeRole` call to STS, the assumed role's temporary credentials sign the origin request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assume_role_profile_signs_with_the_roles_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let s3 = TestOrigin::start().await;
    let sts = FakeSts::start(time::Duration::hours(1)).await;
    let conf = dir.path().join("conf.ini");
    std::fs::write(
        &conf,
        "[profile base]\naws_access_key_id = AKIDBASE\naws_secret_access_key = b\n\n\
         [profile edge]\nrole_arn = arn:aws:iam::000000000000:role/edge\n\
         source_profile = base\nrole_session_name = edge-session\nregion = us-east-1\n",
    )
    .unwrap();
    let edge = serve(
        dir.path(),
        &oac_config(s3.addr),
        &[
            ("AWS_CONFIG_FILE", conf.display().to_string()),
            (
                "AWS_SHARED_CREDENTIALS_FILE",
                dir.path().join("none").display().to_string(),
            ),
            ("AWS_PROFILE", "edge".to_owned()),
            ("AWS_ENDPOINT_URL_STS", format!("http://{}", sts.addr)),
        ],
    );
    let r = get(edge.viewer, HOST, "/a.txt").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let (key, token) = last_key_id(&s3);
    assert_eq!(key, "ASIATEST1");
    assert_eq!(token.as_deref(), Some("token1"));
    let calls = sts.calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].field("Action"), Some("AssumeRole"));
    assert_eq!(
        calls[0].field("RoleArn"),
        Some("arn:aws:iam::000000000000:role/edge")
    );
    assert_eq!(calls[0].field("RoleSessionName"), Some("edge-session"));
    assert!(
        calls[0]
            .authorization
            .as_deref()
            .is_some_and(|a| a.contains("Credential=AKIDBASE/")),
        "{calls:?}"
    );
    // Cached while valid: a second miss needs no second STS call.
    let r = get(edge.viewer, HOST, "/b.txt").await;
    assert_eq!(r.status, 200);
    assert_eq!(last_key_id(&s3).0, "ASIATEST1");
    assert_eq!(sts.calls().len(), 1);
}

/// Web identity from the environment (Kubernetes service accounts): the token file's contents
/// go to `AssumeRoleWithWebIdentity`; credentials that expire within the refresh margin are
/// fetched again for the next request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_identity_credentials_sign_and_are_refreshed_before_they_expire() {
    let dir = tempfile::tempdir().unwrap();
    let s3 = TestOrigin::start().await;
    // Inside the 5-minute refresh margin from the start: every use refreshes.
    let sts = FakeSts::start(time::Duration::minutes(2)).await;
    let token = dir.path().join("token");
    std::fs::write(&token, "eyJ.service-account.token").unwrap();
    let edge = serve(
        dir.path(),
        &oac_config(s3.addr),
        &[
            ("AWS_WEB_IDENTITY_TOKEN_FILE", token.display().to_string()),
            (
                "AWS_ROLE_ARN",
                "arn:aws:iam::000000000000:role/k8s".to_owned(),
            ),
            ("AWS_ROLE_SESSION_NAME", "pod-1".to_owned()),
            ("AWS_REGION", "us-east-1".to_owned()),
            ("AWS_ENDPOINT_URL_STS", format!("http://{}", sts.addr)),
        ],
    );
    let r = get(edge.viewer, HOST, "/a.txt").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        last_key_id(&s3),
        ("ASIATEST1".into(), Some("token1".into()))
    );
    let calls = sts.calls();
    assert_eq!(calls[0].field("Action"), Some("AssumeRoleWithWebIdentity"));
    assert_eq!(
        calls[0].field("WebIdentityToken"),
        Some("eyJ.service-account.token")
    );
    assert_eq!(
        calls[0].field("RoleArn"),
        Some("arn:aws:iam::000000000000:role/k8s")
    );
    let r = get(edge.viewer, HOST, "/b.txt").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        last_key_id(&s3),
        ("ASIATEST2".into(), Some("token2".into()))
    );
}

/// No source has credentials: the viewer gets CloudFront's 502 for an origin that cannot be
/// reached with a signature, and S3 sees no unsigned request (nothing fails open).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_credentials_anywhere_denies_instead_of_sending_unsigned() {
    let dir = tempfile::tempdir().unwrap();
    let s3 = TestOrigin::start().await;
    let edge = serve(
        dir.path(),
        &oac_config(s3.addr),
        &no_shared_files(dir.path()),
    );
    let r = get(edge.viewer, HOST, "/a.txt").await;
    assert_eq!(r.status, 502, "{}", r.text());
    assert_eq!(s3.hits(), 0);
}

/// Sends SIGTERM to a served edge and waits for it to exit (the final log delivery included).
async fn stop_gracefully(mut edge: Served) {
    let pid = edge.child.id().to_string();
    let ok = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs")
        .success();
    assert!(ok, "kill -TERM {pid}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        if edge.child.try_wait().unwrap().is_some() {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "edge did not exit on SIGTERM"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The log file PUTs a loopback S3 received for `bucket` under `prefix`.
fn log_puts(s3: &TestOrigin, bucket: &str, prefix: &str) -> Vec<crate::common::origin::Seen> {
    s3.seen_for(&format!("/{bucket}/{prefix}"))
        .into_iter()
        .filter(|s| s.method == "PUT")
        .collect()
}

/// Access-log delivery signs its PUTs with the chain's credentials (here the environment's,
/// with a session token), and the signature verifies with that secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_delivery_signs_with_the_chains_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let origin = TestOrigin::start().await;
    let s3 = TestOrigin::start().await;
    let config = crate::common::meter::meter_config(
        origin.addr.port(),
        &format!("s3_endpoint = \"http://{}\"", s3.addr),
        Some(("edge-logs", "cf/")),
    );
    let edge = serve(
        dir.path(),
        &config,
        &[
            ("AWS_ACCESS_KEY_ID", "AKIDMETERLOGS".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "meter-secret".to_owned()),
            ("AWS_SESSION_TOKEN", "meter-token".to_owned()),
        ]
        .into_iter()
        .chain(no_shared_files(dir.path()))
        .collect::<Vec<_>>(),
    );
    let r = get(edge.viewer, crate::common::meter::MHOST, "/logged.txt").await;
    assert_eq!(r.status, 200, "{}", r.text());
    stop_gracefully(edge).await;

    let puts = log_puts(&s3, "edge-logs", "cf/");
    assert_eq!(puts.len(), 1, "one log file delivered: {puts:?}");
    let put = &puts[0];
    let name = put.path_and_query.strip_prefix("/edge-logs/cf/").unwrap();
    assert!(
        name.starts_with(&format!("{}.", crate::common::meter::DIST)) && name.ends_with(".gz"),
        "{name}"
    );
    let (key, token) = last_key_id(&s3);
    assert_eq!(key, "AKIDMETERLOGS");
    assert_eq!(token.as_deref(), Some("meter-token"));
    assert_eq!(put.headers["content-type"], "application/x-gzip");
    // The signature is S3's SigV4 over this request, made with the chain's secret.
    let host = put.headers["host"].to_str().unwrap();
    let uri: http::Uri = format!("http://{host}{}", put.path_and_query)
        .parse()
        .unwrap();
    let payload = put.headers["x-amz-content-sha256"].to_str().unwrap();
    edgegate::sigv4::verify(
        &http::Method::PUT,
        &uri,
        &put.headers,
        payload,
        |id| (id == "AKIDMETERLOGS").then(|| "meter-secret".to_owned()),
        "s3",
        time::OffsetDateTime::now_utc(),
    )
    .unwrap_or_else(|e| panic!("the log PUT's signature does not verify: {e:?}"));
    let wrong = edgegate::sigv4::verify(
        &http::Method::PUT,
        &uri,
        &put.headers,
        payload,
        |_| Some("another-secret".to_owned()),
        "s3",
        time::OffsetDateTime::now_utc(),
    );
    assert!(wrong.is_err(), "a wrong secret must not verify");
}

/// No credentials anywhere: log files still reach an explicit `s3_endpoint` (LocalStack,
/// MinIO), unsigned, and the edge says so once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_credentials_an_explicit_endpoint_gets_unsigned_log_uploads_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let origin = TestOrigin::start().await;
    let s3 = TestOrigin::start().await;
    let config = crate::common::meter::meter_config(
        origin.addr.port(),
        &format!("s3_endpoint = \"http://{}\"", s3.addr),
        Some(("open-logs", "")),
    );
    let edge = serve(dir.path(), &config, &no_shared_files(dir.path()));
    let r = get(edge.viewer, crate::common::meter::MHOST, "/open.txt").await;
    assert_eq!(r.status, 200, "{}", r.text());
    stop_gracefully(edge).await;

    let puts = log_puts(&s3, "open-logs", "");
    assert_eq!(puts.len(), 1, "{puts:?}");
    assert!(
        puts[0].headers.get("authorization").is_none(),
        "{:?}",
        puts[0].headers
    );
    let stderr = std::fs::read_to_string(dir.path().join("stderr.log")).unwrap();
    assert_eq!(
        stderr
            .matches("S3 requests to --s3-endpoint are sent unsigned")
            .count(),
        1,
        "{stderr}"
    );
}
