//! Legacy CloudFront key pairs (`[[key_pairs]]` in the config file): the public halves of the
//! `APKA…` key pairs that an AWS account's root user created for signed URLs and cookies before
//! key groups existed. A cache behavior whose `TrustedSigners` lists an account (`self` or its
//! 12-digit number) accepts URLs and cookies signed with that account's key pairs, with the key
//! pair id as `Key-Pair-Id`.
//!
//! ```toml
//! [[key_pairs]]
//! id = "APKAEIBAERJR2EXAMPLE"
//! public_key_file = "keys/legacy-public.pem"   # or public_key = "-----BEGIN PUBLIC KEY-----…"
//! account = "self"                             # or a 12-digit account id; default self
//! ```
//!
//! Key pairs are fixed at start-up (CloudFront's API cannot manage them either). They go into the
//! edge's key ring next to the public keys of key groups; a behavior trusts the union of its key
//! groups' keys and its trusted accounts' key pairs. A behavior whose trusted accounts own no
//! declared key pair trusts no key at all, so it denies every request ([`unowned_signers`] names
//! such behaviors for the load warning).

use std::path::{Path, PathBuf};

use crate::auth::KeyRing;
use crate::model::{CacheBehavior, DistributionConfig};

/// The owner of a key pair or an entry of `TrustedSigners`: the configured account or a number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Account {
    /// `self`: the account edgegate runs as (`--account-id`).
    SelfAccount,
    /// A 12-digit AWS account id.
    Id(String),
}

impl Account {
    /// Parses `self` or a 12-digit account id.
    pub fn parse(s: &str) -> Result<Self, KeyPairError> {
        if s == "self" {
            Ok(Account::SelfAccount)
        } else if s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Account::Id(s.to_owned()))
        } else {
            Err(KeyPairError::BadAccount(s.to_owned()))
        }
    }

    /// The 12-digit id, `self` resolved to `self_account`.
    pub fn resolve<'a>(&'a self, self_account: &'a str) -> &'a str {
        match self {
            Account::SelfAccount => self_account,
            Account::Id(id) => id,
        }
    }
}

/// One declared key pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPair {
    /// The key pair id, sent as `Key-Pair-Id` (`APKA…`).
    pub id: String,
    /// The owning account.
    pub account: Account,
    /// The public key, a PEM SubjectPublicKeyInfo (RSA-2048 or ECDSA P-256).
    pub public_key: String,
}

/// What is wrong with a `[[key_pairs]]` entry.
#[derive(Debug, thiserror::Error)]
pub enum KeyPairError {
    /// No `id`.
    #[error("id is required (the key pair id, such as APKAEIBAERJR2EXAMPLE)")]
    MissingId,
    /// An id the verifier would never match.
    #[error("id {0:?} must be 1 to 128 letters, digits, '-' or '_' (such as APKAEIBAERJR2EXAMPLE)")]
    BadId(String),
    /// The same id declared twice, or also declared as a public key.
    #[error("id {0:?} is declared more than once (key pairs and public keys share one namespace)")]
    Duplicate(String),
    /// Neither `public_key` nor `public_key_file`.
    #[error("give the public key as public_key (PEM text) or public_key_file (a PEM file)")]
    MissingKey,
    /// Both `public_key` and `public_key_file`.
    #[error("give public_key or public_key_file, not both")]
    BothKeys,
    /// `public_key_file` cannot be read.
    #[error("public_key_file {}: {source}", path.display())]
    ReadFile {
        /// The file as resolved against the config file's directory.
        path: PathBuf,
        /// Why it could not be read.
        source: std::io::Error,
    },
    /// The key does not parse or is not a kind CloudFront accepts.
    #[error("the public key cannot verify signatures: {0}")]
    BadKey(#[source] crate::auth::KeyError),
    /// `account` is neither `self` nor 12 digits.
    #[error("account {0:?} must be self or a 12-digit AWS account id")]
    BadAccount(String),
    /// A field that is not a string.
    #[error("{0} must be a string")]
    NotAString(String),
    /// A field edgegate does not know.
    #[error("unknown field {0} (known: id, public_key, public_key_file, account)")]
    UnknownField(String),
}

/// Every declared key pair, in declaration order, ids unique.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyPairs {
    pairs: Vec<KeyPair>,
}

impl KeyPairs {
    /// Adds a key pair; refuses an id already present.
    pub fn push(&mut self, pair: KeyPair) -> Result<(), KeyPairError> {
        if self.get(&pair.id).is_some() {
            return Err(KeyPairError::Duplicate(pair.id));
        }
        self.pairs.push(pair);
        Ok(())
    }

    /// The key pair with this id.
    pub fn get(&self, id: &str) -> Option<&KeyPair> {
        self.pairs.iter().find(|p| p.id == id)
    }

    /// Every key pair.
    pub fn iter(&self) -> impl Iterator<Item = &KeyPair> {
        self.pairs.iter()
    }

    /// Number of key pairs.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Whether none is declared.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// The ids of the key pairs owned by `account` (an entry of `TrustedSigners`), `self` on
    /// either side meaning `self_account`.
    pub fn ids_of(&self, account: &str, self_account: &str) -> Vec<String> {
        let wanted = if account == "self" {
            self_account
        } else {
            account
        };
        self.pairs
            .iter()
            .filter(|p| p.account.resolve(self_account) == wanted)
            .map(|p| p.id.clone())
            .collect()
    }

    /// The key pair ids a behavior's `TrustedSigners` trusts (none when it is disabled).
    pub fn trusted_by(&self, b: &CacheBehavior, self_account: &str) -> Vec<String> {
        if !b.trusted_signers.enabled {
            return Vec::new();
        }
        let mut ids = Vec::new();
        for a in &b.trusted_signers.items {
            for id in self.ids_of(a, self_account) {
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
        }
        ids
    }

    /// Adds every key pair's public key to `ring`.
    pub fn load_into(&self, ring: &mut KeyRing) -> Result<(), KeyPairError> {
        for p in &self.pairs {
            ring.insert(&p.id, &p.public_key)
                .map_err(KeyPairError::BadKey)?;
        }
        Ok(())
    }
}

/// Decodes one `[[key_pairs]]` table; `base` is the directory `public_key_file` is relative to.
/// Duplicates are checked by [`KeyPairs::push`].
pub fn decode(table: &toml::Table, base: &Path) -> Result<KeyPair, KeyPairError> {
    let text = |k: &str| -> Result<Option<&str>, KeyPairError> {
        match table.get(k) {
            None => Ok(None),
            Some(toml::Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(KeyPairError::NotAString(k.to_owned())),
        }
    };
    if let Some(k) = table.keys().find(|k| {
        !matches!(
            k.as_str(),
            "id" | "public_key" | "public_key_file" | "account"
        )
    }) {
        return Err(KeyPairError::UnknownField(k.clone()));
    }
    let id = text("id")?.ok_or(KeyPairError::MissingId)?;
    if id.is_empty()
        || id.len() > 128
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(KeyPairError::BadId(id.to_owned()));
    }
    let public_key = match (text("public_key")?, text("public_key_file")?) {
        (Some(_), Some(_)) => return Err(KeyPairError::BothKeys),
        (None, None) => return Err(KeyPairError::MissingKey),
        (Some(pem), None) => pem.to_owned(),
        (None, Some(file)) => {
            let path = base.join(file);
            std::fs::read_to_string(&path)
                .map_err(|source| KeyPairError::ReadFile { path, source })?
        }
    };
    KeyRing::new()
        .insert(id, &public_key)
        .map_err(KeyPairError::BadKey)?;
    let account = Account::parse(text("account")?.unwrap_or("self"))?;
    Ok(KeyPair {
        id: id.to_owned(),
        account,
        public_key,
    })
}

/// For each behavior of `cfg` whose `TrustedSigners` is enabled but whose accounts own no key
/// pair in `pairs`: its path in the config (`DefaultCacheBehavior`,
/// `CacheBehaviors.Items[2]`), its path pattern and its accounts. Such a behavior trusts no key
/// and denies every request.
pub fn unowned_signers(
    cfg: &DistributionConfig,
    pairs: &KeyPairs,
    self_account: &str,
) -> Vec<UnownedSigners> {
    let all = std::iter::once((
        "DefaultCacheBehavior".to_owned(),
        &cfg.default_cache_behavior,
    ))
    .chain(
        cfg.cache_behaviors
            .iter()
            .enumerate()
            .map(|(i, b)| (format!("CacheBehaviors.Items[{i}]"), b)),
    );
    all.filter(|(_, b)| b.trusted_signers.enabled && pairs.trusted_by(b, self_account).is_empty())
        .map(|(path, b)| UnownedSigners {
            path,
            path_pattern: b.path_pattern.clone(),
            accounts: b.trusted_signers.items.clone(),
        })
        .collect()
}

/// A behavior that trusts signers none of whom owns a declared key pair (see
/// [`unowned_signers`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnownedSigners {
    /// Where the behavior is in the `DistributionConfig`.
    pub path: String,
    /// Its path pattern (`*` for the default behavior).
    pub path_pattern: String,
    /// The accounts its `TrustedSigners` lists.
    pub accounts: Vec<String>,
}

impl std::fmt::Display for UnownedSigners {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}.TrustedSigners (path pattern {}): no declared key pair ([[key_pairs]]) belongs to \
             the trusted account(s) {}, so no signature can be verified and every request to this \
             behavior is denied with 403",
            self.path,
            self.path_pattern,
            self.accounts.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEM: &str = include_str!("../../tests/fixtures/signing/rsa-public.pem");

    fn table(text: &str) -> toml::Table {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn decodes_and_reports_each_problem() {
        let base = Path::new(env!("CARGO_MANIFEST_DIR"));
        let ok = decode(
            &table(
                "id = \"APKAEXAMPLE1\"\npublic_key_file = \"tests/fixtures/signing/rsa-public.pem\"",
            ),
            base,
        )
        .unwrap();
        assert_eq!(ok.account, Account::SelfAccount);
        assert_eq!(ok.public_key, PEM);
        let err = |t: &str| decode(&table(t), base).unwrap_err().to_string();
        assert!(err("public_key = \"x\"").contains("id is required"));
        assert!(err("id = \"A B\"\npublic_key = \"x\"").contains("letters, digits"));
        assert!(err("id = \"A\"").contains("public_key_file"));
        assert!(
            err("id = \"A\"\npublic_key = \"x\"\npublic_key_file = \"y\"").contains("not both")
        );
        assert!(err("id = \"A\"\npublic_key_file = \"nope.pem\"").contains("nope.pem"));
        assert!(err("id = \"A\"\npublic_key = \"hello\"").contains("BEGIN PUBLIC KEY"));
        let bad_account = format!("id = \"A\"\npublic_key = '''{PEM}'''\naccount = \"12\"");
        assert!(err(&bad_account).contains("12-digit"));
        assert!(err("id = \"A\"\nkey = \"x\"").contains("unknown field key"));
        assert!(err("id = 5").contains("id must be a string"));
    }

    #[test]
    fn accounts_match_with_self_resolved() {
        let mut pairs = KeyPairs::default();
        let pair = |id: &str, account: Account| KeyPair {
            id: id.into(),
            account,
            public_key: PEM.into(),
        };
        pairs.push(pair("APKA1", Account::SelfAccount)).unwrap();
        pairs
            .push(pair("APKA2", Account::Id("111122223333".into())))
            .unwrap();
        assert!(matches!(
            pairs.push(pair("APKA1", Account::SelfAccount)),
            Err(KeyPairError::Duplicate(_))
        ));
        let me = "000000000000";
        assert_eq!(pairs.ids_of("self", me), ["APKA1"]);
        assert_eq!(pairs.ids_of(me, me), ["APKA1"]);
        assert_eq!(pairs.ids_of("111122223333", me), ["APKA2"]);
        assert!(pairs.ids_of("999999999999", me).is_empty());
        let mut ring = KeyRing::new();
        pairs.load_into(&mut ring).unwrap();
        assert_eq!(ring.len(), 2);
    }
}
