//! The minimal WASI (preview 2, synchronous bindings) that guests built by
//! toolchains which require it import: componentize-js, componentize-py and
//! wasi-libc C.
//!
//! What is linked, and what each gets:
//!
//! - `wasi:clocks` (wall clock, monotonic clock) and `wasi:random` (secure,
//!   insecure, insecure seed): the host's, as a program expects them.
//! - `wasi:cli` stdout and stderr: captured, cut into lines and written to
//!   the call's log (`Backend::log`; stdout at `Info`, stderr at `Warn`) when
//!   the call ends, at most [`MAX_OUTPUT_BYTES_PER_CALL`] bytes a call. Stdin
//!   is empty, the environment and the arguments are empty, there is no
//!   current directory, and `exit` traps the call.
//! - `wasi:io` (error, poll, streams), which the above need.
//! - `wasi:filesystem` with no preopened directory: a guest can hold no
//!   descriptor, so every file operation is impossible. It is linked only
//!   because componentize-js imports it even when the guest never opens a
//!   file.
//! - `wasi:sockets` with every capability off: no TCP, no UDP, no name
//!   lookup, and no address passes the address check, so every socket
//!   operation fails with `access-denied`. componentize-py imports it in
//!   every component.
//!
//! Anything else outside this list and the pattern world (other WASI
//! proposals such as `wasi:http`, any other package) is refused at load with
//! the name of the import.
//!
//! Rust guests import no WASI. Their store carries an empty `Option`: the
//! WASI context is only built the first time a guest calls a WASI function,
//! so their calls cost what they cost before.
//!
//! `wasmtime-wasi` 49 requires wasmtime's `async` feature even for its
//! synchronous bindings; the sync bindings run their few blocking waits on
//! a Tokio runtime of wasmtime-wasi's own, started lazily. Captured output
//! is always ready, so only a guest that waits on a clock ever blocks there.
//! Every interface with a blocking function is linked from the `sync`
//! bindings: one async host function in the linker (since 49,
//! `ip-name-lookup`'s stream destructor in the default bindings) makes
//! wasmtime refuse to instantiate, on a synchronous store, any component
//! that imports it.

use crate::backend::{Backend, LogLevel};
use crate::host::HostState;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};

use wasmtime_wasi::cli::{IsTerminal, StdoutStream, WasiCli, WasiCliView};
use wasmtime_wasi::clocks::{WasiClocks, WasiClocksView};
use wasmtime_wasi::filesystem::{WasiFilesystem, WasiFilesystemView};
use wasmtime_wasi::p2::bindings::{cli, clocks, filesystem, random, sockets, sync};
use wasmtime_wasi::p2::{DynPollable, OutputStream, Pollable, StreamError};
use wasmtime_wasi::random::WasiRandom;
use wasmtime_wasi::sockets::{WasiSockets, WasiSocketsView};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// Most bytes of stdout plus stderr kept from one call (the rest is dropped
/// and the log says so). Output is for debugging; a guest printing in a loop
/// must not fill Redis's log or memory.
pub const MAX_OUTPUT_BYTES_PER_CALL: usize = 64 * 1024;

/// A library instance's WASI state, built on first use.
pub struct WasiState {
    ctx: WasiCtx,
    table: ResourceTable,
    stdout: LogPipe,
    stderr: LogPipe,
}

impl WasiState {
    fn new() -> Self {
        let stdout = LogPipe::default();
        let stderr = LogPipe::default();
        // The builder's defaults are the policy: no preopened directories, no
        // environment, no arguments, no network, empty stdin.
        let ctx = WasiCtx::builder()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_ip_name_lookup(false)
            .allow_tcp(false)
            .allow_udp(false)
            .build();
        Self {
            ctx,
            table: ResourceTable::new(),
            stdout,
            stderr,
        }
    }

    /// Writes what the guest printed since the last flush to `backend`'s log,
    /// one log line per output line.
    pub(crate) fn flush(&self, backend: &mut dyn Backend, library: &str) {
        for (pipe, level) in [
            (&self.stdout, LogLevel::Info),
            (&self.stderr, LogLevel::Warn),
        ] {
            let (bytes, dropped) = pipe.take();
            for line in String::from_utf8_lossy(&bytes).lines() {
                if !line.is_empty() {
                    backend.log(level, library, line);
                }
            }
            if dropped > 0 {
                backend.log(
                    LogLevel::Warn,
                    library,
                    &format!("{dropped} bytes of output dropped (over {MAX_OUTPUT_BYTES_PER_CALL} bytes in one call)"),
                );
            }
        }
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        let state = self.wasi.get_or_insert_with(|| Box::new(WasiState::new()));
        WasiCtxView {
            ctx: &mut state.ctx,
            table: &mut state.table,
        }
    }
}

/// Access to the resource table alone (streams, pollables, errors).
struct WasiTable;

impl HasData for WasiTable {
    type Data<'a> = &'a mut ResourceTable;
}

fn table(state: &mut HostState) -> &mut ResourceTable {
    state.ctx().table
}

fn random(state: &mut HostState) -> &mut wasmtime_wasi::random::WasiRandomCtx {
    state.ctx().ctx.random()
}

/// `wasi:io/poll` that never waits. A call runs on Redis's main thread and
/// its deadline is enforced between Wasm instructions; a guest blocked in a
/// host wait (Python's `time.sleep`, a read that is not ready) would hold
/// Redis past the deadline. So `poll` returns the pollables that are ready
/// and `block` returns when its pollable is ready; when nothing is, the call
/// traps with a reason instead of waiting.
pub struct NeverWait<'a>(&'a mut ResourceTable);

/// The `HasData` marker for [`NeverWait`].
struct NeverWaitData;

impl HasData for NeverWaitData {
    type Data<'a> = NeverWait<'a>;
}

/// The trap of a guest that would wait.
const WAIT_REFUSED: &str =
    "a call may not wait (sleep or blocking I/O): nothing it polled for is ready";

impl sync::io::poll::Host for NeverWait<'_> {
    fn poll(&mut self, pollables: Vec<Resource<DynPollable>>) -> wasmtime::Result<Vec<u32>> {
        use sync::io::poll::HostPollable;
        let mut ready = Vec::new();
        for (index, pollable) in pollables.iter().enumerate() {
            if self.0.ready(Resource::new_borrow(pollable.rep()))? {
                ready.push(index as u32);
            }
        }
        if ready.is_empty() && !pollables.is_empty() {
            wasmtime::bail!(WAIT_REFUSED);
        }
        Ok(ready)
    }
}

impl sync::io::poll::HostPollable for NeverWait<'_> {
    fn ready(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<bool> {
        self.0.ready(pollable)
    }

    fn block(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<()> {
        if self.0.ready(pollable)? {
            Ok(())
        } else {
            wasmtime::bail!(WAIT_REFUSED)
        }
    }

    fn drop(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<()> {
        sync::io::poll::HostPollable::drop(self.0, pollable)
    }
}

/// Links the WASI interfaces listed in the module docs, and nothing else.
pub fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    let l = linker;
    sync::io::error::add_to_linker::<HostState, WasiTable>(l, table)?;
    sync::io::poll::add_to_linker::<HostState, NeverWaitData>(l, |s| NeverWait(table(s)))?;
    sync::io::streams::add_to_linker::<HostState, WasiTable>(l, table)?;
    let fs = HostState::filesystem;
    filesystem::preopens::add_to_linker::<HostState, WasiFilesystem>(l, fs)?;
    sync::filesystem::types::add_to_linker::<HostState, WasiFilesystem>(l, fs)?;
    clocks::wall_clock::add_to_linker::<HostState, WasiClocks>(l, HostState::clocks)?;
    clocks::monotonic_clock::add_to_linker::<HostState, WasiClocks>(l, HostState::clocks)?;
    random::random::add_to_linker::<HostState, WasiRandom>(l, random)?;
    random::insecure::add_to_linker::<HostState, WasiRandom>(l, random)?;
    random::insecure_seed::add_to_linker::<HostState, WasiRandom>(l, random)?;
    let net = HostState::sockets;
    let options = wasmtime_wasi::p2::bindings::LinkOptions::default();
    sockets::network::add_to_linker::<HostState, WasiSockets>(l, &(&options).into(), net)?;
    sockets::instance_network::add_to_linker::<HostState, WasiSockets>(l, net)?;
    sync::sockets::ip_name_lookup::add_to_linker::<HostState, WasiSockets>(l, net)?;
    sockets::tcp_create_socket::add_to_linker::<HostState, WasiSockets>(l, net)?;
    sync::sockets::udp_create_socket::add_to_linker::<HostState, WasiSockets>(l, net)?;
    sync::sockets::tcp::add_to_linker::<HostState, WasiSockets>(l, net)?;
    sync::sockets::udp::add_to_linker::<HostState, WasiSockets>(l, net)?;
    cli::exit::add_to_linker::<HostState, WasiCli>(l, HostState::cli)?;
    cli::environment::add_to_linker::<HostState, WasiCli>(l, HostState::cli)?;
    cli::stdin::add_to_linker::<HostState, WasiCli>(l, HostState::cli)?;
    cli::stdout::add_to_linker::<HostState, WasiCli>(l, HostState::cli)?;
    cli::stderr::add_to_linker::<HostState, WasiCli>(l, HostState::cli)?;
    cli::terminal_input::add_to_linker::<HostState, WasiCli>(l, HostState::cli)?;
    cli::terminal_output::add_to_linker::<HostState, WasiCli>(l, HostState::cli)?;
    cli::terminal_stdin::add_to_linker::<HostState, WasiCli>(l, HostState::cli)?;
    cli::terminal_stdout::add_to_linker::<HostState, WasiCli>(l, HostState::cli)?;
    cli::terminal_stderr::add_to_linker::<HostState, WasiCli>(l, HostState::cli)?;
    Ok(())
}

/// Captured stdout or stderr: a bounded buffer shared by every stream the
/// guest opens on it, drained into the log at the end of each call.
#[derive(Clone, Default)]
struct LogPipe {
    inner: Arc<Mutex<PipeBuffer>>,
}

#[derive(Default)]
struct PipeBuffer {
    bytes: Vec<u8>,
    dropped: usize,
}

impl LogPipe {
    fn append(&self, bytes: &[u8]) {
        let mut buffer = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let room = MAX_OUTPUT_BYTES_PER_CALL.saturating_sub(buffer.bytes.len());
        let kept = bytes.len().min(room);
        buffer.bytes.extend_from_slice(&bytes[..kept]);
        buffer.dropped += bytes.len() - kept;
    }

    /// The buffered bytes and the count of dropped ones; empties the buffer.
    fn take(&self) -> (Vec<u8>, usize) {
        let mut buffer = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let dropped = std::mem::take(&mut buffer.dropped);
        (std::mem::take(&mut buffer.bytes), dropped)
    }
}

impl IsTerminal for LogPipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for LogPipe {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }

    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl OutputStream for LogPipe {
    /// Never fails: output past the bound is counted and dropped, so a
    /// chatty guest keeps running.
    fn write(&mut self, bytes: bytes::Bytes) -> Result<(), StreamError> {
        self.append(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(MAX_OUTPUT_BYTES_PER_CALL)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for LogPipe {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for LogPipe {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.append(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_past_the_bound_is_counted_and_dropped() {
        let pipe = LogPipe::default();
        pipe.append(&vec![b'x'; MAX_OUTPUT_BYTES_PER_CALL - 1]);
        pipe.append(b"abc");
        let (bytes, dropped) = pipe.take();
        assert_eq!(bytes.len(), MAX_OUTPUT_BYTES_PER_CALL);
        assert_eq!(dropped, 2);
        assert_eq!(pipe.take(), (Vec::new(), 0));
    }
}
