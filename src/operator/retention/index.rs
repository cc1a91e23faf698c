//! What retention holds of the finished runs: one small entry per run (never the object), by
//! uid, by target (for the per-target bound) and by the time the keeper looks at it next.
//!
//! An entry is a few hundred bytes (about 580 measured, on distinct targets; no target is
//! kept without a per-target bound): the uid is shared by the three views, a target by the
//! runs on it, and nothing of the run's spec, plan or status is kept.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use jiff::Timestamp;

use crate::operator::target_lock::TargetKey;

/// A run's uid, shared by the views of the index.
pub(super) type Uid = Arc<str>;

/// What retention knows of one finished run.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Finished {
    pub namespace: Box<str>,
    pub name: Box<str>,
    /// The target of its pinned plan, shared with the other runs on it.
    pub target: Option<Arc<TargetKey>>,
    /// When it ended (`status.completedAt`).
    pub ended: Option<Timestamp>,
    /// When the keeper looks at it next (clock time); `None`: only when it changes.
    pub wake: Option<Timestamp>,
}

/// The finished runs by uid, their uids by target, and by the time each is looked at next.
#[derive(Debug, Default)]
pub(super) struct FinishedIndex {
    runs: HashMap<Uid, Finished>,
    /// The uids on each target: a list, as the per-target bound keeps it short.
    by_target: HashMap<Arc<TargetKey>, Vec<Uid>>,
    by_wake: BTreeSet<(Timestamp, Uid)>,
}

impl FinishedIndex {
    pub fn get(&self, uid: &str) -> Option<&Finished> {
        self.runs.get(uid)
    }

    /// The target `key` as the index shares it (allocated once for all its runs).
    pub fn shared_target(&self, key: TargetKey) -> Arc<TargetKey> {
        match self.by_target.get_key_value(&key) {
            Some((shared, _)) => shared.clone(),
            None => Arc::new(key),
        }
    }

    /// Adds or replaces the entry of `uid`.
    pub fn insert(&mut self, uid: &str, entry: Finished) {
        let uid: Uid = match self.runs.get_key_value(uid) {
            Some((shared, _)) => shared.clone(),
            None => Arc::from(uid),
        };
        self.remove(&uid);
        if let Some(t) = &entry.target {
            self.by_target
                .entry(t.clone())
                .or_default()
                .push(uid.clone());
        }
        if let Some(at) = entry.wake {
            self.by_wake.insert((at, uid.clone()));
        }
        self.runs.insert(uid, entry);
    }

    pub fn remove(&mut self, uid: &str) {
        let Some((uid, old)) = self.runs.remove_entry(uid) else {
            return;
        };
        if let Some(at) = old.wake {
            self.by_wake.remove(&(at, uid.clone()));
        }
        if let Some(t) = old.target
            && let Some(set) = self.by_target.get_mut(&t)
        {
            set.retain(|u| *u != uid);
            if set.is_empty() {
                self.by_target.remove(&t);
            }
        }
    }

    /// Sets when `uid` is looked at next (an entry not here stays away).
    pub fn set_wake(&mut self, uid: &str, wake: Option<Timestamp>) {
        let Some((uid, entry)) = self.runs.get_key_value(uid) else {
            return;
        };
        let (uid, old) = (uid.clone(), entry.wake);
        if let Some(at) = old {
            self.by_wake.remove(&(at, uid.clone()));
        }
        if let Some(at) = wake {
            self.by_wake.insert((at, uid.clone()));
        }
        if let Some(entry) = self.runs.get_mut(&uid) {
            entry.wake = wake;
        }
    }

    /// Sets the wake of `uid` to the earlier of `wake` and the one it has (`None`: never).
    pub fn wake_by(&mut self, uid: &str, wake: Option<Timestamp>) {
        let Some(current) = self.runs.get(uid).map(|e| e.wake) else {
            return;
        };
        let earliest = match (current, wake) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.set_wake(uid, earliest);
    }

    /// The earliest wake time.
    pub fn next_wake(&self) -> Option<Timestamp> {
        self.by_wake.first().map(|(at, _)| *at)
    }

    /// Takes out the runs due at `now` (their wake is cleared): (uid, namespace, name).
    pub fn take_due(&mut self, now: Timestamp) -> Vec<(Uid, Box<str>, Box<str>)> {
        let mut due = Vec::new();
        while let Some((at, _)) = self.by_wake.first() {
            if *at > now {
                break;
            }
            let Some((_, uid)) = self.by_wake.pop_first() else {
                break;
            };
            if let Some(entry) = self.runs.get_mut(&uid) {
                entry.wake = None;
                due.push((uid, entry.namespace.clone(), entry.name.clone()));
            }
        }
        due
    }

    pub fn len(&self) -> usize {
        self.runs.len()
    }

    pub fn contains(&self, uid: &str) -> bool {
        self.runs.contains_key(uid)
    }

    /// The finished runs on `target`, as (uid, entry).
    pub fn on_target(&self, target: &TargetKey) -> Vec<(&Uid, &Finished)> {
        self.by_target
            .get(target)
            .map(|uids| {
                uids.iter()
                    .filter_map(|u| self.runs.get_key_value(u))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The targets with more than `keep` finished runs.
    pub fn crowded_targets(&self, keep: usize) -> Vec<Arc<TargetKey>> {
        self.by_target
            .iter()
            .filter(|(_, uids)| uids.len() > keep)
            .map(|(t, _)| t.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(name: &str) -> TargetKey {
        TargetKey {
            group: "apps".into(),
            kind: "Deployment".into(),
            namespace: "shop".into(),
            name: name.into(),
        }
    }

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    fn entry(index: &FinishedIndex, name: &str, on: &str, wake: Option<i64>) -> Finished {
        Finished {
            namespace: "shop".into(),
            name: name.into(),
            target: Some(index.shared_target(target(on))),
            ended: Some(at(0)),
            wake: wake.map(at),
        }
    }

    #[test]
    fn runs_are_found_by_uid_target_and_wake_and_leave_every_view() {
        let mut index = FinishedIndex::default();
        let a = entry(&index, "a", "web", Some(30));
        index.insert("ua", a);
        let b = entry(&index, "b", "web", Some(10));
        index.insert("ub", b);
        let c = entry(&index, "c", "db", None);
        index.insert("uc", c);
        // The runs on one target share its key.
        let shared = index.shared_target(target("web"));
        assert!(Arc::ptr_eq(
            &shared,
            index.get("ua").and_then(|e| e.target.as_ref()).unwrap()
        ));
        assert_eq!(index.on_target(&target("web")).len(), 2);
        assert_eq!(index.crowded_targets(1), vec![shared]);
        assert_eq!(index.next_wake(), Some(at(10)));

        // Due at 20: only b, whose wake is cleared.
        let due = index.take_due(at(20));
        assert_eq!(due.len(), 1);
        assert_eq!(&*due[0].0, "ub");
        assert_eq!(index.get("ub").and_then(|e| e.wake), None);
        assert_eq!(index.next_wake(), Some(at(30)));

        // A new wake replaces the old one; an unknown uid is not added.
        index.set_wake("ua", Some(at(5)));
        index.set_wake("zz", Some(at(1)));
        assert_eq!(index.next_wake(), Some(at(5)));
        assert!(!index.contains("zz"));

        // The earlier wake wins.
        index.wake_by("ua", Some(at(7)));
        assert_eq!(index.get("ua").and_then(|e| e.wake), Some(at(5)));
        index.wake_by("ub", Some(at(7)));
        assert_eq!(index.get("ub").and_then(|e| e.wake), Some(at(7)));
        index.wake_by("ub", None);
        assert_eq!(index.get("ub").and_then(|e| e.wake), Some(at(7)));
        index.set_wake("ub", None);

        // Replacing an entry moves it to its new target and wake.
        let moved = entry(&index, "a", "db", Some(50));
        index.insert("ua", moved);
        assert_eq!(index.on_target(&target("web")).len(), 1);
        assert_eq!(index.on_target(&target("db")).len(), 2);
        assert_eq!(index.next_wake(), Some(at(50)));

        for uid in ["ua", "ub", "uc"] {
            index.remove(uid);
        }
        assert_eq!(index.len(), 0);
        assert!(index.by_target.is_empty() && index.by_wake.is_empty());
        assert!(index.take_due(at(1000)).is_empty());
    }
}
