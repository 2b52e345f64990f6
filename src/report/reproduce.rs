//! The `curl` line of a recorded exchange as the display outputs (terminal, Markdown, HTML,
//! JUnit) show it. Results keep the whole command; a display shows a body over
//! [`INLINE_BODY_MAX`] bytes as `--data-binary @FILE`, the file written once beside the
//! report by the output writer, or, without a report, as its size with a note on how to get
//! it. Header values, URLs and other arguments are cut at [`TEXT_MAX`] bytes with a
//! `…(N bytes)` marker, so no line of a display exceeds [`super::escape::LINE_MAX`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::escape::{self, TEXT_MAX};
use super::{RecordedExchange, Results};
use crate::client::shell::{quote, unquote};

/// Bodies longer than this many bytes are not written inline in a displayed `curl` line.
pub const INLINE_BODY_MAX: usize = 1024;

/// How a displayed `curl` line names a body file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Base {
    /// Relative to the report's directory (the report itself).
    Report,
    /// As seen from the working directory of the run (the terminal, JUnit).
    WorkingDir,
}

/// A request body too long for a `curl` line, to be written beside the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyFile {
    /// File name inside the bodies directory: `<check-id>-<n>.bin`.
    pub name: String,
    /// The exact bytes `curl --data-binary` sends.
    pub bytes: Vec<u8>,
}

/// Where the bodies directory is.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Dir {
    /// The directory as seen from the working directory: `out/report.bodies`.
    path: PathBuf,
    /// The directory relative to the report: `report.bodies`.
    from_report: String,
}

/// The body files of a set of results: planned from a report path, or none when no report
/// is written (long bodies are then described, not written).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BodyFiles {
    dir: Option<Dir>,
    /// By check ID and exchange index.
    files: BTreeMap<(String, usize), BodyFile>,
}

/// A body file or its directory could not be written.
#[derive(Debug, thiserror::Error)]
pub enum BodyFileError {
    /// The bodies directory could not be created.
    #[error("cannot create {}: {source}", path.display())]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A body file could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// A `curl` command split as [`crate::client::curl`] writes it: comment lines, then one
/// argument per line.
struct Command<'a> {
    comments: Vec<&'a str>,
    args: Vec<&'a str>,
}

impl<'a> Command<'a> {
    fn parse(curl: &'a str) -> Command<'a> {
        let mut comments = Vec::new();
        let mut args = Vec::new();
        for line in curl.lines() {
            if args.is_empty() && line.starts_with('#') {
                comments.push(line);
            } else {
                let arg = line.trim_start();
                args.push(arg.strip_suffix(" \\").unwrap_or(arg));
            }
        }
        Command { comments, args }
    }

    /// The body argument: its index and the bytes it sends.
    fn body(&self) -> Option<(usize, Vec<u8>)> {
        self.args.iter().enumerate().find_map(|(i, a)| {
            let word = a
                .strip_prefix("--data-binary ")
                .or_else(|| a.strip_prefix("--data-raw "))?;
            if word.starts_with('@') {
                return None;
            }
            Some((i, unquote(word)?))
        })
    }
}

/// A file-name-safe form of a check ID.
fn slug(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

impl BodyFiles {
    /// No body files: long bodies are described in `curl` lines, not written.
    pub fn none() -> BodyFiles {
        BodyFiles::default()
    }

    /// Plan the body files of `results` for a report written to `report`: every request body
    /// over [`INLINE_BODY_MAX`] bytes goes to `<report-stem>.bodies/<check-id>-<n>.bin` beside
    /// it (`n` counts the check's exchanges from 1).
    pub fn plan(results: &Results, report: &Path) -> BodyFiles {
        let stem = report
            .file_stem()
            .map_or_else(|| "report".into(), |s| s.to_string_lossy().into_owned());
        let from_report = format!("{stem}.bodies");
        let dir = Dir {
            path: report.with_file_name(&from_report),
            from_report,
        };
        let mut files = BTreeMap::new();
        let mut names = BTreeSet::new();
        for c in &results.checks {
            for (i, ex) in c.exchanges.iter().enumerate() {
                let Some((_, bytes)) = Command::parse(&ex.curl).body() else {
                    continue;
                };
                if bytes.len() <= INLINE_BODY_MAX {
                    continue;
                }
                let base = format!("{}-{}", slug(&c.id), i + 1);
                let mut name = format!("{base}.bin");
                let mut k = 2;
                while names.contains(&name) {
                    name = format!("{base}-{k}.bin");
                    k += 1;
                }
                names.insert(name.clone());
                files
                    .entry((c.id.clone(), i))
                    .or_insert(BodyFile { name, bytes });
            }
        }
        BodyFiles {
            dir: Some(dir),
            files,
        }
    }

    /// The bodies directory, when there is a report.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_ref().map(|d| d.path.as_path())
    }

    /// The planned files.
    pub fn files(&self) -> impl Iterator<Item = &BodyFile> {
        self.files.values()
    }

    /// Write every planned file (nothing, and no directory, when there is none).
    pub fn write(&self) -> Result<(), BodyFileError> {
        let Some(dir) = &self.dir else {
            return Ok(());
        };
        if self.files.is_empty() {
            return Ok(());
        }
        std::fs::create_dir_all(&dir.path).map_err(|source| BodyFileError::CreateDir {
            path: dir.path.clone(),
            source,
        })?;
        for f in self.files.values() {
            let path = dir.path.join(&f.name);
            std::fs::write(&path, &f.bytes)
                .map_err(|source| BodyFileError::Write { path, source })?;
        }
        Ok(())
    }

    /// The `curl` line of exchange `index` of check `check` as a display shows it.
    pub fn curl(&self, check: &str, index: usize, ex: &RecordedExchange, base: Base) -> String {
        let cmd = Command::parse(&ex.curl);
        let mut comments: Vec<String> = cmd.comments.iter().map(|c| cap_text(c)).collect();
        let mut args: Vec<String> = Vec::with_capacity(cmd.args.len());
        let body = cmd.body().filter(|(_, b)| b.len() > INLINE_BODY_MAX);
        let mut cut = false;
        for (i, arg) in cmd.args.iter().enumerate() {
            match &body {
                Some((at, bytes)) if *at == i => {
                    let (comment, arg) = self.body_arg(check, index, bytes.len(), base);
                    comments.push(comment);
                    args.push(arg);
                }
                _ => {
                    let (arg, was_cut) = cap_arg(arg);
                    cut |= was_cut;
                    args.push(arg);
                }
            }
        }
        if cut {
            comments.push(format!(
                "# arguments over {TEXT_MAX} bytes are cut (…(N bytes)); the results file \
                 (--json) has the whole command"
            ));
        }
        let mut out = String::new();
        for c in comments {
            out.push_str(&c);
            out.push('\n');
        }
        out.push_str(&args.join(" \\\n  "));
        out
    }

    /// The comment and the argument that stand for a long body.
    fn body_arg(&self, check: &str, index: usize, len: usize, base: Base) -> (String, String) {
        let file = self.files.get(&(check.to_string(), index));
        match (&self.dir, file) {
            (Some(dir), Some(f)) => {
                let (path, whence) = match base {
                    Base::Report => (
                        format!("{}/{}", dir.from_report, f.name),
                        ", relative to the report's directory",
                    ),
                    Base::WorkingDir => (dir.path.join(&f.name).display().to_string(), ""),
                };
                (
                    cap_text(&format!("# the {len}-byte body is in {path}{whence}")),
                    format!("--data-binary @{}", quote(path.as_bytes())),
                )
            }
            _ => (
                format!(
                    "# the {len}-byte body is not shown: with --report FILE.md (or .html, also \
                     `edgecheck report RESULTS.json --report FILE.md`) it is written to a file \
                     beside the report"
                ),
                "--data-binary @BODY_FILE".into(),
            ),
        }
    }
}

/// A line of text cut at [`TEXT_MAX`] bytes.
fn cap_text(s: &str) -> String {
    escape::cap(s, TEXT_MAX).into_owned()
}

/// An argument line (`-H 'Name: value'`, `'URL'`, `-X 'METHOD'`) with its value cut so that
/// the line stays within [`TEXT_MAX`] bytes and still parses as a shell word; whether it was
/// cut.
fn cap_arg(arg: &str) -> (String, bool) {
    if arg.len() <= TEXT_MAX {
        return (arg.to_string(), false);
    }
    let at = if arg.starts_with('-') {
        arg.find(' ').map_or(arg.len(), |i| i + 1)
    } else {
        0
    };
    let (flag, word) = arg.split_at(at);
    let Some(raw) = unquote(word) else {
        return (cap_text(arg), true);
    };
    let text = std::str::from_utf8(&raw).ok();
    let mut keep = raw.len().min(TEXT_MAX);
    loop {
        if let Some(t) = text {
            while !t.is_char_boundary(keep) {
                keep -= 1;
            }
        }
        let mut v = raw[..keep].to_vec();
        v.extend_from_slice(format!("…({} bytes)", raw.len()).as_bytes());
        let q = quote(&v);
        if flag.len() + q.len() <= TEXT_MAX || keep == 0 {
            return (format!("{flag}{q}"), true);
        }
        keep /= 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exchange(curl: String) -> RecordedExchange {
        RecordedExchange {
            method: "POST".into(),
            url: "http://h/c".into(),
            target: "/c".into(),
            request_headers: Vec::new(),
            request_body: String::new(),
            status: None,
            response_headers: Vec::new(),
            response_body: String::new(),
            error: None,
            elapsed_ms: 0,
            curl,
        }
    }

    #[test]
    fn small_commands_are_shown_as_recorded() {
        let curl = "# note\ncurl \\\n  -i \\\n  -X 'POST' \\\n  'http://h/c' \\\n  \
                    --data-binary '{\"a\":1}'";
        let ex = exchange(curl.into());
        assert_eq!(BodyFiles::none().curl("c", 0, &ex, Base::Report), curl);
    }

    #[test]
    fn long_arguments_are_cut_and_still_quoted() {
        let long = "x'y".repeat(5000);
        let curl = format!(
            "curl \\\n  -H {} \\\n  {}",
            quote(format!("X-Big: {long}").as_bytes()),
            quote(format!("http://h/{long}").as_bytes())
        );
        let out = BodyFiles::none().curl("c", 0, &exchange(curl), Base::Report);
        for line in out.lines() {
            assert!(line.len() <= TEXT_MAX + 8, "{}", line.len());
        }
        assert!(out.contains("…(15007 bytes)'"), "{out}");
        assert!(out.contains("# arguments over"));
        let header = out.lines().find(|l| l.contains("-H")).unwrap();
        let word = header
            .trim()
            .strip_prefix("-H ")
            .unwrap()
            .trim_end_matches(" \\");
        assert!(unquote(word).is_some(), "{word}");
    }

    #[test]
    fn long_bodies_go_to_files_or_are_described() {
        let body = "é".repeat(2000);
        let curl = format!(
            "curl \\\n  -i \\\n  --data-binary {}",
            quote(body.as_bytes())
        );
        let ex = exchange(curl);
        let out = BodyFiles::none().curl("a/b", 0, &ex, Base::WorkingDir);
        assert!(out.contains("the 4000-byte body is not shown"), "{out}");
        assert!(out.ends_with("--data-binary @BODY_FILE"), "{out}");
        assert!(!out.contains(&body));

        let mut results = crate::report::Results {
            schema: String::new(),
            edgecheck: String::new(),
            profile: String::new(),
            target: String::new(),
            started_at: String::new(),
            duration_ms: 0,
            options: BTreeMap::new(),
            seed: None,
            shard: None,
            merged: Vec::new(),
            baseline: None,
            summary: Default::default(),
            checks: Vec::new(),
            requirements: Vec::new(),
        };
        results.checks.push(crate::report::CheckRecord {
            id: "a/b".into(),
            title: String::new(),
            area: String::new(),
            requirements: Vec::new(),
            level: "MUST".into(),
            verdict: "fail".into(),
            message: String::new(),
            failure: None,
            requests: 1,
            signatures: 0,
            duration_ms: 0,
            exchanges: vec![ex.clone()],
            baseline: None,
            timing: None,
            more_timing: Vec::new(),
        });
        let plan = BodyFiles::plan(&results, Path::new("out/r.md"));
        let files: Vec<&BodyFile> = plan.files().collect();
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].name, "a-b-1.bin");
        assert_eq!(files[0].bytes, body.as_bytes());
        assert_eq!(plan.dir(), Some(Path::new("out/r.bodies")));
        let shown = plan.curl("a/b", 0, &ex, Base::Report);
        assert!(
            shown.ends_with("--data-binary @'r.bodies/a-b-1.bin'"),
            "{shown}"
        );
        let shown = plan.curl("a/b", 0, &ex, Base::WorkingDir);
        assert!(
            shown.ends_with("--data-binary @'out/r.bodies/a-b-1.bin'"),
            "{shown}"
        );
    }
}
