//! The HTTP request of a step: its URL (through the connection's current or an older URI),
//! method, headers and signatures, around the body `body.rs` builds.

use url::Url;

use super::error::StepError;
use super::state::CaseRun;
use super::view::SignedHeader;
use crate::client::Request as HttpRequest;
use crate::profiles::edge_v1::case::{parse_via, Step};
use crate::profiles::edge_v1::model::Endpoint;
use crate::profiles::edge_v1::sign::{self, SigFault};

impl CaseRun<'_> {
    /// The request of `step` at `endpoint`, signed as the step says.
    pub(super) fn http_request(
        &mut self,
        step: &Step,
        endpoint: Endpoint,
    ) -> Result<HttpRequest, StepError> {
        let body = self.body_bytes(step, endpoint)?;
        let url = self.url(step, endpoint)?;
        let method = step
            .method
            .clone()
            .unwrap_or_else(|| endpoint.method().to_string());
        let target = step.path.as_ref().map(|p| p.replace("{path}", url.path()));
        let mut req = HttpRequest {
            method,
            url,
            target,
            headers: Vec::new(),
            body,
        };
        match &step.content_type {
            None => req
                .headers
                .push(("Content-Type".into(), b"application/json".to_vec())),
            Some(None) => {}
            Some(Some(v)) => {
                for ct in v.values() {
                    req.headers.push(("Content-Type".into(), ct.into_bytes()));
                }
            }
        }
        for (k, v) in step.headers.iter().flatten() {
            req.headers.push((k.clone(), v.clone().into_bytes()));
        }
        let authorization = SignedHeader::authorization(&self.model, step, endpoint);
        self.add_signature(&mut req, &authorization);
        self.add_signature(&mut req, &SignedHeader::new_key(step, endpoint));
        Ok(req)
    }

    /// The URL a step goes to (before `path` overrides).
    fn url(&self, step: &Step, endpoint: Endpoint) -> Result<Url, StepError> {
        let mut url = if endpoint == Endpoint::Create {
            let server = self.conns.get(&step.conn).map_or(0, |l| l.server);
            self.ctx.servers[server.min(self.ctx.servers.len() - 1)].clone()
        } else {
            self.party_url(step, endpoint)?
        };
        if endpoint.is_messages() {
            let p = format!("{}/messages", url.path());
            url.set_path(&p);
        }
        if let Some(sfx) = &step.path_suffix {
            let p = format!("{}{sfx}", url.path());
            url.set_path(&p);
        }
        Ok(url)
    }

    /// The RU or SU a step goes through: the newest, or the version its `via` names.
    fn party_url(&self, step: &Step, endpoint: Endpoint) -> Result<Url, StepError> {
        let live = self.live(&step.conn)?;
        let (list, which) = if endpoint.is_recipient() {
            (&live.ru, "ru")
        } else {
            (&live.su, "su")
        };
        let index = match step.via.as_deref().and_then(parse_via) {
            Some((is_ru, _)) if is_ru != endpoint.is_recipient() => {
                return Err(StepError::ViaMismatch {
                    via: step.via.clone().unwrap_or_default(),
                    endpoint: endpoint.name(),
                })
            }
            Some((_, n)) => n,
            None => list.len() - 1,
        };
        list.get(index)
            .cloned()
            .ok_or_else(|| StepError::NoSuchUri {
                conn: step.conn.clone(),
                which,
                index,
            })
    }

    /// Add one signature header to `req` as `h` describes it.
    fn add_signature(&mut self, req: &mut HttpRequest, h: &SignedHeader<'_>) {
        let Some(name) = &h.signer else {
            for v in h.literals.into_iter().flatten() {
                req.headers.push((h.name.into(), v.clone().into_bytes()));
            }
            return;
        };
        let key = self.signing_key(name);
        let other = match h.fault {
            Some(SigFault::OtherKey) => self.key("$other"),
            _ => key.clone(),
        };
        let path = req.request_target();
        let token = sign::signature_token(&key, &other, &req.method, &path, &req.body, h.fault);
        self.signatures += 1;
        let values: Vec<String> = match h.literals {
            Some(lits) => lits.iter().map(|l| l.replace("{sig}", &token)).collect(),
            None if h.scheme => vec![sign::authorization(&token)],
            None => vec![token],
        };
        for v in values {
            req.headers.push((h.name.into(), v.into_bytes()));
        }
    }
}
