//! The HTTP edge under hostile or unlucky traffic: repeats answered from the store whatever
//! changed since, tokens checked before bodies are read, timeouts and a concurrency limit,
//! cheap probes, honest keep-alive, and site traffic kept off dispatch's iiko capacity.

use std::{net::SocketAddr, num::NonZeroU32, time::Duration};

use chrono::Utc;
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use iiko_bridge::{
    config::Config,
    menu::CatalogCache,
    orders::service,
    sim::{SimConfig, demo_ids},
    startup::Application,
};

use crate::support::{SITE_TOKEN, Spawn, TestApp, iiko};

const TOKEN: &str = SITE_TOKEN;
/// The headers of a site's order submission.
/// (The token is `SITE_TOKEN`; a const cannot join it with "Bearer ".)
const SITE: [(&str, &str); 2] = [
    ("Authorization", "Bearer site-token-for-the-tests-0123"),
    ("Content-Type", "application/json"),
];
const HOOK_TOKEN: &str = "edge-iiko-webhook-token-0123456789";
const TOKEN_PATH: &str = "/api/1/access_token";

/// The example configuration on a simulator, with strong tokens and `edit` applied; the tests
/// serve it (or another configuration on the same store) themselves.
async fn spawn_app(edit: impl FnOnce(&mut Config)) -> TestApp {
    Spawn::default()
        .sim(SimConfig {
            products: 30,
            ..SimConfig::default()
        })
        .without_server()
        .app(|config| {
            config.iiko_webhook.auth_token = Some(HOOK_TOKEN.into());
            edit(config);
        })
        .await
}

impl TestApp {
    async fn iiko_calls(&self, path: &str) -> usize {
        self.requests(path).await.len()
    }
}

/// Serves the API (with its workers) in the background.
async fn serve(config: Config) -> Served {
    let app = Application::build(config).await.unwrap();
    let served = Served {
        main: app.local_addr().unwrap(),
        ops: app.ops_addr(),
    };
    tokio::spawn(app.run(std::future::pending()));
    served
}

struct Served {
    main: SocketAddr,
    ops: Option<SocketAddr>,
}

impl Served {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.main)
    }
}

fn post(url: String, body: &Value) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .post(url)
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body(body.to_string())
}

// ---- A raw HTTP/1.1 client: what a pooled connection sees -------------------------------------

struct Raw {
    stream: TcpStream,
    buffer: Vec<u8>,
}

#[derive(Debug)]
struct RawResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl RawResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn closes(&self) -> bool {
        self.header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|_| panic!("not JSON: {self:?}"))
    }
}

impl Raw {
    async fn connect(address: SocketAddr) -> Raw {
        Raw {
            stream: TcpStream::connect(address).await.unwrap(),
            buffer: Vec::new(),
        }
    }

    /// Writes; a server that already closed the connection makes this fail, as a site's
    /// pooled client would.
    async fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes).await
    }

    /// The next response, or `None` when the server closed the connection without one; a
    /// server that says nothing for 10 s fails the test.
    async fn response(&mut self) -> Option<RawResponse> {
        tokio::time::timeout(Duration::from_secs(10), self.read_response())
            .await
            .expect("the server answers within 10 s")
    }

    async fn read_response(&mut self) -> Option<RawResponse> {
        let end = loop {
            if let Some(at) = self.buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break at;
            }
            if !self.fill().await {
                return None;
            }
        };
        let head = String::from_utf8(self.buffer[..end].to_vec()).unwrap();
        self.buffer.drain(..end + 4);
        let mut lines = head.split("\r\n");
        let status = lines.next().unwrap().split(' ').nth(1).unwrap();
        let headers: Vec<(String, String)> = lines
            .map(|line| {
                let (name, value) = line.split_once(':').unwrap();
                (name.trim().to_lowercase(), value.trim().to_owned())
            })
            .collect();
        let length: usize = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .map_or(0, |(_, v)| v.parse().unwrap());
        while self.buffer.len() < length {
            assert!(self.fill().await, "the body was cut short");
        }
        let body = String::from_utf8(self.buffer.drain(..length).collect()).unwrap();
        Some(RawResponse {
            status: status.parse().unwrap(),
            headers,
            body,
        })
    }

    /// Reads more; false at the end of the stream (or a reset).
    async fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 8192];
        match self.stream.read(&mut chunk).await {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.buffer.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }

    /// After a refusal: either the server said it closes the connection, or the connection
    /// still carries a second request. A pooled client can then never lose its next order.
    async fn assert_honest_after(&mut self, refused: &RawResponse) {
        if refused.closes() {
            return;
        }
        let next = self
            .send(b"GET /healthz HTTP/1.1\r\nHost: bridge\r\n\r\n")
            .await;
        let answered = match next {
            Ok(()) => self.response().await,
            Err(_) => None,
        };
        assert!(
            answered.is_some_and(|r| r.status == 200),
            "the server dropped the connection after {refused:?} without Connection: close"
        );
    }
}

fn head(method: &str, path: &str, headers: &[(&str, &str)], length: usize) -> Vec<u8> {
    let mut text = format!("{method} {path} HTTP/1.1\r\nHost: bridge\r\n");
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str(&format!("Content-Length: {length}\r\n\r\n"));
    text.into_bytes()
}

// ---- Defect 2: a repeat is answered from the stored order ----------------------------------------

#[bed::test]
async fn a_repeat_after_deliver_at_has_passed_is_answered_200_from_the_stored_order() {
    let bed = spawn_app(|_| {}).await;
    let deliver_at = Utc::now() - chrono::Duration::hours(1);
    let mut body = bed.body("WEB-LATE");
    body["deliver_at"] = json!(deliver_at.to_rfc3339());
    // Accepted two hours ago, when the delivery time was still ahead.
    let accepted = service::submit_order(
        &bed.store,
        &CatalogCache::new(bed.store.clone()),
        &iiko(&bed.config),
        &bed.config,
        body.to_string().as_bytes(),
        None,
        deliver_at - chrono::Duration::hours(1),
    )
    .await
    .expect("accepted while deliver_at was ahead");
    assert!(!accepted.repeat);

    let served = serve(bed.config.clone()).await;
    let repeat = post(served.url("/api/v1/orders"), &body)
        .send()
        .await
        .unwrap();
    assert_eq!(repeat.status(), 200);
    assert_eq!(repeat.json::<Value>().await.unwrap(), accepted.body);

    let mut changed = body.clone();
    changed["comment"] = json!("Позвоните заранее");
    let conflict = post(served.url("/api/v1/orders"), &changed)
        .send()
        .await
        .unwrap();
    assert_eq!(conflict.status(), 409, "another order under a taken id");
}

#[bed::test]
async fn a_repeat_for_a_branch_renamed_since_is_answered_200_from_the_stored_order() {
    let bed = spawn_app(|_| {}).await;
    let body = bed.body("WEB-RENAMED");
    let accepted = service::submit_order(
        &bed.store,
        &CatalogCache::new(bed.store.clone()),
        &iiko(&bed.config),
        &bed.config,
        body.to_string().as_bytes(),
        None,
        Utc::now(),
    )
    .await
    .unwrap();
    assert!(!accepted.repeat);

    let mut renamed = bed.config.clone();
    renamed.branches[0].key = "lenina-centre".into();
    let served = serve(renamed).await;
    let repeat = post(served.url("/api/v1/orders"), &body)
        .send()
        .await
        .unwrap();
    assert_eq!(repeat.status(), 200);
    assert_eq!(repeat.json::<Value>().await.unwrap(), accepted.body);

    let mut unknown = bed.body("WEB-NEW");
    unknown["branch"] = json!("lenina");
    let refused = post(served.url("/api/v1/orders"), &unknown)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 422, "a new order still needs a branch");
}

// ---- Defect 5: no work without a token, bounded requests, cheap probes ---------------------------

#[bed::test]
async fn an_iiko_webhook_call_with_a_wrong_token_is_refused_before_its_body_is_read() {
    let bed = spawn_app(|_| {}).await;
    let served = serve(bed.config.clone()).await;
    let mut raw = Raw::connect(served.main).await;
    // Announces 10 MB and sends one byte: only a server that reads the body first waits.
    let mut request = head(
        "POST",
        "/iiko/webhook",
        &[
            ("Authorization", "wrong-token"),
            ("Content-Type", "application/json"),
        ],
        10_000_000,
    );
    request.push(b'[');
    raw.send(&request).await.unwrap();
    let refused = raw.response().await.expect("an answer");
    assert_eq!(refused.status, 401);
    assert!(refused.closes(), "{refused:?}");
}

#[bed::test]
async fn a_request_slower_than_server_request_timeout_seconds_is_answered_503_in_json() {
    let bed = spawn_app(|config| {
        config.server.request_timeout_seconds = 1;
        config.status.cancel_wait_seconds = 0.5;
    })
    .await;
    let served = serve(bed.config.clone()).await;
    let mut raw = Raw::connect(served.main).await;
    let mut request = head("POST", "/api/v1/orders", &SITE, 200);
    request.extend_from_slice(b"{\"id\": \"WEB-SLOW\"");
    raw.send(&request).await.unwrap();
    let answer = raw.response().await.expect("an answer");
    assert_eq!(answer.status, 503, "{answer:?}");
    assert_eq!(answer.json()["error"], "timeout");
    assert!(answer.closes(), "the body was not read: {answer:?}");
}

#[bed::test]
async fn past_server_max_concurrent_requests_a_request_is_refused_503_at_once() {
    let bed = spawn_app(|config| config.server.max_concurrent_requests = 1).await;
    let served = serve(bed.config.clone()).await;
    // One request in progress: its body is still coming.
    let mut slow = Raw::connect(served.main).await;
    let mut request = head("POST", "/api/v1/orders", &SITE, 200);
    request.push(b'{');
    slow.send(&request).await.unwrap();

    let view = served.url("/api/v1/orders/WEB-NONE?branch=lenina");
    let client = reqwest::Client::new();
    let mut refused = None;
    for _ in 0..100 {
        let response = client.get(&view).bearer_auth(TOKEN).send().await.unwrap();
        if response.status() == 503 {
            refused = Some(response.json::<Value>().await.unwrap());
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let refused = refused.expect("a second request is refused while the first holds the slot");
    assert_eq!(refused["error"], "overloaded");
    let health = client.get(served.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200, "the ops endpoints stay reachable");

    drop(slow);
    let mut status = 0;
    for _ in 0..100 {
        status = client
            .get(&view)
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        if status != 503 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(status, 404, "the slot is free again");
}

#[bed::test]
async fn readyz_gives_a_short_stable_reason_and_a_flood_fetches_the_token_once() {
    let bed = spawn_app(|_| {}).await;
    let mut wrong = bed.config.clone();
    wrong.iiko.api_login = Some("a-wrong-api-login".into());
    let served = serve(wrong).await;
    let before = bed.iiko_calls(TOKEN_PATH).await;
    let answers = futures::future::join_all((0..30).map(|_| async {
        let response = reqwest::get(served.url("/readyz")).await.unwrap();
        (
            response.status().as_u16(),
            response.json::<Value>().await.unwrap(),
        )
    }))
    .await;
    for (status, body) in &answers {
        assert_eq!(*status, 503);
        assert_eq!(body["status"], "not ready");
        assert_eq!(body["store"], "ok");
        assert_eq!(body["iiko"], "credentials_refused", "{body}");
    }
    let fetched = bed.iiko_calls(TOKEN_PATH).await - before;
    // The menu scheduler may ask once or twice as well; thirty probes would ask thirty times.
    assert!(fetched <= 3, "{fetched} token requests for 30 /readyz");
}

#[bed::test]
async fn the_ops_endpoints_are_served_on_server_ops_listen_as_well() {
    let bed =
        spawn_app(|config| config.server.ops_listen = Some("127.0.0.1:0".parse().unwrap())).await;
    let served = serve(bed.config.clone()).await;
    let ops = served.ops.expect("an ops listener");
    for path in ["/healthz", "/readyz", "/metrics"] {
        let response = reqwest::get(format!("http://{ops}{path}")).await.unwrap();
        assert_eq!(response.status(), 200, "{path} on ops_listen");
        let response = reqwest::get(served.url(path)).await.unwrap();
        assert_eq!(response.status(), 200, "{path} on listen");
    }
    let metrics = reqwest::get(format!("http://{ops}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("iiko_bridge_site_events_pending"),
        "{metrics}"
    );
    let api = reqwest::get(format!("http://{ops}/api/v1/catalog?branch=lenina"))
        .await
        .unwrap();
    assert_eq!(api.status(), 404, "the site API stays on listen only");
}

// ---- Defect 6: a refusal never drops a pooled connection silently --------------------------------

#[bed::test]
async fn a_refused_request_with_an_unread_body_announces_that_the_connection_closes() {
    let bed = spawn_app(|config| config.server.max_body_bytes = 1024).await;
    let served = serve(bed.config.clone()).await;
    let wrong = [
        ("Authorization", "Bearer wrong"),
        ("Content-Type", "application/json"),
    ];
    let hook = [
        ("Authorization", "wrong"),
        ("Content-Type", "application/json"),
    ];
    for (path, headers, length, expected) in [
        ("/api/v1/orders", SITE, 100_000, 413),
        ("/api/v1/orders", wrong, 800, 401),
        ("/iiko/webhook", hook, 800, 401),
    ] {
        let mut raw = Raw::connect(served.main).await;
        let mut request = head("POST", path, &headers, length);
        // Part of the body: the rest is still on its way when the server answers.
        request.extend_from_slice(&[b' '; 300]);
        raw.send(&request).await.unwrap();
        let refused = raw.response().await.expect("an answer");
        assert_eq!(refused.status, expected, "{path}: {refused:?}");
        raw.assert_honest_after(&refused).await;
    }

    // A refusal after the whole body was read keeps the connection.
    let mut raw = Raw::connect(served.main).await;
    let body = b"{\"id\": \"WEB-BAD\"}";
    let mut request = head("POST", "/api/v1/orders", &SITE, body.len());
    request.extend_from_slice(body);
    raw.send(&request).await.unwrap();
    let invalid = raw.response().await.expect("an answer");
    assert_eq!(invalid.status, 422);
    assert!(!invalid.closes(), "{invalid:?}");
    raw.assert_honest_after(&invalid).await;
}

// ---- Defect 9: site traffic cannot starve dispatch -----------------------------------------------

#[bed::test]
async fn the_loyalty_routes_answer_429_past_the_site_rate() {
    let bed = spawn_app(|config| config.site.requests_per_second = NonZeroU32::MIN).await;
    let served = serve(bed.config.clone()).await;
    let balance = served.url(&format!(
        "/api/v1/loyalty/balance?branch=lenina&phone=%2B{}",
        &demo_ids::CUSTOMER_PHONE[1..]
    ));
    let statuses = futures::future::join_all((0..5).map(|_| async {
        let response = reqwest::Client::new()
            .get(&balance)
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (
            status,
            response.json::<Value>().await.unwrap()["error"].clone(),
        )
    }))
    .await;
    assert!(
        statuses.contains(&(429, json!("rate_limited"))),
        "{statuses:?}"
    );
    assert!(
        statuses.iter().any(|(status, _)| *status == 200),
        "{statuses:?}"
    );
    // The order API has its own budget: a loyalty flood does not refuse orders.
    let check = post(served.url("/api/v1/orders/check"), &bed.body("WEB-CHECK"))
        .send()
        .await
        .unwrap();
    assert_eq!(check.status(), 200);
}
