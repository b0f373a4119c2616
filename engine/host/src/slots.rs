//! [`Slots`]: a counting semaphore in front of the pooling allocator, so a
//! call beyond its capacity waits for a running one to finish instead of
//! failing with "pool exhausted". Calls are synchronous, so waiting blocks
//! the caller's thread; the CPU deadline starts once a slot is held.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

/// How many calls may hold an instance at once.
pub(crate) struct Slots {
    free: Mutex<u32>,
    freed: Condvar,
}

/// One held slot; dropping it frees the slot and wakes one waiter.
pub(crate) struct Slot<'a>(&'a Slots);

impl Slots {
    /// `count` slots, all free.
    pub(crate) fn new(count: u32) -> Self {
        Self { free: Mutex::new(count), freed: Condvar::new() }
    }

    /// Takes a slot, waiting for one to be freed if none is.
    pub(crate) fn acquire(&self) -> Slot<'_> {
        let mut free = self.lock();
        while *free == 0 {
            free = self.freed.wait(free).unwrap_or_else(PoisonError::into_inner);
        }
        *free -= 1;
        Slot(self)
    }

    // The counter is updated in single statements that cannot panic, so a
    // poisoned lock still holds a correct count.
    fn lock(&self) -> MutexGuard<'_, u32> {
        self.free.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        *self.0.lock() += 1;
        self.0.freed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::Slots;

    #[test]
    fn holders_never_exceed_the_count_and_every_waiter_gets_through() {
        let slots = Slots::new(2);
        let (holding, most, done) = (AtomicU32::new(0), AtomicU32::new(0), AtomicU32::new(0));
        std::thread::scope(|scope| {
            for _ in 0..8 {
                scope.spawn(|| {
                    for _ in 0..100 {
                        let _slot = slots.acquire();
                        most.fetch_max(holding.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
                        std::thread::yield_now();
                        holding.fetch_sub(1, Ordering::SeqCst);
                        done.fetch_add(1, Ordering::SeqCst);
                    }
                });
            }
        });
        assert!(most.load(Ordering::SeqCst) <= 2, "at most two holders at once");
        assert_eq!(done.load(Ordering::SeqCst), 800);
        assert_eq!(*slots.lock(), 2, "every slot is free again");
    }

    #[test]
    fn a_waiter_takes_the_slot_another_call_frees() {
        let slots = Slots::new(2);
        let (first, _second) = (slots.acquire(), slots.acquire());
        assert_eq!(*slots.lock(), 0);
        std::thread::scope(|scope| {
            let waiter = scope.spawn(|| drop(slots.acquire()));
            drop(first);
            waiter.join().unwrap();
        });
        assert_eq!(*slots.lock(), 1);
    }
}
