//! The latest estimate, passed from the estimator (the one writer) to the
//! controller (the one reader) through a triple buffer.
//!
//! Neither side ever waits for the other: a mutex here let the controller
//! block behind an estimator that was preempted while holding it (a
//! priority inversion in real time). Each side owns one buffer; the third,
//! "middle" one is exchanged atomically: the writer fills its own buffer in
//! place and swaps it into the middle, marked fresh; the reader swaps a
//! fresh middle for its own buffer and reads that. The buffers are
//! allocated once; a publish or a read copies nothing beyond what the
//! writer writes.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Set in `middle` when the buffer there holds a value the reader has not
/// taken yet.
const FRESH: usize = 4;
const INDEX: usize = 3;

struct Shared<T> {
    bufs: [UnsafeCell<T>; 3],
    /// The index of the buffer neither side owns, and [`FRESH`].
    middle: AtomicUsize,
}

// SAFETY: the three buffers are always owned one each by the writer, the
// reader and `middle` (the indices form a permutation of 0..3, changed
// only by atomic swaps of `middle`), and each side touches only the buffer
// it owns. The swaps are AcqRel, so what the writer wrote before handing a
// buffer over happens-before the reader's access after taking it.
unsafe impl<T: Send> Sync for Shared<T> {}

/// The estimator's end.
pub(crate) struct SlotWriter<T> {
    shared: Arc<Shared<T>>,
    own: usize,
}

/// The controller's end.
pub(crate) struct SlotReader<T> {
    shared: Arc<Shared<T>>,
    own: usize,
    /// A value has been taken at least once.
    valid: bool,
}

/// An empty slot whose three buffers start as copies of `init`.
pub(crate) fn slot<T: Clone + Send>(init: T) -> (SlotWriter<T>, SlotReader<T>) {
    let shared = Arc::new(Shared {
        bufs: [
            UnsafeCell::new(init.clone()),
            UnsafeCell::new(init.clone()),
            UnsafeCell::new(init),
        ],
        middle: AtomicUsize::new(1),
    });
    let writer = SlotWriter {
        shared: Arc::clone(&shared),
        own: 0,
    };
    let reader = SlotReader {
        shared,
        own: 2,
        valid: false,
    };
    (writer, reader)
}

impl<T> SlotWriter<T> {
    /// Lets `fill` write the writer's own buffer in place (it holds
    /// whatever was there before) and, when it returns true, makes that the
    /// latest value. Returns what `fill` returned.
    pub(crate) fn publish_with(&mut self, fill: impl FnOnce(&mut T) -> bool) -> bool {
        let s = &*self.shared;
        // SAFETY: buffer `own` belongs to the writer alone until the swap
        // below hands it over (see `Shared`); `&mut self` makes this the
        // only access on the writer's side.
        let buf = unsafe { &mut *s.bufs[self.own].get() };
        if !fill(buf) {
            return false;
        }
        self.own = s.middle.swap(self.own | FRESH, Ordering::AcqRel) & INDEX;
        true
    }
}

impl<T> SlotReader<T> {
    /// The latest value; `None` while none has been published.
    pub(crate) fn read(&mut self) -> Option<&T> {
        let s = &*self.shared;
        if s.middle.load(Ordering::Relaxed) & FRESH != 0 {
            self.own = s.middle.swap(self.own, Ordering::AcqRel) & INDEX;
            self.valid = true;
        }
        if !self.valid {
            return None;
        }
        // SAFETY: buffer `own` belongs to the reader alone (see `Shared`);
        // the borrow of `self` keeps it from being swapped away meanwhile.
        Some(unsafe { &*s.bufs[self.own].get() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_until_published_then_the_latest() {
        let (mut w, mut r) = slot([0.0; 2]);
        assert!(r.read().is_none());
        assert!(
            !w.publish_with(|_| false),
            "a refused value is not published"
        );
        assert!(r.read().is_none());
        w.publish_with(|v| {
            *v = [1.0, 2.0];
            true
        });
        w.publish_with(|v| {
            *v = [3.0, 4.0];
            true
        });
        assert_eq!(r.read(), Some(&[3.0, 4.0]));
        // Nothing new: the same value again.
        assert_eq!(r.read(), Some(&[3.0, 4.0]));
        w.publish_with(|v| {
            *v = [5.0, 6.0];
            true
        });
        assert_eq!(r.read(), Some(&[5.0, 6.0]));
    }

    #[test]
    fn a_reader_never_sees_a_torn_value() {
        // Every published value is [n, n, ...]; a mix would be torn.
        const N: usize = 512;
        let (mut w, mut r) = slot([0u64; N]);
        let n = 100_000u64;
        std::thread::scope(|scope| {
            scope.spawn(move || {
                for i in 1..=n {
                    w.publish_with(|v| {
                        v.fill(i);
                        true
                    });
                }
            });
            let mut last = 0;
            while last < n {
                if let Some(v) = r.read() {
                    assert!(v.iter().all(|x| *x == v[0]), "torn: {v:?}");
                    assert!(v[0] >= last, "went back from {last} to {}", v[0]);
                    last = v[0];
                }
            }
        });
    }
}
