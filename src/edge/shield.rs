//! Origin Shield: one edge caches in front of an origin for the other edges.
//!
//! An edge started with `--shield-region REGION` is the Origin Shield for every origin whose
//! `OriginShield` is `{Enabled: true, OriginShieldRegion: REGION}`. The other edges find it
//! through `--shield-endpoint REGION=URL` and send their misses for those origins to its viewer
//! listener instead of to the origin ([`ShieldOrigin`]): the origin request, with the
//! distribution's domain as `Host`, the origin's id in [`ORIGIN_HEADER`] and an HMAC-SHA256 in
//! [`SIGNATURE_HEADER`] over the host, origin id, method and path, keyed by `--shield-key`
//! (or a key derived from the admin credentials, which every edge of a deployment shares). A
//! request that names an origin without a valid signature is refused (403), so viewers cannot
//! forge shield requests. The shield serves from its cache or fills from the origin, collapsing
//! concurrent misses from every edge into one origin request; its hits are logged as
//! `OriginShieldHit`. If the shield cannot be connected to or does not answer in time, the edge
//! goes to the origin directly, as CloudFront does.

use std::sync::Arc;

use hmac::{Hmac, Mac};
use http::header::{self, HeaderValue};
use http::{Method, Uri};

use crate::origin::{
    HttpOrigin, HttpOriginSettings, Origin, OriginClient, OriginError, OriginFuture, OriginRequest,
    ProtocolPolicy,
};

/// Names the origin a shield request is for.
pub const ORIGIN_HEADER: &str = "x-edgegate-shield-origin";
/// The shield request's signature (lowercase hex HMAC-SHA256).
pub const SIGNATURE_HEADER: &str = "x-edgegate-shield-signature";

/// `x-edge-detailed-result-type` of a hit on the shield for another edge.
pub const SHIELD_HIT: &str = "OriginShieldHit";

type HmacSha256 = Hmac<sha2::Sha256>;

/// The shield key derived from an admin secret: HMAC-SHA256(secret, "edgegate origin shield").
pub fn derive_key(secret: &str) -> Vec<u8> {
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(b"edgegate origin shield");
    mac.finalize().into_bytes().to_vec()
}

fn mac(key: &[u8], host: &str, origin_id: &str, method: &Method, path: &str) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key");
    for part in [host, origin_id, method.as_str(), path] {
        mac.update(part.as_bytes());
        mac.update(b"\n");
    }
    mac
}

/// The signature of a shield request.
pub fn sign(key: &[u8], host: &str, origin_id: &str, method: &Method, path: &str) -> String {
    mac(key, host, origin_id, method, path)
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether `signature` (hex) is the signature of this shield request (constant time).
pub fn verify(
    key: &[u8],
    host: &str,
    origin_id: &str,
    method: &Method,
    path: &str,
    signature: &str,
) -> bool {
    let Some(bytes) = decode_hex(signature) else {
        return false;
    };
    mac(key, host, origin_id, method, path)
        .verify_slice(&bytes)
        .is_ok()
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Where this edge sends misses for shielded origins, and what it serves as a shield.
#[derive(Debug, Clone, Default)]
pub struct ShieldSettings {
    /// The region this edge is the shield of, if any.
    pub own_region: Option<String>,
    /// Shield endpoints by region.
    pub endpoints: std::collections::BTreeMap<String, Uri>,
    /// The key that signs and verifies shield requests.
    pub key: Option<Arc<[u8]>>,
}

/// An origin reached through its Origin Shield, falling back to the origin itself when the
/// shield cannot be connected to or does not answer in time.
#[derive(Debug)]
pub struct ShieldOrigin {
    shield: HttpOrigin,
    origin: Arc<dyn Origin>,
    key: Arc<[u8]>,
    host: String,
    origin_id: String,
    region: String,
}

impl ShieldOrigin {
    /// `origin` (id `origin_id`, of the distribution served as `host`) behind the shield at
    /// `endpoint`.
    pub fn new(
        endpoint: &Uri,
        client: OriginClient,
        origin: Arc<dyn Origin>,
        key: Arc<[u8]>,
        host: &str,
        origin_id: &str,
        region: &str,
    ) -> Self {
        let https = endpoint.scheme_str() == Some("https");
        let port = endpoint.port_u16().unwrap_or(if https { 443 } else { 80 });
        let settings = HttpOriginSettings {
            domain_name: endpoint.host().unwrap_or_default().to_owned(),
            http_port: port,
            https_port: port,
            protocol_policy: if https {
                ProtocolPolicy::HttpsOnly
            } else {
                ProtocolPolicy::HttpOnly
            },
            origin_path: String::new(),
            custom_headers: Vec::new(),
            connection_attempts: 1,
            connection_timeout: std::time::Duration::from_secs(2),
            read_timeout: std::time::Duration::from_secs(30),
            keepalive_timeout: std::time::Duration::from_secs(5),
        };
        Self {
            shield: HttpOrigin::new(settings, client),
            origin,
            key,
            host: host.to_owned(),
            origin_id: origin_id.to_owned(),
            region: region.to_owned(),
        }
    }
}

impl Origin for ShieldOrigin {
    fn fetch(&self, req: OriginRequest) -> OriginFuture<'_> {
        Box::pin(async move {
            // Only what can be sent twice goes through the shield: a request with a body
            // goes to the origin.
            let retryable = matches!(req.method, Method::GET | Method::HEAD | Method::OPTIONS)
                && http_body::Body::size_hint(&req.body).exact() == Some(0);
            if !retryable {
                return self.origin.fetch(req).await;
            }
            let direct = OriginRequest {
                method: req.method.clone(),
                path_and_query: req.path_and_query.clone(),
                headers: req.headers.clone(),
                body: axum::body::Body::empty(),
                viewer_https: req.viewer_https,
            };
            let mut to_shield = req;
            let signature = sign(
                &self.key,
                &self.host,
                &self.origin_id,
                &to_shield.method,
                &to_shield.path_and_query,
            );
            let h = &mut to_shield.headers;
            let (Ok(host), Ok(id), Ok(sig)) = (
                HeaderValue::from_str(&self.host),
                HeaderValue::from_str(&self.origin_id),
                HeaderValue::from_str(&signature),
            ) else {
                return self.origin.fetch(direct).await;
            };
            h.insert(header::HOST, host);
            h.insert(ORIGIN_HEADER, id);
            h.insert(SIGNATURE_HEADER, sig);
            match self.shield.fetch(to_shield).await {
                Err(e @ (OriginError::Connect(_) | OriginError::Timeout(_))) => {
                    tracing::warn!(
                        region = %self.region,
                        origin = %self.origin_id,
                        error = %e,
                        "Origin Shield unreachable; going to the origin directly"
                    );
                    self.origin.fetch(direct).await
                }
                other => other,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_only_for_its_request_and_key() {
        let key = derive_key("secret");
        let s = sign(&key, "d1.example", "o1", &Method::GET, "/a?b=1");
        assert!(verify(&key, "d1.example", "o1", &Method::GET, "/a?b=1", &s));
        assert!(!verify(
            &key,
            "d1.example",
            "o2",
            &Method::GET,
            "/a?b=1",
            &s
        ));
        assert!(!verify(
            &key,
            "d1.example",
            "o1",
            &Method::GET,
            "/a?b=2",
            &s
        ));
        assert!(!verify(
            &key,
            "d2.example",
            "o1",
            &Method::GET,
            "/a?b=1",
            &s
        ));
        let other = derive_key("other");
        assert!(!verify(
            &other,
            "d1.example",
            "o1",
            &Method::GET,
            "/a?b=1",
            &s
        ));
        assert!(!verify(
            &key,
            "d1.example",
            "o1",
            &Method::GET,
            "/a?b=1",
            "zz"
        ));
        assert!(!verify(
            &key,
            "d1.example",
            "o1",
            &Method::GET,
            "/a?b=1",
            ""
        ));
    }
}
