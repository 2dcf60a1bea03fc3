//! `spawn_method` (seed 000 §8.3.10, §15) and the preloader settings that go with it.
//!
//! Smart spawning loads the app once in a preloader and forks workers from it. Ferry's Ruby and
//! Python loaders can be preloaders, so `smart` is the default for those app types when Ferry's
//! loader starts them; every other app (Node, generic, a custom start command) is spawned
//! directly whatever was asked, as Passenger falls back to direct spawning for types it cannot
//! preload.

use crate::{defaults, invalid, AppType, Error, Start, StartOptions};

/// How worker processes are started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpawnMethod {
    /// Fork workers from a preloader that loaded the app once.
    Smart,
    /// Start every worker from its start command.
    Direct,
}

impl SpawnMethod {
    /// The configuration name.
    pub const fn name(self) -> &'static str {
        match self {
            SpawnMethod::Smart => "smart",
            SpawnMethod::Direct => "direct",
        }
    }

    /// Parses a configuration value; Passenger's older names (`smart-lv2`, `conservative`) too.
    pub fn parse(value: &str) -> Option<SpawnMethod> {
        match value {
            "smart" | "smart-lv2" => Some(SpawnMethod::Smart),
            "direct" | "conservative" => Some(SpawnMethod::Direct),
            _ => None,
        }
    }
}

impl std::fmt::Display for SpawnMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl StartOptions {
    // Issue 22, refork:
    /// `refork_after` (0: off), refused for an app that is not spawned through a preloader:
    /// re-forking moves the preloader's role to a warmed worker, and only Ruby and Python apps
    /// started by Ferry's loaders with `spawn_method smart` have one.
    pub(crate) fn refork_after(
        &self,
        app_type: AppType,
        spawn_method: SpawnMethod,
    ) -> Result<Option<u64>, Error> {
        let Some(n) = self.refork_after.filter(|&n| n > 0) else {
            return Ok(None);
        };
        if app_type == AppType::Asgi {
            let why = "is not offered for ASGI apps: a process running an event loop is no \
                       template to fork workers from";
            return Err(invalid("--refork-after", n, why));
        }
        if spawn_method == SpawnMethod::Smart {
            return Ok(Some(n));
        }
        let why = if matches!(app_type, AppType::Ruby | AppType::Python) {
            "needs spawn_method smart: re-forking moves the preloader's role to a warmed \
             worker, and a directly spawned app has no preloader"
        } else {
            "works only for Ruby and Python apps started by Ferry's loaders: other apps have no \
             fork model (no preloader to replace)"
        };
        Err(invalid("--refork-after", n, why))
    }

    /// The spawn method in force for an app of `app_type` started by `start`.
    pub(crate) fn spawn_method(
        &self,
        app_type: AppType,
        start: &Start,
    ) -> Result<SpawnMethod, Error> {
        let asked = match self.spawn_method.as_deref() {
            None => defaults::SPAWN_METHOD,
            Some(value) => SpawnMethod::parse(value)
                .ok_or_else(|| invalid("--spawn-method", value, "must be smart or direct"))?,
        };
        let preloadable = matches!(app_type, AppType::Ruby | AppType::Python | AppType::Asgi)
            && matches!(start, Start::Loader { .. });
        Ok(if preloadable {
            asked
        } else {
            SpawnMethod::Direct
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loader() -> Start {
        Start::Loader {
            interpreter: "ruby".into(),
        }
    }

    #[test]
    fn smart_is_the_default_only_where_a_preloader_can_run() {
        let options = StartOptions::default();
        assert_eq!(
            options.spawn_method(AppType::Ruby, &loader()).unwrap(),
            SpawnMethod::Smart
        );
        assert_eq!(
            options.spawn_method(AppType::Python, &loader()).unwrap(),
            SpawnMethod::Smart
        );
        assert_eq!(
            options.spawn_method(AppType::Node, &loader()).unwrap(),
            SpawnMethod::Direct
        );
        let command = Start::Command("bundle exec puma".into());
        assert_eq!(
            options.spawn_method(AppType::Ruby, &command).unwrap(),
            SpawnMethod::Direct
        );
    }

    #[test]
    fn values_are_checked() {
        let mut options = StartOptions {
            spawn_method: Some("direct".into()),
            ..StartOptions::default()
        };
        assert_eq!(
            options.spawn_method(AppType::Ruby, &loader()).unwrap(),
            SpawnMethod::Direct
        );
        options.spawn_method = Some("conservative".into());
        assert_eq!(
            options.spawn_method(AppType::Ruby, &loader()).unwrap(),
            SpawnMethod::Direct
        );
        options.spawn_method = Some("smart-lv2".into());
        assert_eq!(
            options.spawn_method(AppType::Python, &loader()).unwrap(),
            SpawnMethod::Smart
        );
        options.spawn_method = Some("fast".into());
        let error = options.spawn_method(AppType::Ruby, &loader()).unwrap_err();
        assert!(error.to_string().contains("--spawn-method"), "{error}");
    }
    // Issue 22, refork:
    #[test]
    fn refork_after_needs_an_app_spawned_through_a_preloader() {
        let mut options = StartOptions {
            refork_after: Some(100),
            ..StartOptions::default()
        };
        for app_type in [AppType::Ruby, AppType::Python] {
            let smart = options.refork_after(app_type, SpawnMethod::Smart);
            assert_eq!(smart.unwrap(), Some(100));
            let error = options
                .refork_after(app_type, SpawnMethod::Direct)
                .unwrap_err()
                .to_string();
            assert!(
                error.contains("--refork-after") && error.contains("spawn_method smart"),
                "{error}"
            );
        }
        for app_type in [AppType::Node, AppType::Generic] {
            let error = options
                .refork_after(app_type, SpawnMethod::Direct)
                .unwrap_err()
                .to_string();
            assert!(error.contains("no fork model"), "{error}");
        }
        // 0 and unset: off, for any app.
        let asgi = options
            .refork_after(AppType::Asgi, SpawnMethod::Smart)
            .unwrap_err()
            .to_string();
        assert!(asgi.contains("ASGI"), "{asgi}");
        options.refork_after = Some(0);
        assert_eq!(
            options
                .refork_after(AppType::Node, SpawnMethod::Direct)
                .unwrap(),
            None
        );
        options.refork_after = None;
        assert_eq!(
            options
                .refork_after(AppType::Ruby, SpawnMethod::Direct)
                .unwrap(),
            None
        );
    }
}
