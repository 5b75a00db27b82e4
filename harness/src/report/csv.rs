//! `summary.csv`: the summary as `key,value` rows; keys are dotted paths into `run.json`'s `summary`
//! (`latency_ms.submit_to_running.p99`), values in the units documented there.

use anyhow::{Context, Result};
use stampede_sim::record::{csv_field, fmt_f64, RunRecord};

use super::Exporter;

pub(super) struct CsvExporter;

impl Exporter for CsvExporter {
    fn serialize(&self, rec: &RunRecord) -> Result<Vec<u8>> {
        let mut rows: Vec<(String, String)> = vec![
            ("run_id".into(), rec.meta.run_id.clone()),
            ("scenario".into(), rec.meta.scenario.name.clone()),
            ("source".into(), rec.meta.source.as_str().into()),
            (
                "seed".into(),
                rec.meta.seed.map(|s| s.to_string()).unwrap_or_default(),
            ),
            ("nomad_version".into(), rec.meta.nomad_version.clone()),
            ("duration_s".into(), fmt_f64(rec.meta.duration_s)),
        ];
        let v = serde_json::to_value(&rec.meta.summary).context("serialising the summary")?;
        flatten("", &v, &mut rows);
        let mut out = String::from("key,value\n");
        for (k, v) in rows {
            out.push_str(&format!("{},{}\n", csv_field(&k), csv_field(&v)));
        }
        Ok(out.into_bytes())
    }
}

fn flatten(prefix: &str, v: &serde_json::Value, out: &mut Vec<(String, String)>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, x, out);
            }
        }
        serde_json::Value::Number(n) => {
            let s = match n.as_f64() {
                Some(f) if n.is_f64() => fmt_f64(f),
                _ => n.to_string(),
            };
            out.push((prefix.to_string(), s));
        }
        serde_json::Value::Bool(b) => out.push((prefix.to_string(), b.to_string())),
        serde_json::Value::String(s) => out.push((prefix.to_string(), s.clone())),
        serde_json::Value::Null => out.push((prefix.to_string(), String::new())),
        serde_json::Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                flatten(&format!("{prefix}.{i}"), x, out);
            }
        }
    }
}
