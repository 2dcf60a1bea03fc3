use super::*;
use ferry_test_support::require::require;
use ferry_test_support::Requirement;
use std::os::unix::fs::lchown;

const ROOT: u32 = 0;
const DAEMON: u32 = 1;
const NOBODY: u32 = 65534;
const NOGROUP: u32 = 65534;
const UNKNOWN_UID: u32 = 54321;

/// A file in a fresh tempdir, owned by `uid:gid`; `None` (the test skips; it fails under CI)
/// when not root, as chown needs.
fn owned_file(uid: u32, gid: u32) -> Option<(tempfile::TempDir, PathBuf)> {
    if !require(&[Requirement::Root]) {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.ru");
    std::fs::write(&path, "run App\n").unwrap();
    lchown(&path, Some(uid), Some(gid)).unwrap();
    Some((dir, path))
}

/// Whether [`UNKNOWN_UID`] really has no passwd entry (the test skips if it has one; it fails
/// under CI).
fn unknown_uid_is_unused() -> bool {
    let unused = User::from_uid(Uid::from_raw(UNKNOWN_UID))
        .unwrap()
        .is_none();
    require(&[Requirement::Holds {
        holds: unused,
        what: format!("uid {UNKNOWN_UID} has a passwd entry on this system"),
        fix: "the test needs a uid without one",
    }])
}

fn rules() -> UserSwitching {
    UserSwitching::default()
}

#[test]
fn explicit_user_wins_over_owner() {
    let Some((_dir, path)) = owned_file(NOBODY, NOGROUP) else {
        return;
    };
    let rules = UserSwitching {
        user: Some("daemon".into()),
        ..rules()
    };
    let account = resolve(&rules, &path, ROOT).unwrap();
    assert_eq!((account.uid, account.gid), (DAEMON, DAEMON));
    assert_eq!(
        (account.user.as_str(), account.group.as_str()),
        ("daemon", "daemon")
    );
    assert!(account.switch);
    assert!(!account.explicit_root);
    assert_eq!(account.reason, "--user");
}

#[test]
fn explicit_user_does_not_need_the_startup_file() {
    let rules = UserSwitching {
        user: Some("daemon".into()),
        ..rules()
    };
    let account = resolve(&rules, Path::new("/nonexistent/config.ru"), ROOT).unwrap();
    assert_eq!(account.uid, DAEMON);
}

#[test]
fn explicit_group_with_owner() {
    let Some((_dir, path)) = owned_file(DAEMON, DAEMON) else {
        return;
    };
    let rules = UserSwitching {
        group: Some("nogroup".into()),
        ..rules()
    };
    let account = resolve(&rules, &path, ROOT).unwrap();
    assert_eq!((account.uid, account.gid), (DAEMON, NOGROUP));
    assert_eq!(account.group, "nogroup");
    assert!(account.reason.contains("--group"), "{}", account.reason);
}

#[test]
fn startup_file_group() {
    let Some((_dir, path)) = owned_file(DAEMON, NOGROUP) else {
        return;
    };
    let rules = UserSwitching {
        group: Some(STARTUP_FILE_GROUP.into()),
        ..rules()
    };
    let account = resolve(&rules, &path, ROOT).unwrap();
    assert_eq!((account.uid, account.gid), (DAEMON, NOGROUP));
    assert_eq!(account.group, "nogroup");
}

#[test]
fn root_owned_file_runs_as_default_user() {
    let Some((_dir, path)) = owned_file(ROOT, ROOT) else {
        return;
    };
    let account = resolve(&rules(), &path, ROOT).unwrap();
    assert_eq!((account.uid, account.gid), (NOBODY, NOGROUP));
    assert_eq!(
        (account.user.as_str(), account.group.as_str()),
        ("nobody", "nogroup")
    );
    assert!(
        account.reason.starts_with("default user"),
        "{}",
        account.reason
    );
    assert!(account.reason.contains("is root"), "{}", account.reason);
    assert!(!account.explicit_root);
}

#[test]
fn owner_with_primary_group() {
    let Some((_dir, path)) = owned_file(DAEMON, NOGROUP) else {
        return;
    };
    let account = resolve(&rules(), &path, ROOT).unwrap();
    assert_eq!((account.uid, account.gid), (DAEMON, DAEMON));
    assert_eq!(
        (account.user.as_str(), account.group.as_str()),
        ("daemon", "daemon")
    );
    assert_eq!(account.home.as_deref(), Some(Path::new("/usr/sbin")));
    assert_eq!(account.reason, format!("owner of {}", path.display()));
}

#[test]
fn symlink_owner_counts_not_target_owner() {
    let Some((dir, target)) = owned_file(ROOT, ROOT) else {
        return;
    };
    let link = dir.path().join("link.ru");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    lchown(&link, Some(DAEMON), Some(DAEMON)).unwrap();
    let account = resolve(&rules(), &link, ROOT).unwrap();
    assert_eq!(account.uid, DAEMON);
}

#[test]
fn unknown_owner_runs_as_default_user() {
    if !unknown_uid_is_unused() {
        return;
    }
    let Some((_dir, path)) = owned_file(UNKNOWN_UID, UNKNOWN_UID) else {
        return;
    };
    let account = resolve(&rules(), &path, ROOT).unwrap();
    assert_eq!((account.uid, account.gid), (NOBODY, NOGROUP));
    assert!(
        account.reason.contains("no passwd entry"),
        "{}",
        account.reason
    );
}

#[test]
fn default_group_overrides_primary_group() {
    let Some((_dir, path)) = owned_file(ROOT, ROOT) else {
        return;
    };
    let rules = UserSwitching {
        default_group: Some("daemon".into()),
        ..rules()
    };
    let account = resolve(&rules, &path, ROOT).unwrap();
    assert_eq!((account.uid, account.gid), (NOBODY, DAEMON));
    assert_eq!(account.group, "daemon");
}

#[test]
fn default_group_ignored_for_owner() {
    let Some((_dir, path)) = owned_file(DAEMON, DAEMON) else {
        return;
    };
    let rules = UserSwitching {
        default_group: Some("nogroup".into()),
        ..rules()
    };
    let account = resolve(&rules, &path, ROOT).unwrap();
    assert_eq!((account.uid, account.gid), (DAEMON, DAEMON));
}

#[test]
fn switching_off_as_root_runs_as_default_user() {
    let rules = UserSwitching {
        enabled: false,
        user: Some("daemon".into()),
        ..rules()
    };
    let account = resolve(&rules, Path::new("/nonexistent"), ROOT).unwrap();
    assert_eq!((account.uid, account.gid), (NOBODY, NOGROUP));
    assert!(account.switch);
    assert_eq!(account.reason, "default user (user switching is off)");
}

#[test]
fn not_root_runs_as_own_user_and_ignores_options() {
    let rules = UserSwitching {
        user: Some("no-such-user-ferry".into()),
        default_user: "no-such-user-ferry".into(),
        ..rules()
    };
    let account = resolve(&rules, Path::new("/nonexistent"), DAEMON).unwrap();
    assert_eq!(account.uid, DAEMON);
    assert_eq!(account.user, "daemon");
    assert_eq!(account.gid, nix::unistd::getegid().as_raw());
    assert!(!account.switch);
    assert_eq!(
        account.reason,
        "Ferry's own user (Ferry does not run as root)"
    );
}

#[test]
fn not_root_without_passwd_entry() {
    if !unknown_uid_is_unused() {
        return;
    }
    let account = resolve(&rules(), Path::new("/nonexistent"), UNKNOWN_UID).unwrap();
    assert_eq!(account.user, format!("#{UNKNOWN_UID}"));
    assert_eq!(account.home, None);
}

#[test]
fn nonexistent_user_names_the_option() {
    let rules = UserSwitching {
        user: Some("no-such-user-ferry".into()),
        ..rules()
    };
    let err = resolve(&rules, Path::new("/nonexistent"), ROOT).unwrap_err();
    assert!(
        matches!(&err, UserError::NoSuchUser { option, name }
            if *option == USER_OPTION && name == "no-such-user-ferry"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "the user `no-such-user-ferry` given by --user / passenger_user does not exist"
    );
}

#[test]
fn nonexistent_default_user_and_groups_name_their_options() {
    let bad_default_user = UserSwitching {
        enabled: false,
        default_user: "no-such-user-ferry".into(),
        ..rules()
    };
    let err = resolve(&bad_default_user, Path::new("/"), ROOT).unwrap_err();
    assert!(matches!(
        err,
        UserError::NoSuchUser {
            option: DEFAULT_USER_OPTION,
            ..
        }
    ));

    let bad_group = UserSwitching {
        user: Some("daemon".into()),
        group: Some("no-such-group-ferry".into()),
        ..rules()
    };
    let err = resolve(&bad_group, Path::new("/"), ROOT).unwrap_err();
    assert!(matches!(
        err,
        UserError::NoSuchGroup {
            option: GROUP_OPTION,
            ..
        }
    ));

    let bad_default_group = UserSwitching {
        enabled: false,
        default_group: Some("no-such-group-ferry".into()),
        ..rules()
    };
    let err = resolve(&bad_default_group, Path::new("/"), ROOT).unwrap_err();
    assert!(matches!(
        err,
        UserError::NoSuchGroup {
            option: DEFAULT_GROUP_OPTION,
            ..
        }
    ));
    assert!(bad_default_group.validate().is_err());
    assert!(rules().validate().is_ok());
}

#[test]
fn missing_startup_file_is_a_stat_error() {
    let path = Path::new("/nonexistent/config.ru");
    let err = resolve(&rules(), path, ROOT).unwrap_err();
    let UserError::Stat { path: p, source } = &err else {
        panic!("expected Stat, got {err:?}");
    };
    assert_eq!(p, path);
    assert_eq!(source.kind(), io::ErrorKind::NotFound);
    assert!(std::error::Error::source(&err).is_some());
}

#[test]
fn explicit_root_is_flagged_when_allowed() {
    let rules = UserSwitching {
        user: Some("root".into()),
        allow_root: true,
        ..rules()
    };
    let account = resolve(&rules, Path::new("/nonexistent"), ROOT).unwrap();
    assert_eq!((account.uid, account.gid), (ROOT, ROOT));
    assert!(account.explicit_root);

    let default_root = UserSwitching {
        enabled: false,
        default_user: "root".into(),
        allow_root: true,
        ..UserSwitching::default()
    };
    let account = resolve(&default_root, Path::new("/nonexistent"), ROOT).unwrap();
    assert!(account.explicit_root);
}

#[test]
fn root_is_refused_without_the_flag_naming_the_option_and_the_flag() {
    let user_root = UserSwitching {
        user: Some("root".into()),
        ..rules()
    };
    let err = resolve(&user_root, Path::new("/nonexistent"), ROOT).unwrap_err();
    assert!(
        matches!(&err, UserError::Root { option, .. } if *option == USER_OPTION),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.starts_with("--user / passenger_user names user `root`"),
        "{text}"
    );
    assert!(text.contains("--allow-root-apps"), "{text}");
    assert!(user_root.validate().is_err());

    let default_root = UserSwitching {
        enabled: false,
        default_user: "root".into(),
        ..UserSwitching::default()
    };
    let err = resolve(&default_root, Path::new("/nonexistent"), ROOT).unwrap_err();
    assert!(matches!(
        err,
        UserError::Root {
            option: DEFAULT_USER_OPTION,
            ..
        }
    ));

    for (group, default_group, option) in [
        (Some("root"), None, GROUP_OPTION),
        (None, Some("root"), DEFAULT_GROUP_OPTION),
    ] {
        let rules = UserSwitching {
            user: Some("daemon".into()),
            group: group.map(str::to_owned),
            enabled: group.is_some(),
            default_user: "daemon".into(),
            default_group: default_group.map(str::to_owned),
            allow_root: false,
        };
        let err = resolve(&rules, Path::new("/nonexistent"), ROOT).unwrap_err();
        assert!(
            matches!(&err, UserError::Root { option: o, .. } if *o == option),
            "{err:?}"
        );
    }
}

#[test]
fn a_startup_file_of_group_root_gives_the_fallback_group() {
    let Some((_dir, path)) = owned_file(DAEMON, ROOT) else {
        return;
    };
    let rules = UserSwitching {
        group: Some(STARTUP_FILE_GROUP.into()),
        ..rules()
    };
    let account = resolve(&rules, &path, ROOT).unwrap();
    assert_eq!((account.uid, account.gid), (DAEMON, NOGROUP));
    assert!(
        account.reason.contains("gid 0 replaced"),
        "{}",
        account.reason
    );

    let with_default = UserSwitching {
        default_group: Some("daemon".into()),
        ..rules.clone()
    };
    let account = resolve(&with_default, &path, ROOT).unwrap();
    assert_eq!(account.gid, DAEMON);

    let allowed = UserSwitching {
        allow_root: true,
        ..rules
    };
    assert_eq!(resolve(&allowed, &path, ROOT).unwrap().gid, ROOT);
}

#[test]
fn a_primary_group_of_root_gives_the_fallback_group() {
    let rules = rules();
    let (gid, reason) = implicit_gid(&rules, Gid::from_raw(0), "owner of x".into()).unwrap();
    assert_eq!(gid.as_raw(), NOGROUP);
    assert!(reason.starts_with("owner of x; gid 0 replaced"), "{reason}");
    let (gid, _) = implicit_gid(&rules, Gid::from_raw(DAEMON), String::new()).unwrap();
    assert_eq!(gid.as_raw(), DAEMON);
}

#[test]
fn become_account_is_a_no_op_without_switch() {
    let before = (nix::unistd::geteuid(), nix::unistd::getegid());
    let account = resolve(&rules(), Path::new("/nonexistent"), DAEMON).unwrap();
    assert!(!account.switch);
    become_account(&account).unwrap();
    assert_eq!((nix::unistd::geteuid(), nix::unistd::getegid()), before);
}
