//! The one error type of the control-plane state: why the registry refused a change, or could
//! not load or write its records.
//!
//! Each variant says *what* went wrong in terms of the resources (a missing id, a stale
//! `If-Match`, a name already taken, a resource still in use); its `Display` text is the message
//! a person reads. Turning it into CloudFront's status code and error code is the control
//! plane's job (`control::error`), so this module knows nothing about HTTP.

use super::store::{Kind, StoreError};

/// Why the registry refused a change or could not load or persist its state.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The resource a request names does not exist.
    #[error("{}", not_found_message(*kind))]
    NotFound {
        /// What kind of resource was asked for.
        kind: Kind,
        /// The id asked for.
        id: String,
    },
    /// A configuration refers to a resource that does not exist.
    #[error("The {} {id} does not exist.", kind.noun())]
    MissingReference {
        /// What kind of resource is referred to.
        kind: Kind,
        /// The id referred to.
        id: String,
    },
    /// An update or delete without an `If-Match` version.
    #[error("The If-Match version is missing or not valid for the resource.")]
    MissingIfMatch,
    /// `If-Match` does not name the current version.
    #[error(
        "The precondition given in one or more of the request-header fields evaluated to false."
    )]
    PreconditionFailed,
    /// A CallerReference already used for a different resource or a different configuration.
    #[error("{}", caller_reference_message(*kind, caller_reference, existing))]
    CallerReferenceReused {
        /// What kind of resource was being created.
        kind: Kind,
        /// The CallerReference given.
        caller_reference: String,
        /// The id of the resource that already carries it.
        existing: String,
    },
    /// The CallerReference of an existing resource cannot change.
    #[error("The CallerReference of a {} cannot be changed.", kind.noun())]
    CallerReferenceChanged {
        /// What kind of resource was being updated.
        kind: Kind,
    },
    /// Another resource of the same kind (or a managed one) already has this name.
    #[error("A {} named {name} already exists.", kind.noun())]
    NameTaken {
        /// What kind of resource.
        kind: Kind,
        /// The name asked for.
        name: String,
    },
    /// An alternate domain name (CNAME) already belongs to another distribution.
    #[error(
        "One or more of the CNAMEs you provided are already associated with a different resource: {alias}"
    )]
    CnameTaken {
        /// The alias already taken.
        alias: String,
    },
    /// Only a disabled distribution may be deleted.
    #[error("The distribution you are trying to delete has not been disabled.")]
    DistributionNotDisabled {
        /// The distribution's id.
        id: String,
    },
    /// The key material (or CallerReference) of a public key cannot change.
    #[error("You can't change the value of a public key.")]
    ImmutablePublicKey {
        /// The public key's id.
        id: String,
    },
    /// A resource cannot be deleted while another one uses it.
    #[error("{}", in_use_message(*kind, id))]
    InUse {
        /// What kind of resource was being deleted.
        kind: Kind,
        /// Its id.
        id: String,
    },
    /// The account's limit of custom cache policies is reached.
    #[error("You have reached the maximum number of cache policies ({limit}).")]
    TooManyCachePolicies {
        /// The limit.
        limit: usize,
    },
    /// Adding tags would give a resource more than CloudFront allows.
    #[error("A resource can have at most {limit} tags; this request would give it {count}.")]
    TooManyTags {
        /// The limit.
        limit: usize,
        /// How many it would have.
        count: usize,
    },
    /// A managed policy cannot be changed.
    #[error("The {} {id} is managed by CloudFront and cannot be changed.", kind.noun())]
    ManagedUpdate {
        /// What kind of policy.
        kind: Kind,
        /// Its id.
        id: String,
    },
    /// A managed policy cannot be deleted.
    #[error("The {} {id} is managed by CloudFront and cannot be deleted.", kind.noun())]
    ManagedDelete {
        /// What kind of policy.
        kind: Kind,
        /// Its id.
        id: String,
    },
    /// The account's limit of custom response headers policies is reached.
    #[error("You have reached the maximum number of response headers policies ({limit}).")]
    TooManyResponseHeadersPolicies {
        /// The limit.
        limit: usize,
    },
    /// The account's limit of origin access identities is reached.
    #[error("You have reached the maximum number of origin access identities ({limit}).")]
    TooManyOriginAccessIdentities {
        /// The limit.
        limit: usize,
    },
    /// The account's limit of origin access controls is reached.
    #[error("You have reached the maximum number of origin access controls ({limit}).")]
    TooManyOriginAccessControls {
        /// The limit.
        limit: usize,
    },
    /// An origin names an origin access control that edgegate cannot apply to it.
    #[error("The origin access control {id} cannot be used by origin {origin}: {why}")]
    OriginAccessControlNotForOrigin {
        /// The origin access control.
        id: String,
        /// The origin's Id.
        origin: String,
        /// Why not.
        why: String,
    },
    /// An origin access control in use cannot take a type edgegate cannot apply to its origins.
    #[error(
        "The origin access control {id} is used by a distribution's S3 origin; its OriginAccessControlOriginType must stay s3."
    )]
    OriginAccessControlTypeInUse {
        /// The origin access control.
        id: String,
    },
    /// A response headers policy already serves the most distributions it may.
    #[error(
        "The response headers policy {id} is already associated with {limit} distributions, the maximum."
    )]
    TooManyDistributionsForResponseHeadersPolicy {
        /// The policy's id.
        id: String,
        /// The limit.
        limit: usize,
    },
    /// The durable store failed.
    #[error(transparent)]
    Store(StoreError),
    /// A record could not be encoded for the store.
    #[error("cannot encode a state record: {0}")]
    Encode(#[from] serde_json::Error),
    /// A stored record cannot be read back (outside interference: writes are atomic).
    #[error("{record}: {problem}")]
    CorruptRecord {
        /// The record, as `{prefix}/{id}`.
        record: String,
        /// What is wrong with it.
        problem: String,
    },
}

impl From<StoreError> for StateError {
    /// A conditional write another edge won is CloudFront's `PreconditionFailed`; anything else
    /// is a failure of the store.
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict { path } => {
                tracing::info!(%path, "a concurrent change through another edge won");
                Self::PreconditionFailed
            }
            e => Self::Store(e),
        }
    }
}

impl StateError {
    /// The error for an unknown id of a kind.
    pub fn not_found(kind: Kind, id: &str) -> Self {
        Self::NotFound {
            kind,
            id: id.to_owned(),
        }
    }

    /// The outcome of applying an `If-Match` header to a stored version's `etag`: missing is
    /// [`StateError::MissingIfMatch`], another version [`StateError::PreconditionFailed`].
    pub fn check_if_match(if_match: Option<&str>, etag: &str) -> Result<(), Self> {
        match if_match.map(str::trim) {
            None | Some("") => Err(Self::MissingIfMatch),
            Some(m) if m.trim_matches('"') == etag => Ok(()),
            Some(_) => Err(Self::PreconditionFailed),
        }
    }

    /// Whether this is a failure of the edge itself (store, encoding, corrupt records) rather
    /// than a refusal of the request.
    pub fn is_internal(&self) -> bool {
        matches!(
            self,
            Self::Store(_) | Self::Encode(_) | Self::CorruptRecord { .. }
        )
    }
}

fn not_found_message(kind: Kind) -> String {
    match kind {
        Kind::CachePolicy | Kind::OriginRequestPolicy | Kind::ResponseHeadersPolicy => {
            format!("The {} does not exist.", kind.noun())
        }
        _ => format!("The specified {} does not exist.", kind.noun()),
    }
}

fn caller_reference_message(kind: Kind, caller_reference: &str, existing: &str) -> String {
    match kind {
        Kind::Distribution => format!(
            "The caller reference that you are using to create a distribution is associated with another distribution: {existing}"
        ),
        Kind::Invalidation => format!(
            "An invalidation with CallerReference {caller_reference} already exists with different paths."
        ),
        _ => format!(
            "A {} with CallerReference {caller_reference} already exists: {existing}",
            kind.noun()
        ),
    }
}

fn in_use_message(kind: Kind, id: &str) -> String {
    match kind {
        Kind::PublicKey => {
            format!("The public key {id} is used by a key group; remove it from the group first.")
        }
        Kind::KeyGroup => format!(
            "The key group {id} is trusted by a distribution; remove it from the cache behaviors first."
        ),
        Kind::CachePolicy | Kind::OriginRequestPolicy => format!(
            "The {} {id} is used by a distribution's cache behavior; remove it from the behaviors first.",
            kind.noun()
        ),
        Kind::OriginAccessIdentity => format!(
            "The CloudFront origin access identity {id} is used by a distribution's S3 origin; remove it from the origins first."
        ),
        Kind::OriginAccessControl => format!(
            "The origin access control {id} is used by a distribution's origin; remove it from the origins first."
        ),
        _ => format!("The {} {id} is in use.", kind.noun()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_resource() {
        let e = StateError::NotFound {
            kind: Kind::KeyGroup,
            id: "g".into(),
        };
        assert_eq!(e.to_string(), "The specified key group does not exist.");
        let e = StateError::NotFound {
            kind: Kind::CachePolicy,
            id: "p".into(),
        };
        assert_eq!(e.to_string(), "The cache policy does not exist.");
        let e = StateError::MissingReference {
            kind: Kind::OriginRequestPolicy,
            id: "p1".into(),
        };
        assert_eq!(
            e.to_string(),
            "The origin request policy p1 does not exist."
        );
        let e = StateError::NameTaken {
            kind: Kind::PublicKey,
            name: "k".into(),
        };
        assert_eq!(e.to_string(), "A public key named k already exists.");
        let e = StateError::CallerReferenceReused {
            kind: Kind::PublicKey,
            caller_reference: "r".into(),
            existing: "K1".into(),
        };
        assert_eq!(
            e.to_string(),
            "A public key with CallerReference r already exists: K1"
        );
        assert!(!e.is_internal());
        let e = StateError::CorruptRecord {
            record: "distributions/E1".into(),
            problem: "unreadable record: eof".into(),
        };
        assert_eq!(e.to_string(), "distributions/E1: unreadable record: eof");
        assert!(e.is_internal());
    }
}
