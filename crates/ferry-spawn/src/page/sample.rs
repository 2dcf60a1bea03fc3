//! A realistic spawn error, for the example that renders sample pages and for tests.

use crate::category::Category;
use crate::error::{EnvDump, SpawnError};
use crate::journey::{Journey, JourneyType, Step, StepState};

/// A realistic spawn error, for the example that renders sample pages and for tests: a Node app
/// that printed a stack trace and exited with status 1 while it was being loaded.
#[doc(hidden)]
pub fn sample_error() -> SpawnError {
    let summary = "The application process exited prematurely with exit status 1.".to_owned();
    let journey = sample_journey();
    SpawnError::new(
        Category::Internal,
        Step::SubprocessAppLoadOrExec,
        summary,
        journey,
    )
    .with_output(SAMPLE_OUTPUT.to_owned())
    .with_subprocess_env(sample_subprocess_env())
    .with_config(pairs(&SAMPLE_CONFIG))
}

/// Name/value pairs from string slices.
pub(super) fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect()
}

/// A direct spawn through the Node loader that failed while loading the app.
fn sample_journey() -> Journey {
    use Step::*;
    use StepState::*;
    const T0: f64 = 5120.0;
    // Seconds after T0. Subprocess steps overlap Ferry's: they run while Ferry waits.
    #[rustfmt::skip]
    let timeline = [
        (Preparation,                           Performed, 0.000, 0.004),
        (ForkSubprocess,                        Performed, 0.004, 0.006),
        (HandshakePerform,                      Errored,   0.006, 1.342),
        (SubprocessBeforeFirstExec,             Performed, 0.005, 0.006),
        (SubprocessSpawnEnvSetupperBeforeShell, Performed, 0.006, 0.018),
        (SubprocessSpawnEnvSetupperAfterShell,  Performed, 0.018, 0.021),
        (SubprocessExecWrapper,                 Performed, 0.021, 0.094),
        (SubprocessWrapperPreparation,          Performed, 0.094, 0.131),
        (SubprocessAppLoadOrExec,               Errored,   0.131, 1.338),
    ];
    let mut journey = Journey::new(JourneyType::SpawnDirectly, true, false);
    for (step, state, begin, end) in timeline {
        journey.merge_subprocess_step(step, state, Some(T0 + begin), Some(T0 + end));
    }
    journey
}

/// What the sample app's process reported about itself.
fn sample_subprocess_env() -> EnvDump {
    EnvDump {
        pid: Some(48213),
        envvars: Some(SAMPLE_APP_ENVVARS.to_owned()),
        user_info: Some("uid=1001(shop) gid=1001(shop) groups=1001(shop),33(www-data)".to_owned()),
        ulimits: Some(SAMPLE_ULIMITS.to_owned()),
        annotations: pairs(&[
            ("node_version", "v20.12.2"),
            ("loader", "node-loader.js (SpawningKit-enabled wrapper)"),
        ]),
    }
}

const SAMPLE_CONFIG: [(&str, &str); 9] = [
    ("app_root", "/srv/shop"),
    ("app_group_name", "/srv/shop (development)"),
    ("app_type", "node"),
    ("environment", "development"),
    (
        "start_command",
        "node /usr/share/ferry/loaders/node/node-loader.js",
    ),
    ("user", "shop"),
    ("group", "shop"),
    ("start_timeout", "90"),
    ("spawn_method", "direct"),
];

const SAMPLE_OUTPUT: &str = "\
/srv/shop/server.js:14
const db = require('./config/database');
           ^

Error: Cannot find module './config/database'
Require stack:
- /srv/shop/server.js
    at Module._resolveFilename (node:internal/modules/cjs/loader:1145:15)
    at Module._load (node:internal/modules/cjs/loader:986:27)
    at Module.require (node:internal/modules/cjs/loader:1233:19)
    at require (node:internal/modules/helpers:179:18)
    at Object.<anonymous> (/srv/shop/server.js:14:12)
    at Module._compile (node:internal/modules/cjs/loader:1358:14)
    at Module._extensions..js (node:internal/modules/cjs/loader:1416:10)
    at Module.load (node:internal/modules/cjs/loader:1208:32)
    at Module._load (node:internal/modules/cjs/loader:1024:12)
    at loadApplication (/usr/share/ferry/loaders/node/node-loader.js:212:3) {
  code: 'MODULE_NOT_FOUND',
  requireStack: [ '/srv/shop/server.js' ]
}

Node.js v20.12.2
";

const SAMPLE_APP_ENVVARS: &str = "\
PATH=/usr/local/bin:/usr/bin:/bin
HOME=/home/shop
USER=shop
LOGNAME=shop
SHELL=/bin/bash
PWD=/srv/shop
LANG=C.UTF-8
PORT=38117
NODE_ENV=development
PASSENGER_APP_ENV=development
RAILS_ENV=development
RACK_ENV=development
WSGI_ENV=development
PASSENGER_BASE_URI=/
IN_PASSENGER=1
";

const SAMPLE_ULIMITS: &str = "\
core file size              (blocks, -c) 0
data seg size               (kbytes, -d) unlimited
file size                   (blocks, -f) unlimited
max locked memory           (kbytes, -l) 8192
max memory size             (kbytes, -m) unlimited
open files                          (-n) 1024
stack size                  (kbytes, -s) 8192
cpu time                   (seconds, -t) unlimited
max user processes                  (-u) 63445
virtual memory              (kbytes, -v) unlimited
";
