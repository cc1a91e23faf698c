//! Standard `metav1.Condition`s on a run's status: set, clear and read them, each stamped with
//! the generation it reflects.

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

/// Sets condition `type_` (status `True`/`False`), keeping its transition time when the
/// status does not change.
pub fn set(
    conditions: &mut Vec<Condition>,
    type_: &str,
    status: bool,
    reason: &str,
    message: &str,
    generation: Option<i64>,
    now: Timestamp,
) {
    let status = if status { "True" } else { "False" }.to_string();
    if let Some(existing) = conditions.iter_mut().find(|c| c.type_ == type_) {
        if existing.status != status {
            existing.last_transition_time = Time(now);
        }
        existing.status = status;
        existing.reason = reason.to_string();
        existing.message = message.to_string();
        existing.observed_generation = generation;
        return;
    }
    conditions.push(Condition {
        type_: type_.to_string(),
        status,
        reason: reason.to_string(),
        message: message.to_string(),
        observed_generation: generation,
        last_transition_time: Time(now),
    });
}

/// Removes condition `type_`, if present.
pub fn remove(conditions: &mut Vec<Condition>, type_: &str) {
    conditions.retain(|c| c.type_ != type_);
}

/// The condition `type_`, if present.
pub fn get<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_time_moves_only_when_the_status_changes() {
        let t1 = Timestamp::from_second(100).unwrap();
        let t2 = Timestamp::from_second(200).unwrap();
        let mut cs = Vec::new();
        set(&mut cs, "TargetBusy", true, "Waiting", "a", Some(1), t1);
        set(&mut cs, "TargetBusy", true, "Waiting", "b", Some(2), t2);
        let c = get(&cs, "TargetBusy").unwrap();
        assert_eq!(
            (
                c.last_transition_time.0,
                c.message.as_str(),
                c.observed_generation
            ),
            (t1, "b", Some(2))
        );
        set(&mut cs, "TargetBusy", false, "Free", "", Some(2), t2);
        assert_eq!(get(&cs, "TargetBusy").unwrap().last_transition_time.0, t2);
        remove(&mut cs, "TargetBusy");
        assert!(cs.is_empty());
    }
}
