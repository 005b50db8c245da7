//! TLS to Jenkins and to sinks with an internal CA: a self-signed certificate (made with
//! `openssl`) is trusted only through `--jenkins-ca-file` / `ca-file`; without it the error says
//! so; `insecure-skip-verify` skips verification when asked.

mod util;

use std::path::Path;
use std::sync::Arc;

use jenkins_event_shim::jenkins::{self, ClientConfig};
use jenkins_event_shim::tls::Tls;
use mock_jenkins::{Kind, Settings};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use util::{Receiver, Shim, jenkins as mock_jenkins_start, options};

/// An internal CA and a server certificate it signed for 127.0.0.1 and localhost:
/// (ca.pem, server.pem, server-key.pem).
fn certificates(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    std::fs::create_dir_all(dir).unwrap();
    let p = |name: &str| dir.join(name).to_string_lossy().into_owned();
    let program = util::test_env::tool("openssl", "openssl");
    let openssl = |args: &[&str]| {
        let status = std::process::Command::new(&program)
            .args(args)
            .stderr(std::process::Stdio::null())
            .status()
            .expect("openssl makes the test certificates");
        assert!(status.success(), "openssl {args:?}");
    };
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=shim test CA",
        "-keyout",
        &p("ca-key.pem"),
        "-out",
        &p("ca.pem"),
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        &p("server-key.pem"),
        "-out",
        &p("server.csr"),
    ]);
    openssl(&[
        "x509",
        "-req",
        "-in",
        &p("server.csr"),
        "-CA",
        &p("ca.pem"),
        "-CAkey",
        &p("ca-key.pem"),
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        &p("san.ext"),
        "-out",
        &p("server.pem"),
    ]);
    (
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server-key.pem"),
    )
}

/// Terminates TLS on a free port and forwards the bytes to `target` (a plain HTTP server).
async fn tls_proxy(cert: &Path, key: &Path, target: std::net::SocketAddr) -> std::net::SocketAddr {
    let certs = rustls::pki_types::CertificateDer::pem_file_iter(cert)
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = rustls::pki_types::PrivateKeyDer::from_pem_file(key).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(mut tls) = acceptor.accept(tcp).await
                    && let Ok(mut upstream) = tokio::net::TcpStream::connect(target).await
                {
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut upstream).await;
                }
            });
        }
    });
    addr
}

#[tokio::test]
async fn an_internal_ca_is_trusted_only_when_configured_for_jenkins_and_for_sinks() {
    let dir = std::env::temp_dir().join(format!("shim-tls-{}", std::process::id()));
    let (ca, cert, key) = certificates(&dir);
    let mock = mock_jenkins_start(Settings::default()).await;
    mock.world().create("app", Kind::Freestyle).unwrap();
    let rx = Receiver::start().await;
    let jenkins_tls = tls_proxy(&cert, &key, mock.addr).await;
    let sink_tls = tls_proxy(&cert, &key, rx.addr).await;
    let https = url::Url::parse(&format!("https://127.0.0.1:{}/", jenkins_tls.port())).unwrap();

    let client = |tls: Tls| {
        jenkins::Client::new(ClientConfig {
            url: https.clone(),
            user: None,
            token: None,
            timeout: std::time::Duration::from_secs(5),
            tls,
            max_response: 1 << 20,
        })
        .unwrap()
    };
    let refused = client(Tls::default())
        .get_json::<serde_json::Value>("whoAmI/api/json", None)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        refused.to_lowercase().contains("certificate") && refused.contains("--jenkins-ca-file"),
        "the error names the certificate problem and the option that fixes it: {refused}"
    );
    let trusted = Tls {
        extra_roots: Tls::read_ca_file(&ca).unwrap(),
        insecure_skip_verify: false,
    };
    assert!(
        client(trusted)
            .get_json::<serde_json::Value>("whoAmI/api/json", None)
            .await
            .is_ok()
    );
    let insecure = Tls {
        extra_roots: vec![],
        insecure_skip_verify: true,
    };
    assert!(
        client(insecure)
            .get_json::<serde_json::Value>("whoAmI/api/json", None)
            .await
            .is_ok()
    );

    // The whole flow over TLS on both sides.
    let config = dir.join("shim.toml");
    std::fs::write(
        &config,
        format!(
            "jenkins-ca-file = \"{}\"\nsink = [{{ url = \"https://127.0.0.1:{}/events\", ca-file = \"{}\" }}]\n",
            ca.display(),
            sink_tls.port(),
            ca.display()
        ),
    )
    .unwrap();
    let mut opts = options(&mock, vec![]);
    opts.jenkins_url = Some(https.to_string());
    opts.config = Some(config);
    let shim = Shim::start(opts).await;
    util::run_build(&mock, "app", "SUCCESS");
    rx.wait_for("five over TLS", |r| r.len() == 5).await;
    shim.stop().await;
}
