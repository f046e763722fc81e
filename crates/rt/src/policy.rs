//! The controller seam: what the controller task steps each period, and
//! the small status it reports back. The program adapts its MPC to it;
//! tests inject slow or failing policies.

use std::fmt;

use crate::estimator::Estimate;

/// Why a policy step could not produce a command at all (boxed: it ends
/// the run, and each policy has its own error type).
pub type PolicyError = Box<dyn std::error::Error + Send + Sync>;

/// What the controller task runs each period.
pub trait Policy: Send {
    /// (states, inputs).
    fn dimensions(&self) -> (usize, usize);
    /// One control step at `t_secs` on `estimate` (state, σ and world
    /// model); the command goes to `command` (length nu). Must not
    /// allocate or take a lock: it runs on the real-time thread.
    fn step(
        &mut self,
        t_secs: f64,
        estimate: &Estimate,
        command: &mut [f64],
    ) -> Result<StepStatus, PolicyError>;
    /// The command to apply `after_secs` after the last step if the next
    /// step is late: the last plan shifted in time.
    fn late_command(&self, after_secs: f64, out: &mut [f64]);
    /// The command to apply when there is no usable plan.
    fn safe_command(&self, out: &mut [f64]);
    /// The last plan's predicted states, flattened node by node (for the
    /// viewer); left empty when there is none.
    fn predicted_states(&self, _out: &mut Vec<f64>) {}
    /// Whether a step splits into [`Policy::feedback`] and
    /// [`Policy::prepare`]. Lockstep then runs the preparation on a
    /// helper thread while the world moves to the next instant (nothing
    /// the world or the estimator does reaches the policy meanwhile, so
    /// the run is the same bit for bit).
    fn splits_step(&self) -> bool {
        false
    }
    /// The command half of [`Policy::step`] (the whole step unless
    /// [`Policy::splits_step`]).
    fn feedback(
        &mut self,
        t_secs: f64,
        estimate: &Estimate,
        command: &mut [f64],
    ) -> Result<StepStatus, PolicyError> {
        self.step(t_secs, estimate, command)
    }
    /// The rest of a split step, before the next [`Policy::feedback`]:
    /// [`Policy::feedback`] then this compute what [`Policy::step`] does.
    fn prepare(&mut self) -> Result<(), PolicyError> {
        Ok(())
    }
}

/// What a step did, as far as the loop cares.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StepStatus {
    /// The command is the policy's own fallback (a failed solve), counted
    /// with the run's fallbacks.
    pub fell_back: bool,
    /// The command is the policy's safe input, not a plan (the last rung
    /// of its ladder): scored apart, since a long stretch of it means the
    /// controller has given up.
    pub safe_input: bool,
    /// Solver iterations of the step (the report keeps the maximum).
    pub iterations: u32,
    /// The solver's own time inside the step, ns, as the solver reports
    /// it (0 when it reports none): what `recede bench p3` compares the
    /// whole step with.
    pub solver_nanos: u64,
    /// What happened, for the event log of a fallback.
    pub note: Note,
}

/// A short text kept inline (64 bytes, longer text is cut at a character
/// boundary), so that a policy can describe a step on the real-time thread
/// without allocating: write it with `write!`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Note {
    len: u8,
    bytes: [u8; 64],
}

impl Default for Note {
    fn default() -> Self {
        Self {
            len: 0,
            bytes: [0; 64],
        }
    }
}

impl Note {
    pub fn as_str(&self) -> &str {
        // Only whole characters are ever copied in.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("")
    }
}

impl fmt::Write for Note {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let start = usize::from(self.len);
        let room = self.bytes.len() - start;
        let mut n = s.len().min(room);
        while !s.is_char_boundary(n) {
            n -= 1;
        }
        self.bytes[start..start + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n as u8;
        Ok(())
    }
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

#[cfg(test)]
mod tests {
    use std::fmt::Write;

    use super::*;

    #[test]
    fn a_note_keeps_what_fits_and_cuts_between_characters() {
        let mut n = Note::default();
        write!(n, "fallback {:?}", Some(3)).unwrap();
        assert_eq!(n.as_str(), "fallback Some(3)");
        let mut n = Note::default();
        write!(n, "{}", "é".repeat(40)).unwrap();
        assert_eq!(n.as_str(), "é".repeat(32));
    }
}
