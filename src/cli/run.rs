//! The subcommands' bodies.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use serde_json::json;

use super::outputs::Outputs;
use super::{LevelArg, RunArgs, EXIT_INTERNAL, EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE};
use crate::catalogue::requirements;
use crate::profiles::edge_v1::cases;
use crate::client::{Client, ClientOptions};
use crate::engine::{self, plan::LevelFilter, Plan, Selection};
use crate::profiles::edge_v1::Context;
use crate::report::baseline::Baseline;
use crate::report::{self, terminal, Results};
use crate::profiles::edge_v1::sign::KeyPool;
use crate::profiles::edge_v1::target::{Target, TargetError};

pub(super) fn runtime(jobs: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(jobs.clamp(1, 64))
        .enable_all()
        .build()
        .expect("a tokio runtime can be built")
}

pub(super) fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// `edgecheck run` and `edgecheck replay`.
pub fn run(args: RunArgs, files: Option<Vec<PathBuf>>) -> i32 {
    let loaded = match &files {
        Some(paths) => cases::read(paths),
        None => cases::builtin(),
    };
    let case_files = match loaded {
        Ok(f) => f,
        Err(e) => {
            eprintln!("edgecheck: {e}");
            return if files.is_some() {
                EXIT_USAGE
            } else {
                EXIT_INTERNAL
            };
        }
    };
    let problems = cases::validate(&case_files, &|r| requirements::builtin().get(r).is_some());
    if !problems.is_empty() {
        for p in &problems {
            eprintln!("edgecheck: invalid case: {p}");
        }
        return if files.is_some() {
            EXIT_USAGE
        } else {
            EXIT_INTERNAL
        };
    }
    let selection = Selection {
        only: args.only.clone(),
        skip: args.skip.clone(),
        level: match args.level {
            LevelArg::Must => LevelFilter::Must,
            LevelArg::Should => LevelFilter::Should,
            LevelArg::All => LevelFilter::All,
        },
    };
    let mut plan = match Plan::build(&case_files, &selection) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("edgecheck: {e}");
            return EXIT_USAGE;
        }
    };
    if plan.cases.is_empty() {
        eprintln!("edgecheck: no check matches the selection; see `edgecheck cases` for the IDs");
        return EXIT_USAGE;
    }
    if let Some(shard) = args.shard {
        plan.cases.retain(|pc| shard.contains(&pc.case.id));
        if plan.cases.is_empty() {
            eprintln!(
                "edgecheck: shard {shard} holds none of the selected checks; use fewer shards \
                 or a wider selection"
            );
            return EXIT_USAGE;
        }
    }
    // Outputs and the baseline are checked before anything runs: a typo costs no run.
    let outputs = match Outputs::new(args.json.clone(), args.junit.clone(), args.report.clone()) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("edgecheck: {e}");
            return EXIT_USAGE;
        }
    };
    let baseline = match &args.baseline {
        Some(path) => match read_baseline(path, &case_files) {
            Ok(b) => Some((path.display().to_string(), b)),
            Err(e) => {
                eprintln!("edgecheck: {e}");
                return EXIT_USAGE;
            }
        },
        None => None,
    };
    let jobs = args.jobs.unwrap_or_else(|| 2 * cores()).max(1);
    runtime(cores()).block_on(run_async(args, plan, jobs, outputs, baseline))
}

/// Read a baseline and check its IDs against the case files run and the built-in catalogue.
fn read_baseline(path: &Path, case_files: &[crate::profiles::edge_v1::case::CaseFile]) -> Result<Baseline, String> {
    let b = Baseline::read(path)?;
    let mut known: std::collections::BTreeSet<String> = case_files
        .iter()
        .flat_map(|f| f.cases.iter().map(|c| c.id.clone()))
        .collect();
    if let Ok(builtin) = cases::builtin() {
        known.extend(
            builtin
                .iter()
                .flat_map(|f| f.cases.iter().map(|c| c.id.clone())),
        );
    }
    b.check_ids(&|id| known.contains(id))?;
    Ok(b)
}

/// Open the target and build the shared context: key pool, embedded server or `--server`,
/// reachability, client. On failure, the exit code.
pub async fn open_context(
    target_args: &crate::profiles::edge_v1::target::TargetArgs,
    fresh_keys: Option<usize>,
) -> Result<(Arc<Context>, Target), i32> {
    let pool = match fresh_keys {
        Some(n) => KeyPool::with_fresh(n),
        None => KeyPool::builtin(),
    }
    .map_err(|e| {
        eprintln!("edgecheck: key pool: {e}");
        EXIT_INTERNAL
    })?;
    let target = match Target::open(target_args).await {
        Ok(t) => t,
        Err(TargetError::Config(e)) => {
            eprintln!("edgecheck: {e}");
            return Err(EXIT_USAGE);
        }
        Err(TargetError::Unreachable(e)) => {
            eprintln!("edgecheck: {e}");
            return Err(EXIT_UNREACHABLE);
        }
    };
    if let Err(e) = target.check_reachable().await {
        eprintln!("edgecheck: {e}");
        target.close().await;
        return Err(EXIT_UNREACHABLE);
    }
    let client = match Client::new(&ClientOptions {
        timeout: target.timeout,
        body_cap: target_args.max_body,
        ca_cert_pem: target.ca_pem.clone(),
        insecure: target_args.insecure,
    }) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("edgecheck: {e}");
            target.close().await;
            return Err(EXIT_USAGE);
        }
    };
    let ctx = Arc::new(Context {
        client,
        pool,
        servers: target.servers.clone(),
        page_size: target.page_size,
        allow_http: target_args.allow_http,
    });
    Ok((ctx, target))
}

async fn run_async(
    args: RunArgs,
    plan: Plan,
    jobs: usize,
    outputs: Outputs,
    baseline: Option<(String, Baseline)>,
) -> i32 {
    let (ctx, target) = match open_context(&args.target, args.fresh_keys).await {
        Ok(x) => x,
        Err(code) => return code,
    };
    let started_at = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let t0 = Instant::now();
    let progress = terminal::Progress::new(args.quiet, args.verbose);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let printer = tokio::spawn(async move {
        while let Some(ev) = rx.recv().await {
            progress.on(&ev);
        }
        progress.finish();
    });
    let results = engine::run_plan(ctx.clone(), &plan, jobs, tx).await;
    let _ = printer.await;
    let elapsed = t0.elapsed();
    let mut options = BTreeMap::new();
    options.insert("jobs".into(), json!(jobs));
    options.insert("only".into(), json!(args.only));
    options.insert("skip".into(), json!(args.skip));
    options.insert(
        "level".into(),
        json!(format!("{:?}", args.level).to_lowercase()),
    );
    options.insert("allowHttp".into(), json!(args.target.allow_http));
    options.insert("insecure".into(), json!(args.target.insecure));
    options.insert("pageSize".into(), json!(ctx.page_size));
    options.insert("timeoutSecs".into(), json!(args.target.timeout));
    if let Some(shard) = args.shard {
        options.insert("shard".into(), json!(shard.to_string()));
    }
    let mut res = Results::new(
        target.describe(),
        started_at,
        elapsed.as_millis() as u64,
        options,
        &results,
    );
    res.shard = args.shard.map(|s| s.to_string());
    if let Some((file, b)) = &baseline {
        b.apply(&mut res, file);
    }
    let signatures: usize = results.iter().map(|r| r.signatures).sum();
    let requests: usize = results.iter().map(|r| r.requests).sum();
    target.close().await;
    let code = super::report::finish(&res, &outputs, false);
    eprintln!(
        "{requests} requests, {signatures} signatures, {} pool keys reused",
        ctx.pool.reused()
    );
    if args.timing {
        print_timing(&ctx, elapsed, signatures, requests, jobs);
    }
    code
}

/// `edgecheck requirements`.
pub fn requirements(as_json: bool) -> i32 {
    let files = match cases::builtin() {
        Ok(f) => f,
        Err(e) => {
            eprintln!("edgecheck: {e}");
            return EXIT_INTERNAL;
        }
    };
    let mut covering: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for f in &files {
        for c in &f.cases {
            for r in &c.requirements {
                covering.entry(r.clone()).or_default().push(c.id.clone());
            }
        }
    }
    let reqs = requirements::builtin();
    if as_json {
        let rows: Vec<_> = reqs
            .all()
            .iter()
            .map(|r| {
                json!({
                    "id": r.id, "level": r.level.as_str(), "origin": report::origin_str(r.origin),
                    "testable": report::testable_str(r.testable), "text": r.text,
                    "cases": covering.get(&r.id).cloned().unwrap_or_default(),
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&rows).unwrap_or_default()
        );
        return EXIT_OK;
    }
    let mut covered = 0;
    for r in reqs.all() {
        let n = covering.get(&r.id).map_or(0, Vec::len);
        if n > 0 {
            covered += 1;
        }
        println!(
            "{:<22} {:<8} {:<8} {:<10} {:>3} case(s)",
            r.id,
            r.level.as_str(),
            report::origin_str(r.origin),
            report::testable_str(r.testable),
            n
        );
    }
    println!(
        "{} rules, {} covered by at least one case",
        reqs.len(),
        covered
    );
    EXIT_OK
}

/// `edgecheck cases`.
pub fn cases(as_json: bool) -> i32 {
    let files = match cases::builtin() {
        Ok(f) => f,
        Err(e) => {
            eprintln!("edgecheck: {e}");
            return EXIT_INTERNAL;
        }
    };
    if as_json {
        println!(
            "{}",
            serde_json::to_string_pretty(&files).unwrap_or_default()
        );
        return EXIT_OK;
    }
    let mut n = 0;
    for f in &files {
        for c in &f.cases {
            n += 1;
            println!(
                "{:<52} {:<6} {:<40} {}",
                c.id,
                c.level.as_str(),
                c.requirements.join(","),
                c.title
            );
        }
    }
    println!("{n} cases in {} areas", files.len());
    EXIT_OK
}

/// `edgecheck keygen`.
pub fn keygen(out: &Path, count: usize) -> i32 {
    let counts = crate::profiles::edge_v1::sign::PoolCounts {
        rsa2048: count,
        ..Default::default()
    };
    match crate::profiles::edge_v1::sign::write_fixture_pool(out, counts) {
        Ok(files) => {
            for f in files {
                println!("wrote {}", f.display());
            }
            EXIT_OK
        }
        Err(e) => {
            eprintln!("edgecheck: keygen: {e}");
            EXIT_INTERNAL
        }
    }
}

/// Single-core RSA-2048 costs, measured now (medians).
struct CryptoCosts {
    /// A signature with a key that has signed before.
    sign: f64,
    /// Parsing and validating a key from the pool.
    parse: f64,
    /// What a key's first signature costs beyond `sign` (aws-lc sets up its blinding).
    first_extra: f64,
}

fn crypto_costs(pool: &KeyPool) -> CryptoCosts {
    let input = crate::profiles::edge_v1::sign::signing_input("POST", "/connection/x/messages", &[b'x'; 300]);
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let timed = |f: &mut dyn FnMut()| {
        let t = Instant::now();
        f();
        t.elapsed().as_secs_f64()
    };
    let (mut parse, mut first) = (Vec::new(), Vec::new());
    for _ in 0..15 {
        let mut key = None;
        parse.push(timed(&mut || key = Some(pool.take())));
        let key = key.expect("taken");
        first.push(timed(&mut || {
            std::hint::black_box(key.sign(&input));
        }));
    }
    let key = pool.take();
    let sign = median(
        (0..41)
            .map(|_| {
                timed(&mut || {
                    std::hint::black_box(key.sign(&input));
                })
            })
            .collect(),
    );
    CryptoCosts {
        sign,
        parse: median(parse),
        first_extra: (median(first) - sign).max(0.0),
    }
}

/// `--timing`: wall time against what the cryptography alone needs on the cores in use.
fn print_timing(
    ctx: &Context,
    elapsed: std::time::Duration,
    signatures: usize,
    requests: usize,
    jobs: usize,
) {
    let usage = ctx.pool.usage();
    let c = crypto_costs(&ctx.pool);
    let lanes = jobs.min(cores()) as f64;
    let wall = elapsed.as_secs_f64();
    let bound = c.sign * signatures as f64 / lanes;
    let setup = c.parse * usage.parsed as f64 + c.first_extra * usage.signed as f64;
    let crypto = bound + setup / lanes;
    println!(
        "timing: wall {wall:.2} s, {requests} requests, {signatures} signatures, sign {:.3} ms (single core), \
         signing bound {bound:.2} s on {lanes} cores, wall / bound = {:.2}",
        c.sign * 1e3,
        wall / bound.max(1e-9)
    );
    println!(
        "timing: {} fresh keys (parse {:.3} ms each), {} of them signed (first signature +{:.3} ms: \
         blinding set-up), crypto bound with key set-up {crypto:.2} s, wall / crypto bound = {:.2}",
        usage.parsed,
        c.parse * 1e3,
        usage.signed,
        c.first_extra * 1e3,
        wall / crypto.max(1e-9)
    );
}
