//! Every input a fuzz target ever failed on (`shared/tests/data/fuzz/TARGET/`, copied there
//! from `fuzz/artifacts/` by whoever fixed it), replayed through the same function
//! (`flamelet::fuzzing`), and every file of the shared corpus through the parsers that read
//! it: each must come back, without a panic.

use std::path::{Path, PathBuf};

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    out.retain(|p| p.is_file());
    out.sort();
    out
}

#[test]
fn every_input_a_fuzz_target_failed_on_is_handled() {
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/fuzz");
    let stray: Vec<PathBuf> = files(&data)
        .into_iter()
        .filter(|f| !f.ends_with("README.md"))
        .collect();
    assert!(
        stray.is_empty(),
        "inputs belong in a target's folder: {stray:?}"
    );
    let mut replayed = 0;
    for (name, target) in flamelet::fuzzing::TARGETS {
        for input in files(&data.join(name)) {
            let bytes = std::fs::read(&input).expect("reading the input");
            target(&bytes);
            replayed += 1;
        }
    }
    eprintln!("{replayed} inputs replayed");
    // Folders of targets that do not exist would never be replayed.
    for dir in std::fs::read_dir(&data).into_iter().flatten().flatten() {
        let name = dir.file_name();
        if !dir.path().is_dir() {
            continue;
        }
        assert!(
            flamelet::fuzzing::TARGETS
                .iter()
                .any(|(t, _)| name.to_str() == Some(*t)),
            "{name:?} is no fuzz target"
        );
    }
}

#[test]
fn every_corpus_file_goes_through_every_parser_that_reads_it() {
    let corpus = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus");
    let mut fed = 0;
    // The byte that picks the format or codec (flamelet::fuzzing): folded first, which every
    // file must fail cleanly as, then what each kind is.
    let picks: [(&str, &[u8]); 5] = [
        ("pprof", &[0, 5, 12]),
        ("jfr", &[0, 6, 13]),
        ("speedscope", &[0, 4]),
        ("otlp", &[0]),
        ("flamegraph", &[0, 4]),
    ];
    for (kind, picks) in picks {
        for f in files(&corpus.join(kind)) {
            let bytes = std::fs::read(&f).expect("reading a corpus file");
            flamelet::fuzzing::pprof(&bytes);
            let with = |pick: u8| [&[pick][..], &bytes].concat();
            for pick in picks {
                flamelet::fuzzing::upload(&with(*pick));
            }
            if kind == "otlp" {
                flamelet::fuzzing::otlp(&with(1));
                flamelet::fuzzing::push(&with(1));
            }
            fed += 1;
        }
    }
    assert!(
        fed > 40,
        "the shared corpus beside the repository: {fed} files"
    );
}
