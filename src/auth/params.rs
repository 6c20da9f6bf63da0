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

/// What [`extract`] found in a request whose URL names no signing parameter twice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Extracted<'a> {
    /// Where the credentials came from.
    pub(crate) source: Source,
    /// The credential values, URL values percent-decoded.
    pub(crate) creds: Credentials<'a>,
    /// The raw query without its signing parameters: the other `&`-pieces verbatim and in
    /// order, joined with `&`; `None` when nothing remains (§13 choice 3). Borrowed from the
    /// query when the remaining pieces are one run of it (the usual case: signing parameters
    /// appended at the end).
    pub(crate) rest_query: Option<Cow<'a, str>>,
}

/// A signing query parameter appears more than once (`MalformedPolicy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DuplicateParam;

/// Whether an `&`-piece of a query is a signing parameter: which one, and its raw value (empty
/// when the piece has no `=`). The five names start with five different letters, so a piece is
/// compared with one name at most, and never searched.
fn signing_piece(piece: &str) -> Option<(usize, &str)> {
    let i = match piece.as_bytes().first()? {
        b'E' => 0,
        b'P' => 1,
        b'S' => 2,
        b'K' => 3,
        b'H' => 4,
        _ => return None,
    };
    let rest = piece.strip_prefix(SIGNING_PARAMS[i])?;
    match rest.as_bytes().first() {
        None => Some((i, "")),
        Some(b'=') => Some((i, &rest[1..])),
        Some(_) => None,
    }
}

/// Picks the credentials, URL parameters if any is present, otherwise cookies, and the query
/// without its signing parameters, in one pass over the query.
pub(crate) fn extract<'a>(
    raw_query: Option<&'a str>,
    cookie_headers: &[&'a str],
) -> Result<Extracted<'a>, DuplicateParam> {
    let mut creds = Credentials::default();
    let mut any = false;
    // The pieces kept in the rest of the query: where the first starts, where the last ends,
    // and whether a signing parameter lies between two of them.
    let mut kept: Option<(usize, usize)> = None;
    let mut signing_after_kept = false;
    let mut gap = false;
    if let Some(q) = raw_query {
        let bytes = q.as_bytes();
        let mut start = 0;
        loop {
            // One search finds the piece's end and whether it holds a `%` to decode.
            let (end, escaped) = match memchr::memchr2(b'&', b'%', &bytes[start..]) {
                None => (q.len(), false),
                Some(i) if bytes[start + i] == b'&' => (start + i, false),
                Some(i) => {
                    let from = start + i + 1;
                    (
                        memchr::memchr(b'&', &bytes[from..]).map_or(q.len(), |j| from + j),
                        true,
                    )
                }
            };
            let piece = &q[start..end];
            match signing_piece(piece) {
                Some((i, value)) => {
                    any = true;
                    signing_after_kept = kept.is_some();
                    let slot = creds.slot(i);
                    if slot.is_some() {
                        return Err(DuplicateParam);
                    }
                    // A `%` in the name would have kept the piece from being a signing one, so
                    // one in the piece is in the value.
                    *slot = Some(if escaped {
                        percent_decode_str(value).decode_utf8_lossy()
                    } else {
                        Cow::Borrowed(value)
                    });
                }
                None => {
                    gap |= signing_after_kept;
                    kept = Some((kept.map_or(start, |(s, _)| s), end));
                }
            }
            if end == q.len() {
                break;
            }
            start = end + 1;
        }
    }
    let rest_query = match (raw_query, kept) {
        (Some(q), Some(_)) if gap => {
            let mut joined = String::with_capacity(q.len());
            let mut first = true;
            for piece in q.split('&').filter(|p| signing_piece(p).is_none()) {
                if !first {
                    joined.push('&');
                }
                first = false;
                joined.push_str(piece);
            }
            Some(Cow::Owned(joined))
        }
        (Some(q), Some((s, e))) => Some(Cow::Borrowed(&q[s..e])),
        _ => None,
    }
    .filter(|r| !r.is_empty());
    if any {
        return Ok(Extracted {
            source: Source::Url,
            creds,
            rest_query,
        });
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
    Ok(Extracted {
        source: Source::Cookies,
        creds,
        rest_query,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_params_in_any_order_and_decoded() {
        let q = "a=1&Signature=ab%7Ecd&b=2&Key-Pair-Id=K1&Expires=10&Hash-Algorithm=SHA256";
        let Extracted {
            source: src,
            creds: c,
            rest_query,
        } = extract(Some(q), &["CloudFront-Key-Pair-Id=K2"]).unwrap();
        assert_eq!(src, Source::Url);
        assert_eq!(c.signature.as_deref(), Some("ab~cd"));
        assert_eq!(c.key_pair_id.as_deref(), Some("K1"));
        assert_eq!(c.expires.as_deref(), Some("10"));
        assert_eq!(c.hash_algorithm.as_deref(), Some("SHA256"));
        assert_eq!(c.policy, None);
        assert_eq!(rest_query.as_deref(), Some("a=1&b=2"));
    }

    #[test]
    fn any_single_signing_param_selects_url_mode() {
        let cookies = ["CloudFront-Key-Pair-Id=K2; CloudFront-Signature=x"];
        let Extracted {
            source: src,
            creds: c,
            ..
        } = extract(Some("Hash-Algorithm=SHA1"), &cookies).unwrap();
        assert_eq!(src, Source::Url);
        assert_eq!(c.key_pair_id, None);
        // Names are case-sensitive: `expires` is an application parameter.
        let Extracted {
            source: src,
            creds: c,
            rest_query,
        } = extract(Some("expires=1"), &cookies).unwrap();
        assert_eq!(src, Source::Cookies);
        assert_eq!(c.key_pair_id.as_deref(), Some("K2"));
        // The query is kept whole when the credentials come from cookies.
        assert_eq!(rest_query.as_deref(), Some("expires=1"));
    }

    #[test]
    fn duplicates_in_the_url_are_refused() {
        assert_eq!(
            extract(Some("Signature=a&Signature=a"), &[]),
            Err(DuplicateParam)
        );
        assert_eq!(
            extract(Some("a=1&Expires=1&b=2&Expires=2"), &[]),
            Err(DuplicateParam)
        );
    }

    #[test]
    fn cookies_first_wins_across_headers_and_quotes_are_removed() {
        let h = [
            "theme=dark; CloudFront-Policy=\"P1\"",
            "CloudFront-Policy=P2;CloudFront-Signature=S; CloudFront-Key-Pair-Id=K",
        ];
        let Extracted {
            source: src,
            creds: c,
            rest_query,
        } = extract(None, &h).unwrap();
        assert_eq!(rest_query, None);
        assert_eq!(src, Source::Cookies);
        assert_eq!(c.policy.as_deref(), Some("P1"));
        assert_eq!(c.signature.as_deref(), Some("S"));
        assert_eq!(c.key_pair_id.as_deref(), Some("K"));
        // Cookie names are case-sensitive.
        let c = extract(None, &["cloudfront-key-pair-id=K"]).unwrap().creds;
        assert_eq!(c.key_pair_id, None);
    }

    /// The query without its signing parameters, as two passes compute it: every `&`-piece
    /// that is not a signing parameter, joined with `&`.
    fn two_pass_rest(q: Option<&str>) -> Option<String> {
        let q = q?;
        let kept: Vec<&str> = q
            .split('&')
            .filter(|p| !SIGNING_PARAMS.contains(&p.split_once('=').map_or(*p, |(n, _)| n)))
            .collect();
        Some(kept.join("&")).filter(|r| !r.is_empty())
    }

    fn rest(q: Option<&str>) -> Option<String> {
        extract(q, &[]).unwrap().rest_query.map(Cow::into_owned)
    }

    #[test]
    fn a_signing_piece_is_a_name_before_the_first_equals_sign() {
        for piece in [
            "Expires",
            "Expires=",
            "Expires=1",
            "Expiresx=1",
            "E",
            "",
            "=Expires",
            "Policy=a=b",
            "Signature=%7E",
            "Key-Pair-Id=K",
            "Key-Pair-I=K",
            "Hash-Algorithm",
            "hash-algorithm=x",
            "Policy%3D=1",
            "Signature&",
        ] {
            let (name, value) = piece.split_once('=').unwrap_or((piece, ""));
            let expected = SIGNING_PARAMS
                .iter()
                .position(|p| *p == name)
                .map(|i| (i, value));
            assert_eq!(signing_piece(piece), expected, "piece {piece:?}");
        }
    }

    #[test]
    fn strip_keeps_other_pieces_verbatim() {
        assert_eq!(rest(None), None);
        assert_eq!(rest(Some("Expires=1&Signature=x")), None);
        assert_eq!(rest(Some("&Expires=1")), None);
        assert_eq!(
            rest(Some("x=1%202&y=a+b&z=%2F&Expires=1")).as_deref(),
            Some("x=1%202&y=a+b&z=%2F")
        );
        assert_eq!(rest(Some("a=1&&Expires=1")).as_deref(), Some("a=1&"));
        assert_eq!(rest(Some("Expiresx=1")).as_deref(), Some("Expiresx=1"));
        // Signing parameters between kept pieces: the rest is joined anew.
        assert_eq!(
            rest(Some("a=1&Expires=1&b=2&Signature=x&&c")).as_deref(),
            Some("a=1&b=2&&c")
        );
    }

    #[test]
    fn one_pass_rest_is_the_two_pass_rest_for_every_arrangement() {
        // Every sequence of up to five pieces drawn from kept, signing, empty and look-alike
        // pieces, each signing name used at most once.
        let kept = [
            "a=1",
            "",
            "Expiresx=2",
            "k",
            "Signaturex",
            "b%3D=%41",
            "Policy%3D1",
        ];
        let signing = [
            "Expires=9",
            "Signature=a%7Eb%",
            "Policy=p",
            "Key-Pair-Id=K",
            "Hash-Algorithm=SHA1",
        ];
        let mut queries = vec![String::new()];
        let mut frontier: Vec<(Vec<&str>, usize)> = vec![(vec![], 0)];
        for _ in 0..5 {
            let mut next = Vec::new();
            for (pieces, used) in &frontier {
                for k in kept {
                    let mut p = pieces.clone();
                    p.push(k);
                    next.push((p, *used));
                }
                if *used < signing.len() {
                    let mut p = pieces.clone();
                    p.push(signing[*used]);
                    next.push((p, used + 1));
                }
            }
            queries.extend(next.iter().map(|(p, _)| p.join("&")));
            frontier = next;
        }
        assert!(queries.len() > 4000);
        for q in &queries {
            assert_eq!(rest(Some(q)), two_pass_rest(Some(q)), "query {q:?}");
            // Each signing value is its piece's value, percent-decoded.
            let c = extract(Some(q), &[]).unwrap().creds;
            for (i, name) in SIGNING_PARAMS.iter().enumerate() {
                let expected = q
                    .split('&')
                    .find_map(|p| p.strip_prefix(name)?.strip_prefix('='))
                    .map(|v| percent_decode_str(v).decode_utf8_lossy().into_owned());
                let got = match i {
                    0 => &c.expires,
                    1 => &c.policy,
                    2 => &c.signature,
                    3 => &c.key_pair_id,
                    _ => &c.hash_algorithm,
                };
                assert_eq!(got.as_deref(), expected.as_deref(), "{name} in {q:?}");
            }
        }
    }
}
