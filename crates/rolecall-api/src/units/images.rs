//! The image family (EC2): DescribeImages and DescribeInstanceTypes (authorized on `*`, as EC2's
//! Describe* actions are), RegisterImage (on `image/*`) and DeregisterImage (on the image's
//! ARN, `arn:aws:ec2:REGION::image/ami-...`: images are regional and have no account in it).

use crate::authz::{Check, key};
use crate::context::Call;
use crate::ec2_xml::{image_xml, instance_type_xml};
use crate::error::{ApiError, Protocol};
use crate::generated::Operation;
use crate::generated::ec2 as input;
use crate::units::Unit;
use crate::units::ec2_common::{dry_run, ec2_check, filters, respond};
use rolecall_core::ec2::page_size;
use rolecall_core::ec2_images::RegisterImage as Registration;
use rolecall_core::paging::encode_token;

fn image_arn(call: &Call<'_>, id: &str) -> String {
    format!("arn:aws:ec2:{}::image/{id}", call.api.config.region)
}

fn region_keys(call: &Call<'_>) -> crate::authz::Keys {
    vec![key("ec2:Region", call.api.config.region.clone())]
}

/// Paging when the request pages (MaxResults or NextToken); EC2 answers in one page otherwise.
fn paging(
    max_results: Option<i64>,
    has_ids: bool,
    next_token: Option<&str>,
) -> Result<Option<rolecall_core::PageRequest>, ApiError> {
    if max_results.is_none() && next_token.is_none() {
        return Ok(None);
    }
    Ok(Some(page_size(max_results, has_ids, next_token)?))
}

describe_unit!(DescribeImages, |call, input| {
    let page = paging(
        input.max_results,
        !input.image_ids.is_empty(),
        input.next_token.as_deref(),
    )?;
    let (images, next) = call
        .api
        .ec2
        .describe_images(
            &input.image_ids,
            &input.owners,
            &filters(input.filters),
            page.as_ref(),
        )
        .await?;
    Ok(respond(call, &|x| {
        x.list("imagesSet", "item", &images, image_xml);
        x.leaf_opt("nextToken", next.as_deref().map(encode_token));
    }))
});

describe_unit!(DescribeInstanceTypes, |call, input| {
    let page = paging(
        input.max_results,
        !input.instance_types.is_empty(),
        input.next_token.as_deref(),
    )?;
    let (types, next) = call.api.ec2.describe_instance_types(
        &input.instance_types,
        &filters(input.filters),
        page.as_ref(),
    )?;
    Ok(respond(call, &|x| {
        x.list("instanceTypeSet", "item", &types, instance_type_xml);
        x.leaf_opt("nextToken", next.as_deref().map(encode_token));
    }))
});

pub(crate) struct RegisterImage;

impl Unit for RegisterImage {
    const OP: Operation = Operation::RegisterImage;
    type Input = input::RegisterImageInput;
    type Resolved = ();

    async fn resolve(_: &Call<'_>, _: &Self::Input) -> Result<(), ApiError> {
        Ok(())
    }

    fn checks(call: &Call<'_>, _: &Self::Input, _: &()) -> Vec<Check> {
        vec![ec2_check(Self::OP, image_arn(call, "*"), region_keys(call))]
    }

    async fn handle(call: &Call<'_>, input: Self::Input, _: ()) -> Result<String, ApiError> {
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
        Ok(respond(call, &|x| {
            x.leaf("imageId", &image.id);
        }))
    }
}

pub(crate) struct DeregisterImage;

impl Unit for DeregisterImage {
    const OP: Operation = Operation::DeregisterImage;
    type Input = input::DeregisterImageInput;
    type Resolved = ();

    async fn resolve(_: &Call<'_>, _: &Self::Input) -> Result<(), ApiError> {
        Ok(())
    }

    fn checks(call: &Call<'_>, input: &Self::Input, _: &()) -> Vec<Check> {
        vec![ec2_check(
            Self::OP,
            image_arn(call, &input.image_id),
            region_keys(call),
        )]
    }

    async fn handle(call: &Call<'_>, input: Self::Input, _: ()) -> Result<String, ApiError> {
        dry_run(input.dry_run)?;
        call.api.ec2.deregister_image(&input.image_id).await?;
        Ok(respond(call, &|x| {
            x.leaf("return", "true");
        }))
    }
}
