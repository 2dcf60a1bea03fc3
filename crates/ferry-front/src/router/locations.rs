//! A virtual server's locations, and Nginx's search for the one a path falls in
//! ([`Level::find`]); each location's route, with its apps' [`Site`]s built.
//!
//! Prefix locations are hashed by prefix with the set of prefix lengths at hand, so finding a
//! location costs a few hash lookups however many there are (regex locations are tried in order,
//! as in Nginx).

use std::collections::HashMap;
use std::sync::Arc;

use ferry_config::deployment::{
    LocationMatch, Modifier, Mount, PassengerRoute, Route as RouteConfig, Symlinks,
    VirtualLocation, VirtualServer,
};

use crate::session::under_base;
use crate::site::Site;
use crate::static_files::symlinks;

/// One virtual server: its own route and its locations.
pub(super) struct Server {
    /// `$server_name`: the first name.
    pub(super) name: String,
    pub(super) route: Route,
    pub(super) locations: Level,
}

/// The locations of one level, indexed for search.
pub(super) struct Level {
    nodes: Vec<Node>,
    exact: HashMap<String, usize>,
    prefix: HashMap<String, usize>,
    /// The lengths of the prefixes, longest first.
    prefix_lengths: Vec<usize>,
    regex: Vec<usize>,
}

/// A location: how it matches, its route, its nested locations.
pub(super) struct Node {
    matcher: LocationMatch,
    pub(super) route: Route,
    children: Level,
}

/// A route, with its apps' sites built.
pub(super) struct Route {
    pub(super) config: RouteConfig,
    /// For `alias` in a prefix location: the prefix it replaces.
    pub(super) alias_prefix: Option<String>,
    /// The `disable_symlinks` in force for its files (the default decided).
    pub(super) symlinks: Symlinks,
    pub(super) passenger: Option<Passenger>,
}

/// Where Passenger is on: the route's apps by base URI, and the fallback app.
pub(super) struct Passenger {
    pub(super) config: PassengerRoute,
    mounts: Vec<(String, Arc<Site>)>,
    fallback: Option<Arc<Site>>,
}

/// The location search's result: the route, and the regex's captures (`$1`...).
pub(super) struct Found<'a> {
    pub(super) route: &'a Route,
    pub(super) captures: Vec<Option<String>>,
}

/// Makes the site of an app mounted in a route.
pub(super) type MakeSite<'a> = dyn FnMut(&Mount, &PassengerRoute) -> Arc<Site> + 'a;

/// find_location: the route for `uri` on `server` (its own route when no location matches).
pub(super) fn find_location<'a>(server: &'a Server, uri: &str) -> Found<'a> {
    let mut captures = Vec::new();
    let route = match server.locations.find(uri, &mut captures).0 {
        Some(node) => &node.route,
        None => &server.route,
    };
    Found { route, captures }
}

// === impl Server ===

impl Server {
    pub(super) fn new(server: &VirtualServer, site: &mut MakeSite<'_>) -> Server {
        Server {
            name: server
                .names
                .first()
                .map(ToString::to_string)
                .unwrap_or_default(),
            route: Route::new(&server.route, None, site),
            locations: Level::new(&server.locations, site),
        }
    }
}

// === impl Level ===

impl Level {
    fn new(locations: &[VirtualLocation], site: &mut MakeSite<'_>) -> Level {
        let mut level = Level {
            nodes: Vec::new(),
            exact: HashMap::new(),
            prefix: HashMap::new(),
            prefix_lengths: Vec::new(),
            regex: Vec::new(),
        };
        for location in locations {
            level.index(location);
            let matcher = &location.matcher;
            let alias_prefix = matcher.is_prefix().then(|| matcher.pattern.clone());
            level.nodes.push(Node {
                matcher: matcher.clone(),
                route: Route::new(&location.route, alias_prefix, site),
                children: Level::new(&location.locations, site),
            });
        }
        level.prefix_lengths.sort_unstable_by(|a, b| b.cmp(a));
        level
    }

    /// Indexes `location`, about to become the next node, by how it matches.
    fn index(&mut self, location: &VirtualLocation) {
        let index = self.nodes.len();
        let matcher = &location.matcher;
        match matcher.modifier {
            Modifier::Exact => {
                self.exact.entry(matcher.pattern.clone()).or_insert(index);
            }
            Modifier::Prefix | Modifier::PrefixNoRegex => {
                self.prefix.entry(matcher.pattern.clone()).or_insert(index);
                if !self.prefix_lengths.contains(&matcher.pattern.len()) {
                    self.prefix_lengths.push(matcher.pattern.len());
                }
            }
            Modifier::Regex | Modifier::RegexCaseless => self.regex.push(index),
            Modifier::Named => {}
        }
    }

    /// Nginx's search (`ngx_http_core_find_location`): an exact match ends it; the longest
    /// prefix is remembered and its nested locations searched; unless that prefix is `^~`,
    /// this level's regexes are tried in order and the first match (then its nested
    /// locations) wins; else the longest prefix. The flag says whether the search is over.
    pub(super) fn find<'a>(
        &'a self,
        uri: &str,
        captures: &mut Vec<Option<String>>,
    ) -> (Option<&'a Node>, bool) {
        if let Some(&index) = self.exact.get(uri) {
            return (Some(&self.nodes[index]), true);
        }
        let longest = self
            .prefix_lengths
            .iter()
            .filter(|&&len| len <= uri.len() && uri.is_char_boundary(len))
            .find_map(|&len| self.prefix.get(&uri[..len]))
            .map(|&index| &self.nodes[index]);
        let mut found = longest;
        if let Some(prefix) = longest {
            let (inner, done) = prefix.children.find(uri, captures);
            if done {
                return (inner, true);
            }
            found = inner.or(found);
            if prefix.matcher.modifier == Modifier::PrefixNoRegex {
                return (found, true);
            }
        }
        match self.find_regex(uri, captures) {
            Some(node) => (Some(node), true),
            None => (found, false),
        }
    }

    /// The first regex location of this level matching `uri` (then its nested locations), its
    /// captures in `captures`.
    fn find_regex<'a>(&'a self, uri: &str, captures: &mut Vec<Option<String>>) -> Option<&'a Node> {
        for &index in &self.regex {
            let node = &self.nodes[index];
            let Some(caps) = node.matcher.regex.as_ref().and_then(|r| r.captures(uri)) else {
                continue;
            };
            *captures = caps
                .iter()
                .map(|m| m.map(|m| m.as_str().to_owned()))
                .collect();
            let (inner, _) = node.children.find(uri, captures);
            return Some(inner.unwrap_or(node));
        }
        None
    }
}

// === impl Route ===

impl Route {
    fn new(config: &RouteConfig, alias_prefix: Option<String>, site: &mut MakeSite<'_>) -> Route {
        let passenger = config.passenger.as_ref().map(|p| Passenger {
            mounts: p
                .mounts
                .iter()
                .filter_map(|m| Some((m.base_uri.clone()?, site(m, p))))
                .collect(),
            fallback: p.fallback.as_ref().map(|m| site(m, p)),
            config: p.clone(),
        });
        Route {
            config: config.clone(),
            alias_prefix,
            symlinks: symlinks::in_force(config.disable_symlinks.as_ref()),
            passenger,
        }
    }
}

// === impl Passenger ===

impl Passenger {
    /// The site for `uri`: the longest base URI it is under, else the fallback.
    pub(super) fn site(&self, uri: &str) -> Option<&Arc<Site>> {
        self.mounts
            .iter()
            .find(|(base, _)| under_base(uri, base))
            .map(|(_, site)| site)
            .or(self.fallback.as_ref())
    }
}
