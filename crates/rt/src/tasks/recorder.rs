//! The recorder task: hands what the loop queued to the sink.
//!
//! It polls its queue and naps when it is empty instead of blocking on it,
//! so no sender ever has to wake it: a blocked receiver costs every sender
//! a system call per message (tens of thousands a run, on the world's and
//! the controller's threads) and the machine a context switch each.

use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, TryRecvError};

use crate::msg::{LogMsg, ShapePool};
use crate::sink::{Level, Sink, StepLog};

/// How long the recorder sleeps on an empty queue. At 500 Hz a nap
/// gathers a few messages; the default queue holds thousands.
const NAP: Duration = Duration::from_millis(2);

pub(crate) fn recorder_task(
    sink: &mut dyn Sink,
    rx: Receiver<LogMsg>,
    pool: Sender<Box<StepLog>>,
    shapes: Option<ShapePool>,
) {
    // Until every sender is gone: on a stop the queue is drained, so the
    // recording holds everything that was queued.
    loop {
        let msg = match rx.try_recv() {
            Ok(msg) => msg,
            Err(TryRecvError::Empty) => {
                std::thread::sleep(NAP);
                continue;
            }
            Err(TryRecvError::Disconnected) => break,
        };
        match msg {
            LogMsg::Reading(step, r) => sink.reading(step, &r),
            LogMsg::Truth(step, t, x) => sink.truth(step, t, x.as_slice()),
            LogMsg::Shape(shape) => {
                sink.shape(shape.step, shape.t_secs, &shape.points);
                if let Some(shapes) = &shapes {
                    let _ = shapes.give.try_send(shape);
                }
            }
            LogMsg::Step(log) => {
                sink.step(&log);
                // Back to the controller's pool.
                let _ = pool.try_send(log);
            }
            LogMsg::Fallback(step, t, status) => {
                let text = format!("fallback {}", status.note);
                sink.event(step, t, Level::Warn, &text);
            }
            LogMsg::Event(step, t, level, text) => sink.event(step, t, level, &text),
        }
    }
}
