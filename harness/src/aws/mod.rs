//! Provisioning real fleets on EC2, safe by construction.
//!
//! | module | what | feature |
//! |---|---|---|
//! | [`plan`] | the request ([`ProvisionSpec`]) and the typed plan it resolves to: capacity per region, instance/cost bounds, guardrails, AMIs, `--dry-run` text | always |
//! | [`journal`] | the fsynced JSON-lines journal written before every create call | always |
//! | `ec2` | provision / teardown / inventory / interruption poller against EC2 and Auto Scaling | `aws` |
//! | `session` | whole sessions shared by `provision`, `teardown` and `run --provision`: guardrails, provision, wait for nodes; teardown and its summary | `aws` |
//!
//! Safety rules: a run id is required and tags every resource (`stampede:run-id`) in the create call itself;
//! the guardrails are checked against *upper bounds* before any call; the journal is fsynced before each
//! create; teardown finds everything by tag in every region and is idempotent.

pub mod journal;
pub mod plan;

#[cfg(feature = "aws")]
mod ec2;
#[cfg(feature = "aws")]
pub mod session;
#[cfg(feature = "aws")]
pub mod spot_prices;

#[cfg(feature = "aws")]
pub use ec2::{
    inventory, launch_template_name, poll_interruptions, provision, teardown, wait_for_nodes,
    write_manifest, AwsTarget, InterruptionPoller, ProvisionRequest, ProvisionedFleet,
    ProvisionedInstance, ProvisionedRegion, RegionClients, RegionInventory, RegionTeardown,
    TeardownReport,
};
pub use plan::{
    Guardrails, InstanceChoice, ProvisionPlan, ProvisionSpec, ResolvedProvision, RUN_ID_TAG,
};

/// The message of a real AWS call in a build without the `aws` feature.
pub const NO_AWS_FEATURE: &str =
    "built without the `aws` feature; rebuild with `cargo build --features aws`";
