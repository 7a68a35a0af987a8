//! The matching rule over one queue: greedy, oldest first, skill windows.
//!
//! Pure functions over a queue read (units oldest first); the
//! [`Matchmaker`](crate::Matchmaker) commits what they find.

use std::time::{Duration, Instant};

use crate::config::QueueRules;

/// One unit as the matcher sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Candidate {
    /// Seats it takes.
    pub(crate) members: u32,
    /// Its (mean) skill.
    pub(crate) skill: Option<f64>,
    /// Its current `±` window.
    pub(crate) window: f64,
}

/// Whether two candidates may play together on skill: both within each
/// other's window, i.e. `|a − b| ≤ min(window_a, window_b)`; a candidate
/// without skill fits anyone.
#[cfg(test)]
pub(crate) fn skill_compatible(a: &Candidate, b: &Candidate) -> bool {
    match (a.skill, b.skill) {
        (Some(x), Some(y)) => (x - y).abs() <= a.window.min(b.window),
        _ => true,
    }
}

/// A match being filled: seats left and the skill constraints of its picks.
struct Group {
    need: u32,
    /// Every pick's window, intersected: a new skill must lie in `[lo, hi]`.
    lo: f64,
    hi: f64,
    /// The picks' skill range: a new pick's own window must cover it.
    min_s: f64,
    max_s: f64,
    picked: Vec<usize>,
}

impl Group {
    fn new(size: u32) -> Self {
        Group {
            need: size,
            lo: f64::NEG_INFINITY,
            hi: f64::INFINITY,
            min_s: f64::INFINITY,
            max_s: f64::NEG_INFINITY,
            picked: Vec::new(),
        }
    }

    /// Whether `c` fits: enough seats, and compatible with every pick
    /// (equivalent to checking each pair, in O(1)).
    fn accepts(&self, c: &Candidate) -> bool {
        if c.members > self.need {
            return false;
        }
        let Some(s) = c.skill else { return true };
        let inside = s >= self.lo && s <= self.hi;
        let covers = self.min_s > self.max_s || (s - self.min_s).max(self.max_s - s) <= c.window;
        inside && covers
    }

    fn add(&mut self, idx: usize, c: &Candidate) {
        self.need -= c.members;
        self.picked.push(idx);
        if let Some(s) = c.skill {
            self.lo = self.lo.max(s - c.window);
            self.hi = self.hi.min(s + c.window);
            self.min_s = self.min_s.min(s);
            self.max_s = self.max_s.max(s);
        }
    }
}

/// Above this many candidates in an anchor's skill range, the matcher walks
/// the queue in age order instead of sorting the range.
const RANGE_SORT_CAP: usize = 256;

/// The candidates, indexed by age (their index) and by skill, with the ones
/// already matched flagged. Sorted vectors rather than trees: the pool is
/// built once per examination and only shrinks.
struct Pool<'a> {
    cands: &'a [Candidate],
    taken: Vec<bool>,
    /// `next[i]`: an index at or below the first live index at or after `i`
    /// (path-halved on lookup), so age walks skip matched runs.
    next: Vec<usize>,
    /// `(skill, index)` sorted by skill.
    skilled: Vec<(f64, usize)>,
    /// Indices without skill, oldest first.
    unskilled: Vec<usize>,
    /// How many entries of `unskilled` are not taken.
    unskilled_live: usize,
}

impl<'a> Pool<'a> {
    fn new(cands: &'a [Candidate]) -> Self {
        let mut skilled = Vec::new();
        let mut unskilled = Vec::new();
        for (i, c) in cands.iter().enumerate() {
            match c.skill {
                Some(s) => skilled.push((s, i)),
                None => unskilled.push(i),
            }
        }
        skilled.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        Pool {
            cands,
            taken: vec![false; cands.len()],
            next: (0..=cands.len()).collect(),
            unskilled_live: unskilled.len(),
            skilled,
            unskilled,
        }
    }

    fn take(&mut self, idx: usize) {
        if let Some(flag) = self.taken.get_mut(idx)
            && !*flag
        {
            *flag = true;
            if let Some(n) = self.next.get_mut(idx) {
                *n = idx + 1;
            }
            if self.cands[idx].skill.is_none() {
                self.unskilled_live -= 1;
            }
        }
    }

    /// The first live index at or after `i` (`cands.len()` when none).
    fn first_live(&mut self, mut i: usize) -> usize {
        let end = self.cands.len();
        while i < end && self.taken[i] {
            let j = self.next[i];
            let k = self.next.get(j).copied().unwrap_or(end);
            self.next[i] = k;
            i = j;
        }
        i.min(end)
    }

    fn live(&self, idx: usize) -> bool {
        self.taken.get(idx).is_some_and(|t| !t)
    }

    /// The candidates an anchor at `s ± w` could take, oldest first, when
    /// that set is small; `None` means "walk the whole queue by age".
    fn small_range(&self, anchor: usize, s: f64, w: f64) -> Option<Vec<usize>> {
        if self.unskilled_live > RANGE_SORT_CAP {
            return None;
        }
        let start = self.skilled.partition_point(|&(x, _)| x < s - w);
        let mut out = Vec::new();
        for &(x, i) in &self.skilled[start..] {
            if x > s + w {
                break;
            }
            if i != anchor && self.live(i) {
                if out.len() == RANGE_SORT_CAP {
                    return None;
                }
                out.push(i);
            }
        }
        out.extend(
            self.unskilled
                .iter()
                .copied()
                .filter(|&i| i != anchor && self.live(i)),
        );
        out.sort_unstable();
        Some(out)
    }

    /// Tries to complete a match around `anchor` with the oldest fitting
    /// candidates.
    fn fill(&mut self, anchor: usize, size: u32) -> Option<Vec<usize>> {
        let cands = self.cands;
        let a = &cands[anchor];
        let mut group = Group::new(size);
        if !group.accepts(a) {
            return None;
        }
        group.add(anchor, a);
        if group.need == 0 {
            return Some(group.picked);
        }
        let mut try_one = |i: usize| {
            let c = &cands[i];
            if group.accepts(c) {
                group.add(i, c);
            }
            group.need == 0
        };
        let ranged = a.skill.and_then(|s| self.small_range(anchor, s, a.window));
        let done = match ranged {
            Some(list) => list.into_iter().any(&mut try_one),
            None => {
                let mut i = self.first_live(0);
                let mut done = false;
                while i < cands.len() && !done {
                    done = i != anchor && try_one(i);
                    i = self.first_live(i + 1);
                }
                done
            }
        };
        done.then_some(group.picked)
    }
}

/// Forms every match possible among `cands` (oldest first): each unmatched
/// unit in age order anchors an attempt that takes the oldest units
/// compatible with everything picked so far and that fit the seats left.
/// A unit that cannot complete a match stays for the next anchor. Returns the
/// groups as indices into `cands`.
pub(crate) fn form_groups(cands: &[Candidate], size: u32) -> Vec<Vec<usize>> {
    let mut pool = Pool::new(cands);
    let mut groups = Vec::new();
    for anchor in 0..cands.len() {
        if !pool.live(anchor) {
            continue;
        }
        if let Some(group) = pool.fill(anchor, size) {
            for &i in &group {
                pool.take(i);
            }
            groups.push(group);
        }
    }
    groups
}

/// The first instant after `now` at which two of the remaining units become
/// compatible on skill: the only thing that can let a stable queue form a
/// match without new input. Units are `(since, skill)`, oldest first.
///
/// Within one queue every unit has the same rules, so a pair's shared window
/// is the younger unit's; for each unit the nearest older skill outside its
/// current window gives its next event. Skills are sorted once and a min-tree
/// of ages answers "the nearest older unit beyond this skill" in `O(log n)`.
pub(crate) fn next_wake(
    units: &[(Instant, Option<f64>)],
    rules: &QueueRules,
    now: Instant,
) -> Option<Instant> {
    if !rules.widens() {
        return None;
    }
    let mut by_skill: Vec<(f64, usize)> = units
        .iter()
        .enumerate()
        .filter_map(|(i, &(_, s))| s.map(|s| (s, i)))
        .collect();
    by_skill.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let ages = MinTree::new(by_skill.iter().map(|&(_, i)| i));
    let mut best: Option<Instant> = None;
    for &(s, i) in &by_skill {
        let since = units[i].0;
        let w = rules.window(now.saturating_duration_since(since));
        let above_from = by_skill.partition_point(|&(x, _)| x <= s + w);
        let above = ages.first_below(above_from, i).map(|p| by_skill[p].0 - s);
        let below_to = by_skill.partition_point(|&(x, _)| x < s - w);
        let below = ages.last_below(below_to, i).map(|p| s - by_skill[p].0);
        let nearest = match (above, below) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if let Some(at) = nearest
            .and_then(|d| rules.time_to_reach(d))
            // One millisecond of slack: at the wake time the window is past
            // the distance despite float rounding.
            .and_then(|t| since.checked_add(t + Duration::from_millis(1)))
            .filter(|&at| at > now)
        {
            best = Some(best.map_or(at, |b| b.min(at)));
        }
    }
    best
}

/// A segment tree of minimums over a fixed array of ages.
struct MinTree {
    leaves: usize,
    len: usize,
    t: Vec<usize>,
}

impl MinTree {
    fn new(values: impl ExactSizeIterator<Item = usize>) -> Self {
        let len = values.len();
        let leaves = len.next_power_of_two().max(1);
        let mut t = vec![usize::MAX; 2 * leaves];
        for (k, v) in values.enumerate() {
            t[leaves + k] = v;
        }
        for k in (1..leaves).rev() {
            t[k] = t[2 * k].min(t[2 * k + 1]);
        }
        MinTree { leaves, len, t }
    }

    /// The first position at or after `from` whose value is below `v`.
    fn first_below(&self, from: usize, v: usize) -> Option<usize> {
        (from < self.len)
            .then(|| self.first(1, 0, self.leaves, from, v))
            .flatten()
    }

    fn first(&self, node: usize, lo: usize, hi: usize, from: usize, v: usize) -> Option<usize> {
        if hi <= from || self.t[node] >= v {
            return None;
        }
        if hi - lo == 1 {
            return Some(lo);
        }
        let mid = (lo + hi) / 2;
        self.first(2 * node, lo, mid, from, v)
            .or_else(|| self.first(2 * node + 1, mid, hi, from, v))
    }

    /// The last position before `to` whose value is below `v`.
    fn last_below(&self, to: usize, v: usize) -> Option<usize> {
        self.last(1, 0, self.leaves, to.min(self.len), v)
    }

    fn last(&self, node: usize, lo: usize, hi: usize, to: usize, v: usize) -> Option<usize> {
        if lo >= to || self.t[node] >= v {
            return None;
        }
        if hi - lo == 1 {
            return Some(lo);
        }
        let mid = (lo + hi) / 2;
        self.last(2 * node + 1, mid, hi, to, v)
            .or_else(|| self.last(2 * node, lo, mid, to, v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::cmp::Ordering;
    use std::collections::BTreeSet;
    use std::ops::Bound;

    /// A totally ordered skill, for the skill index.
    #[derive(Debug, Clone, Copy)]
    struct Sk(f64);

    impl PartialEq for Sk {
        fn eq(&self, other: &Self) -> bool {
            self.cmp(other) == Ordering::Equal
        }
    }
    impl Eq for Sk {}
    impl PartialOrd for Sk {
        fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
            Some(self.cmp(other))
        }
    }
    impl Ord for Sk {
        fn cmp(&self, other: &Self) -> Ordering {
            self.0.total_cmp(&other.0)
        }
    }

    /// The straightforward version of [`next_wake`] (a tree of older skills),
    /// kept as the oracle.
    /// The first instant after `now` at which two of the remaining units become
    /// compatible on skill: the only thing that can let a stable queue form a
    /// match without new input. Units are `(since, skill)`, oldest first.
    ///
    /// Within one queue every unit has the same rules, so a pair's shared window
    /// is the younger unit's; for each unit the nearest older skill outside its
    /// current window gives its next event.
    fn next_wake_reference(
        units: &[(Instant, Option<f64>)],
        rules: &QueueRules,
        now: Instant,
    ) -> Option<Instant> {
        if !rules.widens() {
            return None;
        }
        let mut older: BTreeSet<(Sk, usize)> = BTreeSet::new();
        let mut best: Option<Instant> = None;
        for (i, &(since, skill)) in units.iter().enumerate() {
            let Some(s) = skill else { continue };
            let w = rules.window(now.saturating_duration_since(since));
            let above = older
                .range((Bound::Excluded((Sk(s + w), usize::MAX)), Bound::Unbounded))
                .next()
                .map(|(x, _)| x.0 - s);
            let below = older
                .range((Bound::Unbounded, Bound::Excluded((Sk(s - w), 0))))
                .next_back()
                .map(|(x, _)| s - x.0);
            let nearest = match (above, below) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            if let Some(at) = nearest
                .and_then(|d| rules.time_to_reach(d))
                // One millisecond of slack: at the wake time the window is past
                // the distance despite float rounding.
                .and_then(|t| since.checked_add(t + Duration::from_millis(1)))
                .filter(|&at| at > now)
            {
                best = Some(best.map_or(at, |b| b.min(at)));
            }
            older.insert((Sk(s), i));
        }
        best
    }

    proptest! {
        #[test]
        fn next_wake_agrees_with_the_reference(
            raw in proptest::collection::vec((0u64..30_000, proptest::option::of(0u16..3000)), 0..80),
            at in 0u64..40_000,
        ) {
            let t0 = Instant::now();
            let mut raw = raw;
            raw.sort_by_key(|&(ms, _)| ms);
            let units: Vec<(Instant, Option<f64>)> = raw
                .iter()
                .map(|&(ms, s)| (t0 + Duration::from_millis(ms), s.map(f64::from)))
                .collect();
            let now = t0 + Duration::from_millis(at);
            let rules = QueueRules::default();
            prop_assert_eq!(next_wake(&units, &rules, now), next_wake_reference(&units, &rules, now));
        }
    }

    proptest! {
        #[test]
        fn groups_are_disjoint_full_and_compatible(
            raw in proptest::collection::vec((1u32..=3, proptest::option::of(0.0f64..2000.0), 0.0f64..400.0), 0..120),
            size in 1u32..=6,
        ) {
            let cands: Vec<Candidate> = raw
                .iter()
                .map(|&(members, skill, window)| Candidate { members, skill, window })
                .collect();
            let groups = form_groups(&cands, size);
            let mut seen = BTreeSet::new();
            for g in &groups {
                let seats: u32 = g.iter().map(|&i| cands[i].members).sum();
                prop_assert_eq!(seats, size);
                for (k, &i) in g.iter().enumerate() {
                    prop_assert!(seen.insert(i), "unit {} in two groups", i);
                    for &j in &g[k + 1..] {
                        prop_assert!(skill_compatible(&cands[i], &cands[j]));
                    }
                }
            }
        }
    }

    fn c(skill: Option<f64>, window: f64) -> Candidate {
        Candidate {
            members: 1,
            skill,
            window,
        }
    }

    #[test]
    fn oldest_compatible_first() {
        let cands = [
            c(Some(1000.0), 100.0),
            c(Some(2000.0), 100.0),
            c(Some(1050.0), 100.0),
            c(Some(1020.0), 100.0),
            c(Some(1010.0), 100.0),
        ];
        assert_eq!(form_groups(&cands, 2), vec![vec![0, 2], vec![3, 4]]);
    }

    #[test]
    fn picks_must_be_mutually_compatible() {
        // 0 fits 1 and 2, but 1 and 2 are 180 apart.
        let cands = [
            c(Some(1000.0), 100.0),
            c(Some(910.0), 100.0),
            c(Some(1090.0), 100.0),
            c(Some(950.0), 100.0),
        ];
        assert_eq!(form_groups(&cands, 3), vec![vec![0, 1, 3]]);
    }

    #[test]
    fn the_narrower_window_decides() {
        let cands = [c(Some(1000.0), 500.0), c(Some(1200.0), 100.0)];
        assert!(form_groups(&cands, 2).is_empty());
        let cands = [c(Some(1000.0), 500.0), c(Some(1200.0), 200.0)];
        assert_eq!(form_groups(&cands, 2), vec![vec![0, 1]]);
    }

    #[test]
    fn units_must_fit_the_seats_left() {
        let party = Candidate {
            members: 3,
            skill: None,
            window: 0.0,
        };
        let cands = [c(None, 0.0), c(None, 0.0), party, c(None, 0.0)];
        // The party of 3 cannot join the two oldest in a match of 4; when its
        // turn comes it takes the oldest single.
        assert_eq!(form_groups(&cands, 4), vec![vec![2, 0]]);
        assert_eq!(form_groups(&cands, 3), vec![vec![0, 1, 3], vec![2]]);
    }

    #[test]
    fn wide_ranges_walk_by_age_with_the_same_result() {
        let cands: Vec<Candidate> = (0..2000)
            .map(|i| c(Some(1000.0 + f64::from(i % 7)), 100.0))
            .collect();
        let groups = form_groups(&cands, 4);
        assert_eq!(groups.len(), 500);
        assert_eq!(groups[0], vec![0, 1, 2, 3]);
    }

    #[test]
    fn wake_is_when_the_nearest_outside_pair_fits() {
        let rules = QueueRules::default();
        let t0 = Instant::now();
        let units = [(t0, Some(1000.0)), (t0, Some(1300.0))];
        // 300 apart: window 100 + 50/s reaches 300 after 4 s.
        let wake = next_wake(&units, &rules, t0).expect("a wake");
        assert_eq!(wake, t0 + Duration::from_millis(4001));
        let units = [(t0, Some(1000.0)), (t0, Some(5000.0))];
        assert_eq!(next_wake(&units, &rules, t0), None);
        let units = [(t0, None), (t0, Some(5000.0))];
        assert_eq!(next_wake(&units, &rules, t0), None);
    }
}
