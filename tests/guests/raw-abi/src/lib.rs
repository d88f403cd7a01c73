//! `raw-abi`: calls imports through their raw core signatures (the
//! canonical ABI's flattening, as wit-bindgen would) to break the ABI's
//! rules on purpose: a key or return area out of bounds or misaligned, an
//! enum out of range, an error that is not UTF-8. Each must trap, on the
//! direct path as through the component. It imports only what the direct
//! path serves, so the engine runs it directly when it can.

use pattern_guest::describe::{function, library, LibraryInfo};
use pattern_guest::{export_library, Args, Error, Library, Reply};

pub struct RawAbi;

impl Library for RawAbi {
    fn describe() -> LibraryInfo {
        library(
            "raw-abi",
            "1",
            vec![
                function("get", "GETs its first key through the raw import")
                    .key("key", "the key read"),
                function("key_out_of_bounds", "passes a key past the end of memory"),
                function(
                    "return_out_of_bounds",
                    "passes a return area past the end of memory",
                ),
                function(
                    "return_misaligned",
                    "passes a return area at an odd address",
                ),
                function(
                    "bad_condition",
                    "passes SET a condition that is no case of the enum",
                ),
                function(
                    "keys_out_of_bounds",
                    "passes DEL a list running past memory",
                ),
                function("error_not_utf8", "spills an error whose text is not UTF-8"),
                function(
                    "arena_get",
                    "GETs its key and checks where the value landed in the call arena",
                )
                .key("key", "the key read"),
                function(
                    "corrupt_arena_get",
                    "GETs its key with the call arena's free offset set past its end",
                )
                .key("key", "the key read"),
                function(
                    "grown_get",
                    "GETs its key, grows the memory by a page and GETs it from there",
                )
                .key("key", "the key read"),
            ],
        )
    }

    fn call(function: &str, keys: Vec<Vec<u8>>, _args: Args<'_>) -> Result<Reply, Error> {
        match function {
            "get" => Ok(match raw::get(keys.first().map_or(&[][..], |k| k)) {
                Some(value) => Reply::Bulk(value),
                None => Reply::Nil,
            }),
            "key_out_of_bounds" => raw::broken_get(FAR, 16, aligned_area()),
            "return_out_of_bounds" => raw::broken_get(b"k".as_ptr() as usize, 1, FAR),
            "return_misaligned" => raw::broken_get(b"k".as_ptr() as usize, 1, aligned_area() + 1),
            "bad_condition" => raw::set_with_condition(7),
            "keys_out_of_bounds" => raw::del_at(FAR, 4),
            "error_not_utf8" => raw::spill_error(&[0xff, 0xfe, 0xfd]),
            "arena_get" => raw::arena_get(keys.first().map_or(&[][..], |k| k)),
            "corrupt_arena_get" => raw::corrupt_arena_get(keys.first().map_or(&[][..], |k| k)),
            "grown_get" => raw::grown_get(keys.first().map_or(&[][..], |k| k)),
            _ => Err(Error::guest("ERR no such function")),
        }
    }
}

/// An address far past any memory this guest has.
const FAR: usize = 0xFFFF_FF00;

/// The address of a return area aligned to 8, valid for the call.
fn aligned_area() -> usize {
    static mut AREA: [u64; 4] = [0; 4];
    std::ptr::addr_of_mut!(AREA) as usize
}

#[cfg(target_arch = "wasm32")]
mod raw {
    use super::aligned_area;
    use pattern_guest::{Error, Reply};

    #[link(wasm_import_module = "pattern:engine/redis@0.1.0")]
    extern "C" {
        #[link_name = "get"]
        fn get_import(key: usize, len: usize, ret: usize);
        #[link_name = "set"]
        fn set_import(
            key: usize,
            key_len: usize,
            value: usize,
            value_len: usize,
            condition: i32,
            expiry: i32,
            expiry_value: i64,
            ret: usize,
        );
        #[link_name = "del"]
        fn del_import(keys: usize, count: usize, ret: usize);
    }

    #[link(wasm_import_module = "pattern:engine/spill@0.1.0")]
    extern "C" {
        #[link_name = "reply"]
        fn spill_import(discriminant: i32, a: usize, b: usize, c: usize);
    }

    /// GET through the raw import, read back as wit-bindgen reads it.
    pub fn get(key: &[u8]) -> Option<Vec<u8>> {
        // SAFETY: the key and the return area are live memory.
        unsafe { get_at(key.as_ptr() as usize, key.len(), aligned_area()) }
    }

    /// GET of the `len` bytes at `key`, its result written at `area`.
    ///
    /// # Safety
    /// `key` holds `len` bytes and `area` 16 bytes aligned to 8.
    unsafe fn get_at(key: usize, len: usize, area: usize) -> Option<Vec<u8>> {
        unsafe {
            get_import(key, len, area);
            let bytes = area as *const u8;
            assert_eq!(*bytes, 0, "GET failed");
            if *bytes.add(4) == 0 {
                return None;
            }
            let words = area as *const u32;
            let (ptr, len) = (*words.add(2) as usize, *words.add(3) as usize);
            Some(Vec::from_raw_parts(ptr as *mut u8, len, len))
        }
    }

    pub fn broken_get(key: usize, len: usize, ret: usize) -> Result<Reply, Error> {
        unsafe { get_import(key, len, ret) };
        Ok(Reply::ok())
    }

    pub fn set_with_condition(condition: i32) -> Result<Reply, Error> {
        let (key, value) = (b"k", b"v");
        let (k, v) = (key.as_ptr() as usize, value.as_ptr() as usize);
        unsafe { set_import(k, 1, v, 1, condition, 0, 0, aligned_area()) };
        Ok(Reply::ok())
    }

    pub fn del_at(keys: usize, count: usize) -> Result<Reply, Error> {
        unsafe { del_import(keys, count, aligned_area()) };
        Ok(Reply::ok())
    }

    /// Hands `spill.reply` the `redis` case of `error` with `text`.
    pub fn spill_error(text: &[u8]) -> Result<Reply, Error> {
        unsafe { spill_import(1, 6, text.as_ptr() as usize, text.len()) };
        Ok(Reply::ok())
    }

    /// GETs `key` and checks that the value is the block the call arena's
    /// own rule gives (at the free offset, one more live block), whoever
    /// bumped it: the engine on the direct path, `cabi_realloc` otherwise.
    pub fn arena_get(key: &[u8]) -> Result<Reply, Error> {
        let arena = pattern_guest::call_arena_allocator();
        let (base, next, live) = arena.state();
        let value = get(key).ok_or_else(|| Error::guest("ERR the key is absent"))?;
        let (_, next_after, live_after) = arena.state();
        let expected = (base + next, next + value.len(), live + 1);
        let found = (value.as_ptr() as usize, next_after, live_after);
        if found != expected {
            return Err(Error::guest(format!(
                "ERR value at {found:?} (address, next, live), the arena's rule gives {expected:?}"
            )));
        }
        Ok(Reply::Bulk(value))
    }

    /// GETs `key`, which shows the host the memory as it is, then grows
    /// the memory by a page and GETs `key` again with the key and the
    /// return area in that page: the host must see the memory's new end.
    pub fn grown_get(key: &[u8]) -> Result<Reply, Error> {
        let before = get(key);
        let page = core::arch::wasm32::memory_grow(0, 1);
        if page == usize::MAX {
            return Err(Error::guest("ERR memory.grow failed"));
        }
        // The page is the guest's alone: the allocator grows the memory
        // past it when it needs more.
        let start = page * PAGE_BYTES;
        let area = start + PAGE_BYTES - 16;
        // SAFETY: the page was just added, and the key fits in it below
        // the return area.
        let after = unsafe {
            std::ptr::copy_nonoverlapping(key.as_ptr(), start as *mut u8, key.len());
            get_at(start, key.len(), area)
        };
        if before != after {
            return Err(Error::guest("ERR the two GETs differ"));
        }
        Ok(after.map_or(Reply::Nil, Reply::Bulk))
    }

    /// A WebAssembly page.
    const PAGE_BYTES: usize = 65_536;

    /// GETs `key` with the arena's free offset near `u32::MAX`: the value
    /// must come from elsewhere (the arena has no room), and the offset is
    /// put back after.
    pub fn corrupt_arena_get(key: &[u8]) -> Result<Reply, Error> {
        let arena = pattern_guest::call_arena_allocator();
        let (_, next, _) = arena.state();
        arena.set_next(u32::MAX as usize - 2);
        let value = get(key);
        let (_, corrupted, _) = arena.state();
        arena.set_next(next);
        if corrupted != u32::MAX as usize - 2 {
            return Err(Error::guest("ERR the corrupted arena was bumped"));
        }
        Ok(value.map_or(Reply::Nil, Reply::Bulk))
    }
}

/// Natively (the crate's own unit build) there are no imports to call.
#[cfg(not(target_arch = "wasm32"))]
mod raw {
    use pattern_guest::{Error, Reply};

    fn native() -> Result<Reply, Error> {
        Err(Error::guest("ERR only in wasm"))
    }
    pub fn get(_: &[u8]) -> Option<Vec<u8>> {
        None
    }
    pub fn broken_get(_: usize, _: usize, _: usize) -> Result<Reply, Error> {
        native()
    }
    pub fn set_with_condition(_: i32) -> Result<Reply, Error> {
        native()
    }
    pub fn del_at(_: usize, _: usize) -> Result<Reply, Error> {
        native()
    }
    pub fn spill_error(_: &[u8]) -> Result<Reply, Error> {
        native()
    }
    pub fn arena_get(_: &[u8]) -> Result<Reply, Error> {
        native()
    }
    pub fn corrupt_arena_get(_: &[u8]) -> Result<Reply, Error> {
        native()
    }
    pub fn grown_get(_: &[u8]) -> Result<Reply, Error> {
        native()
    }
}

export_library!(RawAbi);
