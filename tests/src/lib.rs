//! Test context: a real `redis-server` per test, on a free loopback port,
//! with the module loaded, in its own temporary directory.
//!
//! Artifacts come from `cargo xtask test` (which builds them first): the
//! module at `target/debug/libpattern_engine.so`, components in
//! `target/components/`.
//!
//! - [`cluster`]: a local 6-node Redis Cluster from `deploy/`.
//! - [`http`]: an HTTP client and a running gateway.
//! - [`load`]: a steady load of calls through a gateway, for failover tests.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub mod cluster;
pub mod http;
pub mod load;

pub use redis;

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

/// The module's shared library.
pub fn module_path() -> PathBuf {
    let path = target_dir().join("debug/libpattern_engine.so");
    assert!(
        path.exists(),
        "{} is missing: run the tests with `cargo xtask test`",
        path.display()
    );
    path
}

/// The bytes of a component built by `cargo xtask components` (bundled or
/// test guest).
pub fn component(name: &str) -> Vec<u8> {
    let file = format!("{name}.wasm");
    let bundled = target_dir().join("components").join(&file);
    let path = if bundled.exists() {
        bundled
    } else {
        target_dir().join("test-components").join(&file)
    };
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}: run the tests with `cargo xtask test`",
            path.display()
        )
    })
}

/// The directory of the bundled components.
pub fn components_dir() -> PathBuf {
    target_dir().join("components")
}

/// The gateway binary.
pub fn gateway_path() -> PathBuf {
    let path = target_dir().join("debug/pattern-engine");
    assert!(
        path.exists(),
        "{} is missing: run the tests with `cargo xtask test`",
        path.display()
    );
    path
}

/// Options of a test server.
#[derive(Clone, Default)]
pub struct ServerOptions {
    /// Load the module (true unless a test wants a plain Redis).
    pub without_module: bool,
    /// Module arguments after the path.
    pub module_args: Vec<String>,
    /// Extra `redis-server` arguments (`--appendonly yes`, ...).
    pub extra: Vec<String>,
    /// Reuse this directory (restart tests); a new one otherwise.
    pub dir: Option<PathBuf>,
    /// Reuse this port (restart tests).
    pub port: Option<u16>,
    /// A configuration file read first (the options above override it).
    pub config: Option<PathBuf>,
}

/// A running `redis-server`, stopped when dropped.
pub struct Server {
    child: Option<Child>,
    pub port: u16,
    pub dir: PathBuf,
    owns_dir: bool,
}

/// Times a server started on a port of [`free_port`] is tried on another
/// when that port was taken before Redis could bind it.
const PORT_ATTEMPTS: usize = 3;

/// A port nobody listens on now, on loopback.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Server {
    /// Starts a server with the module and nothing loaded.
    pub fn start() -> Self {
        Self::with(ServerOptions::default())
    }

    pub fn with(options: ServerOptions) -> Self {
        // A port free a moment ago may be taken by the time Redis binds it
        // (another test's client got it as its local port): a server that
        // could not bind a port it was not given starts again on another.
        let attempts = if options.port.is_some() {
            1
        } else {
            PORT_ATTEMPTS
        };
        for attempt in 1..=attempts {
            let port = options.port.unwrap_or_else(free_port);
            let mut server = Self::spawn(&options, port);
            match server.wait_ready() {
                Ok(()) => return server,
                Err(why) if attempt < attempts && why.contains("Address already in use") => {}
                Err(why) => panic!("{why}"),
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    fn spawn(options: &ServerOptions, port: u16) -> Self {
        let (dir, owns_dir) = match &options.dir {
            Some(dir) => (dir.clone(), false),
            None => {
                let dir = std::env::temp_dir()
                    .join(format!("pattern-test-{}-{port}", std::process::id()));
                let _ = std::fs::remove_dir_all(&dir);
                std::fs::create_dir_all(&dir).unwrap();
                (dir, true)
            }
        };
        let mut cmd = Command::new("redis-server");
        if let Some(config) = &options.config {
            cmd.arg(config);
        }
        cmd.args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
        ])
        .arg("--dir")
        .arg(&dir)
        .args(["--logfile", "redis.log"]);
        if !options.without_module {
            cmd.arg("--loadmodule")
                .arg(module_path())
                .args(&options.module_args);
        }
        cmd.args(&options.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = cmd
            .spawn()
            .expect("redis-server on PATH (apt-get install redis-server)");
        Self {
            child: Some(child),
            port,
            dir,
            owns_dir,
        }
    }

    /// Waits for the server to answer; why not, with its log.
    fn wait_ready(&mut self) -> Result<(), String> {
        let started = Instant::now();
        loop {
            if !self.alive() {
                return Err(format!(
                    "redis-server exited at start; log:\n{}",
                    self.log()
                ));
            }
            if let Ok(mut con) = self.try_connection() {
                if redis::cmd("PING").query::<String>(&mut con).is_ok() && self.answers(&mut con) {
                    return Ok(());
                }
            }
            if started.elapsed() > Duration::from_secs(10) {
                return Err(format!("redis-server did not start; log:\n{}", self.log()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether `con` reaches this server's own process. Two tests can be
    /// handed the same free port: the other test's server, up first,
    /// answers on it while this one is still starting (and will fail to
    /// bind it), and the two tests would share one server.
    fn answers(&self, con: &mut redis::Connection) -> bool {
        let Some(pid) = self.child.as_ref().map(Child::id) else {
            return false;
        };
        let info: String = match redis::cmd("INFO").arg("server").query(con) {
            Ok(info) => info,
            Err(_) => return false,
        };
        info.lines()
            .filter_map(|line| line.strip_prefix("process_id:"))
            .any(|id| id.trim() == pid.to_string())
    }

    fn try_connection(&self) -> redis::RedisResult<redis::Connection> {
        redis::Client::open(self.url())?.get_connection_with_timeout(Duration::from_secs(5))
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// A new connection, or why there is none.
    pub fn connection_checked(&self) -> redis::RedisResult<redis::Connection> {
        self.try_connection()
    }

    /// A new connection.
    pub fn connection(&self) -> redis::Connection {
        self.try_connection().expect("connect to the test server")
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("redis.log")).unwrap_or_default()
    }

    /// Stops the server with SHUTDOWN (saving when persistence is on) and
    /// keeps its directory; returns the directory and the port.
    pub fn shutdown(mut self) -> (PathBuf, u16) {
        let mut con = self.connection();
        let _: redis::RedisResult<()> = redis::cmd("SHUTDOWN").query(&mut con);
        if let Some(mut child) = self.child.take() {
            let _ = child.wait();
        }
        self.owns_dir = false;
        (self.dir.clone(), self.port)
    }

    /// Loads a component built by `cargo xtask components`; returns
    /// `(name, version)`.
    pub fn load(&self, name: &str) -> (String, String) {
        let (name, version, _outcome): (String, String, String) = redis::cmd("PATTERN.LOAD")
            .arg("REPLACE")
            .arg(component(name))
            .query(&mut self.connection())
            .unwrap_or_else(|e| panic!("loading {name}: {e}"));
        (name, version)
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if self.owns_dir && !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Shorthand: `PATTERN.CALL target numkeys keys... args...` on `con`.
pub fn call<T: redis::FromRedisValue>(
    con: &mut redis::Connection,
    target: &str,
    keys: &[&str],
    args: &[&str],
) -> redis::RedisResult<T> {
    redis::cmd("PATTERN.CALL")
        .arg(target)
        .arg(keys.len())
        .arg(keys)
        .arg(args)
        .query(con)
}

/// Shorthand for `PATTERN.CALL_RO`.
pub fn call_ro<T: redis::FromRedisValue>(
    con: &mut redis::Connection,
    target: &str,
    keys: &[&str],
    args: &[&str],
) -> redis::RedisResult<T> {
    redis::cmd("PATTERN.CALL_RO")
        .arg(target)
        .arg(keys.len())
        .arg(keys)
        .arg(args)
        .query(con)
}

/// The text of a Redis error, code included ("ERR ...").
pub fn error_text(e: &redis::RedisError) -> String {
    format!("{} {}", e.code().unwrap_or(""), e.detail().unwrap_or(""))
        .trim()
        .to_string()
}

/// A map reply as RESP2 delivers it (a flat array of key, value, ...), by key.
pub fn fields(value: &redis::Value) -> std::collections::HashMap<String, redis::Value> {
    match value {
        redis::Value::Array(items) => items
            .chunks(2)
            .filter_map(|pair| match pair {
                [redis::Value::BulkString(k), v] => {
                    Some((String::from_utf8_lossy(k).into_owned(), v.clone()))
                }
                _ => None,
            })
            .collect(),
        redis::Value::Map(pairs) => pairs
            .iter()
            .filter_map(|(k, v)| match k {
                redis::Value::BulkString(k) => {
                    Some((String::from_utf8_lossy(k).into_owned(), v.clone()))
                }
                _ => None,
            })
            .collect(),
        other => panic!("not a map: {other:?}"),
    }
}

/// Library name → current version on `server` (`PATTERN.LIST`).
pub fn libraries(server: &Server) -> std::collections::BTreeMap<String, String> {
    let listed: Vec<redis::Value> = redis::cmd("PATTERN.LIST")
        .query(&mut server.connection())
        .unwrap();
    let text = |v: &redis::Value| match v {
        redis::Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        other => panic!("not a string: {other:?}"),
    };
    listed
        .iter()
        .map(|entry| {
            let f = fields(entry);
            (text(&f["name"]), text(&f["version"]))
        })
        .collect()
}

/// `component` with a custom section appended: the same library, other
/// bytes, so another version.
pub fn variant(component: &[u8], tag: &str) -> Vec<u8> {
    let mut payload = vec![tag.len() as u8];
    payload.extend_from_slice(tag.as_bytes());
    let mut bytes = component.to_vec();
    bytes.push(0); // custom section
    bytes.push(payload.len() as u8);
    bytes.extend(payload);
    bytes
}

/// The value of field `name` in an `INFO` reply (`name:value` lines).
pub fn info_field<'a>(info: &'a str, name: &str) -> Option<&'a str> {
    info.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
        .map(str::trim)
}

/// The source of a Lua twin in `bench/lua/`.
pub fn lua(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../bench/lua")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
