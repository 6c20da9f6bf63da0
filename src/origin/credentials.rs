//! AWS credentials for signing S3 origin requests: the standard credential chain.
//!
//! [`DefaultChain`] tries, in order:
//! 1. the environment: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`;
//! 2. the shared files: `AWS_SHARED_CREDENTIALS_FILE` (default `~/.aws/credentials`) and
//!    `AWS_CONFIG_FILE` (default `~/.aws/config`), profile `AWS_PROFILE` or `default`, static
//!    keys only (`aws_access_key_id`, `aws_secret_access_key`, `aws_session_token`); the
//!    credentials file wins over the config file;
//! 3. EC2 instance metadata (IMDSv2: a PUT for a session token, then the role name, then the
//!    role's credentials) at `169.254.169.254` or `AWS_EC2_METADATA_SERVICE_ENDPOINT`, skipped
//!    when `AWS_EC2_METADATA_DISABLED=true`.
//!
//! Results are cached: environment and file credentials for the life of the process, instance
//! credentials until 5 minutes before their `Expiration`, and a failure for 10 seconds (so a
//! machine without credentials does not wait on the metadata service for every request).
//! Environment reads go through [`Env`], so tests inject a map.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::sigv4::Credentials;

/// The future a [`CredentialsProvider`] returns; the error tells the operator why.
pub type CredentialsFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Credentials, CredentialsError>> + Send + 'a>>;

/// Why a [`CredentialsProvider`] has no credentials. `Clone`: the chain caches a failure.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CredentialsError {
    /// No source of the [`DefaultChain`] had credentials; why, source by source.
    #[error("no AWS credentials found; {}", join_failures(.0))]
    NoneFound(Vec<SourceFailure>),
    /// Another provider's failure, in its own words.
    #[error("{0}")]
    Provider(String),
}

fn join_failures(failures: &[SourceFailure]) -> String {
    failures
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// One source of the [`DefaultChain`] and why it had no credentials.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SourceFailure {
    /// The environment variables.
    #[error("environment: {0}")]
    Environment(EnvError),
    /// The shared credentials and config files.
    #[error("shared files: {0}")]
    SharedFiles(ProfileError),
    /// Instance metadata, switched off.
    #[error("instance metadata: disabled by AWS_EC2_METADATA_DISABLED")]
    InstanceMetadataDisabled,
    /// Instance metadata at `endpoint`.
    #[error("instance metadata ({endpoint}): {error}")]
    InstanceMetadata {
        /// The metadata service's base URL.
        endpoint: String,
        /// What went wrong.
        error: ImdsError,
    },
}

/// Why the environment holds no credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EnvError {
    /// Only the key id is set.
    #[error("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not")]
    NoSecretKey,
    /// Only the secret is set.
    #[error("AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not")]
    NoKeyId,
    /// Neither is set.
    #[error("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set")]
    Unset,
}

/// Why the shared files hold no credentials for the selected profile.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProfileError {
    /// Neither a home directory nor explicit file paths.
    #[error("HOME is not set and neither AWS_SHARED_CREDENTIALS_FILE nor AWS_CONFIG_FILE is")]
    NoFiles,
    /// A file exists but cannot be read.
    #[error("{}: {error}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        error: Arc<std::io::Error>,
    },
    /// A file is over 1 MiB.
    #[error("{} is larger than {MAX_FILE} bytes", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
    },
    /// Neither file has the profile.
    #[error("no profile '{profile}' in {}", looked.join(" or "))]
    NoProfile {
        /// The profile looked for.
        profile: String,
        /// The files looked in.
        looked: Vec<String>,
    },
    /// The profile has no static keys.
    #[error(
        "profile '{profile}' has no aws_access_key_id and aws_secret_access_key (roles, SSO and credential_process are not supported)"
    )]
    NoStaticKeys {
        /// The profile.
        profile: String,
    },
}

/// Why the instance metadata service gave no credentials.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ImdsError {
    /// The endpoint does not make a URL.
    #[error("bad metadata URL {url:?}: {error}")]
    BadUrl {
        /// The URL.
        url: String,
        /// Why it is not one.
        #[source]
        error: Arc<http::uri::InvalidUri>,
    },
    /// One call failed.
    #[error("{method} {url}: {failure}")]
    Call {
        /// The call's method.
        method: Method,
        /// The call's URL.
        url: String,
        /// What went wrong.
        failure: CallFailure,
    },
    /// The role list is empty.
    #[error("no IAM role attached to the instance")]
    NoRole,
    /// A role name with characters IAM does not allow.
    #[error("unexpected IAM role name {0:?}")]
    BadRoleName(String),
    /// The credentials answer is not the expected JSON.
    #[error("role credentials are not the expected JSON: {0}")]
    BadJson(Arc<serde_json::Error>),
    /// The credentials answer's `Code` is not `Success`.
    #[error("role credentials answer has Code {0:?}")]
    Code(String),
    /// `Expiration` is not an RFC 3339 time.
    #[error("bad Expiration {value:?}: {error}")]
    BadExpiration {
        /// The value given.
        value: String,
        /// Why it does not parse.
        #[source]
        error: time::error::Parse,
    },
}

/// Why one instance metadata call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallFailure {
    /// The request could not be built.
    #[error("{0}")]
    Request(Arc<http::Error>),
    /// Connecting or sending failed (the whole cause chain).
    #[error("{0}")]
    Transport(String),
    /// Reading the answer failed (or it is over the size limit).
    #[error("reading the answer: {0}")]
    Read(String),
    /// A non-2xx answer.
    #[error("HTTP {0}")]
    Status(http::StatusCode),
    /// The answer is not UTF-8.
    #[error("answer is not UTF-8")]
    NotUtf8,
    /// No answer in time.
    #[error("no answer within {IMDS_TIMEOUT:?}")]
    Timeout,
}

/// A source of AWS credentials.
pub trait CredentialsProvider: Send + Sync + fmt::Debug {
    /// Current credentials (possibly cached).
    fn credentials(&self) -> CredentialsFuture<'_>;
}

/// Fixed credentials.
#[derive(Debug, Clone)]
pub struct StaticCredentials(pub Credentials);

impl CredentialsProvider for StaticCredentials {
    fn credentials(&self) -> CredentialsFuture<'_> {
        let c = self.0.clone();
        Box::pin(async move { Ok(c) })
    }
}

/// Read access to environment variables (the process environment, or a map in tests).
pub trait Env: Send + Sync + fmt::Debug {
    /// The variable's value, `None` when unset or not Unicode.
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl Env for HashMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

/// Shared credential files larger than this are refused.
const MAX_FILE: u64 = 1024 * 1024;
/// Instance metadata answers larger than this are refused.
const MAX_IMDS_BODY: usize = 64 * 1024;
/// Bound on each instance metadata call (connect included).
const IMDS_TIMEOUT: Duration = Duration::from_secs(2);
/// Instance credentials are refreshed this long before they expire.
const REFRESH_MARGIN: time::Duration = time::Duration::minutes(5);
/// A failed resolution is remembered this long.
const FAILURE_TTL: time::Duration = time::Duration::seconds(10);

/// The standard chain: environment, shared files, EC2 instance metadata (see the module docs).
pub struct DefaultChain {
    env: Arc<dyn Env>,
    cache: tokio::sync::Mutex<Option<Cached>>,
}

impl fmt::Debug for DefaultChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DefaultChain")
            .field("env", &self.env)
            .finish_non_exhaustive()
    }
}

/// A resolution result and until when it may be reused (`None`: forever).
struct Cached {
    result: Result<Credentials, CredentialsError>,
    until: Option<OffsetDateTime>,
}

impl Default for DefaultChain {
    fn default() -> Self {
        Self::new()
    }
}

impl DefaultChain {
    /// The chain over the process environment.
    pub fn new() -> Self {
        Self::with_env(Arc::new(ProcessEnv))
    }

    /// The chain over an explicit environment (tests use a map).
    pub fn with_env(env: Arc<dyn Env>) -> Self {
        DefaultChain {
            env,
            cache: tokio::sync::Mutex::new(None),
        }
    }

    async fn resolve(&self) -> Cached {
        let mut why = Vec::new();
        match from_env(&*self.env) {
            Ok(c) => {
                return Cached {
                    result: Ok(c),
                    until: None,
                };
            }
            Err(e) => why.push(SourceFailure::Environment(e)),
        }
        match from_profile(&*self.env).await {
            Ok(c) => {
                return Cached {
                    result: Ok(c),
                    until: None,
                };
            }
            Err(e) => why.push(SourceFailure::SharedFiles(e)),
        }
        if self
            .env
            .var("AWS_EC2_METADATA_DISABLED")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
        {
            why.push(SourceFailure::InstanceMetadataDisabled);
        } else {
            let endpoint = self
                .env
                .var("AWS_EC2_METADATA_SERVICE_ENDPOINT")
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "http://169.254.169.254".to_owned());
            match from_imds(&endpoint).await {
                Ok((c, expires)) => {
                    return Cached {
                        result: Ok(c),
                        until: expires.map(|e| e - REFRESH_MARGIN),
                    };
                }
                Err(error) => why.push(SourceFailure::InstanceMetadata { endpoint, error }),
            }
        }
        Cached {
            result: Err(CredentialsError::NoneFound(why)),
            until: Some(OffsetDateTime::now_utc() + FAILURE_TTL),
        }
    }
}

impl CredentialsProvider for DefaultChain {
    fn credentials(&self) -> CredentialsFuture<'_> {
        Box::pin(async move {
            // Held across the refresh so concurrent requests wait for one resolution.
            let mut cache = self.cache.lock().await;
            let now = OffsetDateTime::now_utc();
            if let Some(c) = cache.as_ref()
                && c.until.is_none_or(|u| now < u)
            {
                return c.result.clone();
            }
            let fresh = self.resolve().await;
            let result = fresh.result.clone();
            *cache = Some(fresh);
            result
        })
    }
}

fn non_empty(env: &dyn Env, name: &str) -> Option<String> {
    env.var(name)
        .filter(|v| !v.trim().is_empty())
        .map(|v| v.trim().to_owned())
}

/// Credentials from `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN`.
fn from_env(env: &dyn Env) -> Result<Credentials, EnvError> {
    match (
        non_empty(env, "AWS_ACCESS_KEY_ID"),
        non_empty(env, "AWS_SECRET_ACCESS_KEY"),
    ) {
        (Some(access_key_id), Some(secret_access_key)) => Ok(Credentials {
            access_key_id,
            secret_access_key,
            session_token: non_empty(env, "AWS_SESSION_TOKEN"),
        }),
        (Some(_), None) => Err(EnvError::NoSecretKey),
        (None, Some(_)) => Err(EnvError::NoKeyId),
        (None, None) => Err(EnvError::Unset),
    }
}

/// `path`, with a leading `~/` replaced by the home directory.
fn expand_home(path: &str, home: Option<&str>) -> PathBuf {
    match (path.strip_prefix("~/"), home) {
        (Some(rest), Some(home)) => Path::new(home).join(rest),
        _ => PathBuf::from(path),
    }
}

/// Static keys of the selected profile from the shared credentials and config files.
async fn from_profile(env: &dyn Env) -> Result<Credentials, ProfileError> {
    let home = non_empty(env, "HOME").or_else(|| non_empty(env, "USERPROFILE"));
    let file = |var: &str, default: &str| -> Option<PathBuf> {
        match non_empty(env, var) {
            Some(p) => Some(expand_home(&p, home.as_deref())),
            None => home
                .as_ref()
                .map(|h| Path::new(h).join(".aws").join(default)),
        }
    };
    let profile = non_empty(env, "AWS_PROFILE").unwrap_or_else(|| "default".to_owned());
    let credentials_path = file("AWS_SHARED_CREDENTIALS_FILE", "credentials");
    let config_path = file("AWS_CONFIG_FILE", "config");
    if credentials_path.is_none() && config_path.is_none() {
        return Err(ProfileError::NoFiles);
    }

    let mut merged: HashMap<String, String> = HashMap::new();
    let mut found_profile = false;
    let mut looked = Vec::new();
    // Config first, so the credentials file overrides it key by key.
    for (path, is_config) in [(&config_path, true), (&credentials_path, false)] {
        let Some(path) = path else { continue };
        looked.push(path.display().to_string());
        let Some(text) = read_small(path).await? else {
            continue;
        };
        let sections = parse_ini(&text);
        let wanted = |name: &str| {
            if is_config {
                name == format!("profile {profile}") || (profile == "default" && name == "default")
            } else {
                name == profile
            }
        };
        for (name, keys) in sections {
            if wanted(&name) {
                found_profile = true;
                merged.extend(keys);
            }
        }
    }
    if !found_profile {
        return Err(ProfileError::NoProfile { profile, looked });
    }
    match (
        merged.get("aws_access_key_id"),
        merged.get("aws_secret_access_key"),
    ) {
        (Some(id), Some(secret)) if !id.is_empty() && !secret.is_empty() => Ok(Credentials {
            access_key_id: id.clone(),
            secret_access_key: secret.clone(),
            session_token: merged
                .get("aws_session_token")
                .filter(|t| !t.is_empty())
                .cloned(),
        }),
        _ => Err(ProfileError::NoStaticKeys { profile }),
    }
}

/// The file's text, `None` when it does not exist; an error when unreadable or over 1 MiB.
async fn read_small(path: &Path) -> Result<Option<String>, ProfileError> {
    let unreadable = |e| ProfileError::Unreadable {
        path: path.to_owned(),
        error: Arc::new(e),
    };
    match tokio::fs::metadata(path).await {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(unreadable(e)),
        Ok(m) if m.len() > MAX_FILE => {
            return Err(ProfileError::TooLarge {
                path: path.to_owned(),
            });
        }
        Ok(_) => {}
    }
    match tokio::fs::read(path).await {
        Ok(bytes) => Ok(Some(String::from_utf8_lossy(&bytes).into_owned())),
        Err(e) => Err(unreadable(e)),
    }
}

/// Sections of an AWS-style INI file: `[name]` then `key = value` lines. Comments start with
/// `#` or `;`; indented lines (nested settings such as `s3 =` blocks) are skipped.
fn parse_ini(text: &str) -> Vec<(String, HashMap<String, String>)> {
    let mut sections: Vec<(String, HashMap<String, String>)> = Vec::new();
    for line in text.lines() {
        if line.starts_with([' ', '\t']) {
            continue;
        }
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
            sections.push((name, HashMap::new()));
            continue;
        }
        if let (Some((k, v)), Some((_, keys))) = (line.split_once('='), sections.last_mut()) {
            keys.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
    }
    sections
}

/// The credentials JSON of the instance metadata service.
#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ImdsCredentials {
    code: Option<String>,
    access_key_id: String,
    secret_access_key: String,
    token: Option<String>,
    expiration: Option<String>,
}

type ImdsClient = Client<HttpConnector, Full<Bytes>>;

/// IMDSv2: token, role name, role credentials.
async fn from_imds(endpoint: &str) -> Result<(Credentials, Option<OffsetDateTime>), ImdsError> {
    let base = endpoint.trim_end_matches('/');
    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(Some(Duration::from_secs(1)));
    let client: ImdsClient = Client::builder(TokioExecutor::new()).build(connector);

    let token = imds_call(
        &client,
        Method::PUT,
        &format!("{base}/latest/api/token"),
        ("x-aws-ec2-metadata-token-ttl-seconds", "21600"),
    )
    .await?;
    let token = token.trim().to_owned();
    let auth = ("x-aws-ec2-metadata-token", token.as_str());
    let roles = imds_call(
        &client,
        Method::GET,
        &format!("{base}/latest/meta-data/iam/security-credentials/"),
        auth,
    )
    .await?;
    let role = roles
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .ok_or(ImdsError::NoRole)?;
    if !role
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
    {
        return Err(ImdsError::BadRoleName(role.to_owned()));
    }
    let json = imds_call(
        &client,
        Method::GET,
        &format!("{base}/latest/meta-data/iam/security-credentials/{role}"),
        auth,
    )
    .await?;
    let parsed: ImdsCredentials =
        serde_json::from_str(&json).map_err(|e| ImdsError::BadJson(Arc::new(e)))?;
    if let Some(code) = parsed.code.as_deref()
        && code != "Success"
    {
        return Err(ImdsError::Code(code.to_owned()));
    }
    let expires =
        match parsed.expiration.as_deref() {
            Some(s) => Some(OffsetDateTime::parse(s, &Rfc3339).map_err(|error| {
                ImdsError::BadExpiration {
                    value: s.to_owned(),
                    error,
                }
            })?),
            None => None,
        };
    Ok((
        Credentials {
            access_key_id: parsed.access_key_id,
            secret_access_key: parsed.secret_access_key,
            session_token: parsed.token.filter(|t| !t.is_empty()),
        },
        expires,
    ))
}

/// One metadata call: bounded in time and size, non-2xx is an error.
async fn imds_call(
    client: &ImdsClient,
    method: Method,
    url: &str,
    header: (&str, &str),
) -> Result<String, ImdsError> {
    let uri: Uri = url.parse().map_err(|e| ImdsError::BadUrl {
        url: url.to_owned(),
        error: Arc::new(e),
    })?;
    let failed = |failure| ImdsError::Call {
        method: method.clone(),
        url: url.to_owned(),
        failure,
    };
    let req = Request::builder()
        .method(method.clone())
        .uri(uri)
        .header(header.0, header.1)
        .body(Full::new(Bytes::new()))
        .map_err(|e| failed(CallFailure::Request(Arc::new(e))))?;
    let call = async {
        let resp = client
            .request(req)
            .await
            .map_err(|e| CallFailure::Transport(super::error_chain(&e)))?;
        let status = resp.status();
        let body = Limited::new(resp.into_body(), MAX_IMDS_BODY)
            .collect()
            .await
            .map_err(|e| CallFailure::Read(e.to_string()))?
            .to_bytes();
        if !status.is_success() {
            return Err(CallFailure::Status(status));
        }
        String::from_utf8(body.to_vec()).map_err(|_| CallFailure::NotUtf8)
    };
    match tokio::time::timeout(IMDS_TIMEOUT, call).await {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => Err(failed(e)),
        Err(_) => Err(failed(CallFailure::Timeout)),
    }
}

#[cfg(test)]
mod tests;
