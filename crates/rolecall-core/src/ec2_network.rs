//! The EC2 network: the default VPC (the configured CIDR, AWS's 172.31.0.0/16 by default), one
//! default subnet per availability zone (AWS's /20 layout when the VPC is /18 or larger,
//! otherwise one subnet spanning the VPC in the first zone) and the VPC's `default` security
//! group, created once on first use. Where a launch goes (subnet, VPC, zone, groups).

use crate::ec2::{DescribeRequest, Ec2, Filter, wildcard_match};
use crate::ec2_errors::MissingGroup;
use crate::model::*;
use crate::{Error, Result, StoreError, Taken};
use ipnet::Ipv4Net;
use rolecall_crypto::ec2_id;

/// Where instances of one launch go.
#[derive(Debug, Clone)]
pub struct Placement {
    /// The subnet whose range the private IPs come from.
    pub subnet: Subnet,
    /// The subnet id the instances record (the subnet's, or in development mode an unknown
    /// id as given).
    pub subnet_id: String,
    pub groups: Vec<GroupIdentifier>,
}

/// The default network of a VPC CIDR: the VPC, its subnets, its default group.
fn plan_default_network(cidr: Ipv4Net, zones: &[String]) -> Vec<NetworkResource> {
    let vpc = Vpc {
        id: ec2_id("vpc"),
        cidr_block: cidr.to_string(),
        is_default: true,
        tags: vec![],
    };
    let blocks: Vec<(Ipv4Net, &String)> = match cidr.subnets(20) {
        Ok(blocks) if cidr.prefix_len() <= 18 => blocks.zip(zones).collect(),
        _ => zones.first().map(|z| (cidr, z)).into_iter().collect(),
    };
    let mut out = vec![NetworkResource::Vpc(vpc.clone())];
    for (block, zone) in blocks {
        out.push(NetworkResource::Subnet(Subnet {
            id: ec2_id("subnet"),
            vpc_id: vpc.id.clone(),
            cidr_block: block.to_string(),
            availability_zone: zone.clone(),
            default_for_az: true,
            map_public_ip_on_launch: true,
            tags: vec![],
        }));
    }
    out.push(NetworkResource::SecurityGroup(SecurityGroup {
        id: ec2_id("sg"),
        vpc_id: vpc.id,
        group_name: "default".into(),
        description: "default VPC security group".into(),
        tags: vec![],
    }));
    out
}

/// `prefix-` followed by 8 or 17 hex digits.
pub fn well_formed(prefix: &str, id: &str) -> bool {
    let hex = id
        .strip_prefix(prefix)
        .and_then(|r| r.strip_prefix('-'))
        .unwrap_or("");
    (hex.len() == 8 || hex.len() == 17) && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Ok when `id` is a well-formed `prefix-…` id, else `malformed`'s error for it.
pub(crate) fn check_id(prefix: &str, id: &str, malformed: fn(String) -> Error) -> Result<()> {
    if well_formed(prefix, id) {
        Ok(())
    } else {
        Err(malformed(id.into()))
    }
}

pub fn check_subnet_id(id: &str) -> Result<()> {
    check_id("subnet", id, Error::InvalidSubnetIdMalformed)
}

pub fn check_group_id(id: &str) -> Result<()> {
    check_id("sg", id, Error::InvalidGroupIdMalformed)
}

pub fn check_vpc_id(id: &str) -> Result<()> {
    check_id("vpc", id, Error::InvalidVpcIdMalformed)
}

/// Usable addresses of a subnet's CIDR block: all but the first four and the last, as in a VPC.
pub fn usable_addresses(cidr: &str) -> u64 {
    cidr.parse::<Ipv4Net>()
        .map(|n| (1u64 << (32 - u32::from(n.prefix_len()))).saturating_sub(5))
        .unwrap_or(0)
}

pub(crate) fn any_match(f: &Filter, values: &[&str]) -> bool {
    f.values
        .iter()
        .any(|p| values.iter().any(|v| wildcard_match(p, v)))
}

pub(crate) fn tag_filter(f: &Filter, tags: &[Tag]) -> Option<bool> {
    if f.name == "tag-key" {
        let keys: Vec<&str> = tags.iter().map(|t| t.key.as_str()).collect();
        return Some(any_match(f, &keys));
    }
    if f.name == "tag-value" {
        let values: Vec<&str> = tags.iter().map(|t| t.value.as_str()).collect();
        return Some(any_match(f, &values));
    }
    let key = f.name.strip_prefix("tag:").filter(|k| !k.is_empty())?;
    let values: Vec<&str> = tags
        .iter()
        .filter(|t| t.key == key)
        .map(|t| t.value.as_str())
        .collect();
    Some(any_match(f, &values))
}

pub(crate) fn invalid_filter(name: &str) -> Error {
    Error::InvalidParameterValue(format!("The filter '{name}' is invalid"))
}

/// Whether `f` holds for a resource whose filterable fields are `fields`; an unknown filter name
/// is an error.
fn matches(f: &Filter, fields: &[(&str, Vec<&str>)], tags: &[Tag]) -> Result<bool> {
    if let Some(m) = tag_filter(f, tags) {
        return Ok(m);
    }
    match fields.iter().find(|(n, _)| *n == f.name) {
        Some((_, values)) => Ok(any_match(f, values)),
        None => Err(invalid_filter(&f.name)),
    }
}

fn bool_str(b: bool) -> &'static str {
    if b { "true" } else { "false" }
}

/// A page of `items` (sorted by id) after `from`, at most `limit`, and the next page's first id.
pub(crate) fn page<T>(
    mut items: Vec<T>,
    id: impl Fn(&T) -> &str,
    req: &crate::PageRequest,
) -> (Vec<T>, Option<String>) {
    if let Some(from) = &req.from {
        items.retain(|i| id(i) >= from.as_str());
    }
    let next = items.get(req.limit).map(|i| id(i).to_string());
    items.truncate(req.limit);
    (items, next)
}

impl Ec2 {
    /// The default network, created on first use (once, also across nodes: the defaults' keys
    /// are unique, and the loser of a race reads the winner's).
    pub async fn default_network(&self) -> Result<(Vpc, Vec<Subnet>, SecurityGroup)> {
        for _ in 0..2 {
            if let Some(found) = self.read_default_network().await? {
                return Ok(found);
            }
            let plan =
                plan_default_network(self.config.instance_cidr, &self.config.availability_zones());
            match self.store.insert_network(&plan).await {
                Ok(()) | Err(StoreError::Conflict(Taken::DefaultNetwork(_))) => {}
                Err(e) => return Err(e.into()),
            }
        }
        self.read_default_network()
            .await?
            .ok_or_else(|| Error::Internal("default network missing after creation".into()))
    }

    async fn read_default_network(&self) -> Result<Option<(Vpc, Vec<Subnet>, SecurityGroup)>> {
        let vpc = self
            .network_items::<Vpc>()
            .await?
            .into_iter()
            .find(|v| v.is_default);
        let Some(vpc) = vpc else { return Ok(None) };
        let mut subnets: Vec<Subnet> = self
            .network_items::<Subnet>()
            .await?
            .into_iter()
            .filter(|s| s.vpc_id == vpc.id && s.default_for_az)
            .collect();
        // In zone order: the first is where a launch without a subnet or zone goes.
        subnets.sort_by(|a, b| a.availability_zone.cmp(&b.availability_zone));
        let group = self
            .network_items::<SecurityGroup>()
            .await?
            .into_iter()
            .find(|g| g.vpc_id == vpc.id && g.group_name == "default");
        Ok(group.map(|g| (vpc, subnets, g)))
    }

    /// The account's network resources of one kind (`T`).
    pub(crate) async fn network_items<T: NetworkItem>(&self) -> Result<Vec<T>> {
        let all = self.store.list_network(T::KIND).await?;
        Ok(all.into_iter().filter_map(T::from_resource).collect())
    }

    /// The security groups `ids` of the VPC `vpc_id` as an instance names them: one that does not
    /// exist there by its id alone, or InvalidGroup.NotFound when ids are strict.
    pub(crate) async fn groups_by_id(
        &self,
        vpc_id: &str,
        ids: &[String],
    ) -> Result<Vec<GroupIdentifier>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let found = self.store.get_network(ids).await?;
        let in_vpc = |id: &str| {
            found.iter().find_map(|r| match r {
                NetworkResource::SecurityGroup(g) if g.id == id && g.vpc_id == vpc_id => Some(g),
                _ => None,
            })
        };
        ids.iter()
            .map(|id| match in_vpc(id) {
                Some(g) => Ok(GroupIdentifier {
                    group_id: Some(g.id.clone()),
                    group_name: Some(g.group_name.clone()),
                }),
                None if self.config.strict_ids => {
                    Err(Error::InvalidGroupNotFound(MissingGroup::InVpc {
                        group_id: id.clone(),
                        vpc_id: vpc_id.into(),
                    }))
                }
                None => Ok(GroupIdentifier {
                    group_id: Some(id.clone()),
                    group_name: None,
                }),
            })
            .collect()
    }

    /// Where a launch goes: the subnet named (or the default subnet of `zone`, or of the first
    /// zone), and its security groups (by id or, in the default VPC, by name; the VPC's
    /// `default` group when none).
    pub async fn placement(
        &self,
        subnet_id: Option<&str>,
        zone: Option<&str>,
        group_ids: &[String],
        group_names: &[String],
    ) -> Result<Placement> {
        let (vpc, defaults, default_group) = self.default_network().await?;
        let first_default = || {
            defaults
                .first()
                .cloned()
                .ok_or_else(|| Error::Internal("no default subnet".into()))
        };
        let (subnet, recorded) = match subnet_id {
            Some(id) => {
                check_subnet_id(id)?;
                let found = self.store.get_network(&[id.to_string()]).await?;
                match found.into_iter().next() {
                    Some(NetworkResource::Subnet(s)) => (s, id.to_string()),
                    _ if self.config.strict_ids => return Err(Subnet::not_found(id)),
                    _ => (first_default()?, id.to_string()),
                }
            }
            None => {
                let s = match zone {
                    Some(z) => defaults
                        .iter()
                        .find(|s| s.availability_zone == z)
                        .cloned()
                        .ok_or_else(|| {
                            Error::InvalidParameterValue(format!(
                                "Invalid availability zone: [{z}]"
                            ))
                        })?,
                    None => first_default()?,
                };
                let id = s.id.clone();
                (s, id)
            }
        };
        if let Some(z) = zone
            && z != subnet.availability_zone
            && subnet_id.is_some()
        {
            return Err(Error::InvalidParameterValue(format!(
                "The specified availability zone '{z}' does not match the subnet's zone '{}'.",
                subnet.availability_zone
            )));
        }
        let groups = self
            .launch_groups(&subnet.vpc_id, &vpc, group_ids, group_names)
            .await?
            .unwrap_or_else(|| {
                vec![GroupIdentifier {
                    group_id: Some(default_group.id.clone()),
                    group_name: Some(default_group.group_name.clone()),
                }]
            });
        Ok(Placement {
            subnet,
            subnet_id: recorded,
            groups,
        })
    }

    /// The groups a launch names (None when it names none).
    async fn launch_groups(
        &self,
        vpc_id: &str,
        default_vpc: &Vpc,
        ids: &[String],
        names: &[String],
    ) -> Result<Option<Vec<GroupIdentifier>>> {
        if ids.is_empty() && names.is_empty() {
            return Ok(None);
        }
        for id in ids {
            check_group_id(id)?;
        }
        let mut out = self.groups_by_id(vpc_id, ids).await?;
        let groups = match names.is_empty() {
            true => Vec::new(),
            false => self.network_items::<SecurityGroup>().await?,
        };
        for name in names {
            match groups
                .iter()
                .find(|g| g.group_name == *name && g.vpc_id == default_vpc.id)
            {
                Some(g) => out.push(GroupIdentifier {
                    group_id: Some(g.id.clone()),
                    group_name: Some(g.group_name.clone()),
                }),
                None if self.config.strict_ids => {
                    return Err(Error::InvalidGroupNotFound(MissingGroup::InDefaultVpc {
                        name: name.clone(),
                        vpc_id: default_vpc.id.clone(),
                    }));
                }
                None => out.push(GroupIdentifier {
                    group_id: None,
                    group_name: Some(name.clone()),
                }),
            }
        }
        Ok(Some(out))
    }

    /// DescribeVpcs or DescribeSubnets: the items of kind `T` that `ids` name (all when none) and
    /// every filter matches, paged by id when asked.
    pub async fn describe_network<T: Described>(
        &self,
        req: &DescribeRequest,
    ) -> Result<(Vec<T>, Option<String>)> {
        let (page_req, _) = self.network_described(req).await?;
        let all = self.existing_items::<T>(&req.ids).await?;
        self.described(all, req, page_req)
    }

    pub async fn describe_security_groups(
        &self,
        req: &DescribeRequest,
        names: &[String],
    ) -> Result<(Vec<SecurityGroup>, Option<String>)> {
        let (page_req, default_vpc) = self.network_described(req).await?;
        let all = self.existing_items::<SecurityGroup>(&req.ids).await?;
        // Names are looked up in the default VPC, as EC2 does for GroupName.N.
        let named = |g: &SecurityGroup| names.contains(&g.group_name) && g.vpc_id == default_vpc.id;
        if let Some(missing) = names.iter().find(|n| {
            !all.iter()
                .any(|g| g.group_name == **n && g.vpc_id == default_vpc.id)
        }) {
            return Err(Error::InvalidGroupNotFound(MissingGroup::InDefaultVpc {
                name: missing.clone(),
                vpc_id: default_vpc.id,
            }));
        }
        let chosen = all.into_iter().filter(|g| names.is_empty() || named(g));
        self.described(chosen, req, page_req)
    }

    /// The page a network Describe asks for, checked before anything is looked up (as EC2
    /// checks its parameters first), and the default VPC, its network made if need be.
    async fn network_described(
        &self,
        req: &DescribeRequest,
    ) -> Result<(Option<crate::PageRequest>, Vpc)> {
        let page_req = req.page_if_asked(false)?;
        let (default_vpc, _, _) = self.default_network().await?;
        Ok((page_req, default_vpc))
    }

    /// Every item of kind `T`, once each of `ids` is found well formed and existing (else the
    /// error for the first that is not).
    async fn existing_items<T: Described>(&self, ids: &[String]) -> Result<Vec<T>> {
        for id in ids {
            T::check_id(id)?;
        }
        let all = self.network_items::<T>().await?;
        match ids
            .iter()
            .find(|id| !all.iter().any(|i| i.id() == id.as_str()))
        {
            Some(missing) => Err(T::not_found(missing)),
            None => Ok(all),
        }
    }

    /// What a Describe call answers of `items`: those the request's ids name (all when none)
    /// that every filter matches, paged by id when asked (`page_req`, MaxResults allowed with
    /// ids).
    fn described<T: Described>(
        &self,
        items: impl IntoIterator<Item = T>,
        req: &DescribeRequest,
        page_req: Option<crate::PageRequest>,
    ) -> Result<(Vec<T>, Option<String>)> {
        let (ids, filters) = (&req.ids, &req.filters);
        let owner = self.iam.account_id();
        let mut out = Vec::new();
        for item in items {
            if !ids.is_empty() && !ids.iter().any(|id| id == item.id()) {
                continue;
            }
            let fields = item.filter_fields(owner);
            let kept = filters.iter().try_fold(true, |ok, f| {
                Ok::<_, Error>(ok && matches(f, &fields, item.tags())?)
            })?;
            if kept {
                out.push(item);
            }
        }
        Ok(match &page_req {
            Some(p) => page(out, |i| i.id(), p),
            None => (out, None),
        })
    }
}

/// A network item Describe calls list: how its ids are checked and reported missing, and the
/// values its filters read, by filter name (`owner` is the account's id).
pub trait Described: NetworkItem {
    /// Ok for a well-formed id, else EC2's Malformed error.
    fn check_id(id: &str) -> Result<()>;
    /// EC2's NotFound error for a well-formed id that does not exist.
    fn not_found(id: &str) -> Error;
    fn filter_fields<'a>(&'a self, owner: &'a str) -> Vec<(&'static str, Vec<&'a str>)>;
}

/// One row per kind: `Kind(id check, NotFound error for an id) |item, owner| [filter fields]`.
macro_rules! described {
    ($($item:ident($check:path, $not_found:expr)
        |$it:ident, $owner:ident| $fields:expr;)*) => {$(
        impl Described for $item {
            fn check_id(id: &str) -> Result<()> {
                $check(id)
            }
            fn not_found(id: &str) -> Error {
                ($not_found)(id.to_string())
            }
            fn filter_fields<'a>(&'a self, $owner: &'a str) -> Vec<(&'static str, Vec<&'a str>)> {
                let $it = self;
                $fields.into()
            }
        }
    )*};
}

described! {
    Vpc(check_vpc_id, Error::InvalidVpcIdNotFound) |v, owner| [
        ("vpc-id", vec![v.id.as_str()]),
        ("cidr", vec![v.cidr_block.as_str()]),
        ("cidr-block-association.cidr-block", vec![v.cidr_block.as_str()]),
        ("is-default", vec![bool_str(v.is_default)]),
        ("state", vec!["available"]),
        ("owner-id", vec![owner]),
        ("dhcp-options-id", vec!["default"]),
    ];
    Subnet(check_subnet_id, Error::InvalidSubnetIdNotFound) |s, owner| [
        ("subnet-id", vec![s.id.as_str()]),
        ("vpc-id", vec![s.vpc_id.as_str()]),
        ("cidr", vec![s.cidr_block.as_str()]),
        ("cidr-block", vec![s.cidr_block.as_str()]),
        ("cidrBlock", vec![s.cidr_block.as_str()]),
        ("availability-zone", vec![s.availability_zone.as_str()]),
        ("availabilityZone", vec![s.availability_zone.as_str()]),
        ("default-for-az", vec![bool_str(s.default_for_az)]),
        ("defaultForAz", vec![bool_str(s.default_for_az)]),
        ("map-public-ip-on-launch", vec![bool_str(s.map_public_ip_on_launch)]),
        ("state", vec!["available"]),
        ("owner-id", vec![owner]),
    ];
    SecurityGroup(check_group_id, |id| Error::InvalidGroupNotFound(MissingGroup::Id(id))) |g, owner| [
        ("group-id", vec![g.id.as_str()]),
        ("group-name", vec![g.group_name.as_str()]),
        ("description", vec![g.description.as_str()]),
        ("vpc-id", vec![g.vpc_id.as_str()]),
        ("owner-id", vec![owner]),
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_default_layout_is_slash_20_per_zone() {
        let zones: Vec<String> = ["us-east-1a", "us-east-1b", "us-east-1c"]
            .iter()
            .map(|z| z.to_string())
            .collect();
        let plan = plan_default_network("172.31.0.0/16".parse().unwrap(), &zones);
        let subnets: Vec<(String, String)> = plan
            .iter()
            .filter_map(|r| match r {
                NetworkResource::Subnet(s) => {
                    Some((s.cidr_block.clone(), s.availability_zone.clone()))
                }
                _ => None,
            })
            .collect();
        assert_eq!(
            subnets,
            vec![
                ("172.31.0.0/20".to_string(), "us-east-1a".to_string()),
                ("172.31.16.0/20".to_string(), "us-east-1b".to_string()),
                ("172.31.32.0/20".to_string(), "us-east-1c".to_string()),
            ]
        );
        // A small VPC is one subnet, in the first zone.
        let small = plan_default_network("10.9.0.0/24".parse().unwrap(), &zones);
        let subnets: Vec<Subnet> = small
            .into_iter()
            .filter_map(Subnet::from_resource)
            .collect();
        assert_eq!(subnets.len(), 1);
        assert_eq!(subnets[0].cidr_block, "10.9.0.0/24");
        assert!(well_formed("vpc", plan[0].id()) && plan[0].id().len() == 21);
    }

    #[test]
    fn ids_are_checked_for_form() {
        assert!(check_subnet_id("subnet-1a2b3c4d").is_ok());
        assert!(matches!(
            check_subnet_id("subnet-NOTHEX"),
            Err(Error::InvalidSubnetIdMalformed(_))
        ));
        assert!(matches!(
            check_group_id("sg-nothex!"),
            Err(Error::InvalidGroupIdMalformed(_))
        ));
    }
}
