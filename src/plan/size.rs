//! The size limit of a plan: it is pinned, as JSON, in the run's status, and a Kubernetes
//! object holds at most about 1.5 MiB.

use std::io::Write;

use super::{ExecutionPlan, PlanError};

/// The largest plan, in bytes of its JSON, that planning pins.
pub const MAX_PLAN_BYTES: usize = 512 * 1024;

/// Counts bytes, and stops the writer once past the limit.
struct Counter {
    bytes: usize,
    limit: usize,
}

impl Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.bytes = self.bytes.saturating_add(buf.len());
        if self.bytes > self.limit {
            return Err(std::io::Error::other("over the limit"));
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Refuse a plan whose JSON is larger than `limit` (measured without building the text).
pub(crate) fn check(plan: &ExecutionPlan, limit: usize) -> Result<(), PlanError> {
    let mut counter = Counter { bytes: 0, limit };
    if serde_json::to_writer(&mut counter, plan).is_err() && counter.bytes > limit {
        return Err(PlanError::TooLarge { limit });
    }
    Ok(())
}
