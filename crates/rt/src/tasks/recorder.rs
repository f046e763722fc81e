//! The recorder task: hands what the loop queued to the sink.

use crossbeam_channel::{Receiver, Sender};

use crate::msg::LogMsg;
use crate::sink::{Level, Sink, StepLog};

pub(crate) fn recorder_task(sink: &mut dyn Sink, rx: Receiver<LogMsg>, pool: Sender<Box<StepLog>>) {
    // Until every sender is gone: on a stop the queue is drained, so the
    // recording holds everything that was queued.
    for msg in rx.iter() {
        match msg {
            LogMsg::Reading(step, r) => sink.reading(step, &r),
            LogMsg::Truth(step, t, x) => sink.truth(step, t, x.as_slice()),
            LogMsg::Step(log) => {
                sink.step(&log);
                // Back to the controller for reuse (freed here if it has enough).
                let _ = pool.try_send(log);
            }
            LogMsg::Fallback(step, t, report) => {
                let text = format!("fallback {:?} ({:?})", report.outcome, report.failure);
                sink.event(step, t, Level::Warn, &text);
            }
            LogMsg::Event(step, t, level, text) => sink.event(step, t, level, &text),
        }
    }
}
