//! The language's defaults (the spec's item table): what a template that does not write an
//! item gets. Defined once here, the lowest module both the checker and the planner read, so
//! lint judges a template by the values the run will have.

/// Workflow deadline when the template sets no `timeout`: 30 minutes.
pub const DEFAULT_WORKFLOW_TIMEOUT_MS: u64 = 30 * 60 * 1000;
/// Step attempt deadline when a step sets no `timeout`: 5 minutes.
pub const DEFAULT_STEP_TIMEOUT_MS: u64 = 5 * 60 * 1000;
/// Executions in flight when the template sets no `max_parallel`.
pub const DEFAULT_MAX_PARALLEL: u32 = 5;
/// Delay before a retry when `retry N` sets no `backoff`: 10 seconds.
pub const DEFAULT_RETRY_BACKOFF_MS: u64 = 10 * 1000;
/// Cap of the doubling retry delay when `retry` sets no `max`: 5 minutes.
pub const DEFAULT_RETRY_MAX_BACKOFF_MS: u64 = 5 * 60 * 1000;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::duration::parse_millis;

    /// The spec writes its defaults as duration literals; these are the same values.
    #[test]
    fn defaults_are_the_specs_literals() {
        assert_eq!(parse_millis("30m").ok(), Some(DEFAULT_WORKFLOW_TIMEOUT_MS));
        assert_eq!(parse_millis("5m").ok(), Some(DEFAULT_STEP_TIMEOUT_MS));
        assert_eq!(parse_millis("10s").ok(), Some(DEFAULT_RETRY_BACKOFF_MS));
        assert_eq!(parse_millis("5m").ok(), Some(DEFAULT_RETRY_MAX_BACKOFF_MS));
    }
}
