//! `pattern-engine up`: a local `redis-server` managed by the gateway, on
//! loopback, with the module loaded and persistence on (AOF), the bundled
//! libraries loaded, stopped cleanly (saving) when the gateway stops.

use crate::config::{Config, Limits};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// How long loading one bundled library may take (it compiles).
const LOAD_TIMEOUT: Duration = Duration::from_secs(120);
use tokio::process::{Child, Command};

/// Where `up` finds its parts, after flags and configuration.
pub struct Parts {
    pub module: PathBuf,
    pub libraries: PathBuf,
    pub port: u16,
    pub data_dir: PathBuf,
}

fn exe_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("."))
}

impl Parts {
    pub fn resolve(
        config: &Config,
        module: Option<PathBuf>,
        libraries: Option<PathBuf>,
        port: Option<u16>,
        data_dir: Option<PathBuf>,
    ) -> Self {
        let or_config = |flag: Option<PathBuf>, configured: &str, default: PathBuf| {
            flag.or_else(|| (!configured.is_empty()).then(|| PathBuf::from(configured)))
                .unwrap_or(default)
        };
        Self {
            module: or_config(
                module,
                &config.redis.module,
                exe_dir().join("libpattern_engine.so"),
            ),
            libraries: or_config(
                libraries,
                &config.redis.libraries_dir,
                exe_dir().join("../components"),
            ),
            port: port.unwrap_or(config.redis.port),
            data_dir: data_dir.unwrap_or_else(|| config.redis.data_dir.clone()),
        }
    }
}

/// The managed `redis-server`.
pub struct ManagedRedis {
    child: Child,
    pub url: String,
}

fn find_on_path(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| Path::new(dir).join(program))
        .find(|p| p.is_file())
}

impl ManagedRedis {
    /// Starts `redis-server` and waits until it answers.
    pub async fn start(parts: &Parts, limits: &Limits) -> Result<Self> {
        let server = find_on_path("redis-server").context(
            "redis-server was not found on PATH; install it with: sudo apt-get install -y redis-server",
        )?;
        if !parts.module.is_file() {
            bail!(
                "the module {} does not exist; build it with `cargo build -p pattern-module` (or run `cargo xtask up`), or pass --module",
                parts.module.display()
            );
        }
        std::fs::create_dir_all(&parts.data_dir)
            .with_context(|| format!("creating the data directory {}", parts.data_dir.display()))?;
        let mut child = Command::new(server)
            .args([
                "--port",
                &parts.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--appendonly",
                "yes",
            ])
            .arg("--dir")
            .arg(&parts.data_dir)
            .args(["--logfile", "redis.log"])
            .arg("--loadmodule")
            .arg(&parts.module)
            .args(["DEADLINE_MS", &limits.deadline_ms.to_string()])
            .args(match limits.ceiling_deadline_ms {
                0 => vec![],
                ms => vec!["CEILING_DEADLINE_MS".to_string(), ms.to_string()],
            })
            .args(["VERSIONS_KEPT", &limits.versions_kept.to_string()])
            .stdout(Stdio::null())
            // Its own process group: Ctrl-C reaches the gateway, which stops
            // HTTP first and then Redis.
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .context("starting redis-server")?;
        let url = format!("redis://127.0.0.1:{}/", parts.port);
        let client = redis::Client::open(url.as_str())?;
        let started = Instant::now();
        loop {
            if let Some(status) = child.try_wait()? {
                bail!(
                    "redis-server exited at start ({status}); see {}/redis.log (is port {} in use?)",
                    parts.data_dir.display(),
                    parts.port
                );
            }
            if let Ok(mut con) = client.get_multiplexed_async_connection().await {
                if redis::cmd("PING")
                    .query_async::<String>(&mut con)
                    .await
                    .is_ok()
                {
                    break;
                }
            }
            if started.elapsed() > Duration::from_secs(20) {
                bail!("redis-server did not answer within 20 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(Self { child, url })
    }

    /// Loads every component of `dir` (sorted by name); returns what loaded.
    pub async fn load_bundled(&self, dir: &Path) -> Result<Vec<(String, String)>> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .with_context(|| format!("reading the bundled libraries in {} (build them with `cargo xtask components`)", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "wasm"))
            .collect();
        files.sort();
        let client = redis::Client::open(self.url.as_str())?;
        // Compiling a component can take seconds (debug builds, a busy
        // machine): far more than the client's default 500 ms.
        let config = redis::AsyncConnectionConfig::new().set_response_timeout(Some(LOAD_TIMEOUT));
        let mut con = client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        let mut loaded = Vec::new();
        for file in files {
            let bytes = std::fs::read(&file)?;
            let (name, version, _): (String, String, String) = redis::cmd("PATTERN.LOAD")
                .arg("REPLACE")
                .arg(bytes)
                .query_async(&mut con)
                .await
                .with_context(|| format!("loading {}", file.display()))?;
            loaded.push((name, version));
        }
        Ok(loaded)
    }

    /// Stops Redis with SHUTDOWN (it saves), killing it if it will not stop.
    pub async fn stop(mut self) {
        if let Ok(client) = redis::Client::open(self.url.as_str()) {
            if let Ok(mut con) = client.get_multiplexed_async_connection().await {
                let _: redis::RedisResult<()> = redis::cmd("SHUTDOWN").query_async(&mut con).await;
            }
        }
        if tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}
