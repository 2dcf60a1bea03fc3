//! The work directory of one spawn (seed 004, "The work directory").
//!
//! ```text
//! ferry.spawn.XXXXXXXX/          0700, owned by the app's user
//!   args.json  args/<key>        the spawn arguments
//!   response/finish              FIFO: the subprocess writes `1` (up) or `0` (failed)
//!   response/properties.json     written by the subprocess: its sockets
//!   response/error/              written by a failing subprocess
//!   response/steps/<step>/       state, begin_time[_monotonic], end_time[_monotonic]
//!   envdump/                     envvars, user_info, ulimits, annotations/
//!   stdin  stdout_and_err        FIFOs, only to spawn through a preloader: the worker's stdin
//!                                and its output
//! ```
//!
//! Ferry creates it before the fork ([`WorkDir::create`]) and reads the response back after the
//! handshake; it is removed when the [`WorkDir`] is dropped. The subprocess side (the setupper)
//! writes through [`record_step`], [`write_error`] and [`write_envdump`].

use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::args;
use crate::category::Category;
use crate::error::{Description, EnvDump};
use crate::journey::{self, Actor, Journey, JourneyType, Step, StepState};

/// Longest `properties.json` read back.
const MAX_PROPERTIES: u64 = 32 * 1024;
/// Longest step file read back.
const MAX_STEP_FILE: u64 = 32;
/// Longest error category read back.
const MAX_CATEGORY: u64 = 32;
/// Longest error message read back.
const MAX_ERROR_MESSAGE: u64 = 128 * 1024;
/// Longest envdump file read back.
const MAX_ENVDUMP: u64 = 128 * 1024;

/// A spawn's work directory, removed on drop.
#[derive(Debug)]
pub(crate) struct WorkDir {
    path: PathBuf,
}

/// What a failed subprocess wrote into `response/error/`.
#[derive(Debug, Default)]
pub(crate) struct SubprocessError {
    pub(crate) category: Option<Category>,
    pub(crate) summary: Option<String>,
    pub(crate) problem: Option<Description>,
    pub(crate) solution: Option<Description>,
    pub(crate) advanced: Option<String>,
}

// === impl WorkDir ===

impl WorkDir {
    /// Creates a fresh work directory under `parent` with the arguments, the finish FIFO and one
    /// directory per subprocess step of `journey`; everything is handed to `owner` (uid, gid)
    /// when the app runs as another user.
    pub(crate) fn create(
        parent: &Path,
        args: &Map<String, Value>,
        journey: &Journey,
        owner: Option<(u32, u32)>,
    ) -> io::Result<WorkDir> {
        let template = parent.join("ferry.spawn.XXXXXXXX");
        let path = nix::unistd::mkdtemp(&template).map_err(io::Error::from)?;
        let dir = WorkDir { path };
        dir.populate(args, journey)?;
        if let Some((uid, gid)) = owner {
            chown_tree(&dir.path, uid, gid)?;
        }
        Ok(dir)
    }

    fn populate(&self, args: &Map<String, Value>, journey: &Journey) -> io::Result<()> {
        let mkdir = |p: &Path| fs::DirBuilder::new().mode(0o700).create(p);
        write_private(&self.path.join("args.json"), &serde_json::to_vec(args)?)?;
        mkdir(&self.path.join("args"))?;
        for (key, value) in args {
            match args::scalar_text(value) {
                Some(text) => write_private(&self.path.join("args").join(key), text.as_bytes())?,
                None => write_private(
                    &self.path.join("args").join(format!("{key}.json")),
                    &serde_json::to_vec(value)?,
                )?,
            }
        }
        let response = self.path.join("response");
        mkdir(&response)?;
        nix::unistd::mkfifo(
            &response.join("finish"),
            nix::sys::stat::Mode::from_bits_truncate(0o600),
        )
        .map_err(io::Error::from)?;
        mkdir(&response.join("error"))?;
        mkdir(&response.join("steps"))?;
        for record in journey
            .steps()
            .iter()
            .filter(|r| r.step.actor() != Actor::Ferry)
        {
            mkdir(&response.join("steps").join(record.step.dir_name()))?;
        }
        if journey.kind() == JourneyType::SpawnThroughPreloader {
            for fifo in [self.stdin_path(), self.output_path()] {
                nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600))
                    .map_err(io::Error::from)?;
            }
        }
        mkdir(&self.path.join("envdump"))?;
        mkdir(&self.path.join("envdump/annotations"))
    }

    /// The directory's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The finish FIFO.
    pub(crate) fn finish_path(&self) -> PathBuf {
        self.path.join("response/finish")
    }

    /// The FIFO that becomes the stdin of a worker forked by a preloader.
    pub(crate) fn stdin_path(&self) -> PathBuf {
        self.path.join("stdin")
    }

    /// The FIFO that becomes the stdout and stderr of a worker forked by a preloader.
    pub(crate) fn output_path(&self) -> PathBuf {
        self.path.join("stdout_and_err")
    }

    /// `response/properties.json`, if the subprocess wrote one.
    pub(crate) fn read_properties(&self) -> io::Result<Option<String>> {
        read_limited(&self.path.join("response/properties.json"), MAX_PROPERTIES)
    }

    /// What the subprocess wrote into `response/error/`.
    pub(crate) fn read_error(&self) -> SubprocessError {
        let dir = self.path.join("response/error");
        let read = |name: &str, limit| {
            read_limited(&dir.join(name), limit)
                .ok()
                .flatten()
                .filter(|s| !s.trim().is_empty())
        };
        let description = |base: &str| {
            read(&format!("{base}.html"), MAX_ERROR_MESSAGE)
                .map(Description::Html)
                .or_else(|| read(&format!("{base}.txt"), MAX_ERROR_MESSAGE).map(Description::Text))
        };
        SubprocessError {
            category: read("category", MAX_CATEGORY).map(|c| Category::from_name(&c)),
            summary: read("summary", MAX_ERROR_MESSAGE).map(|s| s.trim().to_owned()),
            problem: description("problem_description"),
            solution: description("solution_description"),
            advanced: read("advanced_problem_details", MAX_ERROR_MESSAGE),
        }
    }

    /// Merges the records of the steps the subprocess (and the preloader) took into `journey`.
    pub(crate) fn read_steps(&self, journey: &mut Journey) {
        let steps: Vec<Step> = journey
            .steps()
            .iter()
            .filter(|r| r.step.actor() != Actor::Ferry)
            .map(|r| r.step)
            .collect();
        for step in steps {
            let dir = self.path.join("response/steps").join(step.dir_name());
            let read = |name: &str| read_limited(&dir.join(name), MAX_STEP_FILE).ok().flatten();
            let Some(state) = read("state").and_then(|s| StepState::from_name(&s)) else {
                continue;
            };
            let time = |base: &str| {
                let parse = |s: String| s.trim().parse::<f64>().ok();
                read(&format!("{base}_monotonic"))
                    .and_then(parse)
                    .or_else(|| read(base).and_then(parse).map(journey::wall_to_monotonic))
            };
            journey.merge_subprocess_step(step, state, time("begin_time"), time("end_time"));
        }
    }

    /// What the subprocess wrote into `envdump/`, if anything.
    pub(crate) fn read_envdump(&self) -> Option<EnvDump> {
        let dir = self.path.join("envdump");
        let read = |name: &str| read_limited(&dir.join(name), MAX_ENVDUMP).ok().flatten();
        let mut annotations: Vec<(String, String)> = fs::read_dir(dir.join("annotations"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                read_limited(&e.path(), MAX_ENVDUMP)
                    .ok()
                    .flatten()
                    .map(|v| (name, v))
            })
            .collect();
        annotations.sort();
        let dump = EnvDump {
            pid: read("pid").and_then(|p| p.trim().parse().ok()),
            envvars: read("envvars"),
            user_info: read("user_info"),
            ulimits: read("ulimits"),
            annotations,
        };
        (dump != EnvDump::default()).then_some(dump)
    }
}

impl Drop for WorkDir {
    /// Removes the directory, on the blocking pool when there is a runtime: deleting a few dozen
    /// files can take milliseconds on a slow disk, and a finished spawn need not wait for it.
    fn drop(&mut self) {
        let path = std::mem::take(&mut self.path);
        let remove = move || {
            if let Err(e) = fs::remove_dir_all(&path) {
                tracing::debug!(path = %path.display(), error = %e, "could not remove work directory");
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn_blocking(remove)),
            Err(_) => remove(),
        }
    }
}

fn write_private(path: &Path, contents: &[u8]) -> io::Result<()> {
    use std::io::Write;
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?
        .write_all(contents)
}

pub(crate) fn chown_tree(path: &Path, uid: u32, gid: u32) -> io::Result<()> {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid))?;
    if fs::symlink_metadata(path)?.is_dir() {
        for entry in fs::read_dir(path)? {
            chown_tree(&entry?.path(), uid, gid)?;
        }
    }
    Ok(())
}

/// Reads at most `limit` bytes of a regular file; `None` if it does not exist.
fn read_limited(path: &Path, limit: u64) -> io::Result<Option<String>> {
    let file = match fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut bytes = Vec::new();
    file.take(limit).read_to_end(&mut bytes)?;
    Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
}

// === the subprocess side ===

/// Records a step's state in `work_dir` (begin time when it starts, end time when it ends).
pub(crate) fn record_step(work_dir: &Path, step: Step, state: StepState) {
    let dir = work_dir.join("response/steps").join(step.dir_name());
    let now = format!("{:.6}", journey::monotonic_now());
    let _ = fs::create_dir_all(&dir);
    let _ = fs::write(dir.join("state"), state.name());
    let begin = dir.join("begin_time_monotonic");
    if state == StepState::InProgress || !begin.exists() {
        let _ = fs::write(&begin, &now);
    }
    if matches!(state, StepState::Performed | StepState::Errored) {
        let _ = fs::write(dir.join("end_time_monotonic"), &now);
    }
}

/// Writes a failure report into `response/error/`.
pub(crate) fn write_error(
    work_dir: &Path,
    category: Category,
    summary: &str,
    problem: Option<&str>,
    solution: Option<&str>,
    advanced: Option<&str>,
) {
    let dir = work_dir.join("response/error");
    let _ = fs::create_dir_all(&dir);
    let _ = fs::write(dir.join("category"), category.name());
    let _ = fs::write(dir.join("summary"), summary);
    if let Some(p) = problem {
        let _ = fs::write(dir.join("problem_description.txt"), p);
    }
    if let Some(s) = solution {
        let _ = fs::write(dir.join("solution_description.txt"), s);
    }
    if let Some(a) = advanced {
        let _ = fs::write(dir.join("advanced_problem_details"), a);
    }
}

/// Writes `envdump/` files.
pub(crate) fn write_envdump(work_dir: &Path, dump: &EnvDump) {
    let dir = work_dir.join("envdump");
    let _ = fs::create_dir_all(&dir);
    let files = [
        ("pid", dump.pid.map(|p| p.to_string())),
        ("envvars", dump.envvars.clone()),
        ("user_info", dump.user_info.clone()),
        ("ulimits", dump.ulimits.clone()),
    ];
    for (name, value) in files {
        if let Some(value) = value {
            let _ = fs::write(dir.join(name), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workdir() -> (tempfile::TempDir, WorkDir) {
        let parent = tempfile::tempdir().expect("tempdir");
        let mut args = Map::new();
        args.insert("app_root".into(), Value::String("/srv/app".into()));
        args.insert("log_level".into(), Value::from(3));
        args.insert(
            "environment_variables".into(),
            serde_json::json!({"A": "1"}),
        );
        let journey = Journey::new(JourneyType::SpawnDirectly, true, false);
        let dir = WorkDir::create(parent.path(), &args, &journey, None).expect("create");
        (parent, dir)
    }

    #[test]
    fn creation_lays_out_the_directory() {
        let (_parent, dir) = workdir();
        let p = dir.path();
        assert_eq!(
            fs::read_to_string(p.join("args/app_root")).unwrap(),
            "/srv/app"
        );
        assert_eq!(fs::read_to_string(p.join("args/log_level")).unwrap(), "3");
        assert!(p.join("args/environment_variables.json").exists());
        assert!(p.join("args.json").exists());
        use std::os::unix::fs::FileTypeExt;
        assert!(fs::metadata(dir.finish_path())
            .unwrap()
            .file_type()
            .is_fifo());
        assert!(p.join("response/steps/subprocess_exec_wrapper").is_dir());
        assert!(p.join("envdump/annotations").is_dir());
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(fs::metadata(p).unwrap().permissions().mode() & 0o777, 0o700);
    }

    #[test]
    fn the_response_is_read_back() {
        let (_parent, dir) = workdir();
        let p = dir.path().to_owned();
        record_step(&p, Step::SubprocessExecWrapper, StepState::InProgress);
        record_step(&p, Step::SubprocessExecWrapper, StepState::Performed);
        let steps = p.join("response/steps/subprocess_listen");
        fs::write(steps.join("state"), "STEP_ERRORED").unwrap();
        fs::write(steps.join("begin_time"), "1700000000.5").unwrap();
        write_error(
            &p,
            Category::Io,
            "it broke",
            Some("the problem"),
            None,
            Some("trace"),
        );
        fs::write(
            p.join("response/error/solution_description.html"),
            "<b>x</b>",
        )
        .unwrap();
        fs::write(p.join("envdump/annotations/ruby_info"), "3.1").unwrap();
        write_envdump(
            &p,
            &EnvDump {
                envvars: Some("A=1\n".into()),
                ..EnvDump::default()
            },
        );

        let mut journey = Journey::new(JourneyType::SpawnDirectly, true, false);
        dir.read_steps(&mut journey);
        assert_eq!(
            journey.state(Step::SubprocessExecWrapper),
            StepState::Performed
        );
        assert_eq!(journey.state(Step::SubprocessListen), StepState::Errored);
        let error = dir.read_error();
        assert_eq!(error.category, Some(Category::Io));
        assert_eq!(error.summary.as_deref(), Some("it broke"));
        assert_eq!(error.problem, Some(Description::Text("the problem".into())));
        assert_eq!(error.solution, Some(Description::Html("<b>x</b>".into())));
        let dump = dir.read_envdump().expect("dump");
        assert_eq!(dump.envvars.as_deref(), Some("A=1\n"));
        assert_eq!(dump.annotations, vec![("ruby_info".into(), "3.1".into())]);
    }

    #[test]
    fn a_spawn_through_a_preloader_gets_fifos_and_preloader_steps() {
        let parent = tempfile::tempdir().expect("tempdir");
        let journey = Journey::new(JourneyType::SpawnThroughPreloader, true, false);
        let dir = WorkDir::create(parent.path(), &Map::new(), &journey, None).expect("create");
        use std::os::unix::fs::FileTypeExt;
        for fifo in [dir.stdin_path(), dir.output_path()] {
            assert!(fs::metadata(fifo).unwrap().file_type().is_fifo());
        }
        let steps = dir.path().join("response/steps");
        assert!(steps.join("preloader_fork_subprocess").is_dir());
        assert!(steps
            .join("subprocess_prepare_after_forking_from_preloader")
            .is_dir());
        record_step(dir.path(), Step::PreloaderFinish, StepState::Performed);
        let mut journey = journey;
        dir.read_steps(&mut journey);
        assert_eq!(journey.state(Step::PreloaderFinish), StepState::Performed);
    }

    #[test]
    fn drop_removes_the_directory() {
        let (_parent, dir) = workdir();
        let path = dir.path().to_owned();
        drop(dir);
        assert!(!path.exists());
    }
}
