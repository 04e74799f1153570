//! `--json`: the whole [`RunReport`] (every figure, settings, machine) as pretty JSON.

use std::path::Path;

use anyhow::Context;

use crate::report::RunReport;

pub fn to_string(report: &RunReport) -> anyhow::Result<String> {
    serde_json::to_string_pretty(report).context("serializing the report")
}

pub fn write(report: &RunReport, path: &Path) -> anyhow::Result<()> {
    std::fs::write(path, to_string(report)? + "\n")
        .with_context(|| format!("writing {}", path.display()))
}
