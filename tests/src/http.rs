//! A minimal HTTP/1.1 client for the gateway tests (one request per
//! connection, `Connection: close`), and a running gateway process.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A response: status, headers (lower-case names), body.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The `error.kind` of a JSON error body.
    pub fn kind(&self) -> String {
        self.json()["error"]["kind"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

/// Sends one request to `base` (`http://host:port`).
pub fn request(base: &str, method: &str, path: &str, token: Option<&str>, body: &[u8]) -> Response {
    let address = base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).expect("connect to the gateway");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(token) = token {
        head.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    // The server may answer (413) before reading a large body.
    let _ = stream.write_all(body);
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .expect("status line")
        .parse()
        .unwrap();
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line).unwrap();
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').unwrap();
        headers.push((name.to_ascii_lowercase(), value.trim().to_string()));
    }
    let mut body = Vec::new();
    reader.read_to_end(&mut body).unwrap();
    Response {
        status,
        headers,
        body,
    }
}

/// A running `pattern-engine`, stopped (SIGTERM, then kill) when dropped.
pub struct Gateway {
    child: Child,
    pub url: String,
    /// Everything it printed on stdout before listening.
    pub banner: Vec<String>,
}

impl Gateway {
    /// Runs `pattern-engine <args>` with `env`, waits for its
    /// "listening on" line.
    pub fn start(args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut cmd = Command::new(crate::gateway_path());
        cmd.args(["--config", "/nonexistent/engine.toml"])
            .args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut banner = Vec::new();
        let url = loop {
            let line = lines
                .next()
                .unwrap_or_else(|| panic!("pattern-engine exited before listening: {banner:?}"))
                .unwrap();
            if let Some(url) = line.strip_prefix("pattern-engine listening on ") {
                break url.to_string();
            }
            banner.push(line);
        };
        // Keep draining stdout so the process never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Self { child, url, banner }
    }

    pub fn request(&self, method: &str, path: &str, token: Option<&str>, body: &[u8]) -> Response {
        request(&self.url, method, path, token, body)
    }

    /// Uploads the component `name` as a new library version; returns the
    /// version.
    pub fn upload(&self, name: &str) -> String {
        let path = format!("/v1/libraries/{name}");
        let response = self.request("PUT", &path, None, &crate::component(name));
        assert_eq!(
            response.status,
            201,
            "uploading {name}: {}",
            response.text()
        );
        response.json()["version"].as_str().unwrap().to_string()
    }

    /// Stops it with SIGTERM and waits; true when it exited by itself.
    pub fn terminate(&mut self) -> bool {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        for _ in 0..300 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if !matches!(self.child.try_wait(), Ok(Some(_))) && !self.terminate() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
