//! The `[ami]` section: how `ingot publish` registers the image as an AMI.

use crate::error::Locator;
use crate::schema::RawAmi;
use crate::{parse_size, Ami, RecipeError};
use ingot_types::calendar::civil_date;
use ingot_types::{ebs, Arch, BootMode, BootRule, Machine, Protection, RootVolume, VolumeType};
use toml::{Spanned, Value};

/// CopyImage's `SnapshotCopyCompletionDurationMinutes`: 15 minutes to 48 hours (EC2 API
/// Reference, CopyImage) ...
pub const COPY_COMPLETION_MINUTES: std::ops::RangeInclusive<u32> = 15..=2880;
/// ... in steps of 15 minutes.
pub const COPY_COMPLETION_STEP: u32 = 15;

impl Ami {
    /// The AMI name for recipe `recipe` published at `unix_time`.
    ///
    /// ```
    /// let toml = r#"
    /// name = "web"
    /// [ami]
    /// name = "{name}-{version}-{date}-{arch}"
    /// version = "1.2"
    /// [[partition]]
    /// type = "linux"
    /// size = "fill"
    /// "#;
    /// let recipe = ingot_recipe::Recipe::parse(toml, "r.toml".as_ref()).unwrap();
    /// let ami = recipe.ami.as_ref().unwrap();
    /// assert_eq!(ami.expand_name("web", 1_800_000_000), "web-1.2-20270115-x86_64");
    /// ```
    pub fn expand_name(&self, recipe: &str, unix_time: i64) -> String {
        self.expand(&self.name, recipe, unix_time)
    }

    /// `template` with `{name}` (the recipe's), `{version}`, `{arch}` and `{date}` (UTC,
    /// YYYYMMDD, of `unix_time`) replaced: the AMI name and the SSM parameter's.
    pub fn expand(&self, template: &str, recipe: &str, unix_time: i64) -> String {
        template
            .replace("{name}", recipe)
            .replace("{version}", &self.version)
            .replace("{arch}", self.machine.architecture.as_str())
            .replace("{date}", &ymd(unix_time))
    }
}

/// `YYYYMMDD` of a Unix time, UTC.
fn ymd(t: i64) -> String {
    let (y, m, d) = civil_date(t);
    format!("{y:04}{m:02}{d:02}")
}

/// The value of `key` among `all` (by EC2 name), or `default` when absent.
fn one_of<T: Copy>(
    loc: &Locator,
    key: &str,
    v: &Option<Spanned<String>>,
    all: &[T],
    name: fn(T) -> &'static str,
    default: T,
) -> Result<T, RecipeError> {
    let Some(s) = v else { return Ok(default) };
    all.iter().copied().find(|&t| name(t) == s.get_ref()).ok_or_else(|| {
        let names: Vec<&str> = all.iter().map(|&t| name(t)).collect();
        loc.at(s.span().start, format!("ami.{key}: {:?} is not one of {}", s.get_ref(), names.join(", ")))
    })
}

/// Validates `[ami]`.
/// `secure_boot`: the recipe has `[secure_boot]`, which makes `uefi` the default boot mode.
pub(crate) fn ami(
    loc: &Locator,
    raw: &RawAmi,
    arch: Arch,
    secure_boot: bool,
    base: &std::path::Path,
) -> Result<Ami, RecipeError> {
    let boot_mode = boot_mode(loc, raw, arch, secure_boot)?;
    let (volume_type, volume_size_gib) = volume(loc, raw)?;
    let (snapshot_timeout, copy_completion_minutes) = minutes(loc, raw)?;
    if raw.kms_key_id.is_some() && !raw.encrypted.unwrap_or(false) {
        let at = raw.kms_key_id.as_ref().map_or(0, |s| s.span().start);
        return Err(loc.at(at, "ami.kms_key_id: a KMS key needs encrypted = true"));
    }
    let deregistration_protection = match &raw.deregistration_protection {
        None => None,
        Some(_) => Some(one_of(
            loc,
            "deregistration_protection",
            &raw.deregistration_protection,
            Protection::ALL,
            Protection::as_str,
            Protection::WithCooldown,
        )?),
    };
    if let Some(p) = &raw.ssm_parameter {
        check_parameter_template(p.get_ref()).map_err(|e| loc.at(p.span().start, format!("ami.ssm_parameter: {e}")))?;
    }
    let perms = raw.launch_permissions.as_ref();
    let list = |f: fn(&crate::schema::RawLaunch) -> &Vec<String>| perms.map(|p| f(p).clone()).unwrap_or_default();
    let share_accounts = list(|p| &p.accounts);
    if let Some(bad) = share_accounts.iter().find(|a| a.len() != 12 || !a.bytes().all(|b| b.is_ascii_digit())) {
        return Err(loc.whole(format!("ami.launch_permissions.accounts: {bad:?} is not a 12-digit account id")));
    }
    Ok(Ami {
        name: raw.name.clone().unwrap_or_else(|| "{name}-{version}-{arch}".into()),
        version: raw.version.clone().unwrap_or_else(|| "0".into()),
        description: raw.description.clone().unwrap_or_default(),
        machine: Machine {
            architecture: arch,
            boot_mode,
            ena: raw.ena.unwrap_or(true),
            sriov: raw.sriov.unwrap_or(true),
            tpm: raw.tpm.as_ref().is_some_and(|t| *t.get_ref()),
            imds_v2: raw.imds_v2.unwrap_or(true),
        },
        root: RootVolume {
            root_device_name: raw.root_device.clone().unwrap_or_else(|| "/dev/xvda".into()),
            volume_type,
            volume_size_gib,
            iops: raw.iops.as_ref().map(|i| *i.get_ref()),
            throughput: raw.throughput.as_ref().map(|t| *t.get_ref()),
            delete_on_termination: raw.delete_on_termination.unwrap_or(true),
        },
        uefi_data: raw.uefi_data.as_ref().map(|p| base.join(p)),
        tags: raw.tags.clone(),
        share_accounts,
        share_organizations: list(|p| &p.organizations),
        share_organizational_units: list(|p| &p.organizational_units),
        public: perms.is_some_and(|p| p.public.unwrap_or(false)),
        regions: raw.regions.clone(),
        deprecate_at: raw.deprecate_at.clone(),
        encrypted: raw.encrypted.unwrap_or(false),
        kms_key_id: raw.kms_key_id.as_ref().map(|s| s.get_ref().clone()),
        snapshot_timeout,
        deregistration_protection,
        ssm_parameter: raw.ssm_parameter.as_ref().map(|p| p.get_ref().clone()),
        copy_completion_minutes,
    })
}

/// `ami.snapshot_timeout` (EBS's default when unset) and `ami.copy_completion_minutes`,
/// in the ranges EBS and CopyImage take.
fn minutes(loc: &Locator, raw: &RawAmi) -> Result<(u32, Option<u32>), RecipeError> {
    let snapshot_timeout = match &raw.snapshot_timeout {
        Some(t) if !ebs::SNAPSHOT_TIMEOUT_MINUTES.contains(t.get_ref()) => {
            let (lo, hi) = ebs::SNAPSHOT_TIMEOUT_MINUTES.into_inner();
            return Err(loc.at(t.span().start, format!("ami.snapshot_timeout: EBS takes {lo}–{hi} minutes")));
        }
        Some(t) => *t.get_ref(),
        None => ebs::DEFAULT_SNAPSHOT_TIMEOUT_MINUTES,
    };
    let copy_completion_minutes = match &raw.copy_completion_minutes {
        Some(m) if !COPY_COMPLETION_MINUTES.contains(m.get_ref()) || m.get_ref() % COPY_COMPLETION_STEP != 0 => {
            let (lo, hi) = COPY_COMPLETION_MINUTES.into_inner();
            return Err(loc.at(
                m.span().start,
                format!(
                    "ami.copy_completion_minutes: CopyImage takes {lo}–{hi} minutes in steps of {COPY_COMPLETION_STEP}"
                ),
            ));
        }
        Some(m) => Some(*m.get_ref()),
        None => None,
    };
    Ok((snapshot_timeout, copy_completion_minutes))
}

/// `ami.boot_mode` (UEFI by default for arm64 and Secure Boot, else UEFI-preferred), held
/// to the rules EC2 sets on it: arm64 boots with UEFI only, and so does NitroTPM.
fn boot_mode(loc: &Locator, raw: &RawAmi, arch: Arch, secure_boot: bool) -> Result<BootMode, RecipeError> {
    let default_mode = BootMode::default_for(arch, secure_boot);
    let boot_mode = one_of(loc, "boot_mode", &raw.boot_mode, BootMode::ALL, BootMode::as_str, default_mode)?;
    let tpm = raw.tpm.as_ref().filter(|t| *t.get_ref());
    match boot_mode.check(arch, tpm.is_some()) {
        Ok(()) => Ok(boot_mode),
        Err(BootRule::Arm64NeedsUefi) => {
            let at = raw.boot_mode.as_ref().map_or(0, |s| s.span().start);
            Err(loc.at(at, "ami.boot_mode: arm64 AMIs boot with UEFI only: use \"uefi\""))
        }
        Err(BootRule::TpmNeedsUefi) => Err(loc.at(
            tpm.map_or(0, |t| t.span().start),
            format!("ami.tpm: NitroTPM needs boot_mode = \"uefi\", not {:?}", boot_mode.as_str()),
        )),
    }
}

/// `ami.volume_type` (gp3 by default) and `ami.volume_size` in GiB, with the rule on which
/// types take `iops` and `throughput`.
fn volume(loc: &Locator, raw: &RawAmi) -> Result<(VolumeType, Option<u64>), RecipeError> {
    let volume_type =
        one_of(loc, "volume_type", &raw.volume_type, VolumeType::ALL, VolumeType::as_str, VolumeType::Gp3)?;
    let vt = volume_type.as_str();
    if let Some(i) = &raw.iops {
        if !volume_type.takes_iops() {
            return Err(loc.at(i.span().start, format!("ami.iops: only gp3, io1 and io2 volumes take iops, not {vt}")));
        }
    }
    if let Some(t) = &raw.throughput {
        if !volume_type.takes_throughput() {
            return Err(loc.at(t.span().start, format!("ami.throughput: only gp3 volumes take throughput, not {vt}")));
        }
    }
    let size = match &raw.volume_size {
        None => None,
        Some(v) => Some(gib(loc, v)?),
    };
    Ok((volume_type, size))
}

/// The longest SSM parameter name ingot takes. The SSM API Reference (PutParameter, Name)
/// allows 1,011 characters counting the ARN before the name
/// (`arn:PARTITION:ssm:REGION:ACCOUNT:parameter/`); that prefix is kept within 64
/// characters here (the longest partition and region names make 56), so a name that
/// passes fits in every region.
pub const SSM_NAME_MAX: usize = 1011 - 64;

/// Checks an SSM parameter name, or a template of one (`{name}`, `{version}`, `{arch}`,
/// `{date}` taken as valid), against the rules of the SSM User Guide ("Naming
/// constraints for parameter names"): letters, digits and `_ . - /`; a name with a `/`
/// starts with one; at most 15 levels; not beginning with `aws` or `ssm`.
///
/// ```
/// assert!(ingot_recipe::check_parameter_template("/images/{name}/{arch}/latest").is_ok());
/// assert!(ingot_recipe::check_parameter_template("images/latest").is_err());
/// assert!(ingot_recipe::check_parameter_template("/aws/service/x").is_err());
/// ```
pub fn check_parameter_template(template: &str) -> Result<(), String> {
    let mut plain = template.to_string();
    for field in ["{name}", "{version}", "{arch}", "{date}"] {
        plain = plain.replace(field, "x");
    }
    let ok = |c: char| c.is_ascii_alphanumeric() || "_.-/".contains(c);
    if plain.is_empty() || plain.len() > SSM_NAME_MAX || !plain.chars().all(ok) {
        return Err(format!(
            "{template:?}: a parameter name is 1–{SSM_NAME_MAX} letters, digits and _ . - / (and {{name}} {{version}} {{arch}} {{date}})"
        ));
    }
    if plain.contains('/') && !plain.starts_with('/') {
        return Err(format!("{template:?}: a name in a hierarchy starts with /"));
    }
    if plain.matches('/').count() > 15 {
        return Err(format!("{template:?}: at most 15 levels of hierarchy"));
    }
    let first = plain.trim_start_matches('/').to_ascii_lowercase();
    if first.starts_with("aws") || first.starts_with("ssm") {
        return Err(format!("{template:?}: names beginning with aws or ssm are reserved"));
    }
    Ok(())
}

/// A whole number of GiB from a size (`"8 GiB"`) or an integer (GiB).
fn gib(loc: &Locator, v: &Spanned<Value>) -> Result<u64, RecipeError> {
    let at = v.span().start;
    let bytes = match v.get_ref() {
        Value::Integer(n) if *n > 0 => (*n as u64) << 30,
        Value::String(s) => parse_size(s).map_err(|e| loc.at(at, format!("ami.volume_size: {e}")))?,
        _ => return Err(loc.at(at, "ami.volume_size: expected a size such as \"8 GiB\"")),
    };
    if bytes % (1 << 30) != 0 || !ebs::VOLUME_SIZE_GIB.contains(&(bytes >> 30)) {
        let (lo, hi) = ebs::VOLUME_SIZE_GIB.into_inner();
        return Err(loc.at(at, format!("ami.volume_size: EBS volumes are a whole number of GiB, {lo}–{hi}")));
    }
    Ok(bytes >> 30)
}

#[cfg(test)]
mod tests {
    fn ami_error(keys: &str) -> String {
        let text = format!("name = \"web\"\n[ami]\n{keys}\n[[partition]]\ntype = \"linux\"\nsize = \"fill\"\n");
        crate::Recipe::parse(&text, "r.toml".as_ref()).unwrap_err().to_string()
    }

    #[test]
    fn lifecycle_keys_are_checked_naming_the_key() {
        for (keys, says) in [
            (
                "copy_completion_minutes = 20",
                "ami.copy_completion_minutes: CopyImage takes 15–2880 minutes in steps of 15",
            ),
            ("copy_completion_minutes = 2895", "ami.copy_completion_minutes"),
            (
                "deregistration_protection = \"on\"",
                "ami.deregistration_protection: \"on\" is not one of with-cooldown, without-cooldown",
            ),
            (
                "ssm_parameter = \"images/latest\"",
                "ami.ssm_parameter: \"images/latest\": a name in a hierarchy starts with /",
            ),
            ("ssm_parameter = \"/aws/service/x\"", "reserved"),
            ("ssm_parameter = \"/images/{name} latest\"", "letters, digits and _ . - /"),
        ] {
            let err = ami_error(keys);
            assert!(err.contains(says), "{keys}: {err}");
        }
        let text = "name = \"web\"\n[ami]\nderegistration_protection = \"without-cooldown\"\nssm_parameter = \"/images/{name}/{arch}/latest\"\ncopy_completion_minutes = 2880\n[[partition]]\ntype = \"linux\"\nsize = \"fill\"\n";
        let recipe = crate::Recipe::parse(text, "r.toml".as_ref()).unwrap();
        let ami = recipe.ami.unwrap();
        assert_eq!(ami.deregistration_protection, Some(ingot_types::Protection::WithoutCooldown));
        assert_eq!(ami.expand(ami.ssm_parameter.as_deref().unwrap(), "web", 0), "/images/web/x86_64/latest");
        assert_eq!(ami.copy_completion_minutes, Some(2880));
    }

    #[test]
    fn dates_are_civil() {
        assert_eq!(super::ymd(0), "19700101");
        assert_eq!(super::ymd(951_782_400), "20000229");
        assert_eq!(super::ymd(1_795_737_600), "20261127");
    }
}
