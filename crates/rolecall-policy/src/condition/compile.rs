//! Compiling the `Condition` element: operator names, keys, typed values.

use super::values::{parse_date, parse_ip, parse_number};
use super::{Compared, Condition, Operator, SetQualifier, Values};
use crate::arn::ArnPattern;
use crate::error::{LEGACY, PolicyError, SYNTAX};
use crate::json::Json;
use crate::variables::contains_variable;
use crate::wildcard::{Pattern, Syntax};

/// A parsed operator name: `[ForAllValues:|ForAnyValue:]Operator[IfExists]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OperatorName {
    pub op: Operator,
    pub qualifier: Option<SetQualifier>,
    pub if_exists: bool,
}

pub(crate) fn parse_operator(name: &str) -> Option<OperatorName> {
    let (qualifier, rest) = if let Some(r) = name.strip_prefix("ForAllValues:") {
        (Some(SetQualifier::ForAllValues), r)
    } else if let Some(r) = name.strip_prefix("ForAnyValue:") {
        (Some(SetQualifier::ForAnyValue), r)
    } else {
        (None, name)
    };
    let (base, if_exists) = match rest.strip_suffix("IfExists") {
        Some(b) => (b, true),
        None => (rest, false),
    };
    let op = Operator::from_name(base)?;
    if if_exists && op == Operator::Null {
        return None;
    }
    Some(OperatorName {
        op,
        qualifier,
        if_exists,
    })
}

/// The values of one key as strings (a scalar or an array of scalars).
fn value_strings(v: &Json) -> Result<Vec<String>, PolicyError> {
    fn scalar(v: &Json) -> Option<String> {
        match v {
            Json::Str(s) => Some(s.clone()),
            Json::Num(n) => Some(n.clone()),
            Json::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }
    match v {
        Json::Arr(items) => items
            .iter()
            .map(|i| scalar(i).ok_or_else(|| PolicyError::malformed(SYNTAX)))
            .collect(),
        other => scalar(other)
            .map(|s| vec![s])
            .ok_or_else(|| PolicyError::malformed(SYNTAX)),
    }
}

/// Compile a whole `Condition` element.
pub(crate) fn compile_conditions(
    block: &Json,
    variables: bool,
) -> Result<Vec<Condition>, PolicyError> {
    let Json::Obj(ops) = block else {
        return Err(PolicyError::malformed(SYNTAX));
    };
    let mut out = Vec::new();
    for (i, (op_name, keys)) in ops.iter().enumerate() {
        if ops[..i].iter().any(|(k, _)| k == op_name) {
            return Err(PolicyError::malformed(format!(
                "Duplicate condition operator {op_name}."
            )));
        }
        let Json::Obj(keys) = keys else {
            return Err(PolicyError::malformed(SYNTAX));
        };
        let Some(name) = parse_operator(op_name) else {
            // IAM accepts an unknown operator only with no keys (a no-op).
            if keys.is_empty() {
                continue;
            }
            return Err(PolicyError::malformed(SYNTAX));
        };
        for (j, (key, vals)) in keys.iter().enumerate() {
            if keys[..j].iter().any(|(k, _)| k.eq_ignore_ascii_case(key)) {
                return Err(PolicyError::malformed(format!(
                    "Duplicate condition key {key} for {op_name}."
                )));
            }
            let texts = value_strings(vals)?;
            let values = compile_values(name.op, op_name, key, &texts, variables)?;
            out.push(Condition {
                op: name.op,
                qualifier: name.qualifier,
                if_exists: name.if_exists,
                key: key.to_ascii_lowercase().into(),
                key_name: key.as_str().into(),
                values,
            });
        }
    }
    Ok(out)
}

fn compile_values(
    op: Operator,
    op_name: &str,
    key: &str,
    texts: &[String],
    variables: bool,
) -> Result<Values, PolicyError> {
    if variables
        && !op.allows_variables()
        && let Some(v) = texts.iter().find(|t| contains_variable(t))
    {
        return Err(PolicyError::malformed(format!(
            "Policy variables are not allowed in {op_name} conditions (key {key}, value \"{v}\")."
        )));
    }
    Ok(match op.compared() {
        Compared::Str { wildcards, fold } => {
            let syntax = Syntax {
                wildcards,
                variables,
                lowercase: false,
            };
            Values::Str {
                pats: texts.iter().map(|t| Pattern::compile(t, syntax)).collect(),
                fold,
            }
        }
        Compared::Num(cmp) => Values::Num {
            vals: parse_all(texts, parse_number)?,
            cmp,
        },
        Compared::Date(cmp) => Values::Date {
            vals: parse_all(texts, parse_date)?,
            cmp,
        },
        Compared::Bool => Values::Bool(texts.iter().map(|t| t.as_str().into()).collect()),
        Compared::Binary => Values::Binary(texts.iter().map(|t| t.as_str().into()).collect()),
        Compared::Ip => Values::Ip(parse_all(texts, parse_ip)?),
        Compared::Arn => Values::Arn(
            texts
                .iter()
                .map(|t| ArnPattern::condition(t, variables))
                .collect(),
        ),
        Compared::Null => Values::Null(parse_all(texts, |t| {
            match t.to_ascii_lowercase().as_str() {
                "true" => Some(true),
                "false" => Some(false),
                _ => None,
            }
        })?),
    })
}

/// Each of `texts` as `parse` reads it; IAM reports a malformed typed value as a legacy-parsing
/// failure.
fn parse_all<T, C: FromIterator<T>>(
    texts: &[String],
    parse: impl Fn(&str) -> Option<T>,
) -> Result<C, PolicyError> {
    texts
        .iter()
        .map(|t| parse(t).ok_or_else(|| PolicyError::malformed(LEGACY)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operator_names() {
        let n = parse_operator("ForAllValues:StringLikeIfExists").unwrap();
        assert_eq!(n.op, Operator::StringLike);
        assert_eq!(n.qualifier, Some(SetQualifier::ForAllValues));
        assert!(n.if_exists);
        assert!(parse_operator("StringEqualz").is_none());
        assert!(parse_operator("stringequals").is_none());
        assert!(parse_operator("NullIfExists").is_none());
        assert!(parse_operator("ForSomeValues:StringEquals").is_none());
        for op in Operator::ALL {
            assert_eq!(parse_operator(op.name()).map(|n| n.op), Some(op));
        }
    }

    fn compile(src: &str, vars: bool) -> Result<Vec<Condition>, PolicyError> {
        compile_conditions(&crate::json::parse(src).unwrap(), vars)
    }

    #[test]
    fn value_validation() {
        assert!(compile(r#"{"NumericLessThan":{"s3:max-keys":"12abc"}}"#, true).is_err());
        assert!(compile(r#"{"NumericLessThan":{"s3:max-keys":10}}"#, true).is_ok());
        assert!(compile(r#"{"DateGreaterThan":{"aws:CurrentTime":"soon"}}"#, true).is_err());
        assert!(compile(r#"{"IpAddress":{"aws:SourceIp":"10.0.0.0/33"}}"#, true).is_err());
        assert!(
            compile(
                r#"{"IpAddress":{"aws:SourceIp":["10.0.0.0/8","::1"]}}"#,
                true
            )
            .is_ok()
        );
        assert!(compile(r#"{"Bool":{"aws:SecureTransport":"${aws:x}"}}"#, true).is_err());
        assert!(compile(r#"{"Bool":{"aws:SecureTransport":"${aws:x}"}}"#, false).is_ok());
        assert!(compile(r#"{"Bool":{"aws:SecureTransport":false}}"#, true).is_ok());
        assert!(compile(r#"{"Null":{"aws:TokenIssueTime":"maybe"}}"#, true).is_err());
        assert!(compile(r#"{"StringEquals":{"nokey":"x"}}"#, true).is_ok());
        assert!(compile(r#"{"Unknown":{}}"#, true).unwrap().is_empty());
        assert!(compile(r#"{"StringEquals":{"a:b":{"x":1}}}"#, true).is_err());
        assert!(compile(r#"{"StringEquals":"x"}"#, true).is_err());
        assert!(compile(r#"{"StringEqualz":{"a:b":"x"}}"#, true).is_err());
        assert!(compile(r#"{"StringEquals":{"a:b":"x","A:B":"y"}}"#, true).is_err());
    }
}
