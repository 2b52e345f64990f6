use super::*;

fn key(k: &str) -> Auth {
    Auth::Key(k.to_string())
}

/// Predict, check the status is allowed, commit; returns the prediction.
fn step(m: &mut Model, req: Request, status: u16, count: Option<usize>) -> Prediction {
    let pred = m.predict(&req).expect("predict");
    assert!(
        pred.allows(status),
        "{:?} on {}: {status} not in {:?} ({})",
        req.endpoint,
        req.conn,
        pred.statuses,
        pred.rule
    );
    m.commit(&req, &pred, Observed { status, count });
    pred
}

fn create(m: &mut Model, conn: &str, rk: &str) {
    let mut r = Request::new(conn, Endpoint::Create);
    r.params.recipient = Some(rk.into());
    r.auth = key(rk);
    step(m, r, 201, None);
}

fn send(m: &mut Model, conn: &str, auth: Auth, msgs: &[&str]) -> Prediction {
    let mut r = Request::new(conn, Endpoint::Send);
    r.auth = auth;
    r.params.messages = msgs.iter().map(|s| s.to_string()).collect();
    m.predict(&r).unwrap()
}

fn commit_send(m: &mut Model, conn: &str, auth: Auth, msgs: &[&str]) {
    let mut r = Request::new(conn, Endpoint::Send);
    r.auth = auth;
    r.params.messages = msgs.iter().map(|s| s.to_string()).collect();
    step(m, r, 200, None);
}

fn secure(m: &mut Model, conn: &str, rk: &str, sk: &str) {
    let mut r = Request::new(conn, Endpoint::Update);
    r.auth = key(rk);
    r.params.sender = Some(sk.into());
    step(m, r, 200, None);
}

fn retrieve(
    m: &Model,
    conn: &str,
    rk: &str,
    page: Option<u64>,
    from: Option<&str>,
    keep: bool,
) -> Request {
    let mut r = Request::new(conn, Endpoint::Retrieve);
    r.auth = key(rk);
    r.params.page_size = page;
    r.params.from = from.map(str::to_string);
    r.params.keep = keep.then_some(true);
    let _ = m;
    r
}

#[test]
fn create_is_self_signed_and_unique() {
    let mut m = Model::new(Some(50));
    let mut r = Request::new("c", Endpoint::Create);
    r.params.recipient = Some("rk".into());
    r.auth = key("other");
    assert_eq!(m.predict(&r).unwrap().statuses, [401].into());
    create(&mut m, "c", "rk");
    let mut dup = Request::new("c2", Endpoint::Create);
    dup.params.recipient = Some("rk2".into());
    dup.params.cid = Some("c".into());
    dup.auth = key("rk2");
    let p = m.predict(&dup).unwrap();
    assert_eq!((p.statuses.clone(), p.rule), ([409].into(), "S-CREATE-409"));
}

#[test]
fn first_update_needs_sender() {
    let mut m = Model::new(Some(50));
    create(&mut m, "c", "rk");
    let mut r = Request::new("c", Endpoint::Update);
    r.auth = key("rk");
    r.params.disabled = Some(true);
    let p = m.predict(&r).unwrap();
    assert_eq!((p.statuses.clone(), p.rule), ([400].into(), "S-RUPD-FIRST"));
    // Rejected: the connection is not disabled afterwards.
    m.commit(
        &r,
        &p,
        Observed {
            status: 400,
            count: None,
        },
    );
    assert!(!m.conn("c").unwrap().disabled);
    secure(&mut m, "c", "rk", "sk");
    assert_eq!(m.predict(&r).unwrap().statuses, [200].into());
}

#[test]
fn open_connection_accepts_any_send_until_secured() {
    let mut m = Model::new(Some(50));
    create(&mut m, "c", "rk");
    for auth in [Auth::None, Auth::Bad, key("whatever")] {
        assert_eq!(send(&mut m, "c", auth, &["m"]).statuses, [200].into());
    }
    secure(&mut m, "c", "rk", "sk");
    assert_eq!(
        send(&mut m, "c", Auth::None, &["m"]).rule,
        "S-G-SIGNED-ONLY"
    );
    assert_eq!(send(&mut m, "c", key("rk"), &["m"]).rule, "S-G-KEYS");
    assert_eq!(send(&mut m, "c", key("sk"), &["m"]).statuses, [200].into());
}

#[test]
fn new_key_needs_proof_of_possession() {
    let mut m = Model::new(Some(50));
    create(&mut m, "c", "rk");
    secure(&mut m, "c", "rk", "sk");
    let mut r = Request::new("c", Endpoint::Update);
    r.auth = key("rk");
    r.params.recipient = Some("rk2".into());
    let p = m.predict(&r).unwrap();
    assert_eq!((p.statuses.clone(), p.rule), ([401].into(), "B-SIG-NEWKEY"));
    r.new_key_auth = key("rk");
    assert_eq!(m.predict(&r).unwrap().rule, "B-SIG-NEWKEY");
    r.new_key_auth = key("rk2");
    step(&mut m, r, 200, None);
    // The old key is dead on every recipient endpoint.
    let old = retrieve(&m, "c", "rk", None, None, false);
    let p = m.predict(&old).unwrap();
    assert_eq!(
        (p.statuses.clone(), p.rule),
        ([401].into(), "S-RUPD-OLDKEY")
    );
    // Recipient replacing SK needs no second signature.
    let mut r = Request::new("c", Endpoint::Update);
    r.auth = key("rk2");
    r.params.sender = Some("sk2".into());
    step(&mut m, r, 200, None);
    assert_eq!(send(&mut m, "c", key("sk"), &["m"]).rule, "S-RUPD-OLDKEY");
}

#[test]
fn old_uris_stay_dead_across_rotations() {
    let mut m = Model::new(Some(50));
    create(&mut m, "c", "rk");
    secure(&mut m, "c", "rk", "sk");
    for _ in 0..3 {
        let mut r = Request::new("c", Endpoint::SenderUpdate);
        r.auth = key("sk");
        r.params.new_sender_uri = Some(true);
        let p = step(&mut m, r, 200, None);
        assert_eq!(
            p.outcome,
            Outcome::Updated {
                recipient_uri: false,
                sender_uri: true
            }
        );
    }
    for v in 0..3 {
        let mut r = Request::new("c", Endpoint::Send);
        r.auth = key("sk");
        r.via = Via::Version(v);
        let p = m.predict(&r).unwrap();
        assert_eq!(
            (p.statuses.clone(), p.rule),
            ([404].into(), "S-SUPD-OLDURI")
        );
    }
    let mut r = Request::new("c", Endpoint::Send);
    r.auth = key("sk");
    r.params.messages = vec!["m".into()];
    r.via = Via::Version(3);
    assert_eq!(m.predict(&r).unwrap().statuses, [200].into());
    r.via = Via::Version(4);
    assert!(m.predict(&r).is_err());
}

#[test]
fn paging_with_from_and_next() {
    let mut m = Model::new(Some(3));
    create(&mut m, "c", "rk");
    commit_send(&mut m, "c", Auth::None, &["a", "b", "c", "d", "e"]);
    // Without pageSize: PAGE_SIZE caps.
    let p = m
        .predict(&retrieve(&m, "c", "rk", None, None, true))
        .unwrap();
    let Outcome::Retrieved(sel) = &p.outcome else {
        panic!("{p:?}")
    };
    assert_eq!(sel.exact(), Some(3));
    assert_eq!(sel.candidates[3], "d");
    // pageSize larger than PAGE_SIZE is capped; min, not max.
    let p = m
        .predict(&retrieve(&m, "c", "rk", Some(10), Some("c"), true))
        .unwrap();
    let Outcome::Retrieved(sel) = &p.outcome else {
        panic!()
    };
    assert_eq!(
        (sel.exact(), sel.candidates.clone()),
        (Some(3), vec!["c".into(), "d".into(), "e".into()])
    );
    // Destructive retrieval of 2 from "b" removes b and c only.
    let r = retrieve(&m, "c", "rk", Some(2), Some("b"), false);
    step(&mut m, r, 200, Some(2));
    assert_eq!(m.conn("c").unwrap().queue, vec!["a", "d", "e"]);
    // A removed id is unknown: 400, and no history.
    let p = m
        .predict(&retrieve(&m, "c", "rk", None, Some("b"), true))
        .unwrap();
    assert_eq!(
        (p.statuses.clone(), p.rule),
        ([400].into(), "S-PRIV-NOHIST-MSG")
    );
}

#[test]
fn delete_messages_is_not_capped_by_page_size() {
    let mut m = Model::new(Some(2));
    create(&mut m, "c", "rk");
    commit_send(&mut m, "c", Auth::None, &["a", "b", "c", "d"]);
    let mut r = Request::new("c", Endpoint::DeleteMessages);
    r.auth = key("rk");
    r.params.from = Some("b".into());
    let p = step(&mut m, r, 200, Some(3));
    let Outcome::DeletedMessages(sel) = p.outcome else {
        panic!()
    };
    assert_eq!(sel.exact(), Some(3));
    assert_eq!(m.conn("c").unwrap().queue, vec!["a"]);
}

#[test]
fn unknown_page_size_allows_a_range_and_is_learned() {
    let mut m = Model::new(None);
    create(&mut m, "c", "rk");
    commit_send(&mut m, "c", Auth::None, &["a", "b", "c"]);
    let r = retrieve(&m, "c", "rk", None, None, true);
    let p = m.predict(&r).unwrap();
    let Outcome::Retrieved(sel) = &p.outcome else {
        panic!()
    };
    assert_eq!((sel.min, sel.max), (1, 3));
    m.commit(
        &r,
        &p,
        Observed {
            status: 200,
            count: Some(2),
        },
    );
    assert_eq!(m.page_size, Some(2));
}

#[test]
fn disabled_refuses_sends_and_keeps_messages() {
    let mut m = Model::new(Some(50));
    let mut r = Request::new("c", Endpoint::Create);
    r.params.recipient = Some("rk".into());
    r.params.disabled = Some(true);
    r.auth = key("rk");
    step(&mut m, r, 201, None);
    let p = send(&mut m, "c", Auth::None, &["x"]);
    assert!(p.allows(401) && p.allows(403) && !p.allows(200));
    assert_eq!(p.preferred.as_ref().unwrap().0, [403].into());
    // Retrieval works while disabled.
    assert_eq!(
        m.predict(&retrieve(&m, "c", "rk", None, None, false))
            .unwrap()
            .statuses,
        [200].into()
    );
}

#[test]
fn a_connection_created_disabled_refuses_sends_by_the_create_rule_until_an_update_sets_it() {
    let mut m = Model::new(Some(50));
    let mut r = Request::new("c", Endpoint::Create);
    r.params.recipient = Some("rk".into());
    r.params.disabled = Some(true);
    r.auth = key("rk");
    step(&mut m, r, 201, None);
    let p = send(&mut m, "c", Auth::None, &["x"]);
    assert_eq!(p.rule, "S-CREATE-DIS");
    // 403 stays B-SEND-DISABLED's preference.
    assert_eq!(p.preferred.as_ref().unwrap().1, "B-SEND-DISABLED");
    let mut u = Request::new("c", Endpoint::Update);
    u.auth = key("rk");
    u.params.sender = Some("sk".into());
    u.params.disabled = Some(true);
    step(&mut m, u, 200, None);
    assert_eq!(send(&mut m, "c", key("sk"), &["x"]).rule, "B-SEND-DISABLED");
}

#[test]
fn messages_queued_at_deletion_are_gone_with_the_connection() {
    let mut m = Model::new(Some(50));
    create(&mut m, "c", "rk");
    commit_send(&mut m, "c", Auth::None, &["a", "b"]);
    let r = retrieve(&m, "c", "rk", Some(1), None, false);
    step(&mut m, r, 200, Some(1));
    let mut d = Request::new("c", Endpoint::Delete);
    d.auth = key("rk");
    step(&mut m, d, 200, None);
    assert!(
        !m.gone_with_connection("a"),
        "removed by the retrieval before"
    );
    assert!(m.gone_with_connection("b"));
}

#[test]
fn deleted_connection_is_gone_and_its_id_reusable() {
    let mut m = Model::new(Some(50));
    create(&mut m, "c", "rk");
    commit_send(&mut m, "c", Auth::None, &["a"]);
    let mut d = Request::new("c", Endpoint::Delete);
    d.auth = key("rk");
    step(&mut m, d, 200, None);
    assert_eq!(send(&mut m, "c", Auth::None, &["b"]).rule, "S-DEL-AFTER");
    let mut again = Request::new("c2", Endpoint::Create);
    again.params.recipient = Some("rk2".into());
    again.params.cid = Some("c".into());
    again.auth = key("rk2");
    step(&mut m, again, 201, None);
    assert!(m.conn("c2").unwrap().queue.is_empty());
}

#[test]
fn order_of_checks_is_route_body_cid_auth_state() {
    let mut m = Model::new(Some(50));
    create(&mut m, "c", "rk");
    let mut r = Request::new("c", Endpoint::SenderUpdate);
    r.auth = Auth::None;
    r.fault = Some(Fault::Prohibited);
    assert_eq!(m.predict(&r).unwrap().rule, "S-SUPD-PROHIB");
    r.fault = Some(Fault::Body);
    assert_eq!(m.predict(&r).unwrap().statuses, [400].into());
    r.fault = Some(Fault::CidMismatch);
    assert_eq!(m.predict(&r).unwrap().statuses, [404].into());
    r.fault = None;
    assert_eq!(m.predict(&r).unwrap().rule, "S-SUPD-KEY");
    r.fault = Some(Fault::Method);
    assert_eq!(m.predict(&r).unwrap().statuses, [404, 405].into());
}

#[test]
fn a_wrong_signature_on_a_disabled_connection_allows_either_fault_and_prefers_401() {
    let mut m = Model::new(Some(50));
    create(&mut m, "c", "rk");
    let mut u = Request::new("c", Endpoint::Update);
    u.auth = key("rk");
    u.params.sender = Some("sk".into());
    u.params.disabled = Some(true);
    step(&mut m, u, 200, None);
    // Two faults (signature, then state): any 4xx the state allows is no MUST failure, and
    // 401, the earlier step's (§3.1), is B-ORDER's preference.
    let p = send(&mut m, "c", Auth::Bad, &["x"]);
    assert!(p.allows(401) && p.allows(403) && !p.allows(200), "{p:?}");
    assert_eq!(p.rule, "S-G-SIGNED-ONLY");
    assert_eq!(p.preferred, Some(([401].into(), "B-ORDER")));
    // One fault: 401 alone.
    let mut e = Request::new("c", Endpoint::Update);
    e.auth = key("rk");
    e.params.disabled = Some(false);
    step(&mut m, e, 200, None);
    let p = send(&mut m, "c", Auth::Bad, &["x"]);
    assert_eq!((p.statuses, p.preferred), ([401].into(), None));
}

#[test]
fn a_bad_signature_on_a_create_of_a_taken_id_allows_409_and_prefers_401() {
    let mut m = Model::new(Some(50));
    create(&mut m, "c", "rk");
    let mut r = Request::new("c", Endpoint::Create);
    r.params.recipient = Some("rk".into());
    r.auth = Auth::Bad;
    let p = m.predict(&r).unwrap();
    assert_eq!(p.statuses, [401, 409].into());
    assert_eq!(p.preferred, Some(([401].into(), "B-ORDER")));
}
