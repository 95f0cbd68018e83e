//! Response and error envelopes of the Query protocol (IAM, STS) and the EC2 protocol.

use crate::xml::Xml;

/// Who is at fault, as the Query protocol's `<Type>` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    Sender,
    Receiver,
}

/// `<{Action}Response xmlns=ns><{Action}Result>…</{Action}Result><ResponseMetadata>…`. Operations
/// without an output shape pass `None` and get no Result element, as AWS sends them.
pub fn query_response(
    action: &str,
    ns: &str,
    request_id: &str,
    result: Option<&dyn Fn(&mut Xml)>,
) -> String {
    let mut x = Xml::new();
    let response = format!("{action}Response");
    x.open_ns(&response, ns);
    if let Some(body) = result {
        x.elem(&format!("{action}Result"), |x| body(x));
    }
    x.elem("ResponseMetadata", |x| {
        x.leaf("RequestId", request_id);
    });
    x.close(&response);
    x.finish()
}

pub fn query_error(
    ns: &str,
    kind: ErrorType,
    code: &str,
    message: &str,
    request_id: &str,
) -> String {
    let mut x = Xml::new();
    x.open_ns("ErrorResponse", ns);
    x.elem("Error", |x| {
        x.leaf(
            "Type",
            if kind == ErrorType::Sender {
                "Sender"
            } else {
                "Receiver"
            },
        );
        x.leaf("Code", code);
        x.leaf("Message", message);
    });
    x.leaf("RequestId", request_id);
    x.close("ErrorResponse");
    x.finish()
}

/// `<{Action}Response xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>…` then the body.
pub fn ec2_response(action: &str, request_id: &str, body: impl FnOnce(&mut Xml)) -> String {
    let mut x = Xml::new();
    let response = format!("{action}Response");
    x.open_ns(&response, "http://ec2.amazonaws.com/doc/2016-11-15/");
    x.leaf("requestId", request_id);
    body(&mut x);
    x.close(&response);
    x.finish()
}

pub fn ec2_error(code: &str, message: &str, request_id: &str) -> String {
    let mut x = Xml::new();
    x.elem("Response", |x| {
        x.elem("Errors", |x| {
            x.elem("Error", |x| {
                x.leaf("Code", code);
                x.leaf("Message", message);
            });
        });
        x.leaf("RequestID", request_id);
    });
    x.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let ok = query_response(
            "DeleteRole",
            "https://iam.amazonaws.com/doc/2010-05-08/",
            "r1",
            None,
        );
        assert!(ok.contains("<DeleteRoleResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><ResponseMetadata><RequestId>r1</RequestId></ResponseMetadata></DeleteRoleResponse>"));
        let err = query_error("ns", ErrorType::Sender, "NoSuchEntity", "m", "r");
        assert!(err.contains("<Error><Type>Sender</Type><Code>NoSuchEntity</Code><Message>m</Message></Error><RequestId>r</RequestId>"));
        let e = ec2_error("IncorrectState", "m", "r");
        assert!(e.contains("<Response><Errors><Error><Code>IncorrectState</Code>"));
    }
}
