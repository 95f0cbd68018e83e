//! Console passwords (login profiles) and the account's password policy. A login profile is
//! authorized on its user (an omitted `UserName` is the calling user); the password policy on
//! `*`. Passwords are only ever hashed (`rolecall_core::login_profiles`) and never answered.

use crate::error::{ApiError, Protocol};
use crate::generated::{iam_outputs, outputs};
use crate::units::iam_common::{on_entity, on_resource, user_or_caller};
use rolecall_core::login_profiles::{LoginProfile, PasswordPolicy};

/// A user's login profile as CreateLoginProfile and GetLoginProfile answer it.
fn login_profile(p: LoginProfile) -> outputs::GetLoginProfile {
    outputs::GetLoginProfile {
        login_profile: iam_outputs::LoginProfile {
            user_name: p.user_name,
            create_date: p.create_date,
            password_reset_required: Some(p.password_reset_required),
        },
    }
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
        Ok(login_profile(profile))
    }
);

on_entity!(GetLoginProfile, UserOrCaller(user_name), |call, input| {
    let user = user_or_caller(call, &input.user_name)?;
    let profile = call.api.iam.get_login_profile(user).await?;
    Ok(login_profile(profile))
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
        Ok(outputs::DeleteLoginProfile::default())
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
        let expire_passwords = Some(p.expire_passwords());
        let password_policy = iam_outputs::PasswordPolicy {
            minimum_password_length: Some(p.minimum_password_length),
            require_symbols: Some(p.require_symbols),
            require_numbers: Some(p.require_numbers),
            require_uppercase_characters: Some(p.require_uppercase_characters),
            require_lowercase_characters: Some(p.require_lowercase_characters),
            allow_users_to_change_password: Some(p.allow_users_to_change_password),
            expire_passwords,
            max_password_age: p.max_password_age,
            password_reuse_prevention: p.password_reuse_prevention,
            hard_expiry: p.hard_expiry,
        };
        Ok(outputs::GetAccountPasswordPolicy { password_policy })
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
