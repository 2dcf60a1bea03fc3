//! What a place in an Nginx-style configuration does with a request, end to end through the
//! real binary (issue 6): static files where Passenger is off (`root`, `alias`, `index`,
//! `types`, `default_type`, 301 for a directory, 403, 404, 405), `error_page` (URI, `=CODE`,
//! URL), `client_max_body_size` (413 before the app), and for an app: `passenger_set_cgi_param`
//! with variables, hidden `X-Accel-*` headers and `passenger_pass_header`, `X-Accel-Redirect`,
//! `passenger_intercept_errors`, `passenger_show_version_in_header`.

use std::time::Duration;

use ferry_test_support::client::{self, Client};
use ferry_test_support::http::{Method, StatusCode};
use ferry_test_support::{
    apps, bounded, config_user_directives, require_program, trace_init, Ferry,
};

const LIMIT: Duration = Duration::from_secs(60);

/// A WSGI app that answers as the path says.
const APP: &str = r#"
import json
def application(environ, start_response):
    path = environ['PATH_INFO']
    if path == '/env':
        body = json.dumps({k: v for k, v in environ.items() if isinstance(v, str)}).encode()
        start_response('200 OK', [('Content-Type', 'application/json')])
        return [body]
    if path.endswith('/accel'):
        start_response('200 OK', [('X-Accel-Redirect', '/protected/secret.txt'),
                                  ('Content-Type', 'text/plain')])
        return [b'app body']
    if path == '/buffering':
        start_response('200 OK', [('X-Accel-Buffering', 'no'), ('X-Accel-Expires', '10')])
        return [b'ok']
    if path.startswith('/status/'):
        code = path.split('/')[2]
        start_response(code + ' Whatever', [('Content-Type', 'text/plain')])
        return [b'app error page']
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'app ' + path.encode()]
"#;

fn config(dir: &std::path::Path) -> String {
    let d = dir.display();
    format!(
        r#"
http {{
    {users}
    server {{
        listen 127.0.0.1:0;
        server_name static.test;
        root {d}/site;
        index start.html index.html;
        default_type application/x-unknown;
        error_page 404 /errors/404.html;
        error_page 403 =410 /errors/404.html;
        error_page 405 http://example.test/no;
        location /typed/ {{
            types {{ application/x-ferry-test ftx; text/css css; }}
        }}
        location /files/ {{
            alias {d}/data/;
        }}
    }}
    server {{
        listen 127.0.0.1:0;
        server_name app.test;
        root {d}/app/public;
        passenger_enabled on;
        client_max_body_size 10;
        passenger_set_cgi_param APP_NAME "my app";
        passenger_set_cgi_param EXTRA method=$request_method,arg=$arg_id,host=$host,c=$cookie_k;
        passenger_set_cgi_param HTTP_X_FORWARDED_FOR 127.0.0.2;
        passenger_pass_header X-Accel-Buffering;
        passenger_intercept_errors on;
        error_page 503 /errors/503.html;
        location /protected/ {{
            root {d}/private;
        }}
        location /quiet/ {{
            passenger_enabled on;
            passenger_show_version_in_header off;
            passenger_ignore_headers X-Accel-Redirect;
        }}
    }}
}}
"#,
        users = config_user_directives()
    )
}

fn write(path: std::path::PathBuf, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[tokio::test]
async fn places_answer_as_nginx_and_passenger_do() {
    trace_init();
    require_program!("python3");
    bounded(LIMIT, async {
        let dir = apps::temp_dir();
        let d = dir.path();
        write(d.join("site/start.html"), "start page");
        write(d.join("site/docs/index.html"), "docs index");
        write(d.join("site/empty/.keep"), "");
        write(d.join("site/typed/a.ftx"), "typed");
        write(d.join("site/typed/b.weird"), "weird");
        write(d.join("site/c.weird"), "weird");
        write(d.join("site/errors/404.html"), "custom 404");
        write(d.join("data/x.txt"), "aliased");
        write(d.join("app/passenger_wsgi.py"), APP);
        write(d.join("app/public/robots.txt"), "static of the app");
        write(d.join("app/public/errors/503.html"), "custom 503");
        write(d.join("private/protected/secret.txt"), "the secret file");
        let file = d.join("ferry.conf");
        std::fs::write(&file, config(d)).unwrap();
        let ferry = Ferry::with_config(env!("CARGO_BIN_EXE_ferry"), &file)
            .spawn()
            .await
            .expect("ferry starts");
        let client = Client::new();
        let get = |path: &str, host: &'static [(&'static str, &'static str)]| {
            let (client, url) = (client.clone(), ferry.url_for(path));
            async move { client.get_with(&url, host).await.unwrap() }
        };
        const S: &[(&str, &str)] = &[("host", "static.test")];
        const A: &[(&str, &str)] = &[("host", "app.test")];

        // Files where Passenger is off.
        let r = get("/", S).await;
        assert_eq!((r.status, r.text()), (StatusCode::OK, "start page".into()));
        assert_eq!(
            r.header("server"),
            Some(concat!("Ferry/", env!("CARGO_PKG_VERSION")))
        );
        let r = get("/docs", S).await;
        assert_eq!(r.status, StatusCode::MOVED_PERMANENTLY);
        assert_eq!(r.header("location"), Some("/docs/"));
        assert_eq!(get("/docs/", S).await.text(), "docs index");
        let r = get("/missing", S).await;
        assert_eq!(
            (r.status, r.text()),
            (StatusCode::NOT_FOUND, "custom 404".into())
        );
        let r = get("/empty/", S).await;
        assert_eq!(r.status, StatusCode::GONE, "403 → error_page 403 =410");
        let r = get("/typed/a.ftx", S).await;
        assert_eq!(r.header("content-type"), Some("application/x-ferry-test"));
        let r = get("/typed/b.weird", S).await;
        assert_eq!(r.header("content-type"), Some("application/x-unknown"));
        let r = get("/c.weird", S).await;
        assert_eq!(r.header("content-type"), Some("application/x-unknown"));
        assert_eq!(get("/files/x.txt", S).await.text(), "aliased");
        let post = client::request(
            Method::POST,
            &ferry.url_for("/"),
            S,
            ferry_test_support::body::empty(),
        );
        let r = client.request(post).await.unwrap();
        assert_eq!(r.status, StatusCode::FOUND, "405 → error_page URL");
        assert_eq!(r.header("location"), Some("http://example.test/no"));

        // The app, its static files, its CGI parameters.
        assert_eq!(get("/robots.txt", A).await.text(), "static of the app");
        let r = get("/hello", A).await;
        assert_eq!(r.text(), "app /hello");
        assert_eq!(
            r.header("x-powered-by"),
            Some(concat!("Ferry ", env!("CARGO_PKG_VERSION")))
        );
        let env = client
            .get_with(
                &ferry.url_for("/env?id=42"),
                &[
                    ("host", "app.test"),
                    ("cookie", "k=v; z=1"),
                    ("x-forwarded-for", "1.2.3.4"),
                ],
            )
            .await
            .unwrap();
        let env: serde_json::Value = serde_json::from_str(&env.text()).unwrap();
        assert_eq!(env["APP_NAME"], "my app");
        assert_eq!(env["EXTRA"], "method=GET,arg=42,host=app.test,c=v");
        assert_eq!(
            env["HTTP_X_FORWARDED_FOR"], "127.0.0.2",
            "the parameter wins"
        );
        let environ = ferry.descendants().into_iter().find_map(|pid| {
            let e = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
            let e = String::from_utf8_lossy(&e).into_owned();
            e.contains("APP_NAME=my app").then_some(e)
        });
        assert!(
            environ.is_some(),
            "constant CGI parameters are environment variables at spawn"
        );

        // Body limit: 413 before the app.
        let big = client::request(
            Method::POST,
            &ferry.url_for("/upload"),
            A,
            ferry_test_support::body::full("more than ten bytes"),
        );
        let r = client.request(big).await.unwrap();
        assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
        // Of unannounced length (chunked): read up to the limit first, then 413 or sent on.
        let chunked = |len| {
            client::request(
                Method::POST,
                &ferry.url_for("/env"),
                A,
                ferry_test_support::body::pattern(len, true),
            )
        };
        let r = client.request(chunked(100_000)).await.unwrap();
        assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
        let r = client.request(chunked(7)).await.unwrap();
        assert_eq!(r.status, StatusCode::OK);
        let env: serde_json::Value = serde_json::from_str(&r.text()).unwrap();
        assert_eq!(env["CONTENT_LENGTH"], "7", "sent on with its length");

        // Response headers.
        let r = get("/accel", A).await;
        assert_eq!(
            (r.status, r.text()),
            (StatusCode::OK, "the secret file".into())
        );
        assert_eq!(r.header("x-accel-redirect"), None);
        let r = get("/buffering", A).await;
        assert_eq!(r.header("x-accel-buffering"), Some("no"), "passed");
        assert_eq!(r.header("x-accel-expires"), None, "hidden");
        let r = get("/quiet/accel", A).await;
        assert_eq!(r.text(), "app body", "X-Accel-Redirect ignored here");
        assert_eq!(r.header("x-powered-by"), Some("Ferry"));
        assert_eq!(r.header("server"), Some("Ferry"));

        // Intercepted errors: an error_page for 503, none for 500.
        let r = get("/status/503", A).await;
        assert_eq!(
            (r.status, r.text()),
            (StatusCode::SERVICE_UNAVAILABLE, "custom 503".into())
        );
        let r = get("/status/500", A).await;
        assert_eq!(
            (r.status, r.text()),
            (StatusCode::INTERNAL_SERVER_ERROR, "app error page".into())
        );
    })
    .await;
}
