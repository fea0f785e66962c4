//! Access tokens: HS256 JWTs with a pinned algorithm, `kid`-selected keys (several verify, the
//! first signs, so keys rotate without logging anyone out) and checked `iss`, `aud`, `exp`,
//! `nbf`, `iat` and `sub`. Revoked tokens (deactivation, logout, a replayed refresh token) are
//! refused by `super::revocation`, from the `sub`, `sid` and issue time claims.

use std::collections::HashMap;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::ids::{UnitId, UserId};
use crate::domain::role::Role;

const ALGORITHM: Algorithm = Algorithm::HS256;
const MIN_SECRET_BYTES: usize = 32;
/// Marks access tokens; nothing else we issue is a JWT, but the claim keeps it explicit.
const ACCESS_TOKEN_TYPE: &str = "access";

/// The claims of an access token. Role and scope travel in the token so that authorising a
/// request needs no database round trip; tokens are short-lived, so a role change takes effect
/// within `LIUYAN_ACCESS_TOKEN_TTL`. Revocations take effect within seconds
/// (`super::revocation`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    pub sub: UserId,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    pub jti: Uuid,
    pub typ: String,
    /// The login (refresh-token family) the token was issued to; absent for integration
    /// clients, which have no logins. Logging out revokes the login's tokens by this id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<Uuid>,
    /// The issue time in milliseconds since the epoch (`iat` has whole seconds): revoking an
    /// account's tokens "issued up to now" must not catch a login a moment later.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat_ms: Option<i64>,
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<UnitId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Integration clients: the granted scopes, space-separated (RFC 8693 `scope`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// What an access token is issued for.
pub struct Subject {
    pub user_id: UserId,
    pub role: Role,
    pub unit_id: Option<UnitId>,
    pub scope_region: Option<String>,
    /// Integration clients' scopes (empty for people).
    pub scopes: Vec<crate::domain::client_scope::ClientScope>,
    /// The login (refresh-token family), for people.
    pub session_id: Option<Uuid>,
}

impl Claims {
    /// When the token was issued, in milliseconds since the epoch (from `iat` when the token
    /// has no `iat_ms`: the start of that second).
    pub fn issued_at_ms(&self) -> i64 {
        self.iat_ms.unwrap_or(self.iat.saturating_mul(1000))
    }
}

pub struct JwtKeys {
    signing_kid: String,
    encoding: EncodingKey,
    decoding: HashMap<String, DecodingKey>,
    validation: Validation,
    issuer: String,
    audience: String,
    pub access_ttl_secs: i64,
}

/// Parse `kid:secret,kid:secret`.
pub fn parse_key_list(list: &str) -> anyhow::Result<Vec<(String, String)>> {
    let keys: Vec<(String, String)> = list
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|pair| {
            let (kid, secret) = pair
                .split_once(':')
                .ok_or_else(|| anyhow::anyhow!("LIUYAN_JWT_KEYS entries are `kid:secret`"))?;
            if kid.is_empty() || secret.len() < MIN_SECRET_BYTES {
                anyhow::bail!(
                    "LIUYAN_JWT_KEYS: key `{kid}` needs a non-empty kid and a secret of at least \
                     {MIN_SECRET_BYTES} bytes"
                );
            }
            Ok((kid.to_owned(), secret.to_owned()))
        })
        .collect::<anyhow::Result<_>>()?;
    if keys.is_empty() {
        anyhow::bail!("LIUYAN_JWT_KEYS is empty");
    }
    Ok(keys)
}

/// The estimated entropy `production` asks of every signing secret (see [`secret_weakness`]).
pub const MIN_SECRET_BITS: f64 = 128.0;

/// Why `secret` is too weak to sign tokens in production, if it is. The floor (README,
/// configuration): at least 32 bytes; not one block repeated (`abcabc…`); not mostly runs of
/// equal or consecutive characters (`aaaa…`, `abcd…`); and an estimated entropy of at least
/// 128 bits, estimated as the length times the Shannon entropy of the secret's own byte
/// frequencies (a random 32-byte secret in base64, 44 characters, gives about 215 bits; 32 hex
/// characters, 16 random bytes, about 116, so use more). The estimate cannot see every pattern: generate secrets
/// (`openssl rand -base64 48`), never invent them.
pub fn secret_weakness(secret: &str) -> Option<String> {
    let b = secret.as_bytes();
    if b.len() < MIN_SECRET_BYTES {
        return Some(format!("it is shorter than {MIN_SECRET_BYTES} bytes"));
    }
    if let Some(p) = (1..=b.len() / 2).find(|&p| b.iter().zip(&b[p..]).all(|(x, y)| x == y)) {
        return Some(format!("it repeats a block of {p} bytes"));
    }
    let steps = b.windows(2).filter(|w| w[0].abs_diff(w[1]) <= 1).count();
    if steps * 2 > b.len() - 1 {
        return Some("it is mostly runs of equal or consecutive characters".into());
    }
    let bits = estimated_entropy_bits(b);
    if bits < MIN_SECRET_BITS {
        return Some(format!(
            "its estimated entropy is {bits:.0} bits, below {MIN_SECRET_BITS:.0}"
        ));
    }
    None
}

/// Length times the Shannon entropy (bits per byte) of the bytes' own frequencies.
fn estimated_entropy_bits(b: &[u8]) -> f64 {
    let mut counts = [0usize; 256];
    for &x in b {
        counts[usize::from(x)] += 1;
    }
    let n = b.len() as f64;
    let per_byte: f64 = counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / n;
            -p * p.log2()
        })
        .sum();
    per_byte * n
}

/// Why a token does not verify. For the log only (at debug level): clients are told a fixed
/// sentence ([`TokenError::client_detail`]), never a parser's words.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the access token is malformed")]
    Malformed,
    #[error("the access token has no key id or an unknown one")]
    UnknownKey,
    #[error("the access token has expired")]
    Expired,
    #[error("the access token is invalid: {0}")]
    Invalid(String),
}

/// What a client is told about a token that does not verify (other than an expired one).
pub const NOT_VALID: &str = "the access token is not valid";
/// What a client is told about an expired token (it may refresh).
pub const EXPIRED: &str = "the access token has expired";

impl TokenError {
    /// The fixed `detail` of the 401.
    pub fn client_detail(&self) -> &'static str {
        match self {
            TokenError::Expired => EXPIRED,
            _ => NOT_VALID,
        }
    }
}

impl JwtKeys {
    pub fn new(
        key_list: &str,
        issuer: &str,
        audience: &str,
        access_ttl_secs: u64,
    ) -> anyhow::Result<Self> {
        let keys = parse_key_list(key_list)?;
        let (signing_kid, signing_secret) = keys[0].clone();
        let decoding = keys
            .iter()
            .map(|(kid, secret)| (kid.clone(), DecodingKey::from_secret(secret.as_bytes())))
            .collect();
        let mut validation = Validation::new(ALGORITHM);
        validation.algorithms = vec![ALGORITHM];
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iat", "nbf", "sub", "iss", "aud"]);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.leeway = 30;
        Ok(Self {
            signing_kid,
            encoding: EncodingKey::from_secret(signing_secret.as_bytes()),
            decoding,
            validation,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            access_ttl_secs: i64::try_from(access_ttl_secs).unwrap_or(900),
        })
    }

    pub fn issue(&self, subject: &Subject) -> anyhow::Result<String> {
        let now_ms = chrono::Utc::now().timestamp_millis();
        let now = now_ms.div_euclid(1000);
        let claims = Claims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: subject.user_id,
            exp: now + self.access_ttl_secs,
            iat: now,
            nbf: now,
            jti: Uuid::new_v4(),
            typ: ACCESS_TOKEN_TYPE.to_owned(),
            sid: subject.session_id,
            iat_ms: Some(now_ms),
            role: subject.role,
            unit: subject.unit_id,
            // Only roles that work in a region carry one (an old scope on unit staff is inert).
            region: subject
                .role
                .works_in_region()
                .then(|| subject.scope_region.clone())
                .flatten(),
            scope: (!subject.scopes.is_empty())
                .then(|| crate::domain::client_scope::format_list(&subject.scopes)),
        };
        let mut header = Header::new(ALGORITHM);
        header.kid = Some(self.signing_kid.clone());
        Ok(jsonwebtoken::encode(&header, &claims, &self.encoding)?)
    }

    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        if header.alg != ALGORITHM {
            return Err(TokenError::Invalid("unexpected algorithm".into()));
        }
        let key = header
            .kid
            .as_deref()
            .and_then(|kid| self.decoding.get(kid))
            .ok_or(TokenError::UnknownKey)?;
        let data =
            jsonwebtoken::decode::<Claims>(token, key, &self.validation).map_err(|e| {
                match e.kind() {
                    jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                    other => TokenError::Invalid(format!("{other:?}")),
                }
            })?;
        if data.claims.typ != ACCESS_TOKEN_TYPE {
            return Err(TokenError::Invalid("not an access token".into()));
        }
        Ok(data.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str = "k1:0123456789abcdef0123456789abcdef";
    const K2: &str = "k2:fedcba9876543210fedcba9876543210";

    fn subject() -> Subject {
        Subject {
            user_id: UserId::new(),
            role: Role::Admin,
            unit_id: None,
            scope_region: None,
            scopes: Vec::new(),
            session_id: Some(Uuid::now_v7()),
        }
    }

    #[test]
    fn round_trip() {
        let keys = JwtKeys::new(K1, "liuyan", "api", 60).unwrap();
        let subject = subject();
        let token = keys.issue(&subject).unwrap();
        let claims = keys.verify(&token).unwrap();
        assert_eq!(claims.role, Role::Admin);
        assert_eq!(claims.sid, subject.session_id);
        let ms = claims.issued_at_ms();
        assert_eq!(ms.div_euclid(1000), claims.iat, "iat_ms agrees with iat");
    }

    #[test]
    fn clients_learn_fixed_sentences_only() {
        let keys = JwtKeys::new(K1, "liuyan", "api", 60).unwrap();
        let token = keys.issue(&subject()).unwrap();
        // A token whose payload is not our claims: the parser's words stay in the error.
        let other = JwtKeys::new(K1, "liuyan", "other-api", 60).unwrap();
        let err = other.verify(&token).unwrap_err();
        assert_eq!(err.client_detail(), NOT_VALID);
        assert_eq!(TokenError::Malformed.client_detail(), NOT_VALID);
        assert_eq!(
            TokenError::Invalid("Json(Error(\"missing field `typ`\"))".into()).client_detail(),
            NOT_VALID
        );
        assert_eq!(TokenError::Expired.client_detail(), EXPIRED);
    }

    #[test]
    fn old_key_still_verifies_after_rotation() {
        let old = JwtKeys::new(K1, "liuyan", "api", 60).unwrap();
        let token = old.issue(&subject()).unwrap();
        let rotated = JwtKeys::new(&format!("{K2},{K1}"), "liuyan", "api", 60).unwrap();
        assert!(rotated.verify(&token).is_ok());
        let retired = JwtKeys::new(K2, "liuyan", "api", 60).unwrap();
        assert!(matches!(
            retired.verify(&token),
            Err(TokenError::UnknownKey)
        ));
    }

    #[test]
    fn the_strength_floor_refuses_patterns_and_low_entropy() {
        for weak in [
            "short",
            &"k".repeat(64),
            "0123456789abcdef0123456789abcdef",
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
            "abababababababababababababababababab",
            "passwordpassword1passwordpassword1",
            // 32 hex digits of a real random value: 128 bits at most, estimated about 117.
            "9f3a1c07e2b84d6650aa1f93c7d2e8b4",
        ] {
            assert!(secret_weakness(weak).is_some(), "{weak} passes");
        }
        for strong in [
            // `openssl rand -base64 32` and `-base64 48`, `openssl rand -hex 32`.
            "q3Nf0yZ8vR2mKd7LxA1pWt9sHc4uJe6bGi5oYnQ+Vk0=",
            "Yw2D6r+Jm9LpQ0sXb4Tn8Vc1Ke7Hf3Gz5Aa0Rj/Uo2Ni6Mq9Ps3Lt8Ex1Wy4Zd7",
            "4b9c2e17f0a85d36e1c74b08a92f5d6c3e0b17a49f82d65c0e3a71b48f29d506",
        ] {
            assert_eq!(secret_weakness(strong), None, "{strong}");
        }
    }

    #[test]
    fn short_secrets_are_refused() {
        assert!(JwtKeys::new("k:short", "i", "a", 60).is_err());
        assert!(JwtKeys::new("", "i", "a", 60).is_err());
        assert!(JwtKeys::new("nocolon", "i", "a", 60).is_err());
    }
}
