//! Secure Boot keys: a fresh PK, KEK and db (RSA-2048, self-signed X.509 certificates),
//! their EFI signature lists, and reading keys and certificates back from PEM files.
//!
//! `ingot keys DIR` writes, for each of PK, KEK and db: `NAME.key` (PKCS #8 PEM, mode
//! 0600), `NAME.crt` (PEM), `NAME.esl` (an `EFI_SIGNATURE_LIST` of the certificate, owned
//! by the GUID in `owner.guid`). It refuses to overwrite any of them.

use crate::authenticode::Signer;
use crate::efi_signature_list;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use std::path::{Path, PathBuf};
use uuid::Uuid;
use x509_cert::der::{DecodePem, EncodePem};

/// The keys `ingot keys` makes, in the order a Secure Boot chain trusts them.
pub const KEY_NAMES: [&str; 3] = ["PK", "KEK", "db"];
/// RSA key size: what UEFI firmware is required to support for PK, KEK and db (UEFI 2.10,
/// 32.3.3 "Platform Key", EFI_CERT_RSA2048) and what EC2's and Microsoft's keys use.
pub const RSA_BITS: usize = 2048;
/// How long the certificates are valid: firmware does not check expiry (it has no
/// trusted clock), but tools that read the certificates do; 20 years outlives an AMI.
pub const VALIDITY_DAYS: u64 = 20 * 365;

/// Why keys could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// A key or certificate file is not one ingot reads (a FIFO, a device, too large).
    #[error(transparent)]
    Input(#[from] ingot_types::input::InputError),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A file ingot would write exists already.
    #[error("{0} exists: ingot keys never overwrites a key; choose an empty directory")]
    Exists(PathBuf),
    /// A PEM file does not hold what it should.
    #[error("{path}: not {what} in PEM ({why})")]
    BadPem {
        /// The file.
        path: PathBuf,
        /// What it should hold.
        what: &'static str,
        /// The decoder's reason.
        why: String,
    },
    /// The private key is not the one the certificate certifies.
    #[error("{key} is not the private key of {certificate}: give db_key and the first db certificate of one key pair")]
    Mismatch {
        /// The key file.
        key: PathBuf,
        /// The certificate file.
        certificate: PathBuf,
    },
    /// A certificate's key is not RSA-2048.
    #[error("{path}: the certificate's key is {found}; UEFI firmware and EC2 take RSA-2048 keys: make them with `ingot keys` or `openssl req -newkey rsa:2048`")]
    NotRsa2048 {
        /// The certificate file.
        path: PathBuf,
        /// What the key is.
        found: String,
    },
    /// Generating a key or certificate failed.
    #[error("making the {name} key: {why}")]
    Generate {
        /// PK, KEK or db.
        name: &'static str,
        /// Why.
        why: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> KeyError + '_ {
    move |source| KeyError::Io { path: path.to_path_buf(), source }
}

/// The text of the PEM file `path` (at most [`ingot_types::input::PEM_MAX`] bytes, a
/// regular file), which should hold `what`. A DER (binary) file is named as such, with
/// the command that converts it.
pub fn read_pem(path: &Path, what: &'static str) -> Result<String, KeyError> {
    let bytes = ingot_types::input::read(path, ingot_types::input::PEM_MAX)?;
    match String::from_utf8(bytes) {
        Ok(text) => Ok(text),
        Err(e) if e.as_bytes().first() == Some(&0x30) => Err(KeyError::BadPem {
            path: path.to_path_buf(),
            what,
            why: format!(
                "it is DER (binary ASN.1), not PEM text: convert it with `openssl {} -inform DER -in {} -out {}.pem`",
                if what.contains("certificate") { "x509" } else { "pkey" },
                path.display(),
                path.display()
            ),
        }),
        Err(_) => Err(KeyError::BadPem { path: path.to_path_buf(), what, why: "the file is not text".into() }),
    }
}

/// Reads a certificate (the first one) from a PEM file; its key must be RSA-2048
/// ([`RSA_BITS`]).
pub fn read_certificate(path: &Path) -> Result<x509_cert::Certificate, KeyError> {
    let text = read_pem(path, "an X.509 certificate")?;
    let cert = x509_cert::Certificate::from_pem(text.trim_start()).map_err(|e| KeyError::BadPem {
        path: path.to_path_buf(),
        what: "an X.509 certificate",
        why: e.to_string(),
    })?;
    let spki = &cert.tbs_certificate.subject_public_key_info;
    let bits = x509_cert::der::Encode::to_der(spki)
        .ok()
        .and_then(|der| rsa::pkcs8::DecodePublicKey::from_public_key_der(&der).ok())
        .map(|key: rsa::RsaPublicKey| rsa::traits::PublicKeyParts::n(&key).bits());
    match bits {
        Some(RSA_BITS) => Ok(cert),
        Some(n) => Err(KeyError::NotRsa2048 { path: path.to_path_buf(), found: format!("RSA-{n}") }),
        None => Err(KeyError::NotRsa2048 {
            path: path.to_path_buf(),
            found: format!("not RSA (algorithm {})", spki.algorithm.oid),
        }),
    }
}

/// The EFI signature list (owner [`efi_signature_list::INGOT_OWNER`]) of the PEM
/// certificate at `path`.
pub fn signature_list(path: &Path) -> Result<Vec<u8>, KeyError> {
    let der = x509_cert::der::Encode::to_der(&read_certificate(path)?).map_err(|e| KeyError::BadPem {
        path: path.to_path_buf(),
        what: "an X.509 certificate",
        why: e.to_string(),
    })?;
    Ok(efi_signature_list::x509(&der, efi_signature_list::INGOT_OWNER))
}

/// Reads an RSA private key (PKCS #8 `PRIVATE KEY` or PKCS #1 `RSA PRIVATE KEY`) and the
/// certificate of its public key into a [`Signer`].
pub fn read_signer(key: &Path, certificate: &Path) -> Result<Signer, KeyError> {
    use rsa::pkcs1::DecodeRsaPrivateKey;
    let text = read_pem(key, "an RSA private key")?;
    let private = rsa::RsaPrivateKey::from_pkcs8_pem(&text)
        .or_else(|_| rsa::RsaPrivateKey::from_pkcs1_pem(&text))
        .map_err(|e| KeyError::BadPem { path: key.to_path_buf(), what: "an RSA private key", why: e.to_string() })?;
    let cert = read_certificate(certificate)?;
    let public = x509_cert::spki::SubjectPublicKeyInfoOwned::from_key(private.to_public_key()).ok();
    if public.as_ref() != Some(&cert.tbs_certificate.subject_public_key_info) {
        return Err(KeyError::Mismatch { key: key.to_path_buf(), certificate: certificate.to_path_buf() });
    }
    Ok(Signer { key: private, certificate: cert })
}

/// Writes `bytes` to a new file `path` with `mode`; fails if it exists.
fn create(path: &Path, bytes: &[u8], mode: u32) -> Result<(), KeyError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            KeyError::Exists(path.to_path_buf())
        } else {
            KeyError::Io { path: path.to_path_buf(), source: e }
        }
    })?;
    f.write_all(bytes).and_then(|()| f.sync_all()).map_err(io(path))
}

/// A fresh RSA key and a self-signed certificate with common name `cn`.
fn generate(name: &'static str, cn: &str) -> Result<(rsa::RsaPrivateKey, x509_cert::Certificate), KeyError> {
    use std::str::FromStr;
    use x509_cert::builder::{Builder, CertificateBuilder, Profile};
    let fail = |why: String| KeyError::Generate { name, why };
    let key = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, RSA_BITS).map_err(|e| fail(e.to_string()))?;
    let spki =
        x509_cert::spki::SubjectPublicKeyInfoOwned::from_key(key.to_public_key()).map_err(|e| fail(e.to_string()))?;
    let mut serial = [0u8; 16];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut serial);
    serial[0] &= 0x7f; // a positive INTEGER
    let serial = x509_cert::serial_number::SerialNumber::new(&serial).map_err(|e| fail(e.to_string()))?;
    let validity = x509_cert::time::Validity::from_now(std::time::Duration::from_secs(VALIDITY_DAYS * 86_400))
        .map_err(|e| fail(e.to_string()))?;
    let subject = x509_cert::name::Name::from_str(&format!("CN={}", cn.replace(',', "\\,")))
        .map_err(|e| fail(format!("common name {cn:?}: {e}")))?;
    let signer = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(key.clone());
    // Not the builder's Root profile: its KeyUsage (certificate and CRL signing only) makes
    // verifiers of code signatures (OpenSSL's PKCS7_verify in sbverify) refuse the
    // certificate. A CA that also signs: PK signs updates of KEK, KEK those of db and dbx,
    // db signs code.
    let mut builder =
        CertificateBuilder::new(Profile::Manual { issuer: None }, serial, validity, subject, spki, &signer)
            .map_err(|e| fail(e.to_string()))?;
    use x509_cert::ext::pkix::{BasicConstraints, KeyUsage, KeyUsages};
    let usage = KeyUsages::DigitalSignature | KeyUsages::KeyCertSign | KeyUsages::CRLSign;
    builder
        .add_extension(&BasicConstraints { ca: true, path_len_constraint: None })
        .map_err(|e| fail(e.to_string()))?;
    builder.add_extension(&KeyUsage(usage)).map_err(|e| fail(e.to_string()))?;
    let certificate = builder.build::<rsa::pkcs1v15::Signature>().map_err(|e| fail(e.to_string()))?;
    Ok((key, certificate))
}

/// What [`make`] wrote.
#[derive(Debug)]
pub struct Made {
    /// The signature lists' owner GUID.
    pub owner: Uuid,
    /// Every file written, in order.
    pub files: Vec<PathBuf>,
}

/// Makes PK, KEK and db in `dir` (created if missing), their certificates named
/// `"{common_name} PK"` and so on. Nothing is overwritten: if any file exists, nothing is
/// written; every key is made before the first file is written, and a failed write
/// removes what was written.
pub fn make(dir: &Path, common_name: &str) -> Result<Made, KeyError> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let owner = efi_signature_list::INGOT_OWNER;
    let mut files = vec![(dir.join("owner.guid"), format!("{owner}\n").into_bytes(), 0o644)];
    for name in KEY_NAMES {
        let (key, certificate) = generate(name, &format!("{common_name} {name}"))?;
        let fail = |e: String| KeyError::Generate { name, why: e };
        let key_pem = key.to_pkcs8_pem(LineEnding::LF).map_err(|e| fail(e.to_string()))?;
        let cert_pem = certificate.to_pem(x509_cert::der::pem::LineEnding::LF).map_err(|e| fail(e.to_string()))?;
        let der = x509_cert::der::Encode::to_der(&certificate).map_err(|e| fail(e.to_string()))?;
        files.push((dir.join(format!("{name}.key")), key_pem.as_bytes().to_vec(), 0o600));
        files.push((dir.join(format!("{name}.crt")), cert_pem.into_bytes(), 0o644));
        files.push((dir.join(format!("{name}.esl")), efi_signature_list::x509(&der, owner), 0o644));
    }
    if let Some((existing, _, _)) = files.iter().find(|(p, _, _)| p.exists()) {
        return Err(KeyError::Exists(existing.clone()));
    }
    for (i, (path, bytes, mode)) in files.iter().enumerate() {
        if let Err(e) = create(path, bytes, *mode) {
            // What this run created, including a file cut short by the failed write.
            let made = if matches!(e, KeyError::Exists(_)) { i } else { i + 1 };
            files[..made].iter().for_each(|(p, _, _)| drop(std::fs::remove_file(p)));
            return Err(e);
        }
    }
    Ok(Made { owner, files: files.into_iter().map(|(p, _, _)| p).collect() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_der_certificate_is_named_with_the_command_that_converts_it() {
        let dir = tempfile::tempdir().unwrap();
        let der = dir.path().join("db.cer");
        std::fs::write(&der, [0x30, 0x82, 0x03, 0x0b, 0xff, 0xfe]).unwrap();
        let e = read_certificate(&der).unwrap_err().to_string();
        assert!(e.contains("it is DER (binary ASN.1), not PEM text"), "{e}");
        assert!(e.contains(&format!("openssl x509 -inform DER -in {}", der.display())), "{e}");
        let e = read_certificate(Path::new("/dev/zero")).unwrap_err().to_string();
        assert_eq!(e, "/dev/zero: is a device node, not a regular file");
    }
}
