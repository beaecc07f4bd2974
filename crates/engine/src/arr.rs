//! Arrays a set owns or borrows from a compiled set file's bytes.
//!
//! Every table the scan reads is a flat array of plain integers ([`Pod`]), so that a set can be
//! used straight from a memory-mapped file ([`IocSet::from_bytes`](crate::IocSet::from_bytes))
//! without parsing or copying: [`Arr::Mapped`] is a view into bytes kept alive by an `Arc`.
//! Building and compiling work on [`Arr::Owned`]; asking a mapped array for a `Vec` copies it
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
pub(crate) enum Arr<T: Pod> {
    Owned(Vec<T>),
    Mapped {
        ptr: *const T,
        len: usize,
        _keep: Arc<dyn Backing>,
    },
}

// SAFETY: a mapped array is an immutable view into bytes that live as long as the `Arc` it
// holds, and `T` is plain data; the backing is `Send + Sync`.
unsafe impl<T: Pod> Send for Arr<T> {}
unsafe impl<T: Pod> Sync for Arr<T> {}

impl<T: Pod> Default for Arr<T> {
    fn default() -> Self {
        Arr::Owned(Vec::new())
    }
}

impl<T: Pod> From<Vec<T>> for Arr<T> {
    fn from(v: Vec<T>) -> Self {
        Arr::Owned(v)
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
        match self {
            Arr::Owned(v) => v,
            // SAFETY: `ptr..ptr + len` was checked to lie inside the backing's bytes and to be
            // aligned for `T` when the view was made (`Arr::view`), and the bytes outlive it.
            Arr::Mapped { ptr, len, .. } => unsafe { std::slice::from_raw_parts(*ptr, *len) },
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
            return Ok(Arr::Owned(Vec::new()));
        }
        let ptr = bytes[offset..].as_ptr();
        if ptr.align_offset(std::mem::align_of::<T>()) != 0 {
            return Err(format!("array at {offset} is not aligned"));
        }
        Ok(Arr::Mapped {
            ptr: ptr.cast::<T>(),
            len,
            _keep: Arc::clone(keep),
        })
    }

    /// The owned vector, copying a mapped array first.
    pub(crate) fn vec_mut(&mut self) -> &mut Vec<T> {
        if let Arr::Mapped { .. } = self {
            *self = Arr::Owned(self.to_vec());
        }
        match self {
            Arr::Owned(v) => v,
            Arr::Mapped { .. } => unreachable!("made owned above"),
        }
    }

    /// Heap bytes this array owns (a mapped one owns none).
    pub(crate) fn heap_bytes(&self) -> usize {
        match self {
            Arr::Owned(v) => v.capacity() * std::mem::size_of::<T>(),
            Arr::Mapped { .. } => 0,
        }
    }
}
