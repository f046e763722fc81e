//! How late this machine wakes a sleeping real-time thread, and how long
//! it holds up a running one: the two numbers that decide whether the
//! real-time loop can meet its deadlines here.
//!
//! `cargo run --release -p recede-rt --example wake_latency -- [secs] [period_ms]`
//!
//! A thread under SCHED_FIFO (when permitted) sleeps to an absolute time
//! every period, as the controller does, and counts how late it wakes;
//! then it spins for half of each period and records the longest gap
//! between two clock readings.
#![allow(clippy::print_stdout)] // the figures are this program's output

use std::time::Duration;

use recede_rt::{raise_thread_priority, Clock, WallClock};

fn main() {
    let mut args = std::env::args().skip(1);
    let secs: f64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(20.0);
    let period = args
        .next()
        .and_then(|a| a.parse::<f64>().ok())
        .unwrap_or(2.0)
        * 1e-3;
    let fifo = raise_thread_priority(50);
    println!(
        "SCHED_FIFO 50: {fifo}; {secs} s at a {:.1} ms period",
        period * 1e3
    );

    let clock = WallClock::new();
    let n = (secs / 2.0 / period) as u64;
    let mut late: Vec<f64> = Vec::with_capacity(n as usize);
    let start = clock.now_secs() + period;
    for k in 0..n {
        let t = start + k as f64 * period;
        clock.sleep_until(t, false);
        late.push(clock.now_secs() - t);
    }
    late.sort_by(f64::total_cmp);
    let at = |q: f64| late[((late.len() - 1) as f64 * q) as usize] * 1e6;
    let over = |s: f64| late.iter().filter(|l| **l > s).count();
    println!(
        "sleeping: wake-up lateness p50 {:.0} us, p99 {:.0} us, p99.99 {:.0} us, max {:.0} us; \
         over 1 ms: {}, over 2 ms: {} of {n}",
        at(0.5),
        at(0.99),
        at(0.9999),
        at(1.0),
        over(1e-3),
        over(2e-3),
    );

    let mut gap_max = 0.0f64;
    let end = clock.now_secs() + secs / 2.0;
    while clock.now_secs() < end {
        let burst = clock.now_secs() + period / 2.0;
        let mut last = clock.now_secs();
        while last < burst {
            let now = clock.now_secs();
            gap_max = gap_max.max(now - last);
            last = now;
        }
        std::thread::sleep(Duration::from_secs_f64(period / 2.0));
    }
    println!("running: longest hold-up {:.0} us", gap_max * 1e6);
}
