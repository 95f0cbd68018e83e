//! DescribeInstances and DescribeIamInstanceProfileAssociations run in the database: each EC2
//! filter name maps to an SQL fragment ([`instance_target`], [`association_target`]), its values
//! become bound parameters, and pages are keyset by id, so a page costs its rows, not the fleet.
//! Exact values compare with `=`/`IN` (index lookups); values with `*` or `?` use the dialect's
//! pattern match ([`Dialect::PATTERN_MATCH`]).

use crate::Dialect;
use rolecall_core::ec2::{Filter, wildcard_match};
use rolecall_core::model::InstanceState;
use rolecall_core::{PageRequest, StoreError, StoreResult};

/// What an EC2 filter compares its values with.
pub(crate) enum Target {
    /// An SQL expression over `i` (instances) or `a` (the active association, LEFT JOINed).
    Column(&'static str),
    /// A text field of the instance's JSON document, by path.
    Document(&'static [&'static str]),
    /// The state's numeric code (matched in Rust against the handful of states).
    StateCode,
    /// Any tag key of the instance.
    TagKey,
    /// The value of the instance's tag with this key.
    TagValue(String),
}

/// The target of a DescribeInstances filter; None for a name the query cannot run (the caller
/// has refused unknown names before).
pub(crate) fn instance_target(name: &str) -> Option<Target> {
    use Target::*;
    Some(match name {
        "instance-id" => Column("i.id"),
        "instance-state-name" => Column("i.state"),
        "instance-state-code" => StateCode,
        "private-ip-address" => Column("i.private_ip"),
        "iam-instance-profile.arn" => Column("a.profile_arn"),
        "iam-instance-profile.id" => Column("a.profile_id"),
        "tag-key" => TagKey,
        "instance-type" => Document(&["instance_type"]),
        "image-id" => Document(&["image_id"]),
        "key-name" => Document(&["key_name"]),
        "subnet-id" => Document(&["subnet_id"]),
        "reservation-id" => Document(&["reservation_id"]),
        "availability-zone" => Document(&["availability_zone"]),
        "metadata-options.http-tokens" => Document(&["metadata_options", "http_tokens"]),
        "metadata-options.http-endpoint" => Document(&["metadata_options", "http_endpoint"]),
        other => TagValue(other.strip_prefix("tag:")?.to_string()),
    })
}

/// The target of a DescribeIamInstanceProfileAssociations filter.
pub(crate) fn association_target(name: &str) -> Option<Target> {
    match name {
        "instance-id" => Some(Target::Column("instance_id")),
        "state" => Some(Target::Column("state")),
        _ => None,
    }
}

/// A WHERE clause under construction and its text parameters, numbered from `$1`.
#[derive(Default)]
pub(crate) struct Query {
    conditions: Vec<String>,
    pub(crate) params: Vec<String>,
}

impl Query {
    /// The rows among `ids` (all when empty) by `id_column`, from the page's id on, and the
    /// conditions of `extra` and of every filter (`target` names what each filter compares).
    pub(crate) fn by_id<D: Dialect>(
        id_column: &str,
        ids: &[String],
        page: &PageRequest,
        extra: Option<&str>,
        filters: &[Filter],
        target: fn(&str) -> Option<Target>,
    ) -> StoreResult<Query> {
        let mut q = Query::default();
        if !ids.is_empty() {
            let c = q.one_of(id_column, ids);
            q.and(c);
        }
        if let Some(from) = &page.from {
            let c = format!("{id_column} >= {}", q.param(from.as_str()));
            q.and(c);
        }
        if let Some(c) = extra {
            q.and(c.to_string());
        }
        for f in filters {
            let target = target(&f.name).ok_or_else(|| {
                StoreError::Backend(format!("no query for the filter {}", f.name))
            })?;
            let c = q.filter::<D>(&target, f);
            q.and(c);
        }
        Ok(q)
    }

    /// Binds `value`; returns its placeholder.
    pub(crate) fn param(&mut self, value: impl Into<String>) -> String {
        self.params.push(value.into());
        format!("${}", self.params.len())
    }

    pub(crate) fn and(&mut self, condition: String) {
        self.conditions.push(condition);
    }

    /// `WHERE ...`, or nothing.
    pub(crate) fn where_clause(&self) -> String {
        if self.conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", self.conditions.join(" AND "))
        }
    }

    /// The WHERE clause, ordered by `id_column`, then `LIMIT` the parameter after this query's
    /// (the page's size, bound by the caller).
    pub(crate) fn page_clause(&self, id_column: &str) -> String {
        format!(
            "{} ORDER BY {id_column} LIMIT ${}",
            self.where_clause(),
            self.params.len() + 1
        )
    }

    /// `expr` is one of `values` (false for none).
    pub(crate) fn one_of(&mut self, expr: &str, values: &[String]) -> String {
        if values.is_empty() {
            return "1 = 0".into();
        }
        let list: Vec<String> = values.iter().map(|v| self.param(v.as_str())).collect();
        format!("{expr} IN ({})", list.join(", "))
    }

    /// `expr` matches any of the EC2 patterns.
    fn matches_any<D: Dialect>(&mut self, expr: &str, patterns: &[String]) -> String {
        let (wild, exact): (Vec<String>, Vec<String>) = patterns
            .iter()
            .cloned()
            .partition(|p| p.contains(['*', '?']));
        let mut any = Vec::new();
        if !exact.is_empty() {
            any.push(self.one_of(expr, &exact));
        }
        for p in &wild {
            let n = self.param(D::PATTERN_MATCH.pattern(p));
            any.push(format!("{expr} {} {n}", D::PATTERN_MATCH.operator()));
        }
        if any.is_empty() {
            "1 = 0".into()
        } else {
            format!("({})", any.join(" OR "))
        }
    }

    /// The condition a filter puts on its target.
    pub(crate) fn filter<D: Dialect>(&mut self, target: &Target, f: &Filter) -> String {
        match target {
            Target::Column(expr) => self.matches_any::<D>(expr, &f.values),
            Target::Document(path) => {
                self.matches_any::<D>(&D::json_text("i.data", path), &f.values)
            }
            Target::StateCode => {
                let names: Vec<String> = InstanceState::ALL
                    .iter()
                    .filter(|s| {
                        let code = s.code().to_string();
                        f.values.iter().any(|p| wildcard_match(p, &code))
                    })
                    .map(|s| s.name().to_string())
                    .collect();
                self.one_of("i.state", &names)
            }
            Target::TagKey => {
                let keys = self.matches_any::<D>("t.tag_key", &f.values);
                format!(
                    "i.id IN (SELECT t.resource_id FROM ec2_tags t \
                     WHERE t.resource_type = 'instance' AND {keys})"
                )
            }
            Target::TagValue(key) => {
                let k = self.param(key.as_str());
                let values = self.matches_any::<D>("t.tag_value", &f.values);
                format!(
                    "i.id IN (SELECT t.resource_id FROM ec2_tags t \
                     WHERE t.resource_type = 'instance' AND t.tag_key = {k} AND {values})"
                )
            }
        }
    }
}

/// How a dialect matches an EC2 filter pattern (`*`, `?` wildcards) case-sensitively.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatternMatch {
    /// `LIKE`, with its default escape character, a backslash (PostgreSQL; SQLite's `LIKE`
    /// ignores ASCII case).
    Like,
    /// SQLite's `GLOB`, case-sensitive, whose `*` and `?` are EC2's.
    Glob,
}

impl PatternMatch {
    /// The operator between the expression and the bound pattern.
    pub(crate) fn operator(self) -> &'static str {
        match self {
            PatternMatch::Like => "LIKE",
            PatternMatch::Glob => "GLOB",
        }
    }

    /// An EC2 pattern in this operator's syntax.
    pub(crate) fn pattern(self, ec2_pattern: &str) -> String {
        match self {
            PatternMatch::Like => like_pattern(ec2_pattern),
            PatternMatch::Glob => glob_pattern(ec2_pattern),
        }
    }
}

/// An EC2 pattern (`*` any run, `?` one character, everything else literal) as an SQL `LIKE`
/// pattern with `\` as its escape character.
fn like_pattern(p: &str) -> String {
    let mut out = String::with_capacity(p.len() + 4);
    for c in p.chars() {
        match c {
            '*' => out.push('%'),
            '?' => out.push('_'),
            '%' | '_' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// An EC2 pattern as an SQLite `GLOB` pattern (`[` is GLOB's only other special character).
fn glob_pattern(p: &str) -> String {
    p.replace('[', "[[]")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_escape_what_is_special_in_sql() {
        assert_eq!(like_pattern("a*b?c%d_e\\f"), "a%b_c\\%d\\_e\\\\f");
        assert_eq!(glob_pattern("a[b]*?"), "a[[]b]*?");
    }
}
