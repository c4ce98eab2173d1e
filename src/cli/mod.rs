//! The `iiko-bridge` command line: one binary, a subcommand per job.
mod demo;
mod discover;
mod duties;
mod events;
mod menu;
mod orders;
mod reconcile;
mod store;

use std::{net::SocketAddr, path::PathBuf, process::ExitCode, time::Duration};

use clap::{Args, Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use crate::{
    config::{self, Config, ConfigError, IikoConfig, LogConfig, LogFormat, Sources},
    iiko::{IikoClient, IikoError},
    menu::SyncKind,
    sim,
    store::Store,
};

#[derive(Parser)]
#[command(
    name = "iiko-bridge",
    version,
    about = "Connects a restaurant's website and apps to iikoCloud"
)]
struct Cli {
    /// The configuration file.
    #[arg(long, global = true, env = "IIKO_BRIDGE_CONFIG", default_value = config::DEFAULT_PATH)]
    config: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP API and the background workers.
    Serve,
    /// Menu synchronisation.
    #[command(subcommand)]
    Menu(MenuCommand),
    /// Price and availability synchronisation.
    #[command(subcommand)]
    Prices(PricesCommand),
    /// List what the iiko credentials can see, to help fill in the config.
    Discover {
        /// Print JSON instead of tables.
        #[arg(long)]
        json: bool,
    },
    /// Validate the config and every id in it against iiko.
    Check,
    /// Look at and act on stored orders.
    #[command(subcommand)]
    Orders(OrdersCommand),
    /// Look at the events sent (or waiting to be sent) to the site.
    #[command(subcommand)]
    Events(EventsCommand),
    /// iiko's webhook settings for the branches' organizations.
    #[command(subcommand)]
    Webhooks(WebhooksCommand),
    /// Which `serve` instance holds each singleton duty (status poller, menu schedule ...).
    Duties {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Move the store from SQLite to PostgreSQL.
    #[command(subcommand)]
    Store(StoreCommand),
    /// Run the bundled iikoCloud simulator.
    Sim(SimArgs),
    /// Start the simulator and the bridge on embedded defaults and show what they do.
    Demo {
        /// Keep the demo's orders in this store (sqlite://PATH or postgres://..., holding no
        /// orders yet) instead of a temporary SQLite file.
        #[arg(long)]
        store: Option<String>,
    },
    /// Compare the bridge's orders of a period with iiko's; exits 4 when there is something
    /// to report, 3 when iiko cannot be reached.
    Reconcile(reconcile::ReconcileArgs),
}

#[derive(Subcommand)]
enum WebhooksCommand {
    /// Tell iiko to send order, stop-list and menu events to this bridge
    /// (webhooks/update_settings with iiko_webhook.auth_token and an explicit filter).
    Register {
        /// The public URL iiko calls (default: iiko_webhook.url).
        #[arg(long)]
        url: Option<url::Url>,
    },
}

#[derive(Args)]
struct SyncArgs {
    /// Only this branch (default: every branch).
    #[arg(long)]
    branch: Option<String>,
    /// Show the diff and the article report; write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print JSON instead of tables.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum MenuCommand {
    /// Fetch menu and prices, validate articles, store and export the catalog.
    Sync {
        #[command(flatten)]
        sync: SyncArgs,
        /// With article problems, keep the previous catalog.
        #[arg(long)]
        strict: bool,
    },
    /// Make the previous catalog of a branch current again.
    Rollback {
        #[arg(long)]
        branch: String,
    },
}

#[derive(Subcommand)]
enum PricesCommand {
    /// Refresh prices, availability and stop lists of the stored catalog.
    Sync(SyncArgs),
}

#[derive(Subcommand)]
enum OrdersCommand {
    /// Stored orders, newest first.
    List {
        /// Only orders in this state (queued, sending, retrying, created, fallback, resolved, cancelled).
        #[arg(long)]
        state: Option<String>,
        /// Only this branch.
        #[arg(long)]
        branch: Option<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Everything about one order: iiko ids, every iiko call and the history.
    Show {
        /// The site's order id.
        id: String,
        #[arg(long)]
        branch: Option<String>,
    },
    /// Send a fallback or retrying order to iiko again now, with a fresh attempt budget.
    Retry {
        id: String,
        #[arg(long)]
        branch: Option<String>,
    },
    /// Mark a fallback order as entered by hand; the bridge does nothing more with it.
    Resolve {
        id: String,
        #[arg(long)]
        branch: Option<String>,
    },
    /// Fallback orders that no channel has got through to staff yet; exits 4 when there are any.
    Undelivered {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum EventsCommand {
    /// Stored events, newest first, with what the site answered.
    List {
        /// Only events in this state (pending, delivered, stopped, dead).
        #[arg(long)]
        state: Option<String>,
        /// Print JSON (with every delivery attempt) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Send a dead (or stopped) event again, or every dead one with --dead.
    Redeliver {
        /// The event's id (evt_...) or row number.
        #[arg(required_unless_present = "dead", conflicts_with = "dead")]
        id: Option<String>,
        /// Every dead event.
        #[arg(long)]
        dead: bool,
    },
}

#[derive(Subcommand)]
enum StoreCommand {
    /// Copy the SQLite store of store.url into an empty PostgreSQL store and compare the rows
    /// of every table on both sides; stop `serve` first.
    Copy {
        /// The PostgreSQL store to fill (postgres://user@host/database); its tables must be empty.
        #[arg(long)]
        to: String,
        /// A file holding the PostgreSQL password, instead of one in --to.
        #[arg(long)]
        password_file: Option<PathBuf>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
struct SimArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9900")]
    listen: SocketAddr,
    /// A seed file (JSON) to load instead of generating the data.
    #[arg(long)]
    seed: Option<PathBuf>,
    /// How many menu products to generate.
    #[arg(long, default_value_t = 200)]
    products: usize,
    /// Seed of the data generator.
    #[arg(long, default_value_t = 42)]
    rng_seed: u64,
    /// How long a delivery stays InProgress before iiko decides, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    creation_delay_ms: u64,
    /// How long a delivery stays in each status, in seconds.
    #[arg(long, default_value_t = 30)]
    status_step_seconds: u64,
    /// Write the generated seed to this file and exit.
    #[arg(long)]
    write_seed: Option<PathBuf>,
}

/// Why a command failed, and the exit code that says so (CONTRACT section 4).
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("iiko is unreachable: {0}")]
    IikoUnreachable(String),
    #[error("{0}")]
    DataProblems(String),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl Failure {
    fn exit_code(&self) -> u8 {
        match self {
            Failure::Unexpected(_) => 1,
            Failure::Usage(_) | Failure::Config(_) => 2,
            Failure::IikoUnreachable(_) => 3,
            Failure::DataProblems(_) => 4,
        }
    }
}

impl From<IikoError> for Failure {
    fn from(error: IikoError) -> Self {
        if error.is_transient() {
            Failure::IikoUnreachable(error.to_string())
        } else if matches!(error, IikoError::Auth { .. }) {
            // Wrong credentials are a config problem (exit 2), not a failure of the bridge.
            Failure::Usage(format!(
                "iiko.api_login (or iiko.api_key, app_id, client_secret): {error}"
            ))
        } else {
            Failure::Unexpected(error.into())
        }
    }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let quiet = matches!(
        cli.command,
        Command::Discover { .. }
            | Command::Check
            | Command::Orders(_)
            | Command::Demo { .. }
            | Command::Events(_)
            | Command::Webhooks(_)
            | Command::Reconcile(_)
    );
    init_tracing(if quiet { "warn" } else { "info" }, log_format(&cli.config));
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("{}", failure_text(&failure));
            ExitCode::from(failure.exit_code())
        }
    }
}

fn failure_text(failure: &Failure) -> String {
    match failure {
        Failure::Unexpected(e) => format!("error: {e:#}"),
        other => other.to_string(),
    }
}

/// `log.format` (or `IIKO_BRIDGE__LOG__FORMAT`), read before the rest of the configuration so
/// that even its problems are logged in the format asked for; text when there is none.
fn log_format(path: &std::path::Path) -> LogFormat {
    Sources::load(path)
        .and_then(|sources| sources.section::<LogConfig>("log"))
        .map(|log| log.format)
        .unwrap_or_default()
}

fn init_tracing(default: &str, format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        // Fields stay keys of the object (order, branch, correlation_id), not text.
        LogFormat::Json => builder.json().flatten_event(true).init(),
        // Colour codes only for a person at a terminal, never into a file or a pipe.
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
    }
}

async fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Serve => {
            let config = load_config(&cli.config)?;
            let ready = discover::readiness(&config);
            if !ready.refused.is_empty() {
                return Err(ConfigError(ready.refused).into());
            }
            for warning in ready.undeliverable.iter().chain(&ready.warnings) {
                tracing::warn!("{warning}");
            }
            // Held until `serve` returns; the OS lets go of it however the process ends.
            let only_serve = Store::lock_for_serving(&config.store.url)
                .map_err(|e| Failure::Usage(e.to_string()))?;
            crate::startup::serve(config, &only_serve, shutdown_signal()).await?;
            Ok(())
        }
        Command::Discover { json } => {
            let client = iiko_client(&Sources::load(&cli.config)?.section("iiko")?)?;
            discover::discover(&client, json).await
        }
        Command::Check => {
            let config = load_config(&cli.config)?;
            let client = iiko_client(&config.iiko)?;
            discover::check(&config, &client).await
        }
        Command::Webhooks(WebhooksCommand::Register { url }) => {
            let mut config = load_config(&cli.config)?;
            if url.is_some() {
                config.iiko_webhook.url = url;
            }
            let client = iiko_client(&config.iiko)?;
            let registered = crate::status::register_webhooks(&client, &config)
                .await
                .map_err(|error| match error {
                    crate::status::RegisterError::Missing(_) => Failure::Usage(error.to_string()),
                    crate::status::RegisterError::Iiko(_, error) => error.into(),
                })?;
            let url = config
                .iiko_webhook
                .url
                .as_ref()
                .map(|u| u.as_str())
                .unwrap_or_default();
            for organization in registered {
                println!("registered {url} for organization {organization}");
            }
            Ok(())
        }
        Command::Duties { json } => duties::list(&load_config(&cli.config)?, json).await,
        Command::Store(StoreCommand::Copy {
            to,
            password_file,
            json,
        }) => {
            store::copy(
                &load_config(&cli.config)?,
                &to,
                password_file.as_deref(),
                json,
            )
            .await
        }
        Command::Sim(args) => run_simulator(args).await,
        Command::Demo { store } => demo::run(store).await,
        Command::Menu(MenuCommand::Sync { sync, strict }) => {
            let config = load_config(&cli.config)?;
            menu::sync(&config, SyncKind::Full, &sync, strict).await
        }
        Command::Menu(MenuCommand::Rollback { branch }) => {
            menu::rollback(&load_config(&cli.config)?, &branch).await
        }
        Command::Prices(PricesCommand::Sync(sync)) => {
            let config = load_config(&cli.config)?;
            menu::sync(&config, SyncKind::Prices, &sync, false).await
        }
        Command::Orders(command) => {
            let config = load_config(&cli.config)?;
            match command {
                OrdersCommand::List {
                    state,
                    branch,
                    json,
                } => orders::list(&config, state.as_deref(), branch.as_deref(), json).await,
                OrdersCommand::Show { id, branch } => {
                    orders::show(&config, &id, branch.as_deref()).await
                }
                OrdersCommand::Retry { id, branch } => {
                    orders::retry(&config, &id, branch.as_deref()).await
                }
                OrdersCommand::Resolve { id, branch } => {
                    orders::resolve(&config, &id, branch.as_deref()).await
                }
                OrdersCommand::Undelivered { json } => orders::undelivered(&config, json).await,
            }
        }
        Command::Events(EventsCommand::List { state, json }) => {
            events::list(&load_config(&cli.config)?, state.as_deref(), json).await
        }
        Command::Events(EventsCommand::Redeliver { id, dead: _ }) => {
            events::redeliver(&load_config(&cli.config)?, id.as_deref()).await
        }
        Command::Reconcile(args) => reconcile::run(&load_config(&cli.config)?, args).await,
    }
}

pub fn load_config(path: &std::path::Path) -> Result<Config, Failure> {
    Ok(Sources::load(path)?.config()?)
}

fn iiko_client(iiko: &IikoConfig) -> Result<IikoClient, Failure> {
    let settings = iiko.settings().map_err(|e| Failure::Usage(e.to_string()))?;
    IikoClient::new(settings).map_err(|e| Failure::Unexpected(e.into()))
}

async fn run_simulator(args: SimArgs) -> Result<(), Failure> {
    let config = sim::SimConfig {
        products: args.products,
        seed: args.seed,
        rng_seed: args.rng_seed,
        creation_delay: Duration::from_millis(args.creation_delay_ms),
        status_step: Duration::from_secs(args.status_step_seconds),
        ..sim::SimConfig::default()
    };
    if let Some(path) = args.write_seed {
        let seed = sim::Seed::generate(config.products, config.rng_seed);
        seed.save(&path)?;
        println!("wrote {}", path.display());
        return Ok(());
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| Failure::Usage(format!("--listen {}: {e}", args.listen)))?;
    let simulator = sim::Simulator::new(config)?;
    tracing::info!(address = %args.listen, "iikoCloud simulator listening");
    sim::serve(listener, simulator, shutdown_signal())
        .await
        .map_err(|e| Failure::Unexpected(e.into()))
}

/// Resolves on Ctrl-C or SIGTERM (what `docker stop` sends), so in-flight work can drain.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
