//! EC2 instance types the scenarios use: vCPUs, memory and the CPU MHz Nomad fingerprints.
//!
//! Source: AWS instance-type pages (vCPU, GiB, sustained all-core clock) as of 2026. Nomad's
//! `cpu.totalcompute` = vCPUs × per-core MHz, which is what a node offers the scheduler.
//!
//! Server candidates for `stampede plan --server-types` (added 2026-11-29): c5.xlarge (4 vCPU, 8 GiB;
//! C5 page: Skylake-SP 8124M, sustained all-core turbo up to 3.4 GHz), c6i.2xlarge / c6i.8xlarge (8 / 32
//! vCPU, 16 / 64 GiB; C6i page: Ice Lake 8375C, all-core turbo 3.5 GHz), i4i.4xlarge (16 vCPU, 128 GiB,
//! 1 × 3,750 GB Nitro SSD; I4i page: Ice Lake, all-core turbo 3.5 GHz). Figures as those pages state them,
//! transcribed without network access here, so re-check against the pages before relying on a digit.

/// Static facts about one instance type.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InstanceType {
    /// API name, e.g. `m5.xlarge`.
    pub name: &'static str,
    /// vCPUs.
    pub vcpus: u32,
    /// Memory, GiB.
    pub memory_gib: f64,
    /// Per-core clock Nomad fingerprints, MHz.
    pub mhz_per_core: u32,
    /// Local NVMe instance storage, GB (0 = EBS only).
    pub nvme_gb: u32,
}

impl InstanceType {
    /// Schedulable CPU of a node of this type, MHz.
    pub fn cpu_mhz(&self) -> u32 {
        self.vcpus * self.mhz_per_core
    }
    /// Memory of a node of this type, MB (MiB, as Nomad counts it).
    pub fn memory_mb(&self) -> u32 {
        (self.memory_gib * 1024.0).round() as u32
    }
}

macro_rules! it {
    ($n:literal, $v:literal, $m:literal, $mhz:literal, $nvme:literal) => {
        InstanceType {
            name: $n,
            vcpus: $v,
            memory_gib: $m,
            mhz_per_core: $mhz,
            nvme_gb: $nvme,
        }
    };
}

/// Every instance type stampede knows. Unknown types must give `cpu_mhz`/`memory_mb` explicitly.
pub const INSTANCE_TYPES: &[InstanceType] = &[
    it!("m4.xlarge", 4, 16.0, 2300, 0),
    it!("m4.2xlarge", 8, 32.0, 2300, 0),
    it!("m4.4xlarge", 16, 64.0, 2300, 0),
    it!("m5.large", 2, 8.0, 3100, 0),
    it!("m5.xlarge", 4, 16.0, 3100, 0),
    it!("m5.2xlarge", 8, 32.0, 3100, 0),
    it!("m5.4xlarge", 16, 64.0, 3100, 0),
    it!("m5.8xlarge", 32, 128.0, 3100, 0),
    it!("m5a.xlarge", 4, 16.0, 2500, 0),
    it!("m5a.2xlarge", 8, 32.0, 2500, 0),
    it!("m5a.4xlarge", 16, 64.0, 2500, 0),
    it!("t3.xlarge", 4, 16.0, 2500, 0),
    it!("t3.2xlarge", 8, 32.0, 2500, 0),
    it!("t3a.xlarge", 4, 16.0, 2200, 0),
    it!("t3a.2xlarge", 8, 32.0, 2200, 0),
    it!("c5.xlarge", 4, 8.0, 3400, 0),
    it!("c5.2xlarge", 8, 16.0, 3400, 0),
    it!("c5.4xlarge", 16, 32.0, 3400, 0),
    it!("r5.2xlarge", 8, 64.0, 3100, 0),
    it!("i3.xlarge", 4, 30.5, 2300, 950),
    it!("i3.2xlarge", 8, 61.0, 2300, 1900),
    it!("i3.4xlarge", 16, 122.0, 2300, 3800),
    it!("i3.8xlarge", 32, 244.0, 2300, 7600),
    it!("i3.16xlarge", 64, 488.0, 2300, 15200),
    it!("m6i.2xlarge", 8, 32.0, 3500, 0),
    it!("m6i.4xlarge", 16, 64.0, 3500, 0),
    it!("c6i.2xlarge", 8, 16.0, 3500, 0),
    it!("c6i.4xlarge", 16, 32.0, 3500, 0),
    it!("c6i.8xlarge", 32, 64.0, 3500, 0),
    it!("i4i.4xlarge", 16, 128.0, 3500, 3750),
];

/// Looks up an instance type by name.
pub fn lookup(name: &str) -> Option<&'static InstanceType> {
    INSTANCE_TYPES.iter().find(|t| t.name == name)
}
