//! `engine.toml`, every key overridable by a `PATTERN_ENGINE_<SECTION>_<KEY>`
//! environment variable (the value parsed as TOML, else taken as a string):
//! `PATTERN_ENGINE_GATEWAY_LISTEN=0.0.0.0:8080`,
//! `PATTERN_ENGINE_AUTH_ADMIN_TOKEN=...`. The file documents each key.

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub gateway: Gateway,
    #[serde(default)]
    pub redis: Redis,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub auth: Auth,
    #[serde(default)]
    pub redlock: Redlock,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Gateway {
    pub listen: SocketAddr,
    pub max_body_bytes: usize,
    pub request_timeout_ms: u64,
    pub max_concurrency: usize,
}

impl Default for Gateway {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".parse().expect("literal address"),
            max_body_bytes: 64 * 1024 * 1024,
            request_timeout_ms: 30_000,
            max_concurrency: 256,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Redis {
    pub url: String,
    pub port: u16,
    pub data_dir: PathBuf,
    pub module: String,
    pub libraries_dir: String,
    /// Seed nodes of a Redis Cluster; non-empty: cluster mode (`url` is
    /// then unused).
    pub cluster_nodes: Vec<String>,
    /// Cluster mode: how often every master is checked against the
    /// catalogue of libraries.
    pub reconcile_interval_ms: u64,
    /// Redis Sentinel addresses; non-empty: the gateway follows the
    /// primary that they name `sentinel_master` (`url` is then unused).
    pub sentinels: Vec<String>,
    pub sentinel_master: String,
}

impl Default for Redis {
    fn default() -> Self {
        Self {
            url: String::new(),
            port: 6380,
            data_dir: "data".into(),
            module: String::new(),
            libraries_dir: String::new(),
            cluster_nodes: Vec::new(),
            reconcile_interval_ms: 5000,
            sentinels: Vec::new(),
            sentinel_master: "pattern-engine".into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    pub deadline_ms: u64,
    /// The longest deadline a library may ask for (module argument
    /// `CEILING_DEADLINE_MS`); 0 leaves the module's default.
    pub ceiling_deadline_ms: u64,
    pub versions_kept: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            deadline_ms: 500,
            ceiling_deadline_ms: 0,
            versions_kept: 5,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Auth {
    pub admin_token: String,
    pub call_tokens: Vec<CallToken>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallToken {
    pub token: String,
    /// Libraries this token may call; empty: all.
    #[serde(default)]
    pub libraries: Vec<String>,
}

impl Auth {
    pub fn enabled(&self) -> bool {
        !self.admin_token.is_empty() || !self.call_tokens.is_empty()
    }
}

/// `[redlock]`: the independent masters of `/v1/redlock/*` and the
/// client's tuning (see the `pattern-redlock` crate).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Redlock {
    /// URLs of the masters, each with the module and the `lock` library;
    /// empty: the Redlock routes answer 404 `redlock_not_configured`.
    pub masters: Vec<String>,
    pub tries: u32,
    pub retry_delay_ms: u64,
    pub retry_jitter_ms: u64,
    pub master_timeout_ms: u64,
}

impl Default for Redlock {
    fn default() -> Self {
        let options = pattern_redlock::Options::default();
        Self {
            masters: Vec::new(),
            tries: options.tries,
            retry_delay_ms: options.retry_delay.as_millis() as u64,
            retry_jitter_ms: options.retry_jitter.as_millis() as u64,
            master_timeout_ms: options.master_timeout.as_millis() as u64,
        }
    }
}

impl Redlock {
    /// The client's options.
    pub fn options(&self) -> pattern_redlock::Options {
        use std::time::Duration;
        pattern_redlock::Options {
            tries: self.tries,
            retry_delay: Duration::from_millis(self.retry_delay_ms),
            retry_jitter: Duration::from_millis(self.retry_jitter_ms),
            master_timeout: Duration::from_millis(self.master_timeout_ms),
        }
    }
}

const SECTIONS: &[&str] = &["gateway", "redis", "limits", "auth", "redlock"];

/// Reads `path` (missing is fine: defaults), then the environment.
pub fn load(path: &Path) -> Result<Config> {
    let mut table: toml::Table = match std::fs::read_to_string(path) {
        Ok(text) => toml::from_str(&text).with_context(|| format!("reading {}", path.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => toml::Table::new(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    apply_env(&mut table, std::env::vars())?;
    toml::Value::Table(table).try_into().with_context(|| {
        format!(
            "invalid configuration in {} or PATTERN_ENGINE_* variables",
            path.display()
        )
    })
}

/// Applies `PATTERN_ENGINE_<SECTION>_<KEY>` overrides to `table`.
pub fn apply_env(
    table: &mut toml::Table,
    vars: impl Iterator<Item = (String, String)>,
) -> Result<()> {
    for (name, value) in vars {
        let Some(rest) = name.strip_prefix("PATTERN_ENGINE_") else {
            continue;
        };
        let rest = rest.to_ascii_lowercase();
        let Some(section) = SECTIONS.iter().find(|s| rest.starts_with(&format!("{s}_"))) else {
            if matches!(rest.as_str(), "url" | "token" | "config") {
                continue; // the CLI's own variables
            }
            if matches!(rest.as_str(), "perf_map" | "pool_instances") {
                continue; // the module's (for the Redis it starts)
            }
            bail!("unknown configuration variable {name}");
        };
        let key = &rest[section.len() + 1..];
        let parsed = toml::from_str::<toml::Table>(&format!("v = {value}"))
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or(toml::Value::String(value));
        table
            .entry(section.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .with_context(|| format!("[{section}] is not a table"))?
            .insert(key.to_string(), parsed);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_overrides_the_file() {
        let mut table: toml::Table = toml::from_str("[gateway]\nlisten = \"127.0.0.1:1\"").unwrap();
        let vars = [
            ("PATTERN_ENGINE_GATEWAY_LISTEN", "127.0.0.1:2"),
            ("PATTERN_ENGINE_LIMITS_DEADLINE_MS", "250"),
            ("PATTERN_ENGINE_LIMITS_CEILING_DEADLINE_MS", "2000"),
            ("PATTERN_ENGINE_AUTH_ADMIN_TOKEN", "s3cret"),
            ("HOME", "/root"),
            // The module's own variables pass through untouched.
            ("PATTERN_ENGINE_PERF_MAP", "1"),
            ("PATTERN_ENGINE_POOL_INSTANCES", "16"),
        ];
        apply_env(
            &mut table,
            vars.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        )
        .unwrap();
        let config: Config = toml::Value::Table(table).try_into().unwrap();
        assert_eq!(config.gateway.listen.port(), 2);
        assert_eq!(config.limits.deadline_ms, 250);
        assert_eq!(config.limits.ceiling_deadline_ms, 2000);
        assert_eq!(config.auth.admin_token, "s3cret");
    }

    #[test]
    fn unknown_variables_and_keys_are_errors() {
        let mut table = toml::Table::new();
        let bad = [("PATTERN_ENGINE_NOPE_X".to_string(), "1".to_string())];
        assert!(apply_env(&mut table, bad.into_iter()).is_err());
        let typo: Result<Config, _> = toml::from_str("[gateway]\nlisen = \"x\"");
        assert!(typo.is_err());
    }

    #[test]
    fn the_shipped_engine_toml_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../engine.toml");
        let text = std::fs::read_to_string(path).unwrap();
        let _: Config = toml::from_str(&text).unwrap();
    }
}
