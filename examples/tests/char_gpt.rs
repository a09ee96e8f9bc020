//! `examples/char-gpt` against an in-process `anh node`: the loss the contract's `trainOn`
//! transactions report falls, the model writes more like its corpus after training than
//! before, the sample is recorded, bad input reverts readably, the README's gas holds.

use anh::NodeConfig;
use anh_examples::{
    char_gpt::{self, PROMPT},
    common::Devnet,
};

#[tokio::test(flavor = "multi_thread")]
async fn char_gpt_learns_its_corpus() {
    let node = anh::spawn(NodeConfig::test()).await.expect("node starts");
    let devnet = Devnet::connect(&node.http_endpoint(), 0).expect("connects");
    let out = tempfile::tempdir().unwrap();
    let report = char_gpt::run(&devnet, out.path(), 20).await.unwrap();

    let (first, last) = (report.losses[0], report.losses[19]);
    assert!(last < first / 2.0, "the loss falls: {:?}", report.losses);
    let (before, after) =
        (char_gpt::plausibility(&report.before), char_gpt::plausibility(&report.after));
    assert!(
        after > before && after >= 0.8,
        "before {before:.2} {:?}, after {after:.2} {:?}",
        report.before,
        report.after
    );
    for text in [&report.before, &report.after, &report.sampled] {
        assert!(text.starts_with(PROMPT) && text.len() > PROMPT.len(), "{text:?}");
    }
    assert!(
        report.bad_character.contains("CharGpt: character 0x23 at 3 is not in the alphabet"),
        "{}",
        report.bad_character
    );
    assert!(
        report.past_corpus.contains("CharGpt: the windows run past the corpus"),
        "{}",
        report.past_corpus
    );

    for (reason, expected) in report.bad_requests.iter().zip([
        "CharGpt: the prompt is empty",
        "CharGpt: at most 64 characters at once",
        "CharGpt: temperature 0.01 to 10 (x 1e6)",
    ]) {
        assert!(reason.contains(expected), "{reason} lacks {expected}");
    }
    assert_eq!(report.bad_requests.len(), 3);
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/char-gpt/README.md"))
            .unwrap();
    let mean = report.train_gas.iter().sum::<u64>() / report.train_gas.len() as u64;
    let rows = [
        ("`write`, 300 characters", report.write_gas[0]),
        ("`trainOn`, mean of the run", mean),
        ("`sample`, 24 characters", report.sample_gas),
    ];
    let off = anh_examples::common::readme_gas_off(&readme, rows);
    assert!(off.is_empty(), "{off:#?}");
    let svg = std::fs::read_to_string(out.path().join("loss-curve.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("next-character loss"), "{svg}");
}
