//! A hostile server's text through every output: escape sequences, HTML and Markdown fence
//! breakers in response bodies, header values, error messages and failure texts must be
//! displayed, never acted on; JSON keeps them exactly. A huge body must not give a line a
//! shell or a viewer cannot take: `curl` lines point at a body file holding the exact bytes.

mod report_fixture;

use std::path::Path;
use std::time::Duration;

use edgecheck::cli::Outputs;
use edgecheck::client::{Exchange, Request, Response, TransportError};
use edgecheck::engine::CheckResult;
use edgecheck::profiles::edge_v1;
use edgecheck::report::{html, junit, markdown, terminal, Results};

/// Terminal escapes (erase screen, OSC window title, C1 CSI), backspace and carriage return,
/// bidirectional overrides, a script tag and fence breakers of both kinds.
const HOSTILE: &str =
    "A\u{1b}[2J B\u{1b}]0;pwned\u{7} C\u{9b}31m D\u{8}\r E\u{202e}txt.exe\u{2066}F\u{2069} \
                       <script>alert(1)</script> & \n```\n````\nbreak out\n~~~\n~~~~ <img src=x>\n";

/// Characters no display output may carry raw: C0 controls but line feed and tab, DEL, C1
/// controls, bidirectional controls.
fn forbidden(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

fn assert_no_raw_controls(name: &str, text: &str) {
    if let Some((i, c)) = text.char_indices().find(|(_, c)| forbidden(*c)) {
        let from = text[..i].char_indices().rev().nth(40).map_or(0, |(j, _)| j);
        panic!("{name}: raw {c:?} at byte {i}, after {:?}", &text[from..i]);
    }
}

fn url(path: &str) -> url::Url {
    url::Url::parse(&format!("https://127.0.0.1:8443{path}")).unwrap()
}

fn exchange(request: Request, response: Result<Response, TransportError>) -> Exchange {
    Exchange {
        request,
        response,
        elapsed: Duration::from_millis(12),
        raw: false,
        insecure: false,
    }
}

fn results_of(checks: &[CheckResult]) -> Results {
    let mut r = Results::new(
        edge_v1::catalogue(),
        "https://127.0.0.1:8443/connection".into(),
        report_fixture::STARTED.into(),
        1234,
        Default::default(),
        checks,
    );
    r.edgecheck = "[version]".into();
    r
}

/// The fixture with the hostile text wherever a server can put text.
fn hostile_results() -> Results {
    let mut checks = report_fixture::check_results();
    for c in &mut checks {
        match c.id.as_str() {
            "create/duplicate-id-409" => {
                c.message = HOSTILE.into();
                let f = c.failure.as_mut().unwrap();
                f.expected = HOSTILE.into();
                f.actual = HOSTILE.into();
                let mut req = Request::new("POST", url("/connection"))
                    .header("Content-Type", "application/json")
                    .header("X-Echo", HOSTILE.replace('\n', " "));
                req.body = HOSTILE.as_bytes().to_vec();
                let resp = Response {
                    status: 201,
                    version: "HTTP/1.1".into(),
                    headers: vec![("x-server".into(), HOSTILE.replace('\n', " "))],
                    body: HOSTILE.as_bytes().to_vec(),
                    body_len: HOSTILE.len() as u64,
                    truncated: false,
                    body_stop: None,
                };
                c.exchanges.push(exchange(req, Ok(resp)));
            }
            "signatures/wrong-path" => {
                c.message = HOSTILE.into();
                c.exchanges = vec![exchange(
                    Request::new("GET", url("/connection")),
                    Err(TransportError::Other(HOSTILE.into())),
                )];
            }
            "create/only-uris" | "retrieve/paging" => c.message = HOSTILE.into(),
            _ => {}
        }
    }
    results_of(&checks)
}

/// Fenced code blocks of a Markdown text (CommonMark: a fence is 3+ backticks or tildes
/// indented at most 3 spaces; it is closed by a line of at least as many of the same
/// character and nothing else), and the lines outside them.
fn fences(md: &str) -> (Vec<String>, Vec<&str>) {
    let mut blocks = Vec::new();
    let mut outside = Vec::new();
    let mut open: Option<(char, usize, String)> = None;
    for line in md.lines() {
        let indent = line.len() - line.trim_start_matches(' ').len();
        let t = line.trim_start_matches(' ');
        let run = |ch: char| t.chars().take_while(|c| *c == ch).count();
        match &mut open {
            Some((ch, n, body)) => {
                let closes =
                    indent <= 3 && run(*ch) >= *n && t.trim_end().chars().all(|c| c == *ch);
                if closes {
                    blocks.push(std::mem::take(body));
                    open = None;
                } else {
                    body.push_str(line);
                    body.push('\n');
                }
            }
            None => {
                let opener = ['`', '~']
                    .into_iter()
                    .find(|ch| indent <= 3 && run(*ch) >= 3);
                match opener {
                    Some(ch) => open = Some((ch, run(ch), String::new())),
                    None => outside.push(line),
                }
            }
        }
    }
    assert!(open.is_none(), "a fence is never closed");
    (blocks, outside)
}

/// Tags of an HTML document balance (void elements aside; script and style contents
/// skipped), and no attribute or text holds a raw `<`.
fn assert_html_balanced(page: &str) {
    const VOID: [&str; 6] = ["meta", "br", "hr", "img", "input", "link"];
    let mut stack: Vec<String> = Vec::new();
    let mut rest = page;
    while let Some(i) = rest.find('<') {
        rest = &rest[i + 1..];
        if rest.starts_with('!') {
            rest = &rest[rest.find('>').expect("unterminated <!") + 1..];
            continue;
        }
        let end = rest.find('>').expect("unterminated tag");
        let tag = &rest[..end];
        assert!(!tag.contains('<'), "raw < inside a tag: <{tag}>");
        rest = &rest[end + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            let top = stack
                .pop()
                .unwrap_or_else(|| panic!("</{name}> closes nothing"));
            assert_eq!(top, name, "</{name}> closes <{top}>");
            continue;
        }
        let name: String = tag
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        assert!(!name.is_empty(), "a raw < in text: <{tag}>");
        if VOID.contains(&name.as_str()) {
            continue;
        }
        if name == "script" || name == "style" {
            let close = format!("</{name}>");
            let at = rest.find(&close).expect("unclosed script or style");
            rest = &rest[at + close.len()..];
            continue;
        }
        stack.push(name);
    }
    assert!(stack.is_empty(), "unclosed tags: {stack:?}");
}

#[test]
fn terminal_shows_escapes_not_controls() {
    let r = hostile_results();
    let text = terminal::render(&r, edge_v1::catalogue());
    assert_no_raw_controls("terminal", &text);
    assert!(text.contains(r"A\x1b[2J"), "{text}");
    assert!(text.contains(r"\x1b]0;pwned\x07"), "{text}");
    assert!(text.contains(r"C\u{9b}31m"), "{text}");
    assert!(
        text.contains(r"E\u{202e}txt.exe\u{2066}F\u{2069}"),
        "{text}"
    );
    assert!(!text.contains('\u{1b}'));
}

#[test]
fn json_keeps_the_exact_text() {
    let r = hostile_results();
    let text = serde_json::to_string_pretty(&r).unwrap();
    let back: Results = serde_json::from_str(&text).unwrap();
    assert_eq!(back, r);
    let c = back.check("create/duplicate-id-409").unwrap();
    assert_eq!(c.message, HOSTILE);
    assert_eq!(c.failure.as_ref().unwrap().actual, HOSTILE);
    let ex = c.exchanges.last().unwrap();
    assert_eq!(ex.response_body, HOSTILE);
    assert_eq!(ex.response_headers[0].1, HOSTILE.replace('\n', " "));
    let err = back.check("signatures/wrong-path").unwrap().exchanges[0]
        .error
        .clone()
        .unwrap();
    assert_eq!(err, HOSTILE);
}

#[test]
fn junit_is_well_formed_and_escaped() {
    let r = hostile_results();
    let xml = junit::render(&r, edge_v1::catalogue()).unwrap();
    quick_junit::Report::deserialize_from_str(&xml).expect("JUnit parses");
    assert_no_raw_controls("junit", &xml);
    assert!(!xml.contains("<script"), "a raw script tag in JUnit");
    assert!(!xml.contains("<img"), "a raw img tag in JUnit");
    assert!(xml.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(xml.contains(r"\x1b[2J"), "the escape is not shown");
}

#[test]
fn markdown_keeps_server_text_in_fences_or_escaped() {
    let r = hostile_results();
    let md = markdown::render(&r, edge_v1::catalogue());
    assert_no_raw_controls("markdown", &md);
    let (blocks, outside) = fences(&md);
    for line in &outside {
        assert!(
            !line.contains("<script"),
            "raw <script outside fences: {line}"
        );
        assert!(!line.contains("<img"), "raw <img outside fences: {line}");
        // Outside fences the hostile text is only ever one escaped line (a cell, a list item).
        if line.contains("break out") {
            assert!(
                line.contains("&lt;script&gt;"),
                "text escaped a fence: {line}"
            );
        }
    }
    // Each exchange of a failure gives two blocks (transcript, curl line): a fence closed
    // early would add or lose blocks, or leave text outside.
    let exchanges: usize = r
        .checks
        .iter()
        .filter(|c| matches!(c.verdict.as_str(), "fail" | "warn" | "error"))
        .map(|c| c.exchanges.len())
        .sum();
    assert_eq!(blocks.len(), 2 * exchanges, "fences opened or closed early");
    let transcript = blocks
        .iter()
        .find(|b| b.contains("x-server:"))
        .expect("the hostile transcript");
    for piece in [
        "<script>alert(1)</script>",
        "```\n````\nbreak out\n~~~\n~~~~",
    ] {
        assert!(
            transcript.contains(piece),
            "{piece:?} not kept in the fence"
        );
    }
    // Outside fences the text is shown, escaped.
    assert!(
        md.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp;"),
        "{md}"
    );
}

#[test]
fn html_is_well_formed_and_escaped() {
    let r = hostile_results();
    let page = html::render(&r, edge_v1::catalogue());
    assert_no_raw_controls("html", &page);
    assert_html_balanced(&page);
    assert_eq!(
        page.matches("<script").count(),
        1,
        "only the report's own script"
    );
    assert!(!page.contains("<img"));
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
}

#[test]
fn the_checks_fail_on_unescaped_text() {
    // The helpers above are not vacuous: they reject what escaping prevents.
    let bad_md = "# x\n\n```http\nbody\n```\n<script>alert(1)</script>\n```\n";
    let r = std::panic::catch_unwind(|| fences(bad_md));
    assert!(r.is_err(), "an unclosed fence is not seen");
    let (_, outside) = fences("```\na\n```\n<script>\n");
    assert!(outside.contains(&"<script>"));
    assert!(std::panic::catch_unwind(|| assert_no_raw_controls("t", "a\u{1b}[2J")).is_err());
    assert!(std::panic::catch_unwind(|| assert_no_raw_controls("t", "a\u{202e}")).is_err());
    assert!(std::panic::catch_unwind(|| assert_html_balanced("<p><b></p></b>")).is_err());
    assert!(std::panic::catch_unwind(|| assert_html_balanced("<p>a < b</p>")).is_err());
}

const BIG: usize = 300 * 1024;
const LINE_MAX: usize = 16 * 1024;

/// A failing check whose request carries a 300 KiB binary body, a 20 KiB header value and a
/// 20 KiB query; the response a 20 KiB header value.
fn huge_results() -> (Results, Vec<u8>) {
    let body: Vec<u8> = (0..BIG).map(|i| (i * 7 % 256) as u8).collect();
    let mut checks = report_fixture::check_results();
    let c = checks
        .iter_mut()
        .find(|c| c.id == "create/duplicate-id-409")
        .unwrap();
    let long = "v".repeat(20 * 1024);
    let mut req = Request::new("POST", url(&format!("/connection?q={long}")))
        .header("Content-Type", "application/octet-stream")
        .header("X-Long", long.clone());
    req.body = body.clone();
    let resp = Response {
        status: 201,
        version: "HTTP/1.1".into(),
        headers: vec![("x-long".into(), long.clone())],
        body: vec![b'r'; BIG],
        body_len: BIG as u64,
        truncated: false,
        body_stop: None,
    };
    c.exchanges.push(exchange(req, Ok(resp)));
    c.failure.as_mut().unwrap().actual = long;
    (results_of(&checks), body)
}

fn assert_short_lines(name: &str, text: &str) {
    for (n, line) in text.lines().enumerate() {
        assert!(
            line.len() <= LINE_MAX,
            "{name}: line {} has {} bytes: {}…",
            n + 1,
            line.len(),
            &line[..80.min(line.len())]
        );
    }
}

/// The body file a displayed curl line reads: the word after `--data-binary @` (HTML and
/// XML quote their apostrophes).
fn body_file_of(text: &str) -> String {
    let text = text.replace("&#39;", "'").replace("&apos;", "'");
    let line = text
        .lines()
        .find(|l| l.contains("--data-binary @") && !l.contains("BODY_FILE"))
        .expect("a curl line reading a body file");
    let word = line.split("--data-binary @").nth(1).unwrap();
    let word = word.strip_prefix('\'').expect("a quoted file name");
    word[..word.find('\'').expect("a closing quote")].to_string()
}

#[test]
fn huge_bodies_go_to_files_and_no_line_is_too_long() {
    let (r, body) = huge_results();
    let cat = edge_v1::catalogue();
    // The results file keeps the whole command: it is data.
    let check = r.check("create/duplicate-id-409").unwrap();
    assert!(check.exchanges.last().unwrap().curl.len() > BIG);

    // Terminal alone: the body is described, with how to get it.
    let text = terminal::render(&r, cat);
    assert_short_lines("terminal", &text);
    assert!(
        text.contains(&format!("the {BIG}-byte body is not shown")),
        "{text}"
    );
    assert!(text.contains("--report"));

    let dir = tempfile::tempdir().unwrap();
    for ext in ["md", "html"] {
        let report = dir.path().join(format!("out-{ext}.{ext}"));
        let junit_path = dir.path().join(format!("junit-{ext}.xml"));
        let json_path = dir.path().join(format!("results-{ext}.json"));
        let outputs = Outputs::new(
            Some(json_path.clone()),
            Some(junit_path.clone()),
            Some(report.clone()),
        )
        .unwrap();
        let bodies = outputs.body_files(&r);
        let errors = outputs.write(&r, cat, &bodies);
        assert!(errors.is_empty(), "{errors:?}");

        let written = std::fs::read_to_string(&report).unwrap();
        assert_short_lines(ext, &written);
        assert!(
            written.contains("…(20480 bytes)"),
            "no visible cut marker in {ext}"
        );
        // The report names the file relative to its own directory; it holds the exact bytes.
        let name = body_file_of(&written);
        assert_eq!(
            name,
            format!("out-{ext}.bodies/create-duplicate-id-409-3.bin")
        );
        assert_eq!(std::fs::read(dir.path().join(&name)).unwrap(), body);

        let xml = std::fs::read_to_string(&junit_path).unwrap();
        assert_short_lines("junit", &xml);
        let from_cwd = body_file_of(&xml);
        assert_eq!(std::fs::read(Path::new(&from_cwd)).unwrap(), body);

        // The terminal of the same run names the file as seen from the working directory.
        let text = terminal::render_with(&r, cat, &bodies);
        assert_short_lines("terminal", &text);
        assert_eq!(body_file_of(&text), from_cwd);

        // JSON keeps the whole command, body included.
        let back = edgecheck::report::json::read(&json_path).unwrap();
        assert_eq!(back, r);
    }
}
