//! Every HTTP example a reader can copy, run against the real server on the simulator as
//! shipped, so no example can rot: the `curl` commands of `README.md` and `docs/*.md`, and the
//! request examples of `/openapi.json`.
//!
//! The convention for the Markdown (also in CONTRIBUTING.md): in a ```` ```sh ```` block, every
//! command that starts with `curl` and whose URL starts with `$BRIDGE` is an example. `$BRIDGE`
//! is the bridge's address and `$TOKEN` its `site.token`; the options used are `-H`, `-d`
//! (inline, single-quoted; it may span lines), `-X` and `-i`. The lines after a command, up to
//! the next command, a comment or a blank line, are what it answers: an optional
//! `HTTP/1.1 <status> ...` line (without one, any 2xx is right), then an optional JSON body. The
//! answer must have every documented field with the documented value, except that a string
//! `"…"` and the fields in [`VARYING`] (fresh ids and times) match anything.
//!
//! The examples of one file run in order against one fresh bridge (the shipped example
//! configuration with `promo.use_iiko_codes = true`, on a simulator with its default generated
//! data and the branch's menu synced), so a file may create an order and then read it.

use std::{path::Path, time::Duration};

use serde_json::Value;

use iiko_bridge::sim::SimConfig;

use crate::support::{SITE_TOKEN, Spawn, TestApp};

/// Fields whose values differ from run to run.
const VARYING: [&str; 4] = ["iiko_order_id", "at", "synced_at", "revision"];

/// One HTTP example, as the reader would send it.
#[derive(Debug, Clone)]
struct Example {
    /// Where it is written, for the failure message.
    origin: String,
    method: String,
    /// The path and query after `$BRIDGE`.
    path: String,
    headers: Vec<(String, String)>,
    body: Option<String>,
    status: Option<u16>,
    answer: Option<Value>,
}

/// The bridge on the shipped example configuration (iiko's promo codes on) against a fresh
/// simulator as shipped.
async fn spawn_app() -> TestApp {
    Spawn::default()
        .sim(SimConfig::default())
        .app(|config| config.branches[0].promo.use_iiko_codes = true)
        .await
}

impl TestApp {
    /// Sends the example and checks the answer against what is documented.
    async fn send_example(&self, example: &Example) -> Value {
        let client = reqwest::Client::new();
        let method = reqwest::Method::from_bytes(example.method.as_bytes()).unwrap();
        let mut request = client.request(method, self.url(&example.path));
        for (name, value) in &example.headers {
            request = request.header(name, value);
        }
        if let Some(body) = &example.body {
            request = request.body(body.clone());
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let origin = &example.origin;
        match example.status {
            Some(expected) => assert_eq!(
                status, expected,
                "{origin}: {} {} answered {status} {text}",
                example.method, example.path
            ),
            None => assert!(
                (200..300).contains(&status),
                "{origin}: {} {} answered {status} {text}",
                example.method,
                example.path
            ),
        }
        let answer: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if let Some(documented) = &example.answer
            && let Err(at) = matches(documented, &answer, "")
        {
            panic!("{origin}: the answer differs from the documented one at {at}: {text}");
        }
        answer
    }
}

/// Whether `real` has everything `documented` shows; the error names the first difference.
fn matches(documented: &Value, real: &Value, at: &str) -> Result<(), String> {
    match (documented, real) {
        (Value::String(s), _) if s == "…" => Ok(()),
        (Value::Object(doc), Value::Object(real)) => {
            for (key, value) in doc {
                let at = format!("{at}.{key}");
                match real.get(key) {
                    Some(_) if VARYING.contains(&key.as_str()) => {}
                    Some(real) => matches(value, real, &at)?,
                    None => return Err(at),
                }
            }
            Ok(())
        }
        (Value::Array(doc), Value::Array(real)) if doc.len() == real.len() => doc
            .iter()
            .zip(real)
            .enumerate()
            .try_for_each(|(i, (d, r))| matches(d, r, &format!("{at}[{i}]"))),
        (Value::Number(doc), Value::Number(real)) if doc.as_f64() == real.as_f64() => Ok(()),
        (doc, real) if doc == real => Ok(()),
        _ => Err(at.to_owned()),
    }
}

// ---- The Markdown examples ---------------------------------------------------------------------

/// The `curl` examples of one Markdown file, in order.
fn markdown_examples(file: &str, text: &str) -> Vec<Example> {
    let mut examples = Vec::new();
    let mut in_sh = false;
    let mut lines = text.lines().enumerate().peekable();
    while let Some((number, line)) = lines.next() {
        let trimmed = line.trim();
        if trimmed.starts_with("```") {
            in_sh = !in_sh && trimmed == "```sh";
            continue;
        }
        if !in_sh || !trimmed.starts_with("curl ") {
            continue;
        }
        // The command runs on while a quote is open or the line ends with a backslash.
        let mut command = trimmed.to_owned();
        while !complete(&command) {
            let (_, next) = lines.next().expect("a curl command ends in its block");
            command.push('\n');
            command.push_str(next.trim());
        }
        let origin = format!("{file}:{}", number + 1);
        let Some(mut example) = parse_curl(&command, &origin) else {
            continue;
        };
        // What it answers.
        let mut output = Vec::new();
        while let Some((_, next)) = lines.peek() {
            let next = next.trim();
            if next.is_empty() || next.starts_with('#') || next.starts_with("```") {
                break;
            }
            if next.starts_with("curl ") {
                break;
            }
            output.push(next.to_owned());
            lines.next();
        }
        if let Some(first) = output.first().filter(|l| l.starts_with("HTTP/")) {
            let status = first.split_whitespace().nth(1).and_then(|s| s.parse().ok());
            example.status = Some(status.unwrap_or_else(|| panic!("{origin}: {first}")));
            output.remove(0);
        }
        if !output.is_empty() {
            let json = output.join("\n");
            let answer = serde_json::from_str(&json)
                .unwrap_or_else(|e| panic!("{origin}: the answer is not JSON ({e}): {json}"));
            example.answer = Some(answer);
        }
        examples.push(example);
    }
    examples
}

/// Whether a shell command has no open quote and no trailing line continuation.
fn complete(command: &str) -> bool {
    words(command).is_some() && !command.ends_with('\\')
}

/// The words of a shell command with `$BRIDGE` and `$TOKEN` left in place; `None` while a quote
/// is open.
fn words(command: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = command.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next()? {
                        '\'' => break,
                        c => w.push(c),
                    }
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => w.push(chars.next()?),
                        c => w.push(c),
                    }
                }
            }
            '\\' if chars.peek() == Some(&'\n') => {
                chars.next();
            }
            c if c.is_whitespace() => words.extend(word.take()),
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    Some(words)
}

/// A `curl` command against `$BRIDGE`, or `None` for one against another address.
fn parse_curl(command: &str, origin: &str) -> Option<Example> {
    let words = words(command).unwrap();
    let mut example = Example {
        origin: origin.to_owned(),
        method: String::new(),
        path: String::new(),
        headers: Vec::new(),
        body: None,
        status: None,
        answer: None,
    };
    let mut url = None;
    let mut method = None;
    let mut args = words.into_iter().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| panic!("{origin}: {arg} needs a value"))
        };
        match arg.as_str() {
            "-H" | "--header" => {
                let header = value().replace("$TOKEN", SITE_TOKEN);
                let (name, value) = header
                    .split_once(':')
                    .unwrap_or_else(|| panic!("{origin}: header {header}"));
                example
                    .headers
                    .push((name.trim().to_owned(), value.trim().to_owned()));
            }
            "-d" | "--data" | "--data-raw" => {
                let body = value();
                assert!(!body.starts_with('@'), "{origin}: write the body inline");
                example.body = Some(body);
            }
            "-X" | "--request" => method = Some(value()),
            "-i" | "-s" | "-sS" | "--include" => {}
            other if other.starts_with('-') => panic!("{origin}: curl option {other} is not run"),
            other => url = Some(other.to_owned()),
        }
    }
    let url = url.unwrap_or_else(|| panic!("{origin}: curl without a URL"));
    example.path = url.strip_prefix("$BRIDGE")?.to_owned();
    example.method = method.unwrap_or_else(|| match example.body {
        Some(_) => "POST".into(),
        None => "GET".into(),
    });
    Some(example)
}

/// README.md and docs/*.md, each with its examples.
fn documents() -> Vec<(String, Vec<Example>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("README.md")];
    let mut docs: Vec<_> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
        .into_iter()
        .map(|path| {
            let name = path.strip_prefix(root).unwrap().display().to_string();
            let text = std::fs::read_to_string(&path).unwrap();
            let examples = markdown_examples(&name, &text);
            (name, examples)
        })
        .collect()
}

#[test]
fn the_example_convention_finds_the_documented_calls() {
    let documents = documents();
    let all: Vec<&Example> = documents.iter().flat_map(|(_, e)| e).collect();
    let find = |path: &str| {
        all.iter()
            .find(|e| e.path.starts_with(path))
            .unwrap_or_else(|| panic!("no example of {path} in {all:#?}"))
    };
    let order = find("/api/v1/orders");
    assert_eq!(order.origin.split(':').next(), Some("docs/orders.md"));
    assert_eq!((order.method.as_str(), order.status), ("POST", Some(202)));
    let body: Value = serde_json::from_str(order.body.as_deref().unwrap()).unwrap();
    assert_eq!(body["items"][0]["article"], "PZ-00001");
    assert!(
        order
            .headers
            .contains(&("Authorization".into(), format!("Bearer {}", SITE_TOKEN)))
    );
    assert_eq!(order.answer.as_ref().unwrap()["state"], "queued");
    // The page and /openapi.json show the same order.
    let document: Value =
        serde_json::from_str(include_str!("../../src/http/openapi.json")).unwrap();
    assert_eq!(
        body,
        document["paths"]["/api/v1/orders"]["post"]["requestBody"]["content"]["application/json"]["examples"]
            ["delivery"]["value"]
    );
    let balance = find("/api/v1/loyalty/balance");
    assert_eq!(balance.method, "GET");
    assert_eq!(balance.answer.as_ref().unwrap()["found"], true);
    let calculate = find("/api/v1/loyalty/calculate");
    assert_eq!(calculate.method, "POST");
    // A command against another address is not the bridge's example.
    assert!(parse_curl("curl https://example.org/x", "here").is_none());
}

#[bed::test]
async fn every_curl_example_in_the_readme_and_docs_works_against_the_simulator() {
    let mut ran = 0;
    for (file, examples) in documents() {
        if examples.is_empty() {
            continue;
        }
        let bridge = spawn_app().await;
        for example in &examples {
            bridge.send_example(example).await;
        }
        ran += examples.len();
        eprintln!("{file}: {} example(s) ran", examples.len());
    }
    assert!(ran >= 5, "the docs have their examples ({ran})");
}

#[test]
fn a_rotten_example_is_caught() {
    let text = "```sh\ncurl -H \"Authorization: Bearer $TOKEN\" \"$BRIDGE/api/v1/orders\" -d '\n{\"id\": \"X\"}'\nHTTP/1.1 202 Accepted\n{\"state\": \"queued\"}\n```\n";
    let examples = markdown_examples("x.md", text);
    assert_eq!(examples.len(), 1);
    assert_eq!(examples[0].body.as_deref(), Some("\n{\"id\": \"X\"}"));
    assert!(
        matches(
            &serde_json::json!({"state": "queued"}),
            &serde_json::json!({"state": "fallback", "x": 1}),
            ""
        )
        .is_err()
    );
    assert!(
        matches(
            &serde_json::json!({"id": "…", "at": "then"}),
            &serde_json::json!({"id": "a", "at": "now"}),
            ""
        )
        .is_ok()
    );
}

// ---- The OpenAPI examples ----------------------------------------------------------------------

/// The request examples of `/openapi.json`: every operation with a request body example or an
/// example parameter, orders first and cancels last (they cancel the example order).
fn openapi_examples(document: &Value) -> Vec<Example> {
    let resolve = |value: &Value| -> Value {
        match value["$ref"].as_str() {
            Some(reference) => document
                .pointer(reference.strip_prefix('#').unwrap())
                .unwrap_or_else(|| panic!("{reference} dangles"))
                .clone(),
            None => value.clone(),
        }
    };
    let order_examples = &document["paths"]["/api/v1/orders"]["post"]["requestBody"]["content"]["application/json"]
        ["examples"];
    let order_id = order_examples
        .as_object()
        .and_then(|e| e.values().next())
        .and_then(|e| e["value"]["id"].as_str())
        .expect("an order example with an id")
        .to_owned();
    let mut examples = Vec::new();
    for (route, operations) in document["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            let parameters: Vec<Value> = operation["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .map(resolve)
                .collect();
            let bodies: Vec<(String, Value)> =
                operation["requestBody"]["content"]["application/json"]["examples"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(name, example)| (name.clone(), resolve(example)["value"].clone()))
                    .collect();
            if bodies.is_empty() && !parameters.iter().any(|p| p.get("example").is_some()) {
                continue;
            }
            let mut path = route.replace("{id}", &order_id);
            let mut query = Vec::new();
            for parameter in &parameters {
                let name = parameter["name"].as_str().unwrap();
                match (parameter["in"].as_str(), parameter.get("example")) {
                    (Some("query"), Some(example)) => {
                        let value = example.as_str().unwrap();
                        query.push(format!("{name}={}", urlencode(value)));
                    }
                    (Some("query"), None) if parameter["required"] == true => {
                        panic!("{method} {route}: the required {name} has no example")
                    }
                    _ => {}
                }
            }
            if !query.is_empty() {
                path = format!("{path}?{}", query.join("&"));
            }
            let headers = vec![
                ("Authorization".into(), format!("Bearer {}", SITE_TOKEN)),
                ("Content-Type".into(), "application/json".into()),
            ];
            let requests = match bodies.is_empty() {
                true => vec![("(no body)".to_owned(), None)],
                false => bodies
                    .into_iter()
                    .map(|(name, body)| (name, Some(body.to_string())))
                    .collect(),
            };
            for (name, body) in requests {
                examples.push(Example {
                    origin: format!(
                        "openapi.json {} {route} example {name}",
                        method.to_uppercase()
                    ),
                    method: method.to_uppercase(),
                    path: path.clone(),
                    headers: headers.clone(),
                    body,
                    status: None,
                    answer: None,
                });
            }
        }
    }
    let rank = |e: &Example| match (e.method.as_str(), e.path.as_str()) {
        ("POST", "/api/v1/orders") => 0,
        (_, path) if path.contains("/cancel") => 2,
        _ => 1,
    };
    examples.sort_by_key(rank);
    examples
}

fn urlencode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            b => format!("%{b:02X}"),
        })
        .collect()
}

#[bed::test]
async fn every_request_example_of_the_openapi_document_works_against_the_simulator() {
    let bridge = spawn_app().await;
    let document: Value = reqwest::get(bridge.url("/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let examples = openapi_examples(&document);
    let routes: Vec<(&str, &str)> = examples
        .iter()
        .map(|e| (e.method.as_str(), e.path.split('?').next().unwrap()))
        .collect();
    for expected in [
        ("POST", "/api/v1/orders"),
        ("POST", "/api/v1/orders/check"),
        ("GET", "/api/v1/orders/WEB-10045"),
        ("POST", "/api/v1/orders/WEB-10045/cancel"),
        ("GET", "/api/v1/loyalty/balance"),
        ("POST", "/api/v1/loyalty/calculate"),
        ("GET", "/api/v1/catalog"),
    ] {
        assert!(routes.contains(&expected), "{expected:?} in {routes:?}");
    }
    for example in &examples {
        if example.path.contains("/cancel") {
            // A cancel answers 409 while an attempt is in flight: wait until iiko has the order.
            let view = example.path.replace("/cancel", "");
            let view = Example {
                method: "GET".into(),
                body: None,
                path: view,
                ..example.clone()
            };
            let mut tries = 0;
            while bridge.send_example(&view).await["state"] != "created" {
                tries += 1;
                assert!(
                    tries < 150,
                    "{}: the example order was not created",
                    example.origin
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        let answer = bridge.send_example(example).await;
        if example.method == "POST" && example.path == "/api/v1/orders" {
            assert_eq!(
                answer["state"], "queued",
                "{}: the example maps to the simulator's menu: {answer}",
                example.origin
            );
        }
        if example.path == "/api/v1/orders/check" {
            assert_eq!(answer["ok"], true, "{}: {answer}", example.origin);
        }
    }
}
