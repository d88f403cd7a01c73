//! The gateway over real HTTP against a real redis-server with the module.

use pattern_tests::http::{request, Gateway};
use pattern_tests::{
    component, components_dir, free_port, gateway_path, module_path, variant, Server, ServerOptions,
};
use serde_json::{json, Value as Json};
use sha2::{Digest, Sha256};

fn serve(server: &Server, env: &[(&str, &str)]) -> Gateway {
    Gateway::start(
        &[
            "serve",
            "--redis-url",
            &server.url(),
            "--listen",
            "127.0.0.1:0",
        ],
        env,
    )
}

fn call_body(keys: &[&str], args: &[Json]) -> Vec<u8> {
    json!({ "keys": keys, "args": args })
        .to_string()
        .into_bytes()
}

#[test]
fn upload_call_same_bytes_rollback_delete() {
    let server = Server::start();
    let gateway = serve(&server, &[]);
    let v1_bytes = component("lock");
    let v1 = hex::encode(Sha256::digest(&v1_bytes));

    let created = gateway.request("PUT", "/v1/libraries/lock", None, &v1_bytes);
    assert_eq!(created.status, 201, "{}", created.text());
    let body = created.json();
    assert_eq!(body["version"], json!(v1));
    let names: Vec<&str> = body["functions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "acquire",
            "release",
            "extend",
            "try_acquire",
            "holder",
            "fence"
        ]
    );

    let again = gateway.request("PUT", "/v1/libraries/lock", None, &v1_bytes);
    assert_eq!(
        (again.status, again.json()["version"].clone()),
        (200, json!(v1))
    );

    let v2_bytes = variant(&v1_bytes, "v2");
    let v2 = gateway
        .request("PUT", "/v1/libraries/lock", None, &v2_bytes)
        .json()["version"]
        .clone();
    let described = gateway
        .request("GET", "/v1/libraries/lock", None, b"")
        .json();
    assert_eq!(described["current_version"], v2);
    let versions = described["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 2);
    assert!(versions
        .iter()
        .all(|v| v["uploaded_at_ms"].as_u64().unwrap() > 1_700_000_000_000));
    assert_eq!(
        described["functions"][0]["keys"][1]["name"],
        json!("fence-key")
    );
    // No key prefixes, the operator's default budgets.
    assert_eq!(described["key_prefixes"], json!([]));
    assert_eq!(described["budgets"]["deadline_ms"], json!(500));
    assert_eq!(described["budgets"]["max_host_calls"], json!(100_000));

    let rolled = gateway.request("POST", "/v1/libraries/lock/rollback", None, b"");
    assert_eq!(
        (rolled.status, rolled.json()["current_version"].clone()),
        (200, json!(v1))
    );
    let called = gateway.request(
        "POST",
        "/v1/call/lock.acquire",
        None,
        &call_body(&["l", "f"], &[json!("me"), json!(1000)]),
    );
    assert_eq!(
        (called.status, called.json()),
        (200, json!({ "result": 1 }))
    );
    let named = gateway.request(
        "POST",
        "/v1/libraries/lock/rollback",
        None,
        json!({ "version": v2 }).to_string().as_bytes(),
    );
    assert_eq!(named.json()["current_version"], v2);
    let missing = gateway.request(
        "POST",
        "/v1/libraries/lock/rollback",
        None,
        br#"{"version": "abc"}"#,
    );
    assert_eq!(
        (missing.status, missing.kind().as_str()),
        (409, "unknown_version")
    );

    // Statistics are per version: v2 starts from zero.
    let listed = gateway.request("GET", "/v1/libraries", None, b"").json();
    assert_eq!(listed["libraries"][0]["name"], json!("lock"));
    assert_eq!(
        listed["libraries"][0]["functions"][0]["stats"]["calls"],
        json!(0),
        "{listed}"
    );
    gateway.request(
        "POST",
        "/v1/call/lock.acquire",
        None,
        &call_body(&["l", "f"], &[json!("me"), json!(1000)]),
    );
    let listed = gateway.request("GET", "/v1/libraries", None, b"").json();
    assert_eq!(
        listed["libraries"][0]["functions"][0]["stats"]["calls"],
        json!(1),
        "{listed}"
    );

    assert_eq!(
        gateway
            .request("DELETE", "/v1/libraries/lock", None, b"")
            .status,
        200
    );
    let gone = gateway.request("GET", "/v1/libraries/lock", None, b"");
    assert_eq!(
        (gone.status, gone.kind().as_str()),
        (404, "unknown_library")
    );
    let call = gateway.request(
        "POST",
        "/v1/call/lock.acquire",
        None,
        &call_body(&["l", "f"], &[json!("me"), json!(1)]),
    );
    assert_eq!(call.status, 404);
}

#[test]
fn failed_uploads_leave_the_current_version_in_place() {
    let server = Server::start();
    let gateway = serve(&server, &[]);
    let uploaded = gateway.request(
        "PUT",
        "/v1/libraries/ratelimit",
        None,
        &component("ratelimit"),
    );
    assert_eq!(uploaded.status, 201, "{}", uploaded.text());
    let good = uploaded.json()["version"].clone();
    for (bytes, reason) in [
        (b"garbage".to_vec(), "not a WebAssembly binary"),
        (
            component("lock"),
            "describes library 'lock', not 'ratelimit'",
        ),
        (component("other-world"), "does not fit the pattern world"),
        (Vec::new(), "the body must be the component"),
    ] {
        let refused = gateway.request("PUT", "/v1/libraries/ratelimit", None, &bytes);
        assert_eq!(refused.status, 400, "{}", refused.text());
        assert!(
            refused.json()["error"]["message"]
                .as_str()
                .unwrap()
                .contains(reason),
            "{}",
            refused.text()
        );
        let now = gateway
            .request("GET", "/v1/libraries/ratelimit", None, b"")
            .json();
        assert_eq!(now["current_version"], good, "{now}");
        assert_eq!(now["versions"].as_array().map(Vec::len), Some(1), "{now}");
    }
    let lock_missing = gateway.request("GET", "/v1/libraries/lock", None, b"");
    assert_eq!(
        lock_missing.status, 404,
        "the mismatched upload loaded nothing"
    );
}

#[test]
fn calls_map_replies_and_errors() {
    let server = Server::start();
    server.load("ratelimit");
    server.load("hostile");
    server.load("confined");
    let gateway = serve(&server, &[]);
    let ok = gateway.request(
        "POST",
        "/v1/call/ratelimit.fixed_window",
        None,
        &call_body(&["k"], &[json!(5), json!("60")]),
    );
    assert_eq!(ok.status, 200);
    assert_eq!(
        ok.json()["result"].as_array().unwrap()[..2],
        [json!(1), json!(4)]
    );
    let echoed = gateway.request(
        "POST",
        "/v1/call/hostile.echo",
        None,
        json!({ "keys": ["k"], "args": [{ "base64": "/wA=" }] })
            .to_string()
            .as_bytes(),
    );
    assert_eq!(
        echoed.json()["result"],
        json!([["k"], [[0, { "base64": "/wA=" }]], null, 1.5, true, "FINE"])
    );
    for (path, body, status, kind) in [
        (
            "/v1/call/ratelimit.fixed_window",
            call_body(&["k"], &[json!("x"), json!(60)]),
            422,
            "guest_error",
        ),
        (
            "/v1/call/hostile.undeclared",
            call_body(&[], &[json!("other")]),
            422,
            "undeclared_key",
        ),
        (
            "/v1/call/confined.write",
            call_body(&["user:1"], &[]),
            422,
            "key_outside_prefixes",
        ),
        ("/v1/call/hostile.panic", call_body(&[], &[]), 422, "trap"),
        (
            "/v1/call/ratelimit.nope",
            call_body(&[], &[]),
            404,
            "unknown_function",
        ),
        (
            "/v1/call/nope.fn",
            call_body(&[], &[]),
            404,
            "unknown_library",
        ),
        (
            "/v1/call/nodot",
            call_body(&[], &[]),
            404,
            "unknown_function",
        ),
        (
            "/v1/call/ratelimit.fixed_window",
            b"{not json".to_vec(),
            400,
            "bad_request",
        ),
        (
            "/v1/call/ratelimit.fixed_window",
            br#"{"keys": "k"}"#.to_vec(),
            400,
            "bad_request",
        ),
        (
            "/v1/call/ratelimit.fixed_window",
            br#"{"args": [[1]]}"#.to_vec(),
            400,
            "bad_request",
        ),
        (
            "/v1/call/ratelimit.fixed_window",
            br#"{"key": []}"#.to_vec(),
            400,
            "bad_request",
        ),
    ] {
        let response = gateway.request("POST", path, None, &body);
        assert_eq!(
            (response.status, response.kind()),
            (status, kind.to_string()),
            "{path}: {}",
            response.text()
        );
    }
    let no_route = gateway.request("GET", "/v2/nothing", None, b"");
    assert_eq!(
        (no_route.status, no_route.kind().as_str()),
        (404, "no_route")
    );
    let wrong_method = gateway.request("PATCH", "/v1/libraries", None, b"");
    assert_eq!(
        (wrong_method.status, wrong_method.header("allow")),
        (405, Some("GET"))
    );
}

#[test]
fn tokens_guard_every_route() {
    let server = Server::start();
    server.load("ratelimit");
    server.load("lock");
    let gateway = serve(
        &server,
        &[
            ("PATTERN_ENGINE_AUTH_ADMIN_TOKEN", "admin-secret"),
            (
                "PATTERN_ENGINE_AUTH_CALL_TOKENS",
                r#"[{ token = "rl-only", libraries = ["ratelimit"] }, { token = "any-call" }]"#,
            ),
        ],
    );
    let call = call_body(&["k"], &[json!(5), json!(60)]);
    let upload = component("lock");
    // method, path, token, body, expected status
    type Case<'a> = (&'a str, &'a str, Option<&'a str>, &'a [u8], u16);
    let cases: Vec<Case> = vec![
        ("GET", "/healthz", None, b"", 200),
        ("GET", "/v1/openapi.json", None, b"", 200),
        ("GET", "/v1/libraries", None, b"", 401),
        ("GET", "/v1/libraries", Some("wrong"), b"", 401),
        ("GET", "/v1/libraries", Some("rl-only"), b"", 200),
        ("GET", "/metrics", Some("any-call"), b"", 200),
        ("POST", "/v1/call/ratelimit.fixed_window", None, &call, 401),
        (
            "POST",
            "/v1/call/ratelimit.fixed_window",
            Some("rl-only"),
            &call,
            200,
        ),
        (
            "POST",
            "/v1/call/lock.holder",
            Some("rl-only"),
            b"{\"keys\": [\"l\"]}",
            403,
        ),
        (
            "POST",
            "/v1/call/lock.holder",
            Some("any-call"),
            b"{\"keys\": [\"l\"]}",
            200,
        ),
        ("PUT", "/v1/libraries/lock", Some("any-call"), &upload, 403),
        (
            "POST",
            "/v1/libraries/lock/rollback",
            Some("rl-only"),
            b"",
            403,
        ),
        ("DELETE", "/v1/libraries/lock", Some("any-call"), b"", 403),
        (
            "PUT",
            "/v1/libraries/lock",
            Some("admin-secret"),
            &upload,
            200,
        ),
        (
            "POST",
            "/v1/call/lock.holder",
            Some("admin-secret"),
            b"{\"keys\": [\"l\"]}",
            200,
        ),
        (
            "DELETE",
            "/v1/libraries/lock",
            Some("admin-secret"),
            b"",
            200,
        ),
    ];
    for (method, path, token, body, status) in cases {
        let response = gateway.request(method, path, token, body);
        assert_eq!(
            response.status,
            status,
            "{method} {path} {token:?}: {}",
            response.text()
        );
        if status == 401 || status == 403 {
            assert!(
                !response.kind().is_empty(),
                "JSON error expected: {}",
                response.text()
            );
        }
        if status == 401 {
            assert_eq!(response.header("www-authenticate"), Some("Bearer"));
        }
    }
}

#[test]
/// The deadline (2 s) is past the redis crate's default response timeout
/// (500 ms): the gateway must wait for the call, not give up on Redis. It
/// also leaves a loaded machine ample time to start the slow call before
/// the second request, sent 500 ms later, finds the only slot taken.
fn limits_refuse_oversize_bodies_and_saturation() {
    let server = Server::with(ServerOptions {
        module_args: vec!["DEADLINE_MS".into(), "2000".into()],
        ..Default::default()
    });
    server.load("hostile");
    let gateway = serve(
        &server,
        &[
            ("PATTERN_ENGINE_GATEWAY_MAX_BODY_BYTES", "1000"),
            ("PATTERN_ENGINE_GATEWAY_MAX_CONCURRENCY", "1"),
        ],
    );
    let big = gateway.request("PUT", "/v1/libraries/hostile", None, &vec![0u8; 5000]);
    assert_eq!((big.status, big.kind().as_str()), (413, "body_too_large"));

    let url = gateway.url.clone();
    let slow =
        std::thread::spawn(move || request(&url, "POST", "/v1/call/hostile.endless", None, b"{}"));
    std::thread::sleep(std::time::Duration::from_millis(500));
    let refused = gateway.request("GET", "/v1/libraries", None, b"");
    assert_eq!(
        (refused.status, refused.header("retry-after")),
        (503, Some("1")),
        "{}",
        refused.text()
    );
    let slow = slow.join().unwrap();
    assert_eq!(
        (slow.status, slow.kind().as_str()),
        (422, "budget_exceeded")
    );
    assert_eq!(
        gateway.request("GET", "/v1/libraries", None, b"").status,
        200,
        "free again"
    );
}

#[test]
fn metrics_count_calls_per_library_version_and_function() {
    let server = Server::start();
    let (_, version) = server.load("ratelimit");
    let gateway = serve(&server, &[]);
    for args in [json!([5, 60]), json!([5, 60]), json!(["bad", 60])] {
        let body = json!({ "keys": ["m"], "args": args }).to_string();
        gateway.request(
            "POST",
            "/v1/call/ratelimit.fixed_window",
            None,
            body.as_bytes(),
        );
    }
    let metrics = gateway.request("GET", "/metrics", None, b"").text();
    let labels = format!("library=\"ratelimit\",version=\"{version}\",function=\"fixed_window\"");
    assert!(
        metrics.contains(&format!("pattern_engine_calls_total{{{labels}}} 3")),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!("pattern_engine_call_errors_total{{{labels}}} 1")),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!(
            "pattern_engine_call_duration_seconds_count{{{labels}}} 3"
        )),
        "{metrics}"
    );
}

#[test]
fn health_reports_redis_and_the_module() {
    let server = Server::start();
    let gateway = serve(&server, &[]);
    let healthy = gateway.request("GET", "/healthz", None, b"");
    assert_eq!(healthy.status, 200);
    assert_eq!(healthy.json()["module"]["name"], json!("pattern-engine"));
    drop(server);
    let down = gateway.request("GET", "/healthz", None, b"");
    assert_eq!(down.status, 503, "{}", down.text());
    assert_eq!(down.json()["status"], json!("unavailable"));

    // A Redis without the module: `serve` refuses to start, saying why.
    let plain = Server::with(ServerOptions {
        without_module: true,
        ..Default::default()
    });
    let output = std::process::Command::new(gateway_path())
        .args([
            "--config",
            "/nonexistent",
            "serve",
            "--redis-url",
            &plain.url(),
            "--listen",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr)
        .contains("does not have the pattern-engine module loaded"));
}

#[test]
fn the_openapi_document_describes_the_real_routes() {
    let server = Server::start();
    server.load("lock");
    let gateway = serve(&server, &[]);
    let doc = gateway.request("GET", "/v1/openapi.json", None, b"").json();
    assert_eq!(doc["openapi"], json!("3.0.3"));
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 7);
    for (path, operations) in paths {
        let concrete = path
            .replace("{name}", "lock")
            .replace("{target}", "lock.holder");
        for method in operations
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| *k != "parameters")
        {
            let response = gateway.request(&method.to_uppercase(), &concrete, None, b"");
            assert!(
                response.status != 405
                    && !(response.status == 404 && response.kind() == "no_route"),
                "{method} {path} is documented but not routed: {} {}",
                response.status,
                response.text()
            );
        }
    }
}

#[test]
fn up_goes_from_nothing_to_a_served_call_and_keeps_data() {
    let data = std::env::temp_dir().join(format!("pattern-up-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let port = free_port().to_string();
    let module = module_path();
    let libraries = components_dir();
    let args = [
        "up",
        "--port",
        &port,
        "--data-dir",
        data.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--module",
        module.to_str().unwrap(),
        "--libraries",
        libraries.to_str().unwrap(),
    ];
    let mut first = Gateway::start(&args, &[]);
    assert!(
        first.banner.iter().any(|l| l.starts_with("loaded lock ")),
        "{:?}",
        first.banner
    );
    let body = call_body(&["rate:up"], &[json!(5), json!(60)]);
    let served = first.request("POST", "/v1/call/ratelimit.fixed_window", None, &body);
    assert_eq!(served.json()["result"][1], json!(4), "{}", served.text());
    assert!(first.terminate(), "SIGTERM stops the gateway");
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port.parse::<u16>().unwrap())).is_err(),
        "Redis stopped too"
    );

    // Data and libraries survive the restart.
    let second = Gateway::start(&args, &[]);
    let again = second.request("POST", "/v1/call/ratelimit.fixed_window", None, &body);
    assert_eq!(again.json()["result"][1], json!(3), "{}", again.text());
    drop(second);
    let _ = std::fs::remove_dir_all(&data);
}

#[test]
fn the_cli_speaks_to_the_gateway() {
    let server = Server::start();
    let gateway = serve(&server, &[]);
    let dir = std::env::temp_dir().join(format!("pattern-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("lock.wasm");
    std::fs::write(&file, component("lock")).unwrap();
    let cli = |args: &[&str]| {
        let output = std::process::Command::new(gateway_path())
            .args(["--config", "/nonexistent"])
            .args(args)
            .args(["--url", &gateway.url])
            .output()
            .unwrap();
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (ok, out, _) = cli(&["deploy", file.to_str().unwrap()]);
    assert!(ok && out.contains("\"outcome\": \"new\""), "{out}");
    let (ok, out, _) = cli(&[
        "call",
        "lock.acquire",
        "--key",
        "l",
        "--key",
        "f",
        "--arg",
        "me",
        "--arg",
        "5000",
    ]);
    assert!(ok && out.contains("\"result\": 1"), "{out}");
    let (ok, out, _) = cli(&["list"]);
    assert!(ok && out.contains("\"name\": \"lock\""), "{out}");
    let (ok, _, err) = cli(&["rollback", "lock"]);
    assert!(!ok && err.contains("no earlier version"), "{err}");
    let (ok, out, _) = cli(&["describe", "lock"]);
    assert!(ok && out.contains("fence-key"), "{out}");
    let (ok, _, _) = cli(&["delete", "lock"]);
    assert!(ok);
    let (ok, _, err) = cli(&["describe", "lock"]);
    assert!(!ok && err.contains("unknown library"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn serve_reaches_redis_over_a_unix_socket() {
    let dir = std::env::temp_dir().join(format!("pattern-sock-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let socket = dir.join("redis.sock");
    let server = Server::with(ServerOptions {
        extra: vec!["--unixsocket".into(), socket.to_str().unwrap().into()],
        ..Default::default()
    });
    server.load("ratelimit");
    let url = format!("redis+unix://{}", socket.display());
    let gateway = Gateway::start(
        &["serve", "--redis-url", &url, "--listen", "127.0.0.1:0"],
        &[],
    );
    let response = gateway.request(
        "POST",
        "/v1/call/ratelimit.fixed_window",
        None,
        &call_body(&["u"], &[json!(2), json!(60)]),
    );
    assert_eq!(
        response.json()["result"][1],
        json!(1),
        "{}",
        response.text()
    );
    drop(gateway);
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn up_without_redis_server_says_how_to_install_it() {
    let output = std::process::Command::new(gateway_path())
        .args(["--config", "/nonexistent", "up", "--port", "1"])
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("apt-get install -y redis-server"),
        "{stderr}"
    );
}

#[test]
fn serve_reaches_redis_over_tls() {
    let dir = std::env::temp_dir().join(format!("pattern-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl on PATH");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let tls_port = free_port();
    let server = Server::with(ServerOptions {
        extra: [
            "--tls-port",
            &tls_port.to_string(),
            "--tls-cert-file",
            cert.to_str().unwrap(),
            "--tls-key-file",
            key.to_str().unwrap(),
            "--tls-ca-cert-file",
            cert.to_str().unwrap(),
            "--tls-auth-clients",
            "no",
        ]
        .map(String::from)
        .to_vec(),
        ..Default::default()
    });
    server.load("ratelimit");
    // A self-signed certificate: `#insecure` skips verification (a public
    // CA's certificate verifies against the system's roots without it).
    let url = format!("rediss://127.0.0.1:{tls_port}/#insecure");
    let gateway = Gateway::start(
        &["serve", "--redis-url", &url, "--listen", "127.0.0.1:0"],
        &[],
    );
    let response = gateway.request(
        "POST",
        "/v1/call/ratelimit.fixed_window",
        None,
        &call_body(&["t"], &[json!(2), json!(60)]),
    );
    assert_eq!(
        response.json()["result"][1],
        json!(1),
        "{}",
        response.text()
    );
    drop(gateway);
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
