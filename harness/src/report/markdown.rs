//! `summary.md`: the summary tables as GitHub-flavoured Markdown.

use anyhow::Result;
use stampede_sim::record::RunRecord;

use super::tables::{self, Table};
use super::Exporter;

pub(super) struct MarkdownExporter;

impl Exporter for MarkdownExporter {
    fn serialize(&self, rec: &RunRecord) -> Result<Vec<u8>> {
        Ok(render(rec).into_bytes())
    }
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn table(out: &mut String, t: &Table) {
    out.push_str(&format!("## {}\n\n", t.title));
    if t.rows.is_empty() {
        out.push_str("_none_\n\n");
        return;
    }
    let header: Vec<String> = t.header.iter().map(|h| cell(h)).collect();
    out.push_str(&format!("| {} |\n", header.join(" | ")));
    let align: Vec<&str> = (0..t.header.len())
        .map(|i| if i == 0 { ":---" } else { "---:" })
        .collect();
    out.push_str(&format!("|{}|\n", align.join("|")));
    for r in &t.rows {
        let cells: Vec<String> = r.iter().map(|c| cell(c)).collect();
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    out.push('\n');
    if let Some(n) = &t.note {
        out.push_str(&format!("{n}\n\n"));
    }
}

/// The whole `summary.md`.
pub(crate) fn render(rec: &RunRecord) -> String {
    let meta = &rec.meta;
    let mut out = format!(
        "# stampede run `{}`: {}\n\n",
        meta.run_id, meta.scenario.name
    );
    if let Some(c) = meta.calibration_statement() {
        out.push_str(&format!("_{c}_\n\n"));
    }
    out.push_str(&format!("**{}**\n\n", tables::headline(meta)));
    for t in tables::all(meta) {
        table(&mut out, &t);
    }
    out.push_str(&format!(
        "_Charts: open `report.html` beside this file. Record: {} allocation rows, {} metric rows, {} node rows._\n",
        tables::int(rec.allocs.len() as u64),
        tables::int(rec.metrics.len() as u64),
        tables::int(rec.nodes.len() as u64)
    ));
    out
}
