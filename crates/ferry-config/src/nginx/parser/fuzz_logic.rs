//! Entry points for the fuzz targets in `fuzz/` (not a stable API).

use std::path::PathBuf;
use std::sync::Arc;

use super::write::write_tree;
use super::{parse_text, Directive, MAX_FILE_SIZE};

/// Parses `input` as a configuration (with `include` left unexpanded, so no file is read),
/// panicking if an invariant breaks: errors name a line of the input, and a tree written
/// back out parses to the same tree and writes out the same text again.
pub fn nginx_config(input: &[u8]) {
    let text = String::from_utf8_lossy(input);
    let file = Arc::new(PathBuf::from("fuzz.conf"));
    let lines = u32::try_from(text.matches('\n').count() + 1).unwrap_or(u32::MAX);
    let tree = match parse_text(&text, file.clone(), false) {
        Ok(tree) => tree,
        Err(errors) => {
            assert!(!errors.is_empty(), "an error result without errors");
            for e in &errors {
                assert!((1..=lines).contains(&e.span.line), "{e} is out of range");
                assert!(!e.to_string().is_empty());
            }
            return;
        }
    };
    check_lines(&tree, lines);
    let written = write_tree(&tree);
    if written.len() > MAX_FILE_SIZE {
        return;
    }
    let again = match parse_text(&written, file, false) {
        Ok(again) => again,
        Err(e) => panic!("the written tree does not parse: {e:?}\n{written}"),
    };
    assert!(
        same_tree(&tree, &again),
        "{tree:#?}\nwritten as\n{written}\nreads back as\n{again:#?}"
    );
    assert_eq!(write_tree(&again), written);
}

fn check_lines(tree: &[Directive], lines: u32) {
    for d in tree {
        assert!((1..=lines).contains(&d.span.line), "{d:?}");
        for a in &d.args {
            assert!((d.span.line..=lines).contains(&a.span.line), "{d:?}");
        }
        check_lines(d.block.as_deref().unwrap_or_default(), lines);
    }
}

/// Whether two trees have the same names, arguments (values and quoting) and blocks, whatever
/// their spans.
pub(crate) fn same_tree(a: &[Directive], b: &[Directive]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(a, b)| {
            a.name == b.name
                && a.args.len() == b.args.len()
                && a.args
                    .iter()
                    .zip(&b.args)
                    .all(|(x, y)| x.value == y.value && x.quoted == y.quoted)
                && match (&a.block, &b.block) {
                    (None, None) => true,
                    (Some(x), Some(y)) => same_tree(x, y),
                    _ => false,
                }
        })
}
