//! Cache keys, and the parts of a viewer request that go with them to the origin
//! (caching.md §5.1, §5.3).
//!
//! Rules, as CloudFront applies them:
//! - the key always holds the distribution and the raw URL path (as sent, not normalised);
//!   `OPTIONS` requests get their own keys;
//! - query strings: only `&` delimits parameters, names are compared exactly (case-sensitive, not
//!   percent-decoded), and the order in which the viewer sent them is kept, so `?a=1&b=2` and
//!   `?b=2&a=1` are different objects;
//! - headers: names are case-insensitive, values are taken as sent, and header order does not
//!   matter (the key lists selected headers sorted by lower-case name);
//! - cookies: names and values are case-sensitive and the key lists them sorted by name;
//! - `Accept-Encoding` is replaced by its normalised form when the policy enables gzip or Brotli.
//!
//! Whatever is in the key is also what the origin receives ([`forwarded_query`],
//! [`normalized_accept_encoding`]). Parameters for which the caller's `drop_query` returns true
//! (signed-URL parameters) are removed from both.
//!
//! The key is a single length-prefixed byte string, so two different requests can never encode to
//! the same key whatever bytes their parts contain. Its cost is linear in the request head, which
//! the pipeline caps (caching.md §7.7).

use std::fmt;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName};

/// Which names of one kind (query strings, headers or cookies) a policy selects.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Selection {
    /// Nothing.
    #[default]
    None,
    /// Only the listed names.
    Whitelist(Vec<String>),
    /// Every name except the listed ones.
    AllExcept(Vec<String>),
    /// Everything.
    All,
}

impl Selection {
    /// Whether `name` is selected, comparing names exactly (query strings, cookies).
    pub fn selects_exact(&self, name: &[u8]) -> bool {
        match self {
            Selection::None => false,
            Selection::All => true,
            Selection::Whitelist(w) => w.iter().any(|n| n.as_bytes() == name),
            Selection::AllExcept(e) => !e.iter().any(|n| n.as_bytes() == name),
        }
    }

    /// Whether `name` is selected, ignoring ASCII case (header names).
    pub fn selects_ignore_case(&self, name: &str) -> bool {
        match self {
            Selection::None => false,
            Selection::All => true,
            Selection::Whitelist(w) => w.iter().any(|n| n.eq_ignore_ascii_case(name)),
            Selection::AllExcept(e) => !e.iter().any(|n| n.eq_ignore_ascii_case(name)),
        }
    }
}

/// What a cache policy puts in the key (and therefore forwards to the origin).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeySpec {
    /// Query string parameters in the key.
    pub query_strings: Selection,
    /// Headers in the key. Cache policies allow only `None` or `Whitelist`; `All` and
    /// `AllExcept` are honoured if given, over the headers the viewer sent.
    pub headers: Selection,
    /// Cookies in the key.
    pub cookies: Selection,
    /// `EnableAcceptEncodingGzip`.
    pub gzip: bool,
    /// `EnableAcceptEncodingBrotli`.
    pub brotli: bool,
}

impl KeySpec {
    /// Whether Accept-Encoding is normalised (either compression flag on). When it is, the
    /// header is never taken from the header selection.
    pub fn normalizes_encoding(&self) -> bool {
        self.gzip || self.brotli
    }
}

/// A cache key: cheap to clone (one reference-counted buffer), hashed and compared as bytes.
///
/// Besides identity it exposes the distribution id and the raw path (with the query kept in the
/// key) so invalidations can match entries.
#[derive(Clone)]
pub struct CacheKey {
    repr: Bytes,
    dist: (usize, usize),
    path: (usize, usize),
    path_and_query_end: usize,
}

impl CacheKey {
    /// The distribution this key belongs to.
    pub fn dist_id(&self) -> &str {
        self.str_at(self.dist.0, self.dist.1)
    }

    /// The raw URL path (no query).
    pub fn path(&self) -> &str {
        self.str_at(self.path.0, self.path.1)
    }

    /// The raw path plus `?` and the query parameters that are in the key, if any: what an
    /// invalidation path is compared with.
    pub fn path_and_query(&self) -> &str {
        self.str_at(self.path.0, self.path_and_query_end)
    }

    /// The encoded key.
    pub fn as_bytes(&self) -> &[u8] {
        &self.repr
    }

    /// Bytes the key occupies, for the cache weigher.
    pub fn size(&self) -> usize {
        self.repr.len() + std::mem::size_of::<Self>()
    }

    fn str_at(&self, start: usize, end: usize) -> &str {
        // Built from `&str` pieces at these offsets, so this never fails; "" is a safe fallback.
        self.repr
            .get(start..end)
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or("")
    }
}

impl PartialEq for CacheKey {
    fn eq(&self, other: &Self) -> bool {
        self.repr == other.repr
    }
}

impl Eq for CacheKey {}

impl std::hash::Hash for CacheKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.repr.hash(state);
    }
}

impl fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CacheKey")
            .field(&String::from_utf8_lossy(&self.repr))
            .finish()
    }
}

/// Writes `<len>:<bytes>`.
fn put_lp(buf: &mut Vec<u8>, bytes: &[u8]) {
    put_decimal(buf, bytes.len());
    buf.push(b':');
    buf.extend_from_slice(bytes);
}

/// Writes `n` in decimal (what `write!(buf, "{n}")` writes, without the formatting machinery).
fn put_decimal(buf: &mut Vec<u8>, mut n: usize) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf.extend_from_slice(&digits[at..]);
}

/// The query parameters kept by `spec`, in the order sent: `&`-separated segments whose name
/// (text before the first `=`) is selected and not dropped. Empty segments carry no parameter
/// and are skipped.
fn kept_params<'a>(
    raw_query: Option<&'a str>,
    spec: &'a KeySpec,
    drop_query: &'a dyn Fn(&str) -> bool,
) -> impl Iterator<Item = &'a str> + 'a {
    let enabled = !matches!(spec.query_strings, Selection::None);
    raw_query
        .filter(|_| enabled)
        .into_iter()
        .flat_map(|q| q.split('&'))
        .filter(move |seg| {
            if seg.is_empty() {
                return false;
            }
            let name = seg.split_once('=').map_or(*seg, |(n, _)| n);
            spec.query_strings.selects_exact(name.as_bytes()) && !drop_query(name)
        })
}

/// The query string the origin receives: the parameters in the key, in the order sent. `None`
/// when no parameter is kept.
pub fn forwarded_query(
    raw_query: Option<&str>,
    spec: &KeySpec,
    drop_query: &dyn Fn(&str) -> bool,
) -> Option<String> {
    let mut out: Option<String> = None;
    for seg in kept_params(raw_query, spec, drop_query) {
        match &mut out {
            None => {
                let mut s = String::with_capacity(raw_query.map_or(0, str::len));
                s.push_str(seg);
                out = Some(s);
            }
            Some(s) => {
                s.push('&');
                s.push_str(seg);
            }
        }
    }
    out
}

/// Which of gzip and Brotli the viewer accepts, from every `Accept-Encoding` header. Codings
/// are compared case-insensitively; a coding with `q=0` is refused.
fn viewer_encodings(headers: &HeaderMap) -> (bool, bool) {
    let (mut gzip, mut br) = (false, false);
    for value in headers.get_all(header::ACCEPT_ENCODING) {
        let Ok(value) = value.to_str() else { continue };
        for item in value.split(',') {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| {
                let p = p.trim();
                let Some((k, v)) = p.split_once('=') else {
                    return false;
                };
                k.trim().eq_ignore_ascii_case("q")
                    && v.trim().parse::<f32>().is_ok_and(|q| q <= 0.0)
            });
            if refused {
                continue;
            }
            if coding.eq_ignore_ascii_case("gzip") {
                gzip = true;
            } else if coding.eq_ignore_ascii_case("br") {
                br = true;
            }
        }
    }
    (gzip, br)
}

/// The `Accept-Encoding` value sent to the origin (caching.md §5.3): `br,gzip`, `gzip`, `br` or
/// `identity` when the policy enables gzip and/or Brotli; `None` when both are off (the header
/// is then an ordinary one).
pub fn normalized_accept_encoding(headers: &HeaderMap, spec: &KeySpec) -> Option<&'static str> {
    if !spec.normalizes_encoding() {
        return None;
    }
    let (gzip, br) = viewer_encodings(headers);
    Some(match (gzip && spec.gzip, br && spec.brotli) {
        (true, true) => "br,gzip",
        (true, false) => "gzip",
        (false, true) => "br",
        (false, false) => "identity",
    })
}

/// The cookies selected by `sel` from every `Cookie` header, sorted by name (then value, so the
/// order of duplicates does not matter either). `b` and `=b` are the same nameless cookie.
fn selected_cookies<'a>(headers: &'a HeaderMap, sel: &Selection) -> Vec<(&'a [u8], &'a [u8])> {
    if matches!(sel, Selection::None) {
        return Vec::new();
    }
    let mut pairs: Vec<(&[u8], &[u8])> = headers
        .get_all(header::COOKIE)
        .iter()
        .flat_map(|v| v.as_bytes().split(|b| *b == b';'))
        .map(|c| c.trim_ascii())
        .filter(|c| !c.is_empty())
        .map(|c| match c.iter().position(|b| *b == b'=') {
            Some(i) => (c[..i].trim_ascii(), c[i + 1..].trim_ascii()),
            // A pair without `=` is a nameless cookie (RFC 6265bis §5.6): the text is its value.
            None => (&c[..0], c),
        })
        .filter(|(name, _)| sel.selects_exact(name))
        .collect();
    pairs.sort_unstable();
    pairs
}

/// Builds the cache key of a request (caching.md §5.1).
///
/// `raw_path` and `raw_query` are the URL as the viewer sent it (after the default root object
/// is applied); `method_is_options` gives OPTIONS requests keys of their own. `drop_query(name)`
/// removes parameters (signed-URL parameters) from the key and from the origin request.
pub fn build(
    dist_id: &str,
    method_is_options: bool,
    raw_path: &str,
    raw_query: Option<&str>,
    headers: &HeaderMap,
    spec: &KeySpec,
    drop_query: &dyn Fn(&str) -> bool,
) -> CacheKey {
    let skip_ae = spec.normalizes_encoding();
    let mut names: Vec<&HeaderName> = match spec.headers {
        Selection::None => Vec::new(),
        _ => headers
            .keys()
            .filter(|n| !(skip_ae && *n == header::ACCEPT_ENCODING))
            .filter(|n| spec.headers.selects_ignore_case(n.as_str()))
            .collect(),
    };
    // HeaderMap names are lower-case and unique, so this is a total, case-insensitive order.
    names.sort_unstable_by(|a, b| a.as_str().cmp(b.as_str()));
    let cookies = selected_cookies(headers, &spec.cookies);
    let encoding = normalized_accept_encoding(headers, spec).filter(|e| *e != "identity");

    let mut cap = 48 + dist_id.len() + raw_path.len() + raw_query.map_or(0, str::len);
    for name in &names {
        for v in headers.get_all(*name) {
            cap += 24 + name.as_str().len() + v.len();
        }
    }
    cap += cookies
        .iter()
        .map(|(n, v)| 24 + n.len() + v.len())
        .sum::<usize>();
    let mut buf = Vec::with_capacity(cap);

    // Distribution.
    put_decimal(&mut buf, dist_id.len());
    buf.push(b':');
    let dist_start = buf.len();
    buf.extend_from_slice(dist_id.as_bytes());
    let dist_end = buf.len();
    buf.push(if method_is_options { b'O' } else { b'G' });

    // Path and kept query as one contiguous range (the query is what `forwarded_query` returns,
    // after a `?`), prefixed by both lengths so a `?` inside a path stays unambiguous.
    let pq_len = raw_path.len()
        + kept_params(raw_query, spec, drop_query)
            .map(|seg| 1 + seg.len())
            .sum::<usize>();
    put_decimal(&mut buf, raw_path.len());
    buf.push(b'/');
    put_decimal(&mut buf, pq_len);
    buf.push(b':');
    let path_start = buf.len();
    buf.extend_from_slice(raw_path.as_bytes());
    let path_end = buf.len();
    let mut sep = b'?';
    for seg in kept_params(raw_query, spec, drop_query) {
        buf.push(sep);
        sep = b'&';
        buf.extend_from_slice(seg.as_bytes());
    }
    let pq_end = buf.len();

    for name in &names {
        for v in headers.get_all(*name) {
            buf.push(b'h');
            put_lp(&mut buf, name.as_str().as_bytes());
            put_lp(&mut buf, v.as_bytes());
        }
    }
    for (n, v) in &cookies {
        buf.push(b'c');
        put_lp(&mut buf, n);
        put_lp(&mut buf, v);
    }
    if let Some(e) = encoding {
        buf.push(b'e');
        put_lp(&mut buf, e.as_bytes());
    }

    CacheKey {
        repr: Bytes::from(buf),
        dist: (dist_start, dist_end),
        path: (path_start, path_end),
        path_and_query_end: pq_end,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use std::collections::HashSet;

    #[test]
    fn decimals_are_written_as_format_writes_them() {
        for n in [0, 1, 9, 10, 99, 100, 12_345, usize::MAX] {
            let mut buf = b"x".to_vec();
            put_decimal(&mut buf, n);
            assert_eq!(buf, format!("x{n}").into_bytes());
        }
    }

    fn hdrs(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn no_drop(_: &str) -> bool {
        false
    }

    fn k(path: &str, query: Option<&str>, h: &[(&str, &str)], spec: &KeySpec) -> CacheKey {
        build("D1", false, path, query, &hdrs(h), spec, &no_drop)
    }

    fn qs(sel: Selection) -> KeySpec {
        KeySpec {
            query_strings: sel,
            ..KeySpec::default()
        }
    }

    #[test]
    fn default_key_is_distribution_and_path() {
        let spec = KeySpec::default();
        let a = k(
            "/a.jpg",
            Some("x=1"),
            &[("cookie", "s=1"), ("x-h", "1")],
            &spec,
        );
        let b = k("/a.jpg", None, &[], &spec);
        assert_eq!(a, b);
        assert_eq!(a.dist_id(), "D1");
        assert_eq!(a.path(), "/a.jpg");
        assert_eq!(a.path_and_query(), "/a.jpg");
        assert_ne!(
            a,
            build(
                "D2",
                false,
                "/a.jpg",
                None,
                &HeaderMap::new(),
                &spec,
                &no_drop
            )
        );
        assert_ne!(
            a,
            build(
                "D1",
                true,
                "/a.jpg",
                None,
                &HeaderMap::new(),
                &spec,
                &no_drop
            )
        );
        // The raw path is kept: case and encoding matter.
        assert_ne!(a, k("/A.jpg", None, &[], &spec));
        assert_ne!(a, k("/a%2Ejpg", None, &[], &spec));
    }

    #[test]
    fn query_strings_order_and_case_matter() {
        let spec = qs(Selection::All);
        let a = k("/p", Some("color=red&size=large"), &[], &spec);
        assert_eq!(a.path_and_query(), "/p?color=red&size=large");
        assert_ne!(a, k("/p", Some("size=large&color=red"), &[], &spec));
        assert_ne!(a, k("/p", Some("Color=red&size=large"), &[], &spec));
        assert_ne!(a, k("/p", Some("color=RED&size=large"), &[], &spec));
        // `;` is part of the value, not a delimiter.
        let semi = k("/p", Some("a=1;b=2"), &[], &spec);
        assert_eq!(semi.path_and_query(), "/p?a=1;b=2");
        // Empty segments carry no parameter; an empty query is no query.
        assert_eq!(
            k("/p", Some("a=1&&b=2&"), &[], &spec),
            k("/p", Some("a=1&b=2"), &[], &spec)
        );
        assert_eq!(k("/p", Some(""), &[], &spec), k("/p", None, &[], &spec));
    }

    #[test]
    fn query_selection_and_drop() {
        let white = qs(Selection::Whitelist(vec!["v".into(), "Lang".into()]));
        let q = Some("a=1&v=2&lang=x&Lang=y&v");
        assert_eq!(k("/p", q, &[], &white).path_and_query(), "/p?v=2&Lang=y&v");
        assert_eq!(
            forwarded_query(q, &white, &no_drop).as_deref(),
            Some("v=2&Lang=y&v")
        );
        let except = qs(Selection::AllExcept(vec!["a".into()]));
        assert_eq!(
            forwarded_query(q, &except, &no_drop).as_deref(),
            Some("v=2&lang=x&Lang=y&v")
        );
        assert_eq!(forwarded_query(q, &qs(Selection::None), &no_drop), None);
        assert_eq!(forwarded_query(Some("a=1"), &white, &no_drop), None);
        // Signed-URL parameters leave both the key and the origin request.
        let all = qs(Selection::All);
        let drop_sig = |n: &str| matches!(n, "Expires" | "Signature" | "Key-Pair-Id" | "Policy");
        let q = Some("x=1&Expires=9&Signature=abc&Key-Pair-Id=K");
        let signed = build("D1", false, "/p", q, &HeaderMap::new(), &all, &drop_sig);
        assert_eq!(signed, k("/p", Some("x=1"), &[], &all));
        assert_eq!(forwarded_query(q, &all, &drop_sig).as_deref(), Some("x=1"));
        assert_eq!(
            forwarded_query(Some("Signature=abc"), &all, &drop_sig),
            None
        );
    }

    #[test]
    fn headers_case_insensitive_names_order_independent() {
        let spec = KeySpec {
            headers: Selection::Whitelist(vec!["X-Device".into(), "origin".into()]),
            ..KeySpec::default()
        };
        let a = k(
            "/p",
            None,
            &[("x-device", "Mobile"), ("origin", "https://a")],
            &spec,
        );
        let b = k(
            "/p",
            None,
            &[
                ("origin", "https://a"),
                ("X-DEVICE", "Mobile"),
                ("x-other", "1"),
            ],
            &spec,
        );
        assert_eq!(a, b);
        assert_ne!(
            a,
            k(
                "/p",
                None,
                &[("x-device", "mobile"), ("origin", "https://a")],
                &spec
            )
        );
        assert_ne!(a, k("/p", None, &[("x-device", "Mobile")], &spec));
        // Present but empty differs from absent.
        assert_ne!(
            k("/p", None, &[("x-device", "")], &spec),
            k("/p", None, &[], &spec)
        );
        // Several values of one header: the order sent is kept.
        let two = k("/p", None, &[("x-device", "a"), ("x-device", "b")], &spec);
        assert_ne!(
            two,
            k("/p", None, &[("x-device", "b"), ("x-device", "a")], &spec)
        );
        assert_eq!(a.path_and_query(), "/p");
    }

    #[test]
    fn cookies_sorted_and_case_sensitive() {
        let spec = KeySpec {
            cookies: Selection::All,
            ..KeySpec::default()
        };
        let a = k("/p", None, &[("cookie", "b=2; a=1")], &spec);
        assert_eq!(a, k("/p", None, &[("cookie", "a=1;b=2")], &spec));
        assert_eq!(
            a,
            k("/p", None, &[("cookie", "a=1"), ("cookie", " b=2 ")], &spec)
        );
        assert_ne!(a, k("/p", None, &[("cookie", "A=1; b=2")], &spec));
        assert_ne!(a, k("/p", None, &[("cookie", "a=1; b=3")], &spec));
        let white = KeySpec {
            cookies: Selection::Whitelist(vec!["session".into()]),
            ..KeySpec::default()
        };
        assert_eq!(
            k("/p", None, &[("cookie", "session=x; theme=dark")], &white),
            k("/p", None, &[("cookie", "theme=light; session=x")], &white)
        );
        assert_ne!(
            k("/p", None, &[("cookie", "session=x")], &white),
            k("/p", None, &[("cookie", "Session=x")], &white)
        );
        // A pair without `=` is a nameless cookie, not a cookie named after its text.
        let c = |v: &str, spec: &KeySpec| k("/p", None, &[("cookie", v)], spec);
        assert_ne!(c("b", &spec), c("b=", &spec));
        assert_eq!(c("b", &spec), c("=b", &spec));
        let only_b = KeySpec {
            cookies: Selection::Whitelist(vec!["b".into()]),
            ..KeySpec::default()
        };
        assert_eq!(c("b", &only_b), k("/p", None, &[], &only_b));
        assert_ne!(c("b=", &only_b), k("/p", None, &[], &only_b));
        let except = KeySpec {
            cookies: Selection::AllExcept(vec!["theme".into()]),
            ..KeySpec::default()
        };
        assert_eq!(
            k("/p", None, &[("cookie", "theme=1; s=1")], &except),
            k("/p", None, &[("cookie", "s=1")], &except)
        );
    }

    #[test]
    fn accept_encoding_normalisation() {
        let both = KeySpec {
            gzip: true,
            brotli: true,
            ..KeySpec::default()
        };
        let gz = KeySpec {
            gzip: true,
            ..KeySpec::default()
        };
        let br = KeySpec {
            brotli: true,
            ..KeySpec::default()
        };
        let ae = |v: Option<&str>, spec: &KeySpec| {
            let h = v.map_or_else(HeaderMap::new, |v| hdrs(&[("accept-encoding", v)]));
            normalized_accept_encoding(&h, spec)
        };
        assert_eq!(ae(Some("gzip, deflate, br"), &both), Some("br,gzip"));
        assert_eq!(ae(Some("GZIP"), &both), Some("gzip"));
        assert_eq!(ae(Some("br;q=1.0"), &both), Some("br"));
        assert_eq!(ae(Some("deflate"), &both), Some("identity"));
        assert_eq!(ae(None, &both), Some("identity"));
        assert_eq!(ae(Some("gzip;q=0, br"), &both), Some("br"));
        assert_eq!(ae(Some("gzip, br"), &gz), Some("gzip"));
        assert_eq!(ae(Some("br"), &gz), Some("identity"));
        assert_eq!(ae(Some("gzip, br"), &br), Some("br"));
        assert_eq!(ae(Some("gzip, br"), &KeySpec::default()), None);
        // In the key: identity is absent; equivalent headers give the same key.
        let key = |v: &str| k("/p", None, &[("accept-encoding", v)], &both);
        assert_eq!(key("gzip, br"), key("br;q=0.9, gzip"));
        assert_eq!(key("deflate"), k("/p", None, &[], &both));
        assert_ne!(key("gzip"), key("br"));
        assert_ne!(key("gzip"), k("/p", None, &[], &both));
        // Without compression flags Accept-Encoding is not part of the default key.
        assert_eq!(
            k(
                "/p",
                None,
                &[("accept-encoding", "gzip")],
                &KeySpec::default()
            ),
            k("/p", None, &[], &KeySpec::default())
        );
        // With them it is never taken from the header whitelist.
        let listed = KeySpec {
            headers: Selection::Whitelist(vec!["accept-encoding".into()]),
            ..both.clone()
        };
        assert_eq!(
            k("/p", None, &[("accept-encoding", "gzip, br")], &listed),
            k("/p", None, &[("accept-encoding", "br, gzip")], &listed)
        );
    }

    #[test]
    fn tricky_inputs_never_collide() {
        let spec = KeySpec {
            query_strings: Selection::All,
            headers: Selection::Whitelist(vec!["x-a".into(), "x-b".into()]),
            cookies: Selection::All,
            gzip: true,
            brotli: true,
        };
        let dists = ["D1", "D1G", "D", "1:D1", "D1O"];
        let paths = ["/", "/a", "/a?b", "/a&b", "/3:x", "/ah1:x", "/a?", "/c"];
        let queries = [
            None,
            Some("b"),
            Some("b&c"),
            Some("b=h1:x"),
            Some("c=1;e5:gzip"),
        ];
        let header_sets: [&[(&str, &str)]; 6] = [
            &[],
            &[("x-a", "1")],
            &[("x-a", "1h3:x-b1:2")],
            &[("x-a", "1"), ("x-b", "2")],
            &[("x-b", "1")],
            &[("x-a", "")],
        ];
        let cookie_sets = [
            None,
            Some("a=1"),
            Some("a=1; b=2"),
            Some("a=1;b"),
            Some("a=1b=2"),
            Some("h=1"),
        ];
        let mut seen: HashSet<CacheKey> = HashSet::new();
        let mut requests: HashSet<String> = HashSet::new();
        for dist in dists {
            for options in [false, true] {
                for path in paths {
                    for q in queries {
                        for hs in header_sets {
                            for c in cookie_sets {
                                let mut h = hdrs(hs);
                                if let Some(c) = c {
                                    h.insert(header::COOKIE, HeaderValue::from_str(c).unwrap());
                                }
                                let key = build(dist, options, path, q, &h, &spec, &no_drop);
                                assert_eq!(key.dist_id(), dist);
                                assert_eq!(key.path(), path);
                                let request = format!("{dist}|{options}|{path}|{q:?}|{hs:?}|{c:?}");
                                assert!(requests.insert(request.clone()));
                                assert!(
                                    seen.insert(key.clone()),
                                    "collision for {request}: {key:?}"
                                );
                            }
                        }
                    }
                }
            }
        }
        assert_eq!(seen.len(), requests.len());
    }

    #[test]
    fn keys_are_cheap_and_debuggable() {
        let a = k("/p", Some("x=1"), &[], &qs(Selection::All));
        let b = a.clone();
        assert_eq!(a.as_bytes().as_ptr(), b.as_bytes().as_ptr());
        assert!(format!("{a:?}").contains("/p?x=1"));
        assert!(a.size() > a.as_bytes().len());
    }
}
