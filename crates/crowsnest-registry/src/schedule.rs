//! Cron schedules of registry syncs: parsing an expression and finding its next run.
//!
//! The expression is parsed by the `cron` crate and evaluated in UTC. Five fields (`minute
//! hour day-of-month month day-of-week`, the crontab form) run at second 0; six or seven fields
//! start with seconds (and may end with years), so `* * * * * *` runs every second (what tests
//! use). `@hourly`, `@daily`, `@weekly`, `@monthly` and `@yearly` are accepted too. Day-of-week
//! names (`MON-FRI`) mean the same everywhere; numbers follow the `cron` crate (1 = Sunday), so
//! names are the portable choice.

use std::str::FromStr;

use crate::RegistryError;

/// The longest expression accepted (a guard on stored and API input).
const MAX_EXPRESSION: usize = 256;

/// A parsed schedule.
#[derive(Clone, Debug)]
pub struct Schedule {
    expression: String,
    parsed: cron::Schedule,
}

impl Schedule {
    /// Parses `expression`; an empty, overlong or invalid one is `invalid_parameter`.
    pub fn parse(expression: &str) -> Result<Schedule, RegistryError> {
        let expression = expression.trim();
        if expression.is_empty() || expression.len() > MAX_EXPRESSION {
            return Err(RegistryError::InvalidInput(format!(
                "a schedule must be a cron expression of 1 to {MAX_EXPRESSION} characters"
            )));
        }
        let fields = expression.split_whitespace().count();
        // crontab's five fields have no seconds; the cron crate wants them first.
        let full = if !expression.starts_with('@') && fields == 5 {
            format!("0 {expression}")
        } else {
            expression.to_owned()
        };
        let parsed = cron::Schedule::from_str(&full).map_err(|e| {
            RegistryError::InvalidInput(format!(
                "schedule {expression:?} is not a cron expression: {e}"
            ))
        })?;
        Ok(Schedule {
            expression: expression.to_owned(),
            parsed,
        })
    }

    /// The expression as given (trimmed).
    pub fn expression(&self) -> &str {
        &self.expression
    }

    /// The first run strictly after `after_ms` (ms since the epoch, UTC), or `None` when the
    /// schedule has no later run (a past year) or the time is out of range.
    pub fn next_after(&self, after_ms: i64) -> Option<i64> {
        let after = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(after_ms)?;
        self.parsed
            .after(&after)
            .next()
            .map(|next| next.timestamp_millis())
    }
}

/// The next run of `expression` after `now_ms`, for storing with a registry: `Ok(0)` for no
/// schedule (`""`), an error for an invalid expression or one that never runs again.
pub fn next_run_ms(expression: &str, now_ms: i64) -> Result<i64, RegistryError> {
    if expression.trim().is_empty() {
        return Ok(0);
    }
    Schedule::parse(expression)?
        .next_after(now_ms)
        .ok_or_else(|| {
            RegistryError::InvalidInput(format!("schedule {expression:?} never runs again"))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2026-01-01T00:00:00Z, a Thursday.
    const NEW_YEAR: i64 = 1_767_225_600_000;

    #[test]
    fn every_second_runs_on_the_next_whole_second() {
        let s = Schedule::parse("* * * * * *").unwrap();
        assert_eq!(s.next_after(NEW_YEAR + 250), Some(NEW_YEAR + 1000));
        assert_eq!(s.next_after(NEW_YEAR + 1000), Some(NEW_YEAR + 2000));
    }

    #[test]
    fn five_fields_are_crontab_minutes() {
        let s = Schedule::parse("*/15 * * * *").unwrap();
        assert_eq!(s.next_after(NEW_YEAR), Some(NEW_YEAR + 15 * 60_000));
        let daily = Schedule::parse("30 2 * * *").unwrap();
        assert_eq!(
            daily.next_after(NEW_YEAR),
            Some(NEW_YEAR + (2 * 3600 + 30 * 60) * 1000)
        );
        let monday = Schedule::parse("0 9 * * MON").unwrap();
        // Thursday 1 January -> Monday 5 January, 09:00.
        assert_eq!(
            monday.next_after(NEW_YEAR),
            Some(NEW_YEAR + (4 * 86_400 + 9 * 3600) * 1000)
        );
    }

    #[test]
    fn shorthands_and_seconds_fields() {
        assert_eq!(
            Schedule::parse("@hourly").unwrap().next_after(NEW_YEAR),
            Some(NEW_YEAR + 3_600_000)
        );
        assert_eq!(
            Schedule::parse("10 0 0 * * *")
                .unwrap()
                .next_after(NEW_YEAR),
            Some(NEW_YEAR + 10_000)
        );
    }

    #[test]
    fn bad_expressions_are_invalid_parameter() {
        let long = "* ".repeat(200);
        for bad in [
            "",
            "   ",
            "* * *",
            "61 * * * *",
            "every day",
            "@often",
            long.as_str(),
        ] {
            let e = Schedule::parse(bad).unwrap_err();
            assert_eq!(e.code(), "invalid_parameter", "{bad:?}");
        }
        assert_eq!(next_run_ms("", NEW_YEAR).unwrap(), 0);
        // Only in 2020: never again.
        assert_eq!(
            next_run_ms("0 0 0 1 1 * 2020", NEW_YEAR)
                .unwrap_err()
                .code(),
            "invalid_parameter"
        );
    }
}
