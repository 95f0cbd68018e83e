//! The AWS wire layer, pure: request parameters of the Query and EC2 protocols, XML responses,
//! error envelopes and timestamp formats. No I/O; the API crate feeds it bytes and sends what it
//! writes.

mod envelope;
mod params;
mod time;
mod xml;
pub mod xml_read;

pub use envelope::{ErrorType, ec2_error, ec2_response, query_error, query_response};
pub use params::{MissingParameter, Params, api_version, query_body};
pub use time::{ec2_timestamp, iso8601};
pub use xml::Xml;
