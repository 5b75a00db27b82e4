//! `report.html`: one self-contained page (inline CSS and SVG, no script, no external asset) that opens from
//! disk: headline, SLO verdict, what ran, key figures, the five charts, then the detail tables.

use anyhow::Result;
use stampede_sim::record::RunRecord;

use super::charts::{self, Chart};
use super::tables::{self, Table};
use super::Exporter;

pub(super) struct HtmlExporter;

impl Exporter for HtmlExporter {
    fn serialize(&self, rec: &RunRecord) -> Result<Vec<u8>> {
        let charts = charts::render_all(rec)?;
        Ok(render(rec, &charts).into_bytes())
    }
}

/// Escapes text for HTML element content and attribute values.
pub(crate) fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '&' => o.push_str("&amp;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            _ => o.push(c),
        }
    }
    o
}

/// The page's style sheet.
pub(crate) const CSS: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0 auto;max-width:1160px;padding:16px 24px;color:#1d1d1f;background:#fff}
h1{font-size:1.6em;margin:.4em 0}h2{font-size:1.25em;margin:1.4em 0 .5em;border-bottom:1px solid #ddd;padding-bottom:.2em}
.headline{font-size:1.1em;background:#f4f7fb;border-left:4px solid #0072b2;padding:10px 14px}
table{border-collapse:collapse;margin:.4em 0 .6em;font-size:.93em}th,td{border:1px solid #ddd;padding:4px 10px;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
.kv td:first-child{color:#444}.kv td:last-child{text-align:left}
.met{color:#096b2e;font-weight:600}.missed{color:#b00020;font-weight:700}
.note{color:#555;font-size:.9em;margin:.2em 0 1em}
figure{margin:1em 0 2em}figcaption{color:#444;font-size:.92em;max-width:1100px;margin-top:.3em}
svg{max-width:100%;height:auto;display:block}nav a{margin-right:1em}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:0 32px}@media(max-width:900px){.grid{grid-template-columns:1fr}}";

fn table(out: &mut String, t: &Table) {
    let id = t
        .title
        .to_lowercase()
        .replace(|c: char| !c.is_ascii_alphanumeric(), "-");
    let kv = t.header.first().is_some_and(|h| h.is_empty());
    out.push_str(&format!(
        "<section id=\"t-{}\"><h2>{}</h2>",
        esc(&id),
        esc(&t.title)
    ));
    if t.rows.is_empty() {
        out.push_str("<p class=\"note\">none</p></section>\n");
        return;
    }
    out.push_str(if kv {
        "<table class=\"kv\">"
    } else {
        "<table>"
    });
    if !kv {
        out.push_str("<thead><tr>");
        for h in &t.header {
            out.push_str(&format!("<th>{}</th>", esc(h)));
        }
        out.push_str("</tr></thead>");
    }
    out.push_str("<tbody>");
    for r in &t.rows {
        out.push_str("<tr>");
        for c in r {
            let class = match c.as_str() {
                "met" => " class=\"met\"",
                "MISSED" => " class=\"missed\"",
                _ => "",
            };
            out.push_str(&format!("<td{class}>{}</td>", esc(c)));
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
    if let Some(n) = &t.note {
        out.push_str(&format!("<p class=\"note\">{}</p>", esc(n)));
    }
    out.push_str("</section>\n");
}

fn figure(out: &mut String, c: &Chart) {
    out.push_str(&format!(
        "<figure id=\"{}\"><h2>{}</h2>\n{}\n<figcaption>{}</figcaption></figure>\n",
        c.id,
        esc(c.title),
        c.svg,
        esc(&c.caption)
    ));
}

/// The page: `charts` go between the key tables and the details.
pub(crate) fn render(rec: &RunRecord, charts: &[Chart]) -> String {
    let meta = &rec.meta;
    let title = format!("stampede run {}: {}", meta.run_id, meta.scenario.name);
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{}</title><style>{CSS}</style></head>\n<body>\n",
        esc(&title)
    );
    out.push_str(&format!(
        "<h1>{}</h1>\n<p class=\"headline\">{}</p>\n",
        esc(&title),
        esc(&tables::headline(meta))
    ));
    if let Some(c) = meta.calibration_statement() {
        out.push_str(&format!("<p class=\"calibration\">{}</p>\n", esc(&c)));
    }
    out.push_str("<nav>");
    for c in charts {
        out.push_str(&format!("<a href=\"#{}\">{}</a>", c.id, esc(c.title)));
    }
    out.push_str("</nav>\n");
    let all = tables::all(meta);
    let (first, rest): (Vec<&Table>, Vec<&Table>) = all.iter().partition(|t| {
        [
            "SLO verdict",
            "What ran",
            "Totals and throughput",
            "Latency (ms)",
        ]
        .contains(&t.title.as_str())
    });
    for t in first.iter().filter(|t| t.title == "SLO verdict") {
        table(&mut out, t);
    }
    out.push_str("<div class=\"grid\"><div>");
    for t in first.iter().filter(|t| t.title == "What ran") {
        table(&mut out, t);
    }
    out.push_str("</div><div>");
    for t in first
        .iter()
        .filter(|t| t.title == "Totals and throughput" || t.title == "Latency (ms)")
    {
        table(&mut out, t);
    }
    out.push_str("</div></div>\n");
    for c in charts {
        figure(&mut out, c);
    }
    for t in rest {
        table(&mut out, t);
    }
    out.push_str(&format!(
        "<p class=\"note\">Record: {} allocation rows, {} metric rows, {} node rows. Written by stampede {}.</p>\n</body></html>\n",
        tables::int(rec.allocs.len() as u64),
        tables::int(rec.metrics.len() as u64),
        tables::int(rec.nodes.len() as u64),
        esc(&meta.tool_version)
    ));
    out
}
