//! Typed access to request parameters, with protocol-appropriate errors.

use crate::error::{ApiError, Protocol};
use rolecall_wire::Params;

pub struct Args<'a> {
    pub params: &'a Params,
    pub protocol: Protocol,
}

impl<'a> Args<'a> {
    pub fn opt(&self, name: &str) -> Option<&'a str> {
        self.params.get(name)
    }

    pub fn req(&self, name: &str) -> Result<&'a str, ApiError> {
        self.params
            .get(name)
            .ok_or_else(|| ApiError::missing_parameter(self.protocol, name))
    }

    pub fn int(&self, name: &str) -> Result<Option<i64>, ApiError> {
        self.opt(name)
            .map(|v| {
                v.trim()
                    .parse::<i64>()
                    .map_err(|_| ApiError::malformed_parameter(self.protocol, name, v))
            })
            .transpose()
    }
}
