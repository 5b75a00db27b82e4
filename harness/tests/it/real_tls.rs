//! TLS for real: a cluster with TLS on HTTP and RPC and `verify_https_client` (CA, server, client and CLI
//! certificates made by `tools/nomad/cluster.sh --tls` with openssl). `stampede` works with
//! `NOMAD_CACERT`/`NOMAD_CLIENT_CERT`/`NOMAD_CLIENT_KEY`, fails clearly with a wrong CA or without a
//! client certificate, and `NOMAD_SKIP_VERIFY` does what it does for the `nomad` CLI (checked against the
//! real CLI with the same environment).

use std::process::Command;
use std::time::Duration;

use crate::common::{argv, run_bounded};
use crate::real_cluster::{nomad_bin, ClusterOpts, RealCluster};

fn other_ca(dir: &std::path::Path) -> std::path::PathBuf {
    let ca = dir.join("other-ca.pem");
    let st = Command::new("openssl")
        .args(argv!("req -x509 -newkey rsa:2048 -nodes -days 1"))
        .args(["-subj", "/CN=not the cluster's CA"])
        .arg("-keyout")
        .arg(dir.join("other-ca-key.pem"))
        .arg("-out")
        .arg(&ca)
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    ca
}

/// The environment variations, applied to a command that already has the cluster's full TLS env.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Variant {
    Good,
    WrongCa,
    NoClientCert,
    SkipVerifyWrongCa,
    SkipVerifyNoClientCert,
}

fn apply(c: &mut Command, v: Variant, wrong_ca: &std::path::Path) {
    match v {
        Variant::Good => {}
        Variant::WrongCa => {
            c.env("NOMAD_CACERT", wrong_ca);
        }
        Variant::NoClientCert => {
            c.env_remove("NOMAD_CLIENT_CERT")
                .env_remove("NOMAD_CLIENT_KEY");
        }
        Variant::SkipVerifyWrongCa => {
            c.env("NOMAD_CACERT", wrong_ca)
                .env("NOMAD_SKIP_VERIFY", "true");
        }
        Variant::SkipVerifyNoClientCert => {
            c.env_remove("NOMAD_CLIENT_CERT")
                .env_remove("NOMAD_CLIENT_KEY")
                .env("NOMAD_SKIP_VERIFY", "true");
        }
    }
}

#[test]
fn tls_with_verify_https_client() {
    let c = RealCluster::start(&ClusterOpts {
        clients: 1,
        tls: true,
        ..Default::default()
    });
    assert!(c.addr().starts_with("https://"), "{}", c.addr());
    let tmp = tempfile::tempdir().unwrap();
    let wrong_ca = other_ca(tmp.path());

    // Plain HTTP to the TLS port is refused.
    let plain = c.addr().replace("https://", "http://");
    let o = run_bounded(
        {
            let mut s = c.stampede(true);
            s.env("NOMAD_ADDR", &plain)
                .args(["run", "--jobs", "1", "--driver", "raw_exec", "--quiet"])
                .arg("--out")
                .arg(tmp.path().join("plain"));
            s
        },
        Duration::from_secs(60),
    );
    assert!(!o.status.success(), "plain HTTP against a TLS listener");

    for v in [
        Variant::Good,
        Variant::WrongCa,
        Variant::NoClientCert,
        Variant::SkipVerifyWrongCa,
        Variant::SkipVerifyNoClientCert,
    ] {
        // The nomad CLI with the same environment: the reference behaviour.
        let mut n = Command::new(nomad_bin());
        n.args(["operator", "api", "/v1/status/leader"]);
        for (k, val) in &c.env {
            if k.starts_with("NOMAD_") {
                n.env(k, val);
            }
        }
        n.env("NOMAD_TOKEN", &c.token)
            .env_remove("NOMAD_SKIP_VERIFY");
        apply(&mut n, v, &wrong_ca);
        let cli = run_bounded(n, Duration::from_secs(60));

        let dir = tmp.path().join(format!("{v:?}"));
        let mut s = c.stampede(true);
        s.args(argv!(
            "run --jobs 3 --driver raw_exec --duration 1s --cpu 50 --memory 32",
            "--workers 3 --timeout 2m --drain-timeout 60s --cleanup",
            "--no-report"
        ))
        .arg("--run-id")
        .arg(format!("tls-{v:?}").to_lowercase())
        .arg("--out")
        .arg(&dir);
        apply(&mut s, v, &wrong_ca);
        let o = run_bounded(s, Duration::from_secs(150));
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        let expect_ok = matches!(v, Variant::Good | Variant::SkipVerifyWrongCa);
        eprintln!(
            "{v:?}: nomad CLI exit {:?}, stampede exit {:?}: {}",
            cli.status.code(),
            o.status.code(),
            err.lines().last().unwrap_or("")
        );
        assert_eq!(
            cli.status.success(),
            expect_ok,
            "nomad CLI with {v:?}: {}",
            String::from_utf8_lossy(&cli.stderr)
        );
        assert_eq!(
            o.status.success(),
            cli.status.success(),
            "stampede and the nomad CLI disagree on {v:?}: {err}"
        );
        if expect_ok {
            let rec = stampede::files::record::read_record(&dir).unwrap();
            assert_eq!(rec.meta.summary.allocs_placed, 3, "{v:?}");
            assert_eq!(rec.meta.summary.allocs_running, 3, "{v:?}");
        } else {
            let lower = err.to_lowercase();
            assert!(
                lower.contains(c.addr()),
                "{v:?}: the error names the URL: {err}"
            );
            match v {
                Variant::WrongCa => assert!(
                    lower.contains("certificate") || lower.contains("unknownissuer"),
                    "{v:?}: the error says the certificate is not trusted: {err}"
                ),
                _ => assert!(
                    lower.contains("certificate")
                        || lower.contains("handshake")
                        || lower.contains("tls"),
                    "{v:?}: the error says the TLS handshake was refused: {err}"
                ),
            }
            assert!(
                !dir.join("run.json").exists(),
                "{v:?}: no record for a run that never connected"
            );
        }
        assert!(!err.contains(&c.token), "token printed: {err}");
    }
}
