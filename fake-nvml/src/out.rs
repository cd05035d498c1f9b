//! Turns the caller's raw output pointers into safe slots once, at the C boundary, so the
//! code that computes answers never touches a raw pointer.
//!
//! Slots are `MaybeUninit` because NVML's callers may pass memory they have not initialised.

use std::ffi::c_char;
use std::mem::MaybeUninit;

use crate::codes::{INSUFFICIENT_SIZE, INVALID_ARGUMENT};

/// The result of an exported call's body: `Err` carries the NVML code to return.
pub(crate) type Status = Result<(), u32>;

/// Where one output value goes; `None` when the caller passed null.
pub(crate) type Slot<'a, T> = Option<&'a mut MaybeUninit<T>>;

/// Where a string or an array goes; `None` when the caller passed null.
pub(crate) type Buf<'a, T> = Option<&'a mut [MaybeUninit<T>]>;

/// # Safety
///
/// `ptr` is null or valid for writing one `T`, and nothing else uses that memory during the call.
pub(crate) unsafe fn slot<'a, T>(ptr: *mut T) -> Slot<'a, T> {
    // SAFETY: `MaybeUninit<T>` has `T`'s layout, so the caller's promise about `ptr` carries over.
    unsafe { ptr.cast::<MaybeUninit<T>>().as_mut() }
}

/// # Safety
///
/// `ptr` is null or valid for writing `len` consecutive `T`s, and nothing else uses that memory
/// during the call.
pub(crate) unsafe fn buf<'a, T>(ptr: *mut T, len: usize) -> Buf<'a, T> {
    if ptr.is_null() {
        return None;
    }
    // SAFETY: non-null, and valid for `len` elements by the caller's promise; `MaybeUninit<T>`
    // has `T`'s layout.
    Some(unsafe { std::slice::from_raw_parts_mut(ptr.cast::<MaybeUninit<T>>(), len) })
}

/// Unwraps a slot, answering INVALID_ARGUMENT for a null pointer as NVML does. Bodies call this
/// for every output before writing any, so a null in one leaves the others untouched.
pub(crate) fn need<T>(slot: Option<T>) -> Result<T, u32> {
    slot.ok_or(INVALID_ARGUMENT)
}

/// Writes `text` and its NUL terminator, or answers INSUFFICIENT_SIZE without writing.
pub(crate) fn put_str(buf: Buf<'_, c_char>, text: &str) -> Status {
    let buf = need(buf)?;
    // An interior NUL would make C read a shorter string than the one configured.
    let bytes = text.split('\0').next().unwrap_or_default().as_bytes();
    if buf.len() <= bytes.len() {
        return Err(INSUFFICIENT_SIZE);
    }
    for (cell, &byte) in buf.iter_mut().zip(bytes.iter().chain(&[0])) {
        cell.write(byte as c_char);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(cells: &[MaybeUninit<c_char>], len: usize) -> Vec<u8> {
        // SAFETY: the test reads only the cells `put_str` reported as written.
        cells[..len]
            .iter()
            .map(|c| unsafe { c.assume_init() } as u8)
            .collect()
    }

    #[test]
    fn strings_fit_with_their_terminator_or_not_at_all() {
        let mut cells = [MaybeUninit::<c_char>::uninit(); 4];
        assert_eq!(put_str(Some(&mut cells[..]), "abc"), Ok(()));
        assert_eq!(written(&cells, 4), b"abc\0");
        assert_eq!(
            put_str(Some(&mut cells[..]), "abcd"),
            Err(INSUFFICIENT_SIZE)
        );
        assert_eq!(put_str(None, "a"), Err(INVALID_ARGUMENT));
        assert_eq!(put_str(Some(&mut cells[..]), "a\0b"), Ok(()));
        assert_eq!(written(&cells, 2), b"a\0");
    }
}
