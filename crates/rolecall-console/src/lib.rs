//! The web console, served by the API listener under `/console/`: server-rendered HTML (maud)
//! with a little progressive JavaScript (htmx, vendored in `assets/`), everything embedded in
//! the binary. Every action runs as the signed-in principal through the API's own operation
//! path ([`rolecall_api::invoke`]): parse, resolve, authorize, handle, exactly as a signed HTTP
//! request; a refusal is shown as AWS words it.
//!
//! Modules: `ctx` (the per-request context: language, session, calling the API), `guard` (CSRF
//! check of every POST, security headers), `layout` (page shell and shared fragments),
//! `session` (the sealed cookie), `i18n` (English and Korean), `throttle` (password sign-in
//! attempts per source and per user name), `pages/*` (one file per area).

mod ctx;
mod guard;
mod i18n;
mod layout;
mod pages;
mod session;
mod throttle;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use pages::owner::{self, Owner};
use rolecall_api::Api;
use rolecall_imds::Directory;
use std::sync::Arc;
pub use throttle::SignInLimits;
use throttle::SignInThrottle;

/// What the console's handlers share.
pub struct Console {
    pub api: Arc<Api>,
    /// This process's IMDS directory, when it serves IMDS: the instance page reads the current
    /// credential's times from its cache (never a secret, never a database read).
    pub imds: Option<Arc<Directory>>,
    signin_throttle: SignInThrottle,
}

pub(crate) type Shared = Arc<Console>;

/// The console's routes (all under `/console`), to be merged into the API router; `imds` is the
/// directory of the IMDS this process serves, if any; `signin` throttles password sign-in.
pub fn routes(api: Arc<Api>, imds: Option<Arc<Directory>>, signin: SignInLimits) -> Router {
    let state: Shared = Arc::new(Console {
        api,
        imds,
        signin_throttle: SignInThrottle::new(signin),
    });
    Router::new()
        .route("/console", get(pages::home))
        .route("/console/", get(pages::home))
        .route("/console/assets/htmx.min.js", get(htmx))
        .route("/console/assets/console.css", get(css))
        .route(
            "/console/signin",
            get(pages::signin::form).post(pages::signin::submit),
        )
        .route("/console/signout", post(pages::signin::signout))
        .route("/console/roles", get(pages::roles::list))
        .route(
            "/console/roles/new",
            get(pages::roles::new_form).post(pages::roles::create),
        )
        .route("/console/roles/{name}", get(pages::roles::detail))
        .route("/console/roles/{name}/policies", owner::route(Owner::Role))
        .route(
            "/console/roles/{name}/trust",
            get(pages::trust::form).post(pages::trust::update),
        )
        .route(
            "/console/roles/{name}/revoke-sessions",
            post(pages::roles::revoke_sessions),
        )
        .route("/console/instances", get(pages::instances::list))
        .route(
            "/console/instances/launch",
            get(pages::instances::launch_form).post(pages::instances::launch),
        )
        .route("/console/instances/{id}", get(pages::instances::detail))
        .route(
            "/console/instances/{id}/tags",
            post(pages::instance_tags::change),
        )
        .route(
            "/console/instances/{id}/modify-role",
            get(pages::instances::modify_role_form).post(pages::instances::modify_role),
        )
        .route(
            "/console/instances/{id}/metadata",
            get(pages::instances::metadata_form).post(pages::instances::modify_metadata),
        )
        .route(
            "/console/instance-profiles",
            get(pages::profiles::list).post(pages::profiles::create),
        )
        .route(
            "/console/instance-profiles/{name}/{change}",
            post(pages::profiles::change_role),
        )
        .route(
            "/console/users",
            get(pages::users::list).post(pages::users::create),
        )
        .route("/console/users/{name}", get(pages::users::detail))
        .route("/console/users/{name}/policies", owner::route(Owner::User))
        .route("/console/users/{name}/groups", post(pages::users::groups))
        .route("/console/users/{name}/tags", post(pages::users::tag))
        .route(
            "/console/groups",
            get(pages::groups::list).post(pages::groups::create),
        )
        .route("/console/groups/{name}", get(pages::groups::detail))
        .route(
            "/console/groups/{name}/policies",
            owner::route(Owner::Group),
        )
        .route(
            "/console/groups/{name}/members",
            post(pages::groups::members),
        )
        .route("/console/groups/{name}/delete", post(pages::groups::delete))
        .route(
            "/console/users/{name}/access-keys",
            post(pages::users::create_key),
        )
        .route(
            "/console/users/{name}/access-keys/{key}",
            post(pages::users::key_action),
        )
        .route("/console/policies", get(pages::policies::list))
        .route(
            "/console/policies/new",
            get(pages::policies::new_form).post(pages::policies::create),
        )
        .route("/console/policies/view", get(pages::policies::view))
        .route(
            "/console/policies/version",
            post(pages::policies::new_version),
        )
        .route(
            "/console/policies/default",
            post(pages::policies::set_default),
        )
        .route(
            "/console/simulator",
            get(pages::simulator::form).post(pages::simulator::run),
        )
        .route("/console/policy/validate", post(pages::policy::validate))
        .route("/console/{*rest}", get(pages::not_found))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard::guard,
        ))
        .with_state(state)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut r = (StatusCode::OK, body).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    r
}

async fn htmx() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("../assets/htmx.min.js"),
    )
}

async fn css() -> Response {
    asset(
        "text/css; charset=utf-8",
        include_str!("../assets/console.css"),
    )
}
