//! What EC2's state and lookup errors carry: the instance, association, security group or image
//! they are about. Each `Display` is EC2's message.

use crate::model::InstanceState;
use std::fmt;

/// An instance whose state refuses an operation: the instance (by id), its state, and the state
/// the operation needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrongInstanceState {
    pub instance_id: String,
    pub state: InstanceState,
    pub needs: NeededState,
}

/// What an operation needs of an instance's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NeededState {
    /// Associating an instance profile.
    RunningOrStopped,
    /// StartInstances.
    Startable,
    /// StopInstances.
    Stoppable,
    /// Changing the instance type or user data.
    Stopped,
    /// Any change to a terminated instance.
    NotTerminated,
}

impl fmt::Display for WrongInstanceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let id = &self.instance_id;
        match self.needs {
            NeededState::RunningOrStopped => write!(
                f,
                "The instance '{id}' is not in the 'running' or 'stopped' states."
            ),
            NeededState::Startable => write!(
                f,
                "The instance '{id}' is not in a state from which it can be started."
            ),
            NeededState::Stoppable => write!(
                f,
                "This instance '{id}' is not in a state from which it can be stopped."
            ),
            NeededState::Stopped => write!(f, "The instance '{id}' is not in the 'stopped' state."),
            NeededState::NotTerminated => write!(
                f,
                "The instance '{id}' is not in a valid state for this operation."
            ),
        }
    }
}

/// An instance protected from being stopped or terminated (its `disableApiStop` or
/// `disableApiTermination` attribute).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtectedInstance {
    pub instance_id: String,
    pub protection: Protection,
}

/// Which of its protections refuses the change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protection {
    Stop,
    Termination,
}

impl fmt::Display for ProtectedInstance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (done, attribute) = match self.protection {
            Protection::Stop => ("stopped", "disableApiStop"),
            Protection::Termination => ("terminated", "disableApiTermination"),
        };
        write!(
            f,
            "The instance '{}' may not be {done}. Modify its '{attribute}' instance attribute and try again.",
            self.instance_id
        )
    }
}

/// An association in the way of an associate, or one that is no longer active.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssociationConflict {
    /// The instance (by id) has an active association already.
    ActiveExists(String),
    /// The association (by id) has ended.
    NotActive(String),
}

impl fmt::Display for AssociationConflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AssociationConflict::ActiveExists(instance_id) => write!(
                f,
                "There is an existing association for instance {instance_id}"
            ),
            AssociationConflict::NotActive(id) => {
                write!(f, "The association {id} is not the active association.")
            }
        }
    }
}

/// A security group that does not exist where it was looked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MissingGroup {
    /// By id, anywhere.
    Id(String),
    /// By id, in the VPC (by id) of the instance it was to be given to.
    InVpc { group_id: String, vpc_id: String },
    /// By name, in the default VPC (by id).
    InDefaultVpc { name: String, vpc_id: String },
}

impl fmt::Display for MissingGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MissingGroup::Id(id) => write!(f, "The security group '{id}' does not exist"),
            MissingGroup::InVpc { group_id, vpc_id } => write!(
                f,
                "The security group '{group_id}' does not exist in VPC '{vpc_id}'"
            ),
            MissingGroup::InDefaultVpc { name, vpc_id } => write!(
                f,
                "The security group '{name}' does not exist in default VPC '{vpc_id}'"
            ),
        }
    }
}

/// An image name that another image (by id) has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmiNameTaken {
    pub name: String,
    pub image_id: String,
}

impl fmt::Display for AmiNameTaken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "AMI name {} is already in use by AMI {}",
            self.name, self.image_id
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;

    /// Each EC2 error carries its ids and states; its message is EC2's, as clients see it.
    #[rustfmt::skip]
    #[test]
    fn ec2_errors_in_aws_words() {
        let state = |needs| Error::IncorrectInstanceState(WrongInstanceState { instance_id: "i-1".into(), state: InstanceState::Terminated, needs });
        let cases = [
            (Error::InvalidInstanceIdNotFound(vec!["i-1".into()]), "The instance ID 'i-1' does not exist"),
            (Error::InvalidInstanceIdNotFound(vec!["i-1".into(), "i-2".into()]), "The instance IDs 'i-1, i-2' do not exist"),
            (Error::InvalidInstanceIdMalformed("i-x\"".into()), "Invalid id: \"i-x\"\""),
            (Error::InvalidAssociationIdNotFound("iip-assoc-1".into()), "An association with ID iip-assoc-1 does not exist."),
            (Error::IncorrectState(AssociationConflict::ActiveExists("i-1".into())), "There is an existing association for instance i-1"),
            (Error::IncorrectState(AssociationConflict::NotActive("iip-assoc-1".into())), "The association iip-assoc-1 is not the active association."),
            (state(NeededState::RunningOrStopped), "The instance 'i-1' is not in the 'running' or 'stopped' states."),
            (state(NeededState::Startable), "The instance 'i-1' is not in a state from which it can be started."),
            (state(NeededState::Stoppable), "This instance 'i-1' is not in a state from which it can be stopped."),
            (state(NeededState::Stopped), "The instance 'i-1' is not in the 'stopped' state."),
            (state(NeededState::NotTerminated), "The instance 'i-1' is not in a valid state for this operation."),
            (Error::InvalidSubnetIdMalformed("subnet-\"x".into()), "Invalid id: \"subnet-\\\"x\""),
            (Error::InvalidSubnetIdNotFound("subnet-1".into()), "The subnet ID 'subnet-1' does not exist"),
            (Error::InvalidGroupIdMalformed("sg-x".into()), "Invalid id: \"sg-x\""),
            (Error::InvalidGroupNotFound(MissingGroup::Id("sg-1".into())), "The security group 'sg-1' does not exist"),
            (Error::InvalidGroupNotFound(MissingGroup::InVpc { group_id: "sg-1".into(), vpc_id: "vpc-1".into() }), "The security group 'sg-1' does not exist in VPC 'vpc-1'"),
            (Error::InvalidGroupNotFound(MissingGroup::InDefaultVpc { name: "web".into(), vpc_id: "vpc-1".into() }), "The security group 'web' does not exist in default VPC 'vpc-1'"),
            (Error::InvalidAmiIdMalformed("ami-x\n".into()), "Invalid id: \"ami-x\\n\" (expecting \"ami-...\")"),
            (Error::InvalidAmiIdNotFound(vec!["ami-1".into(), "ami-2".into()]), "The image id '[ami-1, ami-2]' does not exist"),
            (Error::InvalidAmiNameDuplicate(AmiNameTaken { name: "web".into(), image_id: "ami-1".into() }), "AMI name web is already in use by AMI ami-1"),
            (Error::InvalidAmiNameMalformed("a\tb".into()), "AMI names must be between 3 and 128 characters long, and may contain letters, numbers, '(', ')', '.', '-', '/' and '_': a\\tb"),
            (Error::InvalidVpcIdMalformed("vpc-x".into()), "Invalid id: \"vpc-x\""),
            (Error::InvalidVpcIdNotFound("vpc-1".into()), "The vpc ID 'vpc-1' does not exist"),
            (Error::InvalidId("x\"".into()), "The ID 'x\\\"' is not valid"),
            (Error::InvalidNetworkInterfaceIdNotFound("eni-1".into()), "The networkInterface ID 'eni-1' does not exist"),
            (Error::OperationNotPermitted(ProtectedInstance { instance_id: "i-1".into(), protection: Protection::Stop }), "The instance 'i-1' may not be stopped. Modify its 'disableApiStop' instance attribute and try again."),
            (Error::OperationNotPermitted(ProtectedInstance { instance_id: "i-1".into(), protection: Protection::Termination }), "The instance 'i-1' may not be terminated. Modify its 'disableApiTermination' instance attribute and try again."),
            (Error::InsufficientAddressCapacity("10.0.0.0/28".parse().unwrap()), "There are not enough free addresses in 10.0.0.0/28 to satisfy the requested number of instances."),
            (Error::InvalidInstanceType(vec!["x9.huge".into(), "y1.tiny".into()]), "The following supplied instance types do not exist: [x9.huge, y1.tiny]"),
            (Error::TagLimitExceeded(50), "The maximum number of tags per resource (50) has been exceeded."),
        ];
        for (e, message) in cases {
            assert_eq!(e.to_string(), message);
        }
    }
}
