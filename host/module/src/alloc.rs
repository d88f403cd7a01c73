//! The module's global allocator: Redis's allocator, with a cache of freed
//! small blocks on Redis's main thread.
//!
//! Every allocation of the module goes through `RedisModule_Alloc`, so that
//! `INFO memory` and `maxmemory` see the engine's memory. Redis pays for that
//! accounting on each allocation and each free (`zmalloc` asks jemalloc for
//! the block's usable size both times, a lookup that often misses cache), and
//! a call makes a dozen short-lived allocations: wasmtime lifting an import's
//! `bytes` arguments, the packed request and reply, the undo log's entries.
//! Freed blocks of up to [`CACHED_BLOCK_BYTES`] are kept on a free list per
//! size class and handed out again without a round trip through Redis.
//!
//! Cached blocks stay allocated as far as Redis knows, so `used_memory`
//! never under-counts: it may over-count by the cache, at most
//! [`CACHED_BLOCKS_PER_CLASS`] blocks of each class (about 132 KiB).
//! Only the thread that owns the cache (Redis's main thread, set at module
//! load) touches it; other threads' blocks go straight to Redis, so no lock
//! is taken and no block is left behind in a thread that exits.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::UnsafeCell;
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering};

use redis_module::alloc::RedisAlloc;

/// Granularity of the size classes. Blocks are rounded up to it, so that a
/// block of a class always has room for any request of that class; 16 is
/// also the alignment Redis's allocator gives every block of 16 bytes or more.
const CLASS_BYTES: usize = 16;

/// Largest cached block. The allocations a call makes and frees (arguments,
/// keys, small buffers, the reply's vector of 8 nodes: 448 bytes) are below
/// it; larger ones are rare enough that Redis's accounting does not show in
/// a profile.
pub const CACHED_BLOCK_BYTES: usize = 512;

/// Number of size classes: 16, 32, ... [`CACHED_BLOCK_BYTES`] bytes.
const CLASSES: usize = CACHED_BLOCK_BYTES / CLASS_BYTES;

/// Most freed blocks a class keeps. A call frees at most a few blocks of one
/// class at a time; past this bound blocks go back to Redis, which caps the
/// memory the cache holds at 16 × (16 + 32 + ... + 512) bytes = 135 168 bytes.
pub const CACHED_BLOCKS_PER_CLASS: usize = 16;

/// A thread id that no thread has (`pthread_t` values are addresses).
const NO_OWNER: usize = 0;

/// Free lists, one per size class: each freed block holds the address of the
/// next one in its first word.
struct FreeLists {
    heads: [*mut u8; CLASSES],
    lengths: [usize; CLASSES],
}

/// A [`GlobalAlloc`] that caches small freed blocks of `Backing` for one
/// thread (see the module documentation).
pub struct CachingAlloc<Backing> {
    backing: Backing,
    owner: AtomicUsize,
    lists: UnsafeCell<FreeLists>,
}

// SAFETY: `lists` is only read or written by the thread whose id is in
// `owner` (checked on every access); every other thread only reads `owner`.
unsafe impl<Backing: Sync> Sync for CachingAlloc<Backing> {}

impl<Backing> CachingAlloc<Backing> {
    /// An allocator over `backing` that caches for no thread until
    /// [`CachingAlloc::cache_on_this_thread`] is called.
    pub const fn new(backing: Backing) -> Self {
        Self {
            backing,
            owner: AtomicUsize::new(NO_OWNER),
            lists: UnsafeCell::new(FreeLists {
                heads: [ptr::null_mut(); CLASSES],
                lengths: [0; CLASSES],
            }),
        }
    }

    /// Makes the calling thread the one whose small frees are cached. Called
    /// once, on Redis's main thread at module load, before any other thread
    /// of the module exists.
    pub fn cache_on_this_thread(&self) {
        self.owner.store(current_thread(), Ordering::Relaxed);
    }

    /// The free lists, if the calling thread owns them.
    #[inline]
    #[allow(clippy::mut_from_ref)] // exclusive: only the owning thread gets here
    fn lists(&self) -> Option<&mut FreeLists> {
        let owner = self.owner.load(Ordering::Relaxed);
        if owner != NO_OWNER && owner == current_thread() {
            // SAFETY: only the owner thread reaches this, and the allocator
            // never holds this reference across a call that could re-enter it.
            Some(unsafe { &mut *self.lists.get() })
        } else {
            None
        }
    }
}

/// The size class of a layout, if its blocks are cached.
#[inline]
fn class_of(layout: Layout) -> Option<usize> {
    let fits = layout.size() <= CACHED_BLOCK_BYTES && layout.align() <= CLASS_BYTES;
    fits.then(|| layout.size().saturating_sub(1) / CLASS_BYTES)
}

/// Bytes asked of the backing allocator for a block of `class`.
#[inline]
fn class_layout(class: usize) -> Layout {
    // CLASS_BYTES is a power of two and the size a multiple of it.
    Layout::from_size_align((class + 1) * CLASS_BYTES, CLASS_BYTES).expect("valid class layout")
}

/// Redis's allocator, as `redis_module::alloc::RedisAlloc`, that also grows
/// blocks in place through `RedisModule_Realloc` (`RedisAlloc` moves every
/// growing vector: a new block, a copy, a free).
pub struct RedisBacking;

unsafe impl GlobalAlloc for RedisBacking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        RedisAlloc.alloc(layout)
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        RedisAlloc.dealloc(block, layout)
    }

    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        match redis_module::raw::RedisModule_Realloc {
            // Redis's allocator aligns every block of 16 bytes or more to 16.
            Some(realloc) if layout.align() <= CLASS_BYTES => {
                realloc(block.cast(), new_size.max(CLASS_BYTES)).cast()
            }
            _ => move_block(self, block, layout, new_size),
        }
    }
}

/// Reallocates by moving: a new block, a copy, a free of the old one.
unsafe fn move_block(
    alloc: &impl GlobalAlloc,
    block: *mut u8,
    layout: Layout,
    new_size: usize,
) -> *mut u8 {
    let moved = alloc.alloc(Layout::from_size_align_unchecked(new_size, layout.align()));
    if !moved.is_null() {
        ptr::copy_nonoverlapping(block, moved, layout.size().min(new_size));
        alloc.dealloc(block, layout);
    }
    moved
}

#[inline]
fn current_thread() -> usize {
    // SAFETY: pthread_self has no preconditions.
    unsafe { libc::pthread_self() as usize }
}

unsafe impl<Backing: GlobalAlloc> GlobalAlloc for CachingAlloc<Backing> {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some(class) = class_of(layout) else {
            return self.backing.alloc(layout);
        };
        if let Some(lists) = self.lists() {
            let head = lists.heads[class];
            if !head.is_null() {
                lists.heads[class] = head.cast::<*mut u8>().read();
                lists.lengths[class] -= 1;
                return head;
            }
        }
        self.backing.alloc(class_layout(class))
    }

    #[inline]
    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        let Some(class) = class_of(layout) else {
            return self.backing.dealloc(block, layout);
        };
        if let Some(lists) = self.lists() {
            if lists.lengths[class] < CACHED_BLOCKS_PER_CLASS {
                block.cast::<*mut u8>().write(lists.heads[class]);
                lists.heads[class] = block;
                lists.lengths[class] += 1;
                return;
            }
        }
        self.backing.dealloc(block, class_layout(class))
    }

    #[inline]
    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
        match (class_of(layout), class_of(new_layout)) {
            // Still fits the block it has.
            (Some(old), Some(new)) if old == new => block,
            // Neither side cached: the backing allocator may grow in place.
            (None, None) => self.backing.realloc(block, layout, new_size),
            _ => move_block(self, block, layout, new_size),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::alloc::System;

    fn layout(size: usize) -> Layout {
        Layout::from_size_align(size, 8).unwrap()
    }

    #[test]
    fn size_classes_round_up_to_sixteen_bytes() {
        let cases = [
            (1, Some(0)),
            (16, Some(0)),
            (17, Some(1)),
            (256, Some(15)),
            (512, Some(31)),
            (513, None),
        ];
        for (size, class) in cases {
            assert_eq!(class_of(layout(size)), class, "size {size}");
        }
        assert_eq!(class_of(Layout::from_size_align(64, 32).unwrap()), None);
        assert_eq!(class_layout(1).size(), 32);
    }

    #[test]
    fn a_freed_block_is_handed_out_again_on_the_owner_thread() {
        let cache = CachingAlloc::new(System);
        cache.cache_on_this_thread();
        unsafe {
            let first = cache.alloc(layout(20));
            cache.dealloc(first, layout(20));
            // Same class (17..=32 bytes): the same block.
            let second = cache.alloc(layout(30));
            assert_eq!(first, second);
            // Growing within the class keeps the block; past it, moves it.
            second.write_bytes(7, 30);
            assert_eq!(cache.realloc(second, layout(30), 32), second);
            let grown = cache.realloc(second, layout(32), 100);
            assert_ne!(grown, second);
            assert!(std::slice::from_raw_parts(grown, 30)
                .iter()
                .all(|&b| b == 7));
            cache.dealloc(grown, layout(100));
        }
    }

    #[test]
    fn other_threads_and_large_blocks_bypass_the_cache() {
        let cache = CachingAlloc::new(System);
        unsafe {
            // No owner yet: nothing is kept.
            let block = cache.alloc(layout(20));
            cache.dealloc(block, layout(20));
            assert_eq!((*cache.lists.get()).lengths[1], 0);
            cache.cache_on_this_thread();
            let large = cache.alloc(layout(4096));
            cache.dealloc(large, layout(4096));
            assert!((*cache.lists.get()).lengths.iter().all(|&n| n == 0));
        }
    }

    #[test]
    fn a_class_keeps_at_most_its_bound() {
        let cache = CachingAlloc::new(System);
        cache.cache_on_this_thread();
        unsafe {
            let blocks: Vec<_> = (0..CACHED_BLOCKS_PER_CLASS + 5)
                .map(|_| cache.alloc(layout(64)))
                .collect();
            for block in blocks {
                cache.dealloc(block, layout(64));
            }
            assert_eq!((*cache.lists.get()).lengths[3], CACHED_BLOCKS_PER_CLASS);
        }
    }
}
