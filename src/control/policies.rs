//! UpdateCachePolicy and UpdateOriginRequestPolicy. The registry applies CloudFront's rules
//! (`If-Match`, managed policies cannot change, unique names) and publishes the change, so every
//! distribution that uses the policy serves with it from the next request on.

use axum::response::Response;
use http::StatusCode;

use super::api::{AdminState, Call, xml};
use super::error::ApiError;
use crate::model;

/// `PUT /cache-policy/{id}`.
pub(super) async fn update_cache_policy(
    state: &AdminState,
    call: &Call<'_>,
    id: &str,
) -> Result<Response, ApiError> {
    let cfg = call.document::<model::CachePolicyConfig>()?;
    let v = state
        .registry
        .update_policy(id, call.if_match(), cfg)
        .await?;
    Ok(xml(
        StatusCode::OK,
        &model::responses::cache_policy(&v.id, v.last_modified, &v.config),
        "CachePolicy",
        Some(&v.etag),
        None,
    ))
}

/// `PUT /origin-request-policy/{id}`.
pub(super) async fn update_origin_request_policy(
    state: &AdminState,
    call: &Call<'_>,
    id: &str,
) -> Result<Response, ApiError> {
    let cfg = call.document::<model::OriginRequestPolicyConfig>()?;
    let v = state
        .registry
        .update_policy(id, call.if_match(), cfg)
        .await?;
    Ok(xml(
        StatusCode::OK,
        &model::responses::origin_request_policy(&v.id, v.last_modified, &v.config),
        "OriginRequestPolicy",
        Some(&v.etag),
        None,
    ))
}
