//! Public keys and key groups (signed-urls.md §9): the `PublicKeyConfig` and `KeyGroupConfig`
//! documents and their rules. The key itself is only checked for PEM shape here; parsing it
//! as RSA or EC is left to the signed-URL verifier.

use base64::Engine;

use super::diag::Diagnostics;
use super::reader::{INVALID, ListReader, MapBuilder, MapReader, leaf_string};
use super::tree::Tree;

/// Public keys in one key group.
pub const MAX_KEYS_PER_GROUP: usize = 5;
/// Longest encoded key accepted, in bytes (an RSA-4096 PEM is about 800).
pub const MAX_ENCODED_KEY_LEN: usize = 8192;

const PEM_BEGIN: &str = "-----BEGIN PUBLIC KEY-----";
const PEM_END: &str = "-----END PUBLIC KEY-----";

/// A public key's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKeyConfig {
    /// Unique per create request.
    pub caller_reference: String,
    /// Name, unique in the account.
    pub name: String,
    /// The key in PEM (`-----BEGIN PUBLIC KEY-----` …).
    pub encoded_key: String,
    /// Free text, at most 128 characters.
    pub comment: Option<String>,
}

/// A key group's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyGroupConfig {
    /// Name, unique in the account.
    pub name: String,
    /// Public key ids (1 to [`MAX_KEYS_PER_GROUP`]).
    pub items: Vec<String>,
    /// Free text, at most 128 characters.
    pub comment: Option<String>,
}

impl PublicKeyConfig {
    /// Decodes a `PublicKeyConfig` tree. `None` when any error was recorded.
    pub fn from_tree(tree: &Tree, d: &mut Diagnostics) -> Option<Self> {
        let before = d.errors.len();
        let out = (|| {
            let mut r = MapReader::new(tree, "PublicKeyConfig", d)?;
            let caller_reference = r.string_req("CallerReference", d);
            let name = r.string_req("Name", d);
            let encoded_key = r.string_req("EncodedKey", d);
            let comment = r.string("Comment", d);
            r.finish(d);
            Some(Self {
                caller_reference: caller_reference?,
                name: name?,
                encoded_key: encoded_key?,
                comment,
            })
        })();
        if d.errors.len() > before { None } else { out }
    }

    /// The config in CloudFront's shape (root element `PublicKeyConfig`).
    pub fn to_tree(&self) -> Tree {
        MapBuilder::new()
            .leaf("CallerReference", &self.caller_reference)
            .leaf("Name", &self.name)
            .leaf("EncodedKey", &self.encoded_key)
            .opt_leaf("Comment", self.comment.as_ref())
            .build()
    }

    /// Checks the name, comment and the PEM shape of the key.
    pub fn validate(&self, d: &mut Diagnostics) {
        let root = "PublicKeyConfig";
        if self.caller_reference.is_empty() {
            d.error(
                format!("{root}.CallerReference"),
                INVALID,
                "CallerReference must not be empty",
            );
        }
        validate_name(root, &self.name, d);
        validate_comment(root, self.comment.as_deref(), d);
        if let Err(why) = pem_body(&self.encoded_key) {
            d.error(format!("{root}.EncodedKey"), INVALID, why.to_string());
        }
    }

    /// The DER bytes inside the PEM, for the verifier to parse. `None` when the PEM shape is
    /// wrong (see [`Self::validate`]).
    pub fn der(&self) -> Option<Vec<u8>> {
        let body = pem_body(&self.encoded_key).ok()?;
        base64::engine::general_purpose::STANDARD.decode(body).ok()
    }
}

/// Why an `EncodedKey` is not a `PUBLIC KEY` PEM block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
enum PemError {
    /// Over [`MAX_ENCODED_KEY_LEN`].
    #[error("EncodedKey is longer than {MAX_ENCODED_KEY_LEN} bytes")]
    TooLong,
    /// The PEM markers are missing.
    #[error(
        "EncodedKey must be a PEM public key: -----BEGIN PUBLIC KEY----- … -----END PUBLIC KEY-----"
    )]
    NotPem,
    /// Nothing between the markers.
    #[error("EncodedKey has no key between the PEM markers")]
    Empty,
    /// Characters outside the base64 alphabet.
    #[error("EncodedKey's body is not base64")]
    NotBase64,
    /// Base64 characters that do not decode (bad padding or length).
    #[error("EncodedKey's body is not valid base64")]
    InvalidBase64,
}

/// The base64 body of a `PUBLIC KEY` PEM block, or why the text is not one.
fn pem_body(pem: &str) -> Result<String, PemError> {
    if pem.len() > MAX_ENCODED_KEY_LEN {
        return Err(PemError::TooLong);
    }
    let t = pem.trim();
    let inner = t
        .strip_prefix(PEM_BEGIN)
        .and_then(|s| s.strip_suffix(PEM_END))
        .ok_or(PemError::NotPem)?;
    let body: String = inner.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    if body.is_empty() {
        return Err(PemError::Empty);
    }
    if !body
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=')
    {
        return Err(PemError::NotBase64);
    }
    if base64::engine::general_purpose::STANDARD
        .decode(&body)
        .is_err()
    {
        return Err(PemError::InvalidBase64);
    }
    Ok(body)
}

impl KeyGroupConfig {
    /// Decodes a `KeyGroupConfig` tree (`Items` is a plain list of key ids). `None` when any
    /// error was recorded.
    pub fn from_tree(tree: &Tree, d: &mut Diagnostics) -> Option<Self> {
        let before = d.errors.len();
        let out = (|| {
            let mut r = MapReader::new(tree, "KeyGroupConfig", d)?;
            let name = r.string_req("Name", d);
            let items = match r.take("Items") {
                Some((t, p)) => ListReader::new(t, &p, d).map(|l| {
                    let v = l
                        .items
                        .iter()
                        .filter_map(|(p, t)| leaf_string(t, p, d))
                        .collect();
                    l.rest.finish(d);
                    v
                }),
                None => {
                    d.error(
                        "KeyGroupConfig.Items",
                        "MalformedInput",
                        "missing required field Items",
                    );
                    None
                }
            };
            let comment = r.string("Comment", d);
            r.finish(d);
            Some(Self {
                name: name?,
                items: items?,
                comment,
            })
        })();
        if d.errors.len() > before { None } else { out }
    }

    /// The config in CloudFront's shape (root element `KeyGroupConfig`; items are written as
    /// `<Items><PublicKey>…</PublicKey></Items>`).
    pub fn to_tree(&self) -> Tree {
        MapBuilder::new()
            .leaf("Name", &self.name)
            .node(
                "Items",
                Tree::List(self.items.iter().map(Tree::leaf).collect()),
            )
            .opt_leaf("Comment", self.comment.as_ref())
            .build()
    }

    /// Checks the name, comment and the number of keys.
    pub fn validate(&self, d: &mut Diagnostics) {
        let root = "KeyGroupConfig";
        validate_name(root, &self.name, d);
        validate_comment(root, self.comment.as_deref(), d);
        if self.items.is_empty() {
            d.error(
                format!("{root}.Items"),
                INVALID,
                "a key group needs at least one public key",
            );
        }
        if self.items.len() > MAX_KEYS_PER_GROUP {
            d.error(
                format!("{root}.Items"),
                "TooManyPublicKeysInKeyGroup",
                format!(
                    "{} public keys; a key group holds at most {MAX_KEYS_PER_GROUP}",
                    self.items.len()
                ),
            );
        }
        let mut seen = std::collections::HashSet::new();
        for (i, k) in self.items.iter().enumerate() {
            if k.is_empty() || !k.bytes().all(|b| b.is_ascii_alphanumeric()) {
                d.error(
                    format!("{root}.Items[{i}]"),
                    INVALID,
                    format!("{k:?} is not a public key id"),
                );
            }
            if !seen.insert(k) {
                d.error(
                    format!("{root}.Items[{i}]"),
                    INVALID,
                    format!("public key {k} is listed twice"),
                );
            }
        }
    }
}

fn validate_name(root: &str, name: &str, d: &mut Diagnostics) {
    if name.is_empty()
        || name.len() > 128
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        d.error(
            format!("{root}.Name"),
            INVALID,
            format!(
                "{name:?} is not a valid name: 1 to 128 letters, digits, hyphens and underscores"
            ),
        );
    }
}

fn validate_comment(root: &str, comment: Option<&str>, d: &mut Diagnostics) {
    if comment.is_some_and(|c| c.chars().count() > 128) {
        d.error(
            format!("{root}.Comment"),
            INVALID,
            "Comment is longer than 128 characters",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tree::from_xml;

    const PEM: &str = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----\n";

    #[test]
    fn public_key_round_trip_and_pem_checks() {
        let cfg = PublicKeyConfig {
            caller_reference: "r1".into(),
            name: "my-key_1".into(),
            encoded_key: PEM.into(),
            comment: Some("c".into()),
        };
        let xml = cfg.to_tree().to_xml("PublicKeyConfig");
        let (_, t) = from_xml(xml.as_bytes()).unwrap();
        let mut d = Diagnostics::new();
        assert_eq!(PublicKeyConfig::from_tree(&t, &mut d), Some(cfg.clone()));
        cfg.validate(&mut d);
        assert!(d.errors.is_empty(), "{d}");
        assert!(cfg.der().is_some_and(|b| !b.is_empty()));

        for (key, want) in [
            ("MFkw", "PEM public key"),
            (
                "-----BEGIN PUBLIC KEY----------END PUBLIC KEY-----",
                "no key",
            ),
            (
                "-----BEGIN PUBLIC KEY-----\n!!!!\n-----END PUBLIC KEY-----",
                "not base64",
            ),
        ] {
            let mut d = Diagnostics::new();
            PublicKeyConfig {
                encoded_key: key.into(),
                ..cfg.clone()
            }
            .validate(&mut d);
            assert_eq!(d.errors.len(), 1, "{key}");
            assert_eq!(d.errors[0].path, "PublicKeyConfig.EncodedKey");
            assert!(
                d.errors[0].message.contains(want),
                "{}",
                d.errors[0].message
            );
        }
        assert_eq!(
            pem_body(&"x".repeat(MAX_ENCODED_KEY_LEN + 1)),
            Err(PemError::TooLong)
        );
        assert_eq!(
            pem_body("-----BEGIN PUBLIC KEY-----\nMFk\n-----END PUBLIC KEY-----"),
            Err(PemError::InvalidBase64)
        );
        let mut d = Diagnostics::new();
        PublicKeyConfig {
            name: "bad name".into(),
            caller_reference: String::new(),
            ..cfg
        }
        .validate(&mut d);
        let paths: Vec<_> = d.errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            ["PublicKeyConfig.CallerReference", "PublicKeyConfig.Name"]
        );
    }

    #[test]
    fn botocore_key_group_fixture() {
        let (root, t) = from_xml(include_bytes!("fixtures/create-key-group.xml")).unwrap();
        assert_eq!(root, "KeyGroupConfig");
        let mut d = Diagnostics::new();
        let kg = KeyGroupConfig::from_tree(&t, &mut d).unwrap();
        assert_eq!(kg.items, ["K2JCJMDEHXQW5F", "K36X4X2EO997HM"]);
        assert_eq!(kg.comment.as_deref(), Some("two keys"));
        assert_eq!(kg.to_tree(), t);
    }

    #[test]
    fn key_group_xml_and_limits() {
        let xml = br#"<KeyGroupConfig xmlns="http://cloudfront.amazonaws.com/doc/2020-05-31/"><Name>kg</Name><Items><PublicKey>K1</PublicKey><PublicKey>K2</PublicKey></Items></KeyGroupConfig>"#;
        let (_, t) = from_xml(xml).unwrap();
        let mut d = Diagnostics::new();
        let kg = KeyGroupConfig::from_tree(&t, &mut d).unwrap();
        assert_eq!(kg.items, ["K1", "K2"]);
        assert!(
            kg.to_tree()
                .to_xml("KeyGroupConfig")
                .contains("<Items><PublicKey>K1</PublicKey><PublicKey>K2</PublicKey></Items>")
        );
        kg.validate(&mut d);
        assert!(d.errors.is_empty());

        let big = KeyGroupConfig {
            items: (0..6).map(|i| format!("K{i}")).collect(),
            ..kg.clone()
        };
        let mut d = Diagnostics::new();
        big.validate(&mut d);
        assert_eq!(d.errors[0].code, "TooManyPublicKeysInKeyGroup");
        let empty = KeyGroupConfig {
            items: vec![],
            ..kg
        };
        let mut d = Diagnostics::new();
        empty.validate(&mut d);
        assert_eq!(d.errors[0].path, "KeyGroupConfig.Items");

        let mut d = Diagnostics::new();
        let (_, t) = from_xml(b"<KeyGroupConfig><Name>x</Name></KeyGroupConfig>").unwrap();
        assert!(KeyGroupConfig::from_tree(&t, &mut d).is_none());
        assert!(d.errors[0].message.contains("Items"));
    }
}
