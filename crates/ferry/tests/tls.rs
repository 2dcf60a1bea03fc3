//! Issue 19, TLS: HTTPS and HTTP/2 through the real binary, checked with real clients (`curl`,
//! `openssl s_client`) against a CA and certificates made at run time with rcgen: TLS 1.3 and
//! 1.2, HTTP/2 and HTTP/1.1 by ALPN, two names on one port each with its own certificate by
//! SNI, the chain `s_client` shows, session resumption, cleartext HTTP/2 by prior knowledge,
//! `--ssl --ssl-port` beside HTTP, apps that see the scheme (Rack, Sinatra, Flask, Express), and
//! certificates or keys that cannot be served (exit 64 naming the file and the line).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use ferry_test_support::{
    apps, bounded, config_user_directives, require, require::Requirement, trace_init, Ferry,
};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};

const LIMIT: Duration = Duration::from_secs(90);

/// A CA, and leaf certificates it signed, written as PEM files in a directory of their own.
struct Pki {
    dir: tempfile::TempDir,
    ca: rcgen::Certificate,
    ca_key: KeyPair,
}

impl Pki {
    fn new() -> Pki {
        let dir = apps::temp_dir();
        let mut params = CertificateParams::new(Vec::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "Ferry Test CA");
        let ca_key = KeyPair::generate().unwrap();
        let ca = params.self_signed(&ca_key).unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
        Pki { dir, ca, ca_key }
    }

    fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// A leaf for `names` (ECDSA P-256 unless `key` is given), written as `NAME.pem` (leaf then
    /// CA: a chain) and `NAME.key`; both paths.
    fn leaf(&self, name: &str, names: &[&str], key: Option<KeyPair>) -> (PathBuf, PathBuf) {
        self.leaf_with(name, names, key, |_| {})
    }

    fn leaf_with(
        &self,
        name: &str,
        names: &[&str],
        key: Option<KeyPair>,
        edit: impl FnOnce(&mut CertificateParams),
    ) -> (PathBuf, PathBuf) {
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        params.distinguished_name.push(DnType::CommonName, names[0]);
        edit(&mut params);
        let key = key.unwrap_or_else(|| KeyPair::generate().unwrap());
        let cert = params.signed_by(&key, &self.ca, &self.ca_key).unwrap();
        let (cert_file, key_file) = (
            self.dir.path().join(format!("{name}.pem")),
            self.dir.path().join(format!("{name}.key")),
        );
        std::fs::write(&cert_file, format!("{}{}", cert.pem(), self.ca.pem())).unwrap();
        std::fs::write(&key_file, key.serialize_pem()).unwrap();
        (cert_file, key_file)
    }
}

/// `curl` against `url` trusting the test CA, `host` resolved to 127.0.0.1:`port`.
fn curl(pki: &Pki, host: &str, port: u16, path: &str, flags: &[&str]) -> Output {
    Command::new("curl")
        .args(["-sS", "--max-time", "20", "--cacert"])
        .arg(pki.ca_file())
        .arg("--resolve")
        .arg(format!("{host}:{port}:127.0.0.1"))
        .args(flags)
        .args(["-w", "\n%{http_version}"])
        .arg(format!("https://{host}:{port}{path}"))
        .output()
        .expect("curl runs")
}

/// curl's body and HTTP version (`1.1`, `2`).
fn body_and_version(output: &Output) -> (String, String) {
    assert!(
        output.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let (body, version) = text.rsplit_once('\n').unwrap_or((&text, ""));
    (body.to_owned(), version.to_owned())
}

/// `openssl s_client` to 127.0.0.1:`port` naming `name` by SNI, sending an HTTP/1.0 request
/// and reading to the end of the answer (`-ign_eof`: the session tickets TLS 1.3 sends after
/// the handshake are read on the way); its stdout. `extra`: more flags.
fn s_client(pki: &Pki, port: u16, sni: Option<&str>, extra: &[&str]) -> String {
    use std::io::Write;
    let name = sni.unwrap_or("localhost");
    let sni_flags = match sni {
        Some(name) => vec!["-servername", name],
        None => vec!["-noservername"],
    };
    let mut child = Command::new("openssl")
        .args([
            "s_client",
            "-ign_eof",
            "-connect",
            &format!("127.0.0.1:{port}"),
        ])
        .args(sni_flags)
        .arg("-CAfile")
        .arg(pki.ca_file())
        .args(extra)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("openssl runs");
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(format!("GET / HTTP/1.0\r\nHost: {name}\r\n\r\n").as_bytes())
        .unwrap();
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `openssl` (which has no `--version`: `openssl version`).
fn openssl() -> Requirement {
    let holds = Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    Requirement::Holds {
        holds,
        what: "`openssl` is not installed".to_owned(),
        fix: "scripts/install-deps.sh installs it",
    }
}

fn tools() -> bool {
    ferry_test_support::require::require(&[
        Requirement::Program("curl"),
        openssl(),
        Requirement::Program("ruby"),
    ])
}

/// The rack-stub app behind `ferry start --ssl`, HTTPS only, with `cert` and `key`.
async fn start_ssl(cert: &Path, key: &Path, more: &[&str]) -> Ferry {
    Ferry::new(
        env!("CARGO_BIN_EXE_ferry"),
        apps::fixtures_dir().join("rack-stub"),
    )
    .arg("--ssl")
    .arg("--ssl-certificate")
    .arg(cert)
    .arg("--ssl-certificate-key")
    .arg(key)
    .args(more)
    .spawn()
    .await
    .expect("ferry starts")
}

fn env_of(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

#[tokio::test]
async fn curl_speaks_tls13_and_tls12_over_http2_and_http11_and_rack_sees_https() {
    trace_init();
    if !tools() {
        return;
    }
    bounded(LIMIT, async {
        let pki = Pki::new();
        let (cert, key) = pki.leaf("localhost", &["localhost"], None);
        let registry = pki.dir.path().join("registry");
        let registry = registry.to_str().unwrap();
        let ferry = start_ssl(&cert, &key, &["--instance-registry-dir", registry]).await;
        // The certificate and its expiry in `ferry status`.
        let status = Command::new(env!("CARGO_BIN_EXE_ferry"))
            .args([
                "status",
                "--show",
                "server",
                "--instance-registry-dir",
                registry,
            ])
            .output()
            .unwrap();
        let status = String::from_utf8_lossy(&status.stdout);
        assert!(status.contains("Certificate  : "), "{status}");
        assert!(status.contains(cert.to_str().unwrap()), "{status}");
        assert!(status.contains("expires"), "{status}");
        assert!(
            ferry.stdout().contains("listening on https://"),
            "{}",
            ferry.stdout()
        );
        let port = ferry.addr().port();
        for (flags, version, protocol) in [
            (&["--tlsv1.3", "--http2"][..], "2", "HTTP/2.0"),
            (&["--tlsv1.3", "--http1.1"][..], "1.1", "HTTP/1.1"),
            (
                &["--tlsv1.2", "--tls-max", "1.2", "--http2"][..],
                "2",
                "HTTP/2.0",
            ),
            (
                &["--tlsv1.2", "--tls-max", "1.2", "--http1.1"][..],
                "1.1",
                "HTTP/1.1",
            ),
        ] {
            let (body, got) = body_and_version(&curl(&pki, "localhost", port, "/env", flags));
            assert_eq!(got, version, "{flags:?}");
            let env = env_of(&body);
            assert_eq!(env["HTTPS"], "on", "{flags:?}");
            assert_eq!(env["rack.url_scheme"], "https", "{flags:?}");
            assert_eq!(env["SERVER_PORT"], port.to_string(), "{flags:?}");
            assert_eq!(env["SERVER_PROTOCOL"], protocol, "{flags:?}");
            assert_eq!(env["HTTP_HOST"], format!("localhost:{port}"), "{flags:?}");
        }
        // Several requests on one kept TLS connection (HTTP/1.1 rounds), and a body over h2.
        let twice = Command::new("curl")
            .args(["-sS", "--http1.1", "--cacert"])
            .arg(pki.ca_file())
            .arg(format!("https://localhost:{port}/hello"))
            .arg(format!("https://localhost:{port}/hello"))
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&twice.stdout),
            "hello worldhello world"
        );
        let big = pki.dir.path().join("big");
        std::fs::write(&big, vec![b'x'; 300_000]).unwrap();
        let up = Command::new("curl")
            .args(["-sS", "--http2", "--cacert"])
            .arg(pki.ca_file())
            .arg("-T")
            .arg(&big)
            .arg(format!("https://localhost:{port}/upload"))
            .output()
            .unwrap();
        assert!(
            String::from_utf8_lossy(&up.stdout).contains("\"length\":300000"),
            "{}",
            String::from_utf8_lossy(&up.stdout)
        );
    })
    .await;
}

#[tokio::test]
async fn sni_picks_each_server_with_its_certificate_and_s_client_shows_the_chain() {
    trace_init();
    if !tools() {
        return;
    }
    bounded(LIMIT, async {
        let pki = Pki::new();
        let (a_cert, a_key) = pki.leaf("a", &["a.test"], None);
        let ed = KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        let (b_cert, b_key) = pki.leaf("b", &["b.test"], Some(ed));
        let root = pki.dir.path();
        for site in ["a", "b"] {
            std::fs::create_dir_all(root.join(site)).unwrap();
            std::fs::write(root.join(site).join("index.html"), format!("site {site}\n")).unwrap();
        }
        let config = format!(
            "http {{\n  {users}\n  server {{\n    listen 127.0.0.1:0 ssl default_server;\n    \
             server_name a.test;\n    http2 on;\n    ssl_certificate {a_cert};\n    \
             ssl_certificate_key {a_key};\n    ssl_session_cache shared:SSL:1m;\n    \
             root {root}/a;\n  }}\n  server {{\n    listen 127.0.0.1:0 ssl;\n    \
             server_name b.test;\n    ssl_certificate {b_cert};\n    \
             ssl_certificate_key {b_key};\n    root {root}/b;\n  }}\n}}\n",
            users = config_user_directives(),
            a_cert = a_cert.display(),
            a_key = a_key.display(),
            b_cert = b_cert.display(),
            b_key = b_key.display(),
            root = root.display(),
        );
        let file = root.join("ferry.conf");
        std::fs::write(&file, config).unwrap();
        let ferry = Ferry::with_config(env!("CARGO_BIN_EXE_ferry"), &file)
            .spawn()
            .await
            .expect("ferry starts");
        let port = ferry.addr().port();
        let (a, version) = body_and_version(&curl(&pki, "a.test", port, "/", &["--http2"]));
        assert_eq!((a.as_str(), version.as_str()), ("site a\n", "2"));
        let (b, _) = body_and_version(&curl(&pki, "b.test", port, "/", &[]));
        assert_eq!(b, "site b\n");

        let shown = s_client(&pki, port, Some("b.test"), &["-showcerts"]);
        assert!(
            shown.contains("CN=b.test") || shown.contains("CN = b.test"),
            "{shown}"
        );
        assert!(
            shown.contains(" 1 s:"),
            "the chain's second certificate: {shown}"
        );
        assert!(shown.contains("Verify return code: 0 (ok)"), "{shown}");
        // No SNI: the address's default server.
        let bare = s_client(&pki, port, None, &[]);
        assert!(
            bare.contains("CN=a.test") || bare.contains("CN = a.test"),
            "{bare}"
        );

        // Resumption: TLS 1.3 tickets, and TLS 1.2 by the session cache or a ticket.
        for version in ["-tls1_3", "-tls1_2"] {
            let sess = root.join(format!("session{version}"));
            let sess = sess.to_str().unwrap();
            let first = s_client(&pki, port, Some("a.test"), &[version, "-sess_out", sess]);
            assert!(first.contains("New,"), "{first}");
            let again = s_client(&pki, port, Some("a.test"), &[version, "-sess_in", sess]);
            assert!(again.contains("Reused,"), "{version}: {again}");
        }
    })
    .await;
}

#[tokio::test]
async fn ssl_port_serves_https_beside_http_and_cleartext_http2_by_prior_knowledge() {
    trace_init();
    if !tools() {
        return;
    }
    bounded(LIMIT, async {
        let pki = Pki::new();
        let (cert, key) = pki.leaf("localhost", &["localhost"], None);
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            probe.local_addr().unwrap().port()
        };
        let ferry = start_ssl(&cert, &key, &["--ssl-port", &port.to_string()]).await;
        let http = ferry.addr();
        let (body, _) = body_and_version(&curl(&pki, "localhost", port, "/env", &[]));
        assert_eq!(env_of(&body)["HTTPS"], "on");
        let plain = Command::new("curl")
            .args(["-sS", &format!("http://{http}/env")])
            .output()
            .unwrap();
        let env = env_of(&String::from_utf8_lossy(&plain.stdout));
        assert_eq!(env["rack.url_scheme"], "http");
        assert!(env.get("HTTPS").is_none_or(|v| v.is_null()), "{env}");

        // `listen ... http2` without ssl: prior knowledge and HTTP/1.1 on one port.
        let root = pki.dir.path();
        std::fs::write(root.join("index.html"), "plain\n").unwrap();
        let file = root.join("h2c.conf");
        std::fs::write(
            &file,
            format!(
                "http {{\n  server {{\n    listen 127.0.0.1:0 http2;\n    root {};\n  }}\n}}\n",
                root.display()
            ),
        )
        .unwrap();
        let h2c = Ferry::with_config(env!("CARGO_BIN_EXE_ferry"), &file)
            .spawn()
            .await
            .expect("ferry starts");
        for (flag, version) in [("--http2-prior-knowledge", "2"), ("--http1.1", "1.1")] {
            let out = Command::new("curl")
                .args(["-sS", flag, "-w", "\n%{http_version}"])
                .arg(h2c.url_for("/"))
                .output()
                .unwrap();
            assert_eq!(
                String::from_utf8_lossy(&out.stdout),
                format!("plain\n\n{version}")
            );
        }
    })
    .await;
}

/// Runs `ferry start` expecting it to refuse to start; its exit code and stderr.
fn refused(args: &[&std::ffi::OsStr]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .arg("start")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn certificates_or_keys_that_cannot_be_served_exit_64_naming_the_file_and_line() {
    trace_init();
    if !tools() {
        return;
    }
    let pki = Pki::new();
    let (cert, key) = pki.leaf("good", &["localhost"], None);
    let (_, other_key) = pki.leaf("other", &["localhost"], None);
    let (expired, expired_key) = pki.leaf_with("old", &["localhost"], None, |p| {
        p.not_before = rcgen::date_time_ymd(2020, 1, 1);
        p.not_after = rcgen::date_time_ymd(2021, 1, 1);
    });
    let root = pki.dir.path();
    let registry = root.join("registry");
    let missing = root.join("missing.key");
    let write = |name: &str, cert: &Path, key: &Path| {
        let file = root.join(name);
        std::fs::write(
            &file,
            format!(
                "http {{\n  passenger_instance_registry_dir {};\n  server {{\n    \
                 listen 127.0.0.1:0 ssl;\n    ssl_certificate {};\n    \
                 ssl_certificate_key {};\n    root {};\n  }}\n}}\n",
                registry.display(),
                cert.display(),
                key.display(),
                root.display()
            ),
        )
        .unwrap();
        file
    };
    for (name, cert_file, key_file, line, says) in [
        ("missing.conf", &cert, &missing, 6, "cannot read"),
        (
            "mismatch.conf",
            &cert,
            &other_key,
            6,
            "is not the one of the certificate",
        ),
        ("expired.conf", &expired, &expired_key, 5, "expired"),
        ("notakey.conf", &cert, &cert, 6, "no PEM private key"),
    ] {
        let file = write(name, cert_file, key_file);
        let (code, stderr) = refused(&["--config".as_ref(), file.as_os_str()]);
        assert_eq!(code, Some(64), "{name}: {stderr}");
        assert!(
            stderr.contains(&format!("{name}:{line}")),
            "{name}: {stderr}"
        );
        assert!(stderr.contains(says), "{name}: {stderr}");
    }
    // The command line's: the flag instead of a line.
    let app = apps::fixtures_dir().join("rack-stub");
    let (code, stderr) = refused(&[
        app.as_os_str(),
        "--ssl".as_ref(),
        "--ssl-certificate".as_ref(),
        cert.as_os_str(),
        "--ssl-certificate-key".as_ref(),
        missing.as_os_str(),
        "--instance-registry-dir".as_ref(),
        registry.as_os_str(),
    ]);
    assert_eq!(code, Some(64), "{stderr}");
    assert!(stderr.contains("--ssl-certificate-key"), "{stderr}");
    assert!(stderr.contains(missing.to_str().unwrap()), "{stderr}");
    // ACME is not there yet, and says so.
    let (code, stderr) = refused(&[app.as_os_str(), "--ssl-acme".as_ref(), "a.test".as_ref()]);
    assert_eq!(code, Some(64), "{stderr}");
    assert!(stderr.contains("not implemented yet"), "{stderr}");
    let key_text = std::fs::read_to_string(&key).unwrap();
    let secret_line = key_text.lines().nth(1).unwrap();
    assert!(!stderr.contains(secret_line));
}

/// An app in `dir` that reports whether its framework sees the request as secure.
async fn reports_secure(pki: &Pki, dir: &Path) {
    let (cert, key) = pki.leaf("localhost", &["localhost"], None);
    let ferry = Ferry::new(env!("CARGO_BIN_EXE_ferry"), dir)
        .arg("--ssl")
        .arg("--ssl-certificate")
        .arg(&cert)
        .arg("--ssl-certificate-key")
        .arg(&key)
        .spawn()
        .await
        .expect("ferry starts");
    let port = ferry.addr().port();
    for flag in ["--http2", "--http1.1"] {
        let (body, _) = body_and_version(&curl(pki, "localhost", port, "/", &[flag]));
        assert_eq!(
            body,
            format!("secure=true scheme=https port={port}"),
            "{flag}\n{}",
            ferry.log()
        );
    }
}

#[tokio::test]
async fn sinatra_flask_and_express_see_the_request_as_secure() {
    trace_init();
    let express = apps::fixtures_dir().join("express/node_modules/express");
    require!(
        Requirement::Program("curl"),
        openssl(),
        Requirement::RubyLibrary("sinatra/base"),
        Requirement::PythonModule("flask"),
        Requirement::Program("node"),
        Requirement::Path {
            what: "Express",
            path: express.clone(),
            installs: "scripts/install-deps.sh installs it with npm",
        }
    );
    bounded(LIMIT, async {
        let pki = Pki::new();
        let sinatra = pki.dir.path().join("sinatra");
        std::fs::create_dir_all(&sinatra).unwrap();
        std::fs::write(
            sinatra.join("config.ru"),
            "require 'sinatra/base'\nclass App < Sinatra::Base\n  get('/') { \
             \"secure=#{request.secure?} scheme=#{request.scheme} port=#{request.port}\" }\nend\n\
             run App\n",
        )
        .unwrap();
        reports_secure(&pki, &sinatra).await;

        let flask = pki.dir.path().join("flask");
        std::fs::create_dir_all(&flask).unwrap();
        std::fs::write(
            flask.join("passenger_wsgi.py"),
            "from flask import Flask, request\napplication = Flask(__name__)\n\
             @application.route('/')\ndef index():\n    \
             port = request.host.rsplit(':', 1)[1]\n    \
             return f\"secure={str(request.is_secure).lower()} scheme={request.scheme} port={port}\"\n",
        )
        .unwrap();
        reports_secure(&pki, &flask).await;

        let node = pki.dir.path().join("express");
        std::fs::create_dir_all(&node).unwrap();
        std::fs::write(
            node.join("app.js"),
            format!(
                "const express = require({:?});\nconst app = express();\n\
                 app.set('trust proxy', true);\n\
                 app.get('/', (req, res) => res.type('text').send(\
                 `secure=${{req.secure}} scheme=${{req.protocol}} port=${{req.get('host').split(':')[1]}}`));\n\
                 app.listen(process.env.PORT);\n",
                express.display().to_string()
            ),
        )
        .unwrap();
        reports_secure(&pki, &node).await;
    })
    .await;
}

/// A TLS client trusting the test CA, offering `alpn`.
fn tls_client(pki: &Pki, alpn: &[&[u8]]) -> tokio_rustls::TlsConnector {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    let ca = rustls_pki_types::CertificateDer::from_pem_file(pki.ca_file()).unwrap();
    roots.add(ca).unwrap();
    #[allow(deprecated)] // ring's provider: see ferry-front's listener/tls.rs.
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
}

#[tokio::test]
async fn websockets_work_over_tls_by_the_http11_upgrade() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    trace_init();
    if !tools() {
        return;
    }
    bounded(LIMIT, async {
        let pki = Pki::new();
        let (cert, key) = pki.leaf("localhost", &["localhost"], None);
        let ferry = start_ssl(&cert, &key, &[]).await;
        // A browser that got h2 by ALPN opens an HTTP/1.1 connection for a WebSocket when the
        // server does not offer extended CONNECT; this client asks for http/1.1 directly.
        let connector = tls_client(&pki, &[b"http/1.1"]);
        let tcp = tokio::net::TcpStream::connect(ferry.addr()).await.unwrap();
        let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
        let mut tls = connector.connect(name, tcp).await.unwrap();
        tls.write_all(
            b"GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        )
        .await
        .unwrap();
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let mut byte = [0u8; 1];
            tls.read_exact(&mut byte).await.unwrap();
            head.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&head);
        assert!(head.starts_with("HTTP/1.1 101"), "{head}\n{}", ferry.log());
        assert!(head.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "{head}");
        // A masked text frame "hello"; the app echoes it unmasked.
        let mask = [1u8, 2, 3, 4];
        let mut frame = vec![0x81, 0x80 | 5];
        frame.extend_from_slice(&mask);
        frame.extend(b"hello".iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        tls.write_all(&frame).await.unwrap();
        let mut echo = [0u8; 7];
        tls.read_exact(&mut echo).await.unwrap();
        assert_eq!(&echo, b"\x81\x05hello");
    })
    .await;
}
