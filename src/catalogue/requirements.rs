//! The requirement catalogue (`conformance/<profile>/requirements.json`): one entry per rule ID of the
//! binding (`conformance/<profile>/binding.md`), loaded into typed values and checked against the
//! binding text. See `docs/requirements.md`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Highest ambiguity number of the protocol history (`A1` … `A37`).
const MAX_AMBIGUITY: u32 = 37;

/// Upper bound on the IDs one `PREFIX-a..b` range may expand to (guards hostile markdown).
const MAX_RANGE: u32 = 100;

/// The level a rule has in the binding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Level {
    /// An absolute requirement.
    #[serde(rename = "MUST")]
    Must,
    /// A recommendation: not meeting it is a warning.
    #[serde(rename = "SHOULD")]
    Should,
    /// A permission: nothing a server does can fail it.
    #[serde(rename = "MAY")]
    May,
    /// An absolute prohibition.
    #[serde(rename = "MUST NOT")]
    MustNot,
    /// No level: the binding leaves the behaviour open and forbids testing it (`NONE`).
    #[serde(rename = "NONE")]
    NoLevel,
}

impl Level {
    /// Every level, in the order the catalogue documents them.
    pub const ALL: [Level; 5] = [
        Level::Must,
        Level::Should,
        Level::May,
        Level::MustNot,
        Level::NoLevel,
    ];

    /// The spelling used in the catalogue and the binding (`MUST`, `MUST NOT`, `NONE`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Must => "MUST",
            Level::Should => "SHOULD",
            Level::May => "MAY",
            Level::MustNot => "MUST NOT",
            Level::NoLevel => "NONE",
        }
    }

    /// Whether a violation is a failure (MUST, MUST NOT) rather than a warning or nothing.
    pub fn is_required(self) -> bool {
        matches!(self, Level::Must | Level::MustNot)
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a rule comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// Restates the source documents (`S-` rules).
    Source,
    /// A decision of the binding (`B-` rules).
    Binding,
}

impl Origin {
    /// The origin a rule ID implies by its prefix: a prefix ending in `B` (`B-`, `TB-`,
    /// `VB-`) is a binding decision, any other upper-case prefix (`S-`, `T-`, `V-`) restates
    /// the sources.
    pub fn of_id(id: &str) -> Option<Origin> {
        let (prefix, rest) = id.split_once('-')?;
        if prefix.is_empty() || rest.is_empty() || !prefix.chars().all(|c| c.is_ascii_uppercase()) {
            return None;
        }
        Some(if prefix.ends_with('B') {
            Origin::Binding
        } else {
            Origin::Source
        })
    }
}

/// How far a black-box client can check a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Testable {
    /// Fully, from responses.
    Yes,
    /// Only some of it, or only its consequences.
    Partially,
    /// Not at all (other checks may cover its consequences; the note names them).
    No,
}

/// The source document a quote comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceDocument {
    /// `edge-messaging-implementation.md`, first version (the seed text of the binding).
    Implementation,
    /// The generic protocol `edge-messaging.md`, as quoted in the protocol history (§2.4).
    Generic,
}

/// One exact quote from a source document, typos kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceQuote {
    /// Which document.
    pub document: SourceDocument,
    /// The quoted sentence(s), markdown removed.
    pub quote: String,
}

/// An ambiguity of the source documents (protocol history, section 3) that bears on a rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ambiguity {
    /// `A1` … `A37`.
    pub id: String,
    /// What the sources leave open or contradict.
    pub question: String,
    /// What `edge-v1` chose.
    pub binding: String,
    /// What later versions of the protocol did.
    pub later: String,
}

/// One rule of the binding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Requirement {
    /// The rule ID (`S-CREATE-201`, `B-SIG-INPUT`, ...).
    pub id: String,
    /// Its level.
    pub level: Level,
    /// `source` for `S-` rules, `binding` for `B-` rules.
    pub origin: Origin,
    /// The heading of the binding section it sits under, markdown removed.
    pub section: String,
    /// The part of the protocol it is about.
    /// The part of the protocol a rule is about (`create`, `signatures`, ...): the profile's
    /// own list, in kebab-case.
    pub area: String,
    /// The rule's wording in the binding, markdown removed (see [`normalize`]).
    pub text: String,
    /// For `S-` rules, the exact sentences of the source documents it restates.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source: Vec<SourceQuote>,
    /// How far a black-box client can check it.
    pub testable: Testable,
    /// Why, and what a client can and cannot see (required unless `testable` is `yes`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub testable_note: Option<String>,
    /// The ambiguities of the sources that bear on it.
    #[serde(default)]
    pub ambiguities: Vec<Ambiguity>,
}

/// A loaded catalogue: the entries in file order, with an index by ID.
#[derive(Debug, Clone)]
pub struct Requirements {
    profile: String,
    entries: Vec<Requirement>,
    index: BTreeMap<String, usize>,
}

/// The catalogue file as written on disk.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogueFile<T> {
    profile: String,
    binding: String,
    requirements: Vec<T>,
}

/// A catalogue that cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    /// The JSON does not parse, or an entry does not match the catalogue format.
    #[error(
        "the requirement catalogue is not valid: {0}; fix the profile's requirements.json \
         under conformance/ (format in docs/requirements.md)"
    )]
    Json(#[from] serde_json::Error),
}

impl Requirements {
    /// Parses a catalogue. Entries are not cross-checked here: use [`Requirements::validate`].
    pub fn from_json(json: &str) -> Result<Requirements, CatalogueError> {
        let file: CatalogueFile<Requirement> = serde_json::from_str(json)?;
        Ok(Requirements::from_entries(file.profile, file.requirements))
    }

    /// Builds a catalogue from entries (the first of duplicated IDs wins in lookups).
    pub fn from_entries(profile: impl Into<String>, entries: Vec<Requirement>) -> Requirements {
        let mut index = BTreeMap::new();
        for (i, r) in entries.iter().enumerate() {
            index.entry(r.id.clone()).or_insert(i);
        }
        Requirements {
            profile: profile.into(),
            entries,
            index,
        }
    }

    /// The profile the catalogue describes (`edge-v1`).
    pub fn profile(&self) -> &str {
        &self.profile
    }

    /// Every entry, in file order (the binding's order).
    pub fn all(&self) -> &[Requirement] {
        &self.entries
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the catalogue has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entry with this rule ID.
    pub fn get(&self, id: &str) -> Option<&Requirement> {
        self.index.get(id).map(|&i| &self.entries[i])
    }

    /// Whether a rule ID has an entry.
    pub fn contains(&self, id: &str) -> bool {
        self.index.contains_key(id)
    }

    /// Every rule ID with an entry.
    pub fn ids(&self) -> BTreeSet<&str> {
        self.index.keys().map(String::as_str).collect()
    }

    /// The entries of one area, in file order.
    pub fn in_area<'a>(&'a self, area: &'a str) -> impl Iterator<Item = &'a Requirement> + 'a {
        self.entries.iter().filter(move |r| r.area == area)
    }

    /// Checks the catalogue against the binding's markdown; an empty list means consistent.
    pub fn validate(&self, binding_md: &str) -> Vec<Problem> {
        let ids: Vec<String> = self.entries.iter().map(|r| r.id.clone()).collect();
        check_entries(&self.entries, &ids, binding_md)
    }

    /// Checks every source quote against the source documents' text: `implementation` is
    /// the implementation document, `generic` the text that quotes the generic protocol.
    pub fn check_sources(&self, implementation: &str, generic: &str) -> Vec<Problem> {
        let implementation = normalize(implementation);
        let generic = normalize(generic);
        let mut problems = Vec::new();
        for r in &self.entries {
            for q in &r.source {
                let haystack = match q.document {
                    SourceDocument::Implementation => &implementation,
                    SourceDocument::Generic => &generic,
                };
                let quote = normalize(&q.quote);
                if quote.is_empty() || !haystack.contains(&quote) {
                    problems.push(Problem::SourceNotFound {
                        id: r.id.clone(),
                        document: q.document,
                        quote: q.quote.clone(),
                    });
                }
            }
        }
        problems
    }
}

/// One inconsistency found by validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The file is not JSON or not `{profile, binding, requirements: [...]}`.
    Malformed {
        /// What is wrong.
        message: String,
    },
    /// An entry does not match the entry format (missing or unknown field, wrong type).
    InvalidEntry {
        /// Position in `requirements`.
        index: usize,
        /// Its `id`, when it has one.
        id: Option<String>,
        /// The parser's message.
        message: String,
    },
    /// A `level` that is none of `MUST`, `SHOULD`, `MAY`, `MUST NOT`, `NONE`.
    UnknownLevel {
        /// The rule ID.
        id: String,
        /// The level found.
        level: String,
    },
    /// Two entries with the same ID.
    DuplicateId {
        /// The rule ID.
        id: String,
    },
    /// `origin` does not match the ID prefix (`S-` source, `B-` binding), or no such prefix.
    OriginMismatch {
        /// The rule ID.
        id: String,
        /// The origin the entry claims.
        origin: Origin,
    },
    /// The entry's level differs from the level the binding gives the rule.
    LevelMismatch {
        /// The rule ID.
        id: String,
        /// The entry's level.
        catalogue: Level,
        /// The binding's level.
        binding: Level,
    },
    /// `section` is not a heading of the binding.
    UnknownSection {
        /// The rule ID.
        id: String,
        /// The section named.
        section: String,
    },
    /// `text` is not found, after normalisation, under the entry's section of the binding.
    TextNotInBinding {
        /// The rule ID.
        id: String,
        /// The section searched.
        section: String,
    },
    /// A rule ID of the binding has no entry.
    MissingEntry {
        /// The rule ID.
        id: String,
    },
    /// An entry whose ID is not a rule of the binding.
    NotInBinding {
        /// The rule ID.
        id: String,
    },
    /// `testable` is `partially` or `no` without a `testableNote`.
    MissingTestableNote {
        /// The rule ID.
        id: String,
    },
    /// An `S-` rule without a source quote.
    MissingSource {
        /// The rule ID.
        id: String,
    },
    /// A source quote not found in its source document.
    SourceNotFound {
        /// The rule ID.
        id: String,
        /// The document searched.
        document: SourceDocument,
        /// The quote.
        quote: String,
    },
    /// A field that must not be empty is empty.
    EmptyField {
        /// The rule ID.
        id: String,
        /// The field (`text`, `section`, `source`, ...).
        field: &'static str,
    },
    /// An ambiguity with a bad ID (not `A1` … `A37`), an empty field, or listed twice.
    BadAmbiguity {
        /// The rule ID.
        id: String,
        /// The ambiguity ID.
        ambiguity: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// One ambiguity told differently by two entries (the report keeps one register).
    InconsistentAmbiguity {
        /// The ambiguity ID.
        ambiguity: String,
        /// The entry that first told it.
        first: String,
        /// The entry that tells it differently.
        other: String,
    },
}

impl Problem {
    /// A short name of the kind of problem (`duplicate-id`, `missing-entry`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Problem::Malformed { .. } => "malformed",
            Problem::InvalidEntry { .. } => "invalid-entry",
            Problem::UnknownLevel { .. } => "unknown-level",
            Problem::DuplicateId { .. } => "duplicate-id",
            Problem::OriginMismatch { .. } => "origin-mismatch",
            Problem::LevelMismatch { .. } => "level-mismatch",
            Problem::UnknownSection { .. } => "unknown-section",
            Problem::TextNotInBinding { .. } => "text-not-in-binding",
            Problem::MissingEntry { .. } => "missing-entry",
            Problem::NotInBinding { .. } => "not-in-binding",
            Problem::MissingTestableNote { .. } => "missing-testable-note",
            Problem::MissingSource { .. } => "missing-source",
            Problem::SourceNotFound { .. } => "source-not-found",
            Problem::EmptyField { .. } => "empty-field",
            Problem::BadAmbiguity { .. } => "bad-ambiguity",
            Problem::InconsistentAmbiguity { .. } => "inconsistent-ambiguity",
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Malformed { message } => write!(
                f,
                "the catalogue is not {{\"profile\", \"binding\", \"requirements\": [...]}}: {message}"
            ),
            Problem::InvalidEntry { index, id, message } => write!(
                f,
                "entry #{index}{}: {message}; see the field list in docs/requirements.md",
                id.as_deref().map(|i| format!(" ({i})")).unwrap_or_default()
            ),
            Problem::UnknownLevel { id, level } => write!(
                f,
                "{id}: unknown level {level:?}; use one of MUST, SHOULD, MAY, MUST NOT, NONE"
            ),
            Problem::DuplicateId { id } => {
                write!(f, "{id}: more than one entry; merge them into one")
            }
            Problem::OriginMismatch { id, origin } => write!(
                f,
                "{id}: origin {origin:?} does not match the ID; S- rules are \"source\", B- rules \"binding\""
            ),
            Problem::LevelMismatch {
                id,
                catalogue,
                binding,
            } => write!(
                f,
                "{id}: level {catalogue} but the binding says {binding}; copy the binding's level"
            ),
            Problem::UnknownSection { id, section } => write!(
                f,
                "{id}: section {section:?} is not a heading of binding.md; copy the heading text without '#' and backticks"
            ),
            Problem::TextNotInBinding { id, section } => write!(
                f,
                "{id}: text not found under section {section:?} of binding.md; copy the bullet's exact words, markdown removed"
            ),
            Problem::MissingEntry { id } => write!(
                f,
                "{id}: rule of binding.md without a catalogue entry; add one to the profile's requirements.json"
            ),
            Problem::NotInBinding { id } => write!(
                f,
                "{id}: entry for a rule that binding.md does not define; remove it or fix the ID"
            ),
            Problem::MissingTestableNote { id } => write!(
                f,
                "{id}: testable is partially or no but testableNote is missing; say what a client can and cannot see"
            ),
            Problem::MissingSource { id } => write!(
                f,
                "{id}: S- rule without a source quote; quote the source sentence(s) it restates"
            ),
            Problem::SourceNotFound {
                id,
                document,
                quote,
            } => write!(
                f,
                "{id}: quote not found in the {document:?} document: {quote:?}; quote it exactly, typos kept"
            ),
            Problem::EmptyField { id, field } => write!(f, "{id}: {field} is empty"),
            Problem::BadAmbiguity {
                id,
                ambiguity,
                reason,
            } => write!(f, "{id}: ambiguity {ambiguity:?} {reason}"),
            Problem::InconsistentAmbiguity {
                ambiguity,
                first,
                other,
            } => write!(
                f,
                "{ambiguity}: told differently by {first} and {other}; use the same question, binding and later text"
            ),
        }
    }
}

/// Checks a catalogue's JSON text against the binding's markdown, reporting problems that stop
/// an entry from parsing (unknown levels, missing fields) as well as [`Requirements::validate`]'s.
pub fn validate_json(json: &str, binding_md: &str) -> Vec<Problem> {
    let file: CatalogueFile<Value> = match serde_json::from_str(json) {
        Ok(file) => file,
        Err(e) => {
            return vec![Problem::Malformed {
                message: e.to_string(),
            }]
        }
    };
    let mut problems = Vec::new();
    if file.profile.trim().is_empty() {
        problems.push(Problem::Malformed {
            message: "profile is empty".into(),
        });
    }
    if file.binding.trim().is_empty() {
        problems.push(Problem::Malformed {
            message: "binding is empty".into(),
        });
    }
    let mut ids = Vec::new();
    let mut entries = Vec::new();
    for (index, raw) in file.requirements.into_iter().enumerate() {
        let id = raw.get("id").and_then(Value::as_str).map(str::to_owned);
        let level = raw.get("level").and_then(Value::as_str).map(str::to_owned);
        if let Some(id) = &id {
            ids.push(id.clone());
        }
        let mut reported = false;
        if let Some(level) = level {
            if !Level::ALL.iter().any(|l| l.as_str() == level) {
                problems.push(Problem::UnknownLevel {
                    id: id.clone().unwrap_or_else(|| format!("entry #{index}")),
                    level,
                });
                reported = true;
            }
        }
        match serde_json::from_value::<Requirement>(raw) {
            Ok(r) => entries.push(r),
            Err(e) if !reported => problems.push(Problem::InvalidEntry {
                index,
                id,
                message: e.to_string(),
            }),
            Err(_) => {}
        }
    }
    problems.extend(check_entries(&entries, &ids, binding_md));
    problems
}

/// The checks shared by [`Requirements::validate`] and [`validate_json`]. `ids` holds the ID
/// of every entry of the file, including entries that failed to parse.
fn check_entries(entries: &[Requirement], ids: &[String], binding_md: &str) -> Vec<Problem> {
    let mut problems = Vec::new();

    let mut seen = BTreeSet::new();
    let mut reported = BTreeSet::new();
    for id in ids {
        if !seen.insert(id.as_str()) && reported.insert(id.as_str()) {
            problems.push(Problem::DuplicateId { id: id.clone() });
        }
    }

    let levels = binding_rule_levels(binding_md);
    for id in levels.keys() {
        if !seen.contains(id.as_str()) {
            problems.push(Problem::MissingEntry { id: id.clone() });
        }
    }
    for id in &seen {
        if !levels.contains_key(*id) {
            problems.push(Problem::NotInBinding {
                id: (*id).to_owned(),
            });
        }
    }

    let sections = binding_sections(binding_md);
    let mut ambiguities: BTreeMap<&str, (&str, &Ambiguity)> = BTreeMap::new();
    for r in entries {
        if Origin::of_id(&r.id) != Some(r.origin) {
            problems.push(Problem::OriginMismatch {
                id: r.id.clone(),
                origin: r.origin,
            });
        }
        if let Some(&binding) = levels.get(&r.id) {
            if binding != r.level {
                problems.push(Problem::LevelMismatch {
                    id: r.id.clone(),
                    catalogue: r.level,
                    binding,
                });
            }
        }
        check_text(r, &sections, &mut problems);
        check_testable(r, &mut problems);
        check_source(r, &mut problems);
        check_ambiguities(r, &mut ambiguities, &mut problems);
    }
    problems
}

fn check_text(r: &Requirement, sections: &[(String, String)], problems: &mut Vec<Problem>) {
    let text = normalize(&r.text);
    if text.is_empty() {
        problems.push(Problem::EmptyField {
            id: r.id.clone(),
            field: "text",
        });
        return;
    }
    let section = normalize(&r.section);
    match sections.iter().find(|(heading, _)| *heading == section) {
        None => problems.push(Problem::UnknownSection {
            id: r.id.clone(),
            section: r.section.clone(),
        }),
        Some((_, body)) if !body.contains(&text) => problems.push(Problem::TextNotInBinding {
            id: r.id.clone(),
            section: r.section.clone(),
        }),
        Some(_) => {}
    }
}

fn check_testable(r: &Requirement, problems: &mut Vec<Problem>) {
    let has_note = r
        .testable_note
        .as_deref()
        .is_some_and(|n| !n.trim().is_empty());
    if r.testable != Testable::Yes && !has_note {
        problems.push(Problem::MissingTestableNote { id: r.id.clone() });
    }
}

fn check_source(r: &Requirement, problems: &mut Vec<Problem>) {
    if r.id.starts_with("S-") && r.source.is_empty() {
        problems.push(Problem::MissingSource { id: r.id.clone() });
    }
    if r.source.iter().any(|q| q.quote.trim().is_empty()) {
        problems.push(Problem::EmptyField {
            id: r.id.clone(),
            field: "source.quote",
        });
    }
}

fn check_ambiguities<'a>(
    r: &'a Requirement,
    register: &mut BTreeMap<&'a str, (&'a str, &'a Ambiguity)>,
    problems: &mut Vec<Problem>,
) {
    let mut listed = BTreeSet::new();
    for a in &r.ambiguities {
        let bad = |reason| Problem::BadAmbiguity {
            id: r.id.clone(),
            ambiguity: a.id.clone(),
            reason,
        };
        let number = a.id.strip_prefix('A').and_then(|n| n.parse::<u32>().ok());
        if !matches!(number, Some(n) if (1..=MAX_AMBIGUITY).contains(&n))
            || a.id != format!("A{}", number.unwrap_or(0))
        {
            problems.push(bad("is not one of A1 … A37 of the protocol history"));
            continue;
        }
        if !listed.insert(a.id.as_str()) {
            problems.push(bad("is listed twice"));
            continue;
        }
        if [&a.question, &a.binding, &a.later]
            .iter()
            .any(|s| s.trim().is_empty())
        {
            problems.push(bad("has an empty question, binding or later"));
            continue;
        }
        match register.get(a.id.as_str()) {
            None => {
                register.insert(a.id.as_str(), (r.id.as_str(), a));
            }
            Some((first, told)) if *told != a => {
                problems.push(Problem::InconsistentAmbiguity {
                    ambiguity: a.id.clone(),
                    first: (*first).to_owned(),
                    other: r.id.clone(),
                });
            }
            Some(_) => {}
        }
    }
}

/// Normalises markdown for comparison: drops a leading `- ` list marker on each line, every
/// `*` and `` ` ``, and collapses whitespace runs into single spaces.
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let line = line.strip_prefix("- ").unwrap_or(line);
        for word in line.split_whitespace() {
            let word: String = word.chars().filter(|&c| c != '*' && c != '`').collect();
            if word.is_empty() {
                continue;
            }
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(&word);
        }
    }
    out
}

/// Every bold rule ID (`**S-…**`, `**B-…**`) in the binding's markdown; a range such as
/// `S-PRIV-1..5` is expanded to `S-PRIV-1` … `S-PRIV-5`.
pub fn binding_rule_ids(markdown: &str) -> BTreeSet<String> {
    binding_rule_levels(markdown).into_keys().collect()
}

/// Every bold rule ID of the binding with the level written after it (`**B-CACHE** (SHOULD)`);
/// [`Level::NoLevel`] when none is written. Ranges are expanded as in [`binding_rule_ids`].
pub fn binding_rule_levels(markdown: &str) -> BTreeMap<String, Level> {
    // Bold spans are the odd-numbered pieces between `**` delimiters; the binding uses no
    // other `**`, so a split is exact and needs no markdown parser.
    let pieces: Vec<&str> = markdown.split("**").collect();
    let mut rules = BTreeMap::new();
    let mut i = 1;
    while i < pieces.len() {
        if !is_rule_token(pieces[i]) {
            i += 2;
            continue;
        }
        // `**A**, **B** (MUST)`: the level follows the last ID of a comma-joined group.
        let mut group = vec![pieces[i]];
        let mut j = i;
        while j + 2 < pieces.len() && pieces[j + 1].trim() == "," && is_rule_token(pieces[j + 2]) {
            j += 2;
            group.push(pieces[j]);
        }
        let level = pieces
            .get(j + 1)
            .map_or(Level::NoLevel, |after| level_after(after));
        for token in group {
            for id in expand_range(token) {
                rules.entry(id).or_insert(level);
            }
        }
        i = j + 2;
    }
    rules
}

/// Whether a bold span is a rule ID: `S-` or `B-`, then upper-case letters, digits and `-`,
/// optionally ending in a numeric range `N..M`.
fn is_rule_token(token: &str) -> bool {
    let Some(rest) = token
        .strip_prefix("S-")
        .or_else(|| token.strip_prefix("B-"))
    else {
        return false;
    };
    let (name, range_end) = match rest.split_once("..") {
        Some((name, end)) => (name, Some(end)),
        None => (rest, None),
    };
    let name_ok = !name.is_empty()
        && !name.starts_with('-')
        && !name.ends_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-');
    let range_ok = range_end.is_none_or(|end| {
        !end.is_empty()
            && end.chars().all(|c| c.is_ascii_digit())
            && name.ends_with(|c: char| c.is_ascii_digit())
    });
    name_ok && range_ok
}

/// `S-PRIV-1..5` → `S-PRIV-1` … `S-PRIV-5`; any other ID → itself.
fn expand_range(token: &str) -> Vec<String> {
    let Some((first, end)) = token.split_once("..") else {
        return vec![token.to_owned()];
    };
    let prefix = first.trim_end_matches(|c: char| c.is_ascii_digit());
    let start = first[prefix.len()..].parse::<u32>().ok();
    let end = end.parse::<u32>().ok();
    match (start, end) {
        (Some(start), Some(end)) if start <= end && end - start < MAX_RANGE => {
            (start..=end).map(|n| format!("{prefix}{n}")).collect()
        }
        _ => vec![token.to_owned()],
    }
}

/// The level in `(MUST …)` right after a rule ID, or [`Level::NoLevel`].
fn level_after(text: &str) -> Level {
    let Some(inner) = text.trim_start().strip_prefix('(') else {
        return Level::NoLevel;
    };
    // Longest spelling first: "MUST NOT" before "MUST".
    [Level::MustNot, Level::Must, Level::Should, Level::May]
        .into_iter()
        .find(|l| {
            inner.strip_prefix(l.as_str()).is_some_and(|rest| {
                !rest.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
            })
        })
        .unwrap_or(Level::NoLevel)
}

/// The binding's sections: each heading (markdown removed) with its normalised body, up to
/// the next heading of any depth. Lines inside code fences are never headings.
fn binding_sections(markdown: &str) -> Vec<(String, String)> {
    let mut sections: Vec<(String, Vec<&str>)> = Vec::new();
    let mut in_fence = false;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
        }
        if !in_fence && line.starts_with('#') {
            sections.push((normalize(line.trim_start_matches('#')), Vec::new()));
        } else if let Some((_, body)) = sections.last_mut() {
            body.push(line);
        }
    }
    sections
        .into_iter()
        .map(|(heading, body)| (heading, normalize(&body.join("\n"))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_follow_ids_and_groups() {
        let md = "- **B-X** (MUST). a\n- **S-Y**, **S-Z** (SHOULD). b\n- **B-P**. c\n\
                  under **B-Q**\n(MAY), d\n- **S-R-1..3** (MUST NOT, e)\n**not an id** **B-**";
        let levels = binding_rule_levels(md);
        let expected: BTreeMap<String, Level> = [
            ("B-X", Level::Must),
            ("S-Y", Level::Should),
            ("S-Z", Level::Should),
            ("B-P", Level::NoLevel),
            ("B-Q", Level::May),
            ("S-R-1", Level::MustNot),
            ("S-R-2", Level::MustNot),
            ("S-R-3", Level::MustNot),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        assert_eq!(levels, expected);
    }

    #[test]
    fn musty_words_are_not_levels() {
        assert_eq!(level_after(" (MUSTARD)"), Level::NoLevel);
        assert_eq!(level_after(" (MUST reject / SHOULD 403)"), Level::Must);
        assert_eq!(level_after(": (MUST)"), Level::NoLevel);
    }

    #[test]
    fn ranges_are_bounded() {
        assert_eq!(expand_range("S-A-1..1000000"), vec!["S-A-1..1000000"]);
        assert_eq!(expand_range("S-A-5..1"), vec!["S-A-5..1"]);
        assert!(!is_rule_token("S-A..5"));
        assert!(!is_rule_token("S-a"));
        assert!(is_rule_token("S-PRIV-1..5"));
    }

    #[test]
    fn sections_skip_code_fences() {
        let md = "## 1. One\ntext\n```\n# not a heading\n```\n### 1.1 Two `x`\nmore";
        let sections = binding_sections(md);
        let headings: Vec<&str> = sections.iter().map(|(h, _)| h.as_str()).collect();
        assert_eq!(headings, ["1. One", "1.1 Two x"]);
        assert_eq!(sections[0].1, "text # not a heading");
    }
}
