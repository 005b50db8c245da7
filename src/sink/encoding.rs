//! Events to messages: headers and a body, pure. HTTP sends them as they are; NATS carries the
//! same headers as NATS headers. Includes the percent-encoding of `ce-*` values the HTTP
//! binding requires and cloudevents-sdk 0.9 does not do.

use crate::event::kubesphere::GenericEvent;
use cloudevents::event::{AttributeValue, Data};
use cloudevents::{AttributesReader, Event};
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

/// What the HTTP binding (§3.1.3.2) requires encoded in header values: space, `"`, `%`, controls
/// and DEL; non-ASCII is always encoded as UTF-8 bytes.
const HEADER_VALUE: &AsciiSet = &CONTROLS.add(b' ').add(b'"').add(b'%').add(0x7f);

/// Percent-encodes a `ce-*` header value.
pub fn percent_encode_header(value: &str) -> String {
    utf8_percent_encode(value, HEADER_VALUE).to_string()
}

/// Headers and body of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// Header name and value, in sending order.
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

fn data_bytes(data: Option<&Data>) -> Vec<u8> {
    match data {
        Some(Data::Json(v)) => serde_json::to_vec(v).expect("JSON values always serialise"),
        Some(Data::String(s)) => s.clone().into_bytes(),
        Some(Data::Binary(b)) => b.clone(),
        None => Vec::new(),
    }
}

/// Binary mode: `ce-specversion`, `ce-id`, `ce-source`, `ce-type` (then any other attribute
/// and extension) as headers, `Content-Type` from `datacontenttype`, the data as the body.
pub fn encode_binary(event: &Event) -> Encoded {
    let mut headers = vec![
        (
            "ce-specversion".to_string(),
            event.specversion().to_string(),
        ),
        ("ce-id".to_string(), percent_encode_header(event.id())),
        (
            "ce-source".to_string(),
            percent_encode_header(event.source()),
        ),
        ("ce-type".to_string(), percent_encode_header(event.ty())),
    ];
    for (name, value) in event.iter_attributes() {
        match (name, value) {
            ("specversion" | "id" | "source" | "type" | "datacontenttype", _) => {}
            (name, AttributeValue::Time(t)) => {
                headers.push((format!("ce-{name}"), percent_encode_header(&t.to_rfc3339())))
            }
            (name, value) => headers.push((
                format!("ce-{name}"),
                percent_encode_header(&value.to_string()),
            )),
        }
    }
    for (name, value) in event.iter_extensions() {
        headers.push((
            format!("ce-{name}"),
            percent_encode_header(&value.to_string()),
        ));
    }
    if let Some(ct) = event.datacontenttype() {
        headers.push(("Content-Type".to_string(), ct.to_string()));
    }
    Encoded {
        headers,
        body: data_bytes(event.data()),
    }
}

/// Structured mode: the JSON event format as `application/cloudevents+json`. The charset is
/// written in lower case: the JavaScript SDK (`cloudevents` 10) matches the whole header value
/// exactly and knows only `charset=utf-8`; every other parser takes either.
pub fn encode_structured(event: &Event) -> Encoded {
    Encoded {
        headers: vec![(
            "Content-Type".to_string(),
            "application/cloudevents+json; charset=utf-8".to_string(),
        )],
        body: serde_json::to_vec(event).expect("events always serialise"),
    }
}

/// KubeSphere's generic-event dialect: the envelope as `application/json`, with the
/// `X-Event-Type` and `Referrer` headers generic-event-plugin sends (no `ce-*` headers).
pub fn encode_generic(event: &GenericEvent) -> Encoded {
    Encoded {
        headers: vec![
            (
                "Content-Type".to_string(),
                "application/json; charset=UTF-8".to_string(),
            ),
            ("X-Event-Type".to_string(), event.envelope.ty.clone()),
            (
                "Referrer".to_string(),
                percent_encode_header(&event.referrer),
            ),
        ],
        body: serde_json::to_vec(&event.envelope).expect("events always serialise"),
    }
}

/// Batched mode: a JSON array of structured events as `application/cloudevents-batch+json`.
pub fn encode_batch(events: &[Event]) -> Encoded {
    Encoded {
        headers: vec![(
            "Content-Type".to_string(),
            "application/cloudevents-batch+json; charset=utf-8".to_string(),
        )],
        body: serde_json::to_vec(events).expect("events always serialise"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cloudevents::{EventBuilder, EventBuilderV10};

    #[test]
    fn header_values_are_percent_encoded_as_the_http_binding_requires() {
        assert_eq!(percent_encode_header("job/test2"), "job/test2");
        assert_eq!(percent_encode_header("job/my%20job"), "job/my%2520job");
        assert_eq!(percent_encode_header("job/fü"), "job/f%C3%BC");
        assert_eq!(percent_encode_header("a\"b c"), "a%22b%20c");
    }

    #[test]
    fn binary_mode_sends_the_plugins_header_set_and_the_data_as_body() {
        let event = EventBuilderV10::new()
            .id("1")
            .source("job/fü")
            .ty("org.jenkinsci.queue.left")
            .data("application/json", serde_json::json!({"b": 1, "a": 2}))
            .build()
            .unwrap();
        let encoded = encode_binary(&event);
        let names: Vec<_> = encoded.headers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "ce-specversion",
                "ce-id",
                "ce-source",
                "ce-type",
                "Content-Type"
            ]
        );
        assert_eq!(encoded.headers[2].1, "job/f%C3%BC");
        assert_eq!(encoded.body, br#"{"b":1,"a":2}"#, "field order is kept");
    }
}
