//! Module arguments: `--loadmodule libpattern_engine.so [DEADLINE_MS <ms>]
//! [FUEL <n>] [MEMORY_MB <mib>] [MAX_HOST_CALLS <n>] [MAX_REPLY_BYTES <n>]
//! [ALL_OR_NOTHING yes|no] [VERSIONS_KEPT <n>]`: the per-call budgets,
//! whether failed calls are undone (yes; no only to measure its cost), and
//! the versions kept.

use crate::registry::{DEFAULT_VERSIONS_KEPT, MAX_VERSIONS_KEPT};
use pattern_runtime::EngineConfig;
use redis_module::RedisString;

/// Everything the module arguments set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleConfig {
    pub engine: EngineConfig,
    /// Versions kept per library, the current one included.
    pub versions_kept: usize,
}

const KNOWN: &str =
    "DEADLINE_MS, FUEL, MEMORY_MB, MAX_HOST_CALLS, MAX_REPLY_BYTES, ALL_OR_NOTHING, VERSIONS_KEPT";

/// Parses the module's arguments (names are case-insensitive).
pub fn parse(args: &[RedisString]) -> Result<ModuleConfig, String> {
    let words: Vec<String> = args.iter().map(RedisString::to_string_lossy).collect();
    parse_words(&words)
}

fn parse_words(words: &[String]) -> Result<ModuleConfig, String> {
    let mut config = EngineConfig::default();
    let mut versions_kept = DEFAULT_VERSIONS_KEPT;
    let mut words = words.iter();
    while let Some(name) = words.next() {
        let value = words
            .next()
            .ok_or_else(|| format!("module argument {name} needs a value"))?;
        let number = || -> Result<u64, String> {
            value
                .parse()
                .map_err(|_| format!("{name} must be a non-negative integer, got '{value}'"))
        };
        match name.to_ascii_uppercase().as_str() {
            "DEADLINE_MS" => config.deadline_ms = number()?,
            "FUEL" => config.fuel = number()?,
            "MEMORY_MB" => config.memory_bytes = (number()? as usize).saturating_mul(1 << 20),
            "MAX_HOST_CALLS" => config.max_host_calls = number()?,
            "MAX_REPLY_BYTES" => config.max_reply_bytes = number()? as usize,
            "ALL_OR_NOTHING" => {
                config.all_or_nothing = match value.to_ascii_lowercase().as_str() {
                    "yes" => true,
                    "no" => false,
                    _ => return Err(format!("ALL_OR_NOTHING must be yes or no, got '{value}'")),
                }
            }
            "VERSIONS_KEPT" => {
                versions_kept = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_VERSIONS_KEPT).contains(n))
                    .ok_or_else(|| {
                        format!("VERSIONS_KEPT must be between 1 and {MAX_VERSIONS_KEPT}, got '{value}'")
                    })?;
            }
            _ => return Err(format!("unknown module argument '{name}' (known: {KNOWN})")),
        }
    }
    config.validate()?;
    Ok(ModuleConfig {
        engine: config,
        versions_kept,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(words: &[&str]) -> Result<ModuleConfig, String> {
        parse_words(&words.iter().map(|w| w.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn arguments_set_the_config() {
        let config = parse(&[
            "deadline_ms",
            "250",
            "VERSIONS_KEPT",
            "3",
            "FUEL",
            "1000000",
            "MEMORY_MB",
            "32",
            "MAX_HOST_CALLS",
            "50",
            "MAX_REPLY_BYTES",
            "4096",
            "ALL_OR_NOTHING",
            "no",
        ])
        .unwrap();
        assert_eq!((config.engine.deadline_ms, config.versions_kept), (250, 3));
        assert_eq!(config.engine.fuel, 1_000_000);
        assert_eq!(config.engine.memory_bytes, 32 << 20);
        assert_eq!(config.engine.max_host_calls, 50);
        assert_eq!(config.engine.max_reply_bytes, 4096);
        assert!(!config.engine.all_or_nothing);
        assert!(parse(&[]).unwrap().engine.all_or_nothing);
        assert_eq!(parse(&[]).unwrap().versions_kept, DEFAULT_VERSIONS_KEPT);
        for bad in [
            &["VERSIONS_KEPT", "0"][..],
            &["VERSIONS_KEPT", "x"],
            &["DEADLINE_MS"],
            &["NOPE", "1"],
            &["DEADLINE_MS", "0"],
            &["MEMORY_MB", "0"],
            &["MEMORY_MB", "100000"],
            &["MAX_HOST_CALLS", "-1"],
            &["MAX_REPLY_BYTES", "0"],
            &["ALL_OR_NOTHING", "maybe"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
