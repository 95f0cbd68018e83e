//! The policies of users and groups: inline (`Put/Get/List/Delete{User,Group}Policy`) and
//! attached managed policies (`Attach/Detach/ListAttached{User,Group}Policies`), on core's
//! owner-keyed model (the same units as roles', `iam_common::owner_policies`).

mod user {
    use crate::units::iam_common::owner_policies;

    owner_policies!(User(user_name), units [
        PutUserPolicy,
        GetUserPolicy,
        ListUserPolicies,
        DeleteUserPolicy,
        AttachUserPolicy,
        DetachUserPolicy,
        ListAttachedUserPolicies,
    ]);
}

mod group {
    use crate::units::iam_common::owner_policies;

    owner_policies!(Group(group_name), units [
        PutGroupPolicy,
        GetGroupPolicy,
        ListGroupPolicies,
        DeleteGroupPolicy,
        AttachGroupPolicy,
        DetachGroupPolicy,
        ListAttachedGroupPolicies,
    ]);
}

pub(crate) use group::*;
pub(crate) use user::*;
