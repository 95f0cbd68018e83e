//! The one place where errors become wire errors: AWS code, HTTP status and envelope.

use rolecall_core::{Error, InternalError};

/// Which envelope an error is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Iam,
    Sts,
    Ec2,
    /// rolecall's own service for agents (Query protocol, IAM-style errors).
    Rolecall,
    /// The JSON 1.1 protocol (CloudTrail): errors are `{"__type": ..., "message": ...}`.
    Json,
}

impl Protocol {
    pub fn namespace(self) -> &'static str {
        match self {
            Protocol::Iam => "https://iam.amazonaws.com/doc/2010-05-08/",
            Protocol::Sts => "https://sts.amazonaws.com/doc/2011-06-15/",
            Protocol::Ec2 => "http://ec2.amazonaws.com/doc/2016-11-15/",
            Protocol::Rolecall => "https://rolecall.dev/doc/2026-11-28/",
            Protocol::Json => "",
        }
    }
}

/// An error as the client sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub code: String,
    pub message: String,
    /// The Query protocol's `<Type>`: true for Sender, false for Receiver.
    pub sender: bool,
    /// The failure behind an InternalFailure, never sent: logged with the id of the request it
    /// answers ([`log_internal`](Self::log_internal)).
    pub internal: Option<InternalError>,
}

impl ApiError {
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code: code.to_string(),
            message: message.into(),
            sender: status < 500,
            internal: None,
        }
    }

    /// Logs the failure behind an InternalFailure, once, where the response to the request is
    /// written.
    pub fn log_internal(&self, request_id: &str) {
        if let Some(detail) = &self.internal {
            tracing::error!(target: "rolecall::api", %request_id, %detail, "internal error");
        }
    }

    pub fn internal() -> Self {
        ApiError::new(
            500,
            "InternalFailure",
            "The request processing has failed because of an unknown error, exception or failure.",
        )
    }

    pub fn invalid_action(action: &str) -> Self {
        ApiError::new(
            400,
            "InvalidAction",
            format!("The action {action} is not valid for this web service."),
        )
    }

    pub fn missing_action() -> Self {
        ApiError::new(400, "MissingAction", "Missing Action")
    }

    pub fn missing_parameter(protocol: Protocol, name: &str) -> Self {
        match protocol {
            Protocol::Ec2 => ApiError::new(
                400,
                "MissingParameter",
                format!("The request must contain the parameter {name}"),
            ),
            _ => ApiError::new(
                400,
                "ValidationError",
                format!(
                    "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
                    lower_first(name)
                ),
            ),
        }
    }

    /// A parameter whose value does not parse as its type (number, boolean).
    pub fn malformed_parameter(protocol: Protocol, name: &str, value: &str) -> Self {
        match protocol {
            Protocol::Ec2 => ApiError::new(
                400,
                "InvalidParameterValue",
                format!("Value ({value}) for parameter {name} is invalid."),
            ),
            _ => rolecall_core::validate::violation(
                &lower_first(name),
                value,
                "Member must be of the right type",
            )
            .into(),
        }
    }
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

/// A storage outcome reaching the API directly (reads by authentication and authorization), in
/// core's words.
impl From<rolecall_core::StoreError> for ApiError {
    fn from(e: rolecall_core::StoreError) -> Self {
        Error::from(e).into()
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let (status, code) = match &e {
            Error::NoSuchEntity(_) => (404, "NoSuchEntity"),
            Error::EntityAlreadyExists(_) => (409, "EntityAlreadyExists"),
            Error::DeleteConflict(_) => (409, "DeleteConflict"),
            Error::LimitExceeded(_) => (409, "LimitExceeded"),
            Error::MalformedPolicyDocument(_) => (400, "MalformedPolicyDocument"),
            Error::Validation(_) => (400, "ValidationError"),
            Error::InvalidInput(_) => (400, "InvalidInput"),
            Error::PasswordPolicyViolation(_) => (400, "PasswordPolicyViolation"),
            Error::UnmodifiableEntity(_) => (400, "UnmodifiableEntity"),
            Error::MissingParameter(_) => (400, "MissingParameter"),
            Error::InvalidParameterValue(_) => (400, "InvalidParameterValue"),
            Error::InvalidParameterCombination(_) => (400, "InvalidParameterCombination"),
            Error::InvalidInstanceIdNotFound(_) => (400, "InvalidInstanceID.NotFound"),
            Error::InvalidInstanceIdMalformed(_) => (400, "InvalidInstanceID.Malformed"),
            Error::InvalidAssociationIdNotFound(_) => (400, "InvalidAssociationID.NotFound"),
            Error::IncorrectState(_) => (400, "IncorrectState"),
            Error::IncorrectInstanceState(_) => (400, "IncorrectInstanceState"),
            Error::InsufficientAddressCapacity(_) => (400, "InsufficientFreeAddressesInSubnet"),
            Error::InvalidNextToken(_) => (400, "InvalidNextToken"),
            Error::InvalidFilter(_) => (400, "InvalidFilter"),
            Error::InvalidSubnetIdMalformed(_) => (400, "InvalidSubnetID.Malformed"),
            Error::InvalidSubnetIdNotFound(_) => (400, "InvalidSubnetID.NotFound"),
            Error::InvalidGroupIdMalformed(_) => (400, "InvalidGroupId.Malformed"),
            Error::InvalidGroupNotFound(_) => (400, "InvalidGroup.NotFound"),
            Error::InvalidAmiIdMalformed(_) => (400, "InvalidAMIID.Malformed"),
            Error::InvalidAmiIdNotFound(_) => (400, "InvalidAMIID.NotFound"),
            Error::InvalidAmiNameDuplicate(_) => (400, "InvalidAMIName.Duplicate"),
            Error::InvalidAmiNameMalformed(_) => (400, "InvalidAMIName.Malformed"),
            Error::InvalidInstanceType(_) => (400, "InvalidInstanceType"),
            Error::AuthFailure(_) => (400, "AuthFailure"),
            Error::InvalidVpcIdMalformed(_) => (400, "InvalidVpcID.Malformed"),
            Error::InvalidVpcIdNotFound(_) => (400, "InvalidVpcID.NotFound"),
            Error::InvalidId(_) => (400, "InvalidID"),
            Error::InvalidNetworkInterfaceIdNotFound(_) => {
                (400, "InvalidNetworkInterfaceID.NotFound")
            }
            Error::IdempotentParameterMismatch(_) => (400, "IdempotentParameterMismatch"),
            Error::OperationNotPermitted(_) => (400, "OperationNotPermitted"),
            Error::TagLimitExceeded(_) => (400, "TagLimitExceeded"),
            Error::Internal(detail) => {
                return ApiError {
                    internal: Some(detail.clone()),
                    ..ApiError::internal()
                };
            }
        };
        ApiError::new(status, code, e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Clients see AWS's generic InternalFailure; the failure itself stays for the log line.
    #[test]
    fn internal_failures_keep_their_detail_off_the_wire() {
        let cause = "x".parse::<u8>().unwrap_err();
        let e = ApiError::from(Error::internal("parse the limit", cause));
        assert_eq!((e.status, e.code.as_str()), (500, "InternalFailure"));
        assert!(!e.message.contains("parse the limit"), "{}", e.message);
        let detail = e.internal.map(|d| d.to_string());
        assert_eq!(
            detail.as_deref(),
            Some("parse the limit: invalid digit found in string")
        );
    }
}
