//! Signed URLs and signed cookies: a pure, synchronous verifier of CloudFront's scheme
//! (the specification is `shared/reference/signed-urls.md`; section numbers below refer to it).
//!
//! The pipeline calls [`verify`] (or [`verify_cached`]) for a request to a cache behavior with
//! trusted key groups or trusted signers, after routing and before the cache lookup. On `Ok(`[`Grant`]`)` it
//! removes the parameters for which [`is_signing_param`] holds from the query used for the cache
//! key and the origin request (when [`Grant::strip_query`]); on `Err(`[`Denial`]`)` it answers
//! 403 `text/xml` with [`Denial::error_body`].
//!
//! Supported: canned and custom policies, in the URL or in `CloudFront-*` cookies; RSA-2048
//! (PKCS#1 v1.5) and ECDSA P-256 (ASN.1 DER) keys, each with SHA-1 (default) or SHA-256
//! (`Hash-Algorithm=SHA256`); CloudFront's base64 alphabet; section-bounded `Resource`
//! wildcards. Every input is bounded: decoded policies at 8 KiB and 8 levels of nesting,
//! signatures at 512 bytes, key ids at 128 characters, PEM keys at 16 KiB.
//!
//! # Error mapping (§10)
//!
//! | situation | denial |
//! |---|---|
//! | no, empty or malformed `Key-Pair-Id` | `MissingKey` |
//! | key id not trusted by the behavior, or not loaded | `InvalidKey` |
//! | no `Expires` nor `Policy`; bad `Expires`; `Policy` not base64, not UTF-8, not JSON, over 8 KiB, too deep, unknown or duplicate fields, not exactly one statement, no `DateLessThan`, bad `AWS:SourceIp`; a signing parameter twice in the URL | `MalformedPolicy` |
//! | `Signature` not CloudFront-base64 or over 512 bytes | `MalformedSignature` |
//! | missing/empty `Signature`, unknown `Hash-Algorithm`, signature mismatch, expired, not yet valid, wrong IP, wrong resource | `AccessDenied` |
//!
//! Checks run in that order: key, policy, signature encoding, cryptography, then conditions.
//!
//! # Open choices (§13), as decided here
//!
//! 1. Canned Resource host: the Host header as sent.
//! 2. Port: a default port (`:80` for http, `:443` for https) written in Host is dropped; any
//!    other port is kept, as sent.
//! 3. Remaining query: the non-signing `&`-pieces verbatim and in wire order, joined with `&`;
//!    no `?` when nothing remains.
//! 4. `now == DateLessThan` is denied (access needs `now < DateLessThan`).
//! 5. `now == DateGreaterThan` is denied (access needs `now > DateGreaterThan`).
//! 6. No clock-skew tolerance; the caller passes `now_epoch` and may shift it if it wants one.
//! 7. `Hash-Algorithm` must be exactly `SHA1` or `SHA256`; anything else is `AccessDenied`.
//! 8. `AccessDenied` for missing `Signature`, unknown hash and not-yet-valid; `MalformedPolicy`
//!    for a missing `Expires`/`Policy` and other structural problems.
//! 9. ECDSA signatures must be DER; IEEE P1363 (`r||s`) is refused.
//! 10. More than one statement is `MalformedPolicy`.
//! 11. `Statement` as a bare object is accepted, as is a one-element array.
//! 12. With both `Expires` and `Policy`, the `Policy` wins and `Expires` is ignored.
//! 13. `\?` and a bare first `?` both separate path from query in a `Resource`.
//! 14. `Resource` matching is over raw bytes, case-sensitive, with no percent-decoding.
//! 15. A `Key-Pair-Id` that is not 1–128 letters, digits, `-` or `_` is `MissingKey`.
//! 16. `Hash-Algorithm` is a signing parameter: stripped before forwarding and keying.
//! 17. Signing parameters are not part of the cache key (the pipeline strips them).
//! 18. The source IP is whatever the caller passes as `viewer_ip` (the pipeline decides about
//!     trusted proxies).
//! 19. An IPv6 viewer never matches an `IpAddress` condition (IPv4-mapped addresses count as
//!     IPv4); an IPv6 range in a policy is `MalformedPolicy`.
//! 20. Legacy `APKA…` ids work because the compiler loads the declared key pairs
//!     ([`crate::config::key_pairs`]) into the [`KeyRing`] and lists those of a behavior's
//!     trusted accounts as trusted; nothing here is specific to key groups.
//! 21. Cookie policies use the same wildcard rules as URL policies.
//!
//! Other choices: a bare IPv4 address in `AWS:SourceIp` means `/32` (the SDKs add it); URL
//! values of signing parameters are percent-decoded, cookie values are not (surrounding double
//! quotes are removed); for a cookie sent twice the first occurrence wins; unknown fields in a
//! custom policy are `MalformedPolicy` (a misspelt condition must not silently widen access).

pub(crate) mod base64;
mod cache;
pub(crate) mod keys;
mod params;
pub(crate) mod policy;
mod resource;
mod verify;

#[cfg(test)]
mod tests;

pub use cache::VerifiedCache;
pub use keys::{KeyError, KeyRing};
pub use verify::{Denial, Grant, RequestFacts, is_signing_param, verify, verify_cached};
