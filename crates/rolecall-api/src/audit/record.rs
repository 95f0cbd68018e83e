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
use serde_json::{Map, Value, json};

const EVENT_VERSION: &str = "1.08";

/// What is known of a request before it runs.
pub struct RequestInfo<'a> {
    pub request_id: &'a str,
    pub time: DateTime<Utc>,
    pub source_ip: &'a str,
    pub user_agent: &'a str,
    pub region: &'a str,
    /// `iam`, `sts`, `ec2`, `cloudtrail` (the SigV4 scope).
    pub service: &'a str,
    pub action: &'a str,
    pub read_only: bool,
    /// The account the request was for (`recipientAccountId`).
    pub account_id: &'a str,
}

/// CloudTrail's `eventTime` (whole seconds, `Z`).
fn event_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// An event for a request; `principal` is None when authentication failed.
pub fn request_event(
    info: &RequestInfo<'_>,
    principal: Option<&Principal>,
    access_key_id: &str,
    params: &Params,
) -> AuditEvent {
    let identity = match principal {
        Some(p) => user_identity(p, access_key_id),
        None => json!({"type": "Unknown", "accessKeyId": access_key_id}),
    };
    let parameters = request_parameters(params);
    let record = json!({
        "eventVersion": EVENT_VERSION,
        "userIdentity": identity,
        "eventTime": event_time(info.time),
        "eventSource": format!("{}.amazonaws.com", info.service),
        "eventName": info.action,
        "awsRegion": info.region,
        "sourceIPAddress": info.source_ip,
        "userAgent": info.user_agent,
        "requestParameters": if parameters.as_object().is_some_and(Map::is_empty) { Value::Null } else { parameters },
        "responseElements": Value::Null,
        "requestID": info.request_id,
        "eventID": rolecall_crypto::request_id(),
        "readOnly": info.read_only,
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": info.account_id,
        "eventCategory": "Management",
    });
    AuditEvent {
        event_id: record["eventID"].as_str().unwrap_or_default().to_string(),
        event_time: info.time,
        event_name: info.action.to_string(),
        event_source: format!("{}.amazonaws.com", info.service),
        username: principal.map(username),
        access_key_id: (!access_key_id.is_empty()).then(|| access_key_id.to_string()),
        read_only: info.read_only,
        resources: Vec::new(),
        record,
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

fn creation_date(secs: i64) -> String {
    DateTime::<Utc>::from_timestamp(secs, 0).map_or_else(String::new, event_time)
}

/// `userIdentity` as CloudTrail writes it for the root, an IAM user and a role session.
pub fn user_identity(p: &Principal, access_key_id: &str) -> Value {
    match &p.kind {
        PrincipalKind::Root => json!({
            "type": "Root",
            "principalId": p.account_id,
            "arn": p.arn,
            "accountId": p.account_id,
            "accessKeyId": access_key_id,
        }),
        PrincipalKind::User { name, id, session } => {
            let mut v = json!({
                "type": "IAMUser",
                "principalId": id,
                "arn": p.arn,
                "accountId": p.account_id,
                "accessKeyId": access_key_id,
                "userName": name,
            });
            if *session {
                v["sessionContext"] = json!({"attributes": {"mfaAuthenticated": "false"}});
            }
            v
        }
        PrincipalKind::FederatedUser {
            user_name,
            user_id,
            session,
        } => json!({
            "type": "FederatedUser",
            "principalId": p.user_id,
            "arn": p.arn,
            "accountId": p.account_id,
            "accessKeyId": access_key_id,
            "sessionContext": {
                "sessionIssuer": {
                    "type": if user_name.is_empty() { "Root" } else { "IAMUser" },
                    "principalId": user_id,
                    "arn": session.principal_arn,
                    "accountId": p.account_id,
                    "userName": user_name,
                },
                "attributes": {
                    "creationDate": creation_date(session.issued_at),
                    "mfaAuthenticated": "false",
                },
            },
        }),
        PrincipalKind::AssumedRole {
            role_name,
            role_id,
            source_instance_arn,
            session,
            ..
        } => {
            let issuer_arn = if session.principal_arn.is_empty() {
                format!("arn:aws:iam::{}:role/{role_name}", p.account_id)
            } else {
                session.principal_arn.clone()
            };
            let mut context = json!({
                "sessionIssuer": {
                    "type": "Role",
                    "principalId": role_id,
                    "arn": issuer_arn,
                    "accountId": p.account_id,
                    "userName": role_name,
                },
                "webIdFederationData": {},
                "attributes": {
                    "creationDate": creation_date(session.issued_at),
                    "mfaAuthenticated": "false",
                },
            });
            if let Some(s) = &session.source_identity {
                context["sourceIdentity"] = json!(s);
            }
            if !source_instance_arn.is_empty() {
                // How IMDS delivered the credential (`1.0`/`2.0`), when the token says; and
                // the instance they were issued to (`ec2:SourceInstanceARN`, a rolecall field).
                if !session.role_delivery.is_empty() {
                    context["ec2RoleDelivery"] = json!(session.role_delivery);
                }
                context["ec2SourceInstanceArn"] = json!(source_instance_arn);
            }
            json!({
                "type": "AssumedRole",
                "principalId": p.user_id,
                "arn": p.arn,
                "accountId": p.account_id,
                "accessKeyId": access_key_id,
                "sessionContext": context,
            })
        }
    }
}

/// Whether a parameter or element name holds a secret (never recorded).
fn is_secret(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "password",
        "secret",
        "sessiontoken",
        "samlassertion",
        "webidentitytoken",
        "tokencode",
    ]
    .iter()
    .any(|s| n.contains(s))
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
        map.insert(first.clone(), Value::String(value.to_string()));
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

/// The CloudTrail resource type of an ARN this server names, and the resource's short name.
fn resource_of(arn: &str) -> Option<AuditResource> {
    if arn.contains('*') {
        return None;
    }
    let mut parts = arn.splitn(6, ':');
    let (_, _, service, _, _, rest) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    let (kind, path) = rest.split_once('/')?;
    let resource_type = match (service, kind) {
        ("iam", "role") => "AWS::IAM::Role",
        ("iam", "user") => "AWS::IAM::User",
        ("iam", "group") => "AWS::IAM::Group",
        ("iam", "policy") => "AWS::IAM::Policy",
        ("iam", "instance-profile") => "AWS::IAM::InstanceProfile",
        ("ec2", "instance") => "AWS::EC2::Instance",
        _ => return None,
    };
    Some(AuditResource {
        resource_type: resource_type.into(),
        name: path.rsplit('/').next().unwrap_or(path).to_string(),
        arn: arn.to_string(),
    })
}

/// A console password sign-in, as CloudTrail records it (`signin.amazonaws.com`,
/// `ConsoleLogin`, event type `AwsConsoleSignIn`). A failed sign-in names the user only if it
/// exists (`HIDDEN_DUE_TO_SECURITY_REASONS` otherwise, as AWS writes it).
pub fn console_login(
    info: &RequestInfo<'_>,
    user: Option<&Principal>,
    success: bool,
) -> AuditEvent {
    let identity = match user {
        Some(p) => user_identity(p, ""),
        None => json!({
            "type": "IAMUser",
            "accountId": info.account_id,
            "accessKeyId": "",
            "userName": "HIDDEN_DUE_TO_SECURITY_REASONS",
        }),
    };
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
        "responseElements": {"ConsoleLogin": if success { "Success" } else { "Failure" }},
        "additionalEventData": {"LoginTo": "/console/", "MobileVersion": "No", "MFAUsed": "No"},
        "eventID": rolecall_crypto::request_id(),
        "readOnly": false,
        "eventType": "AwsConsoleSignIn",
        "managementEvent": true,
        "recipientAccountId": info.account_id,
        "eventCategory": "Management",
    });
    if !success {
        record["errorMessage"] = json!("Failed authentication");
    }
    AuditEvent {
        event_id: record["eventID"].as_str().unwrap_or_default().to_string(),
        event_time: info.time,
        event_name: "ConsoleLogin".into(),
        event_source: "signin.amazonaws.com".into(),
        username: user.map(username),
        access_key_id: None,
        read_only: false,
        resources: Vec::new(),
        record,
    }
}

/// Sets the event's resources from the ARNs its operation was authorized on.
pub fn set_resources<'a>(event: &mut AuditEvent, arns: impl IntoIterator<Item = &'a str>) {
    let mut resources: Vec<AuditResource> = Vec::new();
    for r in arns.into_iter().filter_map(resource_of) {
        if !resources.iter().any(|x| x.arn == r.arn) {
            resources.push(r);
        }
    }
    let account = event.record["recipientAccountId"].clone();
    event.record["resources"] = resources
        .iter()
        .map(|r| json!({"accountId": account, "type": r.resource_type, "ARN": r.arn}))
        .collect();
    event.resources = resources;
}

/// Marks the event as refused or failed.
pub fn set_error(event: &mut AuditEvent, code: &str, message: &str) {
    event.record["errorCode"] = json!(code);
    event.record["errorMessage"] = json!(message);
}

/// The event of a credential IMDS issued, as CloudTrail records EC2's delivery of instance
/// credentials: an `AssumeRole` by the EC2 service, session name the instance id.
pub fn imds_issuance(n: &rolecall_imds::IssuedNotice, region: &str) -> AuditEvent {
    let role_arn = format!("arn:aws:iam::{}:role/{}", n.account_id, n.role_name);
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
        "eventID": rolecall_crypto::request_id(),
        "readOnly": true,
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": n.account_id,
        "eventCategory": "Management",
    });
    let mut event = AuditEvent {
        event_id: record["eventID"].as_str().unwrap_or_default().to_string(),
        event_time: n.issued_at,
        event_name: "AssumeRole".into(),
        event_source: "sts.amazonaws.com".into(),
        username: None,
        access_key_id: None,
        read_only: true,
        resources: Vec::new(),
        record,
    };
    set_resources(&mut event, [role_arn.as_str(), n.instance_arn.as_str()]);
    event
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn resources_from_arns() {
        let r = resource_of("arn:aws:iam::123456789012:role/path/app").unwrap();
        assert_eq!(
            (r.resource_type.as_str(), r.name.as_str()),
            ("AWS::IAM::Role", "app")
        );
        assert!(resource_of("arn:aws:iam::123456789012:role/*").is_none());
        assert!(resource_of("*").is_none());
    }
}
