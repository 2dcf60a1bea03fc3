//! Issue 18, health: the health location (`passenger_health_check on`, `ferry start
//! --health-path`), answered by Ferry itself before any app, and the state it reports.
//!
//! ```text
//!  status      HTTP  when
//!  ready       200   serving, and every app readiness waits for has a live process
//!  starting    503   an app readiness waits for has no live process yet
//!  draining    503   `ferry drain` (until `ferry undrain`); every request is still served
//!  stopping    503   SIGTERM's shutdown delay; every request is still served
//! ```
//!
//! The body is the same JSON object whatever the status:
//! `{"status":"ready","apps":[{"name":"…","processes":1,"required":true}]}` (`processes`: those
//! taking requests). The answer is never cached (`Cache-Control: no-store`); GET and HEAD only.
//!
//! The state lives in the process that routes requests (the router holds the [`Health`], the
//! admin API flips it), in memory: a restarted Ferry starts undrained.

use std::sync::atomic::{AtomicBool, Ordering};

use ferry_pool::Pool;
use http::{header, HeaderValue, Method, Response, StatusCode};

use crate::body::{self, Body};
use crate::connection::AppConnection;

/// What the health location reports, shared by the router and whoever drains or stops Ferry.
///
/// Invariant: once `stopping` is set it is never cleared (a stop is not undone); `draining` is
/// flipped freely and matters only while not stopping.
#[derive(Default)]
pub struct Health {
    /// `ferry drain`: 503 although ready.
    draining: AtomicBool,
    /// SIGTERM received: 503 for the rest of Ferry's life.
    stopping: AtomicBool,
    /// The pool the apps' processes are counted in (`None`: no apps to count).
    pool: Option<Pool<AppConnection>>,
    /// The apps listed, in the deployment's order.
    apps: Vec<HealthApp>,
}

/// One app the health answer lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthApp {
    /// Its app group's name.
    pub name: String,
    /// Readiness waits for it to have a live process (`min_instances` > 0, or a pre-start URL
    /// reaches it).
    pub required: bool,
}

/// Where Ferry stands, as the health location says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthStatus {
    /// Serving, every required app has a live process: 200.
    Ready,
    /// A required app has no live process yet: 503.
    Starting,
    /// Taken out by `ferry drain`: 503.
    Draining,
    /// Stopping after SIGTERM (the shutdown delay): 503.
    Stopping,
}

/// The health answer's contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthReport {
    /// Where Ferry stands.
    pub status: HealthStatus,
    /// Each app with its live process count.
    pub apps: Vec<(HealthApp, usize)>,
}

// === impl Health ===

impl std::fmt::Debug for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Health")
            .field("draining", &self.is_draining())
            .field("stopping", &self.is_stopping())
            .field("apps", &self.apps)
            .finish_non_exhaustive()
    }
}

impl Health {
    /// The health of the apps `apps`, whose processes are counted in `pool`.
    pub fn new(pool: Pool<AppConnection>, apps: Vec<HealthApp>) -> Health {
        Health {
            pool: Some(pool),
            apps,
            ..Health::default()
        }
    }

    /// Takes Ferry out (`true`, `ferry drain`) or puts it back (`false`, `ferry undrain`);
    /// whether it was draining before.
    pub fn set_draining(&self, draining: bool) -> bool {
        self.draining.swap(draining, Ordering::Relaxed)
    }

    /// Whether `ferry drain` is in force.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// Ferry is stopping: 503 from now on.
    pub fn begin_stopping(&self) {
        self.stopping.store(true, Ordering::Relaxed);
    }

    /// Whether Ferry is stopping.
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }

    /// The apps' live process counts and the status they make.
    pub fn report(&self) -> HealthReport {
        let groups = self.pool.as_ref().map(Pool::snapshot).unwrap_or_default();
        let live = |name: &str| {
            groups
                .iter()
                .find(|g| g.name == name)
                .map_or(0, |g| g.processes.iter().filter(|p| !p.detached).count())
        };
        let apps: Vec<(HealthApp, usize)> = self
            .apps
            .iter()
            .map(|app| (app.clone(), live(&app.name)))
            .collect();
        let status = if self.is_stopping() {
            HealthStatus::Stopping
        } else if self.is_draining() {
            HealthStatus::Draining
        } else if apps.iter().any(|(app, live)| app.required && *live == 0) {
            HealthStatus::Starting
        } else {
            HealthStatus::Ready
        };
        HealthReport { status, apps }
    }
}

// === impl HealthStatus ===

impl HealthStatus {
    /// The name in the JSON body.
    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Ready => "ready",
            HealthStatus::Starting => "starting",
            HealthStatus::Draining => "draining",
            HealthStatus::Stopping => "stopping",
        }
    }

    /// 200 when ready, else 503.
    pub fn http_status(self) -> StatusCode {
        match self {
            HealthStatus::Ready => StatusCode::OK,
            _ => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

// === impl HealthReport ===

impl HealthReport {
    /// The JSON body.
    pub fn to_json(&self) -> String {
        let apps: Vec<serde_json::Value> = self
            .apps
            .iter()
            .map(|(app, live)| {
                serde_json::json!({
                    "name": app.name,
                    "processes": live,
                    "required": app.required,
                })
            })
            .collect();
        serde_json::json!({ "status": self.status.as_str(), "apps": apps }).to_string()
    }
}

// === the answer ===

/// The health location's answer to `method`: the report (GET, HEAD), or 405. Logged at debug
/// level only: load balancers ask every few seconds (the access log still has each).
pub(super) fn answer(health: &Health, method: &Method) -> Response<Body> {
    if method != Method::GET && method != Method::HEAD {
        let mut response = crate::error::status_page(StatusCode::METHOD_NOT_ALLOWED);
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    let report = health.report();
    tracing::debug!(status = report.status.as_str(), "health check");
    let mut response = Response::new(body::full(report.to_json()));
    *response.status_mut() = report.status.http_status();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(name: &str, required: bool) -> HealthApp {
        HealthApp {
            name: name.into(),
            required,
        }
    }

    #[test]
    fn ready_without_apps_then_draining_then_stopping_for_good() {
        let health = Health::default();
        assert_eq!(health.report().status, HealthStatus::Ready);
        assert!(!health.set_draining(true));
        assert_eq!(health.report().status, HealthStatus::Draining);
        assert!(health.set_draining(false));
        assert_eq!(health.report().status, HealthStatus::Ready);
        health.set_draining(true);
        health.begin_stopping();
        assert_eq!(health.report().status, HealthStatus::Stopping);
        health.set_draining(false);
        assert_eq!(health.report().status, HealthStatus::Stopping);
        assert_eq!(
            health.report().status.http_status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }

    #[test]
    fn a_required_app_without_processes_is_starting() {
        let health = Health {
            apps: vec![app("web", true), app("jobs", false)],
            ..Health::default()
        };
        let report = health.report();
        assert_eq!(report.status, HealthStatus::Starting);
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&report.to_json()).ok(),
            Some(serde_json::json!({
                "status": "starting",
                "apps": [
                    {"name": "web", "processes": 0, "required": true},
                    {"name": "jobs", "processes": 0, "required": false},
                ],
            }))
        );
    }

    #[test]
    fn an_app_readiness_does_not_wait_for_leaves_it_ready() {
        let health = Health {
            apps: vec![app("jobs", false)],
            ..Health::default()
        };
        assert_eq!(health.report().status, HealthStatus::Ready);
    }

    #[test]
    fn only_get_and_head_are_answered() {
        let health = Health::default();
        let get = answer(&health, &Method::GET);
        assert_eq!(get.status(), StatusCode::OK);
        assert_eq!(
            get.headers().get(header::CACHE_CONTROL),
            Some(&HeaderValue::from_static("no-store"))
        );
        assert_eq!(answer(&health, &Method::HEAD).status(), StatusCode::OK);
        let post = answer(&health, &Method::POST);
        assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(
            post.headers().get(header::ALLOW),
            Some(&HeaderValue::from_static("GET, HEAD"))
        );
    }
}
