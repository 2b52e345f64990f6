//! The requirement catalogue (`conformance/<profile>/requirements.json`): one entry per rule ID of the
//! binding (`conformance/<profile>/binding.md`), loaded into typed values and checked against the
//! binding text. See `docs/requirements.md`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The rule-ID prefixes a binding uses, with the origin each implies: `S-`/`B-` (edge-v1),
/// `T-`/`TB-` (tassis-v2), `V-`/`VB-` (simplex-v5).
pub const RULE_PREFIXES: [(&str, Origin); 6] = [
    ("S-", Origin::Source),
    ("B-", Origin::Binding),
    ("T-", Origin::Source),
    ("TB-", Origin::Binding),
    ("V-", Origin::Source),
    ("VB-", Origin::Binding),
];

/// What the catalogue code knows about each profile: its source documents and where its
/// ambiguities are told. A catalogue whose `profile` is not listed here cannot be validated.
pub const PROFILES: [Conventions; 3] = [
    Conventions {
        profile: "edge-v1",
        documents: &[SourceDocument::Implementation, SourceDocument::Generic],
        ambiguities: AmbiguityRegister::Numbered {
            prefix: "A",
            count: 37,
            register: "the protocol history (research/protocol-history.md, section 3)",
        },
    },
    Conventions {
        profile: "tassis-v2",
        documents: &[SourceDocument::TassisDocs, SourceDocument::MessagingServer],
        ambiguities: AmbiguityRegister::BindingTable {
            prefix: "D",
            heading: "Decisions, in one place",
        },
    },
    Conventions {
        profile: "simplex-v5",
        documents: &[SourceDocument::SimplexHistory],
        ambiguities: AmbiguityRegister::BindingTable {
            prefix: "D",
            heading: "7. Decisions, in one place",
        },
    },
];

/// The conventions of one profile (see [`PROFILES`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conventions {
    /// The profile name, as in the catalogue's `profile` field.
    pub profile: &'static str,
    /// The documents its `source` quotes may come from.
    pub documents: &'static [SourceDocument],
    /// Where its ambiguity IDs come from.
    pub ambiguities: AmbiguityRegister,
}

/// Where a profile's ambiguities are told, which fixes their IDs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AmbiguityRegister {
    /// `{prefix}1` … `{prefix}{count}`, numbered in a document outside the binding. Every
    /// field of an ambiguity (`question`, `binding`, `later`) must be non-empty.
    Numbered {
        /// The letter(s) before the number (`A`).
        prefix: &'static str,
        /// The highest number.
        count: u32,
        /// The document that tells them, for error messages.
        register: &'static str,
    },
    /// One ambiguity per row of the table that follows the binding heading `heading`
    /// (columns: open point, source(s) if any, decision last): row n is `{prefix}n`. An
    /// ambiguity's `question` contains every cell but the last, its `binding` the last (after
    /// [`normalize`]); `later` may be empty when nothing later is known.
    BindingTable {
        /// The letter(s) before the number (`D`).
        prefix: &'static str,
        /// The heading the table sits under, markdown removed.
        heading: &'static str,
    },
}

impl AmbiguityRegister {
    /// The letter(s) before an ambiguity number.
    pub fn prefix(&self) -> &'static str {
        match self {
            AmbiguityRegister::Numbered { prefix, .. }
            | AmbiguityRegister::BindingTable { prefix, .. } => prefix,
        }
    }
}

/// The conventions of a profile, or `None` for a profile the catalogue code does not know.
pub fn conventions(profile: &str) -> Option<&'static Conventions> {
    PROFILES.iter().find(|c| c.profile == profile)
}

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
    /// Restates the source documents (`S-`, `T-`, `V-` rules).
    Source,
    /// A decision of the binding (`B-`, `TB-`, `VB-` rules).
    Binding,
}

impl Origin {
    /// The origin a rule ID implies by its prefix (see [`RULE_PREFIXES`]): `S-`, `T-` and `V-`
    /// restate the sources, `B-`, `TB-` and `VB-` are decisions of the binding; `None` for any
    /// other prefix or an ID with nothing after it.
    pub fn of_id(id: &str) -> Option<Origin> {
        RULE_PREFIXES.iter().find_map(|&(prefix, origin)| {
            id.strip_prefix(prefix)
                .filter(|rest| !rest.is_empty())
                .map(|_| origin)
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

/// The source document a quote comes from. Each belongs to one profile (see [`PROFILES`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceDocument {
    /// edge-v1: `edge-messaging-implementation.md`, first version (the seed text of the binding).
    Implementation,
    /// edge-v1: the generic protocol `edge-messaging.md`, as quoted in the protocol history (§2.4).
    Generic,
    /// tassis-v2: the tassis documentation (`docs/README.md` of getlantern/tassis).
    TassisDocs,
    /// tassis-v2: the README of messaging-server, the predecessor of tassis.
    MessagingServer,
    /// simplex-v5: the final `simplex-messaging-implementation.md` and the earlier texts its
    /// taken-over rules come from, as quoted in the protocol history (§2.1–§2.4).
    SimplexHistory,
}

impl SourceDocument {
    /// Every document.
    pub const ALL: [SourceDocument; 5] = [
        SourceDocument::Implementation,
        SourceDocument::Generic,
        SourceDocument::TassisDocs,
        SourceDocument::MessagingServer,
        SourceDocument::SimplexHistory,
    ];

    /// The spelling used in the catalogue (`implementation`, `tassis-docs`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            SourceDocument::Implementation => "implementation",
            SourceDocument::Generic => "generic",
            SourceDocument::TassisDocs => "tassis-docs",
            SourceDocument::MessagingServer => "messaging-server",
            SourceDocument::SimplexHistory => "simplex-history",
        }
    }

    /// Where the text is kept, relative to the shared project tree (`../shared` next to the
    /// checkout): what [`Requirements::check_sources`] is to be given for this document.
    pub fn path(self) -> &'static str {
        match self {
            SourceDocument::Implementation => "seeds/000_41bc656468999cc7.txt",
            SourceDocument::Generic => "research/protocol-history.md",
            SourceDocument::TassisDocs => "seeds/004_b52cf632c043b49f.txt",
            SourceDocument::MessagingServer => "seeds/001_ca3a3aa26ea9c2b9.txt",
            SourceDocument::SimplexHistory => "research/protocol-history.md",
        }
    }

    /// The profile whose rules may quote it.
    pub fn profile(self) -> &'static str {
        PROFILES
            .iter()
            .find(|c| c.documents.contains(&self))
            .map_or("", |c| c.profile)
    }
}

impl fmt::Display for SourceDocument {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
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

/// An ambiguity of the source documents that bears on a rule: for edge-v1 one of the
/// protocol history (section 3), for tassis-v2 one row of the binding's decisions table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ambiguity {
    /// `A1` … `A37` (edge-v1), `D1` … `D15` (tassis-v2): see [`AmbiguityRegister`].
    pub id: String,
    /// What the sources leave open or contradict.
    pub question: String,
    /// What the binding chose.
    pub binding: String,
    /// What later versions of the protocol or the implementation did (may be empty in a
    /// [`AmbiguityRegister::BindingTable`] register when nothing later is known).
    pub later: String,
}

impl Ambiguity {
    /// The number after the ID's letters (`A17` → 17, `D3` → 3), for ordering a register.
    pub fn number(&self) -> Option<u32> {
        let digits = self.id.trim_start_matches(|c: char| c.is_ascii_uppercase());
        if digits.is_empty() || digits.len() == self.id.len() {
            return None;
        }
        digits.parse().ok()
    }
}

/// One rule of the binding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Requirement {
    /// The rule ID (`S-CREATE-201`, `B-SIG-INPUT`, `T-HELLO`, `TB-SIG`, ...).
    pub id: String,
    /// Its level.
    pub level: Level,
    /// `source` for `S-`/`T-` rules, `binding` for `B-`/`TB-` rules.
    pub origin: Origin,
    /// The heading of the binding section it sits under, markdown removed.
    pub section: String,
    /// The part of the protocol a rule is about (`create`, `signatures`, ...): the profile's
    /// own list, in kebab-case.
    pub area: String,
    /// The rule's wording in the binding, markdown removed (see [`normalize`]).
    pub text: String,
    /// For source rules (`S-`, `T-`, `V-`), the exact sentences of the source documents it restates.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source: Vec<SourceQuote>,
    /// For source rules: what the quotes do not cover, i.e. the parts that rest on the
    /// implementation rather than on the documents. Required when `source` is empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_note: Option<String>,
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

    /// The profile the catalogue describes (`edge-v1`, `tassis-v2`).
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

    /// Whether breaking rule `id` is a warning rather than a failure: a listed rule that is
    /// not required (SHOULD, MAY). An unknown rule is a failure.
    pub fn warns(&self, id: &str) -> bool {
        self.get(id).is_some_and(|r| !r.level.is_required())
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
        check_entries(&self.profile, &self.entries, &ids, binding_md)
    }

    /// Checks every source quote against the text of its document: `documents` gives the
    /// text of each document (at least those of the profile, see [`SourceDocument::path`]).
    /// Each quote must appear in its document after [`normalize`]; a quote of a document not
    /// given is reported as [`Problem::SourceDocumentMissing`].
    pub fn check_sources(&self, documents: &[(SourceDocument, &str)]) -> Vec<Problem> {
        let texts: BTreeMap<SourceDocument, String> = documents
            .iter()
            .map(|&(document, text)| (document, normalize(text)))
            .collect();
        let mut problems = Vec::new();
        for r in &self.entries {
            for q in &r.source {
                let Some(haystack) = texts.get(&q.document) else {
                    problems.push(Problem::SourceDocumentMissing {
                        id: r.id.clone(),
                        document: q.document,
                    });
                    continue;
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
    /// `origin` does not match the ID prefix (`S-`/`T-` source, `B-`/`TB-` binding), or no
    /// such prefix.
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
    /// A source rule (`S-`, `T-`, `V-`) with neither a source quote nor a `sourceNote`.
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
    /// A quote of a document whose text was not given to [`Requirements::check_sources`].
    SourceDocumentMissing {
        /// The rule ID.
        id: String,
        /// The document not given.
        document: SourceDocument,
    },
    /// A quote of a document that belongs to another profile.
    ForeignDocument {
        /// The rule ID.
        id: String,
        /// The document quoted.
        document: SourceDocument,
        /// The catalogue's profile.
        profile: String,
    },
    /// The catalogue's `profile` is not one of [`PROFILES`].
    UnknownProfile {
        /// The profile named.
        profile: String,
    },
    /// The profile's ambiguities are the rows of a binding table, and the binding has no
    /// table under that heading.
    MissingDecisionTable {
        /// The heading looked for.
        heading: String,
    },
    /// A field that must not be empty is empty.
    EmptyField {
        /// The rule ID.
        id: String,
        /// The field (`text`, `section`, `source`, ...).
        field: &'static str,
    },
    /// An ambiguity with an ID outside the profile's register (`A1` … `A37`, `D1` … `D15`),
    /// an empty field, listed twice, or (for a binding table) not telling its row.
    BadAmbiguity {
        /// The rule ID.
        id: String,
        /// The ambiguity ID.
        ambiguity: String,
        /// What is wrong and what to do.
        reason: String,
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
            Problem::SourceDocumentMissing { .. } => "source-document-missing",
            Problem::ForeignDocument { .. } => "foreign-document",
            Problem::UnknownProfile { .. } => "unknown-profile",
            Problem::MissingDecisionTable { .. } => "missing-decision-table",
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
                "{id}: origin {origin:?} does not match the ID; S-, T- and V- rules are \"source\", B-, TB- and VB- rules \"binding\""
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
                "{id}: source rule without a source quote; quote the source sentence(s) it restates, \
                 or say in sourceNote why the source documents have none"
            ),
            Problem::SourceNotFound {
                id,
                document,
                quote,
            } => write!(
                f,
                "{id}: quote not found in the {document} document ({}): {quote:?}; quote it exactly, typos kept",
                document.path()
            ),
            Problem::SourceDocumentMissing { id, document } => write!(
                f,
                "{id}: quotes the {document} document, whose text was not given; pass {} to check_sources",
                document.path()
            ),
            Problem::ForeignDocument {
                id,
                document,
                profile,
            } => write!(
                f,
                "{id}: quotes the {document} document, which belongs to {}, not {profile}; quote one of {}",
                document.profile(),
                conventions(profile)
                    .map(|c| c
                        .documents
                        .iter()
                        .map(|d| d.as_str())
                        .collect::<Vec<_>>()
                        .join(", "))
                    .unwrap_or_default()
            ),
            Problem::UnknownProfile { profile } => write!(
                f,
                "profile {profile:?} is unknown to the catalogue code; use one of {} or add its \
                 conventions to PROFILES in src/catalogue/requirements.rs",
                PROFILES.map(|c| c.profile).join(", ")
            ),
            Problem::MissingDecisionTable { heading } => write!(
                f,
                "binding.md has no table under the heading {heading:?}; the profile's ambiguities \
                 are its rows, so restore the table or the heading"
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
    problems.extend(check_entries(&file.profile, &entries, &ids, binding_md));
    problems
}

/// The checks shared by [`Requirements::validate`] and [`validate_json`]. `ids` holds the ID
/// of every entry of the file, including entries that failed to parse.
fn check_entries(
    profile: &str,
    entries: &[Requirement],
    ids: &[String],
    binding_md: &str,
) -> Vec<Problem> {
    let mut problems = Vec::new();
    let conventions = conventions(profile);
    if conventions.is_none() && !profile.trim().is_empty() {
        problems.push(Problem::UnknownProfile {
            profile: profile.to_owned(),
        });
    }
    let register = conventions.map(|c| Register::new(c.ambiguities, binding_md, &mut problems));

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
        check_source(r, conventions, &mut problems);
        check_ambiguities(r, register.as_ref(), &mut ambiguities, &mut problems);
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

fn check_source(r: &Requirement, conventions: Option<&Conventions>, problems: &mut Vec<Problem>) {
    let note = r.source_note.as_deref();
    if note.is_some_and(|n| n.trim().is_empty()) {
        problems.push(Problem::EmptyField {
            id: r.id.clone(),
            field: "sourceNote",
        });
    } else if Origin::of_id(&r.id) == Some(Origin::Source) && r.source.is_empty() && note.is_none()
    {
        problems.push(Problem::MissingSource { id: r.id.clone() });
    }
    if r.source.iter().any(|q| q.quote.trim().is_empty()) {
        problems.push(Problem::EmptyField {
            id: r.id.clone(),
            field: "source.quote",
        });
    }
    if let Some(c) = conventions {
        let foreign: BTreeSet<SourceDocument> = r
            .source
            .iter()
            .map(|q| q.document)
            .filter(|d| !c.documents.contains(d))
            .collect();
        for document in foreign {
            problems.push(Problem::ForeignDocument {
                id: r.id.clone(),
                document,
                profile: c.profile.to_owned(),
            });
        }
    }
}

/// A profile's ambiguity register, resolved against the binding.
struct Register {
    prefix: &'static str,
    /// The highest ambiguity number.
    count: u32,
    /// For a binding table: each row's (open point and sources, decision), normalised.
    rows: Option<Vec<(Vec<String>, String)>>,
    /// Why an ID is not one of the register's, for messages: "is not one of A1 … A37 of …".
    describe: String,
}

impl Register {
    fn new(register: AmbiguityRegister, binding_md: &str, problems: &mut Vec<Problem>) -> Register {
        match register {
            AmbiguityRegister::Numbered {
                prefix,
                count,
                register,
            } => Register {
                prefix,
                count,
                rows: None,
                describe: format!("is not one of {prefix}1 … {prefix}{count} of {register}"),
            },
            AmbiguityRegister::BindingTable { prefix, heading } => {
                let rows = binding_table_rows(binding_md, heading).unwrap_or_else(|| {
                    problems.push(Problem::MissingDecisionTable {
                        heading: heading.to_owned(),
                    });
                    Vec::new()
                });
                let count = u32::try_from(rows.len()).unwrap_or(u32::MAX);
                let rows = rows
                    .into_iter()
                    .map(|mut cells| {
                        // The decision is the last column; a table of one column has none.
                        let decision = if cells.len() > 1 {
                            cells.pop().unwrap_or_default()
                        } else {
                            String::new()
                        };
                        (cells, decision)
                    })
                    .collect();
                Register {
                    prefix,
                    count,
                    rows: Some(rows),
                    describe: format!(
                        "is not one of {prefix}1 … {prefix}{count}, the rows of the binding's \
                         table \"{heading}\""
                    ),
                }
            }
        }
    }

    /// The row number of an ambiguity ID, when it is one of the register's.
    fn number(&self, id: &str) -> Option<u32> {
        let n = id.strip_prefix(self.prefix)?.parse::<u32>().ok()?;
        ((1..=self.count).contains(&n) && id == format!("{}{n}", self.prefix)).then_some(n)
    }

    /// Why an ambiguity does not tell its row of a binding table, if it does not.
    fn row_mismatch(&self, n: u32, a: &Ambiguity) -> Option<String> {
        let rows = self.rows.as_ref()?;
        let (asked, decision) = rows.get(usize::try_from(n).ok()?.checked_sub(1)?)?;
        let question = normalize(&a.question);
        if let Some(cell) = asked.iter().find(|c| !question.contains(c.as_str())) {
            return Some(format!(
                "has a question without {cell:?}; the question names the row's open point and \
                 what the sources say"
            ));
        }
        (!normalize(&a.binding).contains(decision.as_str())).then(|| {
            format!(
                "has a binding without the row's decision {decision:?}; copy it, markdown removed"
            )
        })
    }
}

fn check_ambiguities<'a>(
    r: &'a Requirement,
    scheme: Option<&Register>,
    register: &mut BTreeMap<&'a str, (&'a str, &'a Ambiguity)>,
    problems: &mut Vec<Problem>,
) {
    let mut listed = BTreeSet::new();
    for a in &r.ambiguities {
        let bad = |reason: String| Problem::BadAmbiguity {
            id: r.id.clone(),
            ambiguity: a.id.clone(),
            reason,
        };
        // An unknown profile is reported once; its ambiguity IDs cannot be judged.
        let number = match scheme {
            Some(s) => match s.number(&a.id) {
                Some(n) => Some(n),
                None => {
                    problems.push(bad(s.describe.clone()));
                    continue;
                }
            },
            None => None,
        };
        if !listed.insert(a.id.as_str()) {
            problems.push(bad("is listed twice".into()));
            continue;
        }
        let later_optional = scheme.is_some_and(|s| s.rows.is_some());
        if a.question.trim().is_empty()
            || a.binding.trim().is_empty()
            || (a.later.trim().is_empty() && !later_optional)
        {
            problems.push(bad(if later_optional {
                "has an empty question or binding".into()
            } else {
                "has an empty question, binding or later".into()
            }));
            continue;
        }
        if let Some(reason) = scheme.zip(number).and_then(|(s, n)| s.row_mismatch(n, a)) {
            problems.push(bad(reason));
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

/// Every bold rule ID (`**S-…**`, `**B-…**`, `**T-…**`, `**TB-…**`, `**V-…**`, `**VB-…**`, see [`RULE_PREFIXES`]) in
/// the binding's markdown; a range such as
/// `S-PRIV-1..5` is expanded to `S-PRIV-1` … `S-PRIV-5`.
pub fn binding_rule_ids(markdown: &str) -> BTreeSet<String> {
    binding_rule_levels(markdown).into_keys().collect()
}

/// Every bold rule ID of the binding with the level written after it (`**B-CACHE** (SHOULD)`);
/// [`Level::NoLevel`] when none is written. The level is the first word(s) inside the
/// parentheses, whatever follows: `(MUST one of two forms; SHOULD the typed one)`,
/// `(MUST, testable when …)` and `(MUST reject / SHOULD 403)` are all `MUST`. Ranges are
/// expanded as in [`binding_rule_ids`].
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

/// Whether a bold span is a rule ID: one of [`RULE_PREFIXES`], then upper-case letters,
/// digits and `-`, optionally ending in a numeric range `N..M`.
fn is_rule_token(token: &str) -> bool {
    let Some(rest) = RULE_PREFIXES
        .iter()
        .find_map(|(prefix, _)| token.strip_prefix(prefix))
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

/// The level in `(MUST …)` right after a rule ID, or [`Level::NoLevel`]. A rule whose level
/// is only how it is reported, `(reported as SHOULD)`, has that level.
fn level_after(text: &str) -> Level {
    let Some(inner) = text.trim_start().strip_prefix('(') else {
        return Level::NoLevel;
    };
    let inner = inner.strip_prefix("reported as ").unwrap_or(inner);
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

/// The rows of the first markdown table under a heading of the binding (`heading` compared
/// after [`normalize`]), header and separator rows left out, each row's cells normalised;
/// `None` when there is no such heading or no table before the next heading.
pub fn binding_table_rows(markdown: &str, heading: &str) -> Option<Vec<Vec<String>>> {
    let heading = normalize(heading);
    let mut lines = markdown.lines().skip_while(|line| {
        !(line.starts_with('#') && normalize(line.trim_start_matches('#')) == heading)
    });
    lines.next()?;
    let table: Vec<&str> = lines
        .take_while(|line| !line.starts_with('#'))
        .skip_while(|line| !line.trim_start().starts_with('|'))
        .take_while(|line| line.trim_start().starts_with('|'))
        .collect();
    if table.len() < 2 {
        return None;
    }
    let cells = |line: &str| -> Vec<String> {
        let inner = line.trim().trim_start_matches('|');
        let inner = inner.strip_suffix('|').unwrap_or(inner);
        inner.split('|').map(normalize).collect()
    };
    Some(table[2..].iter().map(|line| cells(line)).collect())
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
    fn tassis_ids_and_levels_as_written() {
        let md = "- **TB-INBOUND-FORM** (MUST one of two forms; SHOULD the typed one). a\n\
                  - **TB-PK-LOW** (MUST, testable when the user gives `--prekeys-low`). b\n\
                  - **T-NO-TRACE** (MUST, partially testable). c\n\
                  - **TB-PK-ORDER** (MAY). d\n- **TB-TEXT-FRAME** (SHOULD). e\n\
                  **TC-X** (MUST) **T-** **TB-**\n\
                  - **V-TIMING** (MUST \"aim to\"; reported as SHOULD). f\n\
                  - **V-WS-TIMING** (reported as SHOULD). g\n- **VB-X** (reported as). h";
        let levels = binding_rule_levels(md);
        let expected: BTreeMap<String, Level> = [
            ("V-TIMING", Level::Must),
            ("V-WS-TIMING", Level::Should),
            ("VB-X", Level::NoLevel),
            ("TB-INBOUND-FORM", Level::Must),
            ("TB-PK-LOW", Level::Must),
            ("T-NO-TRACE", Level::Must),
            ("TB-PK-ORDER", Level::May),
            ("TB-TEXT-FRAME", Level::Should),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        assert_eq!(levels, expected);
    }

    #[test]
    fn origins_follow_the_prefixes() {
        for (id, origin) in [
            ("S-CREATE-201", Some(Origin::Source)),
            ("B-CACHE", Some(Origin::Binding)),
            ("T-HELLO", Some(Origin::Source)),
            ("TB-SIG", Some(Origin::Binding)),
            ("V-WS-SUB", Some(Origin::Source)),
            ("VB-ROUTE", Some(Origin::Binding)),
            ("VB-", None),
            ("V-", None),
            ("TB-", None),
            ("T-", None),
            ("X-Y", None),
            ("TBX", None),
        ] {
            assert_eq!(Origin::of_id(id), origin, "{id}");
        }
    }

    #[test]
    fn documents_belong_to_one_profile() {
        for d in SourceDocument::ALL {
            let owners = PROFILES.iter().filter(|c| c.documents.contains(&d)).count();
            assert_eq!(owners, 1, "{d}");
            let json = serde_json::to_string(&d).unwrap();
            assert_eq!(json, format!("\"{}\"", d.as_str()));
        }
        assert_eq!(SourceDocument::TassisDocs.profile(), "tassis-v2");
        assert_eq!(SourceDocument::Generic.profile(), "edge-v1");
        assert!(conventions("edge-v1").is_some() && conventions("nope").is_none());
    }

    #[test]
    fn ambiguity_numbers() {
        let a = |id: &str| Ambiguity {
            id: id.into(),
            question: String::new(),
            binding: String::new(),
            later: String::new(),
        };
        assert_eq!(a("A17").number(), Some(17));
        assert_eq!(a("D3").number(), Some(3));
        assert_eq!(a("17").number(), None);
        assert_eq!(a("D").number(), None);
    }

    #[test]
    fn tables_under_a_heading() {
        let md = "## Other\n| a | b |\n|---|---|\n| x | y |\n## Decisions, in one place\n\
                  \ntext\n| open | src | decision |\n|---|---|---|\n| `URL` | seed | one *URL* |\n\
                  | b | c | d |\nafter\n| not | this |\n## Next";
        let rows = binding_table_rows(md, "Decisions, in one place").unwrap();
        assert_eq!(
            rows,
            vec![vec!["URL", "seed", "one URL"], vec!["b", "c", "d"]]
        );
        assert_eq!(binding_table_rows(md, "Next"), None);
        assert_eq!(binding_table_rows(md, "Missing"), None);
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
