//! A connection to one AWS account and region: SDK configuration, timeouts, the runtime.

use crate::{Error, RetryPolicy};
use aws_config::retry::RetryConfig;
use aws_config::stalled_stream_protection::StalledStreamProtectionConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use ingot_types::control::Control;
use std::time::Duration;

/// Seconds to establish a connection by default: a TLS handshake to a regional endpoint
/// takes well under a second; ten leaves room for a slow network without hiding a dead one.
pub const DEFAULT_CONNECT_TIMEOUT_SECS: u64 = 10;
/// Seconds to wait for a response to start (and between reads) by default: EBS and EC2
/// answer within seconds; a minute covers their slowest calls (CopyImage, DescribeImages).
pub const DEFAULT_READ_TIMEOUT_SECS: u64 = 60;
/// Seconds for one attempt of one request by default: a 10 MiB S3 part at 1 MiB/s fits,
/// and a hung request is abandoned and retried within two minutes.
pub const DEFAULT_ATTEMPT_TIMEOUT_SECS: u64 = 120;

/// How to reach AWS. Credentials come from the standard chain (environment, shared
/// profiles, SSO, process credentials, IMDS); endpoints may be overridden with the SDK's
/// `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_EBS` / `AWS_ENDPOINT_URL_EC2` variables.
#[derive(Clone, Debug)]
pub struct Connect {
    /// A shared-config profile (`--profile`), else `AWS_PROFILE` / `default`.
    pub profile: Option<String>,
    /// The region (`--region`), else `AWS_REGION` / the profile's.
    pub region: Option<String>,
    /// Time to establish a connection.
    pub connect_timeout: Duration,
    /// Time to wait for the first byte of a response (and between reads).
    pub read_timeout: Duration,
    /// Time for one attempt of one request, body included.
    pub attempt_timeout: Duration,
    /// Retry bounds for every call.
    pub retry: RetryPolicy,
    /// The run's cancel token: once it asks for a stop, uploads, waits and bundle uploads
    /// fail with [`Error::Stopped`]; the snapshots started and not completed are noted
    /// in it ([`Control::pending`]).
    pub control: Control,
}

impl Default for Connect {
    fn default() -> Self {
        Connect {
            profile: None,
            region: None,
            connect_timeout: Duration::from_secs(DEFAULT_CONNECT_TIMEOUT_SECS),
            read_timeout: Duration::from_secs(DEFAULT_READ_TIMEOUT_SECS),
            attempt_timeout: Duration::from_secs(DEFAULT_ATTEMPT_TIMEOUT_SECS),
            retry: RetryPolicy::default(),
            control: Control::default(),
        }
    }
}

/// SDK clients for one region, and the runtime that drives them. Its methods block.
pub struct Session {
    pub(crate) rt: tokio::runtime::Runtime,
    pub(crate) config: aws_config::SdkConfig,
    pub(crate) ebs: aws_sdk_ebs::Client,
    pub(crate) ec2: aws_sdk_ec2::Client,
    pub(crate) s3: aws_sdk_s3::Client,
    pub(crate) region: String,
    pub(crate) retry: RetryPolicy,
    pub(crate) control: Control,
}

impl Session {
    /// Loads the configuration and builds the clients. Fails when no region is known.
    ///
    /// ```no_run
    /// let session = ingot_aws::Session::connect(&ingot_aws::Connect::default())?;
    /// println!("{}", session.region());
    /// # Ok::<(), ingot_aws::Error>(())
    /// ```
    pub fn connect(c: &Connect) -> Result<Session, Error> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::Invalid(format!("cannot start the async runtime: {e}")))?;
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(c.connect_timeout)
            .read_timeout(c.read_timeout)
            .operation_attempt_timeout(c.attempt_timeout)
            .build();
        let mut loader = aws_config::defaults(BehaviorVersion::latest()).timeout_config(timeouts);
        if let Some(p) = &c.profile {
            loader = loader.profile_name(p);
        }
        if let Some(r) = &c.region {
            loader = loader.region(Region::new(r.clone()));
        }
        let config = rt.block_on(loader.load());
        let region = config.region().map(|r| r.to_string()).ok_or_else(|| {
            Error::Invalid("no AWS region: pass `region` or set AWS_REGION (or a region in the profile)".into())
        })?;
        // EBS calls go through ingot's own classified retries (counted in the report);
        // EC2 calls are few and use the SDK's standard retries with the same bound.
        // The SDK's stalled-stream protection is off for EBS: it wakes every request body
        // in flight on a timer to measure its throughput, which costs client CPU in
        // proportion to wall time × requests in flight, and a stalled block request is
        // already bounded by the read and attempt timeouts above.
        let ebs_conf = aws_sdk_ebs::config::Builder::from(&config)
            .retry_config(RetryConfig::disabled())
            .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
            .build();
        let ebs = aws_sdk_ebs::Client::from_conf(ebs_conf);
        let ec2 = ec2_client(&config, None, &c.retry);
        let s3 = s3_client(&config, None);
        Ok(Session { rt, config, ebs, ec2, s3, region, retry: c.retry, control: c.control.clone() })
    }

    /// The region the session works in.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The 12-digit id of the account the credentials belong to (STS GetCallerIdentity).
    pub fn account_id(&self) -> Result<String, Error> {
        let sts = aws_sdk_sts::Client::new(&self.config);
        let out = self.rt.block_on(sts.get_caller_identity().send()).map_err(crate::ec2::api("GetCallerIdentity"))?;
        out.account().map(str::to_string).ok_or_else(|| Error::Protocol("GetCallerIdentity returned no account".into()))
    }

    /// The regions enabled for the account (DescribeRegions), sorted.
    pub fn regions(&self) -> Result<Vec<String>, Error> {
        let out = self.rt.block_on(self.ec2.describe_regions().send()).map_err(crate::ec2::api("DescribeRegions"))?;
        let mut regions: Vec<String> =
            out.regions().iter().filter_map(|r| r.region_name()).map(str::to_string).collect();
        regions.sort();
        Ok(regions)
    }

    /// An S3 client for buckets in `region` (the session's own client for its region).
    pub(crate) fn s3_in(&self, region: &str) -> aws_sdk_s3::Client {
        if region == self.region {
            return self.s3.clone();
        }
        s3_client(&self.config, Some(region))
    }

    /// An EC2 client for another region (for CopyImage).
    pub(crate) fn ec2_in(&self, region: &str) -> aws_sdk_ec2::Client {
        ec2_client(&self.config, Some(region), &self.retry)
    }
}

fn ec2_client(config: &aws_config::SdkConfig, region: Option<&str>, retry: &RetryPolicy) -> aws_sdk_ec2::Client {
    let mut b = aws_sdk_ec2::config::Builder::from(config).retry_config(
        RetryConfig::standard()
            .with_max_attempts(retry.max_attempts)
            .with_initial_backoff(retry.base_delay)
            .with_max_backoff(retry.max_delay),
    );
    if let Some(r) = region {
        b = b.region(Region::new(r.to_string()));
    }
    aws_sdk_ec2::Client::from_conf(b.build())
}

/// S3 with ingot's own (counted) retries, Content-MD5 instead of the SDK's default CRC32
/// checksums, and path-style addressing when the endpoint is overridden (a local S3).
fn s3_client(config: &aws_config::SdkConfig, region: Option<&str>) -> aws_sdk_s3::Client {
    let mut b = aws_sdk_s3::config::Builder::from(config)
        .retry_config(RetryConfig::disabled())
        .request_checksum_calculation(aws_sdk_s3::config::RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(aws_sdk_s3::config::ResponseChecksumValidation::WhenRequired)
        .force_path_style(config.endpoint_url().is_some());
    if let Some(r) = region {
        b = b.region(Region::new(r.to_string()));
    }
    aws_sdk_s3::Client::from_conf(b.build())
}
