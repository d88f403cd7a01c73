//! Module arguments: `--loadmodule libpattern_engine.so [DEADLINE_MS <ms>]
//! [FUEL <n>] [MEMORY_MB <mib>] [MAX_HOST_CALLS <n>] [MAX_REPLY_BYTES <n>]
//! [CEILING_DEADLINE_MS <ms>] [CEILING_FUEL <n>] [CEILING_MEMORY_MB <mib>]
//! [CEILING_HOST_CALLS <n>] [CEILING_REPLY_BYTES <n>]
//! [ALL_OR_NOTHING yes|no] [DIRECT_CALLS yes|no] [VERSIONS_KEPT <n>]`: the
//! per-call budgets of a
//! library that asks for none, the most a library may ask for (each ceiling
//! defaults to a named constant of `pattern_runtime::limits`, raised to its
//! default where that is higher; a ceiling below its default is refused),
//! whether failed calls are undone (yes; no only to measure its cost),
//! whether libraries may run on the direct path (yes; no to measure it and
//! test both paths), and the versions kept.

use crate::registry::{DEFAULT_VERSIONS_KEPT, MAX_VERSIONS_KEPT};
use pattern_runtime::budgets::BUDGETS;
use pattern_runtime::EngineConfig;
use redis_module::RedisString;

/// Everything the module arguments set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleConfig {
    pub engine: EngineConfig,
    /// Versions kept per library, the current one included.
    pub versions_kept: usize,
}

/// The arguments that are not a budget or a ceiling.
const OTHER_ARGUMENTS: &str = "ALL_OR_NOTHING, DIRECT_CALLS, VERSIONS_KEPT";

/// Every argument's name, for the error of an unknown one.
fn known() -> String {
    let budgets = BUDGETS.iter().map(|b| b.default_arg);
    let ceilings = BUDGETS.iter().map(|b| b.ceiling_arg);
    let mut names: Vec<&str> = budgets.chain(ceilings).collect();
    names.push(OTHER_ARGUMENTS);
    names.join(", ")
}

/// Parses the module's arguments (names are case-insensitive).
pub fn parse(args: &[RedisString]) -> Result<ModuleConfig, String> {
    let words: Vec<String> = args.iter().map(RedisString::to_string_lossy).collect();
    parse_words(&words)
}

/// A switch's value: yes or no, in any case.
fn yes_or_no(name: &str, value: &str) -> Result<bool, String> {
    match value.to_ascii_lowercase().as_str() {
        "yes" => Ok(true),
        "no" => Ok(false),
        _ => Err(format!("{name} must be yes or no, got '{value}'")),
    }
}

fn parse_words(words: &[String]) -> Result<ModuleConfig, String> {
    let mut config = EngineConfig::default();
    let mut ceilings = Vec::new();
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
        let upper = name.to_ascii_uppercase();
        if let Some(budget) = BUDGETS.iter().find(|b| b.default_arg == upper) {
            budget.set(
                &mut config.budgets,
                number()?.saturating_mul(budget.arg_unit),
            );
            continue;
        }
        if let Some(budget) = BUDGETS.iter().find(|b| b.ceiling_arg == upper) {
            ceilings.push((budget, number()?.saturating_mul(budget.arg_unit)));
            continue;
        }
        match upper.as_str() {
            "ALL_OR_NOTHING" => config.all_or_nothing = yes_or_no(&upper, value)?,
            "DIRECT_CALLS" => config.direct_calls = yes_or_no(&upper, value)?,
            "VERSIONS_KEPT" => {
                versions_kept = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_VERSIONS_KEPT).contains(n))
                    .ok_or_else(|| {
                        format!("VERSIONS_KEPT must be between 1 and {MAX_VERSIONS_KEPT}, got '{value}'")
                    })?;
            }
            _ => {
                return Err(format!(
                    "unknown module argument '{name}' (known: {})",
                    known()
                ))
            }
        }
    }
    // The ceilings follow the defaults, whatever the arguments' order.
    config.ceilings = config.budgets.default_ceilings();
    for (budget, value) in ceilings {
        budget.set(&mut config.ceilings, value);
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
    use pattern_runtime::limits::*;

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
            "DIRECT_CALLS",
            "No",
        ])
        .unwrap();
        let budgets = config.engine.budgets;
        assert_eq!((budgets.deadline_ms, config.versions_kept), (250, 3));
        assert_eq!(budgets.fuel, 1_000_000);
        assert_eq!(budgets.memory_bytes, 32 << 20);
        assert_eq!(budgets.max_host_calls, 50);
        assert_eq!(budgets.max_reply_bytes, 4096);
        assert!(!config.engine.all_or_nothing);
        assert!(parse(&[]).unwrap().engine.all_or_nothing);
        assert!(!config.engine.direct_calls);
        assert!(parse(&[]).unwrap().engine.direct_calls);
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
            &["DIRECT_CALLS", "sometimes"],
            &["CEILING_DEADLINE_MS", "soon"],
            &["CEILING_DEADLINE_MS", "100"],
            &["CEILING_FUEL", "10"],
            &["CEILING_MEMORY_MB", "100000"],
            &["CEILING_HOST_CALLS", "0"],
            &["CEILING_REPLY_BYTES", "-1"],
        ] {
            let error = parse(bad).unwrap_err();
            assert!(!error.contains('\n'), "{bad:?}: {error}");
        }
    }

    #[test]
    fn ceilings_are_set_or_follow_their_defaults() {
        let ceilings = parse(&[]).unwrap().engine.ceilings;
        assert_eq!(ceilings.deadline_ms, DEFAULT_CEILING_DEADLINE_MS);
        assert_eq!(ceilings.fuel, 0, "no fuel ceiling while metering is off");
        assert_eq!(ceilings.memory_bytes, DEFAULT_CEILING_MEMORY_BYTES);
        assert_eq!(ceilings.max_host_calls, DEFAULT_CEILING_HOST_CALLS);
        assert_eq!(ceilings.max_reply_bytes, DEFAULT_CEILING_REPLY_BYTES);
        let config = parse(&[
            "ceiling_deadline_ms",
            "800",
            "FUEL",
            "1000",
            "CEILING_FUEL",
            "5000",
            "CEILING_MEMORY_MB",
            "200",
            "CEILING_HOST_CALLS",
            "100000",
            "CEILING_REPLY_BYTES",
            "100000000",
        ])
        .unwrap();
        let ceilings = config.engine.ceilings;
        assert_eq!(ceilings.deadline_ms, 800);
        assert_eq!(ceilings.fuel, 5000);
        assert_eq!(ceilings.memory_bytes, 200 << 20);
        assert_eq!(ceilings.max_host_calls, 100_000);
        assert_eq!(ceilings.max_reply_bytes, 100_000_000);
        // A default above the default ceiling raises it, in any order.
        let raised = parse(&["DEADLINE_MS", "20000"]).unwrap().engine.ceilings;
        assert_eq!(raised.deadline_ms, 20_000);
        assert_eq!(
            parse(&["CEILING_DEADLINE_MS", "100"]).unwrap_err(),
            "CEILING_DEADLINE_MS 100 is below DEADLINE_MS 500: a ceiling must be at least its default"
        );
        assert!(parse(&["CEILING_DEADLINE_MS", "100", "DEADLINE_MS", "50"]).is_ok());
        let unknown = parse(&["CEILING", "1"]).unwrap_err();
        assert!(
            unknown.contains("CEILING_REPLY_BYTES, ALL_OR_NOTHING"),
            "{unknown}"
        );
    }
}
