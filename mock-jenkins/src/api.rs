//! The HTTP face: Jenkins' REST routes, its auth semantics and headers, and fault injection.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::Value;

use crate::render;
use crate::tree::{Sel, Tree};
use crate::world::{FaultKind, World};

/// The world behind a lock. A std mutex: every critical section is short and never awaits.
pub type Shared = Arc<Mutex<World>>;

/// The router.
pub fn router(world: Shared) -> axum::Router {
    axum::Router::new()
        .fallback(handle)
        .with_state(world)
        .layer(tower_http::compression::CompressionLayer::new().gzip(true))
}

async fn handle(
    State(world): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let path = uri.path().to_string();
    let fault = world.lock().expect("world lock").take_fault(&path);
    if let Some(FaultKind::Delay(ms)) = fault {
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
    let w = world.lock().expect("world lock");
    let mut response = match fault {
        Some(FaultKind::Status(code)) => html(
            StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            "Injected failure",
        ),
        Some(FaultKind::Garbage) => (
            StatusCode::OK,
            "<html><body>Please wait while Jenkins is getting ready",
        )
            .into_response(),
        _ => match authenticate(&w, &headers) {
            Err(response) => *response,
            Ok(user) => route(&w, &method, &path, &query, user.as_deref()),
        },
    };
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

/// Jenkins' rules: no credentials → anonymous (refused with 403 when users exist), bad
/// credentials → 401 with a Basic challenge.
fn authenticate(world: &World, headers: &HeaderMap) -> Result<Option<String>, Box<Response>> {
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
        None if world.settings.users.is_empty() => Ok(None),
        None => {
            let mut r = html(StatusCode::FORBIDDEN, "Authentication required");
            r.headers_mut().insert(
                "x-you-are-authenticated-as",
                HeaderValue::from_static("anonymous"),
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
                Ok(Some(user.to_string()))
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
        format!("<html><head><title>Error {}</title></head><body><h2>HTTP ERROR {}</h2><p>{text}</p></body></html>", status.as_u16(), status.as_u16()),
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

fn route(
    w: &World,
    method: &Method,
    path: &str,
    query: &HashMap<String, String>,
    user: Option<&str>,
) -> Response {
    let segments: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    let seg: Vec<&str> = segments.iter().map(String::as_str).collect();
    if method != Method::GET {
        return html(StatusCode::METHOD_NOT_ALLOWED, "Only GET is simulated here");
    }
    let tree = match query.get("tree").map(|t| Tree::parse(t)) {
        Some(Ok(t)) => Some(t),
        Some(Err(e)) => {
            return html(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("javax.servlet.ServletException: {e}"),
            );
        }
        None => None,
    };
    let depth = query.get("depth").and_then(|d| d.parse().ok()).unwrap_or(0);
    let sel = match &tree {
        Some(t) => Sel::Tree(t),
        None => Sel::Depth(depth),
    };
    let result = match seg.as_slice() {
        [] | ["api", "json"] => render::root(w, sel),
        ["queue", "api", "json"] => render::queue(w, sel),
        ["queue", "item", id, "api", "json"] => {
            let Ok(id) = id.parse::<u64>() else {
                return not_found();
            };
            match (w.queue.get(&id), w.left.get(&id)) {
                (Some(q), _) => render::queue_item(w, q, None, sel),
                (None, Some(l)) => render::queue_item(w, &l.entry, Some(l), sel),
                _ => return not_found(),
            }
        }
        ["computer", "api", "json"] => render::computers(w, sel),
        ["whoAmI", "api", "json"] => render::who_am_i(w, user, sel),
        ["crumbIssuer", "api", "json"] => Ok(serde_json::json!({
            "_class": "hudson.security.csrf.DefaultCrumbIssuer",
            "crumb": format!("{}-crumb", w.session), "crumbRequestField": "Jenkins-Crumb"})),
        ["job", ..] => return job_route(w, &seg, sel),
        _ => return not_found(),
    };
    match result {
        Ok(v) => json(v),
        Err(e) => html(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("javax.servlet.ServletException: {e}"),
        ),
    }
}

fn job_route(w: &World, seg: &[&str], sel: Sel) -> Response {
    let mut names = Vec::new();
    let mut rest = seg;
    while let ["job", name, tail @ ..] = rest {
        names.push(*name);
        rest = tail;
    }
    let full = names.join("/");
    let Some(item) = w.items.get(&full) else {
        return not_found();
    };
    let build_of = |n: &str| -> Option<&crate::world::Build> {
        match n {
            "lastBuild" => item.builds.values().next_back(),
            n => item.builds.get(&n.parse().ok()?),
        }
    };
    let result = match rest {
        ["api", "json"] | [] => render::item(w, item, sel),
        ["config.xml"] => {
            return (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/xml")],
                item.config_xml.clone(),
            )
                .into_response();
        }
        [n, "api", "json"] => match build_of(n) {
            Some(b) => render::build(w, item, b, sel),
            None => return not_found(),
        },
        [n, "wfapi", "describe"] if item.kind == crate::world::Kind::Pipeline => {
            match build_of(n) {
                Some(b) => Ok(render::describe(item, b)),
                None => return not_found(),
            }
        }
        _ => return not_found(),
    };
    match result {
        Ok(v) => json(v),
        Err(e) => html(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("javax.servlet.ServletException: {e}"),
        ),
    }
}
