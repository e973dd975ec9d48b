//! The decisions of index advice, on measured buffers only: when a run reads more (a
//! few blocks of noise allowed), which single-index trials are admissible (no query
//! worse), and which set of them to build — greedily, the candidate that cuts the
//! catalog's buffers most, the extra blocks it costs the writes counted against it,
//! until no candidate cuts enough. Pure.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::explain::rules::Role;

/// One run of the catalog: a query for an org as a role.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct RunKey {
    pub query: String,
    pub org: String,
    pub role: Role,
}

/// Shared buffers (hit + read) per run.
pub type Figures = BTreeMap<RunKey, u64>;

/// The blocks a measurement may differ by without meaning anything: 2, or 5 %.
pub fn slack(before: u64) -> u64 {
    (before / 20).max(2)
}

/// Whether `after` reads more than `before`, beyond noise.
pub fn worse(after: u64, before: u64) -> bool {
    after > before + slack(before)
}

/// The read runs (not of a query in `writes`) that `trial` measured worse than
/// `reference`.
pub fn worsened(reference: &Figures, trial: &Figures, writes: &BTreeSet<String>) -> Vec<RunKey> {
    trial
        .iter()
        .filter(|(k, _)| !writes.contains(&k.query))
        .filter(|(k, after)| {
            reference
                .get(k)
                .is_some_and(|before| worse(**after, *before))
        })
        .map(|(k, _)| k.clone())
        .collect()
}

/// A candidate cuts too little below this many blocks over the catalog (or 0.5 % of
/// what the catalog reads, when that is more).
pub const MIN_GAIN: u64 = 10;

/// What the catalog would read with the candidates `set`, each measured alone: a read
/// run takes the best of them (or the baseline), a write pays every one's extra blocks.
pub fn estimate(
    baseline: &Figures,
    writes: &BTreeSet<String>,
    trials: &[Figures],
    set: &[usize],
) -> u64 {
    baseline
        .iter()
        .map(|(key, &before)| {
            if writes.contains(&key.query) {
                before
                    + set
                        .iter()
                        .filter_map(|&c| trials[c].get(key))
                        .map(|m| m.saturating_sub(before))
                        .sum::<u64>()
            } else {
                set.iter()
                    .filter_map(|&c| trials[c].get(key))
                    .fold(before, |best, &m| best.min(m))
            }
        })
        .sum()
}

/// The set to build: from the admissible candidates, the one that cuts the estimate
/// most (ties: the smaller index, `size`), while it cuts at least `MIN_GAIN`.
pub fn choose(
    baseline: &Figures,
    writes: &BTreeSet<String>,
    trials: &[Figures],
    admissible: &[bool],
    size: &[usize],
) -> Vec<usize> {
    let mut set: Vec<usize> = Vec::new();
    let mut current = estimate(baseline, writes, trials, &set);
    loop {
        let mut best: Option<(u64, usize)> = None;
        for c in 0..trials.len() {
            if !admissible[c] || set.contains(&c) {
                continue;
            }
            let mut with = set.clone();
            with.push(c);
            let total = estimate(baseline, writes, trials, &with);
            let better = match best {
                None => true,
                Some((t, b)) => total < t || (total == t && size[c] < size[b]),
            };
            if better {
                best = Some((total, c));
            }
        }
        let Some((total, c)) = best else { break };
        let needed = MIN_GAIN.max(current / 200);
        if total + needed > current {
            break;
        }
        set.push(c);
        current = total;
    }
    set
}

/// A single-index trial is admissible when it cuts at least one read run. One that
/// makes another run worse alone may not with the rest of the set (that run's own
/// index wins its plan): the set is judged together, where a member a plan turns into
/// a regression is ruled out.
pub fn admissible(baseline: &Figures, trial: &Figures, writes: &BTreeSet<String>) -> bool {
    trial.iter().any(|(k, &after)| {
        !writes.contains(&k.query) && baseline.get(k).is_some_and(|&b| worse(b, after))
    })
}

/// Whether dropping a member is right: without it no read run reads more than with it
/// (beyond noise) — another member, or none, serves as well.
pub fn redundant(with: &Figures, without: &Figures, writes: &BTreeSet<String>) -> bool {
    worsened(with, without, writes).is_empty()
}

/// Whether replacing a member by its covering variant is right: no read run worse, and
/// the runs measured read fewer blocks in all (writes included).
pub fn better_variant(old: &Figures, new: &Figures, writes: &BTreeSet<String>) -> bool {
    let total = |f: &Figures| f.values().sum::<u64>();
    worsened(old, new, writes).is_empty() && total(new) + MIN_GAIN.min(total(old) / 10) < total(old)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(q: &str) -> RunKey {
        RunKey {
            query: q.into(),
            org: "largest".into(),
            role: Role::Service,
        }
    }

    fn figures(v: &[(&str, u64)]) -> Figures {
        v.iter().map(|(q, b)| (key(q), *b)).collect()
    }

    fn writes() -> BTreeSet<String> {
        ["insert".to_string()].into()
    }

    #[test]
    fn noise_is_a_few_blocks_or_five_percent() {
        assert!(!worse(3, 1));
        assert!(worse(4, 1));
        assert!(!worse(1_050, 1_000));
        assert!(worse(1_051, 1_000));
    }

    #[test]
    fn the_greedy_set_takes_the_biggest_cut_and_stops_when_cuts_are_small() {
        let base = figures(&[("a", 10_000), ("b", 10_000), ("insert", 2)]);
        let trials = vec![
            // serves a only, costs the insert 3 blocks
            figures(&[("a", 40), ("insert", 5)]),
            // serves a and b
            figures(&[("a", 100), ("b", 100), ("insert", 5)]),
            // serves b slightly better than #1 — but #1 already serves it nearly as well
            figures(&[("b", 95), ("insert", 5)]),
        ];
        let ok = [true, true, true];
        let set = choose(&base, &writes(), &trials, &ok, &[3, 3, 3]);
        // #1 first (biggest cut), then #0 (a: 100 → 40 for 3 write blocks); #2 saves 5
        // blocks for 3: below MIN_GAIN.
        assert_eq!(set, [1, 0]);
        assert_eq!(estimate(&base, &writes(), &trials, &set), 40 + 100 + 8);
    }

    #[test]
    fn a_trial_is_admissible_when_it_cuts_a_read() {
        let base = figures(&[("a", 100), ("b", 20), ("insert", 2)]);
        let ok = |trial: &[(&str, u64)]| admissible(&base, &figures(trial), &writes());
        assert!(ok(&[("a", 10), ("b", 20), ("insert", 9)]));
        // Worse elsewhere alone: judged again with the rest of the set.
        assert!(ok(&[("a", 10), ("b", 40)]));
        assert!(!ok(&[("a", 99)]));
        assert!(!ok(&[("b", 20), ("insert", 1)]));
    }

    #[test]
    fn a_member_is_redundant_when_nothing_reads_more_without_it() {
        let with = figures(&[("a", 10), ("b", 400), ("insert", 17)]);
        assert!(redundant(
            &with,
            &figures(&[("a", 11), ("b", 400), ("insert", 14)]),
            &writes()
        ));
        assert!(!redundant(
            &with,
            &figures(&[("a", 80), ("b", 400)]),
            &writes()
        ));
        assert!(better_variant(
            &with,
            &figures(&[("a", 4), ("b", 30), ("insert", 18)]),
            &writes()
        ));
        assert!(!better_variant(
            &with,
            &figures(&[("a", 40), ("b", 30)]),
            &writes()
        ));
    }
}
