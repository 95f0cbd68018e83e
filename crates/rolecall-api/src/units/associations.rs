//! The instance-profile association family (EC2): associate, replace, disassociate, describe.
//!
//! Associate and Replace hand the profile's role to EC2 for the instance, so they need
//! `iam:PassRole` on that role with `iam:AssociatedResourceArn` = the instance. The association,
//! the instance and the profile are each read once: the checks are computed from them, and the
//! handler acts on exactly them (core's `*_resolved`), so nothing can change between check and
//! use.

use crate::authz::{self, Check};
use crate::context::Call;
use crate::ec2_xml::association;
use crate::generated::ec2::IamInstanceProfileSpecification;
use crate::generated::{Operation, outputs};
use crate::units::ec2_common::{Describe, describe_checks, next_token};
use rolecall_core::model::{Association, AssociationState, Instance, InstanceProfile};

/// Associate, Replace and Disassociate answer the association (as it is reported now).
fn association_response(
    assoc: &Association,
    reported: AssociationState,
) -> outputs::AssociateIamInstanceProfile {
    outputs::AssociateIamInstanceProfile {
        iam_instance_profile_association: Some(association(assoc, reported)),
    }
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

pub(crate) struct ToAssociate {
    instance: rolecall_core::Result<Instance>,
    active: Option<Association>,
    profile: rolecall_core::Result<InstanceProfile>,
}

unit!(
    AssociateIamInstanceProfile,
    resolve |call, input| -> ToAssociate {
        let ec2 = &call.api.ec2;
        let instance = ec2.existing_instance(&input.instance_id).await;
        let active = match &instance {
            Ok(i) => ec2.active_association(&i.id).await.ok().flatten(),
            Err(_) => None,
        };
        ToAssociate {
            instance,
            active,
            profile: profile(call, &input.iam_instance_profile).await,
        }
    },
    checks |call, input, r| {
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
    },
    handle |call, _, r| {
        let assoc = call.api.ec2.associate_resolved(r.instance, r.profile);
        let reported = AssociationState::Associating;
        Ok(association_response(&assoc.await?, reported))
    }
);

/// An association as found (or why not), and its instance as authorization describes it.
pub(crate) struct FoundAssociation {
    association: rolecall_core::Result<Association>,
    instance: Described,
}

impl FoundAssociation {
    async fn of(call: &Call<'_>, id: &str) -> FoundAssociation {
        let association = call.api.ec2.existing_association(id).await;
        let instance = match &association {
            Ok(a) => authz::find_instance(call.api, &a.instance_id).await,
            Err(_) => None,
        };
        FoundAssociation {
            association,
            instance,
        }
    }

    /// The check on the association's instance (`instance/*` when the association is unknown).
    fn checks(
        &self,
        call: &Call<'_>,
        op: Operation,
        new_profile: Option<&InstanceProfile>,
    ) -> Vec<Check> {
        let instance_id = self
            .association
            .as_ref()
            .ok()
            .map(|a| a.instance_id.as_str());
        authz::instance_checks(
            call.api,
            op,
            instance_id,
            self.instance.as_ref(),
            new_profile,
        )
    }
}

unit!(
    ReplaceIamInstanceProfileAssociation,
    resolve |call, input| -> (FoundAssociation, rolecall_core::Result<InstanceProfile>) {
        let found = FoundAssociation::of(call, &input.association_id).await;
        (found, profile(call, &input.iam_instance_profile).await)
    },
    checks |call, _, (found, profile)| { found.checks(call, Self::OP, profile.as_ref().ok()) },
    handle |call, _, (found, profile)| {
        let assoc = call.api.ec2.replace_resolved(found.association, profile);
        let reported = AssociationState::Associating;
        Ok(association_response(&assoc.await?, reported))
    }
);

unit!(
    DisassociateIamInstanceProfile,
    resolve |call, input| -> FoundAssociation {
        FoundAssociation::of(call, &input.association_id).await
    },
    checks |call, _, found| { found.checks(call, Self::OP, None) },
    handle |call, _, found| {
        let assoc = call.api.ec2.disassociate_resolved(found.association);
        let reported = AssociationState::Disassociating;
        Ok(association_response(&assoc.await?, reported))
    }
);

// On `*` as EC2's Describe* actions are; this one has no DryRun.
unit!(
    DescribeIamInstanceProfileAssociations,
    resolve |_, _| -> () {},
    checks |call, _, _| { describe_checks(call, Self::OP) },
    handle |call, input, _| {
        let mut input = input;
        let asked = input.request();
        let ec2 = &call.api.ec2;
        let (items, next) = ec2.describe_iam_instance_profile_associations(&asked).await?;
        let out = outputs::DescribeIamInstanceProfileAssociations {
            iam_instance_profile_associations: Some(
                items.iter().map(|a| association(a, a.state)).collect(),
            ),
            next_token: next_token(next),
        };
        Ok(out)
    }
);

#[cfg(test)]
mod tests {
    use super::AssociateIamInstanceProfile as U;
    use crate::generated::Operation;
    use crate::units::testing::{
        ACCOUNT, answered, api, checks_of, launch, profile_with_role, refused,
    };

    #[tokio::test]
    async fn associate_passes_the_role_of_the_profile_it_resolved() {
        let api = api().await;
        profile_with_role(&api, "p", "r", Some("/app/")).await;
        let id = launch(&api).await;
        let associate = |profile| {
            [
                ("InstanceId", id.as_str()),
                ("IamInstanceProfile.Name", profile),
            ]
        };

        let checks = checks_of::<U>(&api, &associate("p")).await;
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
            &associate("p"),
        )
        .await;
        assert!(
            body.contains(&format!("<arn>{profile_arn}</arn>")),
            "{body}"
        );
        let unknown = refused(
            &api,
            Operation::AssociateIamInstanceProfile,
            &associate("nope"),
        )
        .await;
        assert_eq!(unknown.code, "InvalidParameterValue");
    }
}
