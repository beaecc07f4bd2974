//! Arrays a set owns or borrows from a compiled set file's bytes.
//!
//! Every table the scan reads is a flat array of plain integers ([`Pod`]), so that a set can be
//! used straight from a memory-mapped file ([`IocSet::from_bytes`](crate::IocSet::from_bytes))
//! without parsing or copying: a mapped [`Arr`] is a view into bytes kept alive by an `Arc`.
//! Building and compiling work on owned vectors; asking a mapped array for a `Vec` copies it
//! first (copy on write).

use std::ops::Deref;
use std::sync::Arc;

/// Bytes a set may borrow its arrays from: a memory map, a `Vec<u8>`, anything that stays put
/// while it lives. The engine does no I/O; the caller maps the file.
pub trait Backing: Send + Sync + 'static {
    fn bytes(&self) -> &[u8];
}

impl Backing for Vec<u8> {
    fn bytes(&self) -> &[u8] {
        self
    }
}

/// Plain integers and arrays of them: every bit pattern is a valid value, there is no padding,
/// and the little-endian bytes of a file are the value on the little-endian targets a set file
/// can be read on.
///
/// # Safety
/// Implement only for types with no padding, no invalid bit patterns and no pointers.
pub(crate) unsafe trait Pod: Copy + Send + Sync + 'static {}

unsafe impl Pod for u8 {}
unsafe impl Pod for u32 {}
unsafe impl Pod for u64 {}
unsafe impl Pod for u128 {}
unsafe impl<const N: usize> Pod for [u8; N] {}

/// An array of `T`, owned or borrowed from a [`Backing`].
///
/// The pointer and length are kept beside whoever owns the bytes, so that reading the array
/// (the hot path: every probe of a scan) is one slice with no branch on where it lives.
pub(crate) struct Arr<T: Pod> {
    ptr: *const T,
    len: usize,
    own: Own<T>,
}

enum Own<T> {
    Vec(Vec<T>),
    Mapped(#[allow(dead_code)] Arc<dyn Backing>),
}

// SAFETY: the array is an immutable view into a `Vec` it owns or into bytes that live as long
// as the `Arc` it holds; `T` is plain data and the backing is `Send + Sync`.
unsafe impl<T: Pod> Send for Arr<T> {}
unsafe impl<T: Pod> Sync for Arr<T> {}

impl<T: Pod> Default for Arr<T> {
    fn default() -> Self {
        Vec::new().into()
    }
}

impl<T: Pod> From<Vec<T>> for Arr<T> {
    fn from(v: Vec<T>) -> Self {
        Arr {
            ptr: v.as_ptr(),
            len: v.len(),
            own: Own::Vec(v),
        }
    }
}

impl<T: Pod + std::fmt::Debug> std::fmt::Debug for Arr<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Arr[{}]", self.len())
    }
}

impl<T: Pod> Deref for Arr<T> {
    type Target = [T];

    #[inline]
    fn deref(&self) -> &[T] {
        // SAFETY: `ptr..ptr + len` is the owned vector's buffer (refreshed after every change,
        // see `VecMut`) or was checked to lie inside the backing's bytes and to be aligned for
        // `T` when the view was made (`Arr::view`); either outlives `self`.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

/// The owned vector of an [`Arr`], lent out for a change; the array's view is refreshed when
/// it is given back.
pub(crate) struct VecMut<'a, T: Pod>(&'a mut Arr<T>);

impl<T: Pod> Deref for VecMut<'_, T> {
    type Target = Vec<T>;
    fn deref(&self) -> &Vec<T> {
        match &self.0.own {
            Own::Vec(v) => v,
            Own::Mapped(_) => unreachable!("made owned by vec_mut"),
        }
    }
}

impl<T: Pod> std::ops::DerefMut for VecMut<'_, T> {
    fn deref_mut(&mut self) -> &mut Vec<T> {
        match &mut self.0.own {
            Own::Vec(v) => v,
            Own::Mapped(_) => unreachable!("made owned by vec_mut"),
        }
    }
}

impl<T: Pod> Drop for VecMut<'_, T> {
    fn drop(&mut self) {
        if let Own::Vec(v) = &self.0.own {
            self.0.ptr = v.as_ptr();
            self.0.len = v.len();
        }
    }
}

impl<T: Pod> Arr<T> {
    /// A view of `len` values of `T` at byte `offset` of `keep`'s bytes, or why not: out of
    /// bounds or misaligned.
    pub(crate) fn view(
        keep: &Arc<dyn Backing>,
        offset: usize,
        len: usize,
    ) -> Result<Arr<T>, String> {
        let bytes = keep.bytes();
        let size = len
            .checked_mul(std::mem::size_of::<T>())
            .ok_or("array length overflows")?;
        let end = offset.checked_add(size).ok_or("array end overflows")?;
        if end > bytes.len() {
            return Err(format!(
                "array at {offset}..{end} runs past the end of the file ({} bytes)",
                bytes.len()
            ));
        }
        if len == 0 {
            return Ok(Arr::default());
        }
        let ptr = bytes[offset..].as_ptr();
        if ptr.align_offset(std::mem::align_of::<T>()) != 0 {
            return Err(format!("array at {offset} is not aligned"));
        }
        Ok(Arr {
            ptr: ptr.cast::<T>(),
            len,
            own: Own::Mapped(Arc::clone(keep)),
        })
    }

    /// The owned vector, copying a mapped array first; the view follows the changes made
    /// through it once it is dropped.
    pub(crate) fn vec_mut(&mut self) -> VecMut<'_, T> {
        if let Own::Mapped(_) = self.own {
            *self = self.to_vec().into();
        }
        VecMut(self)
    }

    /// Heap bytes this array owns (a mapped one owns none).
    pub(crate) fn heap_bytes(&self) -> usize {
        match &self.own {
            Own::Vec(v) => v.capacity() * std::mem::size_of::<T>(),
            Own::Mapped(_) => 0,
        }
    }
}
