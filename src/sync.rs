//! The one way Remedy takes a std lock: a poisoned lock is recovered, not propagated.
//!
//! A lock is poisoned when a thread panicked while holding it. Recovering is right here
//! because every critical section in Remedy leaves the data consistent at each point where it
//! could panic: they are short, insert or remove whole entries (caches, counters, sets of
//! names, the embedded cluster's state), and never hold a half-made change across a call
//! that can fail. Propagating the poison would instead turn one panicked task into a
//! panic, or a silently skipped update, in every later one.

use std::sync::{Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Locks `m`, recovering it if a holder panicked.
pub fn lock<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Read-locks `l`, recovering it if a writer panicked.
pub fn read<T: ?Sized>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(PoisonError::into_inner)
}

/// Write-locks `l`, recovering it if a holder panicked.
pub fn write<T: ?Sized>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex, RwLock};

    use super::*;

    #[test]
    fn a_poisoned_lock_is_recovered_with_its_data() {
        let m = Arc::new(Mutex::new(vec![1]));
        let held = Arc::clone(&m);
        let _ = std::thread::spawn(move || {
            let mut v = held.lock().unwrap_or_else(PoisonError::into_inner);
            v.push(2);
            panic!("a holder panics");
        })
        .join();
        assert!(m.is_poisoned());
        assert_eq!(*lock(&m), vec![1, 2]);

        let l = Arc::new(RwLock::new(1));
        let held = Arc::clone(&l);
        let _ = std::thread::spawn(move || {
            let _w = held.write().unwrap_or_else(PoisonError::into_inner);
            panic!("a writer panics");
        })
        .join();
        assert!(l.is_poisoned());
        *write(&l) += 1;
        assert_eq!(*read(&l), 2);
    }
}
