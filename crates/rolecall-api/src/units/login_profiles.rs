//! Console passwords (login profiles) and the account's password policy. A login profile is
//! authorized on its user (an omitted `UserName` is the calling user); the password policy on
//! `*`. Passwords are only ever hashed (`rolecall_core::login_profiles`) and never answered.

use crate::error::{ApiError, Protocol};
use crate::iam_xml::{respond, respond_empty};
use crate::units::iam_common::{on_entity, on_resource, user_or_caller};
use rolecall_core::login_profiles::{LoginProfile, PasswordPolicy};
use rolecall_wire::{Xml, iso8601};

fn profile_xml(x: &mut Xml, p: &LoginProfile) {
    x.elem("LoginProfile", |x| {
        x.leaf("UserName", &p.user_name);
        x.leaf("CreateDate", iso8601(p.create_date));
        x.leaf(
            "PasswordResetRequired",
            bool_text(p.password_reset_required),
        );
    });
}

fn bool_text(b: bool) -> &'static str {
    if b { "true" } else { "false" }
}

on_entity!(
    CreateLoginProfile,
    UserOrCaller(user_name),
    |call, input| {
        let user = user_or_caller(call, &input.user_name)?;
        let password = input
            .password
            .as_deref()
            .ok_or_else(|| ApiError::missing_parameter(Protocol::Iam, "Password"))?;
        let reset = input.password_reset_required.unwrap_or(false);
        let profile = call
            .api
            .iam
            .create_login_profile(user, password, reset)
            .await?;
        Ok(respond(call, |x| profile_xml(x, &profile)))
    }
);

on_entity!(GetLoginProfile, UserOrCaller(user_name), |call, input| {
    let user = user_or_caller(call, &input.user_name)?;
    let profile = call.api.iam.get_login_profile(user).await?;
    Ok(respond(call, |x| profile_xml(x, &profile)))
});

on_entity!(
    UpdateLoginProfile,
    User(user_name),
    empty(|iam, input| {
        let (password, reset) = (input.password.as_deref(), input.password_reset_required);
        iam.update_login_profile(&input.user_name, password, reset)
    })
);

on_entity!(
    DeleteLoginProfile,
    UserOrCaller(user_name),
    |call, input| {
        let user = user_or_caller(call, &input.user_name)?;
        call.api.iam.delete_login_profile(user).await?;
        Ok(respond_empty(call))
    }
);

/// The password policy UpdateAccountPasswordPolicy sets: what it omits is the default.
fn password_policy(
    input: &crate::generated::inputs::UpdateAccountPasswordPolicy,
) -> PasswordPolicy {
    let d = PasswordPolicy::default();
    PasswordPolicy {
        minimum_password_length: input
            .minimum_password_length
            .unwrap_or(d.minimum_password_length),
        require_symbols: input.require_symbols.unwrap_or(false),
        require_numbers: input.require_numbers.unwrap_or(false),
        require_uppercase_characters: input.require_uppercase_characters.unwrap_or(false),
        require_lowercase_characters: input.require_lowercase_characters.unwrap_or(false),
        allow_users_to_change_password: input.allow_users_to_change_password.unwrap_or(false),
        // 0 means "never" for both, as when omitted.
        max_password_age: input.max_password_age.filter(|d| *d > 0),
        password_reuse_prevention: input.password_reuse_prevention.filter(|n| *n > 0),
        hard_expiry: input.hard_expiry,
    }
}

on_resource!(
    UpdateAccountPasswordPolicy,
    |_, _| "*".into(),
    empty(|iam, input| iam.update_password_policy(password_policy(&input)))
);

on_resource!(
    GetAccountPasswordPolicy,
    |_, _| "*".into(),
    |call, _input| {
        let p = call.api.iam.get_password_policy().await?;
        Ok(respond(call, |x| {
            x.elem("PasswordPolicy", |x| {
                x.leaf(
                    "MinimumPasswordLength",
                    p.minimum_password_length.to_string(),
                );
                x.leaf("RequireSymbols", bool_text(p.require_symbols));
                x.leaf("RequireNumbers", bool_text(p.require_numbers));
                x.leaf(
                    "RequireUppercaseCharacters",
                    bool_text(p.require_uppercase_characters),
                );
                x.leaf(
                    "RequireLowercaseCharacters",
                    bool_text(p.require_lowercase_characters),
                );
                x.leaf(
                    "AllowUsersToChangePassword",
                    bool_text(p.allow_users_to_change_password),
                );
                x.leaf("ExpirePasswords", bool_text(p.expire_passwords()));
                if let Some(days) = p.max_password_age {
                    x.leaf("MaxPasswordAge", days.to_string());
                }
                if let Some(n) = p.password_reuse_prevention {
                    x.leaf("PasswordReusePrevention", n.to_string());
                }
                if let Some(h) = p.hard_expiry {
                    x.leaf("HardExpiry", bool_text(h));
                }
            });
        }))
    }
);

on_resource!(
    DeleteAccountPasswordPolicy,
    |_, _| "*".into(),
    empty(|iam, _input| iam.delete_password_policy())
);

#[cfg(test)]
mod tests {
    use crate::generated::Operation;
    use crate::units::testing::{answered, api};

    async fn verifies(api: &crate::context::Api, user: &str, password: &str) -> bool {
        api.iam
            .verify_password(user, password)
            .await
            .expect("verified")
    }

    #[tokio::test]
    async fn the_password_verifies_and_is_never_answered() {
        let api = api().await;
        api.iam
            .create_user("alice", None, None, vec![])
            .await
            .expect("user");
        let params = [("UserName", "alice"), ("Password", "Sekr1t-Pass!")];
        let body = answered(&api, Operation::CreateLoginProfile, &params).await;
        assert!(body.contains("<UserName>alice</UserName>"), "{body}");
        assert!(!body.contains("Sekr1t-Pass!"), "{body}");
        assert!(verifies(&api, "alice", "Sekr1t-Pass!").await);
        assert!(!verifies(&api, "alice", "sekr1t-pass!").await);
        assert!(!verifies(&api, "bob", "Sekr1t-Pass!").await);

        let new = [("UserName", "alice"), ("Password", "Other-Pass-2")];
        answered(&api, Operation::UpdateLoginProfile, &new).await;
        assert!(!verifies(&api, "alice", "Sekr1t-Pass!").await);
        assert!(verifies(&api, "alice", "Other-Pass-2").await);

        answered(
            &api,
            Operation::DeleteLoginProfile,
            &[("UserName", "alice")],
        )
        .await;
        assert!(!verifies(&api, "alice", "Other-Pass-2").await);
        // A password that must be reset still checks, and says so; sign-in shows the message.
        let reset = [
            ("UserName", "alice"),
            ("Password", "Reset-Me-3"),
            ("PasswordResetRequired", "true"),
        ];
        answered(&api, Operation::CreateLoginProfile, &reset).await;
        let checked = api
            .iam
            .check_console_password("alice", "Reset-Me-3")
            .await
            .expect("checked");
        assert!(matches!(
            checked,
            rolecall_core::login_profiles::PasswordCheck::Accepted {
                reset_required: true,
                ..
            }
        ));
        assert!(Operation::GetLoginProfile.is_read_only());
        assert!(!Operation::UpdateAccountPasswordPolicy.is_read_only());
    }
}
