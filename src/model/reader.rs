//! A small path-tracking reader over a [`Tree`], shared by every decoder.
//!
//! - Member names match after normalising (lowercase, `_` removed), so TOML's `http_port`
//!   matches `HTTPPort` and `default_ttl` matches `DefaultTTL`.
//! - A list wrapper (`Aliases: {Quantity, Items}`) also accepts a bare list (TOML, or a
//!   hand-written JSON file); `Quantity`, when present, must equal the number of items
//!   (`InconsistentQuantities`). Wrappers with extra members (`TrustedKeyGroups{Enabled,
//!   Quantity, Items}`) hand the extras to the decoder through [`ListReader::rest`].
//! - A member nobody asked for is an error naming the accepted ones.
//! - Every problem is pushed to [`Diagnostics`] with its path; readers return `Option` and
//!   carry on, so one pass reports everything.
//!
//! Paths use the names as the document spelled them (`Origins.Items[0].Id` for XML,
//! `origins[0].id` for TOML), so a person finds the spot in what they wrote.

use super::diag::Diagnostics;
use super::tree::Tree;

/// CloudFront's code for a document that is not the shape the operation expects.
pub const MALFORMED: &str = "MalformedInput";
/// CloudFront's code for a value that is out of range or not allowed.
pub const INVALID: &str = "InvalidArgument";
/// CloudFront's code for a `Quantity` that does not match its `Items`.
pub const INCONSISTENT: &str = "InconsistentQuantities";
/// The code on warnings about accepted but unimplemented settings.
pub const NOT_IMPLEMENTED: &str = "NotImplemented";

/// A string enum of the service model.
pub trait ModelEnum: Sized + Copy + 'static {
    /// Every wire value, in the model's order.
    const NAMES: &'static [&'static str];
    /// The variant for a wire value (exact, case-sensitive match, as CloudFront does).
    fn parse(s: &str) -> Option<Self>;
    /// The wire value.
    fn as_str(&self) -> &'static str;
}

/// Declares a [`ModelEnum`] with its wire values: `model_enum!(Doc, Name { Variant = "wire", … })`.
macro_rules! model_enum {
    ($(#[$m:meta])* $name:ident { $($var:ident = $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $(#[doc = concat!("`", $s, "`")] $var),+
        }
        impl $crate::model::reader::ModelEnum for $name {
            const NAMES: &'static [&'static str] = &[$($s),+];
            fn parse(s: &str) -> Option<Self> {
                match s { $($s => Some(Self::$var),)+ _ => None }
            }
            fn as_str(&self) -> &'static str {
                match self { $(Self::$var => $s),+ }
            }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str($crate::model::reader::ModelEnum::as_str(self))
            }
        }
    };
}
pub(crate) use model_enum;

/// The normalised form of a member name: lowercase with `_` removed.
pub fn normalise(name: &str) -> String {
    name.chars()
        .filter(|c| *c != '_')
        .flat_map(char::to_lowercase)
        .collect()
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

fn describe(t: &Tree) -> &'static str {
    match t {
        Tree::Leaf(_) => "a text value",
        Tree::Map(_) => "a structure",
        Tree::List(_) => "a list",
    }
}

// === MapReader ===

/// Reads the members of one structure. Call the accessors for every member the structure
/// has, then [`MapReader::finish`] to report the ones nobody asked for.
#[derive(Debug)]
pub struct MapReader<'t> {
    path: String,
    entries: Vec<(&'t str, &'t Tree)>,
    used: Vec<bool>,
    known: Vec<&'static str>,
}

impl<'t> MapReader<'t> {
    /// A reader over `tree`, which must be a structure (an empty leaf, `<X/>`, counts as an
    /// empty structure). Duplicate members after normalisation are errors.
    pub fn new(tree: &'t Tree, path: &str, d: &mut Diagnostics) -> Option<Self> {
        match tree {
            Tree::Map(m) => {
                let mut r = Self::empty(path);
                let mut seen: std::collections::HashMap<String, &str> =
                    std::collections::HashMap::with_capacity(m.len());
                for (k, v) in m {
                    let n = normalise(k);
                    if let Some(prev) = seen.get(&n) {
                        d.error(
                            join(path, k),
                            MALFORMED,
                            format!("field {k} is given twice (also as {prev})"),
                        );
                        continue;
                    }
                    seen.insert(n, k.as_str());
                    r.entries.push((k.as_str(), v));
                    r.used.push(false);
                }
                Some(r)
            }
            Tree::Leaf(s) if s.trim().is_empty() => Some(Self::empty(path)),
            other => {
                d.error(
                    path,
                    MALFORMED,
                    format!("expected a structure, found {}", describe(other)),
                );
                None
            }
        }
    }

    /// A reader with no members (what a bare list's wrapper extras look like).
    pub fn empty(path: &str) -> Self {
        Self {
            path: path.to_owned(),
            entries: Vec::new(),
            used: Vec::new(),
            known: Vec::new(),
        }
    }

    /// The path of this structure.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The path a member would have (as the document spells it when present).
    pub fn member_path(&self, name: &str) -> String {
        let n = normalise(name);
        match self.entries.iter().find(|(k, _)| normalise(k) == n) {
            Some((k, _)) => join(&self.path, k),
            None => join(&self.path, name),
        }
    }

    /// Whether the member is present.
    pub fn has(&self, name: &str) -> bool {
        let n = normalise(name);
        self.entries.iter().any(|(k, _)| normalise(k) == n)
    }

    /// Takes a member's raw tree and its path, marking it used.
    pub fn take(&mut self, name: &'static str) -> Option<(&'t Tree, String)> {
        if !self.known.contains(&name) {
            self.known.push(name);
        }
        let n = normalise(name);
        for (i, (k, v)) in self.entries.iter().enumerate() {
            if !self.used[i] && normalise(k) == n {
                self.used[i] = true;
                return Some((*v, join(&self.path, k)));
            }
        }
        None
    }

    fn missing(&self, name: &str, d: &mut Diagnostics) {
        d.error(
            join(&self.path, name),
            MALFORMED,
            format!("missing required field {name}"),
        );
    }

    /// An optional text member.
    pub fn string(&mut self, name: &'static str, d: &mut Diagnostics) -> Option<String> {
        let (t, p) = self.take(name)?;
        leaf_string(t, &p, d)
    }

    /// A required text member.
    pub fn string_req(&mut self, name: &'static str, d: &mut Diagnostics) -> Option<String> {
        if !self.has(name) {
            self.known.push(name);
            self.missing(name, d);
            return None;
        }
        self.string(name, d)
    }

    /// An optional text member where the empty string means "not set".
    pub fn string_nonempty(&mut self, name: &'static str, d: &mut Diagnostics) -> Option<String> {
        self.string(name, d).filter(|s| !s.is_empty())
    }

    /// An optional boolean (`true` / `false`).
    pub fn bool(&mut self, name: &'static str, d: &mut Diagnostics) -> Option<bool> {
        let (t, p) = self.take(name)?;
        leaf_bool(t, &p, d)
    }

    /// A required boolean.
    pub fn bool_req(&mut self, name: &'static str, d: &mut Diagnostics) -> Option<bool> {
        if !self.has(name) {
            self.known.push(name);
            self.missing(name, d);
            return None;
        }
        self.bool(name, d)
    }

    /// An optional integer that must fit `T`.
    pub fn int<T: TryFrom<i64>>(&mut self, name: &'static str, d: &mut Diagnostics) -> Option<T> {
        let (t, p) = self.take(name)?;
        leaf_int(t, &p, d)
    }

    /// A required integer that must fit `T`.
    pub fn int_req<T: TryFrom<i64>>(
        &mut self,
        name: &'static str,
        d: &mut Diagnostics,
    ) -> Option<T> {
        if !self.has(name) {
            self.known.push(name);
            self.missing(name, d);
            return None;
        }
        self.int(name, d)
    }

    /// An optional integer within `min..=max`; out of range is an error with `code`.
    pub fn int_in(
        &mut self,
        name: &'static str,
        min: i64,
        max: i64,
        code: &'static str,
        d: &mut Diagnostics,
    ) -> Option<i64> {
        let (t, p) = self.take(name)?;
        let v: i64 = leaf_int(t, &p, d)?;
        if v < min || v > max {
            d.error(
                p,
                code,
                format!("{v} is out of range; expected {min} to {max}"),
            );
            return None;
        }
        Some(v)
    }

    /// An optional enum member.
    pub fn enumeration<E: ModelEnum>(
        &mut self,
        name: &'static str,
        d: &mut Diagnostics,
    ) -> Option<E> {
        let (t, p) = self.take(name)?;
        leaf_enum(t, &p, d)
    }

    /// A required enum member.
    pub fn enum_req<E: ModelEnum>(&mut self, name: &'static str, d: &mut Diagnostics) -> Option<E> {
        if !self.has(name) {
            self.known.push(name);
            self.missing(name, d);
            return None;
        }
        self.enumeration(name, d)
    }

    /// An optional nested structure.
    pub fn map(&mut self, name: &'static str, d: &mut Diagnostics) -> Option<MapReader<'t>> {
        let (t, p) = self.take(name)?;
        MapReader::new(t, &p, d)
    }

    /// A required nested structure.
    pub fn map_req(&mut self, name: &'static str, d: &mut Diagnostics) -> Option<MapReader<'t>> {
        if !self.has(name) {
            self.known.push(name);
            self.missing(name, d);
            return None;
        }
        self.map(name, d)
    }

    /// An optional list: either a wrapper `{Quantity, Items, …extras}` or a bare list.
    pub fn list(&mut self, name: &'static str, d: &mut Diagnostics) -> Option<ListReader<'t>> {
        let (t, p) = self.take(name)?;
        ListReader::new(t, &p, d)
    }

    /// A required list.
    pub fn list_req(&mut self, name: &'static str, d: &mut Diagnostics) -> Option<ListReader<'t>> {
        if !self.has(name) {
            self.known.push(name);
            self.missing(name, d);
            return None;
        }
        self.list(name, d)
    }

    /// A list of text values (an optional member; absent gives `None`).
    pub fn strings(&mut self, name: &'static str, d: &mut Diagnostics) -> Option<Vec<String>> {
        let l = self.list(name, d)?;
        let out = l
            .items
            .iter()
            .filter_map(|(p, t)| leaf_string(t, p, d))
            .collect();
        l.rest.finish(d);
        Some(out)
    }

    /// A member kept verbatim (a setting edgegate accepts but does not act on). Names are put
    /// in CloudFront's spelling and bare lists get their `{Quantity, Items}` wrapper, so the
    /// value writes out as CloudFront would; names CloudFront does not know are errors.
    pub fn verbatim(&mut self, name: &'static str, d: &mut Diagnostics) -> Option<Tree> {
        let (t, p) = self.take(name)?;
        Some(canonical_tree(t, name, &p, d))
    }

    /// Reports members nobody asked for.
    pub fn finish(self, d: &mut Diagnostics) {
        for (i, (k, _)) in self.entries.iter().enumerate() {
            if !self.used[i] {
                let expected = if self.known.is_empty() {
                    "no fields are expected here".to_owned()
                } else {
                    format!("expected one of {}", self.known.join(", "))
                };
                d.error(
                    join(&self.path, k),
                    MALFORMED,
                    format!("unknown field {k}; {expected}"),
                );
            }
        }
    }
}

// === ListReader ===

/// The items of a list member, with their paths, and the wrapper's other members.
#[derive(Debug)]
pub struct ListReader<'t> {
    /// Each item's path and tree, in order.
    pub items: Vec<(String, &'t Tree)>,
    /// The wrapper's members other than `Quantity` and `Items` (empty for a bare list).
    /// Read the extras from it, then call [`MapReader::finish`].
    pub rest: MapReader<'t>,
    /// Whether the document used a bare list rather than a `{Quantity, Items}` wrapper.
    pub bare: bool,
}

impl<'t> ListReader<'t> {
    /// Reads `tree` at `path` as a list wrapper or a bare list.
    pub fn new(tree: &'t Tree, path: &str, d: &mut Diagnostics) -> Option<Self> {
        match tree {
            Tree::List(items) => Some(Self {
                items: items
                    .iter()
                    .enumerate()
                    .map(|(i, t)| (format!("{path}[{i}]"), t))
                    .collect(),
                rest: MapReader::empty(path),
                bare: true,
            }),
            Tree::Leaf(s) if s.trim().is_empty() => Some(Self {
                items: Vec::new(),
                rest: MapReader::empty(path),
                bare: false,
            }),
            Tree::Leaf(_) => {
                d.error(path, MALFORMED, "expected a list, found a text value");
                None
            }
            Tree::Map(_) => {
                let mut rest = MapReader::new(tree, path, d)?;
                let qty_path = rest.member_path("Quantity");
                let quantity: Option<i64> = rest.int("Quantity", d);
                let items = match rest.take("Items") {
                    None => Vec::new(),
                    Some((Tree::List(items), p)) => items
                        .iter()
                        .enumerate()
                        .map(|(i, t)| (format!("{p}[{i}]"), t))
                        .collect(),
                    Some((Tree::Leaf(s), _)) if s.trim().is_empty() => Vec::new(),
                    Some((other, p)) => {
                        d.error(
                            p,
                            MALFORMED,
                            format!("expected a list, found {}", describe(other)),
                        );
                        Vec::new()
                    }
                };
                if let Some(q) = quantity
                    && q != items.len() as i64
                {
                    d.error(
                        qty_path,
                        INCONSISTENT,
                        format!(
                            "Quantity is {q} but Items has {} element(s); the value of Quantity and the size of Items don't match",
                            items.len()
                        ),
                    );
                }
                Some(Self {
                    items,
                    rest,
                    bare: false,
                })
            }
        }
    }
}

// === leaves ===

/// A leaf's text.
pub fn leaf_string(t: &Tree, path: &str, d: &mut Diagnostics) -> Option<String> {
    match t {
        Tree::Leaf(s) => Some(s.clone()),
        other => {
            d.error(
                path,
                MALFORMED,
                format!("expected a text value, found {}", describe(other)),
            );
            None
        }
    }
}

/// A leaf as `true` / `false`.
pub fn leaf_bool(t: &Tree, path: &str, d: &mut Diagnostics) -> Option<bool> {
    match leaf_string(t, path, d)?.trim() {
        "true" => Some(true),
        "false" => Some(false),
        other => {
            d.error(
                path,
                MALFORMED,
                format!("{other:?} is not a boolean; use true or false"),
            );
            None
        }
    }
}

/// A leaf as an integer that fits `T`.
pub fn leaf_int<T: TryFrom<i64>>(t: &Tree, path: &str, d: &mut Diagnostics) -> Option<T> {
    let s = leaf_string(t, path, d)?;
    let Ok(v) = s.trim().parse::<i64>() else {
        d.error(path, MALFORMED, format!("{s:?} is not an integer"));
        return None;
    };
    match T::try_from(v) {
        Ok(v) => Some(v),
        Err(_) => {
            d.error(path, INVALID, format!("{v} is out of range for this field"));
            None
        }
    }
}

/// A leaf as one of an enum's wire values.
pub fn leaf_enum<E: ModelEnum>(t: &Tree, path: &str, d: &mut Diagnostics) -> Option<E> {
    let s = leaf_string(t, path, d)?;
    match E::parse(&s) {
        Some(e) => Some(e),
        None => {
            d.error(
                path,
                INVALID,
                format!(
                    "{s:?} is not a valid value; expected one of {}",
                    E::NAMES.join(", ")
                ),
            );
            None
        }
    }
}

// === verbatim subtrees ===

/// Member names that may appear inside settings kept verbatim, in CloudFront's spelling (from
/// the service model's DistributionConfig tree).
const CANONICAL_NAMES: &[&str] = &[
    "AdvertiseTrustStoreCaNames",
    "ClientCertificateArn",
    "Comment",
    "DefaultValue",
    "Definition",
    "Enabled",
    "EventType",
    "FunctionARN",
    "IgnoreCertificateExpiry",
    "IncludeBody",
    "Items",
    "LambdaFunctionARN",
    "Mode",
    "Name",
    "OriginHttpVersion",
    "OriginKeepaliveTimeout",
    "OriginReadTimeout",
    "OwnerAccountId",
    "ParameterDefinitions",
    "Quantity",
    "Required",
    "StringSchema",
    "TrustStoreConfig",
    "TrustStoreId",
    "VpcOriginId",
    "HeaderName",
    "Id",
    "FunctionAssociations",
    "LambdaFunctionAssociations",
];

/// Members whose value is a `{Quantity, Items}` wrapper.
const WRAPPERS: &[&str] = &["LambdaFunctionAssociations", "FunctionAssociations"];

fn canonical_name(name: &str) -> Option<&'static str> {
    let n = normalise(name);
    CANONICAL_NAMES.iter().copied().find(|c| normalise(c) == n)
}

fn canonical_tree(t: &Tree, holder: &str, path: &str, d: &mut Diagnostics) -> Tree {
    match t {
        Tree::Leaf(s) => Tree::Leaf(s.clone()),
        Tree::List(items) if WRAPPERS.contains(&holder) => {
            Tree::Map(wrapper_members(items, path, d))
        }
        Tree::List(items) => Tree::List(
            items
                .iter()
                .enumerate()
                .map(|(i, it)| canonical_tree(it, "", &format!("{path}[{i}]"), d))
                .collect(),
        ),
        Tree::Map(m) => {
            let mut out = Vec::with_capacity(m.len());
            for (k, v) in m {
                let p = join(path, k);
                let Some(c) = canonical_name(k) else {
                    d.error(p, MALFORMED, format!("unknown field {k} in {holder}"));
                    continue;
                };
                out.push((c.to_owned(), canonical_tree(v, c, &p, d)));
            }
            if WRAPPERS.contains(&holder) && !out.iter().any(|(k, _)| k == "Quantity") {
                let n = out
                    .iter()
                    .find(|(k, _)| k == "Items")
                    .and_then(|(_, v)| v.as_list().map(<[Tree]>::len))
                    .unwrap_or(0);
                out.insert(0, ("Quantity".to_owned(), Tree::leaf(n)));
            }
            Tree::Map(out)
        }
    }
}

fn wrapper_members(items: &[Tree], path: &str, d: &mut Diagnostics) -> Vec<(String, Tree)> {
    let mut out = vec![("Quantity".to_owned(), Tree::leaf(items.len()))];
    if !items.is_empty() {
        out.push((
            "Items".to_owned(),
            Tree::List(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, it)| canonical_tree(it, "", &format!("{path}[{i}]"), d))
                    .collect(),
            ),
        ));
    }
    out
}

// === writing ===

/// Builds a [`Tree::Map`] member by member, in CloudFront's order.
#[derive(Debug, Default)]
pub struct MapBuilder(Vec<(String, Tree)>);

impl MapBuilder {
    /// An empty structure.
    pub fn new() -> Self {
        Self(Vec::new())
    }

    /// Adds a text member.
    pub fn leaf(mut self, name: &str, v: impl ToString) -> Self {
        self.0.push((name.to_owned(), Tree::leaf(v)));
        self
    }

    /// Adds a text member when the value is set.
    pub fn opt_leaf<V: ToString>(self, name: &str, v: Option<V>) -> Self {
        match v {
            Some(v) => self.leaf(name, v),
            None => self,
        }
    }

    /// Adds a member with a prepared tree.
    pub fn node(mut self, name: &str, t: Tree) -> Self {
        self.0.push((name.to_owned(), t));
        self
    }

    /// Adds a member with a prepared tree when it is set.
    pub fn opt_node(self, name: &str, t: Option<Tree>) -> Self {
        match t {
            Some(t) => self.node(name, t),
            None => self,
        }
    }

    /// Adds a `{Quantity, Items}` wrapper (Items left out when empty, as CloudFront does).
    pub fn wrapped(self, name: &str, items: Vec<Tree>) -> Self {
        self.node(name, wrapped(items, Vec::new()))
    }

    /// The finished structure.
    pub fn build(self) -> Tree {
        Tree::Map(self.0)
    }
}

/// A `{extras…, Quantity, Items}` wrapper; `Items` is left out when there are none. Extras
/// come first (CloudFront writes `Enabled` before `Quantity`).
pub fn wrapped(items: Vec<Tree>, extras: Vec<(String, Tree)>) -> Tree {
    let mut m = extras;
    m.push(("Quantity".to_owned(), Tree::leaf(items.len())));
    if !items.is_empty() {
        m.push(("Items".to_owned(), Tree::List(items)));
    }
    Tree::Map(m)
}

/// Text items as leaves.
pub fn leaves<S: ToString>(items: &[S]) -> Vec<Tree> {
    items.iter().map(|s| Tree::Leaf(s.to_string())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    model_enum!(
        /// test
        Colour { Red = "red", DarkBlue = "dark-blue" }
    );

    fn leaf(s: &str) -> Tree {
        Tree::Leaf(s.into())
    }

    #[test]
    fn normalised_names_and_unknown_fields() {
        let t = Tree::Map(vec![
            ("http_port".into(), leaf("8080")),
            ("DefaultTTL".into(), leaf("5")),
            ("bogus".into(), leaf("x")),
        ]);
        let mut d = Diagnostics::new();
        let mut r = MapReader::new(&t, "Cfg", &mut d).unwrap();
        assert_eq!(r.int::<u16>("HTTPPort", &mut d), Some(8080));
        assert_eq!(r.int::<u64>("default_ttl", &mut d), Some(5));
        assert_eq!(r.string("Comment", &mut d), None);
        r.finish(&mut d);
        assert_eq!(d.errors.len(), 1);
        assert_eq!(d.errors[0].path, "Cfg.bogus");
        assert!(
            d.errors[0]
                .message
                .contains("unknown field bogus; expected one of HTTPPort, default_ttl, Comment")
        );
    }

    #[test]
    fn list_wrapper_and_bare_list() {
        let wrapped = Tree::Map(vec![
            ("Quantity".into(), leaf("2")),
            ("Items".into(), Tree::List(vec![leaf("a"), leaf("b")])),
        ]);
        let mut d = Diagnostics::new();
        let l = ListReader::new(&wrapped, "A", &mut d).unwrap();
        assert_eq!(l.items.len(), 2);
        assert_eq!(l.items[1].0, "A.Items[1]");
        let bare = Tree::List(vec![leaf("a")]);
        let l = ListReader::new(&bare, "a", &mut d).unwrap();
        assert_eq!(l.items[0].0, "a[0]");
        assert!(d.errors.is_empty());

        let bad = Tree::Map(vec![
            ("Quantity".into(), leaf("3")),
            ("Items".into(), Tree::List(vec![leaf("a")])),
        ]);
        ListReader::new(&bad, "A", &mut d).unwrap();
        assert_eq!(d.errors[0].code, INCONSISTENT);
        assert_eq!(d.errors[0].path, "A.Quantity");
    }

    #[test]
    fn leaves_and_enums() {
        let mut d = Diagnostics::new();
        assert_eq!(leaf_bool(&leaf("true"), "p", &mut d), Some(true));
        assert_eq!(leaf_bool(&leaf("yes"), "p", &mut d), None);
        assert_eq!(leaf_int::<u8>(&leaf("300"), "p", &mut d), None);
        assert_eq!(leaf_int::<u8>(&leaf("x"), "p", &mut d), None);
        assert_eq!(
            leaf_enum::<Colour>(&leaf("dark-blue"), "p", &mut d),
            Some(Colour::DarkBlue)
        );
        assert_eq!(leaf_enum::<Colour>(&leaf("Red"), "p", &mut d), None);
        assert_eq!(d.errors.len(), 4);
        assert!(d.errors[3].message.contains("red, dark-blue"));
        assert_eq!(Colour::Red.to_string(), "red");
    }

    #[test]
    fn duplicate_after_normalising() {
        let t = Tree::Map(vec![
            ("HTTPPort".into(), leaf("1")),
            ("http_port".into(), leaf("2")),
        ]);
        let mut d = Diagnostics::new();
        MapReader::new(&t, "X", &mut d).unwrap();
        assert_eq!(d.errors[0].path, "X.http_port");
    }

    #[test]
    fn verbatim_is_canonicalised() {
        let t = Tree::Map(vec![(
            "function_associations".into(),
            Tree::List(vec![Tree::Map(vec![
                ("function_arn".into(), leaf("arn:f")),
                ("event_type".into(), leaf("viewer-request")),
            ])]),
        )]);
        let mut d = Diagnostics::new();
        let mut r = MapReader::new(&t, "B", &mut d).unwrap();
        let v = r.verbatim("FunctionAssociations", &mut d).unwrap();
        assert!(d.errors.is_empty(), "{d}");
        assert_eq!(v.get("Quantity"), Some(&leaf("1")));
        let item = &v.get("Items").unwrap().as_list().unwrap()[0];
        assert_eq!(item.get("FunctionARN"), Some(&leaf("arn:f")));
        assert_eq!(item.get("EventType"), Some(&leaf("viewer-request")));
    }
}
