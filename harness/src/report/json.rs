//! `summary.json`: the record's `run.json` meta (identity, scenario, fleet, summary, events), exactly as
//! `run.json` spells it, so one JSON Schema (`reports/schema/run.schema.json`) describes both.

use anyhow::Result;
use stampede_sim::record::{self, RunRecord};

use super::Exporter;

pub(super) struct JsonExporter;

impl Exporter for JsonExporter {
    fn serialize(&self, rec: &RunRecord) -> Result<Vec<u8>> {
        Ok(record::run_json_string(&rec.meta).into_bytes())
    }
}
