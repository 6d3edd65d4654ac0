//! EC2's bundle certificates: the public keys EC2 decrypts a bundle's AES key and IV
//! with, one per partition, as EC2's AMI tools ship them in `etc/ec2/amitools/`.
//!
//! They never rotate (the manifest has no field to say which one was used): the
//! commercial one expired in 2006 and is still the one EC2 expects. Expiry is therefore
//! not checked; the SHA-256 fingerprints below pin the exact bytes.
//!
//! ```
//! let cert = ingot_bundle::ec2_certificate("us-gov-west-1");
//! assert_eq!(cert.file, "cert-ec2-gov.pem");
//! assert!(cert.pem.starts_with("-----BEGIN CERTIFICATE-----"));
//! ```

/// One of EC2's bundle certificates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ec2Certificate {
    /// `aws`, `aws-us-gov` or `aws-cn`.
    pub partition: &'static str,
    /// The AMI tools' file name.
    pub file: &'static str,
    /// The certificate (PEM).
    pub pem: &'static str,
    /// SHA-256 of its DER encoding, lowercase hex (`openssl x509 -fingerprint -sha256`).
    pub sha256: &'static str,
}

/// The commercial partition's certificate (`cert-ec2.pem`).
pub const EC2_COMMERCIAL: Ec2Certificate = Ec2Certificate {
    partition: "aws",
    file: "cert-ec2.pem",
    pem: include_str!("../certs/cert-ec2.pem"),
    sha256: "f5707aedb54251798f6bbcc1a10a9cfd1f21fc69909ea1276319aa2f098e4790",
};

/// The GovCloud (US) certificate (`cert-ec2-gov.pem`).
pub const EC2_GOVCLOUD: Ec2Certificate = Ec2Certificate {
    partition: "aws-us-gov",
    file: "cert-ec2-gov.pem",
    pem: include_str!("../certs/cert-ec2-gov.pem"),
    sha256: "4956f966c8a0e75d22b9b23442959464468f20a676010ce823b45992e122f7a9",
};

/// The China certificate (`cert-ec2-cn-north-1.pem`).
pub const EC2_CHINA: Ec2Certificate = Ec2Certificate {
    partition: "aws-cn",
    file: "cert-ec2-cn-north-1.pem",
    pem: include_str!("../certs/cert-ec2-cn-north-1.pem"),
    sha256: "8480e2b60a0e513c322e04601f81a5ff67a9cad55389925c6cb6ed6d0189aa09",
};

/// The certificate EC2 uses in `region`'s partition: `us-gov-*` GovCloud, `cn-*` China,
/// every other region the commercial one.
pub fn ec2_certificate(region: &str) -> &'static Ec2Certificate {
    if region.starts_with("us-gov-") {
        &EC2_GOVCLOUD
    } else if region.starts_with("cn-") {
        &EC2_CHINA
    } else {
        &EC2_COMMERCIAL
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};
    use x509_cert::der::{DecodePem, Encode};

    #[test]
    fn shipped_certificates_are_the_pinned_ones_and_hold_rsa_keys() {
        for c in [EC2_COMMERCIAL, EC2_GOVCLOUD, EC2_CHINA] {
            let cert = x509_cert::Certificate::from_pem(c.pem).expect(c.file);
            let der = cert.to_der().expect(c.file);
            let got = hex::encode(Sha256::digest(&der));
            assert_eq!(got, c.sha256, "{}", c.file);
            crate::crypto::certificate_key(c.pem, c.file).expect(c.file);
        }
    }

    #[test]
    fn regions_map_to_partitions() {
        assert_eq!(ec2_certificate("us-east-1").partition, "aws");
        assert_eq!(ec2_certificate("eu-central-2").partition, "aws");
        assert_eq!(ec2_certificate("us-gov-east-1").partition, "aws-us-gov");
        assert_eq!(ec2_certificate("cn-northwest-1").partition, "aws-cn");
    }
}
