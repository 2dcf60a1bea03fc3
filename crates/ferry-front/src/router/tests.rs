//! Routing: server names, the location search, paths, sockets.

use std::path::PathBuf;

use ferry_config::deployment::Files;

use super::files::{file_path, lookup_status};
use super::*;

fn deployment(text: &str) -> Deployment {
    Deployment::from_nginx_str(text, "t.conf").unwrap_or_else(|e| panic!("{e}"))
}

fn observers() -> Observers {
    Observers {
        metrics: Arc::new(Metrics::disabled()),
        access_log: None,
        inflight: Arc::default(),
    }
}

/// A router for a deployment without apps (Passenger off everywhere).
fn router(text: &str) -> Router {
    let d = deployment(text);
    let bound = sockets(&d.listens);
    Router::new(&d, &bound, observers(), |_, _| unreachable!("no apps"))
}

/// The `root` of the route `uri` ends up in, on the server for `host`.
fn root_for(router: &Router, host: &str, uri: &str) -> String {
    let server = router.server(0, None, host);
    let mut captures = Vec::new();
    let route = match server.locations.find(uri, &mut captures).0 {
        Some(node) => &node.route,
        None => &server.route,
    };
    match &route.config.files {
        Files::Root(root) => root.display().to_string(),
        Files::Alias(alias) => format!("alias {alias}"),
        Files::None => "none".into(),
    }
}

#[test]
fn server_names_in_nginx_order() {
    let r = router(
        r"http {
            server { listen 8080; root /first; }
            server { listen 8080; server_name www.example.com; root /exact; }
            server { listen 8080; server_name *.example.com; root /leading; }
            server { listen 8080; server_name *.a.example.com; root /longer-leading; }
            server { listen 8080; server_name www.*; root /trailing; }
            server { listen 8080; server_name ~^(\w+)\.regex\.test$; root /regex; }
            server { listen 8080; server_name .domain.test; root /domain; }
            server { listen 8080 default_server; server_name other; root /default; }
        }",
    );
    let server_root = |host| root_for(&r, host, "/");
    assert_eq!(server_root("www.example.com"), "/exact");
    assert_eq!(server_root("x.example.com"), "/leading");
    assert_eq!(server_root("x.a.example.com"), "/longer-leading");
    assert_eq!(server_root("www.other.org"), "/trailing");
    assert_eq!(server_root("abc.regex.test"), "/regex");
    assert_eq!(server_root("domain.test"), "/domain");
    assert_eq!(server_root("sub.domain.test"), "/domain");
    assert_eq!(server_root("nobody.test"), "/default");
    assert_eq!(server_root(""), "/default");
}

#[test]
fn without_default_server_the_first_one_answers() {
    let r = router(
        "http { server { listen 8080; server_name a; root /a; }
                server { listen 8080; server_name b; root /b; } }",
    );
    assert_eq!(root_for(&r, "zzz", "/"), "/a");
    assert_eq!(root_for(&r, "b", "/"), "/b");
}

#[test]
fn location_search_order() {
    let r = router(
        r"http { server { listen 8080; root /server;
            location = / { root /exact-root; }
            location / { root /prefix-root; }
            location /images/ { root /images;
                location /images/big/ { root /images-big; }
                location ~ \.svg$ { root /images-svg; }
            }
            location ^~ /static/ { root /static; }
            location ~* \.(png|JPG)$ { root /regex; }
            location ~ ^/nested(/.*)$ { root /nested;
                location ~ \.txt$ { root /nested-txt; }
            }
        } }",
    );
    let at = |uri| root_for(&r, "", uri);
    assert_eq!(at("/"), "/exact-root");
    assert_eq!(at("/index.html"), "/prefix-root");
    assert_eq!(at("/images/a.gif"), "/images");
    assert_eq!(at("/images/big/a.gif"), "/images-big");
    assert_eq!(
        at("/images/a.svg"),
        "/images-svg",
        "nested regex of a prefix"
    );
    assert_eq!(
        at("/images/a.png"),
        "/regex",
        "outer regex beats the prefix"
    );
    assert_eq!(at("/static/a.png"), "/static", "^~ stops the regex search");
    assert_eq!(at("/a.PNG"), "/regex", "~* is caseless");
    assert_eq!(
        at("/nested/a.txt"),
        "/nested-txt",
        "nested regex of a regex"
    );
    assert_eq!(at("/nested/a.html"), "/nested");
}

#[test]
fn alias_paths() {
    let r = router(
        r"http { server { listen 8080;
            location /files/ { alias /srv/data/; }
            location ~ ^/sub(/.*|$) { alias /srv/public$1; }
        } }",
    );
    let server = r.server(0, None, "");
    let path = |uri: &str| {
        let mut captures = Vec::new();
        let node = server.locations.find(uri, &mut captures).0.unwrap();
        file_path(&node.route, &captures, uri).unwrap()
    };
    assert_eq!(path("/files/a/b.txt"), PathBuf::from("/srv/data/a/b.txt"));
    assert_eq!(path("/sub/x.css"), PathBuf::from("/srv/public/x.css"));
    assert_eq!(path("/sub"), PathBuf::from("/srv/public"));
}

#[test]
fn failed_lookups_get_nginxs_statuses() {
    use ferry_sys::fs::{DisableSymlinks, Root, SymlinkPolicy};
    let dir = tempfile::tempdir().unwrap();
    let top = std::fs::canonicalize(dir.path()).unwrap();
    nix::unistd::mkfifo(&top.join("pipe"), nix::sys::stat::Mode::S_IRWXU).unwrap();
    std::fs::write(top.join("file"), "x").unwrap();
    std::os::unix::fs::symlink("file", top.join("link")).unwrap();
    let status = |mode, name: &str| {
        let root = Root::new(&top, SymlinkPolicy::new(mode, None)).unwrap();
        lookup_status(&root.open(&[name]).unwrap_err())
    };
    assert_eq!(
        status(DisableSymlinks::On, "missing"),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        status(DisableSymlinks::Off, "pipe"),
        StatusCode::NOT_FOUND,
        "not a regular file: 404, as nginx"
    );
    assert_eq!(
        status(DisableSymlinks::On, "link"),
        StatusCode::FORBIDDEN,
        "a refused link: 403, as nginx answers ELOOP"
    );
}

#[test]
fn many_servers_and_locations_are_found_by_hash() {
    let mut text = String::from("http {\n");
    for i in 0..1000 {
        text.push_str(&format!(
            "server {{ listen 8080; server_name s{i}.test; root /s{i}; }}\n"
        ));
    }
    text.push_str("server { listen 8080; server_name big.test; root /big;\n");
    for i in 0..1000 {
        text.push_str(&format!("location /l{i:04}/ {{ root /l{i}; }}\n"));
    }
    text.push_str("} }");
    let r = router(&text);
    assert_eq!(root_for(&r, "s999.test", "/"), "/s999");
    assert_eq!(root_for(&r, "big.test", "/l0999/x"), "/l999");
    assert_eq!(root_for(&r, "big.test", "/nowhere"), "/big");
}

#[test]
fn normalized_paths() {
    assert_eq!(normalize("/a//b/./c/").as_deref(), Some("/a/b/c/"));
    assert_eq!(normalize("/a/b/../c").as_deref(), Some("/a/c"));
    assert_eq!(normalize("/a/b/..").as_deref(), Some("/a/"));
    assert_eq!(normalize("/%61%2Fb").as_deref(), Some("/a/b"));
    assert_eq!(normalize("/").as_deref(), Some("/"));
    assert_eq!(normalize("/.."), None, "above the root");
    assert_eq!(normalize("/%2e%2e/etc"), None);
    assert_eq!(normalize("/a%00"), None);
    assert_eq!(normalize("a"), None);
}

#[test]
fn hosts() {
    let request = |host: &str| {
        Request::builder()
            .uri("/")
            .header("host", host)
            .body(())
            .unwrap()
    };
    assert_eq!(host_of(&request("Example.COM:8080")), "example.com");
    assert_eq!(host_of(&request("example.com.")), "example.com");
    assert_eq!(host_of(&request("[::1]:80")), "[::1]");
    let absolute = Request::builder()
        .uri("http://Abs.Test/x")
        .body(())
        .unwrap();
    assert_eq!(host_of(&absolute), "abs.test");
}

#[test]
fn a_wildcard_socket_serves_specific_addresses_on_its_port() {
    let tcp = |host: &str, port| ListenAddress::Tcp {
        host: host.into(),
        port,
    };
    let listens = [tcp("127.0.0.1", 80), tcp("*", 80), tcp("127.0.0.1", 81)];
    assert_eq!(sockets(&listens), [tcp("*", 80), tcp("127.0.0.1", 81)]);
    let r = router(
        "http { server { listen 80; root /any; }
                server { listen 127.0.0.1:80; root /local; } }",
    );
    let local: SocketAddr = "127.0.0.1:80".parse().unwrap();
    let other: SocketAddr = "10.0.0.1:80".parse().unwrap();
    let root = |addr| match &r.server(0, Some(addr), "").route.config.files {
        Files::Root(root) => root.display().to_string(),
        _ => String::new(),
    };
    assert_eq!(root(local), "/local");
    assert_eq!(root(other), "/any");
}
