//! The operations endpoints without a token: `/metrics` (Prometheus text) and `/openapi.json`.
//! `/metrics` reads the store at most once per probe interval, so scraping it costs nothing.
//!
//! Counters are recorded where things happen with one-line `metrics::counter!` calls (a no-op
//! in commands that install no recorder); `serve` installs the Prometheus recorder once per
//! process and this module renders it.
use std::sync::OnceLock;

use axum::{
    extract::State,
    http::{StatusCode, header},
    response::IntoResponse,
};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use super::AppState;

/// The bridge's own API as OpenAPI 3 (hand-written; a test checks it against the router).
pub const OPENAPI: &str = include_str!("openapi.json");

/// The process's Prometheus recorder, installed on first use.
pub fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("another metrics recorder is installed: /metrics shows nothing");
        }
        handle
    })
}

pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    // Counted at scrape time, at most once per probe interval however often it is scraped:
    // one indexed COUNT, cheaper than keeping a gauge in step.
    let pending = state
        .probes
        .pending_events
        .get(|| async {
            state
                .store
                .pending_site_events()
                .await
                .inspect_err(
                    |error| tracing::warn!(%error, "cannot count pending site events for /metrics"),
                )
                .ok()
        })
        .await;
    if let Some(pending) = pending {
        metrics::gauge!("iiko_bridge_site_events_pending").set(pending as f64);
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        prometheus().render(),
    )
}

pub async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use serde_json::Value;

    use super::*;
    use crate::{config::Sources, orders::parse_order};

    fn document() -> Value {
        serde_json::from_str(OPENAPI).expect("openapi.json is JSON")
    }

    /// `(method, path)` of every `.route("PATH", get(..).post(..))` in `dir`, recursively.
    fn routes_in(dir: &Path, found: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                routes_in(&path, found);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for (start, _) in text.match_indices(".route(") {
                let call = &text[start + ".route(".len()..];
                // The route call's arguments, up to its closing parenthesis.
                let mut depth = 1;
                let end = call
                    .char_indices()
                    .find(|&(_, c)| {
                        depth += match c {
                            '(' => 1,
                            ')' => -1,
                            _ => 0,
                        };
                        depth == 0
                    })
                    .map_or(call.len(), |(i, _)| i);
                let call = &call[..end];
                let Some(route) = call.trim_start().strip_prefix('"') else {
                    continue;
                };
                let Some(route) = route.split('"').next().filter(|r| r.starts_with('/')) else {
                    continue;
                };
                for method in ["get", "post", "put", "patch", "delete"] {
                    let called = call.match_indices(&format!("{method}(")).any(|(i, _)| {
                        i == 0 || !call[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_')
                    });
                    if called {
                        found.push((method.to_owned(), route.to_owned()));
                    }
                }
            }
        }
    }

    #[test]
    fn every_route_the_bridge_serves_is_described() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut routes = Vec::new();
        for entry in std::fs::read_dir(&src).unwrap() {
            let path = entry.unwrap().path();
            // The simulator serves iiko's API and the demo's pretend website receives events:
            // neither is the bridge's API.
            if path.is_dir() && !path.ends_with("sim") && !path.ends_with("cli") {
                routes_in(&path, &mut routes);
            }
        }
        assert!(
            routes.contains(&("post".into(), "/api/v1/orders".into())),
            "the scan finds the routes: {routes:?}"
        );
        let document = document();
        assert!(document["openapi"].as_str().unwrap().starts_with("3.1"));
        for (method, path) in routes {
            assert!(
                document["paths"][&path][&method].is_object(),
                "{} {path} is not in openapi.json",
                method.to_uppercase()
            );
        }
    }

    #[test]
    fn the_documented_order_examples_pass_the_real_intake() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bridge.toml");
        let example = include_str!("../../config/bridge.example.toml").replace(
            "token = \"change-me\"",
            "token = \"a-token-for-this-test-only\"",
        );
        std::fs::write(&path, example).unwrap();
        let config = Sources::load(&path).unwrap().config().unwrap();
        let document = document();
        let paths = &document["paths"];
        for (route, require_id) in [("/api/v1/orders", true), ("/api/v1/orders/check", false)] {
            let examples =
                paths[route]["post"]["requestBody"]["content"]["application/json"]["examples"]
                    .as_object()
                    .unwrap();
            assert!(!examples.is_empty());
            for (name, example) in examples {
                let raw = example["value"].to_string();
                if let Err(error) = parse_order(raw.as_bytes(), &config, require_id) {
                    panic!("{route} example {name} is refused: {error:?}");
                }
            }
        }
    }

    #[test]
    fn every_ref_points_at_a_component() {
        let document = document();
        let mut refs = Vec::new();
        collect_refs(&document, &mut refs);
        assert!(!refs.is_empty());
        for reference in refs {
            let pointer = reference.strip_prefix('#').expect("local refs only");
            assert!(document.pointer(pointer).is_some(), "{reference} dangles");
        }
    }

    fn collect_refs(value: &Value, refs: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(reference)) = map.get("$ref") {
                    refs.push(reference.clone());
                }
                map.values().for_each(|v| collect_refs(v, refs));
            }
            Value::Array(items) => items.iter().for_each(|v| collect_refs(v, refs)),
            _ => {}
        }
    }
}
