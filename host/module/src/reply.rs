//! Writes a reply tree to the calling client.
//!
//! The tree is already validated and in pre-order, which is exactly the
//! order RESP writes it: an aggregate's header, then its children. Redis
//! adapts RESP3 types (maps, sets, booleans, doubles) for RESP2 clients.

use pattern_runtime::Node;
use redis_module::raw;
use redis_module::Context;
use std::ffi::{c_char, CString};

/// Writes `nodes` (one complete tree) as the command's reply.
pub fn write(ctx: &Context, nodes: &[Node]) {
    let ctx = ctx.ctx;
    for node in nodes {
        unsafe {
            match node {
                Node::Nil => raw::RedisModule_ReplyWithNull.unwrap()(ctx),
                Node::Integer(n) => raw::RedisModule_ReplyWithLongLong.unwrap()(ctx, *n),
                Node::Double(d) => raw::RedisModule_ReplyWithDouble.unwrap()(ctx, *d),
                Node::Boolean(b) => raw::RedisModule_ReplyWithBool.unwrap()(ctx, *b as i32),
                Node::BigNumber(text) => raw::RedisModule_ReplyWithBigNumber.unwrap()(
                    ctx,
                    text.as_ptr() as *const c_char,
                    text.len(),
                ),
                Node::Status(text) => {
                    let line = c_line(text);
                    raw::RedisModule_ReplyWithSimpleString.unwrap()(ctx, line.as_ptr())
                }
                Node::Error(text) => error(ctx, text),
                Node::Bulk(data) => raw::RedisModule_ReplyWithStringBuffer.unwrap()(
                    ctx,
                    data.as_ptr() as *const c_char,
                    data.len(),
                ),
                Node::Verbatim(v) => {
                    let mut format = [b't' as c_char; 4];
                    for (slot, byte) in format.iter_mut().zip(v.format.bytes().take(3)) {
                        *slot = byte as c_char;
                    }
                    format[3] = 0;
                    raw::RedisModule_ReplyWithVerbatimStringType.unwrap()(
                        ctx,
                        v.text.as_ptr() as *const c_char,
                        v.text.len(),
                        format.as_ptr(),
                    )
                }
                Node::Array(n) => raw::RedisModule_ReplyWithArray.unwrap()(ctx, *n as _),
                Node::Map(n) => raw::RedisModule_ReplyWithMap.unwrap()(ctx, *n as _),
                Node::Set(n) => raw::RedisModule_ReplyWithSet.unwrap()(ctx, *n as _),
            };
        }
    }
}

/// Writes a one-line error reply.
pub(crate) fn error(ctx: *mut raw::RedisModuleCtx, text: &str) -> i32 {
    let line = c_line(text);
    unsafe { raw::RedisModule_ReplyWithError.unwrap()(ctx, line.as_ptr()) }
}

/// A RESP simple line: no CR, LF or NUL.
fn c_line(text: &str) -> CString {
    let clean: String = text
        .chars()
        .map(|c| {
            if matches!(c, '\r' | '\n' | '\0') {
                ' '
            } else {
                c
            }
        })
        .collect();
    CString::new(clean).expect("NUL bytes removed")
}
