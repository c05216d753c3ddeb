//! The few cryptographic operations the account functions need, in one reviewable place:
//! keyed hashing of one-time codes, session tokens, argon2id password hashing and constant-time
//! comparison.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::domain::{Code, Email, Purpose};

type HmacSha256 = Hmac<Sha256>;

/// The secret key for code hashing and local URL signing (at least 32 bytes). `Debug` hides it.
#[derive(Clone)]
pub struct SecretKey(Vec<u8>);

impl SecretKey {
    pub const MIN_LEN: usize = 32;

    /// Wraps key material; `None` when it is shorter than [`Self::MIN_LEN`] bytes.
    pub fn new(bytes: Vec<u8>) -> Option<Self> {
        (bytes.len() >= Self::MIN_LEN).then_some(SecretKey(bytes))
    }

    /// A fresh random 256-bit key.
    pub fn generate() -> Self {
        let mut k = vec![0u8; 32];
        OsRng.fill_bytes(&mut k);
        SecretKey(k)
    }

    pub fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// HMAC-SHA256 of `parts`, each length-prefixed so that concatenations cannot collide.
    pub fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC accepts any key length");
        for p in parts {
            mac.update(&(p.len() as u64).to_be_bytes());
            mac.update(p);
        }
        mac.finalize().into_bytes().into()
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

/// The stored form of a one-time code: HMAC(key, "code" ‖ purpose ‖ email ‖ code). Binding the
/// purpose and email means a code for one account or purpose is worthless for another, and the
/// key means a leaked table cannot be brute-forced over the million possible codes.
pub fn code_hash(key: &SecretKey, purpose: Purpose, email: &Email, code: &Code) -> [u8; 32] {
    key.mac(&[
        b"code",
        purpose.as_str().as_bytes(),
        email.as_str().as_bytes(),
        code.as_str().as_bytes(),
    ])
}

/// Constant-time equality of two digests.
pub fn digest_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// A new session token (256 random bits, base64url) and the SHA-256 we store.
pub fn new_session_token() -> (String, [u8; 32]) {
    let mut raw = [0u8; 32];
    OsRng.fill_bytes(&mut raw);
    let token = URL_SAFE_NO_PAD.encode(raw);
    let hash = session_token_hash(&token);
    (token, hash)
}

/// SHA-256 of the cookie value. A plain hash suffices: the token has 256 bits of entropy.
pub fn session_token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// argon2id with the crate's defaults (19 MiB, t=2, p=1), as a PHC string. CPU-heavy: call from
/// `spawn_blocking`.
pub fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)?
        .to_string())
}

/// Verifies `password` against a PHC string; false on mismatch or unparsable hash.
pub fn verify_password(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A valid argon2id hash of a random password, verified against when the email is unknown so a
/// login costs the same either way.
pub fn dummy_password_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| {
        let mut raw = [0u8; 16];
        OsRng.fill_bytes(&mut raw);
        hash_password(&hex::encode(raw)).expect("argon2 default params are valid")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SecretKey {
        SecretKey::new(vec![7u8; 32]).unwrap()
    }

    #[test]
    fn short_keys_are_refused() {
        assert!(SecretKey::new(vec![0u8; 31]).is_none());
        assert!(!format!("{:?}", key()).contains('7'));
    }

    #[test]
    fn code_hash_binds_key_purpose_email_and_code() {
        let e = Email::parse("jane@example.org").unwrap();
        let other = Email::parse("john@example.org").unwrap();
        let c = Code::parse("123456").unwrap();
        let h = code_hash(&key(), Purpose::Signup, &e, &c);
        assert_eq!(h, code_hash(&key(), Purpose::Signup, &e, &c));
        assert_ne!(h, code_hash(&key(), Purpose::Reset, &e, &c));
        assert_ne!(h, code_hash(&key(), Purpose::Signup, &other, &c));
        assert_ne!(
            h,
            code_hash(&key(), Purpose::Signup, &e, &Code::parse("123457").unwrap())
        );
        let other_key = SecretKey::new(vec![8u8; 32]).unwrap();
        assert_ne!(h, code_hash(&other_key, Purpose::Signup, &e, &c));
    }

    #[test]
    fn digest_eq_compares_whole_values() {
        assert!(digest_eq(&[1, 2, 3], &[1, 2, 3]));
        assert!(!digest_eq(&[1, 2, 3], &[1, 2, 4]));
        assert!(!digest_eq(&[1, 2, 3], &[1, 2]));
    }

    #[test]
    fn session_tokens_are_random_and_hashed() {
        let (t1, h1) = new_session_token();
        let (t2, h2) = new_session_token();
        assert_ne!(t1, t2);
        assert_ne!(h1, h2);
        assert_eq!(URL_SAFE_NO_PAD.decode(&t1).unwrap().len(), 32);
        assert_eq!(session_token_hash(&t1), h1);
    }

    #[test]
    fn argon2id_round_trip() {
        let phc = hash_password("Tr0ub4dor&3-Horse").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify_password("Tr0ub4dor&3-Horse", &phc));
        assert!(!verify_password("Tr0ub4dor&3-horse", &phc));
        assert!(!verify_password("x", "not a hash"));
        assert!(!verify_password("x", dummy_password_hash()));
    }
}
