use std::io::Read;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use super::*;
use crate::fs::testing::{require_root, Tree, APP, OTHER};
use crate::fs::{DisableSymlinks, Refusal};

use DisableSymlinks::{IfNotOwner, Off, On};

const MODES: [DisableSymlinks; 3] = [Off, On, IfNotOwner];

fn policy(disable: DisableSymlinks, from: Option<&Path>) -> SymlinkPolicy {
    SymlinkPolicy::new(disable, from.map(Path::to_owned))
}

/// Every mode, each without `from=` and with `from=` the root.
fn policies(root: &Path) -> Vec<SymlinkPolicy> {
    MODES
        .iter()
        .flat_map(|&mode| [policy(mode, None), policy(mode, Some(root))])
        .collect()
}

fn components(path: &str) -> Vec<&str> {
    path.split('/').filter(|c| !c.is_empty()).collect()
}

fn lookup(root: &Path, policy: &SymlinkPolicy, path: &str) -> Result<Found, OpenError> {
    Root::new(root, policy.clone())
        .expect("absolute root")
        .open(&components(path))
}

fn read(found: Found) -> String {
    match found {
        Found::File(mut open) => {
            let mut text = String::new();
            open.file.read_to_string(&mut text).expect("read");
            assert_eq!(
                open.metadata.len(),
                text.len() as u64,
                "metadata of the file read"
            );
            text
        }
        Found::Dir(dir) => panic!("{} is a directory", dir.path().display()),
    }
}

fn text(result: Result<Found, OpenError>) -> String {
    read(result.expect("opened"))
}

fn refusal(result: Result<Found, OpenError>) -> (PathBuf, Refusal) {
    match result {
        Err(OpenError::Refused { path, refusal }) => (path, refusal),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn not_found(result: Result<Found, OpenError>) {
    assert!(
        matches!(result, Err(OpenError::NotFound)),
        "expected not found, got {result:?}"
    );
}

fn dir_of(result: Result<Found, OpenError>) -> Dir {
    match result {
        Ok(Found::Dir(dir)) => dir,
        other => panic!("expected a directory, got {other:?}"),
    }
}

/// A Capistrano layout, all the current user's: `srv/app/current -> releases/1` (relative),
/// `public/system -> /…/srv/app/shared/system` (absolute), `public/latest.css ->
/// assets/app.css`. Returns the document root `srv/app/current/public`.
fn capistrano(tree: &Tree) -> PathBuf {
    tree.file("srv/app/releases/1/public/index.html", "index");
    tree.file("srv/app/releases/1/public/assets/app.css", "css");
    tree.file("srv/app/releases/1/public/docs/index.html", "docs index");
    tree.file("srv/app/releases/1/public/about.html", "about");
    tree.file("srv/app/shared/system/upload.txt", "upload");
    tree.link("srv/app/current", "releases/1");
    tree.link(
        "srv/app/releases/1/public/system",
        tree.path("srv/app/shared/system"),
    );
    tree.link("srv/app/releases/1/public/latest.css", "assets/app.css");
    tree.path("srv/app/current/public")
}

/// Owners as on a server: the app's files (and links) are `APP`'s, `etc/shadow` is `OTHER`'s
/// in a directory of root's, and `public/leak -> /…/etc/shadow`, `public/d -> /…/etc`.
fn hostile(tree: &Tree) -> PathBuf {
    tree.file("public/plain.txt", "plain");
    tree.file("etc/shadow", "shadow");
    tree.link("public/leak", tree.path("etc/shadow"));
    tree.link("public/d", tree.path("etc"));
    tree.chown_all("public", APP);
    tree.chown("etc/shadow", OTHER);
    tree.path("public")
}

// === plain files, directories, FIFOs ===

#[test]
fn a_plain_file_opens_in_every_mode() {
    let tree = Tree::new();
    tree.file("public/assets/app.css", "css");
    let root = tree.path("public");
    for policy in policies(&root) {
        assert_eq!(
            text(lookup(&root, &policy, "assets/app.css")),
            "css",
            "{policy:?}"
        );
    }
}

#[test]
fn missing_names_and_files_used_as_directories_are_not_found() {
    let tree = Tree::new();
    tree.file("public/a.txt", "a");
    let root = tree.path("public");
    for policy in policies(&root) {
        not_found(lookup(&root, &policy, "nothing"));
        not_found(lookup(&root, &policy, "nothing/at/all"));
        not_found(lookup(&root, &policy, "a.txt/x"));
        let dir = Root::new(&root, policy.clone()).expect("root");
        assert!(matches!(dir.open_dir(&["a.txt"]), Err(OpenError::NotFound)));
    }
}

#[test]
fn a_directory_is_found_and_names_below_it_are_tried_without_walking_again() {
    let tree = Tree::new();
    tree.file("public/docs/index.html", "docs index");
    tree.file("public/docs/guide.html", "guide");
    tree.file("public/docs/sub/x.html", "x");
    let root = tree.path("public");
    for policy in policies(&root) {
        let docs = dir_of(lookup(&root, &policy, "docs"));
        assert_eq!(docs.path(), root.join("docs"));
        not_found(docs.open_at(&["guide"]));
        assert_eq!(text(docs.open_at(&["guide.html"])), "guide");
        assert_eq!(text(docs.open_at(&["index.html"])), "docs index");
        let sub = docs.open_dir_at(&["sub"]).expect("sub");
        assert_eq!(text(sub.open_at(&["x.html"])), "x");
        assert_eq!(text(docs.open_at(&["sub", "x.html"])), "x");
        // The root itself, and the same directory through `open_dir`.
        let top = Root::new(&root, policy.clone()).expect("root");
        assert!(matches!(top.open(&[] as &[&str]), Ok(Found::Dir(_))));
        let again = top.open_dir(&["docs"]).expect("docs");
        let ino = |d: &Dir| rustix::fs::fstat(d.as_fd()).expect("fstat").st_ino;
        assert_eq!(ino(&again), ino(&docs));
    }
}

#[test]
fn a_fifo_is_refused_without_blocking_in_every_mode() {
    let tree = Tree::new();
    tree.fifo("public/pipe");
    let root = tree.path("public");
    let (done, results) = mpsc::channel();
    let opener = std::thread::spawn(move || {
        for policy in policies(&root) {
            let result = lookup(&root, &policy, "pipe");
            done.send((policy, result)).expect("send");
        }
    });
    for _ in 0..MODES.len() * 2 {
        // A deadline, not a sleep: an open that blocks on the FIFO fails the test here.
        let (policy, result) = results
            .recv_timeout(Duration::from_secs(20))
            .expect("opening a FIFO blocked");
        match result {
            Err(OpenError::NotServable { kind, .. }) => assert_eq!(kind, FileKind::Fifo),
            other => panic!("{policy:?}: expected a refused FIFO, got {other:?}"),
        }
    }
    opener.join().expect("opener");
}

#[test]
fn names_that_are_not_plain_are_a_programmers_error() {
    let tree = Tree::new();
    let root = Root::new(tree.dir("public"), SymlinkPolicy::OFF).expect("root");
    for bad in ["", ".", "..", "a/b", "a\0b"] {
        assert!(
            matches!(root.open(&[bad]), Err(OpenError::InvalidPath(_))),
            "{bad:?}"
        );
    }
    assert!(matches!(
        Root::new("relative/public", SymlinkPolicy::OFF),
        Err(OpenError::InvalidPath(_))
    ));
}

// === links of the same owner ===

#[test]
fn a_capistrano_layout_follows_its_links_unless_links_are_disabled() {
    let tree = Tree::new();
    let root = capistrano(&tree);
    for mode in [Off, IfNotOwner] {
        for from in [None, Some(root.as_path())] {
            let policy = policy(mode, from);
            assert_eq!(text(lookup(&root, &policy, "assets/app.css")), "css");
            assert_eq!(text(lookup(&root, &policy, "system/upload.txt")), "upload");
            assert_eq!(text(lookup(&root, &policy, "latest.css")), "css");
        }
    }
    // `on` without `from=` refuses the release link above the document root, as nginx does.
    let (path, why) = refusal(lookup(&root, &policy(On, None), "assets/app.css"));
    assert_eq!(
        (path, why),
        (tree.path("srv/app/current"), Refusal::Symlink)
    );
    // With `from=` the root, only links below it are refused.
    let on_from_root = policy(On, Some(&root));
    assert_eq!(text(lookup(&root, &on_from_root, "assets/app.css")), "css");
    let (path, why) = refusal(lookup(&root, &on_from_root, "system/upload.txt"));
    assert_eq!((path, why), (root.join("system"), Refusal::Symlink));
    let (path, why) = refusal(lookup(&root, &on_from_root, "latest.css"));
    assert_eq!((path, why), (root.join("latest.css"), Refusal::Symlink));
}

#[test]
fn dot_dot_in_a_link_goes_up_the_directories_walked_and_never_above_slash() {
    let tree = Tree::new();
    let root = capistrano(&tree);
    // From `releases/1/public`, three levels up is `srv/app`.
    tree.link(
        "srv/app/releases/1/public/up.txt",
        "../../../shared/system/upload.txt",
    );
    // Far more `..` than there are directories: they stop at `/`.
    let below_slash = tree.path("srv/app/shared/system/upload.txt");
    let deep = format!(
        "{}{}",
        "../".repeat(40),
        below_slash.strip_prefix("/").expect("absolute").display()
    );
    tree.link("srv/app/releases/1/public/deep.txt", deep);
    for from in [None, Some(root.as_path())] {
        let policy = policy(IfNotOwner, from);
        assert_eq!(text(lookup(&root, &policy, "up.txt")), "upload", "{from:?}");
        assert_eq!(
            text(lookup(&root, &policy, "deep.txt")),
            "upload",
            "{from:?}"
        );
        // Below a directory found earlier, `..` uses the descriptors that directory holds.
        let docs = dir_of(lookup(&root, &policy, "docs"));
        tree.link("srv/app/releases/1/public/docs/home.html", "../index.html");
        assert_eq!(text(docs.open_at(&["home.html"])), "index");
        std::fs::remove_file(tree.path("srv/app/releases/1/public/docs/home.html")).expect("rm");
    }
}

#[test]
fn link_chains_loops_and_the_bound_of_forty() {
    let tree = Tree::new();
    tree.file("public/target.txt", "target");
    tree.link("public/c1", "c2");
    tree.link("public/c2", "c3");
    tree.link("public/c3", "target.txt");
    tree.link("public/loop-a", "loop-b");
    tree.link("public/loop-b", "loop-a");
    tree.link("public/self", "self");
    // 40 links to the target are fine; 41 are not.
    for i in 0..41 {
        let next = if i == 40 {
            "target.txt".to_owned()
        } else {
            format!("l{}", i + 1)
        };
        tree.link(&format!("public/l{i}"), next);
    }
    let root = tree.path("public");
    for from in [None, Some(root.as_path())] {
        let policy = policy(IfNotOwner, from);
        assert_eq!(text(lookup(&root, &policy, "c1")), "target");
        assert_eq!(text(lookup(&root, &policy, "l1")), "target");
        for looped in ["loop-a", "self", "l0"] {
            let (_, why) = refusal(lookup(&root, &policy, looped));
            assert_eq!(why, Refusal::TooManyLinks, "{looped}");
        }
        let on = SymlinkPolicy::new(On, from.map(Path::to_owned));
        assert_eq!(refusal(lookup(&root, &on, "c1")).1, Refusal::Symlink);
        assert_eq!(refusal(lookup(&root, &on, "self")).1, Refusal::Symlink);
    }
    // The kernel's own bound, in `off` mode.
    assert_eq!(text(lookup(&root, &SymlinkPolicy::OFF, "c1")), "target");
    let (_, why) = refusal(lookup(&root, &SymlinkPolicy::OFF, "loop-a"));
    assert_eq!(why, Refusal::TooManyLinks);
}

#[test]
fn a_link_ending_in_a_slash_must_name_a_directory() {
    let tree = Tree::new();
    tree.file("public/sub/page.html", "page");
    tree.file("public/file.txt", "file");
    tree.link("public/to-dir", "sub/");
    tree.link("public/to-file", "file.txt/");
    let root = tree.path("public");
    let policy = policy(IfNotOwner, None);
    let dir = dir_of(lookup(&root, &policy, "to-dir"));
    assert_eq!(text(dir.open_at(&["page.html"])), "page");
    not_found(lookup(&root, &policy, "to-file"));
}

#[test]
fn from_leaves_its_prefix_to_the_kernel_and_checks_the_rest() {
    let tree = Tree::new();
    let root = capistrano(&tree);
    // A prefix above the root: `current` is the kernel's, `system` below the root is checked.
    let app = tree.path("srv/app/current");
    let on_from_app = policy(On, Some(&app));
    assert_eq!(text(lookup(&root, &on_from_app, "assets/app.css")), "css");
    assert_eq!(
        refusal(lookup(&root, &on_from_app, "system/upload.txt")).1,
        Refusal::Symlink
    );
    // A prefix that is the whole path: nothing is checked.
    let whole = root.join("system/upload.txt");
    assert_eq!(
        text(lookup(
            &root,
            &policy(On, Some(&whole)),
            "system/upload.txt"
        )),
        "upload"
    );
    // A prefix below the root, reached through a directory found above it.
    let system = root.join("system");
    let on_from_system = policy(On, Some(&system));
    assert_eq!(
        text(lookup(&root, &on_from_system, "system/upload.txt")),
        "upload"
    );
    let top = Root::new(&root, on_from_system.clone()).expect("root");
    let system_dir = top.open_dir(&["system"]).expect("system is the prefix");
    assert_eq!(text(system_dir.open_at(&["upload.txt"])), "upload");
    // A prefix that the path does not start with (nor at a component boundary): all checked.
    for other in [tree.path("srv/elsewhere"), tree.path("srv/app/curr")] {
        let (path, _) = refusal(lookup(&root, &policy(On, Some(&other)), "assets/app.css"));
        assert_eq!(path, tree.path("srv/app/current"));
    }
}

// === owners ===

#[test]
fn a_link_to_another_owners_file_is_followed_only_when_links_are_not_disabled() {
    if !require_root("a_link_to_another_owners_file_is_followed_only_when_links_are_not_disabled") {
        return;
    }
    let tree = Tree::new();
    let root = hostile(&tree);
    assert_eq!(text(lookup(&root, &SymlinkPolicy::OFF, "leak")), "shadow");
    for from in [None, Some(root.as_path())] {
        assert_eq!(
            text(lookup(&root, &policy(IfNotOwner, from), "plain.txt")),
            "plain"
        );
        let (path, why) = refusal(lookup(&root, &policy(On, from), "leak"));
        assert_eq!((path, why), (root.join("leak"), Refusal::Symlink));
        let (path, why) = refusal(lookup(&root, &policy(IfNotOwner, from), "leak"));
        let owners = Refusal::Owner {
            link: APP,
            target: OTHER,
        };
        assert_eq!((path, why), (root.join("leak"), owners));
    }
    // The same link, owned by the file's owner, shows only what that owner could copy anyway.
    tree.chown("public/leak", OTHER);
    assert_eq!(
        text(lookup(&root, &policy(IfNotOwner, None), "leak")),
        "shadow"
    );
}

#[test]
fn a_directory_component_linked_elsewhere_is_refused_by_its_owner() {
    if !require_root("a_directory_component_linked_elsewhere_is_refused_by_its_owner") {
        return;
    }
    let tree = Tree::new();
    let root = hostile(&tree);
    assert_eq!(
        text(lookup(&root, &SymlinkPolicy::OFF, "d/shadow")),
        "shadow"
    );
    for from in [None, Some(root.as_path())] {
        let (path, why) = refusal(lookup(&root, &policy(On, from), "d/shadow"));
        assert_eq!((path, why), (root.join("d"), Refusal::Symlink));
        // `etc` is root's directory; the link is the app's.
        let (path, why) = refusal(lookup(&root, &policy(IfNotOwner, from), "d/shadow"));
        let owners = Refusal::Owner {
            link: APP,
            target: 0,
        };
        assert_eq!((path, why), (root.join("d"), owners));
        let top = Root::new(&root, policy(IfNotOwner, from)).expect("root");
        assert!(matches!(
            top.open_dir(&["d"]),
            Err(OpenError::Refused { .. })
        ));
    }
}

#[test]
fn every_link_of_a_chain_must_have_the_owner_of_what_it_resolves_to() {
    if !require_root("every_link_of_a_chain_must_have_the_owner_of_what_it_resolves_to") {
        return;
    }
    let tree = Tree::new();
    tree.file("public/mine.txt", "mine");
    tree.file("public/theirs.txt", "theirs");
    tree.link("public/good-1", "good-2");
    tree.link("public/good-2", "mine.txt");
    tree.link("public/mid-1", "mid-2");
    tree.link("public/mid-2", "mine.txt");
    tree.link("public/end-1", "end-2");
    tree.link("public/end-2", "theirs.txt");
    tree.chown_all("public", APP);
    tree.chown("public/mid-2", OTHER);
    tree.chown("public/end-2", OTHER);
    tree.chown("public/theirs.txt", OTHER);
    let root = tree.path("public");
    let policy = policy(IfNotOwner, None);
    assert_eq!(text(lookup(&root, &policy, "good-1")), "mine");
    // The second link is another user's: refused there, though the file is the first's.
    let (path, why) = refusal(lookup(&root, &policy, "mid-1"));
    assert_eq!(path, root.join("mid-2"));
    assert_eq!(
        why,
        Refusal::Owner {
            link: OTHER,
            target: APP
        }
    );
    // The second link matches its file, the first does not.
    let (path, why) = refusal(lookup(&root, &policy, "end-1"));
    assert_eq!(path, root.join("end-1"));
    assert_eq!(
        why,
        Refusal::Owner {
            link: APP,
            target: OTHER
        }
    );
}

#[test]
fn a_link_to_a_device_is_refused_without_opening_it() {
    let tree = Tree::new();
    tree.link("public/null", "/dev/null");
    tree.link("public/zero", "/dev/zero");
    let root = tree.path("public");
    // Under `if_not_owner`, links of root's to root's devices pass the owner rule only when
    // the test runs as root; either way the device is never served.
    for policy in policies(&root) {
        for name in ["null", "zero"] {
            match lookup(&root, &policy, name) {
                Err(OpenError::NotServable { kind, .. }) => assert_eq!(kind, FileKind::CharDevice),
                Err(OpenError::Refused { .. }) => assert_ne!(policy.disable, Off),
                other => panic!("{policy:?} {name}: {other:?}"),
            }
        }
    }
}

// === the race ===

/// One thread swaps `public/d` between a real directory and a link to root's `etc` (holding
/// another user's `secret`) with `renameat2(RENAME_EXCHANGE)`, as fast as it can; another
/// opens `d/secret` thousands of times. The other user's file is never opened.
#[test]
fn swapping_a_directory_for_a_link_never_opens_the_linked_file() {
    if !require_root("swapping_a_directory_for_a_link_never_opens_the_linked_file") {
        return;
    }
    let tree = Tree::new();
    tree.file("public/d/secret", "mine");
    tree.file("etc/secret", "foreign");
    tree.link("public/alt", tree.path("etc"));
    tree.chown_all("public", APP);
    tree.chown("etc/secret", OTHER);
    let root = tree.path("public");
    let (d, alt) = (root.join("d"), root.join("alt"));
    // Before the race: the real directory's file opens.
    assert_eq!(
        text(lookup(&root, &policy(IfNotOwner, None), "d/secret")),
        "mine"
    );

    let stop = Arc::new(AtomicBool::new(false));
    let swapper = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut swaps = 0u64;
            // Bounded, in case the opener dies without setting `stop`.
            while !stop.load(Ordering::Relaxed) && swaps < 50_000_000 {
                rustix::fs::renameat_with(
                    rustix::fs::CWD,
                    &d,
                    rustix::fs::CWD,
                    &alt,
                    rustix::fs::RenameFlags::EXCHANGE,
                )
                .expect("renameat2(RENAME_EXCHANGE)");
                swaps += 1;
            }
            swaps
        })
    };
    let mut outcomes = [0u32; 3];
    for policy in [
        policy(IfNotOwner, None),
        policy(IfNotOwner, Some(&root)),
        policy(On, None),
        policy(On, Some(&root)),
    ] {
        for _ in 0..3000 {
            match lookup(&root, &policy, "d/secret") {
                Ok(found) => {
                    assert_eq!(read(found), "mine", "{policy:?} opened the foreign file");
                    outcomes[0] += 1;
                }
                Err(OpenError::Refused { .. }) => outcomes[1] += 1,
                Err(OpenError::NotFound) => outcomes[2] += 1,
                Err(other) => panic!("{policy:?}: {other}"),
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    let swaps = swapper.join().expect("swapper");
    assert!(swaps > 0, "the swapper ran");
    assert_eq!(outcomes.iter().sum::<u32>(), 4 * 3000);
    eprintln!("race: {swaps} swaps; opened/refused/missing: {outcomes:?}");
}

#[test]
fn metadata_comes_from_the_opened_file() {
    let tree = Tree::new();
    let path = tree.file("public/a.txt", "abc");
    let root = tree.path("public");
    let Found::File(open) = lookup(&root, &SymlinkPolicy::OFF, "a.txt").expect("open") else {
        panic!("a file");
    };
    let on_disk = std::fs::metadata(path).expect("stat");
    assert_eq!(open.metadata.ino(), on_disk.ino());
    assert_eq!(open.metadata.len(), 3);
}

#[test]
fn a_deep_walk_holds_few_descriptors_and_still_climbs_back_with_dot_dot() {
    let tree = Tree::new();
    tree.file("public/target.txt", "target");
    let names: Vec<String> = (1..=20).map(|i| format!("a{i}")).collect();
    let deep = format!("public/{}", names.join("/"));
    tree.dir(&deep);
    tree.link(
        &format!("{deep}/up.txt"),
        format!("{}target.txt", "../".repeat(20)),
    );
    let root = tree.path("public");
    for from in [None, Some(root.as_path())] {
        let policy = policy(IfNotOwner, from);
        let request = format!("{}/up.txt", names.join("/"));
        assert_eq!(text(lookup(&root, &policy, &request)), "target");
        let dir = dir_of(lookup(&root, &policy, &names.join("/")));
        assert!(dir.cursor.held() <= crate::fs::walk::HELD);
        assert_eq!(text(dir.open_at(&["up.txt"])), "target");
    }
}

#[test]
fn lookups_and_their_results_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Root>();
    send_sync::<Dir>();
    send_sync::<Found>();
    send_sync::<OpenError>();
    send_sync::<crate::fs::UntrustedDir>();
    send_sync::<crate::fs::UntrustedError>();
}

#[test]
fn a_path_without_links_is_opened_at_once_and_one_with_a_link_is_walked() {
    let tree = Tree::new();
    tree.file("public/a/b.txt", "b");
    tree.link("public/l", "a");
    let at_once = |rel: &str, want| {
        let full = tree.path(rel);
        let steps: Vec<Step<'_>> = full
            .components()
            .filter_map(|c| match c {
                Component::Normal(name) => Some(Step::Name(name)),
                _ => None,
            })
            .collect();
        // The steps borrow `full`: the result is classified before it goes.
        without_links(None, &steps, &full, want).map(|r| match r {
            Ok(Reached::File(mut open)) => {
                let mut text = String::new();
                open.file.read_to_string(&mut text).expect("read");
                format!("file {text}")
            }
            Ok(Reached::Dir(_)) => "dir".to_owned(),
            Err(error) => format!("error {error}"),
        })
    };
    assert_eq!(
        at_once("public/a/b.txt", Want::Any).as_deref(),
        Some("file b")
    );
    assert_eq!(at_once("public/a", Want::Dir).as_deref(), Some("dir"));
    assert_eq!(
        at_once("public/a/missing", Want::Any).as_deref(),
        Some("error not found"),
        "nothing there, and no link on the way"
    );
    assert_eq!(at_once("public/l/b.txt", Want::Any), None, "a link: walked");
    assert_eq!(at_once("public/l", Want::Dir), None, "a last link: walked");
    assert_eq!(at_once("public/l", Want::Any), None);
    assert_eq!(at_once("public/l/missing", Want::Any), None);
}
