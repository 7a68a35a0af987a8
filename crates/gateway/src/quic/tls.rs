//! The QUIC listener's TLS identity: a certificate chain and key from PEM
//! files, or a self-signed certificate generated at start, and the SHA-256
//! of the end-entity certificate that clients pin.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sha2::{Digest, Sha256};

use super::{ALPN, QuicError};

/// Total validity of a generated certificate: under the 14 days that
/// browsers' WebTransport `serverCertificateHashes` accepts.
pub const GENERATED_CERT_VALIDITY: Duration = Duration::from_secs(13 * 24 * 3600);

/// How far before "now" a generated certificate starts to be valid, so that a
/// client whose clock is slightly behind still accepts it.
const BACKDATE: Duration = Duration::from_secs(3600);

/// The QUIC listener's certificate chain and private key.
///
/// [`QuicIdentity::self_signed`] is for local development and for clients
/// that pin the certificate's SHA-256 (announced in `handshake.ok`);
/// [`QuicIdentity::from_pem_files`] loads a real certificate.
pub struct QuicIdentity {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    cert_sha256: String,
    generated: bool,
}

impl fmt::Debug for QuicIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QuicIdentity")
            .field("chain_len", &self.chain.len())
            .field("cert_sha256", &self.cert_sha256)
            .field("generated", &self.generated)
            .finish_non_exhaustive()
    }
}

impl Clone for QuicIdentity {
    fn clone(&self) -> Self {
        QuicIdentity {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
            cert_sha256: self.cert_sha256.clone(),
            generated: self.generated,
        }
    }
}

impl QuicIdentity {
    /// A fresh self-signed ECDSA P-256 certificate for `localhost`,
    /// `127.0.0.1` and `::1`, valid from an hour ago for
    /// [`GENERATED_CERT_VALIDITY`] (13 days in all), within WebTransport's
    /// rules for pinned certificates.
    pub fn self_signed() -> Result<QuicIdentity, QuicError> {
        QuicIdentity::self_signed_for(&["localhost", "127.0.0.1", "::1"])
    }

    /// Like [`QuicIdentity::self_signed`], for these DNS names or IP
    /// addresses.
    pub fn self_signed_for(names: &[&str]) -> Result<QuicIdentity, QuicError> {
        let generate = |e: rcgen::Error| QuicError::Certificate(e.to_string());
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(generate)?;
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = rcgen::CertificateParams::new(names).map_err(generate)?;
        let mut subject = rcgen::DistinguishedName::new();
        subject.push(rcgen::DnType::CommonName, "arbiter (self-signed)");
        params.distinguished_name = subject;
        let not_before = time::OffsetDateTime::now_utc() - BACKDATE;
        params.not_before = not_before;
        params.not_after = not_before + GENERATED_CERT_VALIDITY;
        let cert = params.self_signed(&key).map_err(generate)?;
        let der = cert.der().clone();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        Ok(QuicIdentity {
            cert_sha256: sha256_hex(&der),
            chain: vec![der],
            key,
            generated: true,
        })
    }

    /// A certificate chain (end-entity first) and its private key (PKCS#8,
    /// PKCS#1 or SEC1), PEM-encoded.
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<QuicIdentity, QuicError> {
        let chain = CertificateDer::pem_slice_iter(cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| QuicError::Certificate(format!("certificate PEM: {e}")))?;
        let Some(first) = chain.first() else {
            return Err(QuicError::Certificate(
                "the certificate PEM holds no CERTIFICATE block".into(),
            ));
        };
        let cert_sha256 = sha256_hex(first);
        let key = PrivateKeyDer::from_pem_slice(key_pem)
            .map_err(|e| QuicError::Certificate(format!("private key PEM: {e}")))?;
        Ok(QuicIdentity {
            chain,
            key,
            cert_sha256,
            generated: false,
        })
    }

    /// [`QuicIdentity::from_pem`] with the contents of two files.
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<QuicIdentity, QuicError> {
        let read = |path: &Path| {
            std::fs::read(path).map_err(|source| QuicError::ReadFile {
                path: path.to_owned(),
                source,
            })
        };
        QuicIdentity::from_pem(&read(cert)?, &read(key)?)
    }

    /// SHA-256 of the end-entity certificate's DER, lowercase hex: what
    /// clients pin (`handshake.ok`'s `quic.cert_sha256`).
    pub fn cert_sha256(&self) -> &str {
        &self.cert_sha256
    }

    /// The end-entity certificate (DER).
    pub fn cert_der(&self) -> &CertificateDer<'static> {
        // `from_pem` refuses an empty chain and `self_signed` makes one.
        &self.chain[0]
    }

    /// Whether the certificate was generated at start (self-signed).
    pub fn is_generated(&self) -> bool {
        self.generated
    }

    /// The rustls configuration of the listener: TLS 1.3 only, ALPN
    /// `arbiter/1`, no client certificates, the ring provider.
    pub(crate) fn server_crypto(&self) -> Result<rustls::ServerConfig, QuicError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = |e: rustls::Error| QuicError::Certificate(e.to_string());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(tls)?
            .with_no_client_auth()
            .with_single_cert(self.chain.clone(), self.key.clone_key())
            .map_err(tls)?;
        config.alpn_protocols = vec![ALPN.to_vec()];
        Ok(config)
    }
}

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(64);
    for b in digest {
        let _ = write!(out, "{b:02x}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_certificate_is_pinnable() {
        let id = QuicIdentity::self_signed().expect("generates");
        assert!(id.is_generated());
        assert_eq!(id.cert_sha256().len(), 64);
        assert!(
            id.cert_sha256()
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
        assert_eq!(id.cert_sha256(), sha256_hex(id.cert_der()));
        let other = QuicIdentity::self_signed().expect("generates");
        assert_ne!(
            id.cert_sha256(),
            other.cert_sha256(),
            "a fresh key each time"
        );
        id.server_crypto().expect("usable by rustls");
    }

    #[test]
    fn pem_round_trip_keeps_the_hash() {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
        let params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).expect("params");
        let cert = params.self_signed(&key).expect("cert");
        let id = QuicIdentity::from_pem(cert.pem().as_bytes(), key.serialize_pem().as_bytes())
            .expect("loads");
        assert!(!id.is_generated());
        assert_eq!(id.cert_sha256(), sha256_hex(cert.der()));
        id.server_crypto().expect("usable by rustls");
    }

    #[test]
    fn bad_pem_is_refused() {
        assert!(matches!(
            QuicIdentity::from_pem(b"", b""),
            Err(QuicError::Certificate(_))
        ));
        let cert = format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            "AAAA"
        );
        assert!(QuicIdentity::from_pem(cert.as_bytes(), b"not a key").is_err());
    }

    #[test]
    fn sha256_is_lowercase_hex() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
