//! EC2: wait for a snapshot, register it as an AMI, tag, share, deprecate and copy it.

use crate::retry::{classify, hint, Failure};
use crate::Error;
use aws_sdk_ec2::types::{ResourceType, Tag, TagSpecification};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use ingot_types::{Machine, Protection, RootVolume};
use serde::Serialize;

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
    /// The instances it launches.
    #[serde(flatten)]
    pub machine: Machine,
    /// Its root volume (an EBS-backed AMI's; an instance-store AMI's comes from its
    /// bundle).
    #[serde(flatten)]
    pub root: RootVolume,
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
    /// Deregistration protection on the AMI and its copies, with the 24-hour cooldown
    /// after it is disabled or without.
    pub deregistration_protection: Option<Protection>,
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
    /// Checks what the request adds to a validated recipe: the AMI name (expanded, or
    /// chosen at publication), the UEFI variable store (read from a file) and the
    /// deprecation time. The rules between the recipe's own fields (arm64 and NitroTPM
    /// boot with UEFI only, which volume types take iops and throughput) have one owner,
    /// the recipe's `[ami]` validation, through `ingot_types::BootMode::check` and
    /// `VolumeType::takes_iops`; the types here hold only values those rules let through
    /// when the spec comes from a recipe.
    pub fn check(&self) -> Result<(), Error> {
        check_ami_name(&self.name)?;
        if let Some(text) = &self.uefi_data {
            check_uefi_data(text)?;
        }
        if let Some(d) = &self.deprecate_at {
            if aws_smithy_types::DateTime::from_str(d, aws_smithy_types::date_time::Format::DateTime).is_err() {
                return Err(Error::Invalid(format!(
                    "deprecate_at {d:?} is not an RFC 3339 time such as 2027-01-01T00:00:00Z"
                )));
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
