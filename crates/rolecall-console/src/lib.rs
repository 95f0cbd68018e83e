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
use axum::routing::{MethodRouter, get, post};
use pages::owner::{self, Owner};
use pages::{groups, instance_tags, instances, policies, policy, profiles, roles, signin};
use pages::{simulator, trust, users};
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
    // A table: one route a line, below /console.
    #[rustfmt::skip]
    let routes: [(&str, MethodRouter<Shared>); 40] = [
        ("", get(pages::home)),
        ("/", get(pages::home)),
        ("/assets/htmx.min.js", get(htmx)),
        ("/assets/console.css", get(css)),
        ("/signin", get(signin::form).post(signin::submit)),
        ("/signout", post(signin::signout)),
        ("/roles", get(roles::list)),
        ("/roles/new", get(roles::new_form).post(roles::create)),
        ("/roles/{name}", get(roles::detail)),
        ("/roles/{name}/policies", owner::route(Owner::Role)),
        ("/roles/{name}/trust", get(trust::form).post(trust::update)),
        ("/roles/{name}/revoke-sessions", post(roles::revoke_sessions)),
        ("/instances", get(instances::list)),
        ("/instances/launch", get(instances::launch_form).post(instances::launch)),
        ("/instances/{id}", get(instances::detail)),
        ("/instances/{id}/tags", post(instance_tags::change)),
        ("/instances/{id}/modify-role", get(instances::modify_role_form).post(instances::modify_role)),
        ("/instances/{id}/metadata", get(instances::metadata_form).post(instances::modify_metadata)),
        ("/instance-profiles", get(profiles::list).post(profiles::create)),
        ("/instance-profiles/{name}/{change}", post(profiles::change_role)),
        ("/users", get(users::list).post(users::create)),
        ("/users/{name}", get(users::detail)),
        ("/users/{name}/policies", owner::route(Owner::User)),
        ("/users/{name}/groups", post(users::groups)),
        ("/users/{name}/tags", post(users::tag)),
        ("/groups", get(groups::list).post(groups::create)),
        ("/groups/{name}", get(groups::detail)),
        ("/groups/{name}/policies", owner::route(Owner::Group)),
        ("/groups/{name}/members", post(groups::members)),
        ("/groups/{name}/delete", post(groups::delete)),
        ("/users/{name}/access-keys", post(users::create_key)),
        ("/users/{name}/access-keys/{key}", post(users::key_action)),
        ("/policies", get(policies::list)),
        ("/policies/new", get(policies::new_form).post(policies::create)),
        ("/policies/view", get(policies::view)),
        ("/policies/version", post(policies::new_version)),
        ("/policies/default", post(policies::set_default)),
        ("/simulator", get(simulator::form).post(simulator::run)),
        ("/policy/validate", post(policy::validate)),
        ("/{*rest}", get(pages::not_found)),
    ];
    let router = routes
        .into_iter()
        .fold(Router::new(), |r, (path, handlers)| {
            r.route(&format!("/console{path}"), handlers)
        });
    router
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
