//! The checking walk: every directive against the table in its block context, each problem
//! recorded with its span. What passes is collected into [`Block`]s for `build.rs`.

use std::collections::HashMap;

use super::super::ast::{Context, Directive, Span};
use super::super::directives::{self, Role, Spec};
use super::settings::{Entry, Settings};
use super::Problem;
use crate::deployment::{LocationMatch, Modifier, ServerName};

/// Collects problems while walking.
#[derive(Debug, Default)]
pub(super) struct Walker {
    errors: Vec<Problem>,
    warnings: Vec<Problem>,
}

/// A checked block: what it sets itself, and the blocks inside it that passed.
#[derive(Debug)]
pub(super) struct Block {
    pub(super) context: Context,
    pub(super) span: Span,
    /// Its own directives (only those that passed every check).
    pub(super) own: Settings,
    pub(super) children: Vec<Child>,
}

/// A block inside a block; `matcher` for locations.
#[derive(Debug)]
pub(super) struct Child {
    pub(super) block: Block,
    pub(super) matcher: Option<LocationMatch>,
}

/// What the walk knows about where it is.
#[derive(Clone, Copy)]
struct Place<'a> {
    context: Context,
    /// The innermost enclosing location, for the nesting rules.
    location: Option<&'a LocationMatch>,
}

/// Directives seen in the current block that may be given once, by canonical name.
type Seen<'t> = HashMap<&'static str, &'t Directive>;

// === impl Walker ===

impl Walker {
    /// Walks a whole file's tree (the top level).
    pub(super) fn top(&mut self, tree: &[Directive]) -> Block {
        let span = tree.first().map_or_else(
            || Span {
                file: Default::default(),
                line: 0,
            },
            |d| Span {
                file: d.span.file.clone(),
                line: 0,
            },
        );
        let here = Place {
            context: Context::Main,
            location: None,
        };
        self.block(tree, here, span)
    }

    /// The errors and warnings, in the order found.
    pub(super) fn finish(self) -> (Vec<Problem>, Vec<Problem>) {
        (self.errors, self.warnings)
    }

    pub(super) fn error(&mut self, span: &Span, message: impl Into<String>) {
        self.errors.push(Problem {
            span: span.clone(),
            message: message.into(),
        });
    }

    pub(super) fn warn(&mut self, span: &Span, message: impl Into<String>) {
        self.warnings.push(Problem {
            span: span.clone(),
            message: message.into(),
        });
    }

    fn block(&mut self, directives: &[Directive], here: Place<'_>, span: Span) -> Block {
        let mut block = Block {
            context: here.context,
            span,
            own: Settings::default(),
            children: Vec::new(),
        };
        let mut seen = Seen::new();
        for d in directives {
            self.directive(d, here, &mut block, &mut seen);
        }
        if here.context == Context::Location {
            self.check_root_and_alias(&block, here.location);
        }
        self.check_duplicate_locations(&block.children);
        block
    }

    fn directive<'t>(
        &mut self,
        d: &'t Directive,
        here: Place<'_>,
        block: &mut Block,
        seen: &mut Seen<'t>,
    ) {
        let Some(spec) = directives::lookup(&d.name) else {
            self.error(&d.span, format!("unknown directive \"{}\"", d.name));
            return;
        };
        match spec.role {
            Role::Rejected { message } | Role::Unsupported { message } => {
                self.error(&d.span, format!("{}: {message}", d.name));
                if let (Some(children), true) = (&d.block, spec.block) {
                    // Check what is inside too, so one run shows everything.
                    let inside = Place {
                        context: Context::If,
                        ..here
                    };
                    self.block(children, inside, d.span.clone());
                }
                return;
            }
            Role::Ignored { warning } => {
                if self.check_place(spec, d, here.context) {
                    self.warn(&d.span, format!("{} is ignored: {warning}", d.name));
                }
                return;
            }
            _ => {}
        }
        let allowed =
            self.check_place(spec, d, here.context) && self.check_once(spec, d, here, seen);
        let block_ok = self.report(d, spec.check_block(d.block.is_some()));
        let args: Vec<&str> = d.args.iter().map(|a| a.value.as_str()).collect();
        let args_ok = self.report(d, spec.check_args(&args));
        if let (Role::NoEffect { why }, true) = (spec.role, allowed) {
            self.warn(&d.span, format!("{} has no effect: {why}", d.name));
        }
        if spec.block {
            if let (Some(children), true) = (&d.block, block_ok) {
                self.open(
                    d,
                    spec,
                    children,
                    here,
                    (allowed && args_ok).then_some(block),
                );
            }
        } else if allowed && args_ok && self.check_meaning(d, spec, &args, here) {
            block.own.push(
                spec,
                Entry {
                    written_as: spec.name,
                    args: args.iter().map(|a| (*a).to_owned()).collect(),
                    span: d.span.clone(),
                },
            );
        }
    }

    /// Walks a block directive's block; attaches the result to `parent` when given (the
    /// directive itself passed).
    fn open(
        &mut self,
        d: &Directive,
        spec: &'static Spec,
        children: &[Directive],
        here: Place<'_>,
        parent: Option<&mut Block>,
    ) {
        let context = match spec.name {
            "http" => Context::Http,
            "events" => Context::Events,
            "server" => Context::Server,
            "location" => Context::Location,
            _ => {
                self.types(spec, children, parent);
                return;
            }
        };
        let matcher = if context == Context::Location {
            self.location_matcher(d, here)
        } else {
            None
        };
        if context == Context::Location && matcher.is_none() {
            return;
        }
        let inside = Place {
            context,
            location: matcher.as_ref().or(here.location),
        };
        let block = self.block(children, inside, d.span.clone());
        if let Some(parent) = parent {
            parent.children.push(Child { block, matcher });
        }
    }

    /// A `types` block: `MIME/TYPE ext...;` entries, stored as `types` entries.
    fn types(&mut self, spec: &'static Spec, children: &[Directive], parent: Option<&mut Block>) {
        let mut entries = Vec::new();
        for entry in children {
            if entry.block.is_some() {
                self.error(&entry.span, "types entries take no { ... } block");
            } else if entry.args.is_empty() {
                self.error(
                    &entry.span,
                    format!(
                        "types entry {} needs at least one file extension after it",
                        entry.name
                    ),
                );
            } else {
                let args = std::iter::once(entry.name.clone())
                    .chain(entry.args.iter().map(|a| a.value.clone()))
                    .collect();
                entries.push(Entry {
                    written_as: spec.name,
                    args,
                    span: entry.span.clone(),
                });
            }
        }
        if let Some(parent) = parent {
            for entry in entries {
                parent.own.push(spec, entry);
            }
        }
    }

    /// Whether `spec` may appear in `context`; reports it if not.
    fn check_place(&mut self, spec: &Spec, d: &Directive, context: Context) -> bool {
        if spec.allows(context) {
            return true;
        }
        let found = match context {
            Context::Main => "found at the top level".to_owned(),
            other => format!("found in {}", other.name()),
        };
        self.error(
            &d.span,
            format!("{} is {} ({found})", d.name, spec.allowed_in()),
        );
        false
    }

    /// Whether a directive that may be given once per block is given for the first time.
    fn check_once<'t>(
        &mut self,
        spec: &Spec,
        d: &'t Directive,
        here: Place<'_>,
        seen: &mut Seen<'t>,
    ) -> bool {
        if spec.repeatable {
            return true;
        }
        let Some(first) = seen.get(spec.canonical_name()) else {
            seen.insert(spec.canonical_name(), d);
            return true;
        };
        let block = match here.context {
            Context::Main => "at the top level".to_owned(),
            other => format!("in this {} block", other.name()),
        };
        let message = if first.name == d.name {
            format!("duplicate {} {block} (first at {})", d.name, first.span)
        } else {
            format!(
                "duplicate {} {block} ({} is already set at {} by {})",
                d.name,
                spec.canonical_name(),
                first.span,
                first.name
            )
        };
        self.error(&d.span, message);
        false
    }

    /// Reports a table check's answer; whether it passed.
    fn report(&mut self, d: &Directive, result: Result<(), directives::Invalid>) -> bool {
        match result {
            Ok(()) => true,
            Err(invalid) => {
                self.error(&d.span, invalid.to_string());
                false
            }
        }
    }

    /// The checks of one directive's meaning that the table cannot make: regexes in
    /// `server_name`, `alias` captures and places.
    fn check_meaning(
        &mut self,
        d: &Directive,
        spec: &Spec,
        args: &[&str],
        here: Place<'_>,
    ) -> bool {
        match spec.name {
            "server_name" => args.iter().all(|name| match ServerName::parse(name) {
                Ok(_) => true,
                Err(why) => {
                    self.error(
                        &d.span,
                        format!(
                            "invalid regular expression \"{}\" in server_name: {why}",
                            &name[1..]
                        ),
                    );
                    false
                }
            }),
            "alias" => self.check_alias(d, args[0], here.location),
            _ => true,
        }
    }

    /// `alias` in a named location, or naming a capture its regex location lacks.
    fn check_alias(&mut self, d: &Directive, path: &str, location: Option<&LocationMatch>) -> bool {
        let Some(location) = location else {
            return true;
        };
        if location.modifier == Modifier::Named {
            self.error(&d.span, "alias cannot be used in a named location");
            return false;
        }
        let highest = highest_capture_reference(path);
        let captures = location.captures();
        if highest > captures {
            let groups = if captures == 1 { "group" } else { "groups" };
            self.error(
                &d.span,
                format!(
                    "alias uses ${highest} but location \"{location}\" has {captures} capture {groups}"
                ),
            );
            return false;
        }
        true
    }

    /// The matcher of a `location` and the nesting rules; `None` (reported) if it is wrong.
    fn location_matcher(&mut self, d: &Directive, here: Place<'_>) -> Option<LocationMatch> {
        let args: Vec<&str> = d.args.iter().map(|a| a.value.as_str()).collect();
        let matcher = match LocationMatch::parse(&args) {
            Ok(matcher) => matcher,
            Err(why) => {
                let pattern = args.last().map_or("", |p| p.trim_start_matches(['~', '*']));
                self.error(
                    &d.span,
                    format!("invalid regular expression \"{pattern}\" in location: {why}"),
                );
                return None;
            }
        };
        let Some(outer) = here.location else {
            return Some(matcher);
        };
        let problem = match (outer.modifier, matcher.modifier) {
            (_, Modifier::Named) => Some(format!(
                "named location \"{matcher}\" can only be at the server level"
            )),
            (Modifier::Exact | Modifier::Named, _) => Some(format!(
                "location \"{matcher}\" cannot be inside the {} location \"{outer}\"",
                if outer.modifier == Modifier::Exact {
                    "exact"
                } else {
                    "named"
                }
            )),
            (Modifier::Prefix | Modifier::PrefixNoRegex, Modifier::Exact)
            | (Modifier::Prefix | Modifier::PrefixNoRegex, Modifier::Prefix)
            | (Modifier::Prefix | Modifier::PrefixNoRegex, Modifier::PrefixNoRegex)
                if !matcher.pattern.starts_with(&outer.pattern) =>
            {
                Some(format!(
                    "location \"{matcher}\" is outside location \"{outer}\""
                ))
            }
            _ => None,
        };
        match problem {
            Some(message) => {
                self.error(&d.span, message);
                None
            }
            None => Some(matcher),
        }
    }

    /// `root` and `alias` in one location: Nginx refuses the second.
    fn check_root_and_alias(&mut self, block: &Block, location: Option<&LocationMatch>) {
        let (Some(root), Some(alias)) = (block.own.get("root"), block.own.get("alias")) else {
            return;
        };
        let (Some(root), Some(alias)) = (root.span(), alias.span()) else {
            return;
        };
        let (later, first, first_name) = if alias.line >= root.line && alias.file == root.file {
            (alias, root, "root")
        } else {
            (root, alias, "alias")
        };
        let where_ = location.map_or(String::new(), |l| format!(" \"{l}\""));
        self.error(
            later,
            format!(
                "root and alias cannot both be set in location{where_} ({first_name} at {first}); \
                 keep one"
            ),
        );
    }

    /// Two exact, prefix or named locations with the same URI at one level.
    fn check_duplicate_locations(&mut self, children: &[Child]) {
        let mut first: HashMap<(u8, &str), &Span> = HashMap::new();
        for child in children {
            let Some(m) = &child.matcher else { continue };
            if m.is_regex() {
                continue;
            }
            let key = (m.modifier.rank(), m.pattern.as_str());
            match first.get(&key) {
                Some(at) => {
                    let message = format!("duplicate location \"{}\" (first at {at})", m.pattern);
                    self.error(&child.block.span, message);
                }
                None => {
                    first.insert(key, &child.block.span);
                }
            }
        }
    }
}

/// The highest `$N` in an `alias` path (0 if none).
fn highest_capture_reference(path: &str) -> usize {
    let bytes = path.as_bytes();
    let mut highest = 0;
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'$' {
            if let Some(d) = bytes.get(i + 1).filter(|d| d.is_ascii_digit()) {
                highest = highest.max(usize::from(d - b'0'));
            }
        }
    }
    highest
}
