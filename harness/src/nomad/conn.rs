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
            pem.push(b'\n');
            pem.extend(std::fs::read(key).map_err(|e| {
                NomadError::Config(format!("reading client key {}: {e}", key.display()))
            })?);
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
        let http = b
            .build()
            .map_err(|e| NomadError::Config(format!("building HTTP client: {e}")))?;
        Ok((http, base))
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
