//! Tests for the credential chain: environment, shared files, and IMDSv2 against a local server.

use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap as AxumHeaders, StatusCode};
use axum::routing::{get, put};

use super::*;

fn env(pairs: &[(&str, &str)]) -> Arc<dyn Env> {
    Arc::new(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<HashMap<_, _>>(),
    )
}

#[tokio::test]
async fn environment_comes_first() {
    let home = tempfile::tempdir().unwrap();
    let chain = DefaultChain::with_env(env(&[
        ("AWS_ACCESS_KEY_ID", "AKIAENV"),
        ("AWS_SECRET_ACCESS_KEY", "env-secret"),
        ("AWS_SESSION_TOKEN", "env-token"),
        ("HOME", home.path().to_str().unwrap()),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ]));
    let c = chain.credentials().await.unwrap();
    assert_eq!(c.access_key_id, "AKIAENV");
    assert_eq!(c.secret_access_key, "env-secret");
    assert_eq!(c.session_token.as_deref(), Some("env-token"));
}

#[tokio::test]
async fn nothing_found_explains_each_source() {
    let home = tempfile::tempdir().unwrap();
    let chain = DefaultChain::with_env(env(&[
        ("AWS_ACCESS_KEY_ID", "AKIAONLY"),
        ("HOME", home.path().to_str().unwrap()),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ]));
    let e = chain.credentials().await.unwrap_err();
    let CredentialsError::NoneFound(why) = &e else {
        panic!("{e}")
    };
    assert!(
        matches!(
            why.as_slice(),
            [
                SourceFailure::Environment(EnvError::NoSecretKey),
                SourceFailure::SharedFiles(ProfileError::NoProfile { .. }),
                SourceFailure::InstanceMetadataDisabled,
            ]
        ),
        "{e}"
    );
    let e = e.to_string();
    assert!(e.contains("AWS_SECRET_ACCESS_KEY is not"), "{e}");
    assert!(e.contains("no profile 'default'"), "{e}");
    assert!(e.contains("disabled by AWS_EC2_METADATA_DISABLED"), "{e}");
}

const CREDENTIALS_FILE: &str = "\
# shared credentials
[default]
aws_access_key_id = AKIADEFAULT
aws_secret_access_key = default/secret

[dev]
aws_access_key_id=AKIADEV
; a comment
aws_secret_access_key=dev+secret
aws_session_token = dev-token
s3 =
  max_concurrent_requests = 20
";

const CONFIG_FILE: &str = "\
[default]
region = eu-west-3

[profile dev]
region = us-west-2
aws_access_key_id = AKIA-OVERRIDDEN-BY-CREDENTIALS-FILE

[profile staging]
aws_access_key_id = AKIASTAGING
aws_secret_access_key = staging-secret

[profile assumed]
role_arn = arn:aws:iam::111122223333:role/edge
source_profile = default
";

fn write_aws_dir() -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    let aws = home.path().join(".aws");
    std::fs::create_dir(&aws).unwrap();
    std::fs::write(aws.join("credentials"), CREDENTIALS_FILE).unwrap();
    std::fs::write(aws.join("config"), CONFIG_FILE).unwrap();
    home
}

async fn profile(home: &Path, extra: &[(&str, &str)]) -> Result<Credentials, CredentialsError> {
    let mut pairs = vec![
        ("HOME", home.to_str().unwrap()),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ];
    pairs.extend_from_slice(extra);
    DefaultChain::with_env(env(&pairs)).credentials().await
}

#[tokio::test]
async fn shared_files_by_profile() {
    let home = write_aws_dir();
    let c = profile(home.path(), &[]).await.unwrap();
    assert_eq!(
        (c.access_key_id.as_str(), c.secret_access_key.as_str()),
        ("AKIADEFAULT", "default/secret")
    );
    assert_eq!(c.session_token, None);

    let c = profile(home.path(), &[("AWS_PROFILE", "dev")])
        .await
        .unwrap();
    assert_eq!(
        c.access_key_id, "AKIADEV",
        "the credentials file wins over the config file"
    );
    assert_eq!(c.secret_access_key, "dev+secret");
    assert_eq!(c.session_token.as_deref(), Some("dev-token"));

    let c = profile(home.path(), &[("AWS_PROFILE", "staging")])
        .await
        .unwrap();
    assert_eq!(c.access_key_id, "AKIASTAGING");

    let e = profile(home.path(), &[("AWS_PROFILE", "assumed")])
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("profile 'assumed' has no aws_access_key_id"),
        "{e}"
    );
    let e = profile(home.path(), &[("AWS_PROFILE", "missing")])
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("no profile 'missing'"), "{e}");
}

#[tokio::test]
async fn file_locations_from_the_environment() {
    let elsewhere = tempfile::tempdir().unwrap();
    let file = elsewhere.path().join("creds.ini");
    std::fs::write(
        &file,
        "[ci]\naws_access_key_id = AKIACI\naws_secret_access_key = ci-secret\n",
    )
    .unwrap();
    let empty_home = tempfile::tempdir().unwrap();
    let c = profile(
        empty_home.path(),
        &[
            ("AWS_SHARED_CREDENTIALS_FILE", file.to_str().unwrap()),
            ("AWS_PROFILE", "ci"),
        ],
    )
    .await
    .unwrap();
    assert_eq!(c.access_key_id, "AKIACI");
}

#[test]
fn ini_parsing() {
    let sections =
        parse_ini("top = ignored\n[ profile   x ]\nKey = v = w\n  nested = skipped\n# c\n[y]\n");
    assert_eq!(sections.len(), 2);
    assert_eq!(sections[0].0, "profile x");
    assert_eq!(sections[0].1.get("key").map(String::as_str), Some("v = w"));
    assert!(!sections[0].1.contains_key("nested"));
    assert_eq!(sections[1].0, "y");
}

/// A stand-in for the instance metadata service; counts credential fetches.
#[derive(Clone)]
struct Imds {
    expiration: String,
    fetches: Arc<AtomicUsize>,
}

const TOKEN: &str = "imds-session-token";

async fn imds(expires_in: time::Duration) -> (String, Arc<AtomicUsize>) {
    let expiration = (OffsetDateTime::now_utc() + expires_in)
        .format(&Rfc3339)
        .unwrap();
    let state = Imds {
        expiration,
        fetches: Arc::new(AtomicUsize::new(0)),
    };
    let fetches = state.fetches.clone();
    let authorized = |h: &AxumHeaders| {
        h.get("x-aws-ec2-metadata-token")
            .is_some_and(|v| v == TOKEN)
    };
    let router = Router::new()
        .route(
            "/latest/api/token",
            put(|h: AxumHeaders| async move {
                match h.get("x-aws-ec2-metadata-token-ttl-seconds") {
                    Some(_) => (StatusCode::OK, TOKEN),
                    None => (StatusCode::BAD_REQUEST, "ttl required"),
                }
            }),
        )
        .route(
            "/latest/meta-data/iam/security-credentials/",
            get(move |h: AxumHeaders| async move {
                if authorized(&h) { (StatusCode::OK, "edge-role\n") } else { (StatusCode::UNAUTHORIZED, "") }
            }),
        )
        .route(
            "/latest/meta-data/iam/security-credentials/edge-role",
            get(move |State(s): State<Imds>, h: AxumHeaders| async move {
                if !authorized(&h) {
                    return (StatusCode::UNAUTHORIZED, String::new());
                }
                s.fetches.fetch_add(1, Ordering::SeqCst);
                let body = format!(
                    r#"{{"Code":"Success","LastUpdated":"2026-01-01T00:00:00Z","Type":"AWS-HMAC","AccessKeyId":"ASIAIMDS","SecretAccessKey":"imds-secret","Token":"imds-token","Expiration":"{}"}}"#,
                    s.expiration
                );
                (StatusCode::OK, body)
            }),
        )
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (format!("http://{addr}/"), fetches)
}

async fn imds_chain(endpoint: &str) -> (tempfile::TempDir, DefaultChain) {
    let home = tempfile::tempdir().unwrap();
    let chain = DefaultChain::with_env(env(&[
        ("HOME", home.path().to_str().unwrap()),
        ("AWS_EC2_METADATA_SERVICE_ENDPOINT", endpoint),
    ]));
    (home, chain)
}

#[tokio::test]
async fn instance_metadata_v2_and_caching() {
    let (endpoint, fetches) = imds(time::Duration::hours(6)).await;
    let (_home, chain) = imds_chain(&endpoint).await;
    let c = chain.credentials().await.unwrap();
    assert_eq!(c.access_key_id, "ASIAIMDS");
    assert_eq!(c.secret_access_key, "imds-secret");
    assert_eq!(c.session_token.as_deref(), Some("imds-token"));
    let again = chain.credentials().await.unwrap();
    assert_eq!(again, c);
    assert_eq!(
        fetches.load(Ordering::SeqCst),
        1,
        "cached until 5 minutes before Expiration"
    );
}

#[tokio::test]
async fn instance_credentials_near_expiry_are_refetched() {
    let (endpoint, fetches) = imds(time::Duration::minutes(2)).await;
    let (_home, chain) = imds_chain(&endpoint).await;
    chain.credentials().await.unwrap();
    chain.credentials().await.unwrap();
    assert_eq!(fetches.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn unreachable_metadata_service_is_reported() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let (_home, chain) = imds_chain(&format!("http://127.0.0.1:{port}")).await;
    let e = chain.credentials().await.unwrap_err().to_string();
    assert!(e.contains("instance metadata (http://127.0.0.1:"), "{e}");
    assert!(e.contains("/latest/api/token"), "{e}");
}
