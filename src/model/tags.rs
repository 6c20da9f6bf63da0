//! Resource tags: the `Tags` and `TagKeys` documents of `TagResource`, `UntagResource`,
//! `ListTagsForResource` and `CreateDistributionWithTags`, with the service model's rules (a key
//! of 1 to 128 characters, a value of 0 to 256, letters, numbers, spaces and `_ . : / = + - @`),
//! and `DistributionConfigWithTags`.

use serde::{Deserialize, Serialize};

use super::diag::Diagnostics;
use super::distribution::DistributionConfig;
use super::reader::{ListReader, MapBuilder, MapReader, leaf_string};
use super::tree::Tree;

/// CloudFront's error code for tags that break its rules.
pub const INVALID_TAGGING: &str = "InvalidTagging";
/// Most tags one resource may carry (CloudFront's quota).
pub const MAX_TAGS: usize = 50;
/// Longest tag key.
pub const MAX_KEY_CHARS: usize = 128;
/// Longest tag value.
pub const MAX_VALUE_CHARS: usize = 256;

/// One tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    /// The key.
    pub key: String,
    /// The value; `None` when the request left it out (it is then left out when read back).
    pub value: Option<String>,
}

/// Whether every character is one the model's pattern `[\p{L}\p{Z}\p{N}_.:/=+\-@]*` allows.
fn allowed(s: &str) -> bool {
    s.chars().all(|c| {
        c.is_alphabetic()
            || c.is_numeric()
            || (c.is_whitespace() && !c.is_control())
            || "_.:/=+-@".contains(c)
    })
}

/// Checks one key against the model's length and pattern.
fn check_key(key: &str, path: &str, d: &mut Diagnostics) {
    let n = key.chars().count();
    if n == 0 || n > MAX_KEY_CHARS {
        d.error(
            path,
            INVALID_TAGGING,
            format!("a tag key must be 1 to {MAX_KEY_CHARS} characters long, not {n}"),
        );
    } else if !allowed(key) {
        d.error(
            path,
            INVALID_TAGGING,
            format!(
                "tag key {key:?} may hold only letters, numbers, spaces and the characters _ . : / = + - @"
            ),
        );
    }
}

/// `Tags`: `{Items: [{Key, Value}]}` (no `Quantity`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tags {
    /// The tags, in the request's order.
    pub items: Vec<Tag>,
}

impl Tags {
    /// Decodes a `Tags` structure.
    pub fn from_tree(tree: &Tree, path: &str, d: &mut Diagnostics) -> Option<Self> {
        let mut r = MapReader::new(tree, path, d)?;
        let mut items = Vec::new();
        if let Some((t, p)) = r.take("Items") {
            let list = ListReader::new(t, &p, d)?;
            for (ip, it) in list.items {
                let mut m = MapReader::new(it, &ip, d)?;
                let key = m.string_req("Key", d);
                let value = m.string("Value", d);
                m.finish(d);
                if let Some(key) = key {
                    items.push(Tag { key, value });
                }
            }
            list.rest.finish(d);
        }
        r.finish(d);
        Some(Self { items })
    }

    /// Checks keys, values, duplicates and the number of tags.
    pub fn validate(&self, path: &str, d: &mut Diagnostics) {
        if self.items.len() > MAX_TAGS {
            d.error(
                path,
                INVALID_TAGGING,
                format!(
                    "{} tags given; a resource can have at most {MAX_TAGS}",
                    self.items.len()
                ),
            );
        }
        for (i, t) in self.items.iter().enumerate() {
            let p = format!("{path}.Items[{i}]");
            check_key(&t.key, &format!("{p}.Key"), d);
            if let Some(v) = &t.value {
                let n = v.chars().count();
                if n > MAX_VALUE_CHARS {
                    d.error(
                        format!("{p}.Value"),
                        INVALID_TAGGING,
                        format!(
                            "a tag value must be at most {MAX_VALUE_CHARS} characters long, not {n}"
                        ),
                    );
                } else if !allowed(v) {
                    d.error(
                        format!("{p}.Value"),
                        INVALID_TAGGING,
                        "a tag value may hold only letters, numbers, spaces and the characters _ . : / = + - @",
                    );
                }
            }
            if self.items[..i].iter().any(|o| o.key == t.key) {
                d.error(
                    format!("{p}.Key"),
                    INVALID_TAGGING,
                    format!("tag key {:?} is given twice", t.key),
                );
            }
        }
    }

    /// Encodes as CloudFront writes `Tags`.
    pub fn to_tree(&self) -> Tree {
        tags_tree(&self.items)
    }
}

/// `Tags` for a list of tags.
pub fn tags_tree(items: &[Tag]) -> Tree {
    let items: Vec<Tree> = items
        .iter()
        .map(|t| {
            MapBuilder::new()
                .leaf("Key", &t.key)
                .opt_leaf("Value", t.value.as_ref())
                .build()
        })
        .collect();
    // An empty list is written as `<Items/>`, which clients read as `Items: []`.
    Tree::Map(vec![("Items".to_owned(), Tree::List(items))])
}

/// `TagKeys`: `{Items: [Key]}` (no `Quantity`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TagKeys {
    /// The keys to remove.
    pub items: Vec<String>,
}

impl TagKeys {
    /// Decodes a `TagKeys` structure and checks each key.
    pub fn from_tree(tree: &Tree, path: &str, d: &mut Diagnostics) -> Option<Self> {
        let mut r = MapReader::new(tree, path, d)?;
        let mut items = Vec::new();
        if let Some((t, p)) = r.take("Items") {
            let list = ListReader::new(t, &p, d)?;
            for (ip, it) in list.items {
                if let Some(k) = leaf_string(it, &ip, d) {
                    check_key(&k, &ip, d);
                    items.push(k);
                }
            }
            list.rest.finish(d);
        }
        r.finish(d);
        Some(Self { items })
    }
}

/// `DistributionConfigWithTags`: a distribution's config and its first tags.
#[derive(Debug, Clone, PartialEq)]
pub struct DistributionConfigWithTags {
    /// The configuration.
    pub config: DistributionConfig,
    /// The tags.
    pub tags: Tags,
}

impl DistributionConfigWithTags {
    /// Decodes and validates the document (both members are required).
    pub fn from_tree(tree: &Tree, d: &mut Diagnostics) -> Option<Self> {
        const ROOT: &str = "DistributionConfigWithTags";
        let mut r = MapReader::new(tree, ROOT, d)?;
        let config = match r.take("DistributionConfig") {
            Some((t, p)) => {
                let c = DistributionConfig::from_tree_at(t, &p, d);
                if let Some(c) = &c {
                    c.validate(d);
                }
                c
            }
            None => {
                d.error(
                    format!("{ROOT}.DistributionConfig"),
                    "MalformedInput",
                    "missing required field DistributionConfig",
                );
                None
            }
        };
        let tags = match r.take("Tags") {
            Some((t, p)) => Tags::from_tree(t, &p, d),
            None => {
                d.error(
                    format!("{ROOT}.Tags"),
                    "MalformedInput",
                    "missing required field Tags",
                );
                None
            }
        };
        r.finish(d);
        if let Some(t) = &tags {
            t.validate(&format!("{ROOT}.Tags"), d);
        }
        Some(Self {
            config: config?,
            tags: tags?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(xml: &str) -> (Option<Tags>, Diagnostics) {
        let (_, tree) = crate::model::tree::from_xml(xml.as_bytes()).unwrap();
        let mut d = Diagnostics::default();
        let t = Tags::from_tree(&tree, "Tags", &mut d);
        if let Some(t) = &t {
            t.validate("Tags", &mut d);
        }
        (t, d)
    }

    #[test]
    fn tags_round_trip_and_keep_a_missing_value_missing() {
        let xml = "<Tags><Items><Tag><Key>env</Key><Value>prod</Value></Tag><Tag><Key>team a</Key></Tag></Items></Tags>";
        let (t, d) = decode(xml);
        assert!(d.errors.is_empty(), "{d}");
        let t = t.unwrap();
        assert_eq!(t.items[1].value, None);
        assert_eq!(
            t.to_tree().to_xml("Tags"),
            tags_tree(&t.items).to_xml("Tags")
        );
        assert!(
            t.to_tree()
                .to_xml("Tags")
                .contains("<Tag><Key>team a</Key></Tag>")
        );
    }

    #[test]
    fn bad_tags_are_invalid_tagging() {
        for xml in [
            "<Tags><Items><Tag><Key></Key></Tag></Items></Tags>".to_owned(),
            "<Tags><Items><Tag><Key>a*b</Key></Tag></Items></Tags>".to_owned(),
            format!(
                "<Tags><Items><Tag><Key>{}</Key></Tag></Items></Tags>",
                "k".repeat(129)
            ),
            format!(
                "<Tags><Items><Tag><Key>k</Key><Value>{}</Value></Tag></Items></Tags>",
                "v".repeat(257)
            ),
            "<Tags><Items><Tag><Key>k</Key></Tag><Tag><Key>k</Key></Tag></Items></Tags>".to_owned(),
        ] {
            let (_, d) = decode(&xml);
            assert_eq!(
                d.errors.first().map(|e| e.code),
                Some(INVALID_TAGGING),
                "{xml}"
            );
        }
        let many: String = (0..51)
            .map(|i| format!("<Tag><Key>k{i}</Key></Tag>"))
            .collect();
        let (_, d) = decode(&format!("<Tags><Items>{many}</Items></Tags>"));
        assert_eq!(d.errors.first().map(|e| e.code), Some(INVALID_TAGGING));
        let ok = format!(
            "<Tags><Items><Tag><Key>{}</Key><Value>{}</Value></Tag></Items></Tags>",
            "k".repeat(128),
            "a:b/c=d+e-f@g_h.i j".repeat(10)
        );
        assert!(decode(&ok).1.errors.is_empty());
    }
}
