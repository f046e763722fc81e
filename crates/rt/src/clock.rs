//! Time as the tasks see it in real time, and the stop flag.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
#[cfg(not(target_os = "linux"))]
use std::time::{Duration, Instant};

/// A source of time for the real-time loop, injected so that tests and
/// other hosts can drive it. Seconds from the start of the run.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now_secs(&self) -> f64;
    /// Returns at `t_secs` or later. `precise` asks for the least lateness
    /// the clock can give (it may spin for the last fraction of a
    /// millisecond); otherwise a plain sleep is enough.
    fn sleep_until(&self, t_secs: f64, precise: bool);
}

/// The wall clock (monotonic), zero at construction. Precise waits sleep
/// until `spin_secs` before the instant, then spin.
///
/// On Linux the sleep is `clock_nanosleep` to an absolute time: a thread
/// preempted between reading the clock and going to sleep still wakes at
/// the instant (a relative sleep would add the preemption to it).
#[derive(Debug, Clone, Copy)]
pub struct WallClock {
    #[cfg(not(target_os = "linux"))]
    start: Instant,
    /// CLOCK_MONOTONIC at `start`, ns.
    #[cfg(target_os = "linux")]
    start_ns: i128,
    pub spin_secs: f64,
}

impl WallClock {
    pub fn new() -> Self {
        Self {
            #[cfg(not(target_os = "linux"))]
            start: Instant::now(),
            #[cfg(target_os = "linux")]
            start_ns: monotonic_ns(),
            spin_secs: 300e-6,
        }
    }

    /// Sleeps until `t_secs` on this clock (or returns at once if past).
    fn sleep_to(&self, t_secs: f64) {
        #[cfg(target_os = "linux")]
        {
            let at = self.start_ns + (t_secs * 1e9) as i128;
            let ts = libc::timespec {
                tv_sec: (at / 1_000_000_000) as libc::time_t,
                tv_nsec: (at % 1_000_000_000) as libc::c_long,
            };
            // Interrupted by a signal: sleep again to the same time.
            // SAFETY: `ts` is a valid timespec that outlives the call; the
            // remainder pointer may be null with TIMER_ABSTIME.
            while unsafe {
                libc::clock_nanosleep(
                    libc::CLOCK_MONOTONIC,
                    libc::TIMER_ABSTIME,
                    &ts,
                    std::ptr::null_mut(),
                )
            } == libc::EINTR
            {}
        }
        #[cfg(not(target_os = "linux"))]
        {
            let ahead = t_secs - self.now_secs();
            if ahead > 0.0 {
                std::thread::sleep(Duration::from_secs_f64(ahead));
            }
        }
    }
}

/// CLOCK_MONOTONIC, ns (the clock `Instant` reads on Linux).
#[cfg(target_os = "linux")]
fn monotonic_ns() -> i128 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC exists
    // on every Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    i128::from(ts.tv_sec) * 1_000_000_000 + i128::from(ts.tv_nsec)
}

impl Default for WallClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for WallClock {
    fn now_secs(&self) -> f64 {
        #[cfg(target_os = "linux")]
        {
            (monotonic_ns() - self.start_ns) as f64 * 1e-9
        }
        #[cfg(not(target_os = "linux"))]
        {
            self.start.elapsed().as_secs_f64()
        }
    }

    fn sleep_until(&self, t_secs: f64, precise: bool) {
        let margin = if precise { self.spin_secs } else { 0.0 };
        if t_secs - margin > self.now_secs() {
            self.sleep_to(t_secs - margin);
        }
        if precise {
            while self.now_secs() < t_secs {
                std::hint::spin_loop();
            }
        }
    }
}

/// Asks a running loop to stop (Ctrl-C). Cheap to clone; every task checks
/// it once per iteration.
#[derive(Debug, Clone, Default)]
pub struct StopFlag(Arc<AtomicBool>);

impl StopFlag {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn stop(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_stopped(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}
