//! Flattened request parameters, as the Query (`Tags.member.1.Key`) and EC2 (`InstanceId.1`,
//! `Filter.1.Value.2`) protocols send them, from the query string and the form body alike.

use std::collections::BTreeMap;

/// The name of a required parameter that the request lacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingParameter(pub String);

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Parses the query string and an `application/x-www-form-urlencoded` body; body values come
    /// after query values, and the first occurrence of a key wins in [`Params::get`].
    pub fn parse(query: &str, body: &[u8]) -> Params {
        let pairs = form_urlencoded::parse(query.as_bytes())
            .chain(form_urlencoded::parse(body))
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        Params { pairs }
    }

    /// [`Params::parse`] for a query string whose signature read `+` as a literal plus (see
    /// `rolecall_sigv4::PlusMode`): the values acted on must be the values signed. The form body
    /// is `application/x-www-form-urlencoded` (`+` is a space there) and signed as raw bytes.
    pub fn parse_literal_plus(query: &str, body: &[u8]) -> Params {
        Params::parse(&query.replace('+', "%2B"), body)
    }

    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Params {
        Params {
            pairs: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn required(&self, key: &str) -> Result<&str, MissingParameter> {
        self.get(key)
            .ok_or_else(|| MissingParameter(key.to_string()))
    }

    pub fn contains(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Values of `prefix.N`, ordered by N (`prefix` is e.g. `TagKeys.member` or `InstanceId`).
    pub fn list(&self, prefix: &str) -> Vec<&str> {
        let mut items: Vec<(u64, &str)> = self
            .pairs
            .iter()
            .filter_map(|(k, v)| match index_after(k, prefix)? {
                (n, "") => Some((n, v.as_str())),
                _ => None,
            })
            .collect();
        items.sort_by_key(|(n, _)| *n);
        items.dedup_by_key(|(n, _)| *n);
        items.into_iter().map(|(_, v)| v).collect()
    }

    /// The structures `prefix.N.Field...`, ordered by N, each as its own `Params` of `Field...`.
    pub fn structs(&self, prefix: &str) -> Vec<Params> {
        let mut groups: BTreeMap<u64, Vec<(String, String)>> = BTreeMap::new();
        for (k, v) in &self.pairs {
            if let Some((n, rest)) = index_after(k, prefix)
                && let Some(field) = rest.strip_prefix('.')
            {
                groups
                    .entry(n)
                    .or_default()
                    .push((field.to_string(), v.clone()));
            }
        }
        groups.into_values().map(|pairs| Params { pairs }).collect()
    }

    /// The sub-structure `prefix.Field...` (e.g. `IamInstanceProfile.Name`), if any key has it.
    pub fn sub(&self, prefix: &str) -> Option<Params> {
        let pairs: Vec<(String, String)> = self
            .pairs
            .iter()
            .filter_map(|(k, v)| {
                let rest = k.strip_prefix(prefix)?.strip_prefix('.')?;
                Some((rest.to_string(), v.clone()))
            })
            .collect();
        (!pairs.is_empty()).then_some(Params { pairs })
    }
}

/// For `key` = `prefix.N<rest>`, returns `(N, rest)`.
fn index_after<'k>(key: &'k str, prefix: &str) -> Option<(u64, &'k str)> {
    let after = key.strip_prefix(prefix)?.strip_prefix('.')?;
    let digits = after.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || digits > 9 {
        return None;
    }
    let n = after[..digits].parse().ok()?;
    Some((n, &after[digits..]))
}

/// The API version a Query/EC2-protocol request to `service` (`iam`, `sts` or `ec2`) names.
pub fn api_version(service: &str) -> &'static str {
    match service {
        "sts" => "2011-06-15",
        "ec2" => "2016-11-15",
        _ => "2010-05-08",
    }
}

/// A Query/EC2-protocol request body for `service`: its `Version`, then `params`, form-encoded.
pub fn query_body(service: &str, params: &[(&str, &str)]) -> String {
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.append_pair("Version", api_version(service));
    for (k, v) in params {
        form.append_pair(k, v);
    }
    form.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flattened_lists_and_structs() {
        let p = Params::parse(
            "Action=X",
            b"InstanceId.2=i-b&InstanceId.1=i-a&InstanceId.10=i-c&Filter.1.Name=tag%3AEnv&Filter.1.Value.1=a+b&Filter.2.Name=x&IamInstanceProfile.Name=p",
        );
        assert_eq!(p.get("Action"), Some("X"));
        assert_eq!(p.list("InstanceId"), vec!["i-a", "i-b", "i-c"]);
        let f = p.structs("Filter");
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].get("Name"), Some("tag:Env"));
        assert_eq!(f[0].list("Value"), vec!["a b"]);
        assert_eq!(
            p.sub("IamInstanceProfile")
                .and_then(|s| s.get("Name").map(str::to_string)),
            Some("p".into())
        );
        assert!(p.sub("Nothing").is_none());
        assert_eq!(p.required("Nope"), Err(MissingParameter("Nope".into())));
        assert!(p.list("Filter").is_empty());
    }
}
