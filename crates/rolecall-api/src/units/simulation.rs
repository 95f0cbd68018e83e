//! The simulation family: SimulatePrincipalPolicy and SimulateCustomPolicy (the simulator is
//! `crate::simulate`, its evaluation `rolecall_core::simulation`). Their input is read by the
//! simulator's own parser, whose messages are IAM's real ones where they differ from the model's
//! constraints (e.g. `actionNames` "Member must have length between 3 and 128").

use crate::authz::Check;
use crate::context::Call;
use crate::error::{ApiError, Protocol};
use crate::generated::Operation;
use crate::input::Parse;
use crate::params::Args;
use crate::simulate::{Input, run};
use crate::units::Unit;
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

pub(crate) struct SimulatePrincipalPolicy;

impl Unit for SimulatePrincipalPolicy {
    const OP: Operation = Operation::SimulatePrincipalPolicy;
    type Input = Input;
    type Resolved = ();

    async fn resolve(_: &Call<'_>, _: &Input) -> Result<(), ApiError> {
        Ok(())
    }

    /// Authorized on the simulated user, group or role.
    fn checks(_: &Call<'_>, input: &Input, _: &()) -> Vec<Check> {
        vec![iam_check(
            Self::OP,
            input.policy_source_arn().to_string(),
            vec![],
        )]
    }

    async fn handle(call: &Call<'_>, input: Input, _: ()) -> Result<String, ApiError> {
        run(call, input).await
    }
}

pub(crate) struct SimulateCustomPolicy;

impl Unit for SimulateCustomPolicy {
    const OP: Operation = Operation::SimulateCustomPolicy;
    type Input = Input;
    type Resolved = ();

    async fn resolve(_: &Call<'_>, _: &Input) -> Result<(), ApiError> {
        Ok(())
    }

    fn checks(_: &Call<'_>, _: &Input, _: &()) -> Vec<Check> {
        vec![iam_check(Self::OP, "*".into(), vec![])]
    }

    async fn handle(call: &Call<'_>, input: Input, _: ()) -> Result<String, ApiError> {
        run(call, input).await
    }
}
