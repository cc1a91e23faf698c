//! mimalloc's purge delay: set to 0 unless the user set it.
#![allow(clippy::unwrap_used)]

use remedy_alloc::{PURGE_DELAY_ENV, purge_delay, purge_promptly};

#[test]
fn freed_memory_is_purged_at_once_unless_the_user_says_otherwise() {
    match std::env::var(PURGE_DELAY_ENV) {
        Err(_) => {
            // Index 15 is the purge delay: mimalloc's default is 1000 ms.
            assert_eq!(purge_delay(), 1000);
            assert_eq!(purge_promptly(), 0);
            assert_eq!(purge_delay(), 0);
        }
        Ok(value) => assert_eq!(purge_promptly(), value.trim().parse::<i64>().unwrap()),
    }
}
