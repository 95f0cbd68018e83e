//! DescribeInstanceStatus (chosen in the database) and instance attributes.

use crate::ec2::{DescribeRequest, Ec2, check_instance_id, wrong_state};
use crate::ec2_errors::NeededState;
use crate::ec2_network::check_group_id;
use crate::model::*;
use crate::{Error, Result};

/// An instance's status checks: instances that run pass them; others have none.
pub fn status_of(i: &Instance) -> &'static str {
    if i.state == InstanceState::Running {
        "ok"
    } else {
        "not-applicable"
    }
}

pub fn reachability_of(i: &Instance) -> &'static str {
    if i.state == InstanceState::Running {
        "passed"
    } else {
        "not-applicable"
    }
}

/// A change ModifyInstanceAttribute makes.
#[derive(Debug, Clone)]
pub enum AttributeChange {
    InstanceType(String),
    /// Base64, as given.
    UserData(String),
    DisableApiTermination(bool),
    DisableApiStop(bool),
    ShutdownBehavior(String),
    Groups(Vec<String>),
    /// Accepted and recorded nowhere (rolecall has no packets, disks or drivers to apply them to).
    NoEffect,
}

impl Ec2 {
    /// Instances with their status, chosen in the database: by ids, the state and zone filters
    /// (running instances only unless `include_all`), one page.
    pub async fn describe_instance_status(
        &self,
        req: &DescribeRequest,
        include_all: bool,
    ) -> Result<(Vec<Instance>, Option<String>)> {
        let page = req.page(true)?;
        let (ids, filters) = (&req.ids, &req.filters);
        for id in ids {
            check_instance_id(id)?;
        }
        let mut states: Vec<InstanceState> = if include_all {
            InstanceState::ALL.to_vec()
        } else {
            vec![InstanceState::Running]
        };
        let mut zones: Vec<String> = Vec::new();
        let mut zone_filtered = false;
        for f in filters {
            let keep = |states: &mut Vec<InstanceState>, ok: &dyn Fn(&InstanceState) -> bool| {
                states.retain(|s| ok(s))
            };
            match f.name.as_str() {
                "instance-state-name" => keep(&mut states, &|s| {
                    f.values
                        .iter()
                        .any(|v| crate::ec2::wildcard_match(v, s.name()))
                }),
                "instance-state-code" => keep(&mut states, &|s| {
                    f.values.iter().any(|v| *v == s.code().to_string())
                }),
                "system-status.status" | "instance-status.status" => keep(&mut states, &|s| {
                    let st = if *s == InstanceState::Running {
                        "ok"
                    } else {
                        "not-applicable"
                    };
                    f.values.iter().any(|v| crate::ec2::wildcard_match(v, st))
                }),
                "system-status.reachability" | "instance-status.reachability" => {
                    keep(&mut states, &|s| {
                        let st = if *s == InstanceState::Running {
                            "passed"
                        } else {
                            "not-applicable"
                        };
                        f.values.iter().any(|v| crate::ec2::wildcard_match(v, st))
                    })
                }
                "availability-zone" => {
                    // Zones are exact names; one filter of them narrows the others.
                    let these: Vec<String> = self
                        .config
                        .availability_zones()
                        .into_iter()
                        .filter(|z| f.values.iter().any(|v| crate::ec2::wildcard_match(v, z)))
                        .collect();
                    zones = if zone_filtered {
                        zones.into_iter().filter(|z| these.contains(z)).collect()
                    } else {
                        these
                    };
                    zone_filtered = true;
                }
                // No scheduled events exist: an event filter matches nothing.
                "event.code"
                | "event.description"
                | "event.not-after"
                | "event.not-before"
                | "event.instance-event-id" => states.clear(),
                other => {
                    return Err(Error::InvalidParameterValue(format!(
                        "The filter '{other}' is invalid"
                    )));
                }
            }
        }
        if !ids.is_empty() {
            // Unknown ids are an error, as in DescribeInstances.
            self.existing_instances(ids).await?;
        }
        if states.is_empty() || (zone_filtered && zones.is_empty()) {
            return Ok((vec![], None));
        }
        let q = InstanceQuery {
            ids: ids.to_vec(),
            states: states.iter().map(|s| s.name().to_string()).collect(),
            availability_zones: zones,
        };
        let mut rows = self.store.status_instances(&q, &page).await?;
        let next = if rows.len() > page.limit {
            rows.get(page.limit).map(|i| i.id.clone())
        } else {
            None
        };
        rows.truncate(page.limit);
        Ok((rows, next))
    }

    /// Applies one attribute change, as EC2 allows it: the type and user data only while the
    /// instance is stopped; nothing on a terminated instance.
    pub async fn modify_instance_attribute(
        &self,
        id: &str,
        change: AttributeChange,
    ) -> Result<Instance> {
        check_instance_id(id)?;
        if let AttributeChange::InstanceType(t) = &change {
            crate::ec2::check_instance_type(t)?;
        }
        if let AttributeChange::ShutdownBehavior(b) = &change
            && !matches!(b.as_str(), "stop" | "terminate")
        {
            return Err(Error::InvalidParameterValue(format!(
                "Value ({}) for parameter value is invalid. Valid values are 'stop' and 'terminate'.",
                b.escape_debug()
            )));
        }
        let groups = match &change {
            AttributeChange::Groups(ids) => {
                for g in ids {
                    check_group_id(g)?;
                }
                let inst = self.existing_instance(id).await?;
                let vpc = inst.vpc_id.clone().unwrap_or_default();
                let (_, _, _) = self.default_network().await?;
                Some(self.groups_by_id(&vpc, ids).await?)
            }
            _ => None,
        };
        let edit = move |inst: &mut Instance| {
            if inst.state == InstanceState::Terminated {
                return Err(wrong_state(inst, NeededState::NotTerminated));
            }
            let needs_stopped = matches!(
                change,
                AttributeChange::InstanceType(_) | AttributeChange::UserData(_)
            );
            if needs_stopped && inst.state != InstanceState::Stopped {
                return Err(wrong_state(inst, NeededState::Stopped));
            }
            match change {
                AttributeChange::InstanceType(t) => inst.instance_type = t,
                AttributeChange::UserData(u) => {
                    inst.user_data = if u.is_empty() { None } else { Some(u) }
                }
                AttributeChange::DisableApiTermination(b) => inst.disable_api_termination = b,
                AttributeChange::DisableApiStop(b) => inst.disable_api_stop = b,
                AttributeChange::ShutdownBehavior(b) => inst.shutdown_behavior = b,
                AttributeChange::Groups(_) => {
                    if let Some(g) = groups {
                        inst.security_groups = g;
                    }
                }
                AttributeChange::NoEffect => {}
            }
            Ok(())
        };
        let now = self.iam.now();
        Ok(self.store.modify_instance(id, now, Box::new(edit)).await?)
    }
}
