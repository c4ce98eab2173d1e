//! The demo's order paths: the real server (`serve`'s `Application`) on a free port takes orders
//! from a pretend site over HTTP and the simulator plays iiko, with faults switched on where a
//! path needs them; fallback orders reach a local SMTP sink and the fake Telegram.
use std::time::{Duration, Instant};

use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
use serde_json::{Value, json};
use tokio::sync::oneshot;

use super::{
    Failure,
    site::{Received, SiteReceiver},
};
use crate::{
    config::Config,
    loyalty::sample_order,
    menu::Catalog,
    sim::{SimHandle, smtp::SmtpSink, telegram::FakeTelegram},
    startup::Application,
    store::{DeliveryState, OrderState, Store, StoredOrder},
};

/// The Telegram chat of the restaurant's operators that receives fallback orders.
pub const FALLBACK_CHAT: i64 = 200;
pub const FALLBACK_EMAIL: &str = "kitchen@pizzeria.example";
pub const SITE_TOKEN: &str = "demo-site-token-0123456789";
/// Long enough for the slowest path (three attempts a second apart, each waiting for creation).
const PATIENCE: Duration = Duration::from_secs(60);

/// One line of the closing table.
struct Outcome {
    order: String,
    path: &'static str,
    answer: String,
    end: String,
}

pub async fn run(
    config: Config,
    simulator: &SimHandle,
    smtp: &SmtpSink,
    telegram: &FakeTelegram,
    receiver: &SiteReceiver,
) -> Result<(), Failure> {
    let store = super::menu::open_store(&config).await?;
    let catalog = catalog(&store).await?;
    let app = Application::build(config)
        .await
        .map_err(Failure::Unexpected)?;
    let base = format!("http://{}", app.local_addr().map_err(anyhow::Error::from)?);
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run(async {
        let _ = stopped.await;
    }));
    println!("the bridge (serve) listens on {base}; the site's token is {SITE_TOKEN:?}");
    let site = Site {
        http: reqwest::Client::new(),
        base,
    };
    let dishes = plain_dishes(&catalog);
    let mut outcomes = Vec::new();

    println!("\n-- WEB-1001: an ordinary delivery");
    let body = site_order("WEB-1001", &dishes[..2], "Ленина", "10");
    // What a site developer needs first: a body the bridge takes, as the site sends it.
    println!(
        "site → POST /api/v1/orders (WEB-1001), the body:\n{}",
        serde_json::to_string_pretty(&body).map_err(anyhow::Error::from)?
    );
    outcomes.push(until_created(&site, &store, &body, "accepted and created").await?);

    println!(
        "\n-- WEB-1002: iiko answers 503 to the first deliveries/create (retried after delivery.retry_interval_seconds)"
    );
    fault(
        simulator,
        json!({"rules": [{"path": "/api/1/deliveries/create", "status": 503, "times": 1}]}),
    )
    .await?;
    let body = site_order("WEB-1002", &dishes[2..3], "Мира", "5");
    let path = "retried after a fault, then created";
    outcomes.push(until_created(&site, &store, &body, path).await?);

    println!(
        "\n-- WEB-1003: iiko refuses the order (the dish was deleted in iiko after the last menu sync)"
    );
    fault(
        simulator,
        json!({"reject_orders": {"code": "ProductNotFound",
            "message": format!("Product {} not found", dishes[3]["name"].as_str().unwrap_or_default())}}),
    )
    .await?;
    let mut body = site_order("WEB-1003", &dishes[3..5], "Гагарина", "7");
    body["comment"] = json!("Домофон не работает, позвоните");
    let answer = site.submit(&body).await?;
    let order = wait(&store, "WEB-1003", |o| o.state == OrderState::Fallback).await?;
    fault(simulator, json!({})).await?;
    let reached = wait_for_operators(&store, &order, smtp, telegram).await?;
    outcomes.push(Outcome {
        order: "WEB-1003".into(),
        path: "rejected by iiko, sent to the operators",
        answer: answer.summary(),
        end: reached,
    });

    println!("\n-- WEB-1004: the site sends an article the menu does not have");
    let mut body = site_order("WEB-1004", &dishes[..1], "Ленина", "12");
    body["items"][0]["article"] = json!("NO-SUCH-DISH");
    let answer = site.submit(&body).await?;
    let order = wait(&store, "WEB-1004", |o| o.state == OrderState::Fallback).await?;
    let reached = wait_for_operators(&store, &order, smtp, telegram).await?;
    println!("\n-- WEB-1004 in Telegram: the operator bot");
    let ended = super::bot::run(&store, &order, telegram).await?;
    outcomes.push(Outcome {
        order: "WEB-1004".into(),
        path: "cannot be mapped, sent to the operators at once",
        answer: answer.summary(),
        end: format!("{reached}; {ended}"),
    });

    println!(
        "\n-- WEB-1006: 150 ₽ off with promo code SIM-100 and 200 bonus points of the guest +79990001122"
    );
    let body = sample_order(&catalog, "lenina", "WEB-1006")
        .ok_or_else(|| anyhow::anyhow!("the demo menu has no plain dish"))?;
    let before = site.balance("+79990001122").await?;
    let calculated = site.calculate(&body).await?;
    println!(
        "site → POST /api/v1/loyalty/calculate (WEB-1006): discount {}, bonus_max {} (balance {before})",
        calculated["discount"], calculated["bonus_max"]
    );
    let answer = site.submit(&body).await?;
    let order = wait(&store, "WEB-1006", |o| o.state == OrderState::Created).await?;
    let request: Value = serde_json::from_str(order.request.as_deref().unwrap_or("{}"))
        .map_err(anyhow::Error::from)?;
    println!(
        "iiko got: items at menu price, discountsInfo {}, payments {}",
        request["order"]["discountsInfo"], request["order"]["payments"]
    );
    let after = site.balance("+79990001122").await?;
    outcomes.push(Outcome {
        order: "WEB-1006".into(),
        path: "universal discount and bonus points",
        answer: answer.summary(),
        end: format!("{}; the guest's points {before} → {after}", created(&order)),
    });

    println!(
        "\n-- iiko's kitchen at work: the simulator's clock moves every open order on, three times"
    );
    for _ in 0..3 {
        let before = wait(&store, "WEB-1001", |_| true).await?.iiko_status;
        post(simulator, "sim/advance", json!({"steps": 1})).await?;
        let now = wait(&store, "WEB-1001", |o| o.iiko_status != before).await?;
        println!(
            "iiko: WEB-1001 is {}",
            now.iiko_status.as_deref().unwrap_or_default()
        );
    }
    wait_for_events(receiver, &store).await?;
    println!(
        "the site got order.status for WEB-1001 (a new mapped status each): {}",
        statuses_of(receiver, "WEB-1001").join(" → ")
    );
    let view = site.get("/api/v1/orders/WEB-1001?branch=lenina").await?;
    println!(
        "site → GET /api/v1/orders/WEB-1001: state {}, status {}, iiko status {}",
        view["state"], view["status"], view["iiko"]["status"]
    );

    println!("\n-- WEB-1002: the guest cancels on the site");
    let cancelled = site
        .post(
            "/api/v1/orders/WEB-1002/cancel?branch=lenina",
            &json!({"reason": "гость передумал"}),
        )
        .await?;
    println!(
        "site → POST /api/v1/orders/WEB-1002/cancel: state {}, status {}",
        cancelled["state"], cancelled["status"]
    );
    let order = wait(&store, "WEB-1002", |o| o.state == OrderState::Cancelled).await?;
    outcomes[1].end = format!("{}, then cancelled by the guest", created(&order));

    println!("\n-- WEB-1001 again: the site retries a submission it got no answer to");
    let answer = site
        .submit(&site_order("WEB-1001", &dishes[..2], "Ленина", "10"))
        .await?;
    let order = wait(&store, "WEB-1001", |_| true).await?;
    outcomes.push(Outcome {
        order: "WEB-1001 (repeat)".into(),
        path: "duplicate submission: the first answer again",
        answer: answer.summary(),
        end: format!("still one order, {}", created(&order)),
    });
    let mut changed = order_body_with_quantity(&dishes[..2], 3);
    changed["id"] = json!("WEB-1001");
    let answer = site.submit(&changed).await?;
    outcomes.push(Outcome {
        order: "WEB-1001 (changed)".into(),
        path: "same id, other content",
        answer: answer.summary(),
        end: "refused: nothing stored".into(),
    });
    println!("\n-- WEB-1005: a bad phone and a wrong total");
    let mut wrong = site_order("WEB-1005", &dishes[..1], "Ленина", "1");
    wrong["total"] = json!(1);
    wrong["customer"]["phone"] = json!("12345");
    let answer = site.submit(&wrong).await?;
    outcomes.push(Outcome {
        order: "WEB-1005".into(),
        path: "bad phone and wrong total",
        answer: answer.summary(),
        end: "refused: nothing stored".into(),
    });

    let events = wait_for_events(receiver, &store).await?;
    let _ = stop.send(());
    server
        .await
        .map_err(anyhow::Error::from)?
        .map_err(anyhow::Error::from)?;

    println!("\n== what happened to each order");
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(["order", "path", "the site's answer", "the end"]);
    for outcome in outcomes {
        table.add_row([
            outcome.order,
            outcome.path.into(),
            outcome.answer,
            outcome.end,
        ]);
    }
    println!("{table}");

    println!("\n== events the site received (POSTed to site.events_url, signed)");
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(["order", "type", "data", "webhook-id", "signature"]);
    for event in events {
        table.add_row([
            event.body["order_id"].as_str().unwrap_or("—").to_owned(),
            event.body["type"].as_str().unwrap_or_default().to_owned(),
            event.body["data"].to_string(),
            event.webhook_id,
            if event.signature_ok {
                "valid"
            } else {
                "INVALID"
            }
            .to_owned(),
        ]);
    }
    println!("{table}");
    Ok(())
}

/// The site statuses the site has received for an order, in order.
fn statuses_of(receiver: &SiteReceiver, order: &str) -> Vec<String> {
    receiver
        .received()
        .iter()
        .filter(|e| e.body["type"] == "order.status" && e.body["order_id"] == order)
        .map(|e| {
            format!(
                "{} ({})",
                e.body["data"]["status"], e.body["data"]["iiko_status"]
            )
        })
        .map(|s| s.replace('"', ""))
        .collect()
}

/// Waits until the outbox has delivered everything it holds, and returns what arrived.
async fn wait_for_events(receiver: &SiteReceiver, store: &Store) -> Result<Vec<Received>, Failure> {
    let started = Instant::now();
    loop {
        let pending = store
            .pending_site_events()
            .await
            .map_err(anyhow::Error::from)?;
        if pending == 0 {
            return Ok(receiver.received());
        }
        if started.elapsed() > PATIENCE {
            return Err(anyhow::anyhow!("{pending} events did not reach the site").into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

struct Site {
    http: reqwest::Client,
    base: String,
}

struct Answer {
    status: u16,
    body: Value,
}

impl Answer {
    fn summary(&self) -> String {
        match self.body["state"].as_str() {
            Some(state) => format!("{} {state}", self.status),
            None => {
                let details: Vec<&str> = self.body["details"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|d| d["field"].as_str())
                    .collect();
                let error = self.body["error"].as_str().unwrap_or_default();
                match details.is_empty() {
                    true => format!("{} {error}", self.status),
                    false => format!("{} {error}: {}", self.status, details.join(", ")),
                }
            }
        }
    }
}

impl Site {
    async fn balance(&self, phone: &str) -> Result<Value, Failure> {
        let answer: Value = self
            .http
            .get(format!("{}/api/v1/loyalty/balance", self.base))
            .query(&[("branch", "lenina"), ("phone", phone)])
            .bearer_auth(SITE_TOKEN)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(anyhow::Error::from)?
            .json()
            .await
            .map_err(anyhow::Error::from)?;
        Ok(answer["balance"].clone())
    }

    async fn calculate(&self, body: &Value) -> Result<Value, Failure> {
        self.post("/api/v1/loyalty/calculate", body).await
    }

    async fn get(&self, path: &str) -> Result<Value, Failure> {
        Ok(self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(SITE_TOKEN)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(anyhow::Error::from)?
            .json()
            .await
            .map_err(anyhow::Error::from)?)
    }

    async fn post(&self, path: &str, body: &Value) -> Result<Value, Failure> {
        Ok(self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(SITE_TOKEN)
            .json(body)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(anyhow::Error::from)?
            .json()
            .await
            .map_err(anyhow::Error::from)?)
    }

    async fn submit(&self, body: &Value) -> Result<Answer, Failure> {
        let response = self
            .http
            .post(format!("{}/api/v1/orders", self.base))
            .bearer_auth(SITE_TOKEN)
            .json(body)
            .send()
            .await
            .map_err(anyhow::Error::from)?;
        let status = response.status().as_u16();
        let answer: Value = response.json().await.map_err(anyhow::Error::from)?;
        // Labelled with the order it answers, so no answer reads as another order's.
        let id = body["id"].as_str().unwrap_or("?");
        println!("site → POST /api/v1/orders ({id}): {status} {answer}");
        Ok(Answer {
            status,
            body: answer,
        })
    }
}

async fn catalog(store: &Store) -> Result<Catalog, Failure> {
    let document = store
        .current_catalog_document("lenina")
        .await
        .map_err(anyhow::Error::from)?
        .ok_or_else(|| anyhow::anyhow!("the demo synced no catalog"))?;
    Ok(serde_json::from_str(&document.1).map_err(anyhow::Error::from)?)
}

/// Sellable dishes without sizes or modifiers: `{article, name, price}`.
fn plain_dishes(catalog: &Catalog) -> Vec<Value> {
    catalog
        .products
        .iter()
        .filter(|p| {
            !p.hidden
                && p.available
                && p.modifier_groups.is_empty()
                && matches!(p.sizes.as_slice(), [size] if size.iiko_id.is_none() && size.available)
        })
        .map(|p| json!({"article": p.article, "name": p.name, "price": p.sizes[0].price}))
        .take(5)
        .collect()
}

fn site_order(id: &str, dishes: &[Value], street: &str, house: &str) -> Value {
    let mut body = order_body_with_quantity(dishes, 1);
    body["id"] = json!(id);
    body["address"]["street"] = json!(street);
    body["address"]["house"] = json!(house);
    body
}

/// A card-paid delivery of `quantity` of each dish.
fn order_body_with_quantity(dishes: &[Value], quantity: u32) -> Value {
    let items: Vec<Value> = dishes
        .iter()
        .map(|d| json!({"article": d["article"], "quantity": quantity, "price": d["price"]}))
        .collect();
    let total: rust_decimal::Decimal = dishes
        .iter()
        .map(|d| {
            serde_json::from_value::<rust_decimal::Decimal>(d["price"].clone()).unwrap_or_default()
                * rust_decimal::Decimal::from(quantity)
        })
        .sum();
    json!({
        "branch": "lenina",
        "service": "delivery",
        "customer": {"name": "Анна", "phone": "+79990001122"},
        "address": {"city": "Москва", "street": "Ленина", "house": "10", "flat": "12"},
        "persons": 2,
        "items": items,
        "payment": {"method": "card"},
        "total": total,
    })
}

async fn fault(simulator: &SimHandle, settings: Value) -> Result<(), Failure> {
    post(simulator, "sim/faults", settings).await
}

/// The simulator's control API.
async fn post(simulator: &SimHandle, path: &str, settings: Value) -> Result<(), Failure> {
    reqwest::Client::new()
        .post(simulator.url(path))
        .json(&settings)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(anyhow::Error::from)?;
    Ok(())
}

/// Polls the store until the order satisfies `done`.
async fn wait(
    store: &Store,
    id: &str,
    done: impl Fn(&StoredOrder) -> bool,
) -> Result<StoredOrder, Failure> {
    let started = Instant::now();
    loop {
        let found = store
            .orders_by_site_id(id, Some("lenina"))
            .await
            .map_err(anyhow::Error::from)?;
        match found.into_iter().next() {
            Some(order) if done(&order) => return Ok(order),
            _ if started.elapsed() > PATIENCE => {
                return Err(
                    anyhow::anyhow!("order {id} did not get where the demo expected").into(),
                );
            }
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// Sends `body`, waits until iiko has created it and shows its iiko calls; returns its line of
/// the closing table.
async fn until_created(
    site: &Site,
    store: &Store,
    body: &Value,
    path: &'static str,
) -> Result<Outcome, Failure> {
    let id = body["id"].as_str().unwrap_or_default().to_owned();
    let answer = site.submit(body).await?;
    let order = wait(store, &id, |o| o.state == OrderState::Created).await?;
    print_calls(store, &order).await?;
    Ok(Outcome {
        order: id,
        path,
        answer: answer.summary(),
        end: created(&order),
    })
}

fn created(order: &StoredOrder) -> String {
    format!(
        "created in iiko, number {}, after {} attempt(s)",
        order
            .iiko_number
            .map_or_else(|| "?".into(), |n| n.to_string()),
        order.attempts
    )
}

/// The order's iiko calls, one line each, as `orders show` has them.
async fn print_calls(store: &Store, order: &StoredOrder) -> Result<(), Failure> {
    let calls = store
        .order_calls(order.id)
        .await
        .map_err(anyhow::Error::from)?;
    let history = store
        .order_history(order.id)
        .await
        .map_err(anyhow::Error::from)?;
    let states: Vec<String> = history.iter().filter_map(|h| h.state.clone()).collect();
    println!("states: {}", states.join(" → "));
    // Creation polls repeat: one line per run of equal calls.
    let lines: Vec<String> = calls
        .iter()
        .map(|call| {
            let status = call
                .http_status
                .map_or_else(|| "—".into(), |status| status.to_string());
            let error = call.error_message.as_deref().unwrap_or_default();
            format!("{:<14} {status} {error}", call.operation)
        })
        .collect();
    for run in lines.chunk_by(|a, b| a == b) {
        let times = match run.len() {
            1 => String::new(),
            n => format!(" ×{n}"),
        };
        println!("  iiko {}{times}", run[0].trim_end());
    }
    Ok(())
}

/// Waits until every channel has the fallback order, then shows what staff received.
async fn wait_for_operators(
    store: &Store,
    order: &StoredOrder,
    smtp: &SmtpSink,
    telegram: &FakeTelegram,
) -> Result<String, Failure> {
    println!(
        "reason: {}",
        order.fallback_reason.as_deref().unwrap_or_default()
    );
    let started = Instant::now();
    let deliveries = loop {
        let deliveries = store
            .fallback_deliveries(&order.branch, &order.site_id)
            .await
            .map_err(anyhow::Error::from)?;
        let done = !deliveries.is_empty()
            && deliveries
                .iter()
                .all(|d| d.state == DeliveryState::Delivered);
        if done {
            break deliveries;
        }
        if started.elapsed() > PATIENCE {
            return Err(
                anyhow::anyhow!("order {} did not reach the operators", order.site_id).into(),
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mail = smtp
        .mails()
        .into_iter()
        .rev()
        .find(|m| m.subject().is_some_and(|s| s.contains(&order.site_id)));
    if let Some(mail) = mail {
        println!(
            "e-mail to {}, subject {:?}:",
            mail.to.join(", "),
            mail.subject().unwrap_or_default()
        );
        for line in mail.text().unwrap_or_default().lines() {
            println!("  │ {line}");
        }
    }
    let messages = telegram
        .messages()
        .into_iter()
        .filter(|m| m.chat_id == FALLBACK_CHAT && m.text.contains(&order.site_id))
        .count();
    println!("Telegram to chat {FALLBACK_CHAT}: {messages} message(s), the same order in HTML");
    let channels: Vec<&str> = deliveries.iter().map(|d| d.channel.as_str()).collect();
    Ok(format!("fallback, delivered by {}", channels.join(" and ")))
}
