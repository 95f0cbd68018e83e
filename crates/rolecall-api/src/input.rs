//! What the generated inputs (`crate::generated`) check a parameter with, in AWS's wording:
//! IAM/STS "1 validation error detected: Value 'x' at 'roleName' failed to satisfy constraint:
//! ..." (`ValidationError`), EC2 `MissingParameter` / `InvalidParameterValue`.

use crate::error::{ApiError, Protocol};

/// A Query-protocol constraint violation of `field` (the member name, first letter lower-cased).
pub fn violation(field: &str, value: &str, constraint: &str) -> ApiError {
    ApiError::new(
        400,
        "ValidationError",
        format!(
            "1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: {constraint}"
        ),
    )
}

/// Length in characters within `min..=max`.
pub fn length(field: &str, value: &str, min: usize, max: usize) -> Result<(), ApiError> {
    let n = value.chars().count();
    if n < min {
        return Err(violation(
            field,
            value,
            &format!("Member must have length greater than or equal to {min}"),
        ));
    }
    if n > max {
        return Err(violation(
            field,
            value,
            &format!("Member must have length less than or equal to {max}"),
        ));
    }
    Ok(())
}

/// Every character in the pattern's class (the generator writes the class as `allowed`).
pub fn pattern(
    field: &str,
    value: &str,
    pattern: &str,
    allowed: impl Fn(char) -> bool,
) -> Result<(), ApiError> {
    if value.chars().all(allowed) {
        Ok(())
    } else {
        Err(violation(
            field,
            value,
            &format!("Member must satisfy regular expression pattern: {pattern}"),
        ))
    }
}

pub fn min_value(field: &str, shown: &str, n: i64, min: i64) -> Result<(), ApiError> {
    if n < min {
        return Err(violation(
            field,
            shown,
            &format!("Member must have value greater than or equal to {min}"),
        ));
    }
    Ok(())
}

pub fn max_value(field: &str, shown: &str, n: i64, max: i64) -> Result<(), ApiError> {
    if n > max {
        return Err(violation(
            field,
            shown,
            &format!("Member must have value less than or equal to {max}"),
        ));
    }
    Ok(())
}

/// An integer parameter (surrounding whitespace allowed).
pub fn int(protocol: Protocol, wire: &str, value: &str) -> Result<i64, ApiError> {
    value
        .trim()
        .parse::<i64>()
        .map_err(|_| ApiError::malformed_parameter(protocol, wire, value))
}

/// A boolean parameter: `true` / `false` in any case.
pub fn boolean(protocol: Protocol, wire: &str, value: &str) -> Result<bool, ApiError> {
    if value.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if value.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err(ApiError::malformed_parameter(protocol, wire, value))
    }
}

/// A list of at most `max` items; the message shows the first three (`[a, b, c, ...]`).
pub fn list_length<T>(
    field: &str,
    items: &[T],
    max: usize,
    render: impl Fn(&T) -> String,
) -> Result<(), ApiError> {
    if items.len() <= max {
        return Ok(());
    }
    let shown: Vec<String> = items.iter().take(3).map(render).collect();
    let more = if items.len() > shown.len() {
        ", ..."
    } else {
        ""
    };
    Err(violation(
        field,
        &format!("[{}{more}]", shown.join(", ")),
        &format!("Member must have length less than or equal to {max}"),
    ))
}
