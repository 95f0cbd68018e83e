//! The agent's side of the rolecall API: SigV4-signed Query requests (scope service `rolecall`)
//! and their responses turned into IMDS views and credentials.

use chrono::{DateTime, Utc};
use rolecall_core::DynClock;
use rolecall_core::model::{GroupIdentifier, Instance, InstanceState, MetadataOptions, Tag};
use rolecall_imds::{
    CredentialKey, CredentialParts, Delivery, InstanceView, Issued, IssuedFor, ProfileView,
    RoleView,
};
use rolecall_wire::xml_read::{self as xml, Node};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

/// The API version of the rolecall service.
pub const VERSION: &str = "2026-11-28";
/// The SigV4 credential scope's service.
pub const SERVICE: &str = "rolecall";

/// The agent's own long-term (or temporary) credentials. No Debug: the secret never gets logged.
#[derive(Clone)]
pub struct AgentCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

/// Why a call to the control plane failed.
#[derive(Debug)]
pub enum CallError {
    /// No answer (connection refused, timeout, ...).
    Unreachable(String),
    /// An answer that is an error (`code`: the AWS error code).
    Refused {
        status: u16,
        code: String,
        message: String,
    },
    /// An answer this agent cannot read.
    Malformed(String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Unreachable(e) => write!(f, "control plane unreachable: {e}"),
            CallError::Refused {
                status,
                code,
                message,
            } => write!(f, "control plane refused ({status} {code}): {message}"),
            CallError::Malformed(e) => write!(f, "unreadable answer from the control plane: {e}"),
        }
    }
}

impl std::error::Error for CallError {}

/// What `DescribeInstanceIdentities` returned, ready to install in a remote `Directory`.
pub struct Identities {
    pub account_id: String,
    pub views: Vec<Arc<InstanceView>>,
    /// Instance id to its credential (instances whose role trusts EC2), minted without
    /// `ec2:RoleDelivery` (asked for without a delivery version).
    pub credentials: HashMap<String, Arc<Issued>>,
    /// The credentials asked for by instance and delivery version (`ec2:RoleDelivery` sealed in).
    pub delivered: HashMap<CredentialKey, Arc<Issued>>,
    /// Roles whose sessions issued before the time given are refused (`AWSRevokeOlderSessions`
    /// put since the sequence asked).
    pub revoked: Vec<(String, DateTime<Utc>)>,
    /// The change feed sequence the answer reflects (to ask for changes since).
    pub sequence: Option<i64>,
    /// Whether `views` are every instance (else only those changed since the sequence asked).
    pub full: bool,
    /// Instances to forget (answers with changes only).
    pub removed: Vec<String>,
}

/// An error with its chain of causes (reqwest's own message hides, e.g., why TLS failed).
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

pub struct Client {
    http: reqwest::Client,
    url: reqwest::Url,
    host: String,
    region: String,
    credentials: AgentCredentials,
    /// Requests are signed at its time.
    signing_clock: DynClock,
}

impl Client {
    /// A client of `config.server`: over TLS for `https://` (verified with `config.ca_pem`, or
    /// the system's roots); plain `http://` only to a loopback address unless
    /// `config.insecure_http`, since every instance's credentials come back in the answers.
    pub fn new(config: &crate::AgentConfig) -> Result<Client, String> {
        let server = config.server.as_str();
        let url: reqwest::Url = server
            .parse()
            .map_err(|e| format!("bad server URL {server}: {e}"))?;
        let host = match (url.host_str(), url.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            (None, _) => return Err(format!("server URL {server} has no host")),
        };
        let bare_host = url.host_str().unwrap_or_default();
        let loopback = bare_host == "localhost"
            || bare_host
                .trim_matches(['[', ']'])
                .parse::<IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        let mut http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .no_proxy();
        match url.scheme() {
            "https" => {
                http = http.use_rustls_tls().https_only(true);
                if let Some(pem) = &config.ca_pem {
                    let roots = reqwest::Certificate::from_pem_bundle(pem)
                        .map_err(|e| format!("CA file: {e}"))?;
                    if roots.is_empty() {
                        return Err("CA file: no certificate in it".into());
                    }
                    http = http.tls_built_in_root_certs(false);
                    for root in roots {
                        http = http.add_root_certificate(root);
                    }
                }
            }
            "http" if loopback || config.insecure_http => {}
            "http" => {
                return Err(format!(
                    "{server} is plain HTTP to an address that is not loopback: every instance's credentials would cross the network unencrypted. Use https:// (with --ca-file), or --insecure-http"
                ));
            }
            other => return Err(format!("server URL {server}: unsupported scheme {other}")),
        }
        let http = http.build().map_err(|e| format!("HTTP client: {e}"))?;
        Ok(Client {
            http,
            url,
            host,
            region: config.region.clone(),
            credentials: config.credentials.clone(),
            signing_clock: config.signing_clock.clone(),
        })
    }

    /// One signed Query call; the response's root element on success.
    async fn call(&self, action: &str, params: &[(String, String)]) -> Result<Node, CallError> {
        let body = {
            let mut form = form_urlencoded::Serializer::new(String::new());
            form.append_pair("Action", action);
            form.append_pair("Version", VERSION);
            for (k, v) in params {
                form.append_pair(k, v);
            }
            form.finish()
        };
        let content_type = "application/x-www-form-urlencoded; charset=utf-8";
        let headers = [("host", self.host.as_str()), ("content-type", content_type)];
        let path = self.url.path();
        let signed = rolecall_sigv4::sign(
            &rolecall_sigv4::Request {
                method: "POST",
                path,
                query: "",
                headers: &headers,
                body: body.as_bytes(),
            },
            &rolecall_sigv4::SigningParams {
                credentials: rolecall_sigv4::Credentials {
                    access_key_id: &self.credentials.access_key_id,
                    secret_access_key: &self.credentials.secret_access_key,
                    session_token: self.credentials.session_token.as_deref(),
                },
                region: &self.region,
                service: SERVICE,
                time: self.signing_clock.now(),
            },
        );
        let mut req = self
            .http
            .post(self.url.clone())
            .header("content-type", content_type)
            .body(body);
        for (name, value) in signed.headers() {
            req = req.header(name, value);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| CallError::Unreachable(with_causes(&e)))?;
        let status = resp.status().as_u16();
        let text = resp
            .text()
            .await
            .map_err(|e| CallError::Unreachable(with_causes(&e)))?;
        let root = xml::parse(&text).map_err(|e| {
            if status == 200 {
                CallError::Malformed(e)
            } else {
                CallError::Refused {
                    status,
                    code: String::new(),
                    message: e,
                }
            }
        })?;
        if status != 200 {
            let err = root.find("Error");
            return Err(CallError::Refused {
                status,
                code: err
                    .and_then(|e| e.text_of("Code"))
                    .unwrap_or_default()
                    .to_string(),
                message: err
                    .and_then(|e| e.text_of("Message"))
                    .unwrap_or_default()
                    .to_string(),
            });
        }
        Ok(root)
    }

    /// The control plane's current change generation (empty before the first change).
    pub async fn change_generation(&self) -> Result<String, CallError> {
        let root = self.call("GetChangeGeneration", &[]).await?;
        Ok(root
            .find("Generation")
            .map(|g| g.text.clone())
            .unwrap_or_default())
    }

    /// The running instances with these private IPs (all when empty), with fresh credentials.
    pub async fn describe_instance_identities(
        &self,
        ips: &[IpAddr],
    ) -> Result<Identities, CallError> {
        self.describe_instance_identity_changes(ips, None, None)
            .await
    }

    /// With `since` (an earlier answer's sequence): only the instances changed since then, and
    /// those to forget; every instance when `since` is None or the server's feed was pruned.
    /// With `credentials_for`, credentials only for those instances (which are answered too),
    /// each minted for the IMDS version it is delivered over.
    pub async fn describe_instance_identity_changes(
        &self,
        ips: &[IpAddr],
        since: Option<i64>,
        credentials_for: Option<&[CredentialKey]>,
    ) -> Result<Identities, CallError> {
        let mut params: Vec<(String, String)> = ips
            .iter()
            .enumerate()
            .map(|(n, ip)| (format!("PrivateIpAddress.{}", n + 1), ip.to_string()))
            .collect();
        if let Some(s) = since {
            params.push(("SinceSequence".into(), s.to_string()));
        }
        if let Some(ids) = credentials_for {
            params.push(("Credentials".into(), "listed".into()));
            for (n, (id, delivery)) in ids.iter().enumerate() {
                let field = |name: &str| format!("DeliveredCredentialsFor.{}.{name}", n + 1);
                params.push((field("InstanceId"), id.clone()));
                params.push((field("RoleDelivery"), delivery.as_str().into()));
            }
        }
        let root = self.call("DescribeInstanceIdentities", &params).await?;
        let result = root
            .find("DescribeInstanceIdentitiesResult")
            .ok_or_else(|| CallError::Malformed("no DescribeInstanceIdentitiesResult".into()))?;
        let account_id = result.text_of("AccountId").unwrap_or_default().to_string();
        let mut out = Identities {
            account_id,
            views: Vec::new(),
            credentials: HashMap::new(),
            delivered: HashMap::new(),
            revoked: result
                .members("RevokedSessions")
                .map(|m| Ok((req(m, "RoleId")?.to_string(), time(m, "IssuedBefore")?)))
                .collect::<Result<_, String>>()
                .map_err(CallError::Malformed)?,
            sequence: result.text_of("Sequence").and_then(|s| s.parse().ok()),
            full: result.text_of("Full") != Some("false"),
            removed: result
                .members("RemovedInstances")
                .map(|m| m.text.clone())
                .collect(),
        };
        for m in result.members("Instances") {
            let (view, creds) = identity(&out.account_id, m).map_err(CallError::Malformed)?;
            let id = &view.instance.id;
            if let Some(c) = creds {
                out.credentials.insert(id.clone(), Arc::new(c));
            }
            for d in m.members("DeliveredCredentials") {
                let raw = req(d, "RoleDelivery").map_err(CallError::Malformed)?;
                let delivery = Delivery::parse(raw)
                    .ok_or_else(|| CallError::Malformed(format!("bad RoleDelivery {raw}")))?;
                if let Some(c) =
                    credential(&out.account_id, &view, d).map_err(CallError::Malformed)?
                {
                    out.delivered.insert((id.clone(), delivery), Arc::new(c));
                }
            }
            out.views.push(Arc::new(view));
        }
        Ok(out)
    }
}

fn req<'a>(n: &'a Node, name: &str) -> Result<&'a str, String> {
    n.text_of(name)
        .ok_or_else(|| format!("{} without {name}", n.name))
}

fn time(n: &Node, name: &str) -> Result<DateTime<Utc>, String> {
    let raw = req(n, name)?;
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("bad {name} {raw}: {e}"))
}

/// One `Instances/member`: the IMDS view and, when present, its credential.
fn identity(account_id: &str, m: &Node) -> Result<(InstanceView, Option<Issued>), String> {
    let opts = m.child("MetadataOptions");
    let opt = |name: &str, default: &str| {
        opts.and_then(|o| o.text_of(name))
            .unwrap_or(default)
            .to_string()
    };
    let instance = Instance {
        id: req(m, "InstanceId")?.into(),
        reservation_id: req(m, "ReservationId")?.into(),
        image_id: req(m, "ImageId")?.into(),
        instance_type: req(m, "InstanceType")?.into(),
        key_name: None,
        state: InstanceState::Running,
        state_reason: String::new(),
        private_ip: req(m, "PrivateIpAddress")?.into(),
        subnet_id: None,
        vpc_id: None,
        availability_zone: req(m, "AvailabilityZone")?.into(),
        security_groups: m
            .members("SecurityGroups")
            .map(|g| GroupIdentifier {
                group_id: g.text_of("GroupId").map(str::to_string),
                group_name: g.text_of("GroupName").map(str::to_string),
            })
            .collect(),
        user_data: m.text_of("UserData").map(str::to_string),
        tags: m
            .members("Tags")
            .map(|t| Tag {
                key: t.text_of("Key").unwrap_or_default().into(),
                value: t.text_of("Value").unwrap_or_default().into(),
            })
            .collect(),
        metadata_options: MetadataOptions {
            http_tokens: opt("HttpTokens", "optional"),
            http_put_response_hop_limit: opt("HttpPutResponseHopLimit", "1").parse().unwrap_or(1),
            http_endpoint: opt("HttpEndpoint", "enabled"),
            instance_metadata_tags: opt("InstanceMetadataTags", "disabled"),
            http_protocol_ipv6: opt("HttpProtocolIpv6", "disabled"),
        },
        launch_time: time(m, "LaunchTime")?,
        ami_launch_index: req(m, "AmiLaunchIndex")?.parse().unwrap_or(0),
        client_token: None,
        disable_api_termination: false,
        disable_api_stop: false,
        shutdown_behavior: "stop".into(),
    };
    let profile = match m.child("IamInstanceProfile") {
        None => None,
        Some(p) => Some(ProfileView {
            arn: req(p, "Arn")?.into(),
            id: req(p, "Id")?.into(),
            role: match p.child("Role") {
                None => None,
                Some(r) => Some(RoleView {
                    name: req(r, "RoleName")?.into(),
                    id: req(r, "RoleId")?.into(),
                    trusts_ec2: req(r, "TrustsEc2")? == "true",
                }),
            },
        }),
    };
    // The association the instance's credentials are issued under, and the start of its current
    // run: a credential of another association or an earlier run is not served.
    let association_id = m
        .child("IamInstanceProfile")
        .and_then(|p| p.child("AssociationId"))
        .map(|a| a.text.clone())
        .unwrap_or_default();
    let credentials_since = m
        .child("IamInstanceProfile")
        .and_then(|p| p.child("CredentialsSince"))
        .and_then(|a| a.text.parse().ok())
        .unwrap_or(0);
    let view = InstanceView {
        arn: req(m, "InstanceArn")?.into(),
        profile,
        association_id,
        credentials_since,
        instance,
    };
    let credentials = match m.child("Credentials") {
        Some(c) => credential(account_id, &view, c)?,
        None => None,
    };
    Ok((view, credentials))
}

/// A credential element of `view`'s member (None when the view has no role to issue it for).
fn credential(account_id: &str, view: &InstanceView, c: &Node) -> Result<Option<Issued>, String> {
    let Some(role) = view.profile.as_ref().and_then(|p| p.role.as_ref()) else {
        return Ok(None);
    };
    Ok(Some(Issued::from_parts(&CredentialParts {
        issued_for: IssuedFor {
            account_id,
            role_id: &role.id,
            association_id: &view.association_id,
        },
        access_key_id: req(c, "AccessKeyId")?,
        secret_access_key: req(c, "SecretAccessKey")?,
        session_token: req(c, "Token")?,
        last_updated: time(c, "LastUpdated")?,
        expiration: time(c, "Expiration")?,
    })))
}
