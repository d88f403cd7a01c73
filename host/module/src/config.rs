//! Module arguments: `--loadmodule libpattern_engine.so [DEADLINE_MS <ms>]`.

use pattern_runtime::EngineConfig;
use redis_module::RedisString;

/// Parses the module's arguments (names are case-insensitive).
pub fn parse(args: &[RedisString]) -> Result<EngineConfig, String> {
    let mut config = EngineConfig::default();
    let words: Vec<String> = args.iter().map(RedisString::to_string_lossy).collect();
    let mut words = words.iter();
    while let Some(name) = words.next() {
        let value = words
            .next()
            .ok_or_else(|| format!("module argument {name} needs a value"))?;
        match name.to_ascii_uppercase().as_str() {
            "DEADLINE_MS" => {
                config.deadline_ms = value.parse().map_err(|_| {
                    format!("DEADLINE_MS must be a positive integer, got '{value}'")
                })?;
            }
            _ => {
                return Err(format!(
                    "unknown module argument '{name}' (known: DEADLINE_MS)"
                ))
            }
        }
    }
    Ok(config)
}
