//! `POST /v1/redlock/{acquire,release,extend}`: Redlock over the
//! independent masters of `[redlock] masters` (the `pattern-redlock`
//! crate), for clients that cannot run the algorithm themselves.

use crate::server::{ApiError, AppState, Reply};
use hyper::StatusCode;
use pattern_redlock::{Error, Redlock};
use serde::Deserialize;
use serde_json::json;
use std::time::Duration;

type Result<T> = std::result::Result<T, ApiError>;

/// The body of every Redlock route; which fields are required depends on
/// the route.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    resource: Option<String>,
    owner: Option<String>,
    ttl_ms: Option<u64>,
}

fn parse(body: &[u8]) -> Result<Body> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!(
            "invalid body: {e} (expected {{\"resource\", \"owner\", \"ttl_ms\"}})"
        ))
    })
}

fn required<T>(value: Option<T>, field: &str) -> Result<T> {
    value.ok_or_else(|| ApiError::bad_request(format!("\"{field}\" is required")))
}

fn ttl(body: &Body) -> Result<Duration> {
    match required(body.ttl_ms, "ttl_ms")? {
        0 => Err(ApiError::bad_request("\"ttl_ms\" must be positive")),
        ms => Ok(Duration::from_millis(ms)),
    }
}

fn resource(body: &Body) -> Result<&str> {
    match body.resource.as_deref() {
        Some("") => Err(ApiError::bad_request("\"resource\" must not be empty")),
        other => required(other, "resource"),
    }
}

fn client(state: &AppState) -> Result<&Redlock> {
    state.redlock.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "redlock_not_configured",
            "Redlock is off: list its masters in [redlock] masters of engine.toml",
        )
    })
}

fn refused(e: Error) -> ApiError {
    match e {
        Error::NotAcquired { .. } => {
            ApiError::new(StatusCode::CONFLICT, "not_acquired", e.to_string())
        }
        Error::NotExtended { .. } => {
            ApiError::new(StatusCode::CONFLICT, "not_extended", e.to_string())
        }
        Error::Config(_) => ApiError::bad_request(e.to_string()),
    }
}

/// `POST /v1/redlock/acquire` `{"resource", "ttl_ms"}` → owner, fencing
/// token, validity.
pub async fn acquire(state: &AppState, body: &[u8]) -> Result<Reply> {
    let redlock = client(state)?;
    let body = parse(body)?;
    let lock = redlock
        .acquire(resource(&body)?, ttl(&body)?)
        .await
        .map_err(refused)?;
    Ok(Reply::json(
        StatusCode::OK,
        json!({
            "resource": lock.resource,
            "owner": lock.owner,
            "token": lock.token,
            "validity_ms": lock.validity.as_millis() as u64,
        }),
    ))
}

/// `POST /v1/redlock/release` `{"resource", "owner"}` → on how many
/// masters it was released.
pub async fn release(state: &AppState, body: &[u8]) -> Result<Reply> {
    let redlock = client(state)?;
    let body = parse(body)?;
    let owner = required(body.owner.as_deref(), "owner")?;
    let released = redlock.release(resource(&body)?, owner).await;
    Ok(Reply::json(StatusCode::OK, json!({ "released": released })))
}

/// `POST /v1/redlock/extend` `{"resource", "owner", "ttl_ms"}` → the new
/// validity, or 409 when a majority no longer holds it for this owner.
pub async fn extend(state: &AppState, body: &[u8]) -> Result<Reply> {
    let redlock = client(state)?;
    let body = parse(body)?;
    let owner = required(body.owner.as_deref(), "owner")?;
    let validity = redlock
        .extend(resource(&body)?, owner, ttl(&body)?)
        .await
        .map_err(refused)?;
    Ok(Reply::json(
        StatusCode::OK,
        json!({ "validity_ms": validity.as_millis() as u64 }),
    ))
}
