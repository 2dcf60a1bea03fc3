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
}
