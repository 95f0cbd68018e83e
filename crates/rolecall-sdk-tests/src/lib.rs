//! Tests only: aws-sdk-rust's IMDS credentials provider (`aws-config`) as a real client of
//! rolecall's instance metadata service. See `tests/`. Nothing here is built into rolecall.
