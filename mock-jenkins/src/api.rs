//! The HTTP face: Jenkins' REST routes (read and write), its auth and CSRF semantics and
//! headers, fault injection, and the control API under `/mock/`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::Value;

use crate::render;
use crate::tree::{Malformed, Sel, Tree};
use crate::world::{Build, Enqueue, FaultKind, Item, World, WorldError};

/// The world behind a lock. A std mutex: every critical section is short and never awaits.
pub type Shared = Arc<Mutex<World>>;

/// Largest request body accepted (config.xml, control actions).
const MAX_BODY: usize = 4 * 1024 * 1024;

/// The router.
pub fn router(world: Shared) -> axum::Router {
    axum::Router::new()
        .fallback(handle)
        .with_state(world)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .layer(tower_http::compression::CompressionLayer::new().gzip(true))
}

/// Who is asking.
enum Caller {
    Anonymous,
    /// Authenticated with an API token: exempt from crumbs, as in Jenkins.
    Token(String),
}

impl Caller {
    fn name(&self) -> Option<&str> {
        match self {
            Caller::Anonymous => None,
            Caller::Token(u) => Some(u),
        }
    }
}

async fn handle(
    State(world): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    if path.starts_with("/mock/") {
        return control(&world, &method, &path, &body);
    }
    let fault = world
        .lock()
        .expect("world lock")
        .take_fault(&path, uri.query().unwrap_or(""));
    if let Some(FaultKind::Delay(ms)) = fault {
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
    let mut w = world.lock().expect("world lock");
    w.requests += 1;
    let mut response = match fault {
        Some(FaultKind::Status(code)) => html(
            StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            "Injected failure",
        ),
        Some(FaultKind::Garbage) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json;charset=utf-8")],
            "<html><body>Please wait while Jenkins is getting ready",
        )
            .into_response(),
        Some(FaultKind::Reset) => reset(),
        _ => match authenticate(&w, &headers) {
            Err(response) => *response,
            Ok(caller) => {
                let request = Request {
                    path: &path,
                    query: &query,
                    headers: &headers,
                    body: &body,
                    caller: &caller,
                };
                if method == Method::POST {
                    post(&mut w, &request)
                } else if method == Method::GET || method == Method::HEAD {
                    match w.access_of(caller.name()) {
                        Some(access) => get(&w.visible_to(access), &request),
                        None => get(&w, &request),
                    }
                } else {
                    html(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed")
                }
            }
        },
    };
    w.response_bytes += http_body::Body::size_hint(response.body())
        .exact()
        .unwrap_or(0);
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&w.settings.version) {
        h.insert("x-jenkins", v);
    }
    if let Ok(v) = HeaderValue::from_str(&w.session) {
        h.insert("x-jenkins-session", v);
    }
    h.insert("x-hudson", HeaderValue::from_static("1.395"));
    response
}

/// A response whose body fails after it started: the client sees the connection break.
fn reset() -> Response {
    let stream = futures::stream::iter(vec![
        Ok::<_, std::io::Error>(Bytes::from_static(b"{\"_class\":")),
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "injected reset",
        )),
    ]);
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json;charset=utf-8")],
        Body::from_stream(stream),
    )
        .into_response()
}

struct Request<'a> {
    path: &'a str,
    query: &'a HashMap<String, String>,
    headers: &'a HeaderMap,
    body: &'a Bytes,
    caller: &'a Caller,
}

/// Jenkins' rules: no credentials → anonymous (refused with 403 when users exist), bad
/// credentials → 401 with a Basic challenge.
fn authenticate(world: &World, headers: &HeaderMap) -> Result<Caller, Box<Response>> {
    let supplied = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .and_then(|b| String::from_utf8(b).ok());
    match supplied {
        None if world.settings.users.is_empty() => Ok(Caller::Anonymous),
        None => {
            let mut r = html(StatusCode::FORBIDDEN, "Authentication required");
            r.headers_mut().insert(
                "x-you-are-authenticated-as",
                HeaderValue::from_static("anonymous"),
            );
            r.headers_mut().insert(
                "x-required-permission",
                HeaderValue::from_static("hudson.model.Hudson.Read"),
            );
            Err(Box::new(r))
        }
        Some(pair) => {
            let (user, token) = pair.split_once(':').unwrap_or((&pair, ""));
            if world
                .settings
                .users
                .iter()
                .any(|(u, t)| u == user && t == token)
            {
                Ok(Caller::Token(user.to_string()))
            } else {
                let mut r = html(StatusCode::UNAUTHORIZED, "Invalid password/token for user");
                r.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"Jenkins\""),
                );
                Err(Box::new(r))
            }
        }
    }
}

fn html(status: StatusCode, text: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html;charset=utf-8")],
        format!(
            "<html><head><title>Error {}</title></head><body><h2>HTTP ERROR {}</h2><p>{text}</p></body></html>",
            status.as_u16(),
            status.as_u16()
        ),
    )
        .into_response()
}

fn json(value: Value) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json;charset=utf-8")],
        Body::from(value.to_string()),
    )
        .into_response()
}

fn not_found() -> Response {
    html(StatusCode::NOT_FOUND, "Not Found")
}

fn world_error(e: WorldError) -> Response {
    match e {
        WorldError::NoItem(_) | WorldError::NoBuild(..) | WorldError::NoQueueItem(_) => {
            html(StatusCode::NOT_FOUND, &e.to_string())
        }
        WorldError::Exists(_) => html(
            StatusCode::BAD_REQUEST,
            &format!("A job already exists with the name: {e}"),
        ),
        WorldError::Invalid(_) => html(StatusCode::BAD_REQUEST, &e.to_string()),
    }
}

/// Path segments, percent-decoded.
fn segments(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect()
}

/// `job/a/job/b/rest…` → (`a/b`, rest); a matrix configuration follows its project without
/// `job/` (`job/m/label=linux/3/` → (`m/label=linux`, `3`)).
fn split_job<'s>(w: &World, seg: &'s [&'s str]) -> (String, &'s [&'s str]) {
    let mut names = Vec::new();
    let mut rest = seg;
    while let ["job", name, tail @ ..] = rest {
        names.push(*name);
        rest = tail;
    }
    let mut full = names.join("/");
    if let [cfg, tail @ ..] = rest
        && w.items
            .get(&full)
            .is_some_and(|i| i.kind == crate::world::Kind::Matrix)
        && w.items.contains_key(&format!("{full}/{cfg}"))
    {
        full = format!("{full}/{cfg}");
        rest = tail;
    }
    (full, rest)
}

/// Serves a rendered object as `api/json` or `api/xml`.
fn api(format: &str, result: Result<Value, Malformed>) -> Response {
    match result {
        Ok(v) if format == "xml" => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/xml;charset=utf-8")],
            crate::xml::render(&v),
        )
            .into_response(),
        Ok(v) => json(v),
        Err(e) => html(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("javax.servlet.ServletException: {e}"),
        ),
    }
}

fn get(w: &World, r: &Request) -> Response {
    let tree = match r.query.get("tree").map(|t| Tree::parse(t)) {
        Some(Ok(t)) => Some(t),
        Some(Err(e)) => {
            return html(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("javax.servlet.ServletException: {e}"),
            );
        }
        None => None,
    };
    let depth = r
        .query
        .get("depth")
        .and_then(|d| d.parse().ok())
        .unwrap_or(0);
    let sel = match &tree {
        Some(t) => Sel::Tree(t),
        None => Sel::Depth(depth),
    };
    let owned = segments(r.path);
    let seg: Vec<&str> = owned.iter().map(String::as_str).collect();
    let caller = r.caller.name();
    match seg.as_slice() {
        [] => api("json", render::root(w, sel)),
        ["api", f @ ("json" | "xml")] => api(f, render::root(w, sel)),
        ["queue", "api", f @ ("json" | "xml")] => api(f, render::queue(w, sel)),
        ["queue", "item", id, "api", f @ ("json" | "xml")] => {
            let Ok(id) = id.parse::<u64>() else {
                return not_found();
            };
            match (w.queue.get(&id), w.left.get(&id)) {
                (Some(q), _) => api(f, render::queue_item(w, q, None, sel)),
                (None, Some(l)) => api(f, render::queue_item(w, &l.entry, Some(l), sel)),
                _ => not_found(),
            }
        }
        ["computer", "api", f @ ("json" | "xml")] => api(f, render::computers(w, sel)),
        ["computer", name, "api", f @ ("json" | "xml")] => match node_index(w, name) {
            Some(i) => api(f, render::computer(w, &w.nodes[i], sel)),
            None => not_found(),
        },
        ["whoAmI", "api", f @ ("json" | "xml")] => api(f, render::who_am_i(w, caller, sel)),
        ["me", "api", f @ ("json" | "xml")] => match caller {
            Some(user) => api(f, render::user(w, user, sel)),
            None => html(StatusCode::FORBIDDEN, "anonymous has no user record"),
        },
        ["crumbIssuer", "api", f @ ("json" | "xml")] => api(f, Ok(crumb(w))),
        ["job", ..] => get_job(w, &seg, sel, caller),
        _ => not_found(),
    }
}

fn crumb(w: &World) -> Value {
    serde_json::json!({"_class": "hudson.security.csrf.DefaultCrumbIssuer", "crumb": crumb_value(w), "crumbRequestField": "Jenkins-Crumb"})
}

fn crumb_value(w: &World) -> String {
    format!("{}c0ffee", w.session)
}

/// `(master)` and `(built-in)` name the built-in node in URLs.
fn node_index(w: &World, name: &str) -> Option<usize> {
    match name {
        "(master)" | "(built-in)" => Some(0),
        name => w
            .nodes
            .iter()
            .position(|n| n.name == name && !n.name.is_empty()),
    }
}

fn build_of<'i>(item: &'i Item, n: &str) -> Option<&'i Build> {
    match n {
        "lastBuild" => item.builds.values().next_back(),
        n => item.builds.get(&n.parse().ok()?),
    }
}

fn get_job(w: &World, seg: &[&str], sel: Sel, caller: Option<&str>) -> Response {
    let (full, rest) = split_job(w, seg);
    let Some(item) = w.items.get(&full) else {
        return not_found();
    };
    match rest {
        [] => api("json", render::item(w, item, sel)),
        ["api", f @ ("json" | "xml")] => api(f, render::item(w, item, sel)),
        // AbstractItem.doConfigDotXml checks Item.EXTENDED_READ.
        ["config.xml"] if w.access_of(caller).is_some_and(|a| !a.extended_read) => html(
            StatusCode::FORBIDDEN,
            &format!(
                "{} is missing the Job/ExtendedRead permission",
                caller.unwrap_or("anonymous")
            ),
        ),
        ["config.xml"] => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/xml")],
            item.config_xml.clone(),
        )
            .into_response(),
        [n, "api", f @ ("json" | "xml")] => match build_of(item, n) {
            Some(b) => api(f, render::build(w, item, b, sel)),
            None => not_found(),
        },
        [n, "consoleText"] => match build_of(item, n) {
            Some(b) => format!(
                "Started\n{}\nFinished: {}\n",
                "mock-jenkins",
                b.result.as_deref().unwrap_or("")
            )
            .into_response(),
            None => not_found(),
        },
        [n, "wfapi", "describe"] if item.kind == crate::world::Kind::Pipeline => {
            match build_of(item, n) {
                Some(b) => json(render::describe(item, b)),
                None => not_found(),
            }
        }
        _ => not_found(),
    }
}

fn post(w: &mut World, r: &Request) -> Response {
    // CSRF: POSTs need the crumb, except from callers authenticated with an API token.
    if matches!(r.caller, Caller::Anonymous) {
        let sent = r.headers.get("jenkins-crumb").and_then(|v| v.to_str().ok());
        if sent != Some(crumb_value(w).as_str()) {
            return html(
                StatusCode::FORBIDDEN,
                "No valid crumb was included in the request",
            );
        }
    }
    let owned = segments(r.path);
    let seg: Vec<&str> = owned.iter().map(String::as_str).collect();
    let body = String::from_utf8_lossy(r.body).into_owned();
    let result: Result<Response, WorldError> = match seg.as_slice() {
        ["queue", "cancelItem"] => {
            let id = r.query.get("id").and_then(|i| i.parse().ok()).unwrap_or(0);
            w.cancel(id)
                .map(|()| StatusCode::NO_CONTENT.into_response())
        }
        ["computer", "doCreateItem"] => {
            let name = r.query.get("name").cloned().unwrap_or_default();
            w.set_node(&name, false, false);
            Ok(StatusCode::OK.into_response())
        }
        ["computer", name, "toggleOffline"] => match node_index(w, name) {
            Some(i) => {
                let node = &mut w.nodes[i];
                node.temporarily_offline = !node.temporarily_offline;
                Ok(StatusCode::OK.into_response())
            }
            None => Err(WorldError::Invalid(format!("no node {name}"))),
        },
        ["computer", name, "doDelete"] => {
            let name = name.to_string();
            w.remove_node(&name);
            Ok(StatusCode::OK.into_response())
        }
        ["createItem"] | ["job", .., "createItem"] => {
            let (folder, _) = split_job(w, &seg);
            match r.query.get("name") {
                None => Err(WorldError::Invalid(
                    "Query parameter 'name' is required".into(),
                )),
                Some(name) => {
                    let full = if folder.is_empty() {
                        name.clone()
                    } else {
                        format!("{folder}/{name}")
                    };
                    if !folder.is_empty() && !w.items.contains_key(&folder) {
                        Err(WorldError::NoItem(folder))
                    } else if r.query.get("mode").map(String::as_str) == Some("copy") {
                        let from = r.query.get("from").cloned().unwrap_or_default();
                        let source = if folder.is_empty() {
                            from
                        } else {
                            format!("{folder}/{from}")
                        };
                        let xml = w.items.get(&source).map(|i| i.config_xml.clone());
                        match xml {
                            Some(xml) => w
                                .create_from_xml(&full, &xml)
                                .map(|()| StatusCode::OK.into_response()),
                            None => Err(WorldError::NoItem(source)),
                        }
                    } else {
                        w.create_from_xml(&full, &body)
                            .map(|()| StatusCode::OK.into_response())
                    }
                }
            }
        }
        ["job", ..] => post_job(w, &seg, r, &body),
        _ => return not_found(),
    };
    result.unwrap_or_else(world_error)
}

fn post_job(w: &mut World, seg: &[&str], r: &Request, body: &str) -> Result<Response, WorldError> {
    let (full, rest) = split_job(w, seg);
    if !w.items.contains_key(&full) {
        return Err(WorldError::NoItem(full));
    }
    match rest {
        ["config.xml"] => w
            .reconfigure(&full, body)
            .map(|()| StatusCode::OK.into_response()),
        // AbstractItem.doConfirmRename, then a redirect to the new URL.
        ["confirmRename"] => {
            let name = r.query.get("newName").cloned().unwrap_or_default();
            let to = match crate::world::split_parent(&full) {
                Some((parent, _)) => format!("{parent}/{name}"),
                None => name,
            };
            w.relocate(&full, &to)?;
            let location = crate::render::item_url(w, &to);
            Ok((StatusCode::FOUND, [(header::LOCATION, location)]).into_response())
        }
        // cloudbees-folder RelocationAction.doMove: `destination` is `/` or `/folder/path`.
        ["move", "move"] => {
            let dest = r.query.get("destination").cloned().unwrap_or_default();
            let dest = dest.trim_matches('/');
            let leaf = crate::world::split_parent(&full).map_or(full.as_str(), |(_, n)| n);
            let to = if dest.is_empty() {
                leaf.to_string()
            } else {
                format!("{dest}/{leaf}")
            };
            w.relocate(&full, &to)?;
            let location = crate::render::item_url(w, &to);
            Ok((StatusCode::FOUND, [(header::LOCATION, location)]).into_response())
        }
        ["build"] | ["buildWithParameters"] => {
            let mut params: Vec<(String, String)> = r
                .query
                .iter()
                .filter(|(k, _)| !matches!(k.as_str(), "delay" | "token" | "cause"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            params.sort();
            let quiet_ms = r
                .query
                .get("delay")
                .and_then(|d| humantime::parse_duration(&d.replace("sec", "s")).ok())
                .map(|d| d.as_millis() as i64);
            let plan = Some(w.item_mut(&full)?.plan.clone());
            let user = r.caller.name().map(str::to_owned);
            let id = w.enqueue(
                &full,
                Enqueue {
                    quiet_ms,
                    user,
                    params,
                    plan,
                },
            )?;
            let location = format!("{}queue/item/{id}/", w.root_url);
            Ok((StatusCode::CREATED, [(header::LOCATION, location)]).into_response())
        }
        ["doDelete"] => w.delete(&full).map(|()| StatusCode::OK.into_response()),
        ["enable"] => {
            w.item_mut(&full)?.disabled = false;
            Ok(StatusCode::OK.into_response())
        }
        ["disable"] => w.disable(&full).map(|()| StatusCode::OK.into_response()),
        [n, "stop"] => {
            let n = n
                .parse()
                .map_err(|_| WorldError::NoBuild(full.clone(), 0))?;
            w.stop(&full, n).map(|()| StatusCode::OK.into_response())
        }
        [n, "doDelete"] => {
            let n = n
                .parse()
                .map_err(|_| WorldError::NoBuild(full.clone(), 0))?;
            w.delete_build(&full, n)
                .map(|()| StatusCode::OK.into_response())
        }
        _ => Ok(not_found()),
    }
}

/// `/mock/do`, `/mock/scenario`, `/mock/state`.
fn control(world: &Shared, method: &Method, path: &str, body: &Bytes) -> Response {
    match (method.as_str(), path) {
        ("GET", "/mock/state") => json(crate::control::state(&world.lock().expect("world lock"))),
        ("POST", "/mock/do") => match serde_json::from_slice::<crate::control::Action>(body) {
            Ok(action) => {
                match crate::control::apply(&mut world.lock().expect("world lock"), action) {
                    Ok(v) => json(v),
                    Err(e) => world_error(e),
                }
            }
            Err(e) => html(StatusCode::BAD_REQUEST, &format!("invalid action: {e}")),
        },
        ("POST", "/mock/scenario") => {
            match serde_json::from_slice::<crate::control::Scenario>(body) {
                Ok(scenario) => match scenario.validate() {
                    Ok(()) => {
                        tokio::spawn(
                            scenario
                                .play(world.clone(), tokio_util::sync::CancellationToken::new()),
                        );
                        StatusCode::ACCEPTED.into_response()
                    }
                    Err(e) => world_error(e),
                },
                Err(e) => html(StatusCode::BAD_REQUEST, &format!("invalid scenario: {e}")),
            }
        }
        _ => not_found(),
    }
}
