//! Transport to iikoCloud: authentication, rate limiting, retries and logging.
use std::{
    fmt,
    num::NonZeroU32,
    sync::Arc,
    time::{Duration, Instant},
};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use reqwest::{StatusCode, header::HeaderMap};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use tokio::sync::Mutex;
use url::Url;
use uuid::Uuid;

use super::{IikoError, token::AccessToken};
use crate::config::{Credentials, IikoSettings};
use crate::retry::Backoff;

/// iiko's HTTP timeout is the `Timeout` header plus network time; without the margin we would give up
/// just before iiko answers 408 and lose its error body.
const HTTP_TIMEOUT_MARGIN: Duration = Duration::from_secs(5);
/// A dead host should fail fast rather than eat the whole request timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_RATE_LIMIT_RETRIES: u32 = 3;
/// A huge `Retry-After` must not park a caller for minutes; beyond this we give up and report it.
const MAX_RATE_LIMIT_WAIT: Duration = Duration::from_secs(60);
/// The waits after a 429 without `Retry-After`: 1, 2, 4 s.
const RATE_LIMITED: Backoff = Backoff::doubling(Duration::from_secs(1), MAX_RATE_LIMIT_WAIT);

/// A client for one iikoCloud credential. Cloning is cheap and clones share the token and the rate limit.
///
/// Built [`with_site_share`](Self::with_site_share), calls made for a site request
/// ([`site_facing`](Self::site_facing) clones) also pass a limiter of their own that lets
/// through at most a share of the rate: however busy the site, dispatch and the other workers
/// keep the rest, and they may use all of it while the site is quiet.
#[derive(Clone)]
pub struct IikoClient {
    inner: Arc<Inner>,
    site_facing: bool,
}

struct Inner {
    http: reqwest::Client,
    base_url: Url,
    credentials: Credentials,
    timeout: Duration,
    /// `requests_per_second`, for every call.
    limiter: DefaultDirectRateLimiter,
    /// The site's share of it, passed first by site-facing calls.
    site_limiter: Option<DefaultDirectRateLimiter>,
    /// Holding this lock while fetching makes concurrent callers wait for one token request instead of
    /// stampeding the token endpoint.
    token: Mutex<Option<AccessToken>>,
}

/// A response body read in full, before deciding whether it is a success.
struct RawResponse {
    status: StatusCode,
    body: Vec<u8>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ApiLoginTokenRequest<'a> {
    api_login: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ApiKeyTokenRequest<'a> {
    api_key: &'a str,
    app_id: Uuid,
    client_secret: &'a str,
}

#[derive(Deserialize)]
struct TokenResponse {
    token: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CorrelationProbe {
    correlation_id: Option<Uuid>,
}

impl IikoClient {
    /// Every call shares `requests_per_second`, site-facing or not.
    pub fn new(settings: IikoSettings) -> Result<Self, IikoError> {
        Self::build(settings, None)
    }

    /// Site-facing calls take at most `site_percent` of `requests_per_second`.
    pub fn with_site_share(settings: IikoSettings, site_percent: u32) -> Result<Self, IikoError> {
        let site = site_quota(settings.requests_per_second, site_percent);
        Self::build(settings, Some(RateLimiter::direct(site)))
    }

    /// A clone whose calls are made for a site request (limited to the site's share, if any).
    pub fn site_facing(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            site_facing: true,
        }
    }

    fn build(
        settings: IikoSettings,
        site_limiter: Option<DefaultDirectRateLimiter>,
    ) -> Result<Self, IikoError> {
        let http = reqwest::Client::builder()
            .timeout(settings.timeout + HTTP_TIMEOUT_MARGIN)
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .map_err(IikoError::ClientBuild)?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                base_url: settings.base_url,
                credentials: settings.credentials,
                timeout: settings.timeout,
                limiter: RateLimiter::direct(Quota::per_second(settings.requests_per_second)),
                site_limiter,
                token: Mutex::new(None),
            }),
            site_facing: false,
        })
    }

    /// The site's share this call must pass first, if any. Never for a token request: it runs
    /// under the token lock every caller waits on, so it must not queue behind site traffic.
    fn site_limit(&self, token_request: bool) -> Option<&DefaultDirectRateLimiter> {
        self.inner
            .site_limiter
            .as_ref()
            .filter(|_| self.site_facing && !token_request)
    }

    /// A valid token, fetched if needed; also a cheap readiness check that the credentials work.
    pub async fn access_token(&self) -> Result<AccessToken, IikoError> {
        let mut cached = self.inner.token.lock().await;
        if let Some(token) = cached.as_ref().filter(|token| token.is_fresh()) {
            return Ok(token.clone());
        }
        let token = self.fetch_token().await?;
        *cached = Some(token.clone());
        Ok(token)
    }

    async fn fetch_token(&self) -> Result<AccessToken, IikoError> {
        let (path, raw) = match &self.inner.credentials {
            Credentials::ApiLogin(api_login) => {
                let path = "/api/1/access_token";
                let body = ApiLoginTokenRequest {
                    api_login: api_login.expose_secret(),
                };
                (path, self.send(path, &body, None).await?)
            }
            Credentials::ApiKey {
                api_key,
                app_id,
                client_secret,
            } => {
                let path = "/api/v2/access_token";
                let body = ApiKeyTokenRequest {
                    api_key: api_key.expose_secret(),
                    app_id: *app_id,
                    client_secret: client_secret.expose_secret(),
                };
                (path, self.send(path, &body, None).await?)
            }
        };
        if raw.status.is_client_error() && raw.status != StatusCode::REQUEST_TIMEOUT {
            // Any 4xx from the token endpoint means the credentials themselves are wrong.
            return Err(
                match IikoError::from_response(path, raw.status.as_u16(), &raw.body) {
                    IikoError::Api {
                        path,
                        status,
                        description,
                        code,
                        correlation_id,
                    } => IikoError::Auth {
                        path,
                        status,
                        description,
                        code,
                        correlation_id,
                    },
                    other => other,
                },
            );
        }
        let response: TokenResponse = decode(path, raw)?;
        Ok(AccessToken::new(response.token))
    }

    /// Forgets `failed` unless another caller already replaced it, so one stale 401 does not discard a
    /// token that was just refreshed.
    async fn invalidate(&self, failed: &AccessToken) {
        let mut cached = self.inner.token.lock().await;
        if cached.as_ref().is_some_and(|token| token.same_as(failed)) {
            *cached = None;
        }
    }

    /// POSTs an authorized request and decodes the answer.
    pub(crate) async fn post<Req, Resp>(&self, path: &str, body: &Req) -> Result<Resp, IikoError>
    where
        Req: Serialize + ?Sized,
        Resp: DeserializeOwned,
    {
        let token = self.access_token().await?;
        let raw = self.send(path, body, Some(&token)).await?;
        let raw = if raw.status == StatusCode::UNAUTHORIZED {
            // iiko may revoke a token before its `exp`: get a new one and try once; a second 401 is returned.
            self.invalidate(&token).await;
            let token = self.access_token().await?;
            self.send(path, body, Some(&token)).await?
        } else {
            raw
        };
        decode(path, raw)
    }

    /// Sends one request, waiting out 429s; returns any other answer for the caller to judge.
    async fn send<Req>(
        &self,
        path: &str,
        body: &Req,
        token: Option<&AccessToken>,
    ) -> Result<RawResponse, IikoError>
    where
        Req: Serialize + ?Sized,
    {
        let url = endpoint_url(&self.inner.base_url, path);
        let mut attempt = 0;
        loop {
            if let Some(site) = self.site_limit(token.is_none()) {
                site.until_ready().await;
            }
            self.inner.limiter.until_ready().await;
            let mut request = self
                .inner
                .http
                .post(url.clone())
                .header("Timeout", timeout_header(self.inner.timeout))
                .json(body);
            if let Some(token) = token {
                request = request.bearer_auth(token.expose_secret());
            }
            let started = Instant::now();
            let response = request
                .send()
                .await
                .map_err(|error| {
                    metrics::counter!("iiko_bridge_iiko_calls_total", "operation" => path.to_owned(), "outcome" => "no_answer").increment(1);
                    IikoError::from_reqwest(path, error)
                })?;
            let status = response.status();
            metrics::counter!("iiko_bridge_iiko_calls_total", "operation" => path.to_owned(), "outcome" => status_class(status)).increment(1);
            let retry_after = retry_after(response.headers());
            let body: Vec<u8> = response
                .bytes()
                .await
                .map_err(|error| IikoError::from_reqwest(path, error))?
                .into();
            tracing::debug!(
                path,
                status = status.as_u16(),
                correlation_id = ?correlation_id(&body),
                latency_ms = started.elapsed().as_millis() as u64,
                "iikoCloud call"
            );
            if status != StatusCode::TOO_MANY_REQUESTS {
                return Ok(RawResponse { status, body });
            }
            if attempt == MAX_RATE_LIMIT_RETRIES {
                return Err(IikoError::RateLimited {
                    path: path.to_owned(),
                    retry_after,
                });
            }
            let wait = retry_after
                .unwrap_or_else(|| RATE_LIMITED.wait(attempt + 1))
                .min(MAX_RATE_LIMIT_WAIT);
            tracing::debug!(
                path,
                wait_ms = wait.as_millis() as u64,
                "iikoCloud rate limit; waiting"
            );
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }
}

impl fmt::Debug for IikoClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let auth = match &self.inner.credentials {
            Credentials::ApiLogin(_) => "apiLogin".to_owned(),
            Credentials::ApiKey { app_id, .. } => format!("apiKey (appId {app_id})"),
        };
        f.debug_struct("IikoClient")
            .field("base_url", &self.inner.base_url.as_str())
            .field("auth", &auth)
            .field("timeout", &self.inner.timeout)
            .field("site_facing", &self.site_facing)
            .finish_non_exhaustive()
    }
}

/// `site_percent` of the rate, with a burst of its whole calls per second (at least one).
fn site_quota(requests_per_second: NonZeroU32, site_percent: u32) -> Quota {
    let per_second =
        f64::from(requests_per_second.get()) * f64::from(site_percent.clamp(1, 100)) / 100.0;
    let burst = NonZeroU32::new(per_second.floor() as u32).unwrap_or(NonZeroU32::MIN);
    Quota::with_period(Duration::from_secs_f64(1.0 / per_second))
        .expect("a positive period")
        .allow_burst(burst)
}

/// An answer's class as a metrics label: `2xx`, `4xx`, `5xx` ...
fn status_class(status: StatusCode) -> &'static str {
    match status.as_u16() / 100 {
        2 => "2xx",
        3 => "3xx",
        4 => "4xx",
        _ => "5xx",
    }
}

fn decode<Resp: DeserializeOwned>(path: &str, raw: RawResponse) -> Result<Resp, IikoError> {
    if !raw.status.is_success() {
        return Err(IikoError::from_response(
            path,
            raw.status.as_u16(),
            &raw.body,
        ));
    }
    serde_json::from_slice(&raw.body).map_err(|error| IikoError::decode(path, &error, &raw.body))
}

/// Appends the API path to the base URL's own path, so a base behind a prefix (`https://proxy/iiko/`)
/// keeps it; `Url::join` with an absolute path would silently drop it.
fn endpoint_url(base: &Url, path: &str) -> Url {
    let mut url = base.clone();
    let prefix = base.path().trim_end_matches('/');
    url.set_path(&format!("{prefix}{path}"));
    url
}

/// Whole seconds, rounded up: a sub-second setting must not become `Timeout: 0`.
fn timeout_header(timeout: Duration) -> String {
    let seconds = timeout.as_secs() + u64::from(timeout.subsec_nanos() > 0);
    seconds.max(1).to_string()
}

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    (date.to_utc() - chrono::Utc::now()).to_std().ok()
}

fn correlation_id(body: &[u8]) -> Option<Uuid> {
    serde_json::from_slice::<CorrelationProbe>(body)
        .ok()?
        .correlation_id
}

#[cfg(test)]
mod tests {
    use std::{
        num::NonZeroU32,
        sync::atomic::{AtomicUsize, Ordering},
    };

    use mockito::{Matcher, Server, ServerGuard};
    use secrecy::SecretString;

    use super::*;
    use crate::iiko::{
        token::tests::jwt_expiring_in,
        types::dictionaries::{OrganizationIdsRequest, OrganizationsRequest},
    };

    const ORGANIZATIONS: &str =
        r#"{"correlationId":"8e1f7a52-1d6b-4b57-8a59-5bb2f3c1e4a0","organizations":[]}"#;
    const CANCEL_CAUSES: &str = r#"{"correlationId":"8e1f7a52-1d6b-4b57-8a59-5bb2f3c1e4a0","cancelCauses":[{"id":"3f2504e0-4f89-11d3-9a0c-0305e82c3301","name":"Guest changed their mind","isDeleted":false}]}"#;

    fn settings(base_url: &str, credentials: Credentials, timeout: Duration) -> IikoSettings {
        IikoSettings {
            base_url: base_url.parse().unwrap(),
            credentials,
            timeout,
            requests_per_second: NonZeroU32::new(1000).unwrap(),
        }
    }

    fn api_login_client(server: &ServerGuard) -> IikoClient {
        let credentials = Credentials::ApiLogin(SecretString::from("login-secret-42"));
        IikoClient::new(settings(
            &server.url(),
            credentials,
            Duration::from_secs(15),
        ))
        .unwrap()
    }

    fn token_body(token: &str) -> String {
        format!(r#"{{"correlationId":"0b9f6c5e-93c1-4ad1-9f8e-2a5e7d6c1b00","token":"{token}"}}"#)
    }

    async fn token_mock(server: &mut ServerGuard, token: &str, hits: usize) -> mockito::Mock {
        server
            .mock("POST", "/api/1/access_token")
            .match_body(Matcher::Json(
                serde_json::json!({"apiLogin": "login-secret-42"}),
            ))
            .with_body(token_body(token))
            .expect(hits)
            .create_async()
            .await
    }

    async fn organizations_mock(
        server: &mut ServerGuard,
        token: &str,
        hits: usize,
    ) -> mockito::Mock {
        server
            .mock("POST", "/api/1/organizations")
            .match_header("authorization", format!("Bearer {token}").as_str())
            .with_body(ORGANIZATIONS)
            .expect(hits)
            .create_async()
            .await
    }

    #[tokio::test]
    async fn token_is_cached_across_calls() {
        let mut server = Server::new_async().await;
        let token = jwt_expiring_in(3600);
        let token_endpoint = token_mock(&mut server, &token, 1).await;
        let organizations = organizations_mock(&mut server, &token, 2).await;
        let client = api_login_client(&server);

        client
            .organizations(&OrganizationsRequest::default())
            .await
            .unwrap();
        client
            .organizations(&OrganizationsRequest::default())
            .await
            .unwrap();

        token_endpoint.assert_async().await;
        organizations.assert_async().await;
    }

    #[tokio::test]
    async fn token_close_to_its_jwt_expiry_is_refreshed() {
        let mut server = Server::new_async().await;
        let token = jwt_expiring_in(30);
        let token_endpoint = token_mock(&mut server, &token, 2).await;
        let organizations = organizations_mock(&mut server, &token, 2).await;
        let client = api_login_client(&server);

        client
            .organizations(&OrganizationsRequest::default())
            .await
            .unwrap();
        client
            .organizations(&OrganizationsRequest::default())
            .await
            .unwrap();

        token_endpoint.assert_async().await;
        organizations.assert_async().await;
    }

    #[tokio::test]
    async fn concurrent_callers_share_one_token_refresh() {
        let mut server = Server::new_async().await;
        let token = jwt_expiring_in(3600);
        let token_endpoint = token_mock(&mut server, &token, 1).await;
        let organizations = organizations_mock(&mut server, &token, 20).await;
        let client = api_login_client(&server);

        let calls = (0..20).map(|_| {
            let client = client.clone();
            tokio::spawn(
                async move { client.organizations(&OrganizationsRequest::default()).await },
            )
        });
        for result in futures::future::join_all(calls).await {
            result.unwrap().unwrap();
        }

        token_endpoint.assert_async().await;
        organizations.assert_async().await;
    }

    /// Permits a limiter has left right now (each check takes one).
    fn permits_left(limiter: &DefaultDirectRateLimiter) -> usize {
        std::iter::from_fn(|| limiter.check().ok()).count()
    }

    #[test]
    fn the_site_takes_its_share_of_the_rate_with_at_least_one_call_per_period() {
        let rate = |quota: Quota| 1.0 / quota.replenish_interval().as_secs_f64();
        let site = site_quota(NonZeroU32::new(10).unwrap(), 30);
        assert!((rate(site) - 3.0).abs() < 1e-6);
        assert_eq!(site.burst_size().get(), 3);
        let site = site_quota(NonZeroU32::MIN, 30);
        assert!((rate(site) - 0.3).abs() < 1e-6);
        assert_eq!(site.burst_size().get(), 1);
    }

    fn split_client(server: &ServerGuard) -> IikoClient {
        let mut settings = settings(
            &server.url(),
            Credentials::ApiLogin(SecretString::from("login-secret-42")),
            Duration::from_secs(15),
        );
        // Four calls a second in all, two of them for the site.
        settings.requests_per_second = NonZeroU32::new(4).unwrap();
        IikoClient::with_site_share(settings, 50).unwrap()
    }

    #[tokio::test]
    async fn site_calls_that_use_up_their_share_leave_dispatch_calls_to_make_at_once() {
        let mut server = Server::new_async().await;
        let token = jwt_expiring_in(3600);
        let token_endpoint = token_mock(&mut server, &token, 1).await;
        let organizations = organizations_mock(&mut server, &token, 2).await;
        let client = split_client(&server);
        let site = client.site_facing();

        for _ in 0..2 {
            site.organizations(&OrganizationsRequest::default())
                .await
                .unwrap();
        }

        token_endpoint.assert_async().await;
        organizations.assert_async().await;
        let site_limit = site.site_limit(false).expect("a site share");
        assert!(site_limit.check().is_err(), "the site's share is used up");
        assert!(
            client.site_limit(false).is_none(),
            "dispatch does not pass the site's limit"
        );
        assert!(
            client.inner.limiter.check().is_ok(),
            "dispatch still has a call to make at once"
        );
    }

    #[tokio::test]
    async fn a_token_fetched_for_the_site_does_not_use_the_sites_share() {
        let mut server = Server::new_async().await;
        let token = jwt_expiring_in(3600);
        let token_endpoint = token_mock(&mut server, &token, 1).await;
        let site = split_client(&server).site_facing();

        // It runs under the lock dispatch waits on, so it must never queue behind the site.
        site.access_token().await.unwrap();

        token_endpoint.assert_async().await;
        let site_limit = site.site_limit(false).expect("a site share");
        assert_eq!(permits_left(site_limit), 2, "the site's burst is whole");
        assert!(site.site_limit(true).is_none());
    }

    #[test]
    fn without_a_share_site_facing_calls_pass_the_common_limit_only() {
        let client = IikoClient::new(settings(
            "http://127.0.0.1:1",
            Credentials::ApiLogin(SecretString::from("x")),
            Duration::from_secs(1),
        ))
        .unwrap();
        assert!(client.site_facing().site_limit(false).is_none());
    }

    #[tokio::test]
    async fn api_key_flow_uses_the_v2_token_endpoint() {
        let mut server = Server::new_async().await;
        let app_id: Uuid = "5d1c2b3a-4e5f-4a6b-8c7d-9e0f1a2b3c4d".parse().unwrap();
        let token = jwt_expiring_in(3600);
        let token_endpoint = server
            .mock("POST", "/api/v2/access_token")
            .match_body(Matcher::Json(serde_json::json!({
                "apiKey": "key-secret-1", "appId": app_id, "clientSecret": "client-secret-2"
            })))
            .with_body(token_body(&token))
            .create_async()
            .await;
        let credentials = Credentials::ApiKey {
            api_key: SecretString::from("key-secret-1"),
            app_id,
            client_secret: SecretString::from("client-secret-2"),
        };
        let client = IikoClient::new(settings(
            &server.url(),
            credentials,
            Duration::from_secs(15),
        ))
        .unwrap();

        let obtained = client.access_token().await.unwrap();

        assert_eq!(obtained.expose_secret(), token);
        token_endpoint.assert_async().await;
    }

    #[tokio::test]
    async fn unauthorized_answer_refreshes_the_token_and_retries_once() {
        let mut server = Server::new_async().await;
        let (revoked, fresh) = (jwt_expiring_in(3600), jwt_expiring_in(3000));
        let issued = Arc::new(AtomicUsize::new(0));
        let tokens = [revoked.clone(), fresh.clone()];
        let token_endpoint = server
            .mock("POST", "/api/1/access_token")
            .with_body_from_request(move |_| {
                token_body(&tokens[issued.fetch_add(1, Ordering::SeqCst)]).into_bytes()
            })
            .expect(2)
            .create_async()
            .await;
        let rejected = server
            .mock("POST", "/api/1/organizations")
            .match_header("authorization", format!("Bearer {revoked}").as_str())
            .with_status(401)
            .with_body(r#"{"correlationId":"0b9f6c5e-93c1-4ad1-9f8e-2a5e7d6c1b00","errorDescription":"Token expired"}"#)
            .expect(1)
            .create_async()
            .await;
        let accepted = organizations_mock(&mut server, &fresh, 1).await;
        let client = api_login_client(&server);

        client
            .organizations(&OrganizationsRequest::default())
            .await
            .unwrap();

        token_endpoint.assert_async().await;
        rejected.assert_async().await;
        accepted.assert_async().await;
    }

    #[tokio::test]
    async fn second_unauthorized_answer_is_returned_as_an_error() {
        let mut server = Server::new_async().await;
        let token = jwt_expiring_in(3600);
        let token_endpoint = token_mock(&mut server, &token, 2).await;
        let rejected = server
            .mock("POST", "/api/1/organizations")
            .with_status(401)
            .with_body(r#"{"correlationId":"0b9f6c5e-93c1-4ad1-9f8e-2a5e7d6c1b00","errorDescription":"No access"}"#)
            .expect(2)
            .create_async()
            .await;
        let client = api_login_client(&server);

        let error = client
            .organizations(&OrganizationsRequest::default())
            .await
            .unwrap_err();

        assert!(
            matches!(error, IikoError::Auth { status: 401, .. }),
            "{error:?}"
        );
        assert!(!error.is_transient());
        token_endpoint.assert_async().await;
        rejected.assert_async().await;
    }

    #[tokio::test]
    async fn wrong_credentials_are_an_auth_failure() {
        let mut server = Server::new_async().await;
        server
            .mock("POST", "/api/1/access_token")
            .with_status(400)
            .with_body(r#"{"correlationId":"0b9f6c5e-93c1-4ad1-9f8e-2a5e7d6c1b00","errorDescription":"Login not found"}"#)
            .create_async()
            .await;
        let client = api_login_client(&server);

        let error = client.access_token().await.unwrap_err();

        assert!(
            matches!(error, IikoError::Auth { status: 400, .. }),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn rate_limited_call_waits_for_retry_after_then_succeeds() {
        let mut server = Server::new_async().await;
        let token = jwt_expiring_in(3600);
        token_mock(&mut server, &token, 1).await;
        let limited = server
            .mock("POST", "/api/1/cancel_causes")
            .with_status(429)
            .with_header("Retry-After", "1")
            .expect(1)
            .create_async()
            .await;
        let served = server
            .mock("POST", "/api/1/cancel_causes")
            .with_body(CANCEL_CAUSES)
            .expect(1)
            .create_async()
            .await;
        let client = api_login_client(&server);
        let request = OrganizationIdsRequest {
            organization_ids: vec![Uuid::nil()],
        };

        let started = Instant::now();
        let response = client.cancel_causes(&request).await.unwrap();

        assert!(started.elapsed() >= Duration::from_secs(1));
        assert_eq!(response.cancel_causes[0].name, "Guest changed their mind");
        limited.assert_async().await;
        served.assert_async().await;
    }

    #[tokio::test]
    async fn rate_limit_without_retry_after_backs_off_for_a_second() {
        let mut server = Server::new_async().await;
        let token = jwt_expiring_in(3600);
        token_mock(&mut server, &token, 1).await;
        server
            .mock("POST", "/api/1/organizations")
            .with_status(429)
            .expect(1)
            .create_async()
            .await;
        let served = organizations_mock(&mut server, &token, 1).await;
        let client = api_login_client(&server);

        let started = Instant::now();
        client
            .organizations(&OrganizationsRequest::default())
            .await
            .unwrap();

        assert!(started.elapsed() >= Duration::from_secs(1));
        served.assert_async().await;
    }

    #[tokio::test]
    async fn stale_unauthorized_answer_does_not_discard_a_newer_token() {
        let server = Server::new_async().await;
        let client = api_login_client(&server);
        let newer = AccessToken::new(jwt_expiring_in(3600));
        *client.inner.token.lock().await = Some(newer.clone());

        client
            .invalidate(&AccessToken::new(jwt_expiring_in(1800)))
            .await;
        let kept = client.access_token().await.unwrap();
        client.invalidate(&newer).await;

        assert!(kept.same_as(&newer));
        assert!(client.inner.token.lock().await.is_none());
    }

    #[tokio::test]
    async fn persistent_rate_limit_gives_up_after_three_retries() {
        let mut server = Server::new_async().await;
        let token = jwt_expiring_in(3600);
        token_mock(&mut server, &token, 1).await;
        let limited = server
            .mock("POST", "/api/1/organizations")
            .with_status(429)
            .with_header("Retry-After", "0")
            .expect(4)
            .create_async()
            .await;
        let client = api_login_client(&server);

        let error = client
            .organizations(&OrganizationsRequest::default())
            .await
            .unwrap_err();

        assert!(
            matches!(error, IikoError::RateLimited { retry_after: Some(wait), .. } if wait.is_zero()),
            "{error:?}"
        );
        assert!(error.is_transient());
        limited.assert_async().await;
    }

    #[tokio::test]
    async fn unanswered_request_times_out_as_a_transient_error() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let silent_server = tokio::spawn(async move {
            let mut open = Vec::new();
            loop {
                let (socket, _) = listener.accept().await.unwrap();
                open.push(socket);
            }
        });
        let credentials = Credentials::ApiLogin(SecretString::from("login-secret-42"));
        let client = IikoClient::new(settings(
            &format!("http://{address}"),
            credentials,
            Duration::from_millis(10),
        ))
        .unwrap();

        let error = client.access_token().await.unwrap_err();

        assert!(matches!(error, IikoError::Timeout { .. }), "{error:?}");
        assert!(error.is_transient());
        silent_server.abort();
    }

    #[tokio::test]
    async fn timeout_header_carries_the_configured_seconds() {
        let mut server = Server::new_async().await;
        let token = jwt_expiring_in(3600);
        server
            .mock("POST", "/api/1/access_token")
            .match_header("timeout", "15")
            .with_body(token_body(&token))
            .create_async()
            .await;
        let organizations = server
            .mock("POST", "/api/1/organizations")
            .match_header("timeout", "15")
            .with_body(ORGANIZATIONS)
            .create_async()
            .await;
        let client = api_login_client(&server);

        client
            .organizations(&OrganizationsRequest::default())
            .await
            .unwrap();

        organizations.assert_async().await;
    }

    #[test]
    fn endpoint_url_keeps_a_base_path_prefix() {
        let url =
            |base: &str| endpoint_url(&base.parse().unwrap(), "/api/1/organizations").to_string();
        assert_eq!(
            url("https://api-ru.iiko.services"),
            "https://api-ru.iiko.services/api/1/organizations"
        );
        assert_eq!(
            url("http://proxy:8080/iiko/"),
            "http://proxy:8080/iiko/api/1/organizations"
        );
        assert_eq!(
            url("http://proxy:8080/iiko"),
            "http://proxy:8080/iiko/api/1/organizations"
        );
    }

    #[test]
    fn sub_second_timeouts_round_up_to_one_second() {
        assert_eq!(timeout_header(Duration::from_millis(10)), "1");
        assert_eq!(timeout_header(Duration::from_millis(2500)), "3");
        assert_eq!(timeout_header(Duration::from_secs(15)), "15");
    }

    #[tokio::test]
    async fn api_error_keeps_iikos_description_code_and_correlation_id() {
        let mut server = Server::new_async().await;
        let token = jwt_expiring_in(3600);
        token_mock(&mut server, &token, 1).await;
        server
            .mock("POST", "/api/1/organizations")
            .with_status(400)
            .with_body(r#"{"correlationId":"4c1e5b2a-3f5d-4c1e-9a2b-1c2d3e4f5a6b","errorDescription":"Organization not found","error":"Common_OrganizationNotFound"}"#)
            .create_async()
            .await;
        let client = api_login_client(&server);

        let error = client
            .organizations(&OrganizationsRequest::default())
            .await
            .unwrap_err();

        assert_eq!(error.code(), Some("Common_OrganizationNotFound"));
        assert_eq!(error.http_status(), Some(400));
        assert_eq!(
            error.correlation_id(),
            Some("4c1e5b2a-3f5d-4c1e-9a2b-1c2d3e4f5a6b".parse().unwrap())
        );
        assert!(error.to_string().contains("Organization not found"));
    }

    #[tokio::test]
    async fn malformed_success_body_is_a_decode_error_with_an_excerpt() {
        let mut server = Server::new_async().await;
        let token = jwt_expiring_in(3600);
        token_mock(&mut server, &token, 1).await;
        server
            .mock("POST", "/api/1/organizations")
            .with_body(r#"{"organizations":"not a list"}"#)
            .create_async()
            .await;
        let client = api_login_client(&server);

        let error = client
            .organizations(&OrganizationsRequest::default())
            .await
            .unwrap_err();

        match &error {
            IikoError::Decode {
                path, body_excerpt, ..
            } => {
                assert_eq!(path, "/api/1/organizations");
                assert!(body_excerpt.contains("not a list"));
            }
            other => panic!("expected a decode error, got {other:?}"),
        }
        assert!(!error.is_transient());
    }

    #[tokio::test]
    async fn debug_output_never_contains_secrets_or_the_token() {
        let mut server = Server::new_async().await;
        let token = jwt_expiring_in(3600);
        server
            .mock("POST", "/api/v2/access_token")
            .with_body(token_body(&token))
            .create_async()
            .await;
        let credentials = Credentials::ApiKey {
            api_key: SecretString::from("key-secret-1"),
            app_id: Uuid::nil(),
            client_secret: SecretString::from("client-secret-2"),
        };
        let client = IikoClient::new(settings(
            &server.url(),
            credentials,
            Duration::from_secs(15),
        ))
        .unwrap();
        let obtained = client.access_token().await.unwrap();

        let printed = format!(
            "{client:?} {obtained:?} {:?}",
            client.inner.token.lock().await
        );
        for secret in ["key-secret-1", "client-secret-2", token.as_str()] {
            assert!(!printed.contains(secret), "{printed}");
        }
        let login_client = api_login_client(&server);
        assert!(!format!("{login_client:?}").contains("login-secret-42"));
    }

    #[test]
    fn retry_after_accepts_seconds_and_http_dates() {
        let mut headers = HeaderMap::new();
        headers.insert(reqwest::header::RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        let in_a_minute = (chrono::Utc::now() + chrono::Duration::seconds(60))
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string();
        headers.insert(reqwest::header::RETRY_AFTER, in_a_minute.parse().unwrap());
        let wait = retry_after(&headers).unwrap();
        assert!(wait > Duration::from_secs(55) && wait <= Duration::from_secs(60));
    }
}
