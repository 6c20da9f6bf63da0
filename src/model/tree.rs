//! The neutral document tree and its syntaxes.
//!
//! A [`Tree`] is what every input syntax is parsed into before a decoder looks at it, and what
//! every typed config turns back into before it is written out:
//!
//! - XML (the REST API): an element with child elements is a [`Tree::Map`]; an element named
//!   `Items` (and the few CloudFront lists that are not called `Items`, see [`is_list_element`])
//!   is a [`Tree::List`] whose children's element names are dropped; text is a [`Tree::Leaf`].
//! - JSON (the CLI's `--distribution-config file://…` form): objects, arrays, strings; numbers
//!   and booleans become their text; `null` is left out.
//! - TOML (inline configuration): the same mapping; names are snake_case and wrappers are
//!   usually missing, which [`crate::model::reader`] absorbs.
//!
//! [`Tree::to_xml`] writes CloudFront's REST-XML: lists come out as
//! `<Items><ItemName>…</ItemName></Items>` with the item element name from the service model
//! ([`list_item_name`]).
//!
//! The XML parser is bounded (size, depth and node count), refuses DOCTYPE declarations (so no
//! entity expansion of any kind), mixed content and repeated members, and never panics.

use std::collections::HashSet;
use std::fmt::Write as _;

use quick_xml::events::Event;

/// CloudFront's XML namespace for the 2020-05-31 API.
pub const XMLNS: &str = "http://cloudfront.amazonaws.com/doc/2020-05-31/";
/// Largest XML body accepted, in bytes.
pub const MAX_XML_BYTES: usize = 1024 * 1024;
/// Deepest element nesting accepted (the root is depth 1).
pub const MAX_DEPTH: usize = 32;
/// Most elements accepted in one document.
pub const MAX_NODES: usize = 100_000;
/// Deepest JSON nesting accepted by [`from_json`].
pub const MAX_JSON_DEPTH: usize = 64;

/// A document: text, named members in order, or a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tree {
    /// Text (numbers and booleans are kept as their text).
    Leaf(String),
    /// Named members in document order.
    Map(Vec<(String, Tree)>),
    /// List items in order.
    List(Vec<Tree>),
}

/// Why a document could not be turned into a [`Tree`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", if path.is_empty() { String::new() } else { format!("{path}: ") })]
pub struct TreeError {
    /// The element path where the problem was found (may be empty for document-level
    /// problems).
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl TreeError {
    fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

// === impl Tree ===

impl Tree {
    /// [`from_xml`] as an associated function: the root element's name and its content.
    pub fn from_xml(bytes: &[u8]) -> Result<(String, Tree), TreeError> {
        from_xml(bytes)
    }

    /// [`from_json`] as an associated function.
    pub fn from_json(v: &serde_json::Value) -> Result<Tree, TreeError> {
        from_json(v)
    }

    /// [`from_toml`] as an associated function.
    pub fn from_toml(v: &toml::Value) -> Tree {
        from_toml(v)
    }

    /// A leaf from anything printable.
    pub fn leaf(v: impl ToString) -> Tree {
        Tree::Leaf(v.to_string())
    }

    /// The member `key` of a map (exact name), if this is a map and it has one.
    pub fn get(&self, key: &str) -> Option<&Tree> {
        match self {
            Tree::Map(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Follows a dotted path of exact member names (`"Origins.Quantity"`); list items are not
    /// addressable this way.
    pub fn at(&self, path: &str) -> Option<&Tree> {
        path.split('.').try_fold(self, |t, k| t.get(k))
    }

    /// The text of a leaf.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Tree::Leaf(s) => Some(s),
            _ => None,
        }
    }

    /// The items of a list.
    pub fn as_list(&self) -> Option<&[Tree]> {
        match self {
            Tree::List(l) => Some(l),
            _ => None,
        }
    }

    /// Writes the tree as a CloudFront REST-XML document whose root element is `root`:
    /// the XML declaration, then `<root xmlns="http://cloudfront.amazonaws.com/doc/2020-05-31/">`.
    pub fn to_xml(&self, root: &str) -> String {
        let mut out = String::with_capacity(256);
        out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = write!(out, "<{root} xmlns=\"{XMLNS}\">");
        write_content(&mut out, root, self);
        let _ = write!(out, "</{root}>");
        out
    }

    /// Counts the nodes of the tree (every leaf, map and list).
    pub fn node_count(&self) -> usize {
        match self {
            Tree::Leaf(_) => 1,
            Tree::Map(m) => 1 + m.iter().map(|(_, v)| v.node_count()).sum::<usize>(),
            Tree::List(l) => 1 + l.iter().map(Tree::node_count).sum::<usize>(),
        }
    }
}

/// The element name of one list item, from the service model's `locationName`, keyed by the
/// member that holds the list: the wrapper's name for `Items` (`Aliases` → `CNAME`), or the
/// list member's own name for the few lists not called `Items`. Unknown names give `member`,
/// the protocol's default.
pub fn list_item_name(holder: &str) -> &'static str {
    match holder {
        "Aliases" => "CNAME",
        "Origins" => "Origin",
        "OriginGroups" => "OriginGroup",
        "StatusCodes" => "StatusCode",
        "Members" => "OriginGroupMember",
        "AllowedMethods" | "CachedMethods" => "Method",
        "TrustedKeyGroups" | "ActiveTrustedKeyGroups" => "KeyGroup",
        "TrustedSigners" => "AwsAccountNumber",
        "ActiveTrustedSigners" => "Signer",
        "KeyPairIds" => "KeyPairId",
        "Headers" | "Cookies" | "QueryStrings" | "WhitelistedNames" | "QueryStringCacheKeys" => {
            "Name"
        }
        "GeoRestriction" => "Location",
        "OriginSslProtocols" => "SslProtocol",
        "CustomErrorResponses" => "CustomErrorResponse",
        "CacheBehaviors" => "CacheBehavior",
        "CustomHeaders" => "OriginCustomHeader",
        "LambdaFunctionAssociations" => "LambdaFunctionAssociation",
        "FunctionAssociations" => "FunctionAssociation",
        "Paths" => "Path",
        "KeyGroupConfig" => "PublicKey",
        "DistributionList" => "DistributionSummary",
        "InvalidationList" => "InvalidationSummary",
        "PublicKeyList" => "PublicKeySummary",
        "KeyGroupList" => "KeyGroupSummary",
        "CachePolicyList" => "CachePolicySummary",
        "OriginRequestPolicyList" => "OriginRequestPolicySummary",
        "AliasICPRecordals" => "AliasICPRecordal",
        "StagingDistributionDnsNames" => "DnsName",
        "DistributionIdList" => "DistributionId",
        "Tags" => "Tag",
        "TagKeys" => "Key",
        // Response headers policies.
        "AccessControlAllowOrigins" => "Origin",
        "AccessControlAllowHeaders" | "AccessControlExposeHeaders" => "Header",
        "AccessControlAllowMethods" => "Method",
        "CustomHeadersConfig" => "ResponseHeadersPolicyCustomHeader",
        "RemoveHeadersConfig" => "ResponseHeadersPolicyRemoveHeader",
        "ResponseHeadersPolicyList" => "ResponseHeadersPolicySummary",
        // Origin access controls.
        "OriginAccessControlList" => "OriginAccessControlSummary",
        "CloudFrontOriginAccessIdentityList" => "CloudFrontOriginAccessIdentitySummary",
        _ => "member",
    }
}

/// Whether an XML element holds a list: `Items`, or one of the CloudFront lists that have
/// another name (`AliasICPRecordals`, `TenantConfig.ParameterDefinitions`).
pub fn is_list_element(name: &str) -> bool {
    matches!(name, "Items" | "AliasICPRecordals" | "ParameterDefinitions")
}

fn write_content(out: &mut String, holder: &str, tree: &Tree) {
    match tree {
        Tree::Leaf(s) => escape_into(out, s),
        Tree::Map(m) => {
            for (k, v) in m {
                let _ = write!(out, "<{k}>");
                let h = if k == "Items" { holder } else { k.as_str() };
                write_content(out, h, v);
                let _ = write!(out, "</{k}>");
            }
        }
        Tree::List(items) => {
            let name = list_item_name(holder);
            for item in items {
                let _ = write!(out, "<{name}>");
                // Members of an item structure are named by their own keys; a nested list
                // directly inside a list does not occur in CloudFront's model.
                write_content(out, name, item);
                let _ = write!(out, "</{name}>");
            }
        }
    }
}

/// Escapes text for XML content (the same escaping [`Tree::to_xml`] uses).
pub fn escape_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    escape_into(&mut out, s);
    out
}

fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#13;"),
            '\t' | '\n' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
}

// === XML ===

struct Frame {
    name: String,
    path: String,
    text: String,
    children: Vec<(String, Tree)>,
    /// Child element names seen so far (maps only), to refuse repeats in O(1).
    names: HashSet<String>,
    list: bool,
}

/// Parses a REST-XML body into its root element's name and its content.
///
/// Errors (with the element path) for: bodies over [`MAX_XML_BYTES`], malformed XML, a DOCTYPE,
/// nesting deeper than [`MAX_DEPTH`], more than [`MAX_NODES`] elements, text mixed with child
/// elements, the same member twice, attributes other than `xmlns`, and content after the root.
pub fn from_xml(bytes: &[u8]) -> Result<(String, Tree), TreeError> {
    if bytes.len() > MAX_XML_BYTES {
        return Err(TreeError::new(
            "",
            format!(
                "the body is {} bytes; the limit is {MAX_XML_BYTES}",
                bytes.len()
            ),
        ));
    }
    let mut reader = quick_xml::Reader::from_reader(bytes);
    reader.config_mut().check_end_names = true;
    let mut buf = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut root: Option<(String, Tree)> = None;
    let mut nodes = 0usize;

    loop {
        let here = |stack: &Vec<Frame>| stack.last().map(|f| f.path.clone()).unwrap_or_default();
        let event = match reader.read_event_into(&mut buf) {
            Ok(e) => e,
            Err(e) => {
                return Err(TreeError::new(
                    here(&stack),
                    format!("malformed XML near byte {}: {e}", reader.error_position()),
                ));
            }
        };
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let empty = matches!(event, Event::Empty(_));
                let name = element_name(e.local_name().as_ref(), &here(&stack))?;
                if root.is_some() {
                    return Err(TreeError::new(
                        "",
                        format!("unexpected element <{name}> after the root element"),
                    ));
                }
                check_attributes(e, &name, &here(&stack))?;
                nodes += 1;
                if nodes > MAX_NODES {
                    return Err(TreeError::new(
                        here(&stack),
                        format!("more than {MAX_NODES} elements"),
                    ));
                }
                if stack.len() + 1 > MAX_DEPTH {
                    return Err(TreeError::new(
                        here(&stack),
                        format!("elements are nested more than {MAX_DEPTH} deep"),
                    ));
                }
                let path = match stack.last() {
                    None => name.clone(),
                    Some(p) if p.list => format!("{}[{}]", p.path, p.children.len()),
                    Some(p) => format!("{}.{name}", p.path),
                };
                let frame = Frame {
                    list: is_list_element(&name),
                    name,
                    path,
                    text: String::new(),
                    children: Vec::new(),
                    names: HashSet::new(),
                };
                if empty {
                    close(frame, &mut stack, &mut root)?;
                } else {
                    stack.push(frame);
                }
            }
            Event::End(_) => match stack.pop() {
                Some(frame) => close(frame, &mut stack, &mut root)?,
                None => return Err(TreeError::new("", "closing tag without an opening tag")),
            },
            Event::Text(t) => {
                let text = t.unescape().map_err(|e| {
                    TreeError::new(
                        here(&stack),
                        format!("bad character or entity reference: {e}"),
                    )
                })?;
                check_chars(&text, &here(&stack))?;
                match stack.last_mut() {
                    Some(f) => f.text.push_str(&text),
                    None if text.trim().is_empty() => {}
                    None => return Err(TreeError::new("", "text outside the root element")),
                }
            }
            Event::CData(c) => {
                let text = std::str::from_utf8(&c)
                    .map_err(|_| TreeError::new(here(&stack), "CDATA is not UTF-8"))?
                    .to_owned();
                check_chars(&text, &here(&stack))?;
                match stack.last_mut() {
                    Some(f) => f.text.push_str(&text),
                    None => return Err(TreeError::new("", "CDATA outside the root element")),
                }
            }
            Event::DocType(_) => {
                return Err(TreeError::new("", "DOCTYPE declarations are not allowed"));
            }
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) => {}
            Event::Eof => {
                if let Some(f) = stack.last() {
                    return Err(TreeError::new(
                        f.path.clone(),
                        format!("the document ends before </{}>", f.name),
                    ));
                }
                break;
            }
        }
        buf.clear();
    }
    root.ok_or_else(|| TreeError::new("", "the body has no XML element"))
}

/// Refuses the characters XML 1.0 does not allow, raw or as references (`&#0;`): controls
/// other than tab, line feed and carriage return, and U+FFFE / U+FFFF.
fn check_chars(text: &str, path: &str) -> Result<(), TreeError> {
    match text.chars().find(|&c| {
        (c < ' ' && !matches!(c, '\t' | '\n' | '\r')) || matches!(c, '\u{FFFE}' | '\u{FFFF}')
    }) {
        Some(c) => Err(TreeError::new(
            path,
            format!("U+{:04X} is not a character XML allows", c as u32),
        )),
        None => Ok(()),
    }
}

fn element_name(raw: &[u8], path: &str) -> Result<String, TreeError> {
    std::str::from_utf8(raw)
        .map(str::to_owned)
        .map_err(|_| TreeError::new(path, "an element name is not UTF-8"))
}

fn check_attributes(
    e: &quick_xml::events::BytesStart<'_>,
    name: &str,
    path: &str,
) -> Result<(), TreeError> {
    for attr in e.attributes() {
        let attr = attr.map_err(|err| {
            TreeError::new(path, format!("malformed attribute on <{name}>: {err}"))
        })?;
        let key = attr.key.as_ref();
        if key == b"xmlns" || key.starts_with(b"xmlns:") {
            continue;
        }
        return Err(TreeError::new(
            path,
            format!(
                "unexpected attribute {:?} on <{name}>; CloudFront documents carry no attributes",
                String::from_utf8_lossy(key)
            ),
        ));
    }
    Ok(())
}

fn close(
    frame: Frame,
    stack: &mut [Frame],
    root: &mut Option<(String, Tree)>,
) -> Result<(), TreeError> {
    let Frame {
        name,
        path,
        text,
        children,
        list,
        ..
    } = frame;
    let has_text = !text.trim().is_empty();
    let node = if list {
        if has_text {
            return Err(TreeError::new(
                path,
                format!("<{name}> holds text and elements; expected only elements"),
            ));
        }
        Tree::List(children.into_iter().map(|(_, v)| v).collect())
    } else if children.is_empty() {
        Tree::Leaf(text)
    } else {
        if has_text {
            return Err(TreeError::new(
                path,
                format!("<{name}> mixes text with child elements"),
            ));
        }
        Tree::Map(children)
    };
    match stack.last_mut() {
        None => *root = Some((name, node)),
        Some(parent) => {
            if !parent.list && !parent.names.insert(name.clone()) {
                return Err(TreeError::new(
                    path,
                    format!("<{name}> appears more than once in <{}>", parent.name),
                ));
            }
            parent.children.push((name, node));
        }
    }
    Ok(())
}

// === JSON and TOML ===

/// Converts a JSON value (the CLI's form of a config) into a tree. `null` members and items
/// are left out. Errors only when nested deeper than [`MAX_JSON_DEPTH`].
pub fn from_json(v: &serde_json::Value) -> Result<Tree, TreeError> {
    json_node(v, 0, "")
}

fn json_node(v: &serde_json::Value, depth: usize, path: &str) -> Result<Tree, TreeError> {
    use serde_json::Value;
    if depth > MAX_JSON_DEPTH {
        return Err(TreeError::new(
            path,
            format!("nested more than {MAX_JSON_DEPTH} deep"),
        ));
    }
    Ok(match v {
        Value::Null => Tree::Leaf(String::new()),
        Value::Bool(b) => Tree::leaf(b),
        Value::Number(n) => Tree::leaf(n),
        Value::String(s) => Tree::Leaf(s.clone()),
        Value::Array(a) => {
            let mut out = Vec::with_capacity(a.len());
            for (i, item) in a.iter().enumerate() {
                if !item.is_null() {
                    out.push(json_node(item, depth + 1, &format!("{path}[{i}]"))?);
                }
            }
            Tree::List(out)
        }
        Value::Object(o) => {
            let mut out = Vec::with_capacity(o.len());
            for (k, item) in o {
                if !item.is_null() {
                    let p = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    out.push((k.clone(), json_node(item, depth + 1, &p)?));
                }
            }
            Tree::Map(out)
        }
    })
}

/// Converts a TOML value (inline configuration) into a tree. Integers, floats, booleans and
/// datetimes become their text.
pub fn from_toml(v: &toml::Value) -> Tree {
    use toml::Value;
    match v {
        Value::String(s) => Tree::Leaf(s.clone()),
        Value::Integer(i) => Tree::leaf(i),
        Value::Float(f) => Tree::leaf(f),
        Value::Boolean(b) => Tree::leaf(b),
        Value::Datetime(d) => Tree::leaf(d),
        Value::Array(a) => Tree::List(a.iter().map(from_toml).collect()),
        Value::Table(t) => Tree::Map(t.iter().map(|(k, v)| (k.clone(), from_toml(v))).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(s: &str) -> Tree {
        Tree::Leaf(s.into())
    }

    #[test]
    fn xml_maps_lists_and_leaves() {
        let xml = br#"<?xml version="1.0" encoding="UTF-8"?>
<InvalidationBatch xmlns="http://cloudfront.amazonaws.com/doc/2020-05-31/">
  <Paths><Quantity>2</Quantity><Items><Path>/a&amp;b</Path><Path> /x y </Path></Items></Paths>
  <CallerReference>ref</CallerReference>
  <Empty/>
</InvalidationBatch>"#;
        let (root, tree) = from_xml(xml).unwrap();
        assert_eq!(root, "InvalidationBatch");
        assert_eq!(
            tree,
            Tree::Map(vec![
                (
                    "Paths".into(),
                    Tree::Map(vec![
                        ("Quantity".into(), leaf("2")),
                        (
                            "Items".into(),
                            Tree::List(vec![leaf("/a&b"), leaf(" /x y ")])
                        ),
                    ])
                ),
                ("CallerReference".into(), leaf("ref")),
                ("Empty".into(), leaf("")),
            ])
        );
    }

    #[test]
    fn xml_round_trip_uses_item_names() {
        let tree = Tree::Map(vec![
            (
                "Aliases".into(),
                Tree::Map(vec![
                    ("Quantity".into(), leaf("1")),
                    ("Items".into(), Tree::List(vec![leaf("a<b>&\"'")])),
                ]),
            ),
            ("Items".into(), Tree::List(vec![leaf("K1")])),
        ]);
        let xml = tree.to_xml("KeyGroupConfig");
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<KeyGroupConfig xmlns=\"http://cloudfront.amazonaws.com/doc/2020-05-31/\">"));
        assert!(xml.contains("<Items><CNAME>a&lt;b&gt;&amp;&quot;&apos;</CNAME></Items>"));
        assert!(xml.contains("<Items><PublicKey>K1</PublicKey></Items>"));
        let (root, back) = from_xml(xml.as_bytes()).unwrap();
        assert_eq!(root, "KeyGroupConfig");
        assert_eq!(back, tree);
    }

    #[test]
    fn xml_empty_items_is_an_empty_list() {
        let (_, t) = from_xml(b"<A><Items/><B><Items></Items></B></A>").unwrap();
        assert_eq!(t.get("Items"), Some(&Tree::List(vec![])));
        assert_eq!(t.at("B.Items"), Some(&Tree::List(vec![])));
    }

    #[test]
    fn xml_errors_not_panics() {
        let cases: &[(&[u8], &str)] = &[
            (b"<A><B>x</B>", "ends before </A>"),
            (b"<A><B>x</C></A>", "malformed"),
            (b"<!DOCTYPE A [<!ENTITY x \"y\">]><A>&x;</A>", "DOCTYPE"),
            (b"<A>&x;</A>", "entity"),
            (b"<A>a\x00b</A>", "U+0000 is not a character XML allows"),
            (b"<A>a\x01b</A>", "U+0001 is not a character XML allows"),
            (b"<A><![CDATA[\x1f]]></A>", "U+001F"),
            (b"<A>&#xFFFF;</A>", "U+FFFF"),
            (b"<A>text<B>1</B></A>", "mixes text"),
            (b"<A><B>1</B><B>2</B></A>", "more than once"),
            (b"<A a=\"1\"/>", "unexpected attribute"),
            (b"<A/><B/>", "after the root"),
            (b"", "no XML element"),
            (b"just text", "outside the root"),
        ];
        for (xml, want) in cases {
            let err = from_xml(xml).unwrap_err();
            assert!(
                err.to_string().contains(want),
                "{:?}: {err}",
                String::from_utf8_lossy(xml)
            );
        }
        let err = from_xml(b"<A><B><C>x</C><C>y</C></B></A>").unwrap_err();
        assert_eq!(err.path, "A.B.C");
    }

    #[test]
    fn xml_limits() {
        let deep = format!("{}{}", "<A>".repeat(40), "</A>".repeat(40));
        assert!(
            from_xml(deep.as_bytes())
                .unwrap_err()
                .message
                .contains("nested")
        );
        let wide = format!("<R><Items>{}</Items></R>", "<I/>".repeat(MAX_NODES + 5));
        assert!(wide.len() < MAX_XML_BYTES);
        assert!(
            from_xml(wide.as_bytes())
                .unwrap_err()
                .message
                .contains("elements")
        );
        let huge = vec![b' '; MAX_XML_BYTES + 1];
        assert!(from_xml(&huge).unwrap_err().message.contains("limit"));
    }

    #[test]
    fn wide_maps_are_cheap() {
        // 50k distinct members in one structure: duplicate detection must not be quadratic.
        let body: String = (0..50_000).map(|i| format!("<M{i}>x</M{i}>")).collect();
        let xml = format!("<R>{body}</R>");
        let (_, t) = from_xml(xml.as_bytes()).unwrap();
        let mut d = crate::model::diag::Diagnostics::new();
        let r = crate::model::reader::MapReader::new(&t, "R", &mut d).unwrap();
        r.finish(&mut d);
        assert_eq!(d.errors.len(), crate::model::diag::MAX_ISSUES + 1);
    }

    #[test]
    fn xml_list_item_paths_in_errors() {
        let err = from_xml(b"<R><O><Items><Origin><Id>1</Id><Id>2</Id></Origin></Items></O></R>")
            .unwrap_err();
        assert_eq!(err.path, "R.O.Items[0].Id");
    }

    #[test]
    fn json_and_toml() {
        let v: serde_json::Value =
            serde_json::json!({"A": 1, "B": [true, null, "x"], "C": null, "D": {"E": 1.5}});
        let t = from_json(&v).unwrap();
        assert_eq!(t.get("A"), Some(&leaf("1")));
        assert_eq!(t.get("B"), Some(&Tree::List(vec![leaf("true"), leaf("x")])));
        assert_eq!(t.get("C"), None);
        assert_eq!(t.at("D.E"), Some(&leaf("1.5")));

        let v: toml::Value = toml::from_str("a = 1\nb = [\"x\"]\n[c]\nd = true\n").unwrap();
        let t = from_toml(&v);
        assert_eq!(t.get("a"), Some(&leaf("1")));
        assert_eq!(t.get("b"), Some(&Tree::List(vec![leaf("x")])));
        assert_eq!(t.at("c.d"), Some(&leaf("true")));
    }

    #[test]
    fn json_depth_limit() {
        let mut v = serde_json::json!(1);
        for _ in 0..(MAX_JSON_DEPTH + 2) {
            v = serde_json::json!([v]);
        }
        assert!(from_json(&v).is_err());
    }
}
