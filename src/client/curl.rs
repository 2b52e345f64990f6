//! Renders an exchange as a `curl` command that reproduces the request.

use url::Position;

use super::shell::quote;
use super::{redact, Exchange};

/// A copy-pasteable `curl` command for the request of `ex`: method, URL, every header
/// field, the body with `--data-binary`, `--insecure` and `--path-as-is` when they applied.
/// Signatures and public keys are shortened (`<sig:MEUCIQ…(344 chars)>`), with a note that
/// the signature must be recomputed; the suite never holds a private key in a request.
pub fn curl(ex: &Exchange) -> String {
    let r = &ex.request;
    let mut shortened = false;
    let mut args: Vec<String> = vec!["curl".into(), "-i".into()];
    if ex.insecure {
        args.push("--insecure".into());
    }
    if ex.raw {
        args.push("--http1.1".into());
    }
    let url = match &r.target {
        Some(target) => {
            args.push("--path-as-is".into());
            format!("{}{target}", &r.url[..Position::BeforePath])
        }
        None => r.url[..Position::AfterQuery].to_owned(),
    };
    if r.method == "HEAD" {
        args.push("--head".into());
    } else {
        args.push(format!("-X {}", quote(r.method.as_bytes())));
    }
    args.push(quote(url.as_bytes()));

    let mut has_content_type = false;
    for (name, value) in &r.headers {
        has_content_type |= name.eq_ignore_ascii_case("content-type");
        let value = shorten_header(name, value, &mut shortened);
        // `-H 'Name:'` removes a header in curl; `-H 'Name;'` sends it empty.
        let field = if value.is_empty() {
            format!("{name};").into_bytes()
        } else {
            [name.as_bytes(), b": ", &value].concat()
        };
        args.push(format!("-H {}", quote(&field)));
    }
    if !r.body.is_empty() {
        if !has_content_type {
            // curl adds a form Content-Type to every body unless told not to.
            args.push("-H 'Content-Type:'".into());
        }
        let body = shorten_body(&r.body, &mut shortened);
        // `--data-binary @x` would read file x; `--data-raw` takes `@` literally.
        let flag = if body.first() == Some(&b'@') {
            "--data-raw"
        } else {
            "--data-binary"
        };
        args.push(format!("{flag} {}", quote(&body)));
    }

    let mut out = String::new();
    if shortened {
        out.push_str(
            "# <sig:…> and <key:…> are shortened. Re-sign before sending: the signature covers\n\
             # the method, the path and the exact body, so it must be recomputed.\n",
        );
    }
    out.push_str(&args.join(" \\\n  "));
    out
}

fn shorten_header(name: &str, value: &[u8], shortened: &mut bool) -> Vec<u8> {
    redact::header(name, value).map_or_else(
        || value.to_vec(),
        |v| {
            *shortened = true;
            v
        },
    )
}

fn shorten_body(body: &[u8], shortened: &mut bool) -> Vec<u8> {
    redact::body(body).map_or_else(
        || body.to_vec(),
        |v| {
            *shortened = true;
            v.into_bytes()
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::{Request, TransportError};
    use std::time::Duration;

    fn exchange(r: Request) -> Exchange {
        Exchange {
            request: r,
            response: Err(TransportError::Timeout),
            elapsed: Duration::ZERO,
            raw: false,
            insecure: false,
        }
    }

    #[test]
    fn renders_method_url_headers_and_body() {
        let sig = "A".repeat(342) + "==";
        let r = Request::new("POST", url::Url::parse("https://h:8443/r/x?y#f").unwrap())
            .header("Content-Type", "application/json")
            .header("Authorization", format!("EMSig {sig}"))
            .header("Authorization", "EMSig x")
            .header("X-Empty", "")
            .body(r#"{"connectionID":"it's"}"#);
        let out = curl(&exchange(r));
        assert_eq!(
            out,
            "# <sig:…> and <key:…> are shortened. Re-sign before sending: the signature covers\n\
             # the method, the path and the exact body, so it must be recomputed.\n\
             curl \\\n  -i \\\n  -X 'POST' \\\n  'https://h:8443/r/x?y' \\\n  \
             -H 'Content-Type: application/json' \\\n  \
             -H 'Authorization: EMSig <sig:AAAAAAAA…(344 chars)>' \\\n  \
             -H 'Authorization: EMSig x' \\\n  -H 'X-Empty;' \\\n  \
             --data-binary '{\"connectionID\":\"it'\\''s\"}'"
        );
    }

    #[test]
    fn literal_targets_keys_and_odd_bodies() {
        let key = format!("MIIBIjAN{}", "B".repeat(384));
        let mut r = Request::new(
            "PUT",
            url::Url::parse("http://127.0.0.1:1/connection").unwrap(),
        )
        .header("EM-New-Key-Signature", "C".repeat(344))
        .body(format!(r#"{{"recipient": "{key}","x":1}}"#));
        r.target = Some("/connection/./x".into());
        let mut ex = exchange(r);
        ex.insecure = true;
        ex.raw = true;
        let out = curl(&ex);
        assert!(out.contains("--insecure"), "{out}");
        assert!(out.contains("--path-as-is"), "{out}");
        assert!(out.contains("'http://127.0.0.1:1/connection/./x'"), "{out}");
        assert!(out.contains("-H 'EM-New-Key-Signature: <sig:CCCCCCCC…(344 chars)>'"));
        assert!(
            out.contains(r#"{"recipient": "<key:MIIBIjAN…(392 chars)>","x":1}"#),
            "{out}"
        );
        assert!(out.contains("-H 'Content-Type:'"), "{out}");
        assert!(!out.contains(&key));

        let odd = Request::new("POST", url::Url::parse("http://h/c").unwrap())
            .header("Content-Type", "application/json")
            .body(b"@/etc/passwd\xff".to_vec());
        let out = curl(&exchange(odd));
        assert!(out.ends_with(r"--data-raw $'@/etc/passwd\xff'"), "{out}");
        assert!(!out.starts_with('#'));
    }
}
