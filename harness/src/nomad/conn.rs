//! Connection settings: the `nomad` CLI's flags and environment variables, in one reusable clap group.

use std::fmt;
use std::net::ToSocketAddrs;
use std::path::PathBuf;
use std::time::Duration;

use super::error::NomadError;

/// How to reach Nomad. Every flag also reads the environment variable the `nomad` CLI reads.
/// The token is redacted from `Debug` output and never logged.
#[derive(Clone, Default, clap::Args)]
pub struct NomadConnArgs {
    /// Nomad HTTP address, e.g. `http://127.0.0.1:4646` (`-address` of the nomad CLI).
    #[arg(
        long = "address",
        visible_alias = "addr",
        env = "NOMAD_ADDR",
        value_name = "URL"
    )]
    pub address: Option<String>,
    /// ACL token, sent as `X-Nomad-Token`.
    #[arg(
        long,
        env = "NOMAD_TOKEN",
        hide_env_values = true,
        value_name = "SECRET"
    )]
    pub token: Option<String>,
    /// Region to send requests to.
    #[arg(long, env = "NOMAD_REGION")]
    pub region: Option<String>,
    /// Namespace of the jobs (default `default`).
    #[arg(long, env = "NOMAD_NAMESPACE")]
    pub namespace: Option<String>,
    /// PEM CA certificate to verify the server with.
    #[arg(long = "ca-cert", env = "NOMAD_CACERT", value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
    /// PEM client certificate for mTLS.
    #[arg(
        long = "client-cert",
        env = "NOMAD_CLIENT_CERT",
        value_name = "FILE",
        requires = "client_key"
    )]
    pub client_cert: Option<PathBuf>,
    /// PEM client key for mTLS.
    #[arg(
        long = "client-key",
        env = "NOMAD_CLIENT_KEY",
        value_name = "FILE",
        requires = "client_cert"
    )]
    pub client_key: Option<PathBuf>,
    /// Server name to verify the certificate against (SNI), when it differs from the address host.
    #[arg(long = "tls-server-name", env = "NOMAD_TLS_SERVER_NAME")]
    pub tls_server_name: Option<String>,
    /// Do not verify the server certificate (insecure).
    #[arg(long = "tls-skip-verify", env = "NOMAD_SKIP_VERIFY", value_parser = clap::builder::FalseyValueParser::new(), default_value_t = false, num_args = 0..=1, default_missing_value = "true")]
    pub tls_skip_verify: bool,
}

impl fmt::Debug for NomadConnArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NomadConnArgs")
            .field("address", &self.address)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("region", &self.region)
            .field("namespace", &self.namespace)
            .field("ca_cert", &self.ca_cert)
            .field("client_cert", &self.client_cert)
            .field("client_key", &self.client_key)
            .field("tls_server_name", &self.tls_server_name)
            .field("tls_skip_verify", &self.tls_skip_verify)
            .finish()
    }
}

impl NomadConnArgs {
    /// Settings for a plain-HTTP address with nothing else set (tests, the embedded emulator).
    pub fn for_address(addr: &str) -> NomadConnArgs {
        NomadConnArgs {
            address: Some(addr.to_string()),
            ..Default::default()
        }
    }

    /// The namespace requests use (`default` when unset).
    pub fn namespace_or_default(&self) -> &str {
        self.namespace
            .as_deref()
            .filter(|s| !s.is_empty())
            .unwrap_or("default")
    }

    /// Builds the HTTP/1.1 client. `timeout` bounds each ordinary request (not the event stream).
    pub(crate) fn build_http(&self, base: &str) -> Result<(reqwest::Client, String), NomadError> {
        let mut base = base.trim_end_matches('/').to_string();
        let mut b = reqwest::Client::builder()
            .http1_only()
            .connect_timeout(Duration::from_secs(10))
            .pool_max_idle_per_host(64)
            .tcp_nodelay(true)
            .user_agent(concat!("stampede/", env!("CARGO_PKG_VERSION")))
            // Nomad never redirects API calls; following one would send X-Nomad-Token to whatever host
            // the redirect names. A 3xx is reported as an error instead (see `NomadClient::send`).
            .redirect(reqwest::redirect::Policy::none());
        if let Some(ca) = &self.ca_cert {
            let pem = std::fs::read(ca).map_err(|e| {
                NomadError::Config(format!("reading CA certificate {}: {e}", ca.display()))
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                NomadError::Config(format!("parsing CA certificate {}: {e}", ca.display()))
            })?;
            // An empty, garbage or DER file parses as "no certificates": refuse it here rather than let
            // every request fail later with an error that blames the server.
            if certs.is_empty() || !pem_has(&pem, "CERTIFICATE") {
                return Err(NomadError::Config(format!(
                    "CA certificate {} holds no PEM certificate{}",
                    ca.display(),
                    pem_hint(&pem)
                )));
            }
            for c in certs {
                b = b.add_root_certificate(c);
            }
        }
        if let (Some(cert), Some(key)) = (&self.client_cert, &self.client_key) {
            let mut pem = std::fs::read(cert).map_err(|e| {
                NomadError::Config(format!(
                    "reading client certificate {}: {e}",
                    cert.display()
                ))
            })?;
            if !pem_has(&pem, "CERTIFICATE") {
                return Err(NomadError::Config(format!(
                    "client certificate {} holds no PEM certificate{}",
                    cert.display(),
                    pem_hint(&pem)
                )));
            }
            let key_pem = std::fs::read(key).map_err(|e| {
                NomadError::Config(format!("reading client key {}: {e}", key.display()))
            })?;
            if !pem_has(&key_pem, "PRIVATE KEY") {
                return Err(NomadError::Config(format!(
                    "client key {} holds no PEM private key{}",
                    key.display(),
                    pem_hint(&key_pem)
                )));
            }
            pem.push(b'\n');
            pem.extend(key_pem);
            let id = reqwest::Identity::from_pem(&pem).map_err(|e| {
                NomadError::Config(format!(
                    "client certificate {} / key {}: {e}",
                    cert.display(),
                    key.display()
                ))
            })?;
            b = b.identity(id);
        }
        if self.tls_skip_verify {
            b = b.danger_accept_invalid_certs(true);
        }
        if let Some(name) = self.tls_server_name.as_deref().filter(|s| !s.is_empty()) {
            // reqwest has no SNI override: address the server by the wanted name and pin that name to the
            // address's socket, so TLS verifies (and sends SNI for) `name` while connecting to the real host.
            let url = reqwest::Url::parse(&base)
                .map_err(|e| NomadError::Config(format!("bad address `{base}`: {e}")))?;
            let host = url
                .host_str()
                .ok_or_else(|| NomadError::Config(format!("address `{base}` has no host")))?;
            let port = url.port_or_known_default().unwrap_or(4646);
            let sock = (host, port)
                .to_socket_addrs()
                .map_err(|e| NomadError::Config(format!("resolving {host}:{port}: {e}")))?
                .next()
                .ok_or_else(|| {
                    NomadError::Config(format!("{host}:{port} resolves to no address"))
                })?;
            b = b.resolve(name, sock);
            let mut u = url.clone();
            u.set_host(Some(name))
                .map_err(|e| NomadError::Config(format!("bad TLS server name `{name}`: {e}")))?;
            base = u.as_str().trim_end_matches('/').to_string();
        }
        let http = b.build().map_err(|e| {
            // reqwest says only "builder error"; the cause is in the source chain.
            let mut msg = format!("building HTTP client: {e}");
            let mut src = std::error::Error::source(&e);
            while let Some(c) = src {
                msg.push_str(&format!(": {c}"));
                src = c.source();
            }
            if let (Some(cert), Some(key)) = (&self.client_cert, &self.client_key) {
                msg.push_str(&format!(
                    " (check that the client key {} belongs to the client certificate {})",
                    key.display(),
                    cert.display()
                ));
            }
            NomadError::Config(msg)
        })?;
        Ok((http, base))
    }
}

/// Whether `bytes` hold a PEM block whose label ends with `label` (`CERTIFICATE`, `PRIVATE KEY`).
fn pem_has(bytes: &[u8], label: &str) -> bool {
    String::from_utf8_lossy(bytes)
        .lines()
        .any(|l| l.starts_with("-----BEGIN ") && l.trim_end().ends_with(&format!("{label}-----")))
}

/// Why a file is not PEM, when it can be told: empty, or DER (an ASN.1 SEQUENCE).
fn pem_hint(bytes: &[u8]) -> &'static str {
    match bytes.first() {
        None => " (the file is empty)",
        Some(0x30) => {
            " (it looks like DER: convert it with `openssl x509 -inform der -in FILE -out FILE.pem`)"
        }
        _ => " (expected `-----BEGIN CERTIFICATE-----` / `-----BEGIN PRIVATE KEY-----` blocks)",
    }
}

/// `url` with any userinfo (`user:secret@`) replaced by `***@`, for messages and files. Strings that do
/// not parse as URLs are redacted textually: everything between `://` and the last `@` before the path.
pub fn redact_url(url: &str) -> String {
    if let Ok(mut u) = reqwest::Url::parse(url) {
        if u.username().is_empty() && u.password().is_none() {
            return url.to_string();
        }
        let _ = u.set_password(None);
        let _ = u.set_username("***");
        return u.to_string().trim_end_matches('/').to_string();
    }
    let Some(start) = url.find("://").map(|i| i + 3) else {
        return url.to_string();
    };
    let rest = &url[start..];
    let auth_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..auth_end].rfind('@') {
        Some(at) => format!("{}***@{}", &url[..start], &rest[at + 1..]),
        None => url.to_string(),
    }
}

/// Basic-auth credentials carried in an address's userinfo, and the address without them.
pub(crate) fn split_userinfo(base: &str) -> (String, Option<(String, Option<String>)>) {
    match reqwest::Url::parse(base) {
        Ok(mut u) if !u.username().is_empty() || u.password().is_some() => {
            let user = u.username().to_string();
            let pass = u.password().map(str::to_string);
            let _ = u.set_username("");
            let _ = u.set_password(None);
            (
                u.to_string().trim_end_matches('/').to_string(),
                Some((user, pass)),
            )
        }
        _ => (base.to_string(), None),
    }
}

/// Normalises an address the way the nomad CLI does: a bare `host:port` gets `http://`.
pub fn normalize_address(addr: &str) -> Result<String, NomadError> {
    let a = addr.trim();
    if a.is_empty() {
        return Err(NomadError::Config("empty Nomad address".into()));
    }
    let a = if a.contains("://") {
        a.to_string()
    } else {
        format!("http://{a}")
    };
    let url = reqwest::Url::parse(&a)
        .map_err(|e| NomadError::Config(format!("bad Nomad address `{}`: {e}", redact_url(&a))))?;
    match url.scheme() {
        "http" | "https" => {}
        s => {
            return Err(NomadError::Config(format!(
                "bad Nomad address `{}`: scheme `{s}` is not supported (use http or https)",
                redact_url(&a)
            )))
        }
    }
    Ok(a.trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tls_args(dir: &std::path::Path) -> NomadConnArgs {
        NomadConnArgs {
            ca_cert: Some(dir.join("ca.pem")),
            ..NomadConnArgs::for_address("https://127.0.0.1:4646")
        }
    }

    fn openssl(dir: &std::path::Path, args: &[&str]) {
        let st = std::process::Command::new("openssl")
            .current_dir(dir)
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .expect("openssl must be installed for the TLS tests");
        assert!(st.success(), "openssl {args:?}");
    }

    fn self_signed(dir: &std::path::Path, name: &str) {
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.pem"),
                "-days",
                "1",
                "-subj",
                &format!("/CN={name}"),
            ],
        );
    }

    #[test]
    fn empty_garbage_and_der_ca_files_are_refused_naming_the_file() {
        let d = tempfile::tempdir().unwrap();
        let a = tls_args(d.path());
        let ca = d.path().join("ca.pem");
        for (bytes, hint) in [
            (&b""[..], "empty"),
            (&b"hello, not a certificate\n"[..], "BEGIN CERTIFICATE"),
            (&[0x30u8, 0x82, 0x01, 0x0a, 0x02, 0x01][..], "DER"),
        ] {
            std::fs::write(&ca, bytes).unwrap();
            let e = a
                .build_http("https://127.0.0.1:4646")
                .unwrap_err()
                .to_string();
            assert!(e.contains(&ca.display().to_string()), "{e}");
            assert!(
                e.contains("holds no PEM certificate") && e.contains(hint),
                "{e}"
            );
        }
        // A real PEM CA is accepted.
        self_signed(d.path(), "ca");
        a.build_http("https://127.0.0.1:4646").unwrap();
    }

    #[test]
    fn a_client_key_that_does_not_match_its_certificate_is_a_clear_error() {
        let d = tempfile::tempdir().unwrap();
        self_signed(d.path(), "ca");
        self_signed(d.path(), "a");
        self_signed(d.path(), "b");
        let mut args = tls_args(d.path());
        args.client_cert = Some(d.path().join("a.pem"));
        args.client_key = Some(d.path().join("a.key"));
        args.build_http("https://127.0.0.1:4646").unwrap();
        args.client_key = Some(d.path().join("b.key"));
        let e = args
            .build_http("https://127.0.0.1:4646")
            .unwrap_err()
            .to_string();
        assert!(e.contains("b.key") && e.contains("a.pem"), "{e}");
        assert_ne!(e.trim(), "builder error");
        // A certificate given as the key is named as such.
        args.client_key = Some(d.path().join("a.pem"));
        let e = args
            .build_http("https://127.0.0.1:4646")
            .unwrap_err()
            .to_string();
        assert!(e.contains("holds no PEM private key"), "{e}");
    }

    #[test]
    fn debug_redacts_token() {
        let a = NomadConnArgs {
            token: Some("s3cr3t-token".into()),
            ..NomadConnArgs::for_address("http://x:1")
        };
        let d = format!("{a:?}");
        assert!(!d.contains("s3cr3t"), "{d}");
        assert!(d.contains("<redacted>"));
    }

    #[test]
    fn userinfo_is_redacted_and_split() {
        assert_eq!(
            redact_url("http://user:s3cret@n:4646/v1/jobs"),
            "http://***@n:4646/v1/jobs"
        );
        assert_eq!(redact_url("http://n:4646"), "http://n:4646");
        assert_eq!(redact_url("http://u:s3cret@[bad"), "http://***@[bad");
        let e = normalize_address("ftp://u:s3cret@n:1")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("s3cret"), "{e}");
        let (base, cred) = split_userinfo("http://u:s3cret@n:4646");
        assert_eq!(base, "http://n:4646");
        assert_eq!(cred, Some(("u".into(), Some("s3cret".into()))));
        assert_eq!(split_userinfo("http://n:1").1, None);
    }

    #[test]
    fn address_normalisation() {
        assert_eq!(
            normalize_address("127.0.0.1:4646").unwrap(),
            "http://127.0.0.1:4646"
        );
        assert_eq!(normalize_address("https://n:1/").unwrap(), "https://n:1");
        assert!(normalize_address("unix:///x").is_err());
        assert!(normalize_address("").is_err());
    }
}
