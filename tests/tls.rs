//! `sslmode` in the URL is honoured: `require` connects over TLS without checking the
//! certificate (as libpq does), `disable` does not use TLS, `verify-full` refuses a
//! certificate no trusted authority signed — with one clear line, exit 2 — and trusts
//! the authority named by `sslrootcert`.

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

use dbkit::db::cluster::Cluster;
use dbkit::db::{connect, DbUrl};
use predicates::prelude::*;

async fn uses_tls(url: &str) -> bool {
    let client = connect(&DbUrl::parse(url, "test").unwrap())
        .await
        .expect("connect");
    client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn sslmode_is_honoured() {
    let dir = common::work_dir().join("tls-cluster");
    let cluster = Cluster::new(dir.clone()).unwrap();
    cluster.start().expect("start a cluster of this test's own");
    let data = cluster.data_dir();
    let owner = fs::metadata(&data).unwrap();

    // A CA of the test's own, and a server certificate for localhost signed by it.
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let ca = rcgen::Issuer::new(ca_params, ca_key);
    let server_key = rcgen::KeyPair::generate().unwrap();
    let server_cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&server_key, &ca)
        .unwrap();
    let ca_file = common::work_dir().join("root.crt");
    fs::write(&ca_file, ca_cert.pem()).unwrap();
    for (name, pem) in [
        ("server.crt", server_cert.pem()),
        ("server.key", server_key.serialize_pem()),
    ] {
        let path = data.join(name);
        fs::write(&path, pem).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        nix::unistd::chown(
            &path,
            Some(nix::unistd::Uid::from_raw(owner.uid())),
            Some(nix::unistd::Gid::from_raw(owner.gid())),
        )
        .unwrap();
    }
    let base = cluster.url().unwrap();
    let client = connect(&base).await.unwrap();
    client
        .batch_execute("ALTER SYSTEM SET ssl = on")
        .await
        .unwrap();
    client
        .batch_execute("SELECT pg_reload_conf()")
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;

    // The full URL: the cluster's generated password included.
    let url = base.reveal();
    let password = fs::read_to_string(dir.join("password")).unwrap();
    let password = password.trim();
    assert!(uses_tls(&format!("{url}?sslmode=require")).await);
    assert!(!uses_tls(&format!("{url}?sslmode=disable")).await);

    // The binary, too, over TLS.
    common::dbkit()
        .args(["migrate", "status", "--database-url"])
        .arg(format!("{url}?sslmode=require"))
        .assert()
        .success();
    // A self-signed certificate is refused when verification is asked for.
    let refused = common::dbkit()
        .args(["migrate", "status", "--database-url"])
        .arg(format!(
            "postgresql://postgres:TOPSECRET@localhost:{}/dbkit?sslmode=verify-full",
            base.config().get_ports()[0]
        ))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cannot connect to localhost"))
        .stderr(predicate::str::contains("certificate"))
        .stderr(predicate::str::contains("TOPSECRET").not());
    eprintln!("{}", String::from_utf8_lossy(&refused.get_output().stderr));
    // ...and accepted with the authority that signed it (`sslrootcert`, as libpq).
    let port = base.config().get_ports()[0];
    let verified = format!(
        "postgresql://postgres:{password}@localhost:{port}/dbkit?sslmode=verify-full&sslrootcert={}",
        ca_file.display()
    );
    assert!(uses_tls(&verified).await);
    // The certificate names localhost, not 127.0.0.1: verify-full checks the host name.
    let wrong_host = format!(
        "postgresql://postgres:{password}@127.0.0.1:{port}/dbkit?sslmode=verify-full&sslrootcert={}",
        ca_file.display()
    );
    assert!(connect(&DbUrl::parse(&wrong_host, "test").unwrap())
        .await
        .is_err());

    cluster.destroy().unwrap();
}
