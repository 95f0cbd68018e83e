//! The instance family (EC2): run, describe, start/stop/terminate, metadata options.
//!
//! RunInstances with an instance profile passes the profile's role to EC2: it needs
//! `iam:PassRole` on that role (for `instance/*`), checked on the profile it resolved, and the
//! instances get exactly that profile (core's `run_instances_resolved`).

use crate::authz::{self, Check, Keys, key, request_tag_keys};
use crate::context::Call;
use crate::ec2_xml::{instance_xml, metadata_xml, state_changes_xml};
use crate::error::{ApiError, Protocol};
use crate::generated::Operation;
use crate::generated::ec2::{self as input, InstanceMetadataOptionsRequest, TagSpecification};
use crate::units::Unit;
use rolecall_core::ec2::{Filter, RunInstances as Launch};
use rolecall_core::model::{
    Association, Instance, InstanceProfile, InstanceState, MetadataOptions, Tag,
};
use rolecall_wire::{Xml, ec2_response};

fn respond(call: &Call<'_>, body: &dyn Fn(&mut Xml)) -> String {
    ec2_response(call.op.name(), call.request_id, body)
}

fn ec2_check(op: Operation, resource: String, keys: Keys) -> Check {
    Check {
        action: format!("ec2:{}", op.name()),
        resource,
        keys,
    }
}

/// EC2's DryRun: the request is checked, then answered with DryRunOperation instead of acting.
fn dry_run(flag: Option<bool>) -> Result<(), ApiError> {
    if flag.unwrap_or(false) {
        return Err(ApiError::new(
            412,
            "DryRunOperation",
            "Request would have succeeded, but DryRun flag is set.",
        ));
    }
    Ok(())
}

fn filters(filters: Vec<input::Filter>) -> Vec<Filter> {
    filters
        .into_iter()
        .map(|f| Filter {
            name: f.name.unwrap_or_default(),
            values: f.values,
        })
        .collect()
}

/// The tags a launch puts on its instances (`TagSpecification.N` of `ResourceType` instance).
fn instance_tags(specs: &[TagSpecification]) -> Result<Vec<Tag>, ApiError> {
    let mut tags = Vec::new();
    for spec in specs {
        let rt = spec.resource_type.as_deref().unwrap_or_default();
        if rt != "instance" {
            // Volumes and network interfaces are not modelled; their tags have nowhere to go.
            if !matches!(rt, "volume" | "network-interface") {
                return Err(ApiError::new(
                    400,
                    "InvalidParameterValue",
                    format!("'{rt}' is not a valid taggable resource type for this operation."),
                ));
            }
            continue;
        }
        for t in &spec.tags {
            let key = t
                .key
                .as_deref()
                .ok_or_else(|| ApiError::missing_parameter(Protocol::Ec2, "Tag.Key"))?;
            if key.is_empty()
                || key.chars().count() > 128
                || key.to_ascii_lowercase().starts_with("aws:")
            {
                return Err(ApiError::new(
                    400,
                    "InvalidParameterValue",
                    format!("Tag key '{key}' is invalid."),
                ));
            }
            let value = t.value.as_deref().unwrap_or_default();
            if value.chars().count() > 256 {
                return Err(ApiError::new(
                    400,
                    "InvalidParameterValue",
                    "Tag value exceeds the maximum length of 256 characters.",
                ));
            }
            tags.push(Tag {
                key: key.to_string(),
                value: value.to_string(),
            });
        }
    }
    if tags.len() > 50 {
        return Err(ApiError::new(
            400,
            "TagLimitExceeded",
            "The maximum number of tags per resource (50) has been exceeded.",
        ));
    }
    Ok(tags)
}

/// The metadata options a request sets, over `m`.
struct MetadataChange {
    http_tokens: Option<String>,
    hop_limit: Option<u32>,
    http_endpoint: Option<String>,
    instance_metadata_tags: Option<String>,
    http_protocol_ipv6: Option<String>,
}

impl MetadataChange {
    fn new(
        http_tokens: Option<String>,
        hop_limit: Option<i64>,
        http_endpoint: Option<String>,
        instance_metadata_tags: Option<String>,
        http_protocol_ipv6: Option<String>,
    ) -> Result<Self, ApiError> {
        let hop_limit = hop_limit
            .map(|v| {
                u32::try_from(v).map_err(|_| {
                    ApiError::malformed_parameter(
                        Protocol::Ec2,
                        "HttpPutResponseHopLimit",
                        &v.to_string(),
                    )
                })
            })
            .transpose()?;
        Ok(MetadataChange {
            http_tokens,
            hop_limit,
            http_endpoint,
            instance_metadata_tags,
            http_protocol_ipv6,
        })
    }

    fn of_request(m: Option<&InstanceMetadataOptionsRequest>) -> Result<Self, ApiError> {
        let m = m.cloned().unwrap_or_default();
        MetadataChange::new(
            m.http_tokens,
            m.http_put_response_hop_limit,
            m.http_endpoint,
            m.instance_metadata_tags,
            m.http_protocol_ipv6,
        )
    }

    fn apply(&self, m: &mut MetadataOptions) {
        if let Some(v) = &self.http_tokens {
            m.http_tokens = v.clone();
        }
        if let Some(v) = self.hop_limit {
            m.http_put_response_hop_limit = v;
        }
        if let Some(v) = &self.http_endpoint {
            m.http_endpoint = v.clone();
        }
        if let Some(v) = &self.instance_metadata_tags {
            m.instance_metadata_tags = v.clone();
        }
        if let Some(v) = &self.http_protocol_ipv6 {
            m.http_protocol_ipv6 = v.clone();
        }
    }
}

/// RunInstances errors: a requested private address that a live instance holds is EC2's
/// `InvalidIPAddress.InUse` (core reports it as InvalidParameterValue "Address … is in use.").
fn run_error(e: rolecall_core::Error) -> ApiError {
    match &e {
        rolecall_core::Error::InvalidParameterValue(m) if m.ends_with(" is in use.") => {
            ApiError::new(400, "InvalidIPAddress.InUse", m.clone())
        }
        _ => e.into(),
    }
}

pub(crate) struct RunInstances;

impl Unit for RunInstances {
    const OP: Operation = Operation::RunInstances;
    type Input = input::RunInstancesInput;
    /// The instance profile the request names, as found (or why not).
    type Resolved = Option<rolecall_core::Result<InstanceProfile>>;

    async fn resolve(call: &Call<'_>, input: &Self::Input) -> Result<Self::Resolved, ApiError> {
        Ok(match &input.iam_instance_profile {
            Some(spec) => Some(
                call.api
                    .iam
                    .resolve_instance_profile(spec.name.as_deref(), spec.arn.as_deref())
                    .await,
            ),
            None => None,
        })
    }

    /// Each resource a launch touches (instance, network interface, volume, image, subnet,
    /// security groups, key pair) with the launch's keys, and `iam:PassRole` on the profile's
    /// role.
    fn checks(call: &Call<'_>, input: &Self::Input, profile: &Self::Resolved) -> Vec<Check> {
        let api = call.api;
        let op = Self::OP;
        let profile = profile.as_ref().and_then(|p| p.as_ref().ok());
        let m = input.metadata_options.clone().unwrap_or_default();
        let mut keys: Keys = vec![
            key(
                "ec2:InstanceType",
                input.instance_type.as_deref().unwrap_or("m1.small"),
            ),
            key("ec2:Region", api.config.region.clone()),
            key(
                "ec2:MetadataHttpTokens",
                m.http_tokens.as_deref().unwrap_or("optional"),
            ),
            key(
                "ec2:MetadataHttpEndpoint",
                m.http_endpoint.as_deref().unwrap_or("enabled"),
            ),
            key(
                "ec2:MetadataHttpPutResponseHopLimit",
                m.http_put_response_hop_limit
                    .map(|n| n.to_string())
                    .unwrap_or_else(|| "1".into()),
            ),
        ];
        if let Some(pr) = profile {
            keys.push(key("ec2:InstanceProfile", pr.arn.clone()));
        }
        let tags: Vec<(String, String)> = input
            .tag_specifications
            .iter()
            .filter(|s| s.resource_type.as_deref() == Some("instance"))
            .flat_map(|s| &s.tags)
            .map(|t| {
                (
                    t.key.clone().unwrap_or_default(),
                    t.value.clone().unwrap_or_default(),
                )
            })
            .collect();
        let mut instance_keys = keys.clone();
        instance_keys.extend(request_tag_keys(&tags));
        let instance_arn = authz::ec2_arn(api, "instance", "*");
        let mut out = vec![
            ec2_check(op, instance_arn.clone(), instance_keys),
            ec2_check(
                op,
                authz::ec2_arn(api, "network-interface", "*"),
                keys.clone(),
            ),
            ec2_check(op, authz::ec2_arn(api, "volume", "*"), keys.clone()),
        ];
        if let Some(image) = &input.image_id {
            out.push(ec2_check(
                op,
                format!("arn:aws:ec2:{}::image/{image}", api.config.region),
                keys.clone(),
            ));
        }
        if let Some(subnet) = &input.subnet_id {
            out.push(ec2_check(
                op,
                authz::ec2_arn(api, "subnet", subnet),
                keys.clone(),
            ));
        }
        for sg in &input.security_group_ids {
            out.push(ec2_check(
                op,
                authz::ec2_arn(api, "security-group", sg),
                keys.clone(),
            ));
        }
        if let Some(k) = &input.key_name {
            out.push(ec2_check(
                op,
                authz::ec2_arn(api, "key-pair", k),
                keys.clone(),
            ));
        }
        out.extend(profile.and_then(|pr| authz::pass_role(pr, &instance_arn)));
        out
    }

    async fn handle(
        call: &Call<'_>,
        input: Self::Input,
        profile: Self::Resolved,
    ) -> Result<String, ApiError> {
        let image_id = input
            .image_id
            .clone()
            .ok_or_else(|| ApiError::missing_parameter(Protocol::Ec2, "ImageId"))?;
        let mut metadata_options = MetadataOptions::default();
        MetadataChange::of_request(input.metadata_options.as_ref())?.apply(&mut metadata_options);
        let spec = input.iam_instance_profile.clone().unwrap_or_default();
        let launch = Launch {
            image_id,
            min_count: input.min_count,
            max_count: input.max_count,
            instance_type: input.instance_type.clone(),
            key_name: input.key_name.clone(),
            security_groups: input.security_groups.clone(),
            security_group_ids: input.security_group_ids.clone(),
            subnet_id: input.subnet_id.clone(),
            private_ip: input.private_ip_address.clone(),
            user_data: input.user_data.clone(),
            tags: instance_tags(&input.tag_specifications)?,
            profile_name: spec.name,
            profile_arn: spec.arn,
            metadata_options,
            client_token: input.client_token.clone(),
        };
        dry_run(input.dry_run)?;
        let r = call
            .api
            .ec2
            .run_instances_resolved(launch, profile)
            .await
            .map_err(run_error)?;
        let region = call.api.config.region.as_str();
        let owner = call.api.iam.account_id();
        Ok(respond(call, &|x| {
            x.leaf("reservationId", &r.id);
            x.leaf("ownerId", owner);
            x.elem("groupSet", |_| {});
            x.list("instancesSet", "item", &r.instances, |x, i| {
                let assoc = r.associations.iter().find(|s| s.instance_id == i.id);
                instance_xml(x, i, assoc, region, InstanceState::Pending);
            });
        }))
    }
}

pub(crate) struct DescribeInstances;

/// An instance with its active association, as DescribeInstances lists it.
type InstanceRow = (Instance, Option<Association>);

impl Unit for DescribeInstances {
    const OP: Operation = Operation::DescribeInstances;
    type Input = input::DescribeInstancesInput;
    type Resolved = ();

    async fn resolve(_: &Call<'_>, _: &Self::Input) -> Result<(), ApiError> {
        Ok(())
    }

    fn checks(call: &Call<'_>, _: &Self::Input, _: &()) -> Vec<Check> {
        vec![ec2_check(
            Self::OP,
            "*".into(),
            vec![key("ec2:Region", call.api.config.region.clone())],
        )]
    }

    async fn handle(call: &Call<'_>, input: Self::Input, _: ()) -> Result<String, ApiError> {
        dry_run(input.dry_run)?;
        let (rows, next) = call
            .api
            .ec2
            .describe_instances(
                &input.instance_ids,
                &filters(input.filters),
                input.max_results,
                input.next_token.as_deref(),
            )
            .await?;
        // Group instances into their reservations, in order of first appearance.
        let mut reservations: Vec<(&str, Vec<&InstanceRow>)> = Vec::new();
        for row in &rows {
            match reservations
                .iter_mut()
                .find(|(id, _)| *id == row.0.reservation_id)
            {
                Some((_, v)) => v.push(row),
                None => reservations.push((&row.0.reservation_id, vec![row])),
            }
        }
        let region = call.api.config.region.as_str();
        let owner = call.api.iam.account_id();
        Ok(respond(call, &|x| {
            x.list(
                "reservationSet",
                "item",
                &reservations,
                |x, (id, instances)| {
                    x.leaf("reservationId", id);
                    x.leaf("ownerId", owner);
                    x.elem("groupSet", |_| {});
                    x.list("instancesSet", "item", instances, |x, (i, assoc)| {
                        instance_xml(x, i, assoc.as_ref(), region, i.state)
                    });
                },
            );
            x.leaf_opt(
                "nextToken",
                next.as_deref().map(rolecall_core::paging::encode_token),
            );
        }))
    }
}

/// The instances a state change names, each as authorization describes it.
type Described = Vec<(String, Option<(Instance, Option<Association>)>)>;

async fn describe_each(call: &Call<'_>, ids: &[String]) -> Described {
    let mut out = Vec::new();
    for id in ids {
        out.push((id.clone(), authz::find_instance(call.api, id).await));
    }
    out
}

fn each_instance(call: &Call<'_>, op: Operation, described: &Described) -> Vec<Check> {
    described
        .iter()
        .flat_map(|(id, i)| authz::instance_checks(call.api, op, Some(id), i.as_ref(), None))
        .collect()
}

macro_rules! state_change {
    ($unit:ident, $input:ident, $method:ident) => {
        pub(crate) struct $unit;

        impl Unit for $unit {
            const OP: Operation = Operation::$unit;
            type Input = input::$input;
            type Resolved = Described;

            async fn resolve(call: &Call<'_>, input: &Self::Input) -> Result<Described, ApiError> {
                Ok(describe_each(call, &input.instance_ids).await)
            }

            fn checks(call: &Call<'_>, _: &Self::Input, d: &Described) -> Vec<Check> {
                each_instance(call, Self::OP, d)
            }

            async fn handle(
                call: &Call<'_>,
                input: Self::Input,
                _: Described,
            ) -> Result<String, ApiError> {
                dry_run(input.dry_run)?;
                let changes = call.api.ec2.$method(&input.instance_ids).await?;
                Ok(respond(call, &|x| state_changes_xml(x, &changes)))
            }
        }
    };
}

state_change!(StartInstances, StartInstancesInput, start_instances);
state_change!(StopInstances, StopInstancesInput, stop_instances);
state_change!(
    TerminateInstances,
    TerminateInstancesInput,
    terminate_instances
);

pub(crate) struct ModifyInstanceMetadataOptions;

impl Unit for ModifyInstanceMetadataOptions {
    const OP: Operation = Operation::ModifyInstanceMetadataOptions;
    type Input = input::ModifyInstanceMetadataOptionsInput;
    type Resolved = Option<(Instance, Option<Association>)>;

    async fn resolve(call: &Call<'_>, input: &Self::Input) -> Result<Self::Resolved, ApiError> {
        Ok(authz::find_instance(call.api, &input.instance_id).await)
    }

    fn checks(call: &Call<'_>, input: &Self::Input, i: &Self::Resolved) -> Vec<Check> {
        authz::instance_checks(
            call.api,
            Self::OP,
            Some(&input.instance_id),
            i.as_ref(),
            None,
        )
    }

    async fn handle(
        call: &Call<'_>,
        input: Self::Input,
        _: Self::Resolved,
    ) -> Result<String, ApiError> {
        // Validate the parameters' types before touching the instance.
        let change = MetadataChange::new(
            input.http_tokens,
            input.http_put_response_hop_limit,
            input.http_endpoint,
            input.instance_metadata_tags,
            input.http_protocol_ipv6,
        )?;
        dry_run(input.dry_run)?;
        // Applied inside the store's transaction, to the instance as it is then.
        let inst = call
            .api
            .ec2
            .modify_instance_metadata_options(&input.instance_id, move |m| change.apply(m))
            .await?;
        Ok(respond(call, &|x| {
            x.leaf("instanceId", &inst.id);
            metadata_xml(
                x,
                "instanceMetadataOptions",
                &inst.metadata_options,
                "pending",
            );
        }))
    }
}
