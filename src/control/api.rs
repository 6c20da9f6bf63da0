//! Routes of the CloudFront API and their handlers.
//!
//! One dispatcher parses `/2020-05-31/{resource}[/{id}[/{sub}[/{id}]]]` by hand rather than
//! through a router table, so that every unknown path or method gets CloudFront's XML error
//! envelope, and so the body is read once (bounded) for both SigV4 and decoding.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};

use super::error::ApiError;
use crate::config::AdminCredentials;
use crate::config::key_pairs::KeyPairs;
use crate::edge::Edge;
use crate::model::Document;
use crate::model::responses::{
    ActiveKeyGroup, ActiveSigner, DistributionMeta, InvalidationSummary, Page,
};
use crate::model::{self, Diagnostics, PolicyType, Tree};
use crate::state::registry::{DistributionEntry, Registry};
use crate::state::{Kind, StateError};

/// Largest request body the API reads.
pub const MAX_BODY: usize = 1 << 20;
/// The API version prefix.
pub const PREFIX: &str = "/2020-05-31/";

/// Paging members for the lists that carry a `Marker`.
pub(super) fn page_info(marker: &Option<String>, next: &Option<String>, max: usize) -> Page {
    Page {
        marker: marker.clone().unwrap_or_default(),
        next_marker: next.clone(),
        max_items: max as u32,
        is_truncated: next.is_some(),
    }
}

/// What the admin handlers share.
#[derive(Debug)]
pub struct AdminState {
    /// The control-plane state.
    pub registry: Arc<Registry>,
    /// The data plane (invalidations remove cache entries on this edge).
    pub edge: Arc<Edge>,
    /// When set, every API request must be SigV4-signed with these.
    pub credentials: Option<AdminCredentials>,
    /// Account id used in ARNs (and meant by `self` in `TrustedSigners`).
    pub account_id: String,
    /// Legacy key pairs declared in the config file (reported in `ActiveTrustedSigners`).
    pub key_pairs: Arc<KeyPairs>,
    /// The meter (for `/metrics` and `/usage`), unless `--metering off`.
    pub meter: Option<crate::meter::Meter>,
    /// The data directory (usage is read from its journal).
    pub data_dir: std::path::PathBuf,
    /// S3 as the origins reach it (`s3_endpoint`, `origin_credentials`): where
    /// `CreateKeyValueStore` reads its `ImportSource`.
    pub s3: crate::meter::bucket::S3Client,
}

/// The admin listener's router: `/healthz`, `/metrics`, `/usage` and the CloudFront API.
pub fn router(state: Arc<AdminState>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
        .route("/usage", get(usage))
        .fallback(dispatch)
        .with_state(state)
}

/// Prometheus metrics. Records finished before the scrape are all counted.
async fn metrics(State(state): State<Arc<AdminState>>) -> Response {
    let Some(meter) = &state.meter else {
        return (
            http::StatusCode::NOT_FOUND,
            "metering is off (--metering off): no metrics are kept\n",
        )
            .into_response();
    };
    meter.sync_async().await;
    let body = meter.metrics().render(&state.edge.cache().stats());
    (
        [(
            http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

/// The usage report as JSON, from this edge's journal (see `edgegate usage report`).
async fn usage(
    State(state): State<Arc<AdminState>>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Response {
    let Some(meter) = &state.meter else {
        return (
            http::StatusCode::NOT_FOUND,
            "metering is off (--metering off): no usage is kept\n",
        )
            .into_response();
    };
    let mut params = std::collections::BTreeMap::new();
    for (k, v) in url_pairs(query.as_deref().unwrap_or("")) {
        params.insert(k, v);
    }
    meter.sync_async().await;
    match crate::meter::cli::usage_json(&state.data_dir, &params, &state.account_id).await {
        Ok(json) => ([(http::header::CONTENT_TYPE, "application/json")], json).into_response(),
        Err(e) => (http::StatusCode::BAD_REQUEST, format!("{e}\n")).into_response(),
    }
}

/// `a=1&b=x%20y` → decoded pairs.
fn url_pairs(q: &str) -> impl Iterator<Item = (String, String)> + '_ {
    q.split('&').filter(|p| !p.is_empty()).map(|p| {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        let dec = |s: &str| {
            percent_encoding::percent_decode_str(&s.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        };
        (dec(k), dec(v))
    })
}

async fn dispatch(State(state): State<Arc<AdminState>>, req: Request) -> Response {
    match handle(&state, req).await {
        Ok(resp) => resp,
        Err(e) => e.into_response(),
    }
}

/// A decoded request.
pub(super) struct Call<'a> {
    pub(super) method: Method,
    pub(super) segments: Vec<&'a str>,
    pub(super) query: Vec<(String, String)>,
    pub(super) headers: HeaderMap,
    pub(super) body: Bytes,
}

impl Call<'_> {
    pub(super) fn if_match(&self) -> Option<&str> {
        self.headers
            .get(header::IF_MATCH)
            .and_then(|v| v.to_str().ok())
    }

    pub(super) fn has_query(&self, name: &str) -> bool {
        self.query.iter().any(|(k, _)| k == name)
    }

    pub(super) fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Parses the body as the document `C`, decodes and validates it.
    pub(super) fn document<C: Document>(&self) -> Result<C, ApiError> {
        self.decode(C::ROOT, |t, d| {
            let c = C::decode(t, d)?;
            c.validate(d);
            Some(c)
        })
    }

    /// Parses the body as the XML document `root` and decodes it with `decode`.
    pub(super) fn decode<T>(
        &self,
        root: &str,
        decode: impl FnOnce(&Tree, &mut Diagnostics) -> Option<T>,
    ) -> Result<T, ApiError> {
        if self.body.is_empty() {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "MissingBody",
                format!("The request body is empty: expected a {root} document."),
            ));
        }
        let (name, tree) = model::tree::from_xml(&self.body)
            .map_err(|e| ApiError::malformed(format!("The request body is not valid XML: {e}")))?;
        if name != root {
            return Err(ApiError::malformed(format!(
                "Expected a {root} document, found <{name}>."
            )));
        }
        let mut d = Diagnostics::default();
        let value = decode(&tree, &mut d);
        // The API has no channel for warnings; the operator sees them in the log.
        for w in &d.warnings {
            tracing::warn!(path = %w.path, "{}", w.message);
        }
        if let Some(e) = ApiError::from_diagnostics(&d) {
            return Err(e);
        }
        value.ok_or_else(|| {
            ApiError::malformed(format!("The {root} document could not be decoded."))
        })
    }
}

async fn handle(state: &AdminState, req: Request) -> Result<Response, ApiError> {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, MAX_BODY).await.map_err(|_| {
        ApiError::malformed(format!("The request body is larger than {MAX_BODY} bytes."))
    })?;
    // The KeyValueStore data-plane API (its own protocol, signing name and errors).
    let path = parts.uri.path();
    if path == super::kvs::DATA_PREFIX
        || path
            .strip_prefix(super::kvs::DATA_PREFIX)
            .is_some_and(|r| r.starts_with('/'))
    {
        return Ok(super::kvs::data_plane(state, parts, body).await);
    }
    if let Some(creds) = &state.credentials {
        let hash = crate::sigv4::sha256_hex(&body);
        let lookup =
            |id: &str| (id == creds.access_key_id).then(|| creds.secret_access_key.clone());
        crate::sigv4::verify(
            &parts.method,
            &parts.uri,
            &parts.headers,
            &hash,
            lookup,
            "cloudfront",
            time::OffsetDateTime::now_utc(),
        )
        .map_err(|e| ApiError::new(e.status(), e.code(), e.message()))?;
    }
    let path = parts.uri.path();
    let query: Vec<(String, String)> = parts
        .uri
        .query()
        .map(|q| {
            q.split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    let dec = |s: &str| {
                        percent_encoding::percent_decode_str(s)
                            .decode_utf8_lossy()
                            .into_owned()
                    };
                    (dec(k), dec(v))
                })
                .collect()
        })
        .unwrap_or_default();
    let Some(rest) = path.strip_prefix(PREFIX) else {
        return Err(super::unsupported::unsupported(&parts.method, path, &query));
    };
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let call = Call {
        method: parts.method.clone(),
        segments,
        query,
        headers: parts.headers,
        body,
    };
    route(state, &call).await.map_err(|e| match e {
        Routed::NotFound => super::unsupported::unsupported(&call.method, path, &call.query),
        Routed::Api(e) => e,
    })
}

/// The dispatcher's outcome when no response was made: no route, or a refusal.
pub(super) enum Routed {
    /// No route handles the request.
    NotFound,
    /// The request was refused.
    Api(ApiError),
}

impl From<ApiError> for Routed {
    fn from(e: ApiError) -> Self {
        Routed::Api(e)
    }
}

impl From<StateError> for Routed {
    fn from(e: StateError) -> Self {
        Routed::Api(e.into())
    }
}

/// The API's 404 for an unknown id of a resource read from a state snapshot (the same error the
/// registry gives).
pub(super) fn not_found(kind: Kind, id: &str) -> ApiError {
    StateError::NotFound {
        kind,
        id: id.to_owned(),
    }
    .into()
}

/// An XML response with optional ETag and Location.
pub(super) fn xml(
    status: StatusCode,
    tree: &Tree,
    root: &str,
    etag: Option<&str>,
    location: Option<String>,
) -> Response {
    let mut resp = Response::new(Body::from(tree.to_xml(root)));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    if let Some(Ok(v)) = etag.map(HeaderValue::from_str) {
        h.insert(header::ETAG, v);
    }
    if let Some(Ok(v)) = location.map(|l| HeaderValue::from_str(&l)) {
        h.insert(header::LOCATION, v);
    }
    if let Ok(v) = HeaderValue::from_str(&crate::ids::uuid()) {
        h.insert("x-amz-request-id", v);
    }
    resp
}

/// `Get…` or `Get…Config` for a stored document: the whole resource or only its config, with
/// the document's ETag either way.
pub(super) fn resource<C: Document>(
    etag: &str,
    config: &C,
    config_only: bool,
    root: &str,
    full: impl FnOnce() -> Tree,
) -> Response {
    if config_only {
        xml(StatusCode::OK, &config.encode(), C::ROOT, Some(etag), None)
    } else {
        xml(StatusCode::OK, &full(), root, Some(etag), None)
    }
}

pub(super) fn no_content() -> Response {
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::NO_CONTENT;
    resp
}

/// Paging parameters: `Marker` (an id to start after) and `MaxItems` (default 100).
pub(super) fn paging(call: &Call<'_>) -> Result<(Option<String>, usize), ApiError> {
    let max = match call.query("MaxItems") {
        None | Some("") => 100,
        Some(s) => s
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| {
                ApiError::invalid_argument(format!(
                    "MaxItems must be a number from 1 to 1000, not {s:?}."
                ))
            })?,
    };
    Ok((
        call.query("Marker")
            .filter(|m| !m.is_empty())
            .map(str::to_owned),
        max,
    ))
}

/// Applies Marker/MaxItems to ids in order: the page and the next marker, if truncated.
pub(super) fn page<'a, T>(
    items: &'a [T],
    id: impl Fn(&T) -> &str,
    marker: &Option<String>,
    max: usize,
) -> (Vec<&'a T>, Option<String>) {
    let start = match marker {
        Some(m) => items
            .iter()
            .position(|t| id(t) > m.as_str())
            .unwrap_or(items.len()),
        None => 0,
    };
    let page: Vec<&T> = items[start..].iter().take(max).collect();
    let next = (start + page.len() < items.len())
        .then(|| page.last().map(|t| id(t).to_owned()))
        .flatten();
    (page, next)
}

async fn route(state: &AdminState, call: &Call<'_>) -> Result<Response, Routed> {
    use Method as M;
    let s = &call.segments;
    let resp = match (call.method.clone(), s.as_slice()) {
        // === distributions ===
        (M::POST, ["distribution"]) if call.has_query("WithTags") => {
            super::tags::create_distribution_with_tags(state, call).await?
        }
        (M::POST, ["distribution"]) => create_distribution(state, call).await?,
        (M::GET, ["distribution"]) => list_distributions(state, call).await?,
        (M::GET, ["distribution", id]) => get_distribution(state, id, false).await?,
        (M::GET, ["distribution", id, "config"]) => get_distribution(state, id, true).await?,
        (M::PUT, ["distribution", id, "config"]) => update_distribution(state, call, id).await?,
        (M::DELETE, ["distribution", id]) => {
            state
                .registry
                .delete_distribution(id, call.if_match())
                .await?;
            no_content()
        }
        // === invalidations ===
        (M::POST, ["distribution", id, "invalidation"]) => {
            create_invalidation(state, call, id).await?
        }
        (M::GET, ["distribution", id, "invalidation"]) => {
            list_invalidations(state, call, id).await?
        }
        (M::GET, ["distribution", id, "invalidation", inv]) => {
            get_invalidation(state, id, inv).await?
        }
        // === public keys ===
        (M::POST, ["public-key"]) => create_public_key(state, call).await?,
        (M::GET, ["public-key"]) => list_public_keys(state, call).await?,
        (M::GET, ["public-key", id]) => get_public_key(state, id, false).await?,
        (M::GET, ["public-key", id, "config"]) => get_public_key(state, id, true).await?,
        (M::PUT, ["public-key", id, "config"]) => update_public_key(state, call, id).await?,
        (M::DELETE, ["public-key", id]) => {
            state
                .registry
                .delete_public_key(id, call.if_match())
                .await?;
            no_content()
        }
        // === key groups ===
        (M::POST, ["key-group"]) => create_key_group(state, call).await?,
        (M::GET, ["key-group"]) => list_key_groups(state, call).await?,
        (M::GET, ["key-group", id]) => get_key_group(state, id, false).await?,
        (M::GET, ["key-group", id, "config"]) => get_key_group(state, id, true).await?,
        (M::PUT, ["key-group", id]) => update_key_group(state, call, id).await?,
        (M::DELETE, ["key-group", id]) => {
            state.registry.delete_key_group(id, call.if_match()).await?;
            no_content()
        }
        // === policies ===
        (M::POST, ["cache-policy"]) => create_cache_policy(state, call).await?,
        (M::GET, ["cache-policy"]) => list_cache_policies(state, call).await?,
        (M::GET, ["cache-policy", id]) => get_cache_policy(state, id, false).await?,
        (M::GET, ["cache-policy", id, "config"]) => get_cache_policy(state, id, true).await?,
        (M::POST, ["origin-request-policy"]) => create_origin_request_policy(state, call).await?,
        (M::GET, ["origin-request-policy"]) => list_origin_request_policies(state, call).await?,
        (M::GET, ["origin-request-policy", id]) => {
            get_origin_request_policy(state, id, false).await?
        }
        (M::GET, ["origin-request-policy", id, "config"]) => {
            get_origin_request_policy(state, id, true).await?
        }
        (M::PUT, ["cache-policy", id]) => {
            super::policies::update_cache_policy(state, call, id).await?
        }
        (M::DELETE, ["cache-policy", id]) => {
            state
                .registry
                .delete_policy::<model::CachePolicyConfig>(id, call.if_match())
                .await?;
            no_content()
        }
        (M::PUT, ["origin-request-policy", id]) => {
            super::policies::update_origin_request_policy(state, call, id).await?
        }
        (M::DELETE, ["origin-request-policy", id]) => {
            state
                .registry
                .delete_policy::<model::OriginRequestPolicyConfig>(id, call.if_match())
                .await?;
            no_content()
        }
        // === tags and the ListDistributionsBy… family ===
        (_, ["tagging"]) => return super::tags::route(state, call).await,
        (M::GET, [by, id]) if by.starts_with("distributionsBy") => {
            return super::lists::route(state, call, by, id).await;
        }
        // === response headers policies (control::response_headers) ===
        (_, ["response-headers-policy", ..]) => {
            match super::response_headers::route(state, call).await? {
                Some(resp) => resp,
                None => return Err(Routed::NotFound),
            }
        }
        // === CloudFront Functions (control::functions) ===
        (_, ["function", rest @ ..]) => {
            let fc = super::functions::FunctionCall {
                method: &call.method,
                rest,
                query: &call.query,
                headers: &call.headers,
                body: &call.body,
            };
            super::functions::handle(state, &fc)
                .await
                .ok_or(Routed::NotFound)??
        }
        // === KeyValueStore (control::kvs) ===
        (_, ["key-value-store", rest @ ..]) => super::kvs::handle(state, call, rest)
            .await
            .ok_or(Routed::NotFound)??,
        // === origin access controls and identities (control::origin_access) ===
        (_, ["origin-access-identity", ..]) => {
            match super::origin_access::route_identity(state, call).await? {
                Some(resp) => resp,
                None => return Err(Routed::NotFound),
            }
        }
        (_, ["origin-access-control", ..]) => {
            match super::origin_access::route(state, call).await? {
                Some(resp) => resp,
                None => return Err(Routed::NotFound),
            }
        }
        _ => return Err(Routed::NotFound),
    };
    Ok(resp)
}

// === distributions ===

pub(super) fn dist_location(id: &str) -> String {
    format!("https://cloudfront.amazonaws.com/2020-05-31/distribution/{id}")
}

pub(super) fn distribution_meta(state: &AdminState, d: &DistributionEntry) -> DistributionMeta {
    DistributionMeta {
        id: d.v.id.clone(),
        arn: format!(
            "arn:aws:cloudfront::{}:distribution/{}",
            state.account_id, d.v.id
        ),
        // Deployed at once on an edge with its own state; with a shared state bucket, once
        // every live edge serves this version (`state::shared`).
        status: state.registry.distribution_status(d).to_owned(),
        last_modified_time: d.v.last_modified,
        in_progress_invalidation_batches: state.registry.invalidations_in_progress(&d.v.id),
        domain_name: d.domain_name.clone(),
        etag: Some(d.v.etag.clone()),
    }
}

pub(super) async fn distribution_tree(state: &AdminState, d: &DistributionEntry) -> Tree {
    let snap = state.registry.snapshot().await;
    let groups: Vec<ActiveKeyGroup> =
        d.v.config
            .referenced_key_group_ids()
            .into_iter()
            .map(|id| ActiveKeyGroup {
                key_pair_ids: snap
                    .key_groups
                    .get(id)
                    .map(|g| g.config.items.clone())
                    .unwrap_or_default(),
                key_group_id: id.to_owned(),
            })
            .collect();
    let signers = active_signers(&d.v.config, &state.key_pairs, &state.account_id);
    model::responses::distribution(&distribution_meta(state, d), &d.v.config, &signers, &groups)
}

/// Each account the behaviors' `TrustedSigners` list (first mention first, once), with the ids
/// of its declared key pairs.
fn active_signers(
    cfg: &model::DistributionConfig,
    key_pairs: &KeyPairs,
    self_account: &str,
) -> Vec<ActiveSigner> {
    let mut out: Vec<ActiveSigner> = Vec::new();
    for a in cfg.behaviors().flat_map(|b| b.trusted_signers.items.iter()) {
        if !out.iter().any(|s| &s.aws_account_number == a) {
            out.push(ActiveSigner {
                aws_account_number: a.clone(),
                key_pair_ids: key_pairs.ids_of(a, self_account),
            });
        }
    }
    out
}

async fn create_distribution(state: &AdminState, call: &Call<'_>) -> Result<Response, ApiError> {
    let cfg = call.document::<model::DistributionConfig>()?;
    let (entry, created) = state.registry.create_distribution(cfg, None, false).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(xml(
        status,
        &distribution_tree(state, &entry).await,
        "Distribution",
        Some(&entry.v.etag),
        Some(dist_location(&entry.v.id)),
    ))
}

async fn get_distribution(
    state: &AdminState,
    id: &str,
    config_only: bool,
) -> Result<Response, ApiError> {
    let d = state.registry.distribution(id).await?;
    if config_only {
        let tree = model::responses::distribution_config(&d.v.config);
        return Ok(xml(
            StatusCode::OK,
            &tree,
            "DistributionConfig",
            Some(&d.v.etag),
            None,
        ));
    }
    Ok(xml(
        StatusCode::OK,
        &distribution_tree(state, &d).await,
        "Distribution",
        Some(&d.v.etag),
        None,
    ))
}

async fn update_distribution(
    state: &AdminState,
    call: &Call<'_>,
    id: &str,
) -> Result<Response, ApiError> {
    if call.if_match().is_none() {
        return Err(ApiError::missing_if_match());
    }
    let cfg = call.document::<model::DistributionConfig>()?;
    let d = state
        .registry
        .update_distribution(id, call.if_match(), cfg)
        .await?;
    Ok(xml(
        StatusCode::OK,
        &distribution_tree(state, &d).await,
        "Distribution",
        Some(&d.v.etag),
        None,
    ))
}

async fn list_distributions(state: &AdminState, call: &Call<'_>) -> Result<Response, ApiError> {
    let (marker, max) = paging(call)?;
    let snap = state.registry.snapshot().await;
    let all: Vec<_> = snap.distributions.values().cloned().collect();
    let (items, next) = page(&all, |d| &d.v.id, &marker, max);
    let rows: Vec<_> = items
        .iter()
        .map(|d| (distribution_meta(state, d), d.v.config.clone()))
        .collect();
    let tree = model::responses::distribution_list(&page_info(&marker, &next, max), &rows);
    Ok(xml(StatusCode::OK, &tree, "DistributionList", None, None))
}

// === invalidations ===

async fn create_invalidation(
    state: &AdminState,
    call: &Call<'_>,
    dist_id: &str,
) -> Result<Response, ApiError> {
    let batch = call.decode("InvalidationBatch", |t, d| {
        let b = model::InvalidationBatch::from_tree(t, d)?;
        b.validate(d);
        Some(b)
    })?;
    // Make sure the distribution exists before touching the cache.
    state.registry.distribution(dist_id).await?;
    // The edge removes every matching entry before the invalidation is acknowledged, so with
    // its own state it is stored (and reported) as Completed; with a shared state bucket the
    // other edges execute it at their next poll, and it is Completed once they all have.
    let removed = state.edge.cache().invalidate(dist_id, &batch.paths).await;
    tracing::info!(
        distribution = dist_id,
        paths = batch.paths.len(),
        removed,
        "invalidation"
    );
    let (inv, created) = state.registry.create_invalidation(dist_id, batch).await?;
    let status = state.registry.invalidation_status(&inv);
    let tree = model::responses::invalidation(&inv.id, &status, inv.created, &inv.batch);
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let location = format!("{}/invalidation/{}", dist_location(dist_id), inv.id);
    Ok(xml(status, &tree, "Invalidation", None, Some(location)))
}

async fn get_invalidation(
    state: &AdminState,
    dist_id: &str,
    inv_id: &str,
) -> Result<Response, ApiError> {
    state.registry.distribution(dist_id).await?;
    let snap = state.registry.snapshot().await;
    let inv = snap
        .invalidations
        .get(dist_id)
        .and_then(|l| l.iter().find(|i| i.id == inv_id))
        .ok_or_else(|| not_found(Kind::Invalidation, inv_id))?;
    let status = state.registry.invalidation_status(inv);
    let tree = model::responses::invalidation(&inv.id, &status, inv.created, &inv.batch);
    Ok(xml(StatusCode::OK, &tree, "Invalidation", None, None))
}

async fn list_invalidations(
    state: &AdminState,
    call: &Call<'_>,
    dist_id: &str,
) -> Result<Response, ApiError> {
    state.registry.distribution(dist_id).await?;
    let (marker, max) = paging(call)?;
    let snap = state.registry.snapshot().await;
    // Newest first, as CloudFront lists them.
    let mut all = snap.invalidations.get(dist_id).cloned().unwrap_or_default();
    all.reverse();
    let start = marker
        .as_ref()
        .and_then(|m| all.iter().position(|i| &i.id == m).map(|p| p + 1))
        .unwrap_or(0);
    let items: Vec<_> = all[start.min(all.len())..].iter().take(max).collect();
    let next = (start + items.len() < all.len())
        .then(|| items.last().map(|i| i.id.clone()))
        .flatten();
    let rows: Vec<_> = items
        .iter()
        .map(|i| InvalidationSummary {
            id: i.id.clone(),
            create_time: i.created,
            status: state.registry.invalidation_status(i),
        })
        .collect();
    let tree = model::responses::invalidation_list(&page_info(&marker, &next, max), &rows);
    Ok(xml(StatusCode::OK, &tree, "InvalidationList", None, None))
}

// === public keys ===

async fn create_public_key(state: &AdminState, call: &Call<'_>) -> Result<Response, ApiError> {
    let cfg = call.document::<model::PublicKeyConfig>()?;
    let (v, created) = state.registry.create_public_key(cfg, None, false).await?;
    let tree = model::responses::public_key(&v.id, v.created, &v.config);
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let location = format!(
        "https://cloudfront.amazonaws.com/2020-05-31/public-key/{}",
        v.id
    );
    Ok(xml(
        status,
        &tree,
        "PublicKey",
        Some(&v.etag),
        Some(location),
    ))
}

async fn get_public_key(
    state: &AdminState,
    id: &str,
    config_only: bool,
) -> Result<Response, ApiError> {
    let v = state.registry.public_key(id).await?;
    Ok(resource(
        &v.etag,
        &v.config,
        config_only,
        "PublicKey",
        || model::responses::public_key(&v.id, v.created, &v.config),
    ))
}

async fn update_public_key(
    state: &AdminState,
    call: &Call<'_>,
    id: &str,
) -> Result<Response, ApiError> {
    if call.if_match().is_none() {
        return Err(ApiError::missing_if_match());
    }
    let cfg = call.document::<model::PublicKeyConfig>()?;
    let v = state
        .registry
        .update_public_key(id, call.if_match(), cfg)
        .await?;
    Ok(xml(
        StatusCode::OK,
        &model::responses::public_key(&v.id, v.created, &v.config),
        "PublicKey",
        Some(&v.etag),
        None,
    ))
}

async fn list_public_keys(state: &AdminState, call: &Call<'_>) -> Result<Response, ApiError> {
    let (marker, max) = paging(call)?;
    let snap = state.registry.snapshot().await;
    let all: Vec<_> = snap.public_keys.values().cloned().collect();
    let (items, next) = page(&all, |k| &k.id, &marker, max);
    let rows: Vec<_> = items
        .iter()
        .map(|k| (k.id.clone(), k.created, k.config.clone()))
        .collect();
    let tree = model::responses::public_key_list(next.as_deref(), max as u32, &rows);
    Ok(xml(StatusCode::OK, &tree, "PublicKeyList", None, None))
}

// === key groups ===

async fn create_key_group(state: &AdminState, call: &Call<'_>) -> Result<Response, ApiError> {
    let cfg = call.document::<model::KeyGroupConfig>()?;
    let v = state.registry.create_key_group(cfg, None, false).await?;
    let location = format!(
        "https://cloudfront.amazonaws.com/2020-05-31/key-group/{}",
        v.id
    );
    Ok(xml(
        StatusCode::CREATED,
        &model::responses::key_group(&v.id, v.last_modified, &v.config),
        "KeyGroup",
        Some(&v.etag),
        Some(location),
    ))
}

async fn get_key_group(
    state: &AdminState,
    id: &str,
    config_only: bool,
) -> Result<Response, ApiError> {
    let v = state.registry.key_group(id).await?;
    Ok(resource(
        &v.etag,
        &v.config,
        config_only,
        "KeyGroup",
        || model::responses::key_group(&v.id, v.last_modified, &v.config),
    ))
}

async fn update_key_group(
    state: &AdminState,
    call: &Call<'_>,
    id: &str,
) -> Result<Response, ApiError> {
    if call.if_match().is_none() {
        return Err(ApiError::missing_if_match());
    }
    let cfg = call.document::<model::KeyGroupConfig>()?;
    let v = state
        .registry
        .update_key_group(id, call.if_match(), cfg)
        .await?;
    Ok(xml(
        StatusCode::OK,
        &model::responses::key_group(&v.id, v.last_modified, &v.config),
        "KeyGroup",
        Some(&v.etag),
        None,
    ))
}

async fn list_key_groups(state: &AdminState, call: &Call<'_>) -> Result<Response, ApiError> {
    let (marker, max) = paging(call)?;
    let snap = state.registry.snapshot().await;
    let all: Vec<_> = snap.key_groups.values().cloned().collect();
    let (items, next) = page(&all, |k| &k.id, &marker, max);
    let rows: Vec<_> = items
        .iter()
        .map(|k| (k.id.clone(), k.last_modified, k.config.clone()))
        .collect();
    let tree = model::responses::key_group_list(next.as_deref(), max as u32, &rows);
    Ok(xml(StatusCode::OK, &tree, "KeyGroupList", None, None))
}

// === cache and origin request policies ===

async fn create_cache_policy(state: &AdminState, call: &Call<'_>) -> Result<Response, ApiError> {
    let cfg = call.document::<model::CachePolicyConfig>()?;
    let v = state.registry.create_policy(cfg, None, false).await?;
    let location = format!(
        "https://cloudfront.amazonaws.com/2020-05-31/cache-policy/{}",
        v.id
    );
    Ok(xml(
        StatusCode::CREATED,
        &model::responses::cache_policy(&v.id, v.last_modified, &v.config),
        "CachePolicy",
        Some(&v.etag),
        Some(location),
    ))
}

async fn get_cache_policy(
    state: &AdminState,
    id: &str,
    config_only: bool,
) -> Result<Response, ApiError> {
    let (etag, modified, config) =
        if let Some(m) = model::managed_cache_policies().iter().find(|m| m.id == id) {
            (
                model::MANAGED_ETAG.to_owned(),
                model::MANAGED_LAST_MODIFIED,
                m.config(),
            )
        } else {
            let snap = state.registry.snapshot().await;
            let v = snap
                .cache_policies
                .get(id)
                .ok_or_else(|| not_found(Kind::CachePolicy, id))?;
            (v.etag.clone(), v.last_modified, v.config.clone())
        };
    if config_only {
        let tree = model::responses::cache_policy_config(&config);
        return Ok(xml(
            StatusCode::OK,
            &tree,
            "CachePolicyConfig",
            Some(&etag),
            None,
        ));
    }
    let tree = model::responses::cache_policy(id, modified, &config);
    Ok(xml(StatusCode::OK, &tree, "CachePolicy", Some(&etag), None))
}

async fn list_cache_policies(state: &AdminState, call: &Call<'_>) -> Result<Response, ApiError> {
    let (marker, max) = paging(call)?;
    let kind = call.query("Type");
    let snap = state.registry.snapshot().await;
    let mut all = Vec::new();
    if kind.is_none_or(|k| k == "managed") {
        for m in model::managed_cache_policies() {
            all.push((
                PolicyType::Managed,
                m.id.to_owned(),
                model::MANAGED_LAST_MODIFIED,
                m.config(),
            ));
        }
    }
    if kind.is_none_or(|k| k == "custom") {
        for v in snap.cache_policies.values() {
            all.push((
                PolicyType::Custom,
                v.id.clone(),
                v.last_modified,
                v.config.clone(),
            ));
        }
    }
    let (items, next) = page(&all, |(_, id, _, _)| id, &marker, max);
    let rows: Vec<_> = items.into_iter().cloned().collect();
    let tree = model::responses::cache_policy_list(next.as_deref(), max as u32, &rows);
    Ok(xml(StatusCode::OK, &tree, "CachePolicyList", None, None))
}

async fn create_origin_request_policy(
    state: &AdminState,
    call: &Call<'_>,
) -> Result<Response, ApiError> {
    let cfg = call.document::<model::OriginRequestPolicyConfig>()?;
    let v = state.registry.create_policy(cfg, None, false).await?;
    let location = format!(
        "https://cloudfront.amazonaws.com/2020-05-31/origin-request-policy/{}",
        v.id
    );
    Ok(xml(
        StatusCode::CREATED,
        &model::responses::origin_request_policy(&v.id, v.last_modified, &v.config),
        "OriginRequestPolicy",
        Some(&v.etag),
        Some(location),
    ))
}

async fn get_origin_request_policy(
    state: &AdminState,
    id: &str,
    config_only: bool,
) -> Result<Response, ApiError> {
    let (etag, modified, config) = if let Some(m) = model::managed_origin_request_policies()
        .iter()
        .find(|m| m.id == id)
    {
        (
            model::MANAGED_ETAG.to_owned(),
            model::MANAGED_LAST_MODIFIED,
            m.config(),
        )
    } else {
        let snap = state.registry.snapshot().await;
        let v = snap
            .origin_request_policies
            .get(id)
            .ok_or_else(|| not_found(Kind::OriginRequestPolicy, id))?;
        (v.etag.clone(), v.last_modified, v.config.clone())
    };
    Ok(resource(
        &etag,
        &config,
        config_only,
        "OriginRequestPolicy",
        || model::responses::origin_request_policy(id, modified, &config),
    ))
}

async fn list_origin_request_policies(
    state: &AdminState,
    call: &Call<'_>,
) -> Result<Response, ApiError> {
    let (marker, max) = paging(call)?;
    let kind = call.query("Type");
    let snap = state.registry.snapshot().await;
    let mut all = Vec::new();
    if kind.is_none_or(|k| k == "managed") {
        for m in model::managed_origin_request_policies() {
            all.push((
                PolicyType::Managed,
                m.id.to_owned(),
                model::MANAGED_LAST_MODIFIED,
                m.config(),
            ));
        }
    }
    if kind.is_none_or(|k| k == "custom") {
        for v in snap.origin_request_policies.values() {
            all.push((
                PolicyType::Custom,
                v.id.clone(),
                v.last_modified,
                v.config.clone(),
            ));
        }
    }
    let (items, next) = page(&all, |(_, id, _, _)| id, &marker, max);
    let rows: Vec<_> = items.into_iter().cloned().collect();
    let tree = model::responses::origin_request_policy_list(next.as_deref(), max as u32, &rows);
    Ok(xml(
        StatusCode::OK,
        &tree,
        "OriginRequestPolicyList",
        None,
        None,
    ))
}
