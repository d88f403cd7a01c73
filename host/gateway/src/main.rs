//! `pattern-engine`: the HTTP face of Pattern Engine, and its CLI.
//!
//! - [`config`]: `engine.toml` and `PATTERN_ENGINE_*` overrides.
//! - [`server`]: HTTP serving, access control, limits.
//! - [`routes`]: the route table (checked against `openapi.json`).
//! - [`api`]: one handler per route.
//! - [`backend`]: the connection handlers query (one Redis or a cluster).
//! - [`cluster`]: Redis Cluster: routing by slot, libraries on every master.
//! - [`sentinel`]: the primary that Redis Sentinel names.
//! - [`json`]: the reply-to-JSON mapping.
//! - [`metrics`]: Prometheus metrics.
//! - [`redlock`]: the Redlock routes (the `pattern-redlock` crate).
//! - [`managed`]: the local `redis-server` of `up`.
//! - [`client`]: the CLI commands that talk to a gateway.
//! - [`scaffold`]: `new` (project templates) and building a project for `deploy <dir>`.
//! - [`componentize`]: core module to component (shared with xtask).
//! - [`c_guest`]: C sources to a component with the C kit (shared with xtask).

mod api;
mod backend;
mod c_guest;
mod client;
mod cluster;
mod componentize;
mod config;
mod json;
mod managed;
mod metrics;
mod redlock;
mod routes;
mod scaffold;
mod sentinel;
mod server;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// Pattern Engine: Redis patterns as WebAssembly components. Upload, version,
/// roll back and call libraries over HTTP; with no command, `up`.
#[derive(Parser)]
#[command(name = "pattern-engine", version)]
struct Cli {
    /// Configuration file (every key overridable by PATTERN_ENGINE_<SECTION>_<KEY>).
    #[arg(
        long,
        global = true,
        env = "PATTERN_ENGINE_CONFIG",
        default_value = "engine.toml"
    )]
    config: PathBuf,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Start a local redis-server with the module and the bundled libraries
    /// (AOF on), serve HTTP, stop Redis cleanly on Ctrl-C or SIGTERM.
    Up {
        /// The module's shared library [default: libpattern_engine.so next to this binary]
        #[arg(long)]
        module: Option<PathBuf>,
        /// Directory of bundled components to load [default: ../components from this binary]
        #[arg(long)]
        libraries: Option<PathBuf>,
        /// Port of the managed Redis [default: redis.port]
        #[arg(long)]
        port: Option<u16>,
        /// Directory of Redis's data files [default: redis.data_dir]
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// HTTP address [default: gateway.listen]
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
    /// Serve HTTP against a Redis that has the module (redis://, rediss://, unix socket).
    Serve {
        /// Redis URL [default: redis.url]
        #[arg(long)]
        redis_url: Option<String>,
        /// HTTP address [default: gateway.listen]
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
    /// Scaffold a library project (with a passing test) in ./<name>.
    New {
        /// rust, js, python or c
        #[arg(long)]
        lang: String,
        name: String,
        /// The language's kit [default: this checkout's guest-sdk/<lang>]
        #[arg(long)]
        sdk: Option<PathBuf>,
    },
    /// Upload a component as the new version of its library; a project
    /// directory (from `new`) is built first.
    Deploy {
        /// The component (.wasm) or a project directory
        file: PathBuf,
        /// Library name [default: the project's name, or the file name without .wasm]
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Call <library>.<function>.
    Call {
        target: String,
        /// A key (repeat in order)
        #[arg(long = "key")]
        keys: Vec<String>,
        /// An argument (repeat in order)
        #[arg(long = "arg")]
        args: Vec<String>,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// List libraries with their versions and functions.
    List {
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Describe one library: versions, functions, statistics.
    Describe {
        name: String,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Make the previous (or a named) version current.
    Rollback {
        name: String,
        /// The version (sha256) to make current
        #[arg(long)]
        to: Option<String>,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Delete a library and its versions.
    Delete {
        name: String,
        #[command(flatten)]
        api: ApiArgs,
    },
}

#[derive(Args)]
struct ApiArgs {
    /// The gateway's URL
    #[arg(
        long,
        env = "PATTERN_ENGINE_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    url: String,
    /// Bearer token
    #[arg(long, env = "PATTERN_ENGINE_TOKEN")]
    token: Option<String>,
}

impl ApiArgs {
    fn api(self) -> client::Api {
        client::Api::new(&self.url, self.token)
    }
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("stopping");
}

/// Serves HTTP against `redis_url` until a shutdown signal.
async fn gateway(
    mut config: config::Config,
    redis_url: &str,
    listen: Option<SocketAddr>,
) -> Result<()> {
    let mut address = listen.unwrap_or(config.gateway.listen);
    if !config.auth.enabled() {
        if !address.ip().is_loopback() {
            tracing::warn!(
                "no token configured: listening on 127.0.0.1 instead of {}",
                address.ip()
            );
            address.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        tracing::warn!("no token configured: anyone on this machine can upload and call libraries");
    }
    config.gateway.listen = address;
    let state = server::AppState::connect(config, redis_url)
        .await
        .with_context(|| format!("cannot reach Redis at {redis_url}"))?;
    let mut con = state.redis.clone();
    let modules: Vec<redis::Value> = redis::cmd("MODULE")
        .arg("LIST")
        .query_async(&mut con)
        .await?;
    if !modules
        .iter()
        .any(|m| server::fields(m).get("name") == Some(&serde_json::json!("pattern-engine")))
    {
        bail!("Redis at {redis_url} does not have the pattern-engine module loaded: start it with --loadmodule <path>/libpattern_engine.so");
    }
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("binding {address}"))?;
    let bound = listener.local_addr()?;
    println!("pattern-engine listening on http://{bound}");
    println!("try: curl -s -X POST http://{bound}/v1/call/ratelimit.fixed_window -d '{{\"keys\": [\"rate:demo\"], \"args\": [5, 60]}}'");
    server::serve(Arc::new(state), listener, shutdown_signal()).await;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    let config = config::load(&cli.config)?;
    match cli.command.unwrap_or(Command::Up {
        module: None,
        libraries: None,
        port: None,
        data_dir: None,
        listen: None,
    }) {
        Command::Up {
            module,
            libraries,
            port,
            data_dir,
            listen,
        } => {
            let parts = managed::Parts::resolve(&config, module, libraries, port, data_dir);
            let redis = managed::ManagedRedis::start(&parts, &config.limits).await?;
            let loaded = match redis.load_bundled(&parts.libraries).await {
                Ok(loaded) => loaded,
                Err(e) => {
                    redis.stop().await;
                    return Err(e);
                }
            };
            for (name, version) in &loaded {
                println!("loaded {name} {version}");
            }
            println!(
                "Redis with the module: {} (data in {})",
                redis.url,
                parts.data_dir.display()
            );
            let url = redis.url.clone();
            let served = gateway(config, &url, listen).await;
            redis.stop().await;
            served
        }
        Command::Serve { redis_url, listen } => {
            let mut url = redis_url.unwrap_or_else(|| config.redis.url.clone());
            if !config.redis.sentinels.is_empty() {
                url = format!(
                    "primary '{}' of Sentinels {}",
                    config.redis.sentinel_master,
                    config.redis.sentinels.join(" ")
                );
            } else if !config.redis.cluster_nodes.is_empty() {
                url = format!("cluster {}", config.redis.cluster_nodes.join(" "));
            }
            if url.is_empty() {
                bail!("no Redis configured: pass --redis-url, set redis.url (or redis.cluster_nodes) in engine.toml, or use `pattern-engine up`");
            }
            gateway(config, &url, listen).await
        }
        Command::New { lang, name, sdk } => {
            scaffold::create(&lang, &name, sdk.as_deref(), std::path::Path::new(".")).map(drop)
        }
        Command::Deploy { file, name, api } if file.is_dir() => {
            let (project, component) = scaffold::build(&file)?;
            api.api()
                .deploy(&component, Some(name.unwrap_or(project)))
                .await
        }
        Command::Deploy { file, name, api } => api.api().deploy(&file, name).await,
        Command::Call {
            target,
            keys,
            args,
            api,
        } => api.api().call(&target, keys, args).await,
        Command::List { api } => api.api().list().await,
        Command::Describe { name, api } => api.api().describe(&name).await,
        Command::Rollback { name, to, api } => api.api().rollback(&name, to).await,
        Command::Delete { name, api } => api.api().delete(&name).await,
    }
}
