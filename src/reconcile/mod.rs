//! What both controllers share about reconciling: the retry, requeue and resync policies with
//! the client's `Retry-After` layer (`backoff`), and the Prometheus series they count into
//! (`metrics`). Below the workflow controller (`operator`) and the executor alike, so neither
//! imports the other for them.

pub mod backoff;
pub mod metrics;
