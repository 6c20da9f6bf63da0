//! AWS credentials for signing S3 origin requests, log delivery and the shared state bucket.
//!
//! [`DefaultChain`] is aws-config's default credential chain, in its order:
//! 1. the environment: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`;
//! 2. the shared config and credentials files (`AWS_CONFIG_FILE`, `AWS_SHARED_CREDENTIALS_FILE`,
//!    default `~/.aws/config` and `~/.aws/credentials`), profile `AWS_PROFILE` or `default`:
//!    static keys, SSO (`sso_session`, `sso_start_url`), assume-role (`role_arn` with
//!    `source_profile` or `credential_source`) and web identity;
//! 3. web identity from the environment (`AWS_WEB_IDENTITY_TOKEN_FILE`, `AWS_ROLE_ARN`: Kubernetes
//!    service accounts);
//! 4. ECS container credentials (`AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` or `_FULL_URI`);
//! 5. EC2 instance metadata (IMDSv2), skipped when `AWS_EC2_METADATA_DISABLED=true`.
//!
//! The chain's HTTP calls (STS, SSO, ECS, IMDS) go through hyper with ring-based rustls.
//! edgegate keeps its own SigV4 signer; only the credentials come from aws-config.
//!
//! Results are cached: credentials without an expiry for the life of the process, expiring ones
//! until [`REFRESH_MARGIN`] before they expire, and a failure for [`FAILURE_TTL`] (so a machine
//! without credentials does not wait on the metadata service for every request). A refresh is
//! awaited, never blocking a thread: concurrent callers wait for one resolution.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use aws_config::default_provider::credentials::DefaultCredentialsChain;
use aws_config::provider_config::ProviderConfig;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_smithy_http_client::tls;

use crate::sigv4::Credentials;

/// The future a [`CredentialsProvider`] returns; the error tells the operator why.
pub type CredentialsFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Credentials, CredentialsError>> + Send + 'a>>;

/// Why a [`CredentialsProvider`] has no credentials. `Clone`: the chain caches a failure.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CredentialsError {
    /// aws-config's default chain found no credentials; its explanation, cause by cause.
    #[error("no AWS credentials from the default chain: {0}")]
    Chain(String),
    /// Another provider's failure, in its own words.
    #[error("{0}")]
    Provider(String),
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

/// Expiring credentials are refreshed this long before they expire.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);
/// A failed resolution is remembered this long.
pub const FAILURE_TTL: Duration = Duration::from_secs(10);

/// aws-config's default credential chain, cached (see the module docs).
pub struct DefaultChain {
    chain: tokio::sync::OnceCell<SharedCredentialsProvider>,
    cache: tokio::sync::Mutex<Option<Cached>>,
}

impl fmt::Debug for DefaultChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DefaultChain").finish_non_exhaustive()
    }
}

/// A resolution result and until when it may be reused (`None`: forever).
struct Cached {
    result: Result<Credentials, CredentialsError>,
    until: Option<SystemTime>,
}

impl Default for DefaultChain {
    fn default() -> Self {
        Self::new()
    }
}

impl DefaultChain {
    /// A chain of its own over the process environment; built on first use.
    pub fn new() -> Self {
        DefaultChain {
            chain: tokio::sync::OnceCell::new(),
            cache: tokio::sync::Mutex::new(None),
        }
    }

    /// The process's one chain: OAC signing, log delivery, `usage report --from-bucket` and the
    /// state bucket share it, so they share its cache and its refreshes.
    pub fn shared() -> Arc<DefaultChain> {
        static SHARED: OnceLock<Arc<DefaultChain>> = OnceLock::new();
        Arc::clone(SHARED.get_or_init(|| Arc::new(DefaultChain::new())))
    }

    async fn provider(&self) -> &SharedCredentialsProvider {
        self.chain
            .get_or_init(|| async {
                let http = aws_smithy_http_client::Builder::new()
                    .tls_provider(tls::Provider::Rustls(
                        tls::rustls_provider::CryptoMode::Ring,
                    ))
                    .build_https();
                let config = ProviderConfig::default()
                    .with_http_client(http)
                    .load_default_region()
                    .await;
                let chain = DefaultCredentialsChain::builder()
                    .configure(config)
                    .build()
                    .await;
                SharedCredentialsProvider::new(chain)
            })
            .await
    }

    async fn resolve(&self) -> Cached {
        match self.provider().await.provide_credentials().await {
            Ok(c) => Cached {
                until: c.expiry().map(|e| {
                    e.checked_sub(REFRESH_MARGIN)
                        .unwrap_or(SystemTime::UNIX_EPOCH)
                }),
                result: Ok(Credentials {
                    access_key_id: c.access_key_id().to_owned(),
                    secret_access_key: c.secret_access_key().to_owned(),
                    session_token: c.session_token().map(str::to_owned),
                }),
            },
            Err(e) => Cached {
                result: Err(CredentialsError::Chain(cause_chain(&e))),
                until: Some(SystemTime::now() + FAILURE_TTL),
            },
        }
    }
}

/// An error and its sources, joined with `: `.
fn cause_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(s) = next {
        let s_text = s.to_string();
        if !out.contains(&s_text) {
            out.push_str(": ");
            out.push_str(&s_text);
        }
        next = s.source();
    }
    out
}

impl CredentialsProvider for DefaultChain {
    fn credentials(&self) -> CredentialsFuture<'_> {
        Box::pin(async move {
            // Held across the refresh so concurrent requests wait for one resolution.
            let mut cache = self.cache.lock().await;
            let now = SystemTime::now();
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
