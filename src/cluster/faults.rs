//! Fault injection: fail the next N matching requests, slow matching requests, cut watches.

use std::sync::Arc;
use std::time::Duration;

use super::error::ApiError;
use super::server::{Server, Target};

/// What a rule does to a matching request.
#[derive(Debug, Clone)]
enum Effect {
    /// Answer with this HTTP code, for this many more requests.
    Fail { code: u16, remaining: u32 },
    /// Delay the request.
    Delay(Duration),
}

/// One fault rule: a verb and resource to match, and its effect.
#[derive(Debug, Clone)]
pub struct FaultRule {
    verb: String,
    resource: String,
    effect: Effect,
}

impl FaultRule {
    fn matches(&self, verb: &str, t: &Target) -> bool {
        let verb_ok = self.verb == "*" || self.verb == verb;
        let res = match &t.sub {
            Some(s) => format!("{}/{s}", t.rt.plural),
            None => t.rt.plural.clone(),
        };
        let res_ok = self.resource == "*" || self.resource == res || self.resource == t.rt.plural;
        verb_ok && res_ok
    }
}

/// Applies the rules to one request: sleeps for delays, returns the error of a failing rule.
pub async fn check(server: &Arc<Server>, verb: &str, t: &Target) -> Option<ApiError> {
    let mut delay = Duration::ZERO;
    let mut failure = None;
    {
        let mut rules = server.faults.lock().unwrap_or_else(|p| p.into_inner());
        for rule in rules.iter_mut() {
            if !rule.matches(verb, t) {
                continue;
            }
            match &mut rule.effect {
                Effect::Delay(d) => delay += *d,
                Effect::Fail { code, remaining } if failure.is_none() && *remaining > 0 => {
                    *remaining -= 1;
                    failure = Some(*code);
                }
                Effect::Fail { .. } => {}
            }
        }
        rules.retain(|r| !matches!(r.effect, Effect::Fail { remaining: 0, .. }));
    }
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    failure.map(|code| {
        ApiError::with_code(
            code,
            format!("injected fault: {verb} {} answered {code}", t.rt.plural),
        )
    })
}

/// The fault-injection handle of an embedded cluster. Verbs are RBAC verbs (`get`, `list`,
/// `watch`, `create`, `update`, `patch`, `delete`, `deletecollection`) or `*`; resources are
/// plurals (`pods`), `plural/subresource` (`deployments/status`) or `*`.
#[derive(Debug, Clone)]
pub struct Faults {
    pub(crate) server: Arc<Server>,
}

impl Faults {
    /// Fails the next `count` requests matching `verb` and `resource` with HTTP `code`.
    pub fn fail_next(&self, verb: &str, resource: &str, count: u32, code: u16) {
        let rule = FaultRule {
            verb: verb.into(),
            resource: resource.into(),
            effect: Effect::Fail {
                code,
                remaining: count,
            },
        };
        self.server
            .faults
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(rule);
    }

    /// Delays every request matching `verb` and `resource` by `latency` (until `clear`).
    pub fn add_latency(&self, verb: &str, resource: &str, latency: Duration) {
        let rule = FaultRule {
            verb: verb.into(),
            resource: resource.into(),
            effect: Effect::Delay(latency),
        };
        self.server
            .faults
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(rule);
    }

    /// Ends every open watch stream now (clients see the stream close and re-watch).
    pub fn cut_watches(&self) {
        self.server.cut_watches();
    }

    /// Removes every fault rule.
    pub fn clear(&self) {
        self.server
            .faults
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}
