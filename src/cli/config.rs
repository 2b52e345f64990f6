//! `edgecheck.toml`: named sets of `run` options, the way nextest has profiles.
//!
//! ```toml
//! [default]                 # applies to every run
//! level = "must"
//! junit = "target/edgecheck/junit.xml"
//!
//! [set.ci]                  # edgecheck run --config-set ci (or EDGECHECK_CONFIG_SET=ci)
//! server = "https://127.0.0.1:8443/connection"
//! ca-cert = "server.pem"
//! only = ["create", "signatures"]
//! ```
//!
//! The keys are the long flags of `edgecheck run` (`server`, `allow-http`, `page-size`, …),
//! with TOML values: a string or number for a flag with a value, `true` for a switch, an
//! array for a repeatable flag. A set is applied over `[default]`, and a flag given on the
//! command line replaces the file's value of that key (a list given on the command line
//! replaces the file's list). Relative paths are relative to the file's directory.
//!
//! The file is `--config PATH`, or the first `edgecheck.toml` found from the current
//! directory upward, stopping at the directory that holds `.git` (or at the root). It applies
//! to `run` and `replay`. Unknown keys and sets are errors naming the key and the file (exit 2).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::parser::ValueSource;
use clap::{ArgAction, ArgMatches, CommandFactory};
use toml::{Table, Value};

use super::error::CliError;
use super::Cli;

/// The file name searched for.
pub const FILE_NAME: &str = "edgecheck.toml";

/// Largest configuration file read.
const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// Keys whose values are paths: relative ones are taken from the file's directory.
const PATH_KEYS: [&str; 6] = ["ca-cert", "json", "junit", "report", "summary", "baseline"];

/// Flags of `run` that cannot be set in the file.
const NOT_IN_FILE: [&str; 4] = ["config", "config-set", "help", "version"];

/// A configuration file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is larger than a configuration file can be.
    #[error("{path}: {size} bytes is more than a configuration file can be ({MAX_CONFIG_BYTES})")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        size: u64,
    },
    /// The file is not valid TOML.
    #[error("{path} is not valid TOML: {source}")]
    Toml {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        source: Box<toml::de::Error>,
    },
    /// A key that is not an option of `run`.
    #[error(
        "{path}: unknown key `{key}` in [{table}]; the keys are the long flags of `edgecheck \
         run` without the dashes (server, allow-http, ca-cert, page-size, only, level, …)"
    )]
    UnknownKey {
        /// The file.
        path: PathBuf,
        /// The table (`default`, `set.ci`, or the top level).
        table: String,
        /// The key.
        key: String,
    },
    /// A value of the wrong TOML type.
    #[error("{path}: `{key}` in [{table}] must be {expected}")]
    WrongType {
        /// The file.
        path: PathBuf,
        /// The table.
        table: String,
        /// The key.
        key: String,
        /// What it must be.
        expected: &'static str,
    },
    /// A value the command line refuses.
    #[error("{path}: [{table}]: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The set applied.
        table: String,
        /// The command line's message.
        message: String,
    },
    /// `--config-set NAME` names no set of the file.
    #[error("{path} has no [set.{name}]; its sets: {known}")]
    UnknownSet {
        /// The file.
        path: PathBuf,
        /// The set asked for.
        name: String,
        /// The sets of the file.
        known: String,
    },
    /// `--config-set` without a configuration file.
    #[error(
        "--config-set {name} (or EDGECHECK_CONFIG_SET): no {FILE_NAME} in {dir} or above it \
         (up to the directory holding .git); give one with --config PATH"
    )]
    NoFile {
        /// The set asked for.
        name: String,
        /// Where the search started.
        dir: PathBuf,
    },
}

impl From<ConfigError> for CliError {
    fn from(e: ConfigError) -> CliError {
        CliError::usage(e.to_string())
    }
}

/// The first `edgecheck.toml` in `start` or a directory above it; the search stops after
/// the directory that holds `.git` (a directory or, in a worktree, a file), and at the root.
pub fn find(start: &Path) -> Option<PathBuf> {
    let mut dir = Some(start);
    while let Some(d) = dir {
        let candidate = d.join(FILE_NAME);
        if candidate.is_file() {
            return Some(candidate);
        }
        if d.join(".git").exists() {
            return None;
        }
        dir = d.parent();
    }
    None
}

/// A parsed configuration file: `[default]` and the named sets, every key checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The file it was read from.
    pub path: PathBuf,
    /// `[default]`.
    pub default: Table,
    /// `[set.NAME]`, in file order.
    pub sets: Vec<(String, Table)>,
}

/// How a flag of `run` takes its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A switch (`--insecure`): `true` or `false`.
    Switch,
    /// One value (`--timeout 5`).
    One,
    /// Repeatable (`--only a --only b`): an array, or one value.
    Many,
}

/// The long flags of `run` that the file may set: (long name, clap ID, kind).
fn run_flags() -> Vec<(String, String, Kind)> {
    let cmd = Cli::command();
    let Some(run) = cmd.find_subcommand("run") else {
        return Vec::new();
    };
    run.get_arguments()
        .filter_map(|a| {
            let long = a.get_long()?;
            if NOT_IN_FILE.contains(&long) {
                return None;
            }
            let kind = match a.get_action() {
                ArgAction::SetTrue | ArgAction::SetFalse | ArgAction::Count => Kind::Switch,
                ArgAction::Append => Kind::Many,
                _ => Kind::One,
            };
            Some((long.to_string(), a.get_id().to_string(), kind))
        })
        .collect()
}

impl Config {
    /// Parse the text of a configuration file; `path` names it in messages and anchors
    /// relative paths.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let table: Table = text.parse().map_err(|e| ConfigError::Toml {
            path: path.to_path_buf(),
            source: Box::new(e),
        })?;
        let flags = run_flags();
        let mut config = Config {
            path: path.to_path_buf(),
            default: Table::new(),
            sets: Vec::new(),
        };
        let wrong = |table: &str, key: &str, expected| ConfigError::WrongType {
            path: path.to_path_buf(),
            table: table.into(),
            key: key.into(),
            expected,
        };
        for (key, value) in table {
            match (key.as_str(), value) {
                ("default", Value::Table(t)) => {
                    check_keys(&t, "default", path, &flags)?;
                    config.default = t;
                }
                ("set", Value::Table(sets)) => {
                    for (name, set) in sets {
                        let label = format!("set.{name}");
                        let Value::Table(t) = set else {
                            return Err(wrong("set", &name, "a table [set.NAME]"));
                        };
                        check_keys(&t, &label, path, &flags)?;
                        config.sets.push((name, t));
                    }
                }
                ("default" | "set", _) => return Err(wrong("top level", &key, "a table")),
                _ => {
                    return Err(ConfigError::UnknownKey {
                        path: path.to_path_buf(),
                        table: "top level: only [default] and [set.NAME] are allowed".into(),
                        key,
                    })
                }
            }
        }
        Ok(config)
    }

    /// Read and parse a configuration file.
    pub fn read(path: &Path) -> Result<Config, ConfigError> {
        let read_error = |source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        };
        let size = std::fs::metadata(path).map_err(read_error)?.len();
        if size > MAX_CONFIG_BYTES {
            return Err(ConfigError::TooLarge {
                path: path.to_path_buf(),
                size,
            });
        }
        let text = std::fs::read_to_string(path).map_err(read_error)?;
        Config::parse(&text, path)
    }

    /// The names of the sets, in file order.
    pub fn set_names(&self) -> Vec<&str> {
        self.sets.iter().map(|(n, _)| n.as_str()).collect()
    }

    /// `[default]` with `[set.NAME]` over it (key by key), and the label of what was applied.
    pub fn resolve(&self, set: Option<&str>) -> Result<(Table, String), ConfigError> {
        let mut merged = self.default.clone();
        let Some(name) = set else {
            return Ok((merged, "default".into()));
        };
        let Some((_, t)) = self.sets.iter().find(|(n, _)| n == name) else {
            let known = self.set_names();
            return Err(ConfigError::UnknownSet {
                path: self.path.clone(),
                name: name.into(),
                known: if known.is_empty() {
                    "none".into()
                } else {
                    known.join(", ")
                },
            });
        };
        for (k, v) in t {
            merged.insert(k.clone(), v.clone());
        }
        Ok((merged, format!("set.{name}")))
    }

    /// Command-line words (`--key=value`) for the keys of `table` that `given` does not
    /// name (the flags given on the command line, by clap ID).
    fn words(&self, table: &Table, given: &dyn Fn(&str) -> bool) -> Vec<OsString> {
        let flags = run_flags();
        let base = self.path.parent().unwrap_or(Path::new("."));
        let mut out = Vec::new();
        for (key, value) in table {
            let Some((long, id, kind)) = flags.iter().find(|(l, _, _)| l == key) else {
                continue; // checked when parsed
            };
            if given(id) {
                continue;
            }
            let text = |v: &Value| -> String {
                let s = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                if PATH_KEYS.contains(&long.as_str()) && Path::new(&s).is_relative() {
                    base.join(s).display().to_string()
                } else {
                    s
                }
            };
            match (kind, value) {
                (Kind::Switch, Value::Boolean(true)) => out.push(format!("--{long}").into()),
                (Kind::Switch, _) => {}
                (Kind::Many, Value::Array(items)) => {
                    for i in items {
                        out.push(format!("--{long}={}", text(i)).into());
                    }
                }
                (_, v) => out.push(format!("--{long}={}", text(v)).into()),
            }
        }
        out
    }
}

/// Check every key of a table against the flags of `run`, and the type of its value.
fn check_keys(
    t: &Table,
    table: &str,
    path: &Path,
    flags: &[(String, String, Kind)],
) -> Result<(), ConfigError> {
    for (key, value) in t {
        let Some((_, _, kind)) = flags.iter().find(|(l, _, _)| l == key) else {
            return Err(ConfigError::UnknownKey {
                path: path.to_path_buf(),
                table: table.into(),
                key: key.clone(),
            });
        };
        let scalar =
            |v: &Value| matches!(v, Value::String(_) | Value::Integer(_) | Value::Float(_));
        let ok = match kind {
            Kind::Switch => matches!(value, Value::Boolean(_)),
            Kind::One => scalar(value),
            Kind::Many => match value {
                Value::Array(items) => items.iter().all(scalar),
                v => scalar(v),
            },
        };
        if !ok {
            return Err(ConfigError::WrongType {
                path: path.to_path_buf(),
                table: table.into(),
                key: key.clone(),
                expected: match kind {
                    Kind::Switch => "true or false",
                    Kind::One => "a string or a number",
                    Kind::Many => "a string, a number or an array of them",
                },
            });
        }
    }
    Ok(())
}

/// The command line `argv` with the options of the configuration file put in: for `run`
/// and `replay` (and no subcommand, which runs), the keys of the selected set that the
/// command line does not give become flags placed before the command line's own. `cwd` is
/// where the search for `edgecheck.toml` starts. Any other command line comes back as it
/// was (clap then reports its errors, help and version as usual).
pub fn args_with_config(argv: Vec<OsString>, cwd: &Path) -> Result<Vec<OsString>, ConfigError> {
    let Ok(matches) = Cli::command().try_get_matches_from(&argv) else {
        return Ok(argv);
    };
    let sub: Option<&ArgMatches> = match matches.subcommand() {
        Some(("run" | "replay", m)) => Some(m),
        Some(_) => return Ok(argv),
        None => None,
    };
    let explicit = sub.and_then(|m| m.get_one::<PathBuf>("config").cloned());
    let set = sub.and_then(|m| m.get_one::<String>("config_set").cloned());
    let path = match explicit {
        Some(p) => Some(p),
        None => find(cwd),
    };
    let Some(path) = path else {
        return match set {
            Some(name) => Err(ConfigError::NoFile {
                name,
                dir: cwd.to_path_buf(),
            }),
            None => Ok(argv),
        };
    };
    let config = Config::read(&path)?;
    let (table, label) = config.resolve(set.as_deref())?;
    let given = |id: &str| {
        sub.is_some_and(|m| {
            matches!(
                m.try_contains_id(id),
                Ok(true) if m.value_source(id) == Some(ValueSource::CommandLine)
            )
        })
    };
    let words = config.words(&table, &given);
    // The file's words alone must be a valid `run`: an error here is the file's.
    let mut alone: Vec<OsString> = vec![argv[0].clone(), "run".into()];
    alone.extend(words.iter().cloned());
    if let Err(e) = Cli::command().try_get_matches_from(&alone) {
        let message = e.to_string();
        let first = message.lines().next().unwrap_or_default();
        return Err(ConfigError::Invalid {
            path,
            table: label,
            message: first.trim_start_matches("error: ").to_string(),
        });
    }
    let mut out = Vec::with_capacity(argv.len() + words.len() + 1);
    out.push(argv[0].clone());
    match sub {
        Some(_) => {
            out.push(argv[1].clone());
            out.extend(words);
            out.extend(argv[2..].iter().cloned());
        }
        None => {
            out.push("run".into());
            out.extend(words);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_run_flag_but_the_config_ones_is_a_key() {
        let longs: Vec<String> = run_flags().into_iter().map(|f| f.0).collect();
        for k in [
            "server",
            "allow-http",
            "page-size",
            "only",
            "summary",
            "profile",
        ] {
            assert!(longs.iter().any(|l| l == k), "{k} missing");
        }
        assert!(!longs.iter().any(|l| l == "config-set" || l == "config"));
    }
}
