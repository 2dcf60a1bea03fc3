//! Expanding an `include` pattern into the files it names, as Nginx's glob(3) would.

use std::fs;
use std::path::{Component, Path, PathBuf};

/// How an include pattern's components match file names, as glob(3) matches them: case
/// matters, and a leading `.` must be matched by a literal `.`.
pub(super) const MATCH: glob::MatchOptions = glob::MatchOptions {
    case_sensitive: true,
    require_literal_separator: true,
    require_literal_leading_dot: true,
};

/// The files an include pattern names, relative to `base`: the path itself if it has no glob
/// characters (whether it exists or not, so that reading it reports a missing file), else the
/// existing paths that match, sorted bytewise as glob(3) sorts them in the C locale. Nginx
/// expands the pattern with glob(3), so a pattern matching nothing is not an error.
pub(super) fn expand_pattern(base: &Path, pattern: &str) -> Vec<PathBuf> {
    let full = base.join(pattern);
    if !is_glob(pattern) {
        return vec![full];
    }
    let mut found = vec![PathBuf::new()];
    for component in full.components() {
        let name = component.as_os_str().to_string_lossy();
        if matches!(component, Component::Normal(_)) && is_glob(&name) {
            let Some(pattern) = compile(&name) else {
                return Vec::new();
            };
            found = found
                .iter()
                .flat_map(|dir| matching_entries(dir, &pattern))
                .collect();
        } else {
            for path in &mut found {
                path.push(component);
            }
        }
    }
    found.retain(|path| fs::symlink_metadata(path).is_ok());
    found.sort_by(|a, b| a.as_os_str().cmp(b.as_os_str()));
    found
}

fn is_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// The entries of `dir` (the current directory if empty) whose names match `pattern`.
fn matching_entries(dir: &Path, pattern: &glob::Pattern) -> Vec<PathBuf> {
    let listing = if dir.as_os_str().is_empty() {
        fs::read_dir(".")
    } else {
        fs::read_dir(dir)
    };
    let Ok(listing) = listing else {
        return Vec::new();
    };
    listing
        .filter_map(Result::ok)
        .map(|entry| entry.file_name())
        .filter(|name| pattern.matches_with(&name.to_string_lossy(), MATCH))
        .map(|name| dir.join(name))
        .collect()
}

/// One component of an include pattern, in glob(3)'s syntax, compiled by the `glob` crate. The
/// two differ in three places, which are rewritten first: glob(3) also writes `[!a]` as `[^a]`,
/// takes a `[` without its `]` literally (the crate refuses it), and reads `**` as `*` (the
/// crate's `**` spans directories). `None` if the crate still refuses it.
pub(super) fn compile(component: &str) -> Option<glob::Pattern> {
    let chars: Vec<char> = component.chars().collect();
    let mut out = String::with_capacity(component.len() + 2);
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        match c {
            '*' => {
                out.push('*');
                while chars.get(i + 1) == Some(&'*') {
                    i += 1;
                }
            }
            '[' => match set_end(&chars, i) {
                Some(end) => {
                    let mut first = i + 1;
                    out.push('[');
                    if matches!(chars[first], '!' | '^') {
                        out.push('!');
                        first += 1;
                    }
                    out.extend(&chars[first..=end]);
                    i = end;
                }
                None => out.push_str("[[]"),
            },
            other => out.push(other),
        }
        i += 1;
    }
    glob::Pattern::new(&out).ok()
}

/// Where the set opened by the `[` at `open` closes: the first `]` after its first character
/// (a `]` straight after `[`, `[!` or `[^` is a member, as in glob(3) and the crate). `None`
/// for a `[` without its `]`.
fn set_end(chars: &[char], open: usize) -> Option<usize> {
    let mut first = open + 1;
    if matches!(chars.get(first), Some('!' | '^')) {
        first += 1;
    }
    let after = first + 1;
    chars
        .get(after..)?
        .iter()
        .position(|&c| c == ']')
        .map(|at| after + at)
}
