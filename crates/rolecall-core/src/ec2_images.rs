//! EC2 machine images and instance types: a few built-in public images (owned by `amazon`,
//! never stored), the account's own images (RegisterImage; rows of the network table, their
//! names unique through its `default_key`), and a catalogue of common instance types.

use crate::ec2::{DescribeRequest, Ec2, Filter};
use crate::ec2_errors::AmiNameTaken;
use crate::ec2_network::{any_match, check_id, invalid_filter, page, tag_filter};
use crate::model::{Image, NetworkItem, NetworkResource};
use crate::{Error, PageRequest, Result, StoreError, Taken};
use rolecall_crypto::ec2_id;

/// The account AWS publishes Amazon's own images from.
pub const AMAZON_OWNER_ID: &str = "137112412989";

/// The built-in public images: (id, name, architecture, description).
const BUILT_IN: &[(&str, &str, &str, &str)] = &[
    (
        "ami-0a1b2c3d4e5f60701",
        "al2023-ami-2023.6.20241010.0-kernel-6.1-x86_64",
        "x86_64",
        "Amazon Linux 2023 AMI 2023.6.20241010.0 x86_64 HVM kernel-6.1",
    ),
    (
        "ami-0a1b2c3d4e5f60702",
        "al2023-ami-2023.6.20241010.0-kernel-6.1-arm64",
        "arm64",
        "Amazon Linux 2023 AMI 2023.6.20241010.0 arm64 HVM kernel-6.1",
    ),
    (
        "ami-0a1b2c3d4e5f60703",
        "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20241004",
        "x86_64",
        "Canonical, Ubuntu, 24.04, amd64 noble image",
    ),
    (
        "ami-0a1b2c3d4e5f60704",
        "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-arm64-server-20241004",
        "arm64",
        "Canonical, Ubuntu, 24.04, arm64 noble image",
    ),
];

pub fn built_in_images() -> Vec<Image> {
    BUILT_IN
        .iter()
        .map(|(id, name, arch, description)| Image {
            id: (*id).into(),
            name: (*name).into(),
            description: Some((*description).into()),
            architecture: (*arch).into(),
            owner_id: AMAZON_OWNER_ID.into(),
            owner_alias: Some("amazon".into()),
            public: true,
            creation_date: "2024-10-10T00:00:00.000Z".into(),
            root_device_name: "/dev/xvda".into(),
            virtualization_type: "hvm".into(),
            ena_support: true,
            tags: vec![],
        })
        .collect()
}

/// A common instance type as DescribeInstanceTypes lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceTypeInfo {
    pub name: &'static str,
    pub vcpus: u32,
    pub memory_mib: u64,
    pub architectures: &'static [&'static str],
    pub burstable: bool,
    pub hypervisor: &'static str,
    pub free_tier: bool,
}

const X86_AND_I386: &[&str] = &["i386", "x86_64"];
const X86: &[&str] = &["x86_64"];

const fn t(
    name: &'static str,
    vcpus: u32,
    memory_mib: u64,
    architectures: &'static [&'static str],
) -> InstanceTypeInfo {
    let burstable = matches!(name.as_bytes()[0], b't');
    let xen = matches!(name.as_bytes(), [b't', b'2', ..]);
    InstanceTypeInfo {
        name,
        vcpus,
        memory_mib,
        architectures,
        burstable,
        hypervisor: if xen { "xen" } else { "nitro" },
        free_tier: false,
    }
}

/// `info`, eligible for the free tier.
const fn free(info: InstanceTypeInfo) -> InstanceTypeInfo {
    InstanceTypeInfo {
        free_tier: true,
        ..info
    }
}

/// Sorted by name (the paging key).
pub const INSTANCE_TYPES: &[InstanceTypeInfo] = &[
    t("c5.large", 2, 4096, X86),
    t("m5.2xlarge", 8, 32768, X86),
    t("m5.large", 2, 8192, X86),
    t("m5.xlarge", 4, 16384, X86),
    t("r5.large", 2, 16384, X86),
    t("t2.large", 2, 8192, X86),
    t("t2.medium", 2, 4096, X86_AND_I386),
    free(t("t2.micro", 1, 1024, X86_AND_I386)),
    t("t2.small", 1, 2048, X86_AND_I386),
    t("t3.large", 2, 8192, X86),
    t("t3.medium", 2, 4096, X86),
    free(t("t3.micro", 2, 1024, X86)),
    t("t3.nano", 2, 512, X86),
    t("t3.small", 2, 2048, X86),
    t("t3.xlarge", 4, 16384, X86),
];

pub fn instance_type(name: &str) -> Option<&'static InstanceTypeInfo> {
    INSTANCE_TYPES.iter().find(|t| t.name == name)
}

pub fn check_image_id(id: &str) -> Result<()> {
    check_id("ami", id, Error::InvalidAmiIdMalformed)
}

pub fn image_not_found(ids: &[&str]) -> Error {
    Error::InvalidAmiIdNotFound(ids.iter().map(|id| id.to_string()).collect())
}

/// AMI names: 3 to 128 of letters, digits and `()[]./-'@_` and spaces.
fn check_image_name(name: &str) -> Result<()> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || "()[]./-'@_ ".contains(c);
    if (3..=128).contains(&name.len()) && name.chars().all(ok_char) {
        Ok(())
    } else {
        Err(Error::InvalidAmiNameMalformed(name.into()))
    }
}

const ARCHITECTURES: &[&str] = &["i386", "x86_64", "arm64", "x86_64_mac", "arm64_mac"];

fn image_matches(f: &Filter, i: &Image) -> Result<bool> {
    if let Some(m) = tag_filter(f, &i.tags) {
        return Ok(m);
    }
    let public = if i.public { "true" } else { "false" };
    let value: Vec<&str> = match f.name.as_str() {
        "name" => vec![&i.name],
        "image-id" => vec![&i.id],
        "state" => vec!["available"],
        "architecture" => vec![&i.architecture],
        "owner-id" => vec![&i.owner_id],
        "owner-alias" => i.owner_alias.as_deref().into_iter().collect(),
        "description" => i.description.as_deref().into_iter().collect(),
        "is-public" => vec![public],
        "image-type" => vec!["machine"],
        "virtualization-type" => vec![&i.virtualization_type],
        "root-device-type" => vec!["ebs"],
        "root-device-name" => vec![&i.root_device_name],
        _ => return Err(invalid_filter(&f.name)),
    };
    Ok(any_match(f, &value))
}

/// Whether `Owner.N` (`self`, `amazon`, or an account id) names the image's owner.
fn owned_by(owners: &[String], i: &Image, account: &str) -> bool {
    owners.is_empty()
        || owners.iter().any(|o| match o.as_str() {
            "self" => i.owner_id == account,
            alias @ ("amazon" | "aws-marketplace" | "aws-backup-vault") => {
                i.owner_alias.as_deref() == Some(alias)
            }
            id => i.owner_id == id,
        })
}

fn type_matches(f: &Filter, t: &InstanceTypeInfo) -> Result<bool> {
    let vcpus = t.vcpus.to_string();
    let memory = t.memory_mib.to_string();
    let burstable = if t.burstable { "true" } else { "false" };
    let value: Vec<&str> = match f.name.as_str() {
        "instance-type" => vec![t.name],
        "vcpu-info.default-vcpus" => vec![&vcpus],
        "memory-info.size-in-mib" => vec![&memory],
        "processor-info.supported-architecture" => t.architectures.to_vec(),
        "burstable-performance-supported" => vec![burstable],
        "hypervisor" => vec![t.hypervisor],
        "current-generation" => vec!["true"],
        _ => return Err(invalid_filter(&f.name)),
    };
    Ok(any_match(f, &value))
}

/// A page of items sorted by `key` from the request's `from`.
fn page_of<T: Clone>(
    items: Vec<T>,
    key: impl Fn(&T) -> &str,
    req: Option<&PageRequest>,
) -> (Vec<T>, Option<String>) {
    match req {
        Some(p) => page(items, key, p),
        None => (items, None),
    }
}

/// What RegisterImage records.
#[derive(Debug, Clone, Default)]
pub struct RegisterImage {
    pub name: String,
    pub description: Option<String>,
    pub architecture: Option<String>,
    pub root_device_name: Option<String>,
    pub virtualization_type: Option<String>,
    pub ena_support: Option<bool>,
}

impl Ec2 {
    /// The image `id` (built in or the account's), if it exists.
    pub async fn image(&self, id: &str) -> Result<Option<Image>> {
        if let Some(i) = built_in_images().into_iter().find(|i| i.id == id) {
            return Ok(Some(i));
        }
        let found = self.store.get_network(&[id.to_string()]).await?;
        Ok(found.into_iter().find_map(Image::from_resource))
    }

    pub async fn describe_images(
        &self,
        req: &DescribeRequest,
        owners: &[String],
    ) -> Result<(Vec<Image>, Option<String>)> {
        let page_req = req.page_if_asked(true)?;
        let (ids, filters) = (&req.ids, &req.filters);
        for id in ids {
            check_image_id(id)?;
        }
        let mut all = built_in_images();
        all.extend(self.network_items::<Image>().await?);
        all.sort_by(|a, b| a.id.cmp(&b.id));
        let missing: Vec<&str> = ids
            .iter()
            .filter(|id| !all.iter().any(|i| i.id == **id))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            return Err(image_not_found(&missing));
        }
        let account = self.iam.account_id().to_string();
        let mut out = Vec::new();
        for i in all {
            if !ids.is_empty() && !ids.contains(&i.id) {
                continue;
            }
            if !owned_by(owners, &i, &account) {
                continue;
            }
            if filters
                .iter()
                .try_fold(true, |ok, f| Ok::<_, Error>(ok && image_matches(f, &i)?))?
            {
                out.push(i);
            }
        }
        Ok(page_of(out, |i| &i.id, page_req.as_ref()))
    }

    /// Registers an image in the account; its name must be new there.
    pub async fn register_image(&self, req: RegisterImage) -> Result<Image> {
        check_image_name(&req.name)?;
        let architecture = req.architecture.unwrap_or_else(|| "x86_64".into());
        if !ARCHITECTURES.contains(&architecture.as_str()) {
            return Err(Error::InvalidParameterValue(format!(
                "Value ({}) for parameter architecture is invalid. Valid values: {}",
                architecture.escape_debug(),
                ARCHITECTURES.join(", ")
            )));
        }
        let virtualization_type = req.virtualization_type.unwrap_or_else(|| "hvm".into());
        if !["hvm", "paravirtual"].contains(&virtualization_type.as_str()) {
            return Err(Error::InvalidParameterValue(format!(
                "Value ({}) for parameter virtualizationType is invalid.",
                virtualization_type.escape_debug()
            )));
        }
        if let Some(d) = &req.description
            && d.chars().count() > 255
        {
            return Err(Error::InvalidParameterValue(
                "Value for parameter description is invalid. Too long.".into(),
            ));
        }
        let image = Image {
            id: ec2_id("ami"),
            name: req.name,
            description: req.description,
            architecture,
            owner_id: self.iam.account_id().to_string(),
            owner_alias: None,
            public: false,
            creation_date: self.iam.now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
            root_device_name: req.root_device_name.unwrap_or_else(|| "/dev/xvda".into()),
            virtualization_type,
            ena_support: req.ena_support.unwrap_or(true),
            tags: vec![],
        };
        let row = NetworkResource::Image(image.clone());
        match self.store.insert_network(&[row]).await {
            Ok(()) => Ok(image),
            Err(StoreError::Conflict(Taken::DefaultNetwork(_))) => {
                let holder = self
                    .network_items::<Image>()
                    .await?
                    .into_iter()
                    .find(|i| i.name == image.name)
                    .map(|i| i.id)
                    .unwrap_or_default();
                Err(Error::InvalidAmiNameDuplicate(AmiNameTaken {
                    name: image.name,
                    image_id: holder,
                }))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Deregisters one of the account's images (the built-in ones belong to Amazon).
    pub async fn deregister_image(&self, id: &str) -> Result<()> {
        check_image_id(id)?;
        match self.image(id).await? {
            None => Err(image_not_found(&[id])),
            Some(i) if i.owner_id != self.iam.account_id() => {
                Err(Error::AuthFailure(format!("Not authorized for image:{id}")))
            }
            Some(_) => {
                if self.store.delete_network(id).await? {
                    Ok(())
                } else {
                    Err(image_not_found(&[id]))
                }
            }
        }
    }

    /// DescribeInstanceTypes: the request's ids are instance type names.
    pub fn describe_instance_types(
        &self,
        req: &DescribeRequest,
    ) -> Result<(Vec<InstanceTypeInfo>, Option<String>)> {
        let page_req = req.page_if_asked(true)?;
        let (names, filters) = (&req.ids, &req.filters);
        let unknown: Vec<String> = names
            .iter()
            .filter(|n| instance_type(n).is_none())
            .cloned()
            .collect();
        if !unknown.is_empty() {
            return Err(Error::InvalidInstanceType(unknown));
        }
        let mut out = Vec::new();
        for t in INSTANCE_TYPES {
            if !names.is_empty() && !names.iter().any(|n| n == t.name) {
                continue;
            }
            if filters
                .iter()
                .try_fold(true, |ok, f| Ok::<_, Error>(ok && type_matches(f, t)?))?
            {
                out.push(t.clone());
            }
        }
        Ok(page_of(out, |t| t.name, page_req.as_ref()))
    }

    /// In strict mode, a launch's image must exist and its instance type be one rolecall knows
    /// (as AWS refuses unknown ones); development mode launches any well-formed value.
    pub async fn check_launch_image(
        &self,
        image_id: &str,
        instance_type: Option<&str>,
    ) -> Result<()> {
        if !self.config.strict_ids {
            return Ok(());
        }
        if self.image(image_id).await?.is_none() {
            return Err(image_not_found(&[image_id]));
        }
        if let Some(t) = instance_type
            && self::instance_type(t).is_none()
        {
            return Err(Error::InvalidParameterValue(format!(
                "The instance type '{}' does not exist",
                t.escape_debug()
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ec2_network::well_formed;

    #[test]
    fn catalogue_is_sorted_and_ids_are_well_formed() {
        let names: Vec<&str> = INSTANCE_TYPES.iter().map(|t| t.name).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
        for i in built_in_images() {
            assert!(well_formed("ami", &i.id) && i.id.len() == 21, "{}", i.id);
        }
        let micro = instance_type("t2.micro").map(|t| (t.vcpus, t.memory_mib));
        assert_eq!(micro, Some((1, 1024)));
    }

    #[test]
    fn image_names_are_checked() {
        assert!(check_image_name("my-image (v1.0)").is_ok());
        assert!(check_image_name("ab").is_err());
        assert!(check_image_name("bad*name").is_err());
    }
}
