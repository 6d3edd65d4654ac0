//! Publishing an AMI's id where consumers look for it: an SSM parameter of data type
//! `aws:ec2:image` in each region the AMI is in (the SSM User Guide, "Native parameter
//! support for Amazon Machine Image IDs").

use crate::ec2::api;
use crate::{AmiSpec, Error, RegisterReport, Session};
use aws_sdk_ssm::error::ProvideErrorMetadata;
use aws_sdk_ssm::types::ParameterType;
use serde::Serialize;

/// The data type that makes SSM check the value is an AMI id in its region.
pub const AMI_DATA_TYPE: &str = "aws:ec2:image";

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
    /// each copy in theirs. A reused report lists no copies: they are found by name.
    pub fn publish_parameters(&self, spec: &AmiSpec, report: &mut RegisterReport) -> Result<(), Error> {
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
            report.parameters.push(self.point_parameter(&region, name, &image_id)?);
        }
        Ok(())
    }

    /// Sets parameter `name` in `region` to `image_id` (a String of data type
    /// [`AMI_DATA_TYPE`], overwritten), unless it holds that id already: a publish that
    /// reuses its AMI leaves the parameter's version as it was.
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
            match ssm.get_parameter().name(name).send().await {
                Ok(out) => {
                    if let Some(p) = out.parameter().filter(|p| p.value() == Some(image_id)) {
                        return Ok(update(p.version(), false));
                    }
                }
                Err(e) if e.code() == Some("ParameterNotFound") => {}
                Err(e) => return Err(api("GetParameter")(e)),
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
            Ok(update(out.version(), true))
        })
    }
}
