use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};

use ferry_test_support::require::require;
use ferry_test_support::Requirement;

use super::*;
use crate::category::Category;
use crate::error::{Description, EnvDump};
use crate::journey::{Step, StepState};

const NOBODY: u32 = 65534;

fn workdir_with(app: Option<(u32, u32)>) -> (tempfile::TempDir, WorkDir) {
    let parent = tempfile::tempdir().expect("tempdir");
    let mut args = Map::new();
    args.insert("app_root".into(), Value::String("/srv/app".into()));
    args.insert("log_level".into(), Value::from(3));
    args.insert(
        "environment_variables".into(),
        serde_json::json!({"A": "1"}),
    );
    let journey = Journey::new(JourneyType::SpawnDirectly, true, false);
    let dir = WorkDir::create(parent.path(), &args, &journey, app).expect("create");
    (parent, dir)
}

fn workdir() -> (tempfile::TempDir, WorkDir) {
    workdir_with(None)
}

/// Everything a failed spawn reads back, and the problems met.
async fn read_all(dir: &WorkDir) -> (SubprocessError, Option<EnvDump>, Vec<String>) {
    let ((error, dump), problems) = dir
        .read(|r| (r.error().parse(), r.envdump().parse()))
        .await
        .expect("the directory is readable");
    (error, dump, problems)
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
    let finish = fs::metadata(p.join("response/finish")).unwrap();
    assert!(finish.file_type().is_fifo());
    assert!(p.join("response/steps/subprocess_exec_wrapper").is_dir());
    assert!(p.join("envdump/annotations").is_dir());
    let meta = fs::metadata(p).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o700);
    // Ferry's until the setupper hands it over.
    assert_eq!(meta.uid(), rustix::process::geteuid().as_raw());
}

#[tokio::test]
async fn the_response_is_read_back() {
    let (_parent, dir) = workdir();
    let p = dir.path().to_owned();
    let wd = Writer::open(&p).unwrap();
    wd.record_step(Step::SubprocessExecWrapper, StepState::InProgress);
    wd.record_step(Step::SubprocessExecWrapper, StepState::Performed);
    let steps = p.join("response/steps/subprocess_listen");
    fs::write(steps.join("state"), "STEP_ERRORED").unwrap();
    fs::write(steps.join("begin_time"), "1700000000.5").unwrap();
    wd.write_error(&ErrorReport {
        category: Category::Io,
        summary: "it broke",
        problem: Some("the problem"),
        solution: None,
        advanced: Some("trace"),
    });
    fs::write(
        p.join("response/error/solution_description.html"),
        "<b>x</b>",
    )
    .unwrap();
    fs::write(p.join("envdump/annotations/ruby_info"), "3.1").unwrap();
    wd.write_envdump(&EnvDump {
        envvars: Some("A=1\n".into()),
        ..EnvDump::default()
    });

    let mut journey = Journey::new(JourneyType::SpawnDirectly, true, false);
    dir.read_steps(&mut journey).await;
    assert_eq!(
        journey.state(Step::SubprocessExecWrapper),
        StepState::Performed
    );
    assert_eq!(journey.state(Step::SubprocessListen), StepState::Errored);
    let (error, dump, problems) = read_all(&dir).await;
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(error.category, Some(Category::Io));
    assert_eq!(error.summary.as_deref(), Some("it broke"));
    assert_eq!(error.problem, Some(Description::Text("the problem".into())));
    assert_eq!(error.solution, Some(Description::Html("<b>x</b>".into())));
    let dump = dump.expect("dump");
    assert_eq!(dump.envvars.as_deref(), Some("A=1\n"));
    assert_eq!(dump.annotations, vec![("ruby_info".into(), "3.1".into())]);
}

#[tokio::test]
async fn a_spawn_through_a_preloader_gets_fifos_and_preloader_steps() {
    let parent = tempfile::tempdir().expect("tempdir");
    let journey = Journey::new(JourneyType::SpawnThroughPreloader, true, false);
    let dir = WorkDir::create(parent.path(), &Map::new(), &journey, None).expect("create");
    for fifo in [dir.stdin_path(), dir.output_path()] {
        assert!(fs::metadata(fifo).unwrap().file_type().is_fifo());
    }
    let steps = dir.path().join("response/steps");
    assert!(steps.join("preloader_fork_subprocess").is_dir());
    assert!(steps
        .join("subprocess_prepare_after_forking_from_preloader")
        .is_dir());
    let wd = Writer::open(dir.path()).unwrap();
    wd.record_step(Step::PreloaderFinish, StepState::Performed);
    let mut journey = journey;
    dir.read_steps(&mut journey).await;
    assert_eq!(journey.state(Step::PreloaderFinish), StepState::Performed);
}

#[test]
fn drop_removes_the_directory() {
    let (_parent, dir) = workdir();
    let path = dir.path().to_owned();
    drop(dir);
    assert!(!path.exists());
}

#[test]
fn drop_does_not_follow_a_link_the_app_left() {
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("keep"), "mine").unwrap();
    let (_parent, dir) = workdir();
    std::os::unix::fs::symlink(outside.path(), dir.path().join("response/error/link")).unwrap();
    let path = dir.path().to_owned();
    drop(dir);
    assert!(!path.exists());
    assert_eq!(
        fs::read_to_string(outside.path().join("keep")).unwrap(),
        "mine"
    );
}

/// Every hostile kind of file an app can leave where Ferry reads: each is refused, named, and
/// nothing of its target is read.
#[tokio::test]
async fn hostile_files_are_refused_and_named_without_reading_them() {
    let secret = tempfile::NamedTempFile::new().unwrap();
    fs::write(secret.path(), "SECRET-7731").unwrap();
    let (_parent, dir) = workdir();
    let p = dir.path();
    let error = p.join("response/error");
    std::os::unix::fs::symlink(secret.path(), error.join("summary")).unwrap();
    nix::unistd::mkfifo(
        &error.join("category"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    std::os::unix::fs::symlink("/dev/zero", error.join("problem_description.txt")).unwrap();
    let huge = fs::File::create(error.join("advanced_problem_details")).unwrap();
    huge.set_len(1 << 30).unwrap();
    std::os::unix::fs::symlink(secret.path(), p.join("envdump/envvars")).unwrap();

    let (read, _dump, problems) = read_all(&dir).await;
    let all = problems.join("\n");
    for named in [
        "response/error/summary is a symbolic link",
        "response/error/category is a FIFO",
        "response/error/problem_description.txt is a symbolic link",
        "response/error/advanced_problem_details is larger than",
        "envdump/envvars is a symbolic link",
    ] {
        assert!(all.contains(named), "{named}: {all}");
    }
    assert!(!all.contains("SECRET-7731"), "{all}");
    assert_eq!(read.summary, None);
    assert_eq!(read.category, None);
}

#[tokio::test]
async fn a_linked_directory_and_a_bad_properties_file_are_refused() {
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("summary"), "SECRET-2290").unwrap();
    let (_parent, dir) = workdir();
    let error = dir.path().join("response/error");
    fs::remove_dir(&error).unwrap();
    std::os::unix::fs::symlink(outside.path(), &error).unwrap();
    nix::unistd::mkfifo(
        &dir.path().join("response/properties.json"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    let ((properties, error), problems) = dir
        .read(|r| (r.properties().map_err(|e| e.to_string()), r.error().parse()))
        .await
        .unwrap();
    let properties = properties.unwrap_err();
    assert!(
        properties.contains("response/properties.json is a FIFO"),
        "{properties}"
    );
    assert!(
        problems[0].starts_with("response/error is a symbolic link"),
        "{problems:?}"
    );
    assert_eq!(error.summary, None);
}

#[test]
fn the_writer_replaces_links_and_never_writes_through_them() {
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("victim");
    fs::write(&target, "untouched").unwrap();
    let (_parent, dir) = workdir();
    let p = dir.path();
    std::os::unix::fs::symlink(&target, p.join("response/error/summary")).unwrap();
    std::os::unix::fs::symlink(&target, p.join("envdump/pid")).unwrap();
    let wd = Writer::open(p).unwrap();
    wd.write_error(&ErrorReport {
        category: Category::Internal,
        summary: "written",
        problem: None,
        solution: None,
        advanced: None,
    });
    wd.write_envdump(&EnvDump {
        pid: Some(7),
        ..EnvDump::default()
    });
    assert_eq!(fs::read_to_string(&target).unwrap(), "untouched");
    let summary = p.join("response/error/summary");
    assert!(!fs::symlink_metadata(&summary).unwrap().is_symlink());
    assert_eq!(fs::read_to_string(summary).unwrap(), "written");

    // A linked directory is not entered: the write fails, the target stays empty.
    let steps = p.join("response/steps");
    fs::remove_dir_all(&steps).unwrap();
    std::os::unix::fs::symlink(outside.path(), &steps).unwrap();
    wd.record_step(Step::SubprocessListen, StepState::Performed);
    assert!(!outside.path().join("subprocess_listen").exists());
}

#[test]
fn the_writer_opens_only_a_directory_of_its_own_user() {
    let (_parent, dir) = workdir();
    let link = dir.path().with_extension("link");
    std::os::unix::fs::symlink(dir.path(), &link).unwrap();
    assert!(Writer::open(&link).is_err(), "a link is not opened");
    fs::remove_file(&link).unwrap();
    if !require(&[Requirement::Root]) {
        return;
    }
    std::os::unix::fs::chown(dir.path(), Some(NOBODY), None).unwrap();
    let err = Writer::open(dir.path()).unwrap_err();
    assert!(err.to_string().contains("belongs to uid 65534"), "{err}");
}

#[tokio::test]
async fn a_handed_over_directory_is_all_the_apps_and_only_its_files_are_read() {
    if !require(&[Requirement::Root]) {
        return;
    }
    let (_parent, dir) = workdir_with(Some((NOBODY, NOBODY)));
    let outside = tempfile::NamedTempFile::new().unwrap();
    let link = dir.path().join("response/error/link");
    std::os::unix::fs::symlink(outside.path(), &link).unwrap();
    dir.hand_over().unwrap();
    for path in [
        dir.path().to_owned(),
        dir.path().join("args.json"),
        dir.path().join("response/finish"),
        dir.path().join("response/steps/subprocess_listen"),
        link.clone(),
    ] {
        let meta = fs::symlink_metadata(&path).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (NOBODY, NOBODY), "{path:?}");
    }
    // The link itself was changed, not its target.
    assert_eq!(fs::metadata(outside.path()).unwrap().uid(), 0);

    // A file of root's in the app's directory (a hard link, say) is not read.
    fs::write(dir.path().join("response/error/summary"), "root's").unwrap();
    let (error, _dump, problems) = read_all(&dir).await;
    assert_eq!(error.summary, None);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("response/error/summary belongs to uid 0")),
        "{problems:?}"
    );
}

#[test]
fn a_shared_spawn_directory_must_be_sticky() {
    let parent = tempfile::tempdir().unwrap();
    fs::set_permissions(parent.path(), fs::Permissions::from_mode(0o777)).unwrap();
    let journey = Journey::new(JourneyType::SpawnDirectly, true, false);
    let err = WorkDir::create(parent.path(), &Map::new(), &journey, None).unwrap_err();
    assert!(err.to_string().contains("not sticky"), "{err}");
    fs::set_permissions(parent.path(), fs::Permissions::from_mode(0o1777)).unwrap();
    assert!(WorkDir::create(parent.path(), &Map::new(), &journey, None).is_ok());
}
