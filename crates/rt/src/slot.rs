//! The latest estimate, passed from the estimator (the one writer) to the
//! controller (the one reader) through a triple buffer of atomics.
//!
//! Neither side ever waits for the other: a mutex here let the controller
//! block behind an estimator that was preempted while holding it (a
//! priority inversion in real time). Each side owns one buffer; the third,
//! "middle" one is exchanged atomically: the writer fills its own buffer and
//! swaps it into the middle, marked fresh; the reader swaps a fresh middle
//! for its own buffer and reads that. Values are stored as atomics, so no
//! `unsafe` is needed; the exchange's acquire/release orders them.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use crate::msg::MAX_VALUES;

/// Set in `middle` when the buffer there holds an estimate the reader has
/// not taken yet.
const FRESH: usize = 4;
const INDEX: usize = 3;

struct Shared {
    /// Per buffer: the state, then the standard deviations.
    bufs: [[AtomicU64; 2 * MAX_VALUES]; 3],
    middle: AtomicUsize,
    nx: usize,
}

/// The estimator's end.
pub(crate) struct SlotWriter {
    shared: Arc<Shared>,
    own: usize,
}

/// The controller's end.
pub(crate) struct SlotReader {
    shared: Arc<Shared>,
    own: usize,
    /// An estimate has been taken at least once.
    valid: bool,
}

/// A slot for estimates of `nx` (at most [`MAX_VALUES`]) components, empty.
pub(crate) fn slot(nx: usize) -> (SlotWriter, SlotReader) {
    let shared = Arc::new(Shared {
        bufs: std::array::from_fn(|_| std::array::from_fn(|_| AtomicU64::new(0))),
        middle: AtomicUsize::new(1),
        nx: nx.min(MAX_VALUES),
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

impl SlotWriter {
    /// Makes (`state`, `std`) the latest estimate.
    pub(crate) fn publish(&mut self, state: &[f64], std: &[f64]) {
        let s = &*self.shared;
        let buf = &s.bufs[self.own];
        for (i, v) in state.iter().take(s.nx).enumerate() {
            buf[i].store(v.to_bits(), Ordering::Relaxed);
        }
        for (i, v) in std.iter().take(s.nx).enumerate() {
            buf[MAX_VALUES + i].store(v.to_bits(), Ordering::Relaxed);
        }
        self.own = s.middle.swap(self.own | FRESH, Ordering::AcqRel) & INDEX;
    }
}

impl SlotReader {
    /// Copies the latest estimate into `state` and `std`; false (and
    /// nothing copied) while none has been published.
    pub(crate) fn read(&mut self, state: &mut [f64], std: &mut [f64]) -> bool {
        let s = &*self.shared;
        if s.middle.load(Ordering::Relaxed) & FRESH != 0 {
            self.own = s.middle.swap(self.own, Ordering::AcqRel) & INDEX;
            self.valid = true;
        }
        if !self.valid {
            return false;
        }
        let buf = &s.bufs[self.own];
        for (i, v) in state.iter_mut().take(s.nx).enumerate() {
            *v = f64::from_bits(buf[i].load(Ordering::Relaxed));
        }
        for (i, v) in std.iter_mut().take(s.nx).enumerate() {
            *v = f64::from_bits(buf[MAX_VALUES + i].load(Ordering::Relaxed));
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_until_published_then_the_latest() {
        let (mut w, mut r) = slot(2);
        let (mut x, mut s) = ([9.0; 2], [9.0; 2]);
        assert!(!r.read(&mut x, &mut s));
        assert_eq!(x, [9.0; 2]);
        w.publish(&[1.0, 2.0], &[0.1, 0.2]);
        w.publish(&[3.0, 4.0], &[0.3, 0.4]);
        assert!(r.read(&mut x, &mut s));
        assert_eq!((x, s), ([3.0, 4.0], [0.3, 0.4]));
        // Nothing new: the same estimate again.
        assert!(r.read(&mut x, &mut s));
        assert_eq!(x, [3.0, 4.0]);
        w.publish(&[5.0, 6.0], &[0.5, 0.6]);
        assert!(r.read(&mut x, &mut s));
        assert_eq!((x, s), ([5.0, 6.0], [0.5, 0.6]));
    }

    #[test]
    fn a_reader_never_sees_a_torn_estimate() {
        // Every published estimate is [n, n, ...]; a mix would be torn.
        let (mut w, mut r) = slot(MAX_VALUES);
        let n = 100_000u32;
        std::thread::scope(|scope| {
            scope.spawn(move || {
                for i in 1..=n {
                    let v = [f64::from(i); MAX_VALUES];
                    w.publish(&v, &v);
                }
            });
            let (mut x, mut s) = ([0.0; MAX_VALUES], [0.0; MAX_VALUES]);
            let mut last = 0.0;
            while last < f64::from(n) {
                if r.read(&mut x, &mut s) {
                    assert!(x.iter().chain(&s).all(|v| *v == x[0]), "torn: {x:?} {s:?}");
                    assert!(x[0] >= last, "went back from {last} to {}", x[0]);
                    last = x[0];
                }
            }
        });
    }
}
