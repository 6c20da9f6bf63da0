//! The response headers policy operations of the API (response-headers-policies.md §10):
//! Create, Get, GetConfig, Update, Delete and List, with the managed policies built in.
//!
//! Managed policies can be read and listed but not changed: Update answers `IllegalUpdate` and
//! Delete `IllegalDelete`. Update and Delete require `If-Match` (missing: 400
//! `InvalidIfMatchVersion`; stale: 412 `PreconditionFailed`). Every accepted change recompiles
//! the routing snapshot, so the distributions that use a policy act on the new version at once.

use axum::response::Response;
use http::{Method, StatusCode};

use super::api::{AdminState, Call, no_content, not_found, page, paging, resource, xml};
use super::error::ApiError;
use crate::model::response_headers::{
    ResponseHeadersPolicyConfig, managed_response_headers_policies,
    managed_response_headers_policy, policy_list_tree, policy_tree,
};
use crate::model::{MANAGED_ETAG, MANAGED_LAST_MODIFIED, PolicyType};
use crate::state::Kind;

/// `…/response-headers-policy/{Id}` as CloudFront spells it in `Location`.
fn location(id: &str) -> String {
    format!("https://cloudfront.amazonaws.com/2020-05-31/response-headers-policy/{id}")
}

/// Answers a `/2020-05-31/response-headers-policy…` call; `None` when no operation has that
/// method and path (the caller answers `UnsupportedOperation`).
pub(super) async fn route(
    state: &AdminState,
    call: &Call<'_>,
) -> Result<Option<Response>, ApiError> {
    let resp = match (call.method.clone(), call.segments.as_slice()) {
        (Method::POST, ["response-headers-policy"]) => create(state, call).await?,
        (Method::GET, ["response-headers-policy"]) => list(state, call).await?,
        (Method::GET, ["response-headers-policy", id]) => get(state, id, false).await?,
        (Method::GET, ["response-headers-policy", id, "config"]) => get(state, id, true).await?,
        (Method::PUT, ["response-headers-policy", id]) => update(state, call, id).await?,
        (Method::DELETE, ["response-headers-policy", id]) => delete(state, call, id).await?,
        _ => return Ok(None),
    };
    Ok(Some(resp))
}

async fn create(state: &AdminState, call: &Call<'_>) -> Result<Response, ApiError> {
    let cfg = call.document::<ResponseHeadersPolicyConfig>()?;
    let v = state.registry.create_policy(cfg, None, false).await?;
    Ok(xml(
        StatusCode::CREATED,
        &policy_tree(&v.id, v.last_modified, &v.config),
        "ResponseHeadersPolicy",
        Some(&v.etag),
        Some(location(&v.id)),
    ))
}

async fn get(state: &AdminState, id: &str, config_only: bool) -> Result<Response, ApiError> {
    let (etag, modified, config) = match managed_response_headers_policy(id) {
        Some(m) => (MANAGED_ETAG.to_owned(), MANAGED_LAST_MODIFIED, m.config()),
        None => {
            let snap = state.registry.snapshot().await;
            let v = snap
                .response_headers_policies
                .get(id)
                .ok_or_else(|| not_found(Kind::ResponseHeadersPolicy, id))?;
            (v.etag.clone(), v.last_modified, v.config.clone())
        }
    };
    Ok(resource(
        &etag,
        &config,
        config_only,
        "ResponseHeadersPolicy",
        || policy_tree(id, modified, &config),
    ))
}

async fn update(state: &AdminState, call: &Call<'_>, id: &str) -> Result<Response, ApiError> {
    if call.if_match().is_none() {
        return Err(ApiError::missing_if_match());
    }
    let cfg = call.document::<ResponseHeadersPolicyConfig>()?;
    let v = state
        .registry
        .update_policy(id, call.if_match(), cfg)
        .await?;
    Ok(xml(
        StatusCode::OK,
        &policy_tree(&v.id, v.last_modified, &v.config),
        "ResponseHeadersPolicy",
        Some(&v.etag),
        None,
    ))
}

async fn delete(state: &AdminState, call: &Call<'_>, id: &str) -> Result<Response, ApiError> {
    state
        .registry
        .delete_policy::<ResponseHeadersPolicyConfig>(id, call.if_match())
        .await?;
    Ok(no_content())
}

async fn list(state: &AdminState, call: &Call<'_>) -> Result<Response, ApiError> {
    let (marker, max) = paging(call)?;
    let kind = match call.query("Type") {
        None | Some("") => None,
        Some("managed") => Some(PolicyType::Managed),
        Some("custom") => Some(PolicyType::Custom),
        Some(other) => {
            return Err(ApiError::invalid_argument(format!(
                "Type must be managed or custom, not {other:?}."
            )));
        }
    };
    let snap = state.registry.snapshot().await;
    let mut all = Vec::new();
    if kind.is_none_or(|k| k == PolicyType::Managed) {
        for m in managed_response_headers_policies() {
            all.push((
                PolicyType::Managed,
                m.id.to_owned(),
                m.last_modified(),
                m.config(),
            ));
        }
    }
    if kind.is_none_or(|k| k == PolicyType::Custom) {
        for v in snap.response_headers_policies.values() {
            all.push((
                PolicyType::Custom,
                v.id.clone(),
                v.last_modified,
                v.config.clone(),
            ));
        }
    }
    // The marker is the last id of the previous page, so the pages follow id order.
    all.sort_by(|a, b| a.1.cmp(&b.1));
    let (items, next) = page(&all, |(_, id, _, _)| id, &marker, max);
    let rows: Vec<_> = items.into_iter().cloned().collect();
    let tree = policy_list_tree(next.as_deref(), max as u32, &rows);
    Ok(xml(
        StatusCode::OK,
        &tree,
        "ResponseHeadersPolicyList",
        None,
        None,
    ))
}
