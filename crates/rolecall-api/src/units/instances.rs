//! The instance family (EC2): run, describe, start/stop/terminate, metadata options.
//!
//! RunInstances with an instance profile passes the profile's role to EC2: it needs
//! `iam:PassRole` on that role (for `instance/*`), checked on the profile it resolved, and the
//! instances get exactly that profile (core's `run_instances_resolved`).

use crate::authz::{self, Check, Keys, key, request_tag_keys};
use crate::context::Call;
use crate::ec2_xml::{instance, metadata, state_changes};
use crate::error::{ApiError, Protocol};
use crate::generated::ec2::{self as input, InstanceMetadataOptionsRequest, TagSpecification};
use crate::generated::ec2_outputs::Reservation;
use crate::generated::{Operation, outputs};
use crate::instance_fragments::{Fragment, fragments};
use crate::output::Rendered;
use crate::units::Unit;
use crate::units::ec2_common::{dry_run, ec2_check, next_token};
use rolecall_core::ec2::RunInstances as Launch;
use rolecall_core::ec2_network::Placement;
use rolecall_core::model::{
    Association, Instance, InstanceProfile, InstanceState, MetadataOptions, Tag,
};

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
        return Err(rolecall_core::Error::TagLimitExceeded(50).into());
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

/// A launch's (subnet, security group ids, private IP).
type LaunchNetwork = (Option<String>, Vec<String>, Option<String>);

/// The launch's network as `NetworkInterface.N` or the instance-level parameters give it:
/// (subnet, security group ids, private IP). EC2 refuses mixing the two forms; rolecall models
/// one interface, the primary (device index 0).
fn launch_network(input: &input::RunInstancesInput) -> Result<LaunchNetwork, ApiError> {
    let combination = |m: &str| ApiError::new(400, "InvalidParameterCombination", m.to_string());
    let invalid = |m: &str| ApiError::new(400, "InvalidParameterValue", m.to_string());
    let nics = &input.network_interfaces;
    if nics.is_empty() {
        return Ok((
            input.subnet_id.clone(),
            input.security_group_ids.clone(),
            input.private_ip_address.clone(),
        ));
    }
    if input.subnet_id.is_some() {
        return Err(combination(
            "Network interfaces and an instance-level subnet ID may not be specified on the same request",
        ));
    }
    if !input.security_group_ids.is_empty() || !input.security_groups.is_empty() {
        return Err(combination(
            "Network interfaces and an instance-level security groups may not be specified on the same request",
        ));
    }
    if input.private_ip_address.is_some() {
        return Err(combination(
            "Network interfaces and an instance-level private IP address should not be specified on the same request",
        ));
    }
    if nics.len() > 1 && nics.iter().any(|n| n.associate_public_ip_address.is_some()) {
        return Err(combination(
            "The associatePublicIPAddress parameter cannot be specified when launching with multiple network interfaces.",
        ));
    }
    let mut indexes = Vec::new();
    for n in nics {
        let Some(i) = n.device_index.or(n.network_card_index.map(|_| 0)) else {
            return Err(invalid("Each network interface requires a device index."));
        };
        if indexes.contains(&i) {
            return Err(invalid(
                "Each network interface requires a unique device index.",
            ));
        }
        indexes.push(i);
    }
    let Some(primary) = nics.iter().find(|n| n.device_index == Some(0)) else {
        return Err(invalid(
            "A network interface at device index 0 (the primary interface) is required.",
        ));
    };
    if nics.len() > 1 {
        return Err(ApiError::new(
            400,
            "Unsupported",
            "rolecall models one network interface per instance (device index 0).",
        ));
    }
    if let Some(eni) = &primary.network_interface_id {
        return Err(rolecall_core::Error::InvalidNetworkInterfaceIdNotFound(eni.clone()).into());
    }
    let private_ip = primary.private_ip_address.clone().or_else(|| {
        primary
            .private_ip_addresses
            .iter()
            .find(|a| a.primary == Some(true))
            .and_then(|a| a.private_ip_address.clone())
    });
    Ok((
        primary.subnet_id.clone(),
        primary.groups.clone(),
        private_ip,
    ))
}

/// What RunInstances acts on: the instance profile named (or why not), the launch as core
/// takes it, and where it goes (or why not), all read once before authorization.
pub(crate) struct Launching {
    profile: Option<rolecall_core::Result<InstanceProfile>>,
    launch: Launch,
    placement: rolecall_core::Result<Placement>,
}

fn launch_of(input: &input::RunInstancesInput) -> Result<Launch, ApiError> {
    let image_id = input
        .image_id
        .clone()
        .ok_or_else(|| ApiError::missing_parameter(Protocol::Ec2, "ImageId"))?;
    let (subnet_id, security_group_ids, private_ip) = launch_network(input)?;
    let mut metadata_options = MetadataOptions::default();
    MetadataChange::of_request(input.metadata_options.as_ref())?.apply(&mut metadata_options);
    let spec = input.iam_instance_profile.clone().unwrap_or_default();
    Ok(Launch {
        image_id,
        min_count: input.min_count,
        max_count: input.max_count,
        instance_type: input.instance_type.clone(),
        key_name: input.key_name.clone(),
        security_groups: input.security_groups.clone(),
        security_group_ids,
        subnet_id,
        private_ip,
        user_data: input.user_data.clone(),
        tags: instance_tags(&input.tag_specifications)?,
        profile_name: spec.name,
        profile_arn: spec.arn,
        metadata_options,
        client_token: input.client_token.clone(),
        availability_zone: input
            .placement
            .as_ref()
            .and_then(|p| p.availability_zone.clone()),
        disable_api_termination: input.disable_api_termination.unwrap_or(false),
        disable_api_stop: input.disable_api_stop.unwrap_or(false),
        shutdown_behavior: input.instance_initiated_shutdown_behavior.clone(),
    })
}

pub(crate) struct RunInstances;

impl Unit for RunInstances {
    const OP: Operation = Operation::RunInstances;
    type Input = input::RunInstancesInput;
    type Resolved = Launching;
    type Output = outputs::RunInstances;

    async fn resolve(call: &Call<'_>, input: &Self::Input) -> Result<Self::Resolved, ApiError> {
        let launch = launch_of(input)?;
        let profile = match &input.iam_instance_profile {
            Some(spec) => Some(
                call.api
                    .iam
                    .resolve_instance_profile(spec.name.as_deref(), spec.arn.as_deref())
                    .await,
            ),
            None => None,
        };
        let placement = call.api.ec2.launch_placement(&launch).await;
        Ok(Launching {
            profile,
            launch,
            placement,
        })
    }

    /// Each resource a launch touches (instance, network interface, volume, image, subnet,
    /// security groups, key pair) with the launch's keys, and `iam:PassRole` on the profile's
    /// role.
    fn checks(call: &Call<'_>, input: &Self::Input, resolved: &Self::Resolved) -> Vec<Check> {
        let api = call.api;
        let op = Self::OP;
        let profile = resolved.profile.as_ref().and_then(|p| p.as_ref().ok());
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
        // The subnet and groups the launch lands in (the defaults when it names none).
        let (subnet, groups): (Option<String>, Vec<String>) = match &resolved.placement {
            Ok(p) => (
                Some(p.subnet_id.clone()),
                p.groups.iter().filter_map(|g| g.group_id.clone()).collect(),
            ),
            Err(_) => (
                resolved.launch.subnet_id.clone(),
                resolved.launch.security_group_ids.clone(),
            ),
        };
        if let Some(subnet) = subnet {
            let mut subnet_keys = keys.clone();
            if let Ok(p) = &resolved.placement {
                subnet_keys.push(key("ec2:Vpc", authz::ec2_arn(api, "vpc", &p.subnet.vpc_id)));
                subnet_keys.push(key(
                    "ec2:AvailabilityZone",
                    p.subnet.availability_zone.clone(),
                ));
            }
            out.push(ec2_check(
                op,
                authz::ec2_arn(api, "subnet", &subnet),
                subnet_keys,
            ));
        }
        for sg in groups {
            out.push(ec2_check(
                op,
                authz::ec2_arn(api, "security-group", &sg),
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
        resolved: Self::Resolved,
    ) -> Result<Self::Output, ApiError> {
        dry_run(input.dry_run)?;
        let r = call
            .api
            .ec2
            .run_instances_placed(resolved.launch, resolved.profile, resolved.placement)
            .await
            .map_err(run_error)?;
        let region = call.api.config.region.as_str();
        let owner = call.api.iam.account_id();
        let launched = r.instances.iter().map(|i| {
            let assoc = r.associations.iter().find(|s| s.instance_id == i.id);
            Rendered::new(&instance(i, assoc, region, InstanceState::Pending))
        });
        let out = outputs::RunInstances {
            reservation_id: Some(r.id.clone()),
            owner_id: Some(owner.to_string()),
            groups: Some(Vec::new()),
            instances: Some(launched.collect()),
            ..Default::default()
        };
        Ok(out)
    }
}

// Each instance's XML comes from `instance_fragments` (kept while its documents are unchanged),
// so the page is the reservations around them, each instance written by concatenation.
describe_unit!(DescribeInstances, |call, input, asked| {
    let (docs, next) = call.api.ec2.describe_instance_docs(&asked).await?;
    let region = call.api.config.region.as_str();
    let instances = fragments(&docs, region)?;
    // Group instances into their reservations, in order of first appearance.
    let mut reservations: Vec<(&str, Vec<&Fragment>)> = Vec::new();
    for f in &instances {
        match reservations
            .iter_mut()
            .find(|(id, _)| *id == f.reservation_id)
        {
            Some((_, v)) => v.push(f),
            None => reservations.push((&f.reservation_id, vec![f])),
        }
    }
    let owner = call.api.iam.account_id();
    let reservations = reservations.into_iter().map(|(id, fragments)| Reservation {
        reservation_id: Some(id.to_string()),
        owner_id: Some(owner.to_string()),
        groups: Some(Vec::new()),
        instances: Some(fragments.into_iter().map(|f| f.xml.clone()).collect()),
        requester_id: None,
    });
    let out = outputs::DescribeInstances {
        reservations: Some(reservations.collect()),
        next_token: next_token(next),
    };
    Ok(out)
});

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

/// Start/Stop/TerminateInstances: each named instance resolved and checked, then core's
/// `$method` on them all, answered with the changes as the output's `$changed`.
macro_rules! state_change {
    ($unit:ident, $method:ident, $changed:ident) => {
        unit!(
            $unit,
            resolve |call, input| -> Described { describe_each(call, &input.instance_ids).await },
            checks |call, _, described| { each_instance(call, Self::OP, described) },
            handle |call, input, _| {
                dry_run(input.dry_run)?;
                let changes = call.api.ec2.$method(&input.instance_ids).await?;
                let out = outputs::$unit {
                    $changed: state_changes(&changes),
                };
                Ok(out)
            }
        );
    };
}

state_change!(StartInstances, start_instances, starting_instances);
state_change!(StopInstances, stop_instances, stopping_instances);
state_change!(
    TerminateInstances,
    terminate_instances,
    terminating_instances
);

on_instance!(ModifyInstanceMetadataOptions, |call, input| {
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
    let out = outputs::ModifyInstanceMetadataOptions {
        instance_id: Some(inst.id.clone()),
        instance_metadata_options: Some(metadata(&inst.metadata_options, "pending")),
    };
    Ok(out)
});

// The boot output of an instance, from this node's instance runtime (`none` has none: the
// answer then carries no `output`, as EC2's does for an instance that printed nothing yet).
// The newest 64 KiB either way, so `Latest` changes nothing.
on_instance!(GetConsoleOutput, |call, input| {
    use base64::Engine;
    dry_run(input.dry_run)?;
    let inst = call.api.ec2.existing_instance(&input.instance_id).await?;
    let console = call.api.runtime.console_output(&inst.id).await;
    let timestamp = console
        .as_ref()
        .map_or_else(|| call.api.clock.now(), |c| c.timestamp);
    let output = console
        .filter(|c| !c.output.is_empty())
        .map(|c| base64::engine::general_purpose::STANDARD.encode(c.output));
    let out = outputs::GetConsoleOutput {
        instance_id: Some(inst.id.clone()),
        timestamp: Some(timestamp),
        output,
    };
    Ok(out)
});

#[cfg(test)]
mod tests {
    use super::GetConsoleOutput as U;
    use crate::generated::Operation;
    use crate::units::testing::{ACCOUNT, answered, api, checks_of, launch, refused};
    use rolecall_runtime::{ConsoleOutput, NoRuntime};
    use std::sync::Arc;

    /// A runtime whose every instance printed "booted".
    fn printed() -> NoRuntime {
        NoRuntime::printing(ConsoleOutput {
            output: b"booted\n".to_vec(),
            timestamp: chrono::DateTime::from_timestamp(1_700_000_000, 0).expect("a time"),
        })
    }

    /// GetConsoleOutput's answer for instance `id` (with `extra` parameters), which names it.
    async fn console_output(api: &crate::Api, id: &str, extra: &[(&str, &str)]) -> String {
        let mut params = vec![("InstanceId", id)];
        params.extend_from_slice(extra);
        let body = answered(api, Operation::GetConsoleOutput, &params).await;
        let named = format!("<instanceId>{id}</instanceId>");
        assert!(body.contains(&named), "{body}");
        body
    }

    #[tokio::test]
    async fn console_output_is_the_runtimes_in_base64_authorized_on_the_instance() {
        let mut api = api().await;
        api.runtime = Arc::new(printed());
        let id = launch(&api).await;
        let body = console_output(&api, &id, &[("Latest", "true")]).await;
        assert!(body.contains("<output>Ym9vdGVkCg==</output>"), "{body}");
        assert!(
            body.contains("<timestamp>2023-11-14T22:13:20.000Z</timestamp>"),
            "{body}"
        );

        let checks = checks_of::<U>(&api, &[("InstanceId", id.as_str())]).await;
        assert_eq!(checks[0].action, "ec2:GetConsoleOutput");
        assert_eq!(
            checks[0].resource,
            format!("arn:aws:ec2:us-east-1:{ACCOUNT}:instance/{id}")
        );
    }

    #[tokio::test]
    async fn records_only_instances_have_no_output_and_unknown_ones_are_not_found() {
        let api = api().await;
        let id = launch(&api).await;
        let body = console_output(&api, &id, &[]).await;
        assert!(!body.contains("<output>"), "{body}");
        let err = refused(
            &api,
            Operation::GetConsoleOutput,
            &[("InstanceId", "i-0123456789abcdef0")],
        )
        .await;
        assert_eq!(err.code, "InvalidInstanceID.NotFound");
    }
}
