use std::path::Path;

use ferry_config::deployment::{Deployment, ServerTls, TlsFile};
use rcgen::{CertificateParams, KeyPair};

use super::*;

/// A self-signed certificate for `name` with `key`, written to `dir`; its file and the key's.
fn write_pair(
    dir: &Path,
    name: &str,
    key: &KeyPair,
    edit: impl FnOnce(&mut CertificateParams),
) -> (TlsFile, TlsFile) {
    let mut params = CertificateParams::new(vec![name.to_owned()]).unwrap();
    edit(&mut params);
    let cert = params.self_signed(key).unwrap();
    let (cert_path, key_path) = (
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}.key")),
    );
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    let file = |path: std::path::PathBuf, line: u32| TlsFile {
        path,
        origin: format!("t.conf:{line}"),
    };
    (file(cert_path, 1), file(key_path, 2))
}

fn deployment_with(tls: ServerTls) -> Deployment {
    let mut deployment = Deployment::from_nginx_str(
        "http {\n  server {\n    listen 127.0.0.1:0;\n  }\n}\n",
        "t.conf",
    )
    .unwrap();
    deployment.servers[0].tls = Some(tls);
    deployment
}

#[test]
fn ecdsa_and_ed25519_keys_load_and_their_expiry_is_known() {
    let dir = tempfile::tempdir().unwrap();
    for (name, key) in [
        ("ecdsa.test", KeyPair::generate().unwrap()),
        (
            "ed25519.test",
            KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap(),
        ),
    ] {
        let (cert, key) = write_pair(dir.path(), name, &key, |_| {});
        let configs = TlsConfigs::load(&deployment_with(ServerTls::new(cert, key))).unwrap();
        assert!(!configs.is_empty());
        let h2 = configs.server(0, true).unwrap();
        assert_eq!(h2.alpn_protocols, [b"h2".to_vec(), b"http/1.1".to_vec()]);
        let h1 = configs.server(0, false).unwrap();
        assert_eq!(h1.alpn_protocols, [b"http/1.1".to_vec()]);
        let info = &configs.certificates()[0];
        assert!(info.not_after > 0);
        assert!(info.subject.is_empty() || info.subject.contains("CN="));
    }
}

#[test]
fn a_key_of_another_certificate_is_refused_naming_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, _) = write_pair(dir.path(), "a.test", &KeyPair::generate().unwrap(), |_| {});
    let (_, other) = write_pair(dir.path(), "b.test", &KeyPair::generate().unwrap(), |_| {});
    let error = TlsConfigs::load(&deployment_with(ServerTls::new(cert, other))).unwrap_err();
    let message = error.to_string();
    assert!(message.starts_with("t.conf:2: "), "{message}");
    assert!(
        message.contains("is not the one of the certificate"),
        "{message}"
    );
}

#[test]
fn expired_missing_and_empty_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let key = KeyPair::generate().unwrap();
    let (old, old_key) = write_pair(dir.path(), "old.test", &key, |p| {
        p.not_before = rcgen::date_time_ymd(2019, 1, 1);
        p.not_after = rcgen::date_time_ymd(2020, 1, 1);
    });
    let expired = TlsConfigs::load(&deployment_with(ServerTls::new(old.clone(), old_key)));
    assert!(
        matches!(expired, Err(TlsError::Expired { .. })),
        "{expired:?}"
    );
    let missing = TlsFile {
        path: dir.path().join("nope.key"),
        origin: "t.conf:9".into(),
    };
    let error = TlsConfigs::load(&deployment_with(ServerTls::new(old.clone(), missing)));
    assert!(matches!(
        error,
        Err(TlsError::Read { .. }) | Err(TlsError::Expired { .. })
    ));
    let (cert, _) = write_pair(dir.path(), "new.test", &key, |_| {});
    let not_a_key = TlsConfigs::load(&deployment_with(ServerTls::new(cert.clone(), cert.clone())));
    assert!(
        matches!(not_a_key, Err(TlsError::NoKey { .. })),
        "{not_a_key:?}"
    );
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "").unwrap();
    let no_cert = TlsFile {
        path: empty,
        origin: "t.conf:1".into(),
    };
    let error = TlsConfigs::load(&deployment_with(ServerTls::new(no_cert, cert)));
    assert!(
        matches!(error, Err(TlsError::NoCertificate { .. })),
        "{error:?}"
    );
}

#[test]
fn ssl_ciphers_choose_the_tls12_suites_and_tls13_stays() {
    let mut tls = ServerTls::new(
        TlsFile {
            path: "unused".into(),
            origin: String::new(),
        },
        TlsFile {
            path: "unused".into(),
            origin: String::new(),
        },
    );
    tls.tls12_suites = vec!["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"];
    let provider = provider(&tls);
    let names: Vec<&str> = provider
        .cipher_suites
        .iter()
        .filter_map(|s| s.suite().as_str())
        .collect();
    assert_eq!(names.last(), Some(&"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"));
    assert_eq!(names.iter().filter(|n| n.starts_with("TLS13_")).count(), 3);
    assert_eq!(names.len(), 4);
}
