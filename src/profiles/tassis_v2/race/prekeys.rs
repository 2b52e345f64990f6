//! The prekeys scenario: an owner registers one-time keys (and appends more during the
//! round) while many anonymous connections request its device's prekeys at once; a last
//! requester then takes keys until the device's entry comes back empty.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};

use super::client::{self, RoundError};
use super::history::{Event, Recorder};
use crate::profiles::tassis_v2::runner::{Conn, Env, Frame};
use crate::profiles::tassis_v2::wire::{self, Payload};
use crate::profiles::tassis_v2::xeddsa::IdentityKey;

/// The shape of a prekeys round.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Anonymous requesters at once.
    pub requesters: usize,
    /// Requests per requester.
    pub requests: usize,
    /// Registers the owner makes during the round (after the first).
    pub appends: usize,
    /// One-time keys per Register.
    pub batch: usize,
}

const DEVICE: &[u8] = b"d1";

/// Key bytes → their names (`k<register>.<index>`).
type Names = Arc<Mutex<HashMap<Vec<u8>, String>>>;

fn name_of(names: &Names, key: &[u8]) -> String {
    if key.is_empty() {
        return String::new();
    }
    let names = names.lock().unwrap_or_else(|p| p.into_inner());
    names
        .get(key)
        .cloned()
        .unwrap_or_else(|| format!("unregistered:{}", hex::encode(&key[..key.len().min(6)])))
}

/// Run one round; returns its events.
pub async fn round(env: &Env, shape: Shape, seed: u64) -> Result<Vec<Event>, RoundError> {
    let rec = Recorder::new();
    let mut rng = StdRng::seed_from_u64(seed);
    let key = IdentityKey::from_secret(rng.random());
    let mut spk = vec![0u8; 32];
    rng.fill_bytes(&mut spk);
    let names: Names = Arc::default();
    let mut owner = client::connect(env).await?;
    client::login(env, &mut owner, &key, DEVICE, &mut |_| {}).await?;
    let mut seq = 2;
    register(
        env,
        &rec,
        &names,
        &mut owner,
        &spk,
        0,
        shape.batch,
        &mut rng,
        seq,
    )
    .await?;
    let mut tasks = Vec::new();
    for r in 0..shape.requesters {
        let (env, rec, names) = (env.clone(), rec.clone(), names.clone());
        let identity = key.public().to_vec();
        let requests = shape.requests;
        tasks.push(tokio::spawn(async move {
            let mut c = client::connect(&env).await?;
            let actor = format!("r{r}");
            for n in 0..requests {
                prekeys(&env, &rec, &names, &mut c, &identity, &actor, 10 + n as u32).await?;
            }
            client::close(&mut c, false).await;
            Ok::<(), RoundError>(())
        }));
    }
    for j in 1..=shape.appends {
        tokio::time::sleep(Duration::from_millis(rng.random_range(2..15))).await;
        seq += 1;
        register(
            env,
            &rec,
            &names,
            &mut owner,
            &spk,
            j,
            shape.batch,
            &mut rng,
            seq,
        )
        .await?;
    }
    for t in tasks {
        t.await
            .map_err(|e| RoundError::Unreachable(format!("a requester stopped: {e}")))??;
    }
    client::close(&mut owner, false).await;
    // Take what is left until the entry is empty (or more requests than keys registered).
    let mut c = client::connect(env).await?;
    let total = shape.batch * (shape.appends + 1) + 3;
    let identity = key.public().to_vec();
    for n in 0..total {
        let got = prekeys(env, &rec, &names, &mut c, &identity, "last", 10 + n as u32).await?;
        if got != Some(true) {
            break;
        }
    }
    client::close(&mut c, false).await;
    Ok(rec.take())
}

#[allow(clippy::too_many_arguments)]
async fn register(
    env: &Env,
    rec: &Recorder,
    names: &Names,
    owner: &mut Conn,
    spk: &[u8],
    j: usize,
    batch: usize,
    rng: &mut StdRng,
    seq: u32,
) -> Result<(), RoundError> {
    let mut keys = Vec::with_capacity(batch);
    let mut named = Vec::with_capacity(batch);
    {
        let mut names = names.lock().unwrap_or_else(|p| p.into_inner());
        for i in 0..batch {
            let mut k = vec![0u8; 32];
            rng.fill_bytes(&mut k);
            let name = format!("k{j}.{i}");
            names.insert(k.clone(), name.clone());
            keys.push(k);
            named.push(name);
        }
    }
    let frame = wire::encode(
        seq,
        Payload::Register(wire::Register {
            signed_pre_key: spk.to_vec(),
            one_time_pre_keys: keys,
        }),
    );
    let invoke = rec.now();
    let reply = client::request(env, owner, seq, frame, "register", &mut |_: &Frame| {}).await?;
    rec.push(Event::Register {
        keys: named,
        invoke,
        ret: rec.now(),
        answer: client::describe(&reply),
    });
    Ok(())
}

/// One RequestPreKeys; `Some(true)` a key came, `Some(false)` an empty entry, `None` no
/// usable answer.
async fn prekeys(
    env: &Env,
    rec: &Recorder,
    names: &Names,
    c: &mut Conn,
    identity: &[u8],
    actor: &str,
    seq: u32,
) -> Result<Option<bool>, RoundError> {
    let frame = wire::encode(
        seq,
        Payload::RequestPreKeys(wire::RequestPreKeys {
            identity_key: identity.to_vec(),
            known_device_ids: vec![],
        }),
    );
    let invoke = rec.now();
    let reply = client::request(env, c, seq, frame, "requestPreKeys", &mut |_| {}).await?;
    let ret = rec.now();
    let got = match &reply {
        Some(Payload::PreKeys(p)) => p
            .pre_keys
            .iter()
            .find(|k| k.device_id == DEVICE)
            .map(|k| name_of(names, &k.one_time_pre_key)),
        _ => None,
    };
    let answer = client::describe(&reply);
    let result = got.as_ref().map(|k| !k.is_empty());
    rec.push(Event::Request {
        actor: actor.to_string(),
        invoke,
        ret,
        got,
        answer,
    });
    if reply.is_none() && c.ended.is_some() {
        *c = client::connect(env).await?;
    }
    Ok(result)
}
