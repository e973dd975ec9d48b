//! Connecting: parse and validate a database URL (TLS per `sslmode`, password
//! registered for redaction), connect within a bounded timeout, and turn the usual
//! failures (refused, unreachable, auth, bad URL) into one clear line with a hint.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use tokio_postgres::config::SslMode;
use tokio_postgres::{Client, Config, NoTls};

use super::redact;
use crate::error::hinted;

/// How long a connection attempt may take before dbkit gives up.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// TLS as the URL's `sslmode` asks for it (libpq semantics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tls {
    /// `disable`: plain TCP.
    Off,
    /// `prefer` (libpq's default): TLS when the server offers it, certificate not verified.
    Prefer,
    /// `require`: TLS, certificate not verified (as libpq does).
    Require,
    /// `verify-ca` / `verify-full`: TLS with the certificate checked against the web PKI
    /// roots, or the `sslrootcert` file when the URL names one, and the host name.
    VerifyFull,
}

/// A parsed, validated database URL. `Display` never shows a secret (`redact::url`);
/// `reveal` gives the URL as written, for the one place that must print it.
#[derive(Clone)]
pub struct DbUrl {
    config: Config,
    tls: Tls,
    /// `sslrootcert`: PEM file of the authorities to trust instead of the web PKI roots
    /// (Supabase signs with its own CA).
    root_cert: Option<std::path::PathBuf>,
    /// The URL as given (secrets included), the database name updated by `with_dbname`.
    full: url::Url,
}

impl DbUrl {
    /// Parse a `postgres://` or `postgresql://` URL. `origin` says where it came from
    /// (`--database-url`, `DATABASE_URL`, `.env`) for the error message. Every
    /// parameter but `sslmode` and `sslrootcert` (which dbkit applies itself) reaches
    /// the driver exactly as written: percent-encoding as libpq reads it, never form
    /// encoding (`options=-c%20search_path%3Dpublic` keeps its space).
    pub fn parse(raw: &str, origin: &str) -> Result<Self> {
        let url = url::Url::parse(raw).map_err(|e| {
            hinted(
                format!("{origin} is not a valid URL ({e})"),
                "expected postgres://user:password@host:port/database",
            )
        })?;
        register_secrets(&url);
        if !matches!(url.scheme(), "postgres" | "postgresql") {
            return Err(hinted(
                format!(
                    "{origin} has scheme `{}`; dbkit needs postgres:// or postgresql://",
                    url.scheme()
                ),
                "expected postgres://user:password@host:port/database",
            ));
        }
        let mut tls = Tls::Prefer;
        let mut root_cert = None;
        let mut passed_on = Vec::new();
        for pair in url
            .query()
            .unwrap_or("")
            .split('&')
            .filter(|p| !p.is_empty())
        {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match redact::decode(key).as_str() {
                "sslmode" => {
                    tls = match redact::decode(value).as_str() {
                        "disable" => Tls::Off,
                        "allow" | "prefer" => Tls::Prefer,
                        "require" => Tls::Require,
                        "verify-ca" | "verify-full" => Tls::VerifyFull,
                        other => {
                            return Err(hinted(
                                format!("{origin} has an unknown sslmode `{other}`"),
                                "use disable, prefer, require, verify-ca or verify-full",
                            ))
                        }
                    }
                }
                "sslrootcert" => {
                    root_cert = Some(std::path::PathBuf::from(redact::decode(value)));
                }
                _ => passed_on.push(pair),
            }
        }
        let mut kept = url.clone();
        kept.set_query(
            (!passed_on.is_empty())
                .then(|| passed_on.join("&"))
                .as_deref(),
        );
        let mut config = Config::from_str(kept.as_str()).map_err(|e| {
            hinted(
                format!("{origin} is not a valid PostgreSQL URL ({e})"),
                "expected postgres://user:password@host:port/database",
            )
        })?;
        config.ssl_mode(match tls {
            Tls::Off => SslMode::Disable,
            Tls::Prefer => SslMode::Prefer,
            Tls::Require | Tls::VerifyFull => SslMode::Require,
        });
        config.connect_timeout(CONNECT_TIMEOUT);
        if config.get_application_name().is_none() {
            config.application_name("dbkit");
        }
        Ok(DbUrl {
            config,
            tls,
            root_cert,
            full: url,
        })
    }

    /// The tokio-postgres configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn tls(&self) -> Tls {
        self.tls
    }

    /// The URL with its secrets, as given: only for `dbkit db url` (the owner asked
    /// for their own password) and for handing to another program. Never in a message.
    pub fn reveal(&self) -> String {
        self.full.to_string()
    }

    /// The database name (default: the user name, as libpq does).
    pub fn dbname(&self) -> String {
        self.config
            .get_dbname()
            .or(self.config.get_user())
            .unwrap_or("postgres")
            .to_string()
    }

    /// The same server and credentials, another database.
    pub fn with_dbname(&self, dbname: &str) -> DbUrl {
        let mut config = self.config.clone();
        config.dbname(dbname);
        let mut full = self.full.clone();
        full.set_path(&format!("/{dbname}"));
        DbUrl {
            config,
            tls: self.tls,
            root_cert: self.root_cert.clone(),
            full,
        }
    }

    /// Where this URL points, for messages: `host:port/db`, with the address that
    /// replaces the host when a `hostaddr` is given (`localhost[10.1.2.3]:5432/app`).
    pub fn target(&self) -> String {
        let mut host = self
            .config
            .get_hosts()
            .first()
            .map(|h| match h {
                tokio_postgres::config::Host::Tcp(name) => name.clone(),
                tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
            })
            .unwrap_or_else(|| "localhost".into());
        if let Some(addr) = self.config.get_hostaddrs().first() {
            if host != addr.to_string() {
                host = format!("{host}[{addr}]");
            }
        }
        let port = self.config.get_ports().first().copied().unwrap_or(5432);
        format!("{host}:{port}/{}", self.dbname())
    }

    /// True when every address this URL connects to is loopback or a unix socket
    /// (`hostaddr` included): `db::locality::all_local`. `seed --reset` refuses
    /// anything else before connecting.
    pub fn is_local(&self) -> bool {
        super::locality::all_local(self.config.get_hosts(), self.config.get_hostaddrs())
    }
}

/// Register the URL's secrets (the userinfo password, secret-looking parameters), as
/// written and decoded, so `redact::scrub` removes them from every message.
fn register_secrets(url: &url::Url) {
    let query_secrets = url
        .query()
        .unwrap_or("")
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .filter(|(key, _)| redact::is_secret_key(&redact::decode(key)))
        .map(|(_, value)| value);
    for secret in url.password().into_iter().chain(query_secrets) {
        redact::register(secret);
        redact::register(&redact::decode(secret));
    }
}

impl fmt::Display for DbUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact::url(self.full.as_str()))
    }
}

impl fmt::Debug for DbUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DbUrl({self})")
    }
}

/// Connect, spawn the connection task, and return the client. Errors are one line
/// naming the target (never the password) with a hint.
pub async fn connect(url: &DbUrl) -> Result<Client> {
    let roots = match (&url.root_cert, url.tls) {
        (Some(path), Tls::VerifyFull) => Some(load_roots(path)?),
        _ => None,
    };
    let attempt = async {
        match url.tls {
            Tls::Off => {
                let (client, conn) = url.config.connect(NoTls).await?;
                tokio::spawn(async move {
                    let _ = conn.await;
                });
                Ok::<Client, tokio_postgres::Error>(client)
            }
            mode => {
                let (client, conn) = url.config.connect(make_tls(mode, roots.clone())).await?;
                tokio::spawn(async move {
                    let _ = conn.await;
                });
                Ok(client)
            }
        }
    };
    // The driver's own connect_timeout covers each socket; this bounds the whole
    // handshake (a server that accepts and then says nothing).
    match tokio::time::timeout(CONNECT_TIMEOUT + Duration::from_secs(1), attempt).await {
        Ok(Ok(client)) => Ok(client),
        Ok(Err(err)) => Err(explain_connect_error(url, err)),
        Err(_) => Err(hinted(
            format!(
                "cannot connect to {}: no answer within {}s",
                url.target(),
                CONNECT_TIMEOUT.as_secs()
            ),
            "check the host and port, and that a firewall lets you through",
        )),
    }
}

fn explain_connect_error(url: &DbUrl, err: tokio_postgres::Error) -> anyhow::Error {
    let target = url.target();
    if let Some(db) = err.as_db_error() {
        let code = db.code().code();
        let hint = match code {
            "28P01" | "28000" => "check the user name and password in the URL",
            "3D000" => "create the database first, or fix its name in the URL",
            "53300" => {
                "the server has no free connection slots; try again or raise max_connections"
            }
            _ => "see the server's message above",
        };
        return hinted(
            format!(
                "cannot connect to {target}: {} (SQLSTATE {code})",
                db.message()
            ),
            hint,
        );
    }
    let text = std::error::Error::source(&err)
        .map(|s| s.to_string())
        .unwrap_or_else(|| err.to_string());
    let hint = if text.contains("refused") {
        "is PostgreSQL running there? Without a URL, dbkit uses its own local cluster (`dbkit db start`)"
    } else if text.contains("TLS") || text.contains("tls") || text.contains("certificate") {
        "check sslmode in the URL (require, verify-full) and the server's certificate"
    } else {
        "check the host, port and network"
    };
    hinted(format!("cannot connect to {target}: {text}"), hint)
}

/// The TLS connector `url` asks for (`None`: plain TCP), for callers that open their
/// own connections (the bench's connection pool).
pub(crate) fn tls_connector(
    url: &DbUrl,
) -> Result<Option<tokio_postgres_rustls::MakeRustlsConnect>> {
    let roots = match (&url.root_cert, url.tls) {
        (Some(path), Tls::VerifyFull) => Some(load_roots(path)?),
        _ => None,
    };
    Ok(match url.tls {
        Tls::Off => None,
        mode => Some(make_tls(mode, roots)),
    })
}

/// The authorities in a PEM file (`sslrootcert`).
fn load_roots(path: &std::path::Path) -> Result<rustls::RootCertStore> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let bad = |e: &dyn fmt::Display| {
        hinted(
            format!("cannot read sslrootcert {}: {e}", path.display()),
            "sslrootcert must name a PEM file of CA certificates (Supabase: the project's CA from the dashboard)",
        )
    };
    let mut store = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path).map_err(|e| bad(&e))? {
        store.add(cert.map_err(|e| bad(&e))?).map_err(|e| bad(&e))?;
    }
    if store.is_empty() {
        return Err(bad(&"no certificate in the file"));
    }
    Ok(store)
}

fn make_tls(
    mode: Tls,
    roots: Option<rustls::RootCertStore>,
) -> tokio_postgres_rustls::MakeRustlsConnect {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = if mode == Tls::VerifyFull {
        let roots = roots.unwrap_or_else(|| {
            rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned())
        });
        rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth()
    } else {
        rustls::ClientConfig::builder()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify))
            .with_no_client_auth()
    };
    tokio_postgres_rustls::MakeRustlsConnect::new(config)
}

/// `sslmode=require`/`prefer` encrypt without verifying the certificate, as libpq does.
#[derive(Debug)]
struct NoVerify;

impl rustls::client::danger::ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> std::result::Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &rustls::crypto::ring::default_provider().signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &rustls::crypto::ring::default_provider().signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Run `sql` and wrap a failure with what was being done.
pub async fn simple(client: &Client, sql: &str, doing: &str) -> Result<()> {
    client
        .batch_execute(sql)
        .await
        .with_context(|| doing.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sslmode_and_hides_password() {
        let url = DbUrl::parse(
            "postgres://u:hunter2@db.example.com:6543/app?sslmode=require",
            "--database-url",
        )
        .unwrap();
        assert_eq!(url.tls(), Tls::Require);
        assert!(!url.to_string().contains("hunter2"));
        assert_eq!(url.target(), "db.example.com:6543/app");
        assert_eq!(redact::scrub("x hunter2 y"), "x *** y");
        assert!(!url.is_local());
    }

    #[test]
    fn verify_full_is_accepted_and_local_hosts_detected() {
        let url = DbUrl::parse("postgresql://127.0.0.1:5/x?sslmode=verify-full", "f").unwrap();
        assert_eq!(url.tls(), Tls::VerifyFull);
        assert!(url.is_local());
    }

    #[test]
    fn bad_urls_name_their_origin() {
        let err = DbUrl::parse("mysql://a@b/c", "DATABASE_URL").unwrap_err();
        assert!(err.to_string().contains("DATABASE_URL"), "{err}");
        let err = DbUrl::parse("not a url", "--database-url").unwrap_err();
        assert!(err.to_string().contains("--database-url"), "{err}");
        let err = DbUrl::parse("postgres://a@b/c?sslmode=sometimes", ".env").unwrap_err();
        assert!(err.to_string().contains("sslmode"), "{err}");
    }

    #[test]
    fn query_secrets_are_hidden_and_registered() {
        let url = DbUrl::parse(
            "postgres://u@db.example.com/app?password=Qz9-hidden&application_name=k%2Bey&sslmode=require",
            "--database-url",
        )
        .unwrap();
        let shown = url.to_string();
        assert_eq!(
            shown,
            "postgres://u@db.example.com/app?password=***&application_name=k%2Bey&sslmode=require"
        );
        assert_eq!(url.config().get_password(), Some(&b"Qz9-hidden"[..]));
        assert_eq!(redact::scrub("failed for Qz9-hidden"), "failed for ***");
        let kept = url.with_dbname("dbkit_scratch_explain_1_0");
        assert_eq!(
            kept.to_string(),
            "postgres://u@db.example.com/dbkit_scratch_explain_1_0?password=***&application_name=k%2Bey&sslmode=require"
        );
        assert!(kept.reveal().contains("password=Qz9-hidden"));
        assert!(!format!("{kept:?}").contains("Qz9"));
    }

    #[test]
    fn the_target_names_the_hostaddr_that_replaces_the_host() {
        let url = DbUrl::parse("postgres://u@localhost:5433/app?hostaddr=10.1.2.3", "f").unwrap();
        assert_eq!(url.target(), "localhost[10.1.2.3]:5433/app");
        let url = DbUrl::parse("postgres://u@127.0.0.1/app?hostaddr=127.0.0.1", "f").unwrap();
        assert_eq!(url.target(), "127.0.0.1:5432/app");
    }

    #[test]
    fn the_query_reaches_the_driver_as_libpq_reads_it() {
        let url = DbUrl::parse(
            "postgres://u:p%40ss@h/app?options=-c%20search_path%3Dpublic&application_name=a+b",
            "f",
        )
        .unwrap();
        assert_eq!(
            url.config().get_options(),
            Some("-c search_path=public"),
            "%20 is a space, never re-encoded as +"
        );
        assert_eq!(url.config().get_application_name(), Some("a+b"));
        assert_eq!(url.config().get_password(), Some(&b"p@ss"[..]));
        assert_eq!(
            url.to_string(),
            "postgres://u:***@h/app?options=-c%20search_path%3Dpublic&application_name=a+b"
        );
    }
}
