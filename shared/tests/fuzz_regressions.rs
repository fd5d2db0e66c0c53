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

/// Decodes the segment regression input `name` and checks that it is refused with an error
/// saying `why`.
fn assert_segment_refused(name: &str, why: &str) {
    let input = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/fuzz/segment")
        .join(name);
    let bytes = std::fs::read(input).expect("reading the input");
    let err = flamelet::storage::segment::decode(bytes.into()).expect_err("a corrupt segment");
    assert!(err.to_string().contains(why), "{name}: {err}");
}

/// The segment fuzz target's timeout: a page header with a field holding a list that claims
/// 161 million UUIDs in the 4.6 KB left, which parquet 60.1 skips 16 bytes at a time past the
/// end of its input without noticing (9 s). The reader refuses it by its shape, before the
/// crate sees it (flamelet::storage::thrift_shape).
#[test]
fn a_segment_whose_page_header_claims_millions_of_uuids_is_refused_unread() {
    assert_segment_refused(
        "parquet-skips-uuids-past-the-end",
        "page header at 816: Thrift list at byte 862 claims 161118441 elements",
    );
}

/// The segment fuzz target's second timeout: a page header whose known field has another
/// type in the bytes than in parquet-format's schema. The crate reads it by the schema, a
/// walk by the bytes falls out of step with it, and the crate then skips a long list past
/// the end (14 s in the fuzz build). The check walks known fields by the schema too.
#[test]
fn a_segment_whose_page_header_has_a_field_of_the_wrong_type_is_refused_unread() {
    assert_segment_refused(
        "parquet-reads-known-fields-by-their-schema-type",
        "page header at 394: Thrift type 6 at byte 0 is not one Parquet stores",
    );
}

/// The segment fuzz target's third timeout: a 30-byte Snappy page that claims 940 MB once
/// uncompressed (its size written as a varint past i32, which the crate truncates), which the
/// crate allocates and zeroes before decompressing. The check bounds it by what Snappy can
/// expand 30 bytes to.
#[test]
fn a_segment_whose_page_claims_more_than_snappy_expands_to_is_refused_unread() {
    assert_segment_refused(
        "parquet-zeroes-what-a-page-claims-uncompressed",
        "page claims 939524096 bytes uncompressed from 30",
    );
}

/// The segment fuzz target's first abort: a packed L0 segment whose footer claims 3 billion
/// strings. The reader reserved room for them before reading a page, and the failed
/// 99 GB allocation aborted the process (no panic to catch). It now reserves at most a real
/// row group's rows and refuses the segment when its pages hold fewer.
#[test]
fn a_segment_whose_footer_claims_billions_of_rows_is_refused_without_reserving_them() {
    assert_segment_refused(
        "reader-reserves-the-rows-a-footer-claims",
        "column `string` is partly null or short",
    );
}

/// The segment fuzz target's second abort: a 2.7 KB segment whose dictionary page claims
/// 2 billion strings. parquet sizes the dictionary by that claim before decoding it, and the
/// 64 GB allocation aborted the process. A dictionary page is PLAIN, each string at least its
/// 4-byte length, so a claim its bytes cannot hold is refused before the crate sees the page.
#[test]
fn a_segment_whose_dictionary_page_claims_billions_of_values_is_refused_unallocated() {
    assert_segment_refused(
        "parquet-sizes-a-dictionary-by-its-claim",
        "a dictionary page claims 1999634431 values in 59 bytes",
    );
}
