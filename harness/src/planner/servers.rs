//! Server sizing: the server configurations a plan tries (`--server-types` × `--server-counts`) and the
//! scenario of each.
//!
//! A server configuration is re-applied to the scenario *file* through the same path as `--set
//! cluster.instance_type=… --set cluster.servers=…` ([`crate::files::load_scenario_with`] →
//! [`stampede_sim::scenario::Scenario::from_toml_with_overrides`]), so cores, memory, per-core MHz, storage
//! class and `num_schedulers` (= cores, as Nomad) follow the new type exactly as the scenario loader
//! resolves them from the instance table, and a key the scenario pins in `[cluster]` stays pinned (the plan
//! lists such keys under `pinned`, since they no longer follow the type).

use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use stampede_sim::scenario::Scenario;

use crate::files;

/// One server configuration: instance type × count.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ServerConfig {
    /// Server instance type.
    pub instance_type: String,
    /// Number of servers.
    pub count: u32,
}

impl std::fmt::Display for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} × {}", self.count, self.instance_type)
    }
}

/// The `[cluster]` keys that follow the server instance type unless the scenario sets them.
pub const TYPE_DERIVED_KEYS: [&str; 5] = [
    "cores",
    "memory_gib",
    "mhz_per_core",
    "storage",
    "num_schedulers",
];

/// The server configurations of a request: every `types` × `counts` (defaults: the scenario's own type
/// and count), validated: known instance types, counts of 1 to 7 as the scenario accepts. Returns the
/// configurations in input order (types outer) and warnings (an even count).
pub fn server_configs(
    base: &Scenario,
    types: &[String],
    counts: &[u32],
) -> Result<(Vec<ServerConfig>, Vec<String>)> {
    let types: Vec<String> = if types.is_empty() {
        vec![base.cluster.instance_type.clone()]
    } else {
        types.iter().map(|t| t.trim().to_string()).collect()
    };
    let counts: Vec<u32> = if counts.is_empty() {
        vec![base.cluster.servers]
    } else {
        counts.to_vec()
    };
    for t in &types {
        if t.is_empty() {
            bail!("--server-types: an empty instance type (a stray comma?)");
        }
        if stampede_sim::instances::lookup(t).is_none() {
            let known: Vec<&str> = stampede_sim::instances::INSTANCE_TYPES
                .iter()
                .map(|i| i.name)
                .collect();
            bail!(
                "--server-types: unknown instance type `{t}` (the instance table knows {})",
                known.join(", ")
            );
        }
    }
    let mut warnings = Vec::new();
    for &n in &counts {
        if !(1..=7).contains(&n) {
            bail!("--server-counts {n}: use 1 to 7 servers (Nomad runs 3 or 5)");
        }
        if n % 2 == 0 {
            warnings.push(format!(
                "--server-counts {n}: an even number of servers tolerates no more failures than {} (Raft needs a majority); Nomad runs 3 or 5",
                n - 1
            ));
        }
    }
    let mut out = Vec::new();
    for t in &types {
        for &n in &counts {
            let c = ServerConfig {
                instance_type: t.clone(),
                count: n,
            };
            if !out.contains(&c) {
                out.push(c);
            }
        }
    }
    Ok((out, warnings))
}

/// Whether `c` is the scenario's own server configuration.
pub fn is_own(base: &Scenario, c: &ServerConfig) -> bool {
    base.cluster.instance_type == c.instance_type && base.cluster.servers == c.count
}

/// The scenario at `path` with the servers of `c` (through `--set cluster.instance_type=…
/// cluster.servers=…`), or `own` unchanged when `c` is its own configuration (so a plan without server
/// sizing simulates exactly the scenario as before).
pub fn scenario_with_servers(path: &Path, own: &Scenario, c: &ServerConfig) -> Result<Scenario> {
    if is_own(own, c) {
        return Ok(own.clone());
    }
    let sets = [
        ("cluster.instance_type".to_string(), c.instance_type.clone()),
        ("cluster.servers".to_string(), c.count.to_string()),
    ];
    files::load_scenario_with(path, 1.0, &sets)
        .with_context(|| format!("the scenario with {c} servers"))
}

/// The type-derived `[cluster]` keys the scenario file sets explicitly (they stay as set when a plan
/// changes the server type).
pub fn pinned_keys(path: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading scenario {}", path.display()))?;
    let doc: toml::Table =
        toml::from_str(&text).with_context(|| format!("parsing scenario {}", path.display()))?;
    let cluster = doc.get("cluster").and_then(|v| v.as_table());
    Ok(TYPE_DERIVED_KEYS
        .iter()
        .filter(|k| cluster.is_some_and(|c| c.contains_key(**k)))
        .map(|k| k.to_string())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SC: &str = r#"name = "t"
[cluster]
servers = 3
instance_type = "m5.xlarge"
[[pools]]
instance_type = "m5.xlarge"
count = 2
[workload]
jobs = 1
"#;

    fn base() -> Scenario {
        Scenario::from_toml("t.toml", SC).unwrap()
    }

    #[test]
    fn defaults_are_the_scenarios_own_servers() {
        let (c, w) = server_configs(&base(), &[], &[]).unwrap();
        assert_eq!(
            c,
            vec![ServerConfig {
                instance_type: "m5.xlarge".into(),
                count: 3
            }]
        );
        assert!(w.is_empty());
        assert!(is_own(&base(), &c[0]));
    }

    #[test]
    fn cross_product_and_validation() {
        let types = vec!["c5.xlarge".to_string(), "c5.4xlarge".to_string()];
        let (c, _) = server_configs(&base(), &types, &[3, 5]).unwrap();
        let got: Vec<String> = c.iter().map(|c| c.to_string()).collect();
        assert_eq!(
            got,
            [
                "3 × c5.xlarge",
                "5 × c5.xlarge",
                "3 × c5.4xlarge",
                "5 × c5.4xlarge"
            ]
        );
        let e = server_configs(&base(), &["c5.huge".to_string()], &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown instance type `c5.huge`"), "{e}");
        assert!(e.contains("c5.4xlarge"), "lists the known types: {e}");
        for n in [0, 8] {
            let e = server_configs(&base(), &[], &[n]).unwrap_err().to_string();
            assert_eq!(
                e,
                format!("--server-counts {n}: use 1 to 7 servers (Nomad runs 3 or 5)")
            );
        }
        let (c, w) = server_configs(&base(), &[], &[4]).unwrap();
        assert_eq!(c[0].count, 4, "1..=7 accepted as the scenario accepts them");
        assert!(w[0].contains("Nomad runs 3 or 5"), "{w:?}");
    }

    #[test]
    fn a_new_server_type_brings_its_cores_memory_clock_storage_and_schedulers() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("t.toml");
        std::fs::write(&p, SC).unwrap();
        let own = files::load_scenario(&p, 1.0).unwrap();
        let c = ServerConfig {
            instance_type: "i3.8xlarge".into(),
            count: 5,
        };
        let sc = scenario_with_servers(&p, &own, &c).unwrap();
        assert_eq!(sc.cluster.servers, 5);
        assert_eq!(sc.cluster.instance_type, "i3.8xlarge");
        assert_eq!(sc.cluster.cores, 32);
        assert_eq!(sc.cluster.num_schedulers, 32);
        assert_eq!(sc.cluster.memory_gib, 244.0);
        assert_eq!(sc.cluster.mhz_per_core, 2300);
        assert_eq!(sc.cluster.storage, "nvme-i3");
        assert_eq!(sc.pools, own.pools, "the client pools are untouched");
        assert!(pinned_keys(&p).unwrap().is_empty());
        // A key the scenario pins stays pinned, and the plan says so.
        std::fs::write(
            &p,
            SC.replace("servers = 3", "servers = 3\ncores = 6\nstorage = \"io2\""),
        )
        .unwrap();
        let own = files::load_scenario(&p, 1.0).unwrap();
        let sc = scenario_with_servers(&p, &own, &c).unwrap();
        assert_eq!((sc.cluster.cores, sc.cluster.num_schedulers), (6, 6));
        assert_eq!(sc.cluster.storage, "io2");
        assert_eq!(sc.cluster.memory_gib, 244.0);
        assert_eq!(pinned_keys(&p).unwrap(), ["cores", "storage"]);
    }
}
