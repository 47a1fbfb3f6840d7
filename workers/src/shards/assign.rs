//! Which replica holds which package shard: a pure function of the live
//! members, so every replica computes the same answer from the same list.
//!
//! Each member holds ⌊S/N⌋ or ⌈S/N⌉ of the S shards (so the shards held
//! differ by at most one between replicas), and a member's shards are its
//! best-scoring ones by rendezvous hashing where capacity allows: when a
//! member joins or leaves, most shards stay where they were.

use std::collections::BTreeMap;

/// The shards each member holds, by member id.
pub type Assignment = BTreeMap<String, Vec<u16>>;

/// Assigns `shards` shards over `members` (any order, duplicates ignored).
pub fn assign(members: &[String], shards: u16) -> Assignment {
    let mut members: Vec<&str> = members.iter().map(String::as_str).collect();
    members.sort_unstable();
    members.dedup();
    let mut assignment: Assignment = members
        .iter()
        .map(|m| ((*m).to_owned(), Vec::new()))
        .collect();
    if members.is_empty() {
        return assignment;
    }
    let count = members.len();
    let (base, extra) = (usize::from(shards) / count, usize::from(shards) % count);
    // The members that hold one more: the first `extra` by id.
    let capacity: BTreeMap<&str, usize> = members
        .iter()
        .enumerate()
        .map(|(i, m)| (*m, base + usize::from(i < extra)))
        .collect();
    // Every (member, shard) pair, best score first: each shard goes to the
    // best-scoring member that still has room.
    let mut pairs: Vec<(u64, &str, u16)> = members
        .iter()
        .flat_map(|m| (0..shards).map(move |s| (score(m, s), *m, s)))
        .collect();
    pairs.sort_unstable_by(|a, b| b.cmp(a));
    let mut taken = vec![false; usize::from(shards)];
    for (_, member, shard) in pairs {
        let held = assignment
            .get_mut(member)
            .expect("every member has an entry");
        if !taken[usize::from(shard)] && held.len() < capacity[member] {
            taken[usize::from(shard)] = true;
            held.push(shard);
        }
    }
    for held in assignment.values_mut() {
        held.sort_unstable();
    }
    assignment
}

/// A member's rendezvous score for a shard: FNV-1a, stable across builds
/// and platforms (every replica must agree).
fn score(member: &str, shard: u16) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in member.bytes().chain(shard.to_be_bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("worker-{i}")).collect()
    }

    #[test]
    fn every_shard_is_held_once_and_no_member_holds_two_more_than_another() {
        for shards in [1u16, 4, 16, 17, 64] {
            for n in 1..=9 {
                let assignment = assign(&members(n), shards);
                let mut all: Vec<u16> = assignment.values().flatten().copied().collect();
                all.sort_unstable();
                assert_eq!(
                    all,
                    (0..shards).collect::<Vec<_>>(),
                    "{n} members, {shards} shards"
                );
                let sizes: Vec<usize> = assignment.values().map(Vec::len).collect();
                let (min, max) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
                assert!(max - min <= 1, "{n} members, {shards} shards: {sizes:?}");
            }
        }
    }

    #[test]
    fn every_replica_computes_the_same_whatever_order_it_sees_members_in() {
        let mut shuffled = members(5);
        shuffled.reverse();
        shuffled.push("worker-2".into());
        assert_eq!(assign(&shuffled, 16), assign(&members(5), 16));
    }

    #[test]
    fn a_member_joining_or_leaving_moves_few_shards() {
        let moved = |before: &Assignment, after: &Assignment| {
            before
                .iter()
                .flat_map(|(m, shards)| shards.iter().map(move |s| (m, s)))
                .filter(|(m, s)| !after.get(*m).is_some_and(|held| held.contains(s)))
                .count()
        };
        for n in 1..8 {
            let before = assign(&members(n), 16);
            let after = assign(&members(n + 1), 16);
            // The newcomer's share must move; a few more may, to keep the
            // balance exact, but not a reshuffle of everything.
            let share = 16usize.div_ceil(n + 1);
            assert!(
                moved(&before, &after) <= share + 4,
                "{n} -> {}: {}",
                n + 1,
                moved(&before, &after)
            );
        }
        assert!(assign(&[], 16).is_empty());
    }
}
