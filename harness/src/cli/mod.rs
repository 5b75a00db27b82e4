//! One file per subcommand: its argument struct and its top level.

pub mod bench;
pub mod compare;
pub mod cost;
pub mod emulate;
pub mod plan;
pub mod provision;
pub mod report;
pub mod run;
pub mod sim;
pub mod trace;

/// Reads and parses a trace file (CSV by extension `.csv`, JSON Lines otherwise), naming the file in errors.
pub fn load_trace(path: &std::path::Path) -> anyhow::Result<stampede_sim::trace::Trace> {
    use anyhow::Context;
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading trace {}", path.display()))?;
    let origin = path.display().to_string();
    let t = if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
    {
        stampede_sim::trace::csv::parse_csv_named(&text, &origin)
    } else {
        stampede_sim::trace::format::parse_jsonl_named(&text, &origin)
    };
    Ok(t?)
}

/// A job source replaying a trace file (JSON Lines or CSV).
pub fn trace_source(
    path: &std::path::Path,
) -> anyhow::Result<Box<dyn stampede_sim::workload::JobSource>> {
    trace_source_factory(path)?()
}

/// A factory of job sources replaying one trace file, parsed once and shared across threads.
pub type TraceSourceFactory = std::sync::Arc<
    dyn Fn() -> anyhow::Result<Box<dyn stampede_sim::workload::JobSource>> + Send + Sync,
>;

/// Loads a trace once and returns a factory of sources replaying it.
pub fn trace_source_factory(path: &std::path::Path) -> anyhow::Result<TraceSourceFactory> {
    let trace = std::sync::Arc::new(load_trace(path)?);
    let label = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(std::sync::Arc::new(move || {
        Ok(Box::new(stampede_sim::workload::TraceSource::new(
            trace.clone(),
            &label,
        )) as Box<dyn stampede_sim::workload::JobSource>)
    }))
}
