//! Ed25519 key sets, kept as JSON Web Key Sets (RFC 7517/8037) so any JOSE tool can
//! read them. A set holds one or more keys, each named by its `kid`: the first key
//! that has its private half signs, every key verifies. Rotation is three steps, each
//! rolled out before the next: add a key (it verifies everywhere), promote it (it
//! signs; tokens of the old key still verify until they expire), retire the old one. A set without
//! private halves (what `public()` gives) can only verify: what a service that must
//! not mint people's tokens is given.

use std::fmt;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::AuthError;

/// One key of a set.
#[derive(Clone)]
struct Key {
    kid: String,
    verifying: VerifyingKey,
    signing: Option<SigningKey>,
}

/// An ordered set of Ed25519 keys. It never prints its private halves.
#[derive(Clone)]
pub struct KeySet {
    keys: Vec<Key>,
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kids: Vec<&str> = self.keys.iter().map(|k| k.kid.as_str()).collect();
        write!(f, "KeySet({kids:?}, private: {})", self.can_sign())
    }
}

/// A key as JSON (an OKP JWK on the Ed25519 curve).
#[derive(Serialize, Deserialize)]
struct Jwk {
    kty: String,
    crv: String,
    kid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    alg: Option<String>,
    #[serde(rename = "use", default, skip_serializing_if = "Option::is_none")]
    usage: Option<String>,
    x: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    d: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct Jwks {
    keys: Vec<Jwk>,
}

impl KeySet {
    /// A set of one fresh key.
    pub fn generate() -> Self {
        KeySet {
            keys: vec![fresh_key()],
        }
    }

    /// Whether this set can sign (it holds a private key).
    pub fn can_sign(&self) -> bool {
        self.keys.iter().any(|k| k.signing.is_some())
    }

    /// Whether a key of this set is also in `other`.
    pub fn shares_key_with(&self, other: &KeySet) -> bool {
        self.keys
            .iter()
            .any(|k| other.keys.iter().any(|o| o.verifying == k.verifying))
    }

    /// The key ids, the signing one first.
    pub fn kids(&self) -> Vec<String> {
        self.keys.iter().map(|k| k.kid.clone()).collect()
    }

    /// The same keys without their private halves.
    pub fn public(&self) -> Self {
        let keys = self
            .keys
            .iter()
            .map(|k| Key {
                signing: None,
                ..k.clone()
            })
            .collect();
        KeySet { keys }
    }

    /// Adds a fresh key after the others: it verifies from now on, and signs once
    /// promoted (so every process can verify it before anyone signs with it).
    pub fn add(&mut self) -> String {
        let key = fresh_key();
        let kid = key.kid.clone();
        self.keys.push(key);
        kid
    }

    /// Makes the key `kid` (one with its private half) the one that signs.
    pub fn promote(&mut self, kid: &str) -> Result<(), AuthError> {
        let at = self
            .keys
            .iter()
            .position(|k| k.kid == kid)
            .ok_or_else(|| AuthError::BadKey(format!("no key {kid:?} in the set")))?;
        if self.keys[at].signing.is_none() {
            return Err(AuthError::BadKey(format!(
                "key {kid:?} has no private half here"
            )));
        }
        let key = self.keys.remove(at);
        self.keys.insert(0, key);
        Ok(())
    }

    /// Removes the key `kid`; refused for the last key of the set.
    pub fn retire(&mut self, kid: &str) -> Result<(), AuthError> {
        let before = self.keys.len();
        if before == 1 {
            return Err(AuthError::BadKey("a key set keeps at least one key".into()));
        }
        self.keys.retain(|k| k.kid != kid);
        match self.keys.len() < before {
            true => Ok(()),
            false => Err(AuthError::BadKey(format!("no key {kid:?} in the set"))),
        }
    }

    /// Reads a set from its JWKS text.
    pub fn from_jwks(text: &str) -> Result<Self, AuthError> {
        let jwks: Jwks = serde_json::from_str(text)
            .map_err(|e| AuthError::BadKey(format!("not a JSON Web Key Set: {e}")))?;
        let keys = jwks
            .keys
            .into_iter()
            .map(key_from_jwk)
            .collect::<Result<Vec<Key>, AuthError>>()?;
        if keys.is_empty() {
            return Err(AuthError::BadKey("the key set is empty".into()));
        }
        let mut kids: Vec<&str> = keys.iter().map(|k| k.kid.as_str()).collect();
        kids.sort_unstable();
        kids.dedup();
        if kids.len() != keys.len() {
            return Err(AuthError::BadKey("two keys share a kid".into()));
        }
        Ok(KeySet { keys })
    }

    /// The set as JWKS text, private halves included when `private`.
    pub fn to_jwks(&self, private: bool) -> String {
        let keys = self
            .keys
            .iter()
            .map(|k| Jwk {
                kty: "OKP".into(),
                crv: "Ed25519".into(),
                kid: k.kid.clone(),
                alg: Some("EdDSA".into()),
                usage: Some("sig".into()),
                x: B64.encode(k.verifying.as_bytes()),
                d: k.signing
                    .as_ref()
                    .filter(|_| private)
                    .map(|s| B64.encode(s.to_bytes())),
            })
            .collect();
        serde_json::to_string_pretty(&Jwks { keys }).expect("a key set serializes")
    }

    /// Reads the set at `path`, or creates one (mode 0600) when the file does not
    /// exist. Returns the set and whether it was created now.
    pub fn load_or_create(path: &Path) -> Result<(Self, bool), AuthError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Ok((Self::from_jwks(&text)?, false)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let set = Self::generate();
                set.save_new(path)?;
                Ok((set, true))
            }
            Err(e) => Err(file_error(path, e)),
        }
    }

    /// Writes the set (private halves included) to `path`, replacing what is there.
    pub fn save(&self, path: &Path) -> Result<(), AuthError> {
        let temporary = path.with_extension("new");
        let _ = std::fs::remove_file(&temporary);
        write_private(&temporary, &self.to_jwks(true)).map_err(|e| file_error(path, e))?;
        std::fs::rename(&temporary, path).map_err(|e| file_error(path, e))
    }

    fn save_new(&self, path: &Path) -> Result<(), AuthError> {
        write_private(path, &self.to_jwks(true)).map_err(|e| file_error(path, e))
    }

    /// The id of the key that signs.
    pub(crate) fn signer_kid(&self) -> Option<&str> {
        let key = self.keys.iter().find(|k| k.signing.is_some())?;
        Some(key.kid.as_str())
    }

    /// The signing key's id and its signature of `input`.
    pub(crate) fn sign(&self, input: &[u8]) -> Option<(&str, Signature)> {
        let key = self.keys.iter().find(|k| k.signing.is_some())?;
        let signing = key.signing.as_ref()?;
        Some((key.kid.as_str(), signing.sign(input)))
    }

    /// Whether `signature` over `input` is from the key `kid` of this set.
    pub(crate) fn verify(&self, kid: &str, input: &[u8], signature: &[u8]) -> bool {
        let Some(key) = self.keys.iter().find(|k| k.kid == kid) else {
            return false;
        };
        let Ok(signature) = Signature::from_slice(signature) else {
            return false;
        };
        key.verifying.verify_strict(input, &signature).is_ok()
    }
}

fn fresh_key() -> Key {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).expect("the operating system has no random source");
    let signing = SigningKey::from_bytes(&seed);
    let verifying = signing.verifying_key();
    Key {
        kid: kid_of(&verifying),
        verifying,
        signing: Some(signing),
    }
}

/// A key's id: the start of its public key, so the same key always has the same id.
fn kid_of(key: &VerifyingKey) -> String {
    B64.encode(&key.as_bytes()[..12])
}

fn key_from_jwk(jwk: Jwk) -> Result<Key, AuthError> {
    let bad = |why: &str| AuthError::BadKey(format!("key {:?}: {why}", jwk.kid));
    if jwk.kty != "OKP" || jwk.crv != "Ed25519" {
        return Err(bad("only Ed25519 (kty OKP, crv Ed25519) keys are used"));
    }
    if jwk.kid.is_empty() || jwk.kid.len() > 64 {
        return Err(bad("the kid must be 1 to 64 characters"));
    }
    let x: [u8; 32] = decode32(&jwk.x).ok_or_else(|| bad("x is not 32 bytes of base64url"))?;
    let verifying = VerifyingKey::from_bytes(&x).map_err(|_| bad("x is not a curve point"))?;
    let signing = match &jwk.d {
        None => None,
        Some(d) => {
            let seed = decode32(d).ok_or_else(|| bad("d is not 32 bytes of base64url"))?;
            let signing = SigningKey::from_bytes(&seed);
            if signing.verifying_key() != verifying {
                return Err(bad("d does not belong to x"));
            }
            Some(signing)
        }
    };
    Ok(Key {
        kid: jwk.kid,
        verifying,
        signing,
    })
}

fn decode32(text: &str) -> Option<[u8; 32]> {
    B64.decode(text).ok()?.try_into().ok()
}

fn file_error(path: &Path, e: std::io::Error) -> AuthError {
    AuthError::KeyFile {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(contents.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_survives_its_json_and_its_public_half_only_verifies() {
        let set = KeySet::generate();
        let again = KeySet::from_jwks(&set.to_jwks(true)).expect("reads back");
        let (kid, signature) = again.sign(b"hello").expect("signs");
        assert!(set.verify(kid, b"hello", &signature.to_bytes()));
        let public = KeySet::from_jwks(&set.to_jwks(false)).expect("public");
        assert!(!public.can_sign());
        assert!(public.sign(b"x").is_none());
        assert!(public.verify(kid, b"hello", &signature.to_bytes()));
        assert!(!public.verify(kid, b"hellO", &signature.to_bytes()));
        let seed = set.keys[0].signing.as_ref().expect("private").to_bytes();
        assert!(
            !format!("{set:?}").contains(&B64.encode(seed)),
            "never printed"
        );
    }

    #[test]
    fn rotation_signs_with_the_new_key_and_still_verifies_the_old() {
        let mut set = KeySet::generate();
        let (old, before) = set
            .sign(b"t")
            .map(|(k, s)| (k.to_owned(), s))
            .expect("signs");
        let new = set.add();
        assert_eq!(
            set.sign(b"t").expect("signs").0,
            old,
            "added, not yet signing"
        );
        let mut promoted = set.clone();
        promoted.promote(&new).expect("promoted");
        let (_, by_new) = promoted.sign(b"t").expect("signs");
        assert!(
            set.verify(&new, b"t", &by_new.to_bytes()),
            "verified before it signs"
        );
        assert!(
            set.public().promote(&new).is_err(),
            "a public key cannot sign"
        );
        set.promote(&new).expect("promoted");
        assert_eq!(set.sign(b"t").expect("signs").0, new);
        assert!(set.verify(&old, b"t", &before.to_bytes()));
        set.retire(&old).expect("retired");
        assert!(!set.verify(&old, b"t", &before.to_bytes()));
        assert!(set.retire(&new).is_err(), "the last key stays");
    }

    #[test]
    fn broken_sets_are_refused_with_a_reason() {
        for text in [
            "",
            r#"{"keys":[]}"#,
            r#"{"keys":[{"kty":"RSA","crv":"Ed25519","kid":"a","x":"AA"}]}"#,
            r#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"a","x":"AA"}]}"#,
            // Multibyte text anywhere is refused, not panicked on.
            "ключ",
            r#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"ключ-€","x":"жжжж"}]}"#,
            r#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"a","x":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","d":"€€€"}]}"#,
            format!(
                r#"{{"keys":[{{"kty":"OKP","crv":"Ed25519","kid":"{}","x":"AA"}}]}}"#,
                "я".repeat(40)
            )
            .as_str(),
        ] {
            assert!(
                matches!(KeySet::from_jwks(text), Err(AuthError::BadKey(_))),
                "{text}"
            );
        }
        let one = KeySet::generate();
        let mut other = KeySet::from_jwks(&KeySet::generate().to_jwks(true)).expect("set");
        other.keys[0].verifying = one.keys[0].verifying;
        assert!(
            KeySet::from_jwks(&other.to_jwks(true)).is_err(),
            "d of another x"
        );
    }

    #[test]
    fn the_key_file_is_created_once_and_reused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("people.jwks");
        let (first, created) = KeySet::load_or_create(&path).expect("create");
        assert!(created);
        let (second, created) = KeySet::load_or_create(&path).expect("load");
        assert!(!created);
        assert_eq!(first.kids(), second.kids());
        assert!(second.can_sign());
    }
}
