//! The bundle's cryptography: AES-128-CBC with PKCS#7 padding over the compressed
//! stream, the key and IV (as lowercase hex text) encrypted with RSA PKCS#1 v1.5 to
//! certificates, and the manifest signed with RSA PKCS#1 v1.5 over SHA-1.

use crate::BundleError;
use aes::cipher::{block_padding::Pkcs7, BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rsa::signature::{SignatureEncoding, Signer, Verifier};
use rsa::{Pkcs1v15Encrypt, RsaPrivateKey, RsaPublicKey};
use sha1::Sha1;
use x509_cert::der::{DecodePem, Encode};

type Enc = cbc::Encryptor<aes::Aes128>;
type Dec = cbc::Decryptor<aes::Aes128>;

/// The RSA public key of a PEM X.509 certificate.
pub fn certificate_key(pem: &str, what: &str) -> Result<RsaPublicKey, BundleError> {
    let bad = |e: String| BundleError::Key(format!("{what}: {e}"));
    let cert = x509_cert::Certificate::from_pem(pem.trim().as_bytes())
        .map_err(|e| bad(format!("not a PEM certificate ({e})")))?;
    let spki = cert.tbs_certificate.subject_public_key_info.to_der().map_err(|e| bad(e.to_string()))?;
    RsaPublicKey::from_public_key_der(&spki).map_err(|e| bad(format!("not an RSA certificate ({e})")))
}

/// An RSA private key from PEM, PKCS#1 (`RSA PRIVATE KEY`) or PKCS#8 (`PRIVATE KEY`).
pub fn private_key(pem: &str, what: &str) -> Result<RsaPrivateKey, BundleError> {
    RsaPrivateKey::from_pkcs1_pem(pem.trim())
        .or_else(|_| RsaPrivateKey::from_pkcs8_pem(pem.trim()))
        .map_err(|e| BundleError::Key(format!("{what}: not an unencrypted RSA private key in PEM ({e})")))
}

/// RSA PKCS#1 v1.5 encryption of `data` to `key`, as lowercase hex.
pub fn seal(key: &RsaPublicKey, data: &[u8]) -> Result<String, BundleError> {
    let mut rng = rand_core::OsRng;
    let ct = key.encrypt(&mut rng, Pkcs1v15Encrypt, data).map_err(|e| BundleError::Key(e.to_string()))?;
    Ok(hex::encode(ct))
}

/// Undoes [`seal`].
pub fn open(key: &RsaPrivateKey, hex_text: &str, what: &str) -> Result<Vec<u8>, BundleError> {
    let ct = hex::decode(hex_text).ok().ok_or_else(|| BundleError::Manifest(format!("{what} is not hex")))?;
    key.decrypt(Pkcs1v15Encrypt, &ct)
        .map_err(|_| BundleError::Key(format!("{what} cannot be decrypted with this private key (wrong key?)")))
}

/// RSA PKCS#1 v1.5 signature over SHA-1 of `data`, lowercase hex.
pub fn sign(key: &RsaPrivateKey, data: &[u8]) -> String {
    let signer = SigningKey::<Sha1>::new(key.clone());
    hex::encode(signer.sign(data).to_bytes())
}

/// Checks a [`sign`] signature.
pub fn verify(key: &RsaPublicKey, data: &[u8], signature_hex: &str) -> bool {
    let Ok(bytes) = hex::decode(signature_hex) else { return false };
    let Ok(sig) = Signature::try_from(bytes.as_slice()) else { return false };
    VerifyingKey::<Sha1>::new(key.clone()).verify(data, &sig).is_ok()
}

/// AES-128-CBC encryption of a stream, 16-byte blocks at a time; PKCS#7 at the end.
pub struct Encryptor {
    enc: Enc,
    pending: Vec<u8>,
}

impl Encryptor {
    /// A new stream with `key` and `iv`.
    pub fn new(key: &[u8; 16], iv: &[u8; 16]) -> Encryptor {
        Encryptor { enc: Enc::new(key.into(), iv.into()), pending: Vec::new() }
    }

    /// Encrypts what whole blocks `data` completes; returns the ciphertext.
    pub fn update(&mut self, data: &[u8]) -> Vec<u8> {
        self.pending.extend_from_slice(data);
        let whole = self.pending.len() / 16 * 16;
        let mut out: Vec<u8> = self.pending.drain(..whole).collect();
        for block in out.chunks_exact_mut(16) {
            self.enc.encrypt_block_mut(block.into());
        }
        out
    }

    /// Pads and encrypts the rest.
    pub fn finish(self) -> Vec<u8> {
        self.enc.encrypt_padded_vec_mut::<Pkcs7>(&self.pending)
    }
}

/// AES-128-CBC decryption of a stream; the last block is held back until [`Decryptor::finish`].
pub struct Decryptor {
    dec: Dec,
    pending: Vec<u8>,
}

impl Decryptor {
    /// A new stream with `key` and `iv`.
    pub fn new(key: &[u8; 16], iv: &[u8; 16]) -> Decryptor {
        Decryptor { dec: Dec::new(key.into(), iv.into()), pending: Vec::new() }
    }

    /// Decrypts all but the last complete block.
    pub fn update(&mut self, data: &[u8]) -> Vec<u8> {
        self.pending.extend_from_slice(data);
        let keep = if self.pending.len() % 16 == 0 { 16 } else { self.pending.len() % 16 };
        let whole = self.pending.len().saturating_sub(keep);
        let mut out: Vec<u8> = self.pending.drain(..whole).collect();
        for block in out.chunks_exact_mut(16) {
            self.dec.decrypt_block_mut(block.into());
        }
        out
    }

    /// Decrypts the last block and removes the padding.
    pub fn finish(self) -> Result<Vec<u8>, BundleError> {
        self.dec.decrypt_padded_vec_mut::<Pkcs7>(&self.pending).map_err(|_| {
            BundleError::Corrupt("the encrypted stream's padding is wrong: wrong key or IV, or a damaged part".into())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_decrypt_to_what_was_encrypted_whatever_the_chunking() {
        let (key, iv) = ([7u8; 16], [9u8; 16]);
        for len in [0usize, 1, 15, 16, 17, 1000, 4096] {
            let data: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            let mut e = Encryptor::new(&key, &iv);
            let mut ct = Vec::new();
            for c in data.chunks(7) {
                ct.extend(e.update(c));
            }
            ct.extend(e.finish());
            assert_eq!(ct.len(), (len / 16 + 1) * 16, "PKCS#7 always pads");
            let mut d = Decryptor::new(&key, &iv);
            let mut pt = Vec::new();
            for c in ct.chunks(5) {
                pt.extend(d.update(c));
            }
            pt.extend(d.finish().unwrap());
            assert_eq!(pt, data);
        }
    }
}
