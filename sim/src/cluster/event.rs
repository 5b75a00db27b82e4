//! The events of the cluster core.

#[derive(Debug, Clone, Copy)]
pub(super) enum Ev {
    RequestArrive(u64),
    DiskDone,
    Applied(u32),
    WorkerDone(u32),
    VerifyDone(u32),
    AllocNotice(u32),
    TaskStarted(u32),
    TaskExited(u32, u32),
    ClientFlush(u32),
    ServerFlush,
    Second,
    NodeDeath(u32),
    NodeDetected(u32),
    SpotNotice(u32),
    Fault(u32),
    AutoscaleTick(u32),
    NodeReady(u32),
    NackTimeout(u32, u64),
    Redeliver(u32),
    Unblock,
    Reschedule(u32),
    ElectionDone,
    AllocKilled(u32),
}

impl Ev {
    /// Background events do not keep a run alive.
    pub(super) fn background(&self) -> bool {
        matches!(
            self,
            Ev::Second | Ev::AutoscaleTick(_) | Ev::NodeDeath(_) | Ev::Fault(_)
        )
    }
}
