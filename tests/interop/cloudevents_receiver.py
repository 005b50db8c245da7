"""An HTTP CloudEvents receiver built on the Python cloudevents SDK (an independent parser).

Listens on 127.0.0.1 (port chosen by the OS, printed as the first line of stdout), parses every
POST with `cloudevents.core.bindings.http.from_http_event` (binary and structured modes), answers 200 when it
parses and 400 when it does not, and prints one JSON line per request:
{"ok": true, "attributes": {...}, "data": ..., "content_type": "..."} or {"ok": false, "error": "..."}.
"""

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cloudevents.core.bindings.http import HTTPMessage, from_http_event
from cloudevents.core.formats.json import JSONFormat


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
                lines.append({
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
