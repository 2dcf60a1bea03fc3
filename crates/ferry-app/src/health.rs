//! Issue 18, health: what the health locations report (`ferry_front::Health`), built once the
//! router is: which apps readiness waits for, and the first process of each of them started at
//! once when the deployment has a health location.
//!
//! Readiness waits for every app with `min_instances` > 0 and every app a pre-start URL reaches.
//! Apps start on their first request, so with a health location (a load balancer sends nothing
//! until it answers 200) Ferry starts one process of each awaited app itself, as a pre-start
//! request would: one checkout per app, its session dropped at once. Apps a pre-start URL
//! reaches are left to the pre-start request.

use std::sync::Arc;

use ferry_config::deployment::{Deployment, ListenAddress, Route, VirtualLocation};
use ferry_front::{Health, HealthApp, Router};
use ferry_pool::GroupId;
use tokio_util::sync::CancellationToken;

use crate::admin::FerryPool;

/// The health of `deployment`'s apps (groups `groups`, in order), for `router` serving
/// `sockets`; and the groups to start at once (none when no location answers with it).
pub(crate) fn build(
    deployment: &Deployment,
    router: &Router,
    sockets: &[ListenAddress],
    pool: &FerryPool,
    groups: &[GroupId],
) -> (Arc<Health>, Vec<GroupId>) {
    let pre_started: Vec<GroupId> = deployment
        .pre_start
        .iter()
        .filter_map(|url| {
            let listener = match url.port {
                None => 0,
                Some(port) => sockets.iter().position(
                    |socket| matches!(socket, ListenAddress::Tcp { port: p, .. } if *p == port),
                )?,
            };
            router.app_group(listener, url.host.as_deref().unwrap_or_default(), &url.path)
        })
        .collect();
    let apps = deployment
        .apps
        .iter()
        .zip(groups)
        .map(|(app, group)| HealthApp {
            name: app.group_name.clone(),
            required: app.min_instances > 0 || pre_started.contains(group),
        })
        .collect();
    let to_start = if has_health_location(deployment) {
        deployment
            .apps
            .iter()
            .zip(groups)
            .filter(|(app, group)| app.min_instances > 0 && !pre_started.contains(group))
            .map(|(_, &group)| group)
            .collect()
    } else {
        Vec::new()
    };
    (Arc::new(Health::new(pool.clone(), apps)), to_start)
}

/// Whether any server or location answers with Ferry's health.
fn has_health_location(deployment: &Deployment) -> bool {
    fn any(locations: &[VirtualLocation]) -> bool {
        locations
            .iter()
            .any(|l| l.route.health_check || any(&l.locations))
    }
    deployment
        .servers
        .iter()
        .any(|s| is_health(&s.route) || any(&s.locations))
}

fn is_health(route: &Route) -> bool {
    route.health_check
}

/// Starts one process of `group`, unless Ferry stops first. A failure is the spawner's to log
/// (with its error page); the app then starts on its first request, as usual.
pub(crate) async fn start_app(pool: FerryPool, group: GroupId, stop: CancellationToken) {
    let span = pool.app_span(group);
    let result = tokio::select! {
        () = stop.cancelled() => return,
        result = pool.checkout(group) => result,
    };
    match result {
        Ok(session) => drop(session),
        Err(error) => span.in_scope(|| {
            tracing::warn!(%error, "health: could not start an app readiness waits for");
        }),
    }
}
