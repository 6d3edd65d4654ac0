//! Authenticode: signing an EFI binary so that UEFI Secure Boot firmware with the signer's
//! certificate in `db` runs it.
//!
//! Follows Microsoft's "Windows Authenticode Portable Executable Signature Format" (1.0):
//! "Calculating the PE Image Hash" ([`image_hash`]), "Authenticode-Specific Structures"
//! (`SpcIndirectDataContent`, `SpcPeImageData`, `SpcLink`, `SpcString`, `SpcSpOpusInfo`)
//! and "Authenticode Signatures" (a PKCS #7 v1.5 `SignedData` whose content is the
//! `SpcIndirectDataContent`, one `SignerInfo` with the authenticated attributes
//! `contentType`, `messageDigest` and `SpcSpOpusInfo`, RSA PKCS #1 v1.5 over SHA-256);
//! and the PE Format's "The Attribute Certificate Table (Image Only)" (`WIN_CERTIFICATE`,
//! revision 0x0200, type `WIN_CERT_TYPE_PKCS_SIGNED_DATA`, quadword aligned). The DER is
//! written here, field by field, so that nothing varies: there is no signing time, and RSA
//! PKCS #1 v1.5 signatures are deterministic, so one image and key give one signature.

use crate::pe::{self, PeError};
use rsa::pkcs1v15::SigningKey;
use rsa::signature::{SignatureEncoding, Signer as _};
use sha2::{Digest, Sha256};

/// `WIN_CERTIFICATE.wRevision`: `WIN_CERT_REVISION_2_0`.
const WIN_CERT_REVISION_2_0: u16 = 0x0200;
/// `WIN_CERTIFICATE.wCertificateType`: `WIN_CERT_TYPE_PKCS_SIGNED_DATA`.
const WIN_CERT_TYPE_PKCS_SIGNED_DATA: u16 = 0x0002;

/// DER content octets of the object identifiers used (X.690 8.19).
mod oid {
    /// id-signedData, 1.2.840.113549.1.7.2.
    pub const SIGNED_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02];
    /// id-sha256, 2.16.840.1.101.3.4.2.1.
    pub const SHA256: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];
    /// rsaEncryption, 1.2.840.113549.1.1.1.
    pub const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
    /// id-contentType, 1.2.840.113549.1.9.3.
    pub const CONTENT_TYPE: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x03];
    /// id-messageDigest, 1.2.840.113549.1.9.4.
    pub const MESSAGE_DIGEST: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x04];
    /// SPC_INDIRECT_DATA_OBJID, 1.3.6.1.4.1.311.2.1.4.
    pub const SPC_INDIRECT_DATA: &[u8] = &[0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x01, 0x04];
    /// SPC_PE_IMAGE_DATAOBJ, 1.3.6.1.4.1.311.2.1.15.
    pub const SPC_PE_IMAGE_DATA: &[u8] = &[0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x01, 0x0f];
    /// SPC_SP_OPUS_INFO_OBJID, 1.3.6.1.4.1.311.2.1.12.
    pub const SPC_SP_OPUS_INFO: &[u8] = &[0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x01, 0x0c];
}

/// A DER tag-length-value (X.690 8.1: definite length, short form below 128).
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len.to_be_bytes().into_iter().skip_while(|&b| b == 0).collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

fn seq(parts: &[&[u8]]) -> Vec<u8> {
    tlv(0x30, &parts.concat())
}

/// `AlgorithmIdentifier` with NULL parameters.
fn algorithm(oid: &[u8]) -> Vec<u8> {
    seq(&[&tlv(0x06, oid), &[0x05, 0x00]])
}

/// The PE image hash (SHA-256) as the Authenticode specification defines it: the headers
/// without `CheckSum` and the certificate table's directory entry, every section's raw
/// data in file order, then the bytes after them up to the attribute certificate table.
pub fn image_hash(image: &[u8]) -> Result<[u8; 32], PeError> {
    let mut h = Sha256::new();
    hashed_parts(image)?.into_iter().for_each(|p| h.update(p));
    Ok(h.finalize().into())
}

/// The bytes of `image` its PE image hash covers, in the order they are hashed: the
/// headers without the checksum and the certificate table's entry, each section's raw
/// data in file order, and what follows the sections up to the certificate table. Hash
/// them with any algorithm (SHA-384 for a TPM's SHA-384 bank).
pub fn hashed_parts(image: &[u8]) -> Result<Vec<&[u8]>, PeError> {
    let layout = pe::Layout::read(image)?;
    let mut parts = vec![
        &image[..layout.checksum],
        &image[layout.checksum + 4..layout.certificate_entry],
        &image[layout.certificate_entry + 8..layout.size_of_headers],
    ];
    let mut hashed = layout.size_of_headers;
    for (at, size) in &layout.sections {
        parts.push(image.get(*at..*at + *size).ok_or(PeError::NotPe)?);
        hashed += size;
    }
    let end = image.len() - layout.certificate_table_size;
    if end > hashed {
        parts.push(&image[hashed..end]);
    }
    Ok(parts)
}

/// `SpcIndirectDataContent` for an image with hash `hash`: `SpcPeImageData` with no flags
/// and the file link `<<<Obsolete>>>` (as sbsign and signtool write it), and the SHA-256
/// `DigestInfo`.
/// `DigestInfo`. Returns the structure's value (its content octets, without the
/// SEQUENCE's tag and length), which is what `messageDigest` covers.
fn indirect_data_value(hash: &[u8; 32]) -> Vec<u8> {
    let obsolete: Vec<u8> = "<<<Obsolete>>>".encode_utf16().flat_map(u16::to_be_bytes).collect();
    let link = tlv(0xa0, &tlv(0xa2, &tlv(0x80, &obsolete)));
    let pe_image_data = seq(&[&[0x03, 0x01, 0x00], &link]);
    let data = seq(&[&tlv(0x06, oid::SPC_PE_IMAGE_DATA), &pe_image_data]);
    let digest = seq(&[&algorithm(oid::SHA256), &tlv(0x04, hash)]);
    [data, digest].concat()
}

/// A signing identity: the private key and its certificate.
#[derive(Clone)]
pub struct Signer {
    /// The RSA private key.
    pub key: rsa::RsaPrivateKey,
    /// The certificate of its public key.
    pub certificate: x509_cert::Certificate,
}

impl std::fmt::Debug for Signer {
    /// The certificate's subject, never the key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Signer({})", self.certificate.tbs_certificate.subject)
    }
}

/// The PKCS #7 `SignedData` (as a `ContentInfo`) signing the `SpcIndirectDataContent`
/// whose value is `indirect` with `signer`.
fn signed_data(indirect: &[u8], signer: &Signer) -> Result<Vec<u8>, der::Error> {
    use der::Encode;
    let value_digest = Sha256::digest(indirect);
    let mut attributes = [
        seq(&[&tlv(0x06, oid::CONTENT_TYPE), &tlv(0x31, &tlv(0x06, oid::SPC_INDIRECT_DATA))]),
        seq(&[&tlv(0x06, oid::MESSAGE_DIGEST), &tlv(0x31, &tlv(0x04, &value_digest))]),
        seq(&[&tlv(0x06, oid::SPC_SP_OPUS_INFO), &tlv(0x31, &seq(&[]))]),
    ];
    attributes.sort(); // DER orders a SET OF by the encodings (X.690 11.6)
    let attributes = attributes.concat();
    let signature = SigningKey::<Sha256>::new(signer.key.clone()).sign(&tlv(0x31, &attributes)).to_vec();
    let tbs = &signer.certificate.tbs_certificate;
    let issuer_and_serial = seq(&[&tbs.issuer.to_der()?, &tbs.serial_number.to_der()?]);
    let signer_info = seq(&[
        &[0x02, 0x01, 0x01],
        &issuer_and_serial,
        &algorithm(oid::SHA256),
        &tlv(0xa0, &attributes),
        &algorithm(oid::RSA_ENCRYPTION),
        &tlv(0x04, &signature),
    ]);
    let content = seq(&[&tlv(0x06, oid::SPC_INDIRECT_DATA), &tlv(0xa0, &tlv(0x30, indirect))]);
    let signed = seq(&[
        &[0x02, 0x01, 0x01],
        &tlv(0x31, &algorithm(oid::SHA256)),
        &content,
        &tlv(0xa0, &signer.certificate.to_der()?),
        &tlv(0x31, &signer_info),
    ]);
    Ok(seq(&[&tlv(0x06, oid::SIGNED_DATA), &tlv(0xa0, &signed)]))
}

/// Why an image could not be signed.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// Not a PE image, or already signed.
    #[error("{0}")]
    Pe(PeError),
    /// The certificate could not be encoded.
    #[error("encoding the signature: {0}")]
    Der(#[from] der::Error),
}

/// `image` signed by `signer`: the `WIN_CERTIFICATE` appended on a quadword boundary, the
/// certificate table's directory entry pointing at it, the `CheckSum` recomputed. A
/// signature the image already carries (Debian signs its kernels) is replaced.
pub fn sign(image: Vec<u8>, signer: &Signer) -> Result<Vec<u8>, SignError> {
    let image = pe::without_signature(image).map_err(SignError::Pe)?;
    let mut image = pe::PeImage::parse(image).map_err(SignError::Pe)?.finish();
    image.resize(image.len().next_multiple_of(8), 0);
    let pkcs7 = signed_data(&indirect_data_value(&image_hash(&image).map_err(SignError::Pe)?), signer)?;
    let length = 8 + pkcs7.len();
    let table_at = image.len();
    image.extend_from_slice(&(length as u32).to_le_bytes());
    image.extend_from_slice(&WIN_CERT_REVISION_2_0.to_le_bytes());
    image.extend_from_slice(&WIN_CERT_TYPE_PKCS_SIGNED_DATA.to_le_bytes());
    image.extend_from_slice(&pkcs7);
    image.resize(image.len().next_multiple_of(8), 0);
    let size = image.len() - table_at;
    pe::set_certificate_table(&mut image, table_at as u32, size as u32).map_err(SignError::Pe)?;
    Ok(image)
}

/// One DER element of `bytes`: its tag, its content and what follows it.
fn element(bytes: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = bytes.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        let len = rest.get(..n)?.iter().try_fold(0usize, |acc, &b| acc.checked_mul(256)?.checked_add(b as usize))?;
        (len, &rest[n..])
    };
    Some((tag, rest.get(..len)?, &rest[len..]))
}

/// A DER element: its tag, its content, and its whole encoding.
type Element<'a> = (u8, &'a [u8], &'a [u8]);

/// The elements inside a constructed element's content.
fn elements(mut content: &[u8]) -> Vec<Element<'_>> {
    let mut out = Vec::new();
    while let Some((tag, inner, rest)) = element(content) {
        out.push((tag, inner, &content[..content.len() - rest.len()]));
        content = rest;
    }
    out
}

/// The most signers [`signers`] reports: a binary carries one signature, or a handful
/// when a vendor's and a distribution's keys both sign it; a hostile table of thousands
/// is cut off here.
pub const SIGNERS_MAX: usize = 64;
/// The most certificates of one signature [`signers`] reads: a signer's chain is a few.
pub const CERTIFICATES_MAX: usize = 256;

/// The fields of each `SignedData` in `image`'s attribute certificate table, in table
/// order (a WIN_CERTIFICATE that holds none is skipped).
fn signatures(image: &[u8]) -> Result<Vec<Vec<Element<'_>>>, PeError> {
    let layout = pe::Layout::read(image)?;
    let at = image
        .get(layout.certificate_entry..layout.certificate_entry + 4)
        .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize);
    if layout.certificate_table_size > 0 && at + layout.certificate_table_size != image.len() {
        return Err(PeError::MisplacedCertificates);
    }
    let mut table = &image[image.len() - layout.certificate_table_size..];
    let mut found = Vec::new();
    while table.len() >= 8 {
        let length = u32::from_le_bytes([table[0], table[1], table[2], table[3]]) as usize;
        if length < 8 {
            break; // dwLength counts its own header: a smaller one ends the walk
        }
        let pkcs7 = table.get(8..length).ok_or(PeError::NotPe)?;
        table = table.get(length.next_multiple_of(8).min(table.len())..).unwrap_or_default();
        // ContentInfo { contentType, [0] SignedData { version, digestAlgorithms,
        // encapContentInfo, [0] certificates, ..., signerInfos } }
        let signed = element(pkcs7).and_then(|(_, ci, _)| elements(ci).get(1).and_then(|e| element(e.1)));
        if let Some((_, signed, _)) = signed {
            found.push(elements(signed));
        }
    }
    Ok(found)
}

/// The certificates (DER) each signature of `image` carries, signature by signature, at
/// most [`CERTIFICATES_MAX`] each: what a firmware matches against db.
pub fn certificates(image: &[u8]) -> Result<Vec<Vec<&[u8]>>, PeError> {
    Ok(signatures(image)?
        .iter()
        .map(|fields| {
            let certs = fields.iter().find(|f| f.0 == 0xa0).map(|f| elements(f.1)).unwrap_or_default();
            certs.iter().take(CERTIFICATES_MAX).map(|c| c.2).collect()
        })
        .collect())
}

/// The subjects (RFC 4514) of the certificates that signed `image`, one per signature in
/// its attribute certificate table: the certificate each `SignerInfo` names by issuer
/// and serial number, at most [`SIGNERS_MAX`] of them (of at most [`CERTIFICATES_MAX`]
/// certificates each). An unsigned image has none.
pub fn signers(image: &[u8]) -> Result<Vec<String>, PeError> {
    use der::{Decode, Encode};
    let mut subjects = Vec::new();
    for fields in signatures(image)? {
        // Each certificate's issuer and serial number, encoded once, to its subject.
        let subject_of: std::collections::HashMap<Vec<u8>, String> = fields
            .iter()
            .find(|f| f.0 == 0xa0)
            .map(|f| elements(f.1))
            .unwrap_or_default()
            .iter()
            .take(CERTIFICATES_MAX)
            .filter_map(|c| x509_cert::Certificate::from_der(c.2).ok())
            .map(|c| {
                let tbs = &c.tbs_certificate;
                let key = [tbs.issuer.to_der().unwrap_or_default(), tbs.serial_number.to_der().unwrap_or_default()];
                (key.concat(), tbs.subject.to_string())
            })
            .collect();
        let Some(signer_infos) = fields.last().filter(|f| f.0 == 0x31) else { continue };
        for info in elements(signer_infos.1) {
            if subjects.len() == SIGNERS_MAX {
                return Ok(subjects);
            }
            let Some(issuer_and_serial) = elements(info.1).get(1).map(|e| e.1) else { continue };
            let named = subject_of.get(issuer_and_serial).cloned();
            subjects.push(named.unwrap_or_else(|| "(certificate not included)".into()));
        }
    }
    Ok(subjects)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_lengths_use_the_short_form_below_128_and_the_long_form_above() {
        assert_eq!(tlv(0x04, &[7; 3])[..2], [0x04, 3]);
        assert_eq!(tlv(0x04, &[7; 200])[..3], [0x04, 0x81, 200]);
        assert_eq!(tlv(0x04, &vec![7; 0x1234])[..4], [0x04, 0x82, 0x12, 0x34]);
    }

    #[test]
    fn the_indirect_data_names_a_pe_image_and_carries_the_sha256() {
        let value = indirect_data_value(&[0xab; 32]);
        let spc_pe = tlv(0x06, oid::SPC_PE_IMAGE_DATA);
        assert_eq!(value[2..2 + spc_pe.len()], spc_pe[..]);
        assert!(value.ends_with(&tlv(0x04, &[0xab; 32])));
    }
}
