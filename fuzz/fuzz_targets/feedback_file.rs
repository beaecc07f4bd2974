//! libFuzzer target: the feedback file reader (`iocd::feedback`) is total, and reports each bad
//! line once, by its number.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let (marks, errors) = iocd::feedback::parse_feedback_file(data);
    let text = String::from_utf8_lossy(data);
    let lines = text.lines().count();
    assert!(marks + errors.len() <= lines, "{marks} marks, {} errors, {lines} lines", errors.len());
    assert!(errors.windows(2).all(|w| w[0] < w[1]), "lines in order, once each");
    assert!(errors.iter().all(|&l| l >= 1 && l <= lines));
});
