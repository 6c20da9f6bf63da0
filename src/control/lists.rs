//! The `ListDistributionsBy…` operations for the resources edgegate has: by cache policy, origin
//! request policy, key group and response headers policy (a `DistributionIdList`), and by web
//! ACL (a `DistributionList`), with CloudFront's paging (`Marker`, `MaxItems`, `NextMarker`).
//!
//! A policy or key group that does not exist gives its `NoSuch…` error, as CloudFront does. Web
//! ACLs live in AWS WAF, which edgegate cannot see, so any web ACL id lists the distributions that
//! name it (possibly none). Edgegate keeps no response headers policies of its own: an id that no
//! distribution names is `NoSuchResponseHeadersPolicy`.

use axum::response::Response;
use http::StatusCode;

use super::api::{AdminState, Call, Routed, distribution_meta, page, page_info, paging, xml};
use super::error::ApiError;
use crate::model;
use crate::model::DistributionConfig;
use crate::state::{Kind, StateError};

/// `GET /distributionsBy…/{id}`.
pub(super) async fn route(
    state: &AdminState,
    call: &Call<'_>,
    by: &str,
    raw_id: &str,
) -> Result<Response, Routed> {
    let id = percent_encoding::percent_decode_str(raw_id)
        .decode_utf8_lossy()
        .into_owned();
    let id = id.as_str();
    let resp = match by {
        "distributionsByCachePolicyId" => {
            let known = model::managed_cache_policies().iter().any(|m| m.id == id)
                || state
                    .registry
                    .snapshot()
                    .await
                    .cache_policies
                    .contains_key(id);
            if !known {
                return Err(not_found(Kind::CachePolicy, id).into());
            }
            id_list(state, call, |c| {
                c.referenced_cache_policy_ids().contains(&id)
            })
            .await?
        }
        "distributionsByOriginRequestPolicyId" => {
            let known = model::managed_origin_request_policies()
                .iter()
                .any(|m| m.id == id)
                || state
                    .registry
                    .snapshot()
                    .await
                    .origin_request_policies
                    .contains_key(id);
            if !known {
                return Err(not_found(Kind::OriginRequestPolicy, id).into());
            }
            id_list(state, call, |c| {
                c.referenced_origin_request_policy_ids().contains(&id)
            })
            .await?
        }
        "distributionsByKeyGroupId" => {
            state.registry.key_group(id).await?;
            id_list(state, call, |c| c.referenced_key_group_ids().contains(&id)).await?
        }
        "distributionsByResponseHeadersPolicyId" => {
            let uses = |c: &DistributionConfig| {
                c.behaviors()
                    .any(|b| b.response_headers_policy_id.as_deref() == Some(id))
            };
            let snap = state.registry.snapshot().await;
            if !snap.distributions.values().any(|d| uses(&d.v.config)) {
                return Err(ApiError::not_found(
                    "NoSuchResponseHeadersPolicy",
                    format!("The response headers policy {id} does not exist."),
                )
                .into());
            }
            id_list(state, call, uses).await?
        }
        "distributionsByWebACLId" => web_acl_list(state, call, id).await?,
        _ => return Err(Routed::NotFound),
    };
    Ok(resp)
}

fn not_found(kind: Kind, id: &str) -> StateError {
    StateError::NotFound {
        kind,
        id: id.to_owned(),
    }
}

/// A `DistributionIdList` of the distributions whose config `uses` the resource, by id.
async fn id_list(
    state: &AdminState,
    call: &Call<'_>,
    uses: impl Fn(&DistributionConfig) -> bool,
) -> Result<Response, ApiError> {
    let (marker, max) = paging(call)?;
    let snap = state.registry.snapshot().await;
    let ids: Vec<String> = snap
        .distributions
        .values()
        .filter(|d| uses(&d.v.config))
        .map(|d| d.v.id.clone())
        .collect();
    let (items, next) = page(&ids, |s| s.as_str(), &marker, max);
    let items: Vec<String> = items.into_iter().cloned().collect();
    let tree = model::responses::distribution_id_list(&page_info(&marker, &next, max), &items);
    Ok(xml(StatusCode::OK, &tree, "DistributionIdList", None, None))
}

/// `ListDistributionsByWebACLId`: a `DistributionList` of the distributions naming the web ACL.
async fn web_acl_list(state: &AdminState, call: &Call<'_>, id: &str) -> Result<Response, ApiError> {
    let (marker, max) = paging(call)?;
    let snap = state.registry.snapshot().await;
    let all: Vec<_> = snap
        .distributions
        .values()
        .filter(|d| d.v.config.web_acl_id.as_deref() == Some(id))
        .cloned()
        .collect();
    let (items, next) = page(&all, |d| &d.v.id, &marker, max);
    let rows: Vec<_> = items
        .iter()
        .map(|d| (distribution_meta(state, d), d.v.config.clone()))
        .collect();
    let tree = model::responses::distribution_list(&page_info(&marker, &next, max), &rows);
    Ok(xml(StatusCode::OK, &tree, "DistributionList", None, None))
}
