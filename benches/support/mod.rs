//! What the benchmarks share: filling the simulator with deliveries over its own HTTP API, as
//! iiko would hold them.
use futures::StreamExt;
use iiko_bridge::sim::{SimHandle, demo_ids, seed::Product};
use serde_json::{Value, json};

/// Deliveries created at once.
pub const CONCURRENCY: usize = 64;

/// A product any order may carry as it is: no sizes, shown, sold everywhere.
pub fn plain_product(sim: &SimHandle) -> Product {
    sim.sim
        .seed()
        .products
        .iter()
        .find(|p| p.sizes.is_empty() && !p.hidden && p.not_sold_in.is_empty())
        .expect("a plain product")
        .clone()
}

/// Creates each `deliveries/create` body in the simulator, [`CONCURRENCY`] at a time; the
/// n-th body failing panics naming it.
pub async fn create_deliveries(
    sim: &SimHandle,
    http: &reqwest::Client,
    bodies: Vec<Value>,
) -> anyhow::Result<()> {
    let token = token(sim, http).await?;
    let create_url = sim.url("api/1/deliveries/create");
    futures::stream::iter(bodies.into_iter().enumerate())
        .for_each_concurrent(CONCURRENCY, |(i, body)| {
            let (url, token) = (&create_url, &token);
            async move {
                let response = http
                    .post(url.clone())
                    .bearer_auth(token)
                    .json(&body)
                    .send()
                    .await;
                assert!(
                    response.is_ok_and(|r| r.status().is_success()),
                    "create {i}"
                );
            }
        })
        .await;
    Ok(())
}

/// An access token of the simulator's demo API login.
pub async fn token(sim: &SimHandle, http: &reqwest::Client) -> anyhow::Result<String> {
    let answer: Value = http
        .post(sim.url("api/1/access_token"))
        .json(&json!({"apiLogin": demo_ids::API_LOGIN}))
        .send()
        .await?
        .json()
        .await?;
    Ok(answer["token"].as_str().unwrap_or_default().to_owned())
}
