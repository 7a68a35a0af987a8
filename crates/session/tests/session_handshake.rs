//! The first frame of a connection: both handshake forms, codec negotiation,
//! every auth failure (HS256 and EdDSA), project isolation and resume pairs.

// `Rejected` carries the whole reply frame, as the runtime's API wants.
#![allow(clippy::result_large_err)]

use arbiter_protocol::{Codec, ErrorCode, Rid, ServerFrame, ServerMessage};
use arbiter_session::{
    Accepted, AuthConfig, JwtConfig, Rejected, SessionError, Verifier, accept_handshake,
};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use proptest::prelude::*;
use serde_json::{Value, json};

/// A fixed Ed25519 test keypair (generated once with `openssl genpkey -algorithm ed25519`).
const ED_PRIVATE: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIF9YKrSuiuoY+5AAPbYEUR8yYD+7C0Q+C3XLBqC2avlF
-----END PRIVATE KEY-----
";
const ED_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAEWqJE59SFSpmVrGcynILclkyKL6vsnHk2AKkOMyuZx0=
-----END PUBLIC KEY-----
";
/// Another Ed25519 private key, whose signatures the server must refuse.
const ED_OTHER_PRIVATE: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIPMG6LzDDwDwef5BglFTsXDhuKSLAgLeaoTY+mQFXZDL
-----END PRIVATE KEY-----
";

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-test-secret";
const NOW: u64 = 1_800_000_000;

fn hs256_token(claims: &Value) -> String {
    sign(Algorithm::HS256, &EncodingKey::from_secret(SECRET), claims)
}

fn eddsa_token(private_pem: &str, claims: &Value) -> String {
    let key = EncodingKey::from_ed_pem(private_pem.as_bytes()).expect("test key");
    sign(Algorithm::EdDSA, &key, claims)
}

fn sign(alg: Algorithm, key: &EncodingKey, claims: &Value) -> String {
    jsonwebtoken::encode(&Header::new(alg), claims, key).expect("signs")
}

fn claims(project: &str, exp: u64) -> Value {
    json!({ "sub": "user-1", "project_id": project, "exp": exp })
}

fn verifier(hs256: bool, eddsa: bool) -> Verifier {
    Verifier::new(&AuthConfig::Jwt(JwtConfig {
        hs256_secret: hs256.then(|| SECRET.to_vec()),
        eddsa_public_key_pem: eddsa.then(|| ED_PUBLIC.to_owned()),
        leeway_secs: 0,
    }))
    .expect("verifier")
}

fn disabled() -> Verifier {
    Verifier::new(&AuthConfig::Disabled).expect("verifier")
}

/// A wrapped handshake with rid `h-1` for project `project` carrying `token`.
fn hello(project: &str, token: Option<&str>) -> Vec<u8> {
    let mut p = json!({ "v": 1, "codecs": ["msgpack", "json"], "project_id": project });
    if let Some(token) = token {
        p["token"] = json!(token);
    }
    serde_json::to_vec(&json!({ "v": 1, "t": "handshake", "rid": "h-1", "p": p })).expect("json")
}

fn accept(bytes: &[u8], v: &Verifier) -> Result<Accepted, Rejected> {
    accept_handshake(bytes, v, NOW)
}

/// The refusal's code and reason, after checking that its reply is an `error` frame with
/// the same code, the handshake's rid, and a reason that does not echo `token`.
fn refusal(result: Result<Accepted, Rejected>, token: Option<&str>) -> (ErrorCode, String) {
    let rejected = result.expect_err("should be refused");
    let ServerFrame { rid, msg, .. } = &rejected.reply;
    let ServerMessage::Error(err) = msg else {
        panic!("expected an error frame, got {msg:?}");
    };
    assert_eq!(err.code, rejected.code);
    assert_eq!(rid.as_ref(), Some(&Rid::from("h-1")));
    assert!(!err.reason.is_empty());
    if let Some(token) = token.filter(|t| t.len() > 8) {
        assert!(
            !err.reason.contains(token),
            "reason echoes the token: {}",
            err.reason
        );
        for part in token.split('.').filter(|p| p.len() > 8) {
            assert!(
                !err.reason.contains(part),
                "reason echoes a token part: {}",
                err.reason
            );
        }
    }
    assert!(rejected.to_string().contains(rejected.code.as_str()));
    (rejected.code, err.reason.clone())
}

#[test]
fn both_handshake_forms_are_accepted_alike() {
    let wrapped = br#"{"v":1,"t":"handshake","p":{"v":1,"codecs":["msgpack","json"],"project_id":"demo","token":"x"}}"#;
    let bare = br#"{"v":1,"codecs":["msgpack","json"],"project_id":"demo","token":"x"}"#;
    let a = accept(wrapped, &disabled()).expect("wrapped");
    let b = accept(bare, &disabled()).expect("bare");
    assert_eq!(a, b);
    assert_eq!(a.codec, Codec::MsgPack);
    assert_eq!(a.rid, None);
    assert_eq!(a.identity.user_id, None);
    assert_eq!(a.identity.project_id, "demo");

    let with_rid = accept(&hello("demo", None), &disabled()).expect("wrapped with rid");
    assert_eq!(with_rid.rid, Some(Rid::from("h-1")));
}

#[test]
fn codec_negotiation_follows_the_clients_order() {
    let pick = |codecs: Value| {
        let bytes =
            serde_json::to_vec(&json!({"v":1,"codecs":codecs,"project_id":"p"})).expect("json");
        accept(&bytes, &disabled()).map(|a| a.codec)
    };
    assert_eq!(pick(json!(["msgpack", "json"])).ok(), Some(Codec::MsgPack));
    assert_eq!(pick(json!(["json", "msgpack"])).ok(), Some(Codec::Json));
    assert_eq!(pick(json!(["cbor", "json"])).ok(), Some(Codec::Json));

    for codecs in [json!(["cbor", "protobuf"]), json!([])] {
        let bytes = serde_json::to_vec(
            &json!({"v":1,"t":"handshake","rid":"h-1","p":{"v":1,"codecs":codecs,"project_id":"p"}}),
        )
        .expect("json");
        let (code, _) = refusal(accept(&bytes, &disabled()), None);
        assert_eq!(code, ErrorCode::NoCommonCodec);
        assert!(code.closes_connection());
    }
}

#[test]
fn malformed_first_frames_are_refused_with_their_code() {
    let cases: [(&[u8], ErrorCode); 5] = [
        (b"not json", ErrorCode::HandshakeRequired),
        (
            br#"{"v":1,"t":"room.list","p":{}}"#,
            ErrorCode::HandshakeRequired,
        ),
        (
            br#"{"v":2,"codecs":["json"],"project_id":"p"}"#,
            ErrorCode::UnsupportedVersion,
        ),
        (
            br#"{"v":1,"t":"handshake","p":{"codecs":["json"]}}"#,
            ErrorCode::BadFrame,
        ),
        (
            br#"{"v":1,"codecs":["json"],"project_id":"white space"}"#,
            ErrorCode::BadFrame,
        ),
    ];
    for (bytes, want) in cases {
        let rejected = accept(bytes, &disabled()).expect_err("refused");
        assert_eq!(rejected.code, want, "{}", String::from_utf8_lossy(bytes));
        assert!(matches!(rejected.reply.msg, ServerMessage::Error(ref e) if e.code == want));
    }
    let huge = vec![b' '; 70 * 1024];
    assert_eq!(
        accept(&huge, &disabled()).expect_err("refused").code,
        ErrorCode::TooLarge
    );
}

#[test]
fn disabled_auth_accepts_any_token_and_project() {
    for token in [None, Some("anything"), Some("")] {
        let a = accept(&hello("some-project", token), &disabled()).expect("accepted");
        assert_eq!(a.identity.user_id, None);
        assert_eq!(a.identity.project_id, "some-project");
    }
}

#[test]
fn hs256_tokens_are_verified() {
    let v = verifier(true, false);
    let token = hs256_token(&claims("demo", NOW + 60));
    let a = accept(&hello("demo", Some(&token)), &v).expect("valid token");
    assert_eq!(a.identity.user_id.as_deref(), Some("user-1"));
    assert_eq!(a.identity.project_id, "demo");
    assert_eq!(a.rid, Some(Rid::from("h-1")));
}

#[test]
fn hs256_failures_have_the_right_codes() {
    let v = verifier(true, false);
    let wrong_key = sign(
        Algorithm::HS256,
        &EncodingKey::from_secret(b"another secret entirely, 32+ bytes"),
        &claims("demo", NOW + 60),
    );
    let hs384 = sign(
        Algorithm::HS384,
        &EncodingKey::from_secret(SECRET),
        &claims("demo", NOW + 60),
    );
    let tampered = {
        let good = hs256_token(&claims("demo", NOW + 60));
        let forged = hs256_token(&json!({"sub":"admin","project_id":"demo","exp":NOW + 60}));
        let parts: Vec<&str> = good.split('.').collect();
        let forged_claims = forged.split('.').nth(1).expect("claims part");
        format!("{}.{}.{}", parts[0], forged_claims, parts[2])
    };
    let invalid = ErrorCode::AuthInvalidToken;
    let cases = [
        (None, invalid, "no `token`"),
        (Some(String::new()), invalid, "no `token`"),
        (Some("not-a-jwt".to_owned()), invalid, "well-formed"),
        (Some("a.b.c".to_owned()), invalid, "well-formed"),
        (Some(wrong_key), invalid, "signature"),
        (Some(hs384), invalid, "HS384"),
        (Some(tampered), invalid, "signature"),
        (
            Some(hs256_token(&claims("demo", NOW))),
            ErrorCode::AuthExpired,
            "expired",
        ),
        (
            Some(hs256_token(&claims("demo", NOW - 3600))),
            ErrorCode::AuthExpired,
            "expired",
        ),
        (
            Some(hs256_token(&claims("other", NOW + 60))),
            ErrorCode::AuthProjectMismatch,
            "\"other\"",
        ),
        (
            Some(hs256_token(&json!({"sub":"u","exp":NOW + 60}))),
            invalid,
            "`project_id`",
        ),
        (
            Some(hs256_token(&json!({"project_id":"demo","exp":NOW + 60}))),
            invalid,
            "`sub`",
        ),
        (
            Some(hs256_token(&json!({"sub":"u","project_id":"demo"}))),
            invalid,
            "`exp`",
        ),
        (
            Some(hs256_token(
                &json!({"sub":"u","project_id":"demo","exp":NOW + 60,"nbf":NOW + 30}),
            )),
            invalid,
            "not valid before",
        ),
    ];
    for (token, want, hint) in cases {
        let (got, reason) = refusal(
            accept(&hello("demo", token.as_deref()), &v),
            token.as_deref(),
        );
        assert_eq!(got, want, "token {token:?}");
        assert!(reason.contains(hint), "{reason:?} should mention {hint}");
        assert!(got.closes_connection());
    }
}

#[test]
fn unsigned_tokens_are_refused() {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header = b64.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let body = b64.encode(claims("demo", NOW + 60).to_string());
    for token in [format!("{header}.{body}."), format!("{header}.{body}.c2ln")] {
        let rejected =
            accept(&hello("demo", Some(&token)), &verifier(true, true)).expect_err("refused");
        assert_eq!(rejected.code, ErrorCode::AuthInvalidToken);
        let ServerMessage::Error(e) = rejected.reply.msg else {
            panic!("error frame")
        };
        assert!(e.reason.contains("none"), "{}", e.reason);
    }
}

#[test]
fn eddsa_tokens_are_verified() {
    let v = verifier(false, true);
    let token = eddsa_token(ED_PRIVATE, &claims("demo", NOW + 60));
    let a = accept(&hello("demo", Some(&token)), &v).expect("valid token");
    assert_eq!(a.identity.user_id.as_deref(), Some("user-1"));
}

#[test]
fn eddsa_failures_have_the_right_codes() {
    let v = verifier(false, true);
    // The classic confusion attack: an HS256 token keyed with the public key.
    let confused = sign(
        Algorithm::HS256,
        &EncodingKey::from_secret(ED_PUBLIC.as_bytes()),
        &claims("demo", NOW + 60),
    );
    let invalid = ErrorCode::AuthInvalidToken;
    let cases = [
        (
            eddsa_token(ED_OTHER_PRIVATE, &claims("demo", NOW + 60)),
            invalid,
            "signature",
        ),
        (confused, invalid, "HS256"),
        (
            hs256_token(&claims("demo", NOW + 60)),
            invalid,
            "accepts EdDSA",
        ),
        (
            eddsa_token(ED_PRIVATE, &claims("demo", NOW - 1)),
            ErrorCode::AuthExpired,
            "expired",
        ),
        (
            eddsa_token(ED_PRIVATE, &claims("elsewhere", NOW + 60)),
            ErrorCode::AuthProjectMismatch,
            "\"elsewhere\"",
        ),
        (
            eddsa_token(ED_PRIVATE, &json!({"project_id":"demo","exp":NOW + 60})),
            invalid,
            "`sub`",
        ),
    ];
    for (token, want, hint) in cases {
        let (got, reason) = refusal(accept(&hello("demo", Some(&token)), &v), Some(&token));
        assert_eq!(got, want);
        assert!(reason.contains(hint), "{reason:?} should mention {hint}");
    }
}

#[test]
fn both_keys_at_once_pick_by_alg() {
    let v = verifier(true, true);
    for token in [
        hs256_token(&claims("demo", NOW + 60)),
        eddsa_token(ED_PRIVATE, &claims("demo", NOW + 60)),
    ] {
        assert!(accept(&hello("demo", Some(&token)), &v).is_ok());
    }
}

#[test]
fn leeway_tolerates_clock_skew() {
    let v = Verifier::new(&AuthConfig::Jwt(JwtConfig {
        hs256_secret: Some(SECRET.to_vec()),
        eddsa_public_key_pem: None,
        leeway_secs: 30,
    }))
    .expect("verifier");
    let token = hs256_token(&claims("demo", NOW - 10));
    assert!(accept(&hello("demo", Some(&token)), &v).is_ok());
    let token = hs256_token(&claims("demo", NOW - 30));
    assert_eq!(
        refusal(accept(&hello("demo", Some(&token)), &v), Some(&token)).0,
        ErrorCode::AuthExpired
    );
}

#[test]
fn projects_are_isolated_by_the_token_claim() {
    let v = verifier(true, false);
    let token_a = hs256_token(&claims("project-a", NOW + 60));
    let a = accept(&hello("project-a", Some(&token_a)), &v).expect("own project");
    assert_eq!(a.identity.project_id, "project-a");
    // The same token cannot open a session in another project.
    let (code, reason) = refusal(
        accept(&hello("project-b", Some(&token_a)), &v),
        Some(&token_a),
    );
    assert_eq!(code, ErrorCode::AuthProjectMismatch);
    assert!(reason.contains("project-b"), "{reason}");
}

#[test]
fn bad_server_configuration_is_an_error() {
    assert_eq!(
        Verifier::new(&AuthConfig::Jwt(JwtConfig::default())).err(),
        Some(SessionError::NoJwtKey)
    );
    // A private key where the public key belongs.
    let err = Verifier::new(&AuthConfig::Jwt(JwtConfig {
        eddsa_public_key_pem: Some(ED_PRIVATE.to_owned()),
        ..JwtConfig::default()
    }))
    .expect_err("private key refused");
    assert!(matches!(err, SessionError::BadEddsaKey(_)));
    assert!(!err.to_string().contains("MC4CAQ"), "{err}");
}

#[test]
fn resume_pairs_are_extracted() {
    let both = br#"{"v":1,"codecs":["json"],"project_id":"p","session_id":"s_abc123","resume_token":"tok"}"#;
    let a = accept(both, &disabled()).expect("accepted");
    let (id, token) = a.resume.expect("resume pair");
    assert_eq!(id.as_str(), "s_abc123");
    assert_eq!(token, "tok");

    for half in [
        &br#"{"v":1,"codecs":["json"],"project_id":"p","session_id":"s_abc123"}"#[..],
        br#"{"v":1,"codecs":["json"],"project_id":"p","resume_token":"tok"}"#,
        br#"{"v":1,"codecs":["json"],"project_id":"p","session_id":"not valid!","resume_token":"tok"}"#,
    ] {
        let a = accept(half, &disabled()).expect("accepted as a new session");
        assert_eq!(a.resume, None, "{}", String::from_utf8_lossy(half));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Hostile tokens are refused with an auth code, never a panic.
    #[test]
    fn verify_never_panics(
        raw in ".{0,300}",
        parts in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..80), 3),
        alg in prop_oneof![
            Just("HS256".to_owned()),
            Just("EdDSA".to_owned()),
            Just("none".to_owned()),
            Just("RS256".to_owned()),
            ".{0,8}",
        ],
    ) {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let header = b64.encode(json!({ "alg": alg, "typ": "JWT" }).to_string());
        let shaped = format!("{header}.{}.{}", b64.encode(&parts[1]), b64.encode(&parts[2]));
        let random = format!("{}.{}.{}", b64.encode(&parts[0]), b64.encode(&parts[1]), b64.encode(&parts[2]));
        let v = verifier(true, true);
        for token in [raw.as_str(), shaped.as_str(), random.as_str()] {
            let err = v.verify(Some(token), "demo", NOW).expect_err("forged token accepted");
            prop_assert!(matches!(
                err.code,
                ErrorCode::AuthInvalidToken | ErrorCode::AuthExpired | ErrorCode::AuthProjectMismatch
            ));
        }
    }
}
