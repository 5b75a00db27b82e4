//! Server storage: what a Raft `StoreLogs` writes and syncs, and how long that takes on a given disk.
//!
//! Two halves (see `sim/MECHANISMS.md` §1.4 and §3):
//!
//! **Log stores** ([`LogStoreKind`]): what one `StoreLogs(batch)` call does to the disk.
//! - `boltdb` — [src] `raft-boltdb/v2/bolt_store.go:BoltStore.StoreLogs`: one bbolt read-write transaction,
//!   one `Put(index, msgpack(log))` per entry, `tx.Commit()`. [src] `bbolt tx.go:Tx.Commit` (v1.3.7): the
//!   copy-on-write B+tree spills whole 4 KiB pages (touched leaves + their branch path), writes the freelist
//!   (`Tx.commitFreelist`, unless `NoFreelistSync`; Nomad's default is to sync it), `Tx.write` (pwrite +
//!   **fdatasync**), `Tx.writeMeta` (one meta page + **fdatasync**): **2 fsyncs** per append. Nomad opens it
//!   with `NoSync: false` ([src] `nomad/server.go:Server.setupRaft` @ v2.0.5).
//! - `wal` — [src] `raft-wal wal.go:WAL.StoreLogs` → `segment/writer.go:Writer.Append`: one frame per entry
//!   (8-byte header, payload padded to 8 bytes, [src] `segment/format.go` `frameHeaderLen = 8`), then
//!   `appendCommit` (an 8-byte commit frame) and one `sync()`: **1 fsync** per append. raft-wal's README:
//!   "only one fsync per append vs two in BoltDB". Available in Nomad from v2.0.0 (opt-in, #27493).
//!
//! **Disks** ([`StorageClass`] → [`DiskProfile`]): an fsync latency distribution (log-normal), a sequential
//! write bandwidth and, for EBS, an IOPS cap. AWS publishes volume classes, IOPS and throughput, not fsync
//! latencies; every latency here is **[est]**, anchored on AWS's published latency classes:
//! - i3 instance-store NVMe: [doc AWS] i3.16xlarge "up to 3.3 million random read IOPS and 1.4 million write
//!   IOPS at 4 KiB, 16 GB/s sequential"; fsync median 350 µs, σ 0.35 [est] (the simulator's current
//!   `raft_fsync_median_us`).
//! - Nitro SSD instance store (i4i, m6id, c6id, r6id …): [doc AWS] i4i "up to 60% lower storage I/O latency
//!   and up to 75% lower latency variability compared to I3"; median 140 µs (= 0.4 × i3), σ 0.25 [est].
//! - EBS gp3: [doc AWS] baseline 3,000 IOPS and 125 MiB/s (provisionable to 16,000 IOPS / 1,000 MiB/s),
//!   "single-digit millisecond latency"; fsync median 1.5 ms, σ 0.5 [est: ≈ 0.5–1 ms per 4 KiB EBS write, and
//!   an appending fdatasync is two device writes (data + filesystem journal)].
//! - EBS io2 Block Express: [doc AWS] "sub-millisecond latency", up to 256,000 IOPS and 4,000 MiB/s per
//!   volume; median 600 µs, σ 0.35 [est]; defaults 16,000 IOPS and 1,000 MiB/s as provisioned [est].
//! - EBS gp2 / io1: [doc AWS] "single-digit millisecond"; median 2 ms, σ 0.6 [est]; 3,000 IOPS, 250 MiB/s.
//!
//! A `StoreLogs` takes `Σ_fsyncs fsync_sample + bytes / bandwidth`, and at least `ios / iops_cap` on EBS
//! (EBS counts each I/O up to 256 KiB as one operation [doc AWS]). Everything is integer nanoseconds; the
//! only floating point is the log-normal draw, from a caller-supplied seeded RNG.

use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

/// Bytes of a bbolt page ([src] bbolt uses the OS page size, 4 KiB on x86-64 Linux).
pub(crate) const BOLT_PAGE_BYTES: u64 = 4096;
/// raft-wal frame header ([src] `segment/format.go` `frameHeaderLen`).
pub(crate) const WAL_FRAME_HEADER_BYTES: u64 = 8;
/// msgpack overhead of a `raft.Log` around its `Data` (Index, Term, Type, Extensions, AppendedAt). [est]
pub(crate) const LOG_ENCODING_OVERHEAD_BYTES: u64 = 40;
/// Largest I/O EBS counts as one operation ([doc AWS] 256 KiB for SSD volumes).
pub(crate) const EBS_IO_BYTES: u64 = 256 * 1024;

/// The Raft log store backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LogStoreKind {
    /// raft-boltdb on bbolt (every Nomad version; default).
    BoltDb,
    /// hashicorp/raft-wal (Nomad ≥ 2.0.0, `raft_logstore { backend = "wal" }`).
    RaftWal,
}

/// What one `StoreLogs` call does to the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct StoreLogsIo {
    /// Bytes written (including page rounding, metadata and framing).
    pub(crate) bytes: u64,
    /// fsync/fdatasync calls, each a full device flush, in sequence.
    pub(crate) fsyncs: u32,
    /// Device I/O operations as EBS counts them (≤ 256 KiB each).
    pub(crate) ios: u32,
}

/// Tunables of the bbolt log store model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BoltTuning {
    /// Branch pages rewritten per commit besides the leaves (B+tree depth − 1). [est] 2 for a log bucket of
    /// up to ~10⁶ entries at ~100 keys per branch page.
    pub(crate) branch_pages: u64,
    /// Freelist pages written per commit ([src] `Tx.commitFreelist` unless `NoFreelistSync`); grows after
    /// log compaction leaves free pages. [est] 1.
    pub(crate) freelist_pages: u64,
    /// Bytes per leaf element header + key ([src] bbolt `leafPageElementSize` 16 + 8-byte index key).
    pub(crate) per_entry_bytes: u64,
}

impl Default for BoltTuning {
    fn default() -> Self {
        BoltTuning {
            branch_pages: 2,
            freelist_pages: 1,
            per_entry_bytes: 24,
        }
    }
}

fn div_ceil(a: u64, b: u64) -> u64 {
    a.div_ceil(b.max(1))
}

impl LogStoreKind {
    /// Parses `"boltdb"` or `"wal"` (Nomad's `raft_logstore.backend` values).
    pub(crate) fn parse(s: &str) -> Result<Self, String> {
        match s.trim() {
            "boltdb" => Ok(LogStoreKind::BoltDb),
            "wal" => Ok(LogStoreKind::RaftWal),
            other => Err(format!(
                "unknown Raft log store {other:?}: expected \"boltdb\" or \"wal\""
            )),
        }
    }

    /// Nomad's name for it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            LogStoreKind::BoltDb => "boltdb",
            LogStoreKind::RaftWal => "wal",
        }
    }

    /// The I/O of one `StoreLogs` of `entries` logs whose `Data` totals `payload_bytes`.
    pub(crate) fn store_logs_io(
        self,
        entries: u32,
        payload_bytes: u64,
        bolt: &BoltTuning,
    ) -> StoreLogsIo {
        if entries == 0 {
            return StoreLogsIo::default();
        }
        let n = entries as u64;
        let encoded = payload_bytes + n * LOG_ENCODING_OVERHEAD_BYTES;
        match self {
            LogStoreKind::BoltDb => {
                // Leaves (and overflow pages for large values) rewritten whole, plus the branch path,
                // freelist and finally the meta page; two fdatasyncs (after the data pages, after meta).
                let leaf_pages =
                    div_ceil(encoded + n * bolt.per_entry_bytes, BOLT_PAGE_BYTES).max(1);
                let data = (leaf_pages + bolt.branch_pages + bolt.freelist_pages) * BOLT_PAGE_BYTES;
                let meta = BOLT_PAGE_BYTES;
                StoreLogsIo {
                    bytes: data + meta,
                    fsyncs: 2,
                    ios: (div_ceil(data, EBS_IO_BYTES) + 1) as u32,
                }
            }
            LogStoreKind::RaftWal => {
                // One frame per entry: header + payload padded to 8 bytes (≈ 4 bytes of padding on
                // average), then the commit frame and one fsync.
                let frames = encoded + n * (WAL_FRAME_HEADER_BYTES + 4) + WAL_FRAME_HEADER_BYTES;
                StoreLogsIo {
                    bytes: frames,
                    fsyncs: 1,
                    ios: div_ceil(frames, EBS_IO_BYTES) as u32,
                }
            }
        }
    }
}

/// Storage classes a Nomad server's data dir can sit on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StorageClass {
    /// i3 instance-store NVMe (C2M's servers).
    InstanceNvmeI3,
    /// Nitro SSD instance store (i4i, m6id, c6id, r6id, m7gd …).
    InstanceNitroSsd,
    /// EBS gp3 at its baseline (3,000 IOPS, 125 MiB/s).
    EbsGp3,
    /// EBS io2 Block Express.
    EbsIo2,
    /// EBS gp2 / io1 (older general-purpose).
    EbsGp2,
}

/// Timing of one disk.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct DiskProfile {
    /// Median fsync latency, ns. [est] per class (module docs).
    pub(crate) fsync_median_ns: u64,
    /// Log-normal σ of the fsync latency. [est]
    pub(crate) fsync_sigma: f64,
    /// Sequential write bandwidth, bytes/s.
    pub(crate) write_bytes_per_s: u64,
    /// I/O operations per second the volume allows (0 = no cap modelled, instance store).
    pub(crate) iops_cap: u32,
}

impl StorageClass {
    /// Every class, for listings and tests.
    pub(crate) const ALL: [StorageClass; 5] = [
        StorageClass::InstanceNvmeI3,
        StorageClass::InstanceNitroSsd,
        StorageClass::EbsGp3,
        StorageClass::EbsIo2,
        StorageClass::EbsGp2,
    ];

    /// The scenario name of the class.
    pub(crate) fn name(self) -> &'static str {
        match self {
            StorageClass::InstanceNvmeI3 => "nvme-i3",
            StorageClass::InstanceNitroSsd => "nvme-nitro",
            StorageClass::EbsGp3 => "gp3",
            StorageClass::EbsIo2 => "io2",
            StorageClass::EbsGp2 => "gp2",
        }
    }

    /// Parses a scenario name (`nvme-i3`, `nvme-nitro`, `gp3`, `io2`, `gp2`; `nvme` = `nvme-i3`).
    pub(crate) fn parse(s: &str) -> Result<Self, String> {
        let t = s.trim();
        if t == "nvme" {
            return Ok(StorageClass::InstanceNvmeI3);
        }
        StorageClass::ALL
            .iter()
            .copied()
            .find(|c| c.name() == t)
            .ok_or_else(|| {
                format!(
                    "unknown storage class {t:?}: expected one of nvme, nvme-i3, nvme-nitro, gp3, io2, gp2"
                )
            })
    }

    /// The class a server of `instance_type` with `nvme_gb` of instance storage would put its data dir on:
    /// instance store when it has one (i3 family → i3 NVMe, others → Nitro SSD), else gp3.
    pub(crate) fn default_for_instance(instance_type: &str, nvme_gb: u32) -> Self {
        if nvme_gb == 0 {
            StorageClass::EbsGp3
        } else if instance_type.starts_with("i3") {
            StorageClass::InstanceNvmeI3
        } else {
            StorageClass::InstanceNitroSsd
        }
    }

    /// The default timing of the class (module docs for sources).
    pub(crate) fn profile(self) -> DiskProfile {
        const MIB: u64 = 1024 * 1024;
        match self {
            StorageClass::InstanceNvmeI3 => DiskProfile {
                fsync_median_ns: 350_000,
                fsync_sigma: 0.35,
                write_bytes_per_s: 1_000_000_000,
                iops_cap: 0,
            },
            StorageClass::InstanceNitroSsd => DiskProfile {
                fsync_median_ns: 140_000,
                fsync_sigma: 0.25,
                write_bytes_per_s: 2_000_000_000,
                iops_cap: 0,
            },
            StorageClass::EbsGp3 => DiskProfile {
                fsync_median_ns: 1_500_000,
                fsync_sigma: 0.5,
                write_bytes_per_s: 125 * MIB,
                iops_cap: 3_000,
            },
            StorageClass::EbsIo2 => DiskProfile {
                fsync_median_ns: 600_000,
                fsync_sigma: 0.35,
                write_bytes_per_s: 1_000 * MIB,
                iops_cap: 16_000,
            },
            StorageClass::EbsGp2 => DiskProfile {
                fsync_median_ns: 2_000_000,
                fsync_sigma: 0.6,
                write_bytes_per_s: 250 * MIB,
                iops_cap: 3_000,
            },
        }
    }
}

impl DiskProfile {
    /// One fsync latency for the standard-normal draw `z`, ns.
    pub(crate) fn fsync_ns_at(&self, z: f64) -> u64 {
        let v = self.fsync_median_ns as f64 * (self.fsync_sigma * z).exp();
        if v.is_finite() && v > 0.0 {
            v.round() as u64
        } else {
            self.fsync_median_ns
        }
    }

    /// One fsync latency drawn from `rng`, ns.
    pub(crate) fn draw_fsync_ns<R: Rng + ?Sized>(&self, rng: &mut R) -> u64 {
        let z: f64 = StandardNormal.sample(rng);
        self.fsync_ns_at(z)
    }

    /// Time to transfer `bytes` at the write bandwidth, ns.
    pub(crate) fn transfer_ns(&self, bytes: u64) -> u64 {
        ((bytes as u128 * 1_000_000_000) / self.write_bytes_per_s.max(1) as u128) as u64
    }

    /// The floor the IOPS cap puts on `ios` operations, ns (0 without a cap).
    pub(crate) fn iops_floor_ns(&self, ios: u32) -> u64 {
        if self.iops_cap == 0 {
            0
        } else {
            ios as u64 * 1_000_000_000 / self.iops_cap as u64
        }
    }

    /// Duration of a `StoreLogs` with I/O `io`, drawing one fsync latency per fsync from `rng`, ns.
    pub(crate) fn store_ns<R: Rng + ?Sized>(&self, io: StoreLogsIo, rng: &mut R) -> u64 {
        let mut t = self.transfer_ns(io.bytes);
        for _ in 0..io.fsyncs {
            t += self.draw_fsync_ns(rng);
        }
        t.max(self.iops_floor_ns(io.ios))
    }

    /// Duration of a `StoreLogs` at the median of every fsync (no randomness), ns.
    pub(crate) fn store_median_ns(&self, io: StoreLogsIo) -> u64 {
        (self.transfer_ns(io.bytes) + io.fsyncs as u64 * self.fsync_median_ns)
            .max(self.iops_floor_ns(io.ios))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::stream;

    #[test]
    fn boltdb_pays_two_fsyncs_and_whole_pages_wal_one_and_frames() {
        let b = BoltTuning::default();
        let bolt = LogStoreKind::BoltDb.store_logs_io(1, 600, &b);
        assert_eq!(bolt.fsyncs, 2);
        // one leaf + 2 branch + 1 freelist + meta page
        assert_eq!(bolt.bytes, 5 * BOLT_PAGE_BYTES);
        let wal = LogStoreKind::RaftWal.store_logs_io(1, 600, &b);
        assert_eq!(wal.fsyncs, 1);
        assert_eq!(wal.bytes, 600 + 40 + 12 + 8);
        assert!(wal.bytes < bolt.bytes);
        assert_eq!(
            LogStoreKind::BoltDb.store_logs_io(0, 0, &b),
            StoreLogsIo::default()
        );
    }

    #[test]
    fn batch_of_64_costs_the_fsyncs_of_one() {
        let b = BoltTuning::default();
        for kind in [LogStoreKind::BoltDb, LogStoreKind::RaftWal] {
            let one = kind.store_logs_io(1, 500, &b);
            let many = kind.store_logs_io(64, 64 * 500, &b);
            assert_eq!(one.fsyncs, many.fsyncs, "{kind:?}");
            assert!(many.bytes > one.bytes);
            let d = StorageClass::EbsGp3.profile();
            assert!(
                d.store_median_ns(many) < 64 * d.store_median_ns(one) / 8,
                "{kind:?}: group commit amortises fsync"
            );
        }
    }

    #[test]
    fn bolt_large_values_spill_into_more_pages() {
        let b = BoltTuning::default();
        let big = LogStoreKind::BoltDb.store_logs_io(1, 600_000, &b);
        assert!(big.bytes >= 600_000);
        assert_eq!(big.bytes % BOLT_PAGE_BYTES, 0);
        assert!(big.ios >= 3, "{big:?}");
    }

    #[test]
    fn ebs_is_slower_than_nvme_and_io2_between() {
        let io = LogStoreKind::BoltDb.store_logs_io(4, 4 * 800, &BoltTuning::default());
        let t = |c: StorageClass| c.profile().store_median_ns(io);
        assert!(t(StorageClass::InstanceNitroSsd) < t(StorageClass::InstanceNvmeI3));
        assert!(t(StorageClass::InstanceNvmeI3) < t(StorageClass::EbsIo2));
        assert!(t(StorageClass::EbsIo2) < t(StorageClass::EbsGp3));
        assert!(t(StorageClass::EbsGp3) < t(StorageClass::EbsGp2));
        // and on random draws, gp3's mean is several times i3's
        let mut r1 = stream(7, "disk");
        let mut r2 = stream(7, "disk");
        let n = 2_000u64;
        let nvme: u64 = (0..n)
            .map(|_| StorageClass::InstanceNvmeI3.profile().store_ns(io, &mut r1))
            .sum();
        let gp3: u64 = (0..n)
            .map(|_| StorageClass::EbsGp3.profile().store_ns(io, &mut r2))
            .sum();
        assert!(gp3 > 3 * nvme, "gp3 {gp3} vs nvme {nvme}");
    }

    #[test]
    fn draws_are_deterministic_and_lognormal_around_the_median() {
        let d = StorageClass::EbsGp3.profile();
        let mut a = stream(1, "fsync");
        let mut b = stream(1, "fsync");
        let xs: Vec<u64> = (0..1001).map(|_| d.draw_fsync_ns(&mut a)).collect();
        let ys: Vec<u64> = (0..1001).map(|_| d.draw_fsync_ns(&mut b)).collect();
        assert_eq!(xs, ys);
        let mut s = xs.clone();
        s.sort_unstable();
        let med = s[500] as f64;
        assert!(
            (med / d.fsync_median_ns as f64 - 1.0).abs() < 0.1,
            "median {med}"
        );
        assert_eq!(d.fsync_ns_at(0.0), d.fsync_median_ns);
        assert!(d.fsync_ns_at(1.0) > d.fsync_median_ns);
    }

    #[test]
    fn iops_cap_floors_many_small_ios() {
        let d = StorageClass::EbsGp3.profile();
        let io = StoreLogsIo {
            bytes: 0,
            fsyncs: 0,
            ios: 30,
        };
        assert_eq!(
            d.store_median_ns(io),
            10_000_000,
            "30 IOs at 3,000 IOPS = 10 ms"
        );
        assert_eq!(StorageClass::InstanceNvmeI3.profile().iops_floor_ns(30), 0);
    }

    #[test]
    fn names_parse_and_instances_pick_their_disk() {
        for c in StorageClass::ALL {
            assert_eq!(StorageClass::parse(c.name()), Ok(c));
        }
        assert_eq!(
            StorageClass::parse("nvme"),
            Ok(StorageClass::InstanceNvmeI3)
        );
        let e = StorageClass::parse("floppy").unwrap_err();
        assert!(e.contains("floppy") && e.contains("gp3"), "{e}");
        assert_eq!(LogStoreKind::parse("wal"), Ok(LogStoreKind::RaftWal));
        assert!(LogStoreKind::parse("rocksdb").is_err());
        assert_eq!(
            StorageClass::default_for_instance("i3.16xlarge", 15_200),
            StorageClass::InstanceNvmeI3
        );
        assert_eq!(
            StorageClass::default_for_instance("m5.2xlarge", 0),
            StorageClass::EbsGp3
        );
        assert_eq!(
            StorageClass::default_for_instance("i4i.4xlarge", 3_750),
            StorageClass::InstanceNitroSsd
        );
    }
}
