//! The handle's message buffer: fixed size, truncating, never allocating.

use std::ffi::c_char;
use std::fmt::{self, Write as _};

/// Bytes of message text a handle keeps (the terminating NUL included).
pub const RECEDE_MESSAGE_CAPACITY: usize = 512;

/// A fixed-size, truncating, always valid UTF-8 text buffer.
pub(crate) struct Message {
    bytes: [u8; RECEDE_MESSAGE_CAPACITY],
    len: usize,
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Message").field(&self.as_str()).finish()
    }
}

impl Message {
    pub(crate) const fn new() -> Self {
        Self {
            bytes: [0; RECEDE_MESSAGE_CAPACITY],
            len: 0,
        }
    }

    fn as_str(&self) -> &str {
        // Only whole characters are ever copied in.
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or("")
    }

    pub(crate) fn clear(&mut self) {
        self.len = 0;
    }

    pub(crate) fn set(&mut self, text: impl fmt::Display) {
        self.clear();
        // A full buffer truncates silently; `write_str` never fails.
        let _ = write!(self, "{text}");
    }

    /// Copies the message into `buffer` (NUL-terminated, truncated to fit)
    /// and returns its full length without the NUL.
    ///
    /// # Safety
    /// `buffer` is NULL or valid for `capacity` bytes of writes.
    pub(crate) unsafe fn copy_out(&self, buffer: *mut c_char, capacity: usize) -> usize {
        if !buffer.is_null() && capacity > 0 {
            let n = self.len.min(capacity - 1);
            // SAFETY: the caller guarantees `capacity` writable bytes and
            // n + 1 <= capacity; the handle's buffer cannot overlap memory
            // the caller owns.
            unsafe {
                std::ptr::copy_nonoverlapping(self.bytes.as_ptr(), buffer.cast::<u8>(), n);
                buffer.add(n).write(0);
            }
        }
        self.len
    }
}

impl fmt::Write for Message {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = RECEDE_MESSAGE_CAPACITY - 1 - self.len;
        let mut n = s.len().min(room);
        while !s.is_char_boundary(n) {
            n -= 1;
        }
        self.bytes[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}
