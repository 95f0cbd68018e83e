//! Domain errors. Each variant is one AWS error code; the API maps them to the wire (HTTP status
//! and envelope) in one place.

use std::fmt;
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    // IAM
    /// An entity that does not exist (its message is AWS's for that entity).
    #[error("{0}")]
    NoSuchEntity(crate::store_error::Missing),
    /// An entity that exists already (its message is AWS's for that entity).
    #[error("{0}")]
    EntityAlreadyExists(crate::store_error::Existing),
    /// Something still refers to the entity (its message is AWS's for that dependent).
    #[error("{0}")]
    DeleteConflict(crate::store_error::Dependents),
    /// A quota that is reached (which one, with its numbers).
    #[error("{0}")]
    LimitExceeded(crate::store_error::Limit),
    #[error("{0}")]
    MalformedPolicyDocument(String),
    /// Shape constraint violations ("1 validation error detected: ...").
    #[error("{0}")]
    Validation(String),
    #[error("{0}")]
    InvalidInput(String),
    /// A console password that the account's password policy (or AWS's minimum) refuses.
    #[error("{0}")]
    PasswordPolicyViolation(String),
    /// A service-linked role (by name) changed other than by its service.
    #[error(
        "Cannot perform the operation on the protected role '{0}' - this role is only modifiable by AWS"
    )]
    UnmodifiableEntity(String),
    // EC2
    #[error("{0}")]
    MissingParameter(String),
    #[error("{0}")]
    InvalidParameterValue(String),
    #[error("{0}")]
    InvalidParameterCombination(String),
    /// Instances (by id) that do not exist.
    #[error("{}", instances_not_found(.0))]
    InvalidInstanceIdNotFound(Vec<String>),
    /// An instance id that is not one (as given).
    #[error("Invalid id: \"{0}\"")]
    InvalidInstanceIdMalformed(String),
    /// An association (by id) that does not exist.
    #[error("An association with ID {0} does not exist.")]
    InvalidAssociationIdNotFound(String),
    /// An instance's association in the way, or not there (by instance or association id).
    #[error("{0}")]
    IncorrectState(crate::ec2_errors::AssociationConflict),
    /// An instance whose state refuses the operation.
    #[error("{0}")]
    IncorrectInstanceState(crate::ec2_errors::WrongInstanceState),
    /// A subnet (by CIDR block) without enough free addresses for the launch.
    #[error(
        "There are not enough free addresses in {0} to satisfy the requested number of instances."
    )]
    InsufficientAddressCapacity(ipnet::Ipv4Net),
    #[error("{0}")]
    InvalidNextToken(String),
    #[error("{0}")]
    InvalidFilter(String),
    /// Malformed subnet, security group and VPC ids (as given).
    #[error("Invalid id: \"{}\"", .0.escape_debug())]
    InvalidSubnetIdMalformed(String),
    /// A subnet (by id) that does not exist.
    #[error("The subnet ID '{0}' does not exist")]
    InvalidSubnetIdNotFound(String),
    #[error("Invalid id: \"{}\"", .0.escape_debug())]
    InvalidGroupIdMalformed(String),
    /// A security group (by id or name) that does not exist where it was looked for.
    #[error("{0}")]
    InvalidGroupNotFound(crate::ec2_errors::MissingGroup),
    /// An image id that is not one (as given).
    #[error("Invalid id: \"{}\" (expecting \"ami-...\")", .0.escape_debug())]
    InvalidAmiIdMalformed(String),
    /// Images (by id) that do not exist.
    #[error("The image id '[{}]' does not exist", .0.join(", "))]
    InvalidAmiIdNotFound(Vec<String>),
    /// An image name another image (by id) has.
    #[error("{0}")]
    InvalidAmiNameDuplicate(crate::ec2_errors::AmiNameTaken),
    /// An image name (as given) that is not one.
    #[error(
        "AMI names must be between 3 and 128 characters long, and may contain letters, numbers, '(', ')', '.', '-', '/' and '_': {}",
        .0.escape_debug()
    )]
    InvalidAmiNameMalformed(String),
    /// Instance type names that rolecall does not know.
    #[error("The following supplied instance types do not exist: [{}]", .0.join(", "))]
    InvalidInstanceType(Vec<String>),
    #[error("{0}")]
    AuthFailure(String),
    #[error("Invalid id: \"{}\"", .0.escape_debug())]
    InvalidVpcIdMalformed(String),
    /// A VPC (by id) that does not exist.
    #[error("The vpc ID '{0}' does not exist")]
    InvalidVpcIdNotFound(String),
    /// A resource id (as given) of no kind EC2 knows.
    #[error("The ID '{}' is not valid", .0.escape_debug())]
    InvalidId(String),
    /// A network interface (by id) that does not exist.
    #[error("The networkInterface ID '{0}' does not exist")]
    InvalidNetworkInterfaceIdNotFound(String),
    #[error("{0}")]
    IdempotentParameterMismatch(String),
    /// An instance whose protection refuses the operation.
    #[error("{0}")]
    OperationNotPermitted(crate::ec2_errors::ProtectedInstance),
    /// More tags on one resource than EC2 keeps (the most it keeps).
    #[error("The maximum number of tags per resource ({0}) has been exceeded.")]
    TagLimitExceeded(usize),
    /// Storage or other server-side failure; for logs, not clients.
    #[error("internal error: {0}")]
    Internal(#[source] InternalError),
}

/// EC2's message for missing instances: one id, or several.
fn instances_not_found(ids: &[String]) -> String {
    match ids {
        [id] => format!("The instance ID '{id}' does not exist"),
        _ => format!("The instance IDs '{}' do not exist", ids.join(", ")),
    }
}

impl Error {
    /// A server-side failure caused by `cause`, which is kept (as the error's source).
    pub fn internal(
        what: impl Into<String>,
        cause: impl std::error::Error + Send + Sync + 'static,
    ) -> Error {
        Error::Internal(InternalError {
            what: what.into(),
            cause: Some(Arc::new(cause)),
        })
    }
}

/// What failed on the server side and, where another error caused it, that error: shown after
/// `what` (for the log line) and kept as the [`source`](std::error::Error::source).
#[derive(Debug, Clone)]
pub struct InternalError {
    what: String,
    cause: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl fmt::Display for InternalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.cause {
            Some(cause) => write!(f, "{}: {cause}", self.what),
            None => f.write_str(&self.what),
        }
    }
}

impl std::error::Error for InternalError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.cause
            .as_deref()
            .map(|c| c as &(dyn std::error::Error + 'static))
    }
}

/// Equal when they read the same (causes have no equality of their own).
impl PartialEq for InternalError {
    fn eq(&self, other: &Self) -> bool {
        self.to_string() == other.to_string()
    }
}

impl Eq for InternalError {}

/// A failure with no other error behind it.
impl From<String> for InternalError {
    fn from(what: String) -> Self {
        InternalError { what, cause: None }
    }
}

impl From<&str> for InternalError {
    fn from(what: &str) -> Self {
        what.to_string().into()
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    /// A service-linked role carries its name; the message is IAM's.
    #[test]
    fn unmodifiable_roles_in_aws_words() {
        assert_eq!(
            Error::UnmodifiableEntity("AWSServiceRoleForX".into()).to_string(),
            "Cannot perform the operation on the protected role 'AWSServiceRoleForX' - this role is only modifiable by AWS"
        );
    }

    #[test]
    fn internal_errors_keep_their_cause() {
        let cause = "x".parse::<u8>().unwrap_err();
        let e = Error::internal("parse the limit", cause.clone());
        assert_eq!(
            e.to_string(),
            format!("internal error: parse the limit: {cause}")
        );
        let Error::Internal(detail) = &e else {
            panic!("{e:?}")
        };
        let source = detail.source().map(ToString::to_string);
        assert_eq!(source, Some(cause.to_string()));
        assert!(e.source().is_some());
        assert_eq!(
            Error::Internal("disk".into()).to_string(),
            "internal error: disk"
        );
    }
}
