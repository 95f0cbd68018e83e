//! Listings of the other credentials IAM users can have: SSH public keys, service-specific
//! credentials, signing certificates and MFA devices. rolecall keeps none of them, so each lists
//! nothing for a user that exists (and NoSuchEntity for one that does not); without `UserName`
//! the caller's own (the root's included).

use crate::context::Call;
use crate::error::ApiError;
use crate::principal::PrincipalKind;
use crate::units::iam_common::{on_entity, user_or_caller};

/// Checks that the listed user exists (the root, listing its own, always does).
async fn listed_user_exists(call: &Call<'_>, name: &Option<String>) -> Result<(), ApiError> {
    if name.is_none() && call.principal.kind == PrincipalKind::Root {
        return Ok(());
    }
    call.api.iam.get_user(user_or_caller(call, name)?).await?;
    Ok(())
}

/// A listing unit of `$list` for the named or calling user: an empty, complete list.
macro_rules! empty_listing {
    ($unit:ident, $list:ident) => {
        on_entity!($unit, UserOrCaller(user_name), |call, input| {
            listed_user_exists(call, &input.user_name).await?;
            let out = crate::generated::outputs::$unit {
                $list: Vec::new().into(),
                is_truncated: Some(false),
                ..Default::default()
            };
            Ok(out)
        });
    };
}

empty_listing!(ListSSHPublicKeys, ssh_public_keys);
empty_listing!(ListServiceSpecificCredentials, service_specific_credentials);
empty_listing!(ListSigningCertificates, certificates);
empty_listing!(ListMFADevices, mfa_devices);
