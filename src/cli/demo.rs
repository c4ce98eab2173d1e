//! `demo`: the bridge's main job on embedded defaults, against the bundled simulator, with no
//! configuration and no network.
use super::{
    Failure,
    discover::{Discovery, check_branches, render},
};
use crate::{config::Sources, iiko::IikoClient, sim};

/// The shipped example configuration: the demo runs on it, so it cannot rot unnoticed.
const EXAMPLE_CONFIG: &str = include_str!("../../config/bridge.example.toml");

pub async fn run() -> Result<(), Failure> {
    let simulator = sim::Simulator::spawn(sim::SimConfig::default()).await?;
    let base_url = simulator.base_url.as_str().trim_end_matches('/');
    println!("iikoCloud simulator: {base_url}");

    let workdir = tempfile::tempdir().map_err(anyhow::Error::from)?;
    let config_path = workdir.path().join("bridge.toml");
    let config_text = EXAMPLE_CONFIG.replace("http://127.0.0.1:9900", base_url);
    std::fs::write(&config_path, config_text).map_err(anyhow::Error::from)?;
    let config = Sources::load(&config_path)?.config()?;
    println!("configuration: config/bridge.example.toml, pointed at the simulator\n");

    let client = IikoClient::new(config.iiko.settings().map_err(Failure::Usage)?)
        .map_err(anyhow::Error::from)?;
    println!("== discover: what the iiko credentials see");
    let discovery = Discovery::gather(&client, None).await?;
    print!("{}", render(&discovery));

    println!("\n== check: every id in the configuration against iiko");
    let report = check_branches(&config, &discovery);
    for warning in &report.warnings {
        println!("warning: {warning}");
    }
    for problem in &report.problems {
        println!("problem: {problem}");
    }
    if report.problems.is_empty() {
        println!(
            "ok: {} branch(es) match what iiko has",
            config.branches.len()
        );
        Ok(())
    } else {
        Err(Failure::DataProblems(
            "the example configuration does not match the simulator".into(),
        ))
    }
}
