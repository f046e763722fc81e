//! Creation in a caller-supplied buffer (`--features caller-memory`; this
//! binary is then linked with `--wrap` for the malloc family, build.rs):
//! the size `recede_required_memory` reports is exactly enough wherever the
//! buffer starts, one byte less is refused with a status, the controller
//! steps in its buffer as one on the heap does, and the buffer can be used
//! again after `recede_destroy`. (That nothing is allocated outside the
//! buffer is counted by the firmware example's interposed malloc.)
#![cfg(feature = "caller-memory")]

mod common;

use std::ffi::c_char;

use common::{c_text, Handle, ALL, CART_POLE};
use recede_ffi::*;

/// 64 bytes aligned to 64: storage whose offset 1 is the worst start.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([u8; 64]);

fn required(blob: &[u8], x0: &[f64]) -> Result<usize, (RecedeStatus, String)> {
    let (mut bytes, mut error) = (0, [0 as c_char; RECEDE_MESSAGE_CAPACITY]);
    // SAFETY: every pointer is valid for the length passed with it.
    let status = unsafe {
        recede_required_memory(
            blob.as_ptr(),
            blob.len(),
            x0.as_ptr(),
            x0.len(),
            &mut bytes,
            error.as_mut_ptr(),
            error.len(),
        )
    };
    match status {
        RecedeStatus::Ok => Ok(bytes),
        s => Err((s, c_text(&error))),
    }
}

/// # Safety
/// `buffer` valid for `len` bytes until the handle is destroyed.
unsafe fn create_in(
    blob: &[u8],
    x0: &[f64],
    buffer: *mut u8,
    len: usize,
) -> Result<Handle, (RecedeStatus, String)> {
    let (mut out, mut error) = (std::ptr::null_mut(), [0 as c_char; RECEDE_MESSAGE_CAPACITY]);
    // SAFETY: forwarded; the rest valid for their lengths.
    let status = unsafe {
        recede_create_from_blob_in_buffer(
            blob.as_ptr(),
            blob.len(),
            x0.as_ptr(),
            x0.len(),
            buffer,
            len,
            &mut out,
            error.as_mut_ptr(),
            error.len(),
        )
    };
    match status {
        RecedeStatus::Ok => Ok(Handle(out)),
        s => {
            assert!(out.is_null(), "a refused creation leaves *out NULL");
            Err((s, c_text(&error)))
        }
    }
}

#[test]
fn the_required_size_is_exact_and_the_controller_steps_in_its_buffer() {
    for s in ALL {
        let blob = encode_firmware_blob(s.toml, s.name).unwrap();
        let bytes = required(&blob, s.x0).unwrap();
        // 64-aligned storage; offset 1 is the worst start.
        let mut storage = vec![Line([0; 64]); bytes / 64 + 2];
        let base = storage.as_mut_ptr().cast::<u8>();
        for _ in 0..2 {
            // SAFETY: `storage` holds `bytes + 1` bytes past `base`.
            let short = unsafe { create_in(&blob, s.x0, base.add(1), bytes - 1) };
            let Err((status, message)) = short else {
                panic!("{}: one byte short was accepted", s.name)
            };
            assert_eq!(
                status,
                RecedeStatus::BufferTooSmall,
                "{}: {message}",
                s.name
            );
            assert!(message.contains("recede_required_memory"), "{message}");
            // SAFETY: as above; destroyed before `storage` is used again.
            let mut in_buffer = unsafe { create_in(&blob, s.x0, base.add(1), bytes) }.unwrap();
            let handle = in_buffer.0 as usize;
            assert!(handle > base as usize && handle < base as usize + bytes + 1);
            let mut on_heap = Handle::create(s.toml, s.x0).unwrap();
            let d = on_heap.dims();
            let window = s.window(d.horizon);
            let (mut u1, mut u2) = (vec![0.0; d.nu], vec![0.0; d.nu]);
            for k in 0..20 {
                let r = (k == 0).then_some(window.as_slice());
                let t = k as f64 * d.period_secs;
                assert_eq!(
                    on_heap.step(t, s.x0, r, &mut u1),
                    in_buffer.step(t, s.x0, r, &mut u2)
                );
                assert_eq!(u1, u2, "{}: step {k}", s.name);
            }
            // Destroyed here (Handle's Drop): the buffer is free for the
            // next round.
        }
    }
}

#[test]
fn bad_arguments_are_statuses() {
    let s = CART_POLE;
    let blob = encode_firmware_blob(s.toml, s.name).unwrap();
    let mut buffer = vec![0u8; 1 << 20];
    // SAFETY: NULL buffer: refused before use.
    let null = unsafe { create_in(&blob, s.x0, std::ptr::null_mut(), 100) };
    assert_eq!(null.err().unwrap().0, RecedeStatus::NullPointer);
    // SAFETY: a valid 1 MiB buffer, of which 16 bytes are offered.
    let tiny = unsafe { create_in(&blob, s.x0, buffer.as_mut_ptr(), 16) };
    assert_eq!(tiny.err().unwrap().0, RecedeStatus::BufferTooSmall);
    let mut corrupt = blob.clone();
    *corrupt.last_mut().unwrap() ^= 1;
    let (status, message) = required(&corrupt, s.x0).unwrap_err();
    assert_eq!(status, RecedeStatus::Config);
    assert!(message.contains("checksum"), "{message}");
    // SAFETY: a valid buffer for its length.
    let refused = unsafe { create_in(&corrupt, s.x0, buffer.as_mut_ptr(), buffer.len()) };
    assert_eq!(refused.err().unwrap().0, RecedeStatus::Config);
    let (status, _) = required(&blob, &s.x0[..2]).unwrap_err();
    assert_eq!(status, RecedeStatus::WrongLength);
}
