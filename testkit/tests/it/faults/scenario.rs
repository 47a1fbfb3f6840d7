//! One scenario: the load starts, the fault is injected and repaired, the
//! load stops, and once everything accepted is applied, the stores are
//! counted.

use super::inject::{inject, repair, Fault};
use super::load::{watch, Kind, Load, Write};
use super::verdict::MIN_WATCHED_EVENTS;
use super::verdict::{counts, heads, numbered_twice, settle_queues, stale_views, tally, Row};
use super::{System, DEVICES, SETTLE};
use shared::auth::Role;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use testkit::ws;
use testkit::TestEnv;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A watched package: its number, the seqs its watcher saw, the watcher.
type Watcher = (String, Arc<Mutex<Vec<i64>>>, JoinHandle<()>);

pub(super) async fn run(env: &TestEnv, system: &mut System, index: usize, fault: Fault) -> Row {
    let prefix = format!("F{index}{}", &env.id[3..9].to_uppercase());
    let token = env.token(&env.account(Role::Admin).await);
    let load = Arc::new(Load {
        http: testkit::app::client_with_token(&token),
        api: system.api(),
        writes: Mutex::new(Vec::new()),
        refused: Mutex::new(Vec::new()),
    });
    let (stop_load, stop_watching) = (CancellationToken::new(), CancellationToken::new());
    let (devices, watchers) = start(&load, system, &prefix, &token, &stop_load, &stop_watching);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let window = during(env, system, &fault).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop_load.cancel();
    for device in devices {
        device.await.expect("a device's load task");
    }
    let writes = load.writes.lock().expect("the writes").clone();
    wait_applied(env, &prefix, &writes, &watchers).await;
    let drained_in = window.1.elapsed();
    // Nothing may be in flight when counting: a duplicate applied later
    // would be missed.
    settle_queues(env, system).await;
    let (statuses, points, packages) = counts(env, &prefix).await;
    stop_watching.cancel();
    let heads = heads(env, &prefix).await;
    let subscribers_failed = check_watchers(watchers, &heads).await;
    if !subscribers_failed.is_empty() {
        eprintln!(
            "{}: subscribers that missed events: {subscribers_failed:#?}",
            fault.name()
        );
    }
    let refused = load.refused.lock().expect("the refusals").clone();
    let silence = longest_silence(&writes, window);
    if let Some(limit) = fault.resume_within().filter(|limit| silence > *limit) {
        system.problems.push(format!(
            "no write answered 2xx for {silence:.1?} during the fault (at most {limit:?})"
        ));
    }
    let (stored, lost, mut duplicated) = tally(&writes, &statuses, &points, &packages);
    // Status events and points are keyed by unique ids, so a write applied
    // twice cannot show as a second row; it would take a second number.
    duplicated += numbered_twice(&writes, &statuses, &points, &heads);
    Row {
        scenario: fault.name(),
        created: writes
            .iter()
            .filter(|w| w.kind == Kind::Create && w.acked)
            .count(),
        accepted: writes.iter().filter(|w| w.acked).count(),
        accepted_through_fault: writes
            .iter()
            .filter(|w| w.acked && w.overlaps(&window))
            .count(),
        stored,
        refused,
        lost,
        duplicated,
        not_accepted: writes.iter().filter(|w| !w.acked).count(),
        subscribers_ok: if subscribers_failed.is_empty() {
            "all".to_owned()
        } else {
            format!("{} missed", subscribers_failed.len())
        },
        stale_views: stale_views(env, &heads).await,
        drained_in,
        silence,
        problems: std::mem::take(&mut system.problems),
    }
}

/// One load task per device; half the packages get a watcher from their
/// creation on.
fn start(
    load: &Arc<Load>,
    system: &System,
    prefix: &str,
    token: &str,
    stop_load: &CancellationToken,
    stop_watching: &CancellationToken,
) -> (Vec<JoinHandle<()>>, Vec<Watcher>) {
    let (mut devices, mut watchers) = (Vec::new(), Vec::new());
    for device in 0..DEVICES {
        let tracking_number = format!("{prefix}D{device:02}");
        let (created, was_created) = tokio::sync::oneshot::channel();
        devices.push(tokio::spawn(Arc::clone(load).device(
            tracking_number.clone(),
            created,
            stop_load.clone(),
        )));
        if device % 2 != 0 {
            continue;
        }
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (url, stop) = (
            ws::Endpoint::new(&system.ws_url, token),
            stop_watching.clone(),
        );
        let (watcher_seen, tn) = (Arc::clone(&seen), tracking_number.clone());
        let task = tokio::spawn(async move {
            if was_created.await.is_ok() {
                watch(url, tn, watcher_seen, stop).await;
            }
        });
        watchers.push((tracking_number, seen, task));
    }
    (devices, watchers)
}

/// Injects the fault, keeps it for its duration, repairs it: when it began
/// and ended.
async fn during(env: &TestEnv, system: &mut System, fault: &Fault) -> (Instant, Instant) {
    let injected = Instant::now();
    let broken = inject(env, system, fault).await;
    tokio::time::sleep(fault.duration()).await;
    repair(env, system, broken).await;
    (injected, Instant::now())
}

/// Lets the system apply everything it accepted, and the watchers catch
/// up, for at most [`SETTLE`].
async fn wait_applied(env: &TestEnv, prefix: &str, writes: &[Write], watchers: &[Watcher]) {
    let deadline = Instant::now() + SETTLE;
    loop {
        let (statuses, points, packages) = counts(env, prefix).await;
        let (_, lost, _) = tally(writes, &statuses, &points, &packages);
        let heads = heads(env, prefix).await;
        let watchers_done = watchers.iter().all(|(tn, seen, _)| {
            let head = heads.get(tn).copied().unwrap_or(0);
            seen.lock()
                .map(|s| s.last().copied().unwrap_or(0) >= head)
                .unwrap_or(false)
        });
        if (lost == 0 && watchers_done) || Instant::now() > deadline {
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The watchers that did not see every event of their package, in order.
async fn check_watchers(watchers: Vec<Watcher>, heads: &HashMap<String, i64>) -> Vec<String> {
    let mut failed = Vec::new();
    for (tn, seen, task) in watchers {
        task.await.expect("a watcher task");
        let seen = seen.lock().expect("a watcher's events").clone();
        let head = heads.get(&tn).copied().unwrap_or(0);
        if head < MIN_WATCHED_EVENTS || seen != (1..=head).collect::<Vec<_>>() {
            failed.push(format!(
                "{tn}: head {head}, got {} events, first wrong at {:?}",
                seen.len(),
                seen.iter()
                    .enumerate()
                    .find(|(i, s)| **s != *i as i64 + 1)
                    .map(|(i, s)| (i, *s))
            ));
        }
    }
    failed
}

/// The longest stretch of the fault's window in which no write was
/// answered 2xx (from its start to the first 2xx, between two, and from the
/// last to its end).
fn longest_silence(writes: &[Write], (began, ended): (Instant, Instant)) -> Duration {
    let mut answered: Vec<Instant> = writes
        .iter()
        .filter(|w| w.acked && w.settled >= began)
        .map(|w| w.settled)
        .collect();
    answered.sort_unstable();
    let last = answered
        .iter()
        .find(|at| **at >= ended)
        .copied()
        .unwrap_or(ended);
    answered.retain(|at| *at < ended);
    answered.push(last);
    let mut previous = began;
    let mut longest = Duration::ZERO;
    for at in answered {
        longest = longest.max(at.saturating_duration_since(previous));
        previous = at;
    }
    longest
}
