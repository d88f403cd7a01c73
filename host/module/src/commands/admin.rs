//! `PATTERN.LIST`, `PATTERN.DESCRIBE <lib>` (functions, key prefixes and
//! effective budgets), `PATTERN.STATS [lib]`,
//! `PATTERN.DELETE <lib>`. Replies are maps (flattened to arrays for RESP2
//! clients), built as reply trees and written by [`crate::reply`].

use super::{args, OK};
use crate::registry::Entry;
use crate::{registry, reply};
use pattern_runtime::budgets::BUDGETS;
use pattern_runtime::library::Param;
use pattern_runtime::{Library, Node};
use redis_module::raw;
use redis_module::Context;
use std::ffi::c_int;

type Argv = *mut *mut raw::RedisModuleString;
type Ctx = *mut raw::RedisModuleCtx;

fn text(s: &str) -> Node {
    Node::Bulk(s.as_bytes().to_vec())
}

/// Appends a map header and its pairs built by `fields`.
fn map(out: &mut Vec<Node>, pairs: u32, fields: impl FnOnce(&mut Vec<Node>)) {
    out.push(Node::Map(pairs));
    fields(out);
}

fn params(out: &mut Vec<Node>, params: &[Param]) {
    out.push(Node::Array(params.len() as u32));
    for p in params {
        map(out, 3, |out| {
            out.extend([text("name"), text(&p.name), text("doc"), text(&p.doc)]);
            out.extend([text("optional"), Node::Boolean(p.optional)]);
        });
    }
}

fn summary(out: &mut Vec<Node>, entry: &Entry) {
    let library = entry.current();
    map(out, 4, |out| {
        out.extend([
            text("name"),
            text(library.name()),
            text("version"),
            text(library.version()),
        ]);
        out.extend([
            text("library_version"),
            text(&library.info().version),
            text("functions"),
        ]);
        out.push(Node::Array(library.info().functions.len() as u32));
        out.extend(library.info().functions.iter().map(|f| text(&f.name)));
    });
}

/// The library's capabilities and budgets: its key prefixes (empty: any
/// key) and the per-call budgets it runs with.
fn confinement(out: &mut Vec<Node>, library: &Library) {
    out.push(text("key_prefixes"));
    out.push(Node::Array(library.info().key_prefixes.len() as u32));
    out.extend(library.info().key_prefixes.iter().map(|p| text(p)));
    out.push(text("budgets"));
    map(out, BUDGETS.len() as u32, |out| {
        for budget in &BUDGETS {
            let value = budget.value(library.budgets());
            out.extend([text(budget.name), Node::Integer(value as i64)]);
        }
    });
}

fn description(out: &mut Vec<Node>, entry: &Entry) {
    let library = entry.current();
    map(out, 7, |out| {
        out.extend([
            text("name"),
            text(library.name()),
            text("version"),
            text(library.version()),
        ]);
        out.extend([
            text("library_version"),
            text(&library.info().version),
            text("functions"),
        ]);
        out.push(Node::Array(library.info().functions.len() as u32));
        for f in &library.info().functions {
            map(out, 6, |out| {
                out.extend([
                    text("name"),
                    text(&f.name),
                    text("summary"),
                    text(&f.summary),
                ]);
                out.extend([text("read_only"), Node::Boolean(f.read_only)]);
                out.extend([
                    text("dynamic_keys"),
                    Node::Boolean(f.dynamic_keys),
                    text("keys"),
                ]);
                params(out, &f.keys);
                out.push(text("args"));
                params(out, &f.args);
            });
        }
        confinement(out, library);
        // How calls enter the library: its core module directly, or
        // through the component (see pattern_runtime::direct).
        out.extend([
            text("entry"),
            text(match library.is_direct() {
                true => "direct",
                false => "component",
            }),
        ]);
    });
}

fn statistics(out: &mut Vec<Node>, entry: &Entry) {
    let library = entry.current();
    map(out, 4, |out| {
        out.extend([
            text("name"),
            text(library.name()),
            text("version"),
            text(library.version()),
            text("instance_memory_bytes"),
            Node::Integer(library.instance_memory() as i64),
        ]);
        out.push(text("functions"));
        out.push(Node::Array(library.info().functions.len() as u32));
        for (f, s) in library.stats() {
            map(out, 8, |out| {
                out.extend([text("name"), text(&f.name)]);
                out.extend([text("calls"), Node::Integer(s.calls as i64)]);
                out.extend([text("errors"), Node::Integer(s.errors as i64)]);
                out.extend([
                    text("total_us"),
                    Node::Integer(s.total_time.as_micros() as i64),
                ]);
                out.extend([
                    text("mean_us"),
                    Node::Integer(s.mean_time().as_micros() as i64),
                ]);
                out.extend([text("host_calls"), Node::Integer(s.host_calls as i64)]);
                out.extend([text("fuel"), Node::Integer(s.fuel as i64)]);
                out.extend([
                    text("peak_memory_bytes"),
                    Node::Integer(s.peak_memory as i64),
                ]);
            });
        }
    });
}

/// Replies with one entry per library (or only `args[1]`, when given).
unsafe fn per_library(
    ctx: Ctx,
    argv: Argv,
    argc: c_int,
    entry: fn(&mut Vec<Node>, &Entry),
) -> c_int {
    let words = args(argv, argc);
    let libraries = registry::libraries();
    let mut out = Vec::new();
    match &words[1..] {
        [] => {
            out.push(Node::Array(libraries.len() as u32));
            libraries
                .values()
                .for_each(|library| entry(&mut out, library));
        }
        [name] => match libraries.get(&*String::from_utf8_lossy(name)) {
            Some(library) => entry(&mut out, library),
            None => {
                return reply::error(
                    ctx,
                    &format!("ERR unknown library '{}'", String::from_utf8_lossy(name)),
                )
            }
        },
        _ => {
            return reply::error(
                ctx,
                "ERR wrong number of arguments: expected at most one library name",
            )
        }
    }
    reply::write(&Context::new(ctx), &out);
    OK
}

/// `PATTERN.LIST`: name, version, library version and function names.
pub(crate) unsafe extern "C" fn list(ctx: Ctx, argv: Argv, argc: c_int) -> c_int {
    if argc != 1 {
        return reply::error(
            ctx,
            "ERR wrong number of arguments: PATTERN.LIST takes none",
        );
    }
    per_library(ctx, argv, argc, summary)
}

/// `PATTERN.DESCRIBE <lib>`: the library's own description of every function.
pub(crate) unsafe extern "C" fn describe(ctx: Ctx, argv: Argv, argc: c_int) -> c_int {
    if argc != 2 {
        return reply::error(
            ctx,
            "ERR wrong number of arguments: PATTERN.DESCRIBE <library>",
        );
    }
    per_library(ctx, argv, argc, description)
}

/// `PATTERN.STATS [lib]`: calls, errors, total and mean time per function.
pub(crate) unsafe extern "C" fn stats(ctx: Ctx, argv: Argv, argc: c_int) -> c_int {
    per_library(ctx, argv, argc, statistics)
}

/// The kept versions, oldest first.
fn versions(out: &mut Vec<Node>, entry: &Entry) {
    out.push(Node::Array(entry.versions().len() as u32));
    for (index, version) in entry.versions().iter().enumerate() {
        let library: &Library = &version.library;
        map(out, 4, |out| {
            out.extend([text("version"), text(library.version())]);
            out.extend([text("library_version"), text(&library.info().version)]);
            out.extend([
                text("uploaded_at_ms"),
                Node::Integer(version.uploaded_at_ms as i64),
            ]);
            out.extend([
                text("current"),
                Node::Boolean(index == entry.current_index()),
            ]);
        });
    }
}

/// `PATTERN.VERSIONS <lib>`: the kept versions, oldest first.
pub(crate) unsafe extern "C" fn list_versions(ctx: Ctx, argv: Argv, argc: c_int) -> c_int {
    if argc != 2 {
        return reply::error(
            ctx,
            "ERR wrong number of arguments: PATTERN.VERSIONS <library>",
        );
    }
    per_library(ctx, argv, argc, versions)
}

/// `PATTERN.ROLLBACK <lib> [version]`: makes the version loaded before the
/// current one (or the named one) current; replies `[name, version]`.
/// Propagated with the version named, so replicas land on the same one.
pub(crate) unsafe extern "C" fn rollback(ctx: Ctx, argv: Argv, argc: c_int) -> c_int {
    let words = args(argv, argc);
    let (name, wanted) = match &words[1..] {
        [name] => (String::from_utf8_lossy(name).into_owned(), None),
        [name, version] => (
            String::from_utf8_lossy(name).into_owned(),
            Some(String::from_utf8_lossy(version).into_owned()),
        ),
        _ => {
            return reply::error(
                ctx,
                "ERR wrong number of arguments: PATTERN.ROLLBACK <library> [version]",
            )
        }
    };
    let mut libraries = registry::libraries();
    let Some(entry) = libraries.get_mut(&name) else {
        return reply::error(ctx, &format!("ERR unknown library '{name}'"));
    };
    let version = match entry.rollback(wanted.as_deref()) {
        Ok(version) => version.to_string(),
        Err(e) => return reply::error(ctx, &e),
    };
    let (c_name, c_version) = (text_c(&name), text_c(&version));
    raw::RedisModule_Replicate.unwrap()(
        ctx,
        c"PATTERN.ROLLBACK".as_ptr(),
        c"cc".as_ptr(),
        c_name.as_ptr(),
        c_version.as_ptr(),
    );
    reply::write(
        &Context::new(ctx),
        &[Node::Array(2), text(&name), text(&version)],
    );
    OK
}

fn text_c(s: &str) -> std::ffi::CString {
    std::ffi::CString::new(s.replace('\0', "")).expect("NUL removed")
}

/// `PATTERN.DELETE <lib>`: removes the library; propagated verbatim.
pub(crate) unsafe extern "C" fn delete(ctx: Ctx, argv: Argv, argc: c_int) -> c_int {
    if argc != 2 {
        return reply::error(
            ctx,
            "ERR wrong number of arguments: PATTERN.DELETE <library>",
        );
    }
    let words = args(argv, argc);
    let name = String::from_utf8_lossy(words[1]).into_owned();
    if registry::libraries().remove(&name).is_none() {
        return reply::error(ctx, &format!("ERR unknown library '{name}'"));
    }
    raw::RedisModule_ReplicateVerbatim.unwrap()(ctx);
    reply::write(&Context::new(ctx), &[Node::Status("OK".into())]);
    OK
}
