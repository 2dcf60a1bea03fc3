use std::os::unix::fs::PermissionsExt;

use super::*;

fn options(registry: &Path) -> InstanceOptions {
    InstanceOptions {
        registry_dir: Some(registry.to_owned()),
        version: "1.2.3".into(),
        description: "Ferry 1.2.3".into(),
        listeners: vec!["http://127.0.0.1:3000".into()],
        config_file: Some("/etc/ferry/nginx.conf".into()),
        ..InstanceOptions::default()
    }
}

fn env(euid: u32) -> RegistryEnv {
    RegistryEnv {
        euid,
        ..RegistryEnv::default()
    }
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).expect("metadata").permissions().mode() & 0o7777
}

#[test]
fn the_registry_directory_follows_the_rules() {
    assert_eq!(env(0).default_registry_dir(), PathBuf::from("/run/ferry"));
    let user = RegistryEnv {
        euid: 1000,
        xdg_runtime_dir: Some("/run/user/1000".into()),
        passenger_tmpdir: Some("/var/ptmp".into()),
        tmpdir: Some("/var/tmp".into()),
    };
    assert_eq!(
        user.default_registry_dir(),
        PathBuf::from("/run/user/1000/ferry")
    );
    let no_xdg = RegistryEnv {
        xdg_runtime_dir: None,
        ..user.clone()
    };
    assert_eq!(no_xdg.default_registry_dir(), PathBuf::from("/var/ptmp"));
    let only_tmpdir = RegistryEnv {
        passenger_tmpdir: None,
        ..no_xdg.clone()
    };
    assert_eq!(
        only_tmpdir.default_registry_dir(),
        PathBuf::from("/var/tmp")
    );
    assert_eq!(env(1000).default_registry_dir(), PathBuf::from("/tmp"));
    assert_eq!(
        user.search_dirs(),
        [
            PathBuf::from("/run/user/1000/ferry"),
            "/run/ferry".into(),
            "/var/ptmp".into()
        ]
    );
    assert_eq!(
        env(0).search_dirs(),
        [PathBuf::from("/run/ferry"), "/tmp".into()]
    );
}

#[test]
fn create_writes_everything_and_drop_removes_it() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let registry = tmp.path().join("reg");
    let me = nix::unistd::geteuid().as_raw();
    let instance = InstanceDir::create(&options(&registry), &env(me)).expect("create");
    let path = instance.path().to_owned();
    assert!(path.starts_with(&registry));
    assert_eq!(instance.name().len(), 8);
    assert_eq!(
        path.file_name().and_then(|n| n.to_str()),
        Some(format!("ferry.{}", instance.name()).as_str())
    );
    assert_eq!(mode(&path), 0o755);
    assert_eq!(mode(&path.join(FULL_PASSWORD_FILE)), 0o600);
    assert_eq!(mode(&path.join(READ_ONLY_PASSWORD_FILE)), 0o640);
    assert_eq!(
        fs::read_to_string(path.join(FULL_PASSWORD_FILE)).expect("read"),
        instance.full_password()
    );
    assert_ne!(instance.full_password(), instance.read_only_password());
    assert_eq!(instance.admin_socket_path(), path.join(ADMIN_SOCKET));
    let properties: Properties =
        serde_json::from_slice(&fs::read(path.join(PROPERTIES_FILE)).expect("read"))
            .expect("properties.json parses");
    assert_eq!(&properties, instance.properties());
    assert_eq!(properties.pid, std::process::id());
    assert_eq!(properties.uid, me);
    assert_eq!(properties.listeners, ["http://127.0.0.1:3000"]);
    let me_dir = open_trusted(&path, me).unwrap().expect("ours");
    assert_eq!(lock_is_held(&me_dir), Some(true));
    assert!(!path.join(LOCK_TMP).exists());

    let listing = list_instances(&registry).expect("list");
    assert_eq!(listing.instances.len(), 1);
    assert_eq!(listing.instances[0].properties.name, instance.name());
    assert!(listing.cleaned.is_empty());
    instance.touch().expect("touch");

    drop(instance);
    assert!(!path.exists());
    assert!(list_instances(&registry)
        .expect("list")
        .instances
        .is_empty());
}

#[test]
fn listeners_can_be_recorded_later() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut instance = InstanceDir::create(&options(tmp.path()), &env(0)).expect("create");
    instance
        .set_listeners(vec!["unix:/run/app.sock".into()])
        .expect("update");
    let listing = list_instances(tmp.path()).expect("list");
    assert_eq!(
        listing.instances[0].properties.listeners,
        ["unix:/run/app.sock"]
    );
}

#[test]
fn a_name_can_be_chosen_once() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let named = InstanceOptions {
        name: Some("web-1".into()),
        ..options(tmp.path())
    };
    let first = InstanceDir::create(&named, &env(0)).expect("create");
    assert_eq!(first.name(), "web-1");
    let again = InstanceDir::create(&named, &env(0)).expect_err("in use");
    assert!(matches!(again, RegistryError::NameInUse { .. }), "{again}");
    let bad = InstanceOptions {
        name: Some("../x".into()),
        ..options(tmp.path())
    };
    assert!(matches!(
        InstanceDir::create(&bad, &env(0)),
        Err(RegistryError::InvalidName(_))
    ));
    drop(first);
    InstanceDir::create(&named, &env(0)).expect("free again");
}

/// A directory that looks like an instance of a Ferry that died without cleaning up.
fn fake_dead_instance(registry: &Path, name: &str, pid: u32) -> PathBuf {
    let path = registry.join(format!("{DIR_PREFIX}{name}"));
    fs::create_dir_all(&path).expect("mkdir");
    fs::write(path.join(LOCK_FILE), "").expect("lock");
    let properties = Properties {
        layout_version: LAYOUT_VERSION,
        name: name.into(),
        pid,
        version: "0".into(),
        description: String::new(),
        started_at: 0,
        listeners: vec![],
        config_file: None,
        admin_socket: path.join(ADMIN_SOCKET),
        user: "root".into(),
        uid: 0,
    };
    write_properties(&path, &properties).expect("properties");
    path
}

#[test]
fn stale_instances_are_cleaned() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let live = InstanceDir::create(&options(tmp.path()), &env(0)).expect("create");
    // A pid beyond pid_max: certainly not running.
    let dead_pid = fake_dead_instance(tmp.path(), "deadpid", 2_000_000_000);
    // Our own pid, which is alive, but nobody holds the lock (a pid reused after a crash).
    let unlocked = fake_dead_instance(tmp.path(), "unlocked", std::process::id());
    // Not an instance at all: left alone.
    let other = tmp.path().join("something-else");
    fs::create_dir(&other).expect("mkdir");
    // Being created right now (no properties yet, fresh): left alone.
    let young = tmp.path().join("ferry.young");
    fs::create_dir(&young).expect("mkdir");

    let listing = list_instances(tmp.path()).expect("list");
    assert_eq!(
        listing
            .instances
            .iter()
            .map(|i| i.properties.name.as_str())
            .collect::<Vec<_>>(),
        [live.name()]
    );
    let mut cleaned = listing.cleaned.clone();
    cleaned.sort();
    assert_eq!(cleaned, [dead_pid.clone(), unlocked.clone()]);
    assert!(!dead_pid.exists() && !unlocked.exists());
    assert!(other.exists() && young.exists());
}

#[test]
fn a_missing_registry_holds_nothing() {
    let listing = list_instances(Path::new("/nonexistent/ferry-registry")).expect("list");
    assert!(listing.instances.is_empty());
    let all = list_all(&[
        PathBuf::from("/nonexistent/a"),
        PathBuf::from("/nonexistent/b"),
    ]);
    assert!(all.instances.is_empty());
}

#[test]
fn selecting_an_instance() {
    let instance = |name: &str| Instance {
        path: PathBuf::from(format!("/r/ferry.{name}")),
        properties: Properties {
            layout_version: 1,
            name: name.into(),
            pid: 1,
            version: "1".into(),
            description: String::new(),
            started_at: 0,
            listeners: vec![],
            config_file: None,
            admin_socket: PathBuf::new(),
            user: "root".into(),
            uid: 0,
        },
    };
    assert_eq!(select(&[], None), Err(SelectError::NoneRunning));
    let one = [instance("abc")];
    assert_eq!(
        select(&one, None).map(|i| i.properties.name.as_str()),
        Ok("abc")
    );
    let two = [instance("abc"), instance("abd")];
    assert!(matches!(select(&two, None), Err(SelectError::Ambiguous(_))));
    assert!(matches!(
        select(&two, Some("ab")),
        Err(SelectError::Ambiguous(_))
    ));
    assert_eq!(
        select(&two, Some("abd")).map(|i| i.properties.name.as_str()),
        Ok("abd")
    );
    assert_eq!(
        select(&two, Some("abc")).map(|i| i.path.clone()),
        Ok("/r/ferry.abc".into())
    );
    assert_eq!(
        select(&two, Some("x")),
        Err(SelectError::NoSuchName("x".into()))
    );
    let message = no_instance_message(&["/run/ferry".into(), "/tmp".into()]);
    assert!(message.contains("\n  /run/ferry\n  /tmp\n"), "{message}");
}

/// A directory `name` in `registry` owned by `uid`, with its files planted as an attacker would:
/// a lock that is a FIFO, properties that are a link, passwords that are links to `target`.
fn planted(registry: &Path, name: &str, uid: u32, target: &Path) -> PathBuf {
    let path = registry.join(format!("{DIR_PREFIX}{name}"));
    fs::create_dir(&path).unwrap();
    nix::unistd::mkfifo(
        &path.join(LOCK_FILE),
        nix::sys::stat::Mode::from_bits_truncate(0o644),
    )
    .unwrap();
    for file in [PROPERTIES_FILE, FULL_PASSWORD_FILE, READ_ONLY_PASSWORD_FILE] {
        std::os::unix::fs::symlink(target, path.join(file)).unwrap();
    }
    let chown = |p: &Path| std::os::unix::fs::lchown(p, Some(uid), Some(uid));
    for entry in fs::read_dir(&path).unwrap() {
        chown(&entry.unwrap().path()).unwrap();
    }
    chown(&path).unwrap();
    path
}

#[test]
fn a_directory_being_created_is_private_and_its_lock_is_locked_before_it_has_its_name() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("ferry.fresh");
    let (_, lock) = try_claim(&path).unwrap().expect("claimed");
    // Until `create` has written everything, only Ferry's user gets in.
    assert_eq!(mode(&path), 0o700);
    assert!(path.join(LOCK_FILE).exists() && !path.join(LOCK_TMP).exists());
    let me = nix::unistd::geteuid().as_raw();
    let dir = open_trusted(&path, me).unwrap().expect("ours");
    assert_eq!(lock_is_held(&dir), Some(true));
    drop(lock);
    assert_eq!(lock_is_held(&dir), Some(false));
    // A name that exists is never reused.
    assert!(try_claim(&path).unwrap().is_none());
}

#[test]
fn a_registry_others_may_rename_in_is_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o777)).unwrap();
    let err = InstanceDir::create(&options(tmp.path()), &env(0)).expect_err("refused");
    assert!(
        matches!(&err, RegistryError::UnsafeRegistry { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("not sticky"), "{err}");
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o1777)).unwrap();
    InstanceDir::create(&options(tmp.path()), &env(0)).expect("sticky is fine");
}

#[test]
fn directories_ferry_did_not_make_are_ignored_never_read_nor_removed() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let secret = tmp.path().join("secret");
    fs::write(&secret, "SECRET-5150").unwrap();
    // A Ferry's runtime directory (`ferry.<pid>.<n>`, no lock): not an instance, even when old.
    let runtime = tmp.path().join("ferry.123.abc");
    fs::create_dir(&runtime).unwrap();
    File::open(&runtime)
        .unwrap()
        .set_modified(SystemTime::now() - 2 * UNFINISHED_GRACE)
        .unwrap();
    let listing = list_instances(tmp.path()).expect("list");
    assert!(listing.instances.is_empty() && listing.cleaned.is_empty());
    assert!(runtime.exists());

    if !ferry_test_support::require::require(&[ferry_test_support::Requirement::Root]) {
        return;
    }
    let foreign = planted(tmp.path(), "planted", 1, &secret);
    // Root's listing ignores another user's directory: no hang on its FIFO, nothing removed.
    let listing = list_instances_as(tmp.path(), 0).expect("list");
    assert!(listing.instances.is_empty() && listing.cleaned.is_empty());
    assert!(foreign.exists());
    // A name another user took is never reused, nor removed.
    let named = InstanceOptions {
        name: Some("planted".into()),
        ..options(tmp.path())
    };
    let err = InstanceDir::create(&named, &env(0)).expect_err("not ours");
    assert!(
        matches!(&err, RegistryError::NotOurs { owner: 1, .. }),
        "{err}"
    );
    assert!(foreign.exists());
    // Root's own planted-looking directory: its FIFO lock is not waited on, its linked files
    // are not read.
    let own = planted(tmp.path(), "own", 0, &secret);
    let dir = open_trusted(&own, 0).unwrap().expect("root's");
    assert_eq!(lock_is_held(&dir), Some(true));
    let listing = list_instances_as(tmp.path(), 0).expect("list");
    assert!(listing.instances.is_empty());
}
