//! Listings of the other credentials IAM users can have: SSH public keys, service-specific
//! credentials, signing certificates and MFA devices. rolecall keeps none of them, so each lists
//! nothing for a user that exists (and NoSuchEntity for one that does not); without `UserName`
//! the caller's own (the root's included).

use crate::context::Call;
use crate::error::ApiError;
use crate::iam_xml::respond;
use crate::principal::PrincipalKind;
use crate::units::iam_common::{on_entity, user_or_caller};
use rolecall_wire::Xml;

/// Checks that the listed user exists (the root, listing its own, always does).
async fn listed_user_exists(call: &Call<'_>, name: &Option<String>) -> Result<(), ApiError> {
    if name.is_none() && call.principal.kind == PrincipalKind::Root {
        return Ok(());
    }
    call.api.iam.get_user(user_or_caller(call, name)?).await?;
    Ok(())
}

/// An empty, complete listing named `list`.
fn empty(call: &Call<'_>, list: &str) -> String {
    respond(call, |x: &mut Xml| {
        x.list(list, "member", Vec::<()>::new(), |_, _| {});
        x.leaf("IsTruncated", "false");
    })
}

/// A listing unit of `$list` (always empty) for the named or calling user.
macro_rules! empty_listing {
    ($unit:ident, $list:literal) => {
        on_entity!($unit, UserOrCaller(user_name), |call, input| {
            listed_user_exists(call, &input.user_name).await?;
            Ok(empty(call, $list))
        });
    };
}

empty_listing!(ListSSHPublicKeys, "SSHPublicKeys");
empty_listing!(ListServiceSpecificCredentials, "ServiceSpecificCredentials");
empty_listing!(ListSigningCertificates, "Certificates");
empty_listing!(ListMFADevices, "MFADevices");
