//! The one S3 client: object_store's `AmazonS3`, built in one place ([`builder`]) for the state
//! bucket (`state::store::s3`) and for the meter's buckets (`meter::bucket`: log delivery,
//! `usage report --from-bucket`, KeyValueStore imports).
//!
//! - **Addressing.** Path-style at an explicit endpoint (`--s3-endpoint`: LocalStack, MinIO);
//!   against AWS virtual-hosted (`https://BUCKET.s3.REGION.amazonaws.com`), except for bucket
//!   names with a dot, which do not match S3's wildcard certificate and are addressed
//!   path-style (`https://s3.REGION.amazonaws.com/BUCKET`), as the AWS SDKs do.
//! - **HTTP.** The edge's own hyper with ring-based rustls ([`HyperConnector`], an
//!   `object_store::client::HttpConnector`): no second TLS stack (no reqwest, no aws-lc).
//! - **Credentials.** [`BridgedCredentials`] hands object_store the process's one aws-config
//!   chain (`origin::DefaultChain::shared()`), so every S3 call, OAC signing included, resolves
//!   and refreshes the same credentials.

use std::sync::Arc;
use std::time::Duration;

use http_body_util::BodyExt;
use object_store::aws::{AmazonS3Builder, AwsCredential};
use object_store::client::{
    ClientOptions, HttpClient, HttpConnector, HttpError, HttpErrorKind, HttpRequest,
    HttpRequestBody, HttpResponse, HttpResponseBody, HttpService,
};

use crate::origin::CredentialsProvider;

/// S3 credentials as object_store takes them.
pub type S3Credentials = Arc<dyn object_store::CredentialProvider<Credential = AwsCredential>>;

/// How the requests of a store built by [`builder`] are signed.
#[derive(Debug, Clone)]
pub enum Signing {
    /// SigV4 with these credentials (normally [`BridgedCredentials`] over aws-config's chain).
    With(S3Credentials),
    /// SigV4 with object_store's own chain over the environment (`AWS_ACCESS_KEY_ID`, …, web
    /// identity, ECS, IMDSv2): only for callers that pass no credentials.
    Environment,
    /// Not signed at all: only for an explicit endpoint (LocalStack, MinIO) when no credentials
    /// exist; the caller decides and warns.
    Unsigned,
}

/// An object_store S3 builder for `bucket` in `region`, addressed path-style at `endpoint`
/// when one is given and as AWS expects otherwise (see the module docs), with edgegate's HTTP
/// client and `signing`. Callers add what is theirs (conditional writes, retries) and build.
pub fn builder(
    bucket: &str,
    region: &str,
    endpoint: Option<&str>,
    signing: Signing,
) -> AmazonS3Builder {
    let mut b = match signing {
        Signing::Environment => AmazonS3Builder::from_env(),
        Signing::With(credentials) => AmazonS3Builder::new().with_credentials(credentials),
        // Credentials are still given, so that object_store does not set up a chain of its
        // own; they are never asked for.
        Signing::Unsigned => AmazonS3Builder::new()
            .with_credentials(Arc::new(NoCredentials))
            .with_skip_signature(true),
    };
    b = b
        .with_bucket_name(bucket)
        .with_region(region)
        .with_http_connector(HyperConnector);
    match endpoint {
        Some(ep) => b
            .with_endpoint(ep.trim_end_matches('/'))
            .with_allow_http(ep.starts_with("http://"))
            .with_virtual_hosted_style_request(false),
        None => b.with_virtual_hosted_style_request(!bucket.contains('.')),
    }
}

/// The credentials of an unsigned store: asked for, they fail.
#[derive(Debug)]
struct NoCredentials;

#[async_trait::async_trait]
impl object_store::CredentialProvider for NoCredentials {
    type Credential = AwsCredential;

    async fn get_credential(&self) -> object_store::Result<Arc<AwsCredential>> {
        Err(object_store::Error::NotImplemented {
            operation: "credentials for an unsigned S3 store".into(),
            implementer: "edgegate".into(),
        })
    }
}

/// An edgegate [`CredentialsProvider`] (normally aws-config's chain, [`DefaultChain::shared`])
/// as object_store's credential provider, so every bucket signs with the same credentials as
/// OAC.
///
/// [`DefaultChain::shared`]: crate::origin::DefaultChain::shared
#[derive(Debug)]
pub struct BridgedCredentials(pub Arc<dyn CredentialsProvider>);

#[async_trait::async_trait]
impl object_store::CredentialProvider for BridgedCredentials {
    type Credential = AwsCredential;

    async fn get_credential(&self) -> object_store::Result<Arc<AwsCredential>> {
        let c = self
            .0
            .credentials()
            .await
            .map_err(|e| object_store::Error::Generic {
                store: "S3",
                source: Box::new(e),
            })?;
        Ok(Arc::new(AwsCredential {
            key_id: c.access_key_id,
            secret_key: c.secret_access_key,
            token: c.session_token,
        }))
    }
}

/// object_store's HTTP client on hyper (the same stack as the origins: no second TLS library).
#[derive(Debug, Clone, Copy)]
pub struct HyperConnector;

type S3Hyper = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    HttpRequestBody,
>;

#[derive(Debug)]
struct HyperService(S3Hyper);

impl HttpConnector for HyperConnector {
    fn connect(&self, _: &ClientOptions) -> object_store::Result<HttpClient> {
        let provider = rustls::crypto::ring::default_provider();
        let builder = match hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(provider)
        {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "no system root certificates; an https S3 bucket will fail certificate checks");
                let config = rustls::ClientConfig::builder_with_provider(Arc::new(
                    rustls::crypto::ring::default_provider(),
                ))
                .with_safe_default_protocol_versions()
                .map_err(|e| object_store::Error::Generic {
                    store: "S3",
                    source: Box::new(e),
                })?
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth();
                hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(config)
            }
        };
        let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(Duration::from_secs(10)));
        let https = builder.https_or_http().enable_http1().wrap_connector(http);
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .pool_idle_timeout(Duration::from_secs(30))
                .pool_timer(hyper_util::rt::TokioTimer::new())
                .build(https);
        Ok(HttpClient::new(HyperService(client)))
    }
}

impl HttpService for HyperService {
    fn call<'a, 'b>(
        &'a self,
        req: HttpRequest,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<HttpResponse, HttpError>> + Send + 'b>,
    >
    where
        'a: 'b,
        Self: 'b,
    {
        Box::pin(async move {
            let resp = tokio::time::timeout(Duration::from_secs(30), self.0.request(req))
                .await
                .map_err(|e| HttpError::new(HttpErrorKind::Timeout, e))?
                .map_err(|e| {
                    let kind = if e.is_connect() {
                        HttpErrorKind::Connect
                    } else {
                        HttpErrorKind::Request
                    };
                    HttpError::new(kind, e)
                })?;
            let (parts, body) = resp.into_parts();
            let body = HttpResponseBody::new(
                body.map_err(|e| HttpError::new(HttpErrorKind::Interrupted, e)),
            );
            Ok(HttpResponse::from_parts(parts, body))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::StaticCredentialProvider;
    use object_store::signer::Signer;

    /// The URL a request for `key` goes to (a presigned URL without its query).
    async fn url_of(b: AmazonS3Builder, key: &str) -> String {
        let s3 = b.build().unwrap();
        let url = s3
            .signed_url(
                http::Method::GET,
                &object_store::path::Path::from(key),
                Duration::from_secs(60),
            )
            .await
            .unwrap();
        url.as_str().split('?').next().unwrap().to_owned()
    }

    #[tokio::test]
    async fn path_style_at_an_endpoint_virtual_hosted_at_aws() {
        let creds = || {
            Signing::With(Arc::new(StaticCredentialProvider::new(AwsCredential {
                key_id: "AKID".into(),
                secret_key: "secret".into(),
                token: None,
            })))
        };
        let local = builder("logs", "us-east-1", Some("http://127.0.0.1:4566/"), creds());
        assert_eq!(
            url_of(local, "a/b.gz").await,
            "http://127.0.0.1:4566/logs/a/b.gz"
        );
        let aws = builder("logs", "eu-west-1", None, creds());
        assert_eq!(
            url_of(aws, "k").await,
            "https://logs.s3.eu-west-1.amazonaws.com/k"
        );
        let dotted = builder("my.logs", "us-east-1", None, creds());
        assert_eq!(
            url_of(dotted, "k").await,
            "https://s3.us-east-1.amazonaws.com/my.logs/k"
        );
    }
}
