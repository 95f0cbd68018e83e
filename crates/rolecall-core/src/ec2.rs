//! EC2 operations: instances and their IAM instance profile associations.
//!
//! Instances are records, not machines: state changes take effect at once (the responses still
//! show AWS's transitional states: pending, stopping, shutting-down). Image, key pair, security
//! group and subnet ids are recorded as given, checked for form only.

use crate::ec2_errors::{NeededState, ProtectedInstance, Protection, WrongInstanceState};
use crate::ec2_network::Placement;
use crate::iam::Iam;
use crate::model::*;
use crate::{DynStore, Error, Missing, PageRequest, Result, StoreError, Taken};
use ipnet::Ipv4Net;
use rolecall_crypto::ec2_id;
use std::collections::HashSet;
use std::net::Ipv4Addr;

#[derive(Debug, Clone)]
pub struct Ec2Config {
    pub region: String,
    /// The default VPC's CIDR block; its default subnets hand out the private IPs.
    pub instance_cidr: Ipv4Net,
    /// Unknown image, subnet and security group ids are errors, as on AWS; otherwise
    /// (development mode) well-formed ids rolecall does not hold are recorded as given.
    pub strict_ids: bool,
}

impl Ec2Config {
    /// Development mode (ids rolecall does not hold are recorded as given) in `region`.
    pub fn lenient(region: &str, instance_cidr: Ipv4Net) -> Ec2Config {
        Ec2Config {
            region: region.into(),
            instance_cidr,
            strict_ids: false,
        }
    }

    /// The first availability zone (where a launch without a subnet goes).
    pub fn availability_zone(&self) -> String {
        format!("{}a", self.region)
    }

    /// The region's availability zones (each gets a default subnet).
    pub fn availability_zones(&self) -> Vec<String> {
        ["a", "b", "c"]
            .iter()
            .map(|z| format!("{}{z}", self.region))
            .collect()
    }
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RunInstances {
    pub image_id: String,
    pub min_count: i64,
    pub max_count: i64,
    pub instance_type: Option<String>,
    pub key_name: Option<String>,
    pub security_groups: Vec<String>,
    pub security_group_ids: Vec<String>,
    pub subnet_id: Option<String>,
    pub private_ip: Option<String>,
    pub user_data: Option<String>,
    pub tags: Vec<Tag>,
    pub profile_name: Option<String>,
    pub profile_arn: Option<String>,
    pub metadata_options: MetadataOptions,
    pub client_token: Option<String>,
    /// `Placement.AvailabilityZone`: the zone whose default subnet a launch without a subnet
    /// goes to.
    pub availability_zone: Option<String>,
    pub disable_api_termination: bool,
    pub disable_api_stop: bool,
    /// "stop" (the default) or "terminate".
    pub shutdown_behavior: Option<String>,
}

pub struct Reservation {
    pub id: String,
    pub instances: Vec<Instance>,
    pub associations: Vec<Association>,
}

/// A state change as Start/Stop/TerminateInstances report it.
pub struct StateChange {
    pub instance_id: String,
    pub previous: InstanceState,
    pub current: InstanceState,
}

/// A state transition: for an instance, the (reported, stored) states it moves to, None to stay,
/// or the error EC2 gives for an instance in the wrong state.
type Transition = fn(&Instance) -> Result<Option<(InstanceState, InstanceState)>>;

/// A filter of Describe* calls: a name and values with `*`/`?` wildcards.
#[derive(Debug, Clone)]
pub struct Filter {
    pub name: String,
    pub values: Vec<String>,
}

#[derive(Clone)]
pub struct Ec2 {
    pub(crate) store: DynStore,
    pub(crate) iam: Iam,
    pub(crate) config: Ec2Config,
}

pub fn check_instance_id(id: &str) -> Result<()> {
    let hex = id.strip_prefix("i-").unwrap_or("");
    if !(hex.len() == 8 || hex.len() == 17) || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::InvalidInstanceIdMalformed(id.into()));
    }
    Ok(())
}

fn check_association_id(id: &str) -> Result<()> {
    let hex = id.strip_prefix("iip-assoc-").unwrap_or("");
    if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::InvalidParameterValue(format!(
            "Invalid association ID: '{id}'"
        )));
    }
    Ok(())
}

/// Only a running or stopped instance takes an instance profile.
fn check_associable(instance: &Instance) -> Result<()> {
    match instance.state {
        InstanceState::Running | InstanceState::Stopped => Ok(()),
        _ => Err(wrong_state(instance, NeededState::RunningOrStopped)),
    }
}

/// EC2's refusal to stop or terminate an instance protected from it.
fn protected(instance: &Instance, protection: Protection) -> Error {
    Error::OperationNotPermitted(ProtectedInstance {
        instance_id: instance.id.clone(),
        protection,
    })
}

/// EC2's refusal of an operation that needs the instance in another state.
pub(crate) fn wrong_state(instance: &Instance, needs: NeededState) -> Error {
    Error::IncorrectInstanceState(WrongInstanceState {
        instance_id: instance.id.clone(),
        state: instance.state,
        needs,
    })
}

/// Only an active association can be replaced.
fn check_replaceable(association: &Association) -> Result<()> {
    match association.state.is_active() {
        true => Ok(()),
        false => Err(StoreError::NotActive(association.id.clone()).into()),
    }
}

/// Refuses control characters (C0, DEL, C1) anywhere, and values longer than `max` characters
/// or outside ASCII where EC2 requires ASCII: such values would be stored and then served raw
/// (IMDS, DescribeInstances).
fn check_text(param: &str, value: &str, max: usize, ascii: bool) -> Result<()> {
    let why = if value.chars().any(char::is_control) {
        Some("Control characters are not allowed.".to_string())
    } else if ascii && !value.is_ascii() {
        Some("Only ASCII characters are allowed.".to_string())
    } else if value.chars().count() > max {
        Some(format!("Length exceeds maximum of {max} characters."))
    } else {
        None
    };
    match why {
        Some(why) => Err(Error::InvalidParameterValue(format!(
            "Value ({}) for parameter {param} is invalid. {why}",
            value.escape_debug()
        ))),
        None => Ok(()),
    }
}

/// Instance types are `family.size` (`t3.micro`, `u-6tb1.metal`, `mac2-m2pro.metal`).
pub(crate) fn check_instance_type(v: &str) -> Result<()> {
    let part = |p: &str| {
        !p.is_empty()
            && p.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    match v.split_once('.') {
        Some((family, size)) if v.len() <= 64 && part(family) && part(size) => Ok(()),
        _ => Err(Error::InvalidParameterValue(format!(
            "Invalid value '{}' for InstanceType.",
            v.escape_debug()
        ))),
    }
}

/// The free-text fields of RunInstances, as EC2 constrains them.
fn check_run_text(input: &RunInstances) -> Result<()> {
    if let Some(t) = &input.instance_type {
        check_instance_type(t)?;
    }
    if let Some(k) = &input.key_name {
        check_text("KeyName", k, 255, true)?;
    }
    if let Some(c) = &input.client_token {
        check_text("ClientToken", c, 64, true)?;
    }
    for g in &input.security_groups {
        check_text("SecurityGroup", g, 255, true)?;
    }
    for t in &input.tags {
        check_text("Tag.Key", &t.key, 128, false)?;
        check_text("Tag.Value", &t.value, 256, false)?;
    }
    Ok(())
}

/// EC2 filter values match with `*` (any run) and `?` (one character), case-sensitively.
pub fn wildcard_match(pattern: &str, value: &str) -> bool {
    rolecall_policy::glob_match(pattern, value)
}

/// What an EC2 Describe* request asks for: the ids it names (none: all), its filters, and its
/// paging members; each Describe* reads them as EC2 does.
#[derive(Debug, Clone, Default)]
pub struct DescribeRequest {
    pub ids: Vec<String>,
    pub filters: Vec<Filter>,
    pub paging: Paging,
}

impl DescribeRequest {
    /// The page asked for (the first, of the default size, when none). `ids_exclude_max`: the
    /// Describe* refuses MaxResults together with ids.
    pub fn page(&self, ids_exclude_max: bool) -> Result<PageRequest> {
        self.paging.page(ids_exclude_max && !self.ids.is_empty())
    }

    /// As [`page`](Self::page) when the request pages (MaxResults or NextToken); EC2 answers in
    /// one page otherwise.
    pub fn page_if_asked(&self, ids_exclude_max: bool) -> Result<Option<PageRequest>> {
        if self.paging.max_results.is_none() && self.paging.next_token.is_none() {
            return Ok(None);
        }
        self.page(ids_exclude_max).map(Some)
    }
}

/// A Describe* request's paging members as sent (`MaxResults`, `NextToken`).
#[derive(Debug, Clone, Default)]
pub struct Paging {
    pub max_results: Option<i64>,
    pub next_token: Option<String>,
}

impl Paging {
    /// The page asked for; `has_ids`: the request names ids, so may not give MaxResults.
    pub fn page(&self, has_ids: bool) -> Result<PageRequest> {
        if has_ids && self.max_results.is_some() {
            return Err(Error::InvalidParameterCombination(
                "The parameter instancesSet cannot be used with the parameter maxResults".into(),
            ));
        }
        let limit = match self.max_results {
            None => 1000,
            Some(n) if (5..=1000).contains(&n) => n as usize,
            Some(n) => {
                return Err(Error::InvalidParameterValue(format!(
                    "Value ( {n} ) for parameter maxResults is invalid. Expecting a value between 5 and 1000."
                )));
            }
        };
        let from = match &self.next_token {
            Some(t) => Some(crate::paging::decode_token(t).ok_or_else(|| {
                Error::InvalidParameterValue(format!(
                    "Value ( {t} ) for parameter NextToken is invalid. The token is invalid."
                ))
            })?),
            None => None,
        };
        Ok(PageRequest { from, limit })
    }
}

impl Ec2 {
    pub fn new(store: DynStore, iam: Iam, config: Ec2Config) -> Self {
        Ec2 { store, iam, config }
    }

    pub fn config(&self) -> &Ec2Config {
        &self.config
    }

    pub fn instance_arn(&self, id: &str) -> String {
        format!(
            "arn:aws:ec2:{}:{}:instance/{id}",
            self.config.region,
            self.iam.account_id()
        )
    }

    /// Up to `max` free addresses, failing when fewer than `min` are free.
    /// The search starts `offset` addresses into the range and wraps around.
    fn allocate_ips(
        &self,
        net: Ipv4Net,
        min: usize,
        max: usize,
        used: &HashSet<Ipv4Addr>,
        offset: u32,
    ) -> Result<Vec<Ipv4Addr>> {
        // Like a VPC subnet: the network address and the next three, and the broadcast, are reserved.
        let first = u32::from(net.network()).saturating_add(4);
        let last = u32::from(net.broadcast()).saturating_sub(1);
        let start = first.saturating_add(offset % last.saturating_sub(first).saturating_add(1));
        let free: Vec<Ipv4Addr> = (start..=last)
            .chain(first..start)
            .map(Ipv4Addr::from)
            .filter(|ip| !used.contains(ip))
            .take(max)
            .collect();
        if free.len() < min {
            return Err(Error::InsufficientAddressCapacity(net));
        }
        Ok(free)
    }

    pub async fn run_instances(&self, input: RunInstances) -> Result<Reservation> {
        let profile = if input.profile_name.is_some() || input.profile_arn.is_some() {
            Some(
                self.iam
                    .resolve_instance_profile(
                        input.profile_name.as_deref(),
                        input.profile_arn.as_deref(),
                    )
                    .await,
            )
        } else {
            None
        };
        self.run_instances_resolved(input, profile).await
    }

    /// Launches instances with `profile`, the instance profile the request names as the caller
    /// resolved it (and authorized `iam:PassRole` on): the instances get exactly that profile.
    /// Its resolution error, if any, is reported where `run_instances` would report it.
    pub async fn run_instances_resolved(
        &self,
        input: RunInstances,
        profile: Option<Result<InstanceProfile>>,
    ) -> Result<Reservation> {
        let placement = self.launch_placement(&input).await;
        self.run_instances_placed(input, profile, placement).await
    }

    /// Where `input` launches (its subnet, or the default subnet of its zone; its groups).
    pub async fn launch_placement(&self, input: &RunInstances) -> Result<Placement> {
        self.placement(
            input.subnet_id.as_deref(),
            input.availability_zone.as_deref(),
            &input.security_group_ids,
            &input.security_groups,
        )
        .await
    }

    /// Launches with the profile and placement the caller resolved (and authorized). With a
    /// client token, a retry of the same launch answers the instances the token made; a
    /// different launch under a used token is IdempotentParameterMismatch.
    pub async fn run_instances_placed(
        &self,
        input: RunInstances,
        profile: Option<Result<InstanceProfile>>,
        placement: Result<Placement>,
    ) -> Result<Reservation> {
        if !crate::ec2_network::well_formed("ami", &input.image_id) {
            return Err(Error::InvalidAmiIdMalformed(input.image_id.clone()));
        }
        check_run_text(&input)?;
        self.check_launch_image(&input.image_id, input.instance_type.as_deref())
            .await?;
        if input.min_count < 1 {
            return Err(Error::InvalidParameterValue(format!(
                "Value ({}) for parameter minCount is invalid. Expected a positive integer.",
                input.min_count
            )));
        }
        if input.max_count < input.min_count {
            return Err(Error::InvalidParameterValue(format!(
                "Value ({}) for parameter maxCount is invalid. Expected a value greater than or equal to minCount ({}).",
                input.max_count, input.min_count
            )));
        }
        if input.max_count > 1000 {
            return Err(Error::InvalidParameterValue(format!(
                "Value ({}) for parameter maxCount is invalid. Expected at most 1000.",
                input.max_count
            )));
        }
        if let Some(b) = &input.shutdown_behavior
            && !matches!(b.as_str(), "stop" | "terminate")
        {
            return Err(Error::InvalidParameterValue(format!(
                "Value ({}) for parameter instanceInitiatedShutdownBehavior is invalid.",
                b.escape_debug()
            )));
        }
        check_metadata_options(&input.metadata_options)?;
        if let Some(u) = &input.user_data {
            // The 16 KB limit is on the decoded data; the parameter is base64.
            let digits = u
                .bytes()
                .filter(|b| !b.is_ascii_whitespace() && *b != b'=')
                .count();
            if digits * 3 / 4 > 16384 {
                return Err(Error::InvalidParameterValue(
                    "User data is limited to 16384 bytes".into(),
                ));
            }
        }
        let placement = placement?;
        let profile = profile.transpose()?;
        let token = match &input.client_token {
            Some(t) => {
                let request = self.canonical_launch(&input, profile.as_ref())?;
                if let Some(done) = self.token_reservation(t, &request).await? {
                    return Ok(done);
                }
                Some(ClientToken {
                    token: t.clone(),
                    request,
                    instance_ids: vec![],
                })
            }
            None => None,
        };
        let net: Ipv4Net = placement.subnet.cidr_block.parse().map_err(|e| {
            Error::internal(
                format!("bad subnet CIDR {}", placement.subnet.cidr_block),
                e,
            )
        })?;

        // The addresses in use are read before the insert, which re-checks them (a unique index):
        // when a concurrent launch takes an address first, allocate again.
        let mut attempts = 0;
        let (reservation_id, instances, associations) = loop {
            let used: HashSet<Ipv4Addr> = self
                .store
                .live_private_ips()
                .await?
                .iter()
                .filter_map(|s| s.parse().ok())
                .collect();
            let ips = match &input.private_ip {
                Some(ip) => {
                    if input.max_count > 1 {
                        return Err(Error::InvalidParameterCombination(
                            "Cannot specify a private IP address when launching more than one instance"
                                .into(),
                        ));
                    }
                    let addr: Ipv4Addr = ip.parse().map_err(|_| {
                        Error::InvalidParameterValue(format!("Invalid IPv4 address: {ip}"))
                    })?;
                    if !net.contains(&addr) {
                        return Err(Error::InvalidParameterValue(format!(
                            "Address {ip} does not fall within the subnet's address range"
                        )));
                    }
                    // The first four addresses and the last are reserved, as in a VPC subnet.
                    let n = u32::from(addr);
                    if n < u32::from(net.network()).saturating_add(4) || addr == net.broadcast() {
                        return Err(Error::InvalidParameterValue(format!(
                            "Address {ip} is in subnet's reserved address range"
                        )));
                    }
                    if used.contains(&addr) {
                        return Err(Error::InvalidParameterValue(format!(
                            "Address {ip} is in use."
                        )));
                    }
                    vec![addr]
                }
                None => {
                    // Launch as many as fit between MinCount and MaxCount, as EC2 does.
                    self.allocate_ips(
                        net,
                        input.min_count as usize,
                        input.max_count as usize,
                        &used,
                        // Lowest free addresses first; after a collision, spread out.
                        if attempts == 0 { 0 } else { rand::random() },
                    )?
                }
            };

            let now = self.iam.now();
            let reservation_id = ec2_id("r");
            let security_groups = placement.groups.clone();
            let mut instances = Vec::with_capacity(ips.len());
            let mut associations = Vec::new();
            for (index, ip) in ips.into_iter().enumerate() {
                let inst = Instance {
                    id: ec2_id("i"),
                    reservation_id: reservation_id.clone(),
                    image_id: input.image_id.clone(),
                    instance_type: input
                        .instance_type
                        .clone()
                        .unwrap_or_else(|| "m1.small".into()),
                    key_name: input.key_name.clone(),
                    state: InstanceState::Running,
                    state_reason: String::new(),
                    private_ip: ip.to_string(),
                    subnet_id: Some(placement.subnet_id.clone()),
                    vpc_id: Some(placement.subnet.vpc_id.clone()),
                    availability_zone: placement.subnet.availability_zone.clone(),
                    security_groups: security_groups.clone(),
                    user_data: input.user_data.clone(),
                    tags: input.tags.clone(),
                    metadata_options: input.metadata_options.clone(),
                    launch_time: now,
                    ami_launch_index: index as u32,
                    client_token: input.client_token.clone(),
                    disable_api_termination: input.disable_api_termination,
                    disable_api_stop: input.disable_api_stop,
                    shutdown_behavior: input
                        .shutdown_behavior
                        .clone()
                        .unwrap_or_else(|| "stop".into()),
                };
                if let Some(p) = &profile {
                    associations.push(Association {
                        id: ec2_id("iip-assoc"),
                        instance_id: inst.id.clone(),
                        profile_arn: p.arn.clone(),
                        profile_id: p.id.clone(),
                        state: AssociationState::Associated,
                        timestamp: now,
                    });
                }
                instances.push(inst);
            }
            let token = token.clone().map(|mut t| {
                t.instance_ids = instances.iter().map(|i| i.id.clone()).collect();
                t
            });
            match self
                .store
                .insert_reservation(&instances, &associations, token.as_ref())
                .await
            {
                Ok(()) => break (reservation_id, instances, associations),
                // A concurrent retry under the same token won: answer what it made.
                Err(StoreError::Conflict(Taken::ClientToken(t))) => {
                    let request = token.map(|t| t.request).unwrap_or_default();
                    return self
                        .token_reservation(&t, &request)
                        .await?
                        .ok_or_else(|| Error::Internal("client token vanished".into()));
                }
                Err(StoreError::Conflict(Taken::PrivateIp(_)))
                    if input.private_ip.is_none() && attempts < 10 =>
                {
                    attempts += 1;
                }
                Err(e) => return Err(e.into()),
            }
        };
        Ok(Reservation {
            id: reservation_id,
            instances,
            associations,
        })
    }

    /// The launch as a client token compares it: every parameter but the token, and the
    /// profile it resolved to.
    fn canonical_launch(
        &self,
        input: &RunInstances,
        profile: Option<&InstanceProfile>,
    ) -> Result<String> {
        let mut bare = input.clone();
        bare.client_token = None;
        serde_json::to_string(&(bare, profile.map(|p| &p.arn)))
            .map_err(|e| Error::internal("encode launch", e))
    }

    /// The reservation a used client token made, if the token was used; a different launch
    /// under it is IdempotentParameterMismatch.
    async fn token_reservation(&self, token: &str, request: &str) -> Result<Option<Reservation>> {
        let Some(used) = self.store.get_client_token(token).await? else {
            return Ok(None);
        };
        if used.request != request {
            return Err(Error::IdempotentParameterMismatch(
                "Arguments on this idempotent request are inconsistent with arguments used in previous request(s).".into(),
            ));
        }
        let instances = self
            .store
            .list_instances(
                &used.instance_ids,
                &PageRequest {
                    from: None,
                    limit: usize::MAX - 1,
                },
            )
            .await?;
        let mut instances = instances;
        instances.sort_by_key(|i| i.ami_launch_index);
        let associations = self.store.active_associations(&used.instance_ids).await?;
        let id = instances
            .first()
            .map(|i| i.reservation_id.clone())
            .ok_or_else(|| Error::Internal("client token without instances".into()))?;
        Ok(Some(Reservation {
            id,
            instances,
            associations,
        }))
    }

    /// Fetches instances by id, failing with NotFound for any that do not exist.
    pub(crate) async fn existing_instances(&self, ids: &[String]) -> Result<Vec<Instance>> {
        for id in ids {
            check_instance_id(id)?;
        }
        let found = self
            .store
            .list_instances(
                ids,
                &PageRequest {
                    from: None,
                    limit: usize::MAX - 1,
                },
            )
            .await?;
        let missing: Vec<String> = ids
            .iter()
            .filter(|id| !found.iter().any(|i| &i.id == *id))
            .cloned()
            .collect();
        if !missing.is_empty() {
            return Err(Error::InvalidInstanceIdNotFound(missing));
        }
        Ok(found)
    }

    pub async fn describe_instances(
        &self,
        req: &DescribeRequest,
    ) -> Result<(Vec<(Instance, Option<Association>)>, Option<String>)> {
        let page = self.instances_page(req).await?;
        let rows = self
            .store
            .query_instances(&req.ids, &req.filters, &page)
            .await?;
        let page = crate::Page::from_overfetch(rows, page.limit, |(i, _)| i.id.clone());
        Ok((page.items, page.next))
    }

    /// [`describe_instances`](Self::describe_instances) as the stored documents, unparsed.
    pub async fn describe_instance_docs(
        &self,
        req: &DescribeRequest,
    ) -> Result<(Vec<crate::InstanceDoc>, Option<String>)> {
        let page = self.instances_page(req).await?;
        let rows = self
            .store
            .query_instance_docs(&req.ids, &req.filters, &page)
            .await?;
        let page = crate::Page::from_overfetch(rows, page.limit, |d| d.id.clone());
        Ok((page.items, page.next))
    }

    /// The page of instances a DescribeInstances asks for, its parameters checked.
    async fn instances_page(&self, req: &DescribeRequest) -> Result<PageRequest> {
        let page = req.page(true)?;
        let ids = &req.ids;
        for f in &req.filters {
            check_instance_filter(&f.name)?;
        }
        // By id: every id must exist (NotFound before any filtering), and the token is not used.
        let from = if ids.is_empty() {
            page.from.clone()
        } else {
            self.existing_instances(ids).await?;
            None
        };
        Ok(PageRequest {
            from,
            limit: page.limit,
        })
    }

    /// Moves instances between states. Every instance is checked before any changes (EC2 refuses
    /// the whole call if one cannot move); each move is then applied to the instance as it is
    /// inside the store's transaction, so concurrent calls cannot undo each other.
    async fn change_states(&self, ids: &[String], apply: Transition) -> Result<Vec<StateChange>> {
        if ids.is_empty() {
            return Err(Error::MissingParameter(
                "The request must contain the parameter InstanceId".into(),
            ));
        }
        for inst in &self.existing_instances(ids).await? {
            apply(inst)?;
        }
        let mut changes = Vec::new();
        for id in ids {
            let seen = std::sync::Arc::new(std::sync::Mutex::new(None));
            let report = seen.clone();
            let now = self.iam.now();
            let edit = move |inst: &mut Instance| {
                let previous = inst.state;
                let (reported, stored) = apply(inst)?.unwrap_or((previous, previous));
                if stored != previous {
                    inst.state = stored;
                    // As on EC2, starting a stopped instance sets its launch time anew; credentials
                    // issued before it (in an earlier run) are refused by verifiers.
                    if stored == InstanceState::Running {
                        inst.launch_time = now;
                    }
                    inst.state_reason = match stored {
                        InstanceState::Stopped | InstanceState::Terminated => {
                            format!("User initiated ({})", now.format("%Y-%m-%d %H:%M:%S GMT"))
                        }
                        _ => String::new(),
                    };
                }
                if let Ok(mut r) = report.lock() {
                    *r = Some((previous, reported));
                }
                Ok(())
            };
            self.store.modify_instance(id, now, Box::new(edit)).await?;
            let (previous, current) = seen
                .lock()
                .ok()
                .and_then(|r| *r)
                .ok_or_else(|| Error::Internal("state change not recorded".into()))?;
            changes.push(StateChange {
                instance_id: id.clone(),
                previous,
                current,
            });
        }
        Ok(changes)
    }

    pub async fn start_instances(&self, ids: &[String]) -> Result<Vec<StateChange>> {
        self.change_states(ids, |i| match i.state {
            InstanceState::Stopped => Ok(Some((InstanceState::Pending, InstanceState::Running))),
            InstanceState::Running | InstanceState::Pending => Ok(None),
            _ => Err(wrong_state(i, NeededState::Startable)),
        })
        .await
    }

    pub async fn stop_instances(&self, ids: &[String]) -> Result<Vec<StateChange>> {
        self.change_states(ids, |i| match i.state {
            InstanceState::Running | InstanceState::Pending if i.disable_api_stop => {
                Err(protected(i, Protection::Stop))
            }
            InstanceState::Running | InstanceState::Pending => {
                Ok(Some((InstanceState::Stopping, InstanceState::Stopped)))
            }
            InstanceState::Stopped | InstanceState::Stopping => Ok(None),
            _ => Err(wrong_state(i, NeededState::Stoppable)),
        })
        .await
    }

    pub async fn terminate_instances(&self, ids: &[String]) -> Result<Vec<StateChange>> {
        self.change_states(ids, |i| match i.state {
            InstanceState::Terminated => Ok(None),
            _ if i.disable_api_termination => Err(protected(i, Protection::Termination)),
            _ => Ok(Some((
                InstanceState::ShuttingDown,
                InstanceState::Terminated,
            ))),
        })
        .await
    }

    pub async fn modify_instance_metadata_options(
        &self,
        id: &str,
        change: impl FnOnce(&mut MetadataOptions) + Send + 'static,
    ) -> Result<Instance> {
        check_instance_id(id)?;
        let edit = move |inst: &mut Instance| {
            if inst.state == InstanceState::Terminated {
                return Err(wrong_state(inst, NeededState::NotTerminated));
            }
            change(&mut inst.metadata_options);
            check_metadata_options(&inst.metadata_options)
        };
        let now = self.iam.now();
        Ok(self.store.modify_instance(id, now, Box::new(edit)).await?)
    }

    /// The instance `id`, or InvalidInstanceID.Malformed / InvalidInstanceID.NotFound.
    pub async fn existing_instance(&self, id: &str) -> Result<Instance> {
        Ok(self.existing_instances(&[id.to_string()]).await?.remove(0))
    }

    /// The instance `id` if it exists (no format check: authorization describes what is there).
    pub async fn find_instance(&self, id: &str) -> Result<Option<Instance>> {
        Ok(self.store.get_instance(id).await?)
    }

    /// The instance's active association, if any.
    pub async fn active_association(&self, instance_id: &str) -> Result<Option<Association>> {
        Ok(self
            .store
            .active_associations(&[instance_id.to_string()])
            .await?
            .into_iter()
            .next())
    }

    pub async fn associate_iam_instance_profile(
        &self,
        instance_id: &str,
        name: Option<&str>,
        arn: Option<&str>,
    ) -> Result<Association> {
        let instance = self.existing_instance(instance_id).await;
        let profile = self.iam.resolve_instance_profile(name, arn).await;
        self.associate_resolved(instance, profile).await
    }

    /// Associates `profile` with `instance`, both resolved by the caller (who authorized on
    /// them): the errors of resolving them are reported in AWS's order (the instance, its state,
    /// then the profile).
    pub async fn associate_resolved(
        &self,
        instance: Result<Instance>,
        profile: Result<InstanceProfile>,
    ) -> Result<Association> {
        let inst = instance?;
        check_associable(&inst)?;
        let association = self.new_association(inst.id, profile?);
        self.store.insert_association(&association).await?;
        Ok(association)
    }

    /// The association `id`, or InvalidAssociationID.NotFound (or a malformed-id error).
    pub async fn existing_association(&self, id: &str) -> Result<Association> {
        check_association_id(id)?;
        self.store
            .get_association(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(Missing::Association(id.into())).into())
    }

    pub async fn replace_iam_instance_profile_association(
        &self,
        association_id: &str,
        name: Option<&str>,
        arn: Option<&str>,
    ) -> Result<Association> {
        let old = self.existing_association(association_id).await;
        let profile = self.iam.resolve_instance_profile(name, arn).await;
        self.replace_resolved(old, profile).await
    }

    /// Replaces the active association `old` by one with `profile`, both resolved by the caller.
    pub async fn replace_resolved(
        &self,
        old: Result<Association>,
        profile: Result<InstanceProfile>,
    ) -> Result<Association> {
        let old = old?;
        check_replaceable(&old)?;
        let new = self.new_association(old.instance_id.clone(), profile?);
        self.store.replace_association(&old.id, &new).await?;
        Ok(new)
    }

    /// An association of the instance `instance_id` with `profile`, made now.
    fn new_association(&self, instance_id: String, profile: InstanceProfile) -> Association {
        Association {
            id: ec2_id("iip-assoc"),
            instance_id,
            profile_arn: profile.entity.arn,
            profile_id: profile.entity.id,
            state: AssociationState::Associated,
            timestamp: self.iam.now(),
        }
    }

    pub async fn disassociate_iam_instance_profile(
        &self,
        association_id: &str,
    ) -> Result<Association> {
        let old = self.existing_association(association_id).await;
        self.disassociate_resolved(old).await
    }

    /// Ends the association `old`, resolved by the caller.
    pub async fn disassociate_resolved(&self, old: Result<Association>) -> Result<Association> {
        let old = old?;
        Ok(self.store.end_association(&old.id, self.iam.now()).await?)
    }

    pub async fn describe_iam_instance_profile_associations(
        &self,
        req: &DescribeRequest,
    ) -> Result<(Vec<Association>, Option<String>)> {
        let page = req.page(false)?;
        let (ids, filters) = (&req.ids, &req.filters);
        if !ids.is_empty() && req.paging.max_results.is_some() {
            return Err(Error::InvalidParameterCombination(
                "The parameter associationIds cannot be used with the parameter maxResults".into(),
            ));
        }
        for f in filters {
            if !matches!(f.name.as_str(), "instance-id" | "state") {
                return Err(Error::InvalidParameterValue(format!(
                    "The filter '{}' is invalid",
                    f.name
                )));
            }
        }
        for id in ids {
            check_association_id(id)?;
        }
        if !ids.is_empty() {
            let found = self.store.list_associations(ids, &page).await?;
            if let Some(missing) = ids.iter().find(|id| !found.iter().any(|a| &a.id == *id)) {
                return Err(Error::InvalidAssociationIdNotFound(missing.clone()));
            }
        }
        // Ended associations are shown only when asked for by id or state, as EC2 soon forgets them.
        let include_ended = !ids.is_empty() || filters.iter().any(|f| f.name == "state");
        let rows = self
            .store
            .query_associations(
                &AssociationQuery {
                    ids,
                    filters,
                    include_ended,
                },
                &page,
            )
            .await?;
        let page = crate::Page::from_overfetch(rows, page.limit, |a| a.id.clone());
        Ok((page.items, page.next))
    }
}

pub fn check_metadata_options(m: &MetadataOptions) -> Result<()> {
    let bad = |p: &str, v: &str| {
        Error::InvalidParameterValue(format!("Value ({v}) for parameter {p} is invalid."))
    };
    if !matches!(m.http_tokens.as_str(), "optional" | "required") {
        return Err(bad("HttpTokens", &m.http_tokens));
    }
    if !matches!(m.http_endpoint.as_str(), "enabled" | "disabled") {
        return Err(bad("HttpEndpoint", &m.http_endpoint));
    }
    if !matches!(m.instance_metadata_tags.as_str(), "enabled" | "disabled") {
        return Err(bad("InstanceMetadataTags", &m.instance_metadata_tags));
    }
    if !matches!(m.http_protocol_ipv6.as_str(), "enabled" | "disabled") {
        return Err(bad("HttpProtocolIpv6", &m.http_protocol_ipv6));
    }
    if !(1..=64).contains(&m.http_put_response_hop_limit) {
        return Err(bad(
            "HttpPutResponseHopLimit",
            &m.http_put_response_hop_limit.to_string(),
        ));
    }
    Ok(())
}

const INSTANCE_FILTERS: &[&str] = &[
    "instance-id",
    "instance-state-name",
    "instance-state-code",
    "iam-instance-profile.arn",
    "iam-instance-profile.id",
    "tag-key",
    "instance-type",
    "image-id",
    "key-name",
    "private-ip-address",
    "subnet-id",
    "reservation-id",
    "availability-zone",
    "metadata-options.http-tokens",
    "metadata-options.http-endpoint",
];

fn check_instance_filter(name: &str) -> Result<()> {
    if INSTANCE_FILTERS.contains(&name) || name.strip_prefix("tag:").is_some_and(|k| !k.is_empty())
    {
        Ok(())
    } else {
        Err(Error::InvalidParameterValue(format!(
            "The filter '{name}' is invalid"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        for id in ["i-1234567890abcdef0", "i-12345678"] {
            assert!(check_instance_id(id).is_ok(), "{id}");
        }
        assert!(matches!(
            check_instance_id("i-xyz"),
            Err(Error::InvalidInstanceIdMalformed(_))
        ));
        assert!(crate::ec2_network::well_formed("ami", "ami-11aa22bb"));
        assert!(!crate::ec2_network::well_formed("ami", "ami-zz"));
    }

    #[test]
    fn text_fields_refuse_control_characters() {
        for t in ["t3.micro", "m5.large", "u-6tb1.metal", "mac2-m2pro.metal"] {
            assert!(check_instance_type(t).is_ok(), "{t}");
        }
        for t in ["", "t3", "t3.micro\0", "T3.micro", "t3.micro\n", ".x", "a."] {
            assert!(check_instance_type(t).is_err(), "{t:?}");
        }
        assert!(check_text("KeyName", "my key", 255, true).is_ok());
        assert!(check_text("KeyName", "nul\0key", 255, true).is_err());
        assert!(check_text("KeyName", "esc\u{1b}[31m", 255, true).is_err());
        assert!(check_text("KeyName", "clé", 255, true).is_err());
        assert!(check_text("ClientToken", &"x".repeat(65), 64, true).is_err());
        assert!(check_text("Tag.Value", "naïve", 256, false).is_ok());
        assert!(check_text("Tag.Value", "c1\u{85}", 256, false).is_err());
        let Err(Error::InvalidParameterValue(m)) = check_text("KeyName", "a\0b", 255, true) else {
            panic!("expected InvalidParameterValue");
        };
        assert!(
            !m.contains('\0'),
            "the message must not carry the raw NUL: {m:?}"
        );
    }
}
