//! The HTTP server: routing, access control, bounded concurrency, body and
//! time limits. Handlers live in [`crate::api`].

use crate::backend::Connection;
use crate::cluster::Cluster;
use crate::config::{Auth, Config};
use crate::json::to_json;
use crate::metrics::Metrics;
use crate::routes::{self, Miss, Route};
use crate::sentinel::Sentinel;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{
    HeaderValue, ALLOW, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE,
};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value as Json};
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// How long a cached "current version" of a library (a metrics label) is
/// trusted before asking Redis again; uploads through this gateway refresh
/// it at once.
const VERSION_CACHE_TTL: Duration = Duration::from_secs(10);

/// How new connections are made.
enum Backend {
    Single(Box<redis::Client>),
    Cluster(Arc<Cluster>),
    Sentinel(Arc<Sentinel>),
}

/// What every handler shares.
pub struct AppState {
    pub config: Config,
    backend: Backend,
    /// The shared connection every handler queries.
    pub redis: Connection,
    pub metrics: Metrics,
    /// The Redlock client over `[redlock] masters`, when configured.
    pub redlock: Option<pattern_redlock::Redlock>,
    limiter: Arc<Semaphore>,
    versions: Mutex<HashMap<String, (String, Instant)>>,
}

impl AppState {
    /// Connects to Redis (RESP3, so replies keep their types): the primary
    /// behind `[redis] sentinels` when set, else the Redis Cluster of
    /// `[redis] cluster_nodes` when set, else the Redis at `url`.
    pub async fn connect(config: Config, url: &str) -> anyhow::Result<Self> {
        // The redis crate gives up on a reply after 500 ms by default; a call
        // may legitimately run up to its deadline, so the gateway's own
        // request timeout is the bound.
        let timeout = Duration::from_millis(config.gateway.request_timeout_ms);
        let (backend, redis) = if !config.redis.sentinels.is_empty() {
            let sentinel = Arc::new(Sentinel::new(
                &config.redis.sentinels,
                &config.redis.sentinel_master,
                timeout,
            )?);
            (
                Backend::Sentinel(sentinel.clone()),
                Connection::Sentinel(sentinel),
            )
        } else if config.redis.cluster_nodes.is_empty() {
            let client = redis::Client::open(with_resp3(url).as_str())?;
            let manager_config =
                redis::aio::ConnectionManagerConfig::new().set_response_timeout(Some(timeout));
            let manager =
                redis::aio::ConnectionManager::new_with_config(client.clone(), manager_config)
                    .await?;
            (
                Backend::Single(Box::new(client)),
                Connection::Single(manager),
            )
        } else {
            let cluster = Arc::new(Cluster::new(&config.redis.cluster_nodes, timeout)?);
            let con = cluster.connect().await?;
            let interval = Duration::from_millis(config.redis.reconcile_interval_ms.max(1));
            tokio::spawn(cluster.clone().keep_reconciled(con.clone(), interval));
            (
                Backend::Cluster(cluster.clone()),
                Connection::Cluster(con, cluster),
            )
        };
        let limiter = Arc::new(Semaphore::new(config.gateway.max_concurrency.max(1)));
        let redlock = match config.redlock.masters.as_slice() {
            [] => None,
            masters => Some(pattern_redlock::Redlock::new(
                masters,
                config.redlock.options(),
            )?),
        };
        Ok(Self {
            config,
            backend,
            redis,
            metrics: Metrics::new(),
            redlock,
            limiter,
            versions: Mutex::new(HashMap::new()),
        })
    }

    /// A connection of its own (uploads block theirs while compiling), with
    /// the request timeout as its response timeout.
    pub async fn dedicated_connection(&self) -> redis::RedisResult<Connection> {
        match &self.backend {
            Backend::Single(client) => {
                let timeout = Some(Duration::from_millis(
                    self.config.gateway.request_timeout_ms,
                ));
                let config = redis::AsyncConnectionConfig::new().set_response_timeout(timeout);
                let con = client
                    .get_multiplexed_async_connection_with_config(&config)
                    .await?;
                Ok(Connection::Dedicated(con))
            }
            Backend::Cluster(cluster) => Ok(Connection::Cluster(
                cluster.connect().await?,
                cluster.clone(),
            )),
            Backend::Sentinel(sentinel) => Ok(Connection::Dedicated(sentinel.dedicated().await?)),
        }
    }

    pub fn remember_version(&self, library: &str, version: &str) {
        let mut versions = self.versions.lock().unwrap_or_else(|e| e.into_inner());
        versions.insert(library.to_string(), (version.to_string(), Instant::now()));
    }

    pub fn forget_version(&self, library: &str) {
        self.versions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(library);
    }

    /// The library's current version, for metric labels ("unknown" if Redis
    /// cannot say).
    pub async fn current_version(&self, library: &str) -> String {
        if let Some((version, at)) = self
            .versions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(library)
        {
            if at.elapsed() < VERSION_CACHE_TTL {
                return version.clone();
            }
        }
        let mut con = self.redis.clone();
        let listed: redis::RedisResult<redis::Value> = redis::cmd("PATTERN.VERSIONS")
            .arg(library)
            .query_async(&mut con)
            .await;
        let current = listed.ok().and_then(|v| {
            to_json(&v)
                .as_array()?
                .iter()
                .find(|v| v["current"] == json!(true))
                .and_then(|v| v["version"].as_str().map(str::to_string))
        });
        match current {
            Some(version) => {
                self.remember_version(library, &version);
                version
            }
            None => "unknown".into(),
        }
    }
}

/// `url` with `protocol=resp3` in its query (before any `#fragment`).
pub(crate) fn with_resp3(url: &str) -> String {
    if url.contains("protocol=") {
        return url.to_string();
    }
    let (base, fragment) = match url.split_once('#') {
        Some((base, fragment)) => (base, format!("#{fragment}")),
        None => (url, String::new()),
    };
    let separator = if base.contains('?') { '&' } else { '?' };
    format!("{base}{separator}protocol=resp3{fragment}")
}

/// A map reply (RESP3 map, or RESP2 flat array) as a JSON object.
pub fn fields(value: &redis::Value) -> serde_json::Map<String, Json> {
    match to_json(value) {
        Json::Object(map) => map,
        Json::Array(items) => items
            .chunks(2)
            .filter_map(|pair| Some((pair[0].as_str()?.to_string(), pair.get(1)?.clone())))
            .collect(),
        _ => serde_json::Map::new(),
    }
}

/// An HTTP error with a JSON body `{"error": {"kind", "message"}}`.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub kind: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    fn into_reply(self) -> Reply {
        Reply::json(
            self.status,
            json!({ "error": { "kind": self.kind, "message": self.message } }),
        )
    }
}

/// A response under construction.
pub struct Reply {
    status: StatusCode,
    content_type: &'static str,
    body: Bytes,
    headers: Vec<(hyper::header::HeaderName, HeaderValue)>,
}

impl Reply {
    pub fn json(status: StatusCode, body: Json) -> Self {
        Self {
            status,
            content_type: "application/json",
            body: Bytes::from(body.to_string()),
            headers: Vec::new(),
        }
    }

    pub fn text(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Self {
        Self {
            status,
            content_type,
            body: body.into(),
            headers: Vec::new(),
        }
    }

    fn with_header(mut self, name: hyper::header::HeaderName, value: &str) -> Self {
        if let Ok(value) = HeaderValue::from_str(value) {
            self.headers.push((name, value));
        }
        self
    }

    fn into_response(self) -> Response<Full<Bytes>> {
        let mut response = Response::new(Full::new(self.body));
        *response.status_mut() = self.status;
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(self.content_type));
        for (name, value) in self.headers {
            response.headers_mut().insert(name, value);
        }
        response
    }
}

/// Who may use a route.
enum Access {
    Open,
    AnyToken,
    Admin,
    Call(String),
}

fn access(route: Route, params: &[String]) -> Access {
    match route {
        Route::Health | Route::OpenApi => Access::Open,
        Route::Metrics | Route::ListLibraries | Route::GetLibrary => Access::AnyToken,
        Route::PutLibrary | Route::DeleteLibrary | Route::Rollback => Access::Admin,
        Route::Call => Access::Call(params[0].split('.').next().unwrap_or_default().to_string()),
        // Redlock runs the lock library on its masters.
        Route::RedlockAcquire | Route::RedlockRelease | Route::RedlockExtend => {
            Access::Call("lock".into())
        }
    }
}

/// Compares secrets in time independent of where they differ.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Checks the bearer token against the route's access rule.
fn authorize(auth: &Auth, header: Option<&HeaderValue>, rule: &Access) -> Result<(), ApiError> {
    if !auth.enabled() || matches!(rule, Access::Open) {
        return Ok(());
    }
    let token = header
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "missing bearer token",
            )
        })?;
    let admin = !auth.admin_token.is_empty() && same_secret(token, &auth.admin_token);
    let call = auth
        .call_tokens
        .iter()
        .find(|t| same_secret(token, &t.token));
    if !admin && call.is_none() {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "invalid bearer token",
        ));
    }
    let allowed = admin
        || match rule {
            Access::Open | Access::AnyToken => true,
            Access::Admin => false,
            Access::Call(library) => {
                call.is_some_and(|t| t.libraries.is_empty() || t.libraries.contains(library))
            }
        };
    if allowed {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "this token may not do that",
        ))
    }
}

async fn body_bytes(request: Request<Incoming>, limit: usize) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the body is over the limit of {limit} bytes"),
        )
    };
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    match Limited::new(request.into_body(), limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Err(e) => Err(ApiError::bad_request(format!(
            "could not read the body: {e}"
        ))),
    }
}

async fn dispatch(
    state: &AppState,
    route: Route,
    params: &[String],
    body: Bytes,
) -> Result<Reply, ApiError> {
    use crate::api;
    match route {
        Route::Health => api::health(state).await,
        Route::Metrics => Ok(Reply::text(
            StatusCode::OK,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            state.metrics.encode(),
        )),
        Route::OpenApi => Ok(Reply::text(
            StatusCode::OK,
            "application/json",
            include_str!("openapi.json"),
        )),
        Route::ListLibraries => api::list(state).await,
        Route::GetLibrary => api::get(state, &params[0]).await,
        Route::PutLibrary => api::put(state, &params[0], &body).await,
        Route::DeleteLibrary => api::delete(state, &params[0]).await,
        Route::Rollback => api::rollback(state, &params[0], &body).await,
        Route::Call => api::call(state, &params[0], &body).await,
        Route::RedlockAcquire => crate::redlock::acquire(state, &body).await,
        Route::RedlockRelease => crate::redlock::release(state, &body).await,
        Route::RedlockExtend => crate::redlock::extend(state, &body).await,
    }
}

/// Handles one request, start to finish.
pub async fn handle(state: Arc<AppState>, request: Request<Incoming>) -> Reply {
    let path = request.uri().path().to_string();
    let (route, params) = match routes::find(request.method().as_str(), &path) {
        Ok(found) => found,
        Err(Miss::NotFound) => {
            return ApiError::new(
                StatusCode::NOT_FOUND,
                "no_route",
                format!("no route {path}"),
            )
            .into_reply()
        }
        Err(Miss::MethodNotAllowed(allowed)) => {
            let message = format!("{} is not allowed on {path}", request.method());
            return ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                message,
            )
            .into_reply()
            .with_header(ALLOW, &allowed.join(", "));
        }
    };
    if let Err(e) = authorize(
        &state.config.auth,
        request.headers().get(AUTHORIZATION),
        &access(route, &params),
    ) {
        let unauthorized = e.status == StatusCode::UNAUTHORIZED;
        let reply = e.into_reply();
        return if unauthorized {
            reply.with_header(WWW_AUTHENTICATE, "Bearer")
        } else {
            reply
        };
    }
    let Ok(_permit) = state.limiter.clone().try_acquire_owned() else {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "saturated",
            "too many requests in flight; retry shortly",
        )
        .into_reply()
        .with_header(RETRY_AFTER, "1");
    };
    let timeout = Duration::from_millis(state.config.gateway.request_timeout_ms);
    let work = async {
        let body = body_bytes(request, state.config.gateway.max_body_bytes).await?;
        dispatch(&state, route, &params, body).await
    };
    match tokio::time::timeout(timeout, work).await {
        Ok(Ok(reply)) => reply,
        Ok(Err(e)) => e.into_reply(),
        Err(_) => ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "timeout",
            format!("the request took longer than {} ms", timeout.as_millis()),
        )
        .into_reply(),
    }
}

/// Serves HTTP on `listener` until `shutdown` completes, then lets requests
/// in flight finish.
pub async fn serve(
    state: Arc<AppState>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let state = state.clone();
                let service = service_fn(move |request| {
                    let state = state.clone();
                    async move { Ok::<_, std::convert::Infallible>(handle(state, request).await.into_response()) }
                });
                let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
                let connection = graceful.watch(connection);
                tokio::spawn(async move {
                    if let Err(e) = connection.await {
                        tracing::debug!("connection ended: {e}");
                    }
                });
            }
            () = &mut shutdown => break,
        }
    }
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(Duration::from_secs(10)) => tracing::warn!("requests still running after 10 s; stopping"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CallToken;

    fn auth() -> Auth {
        Auth {
            admin_token: "admin".into(),
            call_tokens: vec![
                CallToken {
                    token: "any".into(),
                    libraries: vec![],
                },
                CallToken {
                    token: "rl".into(),
                    libraries: vec!["ratelimit".into()],
                },
            ],
        }
    }

    fn check(token: Option<&str>, rule: Access) -> u16 {
        let header = token.map(|t| HeaderValue::from_str(&format!("Bearer {t}")).unwrap());
        match authorize(&auth(), header.as_ref(), &rule) {
            Ok(()) => 200,
            Err(e) => e.status.as_u16(),
        }
    }

    #[test]
    fn resp3_goes_into_the_query() {
        assert_eq!(with_resp3("redis://h:1/"), "redis://h:1/?protocol=resp3");
        assert_eq!(
            with_resp3("rediss://h:1/#insecure"),
            "rediss://h:1/?protocol=resp3#insecure"
        );
        assert_eq!(
            with_resp3("redis://h/0?password=x"),
            "redis://h/0?password=x&protocol=resp3"
        );
        assert_eq!(
            with_resp3("redis://h/?protocol=resp2"),
            "redis://h/?protocol=resp2"
        );
    }

    #[test]
    fn tokens_grant_what_they_should() {
        let call = |lib: &str| Access::Call(lib.into());
        let cases = [
            (None, Access::Open, 200),
            (None, Access::AnyToken, 401),
            (Some("wrong"), Access::AnyToken, 401),
            (Some("any"), Access::AnyToken, 200),
            (Some("any"), Access::Admin, 403),
            (Some("admin"), Access::Admin, 200),
            (Some("any"), call("lock"), 200),
            (Some("rl"), call("ratelimit"), 200),
            (Some("rl"), call("lock"), 403),
            (Some("admin"), call("lock"), 200),
            (None, call("lock"), 401),
        ];
        for (token, rule, status) in cases {
            assert_eq!(check(token, rule), status, "{token:?}");
        }
        assert!(
            authorize(&Auth::default(), None, &Access::Admin).is_ok(),
            "no tokens configured: open"
        );
    }
}
