use proptest::prelude::*;

use super::*;
use crate::scrape::testsuite::{GO_HEAP, TestSample, pprof};

/// A Go heap profile of `samples` (root-first function names, the four values, a `span`
/// label's value), its ids numbered from `base` so that two scrapes share none.
pub(crate) fn heap(samples: &[(&[&str], [i64; 4], &str)], base: u64, time: i64) -> Profile {
    let labels: Vec<[(&str, &str); 1]> = samples.iter().map(|(_, _, l)| [("span", *l)]).collect();
    let samples: Vec<TestSample<'_>> = samples
        .iter()
        .zip(&labels)
        .map(|((stack, values, _), label)| (*stack, &values[..], &label[..]))
        .collect();
    pprof(&GO_HEAP, ("space", "bytes"), 524_288, &samples, base, time)
}

/// Each sample as (stack, values, label) sorted, for comparing across id numberings.
fn read(p: &Profile) -> Vec<(Vec<String>, Vec<i64>, String)> {
    let mut out: Vec<_> = p
        .sample
        .iter()
        .map(|s| {
            let stack = s
                .location_id
                .iter()
                .rev()
                .map(|id| {
                    let l = p.location.iter().find(|l| l.id == *id).unwrap();
                    let f = p.function.iter().find(|f| f.id == l.line[0].function_id);
                    p.string_table[f.unwrap().name as usize].clone()
                })
                .collect();
            let label = p.string_table[s.label[0].str as usize].clone();
            (stack, s.value.clone(), label)
        })
        .collect();
    out.sort();
    out
}

#[test]
fn allocations_become_what_happened_between_scrapes_and_in_use_stays_a_snapshot() {
    let first = heap(
        &[
            (&["main", "a"], [10, 1000, 2, 200], "x"),
            (&["main", "b"], [5, 500, 5, 500], "x"),
        ],
        0,
        1_000,
    );
    assert_eq!(delta(None, first.clone()), Delta::Baseline);
    // Ids renumbered, a stack new, one unchanged, one sample split in two.
    let second = heap(
        &[
            (&["main", "a"], [12, 1300, 1, 100], "x"),
            (&["main", "a"], [3, 200, 0, 0], "x"),
            (&["main", "b"], [5, 500, 0, 0], "x"),
            (&["main", "c"], [4, 40, 4, 40], "y"),
        ],
        500,
        61_000,
    );
    let Delta::Between(d) = delta(Some(&first), second.clone()) else {
        panic!("a delta");
    };
    let s = |stack: &[&str], v: [i64; 4], l: &str| {
        (
            stack.iter().map(|x| x.to_string()).collect(),
            v.to_vec(),
            l.to_string(),
        )
    };
    assert_eq!(
        read(&d),
        [
            s(&["main", "a"], [5, 500, 1, 100], "x"),
            s(&["main", "c"], [4, 40, 4, 40], "y")
        ],
        "b allocated nothing and holds nothing: dropped"
    );
    assert_eq!(d.duration_nanos, 60_000);
}

#[test]
fn a_counter_going_down_is_a_restart_whose_profile_is_the_delta() {
    let first = heap(&[(&["main", "a"], [10, 1000, 2, 200], "x")], 0, 1);
    let restarted = heap(
        &[
            (&["main", "a"], [3, 300, 3, 300], "x"),
            (&["main", "b"], [50, 50, 0, 0], "x"),
        ],
        0,
        2,
    );
    assert_eq!(
        delta(Some(&first), restarted.clone()),
        Delta::Restarted(restarted.clone())
    );
    // The label is part of the meaning: the same stack under another span is another series.
    let other = heap(&[(&["main", "a"], [1, 1, 0, 0], "z")], 0, 3);
    assert_eq!(
        read(&delta(Some(&first), other.clone()).profile().unwrap()).len(),
        1
    );
}

#[test]
fn profiles_without_cumulative_types_are_their_own_delta() {
    let mut cpu = heap(&[(&["main"], [1, 2, 3, 4], "x")], 0, 1);
    for t in &mut cpu.sample_type {
        t.r#type = 0;
    }
    assert!(!is_cumulative(&cpu));
    assert_eq!(delta(None, cpu.clone()), Delta::Between(cpu.clone()));
}

proptest! {
    /// For any growth of any counters, the delta is exactly the growth (and adding it to the
    /// previous scrape gives the current one), whatever ids each scrape uses.
    #[test]
    fn the_delta_is_exactly_the_growth(
        start in proptest::collection::vec((0i64..1000, 0i64..1_000_000), 1..12),
        growth in proptest::collection::vec((0i64..1000, 0i64..1_000_000), 12),
        base in 0u64..10_000,
    ) {
        let names: Vec<String> = (0..start.len()).map(|i| format!("f{i}")).collect();
        let stacks: Vec<[&str; 2]> = names.iter().map(|n| ["main", n.as_str()]).collect();
        let before: Vec<_> = stacks.iter().zip(&start)
            .map(|(st, (o, b))| (&st[..], [*o, *b, 1, 1], "x")).collect();
        let after: Vec<_> = stacks.iter().zip(start.iter().zip(&growth))
            .map(|(st, ((o, b), (go, gb)))| (&st[..], [o + go, b + gb, 2, 2], "x")).collect();
        let first = heap(&before, 0, 1);
        let second = heap(&after, base, 2);
        let d = delta(Some(&first), second.clone()).profile().unwrap();
        let expected: Vec<_> = stacks.iter().zip(&growth)
            .map(|(st, (go, gb))| {
                (st.iter().map(|s| s.to_string()).collect::<Vec<_>>(), vec![*go, *gb, 2, 2], "x".to_string())
            })
            .collect();
        let mut expected = expected;
        expected.sort();
        prop_assert_eq!(read(&d), expected);
    }
}
