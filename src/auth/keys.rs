//! Public keys for signature verification: PEM SubjectPublicKeyInfo as stored in
//! `PublicKeyConfig.EncodedKey` (signed-urls.md §7.3), either RSA-2048 (PKCS#1 v1.5
//! signatures) or ECDSA P-256 (ASN.1 DER signatures), each with SHA-1 or SHA-256 (§7.2).

use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use base64::Engine;
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use rsa::pkcs8::DecodePublicKey;
use rsa::pkcs8::spki::SubjectPublicKeyInfoRef;
use rsa::traits::PublicKeyParts;
use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::fold::FoldHasher;

/// Largest PEM text accepted by [`KeyRing::insert`]; an RSA-2048 SPKI PEM is ~450 bytes.
const MAX_PEM_LEN: usize = 16 * 1024;
/// OID of `rsaEncryption`.
const OID_RSA: &str = "1.2.840.113549.1.1.1";
/// OID of `id-ecPublicKey`.
const OID_EC: &str = "1.2.840.10045.2.1";

/// The hash named by `Hash-Algorithm` (absent means SHA-1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum HashAlg {
    /// SHA-1, the default.
    Sha1,
    /// SHA-256 (`Hash-Algorithm=SHA256`).
    Sha256,
}

impl HashAlg {
    /// Parses a `Hash-Algorithm` value; exact, case-sensitive match (§13 choice 7).
    pub(crate) fn parse(value: Option<&str>) -> Option<HashAlg> {
        match value {
            None | Some("SHA1") => Some(HashAlg::Sha1),
            Some("SHA256") => Some(HashAlg::Sha256),
            Some(_) => None,
        }
    }
}

/// One parsed public key.
#[derive(Clone)]
pub(crate) enum PublicKey {
    /// RSA, 2048-bit modulus.
    Rsa(Box<rsa::RsaPublicKey>),
    /// ECDSA over NIST P-256.
    P256(Box<p256::ecdsa::VerifyingKey>),
}

/// A key plus the SHA-256 of its DER, so caches can tell two keys with one id apart.
#[derive(Clone)]
pub(crate) struct Entry {
    pub(crate) key: PublicKey,
    pub(crate) fingerprint: [u8; 32],
}

/// Parsed public keys by public-key id (`Key-Pair-Id`), hashed with the crate's `fold` hasher
/// rather than SipHash: the ring is looked up on every signed request, and only configuration
/// fills it.
#[derive(Clone, Default)]
pub struct KeyRing {
    keys: HashMap<String, Entry, BuildHasherDefault<FoldHasher>>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut ids: Vec<&String> = self.keys.keys().collect();
        ids.sort();
        f.debug_struct("KeyRing").field("ids", &ids).finish()
    }
}

impl KeyRing {
    /// An empty key ring.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses `pem` (a `-----BEGIN PUBLIC KEY-----` SubjectPublicKeyInfo) and adds it under
    /// `key_id`, replacing any key with that id. Errors name what is wrong with the key: only
    /// RSA-2048 and ECDSA P-256 keys are accepted, as CloudFront does.
    pub fn insert(&mut self, key_id: &str, pem: &str) -> Result<(), KeyError> {
        let der = pem_to_der(pem)?;
        let key = parse_spki(&der)?;
        let fingerprint = Sha256::digest(&der).into();
        self.keys
            .insert(key_id.to_owned(), Entry { key, fingerprint });
        Ok(())
    }

    /// Removes a key; returns whether it was present.
    pub fn remove(&mut self, key_id: &str) -> bool {
        self.keys.remove(key_id).is_some()
    }

    /// Number of keys held.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the ring holds no key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub(crate) fn get(&self, key_id: &str) -> Option<&Entry> {
        self.keys.get(key_id)
    }
}

/// Why a public key cannot be used; each says what would be accepted.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Longer than any PEM public key.
    #[error("the public key is {0} bytes long; a PEM public key is at most {MAX_PEM_LEN} bytes")]
    TooLong(usize),
    /// A PKCS#1 `RSA PUBLIC KEY` block.
    #[error(
        "the key is a PKCS#1 `RSA PUBLIC KEY`; CloudFront needs a SubjectPublicKeyInfo `PUBLIC KEY` PEM (openssl rsa -pubout)"
    )]
    Pkcs1,
    /// A private key.
    #[error("the key is a private key; upload only the public key (openssl pkey -pubout)")]
    Private,
    /// Not a PEM public key at all.
    #[error("the key is not a PEM public key: it must start with `-----BEGIN PUBLIC KEY-----`")]
    NotPem,
    /// No end line.
    #[error("the PEM public key does not end with `-----END PUBLIC KEY-----`")]
    NoEnd,
    /// The body is not base64.
    #[error("the PEM public key's base64 body is invalid: {0}")]
    Base64(base64::DecodeError),
    /// The DER is not a SubjectPublicKeyInfo.
    #[error("the public key is not a valid SubjectPublicKeyInfo: {0}")]
    NotSpki(String),
    /// An RSA key that cannot be read.
    #[error("the RSA public key is invalid: {0}")]
    Rsa(String),
    /// An RSA key of another size than 2048 bits.
    #[error("the RSA key has {0} bits; CloudFront accepts only RSA-2048 keys")]
    RsaBits(usize),
    /// An EC key on another curve.
    #[error(
        "the EC public key is not on P-256 (prime256v1); CloudFront accepts only ECDSA P-256 keys"
    )]
    NotP256,
    /// Another algorithm.
    #[error(
        "the public key's algorithm ({0}) is not supported; CloudFront accepts RSA-2048 and ECDSA P-256 keys"
    )]
    Algorithm(String),
}

/// Why a PEM block (a private key, for the signer) cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum PemBlockError {
    /// Longer than any PEM key.
    #[error("the key file is {0} bytes long; a PEM key is at most {MAX_PEM_LEN} bytes")]
    TooLong(usize),
    /// No begin line.
    #[error("the key is not PEM: no `-----BEGIN ...-----` line")]
    NoBegin,
    /// The begin line is not closed.
    #[error("the key's PEM `-----BEGIN` line is not closed with `-----`")]
    BeginNotClosed,
    /// No matching end line.
    #[error("the PEM block does not end with `{0}`")]
    NoEnd(String),
    /// An encrypted key.
    #[error(
        "the PEM key is encrypted (it has headers); decrypt it first (openssl pkey -in KEY -out PLAIN)"
    )]
    Encrypted,
    /// The body is not base64.
    #[error("the PEM key's base64 body is invalid: {0}")]
    Base64(base64::DecodeError),
}

/// Extracts the DER body of a single `PUBLIC KEY` PEM block.
fn pem_to_der(pem: &str) -> Result<Vec<u8>, KeyError> {
    if pem.len() > MAX_PEM_LEN {
        return Err(KeyError::TooLong(pem.len()));
    }
    const BEGIN: &str = "-----BEGIN PUBLIC KEY-----";
    const END: &str = "-----END PUBLIC KEY-----";
    let text = pem.trim();
    let Some(rest) = text.strip_prefix(BEGIN) else {
        if text.starts_with("-----BEGIN RSA PUBLIC KEY-----") {
            return Err(KeyError::Pkcs1);
        }
        if text.contains("PRIVATE KEY-----") {
            return Err(KeyError::Private);
        }
        return Err(KeyError::NotPem);
    };
    let Some(body) = rest.strip_suffix(END) else {
        return Err(KeyError::NoEnd);
    };
    let b64: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(b64.as_bytes())
        .map_err(KeyError::Base64)
}

/// Decodes the first PEM block of `pem` (any label, bounded like public keys) into its label
/// (`RSA PRIVATE KEY`, `PRIVATE KEY`, ...) and DER bytes. Used by the signer for private keys.
pub(crate) fn pem_block(pem: &str) -> Result<(String, Vec<u8>), PemBlockError> {
    if pem.len() > MAX_PEM_LEN {
        return Err(PemBlockError::TooLong(pem.len()));
    }
    let Some(start) = pem.find("-----BEGIN ") else {
        return Err(PemBlockError::NoBegin);
    };
    let rest = &pem[start + "-----BEGIN ".len()..];
    let Some(label_end) = rest.find("-----") else {
        return Err(PemBlockError::BeginNotClosed);
    };
    let label = &rest[..label_end];
    let body_and_end = &rest[label_end + 5..];
    let end_line = format!("-----END {label}-----");
    let Some(body_end) = body_and_end.find(&end_line) else {
        return Err(PemBlockError::NoEnd(end_line));
    };
    let body = &body_and_end[..body_end];
    if body.contains(':') {
        return Err(PemBlockError::Encrypted);
    }
    let b64: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64.as_bytes())
        .map_err(PemBlockError::Base64)?;
    Ok((label.to_owned(), der))
}

fn parse_spki(der: &[u8]) -> Result<PublicKey, KeyError> {
    let spki =
        SubjectPublicKeyInfoRef::try_from(der).map_err(|e| KeyError::NotSpki(e.to_string()))?;
    match spki.algorithm.oid.to_string().as_str() {
        OID_RSA => {
            let key = rsa::RsaPublicKey::from_public_key_der(der)
                .map_err(|e| KeyError::Rsa(e.to_string()))?;
            let bits = key.n().bits();
            if bits != 2048 {
                return Err(KeyError::RsaBits(bits));
            }
            Ok(PublicKey::Rsa(Box::new(key)))
        }
        OID_EC => {
            let key = p256::PublicKey::from_public_key_der(der).map_err(|_| KeyError::NotP256)?;
            Ok(PublicKey::P256(Box::new(key.into())))
        }
        other => Err(KeyError::Algorithm(other.to_owned())),
    }
}

/// Checks `signature` over `message` with `key` and `hash`. RSA: PKCS#1 v1.5; P-256: ASN.1 DER
/// ECDSA only (IEEE P1363 `r||s` is refused, §13 choice 9).
pub(crate) fn verify_signature(
    key: &PublicKey,
    hash: HashAlg,
    message: &[u8],
    signature: &[u8],
) -> bool {
    match key {
        PublicKey::Rsa(k) => match hash {
            HashAlg::Sha1 => k
                .verify(
                    rsa::Pkcs1v15Sign::new::<Sha1>(),
                    &Sha1::digest(message),
                    signature,
                )
                .is_ok(),
            HashAlg::Sha256 => k
                .verify(
                    rsa::Pkcs1v15Sign::new::<Sha256>(),
                    &Sha256::digest(message),
                    signature,
                )
                .is_ok(),
        },
        PublicKey::P256(k) => {
            let Ok(sig) = p256::ecdsa::Signature::from_der(signature) else {
                return false;
            };
            match hash {
                HashAlg::Sha1 => k.verify_prehash(&Sha1::digest(message), &sig).is_ok(),
                HashAlg::Sha256 => k.verify_prehash(&Sha256::digest(message), &sig).is_ok(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEMO_PUBLIC: &str = include_str!("../../tests/fixtures/signing/rsa-public.pem");
    const EC_PUBLIC: &str = include_str!("../../tests/fixtures/signing/ec-public.pem");
    const RSA1024_PUBLIC: &str = include_str!("../../tests/fixtures/signing/rsa1024-public.pem");
    const P384_PUBLIC: &str = include_str!("../../tests/fixtures/signing/p384-public.pem");

    #[test]
    fn accepts_rsa2048_and_p256() {
        let mut ring = KeyRing::new();
        ring.insert("KRSA", DEMO_PUBLIC).unwrap();
        ring.insert("KEC", EC_PUBLIC).unwrap();
        assert_eq!(ring.len(), 2);
        assert!(matches!(ring.get("KRSA").unwrap().key, PublicKey::Rsa(_)));
        assert!(matches!(ring.get("KEC").unwrap().key, PublicKey::P256(_)));
        assert!(ring.remove("KEC"));
        assert!(!ring.remove("KEC"));
    }

    #[test]
    fn refuses_other_keys_with_a_message() {
        let mut ring = KeyRing::new();
        let e = ring.insert("K", RSA1024_PUBLIC).unwrap_err().to_string();
        assert!(e.contains("1024 bits"), "{e}");
        let e = ring.insert("K", P384_PUBLIC).unwrap_err().to_string();
        assert!(e.contains("P-256"), "{e}");
        let e = ring.insert("K", "hello").unwrap_err().to_string();
        assert!(e.contains("BEGIN PUBLIC KEY"), "{e}");
        let e = ring
            .insert(
                "K",
                "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            )
            .unwrap_err()
            .to_string();
        assert!(e.contains("private key"), "{e}");
        let e = ring
            .insert(
                "K",
                "-----BEGIN PUBLIC KEY-----\n!!!\n-----END PUBLIC KEY-----",
            )
            .unwrap_err()
            .to_string();
        assert!(e.contains("base64"), "{e}");
        let e = ring
            .insert(
                "K",
                "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----",
            )
            .unwrap_err()
            .to_string();
        assert!(e.contains("SubjectPublicKeyInfo"), "{e}");
        assert!(ring.insert("K", &"A".repeat(MAX_PEM_LEN + 1)).is_err());
        assert!(ring.is_empty());
    }

    #[test]
    fn pem_block_reads_any_label_and_refuses_encrypted_keys() {
        let (label, der) = pem_block(DEMO_PUBLIC).unwrap();
        assert_eq!(label, "PUBLIC KEY");
        assert!(parse_spki(&der).is_ok());
        let (label, _) = pem_block(include_str!("../../keys/demo-private.pem")).unwrap();
        assert_eq!(label, "RSA PRIVATE KEY");
        let enc = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nAAAA\n-----END RSA PRIVATE KEY-----\n";
        assert!(
            pem_block(enc)
                .unwrap_err()
                .to_string()
                .contains("encrypted")
        );
        assert!(
            pem_block("-----BEGIN X-----\nAAAA\n")
                .unwrap_err()
                .to_string()
                .contains("END X")
        );
        assert!(pem_block("no pem").is_err());
        assert!(pem_block(&"A".repeat(MAX_PEM_LEN + 1)).is_err());
    }

    #[test]
    fn hash_algorithm_is_exact() {
        assert_eq!(HashAlg::parse(None), Some(HashAlg::Sha1));
        assert_eq!(HashAlg::parse(Some("SHA1")), Some(HashAlg::Sha1));
        assert_eq!(HashAlg::parse(Some("SHA256")), Some(HashAlg::Sha256));
        assert_eq!(HashAlg::parse(Some("sha256")), None);
        assert_eq!(HashAlg::parse(Some("SHA512")), None);
        assert_eq!(HashAlg::parse(Some("")), None);
    }
}
