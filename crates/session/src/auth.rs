//! Handshake authentication (PROTOCOL.md §3): `disabled` accepts anyone, `jwt`
//! verifies the handshake's `token`.
//!
//! The clock is a parameter (`now_unix_s`) so that expiry is testable and the
//! whole check stays sans-IO; the library's own clock-based `exp` check is off.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::Value;

use crate::config::{AuthConfig, JwtConfig};
use crate::error::{AuthError, SessionError, snippet};
use arbiter_protocol::ErrorCode;

/// The longest `sub` claim accepted, in bytes. The user id travels in presence
/// frames to every member of a room, so it is kept small.
pub const MAX_USER_ID_LEN: usize = 256;

/// Who a handshake authenticated as.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Identity {
    /// The token's `sub` claim; `None` when auth is disabled.
    pub user_id: Option<String>,
    /// The project the session belongs to (the handshake's `project_id`, equal
    /// to the token's claim in `jwt` mode). Everything of a session is scoped
    /// to it.
    pub project_id: String,
}

/// Checks handshake tokens against the server's [`AuthConfig`]. Build it once
/// at startup ([`Verifier::new`] fails on an unusable key) and share it.
#[derive(Clone)]
pub struct Verifier {
    mode: Mode,
}

#[derive(Clone)]
enum Mode {
    Disabled,
    Jwt(Keys),
}

#[derive(Clone)]
struct Keys {
    hs256: Option<DecodingKey>,
    eddsa: Option<DecodingKey>,
    leeway_secs: u64,
}

impl fmt::Debug for Verifier {
    // Never prints key material.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.mode {
            Mode::Disabled => f.write_str("Verifier(disabled)"),
            Mode::Jwt(keys) => f
                .debug_struct("Verifier")
                .field("hs256", &keys.hs256.is_some())
                .field("eddsa", &keys.eddsa.is_some())
                .field("leeway_secs", &keys.leeway_secs)
                .finish(),
        }
    }
}

/// The claims this server reads, kept loose so that each problem gets its own
/// reason instead of a generic parse error.
#[derive(Deserialize)]
struct RawClaims {
    #[serde(default)]
    sub: Option<Value>,
    #[serde(default)]
    project_id: Option<Value>,
    #[serde(default)]
    exp: Option<Value>,
    #[serde(default)]
    nbf: Option<Value>,
}

#[derive(Deserialize)]
struct RawHeader {
    alg: Value,
}

impl Verifier {
    /// A verifier for `auth`. In `jwt` mode at least one key must be set, the
    /// secret must not be empty and the EdDSA key must be an Ed25519 public key
    /// PEM; otherwise a [`SessionError`] says what to fix.
    pub fn new(auth: &AuthConfig) -> Result<Verifier, SessionError> {
        let mode = match auth {
            AuthConfig::Disabled => Mode::Disabled,
            AuthConfig::Jwt(jwt) => Mode::Jwt(Keys::new(jwt)?),
        };
        Ok(Verifier { mode })
    }

    /// Whether tokens are checked at all.
    pub fn is_enabled(&self) -> bool {
        matches!(self.mode, Mode::Jwt(_))
    }

    /// Checks `token` for a handshake asking for `project_id`, at `now_unix_s`
    /// (seconds since the Unix epoch).
    ///
    /// `disabled` mode accepts any token (or none) and any project. `jwt` mode
    /// needs a JWT signed with HS256 (the secret) or EdDSA (the public key) —
    /// the header's `alg` picks the key, every other `alg` (`none` included) is
    /// refused — with a `sub`, an `exp` in the future (plus the leeway), a
    /// `project_id` equal to the handshake's and, if present, an `nbf` in the
    /// past. Failures are `auth.invalid_token`, `auth.expired` or
    /// `auth.project_mismatch`.
    pub fn verify(
        &self,
        token: Option<&str>,
        project_id: &str,
        now_unix_s: u64,
    ) -> Result<Identity, AuthError> {
        match &self.mode {
            Mode::Disabled => Ok(Identity {
                user_id: None,
                project_id: project_id.to_owned(),
            }),
            Mode::Jwt(keys) => {
                let user_id = keys.verify(token, project_id, now_unix_s)?;
                Ok(Identity {
                    user_id: Some(user_id),
                    project_id: project_id.to_owned(),
                })
            }
        }
    }
}

impl Keys {
    fn new(jwt: &JwtConfig) -> Result<Keys, SessionError> {
        // Pin the pure-Rust backend: if another crate of the build enabled the
        // aws-lc backend too, the library could not pick one by itself. An
        // `Err` only means a provider is installed already.
        let _ = jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.install_default();
        let hs256 = match &jwt.hs256_secret {
            Some(secret) if secret.is_empty() => return Err(SessionError::EmptySecret),
            Some(secret) => {
                if secret.len() < 32 {
                    tracing::warn!(
                        len = secret.len(),
                        "the HS256 secret is shorter than 32 bytes; use a longer random secret"
                    );
                }
                Some(DecodingKey::from_secret(secret))
            }
            None => None,
        };
        let eddsa = match &jwt.eddsa_public_key_pem {
            Some(pem) => Some(eddsa_key(pem)?),
            None => None,
        };
        if hs256.is_none() && eddsa.is_none() {
            return Err(SessionError::NoJwtKey);
        }
        Ok(Keys {
            hs256,
            eddsa,
            leeway_secs: jwt.leeway_secs,
        })
    }

    fn accepted(&self) -> &'static str {
        match (self.hs256.is_some(), self.eddsa.is_some()) {
            (true, true) => "HS256 or EdDSA",
            (true, false) => "HS256",
            _ => "EdDSA",
        }
    }

    /// Verifies the token and returns its `sub`.
    fn verify(&self, token: Option<&str>, project_id: &str, now: u64) -> Result<String, AuthError> {
        let token = match token {
            Some(t) if !t.is_empty() => t,
            _ => {
                return Err(AuthError::invalid(
                    "the handshake has no `token`; this server requires a JWT (auth mode jwt)",
                ));
            }
        };
        let alg = header_alg(token)?;
        let (algorithm, key) = match alg.as_str() {
            "HS256" => (Algorithm::HS256, self.hs256.as_ref()),
            "EdDSA" => (Algorithm::EdDSA, self.eddsa.as_ref()),
            "none" => {
                return Err(AuthError::invalid(format!(
                    "unsigned tokens (alg `none`) are not accepted; sign the token with {}",
                    self.accepted()
                )));
            }
            _ => (Algorithm::HS256, None),
        };
        let Some(key) = key else {
            return Err(AuthError::invalid(format!(
                "tokens signed with alg {:?} are not accepted; this server accepts {}",
                snippet(&alg),
                self.accepted()
            )));
        };
        let claims = decode(token, key, algorithm)?;
        check_claims(&claims, project_id, now, self.leeway_secs)
    }
}

/// Parses an Ed25519 public key PEM and checks that it is a usable key now,
/// rather than on the first handshake.
fn eddsa_key(pem: &str) -> Result<DecodingKey, SessionError> {
    let key = DecodingKey::from_ed_pem(pem.as_bytes()).map_err(|e| {
        SessionError::BadEddsaKey(format!(
            "expected an Ed25519 `-----BEGIN PUBLIC KEY-----` PEM ({e})"
        ))
    })?;
    let len = key.try_get_as_bytes().map(<[u8]>::len).unwrap_or(0);
    if len != 32 {
        return Err(SessionError::BadEddsaKey(format!(
            "an Ed25519 public key has 32 bytes, this one has {len}"
        )));
    }
    // A dummy verification builds the curve point: an invalid point fails here.
    match jsonwebtoken::crypto::verify("", b"probe", &key, Algorithm::EdDSA) {
        Ok(_) => Ok(key),
        Err(e) => Err(SessionError::BadEddsaKey(format!(
            "not a valid Ed25519 point ({e})"
        ))),
    }
}

const MALFORMED: &str =
    "the token is not a well-formed JWT (three base64url parts: header.claims.signature)";

/// The header's `alg`, read before any verification to pick the key.
fn header_alg(token: &str) -> Result<String, AuthError> {
    let mut parts = token.split('.');
    let (Some(header), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AuthError::invalid(MALFORMED));
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| AuthError::invalid(MALFORMED))?;
    let header: RawHeader = serde_json::from_slice(&bytes).map_err(|_| {
        AuthError::invalid("the token's header is not a JSON object with an `alg` string")
    })?;
    match header.alg {
        Value::String(alg) => Ok(alg),
        _ => Err(AuthError::invalid(
            "the token's header is not a JSON object with an `alg` string",
        )),
    }
}

/// Verifies the signature and reads the claims; no claim is validated here.
fn decode(token: &str, key: &DecodingKey, algorithm: Algorithm) -> Result<RawClaims, AuthError> {
    let mut validation = Validation::new(algorithm);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.leeway = 0;
    match jsonwebtoken::decode::<RawClaims>(token, key, &validation) {
        Ok(data) => Ok(data.claims),
        Err(e) => Err(AuthError::invalid(match e.kind() {
            ErrorKind::InvalidSignature => format!(
                "the token's signature does not match this server's {} key; check which key signs your tokens",
                algorithm_name(algorithm)
            ),
            ErrorKind::Json(_) | ErrorKind::Utf8(_) => {
                "the token's header or claims are not valid JSON objects".to_owned()
            }
            _ => MALFORMED.to_owned(),
        })),
    }
}

fn algorithm_name(algorithm: Algorithm) -> &'static str {
    match algorithm {
        Algorithm::EdDSA => "EdDSA",
        _ => "HS256",
    }
}

/// A NumericDate: seconds since the epoch, integer or (per RFC 7519) decimal.
fn numeric_date(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite() && *f >= 0.0)
                // Saturating float-to-int cast; fractions are dropped.
                .map(|f| f as u64)
        }),
        _ => None,
    }
}

fn check_claims(
    claims: &RawClaims,
    project_id: &str,
    now: u64,
    leeway: u64,
) -> Result<String, AuthError> {
    let exp = match &claims.exp {
        None => {
            return Err(AuthError::invalid(
                "the token has no `exp` claim; tokens must expire",
            ));
        }
        Some(v) => numeric_date(v).ok_or_else(|| {
            AuthError::invalid(
                "the token's `exp` claim must be a number of seconds since the Unix epoch",
            )
        })?,
    };
    if now >= exp.saturating_add(leeway) {
        return Err(AuthError {
            code: ErrorCode::AuthExpired,
            reason: format!(
                "the token expired at {exp} (Unix seconds) and the server's time is {now}; get a fresh token"
            ),
        });
    }
    if let Some(v) = &claims.nbf {
        let nbf = numeric_date(v).ok_or_else(|| {
            AuthError::invalid(
                "the token's `nbf` claim must be a number of seconds since the Unix epoch",
            )
        })?;
        if now.saturating_add(leeway) < nbf {
            return Err(AuthError::invalid(format!(
                "the token is not valid before {nbf} (Unix seconds) and the server's time is {now}"
            )));
        }
    }
    let sub = match &claims.sub {
        Some(Value::String(s)) if !s.is_empty() && s.len() <= MAX_USER_ID_LEN => s.clone(),
        Some(Value::String(s)) if !s.is_empty() => {
            return Err(AuthError::invalid(format!(
                "the token's `sub` claim is {} bytes; the limit is {MAX_USER_ID_LEN}",
                s.len()
            )));
        }
        _ => {
            return Err(AuthError::invalid(
                "the token needs a `sub` claim (the user id) as a non-empty string",
            ));
        }
    };
    match &claims.project_id {
        Some(Value::String(p)) if p == project_id => Ok(sub),
        Some(Value::String(p)) => Err(AuthError {
            code: ErrorCode::AuthProjectMismatch,
            reason: format!(
                "the token is for project {:?} but the handshake asks for project {:?}; use a token issued for that project",
                snippet(p),
                snippet(project_id)
            ),
        }),
        _ => Err(AuthError::invalid(
            "the token needs a `project_id` claim (a string) naming the project it is for",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(v: serde_json::Value) -> RawClaims {
        serde_json::from_value(v).expect("claims")
    }

    #[test]
    fn disabled_mode_accepts_anything() {
        let v = Verifier::new(&AuthConfig::Disabled).expect("verifier");
        assert!(!v.is_enabled());
        let id = v.verify(None, "any-project", 0).expect("accepted");
        assert_eq!(id.user_id, None);
        assert_eq!(id.project_id, "any-project");
        assert!(v.verify(Some("garbage"), "p", 0).is_ok());
    }

    #[test]
    fn jwt_mode_needs_a_usable_key() {
        let none = AuthConfig::Jwt(JwtConfig::default());
        assert_eq!(Verifier::new(&none).err(), Some(SessionError::NoJwtKey));
        let empty = AuthConfig::Jwt(JwtConfig {
            hs256_secret: Some(Vec::new()),
            ..JwtConfig::default()
        });
        assert_eq!(Verifier::new(&empty).err(), Some(SessionError::EmptySecret));
        for pem in [
            "",
            "not a pem",
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
        ] {
            let bad = AuthConfig::Jwt(JwtConfig {
                eddsa_public_key_pem: Some(pem.to_owned()),
                ..JwtConfig::default()
            });
            assert!(
                matches!(Verifier::new(&bad), Err(SessionError::BadEddsaKey(_))),
                "{pem:?} should be refused"
            );
        }
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let v = Verifier::new(&AuthConfig::Jwt(JwtConfig {
            hs256_secret: Some(b"super-secret-value".to_vec()),
            ..JwtConfig::default()
        }))
        .expect("verifier");
        let shown = format!("{v:?}");
        assert!(!shown.contains("super-secret-value"), "{shown}");
        assert!(shown.contains("hs256: true"), "{shown}");
    }

    #[test]
    fn claims_are_checked_in_order() {
        let ok = claims(serde_json::json!({"sub":"u1","project_id":"p","exp":100}));
        assert_eq!(check_claims(&ok, "p", 99, 0), Ok("u1".to_owned()));
        assert_eq!(
            check_claims(&ok, "p", 100, 0).map_err(|e| e.code),
            Err(ErrorCode::AuthExpired)
        );
        assert_eq!(check_claims(&ok, "p", 100, 5), Ok("u1".to_owned()));
        assert_eq!(
            check_claims(&ok, "q", 1, 0).map_err(|e| e.code),
            Err(ErrorCode::AuthProjectMismatch)
        );
        let float_exp = claims(serde_json::json!({"sub":"u1","project_id":"p","exp":100.5}));
        assert!(check_claims(&float_exp, "p", 99, 0).is_ok());
        for bad in [
            serde_json::json!({"sub":"u1","project_id":"p"}),
            serde_json::json!({"sub":"u1","project_id":"p","exp":"tomorrow"}),
            serde_json::json!({"sub":"u1","project_id":"p","exp":-1}),
            serde_json::json!({"project_id":"p","exp":100}),
            serde_json::json!({"sub":"","project_id":"p","exp":100}),
            serde_json::json!({"sub":7,"project_id":"p","exp":100}),
            serde_json::json!({"sub":"x".repeat(MAX_USER_ID_LEN + 1),"project_id":"p","exp":100}),
            serde_json::json!({"sub":"u1","exp":100}),
            serde_json::json!({"sub":"u1","project_id":3,"exp":100}),
            serde_json::json!({"sub":"u1","project_id":"p","exp":100,"nbf":50}),
            serde_json::json!({"sub":"u1","project_id":"p","exp":100,"nbf":"soon"}),
        ] {
            let got = check_claims(&claims(bad.clone()), "p", 10, 0);
            assert_eq!(
                got.map_err(|e| e.code),
                Err(ErrorCode::AuthInvalidToken),
                "{bad}"
            );
        }
    }

    #[test]
    fn headers_are_read_without_panicking() {
        for token in [
            "",
            ".",
            "..",
            "a.b",
            "a.b.c.d",
            "!!!.b.c",
            "e30.b.c",
            "bnVsbA.b.c",
        ] {
            assert!(header_alg(token).is_err(), "{token:?}");
        }
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        assert_eq!(header_alg(&format!("{header}.x.y")), Ok("HS256".to_owned()));
    }
}
