//! `EFI_SIGNATURE_LIST`: how the Secure Boot variables PK, KEK, db and dbx hold
//! certificates.
//!
//! Follows the UEFI Specification 2.10, section 32.4.1 "Signature Database": one list per
//! certificate, `SignatureType` = `EFI_CERT_X509_GUID`, `SignatureListSize`,
//! `SignatureHeaderSize` = 0, `SignatureSize` = 16 + the certificate's length, then one
//! `EFI_SIGNATURE_DATA` { `SignatureOwner`, `SignatureData` (the DER certificate) }, as
//! efitools' `cert-to-efi-sig-list` writes it. GUIDs are stored as `EFI_GUID` is: the first
//! three fields little-endian (uuid's `to_bytes_le`).

use uuid::Uuid;

/// `EFI_CERT_X509_GUID`: a DER-encoded X.509 certificate.
pub const EFI_CERT_X509_GUID: Uuid = uuid::uuid!("a5c059a1-94e4-4aa7-87b5-ab155c2bf072");

/// The `SignatureOwner` of the lists ingot writes (`ingot keys`, and the variable store
/// of a `[secure_boot]` recipe): an identifier of ingot, fixed so that stores are
/// reproducible (firmware does not interpret it).
pub const INGOT_OWNER: Uuid = uuid::uuid!("5e8d2c1a-6f0b-4b7e-9a3c-1d2e3f405162");

/// Bytes before `SignatureData` in a list of one signature: `SignatureType` (16),
/// `SignatureListSize`, `SignatureHeaderSize`, `SignatureSize` (4 each), `SignatureOwner`
/// (16).
const HEADER: usize = 16 + 4 + 4 + 4 + 16;

/// The signature list holding the DER certificate `der`, owned by `owner`.
///
/// ```
/// let esl = ingot_boot::efi_signature_list::x509(&[0x30, 0x00], uuid::Uuid::nil());
/// assert_eq!(esl.len(), 44 + 2);
/// assert_eq!(&esl[16..20], &46u32.to_le_bytes()); // SignatureListSize
/// ```
pub fn x509(der: &[u8], owner: Uuid) -> Vec<u8> {
    let mut list = Vec::with_capacity(HEADER + der.len());
    list.extend_from_slice(&EFI_CERT_X509_GUID.to_bytes_le());
    list.extend_from_slice(&((HEADER + der.len()) as u32).to_le_bytes());
    list.extend_from_slice(&0u32.to_le_bytes());
    list.extend_from_slice(&((16 + der.len()) as u32).to_le_bytes());
    list.extend_from_slice(&owner.to_bytes_le());
    list.extend_from_slice(der);
    list
}

/// The X.509 certificates (DER) in `lists`, one or more signature lists back to back;
/// `None` if they are not well formed. Lists of other signature types are skipped.
pub fn certificates(lists: &[u8]) -> Option<Vec<&[u8]>> {
    Some(x509_entries(lists)?.into_iter().map(|(_, der)| der).collect())
}

/// [`certificates`] with each one's `SignatureOwner` (the GUID as stored, 16 bytes): the
/// `EFI_SIGNATURE_DATA` entries of the X.509 lists.
pub fn x509_entries(mut lists: &[u8]) -> Option<Vec<(&[u8], &[u8])>> {
    let mut found = Vec::new();
    while !lists.is_empty() {
        let field =
            |at: usize| -> Option<usize> { Some(u32::from_le_bytes(lists.get(at..at + 4)?.try_into().ok()?) as usize) };
        let (list_size, header_size, size) = (field(16)?, field(20)?, field(24)?);
        let body = lists.get(28 + header_size..list_size)?;
        if size < 16 || body.len() % size != 0 {
            return None;
        }
        if lists[..16] == EFI_CERT_X509_GUID.to_bytes_le() {
            found.extend(body.chunks(size).map(|s| (&s[..16], &s[16..])));
        }
        lists = &lists[list_size..];
    }
    Some(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_reads_back_and_a_cut_list_does_not() {
        let owner = uuid::uuid!("11111111-2222-3333-4444-555555555555");
        let mut two = x509(b"first-cert", owner);
        two.extend(x509(b"second", owner));
        assert_eq!(certificates(&two), Some(vec![&b"first-cert"[..], &b"second"[..]]));
        assert_eq!(&two[28..32], &[0x11, 0x11, 0x11, 0x11], "owner GUID, mixed-endian");
        assert_eq!(&two[32..34], &[0x22, 0x22]);
        assert_eq!(certificates(&two[..two.len() - 1]), None);
    }
}
