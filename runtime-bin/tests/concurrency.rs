//! gorae racing itself (issue #11 point 4): `start`/`start`,
//! `delete`/`delete`, `kill`/`delete` and `create`/`create` of one id, many
//! times each. Exactly one winner, a clear error for every loser, a state
//! that always parses (read by `gorae state` all through the race), and
//! nothing left behind.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Barrier;
use std::sync::atomic::{AtomicBool, Ordering};

use common::{Lab, Outcome};

/// Racers per round and rounds per test.
const RACERS: usize = 4;
const ROUNDS: usize = 6;

/// Runs every command at once (released together by a barrier) while a
/// reader polls `gorae state id`; returns the commands' outcomes in order.
/// Every state read either parses with a known status or says the
/// container does not exist.
fn race(lab: &Lab, id: &str, commands: &[Vec<&str>]) -> Vec<Outcome> {
    let barrier = Barrier::new(commands.len());
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        let reader = s.spawn(|| {
            let mut reads = 0;
            while !done.load(Ordering::Relaxed) || reads == 0 {
                check_state(lab, id);
                reads += 1;
            }
        });
        let racers: Vec<_> = commands
            .iter()
            .map(|args| {
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    lab.gorae(args)
                })
            })
            .collect();
        let outcomes = racers.into_iter().map(|r| r.join().unwrap()).collect();
        done.store(true, Ordering::Relaxed);
        reader.join().unwrap();
        outcomes
    })
}

#[track_caller]
fn check_state(lab: &Lab, id: &str) {
    let status = lab.status_or_absent(id);
    assert_ne!(status.as_deref(), Some("paused"), "{id} paused by no one");
}

/// The one winner of `outcomes`; every loser's error contains `needle`.
#[track_caller]
fn one_winner(outcomes: Vec<Outcome>, needle: &str) {
    let winners = outcomes.iter().filter(|o| o.ok()).count();
    assert_eq!(winners, 1, "{outcomes:?}");
    for loser in outcomes.into_iter().filter(|o| !o.ok()) {
        loser.expect_error(needle);
    }
}

fn same<'a>(n: usize, args: &[&'a str]) -> Vec<Vec<&'a str>> {
    vec![args.to_vec(); n]
}

#[test]
fn racing_starts_have_one_winner_and_the_losers_see_it_running() {
    let lab = Lab::new("racestarts", &["sleep", "300"]);
    for round in 0..ROUNDS {
        let id = format!("s{round}");
        lab.create(&id).expect_ok();
        one_winner(
            race(&lab, &id, &same(RACERS, &["start", &id])),
            "container is running",
        );
        assert_eq!(lab.status(&id), "running");
        lab.gorae(&["delete", "--force", &id]).expect_ok();
        lab.assert_nothing_left(&id);
    }
}

#[test]
fn racing_deletes_have_one_winner_and_the_losers_find_nothing() {
    let lab = Lab::new("racedeletes", &["sleep", "300"]);
    for round in 0..ROUNDS {
        let id = format!("d{round}");
        lab.create(&id).expect_ok();
        if round % 2 == 0 {
            lab.gorae(&["start", &id]).expect_ok();
        }
        lab.gorae(&["kill", &id, "KILL"]).expect_ok();
        lab.wait_status(&id, "stopped");
        one_winner(
            race(&lab, &id, &same(RACERS, &["delete", &id])),
            "does not exist",
        );
        lab.gorae(&["state", &id]).expect_error("does not exist");
        lab.assert_nothing_left(&id);
    }
}

#[test]
fn racing_forced_deletes_all_succeed_and_leave_nothing() {
    // As runc, `delete --force` of a container that is already gone
    // succeeds (podman force-deletes after every failed create): racing
    // forced deletes all end well, and exactly nothing remains.
    let lab = Lab::new("raceforce", &["sleep", "300"]);
    for round in 0..ROUNDS {
        let id = format!("f{round}");
        lab.create(&id).expect_ok();
        lab.gorae(&["start", &id]).expect_ok();
        for out in race(&lab, &id, &same(RACERS, &["delete", "--force", &id])) {
            out.expect_ok();
        }
        lab.gorae(&["state", &id]).expect_error("does not exist");
        lab.assert_nothing_left(&id);
    }
}

#[test]
fn kill_racing_delete_never_leaves_a_half_deleted_container() {
    let lab = Lab::new("racekill", &["sleep", "300"]);
    for round in 0..ROUNDS {
        let id = format!("k{round}");
        lab.create(&id).expect_ok();
        lab.gorae(&["start", &id]).expect_ok();
        let mut commands = same(RACERS / 2, &["kill", &id, "KILL"]);
        commands.extend(same(RACERS / 2, &["delete", "--force", &id]));
        let outcomes = race(&lab, &id, &commands);
        let (kills, deletes) = outcomes.split_at(RACERS / 2);
        // Forced deletes are idempotent (as runc): every one succeeds.
        for o in deletes {
            assert!(o.ok(), "{o:?}");
        }
        for o in kills.iter().filter(|o| !o.ok()) {
            let msg = o.error_message().unwrap_or_default();
            assert!(
                msg.contains("does not exist") || msg.contains("container not running"),
                "{o:?}"
            );
        }
        lab.gorae(&["state", &id]).expect_error("does not exist");
        lab.assert_nothing_left(&id);
    }
}

#[test]
fn racing_creates_of_one_id_have_one_winner() {
    let lab = Lab::new("racecreates", &["sleep", "300"]);
    let bundle = lab.bundle.to_str().unwrap().to_owned();
    for round in 0..ROUNDS {
        let id = format!("c{round}");
        let create = ["create", "--bundle", bundle.as_str(), id.as_str()];
        one_winner(
            race(&lab, &id, &vec![create.to_vec(); RACERS]),
            "container with id exists",
        );
        assert_eq!(lab.status(&id), "created");
        lab.gorae(&["delete", "--force", &id]).expect_ok();
        lab.assert_nothing_left(&id);
    }
}
