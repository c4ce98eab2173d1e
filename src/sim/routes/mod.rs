//! HTTP routes: the iiko API under `/api/...` behind a gate (request log, faults, token check)
//! and the control API under `/sim/...`.
mod auth;
mod control;
mod deliveries;
mod dictionaries;
mod loyalty;
mod menu;
mod stop_lists;
mod webhook_settings;

use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use uuid::Uuid;

use super::Simulator;
use super::faults;

/// Largest request body accepted (a big order, never a menu).
const MAX_BODY: usize = 8 * 1024 * 1024;
/// iiko's default server-side wait when no `Timeout` header is sent.
const DEFAULT_TIMEOUT_SECONDS: u64 = 15;

pub fn router(sim: Simulator) -> Router {
    let iiko = Router::new()
        .route("/api/1/access_token", post(auth::access_token_v1))
        .route("/api/v2/access_token", post(auth::access_token_v2))
        .route("/api/1/organizations", post(dictionaries::organizations))
        .route(
            "/api/1/terminal_groups",
            post(dictionaries::terminal_groups),
        )
        .route(
            "/api/1/terminal_groups/is_alive",
            post(dictionaries::terminal_groups_alive),
        )
        .route("/api/1/payment_types", post(dictionaries::payment_types))
        .route(
            "/api/1/deliveries/order_types",
            post(dictionaries::order_types),
        )
        .route("/api/1/discounts", post(dictionaries::discounts))
        .route("/api/1/cancel_causes", post(dictionaries::cancel_causes))
        .route("/api/2/menu", post(menu::external_menus))
        .route("/api/2/menu/by_id", post(menu::external_menu_by_id))
        .route("/api/menu/v3/by_id", post(menu::menu_v3_by_id))
        .route("/api/1/nomenclature", post(menu::nomenclature))
        .route("/api/1/deliveries/create", post(deliveries::create))
        .route("/api/1/commands/status", post(deliveries::command_status))
        .route("/api/1/deliveries/by_id", post(deliveries::by_id))
        .route(
            "/api/1/deliveries/by_revision",
            post(deliveries::by_revision),
        )
        .route(
            "/api/1/deliveries/by_delivery_date_and_status",
            post(deliveries::by_delivery_date_and_status),
        )
        .route("/api/1/deliveries/cancel", post(deliveries::cancel))
        .route(
            "/api/1/deliveries/by_delivery_date_and_source_key_and_filter",
            post(deliveries::by_delivery_date_and_source_key_and_filter),
        )
        .route(
            "/api/1/deliveries/by_delivery_date_and_phone",
            post(deliveries::by_delivery_date_and_phone),
        )
        .route("/api/1/stop_lists", post(stop_lists::stop_lists))
        .route("/api/1/stop_lists/check", post(stop_lists::check))
        .route(
            "/api/1/loyalty/iiko/customer/info",
            post(loyalty::customer_info),
        )
        .route("/api/1/loyalty/iiko/calculate", post(loyalty::calculate))
        .route("/api/1/loyalty/iiko/program", post(loyalty::program))
        .route(
            "/api/1/loyalty/iiko/coupons/info",
            post(loyalty::coupon_info),
        )
        .route("/api/1/webhooks/settings", post(webhook_settings::settings))
        .route(
            "/api/1/webhooks/update_settings",
            post(webhook_settings::update_settings),
        )
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(sim.clone(), gate));
    Router::new()
        .merge(control::router())
        .merge(iiko)
        .with_state(sim)
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "Method not found")
}

/// iiko's `ErrorResponse` with an HTTP status.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    description: String,
    code: Option<String>,
    retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, description: impl Into<String>) -> ApiError {
        ApiError {
            status,
            description: description.into(),
            code: None,
            retry_after: None,
        }
    }

    pub fn bad_request(description: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, description)
    }

    pub fn code(mut self, code: &str) -> ApiError {
        self.code = Some(code.into());
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({
            "correlationId": Uuid::new_v4(),
            "errorDescription": self.description,
            "error": self.code,
        });
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, seconds.into());
        }
        response
    }
}

pub type ApiResult = Result<Response, ApiError>;

/// A 200 JSON answer with a fresh `correlationId` merged in first.
pub fn ok(body: Value) -> ApiResult {
    let mut object = serde_json::Map::new();
    object.insert("correlationId".into(), json!(Uuid::new_v4()));
    if let Value::Object(fields) = body {
        object.extend(fields);
    }
    Ok(axum::Json(Value::Object(object)).into_response())
}

/// The request body as JSON; an empty body counts as `{}`.
pub fn parse(body: &Bytes) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("Invalid JSON: {e}")))
}

pub fn required_uuid(body: &Value, field: &str) -> Result<Uuid, ApiError> {
    match &body[field] {
        Value::Null => Err(ApiError::bad_request(format!(
            "The {field} field is required."
        ))),
        value => value.as_str().and_then(|s| s.parse().ok()).ok_or_else(|| {
            ApiError::bad_request(format!("The value of {field} is not a valid UUID."))
        }),
    }
}

pub fn uuid_list(body: &Value, field: &str) -> Result<Vec<Uuid>, ApiError> {
    let Some(items) = body[field].as_array() else {
        return Err(ApiError::bad_request(format!(
            "The {field} field is required."
        )));
    };
    items
        .iter()
        .map(|v| {
            v.as_str().and_then(|s| s.parse().ok()).ok_or_else(|| {
                ApiError::bad_request(format!("{field} contains an invalid UUID: {v}"))
            })
        })
        .collect()
}

/// Checks that every organization exists.
pub fn known_organizations(sim: &Simulator, ids: &[Uuid]) -> Result<(), ApiError> {
    match ids
        .iter()
        .find(|id| sim.seed().organization(**id).is_none())
    {
        Some(id) => Err(ApiError::bad_request(format!(
            "Organization {id} not found or not available for the API login"
        ))),
        None => Ok(()),
    }
}

/// iiko's phone rule: 8 to 40 characters, starting with `+`, at least 8 digits.
pub fn valid_phone(phone: &str) -> bool {
    (8..=40).contains(&phone.chars().count())
        && phone.starts_with('+')
        && phone.chars().filter(char::is_ascii_digit).count() >= 8
}

/// Every iiko request goes through here: settle due changes, apply faults, check the token,
/// run the handler, and log the exchange.
async fn gate(State(sim): State<Simulator>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(body) => body,
        Err(e) => return ApiError::bad_request(format!("Unreadable body: {e}")).into_response(),
    };
    let path = parts.uri.path().to_owned();
    let method = parts.method.to_string();
    let headers = logged_headers(&parts.headers);
    let timeout = parts
        .headers
        .get("Timeout")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(DEFAULT_TIMEOUT_SECONDS);
    let logged_body = serde_json::from_slice::<Value>(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
    tracing::debug!(%method, %path, body = %logged_body, "iiko request");
    sim.settle();

    let injection = {
        let mut state = sim.lock();
        let state = &mut *state;
        faults::inject(&mut state.faults.rules, &path, &mut state.rng)
    };
    let (sim_ref, path_ref) = (&sim, path.as_str());
    let handle = move |parts: axum::http::request::Parts, body: axum::body::Bytes| async move {
        match authorize(sim_ref, path_ref, &parts.headers) {
            Err(error) => error.into_response(),
            Ok(()) => next.run(Request::from_parts(parts, Body::from(body))).await,
        }
    };
    let response = match injection {
        // iiko did the work; only the answer is lost.
        Some(injection) if injection.handled => {
            let handled = handle(parts, body).await;
            faulted(injection, timeout).await.unwrap_or(handled)
        }
        Some(injection) => match faulted(injection, timeout).await {
            Some(response) => response,
            None => handle(parts, body).await,
        },
        None => handle(parts, body).await,
    };
    let status = response.status().as_u16();
    tracing::debug!(%method, %path, status, "iiko response");
    sim.lock().requests.push(json!({
        "method": method,
        "path": path,
        "headers": headers,
        "body": logged_body,
        "status": status,
        "time": chrono::Utc::now().to_rfc3339(),
    }));
    response
}

/// Headers as a JSON object, without the token itself.
fn logged_headers(headers: &HeaderMap) -> Value {
    let mut map = serde_json::Map::new();
    for (name, value) in headers {
        let shown = if name == header::AUTHORIZATION {
            "<redacted>".to_owned()
        } else {
            String::from_utf8_lossy(value.as_bytes()).into_owned()
        };
        map.insert(name.as_str().to_owned(), Value::String(shown));
    }
    Value::Object(map)
}

/// Applies a matching fault rule: latency (408 when it exceeds the `Timeout` header) and/or
/// an error status.
async fn faulted(injection: faults::Injection, timeout_seconds: u64) -> Option<Response> {
    let timeout = Duration::from_secs(timeout_seconds);
    let latency = Duration::from_millis(injection.latency_ms);
    if latency > timeout {
        tokio::time::sleep(timeout).await;
        return Some(ApiError::new(StatusCode::REQUEST_TIMEOUT, "Request timeout").into_response());
    }
    tokio::time::sleep(latency).await;
    let status =
        StatusCode::from_u16(injection.status?).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut error = ApiError::new(status, format!("Simulated fault: {status}"));
    if status == StatusCode::TOO_MANY_REQUESTS {
        error.retry_after = Some(injection.retry_after.unwrap_or(1));
    }
    Some(error.into_response())
}

fn authorize(sim: &Simulator, path: &str, headers: &HeaderMap) -> Result<(), ApiError> {
    if path.ends_with("/access_token") {
        return Ok(());
    }
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let valid = token.is_some_and(|token| {
        sim.lock()
            .tokens
            .get(token)
            .is_some_and(|expiry| *expiry > chrono::Utc::now())
    });
    if valid {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "Unauthorized: the token is missing, invalid or expired",
        ))
    }
}
