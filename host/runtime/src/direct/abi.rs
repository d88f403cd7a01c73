//! The canonical ABI of the direct path's imports, by hand: values lifted
//! from a core function's flat parameters and the guest's memory, results
//! lowered into its return area and into memory it allocates through its
//! `cabi_realloc`.
//!
//! Only the types the imports in [`super::imports`] use are here. Every
//! rule the canonical ABI checks is checked the same way, and a breach
//! traps as it would through the component: a pointer out of bounds or
//! misaligned, a discriminant out of range, a string that is not UTF-8.

use crate::host::HostState;
use crate::GuestError;
use std::ptr::NonNull;
use wasmtime::{bail, Func, Memory, Result, StoreContextMut, ValRaw};

/// The guest's memory and allocator, found once per instance. Plain
/// handles, copied into each import's call for nothing (a `TypedFunc`
/// clones its type's reference counts).
#[derive(Clone, Copy)]
pub(crate) struct GuestMemory {
    pub(crate) memory: Memory,
    /// `cabi_realloc`, type-checked as `(i32, i32, i32, i32) -> i32` when
    /// the instance was made.
    pub(crate) realloc: Func,
    /// The Rust SDK's call arena, when the guest exports it
    /// (`pattern-call-arena`): see [`Guest::arena_alloc`].
    pub(crate) arena: Option<Arena>,
}

/// A guest's call arena as its `pattern-call-arena` export described it:
/// where its state is (its region follows it) and the region's size.
#[derive(Clone, Copy)]
pub(crate) struct Arena {
    pub(crate) state: u32,
    pub(crate) size: u32,
}

/// Offset of the call arena's region from its state (after `next` and
/// `live`, aligned to 16): the layout of `CallArena` in the Rust SDK, which
/// asserts it.
const ARENA_REGION_OFFSET: u32 = 16;

/// Largest alignment the call arena serves (its region's own); a block
/// aligned more comes from the guest's other allocator, through
/// `cabi_realloc`.
const ARENA_MAX_ALIGN: u32 = 16;

/// A direct instance's store (in an import, its caller's), with the
/// instance's memory.
pub(crate) struct Guest<'a> {
    caller: StoreContextMut<'a, HostState>,
    memory: GuestMemory,
}

impl<'a> Guest<'a> {
    pub(crate) fn new(caller: StoreContextMut<'a, HostState>) -> Result<Self> {
        let Some(memory) = caller.data().direct else {
            bail!("direct import called outside a direct instance");
        };
        Ok(Self::with_memory(caller, memory))
    }

    /// As [`Self::new`], with `memory` given (before the store holds it).
    pub(crate) fn with_memory(caller: StoreContextMut<'a, HostState>, memory: GuestMemory) -> Self {
        Self { caller, memory }
    }

    /// The memory's base and length, looked up once until it grows (see
    /// `HostState::memory_view`).
    fn base_and_len(&self) -> (NonNull<u8>, usize) {
        let view = &self.caller.data().memory_view;
        if let Some(known) = view.get() {
            return known;
        }
        let data = self.memory.memory.data(&self.caller);
        let known = (NonNull::from(data).cast(), data.len());
        view.set(Some(known));
        known
    }

    pub(crate) fn state(&mut self) -> &mut HostState {
        self.caller.data_mut()
    }

    /// A copy of the `N` bytes at `ptr`, which must be aligned to `align`
    /// (a return area).
    pub(crate) fn read<const N: usize>(&self, ptr: i32, align: u32) -> Result<[u8; N]> {
        aligned(ptr as u32, align, "return pointer")?;
        let mut area = [0; N];
        area.copy_from_slice(self.slice(ptr as u32, N as u32)?);
        Ok(area)
    }

    /// `len` bytes at `ptr`, checked to lie in memory.
    fn slice(&self, ptr: u32, len: u32) -> Result<&[u8]> {
        let start = self.checked_start(ptr, len as usize)?;
        // SAFETY: within the memory's current length (`checked_start`); no
        // guest code runs, and so the memory cannot change, while `&self`
        // is borrowed (running it takes `&mut self`, see `alloc`).
        Ok(unsafe { std::slice::from_raw_parts(start, len as usize) })
    }

    fn slice_mut(&mut self, ptr: u32, len: usize) -> Result<&mut [u8]> {
        let start = self.checked_start(ptr, len)?;
        // SAFETY: as in `slice`; `&mut self` makes the slice the only view
        // of the memory while it lives.
        Ok(unsafe { std::slice::from_raw_parts_mut(start, len) })
    }

    /// The address of `ptr` in memory, when `len` bytes from there lie in it.
    fn checked_start(&self, ptr: u32, len: usize) -> Result<*mut u8> {
        let (base, size) = self.base_and_len();
        let start = ptr as usize;
        match start.checked_add(len) {
            // SAFETY: `start` is within the memory, so the offset is too.
            Some(end) if end <= size => Ok(unsafe { base.as_ptr().add(start) }),
            _ => bail!("pointer out of bounds"),
        }
    }

    /// A `list<u8>` passed as `ptr` and `len`.
    pub(crate) fn bytes(&self, ptr: i32, len: i32) -> Result<Vec<u8>> {
        Ok(self.slice(ptr as u32, len as u32)?.to_vec())
    }

    /// A `string` passed as `ptr` and `len` (UTF-8).
    pub(crate) fn string(&self, ptr: i32, len: i32) -> Result<String> {
        match String::from_utf8(self.bytes(ptr, len)?) {
            Ok(text) => Ok(text),
            Err(_) => bail!("invalid utf-8 string"),
        }
    }

    /// `count` elements of `size` bytes aligned to `align` at `ptr`, each
    /// read by `element` from its bytes.
    pub(crate) fn list<T>(
        &self,
        ptr: i32,
        count: i32,
        size: u32,
        align: u32,
        element: impl Fn(&Self, &[u8]) -> Result<T>,
    ) -> Result<Vec<T>> {
        let (ptr, count) = (ptr as u32, count as u32);
        aligned(ptr, align, "list pointer")?;
        let Some(total) = count.checked_mul(size) else {
            bail!("list pointer/length out of bounds of memory");
        };
        let all = self.slice(ptr, total)?.to_vec();
        all.chunks_exact(size as usize)
            .map(|raw| element(self, raw))
            .collect()
    }

    /// A `list<bytes>`: each element a pointer and a length.
    pub(crate) fn byte_lists(&self, ptr: i32, count: i32) -> Result<Vec<Vec<u8>>> {
        self.list(ptr, count, 8, 4, |guest, raw| {
            guest.bytes(i32_at(raw, 0), i32_at(raw, 4))
        })
    }

    /// Memory for `size` bytes aligned to `align`, from the guest's
    /// allocator.
    fn alloc(&mut self, size: usize, align: u32) -> Result<u32> {
        if let Some(ptr) = self.arena_alloc(size, align) {
            return Ok(ptr);
        }
        let Ok(size) = i32::try_from(size) else {
            bail!("list too large to lower");
        };
        // Guest code runs: the memory may grow, which forgets its view.
        let mut params_and_result = [0, 0, align as i32, size].map(ValRaw::i32);
        // SAFETY: `realloc`'s type was checked when the instance was made,
        // and the array holds its four parameters and room for its result.
        unsafe {
            self.memory
                .realloc
                .call_unchecked(&mut self.caller, &mut params_and_result)?
        };
        let ptr = params_and_result[0].get_i32() as u32;
        aligned(ptr, align, "realloc return")?;
        self.slice_mut(ptr, size as usize)?;
        Ok(ptr)
    }

    /// A block of `size` bytes bumped from the guest's call arena by the
    /// rule its own allocator follows (the next free offset rounded up to
    /// `align`, the count of live blocks raised by one), so that the guest
    /// frees it as any block of its arena. It spares a call into the guest
    /// (`cabi_realloc`) per value an import returns, which cost about as
    /// much as the import's own work.
    ///
    /// None, and the caller asks `cabi_realloc`, when the guest exports no
    /// arena, the block does not fit in it, or anything the guest keeps
    /// there is out of bounds or inconsistent: the state is the guest's own
    /// memory and proves nothing. An empty block is never bumped
    /// (`cabi_realloc` returns `align` for it, and the guest never frees it).
    fn arena_alloc(&mut self, size: usize, align: u32) -> Option<u32> {
        let arena = self.memory.arena?;
        if size == 0 || align > ARENA_MAX_ALIGN {
            return None;
        }
        let size = u32::try_from(size).ok()?;
        let state = self.slice(arena.state, 8).ok()?;
        let (next, live) = (i32_at(state, 0) as u32, i32_at(state, 4) as u32);
        let start = next.checked_next_multiple_of(align)?;
        let end = start.checked_add(size)?;
        let live = live.checked_add(1)?;
        let ptr = arena
            .state
            .checked_add(ARENA_REGION_OFFSET)?
            .checked_add(start)?;
        if end > arena.size || !ptr.is_multiple_of(align) {
            return None;
        }
        // The block lies in memory before the state records it.
        self.slice(ptr, size).ok()?;
        let mut updated = [0; 8];
        updated[..4].copy_from_slice(&end.to_le_bytes());
        updated[4..].copy_from_slice(&live.to_le_bytes());
        self.write(arena.state, &updated).ok()?;
        Some(ptr)
    }

    /// Writes `bytes` at `at`, checked to lie in memory.
    pub(crate) fn write(&mut self, at: u32, bytes: &[u8]) -> Result<()> {
        self.slice_mut(at, bytes.len())?.copy_from_slice(bytes);
        Ok(())
    }

    /// `bytes` copied into memory the guest allocates: its pointer and
    /// length, as a `list<u8>` or `string` is lowered.
    pub(crate) fn lower_bytes(&mut self, bytes: &[u8]) -> Result<(u32, u32)> {
        let ptr = self.alloc(bytes.len(), 1)?;
        self.write(ptr, bytes)?;
        Ok((ptr, bytes.len() as u32))
    }

    /// Writes a pointer and a length at `at`.
    pub(crate) fn write_pair(&mut self, at: u32, (ptr, len): (u32, u32)) -> Result<()> {
        let mut raw = [0; 8];
        raw[..4].copy_from_slice(&ptr.to_le_bytes());
        raw[4..].copy_from_slice(&len.to_le_bytes());
        self.write(at, &raw)
    }

    /// Lowers `items` as a list of elements of `size` bytes aligned to
    /// `align`, each written by `element` (which may allocate), and writes
    /// the list's pointer and length at `at`.
    pub(crate) fn lower_list<T>(
        &mut self,
        at: u32,
        items: &[T],
        size: u32,
        align: u32,
        element: impl Fn(&mut Self, u32, &T) -> Result<()>,
    ) -> Result<()> {
        let ptr = self.alloc(items.len() * size as usize, align)?;
        for (i, item) in items.iter().enumerate() {
            element(self, ptr + i as u32 * size, item)?;
        }
        self.write_pair(at, (ptr, items.len() as u32))
    }

    /// Lowers `result<T, error>` into the return area at `ret`: its
    /// discriminant, then the value (by `ok`) or the error, both at
    /// `payload` (4, or 8 when `T` holds a 64-bit number).
    pub(crate) fn lower_result<T>(
        &mut self,
        ret: i32,
        payload: u32,
        result: Result<T, GuestError>,
        ok: impl FnOnce(&mut Self, u32, T) -> Result<()>,
    ) -> Result<()> {
        let ret = ret as u32;
        // The area is aligned as its payload; each write below is checked
        // to lie in memory.
        aligned(ret, payload, "return pointer")?;
        match result {
            Ok(value) => {
                self.write(ret, &[0])?;
                ok(self, ret + payload, value)
            }
            Err(error) => {
                self.write(ret, &[1])?;
                let (case, text) = error_parts(&error);
                self.write(ret + payload, &[case])?;
                let pair = self.lower_bytes(text)?;
                self.write_pair(ret + payload + 4, pair)
            }
        }
    }

    /// An `error` lifted from its flat form: its case, then its text's
    /// pointer and length.
    pub(crate) fn error(&self, case: i32, ptr: i32, len: i32) -> Result<GuestError> {
        Ok(match case {
            0 => GuestError::WrongType(self.string(ptr, len)?),
            1 => GuestError::UndeclaredKey(self.bytes(ptr, len)?),
            2 => GuestError::KeyOutsidePrefixes(self.bytes(ptr, len)?),
            3 => GuestError::WriteInReadOnly(self.string(ptr, len)?),
            4 => GuestError::CommandNotAllowed(self.string(ptr, len)?),
            5 => GuestError::BudgetExceeded(self.string(ptr, len)?),
            6 => GuestError::Redis(self.string(ptr, len)?),
            7 => GuestError::Guest(self.string(ptr, len)?),
            _ => bail!("invalid variant discriminant for `error`"),
        })
    }
}

/// The case of `error` in the WIT's order, and its text.
fn error_parts(error: &GuestError) -> (u8, &[u8]) {
    match error {
        GuestError::WrongType(text) => (0, text.as_bytes()),
        GuestError::UndeclaredKey(key) => (1, key),
        GuestError::KeyOutsidePrefixes(key) => (2, key),
        GuestError::WriteInReadOnly(text) => (3, text.as_bytes()),
        GuestError::CommandNotAllowed(text) => (4, text.as_bytes()),
        GuestError::BudgetExceeded(text) => (5, text.as_bytes()),
        GuestError::Redis(text) => (6, text.as_bytes()),
        GuestError::Guest(text) => (7, text.as_bytes()),
    }
}

/// Traps unless `ptr`, the guest's `what`, is aligned to `align`.
fn aligned(ptr: u32, align: u32, what: &str) -> Result<()> {
    if !ptr.is_multiple_of(align) {
        bail!("{what} not aligned");
    }
    Ok(())
}

/// The little-endian `i32` at `at` in an element's bytes.
pub(crate) fn i32_at(raw: &[u8], at: usize) -> i32 {
    i32::from_le_bytes(raw[at..at + 4].try_into().expect("4 bytes"))
}

/// The little-endian `f64` at `at` in an element's bytes.
pub(crate) fn f64_at(raw: &[u8], at: usize) -> f64 {
    f64::from_le_bytes(raw[at..at + 8].try_into().expect("8 bytes"))
}

/// An enum's case, checked against its number of cases.
pub(crate) fn case(value: i32, cases: u32, name: &str) -> Result<u32> {
    match value as u32 {
        case if case < cases => Ok(case),
        _ => bail!("unexpected discriminant for `{name}`"),
    }
}
