//! Service-linked roles (`rolecall_core::service_linked`): created for a service under
//! `/aws-service-role/<service>/`, deleted with a deletion task id. Authorized on the role's
//! ARN; creation also with `iam:AWSServiceName`.

use crate::authz::{self, key};
use crate::generated::outputs;
use crate::iam_xml::role;
use crate::units::iam_common::{on_entity, on_resource};
use rolecall_core::service_linked::{ServiceLinkedRole, path_of, task_role};

on_resource!(
    CreateServiceLinkedRole,
    |call, input| {
        let service = &input.aws_service_name;
        let name = linked_role(input).map(|r| r.name).unwrap_or_default();
        authz::with_path(call.api, "role", Some(&path_of(service)), &name)
    },
    keys(|input| vec![key("iam:AWSServiceName", &input.aws_service_name)]),
    output(
        |created| outputs::CreateServiceLinkedRole {
            role: Some(role(&created, true))
        },
        |iam, input| async {
            let linked = linked_role(&input)?;
            iam.create_service_linked_role(&linked, input.description.as_deref())
                .await
        }
    )
);

/// The role a CreateServiceLinkedRole request asks for (what is checked is what is created).
fn linked_role(
    input: &crate::generated::inputs::CreateServiceLinkedRole,
) -> rolecall_core::Result<ServiceLinkedRole> {
    ServiceLinkedRole::new(&input.aws_service_name, input.custom_suffix.as_deref())
}

on_entity!(
    DeleteServiceLinkedRole,
    Role(role_name),
    output(
        |task| outputs::DeleteServiceLinkedRole {
            deletion_task_id: task
        },
        |iam, input| iam.delete_service_linked_role(&input.role_name)
    )
);

on_resource!(
    GetServiceLinkedRoleDeletionStatus,
    |call, input| match task_role(&input.deletion_task_id) {
        Some((service, role)) => authz::with_path(call.api, "role", Some(&path_of(service)), role),
        None => "*".into(),
    },
    output(
        |status| outputs::GetServiceLinkedRoleDeletionStatus {
            status: status.into(),
            reason: None
        },
        |iam, input| iam.service_linked_role_deletion_status(&input.deletion_task_id)
    )
);
