//! The services this server speaks, and their protocols.

use crate::error::Protocol;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Iam,
    Sts,
    Ec2,
    /// rolecall's own service for agents (`crate::agent_api`).
    Rolecall,
    /// CloudTrail's event history (`LookupEvents`, JSON 1.1 protocol; `crate::audit`).
    Cloudtrail,
}

impl Service {
    pub(crate) fn from_scope(s: &str) -> Option<Service> {
        match s {
            "iam" => Some(Service::Iam),
            "sts" => Some(Service::Sts),
            "ec2" => Some(Service::Ec2),
            "rolecall" => Some(Service::Rolecall),
            "cloudtrail" => Some(Service::Cloudtrail),
            _ => None,
        }
    }

    pub(crate) fn from_version(v: &str) -> Option<Service> {
        match v {
            "2010-05-08" => Some(Service::Iam),
            "2011-06-15" => Some(Service::Sts),
            "2016-11-15" => Some(Service::Ec2),
            "2026-11-28" => Some(Service::Rolecall),
            _ => None,
        }
    }

    pub fn protocol(self) -> Protocol {
        match self {
            Service::Iam => Protocol::Iam,
            Service::Sts => Protocol::Sts,
            Service::Ec2 => Protocol::Ec2,
            Service::Rolecall => Protocol::Rolecall,
            Service::Cloudtrail => Protocol::Json,
        }
    }

    /// The SigV4 scope / IAM action prefix.
    pub fn name(self) -> &'static str {
        match self {
            Service::Iam => "iam",
            Service::Sts => "sts",
            Service::Ec2 => "ec2",
            Service::Rolecall => "rolecall",
            Service::Cloudtrail => "cloudtrail",
        }
    }
}
