//! The instance-profile association family (EC2): associate, replace, disassociate, describe.
//!
//! Associate and Replace hand the profile's role to EC2 for the instance, so they need
//! `iam:PassRole` on that role with `iam:AssociatedResourceArn` = the instance. The association,
//! the instance and the profile are each read once: the checks are computed from them, and the
//! handler acts on exactly them (core's `*_resolved`), so nothing can change between check and
//! use.

use crate::authz::{self, Check};
use crate::context::Call;
use crate::ec2_xml::association_xml;
use crate::error::ApiError;
use crate::generated::Operation;
use crate::generated::ec2::{self as input, IamInstanceProfileSpecification};
use crate::units::Unit;
use rolecall_core::ec2::Filter;
use rolecall_core::model::{Association, AssociationState, Instance, InstanceProfile};
use rolecall_wire::{Xml, ec2_response};

fn respond(call: &Call<'_>, body: &dyn Fn(&mut Xml)) -> String {
    ec2_response(call.op.name(), call.request_id, body)
}

fn association_response(
    call: &Call<'_>,
    assoc: &Association,
    reported: AssociationState,
) -> String {
    respond(call, &|x| {
        x.elem("iamInstanceProfileAssociation", |x| {
            association_xml(x, assoc, reported)
        })
        .finish_unit()
    })
}

/// The profile a request names (by name or ARN), or why it names none.
async fn profile(
    call: &Call<'_>,
    spec: &IamInstanceProfileSpecification,
) -> rolecall_core::Result<InstanceProfile> {
    call.api
        .iam
        .resolve_instance_profile(spec.name.as_deref(), spec.arn.as_deref())
        .await
}

/// An instance as authorization describes it: the instance and its active association.
type Described = Option<(Instance, Option<Association>)>;

pub(crate) struct AssociateIamInstanceProfile;

pub(crate) struct ToAssociate {
    instance: rolecall_core::Result<Instance>,
    active: Option<Association>,
    profile: rolecall_core::Result<InstanceProfile>,
}

impl Unit for AssociateIamInstanceProfile {
    const OP: Operation = Operation::AssociateIamInstanceProfile;
    type Input = input::AssociateIamInstanceProfileInput;
    type Resolved = ToAssociate;

    async fn resolve(call: &Call<'_>, input: &Self::Input) -> Result<ToAssociate, ApiError> {
        let ec2 = &call.api.ec2;
        let instance = ec2.existing_instance(&input.instance_id).await;
        let active = match &instance {
            Ok(i) => ec2.active_association(&i.id).await.ok().flatten(),
            Err(_) => None,
        };
        Ok(ToAssociate {
            instance,
            active,
            profile: profile(call, &input.iam_instance_profile).await,
        })
    }

    fn checks(call: &Call<'_>, input: &Self::Input, r: &ToAssociate) -> Vec<Check> {
        let described: Described = r
            .instance
            .as_ref()
            .ok()
            .map(|i| (i.clone(), r.active.clone()));
        authz::instance_checks(
            call.api,
            Self::OP,
            Some(&input.instance_id),
            described.as_ref(),
            r.profile.as_ref().ok(),
        )
    }

    async fn handle(call: &Call<'_>, _: Self::Input, r: ToAssociate) -> Result<String, ApiError> {
        let assoc = call
            .api
            .ec2
            .associate_resolved(r.instance, r.profile)
            .await?;
        Ok(association_response(
            call,
            &assoc,
            AssociationState::Associating,
        ))
    }
}

/// An association as found (or why not), and its instance as authorization describes it.
async fn association(call: &Call<'_>, id: &str) -> (rolecall_core::Result<Association>, Described) {
    let found = call.api.ec2.existing_association(id).await;
    let instance = match &found {
        Ok(a) => authz::find_instance(call.api, &a.instance_id).await,
        Err(_) => None,
    };
    (found, instance)
}

/// The check on the association's instance (`instance/*` when the association is unknown).
fn association_checks(
    call: &Call<'_>,
    op: Operation,
    found: &rolecall_core::Result<Association>,
    instance: &Described,
    new_profile: Option<&InstanceProfile>,
) -> Vec<Check> {
    let instance_id = found.as_ref().ok().map(|a| a.instance_id.as_str());
    authz::instance_checks(call.api, op, instance_id, instance.as_ref(), new_profile)
}

pub(crate) struct ReplaceIamInstanceProfileAssociation;

pub(crate) struct ToReplace {
    association: rolecall_core::Result<Association>,
    instance: Described,
    profile: rolecall_core::Result<InstanceProfile>,
}

impl Unit for ReplaceIamInstanceProfileAssociation {
    const OP: Operation = Operation::ReplaceIamInstanceProfileAssociation;
    type Input = input::ReplaceIamInstanceProfileAssociationInput;
    type Resolved = ToReplace;

    async fn resolve(call: &Call<'_>, input: &Self::Input) -> Result<ToReplace, ApiError> {
        let (association, instance) = association(call, &input.association_id).await;
        Ok(ToReplace {
            association,
            instance,
            profile: profile(call, &input.iam_instance_profile).await,
        })
    }

    fn checks(call: &Call<'_>, _: &Self::Input, r: &ToReplace) -> Vec<Check> {
        association_checks(
            call,
            Self::OP,
            &r.association,
            &r.instance,
            r.profile.as_ref().ok(),
        )
    }

    async fn handle(call: &Call<'_>, _: Self::Input, r: ToReplace) -> Result<String, ApiError> {
        let assoc = call
            .api
            .ec2
            .replace_resolved(r.association, r.profile)
            .await?;
        Ok(association_response(
            call,
            &assoc,
            AssociationState::Associating,
        ))
    }
}

pub(crate) struct DisassociateIamInstanceProfile;

pub(crate) struct ToDisassociate {
    association: rolecall_core::Result<Association>,
    instance: Described,
}

impl Unit for DisassociateIamInstanceProfile {
    const OP: Operation = Operation::DisassociateIamInstanceProfile;
    type Input = input::DisassociateIamInstanceProfileInput;
    type Resolved = ToDisassociate;

    async fn resolve(call: &Call<'_>, input: &Self::Input) -> Result<ToDisassociate, ApiError> {
        let (association, instance) = association(call, &input.association_id).await;
        Ok(ToDisassociate {
            association,
            instance,
        })
    }

    fn checks(call: &Call<'_>, _: &Self::Input, r: &ToDisassociate) -> Vec<Check> {
        association_checks(call, Self::OP, &r.association, &r.instance, None)
    }

    async fn handle(
        call: &Call<'_>,
        _: Self::Input,
        r: ToDisassociate,
    ) -> Result<String, ApiError> {
        let assoc = call.api.ec2.disassociate_resolved(r.association).await?;
        Ok(association_response(
            call,
            &assoc,
            AssociationState::Disassociating,
        ))
    }
}

pub(crate) struct DescribeIamInstanceProfileAssociations;

impl Unit for DescribeIamInstanceProfileAssociations {
    const OP: Operation = Operation::DescribeIamInstanceProfileAssociations;
    type Input = input::DescribeIamInstanceProfileAssociationsInput;
    type Resolved = ();

    async fn resolve(_: &Call<'_>, _: &Self::Input) -> Result<(), ApiError> {
        Ok(())
    }

    fn checks(call: &Call<'_>, _: &Self::Input, _: &()) -> Vec<Check> {
        vec![Check {
            action: format!("ec2:{}", Self::OP.name()),
            resource: "*".into(),
            keys: vec![authz::key("ec2:Region", call.api.config.region.clone())],
        }]
    }

    async fn handle(call: &Call<'_>, input: Self::Input, _: ()) -> Result<String, ApiError> {
        let filters: Vec<Filter> = input
            .filters
            .into_iter()
            .map(|f| Filter {
                name: f.name.unwrap_or_default(),
                values: f.values,
            })
            .collect();
        let (items, next) = call
            .api
            .ec2
            .describe_iam_instance_profile_associations(
                &input.association_ids,
                &filters,
                input.max_results,
                input.next_token.as_deref(),
            )
            .await?;
        Ok(respond(call, &|x| {
            x.list(
                "iamInstanceProfileAssociationSet",
                "item",
                &items,
                |x, assoc| association_xml(x, assoc, assoc.state),
            );
            x.leaf_opt(
                "nextToken",
                next.as_deref().map(rolecall_core::paging::encode_token),
            );
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::AssociateIamInstanceProfile as U;
    use crate::generated::Operation;
    use crate::units::testing::{ACCOUNT, answered, api, checks_of, create_role, launch, refused};

    #[tokio::test]
    async fn associate_passes_the_role_of_the_profile_it_resolved() {
        let api = api().await;
        create_role(&api, "r", Some("/app/")).await;
        api.iam
            .create_instance_profile("p", None, vec![])
            .await
            .expect("profile");
        api.iam
            .add_role_to_instance_profile("p", "r")
            .await
            .expect("added");
        let id = launch(&api).await;

        let checks = checks_of::<U>(
            &api,
            &[
                ("InstanceId", id.as_str()),
                ("IamInstanceProfile.Name", "p"),
            ],
        )
        .await;
        let instance_arn = format!("arn:aws:ec2:us-east-1:{ACCOUNT}:instance/{id}");
        assert_eq!(checks[0].action, "ec2:AssociateIamInstanceProfile");
        assert_eq!(checks[0].resource, instance_arn);
        let profile_arn = format!("arn:aws:iam::{ACCOUNT}:instance-profile/p");
        assert!(checks[0].keys.contains(&(
            "ec2:NewInstanceProfile".to_string(),
            vec![profile_arn.clone()]
        )));
        assert_eq!(checks[1].action, "iam:PassRole");
        assert_eq!(
            checks[1].resource,
            format!("arn:aws:iam::{ACCOUNT}:role/app/r")
        );
        assert!(
            checks[1]
                .keys
                .contains(&("iam:AssociatedResourceArn".to_string(), vec![instance_arn]))
        );

        let body = answered(
            &api,
            Operation::AssociateIamInstanceProfile,
            &[
                ("InstanceId", id.as_str()),
                ("IamInstanceProfile.Name", "p"),
            ],
        )
        .await;
        assert!(
            body.contains(&format!("<arn>{profile_arn}</arn>")),
            "{body}"
        );
        let unknown = refused(
            &api,
            Operation::AssociateIamInstanceProfile,
            &[
                ("InstanceId", id.as_str()),
                ("IamInstanceProfile.Name", "nope"),
            ],
        )
        .await;
        assert_eq!(unknown.code, "InvalidParameterValue");
    }
}
