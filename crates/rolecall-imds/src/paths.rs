//! What each metadata path returns for one instance.

use crate::credentials::Delivery;
use crate::directory::Directory;
use crate::entry::InstanceEntry;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::SecondsFormat;

pub enum Body {
    Text(String),
    Bytes(Vec<u8>),
}

fn text(s: impl Into<String>) -> Option<Body> {
    Some(Body::Text(s.into()))
}

fn listing(items: &[&str]) -> Option<Body> {
    text(items.join("\n"))
}

fn now_str(dir: &Directory) -> String {
    dir.clock().now().to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A stable, locally administered MAC address derived from the instance id.
pub fn mac(instance_id: &str) -> String {
    let hex: Vec<u8> = instance_id.trim_start_matches("i-").bytes().collect();
    let byte = |i: usize| -> u8 {
        let hi = hex
            .get(hex.len().saturating_sub(10) + 2 * i)
            .copied()
            .unwrap_or(b'0');
        let lo = hex
            .get(hex.len().saturating_sub(10) + 2 * i + 1)
            .copied()
            .unwrap_or(b'0');
        u8::from_str_radix(&format!("{}{}", hi as char, lo as char), 16).unwrap_or(0)
    };
    format!(
        "0e:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        byte(0),
        byte(1),
        byte(2),
        byte(3),
        byte(4)
    )
}

pub fn hostname(view: &InstanceEntry, region: &str) -> String {
    let host = format!("ip-{}", view.private_ip().to_string().replace('.', "-"));
    if region == "us-east-1" {
        format!("{host}.ec2.internal")
    } else {
        format!("{host}.{region}.compute.internal")
    }
}

/// The body for `path` (below `/latest`), or None for 404. SDKs sometimes ask for leaf paths with
/// a trailing slash (botocore's `placement/availability-zone/`); those answer as the leaf.
pub fn render(
    dir: &Directory,
    view: &InstanceEntry,
    path: &str,
    delivery: Delivery,
) -> Option<Body> {
    render_exact(dir, view, path, delivery).or_else(|| {
        let trimmed = path.strip_suffix('/')?;
        render_exact(dir, view, trimmed, delivery)
    })
}

fn render_exact(
    dir: &Directory,
    view: &InstanceEntry,
    path: &str,
    delivery: Delivery,
) -> Option<Body> {
    let tags = view.tags();
    let region = dir.region();
    match path {
        "" | "/" => {
            let mut items = vec!["dynamic", "meta-data"];
            if view.user_data().is_some() {
                items.push("user-data");
            }
            listing(&items)
        }
        "/user-data" => {
            let raw = view.user_data()?;
            Some(Body::Bytes(
                B64.decode(raw.trim())
                    .unwrap_or_else(|_| raw.as_bytes().to_vec()),
            ))
        }
        "/dynamic" | "/dynamic/" => listing(&["instance-identity/"]),
        "/dynamic/instance-identity" | "/dynamic/instance-identity/" => listing(&["document"]),
        "/dynamic/instance-identity/document" => {
            let doc = serde_json::json!({
                "accountId": dir.account_id(),
                "architecture": "x86_64",
                "availabilityZone": view.availability_zone(),
                "billingProducts": null,
                "devpayProductCodes": null,
                "marketplaceProductCodes": null,
                "imageId": view.image_id(),
                "instanceId": &*view.id(),
                "instanceType": view.instance_type(),
                "kernelId": null,
                "pendingTime": view.launch_time().to_rfc3339_opts(SecondsFormat::Secs, true),
                "privateIp": view.private_ip().to_string(),
                "ramdiskId": null,
                "region": region,
                "version": "2017-09-30"
            });
            text(serde_json::to_string_pretty(&doc).unwrap_or_default())
        }
        "/meta-data" | "/meta-data/" => {
            let mut items = vec![
                "ami-id",
                "ami-launch-index",
                "hostname",
                "instance-action",
                "instance-id",
                "instance-life-cycle",
                "instance-type",
                "local-hostname",
                "local-ipv4",
                "mac",
                "placement/",
                "reservation-id",
                "security-groups",
            ];
            if view.profile().is_some() {
                items.insert(3, "iam/");
            }
            if tags.is_some() {
                items.push("tags/");
            }
            listing(&items)
        }
        "/meta-data/ami-id" => text(view.image_id()),
        "/meta-data/ami-launch-index" => text(view.ami_launch_index().to_string()),
        "/meta-data/hostname" | "/meta-data/local-hostname" => text(hostname(view, region)),
        "/meta-data/instance-action" => text("none"),
        "/meta-data/instance-id" => text(&*view.id()),
        "/meta-data/instance-life-cycle" => text("on-demand"),
        "/meta-data/instance-type" => text(view.instance_type()),
        "/meta-data/local-ipv4" => text(view.private_ip().to_string()),
        "/meta-data/mac" => text(mac(&view.id())),
        "/meta-data/reservation-id" => text(&*view.reservation_id()),
        "/meta-data/security-groups" => text(view.security_groups()),
        "/meta-data/placement" | "/meta-data/placement/" => {
            listing(&["availability-zone", "region"])
        }
        "/meta-data/placement/availability-zone" => text(view.availability_zone()),
        "/meta-data/placement/region" => text(region),
        "/meta-data/tags" | "/meta-data/tags/" if tags.is_some() => listing(&["instance/"]),
        "/meta-data/tags/instance" | "/meta-data/tags/instance/" => text(
            tags?
                .iter()
                .map(|(k, _)| &**k)
                .collect::<Vec<_>>()
                .join("\n"),
        ),
        p if p.starts_with("/meta-data/tags/instance/") => {
            let key = &p["/meta-data/tags/instance/".len()..];
            tags?
                .iter()
                .find(|(k, _)| **k == *key)
                .and_then(|(_, v)| text(&**v))
        }
        p if p == "/meta-data/iam" || p.starts_with("/meta-data/iam/") => {
            iam(dir, view, &p["/meta-data/iam".len()..], delivery)
        }
        _ => None,
    }
}

fn iam(dir: &Directory, view: &InstanceEntry, path: &str, delivery: Delivery) -> Option<Body> {
    let profile = view.profile()?;
    match path {
        "" | "/" => listing(&[
            "info",
            "security-credentials/",
            "security-credentials-extended/",
        ]),
        "/info" => text(format!(
            "{{\n  \"Code\" : \"Success\",\n  \"LastUpdated\" : \"{}\",\n  \"InstanceProfileArn\" : \"{}\",\n  \"InstanceProfileId\" : \"{}\"\n}}",
            now_str(dir),
            profile.arn,
            profile.id
        )),
        "/security-credentials"
        | "/security-credentials/"
        | "/security-credentials-extended"
        | "/security-credentials-extended/" => text(&profile.role.as_ref()?.name),
        p => {
            let (extended, name) = match p.strip_prefix("/security-credentials-extended/") {
                Some(name) => (true, name),
                None => (false, p.strip_prefix("/security-credentials/")?),
            };
            let role = profile.role.as_ref().filter(|r| r.name == name)?;
            if !role.trusts_ec2 {
                return text(format!(
                    "{{\n  \"Code\" : \"AssumeRoleUnauthorizedAccess\",\n  \"Message\" : \"EC2 cannot assume the role {}.  Please see documentation at http://docs.amazonwebservices.com/IAM/latest/UserGuide/RolesTroubleshooting.html.\",\n  \"LastUpdated\" : \"{}\"\n}}",
                    role.name,
                    now_str(dir)
                ));
            }
            dir.credentials_for(view, delivery).map(|c| {
                Body::Text(if extended {
                    c.json_extended.clone()
                } else {
                    c.json.clone()
                })
            })
        }
    }
}
