//! The HTTP routes: one table, used by the router and checked against the
//! OpenAPI document (`openapi.json`).

/// What a route does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Health,
    Metrics,
    OpenApi,
    ListLibraries,
    GetLibrary,
    PutLibrary,
    DeleteLibrary,
    Rollback,
    Call,
    RedlockAcquire,
    RedlockRelease,
    RedlockExtend,
}

/// Method, path pattern (`{x}` matches one segment), route.
pub const ROUTES: &[(&str, &str, Route)] = &[
    ("GET", "/healthz", Route::Health),
    ("GET", "/metrics", Route::Metrics),
    ("GET", "/v1/openapi.json", Route::OpenApi),
    ("GET", "/v1/libraries", Route::ListLibraries),
    ("GET", "/v1/libraries/{name}", Route::GetLibrary),
    ("PUT", "/v1/libraries/{name}", Route::PutLibrary),
    ("DELETE", "/v1/libraries/{name}", Route::DeleteLibrary),
    ("POST", "/v1/libraries/{name}/rollback", Route::Rollback),
    ("POST", "/v1/call/{target}", Route::Call),
    ("POST", "/v1/redlock/acquire", Route::RedlockAcquire),
    ("POST", "/v1/redlock/release", Route::RedlockRelease),
    ("POST", "/v1/redlock/extend", Route::RedlockExtend),
];

/// Why no route matched.
#[derive(Debug, PartialEq, Eq)]
pub enum Miss {
    /// No route has this path.
    NotFound,
    /// The path exists with other methods.
    MethodNotAllowed(Vec<&'static str>),
}

/// Finds the route for `method` and `path`, with the path's parameters.
pub fn find(method: &str, path: &str) -> Result<(Route, Vec<String>), Miss> {
    let mut allowed = Vec::new();
    for (route_method, pattern, route) in ROUTES {
        if let Some(params) = matches(pattern, path) {
            if *route_method == method {
                return Ok((*route, params));
            }
            allowed.push(*route_method);
        }
    }
    if allowed.is_empty() {
        Err(Miss::NotFound)
    } else {
        Err(Miss::MethodNotAllowed(allowed))
    }
}

fn matches(pattern: &str, path: &str) -> Option<Vec<String>> {
    let pattern: Vec<&str> = pattern.trim_matches('/').split('/').collect();
    let path: Vec<&str> = path
        .trim_end_matches('/')
        .trim_start_matches('/')
        .split('/')
        .collect();
    if pattern.len() != path.len() {
        return None;
    }
    let mut params = Vec::new();
    for (p, s) in pattern.iter().zip(&path) {
        if p.starts_with('{') {
            if s.is_empty() {
                return None;
            }
            params.push(percent_decode(s));
        } else if p != s {
            return None;
        }
    }
    Some(params)
}

/// Decodes `%XX` escapes of a path segment.
fn percent_decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_routes_and_parameters() {
        assert_eq!(
            find("GET", "/v1/libraries"),
            Ok((Route::ListLibraries, vec![]))
        );
        assert_eq!(
            find("PUT", "/v1/libraries/lock"),
            Ok((Route::PutLibrary, vec!["lock".into()]))
        );
        assert_eq!(
            find("POST", "/v1/call/lock.acquire"),
            Ok((Route::Call, vec!["lock.acquire".into()]))
        );
        assert_eq!(
            find("POST", "/v1/call/a%2Eb"),
            Ok((Route::Call, vec!["a.b".into()]))
        );
        assert_eq!(find("GET", "/nope"), Err(Miss::NotFound));
        assert_eq!(
            find("POST", "/v1/libraries"),
            Err(Miss::MethodNotAllowed(vec!["GET"]))
        );
        assert_eq!(find("GET", "/v1/libraries//rollback"), Err(Miss::NotFound));
    }

    /// Every route is in the OpenAPI document and every documented
    /// operation is a route.
    #[test]
    fn openapi_document_matches_the_routes() {
        let doc: serde_json::Value = serde_json::from_str(include_str!("openapi.json")).unwrap();
        let mut documented: Vec<(String, String)> = doc["paths"]
            .as_object()
            .unwrap()
            .iter()
            .flat_map(|(path, ops)| {
                ops.as_object()
                    .unwrap()
                    .keys()
                    .filter(|k| *k != "parameters")
                    .map(move |m| (m.to_uppercase(), path.clone()))
            })
            .collect();
        let mut routed: Vec<(String, String)> = ROUTES
            .iter()
            .map(|(m, p, _)| (m.to_string(), p.to_string()))
            .collect();
        documented.sort();
        routed.sort();
        assert_eq!(documented, routed);
    }
}
