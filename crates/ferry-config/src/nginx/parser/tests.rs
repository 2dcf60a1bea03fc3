use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use super::fuzz_logic::same_tree;
use super::include::{compile, MATCH};
use super::write::{encode, encode_bare, write_tree};
use super::*;

fn parse(text: &str) -> Vec<Directive> {
    parse_str(text, "t.conf").unwrap_or_else(|e| panic!("{text:?} should parse: {e:#?}"))
}

fn errors(text: &str) -> Vec<String> {
    let errors = parse_str(text, "t.conf").expect_err("should not parse");
    errors.iter().map(ToString::to_string).collect()
}

/// A tree in one line: `LINE:name arg «quoted arg»;` or `LINE:name arg {…}`.
fn sketch(tree: &[Directive]) -> String {
    let mut parts = Vec::new();
    for d in tree {
        let mut s = format!("{}:{}", d.span.line, d.name);
        for arg in &d.args {
            if arg.quoted {
                write!(s, " «{}»", arg.value).unwrap();
            } else {
                write!(s, " {}", arg.value).unwrap();
            }
        }
        match &d.block {
            None => s.push(';'),
            Some(block) => write!(s, " {{{}}}", sketch(block)).unwrap(),
        }
        parts.push(s);
    }
    parts.join(" ")
}

fn values(d: &Directive) -> Vec<&str> {
    d.args.iter().map(|a| a.value.as_str()).collect()
}

fn write(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

/// Each directive as `file-name:line name`, depth first.
fn origins(tree: &[Directive]) -> Vec<String> {
    let mut out = Vec::new();
    for d in tree {
        let file = d.span.file.file_name().unwrap().to_string_lossy();
        out.push(format!("{file}:{} {}", d.span.line, d.name));
        out.extend(origins(d.block.as_deref().unwrap_or_default()));
    }
    out
}

// === tokens ===

#[test]
fn bare_words_keep_dollars_parentheses_and_tildes() {
    let tree = parse("location ~* ^/a(b|c)$ { }\nset $x ~$1;");
    assert_eq!(sketch(&tree), "1:location ~* ^/a(b|c)$ {} 2:set $x ~$1;");
    assert!(!tree[0].args[1].quoted);
}

#[test]
fn a_dollar_brace_stays_in_the_word() {
    let tree = parse("set $a ${b}c;\nx a${b {}");
    assert_eq!(sketch(&tree), "1:set $a ${b}c; 2:x a${b {}");
}

#[test]
fn a_closing_brace_inside_a_word_is_ordinary() {
    assert_eq!(sketch(&parse("a b}c d};")), "1:a b}c d};");
}

#[test]
fn a_hash_starts_a_comment_only_where_a_token_would() {
    let tree = parse("# top\na b#c d; # after\nx {# in\n  y 1;  # more\n} # end");
    assert_eq!(sketch(&tree), "2:a b#c d; 3:x {4:y 1;}");
}

#[test]
fn a_comment_may_end_the_file_without_a_newline() {
    assert_eq!(sketch(&parse("a;#x")), "1:a;");
    assert!(parse("# only a comment").is_empty());
    assert!(parse("").is_empty());
}

#[test]
fn quoted_strings_resolve_escapes() {
    let tree = parse(r#"a "x\"y" 'p\'q' "s\\t" "\n\r\t" 'd"q' "s'q";"#);
    assert_eq!(
        values(&tree[0]),
        ["x\"y", "p'q", "s\\t", "\n\r\t", "d\"q", "s'q"]
    );
    assert!(tree[0].args.iter().all(|a| a.quoted));
}

#[test]
fn other_escapes_keep_the_backslash() {
    let tree = parse(r#"a "\d+\.php\$" \.php$;"#);
    assert_eq!(values(&tree[0]), [r"\d+\.php\$", r"\.php$"]);
}

#[test]
fn bare_words_resolve_escapes_too() {
    let tree = parse(r#"a b\"c \\ x\ty\nz;"#);
    assert_eq!(values(&tree[0]), ["b\"c", "\\", "x\ty\nz"]);
}

#[test]
fn a_backslash_keeps_a_separator_in_the_word() {
    let tree = parse(r"a x\ y b\;c;");
    assert_eq!(values(&tree[0]), [r"x\ y", r"b\;c"]);
}

#[test]
fn quoted_punctuation_is_an_argument() {
    let tree = parse(r#"a "{" ';' "}" "" '#';"#);
    assert_eq!(sketch(&tree), "1:a «{» «;» «}» «» «#»;");
}

#[test]
fn a_quote_may_be_followed_by_a_separator() {
    let tree = parse("a \"x\";b 'y'{}c \"z\"\t;");
    assert_eq!(sketch(&tree), "1:a «x»; 1:b «y» {} 1:c «z»;");
}

#[test]
fn if_conditions_are_words() {
    let tree = parse(
        "if ($http_host ~* \"^www\\.\") {\n    return 301;\n}\nif (-f $request_filename) { }",
    );
    assert_eq!(
        sketch(&tree),
        r"1:if ($http_host ~* «^www\.» ) {2:return 301;} 4:if (-f $request_filename) {}"
    );
}

#[test]
fn a_quote_inside_a_word_is_ordinary() {
    assert_eq!(values(&parse(r#"a b"c'd;"#)[0]), [r#"b"c'd"#]);
}

#[test]
fn multi_line_strings_advance_the_line_count() {
    let tree = parse("a \"one\ntwo\"\n  'three\n';\nb;\nc\\\nd;");
    assert_eq!(tree[0].args[0].value, "one\ntwo");
    assert_eq!(tree[0].args[1].span.line, 3);
    assert_eq!(tree[1].span.line, 5);
    assert_eq!(tree[2].span.line, 6);
    assert_eq!(tree[2].args.len(), 0, "{tree:?}");
    assert_eq!(tree[2].name, "c\\\nd");
}

#[test]
fn arguments_carry_their_own_lines() {
    let tree = parse("\nlisten\n  80\n  default_server;");
    assert_eq!(tree[0].span.line, 2);
    let lines: Vec<u32> = tree[0].args.iter().map(|a| a.span.line).collect();
    assert_eq!(lines, [3, 4]);
    assert_eq!(tree[0].span.file.as_path(), Path::new("t.conf"));
}

// === blocks ===

#[test]
fn blocks_nest() {
    let text = "http {\n  server {\n    listen 80;\n    location / {\n      root /x;\n    }\n    location /y {}\n  }\n}\nevents { }";
    assert_eq!(
        sketch(&parse(text)),
        "1:http {2:server {3:listen 80; 4:location / {5:root /x;} 7:location /y {}}} 10:events {}"
    );
}

#[test]
fn an_empty_block_is_some_and_no_block_is_none() {
    let tree = parse("a {}\nb;");
    assert_eq!(tree[0].block, Some(Vec::new()));
    assert_eq!(tree[1].block, None);
}

#[test]
fn sixty_four_levels_parse() {
    let text = format!("{}{}", "a {\n".repeat(64), "}".repeat(64));
    let tree = parse(&text);
    let mut depth = 0;
    let mut level = tree.as_slice();
    while let Some(d) = level.first() {
        depth += 1;
        level = d.block.as_deref().unwrap();
    }
    assert_eq!(depth, 64);
}

// === errors ===

#[test]
fn a_quote_followed_by_a_letter_is_unexpected() {
    assert_eq!(errors("a;\nb \"x\"y;"), ["t.conf:2: unexpected \"y\""]);
    assert_eq!(errors("b 'x'é;"), ["t.conf:1: unexpected \"é\""]);
}

#[test]
fn an_unterminated_quote_names_the_line_it_started_on() {
    // Only the quote is reported: the unclosed blocks are its consequence.
    let text = "http {\n  server {\n    a \"x;\n  }\n}\n";
    assert_eq!(
        errors(text),
        ["t.conf:3: unexpected end of file in a quoted string"]
    );
    assert_eq!(
        errors("a 'x\\';"),
        ["t.conf:1: unexpected end of file in a quoted string"]
    );
}

#[test]
fn a_stray_closing_brace_is_unexpected() {
    assert_eq!(errors("a;\n\n}\nb;"), ["t.conf:3: unexpected \"}\""]);
    assert_eq!(errors("a {}\n}"), ["t.conf:2: unexpected \"}\""]);
}

#[test]
fn a_missing_closing_brace_names_the_block() {
    assert_eq!(
        errors("http {\n  server {\n    listen 80;\n  }\n"),
        ["t.conf:1: unexpected end of file, expecting \"}\" to close the \"http\" block"]
    );
    assert_eq!(
        errors("http {\n  server {\n"),
        [
            "t.conf:2: unexpected end of file, expecting \"}\" to close the \"server\" block",
            "t.conf:1: unexpected end of file, expecting \"}\" to close the \"http\" block",
        ]
    );
}

#[test]
fn a_semicolon_or_brace_needs_a_name() {
    assert_eq!(
        errors("a;\n;"),
        ["t.conf:2: unexpected \";\" with no directive name before it"]
    );
    assert_eq!(
        errors("\n{ a; b { } }\nc;"),
        ["t.conf:2: unexpected \"{\" with no directive name before it"]
    );
}

#[test]
fn a_directive_needs_its_semicolon_before_the_end() {
    assert_eq!(
        errors("a;\nlisten\n  80"),
        ["t.conf:2: unexpected end of file, expecting \";\" or \"{\" to end \"listen\""]
    );
}

#[test]
fn a_directive_needs_its_semicolon_before_a_brace() {
    assert_eq!(
        errors("server {\n  listen 80\n}\nb;"),
        ["t.conf:3: unexpected \"}\", expecting \";\" or \"{\" to end \"listen\""]
    );
    assert_eq!(
        errors("listen 80 }"),
        ["t.conf:1: unexpected \"}\", expecting \";\" or \"{\" to end \"listen\""]
    );
}

#[test]
fn a_quote_before_a_brace_is_still_a_missing_semicolon() {
    assert_eq!(
        errors("server {\n  return 200 \"x\"}"),
        ["t.conf:2: unexpected \"}\", expecting \";\" or \"{\" to end \"return\""]
    );
}

#[test]
fn every_error_is_reported_in_one_run() {
    let text =
        "http {\n  a \"x\"y;\n  ;\n  server {\n    listen 80\n  }\n  b \"p\"q { c; }\n  d;\n}\n}\n";
    assert_eq!(
        errors(text),
        [
            "t.conf:2: unexpected \"y\"",
            "t.conf:3: unexpected \";\" with no directive name before it",
            "t.conf:6: unexpected \"}\", expecting \";\" or \"{\" to end \"listen\"",
            "t.conf:7: unexpected \"q\"",
            "t.conf:10: unexpected \"}\"",
        ]
    );
}

#[test]
fn the_number_of_errors_is_bounded() {
    assert_eq!(errors(&";".repeat(10_000)).len(), MAX_ERRORS);
}

#[test]
fn nesting_too_deep_is_an_error_not_a_stack_overflow() {
    let text = format!("{}{}", "a {".repeat(100_000), "}".repeat(100_000));
    assert_eq!(errors(&text), ["t.conf:1: blocks nested more than 64 deep"]);
    let unclosed = errors(&"a{".repeat(1_000_000));
    assert_eq!(unclosed[0], "t.conf:1: blocks nested more than 64 deep");
    let braces = errors(&"{".repeat(1_000_000));
    assert_eq!(
        braces,
        ["t.conf:1: unexpected \"{\" with no directive name before it"]
    );
}

#[test]
fn text_larger_than_the_limit_is_refused() {
    let text = "#".repeat(MAX_FILE_SIZE + 1);
    assert_eq!(errors(&text), ["t.conf: \"t.conf\" is larger than 16 MiB"]);
}

#[test]
fn a_file_must_be_utf8() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("latin1.conf");
    fs::write(&path, b"a;\nb;\n# caf\xe9\n").unwrap();
    let errors = parse_file(&path).unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].span().line, 3);
    assert!(errors[0]
        .to_string()
        .ends_with("latin1.conf:3: not valid UTF-8"));
}

#[test]
fn a_missing_file_is_reported_at_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope.conf");
    let errors = parse_file(&path).unwrap_err();
    let shown = path.display();
    assert_eq!(
        errors[0].to_string(),
        format!("{shown}: could not read \"{shown}\"")
    );
    let source = std::error::Error::source(&errors[0]).unwrap();
    let io = source.downcast_ref::<io::Error>().unwrap();
    assert_eq!(io.kind(), io::ErrorKind::NotFound);
}

// === include ===

#[test]
fn include_globs_expand_in_sorted_order_with_their_own_spans() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "conf.d/b.conf", "\nb1;\nb2 { b3; }\n");
    write(d, "conf.d/a.conf", "a1;\n");
    write(d, "conf.d/a-2.conf", "a2;\n");
    write(d, "conf.d/.hidden.conf", "hidden;\n");
    write(d, "conf.d/c.txt", "txt;\n");
    write(
        d,
        "main.conf",
        "http {\n  first;\n  include conf.d/*.conf;\n  last;\n}\n",
    );
    let tree = parse_file(d.join("main.conf")).unwrap();
    assert_eq!(
        origins(&tree),
        [
            "main.conf:1 http",
            "main.conf:2 first",
            "a-2.conf:1 a2",
            "a.conf:1 a1",
            "b.conf:2 b1",
            "b.conf:3 b2",
            "b.conf:3 b3",
            "main.conf:4 last",
        ]
    );
    assert_eq!(
        tree[0].block.as_ref().unwrap()[1].span.file.as_path(),
        d.join("conf.d/a-2.conf")
    );
}

#[test]
fn glob_sets_and_question_marks_select_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for name in ["s1.conf", "s2.conf", "s3.conf", "s10.conf"] {
        write(d, name, &format!("n {name};"));
    }
    write(
        d,
        "main.conf",
        "include s[13].conf;\ninclude s?0.conf;\ninclude s[!1].conf;",
    );
    let tree = parse_file(d.join("main.conf")).unwrap();
    let names: Vec<&str> = tree.iter().map(|d| d.args[0].value.as_str()).collect();
    assert_eq!(
        names,
        ["s1.conf", "s3.conf", "s10.conf", "s2.conf", "s3.conf"]
    );
}

#[test]
fn a_glob_in_a_directory_name_expands_too() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "sites-b/app.conf", "b;");
    write(d, "sites-a/app.conf", "a;");
    write(d, "sites-c/other.conf", "c;");
    write(d, "main.conf", "include sites-*/app.conf;");
    let tree = parse_file(d.join("main.conf")).unwrap();
    assert_eq!(sketch(&tree), "1:a; 1:b;");
}

#[test]
fn a_glob_matching_nothing_is_fine() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "main.conf", "include none/*.conf;\na;");
    let tree = parse_file(dir.path().join("main.conf")).unwrap();
    assert_eq!(sketch(&tree), "2:a;");
}

#[test]
fn a_missing_include_is_an_error_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "main.conf", "a;\n\ninclude missing.conf;\n");
    let errors = parse_file(d.join("main.conf")).unwrap_err();
    let missing = d.join("missing.conf");
    assert_eq!(
        errors[0].to_string(),
        format!(
            "{}:3: could not read \"{}\"",
            d.join("main.conf").display(),
            missing.display()
        )
    );
}

#[test]
fn includes_are_relative_to_the_including_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "main.conf", "include sub/one.conf;");
    write(d, "sub/one.conf", "include two.conf;");
    write(d, "sub/two.conf", "two;");
    write(
        d,
        "abs.conf",
        &format!("include {};", d.join("sub/two.conf").display()),
    );
    assert_eq!(
        origins(&parse_file(d.join("main.conf")).unwrap()),
        ["two.conf:1 two"]
    );
    assert_eq!(
        origins(&parse_file(d.join("abs.conf")).unwrap()),
        ["two.conf:1 two"]
    );
}

#[test]
fn parse_str_resolves_includes_against_its_file_name() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "x.conf", "x;");
    let tree = parse_str("include x.conf;\ny;", dir.path().join("virtual.conf")).unwrap();
    assert_eq!(origins(&tree), ["x.conf:1 x", "virtual.conf:2 y"]);
}

#[test]
fn an_include_loop_names_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "a.conf", "include b.conf;");
    write(d, "b.conf", "b;\ninclude a.conf;");
    write(d, "self.conf", "include self.conf;");
    let errors = parse_file(d.join("a.conf")).unwrap_err();
    let (a, b) = (d.join("a.conf"), d.join("b.conf"));
    assert_eq!(
        errors[0].to_string(),
        format!(
            "{}:2: include loop: {} -> {} -> {}",
            b.display(),
            a.display(),
            b.display(),
            a.display()
        )
    );
    assert_eq!(errors.len(), 1);
    assert!(parse_file(d.join("self.conf")).unwrap_err()[0]
        .to_string()
        .contains("include loop"));
}

#[test]
fn the_same_file_may_be_included_twice_side_by_side() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "x.conf", "x;");
    write(dir.path(), "main.conf", "include x.conf;\ninclude x.conf;");
    let tree = parse_file(dir.path().join("main.conf")).unwrap();
    assert_eq!(tree.len(), 2);
}

#[test]
fn include_chains_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..40 {
        write(
            dir.path(),
            &format!("{i}.conf"),
            &format!("include {}.conf;", i + 1),
        );
    }
    write(dir.path(), "40.conf", "end;");
    let errors = parse_file(dir.path().join("0.conf")).unwrap_err();
    assert_eq!(errors.len(), 1);
    assert!(errors[0]
        .to_string()
        .ends_with("32.conf:1: includes nested more than 32 files deep"));
}

#[test]
fn block_depth_counts_across_includes() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "deep.conf",
        &format!("{}{}", "a {".repeat(40), "}".repeat(40)),
    );
    let main = format!("{}include deep.conf;{}", "b {".repeat(40), "}".repeat(40));
    write(dir.path(), "main.conf", &main);
    let errors = parse_file(dir.path().join("main.conf")).unwrap_err();
    assert_eq!(errors.len(), 1);
    assert!(errors[0]
        .to_string()
        .ends_with("deep.conf:1: blocks nested more than 64 deep"));
}

#[test]
fn include_takes_one_argument_and_no_block() {
    let dir = tempfile::tempdir().unwrap();
    let text = "include;\ninclude a b;\ninclude a {}\n";
    let errors: Vec<String> = parse_str(text, dir.path().join("t.conf"))
        .unwrap_err()
        .iter()
        .map(|e| e.to_string().rsplit_once("t.conf:").unwrap().1.to_owned())
        .collect();
    assert_eq!(
        errors,
        [
            "1: \"include\" takes one file name or pattern, not 0",
            "2: \"include\" takes one file name or pattern, not 2",
            "3: \"include\" cannot have a block",
        ]
    );
}

#[test]
fn errors_in_every_included_file_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "conf.d/a.conf", "ok;\nbad \"x\"y;");
    write(d, "conf.d/b.conf", "\n\n}");
    write(d, "main.conf", "include conf.d/*.conf;\n;");
    let errors: Vec<String> = parse_file(d.join("main.conf"))
        .unwrap_err()
        .iter()
        .map(|e| {
            let file = e.span().file.file_name().unwrap().to_string_lossy();
            format!("{file}:{}", e.span().line)
        })
        .collect();
    assert_eq!(errors, ["a.conf:2", "b.conf:3", "main.conf:2"]);
}

// === glob matching ===

/// Whether a file name matches one component of an include pattern.
fn glob_match(pattern: &str, name: &str) -> bool {
    compile(pattern).is_some_and(|p| p.matches_with(name, MATCH))
}

#[test]
fn glob_match_follows_glob3() {
    let cases = [
        ("*.conf", "a.conf", true),
        ("*.conf", "a.conf.bak", false),
        ("*", ".hidden", false),
        (".*", ".hidden", true),
        ("?.c", "ab.c", false),
        ("?.c", "a.c", true),
        ("[a-c]x", "bx", true),
        ("[a-c]x", "dx", false),
        ("[!a-c]x", "dx", true),
        ("[^a]x", "ax", false),
        ("[]]", "]", true),
        ("[a-]", "-", true),
        ("a[", "a[", true),
        ("*a*b*c", "xxaxxbxxc", true),
        ("*a*b*c", "xxaxxcxxb", false),
        ("**", "", true),
        ("é*", "éa", true),
    ];
    for (pattern, name, expected) in cases {
        assert_eq!(glob_match(pattern, name), expected, "{pattern} vs {name}");
    }
    let long = "a".repeat(300);
    assert!(!glob_match(&"*a".repeat(40).replace("*a*a", "*a*b"), &long));
}

/// Where glob(3)'s syntax and the `glob` crate's differ, glob(3) (as glibc's fnmatch with
/// `FNM_PERIOD` answers) wins.
#[test]
fn glob_match_follows_glob3_where_the_glob_crate_differs() {
    let cases = [
        ("[[]", "[", true),
        ("a**b", "axxb", true),
        ("a***", "abc", true),
        ("[!]]", "a", true),
        ("[!]]", "]", false),
        ("[]", "[]", true),
        ("[!]", "[!]", true),
        ("[^]]", "]", false),
        ("[]a]", "a", true),
        ("[*]", "*", true),
        ("[*]", "a", false),
        ("[.]x", ".x", false),
        ("?x", ".x", false),
    ];
    for (pattern, name, expected) in cases {
        assert_eq!(glob_match(pattern, name), expected, "{pattern} vs {name}");
    }
}

#[test]
fn a_double_star_does_not_descend_into_directories() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "conf.d/a.conf", "a;");
    write(d, "conf.d/deeper/b.conf", "b;");
    write(
        d,
        "main.conf",
        "include conf.d/**.conf;\ninclude **/a.conf;",
    );
    let tree = parse_file(d.join("main.conf")).unwrap();
    assert_eq!(sketch(&tree), "1:a; 1:a;");
}

// === a Passenger configuration ===

/// Seed 000 §3.2, the sub-URI deployment (its `...` placeholders left out).
const SEED_SUB_URI: &str = "http {
    server {
        listen 80;
        server_name www.phusion.nl;
        root /websites/phusion;
        # This block has been added.
        location ~ ^/subapp(/.*|$) {
            alias /websites/rails/public$1;  # <-- be sure to point to 'public'!
            passenger_base_uri /subapp;
            passenger_app_root /websites/rails;
            passenger_document_root /websites/rails/public;
            passenger_enabled on;
        }
    }
}
";

#[test]
fn the_seed_sub_uri_example_parses_into_its_tree() {
    let tree = parse(SEED_SUB_URI);
    assert_eq!(
        sketch(&tree),
        "1:http {2:server {3:listen 80; 4:server_name www.phusion.nl; 5:root /websites/phusion; \
         7:location ~ ^/subapp(/.*|$) {8:alias /websites/rails/public$1; \
         9:passenger_base_uri /subapp; 10:passenger_app_root /websites/rails; \
         11:passenger_document_root /websites/rails/public; 12:passenger_enabled on;}}}"
    );
    let location = &tree[0].block.as_ref().unwrap()[0].block.as_ref().unwrap()[3];
    assert_eq!(location.args[1].span.line, 7);
    assert!(location.args.iter().all(|a| !a.quoted));
}

#[test]
fn the_seed_cgi_param_example_keeps_variables_and_quotes() {
    let tree = parse(
        "passenger_set_cgi_param APP_NAME \"my super blog\";\n\
         passenger_set_cgi_param EXTRA_REQUEST_METHOD method=$request_method;",
    );
    assert_eq!(
        sketch(&tree),
        "1:passenger_set_cgi_param APP_NAME «my super blog»; \
         2:passenger_set_cgi_param EXTRA_REQUEST_METHOD method=$request_method;"
    );
}

// === writing ===

#[test]
fn a_tree_is_written_in_nginx_syntax() {
    let tree = parse("http{server{listen 80;location / {a \"b c\" 'd';}}}e;");
    assert_eq!(
        write_tree(&tree),
        "http {\n    server {\n        listen 80;\n        location / {\n            a \"b c\" \"d\";\n        }\n    }\n}\ne;\n"
    );
}

#[test]
fn awkward_values_are_written_so_they_read_back() {
    let text = r##"a "" "x y" "#h" "}" "{" ";" b\ c \\ "\\" '"' \" \t x\ty "a\"b" ${v} $\{ c\;d \#e "\n" q\q "\q" x\
y;"##;
    let tree = parse(text);
    let written = write_tree(&tree);
    let again = parse(&written);
    assert!(same_tree(&tree, &again), "{written}\n{tree:#?}\n{again:#?}");
    assert_eq!(write_tree(&again), written);
}

/// Found by the fuzz target: the backslash written as `\$` (not `\\`) took the `$`'s protection
/// from the `{`, and the word read back as two.
#[test]
fn a_written_backslash_keeps_a_dollar_brace_together() {
    let tree = parse(r"a \\${v}w;");
    assert_eq!(sketch(&tree), r"1:a \${v}w;");
    assert_eq!(write_tree(&tree), "a \\\\${v}w;\n");
    assert!(same_tree(&tree, &parse(&write_tree(&tree))));
}

#[test]
fn names_that_cannot_be_bare_are_quoted() {
    let tree = parse("\"\" a;\n\"{x\" {}\n'#c';");
    let written = write_tree(&tree);
    assert_eq!(written, "\"\" a;\n\"{x\" {\n}\n\"#c\";\n");
    assert!(same_tree(&tree, &parse(&written)));
}

#[test]
fn bare_encoding_matches_the_lexer() {
    assert_eq!(encode_bare("a b"), None);
    assert_eq!(encode_bare("a\\ b").as_deref(), Some("a\\ b"));
    assert_eq!(encode_bare("${x}").as_deref(), Some("${x}"));
    assert_eq!(encode_bare("a{"), None);
    assert_eq!(encode_bare("\\${").as_deref(), Some("\\\\${"));
    assert_eq!(encode_bare("a\\;").as_deref(), Some("a\\;"));
    assert_eq!(encode_bare("}a"), None);
    assert_eq!(encode_bare("a}").as_deref(), Some("a}"));
    assert_eq!(encode_bare("\\n").as_deref(), Some("\\\\n"));
    assert_eq!(encode_bare("\"").as_deref(), Some("\\\""));
    assert_eq!(encode("a b", false), "\"a b\"");
    assert_eq!(encode("ab", true), "\"ab\"");
    assert_eq!(encode("a\"\\", true), "\"a\\\"\\\\\"");
}

// === fuzz body ===

const FUZZ_SEEDS: [&str; 4] = [
    SEED_SUB_URI,
    "a \"q\\\"x\" 'y\\'z' b\\ c ${v}w $\\{ # c\n;\nif ($a ~ \"^x\") { return 301 $1; }\n",
    "include conf.d/*.conf;\nevents { worker_connections 1024; }\nx \"multi\nline\" 'z';\n",
    "http{server{listen 80 default_server;location = /x {alias /a$1;}}}\n",
];

/// Bytes the grammar cares about, so that mutations often change the structure.
const INTERESTING: &[u8] = b"{};\"'\\#$ \n\t(){}x\xc3\xa9";

/// A deterministic run of the fuzz target's body over ~20 000 mutations of a few configurations:
/// replaced, inserted and deleted bytes, biased towards the ones the grammar gives meaning to.
#[test]
fn fuzz_logic_holds_on_mutated_configs() {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for round in 0..20_000 {
        let mut doc = FUZZ_SEEDS[round % FUZZ_SEEDS.len()].as_bytes().to_vec();
        for _ in 0..1 + next() % 4 {
            let r = next();
            let i = (r >> 8) as usize % (doc.len() + 1);
            let byte = if r % 3 == 0 {
                (r >> 32) as u8
            } else {
                INTERESTING[(r >> 40) as usize % INTERESTING.len()]
            };
            match r % 5 {
                0 if i < doc.len() => {
                    doc.remove(i);
                }
                1 | 2 if i < doc.len() => doc[i] = byte,
                _ => doc.insert(i, byte),
            }
        }
        fuzz_logic::nginx_config(&doc);
    }
}

#[test]
fn fuzz_logic_holds_on_the_seeds() {
    for seed in FUZZ_SEEDS {
        fuzz_logic::nginx_config(seed.as_bytes());
    }
}
