//! `/api/1/access_token` and `/api/v2/access_token`.
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;
use uuid::Uuid;

use super::{ApiError, ApiResult, ok, parse};
use crate::sim::{Simulator, demo_ids};

pub async fn access_token_v1(State(sim): State<Simulator>, body: Bytes) -> ApiResult {
    let body = parse(&body)?;
    let login = body["apiLogin"]
        .as_str()
        .ok_or_else(|| ApiError::bad_request("The apiLogin field is required."))?;
    if login != demo_ids::API_LOGIN {
        return Err(wrong_credentials());
    }
    issue(&sim, login)
}

pub async fn access_token_v2(State(sim): State<Simulator>, body: Bytes) -> ApiResult {
    let body = parse(&body)?;
    let field = |name: &str| {
        body[name]
            .as_str()
            .ok_or_else(|| ApiError::bad_request(format!("The {name} field is required.")))
    };
    let (key, app, secret) = (field("apiKey")?, field("appId")?, field("clientSecret")?);
    if key != demo_ids::API_KEY
        || app.parse() != Ok(demo_ids::APP_ID)
        || secret != demo_ids::CLIENT_SECRET
    {
        return Err(wrong_credentials());
    }
    issue(&sim, key)
}

fn wrong_credentials() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "Login failed: unknown API credentials",
    )
}

/// A JWT-shaped token (`header.payload.signature`) whose payload carries `exp`.
fn issue(sim: &Simulator, subject: &str) -> ApiResult {
    let now = chrono::Utc::now();
    let lifetime = chrono::Duration::from_std(sim.config().token_lifetime)
        .unwrap_or(chrono::Duration::hours(1));
    let expiry = now + lifetime;
    let header = json!({"alg": "HS256", "typ": "JWT"});
    let payload = json!({
        "sub": subject,
        "iat": now.timestamp(),
        "exp": expiry.timestamp(),
        "jti": Uuid::new_v4(),
        "iss": "iiko-bridge-simulator",
    });
    let encode = |value: &serde_json::Value| URL_SAFE_NO_PAD.encode(value.to_string());
    let signature = URL_SAFE_NO_PAD.encode(Uuid::new_v4().as_bytes());
    let token = format!("{}.{}.{}", encode(&header), encode(&payload), signature);
    sim.lock().tokens.insert(token.clone(), expiry);
    ok(json!({"token": token}))
}
