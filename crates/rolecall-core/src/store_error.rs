//! What a [`Store`](crate::Store) reports when a write cannot be done: storage outcomes (a key is
//! taken, a row is missing, a row is still in use, a count limit is reached), with no AWS wording.
//! [`From<StoreError> for Error`](Error) is the one place that words them as AWS does.

use crate::Error;
use crate::ec2_errors::{AssociationConflict, NeededState, WrongInstanceState};
use crate::model::InstanceState;

pub type StoreResult<T> = std::result::Result<T, StoreError>;

/// Whose policies (inline or attached): a role's, a user's or a group's, by the owner's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner<'a> {
    Role(&'a str),
    User(&'a str),
    Group(&'a str),
}

impl<'a> Owner<'a> {
    pub fn new(kind: OwnerKind, id: &'a str) -> Self {
        match kind {
            OwnerKind::Role => Owner::Role(id),
            OwnerKind::User => Owner::User(id),
            OwnerKind::Group => Owner::Group(id),
        }
    }

    pub fn kind(&self) -> OwnerKind {
        match self {
            Owner::Role(_) => OwnerKind::Role,
            Owner::User(_) => OwnerKind::User,
            Owner::Group(_) => OwnerKind::Group,
        }
    }

    pub fn id(&self) -> &'a str {
        match self {
            Owner::Role(id) | Owner::User(id) | Owner::Group(id) => id,
        }
    }
}

/// The kinds of IAM identities that own policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OwnerKind {
    Role,
    User,
    Group,
}

impl OwnerKind {
    /// The lower-case word AWS uses in messages ("role", "user", "group"); also the stored kind.
    pub fn name(self) -> &'static str {
        match self {
            OwnerKind::Role => "role",
            OwnerKind::User => "user",
            OwnerKind::Group => "group",
        }
    }
}

/// A unique key that is already taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Taken {
    /// An IAM entity's name.
    Entity(Existing),
    /// A private IP held by a live instance.
    PrivateIp(String),
    /// The instance (by id) already has an active association.
    ActiveAssociation(String),
    /// A RunInstances client token already used.
    ClientToken(String),
    /// A default network resource (by its default key) another writer created first.
    DefaultNetwork(String),
}

/// An IAM entity that exists already: its kind and the name it was to be created with (a key
/// the store found taken, or one core did). Its `Display` is AWS's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Existing {
    pub kind: Named,
    pub name: String,
}

/// The kinds of IAM entity whose names are unique.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Named {
    Role,
    User,
    Group,
    InstanceProfile,
    /// A managed policy.
    Policy,
    /// A user's login profile (named by its user).
    LoginProfile,
    AccountAlias,
}

impl Existing {
    pub fn new(kind: Named, name: impl Into<String>) -> Existing {
        Existing {
            kind,
            name: name.into(),
        }
    }
}

/// AWS's message for each entity that exists already.
impl std::fmt::Display for Existing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = &self.name;
        match self.kind {
            Named::Role => write!(f, "Role with name {n} already exists."),
            Named::User => write!(f, "User with name {n} already exists."),
            Named::Group => write!(f, "Group with name {n} already exists."),
            Named::InstanceProfile => write!(f, "Instance Profile {n} already exists."),
            Named::Policy => write!(
                f,
                "A policy called {n} already exists. Duplicate names are not allowed."
            ),
            Named::LoginProfile => write!(f, "Login Profile for user {n} already exists."),
            Named::AccountAlias => write!(f, "The account alias {n} already exists."),
        }
    }
}

/// An entity that does not exist (by the name, id or ARN it was looked up with): a row the store
/// did not find, or one core looked for. Its `Display` is AWS's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Missing {
    Role(String),
    User(String),
    Group(String),
    InstanceProfile(String),
    /// A managed policy, by ARN.
    Policy(String),
    PolicyVersion {
        arn: String,
        version_id: String,
    },
    Instance(String),
    Association(String),
    AccessKey(String),
    /// The owner of a policy write (deleted since the caller looked it up).
    Owner(OwnerKind),
    /// A role or instance profile linked by id (deleted since the caller looked it up).
    RoleOrInstanceProfile,
    /// A user or group linked by id (deleted since the caller looked it up).
    UserOrGroup,
    /// The managed policy (by ARN) is not attached to the owner.
    Attachment(String),
    RoleInInstanceProfile,
    UserInGroup,
    /// A managed policy (by ARN) named to be attached or used as a boundary.
    AttachablePolicy(String),
    /// An owner's inline policy, by name.
    InlinePolicy {
        owner: OwnerKind,
        name: String,
    },
    /// The login profile of the user (by name).
    LoginProfile(String),
    /// The account's password policy.
    PasswordPolicy,
    AccountAlias(String),
    /// A service-linked role deletion task, by id.
    DeletionTask(String),
}

/// AWS's message for each missing entity.
impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Missing::Role(n) => write!(f, "The role with name {n} cannot be found."),
            Missing::User(n) => write!(f, "The user with name {n} cannot be found."),
            Missing::Group(n) => write!(f, "The group with name {n} cannot be found."),
            Missing::InstanceProfile(n) => write!(f, "Instance Profile {n} cannot be found."),
            Missing::Policy(arn) | Missing::Attachment(arn) => {
                write!(f, "Policy {arn} was not found.")
            }
            Missing::PolicyVersion { arn, version_id } => write!(
                f,
                "Policy {arn} version {version_id} does not exist or is not attachable."
            ),
            // EC2's, worded by its error.
            Missing::Instance(id) => {
                write!(f, "{}", Error::InvalidInstanceIdNotFound(vec![id.clone()]))
            }
            Missing::Association(id) => {
                write!(f, "{}", Error::InvalidAssociationIdNotFound(id.clone()))
            }
            Missing::AccessKey(id) => write!(f, "The Access Key with id {id} cannot be found"),
            Missing::Owner(kind) => write!(f, "The {} cannot be found.", kind.name()),
            Missing::RoleOrInstanceProfile => {
                f.write_str("The role or instance profile cannot be found.")
            }
            Missing::UserOrGroup => f.write_str("The user or group cannot be found."),
            Missing::RoleInInstanceProfile => {
                f.write_str("The role is not in the instance profile.")
            }
            Missing::UserInGroup => f.write_str("The user is not in the group."),
            Missing::AttachablePolicy(arn) => {
                write!(f, "Policy {arn} does not exist or is not attachable.")
            }
            Missing::InlinePolicy { owner, name } => write!(
                f,
                "The {} policy with name {name} cannot be found.",
                owner.name()
            ),
            Missing::LoginProfile(user) => {
                write!(f, "Login Profile for User {user} cannot be found.")
            }
            Missing::PasswordPolicy => {
                f.write_str("The Password Policy with domain name ACCOUNT cannot be found.")
            }
            Missing::AccountAlias(alias) => {
                write!(f, "The account alias {alias} cannot be found.")
            }
            Missing::DeletionTask(id) => write!(f, "Deletion task {id} cannot be found."),
        }
    }
}

/// What still refers to an entity that was to be deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dependents {
    InlinePolicies,
    AttachedPolicies,
    /// A role's instance profiles, or an instance profile's role.
    InstanceProfileRoles,
    AccessKeys,
    GroupMembers,
    /// Roles, users or groups a managed policy is attached to.
    PolicyAttachments,
    /// A managed policy's non-default versions.
    PolicyVersions,
    /// The version is its policy's default.
    DefaultVersion,
    /// A user's login profile (console password).
    LoginProfile,
}

/// AWS's DeleteConflict message for each kind of dependent.
impl std::fmt::Display for Dependents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Dependents::InlinePolicies => "Cannot delete entity, must delete policies first.",
            Dependents::AttachedPolicies => "Cannot delete entity, must detach all policies first.",
            Dependents::InstanceProfileRoles => {
                "Cannot delete entity, must remove roles from instance profile first."
            }
            Dependents::AccessKeys => "Cannot delete entity, must delete access keys first.",
            Dependents::GroupMembers => "Cannot delete entity, must remove users from group first.",
            Dependents::PolicyAttachments => "Cannot delete a policy attached to entities.",
            Dependents::PolicyVersions => {
                "This policy has more than one version. Before you delete a policy, you must delete the policy's versions. The default version is deleted with the policy."
            }
            Dependents::DefaultVersion => "Cannot delete the default version of a policy.",
            Dependents::LoginProfile => "Cannot delete entity, must delete login profile first.",
        })
    }
}

/// A quota.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Limit {
    RolesPerInstanceProfile,
    VersionsPerPolicy,
    AccessKeysPerUser,
    /// Tags on an IAM entity.
    TagsPerEntity,
    /// An owner's inline policies together: the owner (by kind and name) and the most
    /// characters (not counting white space) they may have.
    InlinePolicySize {
        owner: OwnerKind,
        name: String,
        max: usize,
    },
    /// A policy document larger than its kind allows (the policy engine's error).
    PolicySize(rolecall_policy::PolicyError),
}

impl Limit {
    /// The most a count quota allows (None for sizes).
    pub fn quota(&self) -> Option<usize> {
        match self {
            Limit::RolesPerInstanceProfile => Some(1),
            Limit::VersionsPerPolicy => Some(5),
            Limit::AccessKeysPerUser => Some(2),
            Limit::TagsPerEntity => Some(crate::validate::MAX_TAGS),
            Limit::InlinePolicySize { .. } | Limit::PolicySize(_) => None,
        }
    }
}

/// AWS's LimitExceeded message for each quota.
impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let quota = self.quota().unwrap_or_default();
        match self {
            Limit::RolesPerInstanceProfile => write!(
                f,
                "Cannot exceed quota for InstanceSessionsPerInstanceProfile: {quota}"
            ),
            Limit::VersionsPerPolicy => write!(
                f,
                "A managed policy can have up to {quota} versions. Before you create a new version, you must delete an existing version."
            ),
            Limit::AccessKeysPerUser => {
                write!(f, "Cannot exceed quota for AccessKeysPerUser: {quota}")
            }
            Limit::TagsPerEntity => {
                f.write_str("The number of tags has reached the maximum limit.")
            }
            Limit::InlinePolicySize { owner, name, max } => write!(
                f,
                "Maximum policy size of {max} bytes exceeded for {} {name}",
                owner.name()
            ),
            Limit::PolicySize(e) => f.write_str(e.message()),
        }
    }
}

/// The policy engine's error is the source of a [`Limit::PolicySize`].
impl std::error::Error for Limit {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Limit::PolicySize(e) => Some(e),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("already exists: {0:?}")]
    Conflict(Taken),
    #[error("not found: {0:?}")]
    NotFound(Missing),
    #[error("in use by {0:?}")]
    InUse(Dependents),
    #[error("limit reached: {0:?}")]
    LimitExceeded(Limit),
    /// The association (by id) is no longer active.
    #[error("association {0} is not active")]
    NotActive(String),
    /// The instance (by id) is in a state that holds no association (terminated).
    #[error("instance {instance_id} cannot hold an association ({state:?})")]
    CannotAssociate {
        instance_id: String,
        state: InstanceState,
    },
    /// An [`Edit`](crate::Edit) refused the change.
    #[error("{0}")]
    Rejected(Error),
    /// The database failed; the message is for logs.
    #[error("storage: {0}")]
    Backend(String),
}

/// AWS's words for each storage outcome.
impl From<StoreError> for Error {
    fn from(e: StoreError) -> Error {
        match e {
            StoreError::Conflict(t) => match t {
                Taken::Entity(existing) => Error::EntityAlreadyExists(existing),
                Taken::PrivateIp(ip) => {
                    Error::InvalidParameterValue(format!("Address {ip} is in use."))
                }
                Taken::ActiveAssociation(i) => {
                    Error::IncorrectState(AssociationConflict::ActiveExists(i))
                }
                Taken::ClientToken(_) => Error::IdempotentParameterMismatch(
                    "Arguments on this idempotent request are inconsistent with arguments used in previous request(s).".into(),
                ),
                Taken::DefaultNetwork(k) => {
                    Error::Internal(format!("default network resource {k} raced").into())
                }
            },
            StoreError::NotFound(m) => match m {
                Missing::Instance(id) => Error::InvalidInstanceIdNotFound(vec![id]),
                Missing::Association(id) => Error::InvalidAssociationIdNotFound(id),
                _ => Error::NoSuchEntity(m),
            },
            StoreError::InUse(d) => Error::DeleteConflict(d),
            StoreError::LimitExceeded(l) => Error::LimitExceeded(l),
            StoreError::NotActive(id) => Error::IncorrectState(AssociationConflict::NotActive(id)),
            StoreError::CannotAssociate { instance_id, state } => {
                Error::IncorrectInstanceState(WrongInstanceState {
                    instance_id,
                    state,
                    needs: NeededState::RunningOrStopped,
                })
            }
            StoreError::Rejected(e) => e,
            StoreError::Backend(m) => Error::Internal(m.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every storage outcome as the error that carries it, in AWS's exact words (the wire
    /// messages clients and the e2e tests see; they were the stores' before core worded them).
    #[rustfmt::skip]
    #[test]
    fn aws_words() {
        let nf = |m| StoreError::NotFound(m);
        let taken = |e| StoreError::Conflict(Taken::Entity(e));
        let full = StoreError::LimitExceeded;
        let wrong_state = WrongInstanceState { instance_id: "i-1".into(), state: InstanceState::Terminated, needs: NeededState::RunningOrStopped };
        let cases: Vec<(StoreError, Error, &str)> = vec![
            (taken(Existing::new(Named::Role, "R")), Error::EntityAlreadyExists(Existing::new(Named::Role, "R")), "Role with name R already exists."),
            (taken(Existing::new(Named::User, "U")), Error::EntityAlreadyExists(Existing::new(Named::User, "U")), "User with name U already exists."),
            (taken(Existing::new(Named::Group, "G")), Error::EntityAlreadyExists(Existing::new(Named::Group, "G")), "Group with name G already exists."),
            (taken(Existing::new(Named::InstanceProfile, "P")), Error::EntityAlreadyExists(Existing::new(Named::InstanceProfile, "P")), "Instance Profile P already exists."),
            (taken(Existing::new(Named::Policy, "M")), Error::EntityAlreadyExists(Existing::new(Named::Policy, "M")), "A policy called M already exists. Duplicate names are not allowed."),
            (taken(Existing::new(Named::LoginProfile, "U")), Error::EntityAlreadyExists(Existing::new(Named::LoginProfile, "U")), "Login Profile for user U already exists."),
            (taken(Existing::new(Named::AccountAlias, "corp")), Error::EntityAlreadyExists(Existing::new(Named::AccountAlias, "corp")), "The account alias corp already exists."),
            (StoreError::Conflict(Taken::PrivateIp("10.0.0.9".into())), Error::InvalidParameterValue("Address 10.0.0.9 is in use.".into()), "Address 10.0.0.9 is in use."),
            (StoreError::Conflict(Taken::ActiveAssociation("i-1".into())), Error::IncorrectState(AssociationConflict::ActiveExists("i-1".into())), "There is an existing association for instance i-1"),
            (nf(Missing::Instance("i-1".into())), Error::InvalidInstanceIdNotFound(vec!["i-1".into()]), "The instance ID 'i-1' does not exist"),
            (nf(Missing::Association("a-1".into())), Error::InvalidAssociationIdNotFound("a-1".into()), "An association with ID a-1 does not exist."),
            (full(Limit::RolesPerInstanceProfile), Error::LimitExceeded(Limit::RolesPerInstanceProfile), "Cannot exceed quota for InstanceSessionsPerInstanceProfile: 1"),
            (full(Limit::VersionsPerPolicy), Error::LimitExceeded(Limit::VersionsPerPolicy), "A managed policy can have up to 5 versions. Before you create a new version, you must delete an existing version."),
            (full(Limit::AccessKeysPerUser), Error::LimitExceeded(Limit::AccessKeysPerUser), "Cannot exceed quota for AccessKeysPerUser: 2"),
            (StoreError::NotActive("a-1".into()), Error::IncorrectState(AssociationConflict::NotActive("a-1".into())), "The association a-1 is not the active association."),
            (StoreError::CannotAssociate { instance_id: "i-1".into(), state: InstanceState::Terminated }, Error::IncorrectInstanceState(wrong_state), "The instance 'i-1' is not in the 'running' or 'stopped' states."),
            (StoreError::Rejected(Error::TagLimitExceeded(50)), Error::TagLimitExceeded(50), "The maximum number of tags per resource (50) has been exceeded."),
            (StoreError::Backend("disk".into()), Error::Internal("disk".into()), "internal error: disk"),
        ];
        for (stored, aws, message) in cases {
            let e = Error::from(stored);
            assert_eq!(e, aws);
            assert_eq!(e.to_string(), message);
        }
    }

    /// The quotas core finds reached, with their numbers; a document's size keeps the policy
    /// engine's error as its source.
    #[rustfmt::skip]
    #[test]
    fn limits_in_aws_words() {
        use std::error::Error as _;
        let inline = Limit::InlinePolicySize { owner: OwnerKind::User, name: "U".into(), max: 2048 };
        assert_eq!(inline.to_string(), "Maximum policy size of 2048 bytes exceeded for user U");
        assert_eq!(Limit::TagsPerEntity.to_string(), "The number of tags has reached the maximum limit.");
        assert_eq!(Limit::TagsPerEntity.quota(), Some(50));
        let huge = format!(r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::{}"}}]}}"#, "a".repeat(7000));
        let Err(e) = rolecall_policy::Policy::parse(&huge, rolecall_policy::PolicyKind::Managed) else {
            panic!("a managed policy over 6,144 characters parses")
        };
        assert!(e.is_limit_exceeded(), "{e}");
        let size = Limit::PolicySize(e.clone());
        assert_eq!(size.to_string(), e.message());
        assert_eq!(size.source().map(ToString::to_string), Some(e.to_string()));
    }

    /// DeleteConflict carries what is in the way; its message is AWS's for that dependent.
    #[test]
    fn delete_conflicts_in_aws_words() {
        let cases = [
            (
                Dependents::InlinePolicies,
                "Cannot delete entity, must delete policies first.",
            ),
            (
                Dependents::AttachedPolicies,
                "Cannot delete entity, must detach all policies first.",
            ),
            (
                Dependents::InstanceProfileRoles,
                "Cannot delete entity, must remove roles from instance profile first.",
            ),
            (
                Dependents::AccessKeys,
                "Cannot delete entity, must delete access keys first.",
            ),
            (
                Dependents::GroupMembers,
                "Cannot delete entity, must remove users from group first.",
            ),
            (
                Dependents::PolicyAttachments,
                "Cannot delete a policy attached to entities.",
            ),
            (
                Dependents::PolicyVersions,
                "This policy has more than one version. Before you delete a policy, you must delete the policy's versions. The default version is deleted with the policy.",
            ),
            (
                Dependents::DefaultVersion,
                "Cannot delete the default version of a policy.",
            ),
            (
                Dependents::LoginProfile,
                "Cannot delete entity, must delete login profile first.",
            ),
        ];
        for (dependents, message) in cases {
            let e = Error::from(StoreError::InUse(dependents));
            assert_eq!(e, Error::DeleteConflict(dependents));
            assert_eq!(e.to_string(), message);
        }
    }

    /// NoSuchEntity carries the missing entity; its message is AWS's for it.
    #[rustfmt::skip]
    #[test]
    fn missing_entities_in_aws_words() {
        let cases = [
            (Missing::Role("R".into()), "The role with name R cannot be found."),
            (Missing::User("U".into()), "The user with name U cannot be found."),
            (Missing::Group("G".into()), "The group with name G cannot be found."),
            (Missing::InstanceProfile("P".into()), "Instance Profile P cannot be found."),
            (Missing::Policy("arn:p".into()), "Policy arn:p was not found."),
            (Missing::Attachment("arn:p".into()), "Policy arn:p was not found."),
            (Missing::PolicyVersion { arn: "arn:p".into(), version_id: "v3".into() }, "Policy arn:p version v3 does not exist or is not attachable."),
            (Missing::AccessKey("AKIA1".into()), "The Access Key with id AKIA1 cannot be found"),
            (Missing::Owner(OwnerKind::Role), "The role cannot be found."),
            (Missing::Owner(OwnerKind::User), "The user cannot be found."),
            (Missing::Owner(OwnerKind::Group), "The group cannot be found."),
            (Missing::RoleOrInstanceProfile, "The role or instance profile cannot be found."),
            (Missing::UserOrGroup, "The user or group cannot be found."),
            (Missing::RoleInInstanceProfile, "The role is not in the instance profile."),
            (Missing::UserInGroup, "The user is not in the group."),
            (Missing::AttachablePolicy("arn:p".into()), "Policy arn:p does not exist or is not attachable."),
            (Missing::InlinePolicy { owner: OwnerKind::Group, name: "P".into() }, "The group policy with name P cannot be found."),
            (Missing::LoginProfile("U".into()), "Login Profile for User U cannot be found."),
            (Missing::PasswordPolicy, "The Password Policy with domain name ACCOUNT cannot be found."),
            (Missing::AccountAlias("corp".into()), "The account alias corp cannot be found."),
            (Missing::DeletionTask("task/x".into()), "Deletion task task/x cannot be found."),
        ];
        for (missing, message) in cases {
            let e = Error::from(StoreError::NotFound(missing.clone()));
            assert_eq!(e, Error::NoSuchEntity(missing));
            assert_eq!(e.to_string(), message);
        }
    }
}
