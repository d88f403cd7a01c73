//! The handlers of the HTTP API. Each turns a request into `PATTERN.*`
//! commands and their replies into JSON; errors are [`ApiError`]s.

use crate::json::{argument, to_json};
use crate::metrics::CallLabels;
use crate::server::{ApiError, AppState, Reply};
use hyper::StatusCode;
use redis::Value;
use serde_json::{json, Value as Json};
use std::time::Instant;

type Result<T> = std::result::Result<T, ApiError>;

/// Error codes with which Redis refuses a command because it cannot serve
/// writes right now, though the command may succeed when retried: no primary
/// yet or a demoted one during a failover, too few replicas for
/// `min-replicas-to-write`, a dataset still loading, a cluster reshaping.
const UNAVAILABLE_CODES: &[&str] = &[
    "NOREPLICAS",
    "MASTERDOWN",
    "READONLY",
    "LOADING",
    "CLUSTERDOWN",
    "TRYAGAIN",
];

/// Whether a Redis error means "Redis cannot serve this now, retry later"
/// rather than anything about the call itself.
fn is_unavailable(e: &redis::RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_timeout()
        || matches!(
            e.kind(),
            redis::ErrorKind::MasterNameNotFoundBySentinel
                | redis::ErrorKind::NoValidReplicasFoundBySentinel
        )
        || e.code()
            .is_some_and(|code| UNAVAILABLE_CODES.contains(&code))
}

/// Maps a Redis error from a `PATTERN.*` command to an HTTP error.
fn redis_error(e: redis::RedisError) -> ApiError {
    if is_unavailable(&e) {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "redis_unavailable",
            e.to_string(),
        );
    }
    let text = match e.detail() {
        Some(detail) => format!("{} {detail}", e.code().unwrap_or(""))
            .trim()
            .to_string(),
        None => e.to_string(),
    };
    let (status, kind) = classify(&text);
    ApiError::new(status, kind, text)
}

/// The HTTP status and error kind of a `PATTERN.*` error text.
pub fn classify(text: &str) -> (StatusCode, &'static str) {
    let rules: &[(&str, StatusCode, &str)] = &[
        ("unknown library", StatusCode::NOT_FOUND, "unknown_library"),
        (
            "unknown function",
            StatusCode::NOT_FOUND,
            "unknown_function",
        ),
        (
            "not kept for this library",
            StatusCode::CONFLICT,
            "unknown_version",
        ),
        (
            "no earlier version",
            StatusCode::CONFLICT,
            "no_earlier_version",
        ),
        (
            "undeclared key",
            StatusCode::UNPROCESSABLE_ENTITY,
            "undeclared_key",
        ),
        (
            "outside the prefixes",
            StatusCode::UNPROCESSABLE_ENTITY,
            "key_outside_prefixes",
        ),
        (
            "write refused",
            StatusCode::UNPROCESSABLE_ENTITY,
            "write_in_read_only",
        ),
        (
            "not PATTERN.CALL_RO",
            StatusCode::UNPROCESSABLE_ENTITY,
            "write_in_read_only",
        ),
        (
            "command not allowed",
            StatusCode::UNPROCESSABLE_ENTITY,
            "command_not_allowed",
        ),
        (
            "budget exceeded",
            StatusCode::UNPROCESSABLE_ENTITY,
            "budget_exceeded",
        ),
        (
            "exceeded its deadline",
            StatusCode::UNPROCESSABLE_ENTITY,
            "budget_exceeded",
        ),
        ("guest trapped", StatusCode::UNPROCESSABLE_ENTITY, "trap"),
        ("WRONGTYPE", StatusCode::UNPROCESSABLE_ENTITY, "wrong_type"),
        // Redis Cluster: the call's keys are in several hash slots.
        ("CROSSSLOT", StatusCode::BAD_REQUEST, "cross_slot"),
    ];
    rules
        .iter()
        .find(|(needle, _, _)| text.contains(needle))
        .map(|(_, status, kind)| (*status, *kind))
        .unwrap_or((StatusCode::UNPROCESSABLE_ENTITY, "guest_error"))
}

/// `GET /healthz`.
pub async fn health(state: &AppState) -> Result<Reply> {
    let mut con = state.redis.clone();
    let modules: redis::RedisResult<Vec<Value>> =
        redis::cmd("MODULE").arg("LIST").query_async(&mut con).await;
    let modules = match modules {
        Ok(modules) => modules,
        Err(e) => {
            let body = json!({ "status": "unavailable", "redis": format!("unreachable: {e}") });
            return Ok(Reply::json(StatusCode::SERVICE_UNAVAILABLE, body));
        }
    };
    let module = modules
        .iter()
        .map(crate::server::fields)
        .find(|m| m.get("name") == Some(&json!("pattern-engine")));
    Ok(match module {
        Some(m) => Reply::json(
            StatusCode::OK,
            json!({ "status": "ok", "redis": "ok", "module": { "name": "pattern-engine", "version": m.get("ver") } }),
        ),
        None => Reply::json(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({ "status": "unavailable", "redis": "ok", "module": "not loaded" }),
        ),
    })
}

/// One library as the API shows it: versions, functions with docs and stats.
async fn library(state: &AppState, name: &str) -> Result<Json> {
    let con = state.redis.clone();
    let query = |command: &'static str| {
        let mut con = con.clone();
        async move {
            redis::cmd(command)
                .arg(name)
                .query_async::<Value>(&mut con)
                .await
                .map_err(redis_error)
        }
    };
    let described = query("PATTERN.DESCRIBE").await?;
    let versions = query("PATTERN.VERSIONS").await?;
    let stats = query("PATTERN.STATS").await?;
    let described = crate::server::fields(&described);
    let stats = crate::server::fields(&stats);
    let stats_by_function: Vec<Json> = stats
        .get("functions")
        .and_then(Json::as_array)
        .cloned()
        .unwrap_or_default();
    let functions: Vec<Json> = described
        .get("functions")
        .and_then(Json::as_array)
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|mut f| {
            let function_stats = stats_by_function
                .iter()
                .find(|s| s.get("name") == f.get("name"))
                .cloned();
            if let (Some(object), Some(mut s)) = (f.as_object_mut(), function_stats) {
                s.as_object_mut().map(|s| s.remove("name"));
                object.insert("stats".into(), s);
            }
            f
        })
        .collect();
    let versions = to_json(&versions);
    let current = versions
        .as_array()
        .and_then(|vs| vs.iter().find(|v| v["current"] == json!(true)))
        .map(|v| v["version"].clone())
        .unwrap_or(Json::Null);
    if let Some(version) = current.as_str() {
        state.remember_version(name, version);
    }
    Ok(json!({
        "name": name,
        "current_version": current,
        "library_version": described.get("library_version"),
        "key_prefixes": described.get("key_prefixes"),
        "budgets": described.get("budgets"),
        "entry": described.get("entry"),
        "versions": versions,
        "functions": functions,
    }))
}

/// `GET /v1/libraries`.
pub async fn list(state: &AppState) -> Result<Reply> {
    let mut con = state.redis.clone();
    let listed: Vec<Value> = redis::cmd("PATTERN.LIST")
        .query_async(&mut con)
        .await
        .map_err(redis_error)?;
    let mut libraries = Vec::new();
    for entry in &listed {
        if let Some(name) = crate::server::fields(entry)
            .get("name")
            .and_then(Json::as_str)
        {
            libraries.push(library(state, name).await?);
        }
    }
    Ok(Reply::json(
        StatusCode::OK,
        json!({ "libraries": libraries }),
    ))
}

/// `GET /v1/libraries/{name}`.
pub async fn get(state: &AppState, name: &str) -> Result<Reply> {
    Ok(Reply::json(StatusCode::OK, library(state, name).await?))
}

/// `PUT /v1/libraries/{name}`: the body is the component.
pub async fn put(state: &AppState, name: &str, body: &[u8]) -> Result<Reply> {
    if body.is_empty() {
        return Err(ApiError::bad_request(
            "the body must be the component's bytes (application/wasm)",
        ));
    }
    // Loading blocks its connection while the component compiles: use a
    // connection of its own, not the shared multiplexed one.
    let mut con = state.dedicated_connection().await.map_err(redis_error)?;
    let loaded: redis::RedisResult<(String, String, String)> = redis::cmd("PATTERN.LOAD")
        .arg("REPLACE")
        .arg("NAME")
        .arg(name)
        .arg(body)
        .query_async(&mut con)
        .await;
    let (_, version, outcome) = loaded.map_err(|e| match redis_error(e) {
        error if error.status == StatusCode::SERVICE_UNAVAILABLE => error,
        error => ApiError::new(StatusCode::BAD_REQUEST, "invalid_component", error.message),
    })?;
    state.remember_version(name, &version);
    let status = if outcome == "new" {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let mut body = library(state, name).await?;
    body["version"] = json!(version);
    body["outcome"] = json!(outcome);
    Ok(Reply::json(status, body))
}

/// `POST /v1/libraries/{name}/rollback` with an optional `{"version": ...}`.
pub async fn rollback(state: &AppState, name: &str, body: &[u8]) -> Result<Reply> {
    let version = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        let request: Json = serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))?;
        match request.get("version") {
            None | Some(Json::Null) => None,
            Some(Json::String(v)) => Some(v.clone()),
            Some(_) => return Err(ApiError::bad_request("\"version\" must be a string")),
        }
    };
    let mut con = state.redis.clone();
    let mut cmd = redis::cmd("PATTERN.ROLLBACK");
    cmd.arg(name);
    if let Some(version) = &version {
        cmd.arg(version);
    }
    let (_, now): (String, String) = cmd.query_async(&mut con).await.map_err(redis_error)?;
    state.remember_version(name, &now);
    Ok(Reply::json(
        StatusCode::OK,
        json!({ "name": name, "current_version": now }),
    ))
}

/// `DELETE /v1/libraries/{name}`.
pub async fn delete(state: &AppState, name: &str) -> Result<Reply> {
    let mut con = state.redis.clone();
    let _: Value = redis::cmd("PATTERN.DELETE")
        .arg(name)
        .query_async(&mut con)
        .await
        .map_err(redis_error)?;
    state.forget_version(name);
    Ok(Reply::json(StatusCode::OK, json!({ "deleted": name })))
}

/// The body of a call: `{"keys": [...], "args": [...]}`, both optional.
/// Binary-safe keys or arguments.
type Words = Vec<Vec<u8>>;

fn call_request(body: &[u8]) -> Result<(Words, Words)> {
    let request: Json = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))?
    };
    let Json::Object(fields) = &request else {
        return Err(ApiError::bad_request(
            "the body must be an object: {\"keys\": [...], \"args\": [...]}",
        ));
    };
    if let Some(unknown) = fields.keys().find(|k| *k != "keys" && *k != "args") {
        return Err(ApiError::bad_request(format!(
            "unknown field \"{unknown}\" (expected \"keys\" and \"args\")"
        )));
    }
    let list = |field: &str| -> Result<Words> {
        match fields.get(field) {
            None | Some(Json::Null) => Ok(Vec::new()),
            Some(Json::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    argument(item, &format!("{field}[{i}]")).map_err(ApiError::bad_request)
                })
                .collect(),
            Some(_) => Err(ApiError::bad_request(format!(
                "\"{field}\" must be an array"
            ))),
        }
    };
    Ok((list("keys")?, list("args")?))
}

/// `POST /v1/call/{library}.{function}`.
pub async fn call(state: &AppState, target: &str, body: &[u8]) -> Result<Reply> {
    let Some((library, function)) = target
        .split_once('.')
        .filter(|(l, f)| !l.is_empty() && !f.is_empty())
    else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_function",
            format!("expected /v1/call/<library>.<function>, got '{target}'"),
        ));
    };
    let (keys, args) = call_request(body)?;
    let version = state.current_version(library).await;
    let started = Instant::now();
    let mut con = state.redis.clone();
    let result: redis::RedisResult<Value> = redis::cmd("PATTERN.CALL")
        .arg(target)
        .arg(keys.len())
        .arg(&keys)
        .arg(&args)
        .query_async(&mut con)
        .await;
    let result = result.map_err(redis_error);
    // Unknown targets are not recorded: labels must not grow with whatever
    // names clients send.
    let known = !matches!(&result, Err(e) if e.status == StatusCode::NOT_FOUND);
    if known {
        let labels = CallLabels {
            library: library.into(),
            version,
            function: function.into(),
        };
        state
            .metrics
            .record(&labels, started.elapsed(), result.is_err());
    }
    let value = result?;
    Ok(Reply::json(
        StatusCode::OK,
        json!({ "result": to_json(&value) }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_classify_by_kind() {
        for (text, status, kind) in [
            ("ERR unknown library 'x'", 404, "unknown_library"),
            (
                "ERR unknown function 'f' in library 'x'",
                404,
                "unknown_function",
            ),
            (
                "ERR undeclared key 'k': pass every key",
                422,
                "undeclared_key",
            ),
            (
                "ERR key 'k' is outside the prefixes library 'l' declared (rate:)",
                422,
                "key_outside_prefixes",
            ),
            (
                "ERR call exceeded its deadline of 500 ms and was stopped",
                422,
                "budget_exceeded",
            ),
            ("WRONGTYPE Operation against a key", 422, "wrong_type"),
            ("ERR <limit> must be a positive integer", 422, "guest_error"),
        ] {
            let (s, k) = classify(text);
            assert_eq!((s.as_u16(), k), (status, kind), "{text}");
        }
    }

    #[test]
    fn errors_redis_may_lift_by_retrying_are_unavailable() {
        let code = |code: &str, detail: &str| {
            redis::make_extension_error(code.to_string(), Some(detail.to_string()))
        };
        for (error, status, kind) in [
            (
                code("NOREPLICAS", "Not enough good replicas to write."),
                503,
                "redis_unavailable",
            ),
            (
                code("MASTERDOWN", "Link with MASTER is down"),
                503,
                "redis_unavailable",
            ),
            (
                code("LOADING", "Redis is loading the dataset"),
                503,
                "redis_unavailable",
            ),
            (
                redis::RedisError::from((
                    redis::ErrorKind::MasterNameNotFoundBySentinel,
                    "Master with given name not found in sentinel",
                )),
                503,
                "redis_unavailable",
            ),
            (
                redis::RedisError::from(std::io::Error::from(
                    std::io::ErrorKind::ConnectionRefused,
                )),
                503,
                "redis_unavailable",
            ),
            (code("ERR", "unknown library 'x'"), 404, "unknown_library"),
            (
                code("ERR", "<limit> must be a positive integer"),
                422,
                "guest_error",
            ),
        ] {
            let text = error.to_string();
            let e = redis_error(error);
            assert_eq!((e.status.as_u16(), e.kind), (status, kind), "{text}");
        }
    }

    #[test]
    fn call_bodies_are_checked_field_by_field() {
        assert_eq!(call_request(b"").unwrap(), (vec![], vec![]));
        let (keys, args) = call_request(br#"{"keys": ["k"], "args": [5, "60"]}"#).unwrap();
        assert_eq!(
            (keys, args),
            (vec![b"k".to_vec()], vec![b"5".to_vec(), b"60".to_vec()])
        );
        for (body, reason) in [
            (&b"{"[..], "invalid JSON"),
            (b"[1]", "must be an object"),
            (br#"{"keys": "k"}"#, "\"keys\" must be an array"),
            (br#"{"args": [null]}"#, "args[0] must be"),
            (br#"{"kyes": []}"#, "unknown field \"kyes\""),
        ] {
            let e = call_request(body).unwrap_err();
            assert_eq!(e.status, StatusCode::BAD_REQUEST);
            assert!(
                e.message.contains(reason),
                "{}: {}",
                String::from_utf8_lossy(body),
                e.message
            );
        }
    }
}
