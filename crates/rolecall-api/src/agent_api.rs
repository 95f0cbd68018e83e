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
//!   asked it. `DeliveredCredentialsFor.N.InstanceId` with `.RoleDelivery` (`1.0` / `2.0`: the
//!   IMDS version the instance asked the agent over) mints with `ec2:RoleDelivery` sealed in, as
//!   IMDS does, answered in the instance's `DeliveredCredentials` list; `CredentialsFor.N` (and
//!   the unlisted mode) mint without it, answered as `Credentials`.
//! - With `SinceSequence`, `RevokedSessions` names the changed roles whose sessions were revoked
//!   (`AWSRevokeOlderSessions`) and the issue time before which they are refused, so an agent
//!   drops the credentials it holds that are now refused.
//!
//! Both are authorized as `rolecall:<Action>` on `*` like any other request.

use crate::context::Call;
use crate::error::{ApiError, Protocol};
use crate::generated::Operation;
use chrono::SecondsFormat;
use rolecall_core::ChangesSince;
use rolecall_core::EntityKind;
use rolecall_imds::{Delivery, InstanceView, Issued};
use rolecall_wire::{Xml, query_response};
use std::net::IpAddr;

/// Feed sequences one delta answer covers at most (an agent further behind catches up over
/// several polls).
const FEED_BATCH: usize = 10_000;

/// What is minted for one instance: a credential without a delivery version (when asked for
/// so), and one per delivery version asked for.
type Minted = (Option<Issued>, Vec<(Delivery, Issued)>);

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
    let delivered = delivered_credentials_for(call)?;
    let delta = match since {
        None => None,
        Some(s) => match store.changes_since(s, FEED_BATCH).await? {
            ChangesSince::Pruned { .. } => None,
            ChangesSince::Changes {
                mut changes,
                latest,
            } => {
                let revoked = revoked_sessions(call, &changes).await?;
                // The instances credentials are asked for are answered too.
                let asked = delivered.iter().map(|(id, _)| id);
                for id in listed.iter().flatten().chain(asked) {
                    changes.push(rolecall_core::Change {
                        seq: latest,
                        kind: rolecall_core::EntityKind::Instance,
                        id: id.clone(),
                    });
                }
                Some((changes, latest, revoked))
            }
        },
    };
    let mut revoked = Vec::new();
    let (views, mut removed, sequence, full) = match delta {
        Some((changes, latest, revoked_roles)) => {
            revoked = revoked_roles;
            let (views, gone) = rolecall_imds::changed_views(&api.iam, region, &changes).await?;
            (views, gone, latest, false)
        }
        None => {
            let seq = store.latest_change().await?;
            (
                rolecall_imds::load_views(&api.iam, region, &ips).await?,
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
    let mint = |v: &InstanceView, delivery: Option<Delivery>| {
        let issued = rolecall_imds::mint_for(
            &api.keyring,
            account,
            v,
            now,
            &api.config.instance_credentials,
            delivery,
        )?;
        // Credentials handed to an agent are issued here: the audit trail records them.
        if let Some(n) = rolecall_imds::IssuedNotice::of(account, v, &issued, now) {
            api.audit
                .try_append(crate::audit::record::imds_issuance(&n, &api.config.region));
        }
        Some(issued)
    };
    let minted: Vec<Minted> = views
        .iter()
        .map(|v| {
            let id = &v.instance.id;
            // Without a delivery version (an agent that does not say): `ec2:RoleDelivery` absent.
            let plain = match &listed {
                Some(l) if !l.contains(id) => None,
                _ => mint(v, None),
            };
            let by_delivery = delivered
                .iter()
                .filter(|(for_id, _)| for_id == id)
                .filter_map(|(_, d)| Some((*d, mint(v, Some(*d))?)))
                .collect();
            (plain, by_delivery)
        })
        .collect();
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
                "RevokedSessions",
                "member",
                &revoked,
                |x, (role_id, before)| {
                    x.leaf("RoleId", role_id)
                        .leaf(
                            "IssuedBefore",
                            before.to_rfc3339_opts(SecondsFormat::Millis, true),
                        )
                        .finish_unit();
                },
            );
            x.list(
                "Instances",
                "member",
                views.iter().zip(&minted),
                |x, (v, (plain, by_delivery))| {
                    instance(x, v);
                    if let Some(c) = plain {
                        x.elem("Credentials", |x| credential(x, c));
                    }
                    if !by_delivery.is_empty() {
                        x.list(
                            "DeliveredCredentials",
                            "member",
                            by_delivery,
                            |x, (d, c)| {
                                x.leaf("RoleDelivery", d.as_str());
                                credential(x, c);
                            },
                        );
                    }
                },
            );
        }),
    ))
}

fn credential(x: &mut Xml, c: &Issued) {
    x.leaf("AccessKeyId", &c.access_key_id)
        .leaf("SecretAccessKey", &c.secret_access_key)
        .leaf("Token", &c.session_token)
        .leaf(
            "Expiration",
            c.expires_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        )
        // To the millisecond: the agent compares it with the instance's start
        // (`CredentialsSince`).
        .leaf(
            "LastUpdated",
            c.last_updated.to_rfc3339_opts(SecondsFormat::Millis, true),
        )
        .finish_unit();
}

/// `DeliveredCredentialsFor.N.InstanceId` / `.RoleDelivery`: the instances an agent asks
/// credentials for, each with the IMDS version it delivers them over.
fn delivered_credentials_for(call: &Call<'_>) -> Result<Vec<(String, Delivery)>, ApiError> {
    let mut out = Vec::new();
    for (n, item) in call
        .params
        .structs("DeliveredCredentialsFor")
        .iter()
        .enumerate()
    {
        let field = |name: &str| format!("DeliveredCredentialsFor.{}.{name}", n + 1);
        let id = item.get("InstanceId").ok_or_else(|| {
            ApiError::malformed_parameter(Protocol::Rolecall, &field("InstanceId"), "")
        })?;
        let raw = item.get("RoleDelivery").unwrap_or_default();
        let delivery = Delivery::parse(raw).ok_or_else(|| {
            ApiError::malformed_parameter(Protocol::Rolecall, &field("RoleDelivery"), raw)
        })?;
        out.push((id.to_string(), delivery));
    }
    Ok(out)
}

/// The roles among `changes`' role-policy changes whose sessions are revoked
/// (`AWSRevokeOlderSessions`), with the issue time before which they are refused: one policy
/// read per changed role.
async fn revoked_sessions(
    call: &Call<'_>,
    changes: &[rolecall_core::Change],
) -> Result<Vec<(String, chrono::DateTime<chrono::Utc>)>, ApiError> {
    let mut roles: Vec<&str> = changes
        .iter()
        .filter(|c| c.kind == EntityKind::RolePolicy)
        .map(|c| c.id.as_str())
        .collect();
    roles.sort_unstable();
    roles.dedup();
    let mut out = Vec::new();
    for role_id in roles {
        if let Some(before) = call.api.iam.sessions_revoked_before(role_id).await? {
            out.push((role_id.to_string(), before));
        }
    }
    Ok(out)
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
