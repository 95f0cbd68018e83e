//! The rolecall service (SigV4 scope `rolecall`, Query protocol): what a `rolecall agent` needs
//! to serve IMDS on a host of its own.
//!
//! - `GetChangeGeneration`: the newest sequence of the store's change feed (see
//!   [`crate::changes`]), so an agent polls cheaply and refetches only after a change.
//! - `DescribeInstanceIdentities` (optional `PrivateIpAddress.N` filters; none = every running
//!   instance): each running instance's metadata, its profile and role, and, when the role
//!   trusts EC2, freshly minted instance credentials (minted exactly as IMDS mints them, with this
//!   server's credential lifetime). `Sequence` is the change feed sequence the answer reflects.
//!   With `SinceSequence` (a `Sequence` of an earlier answer), only what changed since: the
//!   instances the changes touched (with credentials), and `RemovedInstances` (ids no longer
//!   running, or no longer matching the filters); `Full` is `false` then. When the feed was
//!   pruned past that sequence the answer is complete again (`Full` `true`). With
//!   `Credentials=listed`, credentials are minted only for the instances `CredentialsFor.N`
//!   names (those are answered too, changed or not): an agent asks only for the instances that
//!   asked it.
//!
//! Both are authorized as `rolecall:<Action>` on `*` like any other request.

use crate::context::Call;
use crate::error::{ApiError, Protocol};
use crate::generated::Operation;
use chrono::SecondsFormat;
use rolecall_core::ChangesSince;
use rolecall_imds::InstanceView;
use rolecall_wire::{Xml, query_response};
use std::net::IpAddr;

/// Feed sequences one delta answer covers at most (an agent further behind catches up over
/// several polls).
const FEED_BATCH: usize = 10_000;

pub async fn dispatch(call: &Call<'_>) -> Result<String, ApiError> {
    match call.op {
        Operation::GetChangeGeneration => {
            let generation = call.api.iam.store().latest_change().await?.to_string();
            Ok(query_response(
                call.op.name(),
                Protocol::Rolecall.namespace(),
                call.request_id,
                Some(&|x| {
                    x.leaf("Generation", &generation);
                }),
            ))
        }
        Operation::DescribeInstanceIdentities => describe(call).await,
        other => Err(ApiError::invalid_action(other.name())),
    }
}

async fn describe(call: &Call<'_>) -> Result<String, ApiError> {
    let api = call.api;
    let mut ips = Vec::new();
    for raw in call.params.list("PrivateIpAddress") {
        let ip: IpAddr = raw.parse().map_err(|_| {
            ApiError::malformed_parameter(Protocol::Rolecall, "PrivateIpAddress", raw)
        })?;
        ips.push(ip);
    }
    let since = match call.params.get("SinceSequence") {
        None => None,
        Some(raw) => Some(raw.parse::<i64>().map_err(|_| {
            ApiError::malformed_parameter(Protocol::Rolecall, "SinceSequence", raw)
        })?),
    };
    let store = api.iam.store();
    let region = &api.config.region;
    // The sequence is read before the state, so the answer reflects at least every change up to
    // it (changes after it may be in it too, and are sent again next time: applying is
    // idempotent).
    let listed: Option<std::collections::HashSet<String>> =
        (call.params.get("Credentials") == Some("listed")).then(|| {
            call.params
                .list("CredentialsFor")
                .into_iter()
                .map(str::to_string)
                .collect()
        });
    let delta = match since {
        None => None,
        Some(s) => match store.changes_since(s, FEED_BATCH).await? {
            ChangesSince::Pruned { .. } => None,
            ChangesSince::Changes {
                mut changes,
                latest,
            } => {
                // The instances credentials are asked for are answered too.
                for id in listed.iter().flatten() {
                    changes.push(rolecall_core::Change {
                        seq: latest,
                        kind: rolecall_core::EntityKind::Instance,
                        id: id.clone(),
                    });
                }
                Some((changes, latest))
            }
        },
    };
    let (views, mut removed, sequence, full) = match delta {
        Some((changes, latest)) => {
            let (views, gone) = rolecall_imds::changed_views(&api.iam, region, &changes).await?;
            (views, gone, latest, false)
        }
        None => {
            let seq = store.latest_change().await?;
            (
                rolecall_imds::load_views(&api.iam, region).await?,
                Vec::new(),
                seq,
                true,
            )
        }
    };
    let (views, unwanted): (Vec<_>, Vec<_>) = views.into_iter().partition(|v| {
        ips.is_empty()
            || v.instance
                .private_ip
                .parse::<IpAddr>()
                .is_ok_and(|ip| ips.contains(&ip))
    });
    if !full {
        removed.extend(unwanted.iter().map(|v| v.instance.id.clone()));
    }
    let now = api.clock.now();
    let account = api.iam.account_id();
    let minted: Vec<_> = views
        .iter()
        .map(|v| {
            if listed.as_ref().is_some_and(|l| !l.contains(&v.instance.id)) {
                return None;
            }
            let issued = rolecall_imds::mint_for(
                &api.keyring,
                account,
                v,
                now,
                &api.config.instance_credentials,
                // An agent serves it over either IMDS version: `ec2:RoleDelivery` stays absent.
                None,
            )?;
            // Credentials handed to an agent are issued here: the audit trail records them.
            if let Some(n) = rolecall_imds::IssuedNotice::of(account, v, &issued, now) {
                api.audit
                    .try_append(crate::audit::record::imds_issuance(&n, &api.config.region));
            }
            Some(issued)
        })
        .collect();
    let ts = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
    Ok(query_response(
        call.op.name(),
        Protocol::Rolecall.namespace(),
        call.request_id,
        Some(&|x| {
            x.leaf("AccountId", account);
            x.leaf("Region", &api.config.region);
            x.leaf("Sequence", sequence.to_string());
            x.leaf("Full", if full { "true" } else { "false" });
            x.list("RemovedInstances", "member", &removed, |x, id| {
                x.leaf_text(id);
            });
            x.list(
                "Instances",
                "member",
                views.iter().zip(&minted),
                |x, (v, c)| {
                    instance(x, v);
                    if let Some(c) = c {
                        x.elem("Credentials", |x| {
                            x.leaf("AccessKeyId", &c.access_key_id)
                                .leaf("SecretAccessKey", &c.secret_access_key)
                                .leaf("Token", &c.session_token)
                                .leaf("Expiration", ts(c.expires_at))
                                // To the millisecond: the agent compares it with the instance's
                                // start (`CredentialsSince`).
                                .leaf(
                                    "LastUpdated",
                                    c.last_updated.to_rfc3339_opts(SecondsFormat::Millis, true),
                                )
                                .finish_unit();
                        });
                    }
                },
            );
        }),
    ))
}

fn instance(x: &mut Xml, v: &InstanceView) {
    let i = &v.instance;
    let m = &i.metadata_options;
    x.leaf("InstanceId", &i.id)
        .leaf("InstanceArn", &v.arn)
        .leaf("ImageId", &i.image_id)
        .leaf("InstanceType", &i.instance_type)
        .leaf("PrivateIpAddress", &i.private_ip)
        .leaf("AvailabilityZone", &i.availability_zone)
        .leaf("ReservationId", &i.reservation_id)
        .leaf("AmiLaunchIndex", i.ami_launch_index.to_string())
        .leaf(
            "LaunchTime",
            i.launch_time.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        )
        .leaf_opt("UserData", i.user_data.as_ref())
        .list("SecurityGroups", "member", &i.security_groups, |x, g| {
            x.leaf_opt("GroupId", g.group_id.as_ref())
                .leaf_opt("GroupName", g.group_name.as_ref())
                .finish_unit();
        })
        .list("Tags", "member", &i.tags, |x, t| {
            x.leaf("Key", &t.key).leaf("Value", &t.value).finish_unit();
        })
        .elem("MetadataOptions", |x| {
            x.leaf("HttpTokens", &m.http_tokens)
                .leaf(
                    "HttpPutResponseHopLimit",
                    m.http_put_response_hop_limit.to_string(),
                )
                .leaf("HttpEndpoint", &m.http_endpoint)
                .leaf("InstanceMetadataTags", &m.instance_metadata_tags)
                .leaf("HttpProtocolIpv6", &m.http_protocol_ipv6)
                .finish_unit();
        });
    if let Some(p) = &v.profile {
        x.elem("IamInstanceProfile", |x| {
            x.leaf("Arn", &p.arn)
                .leaf("Id", &p.id)
                .leaf("AssociationId", &v.association_id)
                .leaf("CredentialsSince", v.credentials_since.to_string());
            if let Some(r) = &p.role {
                x.elem("Role", |x| {
                    x.leaf("RoleName", &r.name)
                        .leaf("RoleId", &r.id)
                        .leaf("TrustsEc2", if r.trusts_ec2 { "true" } else { "false" })
                        .finish_unit();
                });
            }
        });
    }
}
