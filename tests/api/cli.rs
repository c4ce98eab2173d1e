//! The `iiko-bridge` binary against the bundled simulator: `discover`, `check`, `demo`, and how
//! configuration problems are reported.
use std::{
    path::{Path, PathBuf},
    process::{Output, Stdio},
    time::Duration,
};

use iiko_bridge::sim::{self, SimConfig, SimHandle, demo_ids};
use tempfile::TempDir;

use crate::support::{ConfigFile, store};

const SITE_TOKEN: &str = "site-token-for-the-cli-tests";

/// The example with what `check` rightly flags in it filled in: a real site token instead of
/// the placeholder, and an SMTP server for the fallback e-mails.
fn servable(file: &mut ConfigFile) {
    file.set("site.token", SITE_TOKEN)
        .add("email.smtp_url", "smtp://127.0.0.1:2525")
        .add("email.from", "iiko-bridge <bridge@example.ru>");
}

struct Setup {
    sim: SimHandle,
    dir: TempDir,
}

impl Setup {
    async fn new() -> Self {
        let sim = sim::Simulator::spawn(SimConfig {
            products: 30,
            ..SimConfig::default()
        })
        .await
        .expect("the simulator starts");
        Setup {
            sim,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// The example config pointed at this test's simulator, with `edit` applied.
    fn config(&self, edit: impl FnOnce(&mut ConfigFile)) -> PathBuf {
        let mut file = ConfigFile::example();
        file.set(
            "iiko.base_url",
            self.sim.base_url.as_str().trim_end_matches('/'),
        );
        edit(&mut file);
        file.write(self.dir.path(), "bridge.toml")
    }
}

async fn bridge(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_iiko-bridge"));
    command.args(args).env_remove("RUST_LOG").kill_on_drop(true);
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().await.expect("the binary runs")
}

/// A `serve` process with JSON logs, and its log lines as they come.
struct Serving {
    _child: tokio::process::Child,
    lines: tokio::sync::mpsc::UnboundedReceiver<String>,
}

async fn serve(config: &Path) -> Serving {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_iiko-bridge"))
        .args(["serve", "--config", config.to_str().unwrap()])
        .env_remove("RUST_LOG")
        .env("IIKO_BRIDGE__LOG__FORMAT", "json")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("serve starts");
    let stderr = child.stderr.take().unwrap();
    let (sender, lines) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        use tokio::io::AsyncBufReadExt;
        let mut reader = tokio::io::BufReader::new(stderr).lines();
        while let Ok(Some(line)) = reader.next_line().await {
            if sender.send(line).is_err() {
                return;
            }
        }
    });
    Serving {
        _child: child,
        lines,
    }
}

impl Serving {
    /// The first log line (each one must be a JSON object) that `matches`.
    async fn wait_for(
        &mut self,
        what: &str,
        matches: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let found = tokio::time::timeout(Duration::from_secs(60), async {
            loop {
                let line = self
                    .lines
                    .recv()
                    .await
                    .unwrap_or_else(|| panic!("serve ended before {what}"));
                let json: serde_json::Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("a log line that is not JSON ({e}): {line}"));
                assert!(json.is_object(), "{line}");
                if matches(&json) {
                    return json;
                }
            }
        })
        .await;
        found.unwrap_or_else(|_| panic!("serve never logged {what}"))
    }

    /// Waits for the listening line and answers the address.
    async fn address(&mut self) -> String {
        let line = self
            .wait_for("that it listens", |l| {
                l["message"] == "iiko-bridge listening"
            })
            .await;
        line["address"].as_str().unwrap().to_owned()
    }
}

/// Store, export folder and port of a config kept inside the test's folder.
fn local(dir: &Path) -> impl FnOnce(&mut ConfigFile) {
    let dir = dir.to_owned();
    move |file| {
        servable(file);
        file.set("store.url", store::url(&dir))
            .set("menu.export_dir", dir.join("export").display().to_string())
            .set("server.listen", "127.0.0.1:0");
    }
}

/// SQLite serves one process; PostgreSQL any number.
#[bed::test]
async fn a_second_serve_refuses_a_sqlite_store_and_says_why_and_shares_a_postgres_one() {
    let setup = Setup::new().await;
    let config = setup.config(local(setup.dir.path()));
    let path = config.to_str().unwrap();
    let mut first = serve(&config).await;
    first.address().await;

    if store::on_postgres() {
        let mut second = serve(&config).await;
        second.address().await;
        let list = bridge(&["orders", "list", "--config", path], &[]).await;
        assert!(list.status.success(), "{}", text(&list.stderr));
        return;
    }
    let second = tokio::time::timeout(
        Duration::from_secs(60),
        bridge(&["serve", "--config", path], &[]),
    )
    .await
    .expect("the second serve refuses instead of running");
    assert_eq!(second.status.code(), Some(2), "{}", text(&second.stderr));
    let stderr = text(&second.stderr);
    let store = format!("{}/bridge.db", setup.dir.path().display());
    assert!(
        stderr.contains("another process holds") && stderr.contains(&format!("{store}.lock")),
        "{stderr}"
    );

    let list = bridge(&["orders", "list", "--config", path], &[]).await;
    assert!(list.status.success(), "{}", text(&list.stderr));
}

#[bed::test]
async fn json_logs_carry_the_order_its_branch_and_the_iiko_correlation_id_as_fields() {
    let setup = Setup::new().await;
    let config = setup.config(local(setup.dir.path()));
    let mut serving = serve(&config).await;
    let base = format!("http://{}", serving.address().await);
    let http = reqwest::Client::new();
    // serve syncs the menu as it starts.
    let catalog: serde_json::Value = loop {
        let answer = http
            .get(format!("{base}/api/v1/catalog?branch=lenina"))
            .bearer_auth(SITE_TOKEN)
            .send()
            .await
            .unwrap();
        if answer.status().is_success() {
            break answer.json().await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let dish = catalog["products"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| {
            p["available"] == true
                && p["hidden"] == false
                && p["sizes"].as_array().unwrap().len() == 1
                && p["modifier_groups"].as_array().unwrap().is_empty()
        })
        .expect("a plain dish");
    let price = dish["sizes"][0]["price"].clone();
    let answer = http
        .post(format!("{base}/api/v1/orders"))
        .bearer_auth(SITE_TOKEN)
        .json(&serde_json::json!({
            "id": "LOG-1", "branch": "lenina", "service": "delivery",
            "customer": {"name": "Иван", "phone": demo_ids::CUSTOMER_PHONE},
            "address": {"city": "Москва", "street": "Ленина", "house": "10"},
            "items": [{"article": dish["article"], "quantity": 1, "price": price}],
            "payment": {"method": "card"},
            "total": price,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 202, "{}", answer.text().await.unwrap());
    let line = serving
        .wait_for("the order's iiko call", |l| {
            l["message"] == "iiko call for an order" && l["operation"] == "create"
        })
        .await;
    assert_eq!(line["span"]["order"], "LOG-1", "{line}");
    assert_eq!(line["span"]["branch"], "lenina", "{line}");
    assert!(
        line["correlation_id"]
            .as_str()
            .is_some_and(|c| c.len() == 36),
        "{line}"
    );
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[bed::test]
async fn discover_shows_the_organizations_terminal_groups_and_the_universal_discount() {
    let setup = Setup::new().await;
    let config = setup.config(|_| {});
    let out = bridge(&["--config", config.to_str().unwrap(), "discover"], &[]).await;
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for expected in [
        demo_ids::ORG_LENINA.to_string(),
        demo_ids::ORG_MIRA.to_string(),
        demo_ids::TG_LENINA.to_string(),
        demo_ids::PAYMENT_BONUS.to_string(),
        demo_ids::EXTERNAL_MENU_ID.to_string(),
        demo_ids::PRICE_CATEGORY_BASE.to_string(),
    ] {
        assert!(
            stdout.contains(&expected),
            "{expected} missing from:\n{stdout}"
        );
    }
    let universal_row = stdout
        .lines()
        .find(|line| line.contains(&demo_ids::DISCOUNT_UNIVERSAL.to_string()))
        .expect("the universal discount is listed");
    assert!(universal_row.contains('*'), "{universal_row}");
    let percent_row = stdout
        .lines()
        .find(|line| line.contains(&demo_ids::DISCOUNT_PERCENT.to_string()))
        .expect("the percent discount is listed");
    assert!(!percent_row.contains('*'), "{percent_row}");
}

#[bed::test]
async fn discover_needs_only_the_iiko_section_and_can_print_json() {
    let setup = Setup::new().await;
    let base_url = setup.sim.base_url.as_str().trim_end_matches('/').to_owned();
    let config = setup.dir.path().join("bridge.toml");
    std::fs::write(
        &config,
        format!(
            "[iiko]\nbase_url = \"{base_url}\"\napi_key = \"{}\"\napp_id = \"{}\"\nclient_secret = \"{}\"\n",
            demo_ids::API_KEY,
            demo_ids::APP_ID,
            demo_ids::CLIENT_SECRET
        ),
    )
    .unwrap();
    let out = bridge(
        &["discover", "--json", "--config", config.to_str().unwrap()],
        &[],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON output");
    let organization = json["organizations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["id"] == demo_ids::ORG_LENINA.to_string())
        .expect("Lenina is listed");
    assert!(
        organization["terminal_groups"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["id"] == demo_ids::TG_LENINA.to_string() && t["alive"] == true)
    );
    assert!(
        organization["discounts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["id"] == demo_ids::DISCOUNT_UNIVERSAL.to_string() && d["universal"] == true)
    );
}

#[bed::test]
async fn check_accepts_the_example_config_once_its_placeholders_are_filled_in() {
    let setup = Setup::new().await;
    let config = setup.config(servable);
    let out = bridge(&["check", "--config", config.to_str().unwrap()], &[]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("ok:"));
}

#[bed::test]
async fn check_refuses_the_examples_placeholder_token_with_exit_code_2() {
    let setup = Setup::new().await;
    let config = setup.config(|_| {});
    let out = bridge(&["check", "--config", config.to_str().unwrap()], &[]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("site.token: still the example's \"change-me\""),
        "{}",
        text(&out.stderr)
    );
}

#[bed::test]
async fn check_catches_what_serve_would_refuse_or_could_not_do_and_warns_about_the_rest() {
    let setup = Setup::new().await;
    let config = setup.config(|file| {
        file.remove("site.token");
    });
    let out = bridge(&["check", "--config", config.to_str().unwrap()], &[]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    for expected in [
        "site.token: required to serve the API",
        "branches[0].fallback.emails (lenina): set, but email.smtp_url is not",
        "warning: server.listen 0.0.0.0:8080:",
    ] {
        assert!(stderr.contains(expected), "{expected} not in {stderr}");
    }

    let out = bridge(&["serve", "--config", config.to_str().unwrap()], &[]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("site.token: required to serve the API"));
}

#[bed::test]
async fn discover_with_credentials_iiko_refuses_exits_2() {
    let setup = Setup::new().await;
    let config = setup.config(|file| {
        file.set("iiko.api_login", "wrong-login");
    });
    let out = bridge(&["discover", "--config", config.to_str().unwrap()], &[]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("iiko.api_login"));
}

#[bed::test]
async fn a_branch_key_can_be_set_from_the_environment() {
    let setup = Setup::new().await;
    let config = setup.config(servable);
    let path = config.to_str().unwrap();
    let out = bridge(
        &["check", "--config", path],
        &[("IIKO_BRIDGE__BRANCHES__0__TIMEZONE", "Moscow")],
    )
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(
            "IIKO_BRIDGE__BRANCHES__0__TIMEZONE: branches[0].timezone: not an IANA time zone name"
        ),
        "{stderr}"
    );
    let out = bridge(
        &["check", "--config", path],
        &[("IIKO_BRIDGE__BRANCHES__0__TIMEZONE", "Europe/Samara")],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[bed::test]
async fn text_logs_carry_no_colour_codes_when_not_on_a_terminal() {
    let setup = Setup::new().await;
    let config = setup.config(servable);
    let out = bridge(
        &["discover", "--config", config.to_str().unwrap()],
        &[("RUST_LOG", "debug")],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("iikoCloud call"), "debug logging is on");
    assert!(!stderr.contains('\u{1b}'), "{stderr:?}");
}

#[bed::test]
async fn check_catches_a_wrong_terminal_group_id_with_one_line_per_problem() {
    let setup = Setup::new().await;
    let config = setup.config(|file| {
        servable(file);
        file.set(
            "branches.0.terminal_group_id",
            demo_ids::TG_MIRA.to_string(),
        )
        .set(
            "branches.0.universal_discount_id",
            demo_ids::DISCOUNT_PERCENT.to_string(),
        );
    });
    let out = bridge(&["check", "--config", config.to_str().unwrap()], &[]).await;
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.starts_with("warning:"))
        .collect();
    assert!(
        lines.iter().any(
            |l| l.starts_with("branches[0].terminal_group_id (lenina): ")
                && l.contains(&demo_ids::TG_MIRA.to_string())
        ),
        "{stderr}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("branches[0].universal_discount_id (lenina): ")),
        "{stderr}"
    );
    assert_eq!(lines.len(), 2, "{stderr}");
}

#[bed::test]
async fn check_says_iiko_is_unreachable_with_exit_code_3() {
    let setup = Setup::new().await;
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let config = setup.config(|file| {
        servable(file);
        file.set("iiko.base_url", format!("http://{closed_port}"));
    });
    let out = bridge(&["check", "--config", config.to_str().unwrap()], &[]).await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("iiko is unreachable"));
}

#[bed::test]
async fn an_environment_override_is_applied_and_named_when_it_is_wrong() {
    let setup = Setup::new().await;
    let config = setup.config(servable);
    let path = config.to_str().unwrap();
    let out = bridge(
        &["check"],
        &[
            ("IIKO_BRIDGE_CONFIG", path),
            ("IIKO_BRIDGE__DELIVERY__MAX_ATTEMPTS", "many"),
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("IIKO_BRIDGE__DELIVERY__MAX_ATTEMPTS: delivery.max_attempts: not"),
        "{stderr}"
    );

    let out = bridge(
        &["check", "--config", path],
        &[("IIKO_BRIDGE__IIKO__API_LOGIN", "wrong-login")],
    )
    .await;
    assert_ne!(
        out.status.code(),
        Some(0),
        "the override must replace the file's login"
    );
}

#[bed::test]
async fn secrets_never_reach_the_logs_even_at_trace_level() {
    let setup = Setup::new().await;
    let config = setup.config(servable);
    let out = bridge(
        &["check", "--config", config.to_str().unwrap()],
        &[("RUST_LOG", "trace")],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(all.contains("/api/1/organizations"), "trace logging is on");
    assert!(
        !all.contains(demo_ids::API_LOGIN),
        "the API login leaked:\n{all}"
    );
    assert!(!all.contains(SITE_TOKEN), "the site token leaked");
}

/// On the PostgreSQL binary, `demo --store postgres://...`.
#[bed::test]
async fn demo_runs_on_the_embedded_defaults_and_labels_every_answer_with_its_order() {
    let dir = tempfile::tempdir().unwrap();
    let url = store::url(dir.path());
    let args: &[&str] = match store::on_postgres() {
        true => &["demo", "--store", &url],
        false => &["demo"],
    };
    let no_config = [("IIKO_BRIDGE_CONFIG", "/nonexistent/bridge.toml")];
    let out = bridge(args, &no_config).await;
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let stdout = text(&out.stdout);
    assert!(stdout.contains("ok: 1 branch(es) match what iiko has"));
    // Every order path, in the closing table.
    let table = stdout
        .split("== what happened to each order")
        .nth(1)
        .expect("the demo ends with its table");
    let row = |order: &str| {
        table
            .lines()
            .find(|line| line.contains(&format!("│ {order} ")))
            .unwrap_or_else(|| panic!("no row for {order} in {table}"))
            .to_owned()
    };
    assert!(row("WEB-1001").contains("202 queued") && row("WEB-1001").contains("after 1 attempt"));
    assert!(
        row("WEB-1002").contains("created in iiko") && row("WEB-1002").contains("after 2 attempt")
    );
    assert!(row("WEB-1003").contains("fallback, delivered by email and telegram"));
    assert!(row("WEB-1004").contains("202 fallback"));
    assert!(row("WEB-1004").contains("resolved from Telegram"));
    assert!(
        stdout.contains(
            "a stranger (user 666) presses «Введён вручную»: the bot answers \"Нет доступа"
        )
    );
    assert!(stdout.contains("the order stays fallback"));
    assert!(row("WEB-1001 (repeat)").contains("200 queued"));
    assert!(row("WEB-1001 (changed)").contains("409 conflict"));
    assert!(row("WEB-1005").contains("422 invalid: customer.phone, total"));
    assert!(stdout.contains("Причина: iiko отклонил заказ: ProductNotFound"));
    assert!(row("WEB-1006").contains("points 1500.0 → 1300.0"));
    if store::on_postgres() {
        let again = bridge(args, &no_config).await;
        assert_eq!(again.status.code(), Some(2), "{}", text(&again.stderr));
        assert!(text(&again.stderr).contains("the store already holds orders"));
    }
    // The first order's body is shown, and every answer is printed under its own order.
    assert!(
        stdout.contains("site → POST /api/v1/orders (WEB-1001), the body:\n{"),
        "{stdout}"
    );
    let refused = stdout
        .split("\n-- WEB-1005: a bad phone and a wrong total\n")
        .nth(1)
        .expect("WEB-1005 has a heading of its own");
    assert!(refused.starts_with("site → POST /api/v1/orders (WEB-1005): 422 "));
    for answer in stdout.lines().filter(|l| l.starts_with("site → ")) {
        assert!(answer.contains("WEB-"), "unlabelled: {answer}");
    }
    assert!(row("WEB-1002").contains("then cancelled by the guest"));
    assert!(stdout.contains("status \"cooking\", iiko status \"CookingCompleted\""));
    // Every event reached the demo's site with a signature it verified.
    let events = stdout
        .split("== events the site received")
        .nth(1)
        .expect("the demo shows the site's events");
    for expected in [
        "│ WEB-1001 ┆ order.created",
        "│ WEB-1003 ┆ order.fallback",
        "│ WEB-1006 ┆ order.created",
        "│ WEB-1001 ┆ order.status    ┆ {\"iiko_status\":\"CookingStarted\",\"status\":\"cooking\"}",
        "│ WEB-1002 ┆ order.cancelled ┆ {\"reason\":\"Отказ гостя: гость передумал\"}",
        "catalog.updated",
    ] {
        assert!(events.contains(expected), "{expected} in {events}");
    }
    assert!(!events.contains("INVALID"), "{events}");
}
