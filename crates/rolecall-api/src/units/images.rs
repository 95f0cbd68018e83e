//! The image family (EC2): DescribeImages and DescribeInstanceTypes (authorized on `*`, as EC2's
//! Describe* actions are), RegisterImage (on `image/*`) and DeregisterImage (on the image's
//! ARN, `arn:aws:ec2:REGION::image/ami-...`: images are regional and have no account in it).

use crate::authz::key;
use crate::context::Call;
use crate::ec2_xml::{image, instance_type};
use crate::error::{ApiError, Protocol};
use crate::generated::outputs;
use crate::units::ec2_common::{dry_run, ec2_check, next_token};
use rolecall_core::ec2_images::RegisterImage as Registration;

fn image_arn(call: &Call<'_>, id: &str) -> String {
    format!("arn:aws:ec2:{}::image/{id}", call.api.config.region)
}

fn region_keys(call: &Call<'_>) -> crate::authz::Keys {
    vec![key("ec2:Region", call.api.config.region.clone())]
}

describe_unit!(DescribeImages, |call, input, asked| {
    let (images, next) = call.api.ec2.describe_images(&asked, &input.owners).await?;
    let out = outputs::DescribeImages {
        images: Some(images.iter().map(image).collect()),
        next_token: next_token(next),
    };
    Ok(out)
});

describe_unit!(DescribeInstanceTypes, |call, input, asked| {
    let (types, next) = call.api.ec2.describe_instance_types(&asked)?;
    let out = outputs::DescribeInstanceTypes {
        instance_types: Some(types.iter().map(instance_type).collect()),
        next_token: next_token(next),
    };
    Ok(out)
});

unit!(
    RegisterImage,
    resolve |_, _| -> () {},
    checks |call, _, _| { vec![ec2_check(Self::OP, image_arn(call, "*"), region_keys(call))] },
    handle |call, input, _| {
        dry_run(input.dry_run)?;
        if !input.tag_specifications.is_empty() {
            // Tagging on creation would also need ec2:CreateTags; not modelled yet.
            return Err(ApiError::new(
                400,
                "InvalidParameterValue",
                "TagSpecification is not supported by this RegisterImage; use CreateTags.",
            ));
        }
        if input.name.is_empty() {
            return Err(ApiError::missing_parameter(Protocol::Ec2, "Name"));
        }
        let image = call
            .api
            .ec2
            .register_image(Registration {
                name: input.name,
                description: input.description,
                architecture: input.architecture,
                root_device_name: input.root_device_name,
                virtualization_type: input.virtualization_type,
                ena_support: input.ena_support,
            })
            .await?;
        let out = outputs::RegisterImage {
            image_id: Some(image.id),
        };
        Ok(out)
    }
);

unit!(
    DeregisterImage,
    resolve |_, _| -> () {},
    checks |call, input, _| {
        let image = image_arn(call, &input.image_id);
        vec![ec2_check(Self::OP, image, region_keys(call))]
    },
    handle |call, input, _| {
        dry_run(input.dry_run)?;
        call.api.ec2.deregister_image(&input.image_id).await?;
        let out = outputs::DeregisterImage {
            return_: Some(true),
            ..Default::default()
        };
        Ok(out)
    }
);
