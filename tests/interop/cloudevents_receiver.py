"""An HTTP CloudEvents receiver built on the Python cloudevents SDK (an independent parser).

Listens on 127.0.0.1 (port chosen by the OS, printed as the first line of stdout), parses every
POST with `cloudevents.core.bindings.http.from_http_event` (binary and structured modes), answers 200 when it
parses and 400 when it does not, and prints one JSON line per request:
{"ok": true, "attributes": {...}, "data": ..., "content_type": "..."} or {"ok": false, "error": "..."}.

A CDEvent (type dev.cdevents.*) is also validated with `jsonschema` against
cdevents-v0.5.schema.json, and checked against the CDEvents CloudEvents binding (CE id, source,
type, subject and time come from the CDEvent): the findings go in "cdevents_errors".
"""

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from jsonschema import Draft202012Validator

from cloudevents.core.bindings.http import HTTPMessage, from_http_event
from cloudevents.core.formats.json import JSONFormat


with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "cdevents-v0.5.schema.json")) as f:
    CDEVENTS = json.load(f)


def cdevents_errors(attributes, data, time_sent):
    ty = attributes.get("type", "")
    if ty not in CDEVENTS["$defs"]:
        return [f"no CDEvents v0.5 schema for type {ty}"]
    if isinstance(data, (bytes, bytearray, str)):
        data = json.loads(data)
    schema = {
        "$defs": CDEVENTS["$defs"],
        "allOf": [{"$ref": "#/$defs/event"}],
        "properties": {
            "context": {"properties": {"type": {"const": ty}}},
            "subject": {"properties": {"content": {"$ref": f"#/$defs/{ty}"}}},
        },
    }
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(data)]
    context, subject = data.get("context", {}), data.get("subject", {})
    for attribute, value in [("id", context.get("id")), ("source", context.get("source")),
                             ("type", context.get("type")), ("subject", subject.get("id"))]:
        if attributes.get(attribute) != value:
            errors.append(f"CE {attribute} {attributes.get(attribute)!r} is not the CDEvent's {value!r}")
    # The SDK fills in a missing time itself, so ask whether we sent one.
    if not time_sent:
        errors.append("CE time is missing (the binding takes it from context.timestamp)")
    return errors


def sent_time(headers, body):
    if any(k.lower() == "ce-time" for k in headers):
        return True
    ctype = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    if ctype.startswith("application/cloudevents-batch"):
        return any("time" in e for e in json.loads(body))
    if ctype.startswith("application/cloudevents"):
        return "time" in json.loads(body)
    return False


class Handler(BaseHTTPRequestHandler):
    def do_OPTIONS(self):
        # The CloudEvents webhook spec's validation handshake (the shim's start-up check of a
        # sink): allowed, and not an event.
        self.send_response(200)
        self.send_header("WebHook-Allowed-Origin", self.headers.get("WebHook-Request-Origin", "*"))
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        headers = {k: v for k, v in self.headers.items()}
        try:
            ctype = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
            if ctype.startswith("application/cloudevents-batch"):
                # The SDK has no batch reader: each element goes through its JSON event format.
                events = [JSONFormat().read(None, json.dumps(e).encode()) for e in json.loads(body)]
            else:
                events = [from_http_event(HTTPMessage(headers=headers, body=body))]
            lines = []
            for event in events:
                data = event.get_data()
                attributes = event.get_attributes()
                extra = {}
                if str(attributes.get("type", "")).startswith("dev.cdevents."):
                    extra["cdevents_errors"] = cdevents_errors(
                        {k: str(v) for k, v in attributes.items()}, data, sent_time(headers, body))
                lines.append({
                    **extra,
                    "ok": True,
                    "attributes": {k: (v if isinstance(v, (str, int, bool)) else str(v))
                                   for k, v in event.get_attributes().items()},
                    "data": data.decode() if isinstance(data, (bytes, bytearray)) else data,
                    "content_type": ctype,
                    # The SDK fills in `time` when absent; record whether we sent one.
                    "sent_time": sent_time(headers, body),
                })
            status = 200
        except Exception as e:  # any parse failure is a finding, reported to the test
            lines = [{"ok": False, "error": f"{type(e).__name__}: {e}"}]
            status = 400
        for line in lines:
            print(json.dumps(line), flush=True)
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
