//! EC2 tags: CreateTags, DeleteTags and DescribeTags over instances, VPCs, subnets, security
//! groups, and images by id (not modelled: any well-formed `ami-` id, as RunInstances takes). DescribeTags filters in the database.

use crate::ec2::{DescribeRequest, Ec2, check_instance_id, wildcard_match};
use crate::ec2_errors::MissingGroup;
use crate::ec2_network::{check_group_id, check_subnet_id, check_vpc_id, well_formed};
use crate::model::*;
use crate::{Error, Result};
use std::collections::HashSet;

/// The resource type EC2 names for a resource id, by its prefix; InvalidID for others.
pub fn resource_type(id: &str) -> Result<&'static str> {
    let kind = match id.split_once('-').map(|(p, _)| p) {
        Some("i") => "instance",
        Some("vpc") => "vpc",
        Some("subnet") => "subnet",
        Some("sg") => "security-group",
        Some("ami") => "image",
        _ => {
            return Err(Error::InvalidId(id.into()));
        }
    };
    Ok(kind)
}

/// A tag key and value as EC2 accepts them.
pub fn check_tag(key: &str, value: &str) -> Result<()> {
    if key.is_empty() || key.chars().count() > 128 || key.chars().any(char::is_control) {
        return Err(Error::InvalidParameterValue(format!(
            "Tag key '{}' is invalid.",
            key.escape_debug()
        )));
    }
    if key.to_ascii_lowercase().starts_with("aws:") {
        return Err(Error::InvalidParameterValue(
            "Tag keys starting with 'aws:' are reserved for internal use".into(),
        ));
    }
    if value.chars().count() > 256 || value.chars().any(char::is_control) {
        return Err(Error::InvalidParameterValue(
            "Tag value exceeds the maximum length of 256 characters or holds control characters."
                .into(),
        ));
    }
    Ok(())
}

const TAG_FILTERS: &[&str] = &["key", "value", "resource-id", "resource-type"];

impl Ec2 {
    /// Which of the well-formed VPC, subnet and security group ids among `ids` exist, read in
    /// one query (the default network is made first, as its ids are the caller's too); nothing
    /// is read when there are none.
    async fn known_network_ids(&self, ids: &[String]) -> Result<HashSet<String>> {
        let network: Vec<String> = ids
            .iter()
            .filter(|id| match resource_type(id) {
                Ok("vpc") => check_vpc_id(id).is_ok(),
                Ok("subnet") => check_subnet_id(id).is_ok(),
                Ok("security-group") => check_group_id(id).is_ok(),
                _ => false,
            })
            .cloned()
            .collect();
        if network.is_empty() {
            return Ok(HashSet::new());
        }
        self.default_network().await?;
        let found = self.store.get_network(&network).await?;
        Ok(found.iter().map(|r| r.id().to_string()).collect())
    }

    /// The resources a tag call names, each with its type, checked to exist (instances in the
    /// store's transaction).
    async fn tag_targets(&self, ids: &[String]) -> Result<Vec<(String, String)>> {
        if ids.is_empty() {
            return Err(Error::MissingParameter(
                "The request must contain the parameter resourceIdSet".into(),
            ));
        }
        let known = self.known_network_ids(ids).await?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let kind = resource_type(id)?;
            match kind {
                "instance" => check_instance_id(id)?,
                "vpc" => check_vpc_id(id)?,
                "subnet" => check_subnet_id(id)?,
                "security-group" => check_group_id(id)?,
                _ => {
                    if !well_formed("ami", id) {
                        return Err(Error::InvalidAmiIdMalformed(id.clone()));
                    }
                }
            }
            if matches!(kind, "vpc" | "subnet" | "security-group") && !known.contains(id.as_str()) {
                let id = id.clone();
                return Err(match kind {
                    "vpc" => Error::InvalidVpcIdNotFound(id),
                    "subnet" => Error::InvalidSubnetIdNotFound(id),
                    _ => Error::InvalidGroupNotFound(MissingGroup::Id(id)),
                });
            }
            out.push((id.clone(), kind.to_string()));
        }
        Ok(out)
    }

    pub async fn create_tags(&self, ids: &[String], tags: &[Tag]) -> Result<()> {
        for t in tags {
            check_tag(&t.key, &t.value)?;
        }
        let targets = self.tag_targets(ids).await?;
        Ok(self.store.put_tags(&targets, tags).await?)
    }

    /// Removes tags: a key alone removes it whatever its value; a key with a value only when it
    /// matches; no tags removes every tag of the resources.
    pub async fn delete_tags(
        &self,
        ids: &[String],
        tags: &[(String, Option<String>)],
    ) -> Result<()> {
        let targets = self.tag_targets(ids).await?;
        Ok(self.store.remove_tags(&targets, tags).await?)
    }

    /// A page of tags chosen by the filters in the database (DescribeTags names no ids).
    pub async fn describe_tags(
        &self,
        req: &DescribeRequest,
    ) -> Result<(Vec<ResourceTag>, Option<String>)> {
        let page = req.page(false)?;
        let filters = &req.filters;
        let mut q = TagQuery::default();
        let mut count = 0;
        for f in filters {
            if !TAG_FILTERS.contains(&f.name.as_str()) {
                return Err(Error::InvalidParameterValue(format!(
                    "The filter '{}' is invalid",
                    f.name
                )));
            }
            count += f.values.len();
            let dim = match f.name.as_str() {
                "key" => &mut q.keys,
                "value" => &mut q.values,
                "resource-id" => &mut q.resource_ids,
                _ => &mut q.resource_types,
            };
            // Two filters of one name must both hold: keep the values both allow (exact values
            // only; patterns are re-checked below).
            dim.extend(f.values.iter().cloned());
        }
        if count > 200 {
            return Err(Error::InvalidParameterValue(
                "The maximum number of filter values specified on a single call is 200".into(),
            ));
        }
        let rows = self.store.query_tags(&q, &page).await?;
        let next = if rows.len() > page.limit {
            rows.get(page.limit)
                .map(|r| format!("{}\t{}", r.resource_id, r.key))
        } else {
            None
        };
        // The database's LIKE may ignore case (SQLite); EC2's matching does not.
        let rows = rows
            .into_iter()
            .take(page.limit)
            .filter(|r| {
                filters.iter().all(|f| {
                    let v = match f.name.as_str() {
                        "key" => &r.key,
                        "value" => &r.value,
                        "resource-id" => &r.resource_id,
                        _ => &r.resource_type,
                    };
                    f.values.iter().any(|p| wildcard_match(p, v))
                })
            })
            .collect();
        Ok((rows, next))
    }
}
