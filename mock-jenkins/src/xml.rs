//! `/api/xml`: the same objects as `/api/json`, written by Stapler's XML rules.
//!
//! The root element is the decapitalised simple class name (`<freeStyleBuild>`, `<leftItem>`),
//! `_class` is an attribute in single quotes, a list becomes repeated elements named in the
//! singular (`jobs` → `<job>`, `*ies` → `*y`), and null is omitted.

use quick_xml::Writer;
use quick_xml::escape::escape;
use quick_xml::events::{BytesEnd, BytesStart, BytesText, Event};
use serde_json::Value;

/// Renders a JSON object as Jenkins' XML.
pub fn render(value: &Value) -> String {
    let root = value
        .get("_class")
        .and_then(Value::as_str)
        .map(simple_name)
        .unwrap_or_else(|| "object".into());
    let mut w = Writer::new(Vec::new());
    element(&mut w, &root, value);
    String::from_utf8(w.into_inner()).expect("XML written from UTF-8 strings")
}

/// `hudson.model.Queue$LeftItem` → `leftItem`.
fn simple_name(class: &str) -> String {
    let simple = class.rsplit(['.', '$']).next().unwrap_or(class);
    let mut chars = simple.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => "object".into(),
    }
}

/// `jobs` → `job`, `properties` → `property`.
fn singular(name: &str) -> String {
    if let Some(stem) = name.strip_suffix("ies") {
        format!("{stem}y")
    } else if let Some(stem) = name.strip_suffix('s') {
        stem.to_string()
    } else {
        name.to_string()
    }
}

fn write(w: &mut Writer<Vec<u8>>, event: Event) {
    w.write_event(event).expect("writing to a Vec cannot fail");
}

fn element(w: &mut Writer<Vec<u8>>, name: &str, value: &Value) {
    match value {
        Value::Null => {}
        Value::Array(items) => {
            let item_name = singular(name);
            for item in items {
                if !item.is_array() {
                    element(w, &item_name, item);
                }
            }
        }
        Value::Object(map) => {
            let start = match map.get("_class").and_then(Value::as_str) {
                Some(class) => BytesStart::from_content(
                    format!("{name} _class='{}'", escape(class)),
                    name.len(),
                ),
                None => BytesStart::new(name),
            };
            write(w, Event::Start(start));
            for (key, v) in map {
                if key != "_class" {
                    element(w, key, v);
                }
            }
            write(w, Event::End(BytesEnd::new(name)));
        }
        scalar => {
            let text = match scalar {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            write(w, Event::Start(BytesStart::new(name)));
            write(w, Event::Text(BytesText::new(&text)));
            write(w, Event::End(BytesEnd::new(name)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn follows_staplers_xml_rules() {
        let v = json!({"_class": "hudson.model.Queue$LeftItem", "actions": [{"_class": "hudson.model.CauseAction",
            "causes": [{"_class": "hudson.model.Cause$UserIdCause", "userName": "a&b"}]}],
            "id": 599, "why": null, "cancelled": false,
            "executable": {"_class": "org.jenkinsci.plugins.workflow.job.WorkflowRun", "number": 54}});
        assert_eq!(
            render(&v),
            "<leftItem _class='hudson.model.Queue$LeftItem'><action _class='hudson.model.CauseAction'>\
             <cause _class='hudson.model.Cause$UserIdCause'><userName>a&amp;b</userName></cause></action>\
             <id>599</id><cancelled>false</cancelled>\
             <executable _class='org.jenkinsci.plugins.workflow.job.WorkflowRun'><number>54</number></executable></leftItem>"
        );
        assert_eq!(singular("properties"), "property");
        assert_eq!(simple_name("hudson.model.Hudson"), "hudson");
    }
}
