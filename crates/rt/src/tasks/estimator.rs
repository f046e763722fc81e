//! The estimator task: readings in order of availability in, the latest
//! estimate out (to the slot); in lockstep it answers each tick once it has
//! processed everything before it.

use crossbeam_channel::{Receiver, Sender};

use crate::estimator::{Estimator, Verdict};
use crate::msg::{EstIn, LogTx};
use crate::sink::Level;
use crate::slot::SlotWriter;

pub(crate) struct EstimatorOut {
    pub delivered: Vec<u64>,
    pub rejected: Vec<u64>,
}

pub(crate) fn estimator_task(
    estimator: &mut dyn Estimator,
    rx: Receiver<EstIn>,
    mut slot: SlotWriter,
    tick_tx: Option<Sender<(u64, f64)>>,
    log: &LogTx,
    sensors: usize,
    nx: usize,
) -> EstimatorOut {
    let mut out = EstimatorOut {
        delivered: vec![0; sensors],
        rejected: vec![0; sensors],
    };
    let (mut state, mut std) = (vec![0.0; nx], vec![0.0; nx]);
    let mut publish = |estimator: &mut dyn Estimator, t: f64| {
        if estimator.estimate(t, &mut state, &mut std) {
            slot.publish(&state, &std);
        }
    };
    let mut step = 0;
    for msg in rx.iter() {
        match msg {
            EstIn::Reading(r) => {
                let i = r.sensor.0 as usize;
                if let Some(d) = out.delivered.get_mut(i) {
                    *d += 1;
                }
                if estimator.on_reading(&r) == Verdict::Rejected {
                    if let Some(n) = out.rejected.get_mut(i) {
                        *n += 1;
                    }
                    log.event(step, r.stamp.available_secs, Level::Warn, || {
                        format!(
                            "rejected a reading of sensor {i} stamped {:.3} s",
                            r.stamp.stamp_secs
                        )
                    });
                }
                if tick_tx.is_none() {
                    publish(estimator, r.stamp.available_secs);
                }
            }
            EstIn::Truth(t, x) => {
                estimator.on_truth(t, x.as_slice());
                if tick_tx.is_none() {
                    publish(estimator, t);
                }
            }
            EstIn::Tick(k, t) => {
                step = k;
                publish(estimator, t);
                if let Some(tx) = &tick_tx {
                    if tx.send((k, t)).is_err() {
                        break;
                    }
                }
            }
        }
    }
    out
}
