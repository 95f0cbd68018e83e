//! The simulation family: SimulatePrincipalPolicy and SimulateCustomPolicy (the simulator is
//! `crate::simulate`, its evaluation `rolecall_core::simulation`). Their input is read by the
//! simulator's own parser, whose messages are IAM's real ones where they differ from the model's
//! constraints (e.g. `actionNames` "Member must have length between 3 and 128").

use crate::error::{ApiError, Protocol};
use crate::input::Parse;
use crate::params::Args;
use crate::simulate::{Input, run};
use crate::units::iam_common::iam_check;
use rolecall_wire::Params;

impl Parse for Input {
    fn parse(p: &Params) -> Result<Input, ApiError> {
        Input::parse(&Args {
            params: p,
            protocol: Protocol::Iam,
        })
    }
}

// Authorized on the simulated user, group or role.
unit!(
    SimulatePrincipalPolicy,
    input Input,
    resolve |_, _| -> () {},
    checks |_, input, _| {
        let source = input.policy_source_arn().to_string();
        vec![iam_check(Self::OP, source, vec![])]
    },
    handle |call, input, _| { run(call, input).await }
);

unit!(
    SimulateCustomPolicy,
    input Input,
    resolve |_, _| -> () {},
    checks |_, _, _| { vec![iam_check(Self::OP, "*".into(), vec![])] },
    handle |call, input, _| { run(call, input).await }
);
