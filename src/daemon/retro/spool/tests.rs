use super::*;
use crate::telemetry::Metrics;

fn cfg(dir: &Path) -> SpoolConfig {
    SpoolConfig {
        dir: dir.to_owned(),
        max_bytes: 1 << 30,
        segment_max_bytes: 1 << 20,
        segment_max_age: Duration::from_secs(3600),
        lookback: Duration::from_secs(7 * 86_400),
        level: 3,
    }
}

fn batch(lines: &[&str], peer: &str) -> Batch {
    let mut b = Batch::new(SourceKind::SyslogTcp);
    for l in lines {
        b.push_line(l.as_bytes(), Some(peer.parse().unwrap()));
    }
    b
}

fn read_all(dir: &Path) -> (Vec<Batch>, usize) {
    let mut out = Vec::new();
    let mut corrupt = 0;
    for s in segments(dir).unwrap() {
        if let Err(e) = read_segment(&s.path, 0, 0, |b| {
            out.extend(b.batches);
            true
        }) {
            eprintln!("{e}");
            corrupt += 1;
        }
    }
    (out, corrupt)
}

/// Batches come back as they went in: lines, peers, path, offsets, Zeek header, arrival.
#[test]
fn batches_round_trip_through_sealed_segments() {
    let d = tempfile::tempdir().unwrap();
    let m = Metrics::new();
    let spool = Spool::open(cfg(d.path()), 8, m.retro.clone()).unwrap();
    let a = batch(&["one 198.51.100.7", "two"], "10.0.0.1:514");
    let mut f = Batch::new(SourceKind::File);
    f.path = Some(Arc::from("/var/log/x.log"));
    f.read_at(100);
    f.push_lines(b"#fields\tts\tquery\n", None);
    f.zeek = ZeekHeader::from_lines([&b"#fields\tts\tquery"[..]]).map(Arc::new);
    let arrival = a.arrival_ns;
    spool.offer(a);
    spool.offer(f);
    assert_eq!(spool.seal(), Some(0));
    let (got, corrupt) = read_all(d.path());
    assert_eq!(corrupt, 0);
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].buf, b"one 198.51.100.7\ntwo\n");
    assert_eq!(got[0].arrival_ns, arrival);
    assert_eq!(got[0].peer_at(0), Some("10.0.0.1:514".parse().unwrap()));
    assert_eq!(got[0].source, SourceKind::SyslogTcp);
    assert_eq!(got[1].path.as_deref(), Some("/var/log/x.log"));
    assert_eq!(got[1].offset_at(0), Some(100));
    assert_eq!(got[1].zeek.as_ref().unwrap().fields(), ["ts", "query"]);
    // A seal with nothing new closes nothing more.
    assert_eq!(spool.seal(), Some(0));
    spool.close();
    assert!(m.retro.spool_written_bytes.get() > 0);
    assert_eq!(m.retro.spool_segments.get(), 1);
}

/// A flipped byte in a block: the segment is corrupt from there, the blocks before it are
/// read, and the next segment is whole.
#[test]
fn a_corrupt_block_is_found_by_its_checksum() {
    let d = tempfile::tempdir().unwrap();
    let m = Metrics::new();
    let spool = Spool::open(cfg(d.path()), 8, m.retro.clone()).unwrap();
    spool.offer(batch(&["first segment"], "10.0.0.1:1"));
    spool.seal();
    spool.offer(batch(&["second segment"], "10.0.0.1:1"));
    spool.seal();
    spool.close();
    let segs = segments(d.path()).unwrap();
    assert_eq!(segs.len(), 2);
    let mut bytes = fs::read(&segs[0].path).unwrap();
    let last = bytes.len() - 3;
    bytes[last] ^= 0x55;
    fs::write(&segs[0].path, &bytes).unwrap();
    let err = read_segment(&segs[0].path, 0, 0, |_| true).unwrap_err();
    assert!(err.to_string().contains("checksum"), "{err}");
    let (got, corrupt) = read_all(d.path());
    assert_eq!(corrupt, 1);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].buf, b"second segment\n");
    // Garbage instead of a segment is refused, never read as lines.
    fs::write(&segs[1].path, b"not a segment at all").unwrap();
    assert!(read_segment(&segs[1].path, 0, 0, |_| true).is_err());
}

/// A crash leaves `<seq>.open` with a half-written block: the next start keeps the whole
/// blocks, closes the segment, and numbers new segments after it.
#[test]
fn a_segment_left_open_by_a_crash_is_closed_at_the_next_start() {
    let d = tempfile::tempdir().unwrap();
    let m = Metrics::new();
    let spool = Spool::open(cfg(d.path()), 8, m.retro.clone()).unwrap();
    spool.offer(batch(&["kept line"], "10.0.0.1:1"));
    spool.seal();
    spool.close();
    let seg = &segments(d.path()).unwrap()[0];
    let mut bytes = fs::read(&seg.path).unwrap();
    bytes.extend_from_slice(b"BLK1\x40\x00\x00\x00 torn"); // a block cut short
    fs::remove_file(&seg.path).unwrap();
    fs::write(d.path().join(format!("{:016}.open", 7)), &bytes).unwrap();
    let m2 = Metrics::new();
    let spool = Spool::open(cfg(d.path()), 8, m2.retro.clone()).unwrap();
    assert_eq!(m2.retro.spool_corrupt.get(), 1, "the torn tail is counted");
    spool.offer(batch(&["after the crash"], "10.0.0.1:1"));
    assert_eq!(
        spool.seal(),
        Some(8),
        "numbering goes on after the recovered segment"
    );
    spool.close();
    let (got, corrupt) = read_all(d.path());
    assert_eq!(corrupt, 0);
    let lines: Vec<_> = got.iter().map(|b| b.buf.clone()).collect();
    assert_eq!(
        lines,
        vec![b"kept line\n".to_vec(), b"after the crash\n".to_vec()]
    );
}

/// Bounds: past `max_bytes` the oldest segments go; past `lookback` every old one goes.
#[test]
fn the_spool_keeps_to_its_size_and_age() {
    let d = tempfile::tempdir().unwrap();
    let m = Metrics::new();
    let mut c = cfg(d.path());
    c.segment_max_bytes = 4096;
    c.max_bytes = 3 * 4096;
    let spool = Spool::open(c.clone(), 64, m.retro.clone()).unwrap();
    // Incompressible lines: each seal makes a segment of about 3 KiB.
    let mut x: u64 = 1;
    for _ in 0..10 {
        let line: String = (0..3000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                char::from(b'a' + (x % 26) as u8)
            })
            .collect();
        spool.offer(batch(&[&line], "10.0.0.1:1"));
        spool.seal();
    }
    spool.close();
    let segs = segments(d.path()).unwrap();
    let total: u64 = segs.iter().map(|s| s.bytes).sum();
    assert!(total <= c.max_bytes, "{total} bytes kept");
    assert!(
        segs.len() >= 2 && segs.len() < 10,
        "{} segments",
        segs.len()
    );
    assert_eq!(segs.last().unwrap().seq, 9, "the newest stay");
    let deleted = |why: &str| m.retro.spool_deleted.with_label_values(&[why]).get();
    assert!(
        deleted("size") >= 1,
        "iocd_retro_spool_deleted_segments_total{{reason=size}}"
    );
    // Segments whose last line is older than the lookback are deleted at the next start.
    let old = d.path().join(format!("{:016}-{}-{}.seg", 100, 1000, 2000));
    fs::copy(&segs[0].path, &old).unwrap();
    let m2 = Metrics::new();
    let spool = Spool::open(c, 4, m2.retro.clone()).unwrap();
    spool.close();
    assert!(!old.exists());
    assert_eq!(m2.retro.spool_deleted.with_label_values(&["age"]).get(), 1);
}

/// A full queue drops from the spool, counted, and never waits.
#[test]
fn a_full_queue_drops_from_the_spool_and_counts() {
    let d = tempfile::tempdir().unwrap();
    let m = Metrics::new();
    let spool = Spool::open(cfg(d.path()), 1, m.retro.clone()).unwrap();
    for i in 0..2000 {
        spool.offer(batch(&[&format!("line {i}")], "10.0.0.1:1"));
    }
    spool.seal();
    spool.close();
    let (got, _) = read_all(d.path());
    let dropped = m.retro.spool_dropped.get();
    assert_eq!(
        got.len() as u64 + dropped,
        2000,
        "iocd_retro_spool_dropped_lines_total"
    );
}

/// A spool folder that fails writes (here: removed under the writer) costs the spool those
/// lines, counted and logged; the writer goes on.
#[test]
fn a_folder_that_fails_writes_is_counted() {
    let d = tempfile::tempdir().unwrap();
    let m = Metrics::new();
    let dir = d.path().join("spool");
    let spool = Spool::open(cfg(&dir), 8, m.retro.clone()).unwrap();
    fs::remove_dir_all(&dir).unwrap();
    spool.offer(batch(&["lost line"], "10.0.0.1:1"));
    spool.seal();
    assert!(
        m.retro.spool_errors.get() >= 1,
        "iocd_retro_spool_write_errors_total"
    );
    fs::create_dir_all(&dir).unwrap();
    spool.offer(batch(&["kept line"], "10.0.0.1:1"));
    spool.seal();
    spool.close();
    let (got, _) = read_all(&dir);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].buf, b"kept line\n");
}
