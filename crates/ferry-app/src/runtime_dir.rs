//! The runtime directory: lives as long as this Ferry, and holds the apps' unix sockets.

use crate::error::Error;

/// A directory that lives as long as this Ferry: `apps.s/` holds the apps' unix sockets.
#[derive(Debug)]
pub(crate) struct RuntimeDir {
    pub(crate) path: std::path::PathBuf,
}

impl RuntimeDir {
    pub(crate) fn create() -> Result<RuntimeDir, Error> {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        let tmp = std::env::temp_dir();
        let fail = |source| Error::RuntimeDir {
            dir: tmp.display().to_string(),
            source,
        };
        // A name no local user can guess ahead, so nobody can take it first (mkdir fails on a
        // name that exists: a directory is never reused).
        let suffix = ferry_sys::secret::string(ferry_sys::secret::LOWER_ALNUM, 12)
            .map_err(|e| fail(e.into()))?;
        let path = tmp.join(format!("ferry.{}.{suffix}", std::process::id()));
        std::fs::DirBuilder::new()
            .mode(0o755)
            .create(&path)
            .map_err(fail)?;
        let dir = RuntimeDir { path };
        let apps = dir.apps_dir();
        std::fs::create_dir(&apps).map_err(fail)?;
        // Apps running as other users create their sockets here: writable by all, sticky.
        std::fs::set_permissions(&apps, std::fs::Permissions::from_mode(0o1733)).map_err(fail)?;
        Ok(dir)
    }

    pub(crate) fn apps_dir(&self) -> std::path::PathBuf {
        self.path.join("apps.s")
    }
}

impl Drop for RuntimeDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
