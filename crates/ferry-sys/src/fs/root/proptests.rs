//! Random trees of directories, files, FIFOs and links (of random owners, with contents that
//! climb, loop and leave the root), and random request paths, under every policy: the lookup
//! agrees with a model that resolves the same rules on path strings, and never opens anything
//! but what the kernel would open by the full path.

use std::io;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use proptest::prelude::*;

use super::*;
use crate::fs::testing::{require_root, Tree, APP, OTHER};
use crate::fs::walk::MAX_LINKS;
use crate::fs::DisableSymlinks::{self, IfNotOwner, Off, On};

const NAMES: [&str; 3] = ["a", "b", "c"];

/// What one name in the tree is.
#[derive(Debug, Clone)]
enum Node {
    Missing,
    Dir(u32),
    File(u32),
    Fifo,
    /// A link (owner, content); `@` in the content stands for the tree's top.
    Link(u32, &'static str),
}

/// What a lookup did, in classes the model can predict.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    File(u64),
    Dir(u64),
    NotFound,
    Refused,
    NotServable,
}

const TARGETS: [&str; 16] = [
    "a",
    "b",
    "c/",
    "a/b",
    "../a",
    "../b/c",
    ".",
    "..",
    "../../outside/secret",
    "@/outside/secret",
    "@/outside/mine",
    "@/outside/dir",
    "@/root/a",
    "@/root",
    "../../../../../../../../../../..",
    "b/../a",
];

fn owner() -> impl Strategy<Value = u32> {
    prop_oneof![Just(APP), Just(OTHER)]
}

fn node() -> impl Strategy<Value = Node> {
    prop_oneof![
        1 => Just(Node::Missing),
        2 => owner().prop_map(Node::Dir),
        2 => owner().prop_map(Node::File),
        1 => Just(Node::Fifo),
        4 => (owner(), proptest::sample::select(TARGETS.as_slice()))
            .prop_map(|(uid, target)| Node::Link(uid, target)),
    ]
}

/// The root's three names, then three below each.
fn layout() -> impl Strategy<Value = Vec<Node>> {
    proptest::collection::vec(node(), 12)
}

fn request() -> impl Strategy<Value = Vec<&'static str>> {
    proptest::collection::vec(proptest::sample::select(NAMES.as_slice()), 1..=3)
}

fn build(tree: &Tree, layout: &[Node]) -> PathBuf {
    tree.dir("root");
    tree.file("outside/secret", "secret");
    tree.file("outside/mine", "mine");
    tree.dir("outside/dir");
    tree.chown_all("outside", APP);
    tree.chown("outside", OTHER);
    tree.chown("outside/secret", OTHER);
    let top = tree.top.display().to_string();
    for (i, name) in NAMES.iter().enumerate() {
        let rel = format!("root/{name}");
        place(tree, &rel, &layout[i], &top);
        if let Node::Dir(uid) = layout[i] {
            for (j, child) in NAMES.iter().enumerate() {
                place(
                    tree,
                    &format!("{rel}/{child}"),
                    &layout[3 + 3 * i + j],
                    &top,
                );
            }
            tree.chown(&rel, uid);
        }
    }
    tree.chown("root", APP);
    tree.path("root")
}

fn place(tree: &Tree, rel: &str, node: &Node, top: &str) {
    match node {
        Node::Missing => {}
        Node::Dir(uid) => {
            tree.dir(rel);
            tree.chown(rel, *uid);
        }
        Node::File(uid) => {
            tree.file(rel, rel);
            tree.chown(rel, *uid);
        }
        Node::Fifo => {
            tree.fifo(rel);
        }
        Node::Link(uid, content) => {
            tree.link(rel, content.replace('@', top));
            tree.chown(rel, *uid);
        }
    }
}

fn policies(tree: &Tree) -> Vec<SymlinkPolicy> {
    let froms = [
        None,
        Some(tree.top.clone()),
        Some(tree.path("root")),
        Some(tree.path("root/a")),
    ];
    [Off, On, IfNotOwner]
        .iter()
        .flat_map(|&mode| {
            froms
                .iter()
                .map(move |from| SymlinkPolicy::new(mode, from.clone()))
        })
        .collect()
}

fn outcome(result: Result<Found, OpenError>) -> Outcome {
    match result {
        Ok(Found::File(open)) => Outcome::File(open.metadata.ino()),
        Ok(Found::Dir(dir)) => Outcome::Dir(rustix::fs::fstat(dir.as_fd()).expect("fstat").st_ino),
        Err(OpenError::NotFound) => Outcome::NotFound,
        Err(OpenError::Refused { .. }) => Outcome::Refused,
        Err(OpenError::NotServable { .. }) => Outcome::NotServable,
        Err(other) => panic!("unexpected {other}"),
    }
}

// === the model ===

/// The rules of the module docs, on path strings: every path the model holds is physical (no
/// link in it), so `..` is dropping its last component.
struct Model {
    mode: DisableSymlinks,
    links: u32,
}

enum Reached {
    Dir(PathBuf),
    File(PathBuf),
}

fn model(policy: &SymlinkPolicy, full: &Path) -> Outcome {
    let kernel = policy.disable == Off || policy.from.as_deref() == Some(full);
    if kernel {
        return kernel_outcome(std::fs::metadata(full));
    }
    let (start, rest): (PathBuf, PathBuf) = match policy.from.as_deref() {
        Some(from) if full.starts_with(from) => match std::fs::canonicalize(from) {
            Ok(start) if start.is_dir() => (start, full.strip_prefix(from).unwrap().to_owned()),
            Ok(_) => return Outcome::NotFound,
            Err(e) => return error_outcome(&e),
        },
        _ => (
            PathBuf::from("/"),
            full.strip_prefix("/").unwrap().to_owned(),
        ),
    };
    let steps: Vec<&[u8]> = rest
        .components()
        .map(|c| match c {
            Component::Normal(name) => name.as_bytes(),
            other => panic!("{other:?} in a request"),
        })
        .collect();
    let mut model = Model {
        mode: policy.disable,
        links: 0,
    };
    match model.walk(start, &steps, false) {
        Ok(Reached::File(path)) => Outcome::File(ino(&path)),
        Ok(Reached::Dir(path)) => Outcome::Dir(ino(&path)),
        Err(outcome) => outcome,
    }
}

impl Model {
    fn walk(
        &mut self,
        mut cur: PathBuf,
        steps: &[&[u8]],
        dir_only: bool,
    ) -> Result<Reached, Outcome> {
        let Some((last, init)) = steps.split_last() else {
            return Ok(Reached::Dir(cur));
        };
        for step in init {
            cur = self.enter(cur, step)?;
        }
        if *last == b".." {
            cur.pop();
            return Ok(Reached::Dir(cur));
        }
        if dir_only {
            return self.enter(cur, last).map(Reached::Dir);
        }
        let path = cur.join(Path::new(std::ffi::OsStr::from_bytes(last)));
        let meta = std::fs::symlink_metadata(&path).map_err(|e| error_outcome(&e))?;
        if meta.file_type().is_symlink() {
            return self.follow(cur, &path, false);
        }
        if meta.is_file() {
            Ok(Reached::File(path))
        } else if meta.is_dir() {
            Ok(Reached::Dir(path))
        } else {
            Err(Outcome::NotServable)
        }
    }

    fn enter(&mut self, mut cur: PathBuf, step: &[u8]) -> Result<PathBuf, Outcome> {
        if step == b".." {
            cur.pop();
            return Ok(cur);
        }
        let path = cur.join(Path::new(std::ffi::OsStr::from_bytes(step)));
        let meta = std::fs::symlink_metadata(&path).map_err(|e| error_outcome(&e))?;
        if meta.is_dir() {
            return Ok(path);
        }
        if !meta.file_type().is_symlink() {
            return Err(Outcome::NotFound);
        }
        match self.follow(cur, &path, true)? {
            Reached::Dir(dir) => Ok(dir),
            Reached::File(_) => Err(Outcome::NotFound),
        }
    }

    fn follow(&mut self, cur: PathBuf, link: &Path, dir_only: bool) -> Result<Reached, Outcome> {
        if self.mode == On {
            return Err(Outcome::Refused);
        }
        self.links += 1;
        if self.links > MAX_LINKS {
            return Err(Outcome::Refused);
        }
        let owner = std::fs::symlink_metadata(link).unwrap().uid();
        let content = std::fs::read_link(link).unwrap();
        let bytes = content.as_os_str().as_bytes();
        let last = bytes.rsplit(|&b| b == b'/').next().unwrap_or_default();
        let dir_only = dir_only || matches!(last, b"" | b"." | b"..");
        let steps: Vec<&[u8]> = bytes
            .split(|&b| b == b'/')
            .filter(|s| !s.is_empty() && *s != b".")
            .collect();
        let start = if bytes.starts_with(b"/") {
            PathBuf::from("/")
        } else {
            cur
        };
        let reached = self.walk(start, &steps, dir_only)?;
        let target = match &reached {
            Reached::Dir(path) | Reached::File(path) => std::fs::metadata(path).unwrap().uid(),
        };
        if target != owner {
            return Err(Outcome::Refused);
        }
        Ok(reached)
    }
}

fn kernel_outcome(result: io::Result<std::fs::Metadata>) -> Outcome {
    match result {
        Ok(meta) if meta.is_file() => Outcome::File(meta.ino()),
        Ok(meta) if meta.is_dir() => Outcome::Dir(meta.ino()),
        Ok(_) => Outcome::NotServable,
        Err(e) => error_outcome(&e),
    }
}

fn error_outcome(error: &io::Error) -> Outcome {
    match error.raw_os_error() {
        Some(code) if code == rustix::io::Errno::LOOP.raw_os_error() => Outcome::Refused,
        _ => Outcome::NotFound,
    }
}

fn ino(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().ino()
}

/// Whether any component of `path` below `from` (or below `/`) is a link.
fn has_link(path: &Path, from: Option<&Path>) -> bool {
    let skip = from.filter(|f| path.starts_with(f));
    path.ancestors()
        .filter(|p| skip.is_none_or(|f| p.starts_with(f) && *p != f))
        .any(|p| std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_symlink()))
}

/// [`require_root`], asked once for all the cases.
fn as_root() -> bool {
    static ROOT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ROOT.get_or_init(|| require_root("lookups_open_only_what_the_policy_allows"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn lookups_open_only_what_the_policy_allows(layout in layout(), requests in proptest::collection::vec(request(), 1..4)) {
        if !as_root() {
            return Ok(());
        }
        let tree = Tree::new();
        let root = build(&tree, &layout);
        for policy in policies(&tree) {
            let top = Root::new(&root, policy.clone()).expect("root");
            for request in &requests {
                let full = request.iter().fold(root.clone(), |p, n| p.join(n));
                let real = outcome(top.open(request));
                prop_assert_eq!(&real, &model(&policy, &full), "{:?} {:?}", policy, request);
                if let Outcome::File(ino) | Outcome::Dir(ino) = real {
                    // Whatever opens is what the name means to the kernel: nothing else.
                    prop_assert_eq!(Some(ino), std::fs::metadata(&full).ok().map(|m| m.ino()));
                    if policy.disable == On {
                        prop_assert!(!has_link(&full, policy.from.as_deref()));
                    }
                }
            }
        }
    }
}
