// An HTTP CloudEvents receiver built on the JavaScript cloudevents SDK (an independent parser).
// Prints its port first, then one JSON line per request in the format of
// ../cloudevents_receiver.py, answering 200 when the SDK parses the request and 400 when not.
import http from "node:http";
import { HTTP } from "cloudevents";

function sentTime(headers, body) {
  if (headers["ce-time"] !== undefined) return true;
  const type = headers["content-type"] || "";
  if (type.startsWith("application/cloudevents-batch")) return JSON.parse(body).some((e) => e.time !== undefined);
  if (type.startsWith("application/cloudevents")) return JSON.parse(body).time !== undefined;
  return false;
}

const server = http.createServer((req, res) => {
  // The CloudEvents webhook spec's validation handshake (the shim's start-up check of a
  // sink): allowed, and not an event.
  if (req.method === "OPTIONS") {
    res.writeHead(200, { "WebHook-Allowed-Origin": req.headers["webhook-request-origin"] || "*" }).end();
    return;
  }
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    const body = Buffer.concat(chunks).toString("utf8");
    let line;
    try {
      const parsed = HTTP.toEvent({ headers: req.headers, body });
      const events = Array.isArray(parsed) ? parsed : [parsed];
      for (const event of events) {
        const attributes = {};
        for (const key of ["specversion", "id", "source", "type", "datacontenttype", "subject", "time"]) {
          if (event[key] !== undefined) attributes[key] = String(event[key]);
        }
        line = {
          ok: true,
          attributes,
          data: event.data ?? null,
          content_type: req.headers["content-type"],
          sent_time: sentTime(req.headers, body),
        };
        console.log(JSON.stringify(line));
      }
      res.writeHead(200).end();
    } catch (e) {
      console.log(JSON.stringify({ ok: false, error: String(e) }));
      res.writeHead(400).end();
    }
  });
});
server.listen(0, "127.0.0.1", () => console.log(server.address().port));
