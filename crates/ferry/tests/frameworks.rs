//! Real framework apps, unmodified, behind the real `ferry` binary: Sinatra (Rack), Flask (WSGI)
//! and Express (Node) each serve a page and take a form post; and a Rack app written against
//! Passenger's Ruby API (`PhusionPassenger.on_event`, `PhusionPassenger::Rack::OutOfBandGc`)
//! runs as it would under Passenger.
//!
//! The frameworks come from `scripts/install-deps.sh` (Debian's `ruby-sinatra`, Flask from pip,
//! Express from npm into the fixture). A test whose framework is missing fails under CI and says
//! so and skips elsewhere (`ferry_test_support::require`).

use std::path::Path;
use std::time::Duration;

use ferry_test_support::body;
use ferry_test_support::client::{self, Client};
use ferry_test_support::http::{Method, StatusCode};
use ferry_test_support::{
    apps, bounded, poll_until, require, require_program, trace_init, Ferry, Requirement,
};

const LIMIT: Duration = Duration::from_secs(60);

async fn page_and_form(app: &Path, greeting: &str) {
    let ferry = Ferry::new(env!("CARGO_BIN_EXE_ferry"), app)
        .spawn()
        .await
        .expect("ferry starts");
    let client = Client::new();
    let page = client.get(&ferry.url_for("/")).await.unwrap();
    assert_eq!(
        page.status,
        StatusCode::OK,
        "{}\n{}",
        page.text(),
        ferry.log()
    );
    assert!(page.text().contains(greeting), "{}", page.text());
    assert!(page.text().contains("<form"), "{}", page.text());
    let request = client::request(
        Method::POST,
        &ferry.url_for("/form"),
        &[("content-type", "application/x-www-form-urlencoded")],
        body::full("name=Ferry+Rider"),
    );
    let reply = client.request(request).await.unwrap();
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "{}\n{}",
        reply.text(),
        ferry.log()
    );
    assert!(
        reply.text().contains("Thanks, Ferry Rider"),
        "{}",
        reply.text()
    );
}

#[tokio::test]
async fn sinatra_app() {
    trace_init();
    require!(
        Requirement::Program("ruby"),
        Requirement::RubyLibrary("sinatra/base")
    );
    bounded(
        LIMIT,
        page_and_form(&apps::fixtures_dir().join("sinatra"), "Hello from Sinatra"),
    )
    .await;
}

#[tokio::test]
async fn flask_app() {
    trace_init();
    require!(
        Requirement::Program("python3"),
        Requirement::PythonModule("flask")
    );
    bounded(
        LIMIT,
        page_and_form(&apps::fixtures_dir().join("flask"), "Hello from Flask"),
    )
    .await;
}

#[tokio::test]
async fn express_app() {
    trace_init();
    let app = apps::fixtures_dir().join("express");
    require!(
        Requirement::Program("node"),
        Requirement::Path {
            what: "Express",
            path: app.join("node_modules/express"),
            installs: "scripts/install-deps.sh installs it with npm",
        }
    );
    bounded(LIMIT, page_and_form(&app, "Hello from Express")).await;
}

#[tokio::test]
async fn app_using_passengers_ruby_api() {
    trace_init();
    require_program!("ruby");
    bounded(LIMIT, async {
        let app = apps::fixtures_dir().join("rack-passenger-api");
        // Two processes: out-of-band work is never done by an app's last available process.
        let ferry = Ferry::new(env!("CARGO_BIN_EXE_ferry"), &app)
            .args(["--max-pool-size", "2", "--min-instances", "2"])
            // Smart spawning (the default) is tested in smart_spawn.rs.
            .args(["--spawn-method", "direct"])
            .spawn()
            .await
            .expect("ferry starts");
        let client = Client::new();
        let reply = client.get(&ferry.url_for("/")).await.unwrap();
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "{}\n{}",
            reply.text(),
            ferry.log()
        );
        // Direct spawning: `starting_worker_process` fires with forked = false.
        assert!(reply.text().contains("forked=false"), "{}", reply.text());
        let both_up = poll_until(Duration::from_secs(30), || {
            (ferry.log().matches("app process is up").count() >= 2).then_some(())
        })
        .await;
        assert!(both_up.is_some(), "no second process\n{}", ferry.log());
        // `OutOfBandGc, 2` asks for out-of-band work every second request of a process; Ferry
        // then takes the process out of rotation and sends it an OOBW request, which runs the
        // `oob_work` callbacks. Each process reports its own count on /oob.
        let mut ran = 0;
        for _ in 0..40 {
            let reply = client.get(&ferry.url_for("/")).await.unwrap();
            assert_eq!(reply.status, StatusCode::OK);
            assert!(reply.headers.keys().all(|k| !k.as_str().starts_with("!~")));
            let oob = client.get(&ferry.url_for("/oob")).await.unwrap();
            ran = oob.text().trim().parse::<u64>().expect("a count");
            if ran >= 1 {
                break;
            }
        }
        assert!(ran >= 1, "the oob_work callback never ran\n{}", ferry.log());
    })
    .await;
}
