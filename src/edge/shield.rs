//! Origin Shield: one edge caches in front of an origin for the other edges.
//!
//! An edge started with `--shield-region REGION` is the Origin Shield for every origin whose
//! `OriginShield` is `{Enabled: true, OriginShieldRegion: REGION}`. The other edges find it
//! through `--shield-endpoint REGION=URL`, or, on a shared state bucket, through the shield's
//! heartbeat ([`ShieldDirectory`]), and send their misses for those origins to its viewer
//! listener instead of to the origin ([`ShieldOrigin`]): the origin request, with the
//! distribution's domain as `Host`, the origin's id in [`ORIGIN_HEADER`] and, in
//! [`SIGNATURE_HEADER`], the time it was signed and an HMAC-SHA256 over that time, the host,
//! origin id, method and path, keyed by `--shield-key` (or a key derived from the admin
//! credentials, which every edge of a deployment shares). A request that names an origin
//! without a valid signature, or with one made more than [`MAX_SKEW_SECS`] away from the
//! shield's time, is refused (403): viewers cannot forge shield requests, and a captured one
//! cannot be replayed after a few minutes. The shield serves from its cache or fills from the origin, collapsing
//! concurrent misses from every edge into one origin request. If the shield cannot be connected
//! to or does not answer in time, the edge goes to the origin directly, as CloudFront does.
//!
//! ## Logs and usage, each request counted once
//!
//! CloudFront's standard logs come from the edge the viewer reached, so the shield writes no
//! access-log line (and no journal record) for a shield request: it answers with
//! [`RESULT_HEADER`] (`Hit` or `Miss`), which the edge removes before it stores or sends the
//! response. The edge logs its own request as CloudFront does: `x-edge-result-type` `Miss` and,
//! when the shield answered from its cache, `x-edge-detailed-result-type` [`SHIELD_HIT`];
//! `X-Cache` stays `Miss from cloudfront`.
//!
//! Origin Shield requests are recorded on the edge that sent them, in its journal's
//! `x-origin-shield-billing-region` field ([`ShieldUse`]), and counted as
//! `{R}-Requests-OriginShield` with R the billing region of the shield's AWS region
//! ([`billing_region`]). Which requests count follows CloudFront's "Estimating Origin Shield
//! costs": a cacheable request (GET, HEAD, OPTIONS) counts when it reaches the shield from
//! another edge (edgegate's edges are each their own regional cache, so every other edge is "a
//! regional edge cache in a different region"); the shield's own misses do not count. A proxy
//! method (POST, PUT, PATCH, DELETE) always counts, as CloudFront always routes it through
//! Origin Shield, even though edgegate sends a request with a body straight to the origin
//! (it could not be sent again if the shield failed). A request that fell back to the origin
//! because the shield was unreachable does not count. CloudFront prices no data transfer for
//! Origin Shield, so no `Bytes-OriginShield`/`OBytes-OriginShield` rows are written.

use std::sync::Arc;

use hmac::{Hmac, Mac};
use http::header::{self, HeaderValue};
use http::{Method, Uri};

use crate::clock::Clock;
use crate::config::BillingRegion;
use crate::origin::{
    HttpOrigin, HttpOriginSettings, Origin, OriginClient, OriginError, OriginFuture, OriginRequest,
    ProtocolPolicy,
};

/// Names the origin a shield request is for.
pub const ORIGIN_HEADER: &str = "x-edgegate-shield-origin";
/// The shield request's signature (lowercase hex HMAC-SHA256).
pub const SIGNATURE_HEADER: &str = "x-edgegate-shield-signature";

/// The shield's answer to a shield request: `Hit` when it served from its cache, else `Miss`.
/// The edge removes it before the response is stored or sent.
pub const RESULT_HEADER: &str = "x-edgegate-shield-result";

/// `x-edge-detailed-result-type` of the edge's request that the shield served from its cache.
pub const SHIELD_HIT: &str = "OriginShieldHit";

/// The CloudFront billing region of an Origin Shield region (an AWS region code such as
/// `us-east-2`), for `{R}-Requests-OriginShield`: the United States regions are `US`, Europe's
/// `EU`, Mumbai `IN`, Tokyo `JP`, Sydney `AU`, Seoul and Singapore `AP`, São Paulo `SA` and
/// the UAE `ME`. `None` for a region that is not an Origin Shield region.
pub fn billing_region(aws_region: &str) -> Option<BillingRegion> {
    use BillingRegion::{Ap, Au, Eu, In, Jp, Me, Sa, Us};
    Some(match aws_region {
        "us-east-1" | "us-east-2" | "us-west-2" => Us,
        "eu-central-1" | "eu-west-1" | "eu-west-2" => Eu,
        "ap-south-1" => In,
        "ap-northeast-1" => Jp,
        "ap-southeast-2" => Au,
        "ap-northeast-2" | "ap-southeast-1" => Ap,
        "sa-east-1" => Sa,
        "me-central-1" => Me,
        _ => return None,
    })
}

/// How an origin response involved an Origin Shield, carried in the response's extensions
/// from the origin to the forward phase, which notes it for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShieldUse {
    /// The billing region of the shield, where the request counts as
    /// `{R}-Requests-OriginShield`.
    pub billing_region: BillingRegion,
    /// The shield served the request from its cache (`OriginShieldHit`).
    pub hit: bool,
}

/// Shields found through the shared state bucket: region → the URL a live shield's heartbeat
/// advertises. Updated after every poll of the bucket; read on each shield request.
#[derive(Debug, Default)]
pub struct ShieldDirectory {
    live: std::sync::RwLock<std::collections::BTreeMap<String, Uri>>,
}

impl ShieldDirectory {
    /// Replaces the live shields (region → URL); URLs that do not parse are left out.
    pub fn set(&self, shields: std::collections::BTreeMap<String, String>) {
        let parsed: std::collections::BTreeMap<String, Uri> = shields
            .into_iter()
            .filter_map(|(region, url)| match url.parse::<Uri>() {
                Ok(u) if u.host().is_some() => Some((region, u)),
                _ => {
                    tracing::warn!(%region, %url, "a shield advertises a URL that is not http://HOST:PORT; ignored");
                    None
                }
            })
            .collect();
        let mut live = self
            .live
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if *live != parsed {
            tracing::info!(shields = ?parsed, "Origin Shields found through the state bucket");
            *live = parsed;
        }
    }

    /// The URL of the live shield of `region`, if any.
    pub fn get(&self, region: &str) -> Option<Uri> {
        self.live
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(region)
            .cloned()
    }
}

type HmacSha256 = Hmac<sha2::Sha256>;

/// The shield key derived from an admin secret: HMAC-SHA256(secret, "edgegate origin shield").
pub fn derive_key(secret: &str) -> Vec<u8> {
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(b"edgegate origin shield");
    mac.finalize().into_bytes().to_vec()
}

/// How far (seconds) a shield request's signing time may be from the shield's clock: the
/// edges' clocks may differ this much, and a captured request is refused after it.
pub const MAX_SKEW_SECS: i64 = 300;

/// What a shield request is signed for.
#[derive(Debug, Clone, Copy)]
pub struct ShieldRequest<'a> {
    /// The distribution's domain (the request's `Host`, without a port).
    pub host: &'a str,
    /// The origin's id.
    pub origin_id: &'a str,
    /// The request's method.
    pub method: &'a Method,
    /// The request's path and query.
    pub path: &'a str,
}

fn mac(key: &[u8], at: i64, r: ShieldRequest<'_>) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key");
    let at = at.to_string();
    for part in [&at, r.host, r.origin_id, r.method.as_str(), r.path] {
        mac.update(part.as_bytes());
        mac.update(b"\n");
    }
    mac
}

/// The [`SIGNATURE_HEADER`] of a shield request signed at `at` (seconds since the epoch):
/// `{at}:{hex HMAC}`.
pub fn sign(key: &[u8], at: i64, r: ShieldRequest<'_>) -> String {
    let hex: String = mac(key, at, r)
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{at}:{hex}")
}

/// Whether `signature` is a [`sign`]ature of this shield request made within
/// [`MAX_SKEW_SECS`] of `now` (seconds since the epoch); the MAC is compared in constant time.
pub fn verify(key: &[u8], r: ShieldRequest<'_>, signature: &str, now: i64) -> bool {
    let Some((at, hex)) = signature.split_once(':') else {
        return false;
    };
    let (Ok(at), Some(bytes)) = (at.parse::<i64>(), decode_hex(hex)) else {
        return false;
    };
    if now.abs_diff(at) > MAX_SKEW_SECS.unsigned_abs() {
        return false;
    }
    mac(key, at, r).verify_slice(&bytes).is_ok()
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
    /// Shields found through the shared state bucket, for regions without a declared endpoint.
    pub directory: Option<Arc<ShieldDirectory>>,
}

/// Where a [`ShieldOrigin`] finds its shield.
#[derive(Debug)]
pub enum ShieldEndpoint {
    /// Declared with `--shield-endpoint`.
    Declared(Uri),
    /// Found through the shared state bucket, when a live shield advertises the region.
    Discovered(Arc<ShieldDirectory>),
}

/// An origin reached through its Origin Shield, falling back to the origin itself when the
/// shield cannot be connected to or does not answer in time (or, for a discovered shield,
/// when no live shield advertises the region).
#[derive(Debug)]
pub struct ShieldOrigin {
    endpoint: ShieldEndpoint,
    client: OriginClient,
    /// The HTTP origin of the last shield URL used, built once per URL.
    shield: std::sync::Mutex<Option<(Uri, Arc<HttpOrigin>)>>,
    origin: Arc<dyn Origin>,
    key: Arc<[u8]>,
    host: String,
    origin_id: String,
    region: String,
    billing: Option<BillingRegion>,
    /// Signing times come from it.
    clock: Arc<dyn Clock>,
}

/// The HTTP origin that sends shield requests to `endpoint`.
fn shield_http(endpoint: &Uri, client: OriginClient) -> HttpOrigin {
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
    HttpOrigin::new(settings, client)
}

/// Whether a request can go through the shield: one that can be sent twice (to the origin if
/// the shield fails), so a method without a body.
fn retryable(req: &OriginRequest) -> bool {
    matches!(req.method, Method::GET | Method::HEAD | Method::OPTIONS)
        && http_body::Body::size_hint(&req.body).exact() == Some(0)
}

/// Notes on a response that its request counts as an Origin Shield request.
fn tag(
    result: Result<http::Response<axum::body::Body>, OriginError>,
    billing: Option<BillingRegion>,
    hit: bool,
) -> Result<http::Response<axum::body::Body>, OriginError> {
    result.map(|mut r| {
        if let Some(billing_region) = billing {
            r.extensions_mut().insert(ShieldUse {
                billing_region,
                hit,
            });
        }
        r
    })
}

impl ShieldOrigin {
    /// `origin` (id `origin_id`, of the distribution served as `host`) behind the shield of
    /// `region` at `endpoint`.
    pub fn new(
        endpoint: ShieldEndpoint,
        client: OriginClient,
        origin: Arc<dyn Origin>,
        key: Arc<[u8]>,
        host: &str,
        origin_id: &str,
        region: &str,
    ) -> Self {
        Self {
            endpoint,
            client,
            shield: std::sync::Mutex::new(None),
            origin,
            key,
            host: host.to_owned(),
            origin_id: origin_id.to_owned(),
            region: region.to_owned(),
            billing: billing_region(region),
            clock: crate::clock::system(),
        }
    }

    /// The same origin, signing with the time of `clock`.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The shield to send to now, if any.
    fn shield(&self) -> Option<Arc<HttpOrigin>> {
        let url = match &self.endpoint {
            ShieldEndpoint::Declared(u) => u.clone(),
            ShieldEndpoint::Discovered(d) => d.get(&self.region)?,
        };
        let mut last = self
            .shield
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match &*last {
            Some((u, h)) if *u == url => Some(h.clone()),
            _ => {
                let h = Arc::new(shield_http(&url, self.client.clone()));
                *last = Some((url, h.clone()));
                Some(h)
            }
        }
    }
}

impl Origin for ShieldOrigin {
    fn fetch(&self, req: OriginRequest) -> OriginFuture<'_> {
        Box::pin(async move {
            // Only what can be sent twice goes through the shield: a request with a body
            // goes to the origin, and counts as CloudFront counts a proxy method.
            if !retryable(&req) {
                let proxy = !matches!(req.method, Method::GET | Method::HEAD | Method::OPTIONS);
                let result = self.origin.fetch(req).await;
                return if proxy {
                    tag(result, self.billing, false)
                } else {
                    result
                };
            }
            let Some(shield) = self.shield() else {
                return self.origin.fetch(req).await;
            };
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
                self.clock.epoch_secs(),
                ShieldRequest {
                    host: &self.host,
                    origin_id: &self.origin_id,
                    method: &to_shield.method,
                    path: &to_shield.path_and_query,
                },
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
            match shield.fetch(to_shield).await {
                Err(e @ (OriginError::Connect(_) | OriginError::Timeout(_))) => {
                    tracing::warn!(
                        region = %self.region,
                        origin = %self.origin_id,
                        error = %e,
                        "Origin Shield unreachable; going to the origin directly"
                    );
                    self.origin.fetch(direct).await
                }
                Ok(mut resp) => {
                    let hit = resp
                        .headers_mut()
                        .remove(RESULT_HEADER)
                        .is_some_and(|v| v.as_bytes() == b"Hit");
                    tag(Ok(resp), self.billing, hit)
                }
                Err(e) => Err(e),
            }
        })
    }
}

/// The origin of an Origin Shield on the shield itself: its own misses are not Origin Shield
/// requests, but a proxy method is, as CloudFront always routes one through Origin Shield.
#[derive(Debug)]
pub struct OwnShield {
    origin: Arc<dyn Origin>,
    billing: Option<BillingRegion>,
}

impl OwnShield {
    /// `origin`, shielded by this edge as the Origin Shield of `region`.
    pub fn new(origin: Arc<dyn Origin>, region: &str) -> Self {
        Self {
            origin,
            billing: billing_region(region),
        }
    }
}

impl Origin for OwnShield {
    fn fetch(&self, req: OriginRequest) -> OriginFuture<'_> {
        Box::pin(async move {
            let proxy = !matches!(req.method, Method::GET | Method::HEAD | Method::OPTIONS);
            let result = self.origin.fetch(req).await;
            if proxy {
                tag(result, self.billing, false)
            } else {
                result
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_origin_shield_region_has_a_billing_region() {
        for r in crate::model::distribution::ORIGIN_SHIELD_REGIONS {
            assert!(billing_region(r).is_some(), "{r}");
        }
        assert_eq!(billing_region("us-east-2"), Some(BillingRegion::Us));
        assert_eq!(billing_region("eu-west-2"), Some(BillingRegion::Eu));
        assert_eq!(billing_region("ap-northeast-1"), Some(BillingRegion::Jp));
        assert_eq!(billing_region("mars-1"), None);
    }

    #[test]
    fn a_signature_verifies_only_for_its_request_key_and_time() {
        let key = derive_key("secret");
        let r = |host, origin_id, path| ShieldRequest {
            host,
            origin_id,
            method: &Method::GET,
            path,
        };
        let now = 1_800_000_000;
        let s = sign(&key, now, r("d1.example", "o1", "/a?b=1"));
        assert!(verify(&key, r("d1.example", "o1", "/a?b=1"), &s, now));
        for other in [
            r("d1.example", "o2", "/a?b=1"),
            r("d1.example", "o1", "/a?b=2"),
            r("d2.example", "o1", "/a?b=1"),
        ] {
            assert!(!verify(&key, other, &s, now), "{other:?}");
        }
        let post = ShieldRequest {
            method: &Method::POST,
            ..r("d1.example", "o1", "/a?b=1")
        };
        assert!(!verify(&key, post, &s, now), "another method");
        assert!(
            !verify(
                &derive_key("other"),
                r("d1.example", "o1", "/a?b=1"),
                &s,
                now
            ),
            "another key"
        );
        // Within the allowed skew either way, and not beyond: a captured request stops
        // working after it.
        let same = r("d1.example", "o1", "/a?b=1");
        assert!(verify(&key, same, &s, now + MAX_SKEW_SECS));
        assert!(verify(&key, same, &s, now - MAX_SKEW_SECS));
        assert!(
            !verify(&key, same, &s, now + MAX_SKEW_SECS + 1),
            "replayed too late"
        );
        assert!(
            !verify(&key, same, &s, now - MAX_SKEW_SECS - 1),
            "from the future"
        );
        // The time is signed: moving it forward breaks the MAC.
        let (_, hex) = s.split_once(':').unwrap();
        let later = format!("{}:{hex}", now + 100);
        assert!(!verify(&key, same, &later, now + 100));
        for bad in ["", "zz", ":", "1:", "x:00", hex] {
            assert!(!verify(&key, same, bad, now), "{bad:?}");
        }
    }
}
