//! Phusion Passenger 6's own loaders (`rack-loader.rb`, `wsgi-loader.py`, `node-loader.js`, from
//! Debian's `passenger` package) serve requests through the real `ferry` binary: Ferry's spawner
//! runs them, and its `session`-protocol client (Rack, WSGI) or HTTP client (Node) talks to
//! them. This shows Ferry speaks Passenger's protocols, not only its own loaders' dialect.
//!
//! Skipped, with the reason, when the package is absent (a failure under CI);
//! `scripts/install-deps.sh` installs it.

use std::path::Path;
use std::time::Duration;

use ferry_test_support::body;
use ferry_test_support::client::Client;
use ferry_test_support::http::{Method, StatusCode};
use ferry_test_support::require::{require, PASSENGER_HELPER_SCRIPTS};
use ferry_test_support::{apps, bounded, require_program, trace_init, Ferry, Requirement};

const LIMIT: Duration = Duration::from_secs(60);

/// Starts Ferry on `app` with Passenger's `loader`, run by `interpreter`.
async fn start(
    app: &Path,
    app_type: &str,
    interpreter: &str,
    loader: &str,
    args: &[&str],
) -> Option<Ferry> {
    if !require(&[Requirement::PassengerPackage]) {
        return None;
    }
    let loader = Path::new(PASSENGER_HELPER_SCRIPTS).join(loader);
    let command = format!("{interpreter} {}", loader.display());
    let ferry = Ferry::new(env!("CARGO_BIN_EXE_ferry"), app)
        .args(["--app-type", app_type, "--app-start-command", &command])
        .args(["--app-supports-kuria-protocol"])
        .args(args)
        .spawn()
        .await
        .expect("ferry starts");
    Some(ferry)
}

/// `/hello`, the request's variables and a 1 MB upload with a length.
async fn check_session_app(ferry: &Ferry) {
    let client = Client::new();
    let reply = client.get(&ferry.url_for("/hello")).await.unwrap();
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "{}\n{}",
        reply.text(),
        ferry.log()
    );
    assert_eq!(reply.text(), "hello world");
    let reply = client
        .get_with(&ferry.url_for("/env?q=1"), &[("x-ferry-test", "yes")])
        .await
        .unwrap();
    let env: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(env["PATH_INFO"], "/env", "{env}");
    assert_eq!(env["QUERY_STRING"], "q=1", "{env}");
    assert_eq!(env["HTTP_X_FERRY_TEST"], "yes", "{env}");
    let len = 1024 * 1024;
    let reply = client
        .upload(
            Method::POST,
            &ferry.url_for("/upload"),
            body::pattern(len, false),
        )
        .await
        .unwrap();
    let got: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(got["length"], len, "{got}");
    assert_eq!(got["sha256"], body::pattern_sha256(len));
    // Several requests in a row: Passenger's Ruby loader keeps the connection, Python's closes it.
    for _ in 0..10 {
        let reply = client.get(&ferry.url_for("/hello")).await.unwrap();
        assert_eq!(reply.status, StatusCode::OK);
    }
    assert!(
        ferry.log().contains("Unix"),
        "a unix socket: {}",
        ferry.log()
    );
}

#[tokio::test]
async fn passengers_rack_loader() {
    trace_init();
    require_program!("ruby");
    bounded(LIMIT, async {
        let app = apps::fixtures_dir().join("rack-stub");
        let args = [
            "--spawn-arg",
            "ruby_libdir=/usr/lib/ruby/vendor_ruby",
            "--spawn-arg",
            "passenger_root=/usr/lib/ruby/vendor_ruby/phusion_passenger/locations.ini",
        ];
        let Some(ferry) = start(&app, "ruby", "ruby", "rack-loader.rb", &args).await else {
            return;
        };
        check_session_app(&ferry).await;
    })
    .await;
}

#[tokio::test]
async fn passengers_wsgi_loader() {
    trace_init();
    require_program!("python3");
    bounded(LIMIT, async {
        let app = apps::fixtures_dir().join("wsgi-stub");
        let Some(ferry) = start(&app, "python", "python3", "wsgi-loader.py", &[]).await else {
            return;
        };
        check_session_app(&ferry).await;
    })
    .await;
}

#[tokio::test]
async fn passengers_node_loader() {
    trace_init();
    require_program!("node");
    bounded(LIMIT, async {
        let app = apps::fixtures_dir().join("node-stub");
        let args = ["--spawn-arg", "node_libdir=/usr/share/passenger/node"];
        let Some(ferry) = start(&app, "node", "node", "node-loader.js", &args).await else {
            return;
        };
        let reply = Client::new().get(&ferry.url_for("/hello")).await.unwrap();
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "{}\n{}",
            reply.text(),
            ferry.log()
        );
        assert_eq!(reply.text(), "hello world");
        // The loader took over `listen()`: the process serves on a unix socket, not on $PORT.
        assert!(ferry.log().contains("Unix"), "{}", ferry.log());
    })
    .await;
}
