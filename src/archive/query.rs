//! What `remedy history` asks of the archive: filters by target, workflow, outcome,
//! namespace and time, and the row it gets back for each run.

use jiff::Timestamp;
use serde::Serialize;

use super::record::Target;

/// The outcomes a run can end with, as the archive stores them.
pub const OUTCOMES: &[&str] = &["Success", "Ineffective", "Failed", "RolledBack", "DryRun"];

/// The most rows one query returns.
pub const MAX_LIMIT: u32 = 10_000;

/// Which archived runs to list, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    /// Runs on this target.
    pub target: Option<Target>,
    /// Runs of this workflow (template name).
    pub workflow: Option<String>,
    /// Runs that ended with this outcome (one of [`OUTCOMES`]).
    pub outcome: Option<String>,
    /// Runs in this namespace.
    pub namespace: Option<String>,
    /// Runs that finished at or after this time.
    pub since: Option<Timestamp>,
    /// At most this many rows (at most [`MAX_LIMIT`]).
    pub limit: u32,
}

/// One archived run in a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunRow {
    /// The run's uid.
    pub uid: String,
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// The workflow's name.
    pub workflow: Option<String>,
    /// The workflow's version.
    pub version: Option<String>,
    /// The template's digest.
    pub digest: Option<String>,
    /// The target as `KIND/NAMESPACE/NAME`.
    pub target: Option<String>,
    /// The final phase.
    pub phase: Option<String>,
    /// The outcome.
    pub outcome: Option<String>,
    /// The failure reason, when it failed.
    pub failure_reason: Option<String>,
    /// When it started executing (milliseconds since the epoch).
    pub started_ms: Option<i64>,
    /// When it ended (milliseconds since the epoch).
    pub finished_ms: i64,
}

/// The canonical spelling of an outcome given in any case, or an error naming the choices.
pub fn outcome(text: &str) -> Result<String, String> {
    OUTCOMES
        .iter()
        .find(|o| o.eq_ignore_ascii_case(text))
        .map(|o| o.to_string())
        .ok_or_else(|| {
            format!(
                "--outcome {text:?}: not an outcome (one of {})",
                OUTCOMES.join(", ")
            )
        })
}

/// A run the archive is asked for: by uid, `namespace/name` or name (the newest of that name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunKey {
    /// The run's uid.
    Uid(String),
    /// `namespace/name`.
    Named {
        /// The namespace, when given.
        namespace: Option<String>,
        /// The name.
        name: String,
    },
}

impl RunKey {
    /// Reads `RUN`: a uid (36 characters with dashes), `namespace/name` or `name`.
    pub fn parse(text: &str) -> Result<RunKey, String> {
        let bad = |why: &str| format!("run {text:?}: {why} (give NAME, NAMESPACE/NAME or a uid)");
        if text.is_empty() || text.len() > 320 {
            return Err(bad("empty or too long"));
        }
        let allowed = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
        };
        if let Some((ns, name)) = text.split_once('/') {
            if !allowed(ns) || !allowed(name) {
                return Err(bad("not a Kubernetes name"));
            }
            return Ok(RunKey::Named {
                namespace: Some(ns.to_string()),
                name: name.to_string(),
            });
        }
        if !allowed(text) {
            return Err(bad("not a Kubernetes name"));
        }
        if uuid::Uuid::parse_str(text).is_ok() {
            return Ok(RunKey::Uid(text.to_lowercase()));
        }
        Ok(RunKey::Named {
            namespace: None,
            name: text.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_are_read_in_any_case_and_others_refused() {
        assert_eq!(outcome("rolledback").as_deref(), Ok("RolledBack"));
        assert_eq!(outcome("SUCCESS").as_deref(), Ok("Success"));
        let e = outcome("won").unwrap_err();
        assert!(e.contains("one of Success, Ineffective"), "{e}");
    }

    #[test]
    fn every_outcome_listed_is_one_the_api_knows() {
        for o in OUTCOMES {
            let parsed: Result<crate::api::Outcome, _> =
                serde_json::from_value(serde_json::Value::String(o.to_string()));
            assert!(parsed.is_ok(), "{o} is not an api::Outcome");
        }
    }

    #[test]
    fn run_keys() {
        assert_eq!(
            RunKey::parse("shop/oom-1"),
            Ok(RunKey::Named {
                namespace: Some("shop".into()),
                name: "oom-1".into()
            })
        );
        assert_eq!(
            RunKey::parse("oom-1"),
            Ok(RunKey::Named {
                namespace: None,
                name: "oom-1".into()
            })
        );
        assert_eq!(
            RunKey::parse("0F2D5B8E-6B0A-4C1E-9F3A-2B1C0D9E8F7A"),
            Ok(RunKey::Uid("0f2d5b8e-6b0a-4c1e-9f3a-2b1c0d9e8f7a".into()))
        );
        for bad in ["", "a/b/c", "x'; drop table runs; --", "/x", "x/"] {
            assert!(RunKey::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn targets() {
        let t = Target::parse("Deployment/shop/web").unwrap();
        assert_eq!(t.display(), "Deployment/shop/web");
        assert_eq!(t.key(), "deployment/shop/web");
        let n = Target::parse("Node/worker-1").unwrap();
        assert_eq!(
            (n.namespace.as_str(), n.key()),
            ("", "node//worker-1".into())
        );
        for bad in [
            "Deployment",
            "a/b/c/d",
            "Deployment//web",
            "/shop/web",
            "De ploy/x/y",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad:?}");
        }
    }
}
