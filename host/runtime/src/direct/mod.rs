//! The direct path: a component that is only its main core module wired to
//! the engine's imports runs that core module on its own, its imports
//! served as core functions.
//!
//! Why: through the component, each import crosses wasmtime's generic
//! lifting and lowering (~1 000 instructions, tenth pass in BENCHMARKS.md)
//! and each call its typed entry, which for the light functions of a lock
//! is more than the guest's own work. The core module is the guest's code
//! as the component holds it; `imports` gives each import the canonical
//! ABI by hand (`abi`) around the same `Host` methods, so a call does the
//! same work and sees the same errors and traps either way.
//!
//! Which components: exactly one core module defines a memory; it exports
//! `cabi_realloc` and the `inline` and `packed` entries (the Rust SDK's
//! shape), no other allocator or initializer, and every canonical option
//! is UTF-8. Its imports must all be among those `imports` serves (every
//! import of the WIT but the typed `hmget`); otherwise, or when the
//! operator turns the path off (`DIRECT_CALLS no`), the library runs
//! through the component, as every library did before. An SDK module also
//! exports where its call arena is (`pattern-call-arena`), and the bytes
//! imports return are placed there by the host (see `abi`).

mod abi;
mod imports;

use crate::host::HostState;
use crate::inline::{InlineReply, InlineRequest};
use crate::limits::DEFAULT_DEADLINE_MS;
use crate::GuestError;
use abi::Arena;
pub(crate) use abi::GuestMemory;
use abi::{i32_at, Guest};
use wasmparser::{CanonicalFunction, CanonicalOption, Parser, Payload};
use wasmtime::{bail, AsContextMut, InstancePre, Linker, Module, Store, TypedFunc};

/// The core exports the direct path calls.
const INLINE_CALL: &str = "pattern:engine/inline@0.1.0#call";
const PACKED_CALL: &str = "pattern:engine/packed@0.1.0#call";
const PACKED_POST_RETURN: &str = "cabi_post_pattern:engine/packed@0.1.0#call";
const MEMORY: &str = "memory";
const REALLOC: &str = "cabi_realloc";
/// The Rust SDK's call arena, optional (see [`abi::GuestMemory::arena`]).
const CALL_ARENA: &str = "pattern-call-arena";

/// Epoch ticks the arena's export may run (the current tick may be almost
/// over): it only returns a static's address, and a guest whose export
/// spins must not hold Redis for a whole call's deadline while its
/// instance is made.
const ARENA_QUERY_TICKS: u64 = 2;

/// Exports that make the component do more than wire its module: another
/// allocator for imports or exports, or an initializer to run first.
const UNSUPPORTED_EXPORTS: [&str; 3] =
    ["cabi_import_realloc", "cabi_export_realloc", "_initialize"];

/// `inline.call` flattened: the length, then 15 words.
type InlineFunc = TypedFunc<
    (
        i32,
        i64,
        i64,
        i64,
        i64,
        i64,
        i64,
        i64,
        i64,
        i64,
        i64,
        i64,
        i64,
        i64,
        i64,
        i64,
    ),
    i32,
>;

/// A linker holding every import the direct path serves.
pub(crate) fn linker(engine: &wasmtime::Engine) -> wasmtime::Result<Linker<HostState>> {
    let mut linker = Linker::new(engine);
    imports::add_to_linker(&mut linker)?;
    Ok(linker)
}

/// The component's main module compiled and linked for the direct path, or
/// None when the component is not of the supported shape.
pub(crate) fn prepare(
    engine: &wasmtime::Engine,
    linker: &Linker<HostState>,
    component: &[u8],
) -> Option<InstancePre<HostState>> {
    let module = main_module(component)?;
    // Read before compiling: a module of another shape (a JS engine of
    // megabytes, say) is not compiled a second time for nothing.
    let (imports, exports) = imports_and_exports(module)?;
    let exported = |name: &str| exports.contains(&name);
    let mut probe = Store::new(engine, HostState::new(String::new(), 0, [].into()));
    if ![MEMORY, REALLOC, INLINE_CALL, PACKED_CALL]
        .into_iter()
        .all(exported)
        || UNSUPPORTED_EXPORTS.into_iter().any(exported)
        || !imports
            .iter()
            .all(|(module, name)| linker.get(&mut probe, module, name).is_ok())
    {
        return None;
    }
    let module = Module::new(engine, module).ok()?;
    linker.instantiate_pre(&module).ok()
}

/// An import's module and name.
type ImportName<'a> = (&'a str, &'a str);

/// Each of `module`'s imports, and its exports' names.
fn imports_and_exports(module: &[u8]) -> Option<(Vec<ImportName<'_>>, Vec<&str>)> {
    let (mut imports, mut exports) = (Vec::new(), Vec::new());
    for payload in Parser::new(0).parse_all(module) {
        match payload.ok()? {
            Payload::ImportSection(section) => {
                for import in section {
                    let import = import.ok()?;
                    imports.push((import.module, import.name));
                }
            }
            Payload::ExportSection(section) => {
                for export in section {
                    exports.push(export.ok()?.name);
                }
            }
            _ => {}
        }
    }
    Some((imports, exports))
}

/// The bytes of the one core module of `component` that defines a memory,
/// if it lowers and lifts strings as UTF-8 only. (wit-component's other
/// modules, a shim and its fixup, only pass the lowered imports through a
/// table; its nested components only re-export functions and types.)
fn main_module(component: &[u8]) -> Option<&[u8]> {
    let mut main = None;
    for payload in Parser::new(0).parse_all(component) {
        match payload.ok()? {
            Payload::ModuleSection {
                unchecked_range, ..
            } => {
                let module = component.get(unchecked_range)?;
                if defines_memory(module)? {
                    if main.is_some() {
                        return None;
                    }
                    main = Some(module);
                }
            }
            Payload::ComponentCanonicalSection(functions) => {
                for function in functions {
                    let options = match function.ok()? {
                        CanonicalFunction::Lower { options, .. } => options,
                        CanonicalFunction::Lift { options, .. } => options,
                        _ => continue,
                    };
                    if options.iter().any(|option| {
                        matches!(
                            option,
                            CanonicalOption::UTF16 | CanonicalOption::CompactUTF16
                        )
                    }) {
                        return None;
                    }
                }
            }
            _ => {}
        }
    }
    main
}

/// Whether `module` defines a memory of its own.
fn defines_memory(module: &[u8]) -> Option<bool> {
    for payload in Parser::new(0).parse_all(module) {
        if let Payload::MemorySection(memories) = payload.ok()? {
            return Some(memories.count() > 0);
        }
    }
    Some(false)
}

/// A direct instance's entries.
pub(crate) struct Entry {
    inline: InlineFunc,
    packed: TypedFunc<(i32, i32), i32>,
    packed_post_return: Option<TypedFunc<i32, ()>>,
}

/// Instantiates `pre` in `store` and finds its entries.
pub(crate) fn instantiate(
    pre: &InstancePre<HostState>,
    store: &mut Store<HostState>,
) -> wasmtime::Result<Entry> {
    let instance = pre.instantiate(&mut *store)?;
    let realloc = instance.get_typed_func::<(i32, i32, i32, i32), i32>(&mut *store, REALLOC)?;
    // Asked once: the arena is a static of the guest's. A guest whose
    // export traps, runs past its tick or has another type gets no arena.
    let info = match instance.get_typed_func::<(), i32>(&mut *store, CALL_ARENA) {
        Ok(func) => {
            store.set_epoch_deadline(ARENA_QUERY_TICKS);
            let at = func.call(&mut *store, ()).ok();
            store.set_epoch_deadline(crate::library::deadline_ticks(DEFAULT_DEADLINE_MS));
            at
        }
        Err(_) => None,
    };
    let mut memory = GuestMemory {
        memory: instance
            .get_memory(&mut *store, MEMORY)
            .ok_or_else(|| wasmtime::format_err!("no memory export"))?,
        realloc: *realloc.func(),
        arena: None,
    };
    // `ArenaInfo`: the arena's address, then its region's size.
    memory.arena = info.and_then(|at| {
        let info = Guest::with_memory(store.as_context_mut(), memory)
            .read::<8>(at, 4)
            .ok()?;
        Some(Arena {
            state: i32_at(&info, 0) as u32,
            size: i32_at(&info, 4) as u32,
        })
    });
    store.data_mut().direct = Some(memory);
    Ok(Entry {
        inline: instance.get_typed_func(&mut *store, INLINE_CALL)?,
        packed: instance.get_typed_func(&mut *store, PACKED_CALL)?,
        packed_post_return: match instance.get_func(&mut *store, PACKED_POST_RETURN) {
            Some(func) => Some(func.typed(&*store)?),
            None => None,
        },
    })
}

impl Entry {
    /// `inline.call` with `request`: its reply, read from the return area.
    pub(crate) fn call_inline(
        &self,
        store: &mut Store<HostState>,
        request: &InlineRequest,
    ) -> wasmtime::Result<InlineReply> {
        let (len, w) = request.flat();
        let ret = self.inline.call(
            &mut *store,
            (
                len, w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7], w[8], w[9], w[10], w[11],
                w[12], w[13], w[14],
            ),
        )?;
        // `inline-reply`: the length, then 8 words from offset 8.
        let guest = Guest::new(store.as_context_mut())?;
        let area = guest.read::<72>(ret, 8)?;
        let words = std::array::from_fn(|i| {
            u64::from_le_bytes(area[8 + i * 8..16 + i * 8].try_into().expect("8 bytes"))
        });
        Ok(InlineReply::from_words(i32_at(&area, 0) as u32, words))
    }

    /// `packed.call` with `request`, copied into memory the guest
    /// allocates: the packed reply or the guest's error.
    pub(crate) fn call_packed(
        &self,
        store: &mut Store<HostState>,
        request: &[u8],
    ) -> wasmtime::Result<Result<Vec<u8>, GuestError>> {
        let (ptr, len) = Guest::new(store.as_context_mut())?.lower_bytes(request)?;
        let ret = self.packed.call(&mut *store, (ptr as i32, len as i32))?;
        // `result<bytes, error>`: the discriminant, then at 4 the bytes'
        // pointer and length, or the error's case, pointer and length.
        let guest = Guest::new(store.as_context_mut())?;
        let area = guest.read::<16>(ret, 4)?;
        let reply = match area[0] {
            0 => Ok(guest.bytes(i32_at(&area, 4), i32_at(&area, 8))?),
            1 => Err(guest.error(i32::from(area[4]), i32_at(&area, 8), i32_at(&area, 12))?),
            _ => bail!("invalid variant discriminant for `result`"),
        };
        if let Some(post_return) = &self.packed_post_return {
            post_return.call(&mut *store, ret)?;
        }
        Ok(reply)
    }
}
