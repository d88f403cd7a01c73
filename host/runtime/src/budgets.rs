//! Per-call budgets: the operator's defaults and ceilings (module
//! arguments), and the budgets a library asks for in its description.
//!
//! A library that asks for nothing runs with the defaults. One that asks
//! gets what it asked for, within the operator's ceiling of each budget; a
//! request above a ceiling refuses the library at load. One table,
//! [`BUDGETS`], names and bounds every budget, so that the module's
//! arguments, their validation, a library's request and `PATTERN.DESCRIBE`
//! cannot disagree.

use crate::bindings::exports::pattern::engine::library::BudgetRequest;
use crate::limits::*;
use crate::LoadError;

/// A library's request for no budget of its own (it runs with the defaults).
pub const NOTHING_REQUESTED: BudgetRequest = BudgetRequest {
    deadline_ms: None,
    fuel: None,
    memory_bytes: None,
    max_host_calls: None,
    max_reply_bytes: None,
};

/// One set of per-call budgets: the operator's defaults, its ceilings, or
/// the effective budgets of one library.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budgets {
    /// Wall-clock deadline of one call, in milliseconds.
    pub deadline_ms: u64,
    /// Fuel (about one unit per Wasm instruction) one call may burn; 0
    /// turns fuel metering off (it costs every call a few percent).
    pub fuel: u64,
    /// Largest linear memory a library instance may grow to, in bytes.
    pub memory_bytes: u64,
    /// Most host calls (imports) in one call.
    pub max_host_calls: u64,
    /// Largest reply of one call, in bytes of strings.
    pub max_reply_bytes: u64,
}

impl Budgets {
    /// The defaults when the operator sets none (see [`crate::limits`]).
    pub const DEFAULTS: Budgets = Budgets {
        deadline_ms: DEFAULT_DEADLINE_MS,
        fuel: 0,
        memory_bytes: DEFAULT_MEMORY_BYTES as u64,
        max_host_calls: DEFAULT_MAX_HOST_CALLS,
        max_reply_bytes: DEFAULT_MAX_REPLY_BYTES as u64,
    };

    /// The ceilings the operator did not set, for these defaults: each
    /// budget's named default ceiling, raised to the default where the
    /// default is higher (so that raising a default alone keeps working);
    /// no fuel ceiling while fuel metering is off.
    pub fn default_ceilings(&self) -> Budgets {
        let mut ceilings = *self;
        for budget in &BUDGETS {
            let default = budget.value(self);
            if !budget.is_off(default) {
                budget.set(&mut ceilings, budget.default_ceiling.max(default));
            }
        }
        ceilings
    }
}

/// One budget: its names, units and bounds.
pub struct Budget {
    /// As `PATTERN.DESCRIBE` shows it (the WIT request's field, snake_case).
    pub name: &'static str,
    /// The module argument of the operator's default.
    pub default_arg: &'static str,
    /// The module argument of the operator's ceiling.
    pub ceiling_arg: &'static str,
    /// What one unit of the module arguments is worth (MiB for memory).
    pub arg_unit: u64,
    /// Smallest value of a default, a ceiling or a request.
    min: u64,
    /// Largest value of a default or a ceiling.
    max: u64,
    /// The ceiling when the operator sets none (see
    /// [`Budgets::default_ceilings`]).
    default_ceiling: u64,
    /// A default of 0 turns the budget off (fuel): no ceiling applies, and
    /// a library's request is ignored.
    zero_is_off: bool,
    get: fn(&Budgets) -> u64,
    put: fn(&mut Budgets, u64),
    requested: fn(&BudgetRequest) -> Option<u64>,
}

impl Budget {
    /// This budget's value in `budgets`.
    pub fn value(&self, budgets: &Budgets) -> u64 {
        (self.get)(budgets)
    }

    /// Sets this budget in `budgets`.
    pub fn set(&self, budgets: &mut Budgets, value: u64) {
        (self.put)(budgets, value)
    }

    fn is_off(&self, default: u64) -> bool {
        self.zero_is_off && default == 0
    }

    /// `value` in the module argument's unit.
    fn in_arg_unit(&self, value: u64) -> u64 {
        value / self.arg_unit
    }
}

/// Every budget, in the order `PATTERN.DESCRIBE` shows them.
pub const BUDGETS: [Budget; 5] = [
    Budget {
        name: "deadline_ms",
        default_arg: "DEADLINE_MS",
        ceiling_arg: "CEILING_DEADLINE_MS",
        arg_unit: 1,
        min: 1,
        max: MAX_DEADLINE_MS,
        default_ceiling: DEFAULT_CEILING_DEADLINE_MS,
        zero_is_off: false,
        get: |b| b.deadline_ms,
        put: |b, v| b.deadline_ms = v,
        requested: |r| r.deadline_ms,
    },
    Budget {
        name: "fuel",
        default_arg: "FUEL",
        ceiling_arg: "CEILING_FUEL",
        arg_unit: 1,
        min: 1,
        max: u64::MAX,
        default_ceiling: DEFAULT_CEILING_FUEL,
        zero_is_off: true,
        get: |b| b.fuel,
        put: |b, v| b.fuel = v,
        requested: |r| r.fuel,
    },
    Budget {
        name: "memory_bytes",
        default_arg: "MEMORY_MB",
        ceiling_arg: "CEILING_MEMORY_MB",
        arg_unit: 1 << 20,
        min: 1 << 20,
        max: MAX_GUEST_MEMORY_BYTES as u64,
        default_ceiling: DEFAULT_CEILING_MEMORY_BYTES,
        zero_is_off: false,
        get: |b| b.memory_bytes,
        put: |b, v| b.memory_bytes = v,
        requested: |r| r.memory_bytes,
    },
    Budget {
        name: "max_host_calls",
        default_arg: "MAX_HOST_CALLS",
        ceiling_arg: "CEILING_HOST_CALLS",
        arg_unit: 1,
        min: 1,
        max: MAX_HOST_CALLS,
        default_ceiling: DEFAULT_CEILING_HOST_CALLS,
        zero_is_off: false,
        get: |b| b.max_host_calls,
        put: |b, v| b.max_host_calls = v,
        requested: |r| r.max_host_calls,
    },
    Budget {
        name: "max_reply_bytes",
        default_arg: "MAX_REPLY_BYTES",
        ceiling_arg: "CEILING_REPLY_BYTES",
        arg_unit: 1,
        min: 1,
        max: MAX_REPLY_BYTES as u64,
        default_ceiling: DEFAULT_CEILING_REPLY_BYTES,
        zero_is_off: false,
        get: |b| b.max_reply_bytes,
        put: |b, v| b.max_reply_bytes = v,
        requested: |r| r.max_reply_bytes,
    },
];

/// Checks the operator's defaults and ceilings; the error names the module
/// argument.
pub fn validate(defaults: &Budgets, ceilings: &Budgets) -> Result<(), String> {
    for budget in &BUDGETS {
        let (default, ceiling) = (budget.value(defaults), budget.value(ceilings));
        let in_range = |value: u64, arg: &str| {
            if (budget.min..=budget.max).contains(&value) {
                Ok(())
            } else {
                Err(format!(
                    "{arg} must be between {} and {}, got {}",
                    budget.in_arg_unit(budget.min),
                    budget.in_arg_unit(budget.max),
                    budget.in_arg_unit(value)
                ))
            }
        };
        if budget.is_off(default) {
            if ceiling != 0 {
                return Err(format!(
                    "{} needs {} above 0 ({} 0 turns it off)",
                    budget.ceiling_arg, budget.default_arg, budget.default_arg
                ));
            }
            continue;
        }
        in_range(default, budget.default_arg)?;
        in_range(ceiling, budget.ceiling_arg)?;
        if ceiling < default {
            return Err(format!(
                "{} {} is below {} {}: a ceiling must be at least its default",
                budget.ceiling_arg,
                budget.in_arg_unit(ceiling),
                budget.default_arg,
                budget.in_arg_unit(default)
            ));
        }
    }
    Ok(())
}

/// The budgets of a library that asks for `request`: the defaults, with
/// each requested budget in place of its default. A request above its
/// ceiling (or below a budget's minimum) refuses the library; a fuel
/// request while fuel metering is off is ignored.
pub fn resolve(
    defaults: &Budgets,
    ceilings: &Budgets,
    request: &BudgetRequest,
) -> Result<Budgets, LoadError> {
    let mut budgets = *defaults;
    for budget in &BUDGETS {
        let Some(value) = (budget.requested)(request) else {
            continue;
        };
        if budget.is_off(budget.value(defaults)) {
            continue;
        }
        let ceiling = budget.value(ceilings);
        if value > ceiling {
            return Err(LoadError::OverCeiling {
                budget: budget.name,
                value,
                ceiling,
                setting: budget.ceiling_arg,
            });
        }
        if value < budget.min {
            return Err(LoadError::InvalidDescription(format!(
                "budget {} {value} is below the minimum of {}",
                budget.name, budget.min
            )));
        }
        budget.set(&mut budgets, value);
    }
    Ok(budgets)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> BudgetRequest {
        NOTHING_REQUESTED
    }

    #[test]
    fn default_ceilings_cover_the_defaults() {
        let defaults = Budgets::DEFAULTS;
        let ceilings = defaults.default_ceilings();
        assert_eq!(ceilings.deadline_ms, DEFAULT_CEILING_DEADLINE_MS);
        assert_eq!(ceilings.fuel, 0, "no fuel ceiling while metering is off");
        assert_eq!(validate(&defaults, &ceilings), Ok(()));
        let high = Budgets {
            deadline_ms: 20_000,
            fuel: 1_000,
            ..defaults
        };
        let ceilings = high.default_ceilings();
        assert_eq!(ceilings.deadline_ms, 20_000, "raised to the default");
        assert_eq!(ceilings.fuel, DEFAULT_CEILING_FUEL);
        assert_eq!(validate(&high, &ceilings), Ok(()));
    }

    #[test]
    fn bad_ceilings_name_their_module_argument() {
        let defaults = Budgets::DEFAULTS;
        let with = |change: fn(&mut Budgets)| {
            let mut ceilings = defaults.default_ceilings();
            change(&mut ceilings);
            validate(&defaults, &ceilings).unwrap_err()
        };
        assert_eq!(
            with(|c| c.deadline_ms = 100),
            "CEILING_DEADLINE_MS 100 is below DEADLINE_MS 500: a ceiling must be at least its default"
        );
        assert_eq!(
            with(|c| c.fuel = 5),
            "CEILING_FUEL needs FUEL above 0 (FUEL 0 turns it off)"
        );
        assert_eq!(
            with(|c| c.memory_bytes = 1 << 30),
            "CEILING_MEMORY_MB must be between 1 and 256, got 1024"
        );
        assert!(with(|c| c.max_host_calls = 10).starts_with("CEILING_HOST_CALLS 10 is below"));
        assert!(with(|c| c.max_reply_bytes = 0).contains("CEILING_REPLY_BYTES"));
    }

    #[test]
    fn requests_within_the_ceilings_replace_the_defaults() {
        let defaults = Budgets {
            fuel: 1_000,
            ..Budgets::DEFAULTS
        };
        let ceilings = defaults.default_ceilings();
        let asked = BudgetRequest {
            deadline_ms: Some(50),
            fuel: Some(5_000),
            memory_bytes: Some(4 << 20),
            max_host_calls: Some(DEFAULT_CEILING_HOST_CALLS),
            max_reply_bytes: None,
        };
        let budgets = resolve(&defaults, &ceilings, &asked).unwrap();
        assert_eq!(
            budgets,
            Budgets {
                deadline_ms: 50,
                fuel: 5_000,
                memory_bytes: 4 << 20,
                max_host_calls: DEFAULT_CEILING_HOST_CALLS,
                max_reply_bytes: defaults.max_reply_bytes,
            }
        );
        assert_eq!(resolve(&defaults, &ceilings, &request()), Ok(defaults));
    }

    #[test]
    fn requests_over_a_ceiling_are_refused_in_one_line() {
        let defaults = Budgets::DEFAULTS;
        let ceilings = defaults.default_ceilings();
        let asked = BudgetRequest {
            deadline_ms: Some(DEFAULT_CEILING_DEADLINE_MS + 1),
            ..request()
        };
        let error = resolve(&defaults, &ceilings, &asked).unwrap_err();
        assert_eq!(
            error.to_string(),
            "library asks for deadline_ms 5001, over the operator's ceiling of 5000 (module argument CEILING_DEADLINE_MS)"
        );
        let zero = BudgetRequest {
            max_host_calls: Some(0),
            ..request()
        };
        assert!(matches!(
            resolve(&defaults, &ceilings, &zero),
            Err(LoadError::InvalidDescription(_))
        ));
    }

    #[test]
    fn fuel_requests_are_ignored_while_metering_is_off() {
        let defaults = Budgets::DEFAULTS;
        let asked = BudgetRequest {
            fuel: Some(u64::MAX),
            ..request()
        };
        let budgets = resolve(&defaults, &defaults.default_ceilings(), &asked).unwrap();
        assert_eq!(budgets.fuel, 0);
    }
}
