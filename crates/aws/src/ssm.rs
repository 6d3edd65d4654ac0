//! Publishing an AMI's id where consumers look for it: an SSM parameter of data type
//! `aws:ec2:image` in each region the AMI is in (the SSM User Guide, "Native parameter
//! support for Amazon Machine Image IDs").

use crate::ec2::api;
use crate::{AmiSpec, Error, RegisterOptions, RegisterReport, Session};
use aws_sdk_ssm::error::ProvideErrorMetadata;
use aws_sdk_ssm::types::ParameterType;
use serde::Serialize;
use std::time::{Duration, Instant};

/// The data type that makes SSM check the value is an AMI id in its region.
pub const AMI_DATA_TYPE: &str = "aws:ec2:image";
/// How long to wait for a parameter of [`AMI_DATA_TYPE`] to hold the id PutParameter was
/// given: SSM checks the AMI asynchronously and, when the check fails, answers 200 and
/// stores nothing (the SSM User Guide, "Native parameter support for Amazon Machine Image
/// IDs"); the check takes seconds, so a minute tells a refusal from a delay.
pub const PARAMETER_CHECK_TIMEOUT: Duration = Duration::from_secs(60);
/// Time between two reads of a parameter while [`PARAMETER_CHECK_TIMEOUT`] runs.
const PARAMETER_POLL: Duration = Duration::from_secs(2);

/// What publishing the AMI's id did to the parameter in one region.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ParameterUpdate {
    /// The region.
    pub region: String,
    /// The parameter's name.
    pub name: String,
    /// The AMI id it holds now.
    pub image_id: String,
    /// Its version after the update (unchanged when it held the id already).
    pub version: i64,
    /// True when PutParameter was called; false when the parameter held the id already.
    pub changed: bool,
}

impl Session {
    /// Points `spec.ssm_parameter` (if any) at the AMI of `report` in its region and at
    /// each copy in theirs, once each AMI is available (SSM refuses one that is not). A
    /// reused report lists no copies: they are found by name.
    pub fn publish_parameters(
        &self,
        spec: &AmiSpec,
        report: &mut RegisterReport,
        opts: &RegisterOptions,
    ) -> Result<(), Error> {
        let Some(name) = &spec.ssm_parameter else { return Ok(()) };
        let mut targets = vec![(report.region.clone(), report.image_id.clone())];
        if report.reused {
            for region in &spec.regions {
                if let Some(id) = self.find_image_in(region, &spec.name)? {
                    targets.push((region.clone(), id));
                }
            }
        } else {
            targets.extend(report.copies.iter().map(|c| (c.region.clone(), c.image_id.clone())));
        }
        for (region, image_id) in targets {
            self.rt.block_on(crate::register::wait_available(
                &self.ec2_in(&region),
                &image_id,
                &region,
                opts,
                &self.control,
            ))?;
            report.parameters.push(self.point_parameter(&region, name, &image_id)?);
        }
        Ok(())
    }

    /// Sets parameter `name` in `region` to `image_id` (a String of data type
    /// [`AMI_DATA_TYPE`], overwritten), unless it holds that id already: a publish that
    /// reuses its AMI leaves the parameter's version as it was. A new value is read back
    /// until it is there ([`PARAMETER_CHECK_TIMEOUT`]).
    pub fn point_parameter(&self, region: &str, name: &str, image_id: &str) -> Result<ParameterUpdate, Error> {
        let ssm = aws_sdk_ssm::Client::from_conf(
            aws_sdk_ssm::config::Builder::from(&self.config)
                .region(aws_config::Region::new(region.to_string()))
                .build(),
        );
        self.rt.block_on(async {
            let update = |version, changed| ParameterUpdate {
                region: region.to_string(),
                name: name.to_string(),
                image_id: image_id.to_string(),
                version,
                changed,
            };
            if let Some(version) = holds(&ssm, name, image_id).await? {
                return Ok(update(version, false));
            }
            let out = ssm
                .put_parameter()
                .name(name)
                .value(image_id)
                .r#type(ParameterType::String)
                .data_type(AMI_DATA_TYPE)
                .overwrite(true)
                .send()
                .await
                .map_err(api("PutParameter"))?;
            let started = Instant::now();
            while holds(&ssm, name, image_id).await? != Some(out.version()) {
                if started.elapsed() > PARAMETER_CHECK_TIMEOUT {
                    return Err(Error::WaitTimeout {
                        what: format!("SSM parameter {name} in {region} to hold {image_id}"),
                        seconds: PARAMETER_CHECK_TIMEOUT.as_secs(),
                        hint:
                            "; SSM's aws:ec2:image check refused the id or is slow: see `aws ssm get-parameter-history`"
                                .into(),
                    });
                }
                tokio::time::sleep(PARAMETER_POLL).await;
            }
            Ok(update(out.version(), true))
        })
    }
}

/// The version of parameter `name` when it holds `image_id`; `None` when it holds
/// something else or does not exist.
async fn holds(ssm: &aws_sdk_ssm::Client, name: &str, image_id: &str) -> Result<Option<i64>, Error> {
    match ssm.get_parameter().name(name).send().await {
        Ok(out) => Ok(out.parameter().filter(|p| p.value() == Some(image_id)).map(|p| p.version())),
        Err(e) if e.code() == Some("ParameterNotFound") => Ok(None),
        Err(e) => Err(api("GetParameter")(e)),
    }
}
