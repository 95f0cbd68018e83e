//! One console request as the pages see it: its language, the signed-in principal (if any),
//! where it came from, and the way to run an API operation as that principal.

use crate::Shared;
use crate::i18n::Lang;
use crate::session::{
    LANG_COOKIE, PRE_CSRF_COOKIE, SESSION_COOKIE, Session, cookie, random_token, set_cookie,
};
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use rolecall_api::error::ApiError;
use rolecall_api::{Api, Origin, Principal, Service};
use rolecall_wire::Params;
use rolecall_wire::xml_read::{self, Node};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

/// The signed-in principal and its session.
pub struct SignedIn {
    pub principal: Principal,
    pub session: Session,
}

pub struct Ctx {
    pub api: Arc<Api>,
    pub lang: Lang,
    /// The language was chosen by this request's `lang` parameter (remembered in a cookie).
    lang_chosen: bool,
    pub user: Option<SignedIn>,
    /// A session cookie was sent but is no longer valid (expired, or its key is gone).
    pub session_ended: bool,
    /// The pre-session CSRF token (the sign-in form's), and whether it is new.
    pre_csrf: String,
    pre_csrf_new: bool,
    pub secure: bool,
    origin: Origin,
    pub user_agent: String,
    pub path: String,
    query: Vec<(String, String)>,
}

impl FromRequestParts<Shared> for Ctx {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Ctx, Infallible> {
        let api = state.api.clone();
        let header_str = |name| {
            parts
                .headers
                .get(name)
                .and_then(|v: &HeaderValue| v.to_str().ok())
                .unwrap_or_default()
        };
        let cookies = header_str(header::COOKIE);
        let query: Vec<(String, String)> =
            form_urlencoded::parse(parts.uri.query().unwrap_or_default().as_bytes())
                .into_owned()
                .collect();
        let chosen = query
            .iter()
            .find(|(k, _)| k == "lang")
            .and_then(|(_, v)| Lang::from_code(v));
        let lang = chosen
            .or_else(|| cookie(cookies, LANG_COOKIE).and_then(Lang::from_code))
            .unwrap_or_else(|| Lang::from_accept_language(header_str(header::ACCEPT_LANGUAGE)));
        let now = api.clock.now().timestamp();
        let sent = cookie(cookies, SESSION_COOKIE).filter(|c| !c.is_empty());
        let mut user = None;
        if let Some(session) = sent.and_then(|c| Session::open(&api.keyring, c, now)) {
            let principal = match &session.password_user {
                Some((name, id)) => rolecall_api::password_user(&api, name, id).await,
                None => {
                    rolecall_api::principal_of(
                        &api,
                        &session.access_key_id,
                        session.session_token.as_deref(),
                    )
                    .await
                }
            };
            user = principal.map(|principal| SignedIn { principal, session });
        }
        let (pre_csrf, pre_csrf_new) = match cookie(cookies, PRE_CSRF_COOKIE) {
            Some(t) if t.len() >= 32 => (t.to_string(), false),
            _ => (random_token(), true),
        };
        Ok(Ctx {
            session_ended: sent.is_some() && user.is_none(),
            api,
            lang,
            lang_chosen: chosen.is_some(),
            user,
            pre_csrf,
            pre_csrf_new,
            secure: parts.extensions.get::<rolecall_api::OverTls>().is_some(),
            origin: Origin {
                source_ip: parts
                    .extensions
                    .get::<ConnectInfo<SocketAddr>>()
                    .map(|c| c.0.ip()),
                secure_transport: parts.extensions.get::<rolecall_api::OverTls>().is_some(),
            },
            user_agent: header_str(header::USER_AGENT).to_string(),
            path: parts.uri.path().to_string(),
            query,
        })
    }
}

impl Ctx {
    pub fn t(&self, en: &'static str) -> &'static str {
        self.lang.t(en)
    }

    /// A query parameter ("" when absent).
    pub fn query(&self, name: &str) -> &str {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    }

    /// Where this request came from (for condition keys and the audit trail).
    pub fn origin(&self) -> Origin {
        self.origin
    }

    /// The token every form of this page carries.
    pub fn csrf(&self) -> &str {
        match &self.user {
            Some(u) => &u.session.csrf,
            None => &self.pre_csrf,
        }
    }

    /// Runs `action` of `service` as the signed-in principal through the API's operation path.
    pub async fn call(
        &self,
        service: Service,
        action: &str,
        params: &[(&str, &str)],
    ) -> Result<Node, ApiError> {
        let Some(user) = &self.user else {
            return Err(ApiError::new(
                403,
                "AccessDenied",
                "You are not signed in to the console.",
            ));
        };
        let pairs = std::iter::once(("Action", action))
            .chain(params.iter().copied())
            .map(|(k, v)| (k.to_string(), v.to_string()));
        let params = Params::from_pairs(pairs);
        let xml =
            rolecall_api::invoke(&self.api, &user.principal, service, &params, self.origin).await?;
        xml_read::parse(&xml).map_err(|e| {
            tracing::warn!(error = %e, action, "console: unreadable API response");
            ApiError::internal()
        })
    }

    pub async fn iam(&self, action: &str, params: &[(&str, &str)]) -> Result<Node, ApiError> {
        self.call(Service::Iam, action, params).await
    }

    /// One page (20) of an IAM list, from the `marker` query parameter.
    pub async fn iam_page(&self, action: &str) -> Result<Node, ApiError> {
        let marker = self.query("marker");
        let mut params = vec![("MaxItems", "20")];
        if !marker.is_empty() {
            params.push(("Marker", marker));
        }
        self.iam(action, &params).await
    }

    pub async fn ec2(&self, action: &str, params: &[(&str, &str)]) -> Result<Node, ApiError> {
        self.call(Service::Ec2, action, params).await
    }

    /// Adds the cookies this request decided on (language chosen, pre-session CSRF token).
    pub fn finish(&self, mut resp: Response) -> Response {
        let mut cookies = Vec::new();
        if self.lang_chosen {
            let mut c = set_cookie(LANG_COOKIE, self.lang.code(), 365 * 24 * 3600, self.secure);
            // Not a secret: scripts may read the language.
            c = c.replace("; HttpOnly", "");
            cookies.push(c);
        }
        if self.user.is_none() && self.pre_csrf_new {
            cookies.push(set_cookie(
                PRE_CSRF_COOKIE,
                &self.pre_csrf,
                3600,
                self.secure,
            ));
        }
        if self.session_ended {
            cookies.push(set_cookie(SESSION_COOKIE, "", 0, self.secure));
        }
        for c in cookies {
            if let Ok(v) = HeaderValue::from_str(&c) {
                resp.headers_mut().append(header::SET_COOKIE, v);
            }
        }
        resp
    }
}
