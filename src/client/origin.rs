//! Which origins the suite may contact. A server chooses the URIs the suite follows next, so a
//! hostile server could point it anywhere; the client sends requests only to the origins
//! (scheme, host, port) of the targets given and those the user adds (`--allow-origin`), and
//! never to a URL with userinfo.

use url::Url;

/// An origin: scheme, host and port (the default port made explicit).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Origin {
    /// `http`, `https`, `ws` or `wss`.
    pub scheme: String,
    /// Host as written in the URL (IPv6 in brackets).
    pub host: String,
    /// Port, the scheme's default when the URL has none.
    pub port: u16,
}

impl Origin {
    /// The origin of `url`, when it has a host and a known port.
    pub fn of(url: &Url) -> Option<Origin> {
        Some(Origin {
            scheme: url.scheme().to_ascii_lowercase(),
            host: url.host_str()?.to_ascii_lowercase(),
            port: url.port_or_known_default()?,
        })
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
    }
}

/// Why a URL may not be contacted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OriginError {
    /// The URL carries `user:password@`.
    #[error("{url} carries userinfo, which the suite never sends")]
    Userinfo {
        /// The URL, cut to 200 characters.
        url: String,
    },
    /// The URL is on an origin that was not given.
    #[error(
        "{url} is on {origin}, not an origin of --server; the suite does not follow it \
         (add --allow-origin {origin} if the server is meant to be reached there)"
    )]
    Elsewhere {
        /// The URL, cut to 200 characters.
        url: String,
        /// Its origin.
        origin: String,
    },
}

fn cut(url: &Url) -> String {
    url.as_str().chars().take(200).collect()
}

/// The origins a run may contact; an empty list allows any (in-process tests).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OriginPolicy {
    allowed: Vec<Origin>,
}

impl OriginPolicy {
    /// A policy allowing exactly these origins.
    pub fn only(allowed: impl IntoIterator<Item = Origin>) -> OriginPolicy {
        let mut allowed: Vec<Origin> = allowed.into_iter().collect();
        allowed.sort();
        allowed.dedup();
        OriginPolicy { allowed }
    }

    /// A policy allowing any origin (for tests that build their own client).
    pub fn any() -> OriginPolicy {
        OriginPolicy::default()
    }

    /// Whether the policy restricts anything.
    pub fn is_restricted(&self) -> bool {
        !self.allowed.is_empty()
    }

    /// Whether `origin` is one of the allowed origins.
    pub fn contains(&self, origin: &Origin) -> bool {
        self.allowed.contains(origin)
    }

    /// Whether a request to `url` may be sent.
    pub fn check(&self, url: &Url) -> Result<(), OriginError> {
        if !url.username().is_empty() || url.password().is_some() {
            return Err(OriginError::Userinfo { url: cut(url) });
        }
        if !self.is_restricted() {
            return Ok(());
        }
        match Origin::of(url) {
            Some(o) if self.contains(&o) => Ok(()),
            o => Err(OriginError::Elsewhere {
                url: cut(url),
                origin: o.map_or_else(|| "an unknown origin".to_string(), |o| o.to_string()),
            }),
        }
    }
}

/// How a URI a server returned relates to the endpoint it came from (`base`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UriOrigin {
    /// Same origin as `base`.
    Same,
    /// Another origin the user allowed (`--allow-origin`): the origin rule is waived for it.
    Allowed(Origin),
}

/// Why a returned URI breaks the origin rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UriOriginError {
    /// Cleartext `http://` from an `https://` endpoint (a downgrade).
    #[error("{url} is plain http:// although the endpoint is https://: a cleartext downgrade")]
    Downgrade {
        /// The URI.
        url: String,
    },
    /// Userinfo, or an origin neither the endpoint's nor allowed.
    #[error(transparent)]
    Origin(#[from] OriginError),
}

/// Judge a URI `uri` a server returned relative to `base` (the endpoint it answered on):
/// same origin, another allowed one, or a violation. `allow_http` lets an `http://` URI from
/// an `https://` endpoint through to the origin test (it is still another origin).
pub fn judge_uri(
    base: &Url,
    uri: &Url,
    policy: &OriginPolicy,
    allow_http: bool,
) -> Result<UriOrigin, UriOriginError> {
    if !uri.username().is_empty() || uri.password().is_some() {
        return Err(OriginError::Userinfo { url: cut(uri) }.into());
    }
    let downgrade = base.scheme() == "https" && uri.scheme() == "http";
    if downgrade && !allow_http {
        return Err(UriOriginError::Downgrade { url: cut(uri) });
    }
    let (Some(b), Some(u)) = (Origin::of(base), Origin::of(uri)) else {
        return Err(OriginError::Elsewhere {
            url: cut(uri),
            origin: "an unknown origin".into(),
        }
        .into());
    };
    if b == u {
        return Ok(UriOrigin::Same);
    }
    if policy.contains(&u) {
        return Ok(UriOrigin::Allowed(u));
    }
    Err(OriginError::Elsewhere {
        url: cut(uri),
        origin: u.to_string(),
    }
    .into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn default_ports_and_case_make_one_origin() {
        assert_eq!(
            Origin::of(&u("https://H.example/x")),
            Origin::of(&u("https://h.example:443/y"))
        );
        assert_ne!(
            Origin::of(&u("https://h.example/")),
            Origin::of(&u("http://h.example/"))
        );
    }

    #[test]
    fn the_policy_refuses_other_origins_and_userinfo() {
        let p = OriginPolicy::only(Origin::of(&u("https://127.0.0.1:8443/connection")));
        assert!(p.check(&u("https://127.0.0.1:8443/connection/abc")).is_ok());
        assert!(matches!(
            p.check(&u("https://127.0.0.1:9999/x")),
            Err(OriginError::Elsewhere { .. })
        ));
        assert!(matches!(
            p.check(&u("https://a:b@127.0.0.1:8443/x")),
            Err(OriginError::Userinfo { .. })
        ));
        assert!(OriginPolicy::any().check(&u("https://other/x")).is_ok());
        assert!(OriginPolicy::any().check(&u("https://a@other/x")).is_err());
    }

    #[test]
    fn returned_uris_are_judged_against_their_endpoint() {
        let ce = u("https://127.0.0.1:8443/connection");
        let extra = u("https://127.0.0.1:9000/");
        let p = OriginPolicy::only([Origin::of(&ce).unwrap(), Origin::of(&extra).unwrap()]);
        assert_eq!(
            judge_uri(&ce, &u("https://127.0.0.1:8443/r/1"), &p, false),
            Ok(UriOrigin::Same)
        );
        assert!(matches!(
            judge_uri(&ce, &u("https://127.0.0.1:9000/r/1"), &p, false),
            Ok(UriOrigin::Allowed(_))
        ));
        assert!(matches!(
            judge_uri(&ce, &u("https://127.0.0.1:9001/r/1"), &p, false),
            Err(UriOriginError::Origin(OriginError::Elsewhere { .. }))
        ));
        assert!(matches!(
            judge_uri(&ce, &u("http://127.0.0.1:8443/r/1"), &p, false),
            Err(UriOriginError::Downgrade { .. })
        ));
        assert!(matches!(
            judge_uri(&ce, &u("http://127.0.0.1:8443/r/1"), &p, true),
            Err(UriOriginError::Origin(_))
        ));
        assert!(matches!(
            judge_uri(&ce, &u("https://x:y@127.0.0.1:8443/r/1"), &p, false),
            Err(UriOriginError::Origin(OriginError::Userinfo { .. }))
        ));
    }
}
