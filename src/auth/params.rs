//! Picking the credentials out of a request (signed-urls.md §2): the signing query parameters,
//! or, only when none of them is present, the `CloudFront-*` cookies. A request never mixes the
//! two sources.
//!
//! URL values are percent-decoded (so `%7E` is `~`); names are matched exactly and
//! case-sensitively, without decoding. A signing parameter given twice in the URL is refused
//! (`MalformedPolicy`). For cookies the first occurrence of a name wins, as browsers send the
//! cookie with the most specific path first.

use std::borrow::Cow;

use percent_encoding::percent_decode_str;

/// The five reserved query parameter names.
pub(crate) const SIGNING_PARAMS: [&str; 5] = [
    "Expires",
    "Policy",
    "Signature",
    "Key-Pair-Id",
    "Hash-Algorithm",
];

/// Where the credentials came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// Signing query parameters.
    Url,
    /// `CloudFront-*` cookies.
    Cookies,
}

/// The raw credential values, one per name.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Credentials<'a> {
    pub(crate) expires: Option<Cow<'a, str>>,
    pub(crate) policy: Option<Cow<'a, str>>,
    pub(crate) signature: Option<Cow<'a, str>>,
    pub(crate) key_pair_id: Option<Cow<'a, str>>,
    pub(crate) hash_algorithm: Option<Cow<'a, str>>,
}

impl<'a> Credentials<'a> {
    fn slot(&mut self, index: usize) -> &mut Option<Cow<'a, str>> {
        match index {
            0 => &mut self.expires,
            1 => &mut self.policy,
            2 => &mut self.signature,
            3 => &mut self.key_pair_id,
            _ => &mut self.hash_algorithm,
        }
    }
}

/// What [`extract`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Found<'a> {
    /// Credentials from one source.
    Some(Source, Credentials<'a>),
    /// A signing query parameter appears more than once.
    DuplicateParam,
}

/// Splits a query into `&`-separated pieces and tells whether a piece is a signing parameter.
fn signing_index(piece: &str) -> Option<usize> {
    let name = piece.split_once('=').map_or(piece, |(n, _)| n);
    SIGNING_PARAMS.iter().position(|p| *p == name)
}

/// The raw query with the signing parameters removed, other pieces kept verbatim and in order;
/// `None` when nothing remains (§13 choice 3).
pub(crate) fn strip_signing(raw_query: Option<&str>) -> Option<String> {
    let q = raw_query?;
    let mut joined = String::with_capacity(q.len());
    let mut first = true;
    for piece in q.split('&').filter(|p| signing_index(p).is_none()) {
        if !first {
            joined.push('&');
        }
        first = false;
        joined.push_str(piece);
    }
    (!joined.is_empty()).then_some(joined)
}

/// Picks the credentials: URL parameters if any is present, otherwise cookies.
pub(crate) fn extract<'a>(raw_query: Option<&'a str>, cookie_headers: &[&'a str]) -> Found<'a> {
    let mut creds = Credentials::default();
    let mut any = false;
    for piece in raw_query.unwrap_or("").split('&') {
        let Some(i) = signing_index(piece) else {
            continue;
        };
        any = true;
        let value = piece.split_once('=').map_or("", |(_, v)| v);
        let slot = creds.slot(i);
        if slot.is_some() {
            return Found::DuplicateParam;
        }
        *slot = Some(if value.contains('%') {
            percent_decode_str(value).decode_utf8_lossy()
        } else {
            Cow::Borrowed(value)
        });
    }
    if any {
        return Found::Some(Source::Url, creds);
    }
    for header in cookie_headers {
        for pair in header.split(';') {
            let Some((name, value)) = pair.split_once('=') else {
                continue;
            };
            let Some(i) = name
                .trim()
                .strip_prefix("CloudFront-")
                .and_then(|n| SIGNING_PARAMS.iter().position(|p| *p == n))
            else {
                continue;
            };
            let value = value.trim();
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value);
            let slot = creds.slot(i);
            if slot.is_none() {
                *slot = Some(Cow::Borrowed(value));
            }
        }
    }
    Found::Some(Source::Cookies, creds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_params_in_any_order_and_decoded() {
        let q = "a=1&Signature=ab%7Ecd&b=2&Key-Pair-Id=K1&Expires=10&Hash-Algorithm=SHA256";
        let Found::Some(src, c) = extract(Some(q), &["CloudFront-Key-Pair-Id=K2"]) else {
            panic!()
        };
        assert_eq!(src, Source::Url);
        assert_eq!(c.signature.as_deref(), Some("ab~cd"));
        assert_eq!(c.key_pair_id.as_deref(), Some("K1"));
        assert_eq!(c.expires.as_deref(), Some("10"));
        assert_eq!(c.hash_algorithm.as_deref(), Some("SHA256"));
        assert_eq!(c.policy, None);
        assert_eq!(strip_signing(Some(q)).as_deref(), Some("a=1&b=2"));
    }

    #[test]
    fn any_single_signing_param_selects_url_mode() {
        let cookies = ["CloudFront-Key-Pair-Id=K2; CloudFront-Signature=x"];
        let Found::Some(src, c) = extract(Some("Hash-Algorithm=SHA1"), &cookies) else {
            panic!()
        };
        assert_eq!(src, Source::Url);
        assert_eq!(c.key_pair_id, None);
        // Names are case-sensitive: `expires` is an application parameter.
        let Found::Some(src, c) = extract(Some("expires=1"), &cookies) else {
            panic!()
        };
        assert_eq!(src, Source::Cookies);
        assert_eq!(c.key_pair_id.as_deref(), Some("K2"));
    }

    #[test]
    fn duplicates_in_the_url_are_refused() {
        assert_eq!(
            extract(Some("Signature=a&Signature=a"), &[]),
            Found::DuplicateParam
        );
    }

    #[test]
    fn cookies_first_wins_across_headers_and_quotes_are_removed() {
        let h = [
            "theme=dark; CloudFront-Policy=\"P1\"",
            "CloudFront-Policy=P2;CloudFront-Signature=S; CloudFront-Key-Pair-Id=K",
        ];
        let Found::Some(src, c) = extract(None, &h) else {
            panic!()
        };
        assert_eq!(src, Source::Cookies);
        assert_eq!(c.policy.as_deref(), Some("P1"));
        assert_eq!(c.signature.as_deref(), Some("S"));
        assert_eq!(c.key_pair_id.as_deref(), Some("K"));
        // Cookie names are case-sensitive.
        let Found::Some(_, c) = extract(None, &["cloudfront-key-pair-id=K"]) else {
            panic!()
        };
        assert_eq!(c.key_pair_id, None);
    }

    #[test]
    fn strip_keeps_other_pieces_verbatim() {
        assert_eq!(strip_signing(None), None);
        assert_eq!(strip_signing(Some("Expires=1&Signature=x")), None);
        assert_eq!(strip_signing(Some("&Expires=1")), None);
        assert_eq!(
            strip_signing(Some("x=1%202&y=a+b&z=%2F&Expires=1")).as_deref(),
            Some("x=1%202&y=a+b&z=%2F")
        );
        assert_eq!(
            strip_signing(Some("a=1&&Expires=1")).as_deref(),
            Some("a=1&")
        );
        assert_eq!(
            strip_signing(Some("Expiresx=1")).as_deref(),
            Some("Expiresx=1")
        );
    }
}
