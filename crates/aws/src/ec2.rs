//! EC2: wait for a snapshot, register it as an AMI, tag, share, deprecate and copy it.

use crate::retry::{classify, hint, Failure};
use crate::Error;
use aws_sdk_ec2::types::{ResourceType, Tag, TagSpecification};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use serde::Serialize;

/// The boot mode of an AMI, serialized as the recipe and EC2 spell it (`uefi-preferred`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BootMode {
    /// Legacy BIOS only.
    LegacyBios,
    /// UEFI only.
    Uefi,
    /// UEFI where the instance type supports it, else BIOS.
    UefiPreferred,
}

impl BootMode {
    /// The name: `legacy-bios`, `uefi` or `uefi-preferred`.
    pub fn name(self) -> &'static str {
        match self {
            BootMode::LegacyBios => "legacy-bios",
            BootMode::Uefi => "uefi",
            BootMode::UefiPreferred => "uefi-preferred",
        }
    }

    /// Parses `legacy-bios`, `uefi` or `uefi-preferred`.
    pub fn parse(s: &str) -> Option<BootMode> {
        [BootMode::LegacyBios, BootMode::Uefi, BootMode::UefiPreferred].into_iter().find(|m| m.name() == s)
    }
}

/// Who may launch the AMI.
#[derive(Clone, Debug, Default, Serialize)]
pub struct LaunchPermissions {
    /// 12-digit account ids.
    pub accounts: Vec<String>,
    /// Organization ARNs.
    pub organizations: Vec<String>,
    /// Organizational unit ARNs.
    pub organizational_units: Vec<String>,
    /// Everyone.
    pub public: bool,
}

impl LaunchPermissions {
    pub(crate) fn is_empty(&self) -> bool {
        self.accounts.is_empty()
            && self.organizations.is_empty()
            && self.organizational_units.is_empty()
            && !self.public
    }
}

/// Everything RegisterImage and the calls after it need.
#[derive(Clone, Debug, Serialize)]
pub struct AmiSpec {
    /// The AMI name (3–128 characters).
    pub name: String,
    /// The description.
    pub description: String,
    /// `x86_64` or `arm64`.
    pub architecture: String,
    /// The boot mode.
    pub boot_mode: BootMode,
    /// ENA support.
    pub ena: bool,
    /// SriovNetSupport `simple`.
    pub sriov: bool,
    /// NitroTPM v2.0 (UEFI only).
    pub tpm: bool,
    /// Require IMDSv2 on instances launched from it.
    pub imds_v2: bool,
    /// The root device name, e.g. `/dev/xvda`.
    pub root_device_name: String,
    /// The root volume's type (`gp3`, …).
    pub volume_type: String,
    /// The root volume's size in GiB (default: the snapshot's).
    pub volume_size_gib: Option<u64>,
    /// Provisioned IOPS (gp3, io1, io2).
    pub iops: Option<u32>,
    /// Provisioned throughput in MiB/s (gp3).
    pub throughput: Option<u32>,
    /// Delete the root volume when the instance terminates.
    pub delete_on_termination: bool,
    /// UEFI variable store (base64), as `aws ec2 get-instance-uefi-data` prints it.
    pub uefi_data: Option<String>,
    /// Tags on the AMI and its snapshot(s).
    pub tags: Vec<(String, String)>,
    /// Launch permissions, applied in every region.
    pub launch: LaunchPermissions,
    /// More regions to copy the AMI to.
    pub regions: Vec<String>,
    /// Deprecation time, RFC 3339 (`2027-01-01T00:00:00Z`).
    pub deprecate_at: Option<String>,
    /// Deregistration protection on the AMI and its copies: `Some(true)` with the 24-hour
    /// cooldown after it is disabled, `Some(false)` without.
    pub deregistration_protection: Option<bool>,
    /// The SSM parameter to point at the AMI in every region it is in (a name, expanded).
    pub ssm_parameter: Option<String>,
    /// Time-based copies: CopyImage's SnapshotCopyCompletionDurationMinutes.
    pub copy_completion_minutes: Option<u32>,
}

/// EC2's limit on RegisterImage's `UefiData`, in characters of base64 (the EC2 API model's
/// `ImageUefiDataRequest`, max length 64,000).
pub const UEFI_DATA_MAX_CHARS: usize = 64_000;

/// Checks a `UefiData` store against [`UEFI_DATA_MAX_CHARS`].
///
/// ```
/// assert!(ingot_aws::check_uefi_data("QU1aTlVFRkk=").is_ok());
/// assert!(ingot_aws::check_uefi_data(&"A".repeat(64_004)).unwrap_err().to_string().contains("64004 characters"));
/// ```
pub fn check_uefi_data(text: &str) -> Result<(), Error> {
    if text.len() > UEFI_DATA_MAX_CHARS {
        return Err(Error::Invalid(format!(
            "the UEFI variable store is {} characters of base64, over the {UEFI_DATA_MAX_CHARS} RegisterImage takes: enroll fewer or smaller certificates, or a shorter dbx",
            text.len()
        )));
    }
    Ok(())
}

impl AmiSpec {
    /// Checks the fields against EC2's rules.
    pub fn check(&self) -> Result<(), Error> {
        let bad = |m: String| Err(Error::Invalid(m));
        check_ami_name(&self.name)?;
        if !matches!(self.architecture.as_str(), "x86_64" | "arm64") {
            return bad(format!("architecture {:?}: expected x86_64 or arm64", self.architecture));
        }
        if self.tpm && self.boot_mode != BootMode::Uefi {
            return bad("tpm = true needs boot_mode = \"uefi\" (NitroTPM is UEFI only)".into());
        }
        if let Some(text) = &self.uefi_data {
            check_uefi_data(text)?;
        }
        if self.architecture == "arm64" && self.boot_mode != BootMode::Uefi {
            return bad("arm64 AMIs boot with UEFI only: set boot_mode = \"uefi\"".into());
        }
        if !matches!(self.volume_type.as_str(), "gp3" | "gp2" | "io1" | "io2" | "st1" | "sc1" | "standard") {
            return bad(format!(
                "volume_type {:?}: expected gp3, gp2, io1, io2, st1, sc1 or standard",
                self.volume_type
            ));
        }
        if self.iops.is_some() && !matches!(self.volume_type.as_str(), "gp3" | "io1" | "io2") {
            return bad(format!("iops is only for gp3, io1 and io2 volumes, not {}", self.volume_type));
        }
        if self.throughput.is_some() && self.volume_type != "gp3" {
            return bad(format!("throughput is only for gp3 volumes, not {}", self.volume_type));
        }
        if let Some(d) = &self.deprecate_at {
            if aws_smithy_types::DateTime::from_str(d, aws_smithy_types::date_time::Format::DateTime).is_err() {
                return bad(format!("deprecate_at {d:?} is not an RFC 3339 time such as 2027-01-01T00:00:00Z"));
            }
        }
        Ok(())
    }
}

/// Checks an AMI name against EC2's rules: 3–128 characters of letters, digits, spaces
/// and `( ) [ ] . / - ' @ _`.
pub fn check_ami_name(name: &str) -> Result<(), Error> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || "()[] ./-'@_".contains(c);
    if !(3..=128).contains(&name.len()) || !name.chars().all(ok_char) {
        return Err(Error::Invalid(format!(
            "AMI name {name:?}: 3–128 characters of letters, digits, spaces and ( ) [ ] . / - ' @ _"
        )));
    }
    Ok(())
}

/// What an AMI boots from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum AmiRoot {
    /// An EBS snapshot (an EBS-backed AMI).
    Snapshot(String),
    /// `bucket/prefix/NAME.manifest.xml`: an instance-store bundle in S3.
    Manifest(String),
}

/// An AMI in one region.
#[derive(Clone, Debug, Serialize)]
pub struct PublishedImage {
    /// The region.
    pub region: String,
    /// The AMI id.
    pub image_id: String,
}

/// What registration did.
#[derive(Clone, Debug, Serialize)]
pub struct RegisterReport {
    /// The AMI in the session's region.
    pub image_id: String,
    /// Its name.
    pub name: String,
    /// The session's region.
    pub region: String,
    /// The root snapshot (EBS-backed AMIs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot_id: Option<String>,
    /// The manifest in S3 (instance-store AMIs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_location: Option<String>,
    /// True if an AMI of that name already existed and was kept.
    pub reused: bool,
    /// Copies in other regions.
    pub copies: Vec<PublishedImage>,
    /// The SSM parameter in each region (`ssm_parameter`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<crate::ParameterUpdate>,
}

impl RegisterReport {
    /// The report of an AMI that already existed under `name` and was kept.
    pub fn reused(image_id: String, name: &str, region: &str) -> RegisterReport {
        RegisterReport {
            image_id,
            name: name.to_string(),
            region: region.to_string(),
            snapshot_id: None,
            image_location: None,
            reused: true,
            copies: Vec::new(),
            parameters: Vec::new(),
        }
    }
}

/// Maps an EC2 SDK error to [`Error::Api`].
pub(crate) fn api<E>(operation: &'static str) -> impl FnOnce(SdkError<E, HttpResponse>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    move |err| {
        let (code, message) = match classify(&err) {
            Failure::Fatal { code, message } => (code, message),
            Failure::Transient(m) | Failure::NotFound(m) => ("RetriesExhausted".into(), m),
        };
        let hint = hint(&code).to_string();
        Error::Api { operation, code, message, hint }
    }
}

pub(crate) fn tags(resource: ResourceType, tags: &[(String, String)]) -> TagSpecification {
    let t = tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build());
    TagSpecification::builder().resource_type(resource).set_tags(Some(t.collect())).build()
}
