//! Thread scheduling: the real-time policy for the real-time tasks, and a
//! head start for the lockstep chain over the work that overlaps it.

use std::marker::PhantomData;

/// Asks the OS to run the calling thread under the real-time FIFO policy at
/// `priority` (1..=99), so that other processes cannot delay its wake-ups.
/// Returns false when that is not permitted (an unprivileged user, another
/// OS); the thread then keeps its ordinary policy.
pub fn raise_thread_priority(priority: i32) -> bool {
    #[cfg(target_os = "linux")]
    {
        let param = libc::sched_param {
            sched_priority: priority,
        };
        // SAFETY: `pthread_self` is always valid for the calling thread and
        // `param` outlives the call; the call only reads it.
        unsafe { libc::pthread_setschedparam(libc::pthread_self(), libc::SCHED_FIFO, &param) == 0 }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = priority;
        false
    }
}

/// Puts the calling thread back under the ordinary (time-sharing) policy.
pub(crate) fn lower_thread_priority() {
    #[cfg(target_os = "linux")]
    {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: as in `raise_thread_priority`.
        unsafe {
            libc::pthread_setschedparam(libc::pthread_self(), libc::SCHED_OTHER, &param);
        }
    }
}

/// Set with a scheduling policy: threads the thread creates start under
/// the default policy and nice value (Linux's `SCHED_RESET_ON_FORK`).
#[cfg(target_os = "linux")]
const SCHED_RESET_ON_FORK: libc::c_int = 0x4000_0000;

/// The calling thread favoured over the process's other threads (see
/// [`favour_thread`]); back to where it was on drop.
#[derive(Debug)]
pub(crate) struct Favoured {
    #[cfg(target_os = "linux")]
    tid: libc::id_t,
    #[cfg(target_os = "linux")]
    nice: libc::c_int,
    /// Not `Send`: it must be dropped on the thread it favours.
    _here: PhantomData<*const ()>,
}

/// Lowers the calling thread's nice value by `by` (5: three times the CPU
/// share of a default thread), while threads it creates start back at the
/// default. None, and nothing changed, when that is not permitted (it
/// takes CAP_SYS_NICE or a high enough RLIMIT_NICE) or `by` is 0.
pub(crate) fn favour_thread(by: i32) -> Option<Favoured> {
    #[cfg(target_os = "linux")]
    {
        if by <= 0 {
            return None;
        }
        // SAFETY: plain system calls on the calling thread; `param`
        // outlives the call that reads it.
        unsafe {
            let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
            *libc::__errno_location() = 0;
            let nice = libc::getpriority(libc::PRIO_PROCESS, tid);
            if nice == -1 && *libc::__errno_location() != 0 {
                return None;
            }
            if libc::setpriority(libc::PRIO_PROCESS, tid, nice - by) != 0 {
                return None;
            }
            let param = libc::sched_param { sched_priority: 0 };
            libc::sched_setscheduler(0, libc::SCHED_OTHER | SCHED_RESET_ON_FORK, &param);
            Some(Favoured {
                tid,
                nice,
                _here: PhantomData,
            })
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = by;
        None
    }
}

impl Drop for Favoured {
    fn drop(&mut self) {
        #[cfg(target_os = "linux")]
        {
            let param = libc::sched_param { sched_priority: 0 };
            // SAFETY: as in `favour_thread`, on the thread it favoured
            // (the type is not `Send`).
            unsafe {
                libc::sched_setscheduler(0, libc::SCHED_OTHER, &param);
                libc::setpriority(libc::PRIO_PROCESS, self.tid, self.nice);
            }
        }
    }
}
