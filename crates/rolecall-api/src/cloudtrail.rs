//! CloudTrail's `LookupEvents` over the JSON 1.1 protocol: the typed input (hand-written: the
//! code generator reads Query/EC2 models only), the lookup, and the JSON answer.

use crate::context::Call;
use crate::error::ApiError;
use chrono::{DateTime, Utc};
use rolecall_core::audit::{AuditEvent, AuditQuery, LookupKey};
use rolecall_core::paging::{decode_token, encode_token};
use serde_json::{Value, json};

/// Most events per page (CloudTrail's limit and default).
const MAX_RESULTS: usize = 50;

/// LookupEvents' input (`LookupEventsRequest` in CloudTrail's model).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LookupEventsInput {
    pub filter: Option<(LookupKey, String)>,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    pub max_results: usize,
    pub next_token: Option<String>,
    /// `EventCategory=insight`: Insights events, which rolecall has none of.
    pub insights: bool,
}

fn validation(message: impl Into<String>) -> ApiError {
    ApiError::new(400, "ValidationException", message)
}

fn key_of(name: &str) -> Option<LookupKey> {
    Some(match name {
        "EventId" => LookupKey::EventId,
        "EventName" => LookupKey::EventName,
        "EventSource" => LookupKey::EventSource,
        "Username" => LookupKey::Username,
        "ResourceName" => LookupKey::ResourceName,
        "ResourceType" => LookupKey::ResourceType,
        "AccessKeyId" => LookupKey::AccessKeyId,
        "ReadOnly" => LookupKey::ReadOnly,
        _ => return None,
    })
}

/// A JSON 1.1 timestamp: epoch seconds (what SDKs send), or an ISO 8601 string.
fn timestamp(v: &Value, member: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
    let bad = || validation(format!("Invalid timestamp for {member}"));
    match v {
        Value::Null => Ok(None),
        Value::Number(n) => {
            let secs = n.as_f64().ok_or_else(bad)?;
            let millis = (secs * 1000.0).round();
            if !millis.is_finite() || millis.abs() > 1e15 {
                return Err(bad());
            }
            #[allow(clippy::cast_possible_truncation)]
            DateTime::from_timestamp_millis(millis as i64)
                .map(Some)
                .ok_or_else(bad)
        }
        Value::String(s) => DateTime::parse_from_rfc3339(s)
            .map(|t| Some(t.to_utc()))
            .map_err(|_| bad()),
        _ => Err(bad()),
    }
}

impl LookupEventsInput {
    pub(crate) fn parse(body: &[u8]) -> Result<Self, ApiError> {
        let v: Value = if body.iter().all(u8::is_ascii_whitespace) {
            json!({})
        } else {
            serde_json::from_slice(body).map_err(|_| {
                ApiError::new(
                    400,
                    "SerializationException",
                    "Start of structure or map found where not expected.",
                )
            })?
        };
        if !v.is_object() {
            return Err(ApiError::new(
                400,
                "SerializationException",
                "Start of structure or map found where not expected.",
            ));
        }
        let attrs = match &v["LookupAttributes"] {
            Value::Null => Vec::new(),
            Value::Array(a) => a.clone(),
            _ => return Err(validation("LookupAttributes must be a list")),
        };
        if attrs.len() > 1 {
            return Err(ApiError::new(
                400,
                "InvalidLookupAttributesException",
                "You can only specify one lookup attribute.",
            ));
        }
        let filter = match attrs.first() {
            None => None,
            Some(a) => {
                let name = a["AttributeKey"].as_str().unwrap_or_default();
                let value = a["AttributeValue"].as_str().ok_or_else(|| {
                    validation("1 validation error detected: Value null at 'lookupAttributes.1.member.attributeValue' failed to satisfy constraint: Member must not be null")
                })?;
                let key = key_of(name).ok_or_else(|| {
                    ApiError::new(
                        400,
                        "InvalidLookupAttributesException",
                        format!("Invalid attribute key: {name}"),
                    )
                })?;
                if value.is_empty() || value.chars().count() > 2000 {
                    return Err(ApiError::new(
                        400,
                        "InvalidLookupAttributesException",
                        "The attribute value must be between 1 and 2000 characters.",
                    ));
                }
                Some((key, value.to_string()))
            }
        };
        let start = timestamp(&v["StartTime"], "StartTime")?;
        let end = timestamp(&v["EndTime"], "EndTime")?;
        if let (Some(s), Some(e)) = (start, end)
            && s > e
        {
            return Err(ApiError::new(
                400,
                "InvalidTimeRangeException",
                "Start time must be earlier than end time.",
            ));
        }
        let max_results = match &v["MaxResults"] {
            Value::Null => MAX_RESULTS,
            Value::Number(n) => match n.as_i64() {
                Some(m @ 1..=50) => usize::try_from(m).unwrap_or(MAX_RESULTS),
                _ => {
                    return Err(ApiError::new(
                        400,
                        "InvalidMaxResultsException",
                        "Max results must be between 1 and 50.",
                    ));
                }
            },
            _ => return Err(validation("MaxResults must be an integer")),
        };
        let next_token = match &v["NextToken"] {
            Value::Null => None,
            Value::String(s) => Some(s.clone()),
            _ => return Err(validation("NextToken must be a string")),
        };
        let insights = match &v["EventCategory"] {
            Value::Null => false,
            Value::String(s) if s == "insight" => true,
            _ => {
                return Err(ApiError::new(
                    400,
                    "InvalidEventCategoryException",
                    "The event category is not valid.",
                ));
            }
        };
        Ok(LookupEventsInput {
            filter,
            start,
            end,
            max_results,
            next_token,
            insights,
        })
    }
}

fn invalid_token() -> ApiError {
    ApiError::new(
        400,
        "InvalidNextTokenException",
        "A token that is not valid, or a token that was previously used in a request with different parameters, was provided.",
    )
}

/// The page position a NextToken names: (event time in ms, event id).
fn position(token: &str) -> Option<(i64, String)> {
    let key = decode_token(token)?;
    let (time, id) = key.split_once('/')?;
    Some((time.parse().ok()?, id.to_string()))
}

fn epoch_seconds(t: DateTime<Utc>) -> Value {
    json!(t.timestamp())
}

fn event_json(e: &AuditEvent) -> Value {
    let mut v = json!({
        "EventId": e.event_id,
        "EventName": e.event_name,
        "ReadOnly": e.read_only.to_string(),
        "EventTime": epoch_seconds(e.event_time),
        "EventSource": e.event_source,
        "Resources": e.resources.iter().map(|r| json!({"ResourceType": r.resource_type, "ResourceName": r.name})).collect::<Vec<_>>(),
        "CloudTrailEvent": e.record(),
    });
    if let Some(k) = &e.access_key_id {
        v["AccessKeyId"] = json!(&**k);
    }
    if let Some(u) = &e.username {
        v["Username"] = json!(&**u);
    }
    v
}

/// Runs a parsed LookupEvents (already authorized) and writes its JSON answer.
pub(crate) async fn lookup_events(
    call: &Call<'_>,
    input: LookupEventsInput,
) -> Result<String, ApiError> {
    let before = match &input.next_token {
        None => None,
        Some(t) => Some(position(t).ok_or_else(invalid_token)?),
    };
    if input.insights {
        return Ok(json!({"Events": []}).to_string());
    }
    let query = AuditQuery {
        filter: input.filter,
        start: input.start,
        end: input.end,
        before,
        limit: input.max_results,
    };
    let mut events = call
        .api
        .iam
        .store()
        .lookup_audit_events(&query)
        .await
        .map_err(rolecall_core::Error::from)?;
    let more = events.len() > input.max_results;
    events.truncate(input.max_results);
    let mut out = json!({"Events": events.iter().map(event_json).collect::<Vec<_>>()});
    if more && let Some(last) = events.last() {
        out["NextToken"] = json!(encode_token(&format!(
            "{}/{}",
            rolecall_core::audit::time_key(last.event_time),
            last.event_id
        )));
    }
    Ok(out.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_one_attribute_and_refuses_two() {
        let one = br#"{"LookupAttributes":[{"AttributeKey":"Username","AttributeValue":"alice"}],"MaxResults":5}"#;
        let i = LookupEventsInput::parse(one).unwrap();
        assert_eq!(i.filter, Some((LookupKey::Username, "alice".into())));
        assert_eq!(i.max_results, 5);
        let two = br#"{"LookupAttributes":[{"AttributeKey":"Username","AttributeValue":"a"},{"AttributeKey":"EventName","AttributeValue":"b"}]}"#;
        assert_eq!(
            LookupEventsInput::parse(two).unwrap_err().code,
            "InvalidLookupAttributesException"
        );
        let e = LookupEventsInput::parse(br#"{"MaxResults":51}"#).unwrap_err();
        assert_eq!(e.code, "InvalidMaxResultsException");
        let e = LookupEventsInput::parse(br#"{"StartTime":20,"EndTime":10}"#).unwrap_err();
        assert_eq!(e.code, "InvalidTimeRangeException");
    }
}
