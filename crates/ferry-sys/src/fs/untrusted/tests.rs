use std::io::{Read, Write};
use std::os::unix::fs::FileTypeExt;
use std::sync::mpsc;
use std::time::Duration;

use super::*;
use crate::fs::testing::{require_root, Tree, APP, OTHER};

const CAP: u64 = 64 * 1024;

/// A work directory with a response in it, all the current user's.
fn work(tree: &Tree) -> UntrustedDir {
    tree.file("work/response/properties.json", r#"{"sockets":[]}"#);
    tree.file("work/response/error/summary", "it broke");
    tree.file(
        "work/response/steps/subprocess_exec_wrapper/state",
        "STEP_PERFORMED",
    );
    tree.file(
        "work/response/steps/subprocess_app_load_or_exec/state",
        "STEP_ERRORED",
    );
    tree.fifo("work/response/finish");
    tree.file("work/envdump/annotations/b", "2");
    tree.file("work/envdump/annotations/a", "1");
    UntrustedDir::open(&tree.path("work"), None).expect("open work dir")
}

fn reason(result: Result<impl std::fmt::Debug, UntrustedError>) -> (String, Reason) {
    match result {
        Err(e) => (e.to_string(), e.reason),
        Ok(value) => panic!("expected an error, got {value:?}"),
    }
}

// === read ===

#[test]
fn a_regular_file_is_read_whole_within_the_cap() {
    let tree = Tree::new();
    let dir = work(&tree);
    let json = dir.read("response/properties.json", CAP).expect("read");
    assert_eq!(json.as_deref(), Some(&br#"{"sockets":[]}"#[..]));
    let summary = dir.read_string("response/error/summary", 8).expect("read");
    assert_eq!(summary.as_deref(), Some("it broke"));
}

#[test]
fn a_missing_file_or_directory_is_none() {
    let tree = Tree::new();
    let dir = work(&tree);
    assert!(dir
        .read("response/error/category", CAP)
        .expect("read")
        .is_none());
    assert!(dir
        .read("response/nothing/here", CAP)
        .expect("read")
        .is_none());
    assert!(dir.list("envdump/none", 10).expect("list").is_none());
    assert!(dir.kind("nothing").expect("kind").is_none());
    assert!(dir.open_fifo("response/nothing").expect("open").is_none());
}

#[test]
fn a_symlinked_file_is_never_followed() {
    let tree = Tree::new();
    let dir = work(&tree);
    tree.file("shadow", "root:$6$secret");
    std::fs::remove_file(tree.path("work/response/error/summary")).expect("rm");
    tree.link("work/response/error/summary", tree.path("shadow"));
    let (message, why) = reason(dir.read("response/error/summary", CAP));
    assert!(matches!(why, Reason::Symlink));
    assert_eq!(
        message,
        "response/error/summary is a symbolic link; Ferry does not follow links an app writes"
    );
    assert_eq!(
        dir.kind("response/error/summary").expect("kind"),
        Some(FileKind::Symlink)
    );
}

#[test]
fn a_directory_replaced_by_a_symlink_is_never_entered() {
    let tree = Tree::new();
    let dir = work(&tree);
    tree.file("elsewhere/summary", "not the app's to show");
    std::fs::remove_dir_all(tree.path("work/response/error")).expect("rm");
    tree.link("work/response/error", tree.path("elsewhere"));
    let (message, why) = reason(dir.read("response/error/summary", CAP));
    assert!(matches!(why, Reason::Symlink));
    assert!(
        message.starts_with("response/error is a symbolic link"),
        "{message}"
    );
    assert!(matches!(
        reason(dir.list("response/error", 10)).1,
        Reason::Symlink
    ));
    assert!(matches!(
        reason(dir.kind("response/error/summary")).1,
        Reason::Symlink
    ));
}

#[test]
fn a_fifo_is_refused_without_blocking() {
    let tree = Tree::new();
    let dir = work(&tree);
    let (done, result) = mpsc::channel();
    std::thread::spawn(move || {
        let outcome = dir.read("response/finish", CAP).map_err(|e| e.to_string());
        done.send(outcome).expect("send");
    });
    // A deadline, not a sleep: a read that blocks on the FIFO fails the test here.
    let outcome = result
        .recv_timeout(Duration::from_secs(20))
        .expect("reading a FIFO blocked");
    assert_eq!(
        outcome.expect_err("a FIFO"),
        "response/finish is a FIFO, not a regular file"
    );
}

#[test]
fn dev_zero_is_never_read() {
    let tree = Tree::new();
    let dir = work(&tree);
    tree.link("work/response/error/advanced_problem_details", "/dev/zero");
    let (_, why) = reason(dir.read("response/error/advanced_problem_details", CAP));
    assert!(matches!(why, Reason::Symlink));
    if !require_root("dev_zero_is_never_read") {
        return;
    }
    let node = tree.path("work/response/error/stdout_and_err");
    let zero = rustix::fs::makedev(1, 5);
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &node,
        rustix::fs::FileType::CharacterDevice,
        rustix::fs::Mode::from_raw_mode(0o666),
        zero,
    )
    .expect("mknod");
    let (message, why) = reason(dir.read("response/error/stdout_and_err", CAP));
    assert!(matches!(why, Reason::NotRegular(FileKind::CharDevice)));
    assert_eq!(
        message,
        "response/error/stdout_and_err is a character device, not a regular file"
    );
}

#[test]
fn a_file_over_the_cap_is_refused_unread() {
    let tree = Tree::new();
    let dir = work(&tree);
    tree.file("work/response/error/summary", &"x".repeat(64 * 1024));
    let exact = dir.read("response/error/summary", CAP).expect("read");
    assert_eq!(exact.map(|b| b.len()), Some(64 * 1024));
    tree.file("work/response/error/summary", &"x".repeat(64 * 1024 + 1));
    let (message, why) = reason(dir.read("response/error/summary", CAP));
    assert!(matches!(why, Reason::TooLarge { cap: CAP }));
    assert_eq!(message, "response/error/summary is larger than 64 KiB");
    // Sparse: a terabyte on paper, nothing on disk; refused from its size alone.
    let huge = std::fs::File::create(tree.path("work/response/error/huge")).expect("create");
    huge.set_len(1 << 40).expect("set_len");
    let (_, why) = reason(dir.read("response/error/huge", CAP));
    assert!(matches!(why, Reason::TooLarge { .. }));
}

#[test]
fn sizes_are_said_in_words() {
    let words = |n| Size(n).to_string();
    assert_eq!(words(64 * 1024), "64 KiB");
    assert_eq!(words(1024 * 1024), "1 MiB");
    assert_eq!(words(32), "32 bytes");
    assert_eq!(words(1), "1 byte");
    assert_eq!(words(1000), "1000 bytes");
}

#[test]
fn a_file_of_another_owner_is_refused() {
    if !require_root("a_file_of_another_owner_is_refused") {
        return;
    }
    let tree = Tree::new();
    work(&tree);
    tree.chown_all("work", APP);
    // A hard link to another user's file (what `fs.protected_hardlinks=0` allows).
    let theirs = tree.file("theirs", "their secret");
    tree.chown("theirs", OTHER);
    std::fs::hard_link(
        &theirs,
        tree.path("work/response/error/problem_description.html"),
    )
    .expect("hard link");
    let dir = UntrustedDir::open(&tree.path("work"), Some(APP)).expect("open");
    assert!(dir
        .read("response/error/summary", CAP)
        .expect("read")
        .is_some());
    let (message, why) = reason(dir.read("response/error/problem_description.html", CAP));
    assert!(matches!(
        why,
        Reason::Owner {
            expected: APP,
            actual: OTHER
        }
    ));
    assert_eq!(
        message,
        "response/error/problem_description.html belongs to uid 54321, not to the app's user \
         (uid 1000)"
    );
    tree.chown("work/response/finish", OTHER);
    assert!(matches!(
        reason(dir.open_fifo("response/finish")).1,
        Reason::Owner { .. }
    ));
    // Unchecked when the caller says so.
    let any = UntrustedDir::open(&tree.path("work"), None).expect("open");
    let read = any
        .read("response/error/problem_description.html", CAP)
        .expect("read");
    assert_eq!(read.as_deref(), Some(&b"their secret"[..]));
}

#[test]
fn a_mount_point_on_the_way_is_another_file_system() {
    let root = UntrustedDir::open(Path::new("/"), None).expect("open /");
    let (message, why) = reason(root.read("proc/version", CAP));
    assert!(matches!(why, Reason::OtherFileSystem));
    assert!(
        message.starts_with("proc is on another file system"),
        "{message}"
    );
}

#[test]
fn paths_must_be_relative_and_plain() {
    let tree = Tree::new();
    let dir = work(&tree);
    for bad in [
        "../work/response/finish",
        "/etc/passwd",
        "response/../response/finish",
        "",
    ] {
        assert!(
            matches!(reason(dir.read(bad, CAP)).1, Reason::InvalidPath),
            "{bad:?}"
        );
    }
}

#[test]
fn the_directory_itself_is_opened_without_following_a_link() {
    let tree = Tree::new();
    work(&tree);
    tree.link("work-link", tree.path("work"));
    assert!(UntrustedDir::open(&tree.path("work-link"), None).is_err());
    let file = std::fs::File::open(tree.path("work/response/properties.json")).expect("open");
    assert!(UntrustedDir::from_fd(file.into(), None).is_err());
}

// === list, kind, open_fifo ===

#[test]
fn a_listing_names_each_entry_and_its_kind_without_following_links() {
    let tree = Tree::new();
    let dir = work(&tree);
    tree.link("work/envdump/annotations/c", "/etc/passwd");
    let entries = dir
        .list("envdump/annotations", 10)
        .expect("list")
        .expect("exists");
    let seen: Vec<(&str, FileKind)> = entries
        .iter()
        .map(|e| (e.name.to_str().expect("utf-8"), e.kind))
        .collect();
    assert_eq!(
        seen,
        [
            ("a", FileKind::Regular),
            ("b", FileKind::Regular),
            ("c", FileKind::Symlink)
        ]
    );
    let steps = dir
        .list("response/steps", 10)
        .expect("list")
        .expect("exists");
    assert!(steps.iter().all(|e| e.kind == FileKind::Directory));
    let top = dir.list("", 10).expect("list").expect("exists");
    let names: Vec<_> = top
        .iter()
        .map(|e| e.name.to_str().expect("utf-8"))
        .collect();
    assert_eq!(names, ["envdump", "response"]);
    let (message, why) = reason(dir.list("envdump/annotations", 2));
    assert!(matches!(why, Reason::TooManyEntries { max: 2 }));
    assert_eq!(message, "envdump/annotations has more than 2 entries");
    let (message, _) = reason(dir.list("response/properties.json", 10));
    assert_eq!(
        message,
        "response/properties.json is a regular file, not a directory"
    );
}

#[test]
fn kinds_are_told_without_following_links() {
    let tree = Tree::new();
    let dir = work(&tree);
    tree.link("work/response/alias", "finish");
    assert_eq!(
        dir.kind("response/finish").expect("kind"),
        Some(FileKind::Fifo)
    );
    assert_eq!(
        dir.kind("response/alias").expect("kind"),
        Some(FileKind::Symlink)
    );
    assert_eq!(
        dir.kind("response").expect("kind"),
        Some(FileKind::Directory)
    );
    assert_eq!(dir.kind("").expect("kind"), Some(FileKind::Directory));
}

#[test]
fn the_finish_fifo_opens_at_once_and_carries_what_the_app_writes() {
    let tree = Tree::new();
    let dir = work(&tree);
    let mut fifo = dir
        .open_fifo("response/finish")
        .expect("open")
        .expect("exists");
    let mut app = std::fs::OpenOptions::new()
        .write(true)
        .open(tree.path("work/response/finish"))
        .expect("the app's end");
    app.write_all(b"1").expect("write");
    let mut byte = [0u8; 1];
    fifo.read_exact(&mut byte).expect("read");
    assert_eq!(&byte, b"1");
    assert!(fifo.metadata().expect("fstat").file_type().is_fifo());

    tree.link("work/response/alias", "finish");
    assert!(matches!(
        reason(dir.open_fifo("response/alias")).1,
        Reason::Symlink
    ));
    let (message, _) = reason(dir.open_fifo("response/properties.json"));
    assert_eq!(
        message,
        "response/properties.json is a regular file, not a FIFO"
    );
}
