//! Placement semantics of a task group beyond CPU and memory, as Nomad's scheduler applies them: node
//! attributes and meta, constraints and affinities, `distinct_hosts`, static and dynamic host ports,
//! ephemeral disk and node pools.
//!
//! Read from Nomad v1.6.5 (the last MPL release), `scheduler/feasible.go`: [`Constraint`] evaluation is
//! `ConstraintChecker.Feasible` → `meetsConstraint` → `resolveTarget` + `checkConstraint` (operators `=`,
//! `==`, `is`, `!=`, `not`, `<`, `<=`, `>`, `>=` through `checkOrder` — integers, then floats, then
//! lexical —, `is_set`, `is_not_set`, `version`, `semver`, `regexp`, `set_contains`/`set_contains_all`,
//! `set_contains_any`); `distinct_hosts` is `DistinctHostsIterator.satisfiesDistinctHosts`,
//! `distinct_property` `DistinctPropertyIterator` with `propertyset.go`. Affinities are
//! `scheduler/rank.go: NodeAffinityIterator.Next` (score = Σ weights of the matching affinities / Σ |weights|,
//! appended to the node's scores only when non-zero) with `matchesAffinity` → `checkAffinity` (the same
//! operators). Ports are `nomad/structs/network.go: NetworkIndex.AssignPorts` (a reserved port that is in use
//! is a collision; dynamic ports come from `[min_dynamic_port, max_dynamic_port]`, default 20000–32000, and
//! fail with "dynamic port selection failed" when none is left). Disk is `structs.AllocsFit` over
//! `EphemeralDisk.SizeMB` (default 300 MB, `structs.DefaultEphemeralDisk`). Node pools are
//! `scheduler/util.go: readyNodesInDCsAndPool` (`all` matches every node; jobs default to `default`).
//!
//! What the cluster evaluates per fleet pool (the scenario's `[[pools]]`, whose nodes share every attribute
//! but `${node.unique.*}`) is cached once per job, as Nomad caches feasibility per computed node class
//! (`FeasibilityWrapper.Next`); constraints on `${node.unique.id}`/`${node.unique.name}` "escape" the class
//! and are checked per node.

use std::collections::BTreeMap;

use serde::Serialize;

/// Nomad's default ephemeral disk per allocation, MB (`structs.DefaultEphemeralDisk`).
pub const DEFAULT_DISK_MB: u32 = 300;
/// Disk a node offers for allocations when the scenario does not say, MB: 100 GiB. [est] Nomad
/// fingerprints the free space of the volume holding its data dir (`client/fingerprint/storage.go`), by
/// default the root EBS volume; 100 GiB is a common CI node root volume, not a measured figure — set
/// `disk_mb` on the pool.
pub const DEFAULT_NODE_DISK_MB: u32 = 102_400;
/// Lowest dynamic host port (`structs.DefaultMinDynamicPort`).
pub const DEFAULT_MIN_DYNAMIC_PORT: u16 = 20_000;
/// Highest dynamic host port (`structs.DefaultMaxDynamicPort`).
pub const DEFAULT_MAX_DYNAMIC_PORT: u16 = 32_000;
/// The node pool of a job or node that names none (`structs.NodePoolDefault`).
pub const NODE_POOL_DEFAULT: &str = "default";
/// The node pool a job may name to run anywhere (`structs.NodePoolAll`).
pub const NODE_POOL_ALL: &str = "all";

/// A constraint or affinity operator (`structs.Constraint.Operand`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Operator {
    /// `=`, `==`, `is`.
    Eq,
    /// `!=`, `not`.
    Ne,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
    /// `regexp` (RE2 syntax; Rust's `regex` is the same family).
    Regexp,
    /// `set_contains` / `set_contains_all`: every comma-separated right value is in the left set.
    SetContains,
    /// `set_contains_any`.
    SetContainsAny,
    /// `is_set`.
    IsSet,
    /// `is_not_set`.
    IsNotSet,
    /// `version` (go-version constraints, e.g. `>= 1.2, < 2.0`).
    Version,
    /// `semver` (the same ranges, prereleases ordered by semver).
    Semver,
    /// `distinct_hosts` (no other allocation of the group, or of the job at job level, on the node).
    DistinctHosts,
    /// `distinct_property`: at most `value` (default 1) allocations of the group per value of the
    /// attribute (`feasible.go: DistinctPropertyIterator`, `propertyset.go`).
    DistinctProperty,
}

impl Operator {
    /// Parses Nomad's spelling (an empty operand means `=`, as the jobspec defaults it).
    pub fn parse(s: &str) -> Result<Operator, String> {
        Ok(match s {
            "" | "=" | "==" | "is" => Operator::Eq,
            "!=" | "not" => Operator::Ne,
            "<" => Operator::Lt,
            "<=" => Operator::Le,
            ">" => Operator::Gt,
            ">=" => Operator::Ge,
            "regexp" => Operator::Regexp,
            "set_contains" | "set_contains_all" => Operator::SetContains,
            "set_contains_any" => Operator::SetContainsAny,
            "is_set" => Operator::IsSet,
            "is_not_set" => Operator::IsNotSet,
            "version" => Operator::Version,
            "semver" => Operator::Semver,
            "distinct_hosts" => Operator::DistinctHosts,
            "distinct_property" => Operator::DistinctProperty,
            other => {
                return Err(format!(
                    "unknown operator `{other}`: use =, !=, <, <=, >, >=, regexp, set_contains, \
                     set_contains_any, is_set, is_not_set, version, semver or distinct_hosts"
                ))
            }
        })
    }

    /// Nomad's canonical spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Operator::Eq => "=",
            Operator::Ne => "!=",
            Operator::Lt => "<",
            Operator::Le => "<=",
            Operator::Gt => ">",
            Operator::Ge => ">=",
            Operator::Regexp => "regexp",
            Operator::SetContains => "set_contains",
            Operator::SetContainsAny => "set_contains_any",
            Operator::IsSet => "is_set",
            Operator::IsNotSet => "is_not_set",
            Operator::Version => "version",
            Operator::Semver => "semver",
            Operator::DistinctHosts => "distinct_hosts",
            Operator::DistinctProperty => "distinct_property",
        }
    }
}

impl Serialize for Operator {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// One `constraint` (Nomad's `LTarget`, `Operand`, `RTarget`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Constraint {
    /// Left target, e.g. `${attr.kernel.name}` (empty for `distinct_hosts`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub attribute: String,
    /// Operator.
    pub operator: Operator,
    /// Right target (a literal or an interpolation).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub value: String,
}

impl Constraint {
    /// A checked constraint: the operator is known, a `regexp` compiles, a `version`/`semver` range parses,
    /// targets are interpolations Nomad resolves (`${attr.*}`, `${meta.*}`, `${node.class}`,
    /// `${node.datacenter}`, `${node.pool}`, `${node.unique.name}`, `${node.unique.id}`) or literals.
    pub fn new(attribute: &str, operator: &str, value: &str) -> Result<Constraint, String> {
        let op = Operator::parse(operator)?;
        let c = Constraint {
            attribute: attribute.to_string(),
            operator: op,
            value: value.to_string(),
        };
        c.validate()?;
        Ok(c)
    }

    /// The per-value limit of a `distinct_property` (`value`, default 1; `propertyset.go:
    /// setConstraint` parses it as an unsigned integer).
    pub fn property_limit(&self) -> Result<u32, String> {
        if self.value.is_empty() {
            return Ok(1);
        }
        self.value
            .parse::<u32>()
            .ok()
            .filter(|&n| n >= 1)
            .ok_or_else(|| {
                format!(
                    "distinct_property limit `{}`: use a whole number ≥ 1",
                    self.value
                )
            })
    }

    /// Checks what [`Constraint::new`] checks (for values built field by field).
    pub fn validate(&self) -> Result<(), String> {
        for t in [&self.attribute, &self.value] {
            if let Target::Unknown = Target::parse(t) {
                return Err(format!(
                    "target `{t}`: use ${{attr.NAME}}, ${{meta.NAME}}, ${{node.class}}, ${{node.datacenter}}, \
                     ${{node.pool}}, ${{node.unique.name}}, ${{node.unique.id}} or a literal"
                ));
            }
        }
        match self.operator {
            Operator::Regexp => {
                regex::Regex::new(&self.value)
                    .map_err(|e| format!("regexp `{}`: {e}", self.value))?;
            }
            Operator::Version | Operator::Semver => {
                VersionRange::parse(&self.value)?;
            }
            Operator::DistinctHosts => {}
            Operator::DistinctProperty => {
                if self.attribute.is_empty() {
                    return Err("`distinct_property` needs an attribute".into());
                }
                self.property_limit()?;
            }
            Operator::IsSet | Operator::IsNotSet => {
                if self.attribute.is_empty() {
                    return Err(format!("`{}` needs an attribute", self.operator.as_str()));
                }
            }
            _ => {
                if self.attribute.is_empty() {
                    return Err(format!("`{}` needs an attribute", self.operator.as_str()));
                }
            }
        }
        Ok(())
    }
}

/// One `affinity`: a constraint with a weight in −100..=100 (not 0).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Affinity {
    /// Left target.
    pub attribute: String,
    /// Operator (not `distinct_hosts`).
    pub operator: Operator,
    /// Right target.
    pub value: String,
    /// Weight, −100..=100, not 0 (`structs.Affinity.Validate`).
    pub weight: i32,
}

impl Affinity {
    /// A checked affinity (as [`Constraint::new`], and Nomad's weight bounds).
    pub fn new(
        attribute: &str,
        operator: &str,
        value: &str,
        weight: i32,
    ) -> Result<Affinity, String> {
        let c = Constraint::new(attribute, operator, value)?;
        if matches!(
            c.operator,
            Operator::DistinctHosts | Operator::DistinctProperty
        ) {
            return Err(format!(
                "`{}` is a constraint, not an affinity",
                c.operator.as_str()
            ));
        }
        if weight == 0 || !(-100..=100).contains(&weight) {
            return Err(format!(
                "weight {weight}: use −100..=100, not 0 (Nomad's Affinity.Validate)"
            ));
        }
        Ok(Affinity {
            attribute: c.attribute,
            operator: c.operator,
            value: c.value,
            weight,
        })
    }

    fn as_constraint(&self) -> Constraint {
        Constraint {
            attribute: self.attribute.clone(),
            operator: self.operator,
            value: self.value.clone(),
        }
    }
}

/// Where `distinct_hosts` applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DistinctHosts {
    /// Not set.
    #[default]
    Off,
    /// Group-level: no two allocations of this group on one node.
    Group,
    /// Job-level: no two allocations of the job (any group) on one node.
    Job,
}

impl DistinctHosts {
    /// Whether it is off (for `skip_serializing_if`).
    pub fn is_off(&self) -> bool {
        *self == DistinctHosts::Off
    }
}

/// Host ports a group's allocation takes (`network { port "x" { static = N } port "y" {} }`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Ports {
    /// Static (reserved) host ports.
    #[serde(rename = "static", skip_serializing_if = "Vec::is_empty")]
    pub static_ports: Vec<u16>,
    /// Number of dynamic ports.
    #[serde(skip_serializing_if = "is_zero")]
    pub dynamic: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl Ports {
    /// No ports.
    pub fn is_empty(&self) -> bool {
        self.static_ports.is_empty() && self.dynamic == 0
    }

    /// Checks for a port given twice within one group (`structs.NetworkResource` validation: "Static port
    /// N already reserved").
    pub fn validate(&self) -> Result<(), String> {
        let mut s = self.static_ports.clone();
        s.sort_unstable();
        if let Some(w) = s.windows(2).find(|w| w[0] == w[1]) {
            return Err(format!("static port {} is given twice", w[0]));
        }
        if s.first() == Some(&0) {
            return Err("static port 0: use 1..=65535".into());
        }
        if self.dynamic > (DEFAULT_MAX_DYNAMIC_PORT - DEFAULT_MIN_DYNAMIC_PORT + 1) as u32 {
            return Err(format!(
                "{} dynamic ports is more than the 20000-32000 range holds",
                self.dynamic
            ));
        }
        Ok(())
    }
}

/// Placement requirements of one task group beyond CPU and memory (job-level constraints and
/// affinities merged in, as `GenericStack.Select`/`NodeAffinityIterator.SetTaskGroup` merge them).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct GroupPlacement {
    /// Constraints (job's, then group's and tasks').
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub constraints: Vec<Constraint>,
    /// Affinities (job's, then group's and tasks').
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub affinities: Vec<Affinity>,
    /// `distinct_hosts`.
    #[serde(skip_serializing_if = "DistinctHosts::is_off")]
    pub distinct_hosts: DistinctHosts,
    /// Host ports.
    #[serde(skip_serializing_if = "Ports::is_empty")]
    pub ports: Ports,
    /// Ephemeral disk, MB (`None`: Nomad's default 300).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disk_mb: Option<u32>,
}

impl GroupPlacement {
    /// Disk asked per allocation, MB.
    pub fn disk_mb(&self) -> u32 {
        self.disk_mb.unwrap_or(DEFAULT_DISK_MB)
    }

    /// Whether anything beyond the default disk is asked (constraints, affinities, distinct_hosts, ports).
    pub fn is_trivial(&self) -> bool {
        self.constraints.is_empty()
            && self.affinities.is_empty()
            && self.distinct_hosts == DistinctHosts::Off
            && self.ports.is_empty()
    }
}

/// What a node offers to constraints: shared by every node of a fleet pool (interned once per pool).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NodeFacts {
    /// `${attr.*}`.
    pub attributes: BTreeMap<String, String>,
    /// `${meta.*}`.
    pub meta: BTreeMap<String, String>,
    /// `${node.class}`.
    pub class: String,
    /// `${node.datacenter}`.
    pub datacenter: String,
    /// `${node.pool}`.
    pub pool: String,
}

/// What Nomad's client fingerprints for an instance type (the part the scheduler sees as `${attr.*}`):
/// `kernel.name` (`linux`), `cpu.arch` (`arm64` for Graviton types — a `g` after the generation digit,
/// e.g. `m6g`, `c7gn` —, else `amd64`), `cpu.numcores`, `cpu.totalcompute` (MHz), `memory.totalbytes`,
/// `platform.aws.instance-type`, `unique.storage.bytestotal` (the data dir's disk) and `nomad.version`
/// (client/fingerprint/{host,cpu,memory,env_aws,storage,nomad}.go).
pub fn default_attributes(
    instance_type: &str,
    cores: u32,
    cpu_mhz: u32,
    memory_mb: u32,
    disk_mb: u32,
    nomad_version: &str,
) -> BTreeMap<String, String> {
    let family = instance_type.split('.').next().unwrap_or("");
    let graviton = family
        .char_indices()
        .find(|(_, c)| c.is_ascii_digit())
        .is_some_and(|(i, _)| family[i + 1..].starts_with('g'));
    let mut a = BTreeMap::new();
    a.insert("kernel.name".into(), "linux".into());
    a.insert(
        "cpu.arch".into(),
        if graviton { "arm64" } else { "amd64" }.into(),
    );
    a.insert("cpu.numcores".into(), cores.to_string());
    a.insert("cpu.totalcompute".into(), cpu_mhz.to_string());
    a.insert(
        "memory.totalbytes".into(),
        (memory_mb as u64 * 1024 * 1024).to_string(),
    );
    a.insert(
        "unique.storage.bytestotal".into(),
        (disk_mb as u64 * 1024 * 1024).to_string(),
    );
    a.insert("platform.aws.instance-type".into(), instance_type.into());
    a.insert("nomad.version".into(), nomad_version.into());
    a
}

/// A constraint or affinity target, resolved once (`feasible.go: resolveTarget`).
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// No `${` prefix: the text itself.
    Literal(String),
    /// `${node.unique.id}` (per node).
    NodeId,
    /// `${node.unique.name}` (per node).
    NodeName,
    /// `${node.datacenter}`.
    Datacenter,
    /// `${node.class}`.
    Class,
    /// `${node.pool}`.
    Pool,
    /// `${attr.NAME}`.
    Attr(String),
    /// `${meta.NAME}`.
    Meta(String),
    /// Any other interpolation: never found.
    Unknown,
}

impl Target {
    /// Parses a target as `resolveTarget` does.
    pub fn parse(t: &str) -> Target {
        if !t.starts_with("${") {
            return Target::Literal(t.to_string());
        }
        match t {
            "${node.unique.id}" => Target::NodeId,
            "${node.unique.name}" => Target::NodeName,
            "${node.datacenter}" => Target::Datacenter,
            "${node.class}" => Target::Class,
            "${node.pool}" => Target::Pool,
            _ => {
                if let Some(a) = t.strip_prefix("${attr.").and_then(|r| r.strip_suffix('}')) {
                    Target::Attr(a.to_string())
                } else if let Some(m) = t.strip_prefix("${meta.").and_then(|r| r.strip_suffix('}'))
                {
                    Target::Meta(m.to_string())
                } else {
                    Target::Unknown
                }
            }
        }
    }

    /// Whether it differs between nodes of one fleet pool (escapes the computed class).
    pub fn is_unique(&self) -> bool {
        matches!(self, Target::NodeId | Target::NodeName)
            || matches!(self, Target::Attr(a) if a.starts_with("unique."))
            || matches!(self, Target::Meta(m) if m.starts_with("unique."))
    }

    /// The value on a node, if the node has it (`unique`: `(id, name)` of the node).
    pub fn resolve<'a>(&'a self, f: &'a NodeFacts, unique: (&'a str, &'a str)) -> Option<&'a str> {
        match self {
            Target::Literal(s) => Some(s),
            Target::NodeId => Some(unique.0),
            Target::NodeName => Some(unique.1),
            Target::Datacenter => Some(&f.datacenter),
            Target::Class => Some(&f.class),
            Target::Pool => Some(&f.pool),
            Target::Attr(a) => f.attributes.get(a).map(String::as_str),
            Target::Meta(m) => f.meta.get(m).map(String::as_str),
            Target::Unknown => None,
        }
    }
}

/// A constraint compiled once per job: targets resolved, regexp and version range built.
#[derive(Debug, Clone)]
pub struct Compiled {
    l: Target,
    r: Target,
    op: Operator,
    re: Option<regex::Regex>,
    range: Option<VersionRange>,
}

impl Compiled {
    /// Compiles `c` (an invalid regexp or range compiles to "never matches", as `checkRegexpMatch` and
    /// `checkVersionMatch` return false on a parse error).
    pub fn new(c: &Constraint) -> Compiled {
        Compiled {
            l: Target::parse(&c.attribute),
            r: Target::parse(&c.value),
            op: c.operator,
            re: (c.operator == Operator::Regexp)
                .then(|| regex::Regex::new(&c.value).ok())
                .flatten(),
            range: matches!(c.operator, Operator::Version | Operator::Semver)
                .then(|| VersionRange::parse(&c.value).ok())
                .flatten(),
        }
    }

    /// Compiles an affinity's match condition.
    pub fn affinity(a: &Affinity) -> Compiled {
        Compiled::new(&a.as_constraint())
    }

    /// Whether it depends on the individual node (not only on its fleet pool).
    pub fn is_unique(&self) -> bool {
        self.l.is_unique() || self.r.is_unique()
    }

    /// `checkConstraint(operand, lVal, rVal, lFound, rFound)` on a node.
    pub fn check(&self, f: &NodeFacts, unique: (&str, &str)) -> bool {
        let l = self.l.resolve(f, unique);
        let r = self.r.resolve(f, unique);
        match self.op {
            Operator::DistinctHosts | Operator::DistinctProperty => true,
            // reflect.DeepEqual over the resolved values: "" when not found.
            Operator::Eq => l.is_some() && r.is_some() && l == r,
            Operator::Ne => l.unwrap_or("") != r.unwrap_or(""),
            Operator::Lt | Operator::Le | Operator::Gt | Operator::Ge => match (l, r) {
                (Some(l), Some(r)) => check_order(self.op, l, r),
                _ => false,
            },
            Operator::IsSet => l.is_some(),
            Operator::IsNotSet => l.is_none(),
            Operator::Regexp => match (l, r, &self.re) {
                (Some(l), Some(_), Some(re)) => re.is_match(l),
                _ => false,
            },
            Operator::SetContains => match (l, r) {
                (Some(l), Some(r)) => {
                    let set: Vec<&str> = l.split(',').map(str::trim).collect();
                    r.split(',').map(str::trim).all(|x| set.contains(&x))
                }
                _ => false,
            },
            Operator::SetContainsAny => match (l, r) {
                (Some(l), Some(r)) => {
                    let set: Vec<&str> = l.split(',').map(str::trim).collect();
                    r.split(',').map(str::trim).any(|x| set.contains(&x))
                }
                _ => false,
            },
            Operator::Version | Operator::Semver => match (l, r, &self.range) {
                (Some(l), Some(_), Some(range)) => Version::parse(l)
                    .is_some_and(|v| range.matches(&v, self.op == Operator::Semver)),
                _ => false,
            },
        }
    }
}

/// `checkOrder`: as integers if both parse, else as floats if both parse, else lexically.
fn check_order(op: Operator, l: &str, r: &str) -> bool {
    use std::cmp::Ordering;
    let ord = if let (Ok(a), Ok(b)) = (l.parse::<i64>(), r.parse::<i64>()) {
        a.cmp(&b)
    } else if let (Ok(a), Ok(b)) = (l.parse::<f64>(), r.parse::<f64>()) {
        match a.partial_cmp(&b) {
            Some(o) => o,
            None => return false,
        }
    } else {
        l.cmp(r)
    };
    match op {
        Operator::Lt => ord == Ordering::Less,
        Operator::Le => ord != Ordering::Greater,
        Operator::Gt => ord == Ordering::Greater,
        Operator::Ge => ord != Ordering::Less,
        _ => false,
    }
}

/// A version `1.2.3[-pre][+meta]` (hashicorp/go-version `NewVersion`, leading `v` allowed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    segments: Vec<u64>,
    pre: String,
}

impl Version {
    /// Parses a version; `None` if it is not one.
    pub fn parse(s: &str) -> Option<Version> {
        let s = s.trim();
        let s = s.strip_prefix('v').unwrap_or(s);
        let s = s.split('+').next()?;
        let (core, pre) = match s.split_once('-') {
            Some((c, p)) => (c, p.to_string()),
            None => (s, String::new()),
        };
        let segments = core
            .split('.')
            .map(|x| x.parse::<u64>().ok())
            .collect::<Option<Vec<_>>>()?;
        (!segments.is_empty() && segments.len() <= 4).then_some(Version { segments, pre })
    }

    fn cmp(&self, o: &Version) -> std::cmp::Ordering {
        let n = self.segments.len().max(o.segments.len()).max(3);
        for i in 0..n {
            let (a, b) = (
                self.segments.get(i).copied().unwrap_or(0),
                o.segments.get(i).copied().unwrap_or(0),
            );
            if a != b {
                return a.cmp(&b);
            }
        }
        match (self.pre.is_empty(), o.pre.is_empty()) {
            (true, true) => std::cmp::Ordering::Equal,
            (true, false) => std::cmp::Ordering::Greater,
            (false, true) => std::cmp::Ordering::Less,
            (false, false) => self.pre.cmp(&o.pre),
        }
    }
}

/// A comma-separated set of version constraints, all of which must hold (`=`, `!=`, `>`, `>=`, `<`, `<=`,
/// `~>`; go-version `NewConstraint`).
#[derive(Debug, Clone, PartialEq)]
pub struct VersionRange(Vec<(&'static str, Version)>);

impl VersionRange {
    /// Parses `">= 1.2, < 2.0"`.
    pub fn parse(s: &str) -> Result<VersionRange, String> {
        let mut out = Vec::new();
        for part in s.split(',') {
            let p = part.trim();
            let (op, rest) = ["~>", ">=", "<=", "!=", ">", "<", "="]
                .iter()
                .find_map(|op| p.strip_prefix(op).map(|r| (*op, r)))
                .unwrap_or(("=", p));
            let v = Version::parse(rest)
                .ok_or_else(|| format!("version constraint `{s}`: `{p}` is not OP VERSION"))?;
            out.push((op, v));
        }
        Ok(VersionRange(out))
    }

    /// Whether `v` satisfies every part. For `version`, a prerelease only matches a part that names a
    /// prerelease of the same core (go-version's `prereleaseCheck`); `semver` orders prereleases.
    fn matches(&self, v: &Version, semver: bool) -> bool {
        use std::cmp::Ordering::*;
        self.0.iter().all(|(op, c)| {
            if !semver && !v.pre.is_empty() && (c.pre.is_empty() || c.segments != v.segments) {
                return false;
            }
            let o = v.cmp(c);
            match *op {
                "=" => o == Equal,
                "!=" => o != Equal,
                ">" => o == Greater,
                ">=" => o != Less,
                "<" => o == Less,
                "<=" => o != Greater,
                // ~> 1.2.3 means >= 1.2.3, < 1.3; ~> 1.2 means >= 1.2, < 2.
                _ => {
                    if o == Less {
                        return false;
                    }
                    let keep = c.segments.len().saturating_sub(1).max(1);
                    let vs = &v.segments;
                    (0..keep).all(|i| vs.get(i).copied().unwrap_or(0) == c.segments[i])
                }
            }
        })
    }
}

/// Constraints and affinities of one group compiled for a cluster's fleet pools.
#[derive(Debug, Clone)]
pub struct CompiledGroup {
    /// Per fleet pool: every class-level constraint holds (and the node pool matches).
    pub pool_ok: Vec<bool>,
    /// Constraints on per-node targets, checked per node.
    pub escaped: Vec<Compiled>,
    /// Per fleet pool: sum of the weights of the matching class-level affinities.
    pub affinity_pool: Vec<f64>,
    /// Affinities on per-node targets, with their weights.
    pub affinity_escaped: Vec<(Compiled, f64)>,
    /// Σ |weight| over every affinity (0: no affinities).
    pub affinity_total: f64,
}

impl CompiledGroup {
    /// Compiles `g`'s constraints and affinities against `pools` (one [`NodeFacts`] per fleet pool);
    /// `pool_allowed` is the job's node-pool filter per fleet pool.
    pub fn new(g: &GroupPlacement, pools: &[&NodeFacts], pool_allowed: &[bool]) -> CompiledGroup {
        let cs: Vec<Compiled> = g
            .constraints
            .iter()
            .filter(|c| {
                !matches!(
                    c.operator,
                    Operator::DistinctHosts | Operator::DistinctProperty
                )
            })
            .map(Compiled::new)
            .collect();
        let (escaped, class): (Vec<Compiled>, Vec<Compiled>) =
            cs.into_iter().partition(Compiled::is_unique);
        let pool_ok = pools
            .iter()
            .zip(pool_allowed)
            .map(|(f, &ok)| ok && class.iter().all(|c| c.check(f, ("", ""))))
            .collect();
        let afs: Vec<(Compiled, f64)> = g
            .affinities
            .iter()
            .map(|a| (Compiled::affinity(a), a.weight as f64))
            .collect();
        let affinity_total = afs.iter().map(|(_, w)| w.abs()).sum();
        let (affinity_escaped, class_aff): (Vec<_>, Vec<_>) =
            afs.into_iter().partition(|(c, _)| c.is_unique());
        let affinity_pool = pools
            .iter()
            .map(|f| {
                class_aff
                    .iter()
                    .filter(|(c, _)| c.check(f, ("", "")))
                    .map(|(_, w)| w)
                    .sum()
            })
            .collect();
        CompiledGroup {
            pool_ok,
            escaped,
            affinity_pool,
            affinity_escaped,
            affinity_total,
        }
    }

    /// Whether node `(id, name)` of fleet pool `pool` passes every constraint.
    #[inline]
    pub fn feasible(&self, pool: usize, f: &NodeFacts, unique: (&str, &str)) -> bool {
        self.pool_ok[pool] && self.escaped.iter().all(|c| c.check(f, unique))
    }

    /// The node-affinity score component (`NodeAffinityIterator.Next`), `None` when it adds no score.
    #[inline]
    pub fn affinity_score(&self, pool: usize, f: &NodeFacts, unique: (&str, &str)) -> Option<f64> {
        if self.affinity_total == 0.0 {
            return None;
        }
        let mut sum = self.affinity_pool[pool];
        for (c, w) in &self.affinity_escaped {
            if c.check(f, unique) {
                sum += w;
            }
        }
        (sum != 0.0).then(|| sum / self.affinity_total)
    }
}

/// Whether a node in node pool `node_pool` is eligible for a job in `job_pool` (`None`: `default`).
pub fn node_pool_matches(job_pool: Option<&str>, node_pool: &str) -> bool {
    match job_pool.unwrap_or(NODE_POOL_DEFAULT) {
        NODE_POOL_ALL => true,
        p => p == node_pool,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> NodeFacts {
        let mut f = NodeFacts {
            attributes: default_attributes("m6g.xlarge", 4, 10000, 16384, 102400, "1.6.5"),
            class: "ci".into(),
            datacenter: "dc1".into(),
            pool: "default".into(),
            ..Default::default()
        };
        f.meta.insert("tier".into(), "large".into());
        f.meta.insert("tags".into(), "ssd, gpu,fast".into());
        f.attributes
            .insert("driver.docker.version".into(), "24.0.7".into());
        f
    }

    fn ok(l: &str, op: &str, r: &str) -> bool {
        Compiled::new(&Constraint::new(l, op, r).unwrap()).check(&facts(), ("id-1", "node-1"))
    }

    #[test]
    fn operators_as_check_constraint() {
        assert!(ok("${attr.cpu.arch}", "=", "arm64"), "m6g is Graviton");
        assert!(ok("${attr.kernel.name}", "==", "linux"));
        assert!(!ok("${attr.kernel.name}", "=", "windows"));
        assert!(!ok("${attr.nope}", "=", ""), "= needs both found");
        assert!(
            ok("${attr.nope}", "!=", "x"),
            "!= on a missing attribute holds"
        );
        assert!(ok("${node.class}", "!=", "gpu"));
        assert!(ok("${attr.cpu.numcores}", ">=", "4"));
        assert!(
            !ok("${attr.cpu.numcores}", ">", "10"),
            "integers, not lexical"
        );
        assert!(ok("${attr.cpu.numcores}", "<", "10"));
        assert!(ok("${meta.tier}", ">", "abc"), "lexical fallback");
        assert!(ok(
            "${attr.platform.aws.instance-type}",
            "regexp",
            "^m6g\\."
        ));
        assert!(ok("${meta.tags}", "set_contains", "gpu,ssd"));
        assert!(!ok("${meta.tags}", "set_contains", "gpu,tpu"));
        assert!(ok("${meta.tags}", "set_contains_any", "tpu,fast"));
        assert!(ok("${meta.tier}", "is_set", ""));
        assert!(ok("${meta.other}", "is_not_set", ""));
        assert!(ok("${attr.nomad.version}", "version", ">= 1.6, < 1.7"));
        assert!(!ok("${attr.nomad.version}", "version", "< 1.6.5"));
        assert!(ok("${attr.driver.docker.version}", "semver", "~> 24.0"));
        assert!(ok("${node.unique.name}", "=", "node-1"));
        assert!(ok("${node.datacenter}", "=", "dc1"));
        assert!(ok("${node.pool}", "=", "default"));
    }

    #[test]
    fn bad_inputs_are_named() {
        assert!(Constraint::new("${attr.x}", "like", "y")
            .unwrap_err()
            .contains("unknown operator `like`"));
        assert!(Constraint::new("${attr.x}", "regexp", "(")
            .unwrap_err()
            .contains("regexp `(`"));
        assert!(Constraint::new("${attr.x}", "version", ">= banana")
            .unwrap_err()
            .contains("banana"));
        assert!(Constraint::new("${node.bogus}", "=", "y")
            .unwrap_err()
            .contains("${node.bogus}"));
        assert!(Affinity::new("${attr.x}", "=", "y", 0).is_err());
        assert!(Affinity::new("${attr.x}", "=", "y", 101).is_err());
        assert!(Ports {
            static_ports: vec![80, 80],
            dynamic: 0
        }
        .validate()
        .is_err());
    }

    #[test]
    fn versions_and_ranges() {
        let r = VersionRange::parse("~> 1.2.3").unwrap();
        assert!(r.matches(&Version::parse("1.2.9").unwrap(), false));
        assert!(!r.matches(&Version::parse("1.3.0").unwrap(), false));
        let r = VersionRange::parse(">= 1.0").unwrap();
        assert!(
            !r.matches(&Version::parse("1.5.0-beta1").unwrap(), false),
            "prerelease"
        );
        assert!(
            r.matches(&Version::parse("1.5.0-beta1").unwrap(), true),
            "semver orders it"
        );
        assert!(Version::parse("v2.0.5").is_some() && Version::parse("x").is_none());
    }

    #[test]
    fn compiled_group_caches_per_pool_and_escapes_unique_targets() {
        let a = facts();
        let mut b = facts();
        b.class = "gpu".into();
        let g = GroupPlacement {
            constraints: vec![
                Constraint::new("${node.class}", "!=", "gpu").unwrap(),
                Constraint::new("${node.unique.name}", "regexp", "-1$").unwrap(),
            ],
            affinities: vec![
                Affinity::new("${meta.tier}", "=", "large", 50).unwrap(),
                Affinity::new("${node.class}", "=", "gpu", -50).unwrap(),
            ],
            ..Default::default()
        };
        let cg = CompiledGroup::new(&g, &[&a, &b], &[true, true]);
        assert_eq!(cg.pool_ok, vec![true, false]);
        assert_eq!(cg.escaped.len(), 1);
        assert!(cg.feasible(0, &a, ("x", "n-1")));
        assert!(
            !cg.feasible(0, &a, ("x", "n-2")),
            "escaped constraint per node"
        );
        assert_eq!(cg.affinity_score(0, &a, ("", "")), Some(0.5));
        assert_eq!(
            cg.affinity_score(1, &b, ("", "")),
            None,
            "+50 −50 = 0 adds no score"
        );
        let none = CompiledGroup::new(&GroupPlacement::default(), &[&a], &[false]);
        assert_eq!(none.pool_ok, vec![false], "node pool filter");
    }

    #[test]
    fn node_pools() {
        assert!(node_pool_matches(None, "default"));
        assert!(!node_pool_matches(None, "gpu"));
        assert!(node_pool_matches(Some("all"), "gpu"));
        assert!(node_pool_matches(Some("gpu"), "gpu"));
    }
}
