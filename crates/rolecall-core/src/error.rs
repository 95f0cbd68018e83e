//! Domain errors. Each variant is one AWS error code; the API maps them to the wire (HTTP status
//! and envelope) in one place.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    // IAM
    #[error("{0}")]
    NoSuchEntity(String),
    #[error("{0}")]
    EntityAlreadyExists(String),
    #[error("{0}")]
    DeleteConflict(String),
    #[error("{0}")]
    LimitExceeded(String),
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
    /// A service-linked role changed other than by its service.
    #[error("{0}")]
    UnmodifiableEntity(String),
    // EC2
    #[error("{0}")]
    MissingParameter(String),
    #[error("{0}")]
    InvalidParameterValue(String),
    #[error("{0}")]
    InvalidParameterCombination(String),
    #[error("{0}")]
    InvalidInstanceIdNotFound(String),
    #[error("{0}")]
    InvalidInstanceIdMalformed(String),
    #[error("{0}")]
    InvalidAssociationIdNotFound(String),
    #[error("{0}")]
    IncorrectState(String),
    #[error("{0}")]
    IncorrectInstanceState(String),
    #[error("{0}")]
    InsufficientAddressCapacity(String),
    #[error("{0}")]
    InvalidNextToken(String),
    #[error("{0}")]
    InvalidFilter(String),
    #[error("{0}")]
    InvalidSubnetIdMalformed(String),
    #[error("{0}")]
    InvalidSubnetIdNotFound(String),
    #[error("{0}")]
    InvalidGroupIdMalformed(String),
    #[error("{0}")]
    InvalidGroupNotFound(String),
    #[error("{0}")]
    InvalidAmiIdMalformed(String),
    #[error("{0}")]
    InvalidAmiIdNotFound(String),
    #[error("{0}")]
    InvalidAmiNameDuplicate(String),
    #[error("{0}")]
    InvalidAmiNameMalformed(String),
    #[error("{0}")]
    InvalidInstanceType(String),
    #[error("{0}")]
    AuthFailure(String),
    #[error("{0}")]
    InvalidVpcIdMalformed(String),
    #[error("{0}")]
    InvalidVpcIdNotFound(String),
    #[error("{0}")]
    InvalidId(String),
    #[error("{0}")]
    InvalidNetworkInterfaceIdNotFound(String),
    #[error("{0}")]
    IdempotentParameterMismatch(String),
    #[error("{0}")]
    OperationNotPermitted(String),
    #[error("{0}")]
    TagLimitExceeded(String),
    /// Storage or other server-side failure; the message is for logs, not clients.
    #[error("internal error: {0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
