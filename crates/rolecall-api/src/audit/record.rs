//! CloudTrail records (event version 1.08) of API requests and IMDS credential issuances.
//!
//! Secrets never enter a record: request parameters named like a secret (passwords, secret
//! access keys, session tokens, SAML/web identity assertions, MFA codes) and SigV4's own query
//! parameters are left out; response elements drop `SecretAccessKey` and `SessionToken`
//! (CreateAccessKey's secret, AssumeRole's and GetSessionToken's credentials keep only
//! `accessKeyId` and `expiration`). Policy documents are recorded as the (decoded) strings
//! the caller sent, as CloudTrail records them.

use crate::principal::{Principal, PrincipalKind};
use chrono::{DateTime, SecondsFormat, Utc};
use rolecall_core::audit::{AuditEvent, AuditResource};
use rolecall_wire::Params;
use serde::Serialize;
use serde_json::{Map, Value, json};
use serde_with::skip_serializing_none;
use smallvec::SmallVec;
use std::borrow::Cow;
use std::sync::Arc;

const EVENT_VERSION: &str = "1.08";

/// What is known of a request before it runs.
pub struct RequestInfo<'a> {
    pub request_id: &'a str,
    pub time: DateTime<Utc>,
    pub source_ip: &'a str,
    pub user_agent: &'a str,
    pub region: &'a str,
    /// `iam`, `sts`, `ec2`, `cloudtrail` (the SigV4 scope).
    pub service: &'static str,
    /// The operation's name (borrowed when the server knows it).
    pub action: Cow<'static, str>,
    pub read_only: bool,
    /// The account the request was for (`recipientAccountId`).
    pub account_id: &'a str,
}

/// CloudTrail's `eventTime` (whole seconds, `Z`).
fn event_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Who made a request and from where, and what its events share: the record's context
/// ([`AuditEvent::context`]), made once when the caller is first seen. A client's requests
/// have one caller ([`super::callers::Callers`] keeps the recent ones), so a request's draft
/// holds an `Arc` of it instead of copies of its strings.
#[derive(Clone)]
pub struct Caller {
    /// None when authentication failed.
    principal: Option<Principal>,
    source_ip: String,
    user_agent: String,
    region: String,
    account_id: String,
    context: Arc<str>,
    /// The event's `Username` and `AccessKeyId` columns, made once (None: the event has none;
    /// an empty access key is none).
    username: Option<Arc<str>>,
    access_key: Option<Arc<str>>,
}

/// The record's context: the fields a caller's requests share.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Context<'a> {
    user_identity: &'a Identity<'a>,
    aws_region: &'a str,
    #[serde(rename = "sourceIPAddress")]
    source_ip_address: &'a str,
    user_agent: &'a str,
    event_type: &'static str,
    recipient_account_id: &'a str,
}

impl Caller {
    /// The caller of a request (`principal` None: authentication failed), with its context.
    pub fn new(
        info: &RequestInfo<'_>,
        principal: Option<&Principal>,
        access_key_id: &str,
    ) -> Caller {
        let write = |identity: &Identity<'_>| {
            serde_json::to_string(&Context {
                user_identity: identity,
                aws_region: info.region,
                source_ip_address: info.source_ip,
                user_agent: info.user_agent,
                event_type: "AwsApiCall",
                recipient_account_id: info.account_id,
            })
        };
        let text = match principal {
            Some(p) => with_identity(p, access_key_id, write),
            None => write(&Identity {
                kind: "Unknown",
                access_key_id,
                ..Identity::default()
            }),
        };
        Caller {
            principal: principal.cloned(),
            source_ip: info.source_ip.to_string(),
            user_agent: info.user_agent.to_string(),
            region: info.region.to_string(),
            account_id: info.account_id.to_string(),
            context: Arc::from(text.unwrap_or_else(|_| "{}".to_string())),
            username: principal.map(|p| Arc::from(username(p))),
            access_key: (!access_key_id.is_empty()).then(|| Arc::from(access_key_id)),
        }
    }

    /// Whether this is the caller of a request by `principal` with `access_key_id`.
    pub fn is(
        &self,
        info: &RequestInfo<'_>,
        principal: Option<&Principal>,
        access_key_id: &str,
    ) -> bool {
        self.access_key.as_deref().unwrap_or_default() == access_key_id
            && self.source_ip == info.source_ip
            && self.user_agent == info.user_agent
            && self.region == info.region
            && self.account_id == info.account_id
            && self.principal.as_ref() == principal
    }

    /// The record's context (JSON object text).
    pub fn context(&self) -> &Arc<str> {
        &self.context
    }
}

/// Text a draft keeps inside itself up to 64 bytes (a request id, a GetRole's parameters, a
/// role's ARN): most drafts then are one allocation, which the audit writer frees on its own
/// thread (each block a request thread allocates and another thread frees costs the request
/// threads' allocator later).
type Inline = SmallVec<[u8; 64]>;

/// `text` as kept in an [`Inline`].
fn inline(text: &str) -> Inline {
    SmallVec::from_slice(text.as_bytes())
}

/// An [`Inline`]'s text (always made from a `str`).
fn text_of(inline: &Inline) -> &str {
    std::str::from_utf8(inline).unwrap_or_default()
}

/// A request's event while the request runs: its parts as captured (the caller, the request
/// parameters already as JSON), made into an [`AuditEvent`] when it is recorded: by the audit
/// writer off the request path ([`Draft::into_event`], with the caller's context made once per
/// batch), or by a write's commit ([`rolecall_core::audit::Draft::seal`]).
#[derive(Clone)]
pub struct Draft {
    time: DateTime<Utc>,
    /// Made when the event is recorded ([`Draft::into_event`], or a write's seal).
    event_id: Option<String>,
    event_name: Cow<'static, str>,
    event_source: Cow<'static, str>,
    read_only: bool,
    /// The ARNs of what the operation acts on, once it knows (then the record has `resources`).
    resources: Option<Arns>,
    caller: Arc<Caller>,
    request_id: Inline,
    /// JSON object text.
    request_parameters: Option<Inline>,
    /// JSON text (`responseElements`), for the operations whose answer CloudTrail records.
    response_elements: Option<String>,
    error: Option<(String, String)>,
}

impl Draft {
    /// The event's detail (JSON object text): the record's fields of this event alone that are
    /// not columns.
    fn detail(&self) -> String {
        let parameters = self.request_parameters.as_deref().unwrap_or(b"null");
        let response = self
            .response_elements
            .as_deref()
            .unwrap_or("null")
            .as_bytes();
        let mut out: Vec<u8> = Vec::with_capacity(96 + parameters.len() + response.len());
        out.push(b'{');
        if let Some((code, message)) = &self.error {
            out.extend_from_slice(b"\"errorCode\":");
            write_json_str(&mut out, code);
            out.extend_from_slice(b",\"errorMessage\":");
            write_json_str(&mut out, message);
            out.push(b',');
        }
        out.extend_from_slice(b"\"requestParameters\":");
        out.extend_from_slice(parameters);
        out.extend_from_slice(b",\"responseElements\":");
        out.extend_from_slice(response);
        out.extend_from_slice(b",\"requestID\":");
        write_json_str(&mut out, text_of(&self.request_id));
        out.push(b'}');
        String::from_utf8(out).unwrap_or_else(|_| "{}".to_string())
    }

    /// The event (off the request path: the draft's parts become its columns, detail and
    /// resources here).
    pub fn into_event(self) -> AuditEvent {
        self.into_event_after(&mut LastResources::default())
    }

    /// [`into_event`](Self::into_event) for the next of a run of drafts: one that names the
    /// same ARNs as the draft before shares its resources.
    pub fn into_event_after(self, last: &mut LastResources) -> AuditEvent {
        let detail = self.detail();
        let caller = &self.caller;
        AuditEvent {
            event_id: self
                .event_id
                .unwrap_or_else(|| rolecall_core::audit::new_event_id(self.time)),
            event_time: self.time,
            event_name: self.event_name,
            event_source: self.event_source,
            username: caller.username.clone(),
            access_key_id: caller.access_key.clone(),
            read_only: self.read_only,
            resources: self.resources.map(|arns| last.of(arns)).unwrap_or_default(),
            context: Some(caller.context.clone()),
            detail,
        }
    }

    /// The event's key and its detail as it stands (to complete a recorded write's event,
    /// whose id its seal made).
    pub fn completion(&self) -> (DateTime<Utc>, String, String) {
        (
            self.time,
            self.event_id.clone().unwrap_or_default(),
            self.detail(),
        )
    }

    /// Records the operation's answer (`responseElements`) from its XML response.
    pub fn set_response(&mut self, xml: &str) {
        let elements = response_elements(xml);
        self.response_elements = (!elements.is_null())
            .then(|| serde_json::to_string(&elements).ok())
            .flatten();
    }
}

impl rolecall_core::audit::Draft for Draft {
    fn seal(&mut self) -> AuditEvent {
        let id = self
            .event_id
            .get_or_insert_with(|| rolecall_core::audit::new_event_id(self.time))
            .clone();
        let mut draft = self.clone();
        draft.event_id = Some(id);
        draft.into_event()
    }
    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any> {
        self
    }
}

/// `iam.amazonaws.com` for `iam`, ...
fn event_source(service: &'static str) -> Cow<'static, str> {
    match service {
        "iam" => "iam.amazonaws.com".into(),
        "sts" => "sts.amazonaws.com".into(),
        "ec2" => "ec2.amazonaws.com".into(),
        "cloudtrail" => "cloudtrail.amazonaws.com".into(),
        other => format!("{other}.amazonaws.com").into(),
    }
}

/// The draft event of a request by `caller`; `params` None when the request was rejected
/// before its parameters were read.
pub fn request_event(
    info: &RequestInfo<'_>,
    caller: Arc<Caller>,
    params: Option<&Params>,
) -> Draft {
    Draft {
        time: info.time,
        event_id: None,
        event_name: info.action.clone(),
        event_source: event_source(info.service),
        read_only: info.read_only,
        resources: None,
        caller,
        request_id: inline(info.request_id),
        request_parameters: params.and_then(request_parameters_json),
        response_elements: None,
        error: None,
    }
}

/// LookupEvents' `Username`: the user's name, the role session's name, or `root`.
fn username(p: &Principal) -> String {
    match &p.kind {
        PrincipalKind::Root => "root".into(),
        PrincipalKind::User { name, .. } => name.clone(),
        PrincipalKind::AssumedRole { session_name, .. } => session_name.clone(),
        PrincipalKind::FederatedUser { session, .. } => session.session_name.clone(),
    }
}

fn creation_date(secs: i64) -> Option<String> {
    DateTime::<Utc>::from_timestamp(secs, 0).map(event_time)
}

/// `userIdentity` (fields that are None are left out, as CloudTrail does).
#[skip_serializing_none]
#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
struct Identity<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    principal_id: Option<&'a str>,
    arn: Option<&'a str>,
    account_id: Option<&'a str>,
    access_key_id: &'a str,
    user_name: Option<&'a str>,
    session_context: Option<SessionContext<'a>>,
}

#[skip_serializing_none]
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SessionContext<'a> {
    session_issuer: Option<Issuer<'a>>,
    web_id_federation_data: Option<Empty>,
    attributes: Attributes,
    source_identity: Option<&'a str>,
    /// How IMDS delivered the credential (`1.0`/`2.0`), when the token says.
    ec2_role_delivery: Option<&'a str>,
    /// The instance credentials were issued to (`ec2:SourceInstanceARN`, a rolecall field).
    ec2_source_instance_arn: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Issuer<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    principal_id: &'a str,
    arn: &'a str,
    account_id: &'a str,
    user_name: &'a str,
}

#[skip_serializing_none]
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Attributes {
    creation_date: Option<String>,
    mfa_authenticated: &'static str,
}

#[derive(Serialize)]
struct Empty {}

/// `userIdentity` as CloudTrail writes it for the root, an IAM user and a role session (JSON).
pub fn user_identity(p: &Principal, access_key_id: &str) -> serde_json::Result<String> {
    with_identity(p, access_key_id, |i| serde_json::to_string(i))
}

/// Runs `f` on the principal's `userIdentity`.
fn with_identity<R>(p: &Principal, access_key_id: &str, f: impl FnOnce(&Identity<'_>) -> R) -> R {
    let mut identity = Identity {
        kind: "Root",
        principal_id: Some(&p.account_id),
        arn: Some(&p.arn),
        account_id: Some(&p.account_id),
        access_key_id,
        ..Identity::default()
    };
    let issuer_arn;
    match &p.kind {
        PrincipalKind::Root => {}
        PrincipalKind::User { name, id, session } => {
            identity.kind = "IAMUser";
            identity.principal_id = Some(id);
            identity.user_name = Some(name);
            identity.session_context = session.then_some(SessionContext {
                session_issuer: None,
                web_id_federation_data: None,
                attributes: Attributes {
                    creation_date: None,
                    mfa_authenticated: "false",
                },
                source_identity: None,
                ec2_role_delivery: None,
                ec2_source_instance_arn: None,
            });
        }
        PrincipalKind::FederatedUser {
            user_name,
            user_id,
            session,
        } => {
            identity.kind = "FederatedUser";
            identity.principal_id = Some(&p.user_id);
            identity.session_context = Some(SessionContext {
                session_issuer: Some(Issuer {
                    kind: if user_name.is_empty() {
                        "Root"
                    } else {
                        "IAMUser"
                    },
                    principal_id: user_id,
                    arn: &session.principal_arn,
                    account_id: &p.account_id,
                    user_name,
                }),
                web_id_federation_data: None,
                attributes: Attributes {
                    creation_date: creation_date(session.issued_at),
                    mfa_authenticated: "false",
                },
                source_identity: None,
                ec2_role_delivery: None,
                ec2_source_instance_arn: None,
            });
        }
        PrincipalKind::AssumedRole {
            role_name,
            role_id,
            source_instance_arn,
            session,
            ..
        } => {
            issuer_arn = if session.principal_arn.is_empty() {
                format!("arn:aws:iam::{}:role/{role_name}", p.account_id)
            } else {
                session.principal_arn.clone()
            };
            let from_instance = !source_instance_arn.is_empty();
            identity.kind = "AssumedRole";
            identity.principal_id = Some(&p.user_id);
            identity.session_context = Some(SessionContext {
                session_issuer: Some(Issuer {
                    kind: "Role",
                    principal_id: role_id,
                    arn: &issuer_arn,
                    account_id: &p.account_id,
                    user_name: role_name,
                }),
                web_id_federation_data: Some(Empty {}),
                attributes: Attributes {
                    creation_date: creation_date(session.issued_at),
                    mfa_authenticated: "false",
                },
                source_identity: session.source_identity.as_deref(),
                ec2_role_delivery: (from_instance && !session.role_delivery.is_empty())
                    .then_some(session.role_delivery.as_str()),
                ec2_source_instance_arn: from_instance.then_some(source_instance_arn.as_str()),
            });
        }
    }
    f(&identity)
}

/// Whether a parameter or element name holds a secret (never recorded).
fn is_secret(name: &str) -> bool {
    const SECRETS: [&str; 6] = [
        "password",
        "secret",
        "sessiontoken",
        "samlassertion",
        "webidentitytoken",
        "tokencode",
    ];
    // Case-insensitive substring search without lower-casing a copy (this runs for every
    // parameter of every audited request).
    let n = name.as_bytes();
    SECRETS.iter().any(|s| {
        n.windows(s.len())
            .any(|w| w.eq_ignore_ascii_case(s.as_bytes()))
    })
}

/// SigV4's and the protocol's own parameters, which are not the operation's.
fn is_envelope(name: &str) -> bool {
    name == "Action"
        || name == "Version"
        || name.starts_with("X-Amz-")
        || name == "AWSAccessKeyId"
        || name.starts_with("Signature")
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

/// The request parameters as recorded, JSON object text (None when there are none): flat
/// parameters (most requests: `RoleName=r`) written straight to JSON, nested ones through
/// [`request_parameters`].
fn request_parameters_json(params: &Params) -> Option<Inline> {
    let recorded = |k: &str| !is_envelope(k) && !k.split('.').any(is_secret);
    let mut flat: SmallVec<[(&str, &str); 8]> = SmallVec::new();
    for (key, value) in params.iter().filter(|(k, _)| recorded(k)) {
        if key.contains('.') {
            return serde_json::to_string(&request_parameters(params))
                .ok()
                .filter(|t| t != "{}")
                .map(|t| Inline::from_vec(t.into_bytes()));
        }
        flat.push((key, value));
    }
    if flat.is_empty() {
        return None;
    }
    let mut out = Inline::with_capacity(
        2 + flat
            .iter()
            .map(|(k, v)| k.len() + v.len() + 6)
            .sum::<usize>(),
    );
    out.push(b'{');
    // A client controls how many parameters there are: past a few, a set finds repeats.
    let mut seen: Option<std::collections::HashSet<String>> =
        (flat.len() > FEW_PARAMETERS).then(std::collections::HashSet::new);
    for (i, (key, value)) in flat.iter().enumerate() {
        // The first of repeated parameters is the one executed (`Params::get`).
        let repeated = match &mut seen {
            Some(seen) => !seen.insert(lower_first(key)),
            None => flat[..i].iter().any(|(k, _)| same_recorded_name(k, key)),
        };
        if repeated {
            continue;
        }
        if out.len() > 1 {
            out.push(b',');
        }
        write_recorded_name(&mut out, key);
        out.push(b':');
        write_json_str(&mut out, value);
    }
    out.push(b'}');
    Some(out)
}

/// Up to this many parameters, repeats are found by comparing each with those before it.
const FEW_PARAMETERS: usize = 16;

/// Whether two parameter names are recorded under the same name (first letter lower-cased).
fn same_recorded_name(a: &str, b: &str) -> bool {
    let (mut a, mut b) = (a.chars(), b.chars());
    match (a.next(), b.next()) {
        (Some(x), Some(y)) => x.to_lowercase().eq(y.to_lowercase()) && a.as_str() == b.as_str(),
        (x, y) => x == y,
    }
}

/// `key`'s recorded name (first letter lower-cased) as a JSON string.
fn write_recorded_name(out: &mut impl std::io::Write, key: &str) {
    // Parameter names are nearly always ASCII letters and digits: nothing to escape or allocate.
    match key.as_bytes().split_first() {
        Some((first, rest)) if key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') => {
            // Writing to memory cannot fail.
            let _ = out.write_all(&[b'"', first.to_ascii_lowercase()]);
            let _ = out.write_all(rest);
            let _ = out.write_all(b"\"");
        }
        _ => write_json_str(out, &lower_first(key)),
    }
}

/// `s` as a JSON string.
fn write_json_str(out: &mut impl std::io::Write, s: &str) {
    // Writing to memory cannot fail, and a `str` always serializes.
    let _ = serde_json::to_writer(out, s);
}

/// Marks list positions among object keys until [`lists`] turns them into arrays.
const INDEX: char = '\u{1}';

/// The Query parameters as CloudTrail's `requestParameters`: `Tags.member.1.Key=k` becomes
/// `{"tags": [{"key": "k"}]}`, `InstanceId.1=i-…` `{"instanceId": ["i-…"]}`.
pub fn request_parameters(params: &Params) -> Value {
    let mut root = Value::Object(Map::new());
    for (key, value) in params.iter() {
        if is_envelope(key) || key.split('.').any(is_secret) {
            continue;
        }
        let path: Vec<String> = key
            .split('.')
            .filter(|s| *s != "member" && *s != "item")
            .map(|s| match s.parse::<u32>() {
                Ok(n) => format!("{INDEX}{n:010}"),
                Err(_) => lower_first(s),
            })
            .collect();
        insert(&mut root, &path, value);
    }
    lists(root)
}

fn insert(node: &mut Value, path: &[String], value: &str) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    let Some(map) = node.as_object_mut() else {
        return;
    };
    if rest.is_empty() {
        // The first of repeated parameters is the one executed (`Params::get`).
        map.entry(first.clone())
            .or_insert_with(|| Value::String(value.to_string()));
        return;
    }
    let child = map
        .entry(first.clone())
        .or_insert_with(|| Value::Object(Map::new()));
    if !child.is_object() {
        return;
    }
    insert(child, rest, value);
}

/// Objects keyed only by list positions become arrays (in position order).
fn lists(v: Value) -> Value {
    match v {
        Value::Object(m) => {
            let is_list = !m.is_empty() && m.keys().all(|k| k.starts_with(INDEX));
            let items = m.into_iter().map(|(k, v)| (k, lists(v)));
            if is_list {
                Value::Array(items.map(|(_, v)| v).collect())
            } else {
                Value::Object(items.collect())
            }
        }
        other => other,
    }
}

/// An element being read: its name, its children so far, its text.
type Open = (String, Vec<(String, Value)>, String);

/// The response body (Query or EC2 XML) as CloudTrail's `responseElements`: the result's
/// elements with lower-cased first letters, lists as arrays, secrets left out.
pub fn response_elements(xml: &str) -> Value {
    use quick_xml::Reader;
    use quick_xml::events::Event;
    let mut stack: Vec<Open> = Vec::new();
    let mut reader = Reader::from_str(xml);
    let mut top: Option<Value> = None;
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                stack.push((name, Vec::new(), String::new()));
            }
            Ok(Event::Empty(e)) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                if let Some(parent) = stack.last_mut() {
                    parent.1.push((name, Value::Null));
                }
            }
            Ok(Event::Text(t)) => {
                if let (Some(open), Ok(s)) = (stack.last_mut(), t.decode())
                    && let Ok(s) = quick_xml::escape::unescape(&s)
                {
                    open.2.push_str(&s);
                }
            }
            Ok(Event::GeneralRef(r)) => {
                if let (Some(open), Ok(name)) = (stack.last_mut(), r.decode())
                    && let Ok(s) = quick_xml::escape::unescape(&format!("&{name};"))
                {
                    open.2.push_str(&s);
                }
            }
            Ok(Event::End(_)) => {
                let Some((name, children, text)) = stack.pop() else {
                    break;
                };
                let value = element_value(children, text);
                match stack.last_mut() {
                    Some(parent) => parent.1.push((name, value)),
                    None => top = Some(value),
                }
            }
            Ok(Event::Eof) | Err(_) => break,
            Ok(_) => {}
        }
    }
    // `<XResponse><XResult>…</XResult><ResponseMetadata/></XResponse>` (Query) or
    // `<XResponse><requestId/>…</XResponse>` (EC2).
    let Some(Value::Object(mut response)) = top else {
        return Value::Null;
    };
    response.remove("responseMetadata");
    response.remove("requestId");
    let result_key = response.keys().find(|k| k.ends_with("Result")).cloned();
    let result = match result_key {
        Some(k) => response.remove(&k).unwrap_or(Value::Null),
        None => Value::Object(response),
    };
    match result {
        Value::Object(m) if m.is_empty() => Value::Null,
        Value::String(s) if s.trim().is_empty() => Value::Null,
        other => other,
    }
}

fn element_value(children: Vec<(String, Value)>, text: String) -> Value {
    if children.is_empty() {
        return Value::String(text);
    }
    if children.iter().all(|(n, _)| n == "member" || n == "item") {
        return Value::Array(children.into_iter().map(|(_, v)| v).collect());
    }
    let mut m = Map::new();
    for (name, value) in children {
        if is_secret(&name) {
            continue;
        }
        m.insert(lower_first(&name), value);
    }
    Value::Object(m)
}

/// A console password sign-in, as CloudTrail records it (`signin.amazonaws.com`,
/// `ConsoleLogin`, event type `AwsConsoleSignIn`). A failed sign-in names the user only if it
/// exists (`HIDDEN_DUE_TO_SECURITY_REASONS` otherwise, as AWS writes it).
pub fn console_login(
    info: &RequestInfo<'_>,
    user: Option<&Principal>,
    failure: Option<&str>,
) -> AuditEvent {
    let identity = match user {
        Some(p) => user_identity(p, "")
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or(Value::Null),
        None => json!({
            "type": "IAMUser",
            "accountId": info.account_id,
            "accessKeyId": "",
            "userName": "HIDDEN_DUE_TO_SECURITY_REASONS",
        }),
    };
    let id = rolecall_core::audit::new_event_id(info.time);
    let mut record = json!({
        "eventVersion": EVENT_VERSION,
        "userIdentity": identity,
        "eventTime": event_time(info.time),
        "eventSource": "signin.amazonaws.com",
        "eventName": "ConsoleLogin",
        "awsRegion": info.region,
        "sourceIPAddress": info.source_ip,
        "userAgent": info.user_agent,
        "requestParameters": Value::Null,
        "responseElements": {"ConsoleLogin": if failure.is_none() { "Success" } else { "Failure" }},
        "additionalEventData": {"LoginTo": "/console/", "MobileVersion": "No", "MFAUsed": "No"},
        "eventID": id,
        "readOnly": false,
        "eventType": "AwsConsoleSignIn",
        "managementEvent": true,
        "recipientAccountId": info.account_id,
        "eventCategory": "Management",
    });
    if let Some(message) = failure {
        record["errorMessage"] = json!(message);
    }
    AuditEvent {
        event_id: id,
        event_time: info.time,
        event_name: "ConsoleLogin".into(),
        event_source: "signin.amazonaws.com".into(),
        username: user.map(|p| Arc::from(username(p))),
        access_key_id: None,
        read_only: false,
        resources: Arc::default(),
        context: None,
        detail: record.to_string(),
    }
}

/// The distinct resources among the ARNs an operation was authorized on (ARNs that name none
/// are left out).
fn resources_of<S: AsRef<str>>(arns: &[S]) -> Vec<AuditResource> {
    let mut resources: Vec<AuditResource> = Vec::new();
    for r in arns
        .iter()
        .filter_map(|a| rolecall_core::audit::resource_of(a.as_ref()))
    {
        if !resources.iter().any(|x| x.arn == r.arn) {
            resources.push(r);
        }
    }
    resources
}

/// The resources of the last draft made into its event, and the ARNs they were made of: a
/// client's run of calls on one resource makes them once.
#[derive(Default)]
pub struct LastResources(Option<(Arns, Arc<[AuditResource]>)>);

/// The ARNs a draft names.
type Arns = SmallVec<[Inline; 1]>;

impl LastResources {
    fn of(&mut self, arns: Arns) -> Arc<[AuditResource]> {
        if let Some((last, resources)) = &self.0
            && *last == arns
        {
            return resources.clone();
        }
        let resources: Arc<[AuditResource]> =
            resources_of(&arns.iter().map(text_of).collect::<SmallVec<[&str; 2]>>()).into();
        self.0 = Some((arns, resources.clone()));
        resources
    }
}

/// Records what the operation acts on (its ARNs; made into resources when recorded).
pub fn set_resources<'a>(draft: &mut Draft, arns: impl IntoIterator<Item = &'a str>) {
    draft.resources = Some(arns.into_iter().map(inline).collect());
}

pub fn set_error(draft: &mut Draft, code: &str, message: &str) {
    draft.error = Some((code.to_string(), message.to_string()));
}

/// The event of a credential IMDS issued, as CloudTrail records EC2's delivery of instance
/// credentials: an `AssumeRole` by the EC2 service, session name the instance id.
pub fn imds_issuance(n: &rolecall_imds::IssuedNotice, region: &str) -> AuditEvent {
    let role_arn = format!("arn:aws:iam::{}:role/{}", n.account_id, n.role_name);
    let resources = resources_of(&[role_arn.as_str(), n.instance_arn.as_str()]);
    let id = rolecall_core::audit::new_event_id(n.issued_at);
    let record = json!({
        "eventVersion": EVENT_VERSION,
        "userIdentity": {"type": "AWSService", "invokedBy": "ec2.amazonaws.com"},
        "eventTime": event_time(n.issued_at),
        "eventSource": "sts.amazonaws.com",
        "eventName": "AssumeRole",
        "awsRegion": region,
        "sourceIPAddress": "ec2.amazonaws.com",
        "userAgent": "ec2.amazonaws.com",
        "requestParameters": {
            "roleArn": role_arn,
            "roleSessionName": n.instance_id,
        },
        "responseElements": {
            "credentials": {
                "accessKeyId": n.access_key_id,
                "expiration": event_time(n.expires_at),
            },
            "assumedRoleUser": {
                "assumedRoleId": format!("{}:{}", n.role_id, n.instance_id),
                "arn": format!("arn:aws:sts::{}:assumed-role/{}/{}", n.account_id, n.role_name, n.instance_id),
            },
        },
        "requestID": rolecall_crypto::request_id(),
        "eventID": id,
        "readOnly": true,
        "resources": resources.iter().map(|r| json!({"accountId": n.account_id, "type": r.resource_type, "ARN": r.arn})).collect::<Vec<_>>(),
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": n.account_id,
        "eventCategory": "Management",
    });
    AuditEvent {
        event_id: id,
        event_time: n.issued_at,
        event_name: "AssumeRole".into(),
        event_source: "sts.amazonaws.com".into(),
        username: None,
        access_key_id: None,
        read_only: true,
        resources: resources.into(),
        context: None,
        detail: record.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A GetRole's request from 10.0.0.1.
    fn get_role_info(request_id: &str) -> RequestInfo<'_> {
        RequestInfo {
            request_id,
            time: Utc::now(),
            source_ip: "10.0.0.1",
            user_agent: "cli",
            region: "us-east-1",
            service: "iam",
            action: Cow::Borrowed("GetRole"),
            read_only: true,
            account_id: "123456789012",
        }
    }

    #[test]
    fn parameters_nest_lists_and_leave_secrets_out() {
        let p = Params::from_pairs([
            ("Action", "CreateRole"),
            ("RoleName", "r"),
            ("Tags.member.1.Key", "k"),
            ("Tags.member.1.Value", "v"),
            ("Tags.member.2.Key", "k2"),
            ("Password", "hunter2"),
            ("X-Amz-Security-Token", "tok"),
        ]);
        let v = request_parameters(&p);
        assert_eq!(
            v,
            json!({"roleName": "r", "tags": [{"key": "k", "value": "v"}, {"key": "k2"}]})
        );
    }

    #[test]
    fn repeated_parameters_record_the_one_executed() {
        let recorded = |pairs: &[(&str, &str)]| -> Value {
            let json = request_parameters_json(&Params::from_pairs(pairs.iter().copied()));
            serde_json::from_slice(json.as_deref().unwrap_or(b"null")).unwrap()
        };
        let flat = [("RoleName", "victim"), ("RoleName", "decoy")];
        assert_eq!(recorded(&flat), json!({"roleName": "victim"}));
        let nested = [
            ("RoleName", "victim"),
            ("RoleName", "decoy"),
            ("Tags.member.1.Key", "k"),
        ];
        assert_eq!(
            recorded(&nested),
            json!({"roleName": "victim", "tags": [{"key": "k"}]})
        );
        // Many parameters: each recorded once, in order.
        let many: Vec<(String, String)> = (0..20_000)
            .map(|i| (format!("K{i}"), i.to_string()))
            .collect();
        let many = Params::from_pairs(many.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let v: Value = serde_json::from_slice(&request_parameters_json(&many).unwrap()).unwrap();
        assert_eq!(v.as_object().map(|m| m.len()), Some(20_000));
        assert_eq!(v["k19999"], "19999");
    }

    #[test]
    fn detail_is_the_records_own_fields_as_json() {
        let info = get_role_info("req-\"1\"");
        let params = Params::from_pairs([
            ("Action", "GetRole"),
            ("RoleName", "r\"x\\"),
            ("é-Name", "v"),
            ("Marker", "m\n"),
            ("roleName", "decoy"),
        ]);
        let caller = Arc::new(Caller::new(&info, None, "AKIA1"));
        let mut draft = request_event(&info, caller, Some(&params));
        set_error(
            &mut draft,
            "NoSuchEntity",
            "The role \"r\" cannot be found.",
        );
        let detail: Value = serde_json::from_str(&draft.detail()).unwrap();
        assert_eq!(
            detail,
            json!({
                "errorCode": "NoSuchEntity",
                "errorMessage": "The role \"r\" cannot be found.",
                "requestParameters": {"roleName": "r\"x\\", "é-Name": "v", "marker": "m\n"},
                "responseElements": null,
                "requestID": "req-\"1\"",
            })
        );
        let event = draft.into_event();
        assert_eq!(event.event_name, "GetRole");
        assert_eq!(event.event_source, "iam.amazonaws.com");
        assert!(
            event
                .context
                .is_some_and(|c| c.contains("\"accessKeyId\":\"AKIA1\""))
        );
    }

    #[test]
    fn response_elements_omit_secrets() {
        let xml = "<CreateAccessKeyResponse xmlns=\"x\"><CreateAccessKeyResult><AccessKey>\
            <UserName>u</UserName><AccessKeyId>AKIA1</AccessKeyId><Status>Active</Status>\
            <SecretAccessKey>s3cr3t</SecretAccessKey></AccessKey></CreateAccessKeyResult>\
            <ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></CreateAccessKeyResponse>";
        let v = response_elements(xml);
        assert_eq!(
            v,
            json!({"accessKey": {"userName": "u", "accessKeyId": "AKIA1", "status": "Active"}})
        );
    }

    /// A run of drafts naming the same ARNs shares one set of resources; the next draft naming
    /// others gets its own, and a draft naming none has none.
    #[test]
    fn a_run_of_drafts_on_one_resource_shares_its_resources() {
        let info = get_role_info("r");
        let caller = Arc::new(Caller::new(&info, None, "AKIA1"));
        let draft = |arns: &[&str]| {
            let mut d = request_event(&info, caller.clone(), None);
            if !arns.is_empty() {
                set_resources(&mut d, arns.iter().copied());
            }
            d
        };
        let (app, db) = (
            "arn:aws:iam::123456789012:role/app",
            "arn:aws:iam::123456789012:role/db",
        );
        let mut last = LastResources::default();
        let events: Vec<AuditEvent> = [&[app][..], &[app], &[db], &[]]
            .into_iter()
            .map(|arns| draft(arns).into_event_after(&mut last))
            .collect();
        assert!(Arc::ptr_eq(&events[0].resources, &events[1].resources));
        let names = |e: &AuditEvent| {
            e.resources
                .iter()
                .map(|r| r.name.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            events.iter().map(names).collect::<Vec<_>>(),
            [vec!["app"], vec!["app"], vec!["db"], vec![]]
        );
        assert_eq!(events[0].access_key_id.as_deref(), Some("AKIA1"));
        assert_eq!(events[0].username, None);
    }

    #[test]
    fn resources_from_arns() {
        let r =
            rolecall_core::audit::resource_of("arn:aws:iam::123456789012:role/path/app").unwrap();
        assert_eq!(
            (r.resource_type.as_str(), r.name.as_str()),
            ("AWS::IAM::Role", "app")
        );
        assert!(rolecall_core::audit::resource_of("arn:aws:iam::123456789012:role/*").is_none());
        assert!(rolecall_core::audit::resource_of("*").is_none());
    }
}
