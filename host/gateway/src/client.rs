//! The CLI's side of the HTTP API: `deploy`, `call`, `list`, `describe`,
//! `rollback`, `delete` are requests to a running gateway.

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value as Json};
use std::io::Write;
use std::path::Path;
use std::time::Instant;

pub struct Api {
    base: String,
    token: Option<String>,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Api {
    pub fn new(base: &str, token: Option<String>) -> Self {
        Self {
            base: base.trim_end_matches('/').to_string(),
            token,
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<(Bytes, &str)>,
    ) -> Result<(StatusCode, Json)> {
        let url = format!("{}{path}", self.base);
        let mut builder = Request::builder().method(method).uri(&url);
        if let Some(token) = &self.token {
            builder = builder.header("authorization", format!("Bearer {token}"));
        }
        let request = match body {
            Some((bytes, content_type)) => builder
                .header("content-type", content_type)
                .body(Full::new(bytes))?,
            None => builder.body(Full::new(Bytes::new()))?,
        };
        let response = self.client.request(request).await.with_context(|| {
            format!(
                "cannot reach the gateway at {} (is `pattern-engine up` running?)",
                self.base
            )
        })?;
        let status = response.status();
        let bytes = response.into_body().collect().await?.to_bytes();
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| json!(String::from_utf8_lossy(&bytes)));
        Ok((status, body))
    }

    /// Prints the body; fails with the API's error message on an error status.
    fn report(status: StatusCode, body: &Json) -> Result<()> {
        if status.is_success() {
            println!("{}", serde_json::to_string_pretty(body)?);
            Ok(())
        } else {
            let message = body["error"]["message"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| body.to_string());
            bail!("{status}: {message}")
        }
    }

    pub async fn deploy(&self, file: &Path, name: Option<String>) -> Result<()> {
        let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
        let name = match name {
            Some(name) => name,
            None => file
                .file_stem()
                .and_then(|s| s.to_str())
                .map(str::to_string)
                .context("cannot take a library name from the file name: pass --name")?,
        };
        eprintln!(
            "uploading {} ({} KiB) as library '{name}'",
            file.display(),
            bytes.len() / 1024
        );
        let started = Instant::now();
        let progress = tokio::spawn(async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                eprint!("\rcompiling in Redis... {} s", started.elapsed().as_secs());
                let _ = std::io::stderr().flush();
            }
        });
        let path = format!("/v1/libraries/{name}");
        let result = self
            .request(
                Method::PUT,
                &path,
                Some((Bytes::from(bytes), "application/wasm")),
            )
            .await;
        progress.abort();
        eprintln!(
            "\rdone in {:.1} s                 ",
            started.elapsed().as_secs_f64()
        );
        let (status, body) = result?;
        Self::report(status, &body)
    }

    pub async fn call(&self, target: &str, keys: Vec<String>, args: Vec<String>) -> Result<()> {
        let body = json!({ "keys": keys, "args": args }).to_string();
        let (status, body) = self
            .request(
                Method::POST,
                &format!("/v1/call/{target}"),
                Some((Bytes::from(body), "application/json")),
            )
            .await?;
        Self::report(status, &body)
    }

    pub async fn list(&self) -> Result<()> {
        let (status, body) = self.request(Method::GET, "/v1/libraries", None).await?;
        Self::report(status, &body)
    }

    pub async fn describe(&self, name: &str) -> Result<()> {
        let (status, body) = self
            .request(Method::GET, &format!("/v1/libraries/{name}"), None)
            .await?;
        Self::report(status, &body)
    }

    pub async fn rollback(&self, name: &str, to: Option<String>) -> Result<()> {
        let body = json!({ "version": to }).to_string();
        let path = format!("/v1/libraries/{name}/rollback");
        let (status, body) = self
            .request(
                Method::POST,
                &path,
                Some((Bytes::from(body), "application/json")),
            )
            .await?;
        Self::report(status, &body)
    }

    pub async fn delete(&self, name: &str) -> Result<()> {
        let (status, body) = self
            .request(Method::DELETE, &format!("/v1/libraries/{name}"), None)
            .await?;
        Self::report(status, &body)
    }
}
