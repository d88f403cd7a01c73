//! The guest's allocator: a call arena in front of the standard one.
//!
//! Almost everything a call allocates lives exactly as long as the call: the
//! request the host writes into the guest, the argument vectors, the reply
//! nodes, the strings of each import's reply; all freed by the time the
//! call returns (or its post-return is over). A general-purpose allocator
//! (dlmalloc) spends a fifth of a light call on that (bins, coalescing,
//! unlinking chunks).
//!
//! This allocator bumps a pointer through a fixed region and counts the
//! blocks in it that are still live; when the count falls to zero (every
//! block of the call freed, normally as the call returns) the whole region
//! is free again. Whatever does not fit, and everything once the region is
//! full, goes to the standard allocator, so a block that outlives its call
//! (a lazy static, a cache) costs nothing but the region's reuse:
//! allocation stays correct, only slower.
//!
//! WebAssembly without threads only: one instance runs one call at a time.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::{Cell, UnsafeCell};

/// Size of the call arena. Large enough for the request, the arguments and
/// the replies of a typical call (a few hundred bytes to a few KiB) many times
/// over; small beside a library's memory budget. It lives in `.bss`: pages
/// the calls never reach are never touched.
pub const CALL_ARENA_BYTES: usize = 64 * 1024;

/// Alignment of the region itself: the largest alignment the arena serves
/// (larger ones go to the standard allocator).
const ARENA_ALIGN: usize = 16;

#[repr(C, align(16))]
struct Region(UnsafeCell<[u8; CALL_ARENA_BYTES]>);

/// A bump region with a count of live blocks, falling back to [`System`].
///
/// The engine allocates here too: the bytes an import returns go into the
/// region by the same rule as [`CallArena::bump`], written by the host,
/// instead of through a call to `cabi_realloc` for each value (a call into
/// the guest, about as dear as the import's own work). The SDK exports an
/// [`ArenaInfo`] as `pattern-call-arena`; on wasm32 the arena's layout is
/// then fixed: `next` at 0, `live` at 4 (each a `u32`), the region at 16.
/// Another guest, or this one with its own allocator, exports none, and
/// the host calls `cabi_realloc` as the canonical ABI says.
///
/// All zero when made, so that it stays in `.bss`: the region costs the
/// module no bytes and the instance no copy.
#[repr(C)]
pub struct CallArena {
    /// Offset of the first free byte of the region.
    next: Cell<usize>,
    /// Blocks handed out from the region and not yet freed.
    live: Cell<usize>,
    region: Region,
}

/// Where the engine finds a guest's call arena, and its size.
#[repr(C)]
pub struct ArenaInfo {
    pub arena: *const CallArena,
    pub size: usize,
}

// SAFETY: read-only, and only where WebAssembly runs without threads.
#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
unsafe impl Sync for ArenaInfo {}

// The layout the host reads on wasm32 (see `CallArena`).
#[cfg(target_arch = "wasm32")]
const _: () = assert!(
    std::mem::offset_of!(CallArena, next) == 0
        && std::mem::offset_of!(CallArena, live) == 4
        && std::mem::offset_of!(CallArena, region) == 16
        && std::mem::offset_of!(ArenaInfo, size) == 4
);

// SAFETY: only where WebAssembly runs without threads: no two accesses can
// race.
#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
unsafe impl Sync for CallArena {}

impl CallArena {
    pub const fn new() -> Self {
        Self {
            next: Cell::new(0),
            live: Cell::new(0),
            region: Region(UnsafeCell::new([0; CALL_ARENA_BYTES])),
        }
    }

    fn base(&self) -> *mut u8 {
        self.region.0.get().cast()
    }

    /// Where the region starts, the offset of its first free byte and its
    /// live blocks: for tests that check a block someone else bumped (the
    /// engine) against the rule.
    #[doc(hidden)]
    pub fn state(&self) -> (usize, usize, usize) {
        (self.base() as usize, self.next.get(), self.live.get())
    }

    /// Sets the offset of the first free byte, as a guest that corrupts its
    /// own arena would (tests only).
    #[doc(hidden)]
    pub fn set_next(&self, next: usize) {
        self.next.set(next);
    }

    /// Offset of `ptr` in the region, if it came from there.
    fn offset_of(&self, ptr: *mut u8) -> Option<usize> {
        let offset = (ptr as usize).wrapping_sub(self.base() as usize);
        (offset < CALL_ARENA_BYTES).then_some(offset)
    }

    /// A block of the region, or None when the layout does not fit.
    fn bump(&self, layout: Layout) -> Option<*mut u8> {
        if layout.align() > ARENA_ALIGN {
            return None;
        }
        let start = self.next.get().checked_next_multiple_of(layout.align())?;
        let end = start.checked_add(layout.size())?;
        if end > CALL_ARENA_BYTES {
            return None;
        }
        self.next.set(end);
        self.live.set(self.live.get() + 1);
        // SAFETY: start ≤ end ≤ CALL_ARENA_BYTES, within the region.
        Some(unsafe { self.base().add(start) })
    }

    fn release(&self) {
        let live = self.live.get() - 1;
        self.live.set(live);
        if live == 0 {
            self.next.set(0);
        }
    }
}

impl Default for CallArena {
    fn default() -> Self {
        Self::new()
    }
}

unsafe impl GlobalAlloc for CallArena {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match self.bump(layout) {
            Some(ptr) => ptr,
            None => System.alloc(layout),
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        match self.offset_of(ptr) {
            Some(_) => self.release(),
            None => System.dealloc(ptr, layout),
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let Some(offset) = self.offset_of(ptr) else {
            return System.realloc(ptr, layout, new_size);
        };
        if new_size <= layout.size() {
            return ptr;
        }
        // The newest block grows in place while the region has room.
        let is_newest = offset + layout.size() == self.next.get();
        if is_newest && offset + new_size <= CALL_ARENA_BYTES {
            self.next.set(offset + new_size);
            return ptr;
        }
        let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
        let new = self.alloc(new_layout);
        if !new.is_null() {
            std::ptr::copy_nonoverlapping(ptr, new, layout.size());
            self.dealloc(ptr, layout);
        }
        new
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).unwrap()
    }

    #[test]
    fn the_region_is_reused_once_every_block_is_freed() {
        let arena = Box::new(CallArena::new());
        unsafe {
            let a = arena.alloc(layout(10, 1));
            let b = arena.alloc(layout(8, 8));
            assert_eq!(arena.offset_of(a), Some(0));
            assert_eq!(arena.offset_of(b), Some(16));
            arena.dealloc(a, layout(10, 1));
            // b is still live: no reuse yet.
            let c = arena.alloc(layout(4, 4));
            assert_eq!(arena.offset_of(c), Some(24));
            arena.dealloc(b, layout(8, 8));
            arena.dealloc(c, layout(4, 4));
            let d = arena.alloc(layout(4, 4));
            assert_eq!(arena.offset_of(d), Some(0));
            arena.dealloc(d, layout(4, 4));
        }
    }

    #[test]
    fn what_does_not_fit_goes_to_the_system_allocator() {
        let arena = Box::new(CallArena::new());
        unsafe {
            let big = arena.alloc(layout(CALL_ARENA_BYTES + 1, 1));
            assert_eq!(arena.offset_of(big), None);
            let aligned = arena.alloc(layout(8, 64));
            assert_eq!(arena.offset_of(aligned), None);
            big.write_bytes(7, CALL_ARENA_BYTES + 1);
            arena.dealloc(big, layout(CALL_ARENA_BYTES + 1, 1));
            arena.dealloc(aligned, layout(8, 64));
            // A block that outlives its call pins the region; the rest
            // spills over to the system allocator once it is full.
            let pinned = arena.alloc(layout(CALL_ARENA_BYTES - 8, 1));
            let spilled = arena.alloc(layout(16, 1));
            assert_eq!(arena.offset_of(spilled), None);
            arena.dealloc(spilled, layout(16, 1));
            arena.dealloc(pinned, layout(CALL_ARENA_BYTES - 8, 1));
        }
    }

    #[test]
    fn realloc_grows_the_newest_block_in_place_and_moves_others() {
        let arena = Box::new(CallArena::new());
        unsafe {
            let a = arena.alloc(layout(4, 1));
            a.copy_from(b"abcd".as_ptr(), 4);
            let grown = arena.realloc(a, layout(4, 1), 100);
            assert_eq!(grown, a);
            let b = arena.alloc(layout(4, 1));
            let moved = arena.realloc(grown, layout(100, 1), 200);
            assert_ne!(moved, grown);
            assert_eq!(std::slice::from_raw_parts(moved, 4), b"abcd");
            let shrunk = arena.realloc(moved, layout(200, 1), 2);
            assert_eq!(shrunk, moved);
            arena.dealloc(b, layout(4, 1));
            arena.dealloc(shrunk, layout(2, 1));
            assert_eq!(arena.next.get(), 0);
            // Growing past the region's end leaves it for the system.
            let last = arena.alloc(layout(8, 1));
            let out = arena.realloc(last, layout(8, 1), CALL_ARENA_BYTES * 2);
            assert_eq!(arena.offset_of(out), None);
            assert_eq!(arena.next.get(), 0);
            arena.dealloc(out, layout(CALL_ARENA_BYTES * 2, 1));
        }
    }
}
