//! Origin access controls (origin-access.md §2, §5): the `OriginAccessControlConfig` document,
//! its rules, and the response shapes of the OAC operations (`OriginAccessControl`,
//! `OriginAccessControlList`); and the legacy origin access identities (§8):
//! `CloudFrontOriginAccessIdentityConfig` and its responses.
//!
//! edgegate signs with SigV4 only: `SigningProtocol` `sigv4a` is refused (`InvalidArgument`)
//! rather than accepted and silently signed another way. `always-amz-auth` is, per the service
//! model, only valid with Lambda origins; edgegate refuses it for every other origin type.

use super::diag::Diagnostics;
use super::reader::{INVALID, MapBuilder, MapReader, ModelEnum, model_enum, wrapped};
use super::tree::Tree;

/// CloudFront's default quota of origin access controls per account.
pub const MAX_ORIGIN_ACCESS_CONTROLS: usize = 100;
/// Longest `Name`, in characters.
pub const MAX_NAME_LEN: usize = 64;

model_enum!(
    /// How requests are signed (`SigningProtocol`).
    SigningProtocol { Sigv4 = "sigv4", Sigv4a = "sigv4a" }
);
model_enum!(
    /// Which origin requests are signed (`SigningBehavior`, origin-access.md §5).
    SigningBehavior { Never = "never", Always = "always", NoOverride = "no-override", AlwaysAmzAuth = "always-amz-auth" }
);
model_enum!(
    /// The kind of origin an OAC is for (`OriginAccessControlOriginType`).
    OriginAccessControlOriginType { S3 = "s3", MediaStore = "mediastore", MediaPackageV2 = "mediapackagev2", Lambda = "lambda" }
);

/// An origin access control's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginAccessControlConfig {
    /// Name, unique in the account, 1 to [`MAX_NAME_LEN`] characters.
    pub name: String,
    /// Free text; kept as given (botocore sends `<Description />` when empty).
    pub description: String,
    /// `sigv4` (the only protocol edgegate signs with).
    pub signing_protocol: SigningProtocol,
    /// `never`, `always` or `no-override` (`always-amz-auth` for Lambda origins).
    pub signing_behavior: SigningBehavior,
    /// The kind of origin it is for.
    pub origin_type: OriginAccessControlOriginType,
}

impl OriginAccessControlConfig {
    /// Decodes an `OriginAccessControlConfig` tree. `None` when any error was recorded.
    pub fn from_tree(tree: &Tree, d: &mut Diagnostics) -> Option<Self> {
        let before = d.errors.len();
        let out = (|| {
            let mut r = MapReader::new(tree, "OriginAccessControlConfig", d)?;
            let name = r.string_req("Name", d);
            let description = r.string("Description", d).unwrap_or_default();
            let signing_protocol = r.enum_req("SigningProtocol", d);
            let signing_behavior = r.enum_req("SigningBehavior", d);
            let origin_type = r.enum_req("OriginAccessControlOriginType", d);
            r.finish(d);
            Some(Self {
                name: name?,
                description,
                signing_protocol: signing_protocol?,
                signing_behavior: signing_behavior?,
                origin_type: origin_type?,
            })
        })();
        if d.errors.len() > before { None } else { out }
    }

    /// The config in CloudFront's shape (root element `OriginAccessControlConfig`).
    pub fn to_tree(&self) -> Tree {
        MapBuilder::new()
            .leaf("Name", &self.name)
            .leaf("Description", &self.description)
            .leaf("SigningProtocol", self.signing_protocol)
            .leaf("SigningBehavior", self.signing_behavior)
            .leaf("OriginAccessControlOriginType", self.origin_type)
            .build()
    }

    /// CloudFront's rules, and edgegate's refusals of what it cannot honour.
    pub fn validate(&self, d: &mut Diagnostics) {
        let root = "OriginAccessControlConfig";
        let len = self.name.chars().count();
        if len == 0 || len > MAX_NAME_LEN {
            d.error(
                format!("{root}.Name"),
                INVALID,
                format!("Name must be 1 to {MAX_NAME_LEN} characters, not {len}"),
            );
        }
        if self.signing_protocol != SigningProtocol::Sigv4 {
            d.error(
                format!("{root}.SigningProtocol"),
                INVALID,
                format!(
                    "SigningProtocol {} is not supported by edgegate; use sigv4",
                    self.signing_protocol.as_str()
                ),
            );
        }
        if self.signing_behavior == SigningBehavior::AlwaysAmzAuth
            && self.origin_type != OriginAccessControlOriginType::Lambda
        {
            d.error(
                format!("{root}.SigningBehavior"),
                INVALID,
                "SigningBehavior always-amz-auth is only valid with OriginAccessControlOriginType lambda",
            );
        }
    }
}

/// An `OriginAccessControl` (root element `OriginAccessControl`).
pub fn origin_access_control_tree(id: &str, cfg: &OriginAccessControlConfig) -> Tree {
    MapBuilder::new()
        .leaf("Id", id)
        .node("OriginAccessControlConfig", cfg.to_tree())
        .build()
}

/// One `OriginAccessControlSummary` (every member is required, `Description` included).
fn summary(id: &str, cfg: &OriginAccessControlConfig) -> Tree {
    MapBuilder::new()
        .leaf("Id", id)
        .leaf("Description", &cfg.description)
        .leaf("Name", &cfg.name)
        .leaf("SigningProtocol", cfg.signing_protocol)
        .leaf("SigningBehavior", cfg.signing_behavior)
        .leaf("OriginAccessControlOriginType", cfg.origin_type)
        .build()
}

/// An `OriginAccessControlList` (root element `OriginAccessControlList`): `Marker`,
/// `NextMarker` when truncated, `MaxItems`, `IsTruncated`, `Quantity`, and `Items` only when
/// there are some.
pub fn origin_access_control_list_tree(
    marker: &str,
    next_marker: Option<&str>,
    max_items: u32,
    items: &[(String, OriginAccessControlConfig)],
) -> Tree {
    let mut extras = vec![("Marker".to_owned(), Tree::leaf(marker))];
    if let Some(n) = next_marker {
        extras.push(("NextMarker".to_owned(), Tree::leaf(n)));
    }
    extras.push(("MaxItems".to_owned(), Tree::leaf(max_items)));
    extras.push(("IsTruncated".to_owned(), Tree::leaf(next_marker.is_some())));
    wrapped(items.iter().map(|(id, c)| summary(id, c)).collect(), extras)
}

/// CloudFront's default quota of origin access identities per account.
pub const MAX_ORIGIN_ACCESS_IDENTITIES: usize = 100;
/// Longest OAI `Comment`, in characters.
pub const MAX_OAI_COMMENT_LEN: usize = 128;
/// The prefix of `S3OriginConfig.OriginAccessIdentity` before the OAI's id.
pub const OAI_PREFIX: &str = "origin-access-identity/cloudfront/";

/// A legacy origin access identity's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudFrontOriginAccessIdentityConfig {
    /// Unique per create request (replays with the same config return the same OAI).
    pub caller_reference: String,
    /// Free text, at most [`MAX_OAI_COMMENT_LEN`] characters (required, may be empty).
    pub comment: String,
}

impl CloudFrontOriginAccessIdentityConfig {
    /// Decodes a `CloudFrontOriginAccessIdentityConfig` tree. `None` when any error was
    /// recorded.
    pub fn from_tree(tree: &Tree, d: &mut Diagnostics) -> Option<Self> {
        let before = d.errors.len();
        let out = (|| {
            let mut r = MapReader::new(tree, "CloudFrontOriginAccessIdentityConfig", d)?;
            let caller_reference = r.string_req("CallerReference", d);
            let comment = r.string_req("Comment", d);
            r.finish(d);
            Some(Self {
                caller_reference: caller_reference?,
                comment: comment?,
            })
        })();
        if d.errors.len() > before { None } else { out }
    }

    /// The config in CloudFront's shape (root element `CloudFrontOriginAccessIdentityConfig`).
    pub fn to_tree(&self) -> Tree {
        MapBuilder::new()
            .leaf("CallerReference", &self.caller_reference)
            .leaf("Comment", &self.comment)
            .build()
    }

    /// CallerReference is not empty; the comment fits.
    pub fn validate(&self, d: &mut Diagnostics) {
        let root = "CloudFrontOriginAccessIdentityConfig";
        if self.caller_reference.is_empty() {
            d.error(
                format!("{root}.CallerReference"),
                INVALID,
                "CallerReference must not be empty",
            );
        }
        if self.comment.chars().count() > MAX_OAI_COMMENT_LEN {
            d.error(
                format!("{root}.Comment"),
                INVALID,
                format!("Comment must be at most {MAX_OAI_COMMENT_LEN} characters"),
            );
        }
    }
}

/// The `S3CanonicalUserId` of an OAI: 64 lower-case hex digits, derived from its id so that it
/// is stable across restarts (edgegate has no S3 account to issue one).
pub fn s3_canonical_user_id(id: &str) -> String {
    crate::sigv4::sha256_hex(format!("edgegate-origin-access-identity:{id}").as_bytes())
}

/// A `CloudFrontOriginAccessIdentity` (root element `CloudFrontOriginAccessIdentity`).
pub fn origin_access_identity_tree(id: &str, cfg: &CloudFrontOriginAccessIdentityConfig) -> Tree {
    MapBuilder::new()
        .leaf("Id", id)
        .leaf("S3CanonicalUserId", s3_canonical_user_id(id))
        .node("CloudFrontOriginAccessIdentityConfig", cfg.to_tree())
        .build()
}

/// A `CloudFrontOriginAccessIdentityList` (root element `CloudFrontOriginAccessIdentityList`)
/// of `CloudFrontOriginAccessIdentitySummary{Id, S3CanonicalUserId, Comment}`.
pub fn origin_access_identity_list_tree(
    marker: &str,
    next_marker: Option<&str>,
    max_items: u32,
    items: &[(String, CloudFrontOriginAccessIdentityConfig)],
) -> Tree {
    let mut extras = vec![("Marker".to_owned(), Tree::leaf(marker))];
    if let Some(n) = next_marker {
        extras.push(("NextMarker".to_owned(), Tree::leaf(n)));
    }
    extras.push(("MaxItems".to_owned(), Tree::leaf(max_items)));
    extras.push(("IsTruncated".to_owned(), Tree::leaf(next_marker.is_some())));
    wrapped(
        items
            .iter()
            .map(|(id, c)| {
                MapBuilder::new()
                    .leaf("Id", id)
                    .leaf("S3CanonicalUserId", s3_canonical_user_id(id))
                    .leaf("Comment", &c.comment)
                    .build()
            })
            .collect(),
        extras,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(xml: &str) -> (Option<OriginAccessControlConfig>, Diagnostics) {
        let (_, tree) = crate::model::tree::from_xml(xml.as_bytes()).expect("xml");
        let mut d = Diagnostics::default();
        let c = OriginAccessControlConfig::from_tree(&tree, &mut d);
        if let Some(c) = &c {
            c.validate(&mut d);
        }
        (c, d)
    }

    #[test]
    fn round_trip_keeps_empty_description() {
        let xml = r#"<OriginAccessControlConfig xmlns="http://cloudfront.amazonaws.com/doc/2020-05-31/"><Name>oac1</Name><Description /><SigningProtocol>sigv4</SigningProtocol><SigningBehavior>no-override</SigningBehavior><OriginAccessControlOriginType>s3</OriginAccessControlOriginType></OriginAccessControlConfig>"#;
        let (c, d) = decode(xml);
        assert!(d.errors.is_empty(), "{d}");
        let c = c.expect("config");
        assert_eq!(c.signing_behavior, SigningBehavior::NoOverride);
        assert_eq!(c.description, "");
        let out = c.to_tree().to_xml("OriginAccessControlConfig");
        assert!(out.contains("<Description></Description>") || out.contains("<Description/>"));
        assert!(out.contains("<SigningBehavior>no-override</SigningBehavior>"));
    }

    #[test]
    fn refusals() {
        let cfg = |name: &str, proto: &str, beh: &str, ty: &str| {
            format!(
                "<OriginAccessControlConfig><Name>{name}</Name><SigningProtocol>{proto}</SigningProtocol><SigningBehavior>{beh}</SigningBehavior><OriginAccessControlOriginType>{ty}</OriginAccessControlOriginType></OriginAccessControlConfig>"
            )
        };
        let (_, d) = decode(&cfg("a", "sigv4", "sometimes", "s3"));
        assert!(!d.errors.is_empty());
        let (_, d) = decode(&cfg("a", "sigv4a", "always", "s3"));
        assert!(d.to_string().contains("sigv4a"), "{d}");
        let (_, d) = decode(&cfg(&"n".repeat(65), "sigv4", "always", "s3"));
        assert!(d.to_string().contains("Name"), "{d}");
        let (_, d) = decode(&cfg("a", "sigv4", "always-amz-auth", "s3"));
        assert!(!d.errors.is_empty());
        let (c, d) = decode(&cfg("a", "sigv4", "always-amz-auth", "lambda"));
        assert!(d.errors.is_empty() && c.is_some(), "{d}");
        let (_, d) =
            decode("<OriginAccessControlConfig><Name>a</Name></OriginAccessControlConfig>");
        assert!(!d.errors.is_empty());
    }

    #[test]
    fn oai_config_and_canonical_user_id() {
        let (_, tree) = crate::model::tree::from_xml(
            b"<CloudFrontOriginAccessIdentityConfig><CallerReference>r1</CallerReference><Comment></Comment></CloudFrontOriginAccessIdentityConfig>",
        )
        .expect("xml");
        let mut d = Diagnostics::default();
        let c = CloudFrontOriginAccessIdentityConfig::from_tree(&tree, &mut d).expect("config");
        c.validate(&mut d);
        assert!(d.errors.is_empty(), "{d}");
        assert_eq!(c.comment, "");
        let id = s3_canonical_user_id("E74FTE3AEXAMPLE");
        assert_eq!(id.len(), 64);
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
        assert_eq!(id, s3_canonical_user_id("E74FTE3AEXAMPLE"));
        assert_ne!(id, s3_canonical_user_id("E74FTE3AEXAMPLF"));
        let (_, tree) = crate::model::tree::from_xml(
            b"<CloudFrontOriginAccessIdentityConfig><CallerReference>r1</CallerReference></CloudFrontOriginAccessIdentityConfig>",
        )
        .expect("xml");
        let mut d = Diagnostics::default();
        assert!(CloudFrontOriginAccessIdentityConfig::from_tree(&tree, &mut d).is_none());
    }

    #[test]
    fn list_omits_items_when_empty() {
        let t = origin_access_control_list_tree("", None, 100, &[]);
        let xml = t.to_xml("OriginAccessControlList");
        assert!(!xml.contains("<Items"), "{xml}");
        assert!(xml.contains("<IsTruncated>false</IsTruncated>"), "{xml}");
    }
}
