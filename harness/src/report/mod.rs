//! Reports (being built).

/// Writes summary.md and report.html beside a record (being built: does nothing yet).
pub fn write_reports(_dir: &std::path::Path, _rec: &stampede_sim::record::RunRecord) -> anyhow::Result<()> {
    Ok(())
}
