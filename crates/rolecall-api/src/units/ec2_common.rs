//! What EC2 units share: the response envelope, the check on an EC2 action, DryRun, filters,
//! and the instance an operation acts on as authorization describes it (`on_instance!`).

use crate::authz::{Check, Keys};
use crate::context::Call;
use crate::error::ApiError;
use crate::generated::Operation;
use crate::generated::ec2 as input;
use rolecall_core::ec2::Filter;
use rolecall_core::model::{Association, Instance};
use rolecall_wire::{Xml, ec2_response};

/// An instance as authorization describes it, with its active association (None: not found).
pub(crate) type FoundInstance = Option<(Instance, Option<Association>)>;

pub(crate) fn respond(call: &Call<'_>, body: &dyn Fn(&mut Xml)) -> String {
    ec2_response(call.op.name(), call.request_id, body)
}

pub(crate) fn ec2_check(op: Operation, resource: String, keys: Keys) -> Check {
    Check {
        action: format!("ec2:{}", op.name()),
        resource,
        keys,
    }
}

/// EC2's DryRun: the request is checked, then answered with DryRunOperation instead of acting.
pub(crate) fn dry_run(flag: Option<bool>) -> Result<(), ApiError> {
    if flag.unwrap_or(false) {
        return Err(ApiError::new(
            412,
            "DryRunOperation",
            "Request would have succeeded, but DryRun flag is set.",
        ));
    }
    Ok(())
}

pub(crate) fn filters(filters: Vec<input::Filter>) -> Vec<Filter> {
    filters
        .into_iter()
        .map(|f| Filter {
            name: f.name.unwrap_or_default(),
            values: f.values,
        })
        .collect()
}
