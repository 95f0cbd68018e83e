//! The role-policy family: inline policies of roles, and managed policies attached to roles
//! (the same units as users' and groups', `iam_common::owner_policies`).

use crate::units::iam_common::owner_policies;

owner_policies!(Role(role_name), units [
    PutRolePolicy,
    GetRolePolicy,
    ListRolePolicies,
    DeleteRolePolicy,
    AttachRolePolicy,
    DetachRolePolicy,
    ListAttachedRolePolicies,
]);
