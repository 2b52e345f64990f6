//! The files a run or `edgecheck report` writes (`--json`, `--junit`, `--report`,
//! `--summary`, and the request bodies too long for a `curl` line, beside the report),
//! checked before anything runs, and the exit code the gate gives.

use std::path::{Path, PathBuf};

use super::error::{CliError, EXIT_FAIL, EXIT_INTERNAL, EXIT_OK, EXIT_USAGE};
use crate::catalogue::requirements::Requirements;
use crate::report::gate::{self, Outcome};
use crate::report::reproduce::BodyFiles;
use crate::report::summary::{self, WrittenReport};
use crate::report::{html, json, junit, markdown, Results};

/// Format of `--report`, from the file's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportFormat {
    /// `.md`, `.markdown`.
    Markdown,
    /// `.html`, `.htm`.
    Html,
}

/// Output files requested.
#[derive(Debug, Clone, Default)]
pub struct Outputs {
    /// `--json`.
    pub json: Option<PathBuf>,
    /// `--junit`.
    pub junit: Option<PathBuf>,
    /// `--report`, with its format.
    pub report: Option<(PathBuf, ReportFormat)>,
    /// `--summary`: the short Markdown summary for a pull-request comment.
    pub summary: Option<PathBuf>,
}

fn format_of(path: &Path) -> Result<ReportFormat, CliError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("md" | "markdown") => Ok(ReportFormat::Markdown),
        Some("html" | "htm") => Ok(ReportFormat::Html),
        _ => Err(CliError::usage(format!(
            "--report {}: the format comes from the extension; use .md or .html",
            path.display()
        ))),
    }
}

impl Outputs {
    /// Check the requested outputs (formats, distinct paths) before running anything.
    pub fn new(
        json: Option<PathBuf>,
        junit: Option<PathBuf>,
        report: Option<PathBuf>,
    ) -> Result<Outputs, CliError> {
        Outputs::with_summary(json, junit, report, None)
    }

    /// [`Outputs::new`] with `--summary` too.
    pub fn with_summary(
        json: Option<PathBuf>,
        junit: Option<PathBuf>,
        report: Option<PathBuf>,
        summary: Option<PathBuf>,
    ) -> Result<Outputs, CliError> {
        let report = match report {
            Some(p) => Some((p.clone(), format_of(&p)?)),
            None => None,
        };
        let paths: Vec<&PathBuf> = [
            json.as_ref(),
            junit.as_ref(),
            report.as_ref().map(|r| &r.0),
            summary.as_ref(),
        ]
        .into_iter()
        .flatten()
        .collect();
        for (i, p) in paths.iter().enumerate() {
            if paths[..i].contains(p) {
                return Err(CliError::usage(format!(
                    "{} is given for two outputs; give each output its own file",
                    p.display()
                )));
            }
            if p.is_dir() {
                return Err(CliError::usage(format!(
                    "{} is a directory; give a file name",
                    p.display()
                )));
            }
        }
        Ok(Outputs {
            json,
            junit,
            report,
            summary,
        })
    }

    /// The request bodies of `results` too long for a `curl` line: planned beside the report
    /// (`<report-stem>.bodies/`), or none without `--report`. The terminal and every output
    /// render `curl` lines from this one plan; [`Outputs::write`] writes the files.
    pub fn body_files(&self, results: &Results) -> BodyFiles {
        match &self.report {
            Some((p, _)) => BodyFiles::plan(results, p),
            None => BodyFiles::none(),
        }
    }

    /// Write every requested output, and the body files of `bodies` (from
    /// [`Outputs::body_files`]). A failure to write one does not stop the others; the
    /// messages are returned.
    pub fn write(
        &self,
        results: &Results,
        catalogue: &Requirements,
        bodies: &BodyFiles,
    ) -> Vec<String> {
        let mut errors = Vec::new();
        if let Some(p) = &self.json {
            if let Err(e) = json::write(results, p) {
                errors.push(e.to_string());
            }
        }
        if let Err(e) = bodies.write() {
            errors.push(e.to_string());
        }
        if let Some(p) = &self.junit {
            if let Err(e) = junit::write(results, catalogue, bodies, p) {
                errors.push(e.to_string());
            }
        }
        if let Some((p, f)) = &self.report {
            let text = match f {
                ReportFormat::Markdown => markdown::render_with(results, catalogue, bodies),
                ReportFormat::Html => html::render_with(results, catalogue, bodies),
            };
            if let Err(e) = std::fs::write(p, text) {
                errors.push(format!("cannot write {}: {e}", p.display()));
            }
        }
        if let Some(p) = &self.summary {
            let text = summary::render(results, &self.written_reports());
            if let Err(e) = std::fs::write(p, text) {
                errors.push(format!("cannot write {}: {e}", p.display()));
            }
        }
        errors
    }

    /// The full reports this run writes, as the summary names them.
    pub fn written_reports(&self) -> Vec<WrittenReport> {
        let mut out = Vec::new();
        let mut add = |kind: &str, p: &Path| {
            out.push(WrittenReport {
                kind: kind.into(),
                name: p.display().to_string(),
            })
        };
        if let Some((p, f)) = &self.report {
            let kind = match f {
                ReportFormat::Markdown => "Markdown report",
                ReportFormat::Html => "HTML report",
            };
            add(kind, p);
        }
        if let Some(p) = &self.junit {
            add("JUnit XML", p);
        }
        if let Some(p) = &self.json {
            add("results (JSON)", p);
        }
        out
    }
}

/// The exit code of results: 0 pass, 1 failures (stale or expired baseline entries too),
/// 2 nothing judged, 4 some checks ended in `error` (the suite or the network failed).
pub fn exit_code(results: &Results) -> i32 {
    match gate::evaluate(results).outcome {
        Outcome::Pass => EXIT_OK,
        Outcome::Fail => EXIT_FAIL,
        Outcome::NothingRan => EXIT_USAGE,
        Outcome::Errors => EXIT_INTERNAL,
    }
}
