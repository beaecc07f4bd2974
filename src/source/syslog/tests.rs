use super::framer::*;
use super::udp::*;
use crate::config::UdpConfig;
use crate::telemetry::Metrics;
use proptest::prelude::*;

/// Every message and skip of `input` fed in pieces of `chunk` bytes, then the end.
fn frame(framer: &mut Framer, input: &[u8], chunk: usize) -> Vec<(Vec<u8>, bool, bool)> {
    let mut out = Vec::new();
    let mut buf = Vec::new();
    for piece in input.chunks(chunk.max(1)) {
        buf.extend_from_slice(piece);
        let mut used = 0;
        loop {
            match framer.next(&buf[used..]) {
                Step::More => break,
                Step::Skip(n) => {
                    assert!(n > 0, "a skip makes progress");
                    used += n
                }
                Step::Msg(f, n) => {
                    assert!(n > 0 && f.msg.end <= n);
                    out.push((buf[used..][f.msg].to_vec(), f.cut, f.bad));
                    used += n;
                }
            }
        }
        buf.drain(..used);
    }
    if let Some(f) = framer.finish(&buf) {
        out.push((buf[f.msg].to_vec(), f.cut, f.bad));
    }
    out
}

fn msgs(framed: &[(Vec<u8>, bool, bool)]) -> Vec<String> {
    framed
        .iter()
        .map(|(m, ..)| String::from_utf8_lossy(m).into_owned())
        .collect()
}

#[test]
fn lf_framing_with_crlf_and_blank_lines() {
    for chunk in [1, 2, 3, 7, 1000] {
        let mut f = Framer::detect(100);
        let got = frame(&mut f, b"<13>one\r\n\n<13>two\nthree", chunk);
        assert_eq!(msgs(&got), ["<13>one", "<13>two", "three"], "chunk {chunk}");
        assert!(got.iter().all(|(_, cut, bad)| !cut && !bad));
    }
}

#[test]
fn octet_counting_detected_and_tolerant() {
    for chunk in [1, 2, 5, 1000] {
        let mut f = Framer::detect(100);
        let input = b"11 <13>one two\n9 <13>a\nb c7 <13>xyz";
        let got = frame(&mut f, input, chunk);
        assert_eq!(
            msgs(&got),
            ["<13>one two", "<13>a\nb c", "<13>xyz"],
            "chunk {chunk}"
        );
        assert_eq!(f.mode, Mode::Octets);
    }
}

#[test]
fn a_digit_without_a_space_is_lf_framing() {
    let mut f = Framer::detect(100);
    let got = frame(&mut f, b"2024-01-01 x\n12 y\n", 1000);
    assert_eq!(msgs(&got), ["2024-01-01 x", "12 y"]);
    assert_eq!(f.mode, Mode::Lines);
}

#[test]
fn long_lines_are_cut_then_resync() {
    for chunk in [1, 3, 1000] {
        let mut f = Framer::detect(5);
        let got = frame(&mut f, b"abcdefghij\nok\n12345\r\n123456\n", chunk);
        assert_eq!(
            got,
            [
                (b"abcde".to_vec(), true, false),
                (b"ok".to_vec(), false, false),
                (b"12345".to_vec(), false, false),
                (b"12345".to_vec(), true, false),
            ],
            "chunk {chunk}"
        );
    }
}

#[test]
fn long_octet_frames_are_cut_then_resync() {
    for chunk in [1, 4, 1000] {
        let mut f = Framer::detect(4);
        let got = frame(&mut f, b"10 01234567893 abc4 wxyz", chunk);
        assert_eq!(
            got,
            [
                (b"0123".to_vec(), true, false),
                (b"abc".to_vec(), false, false),
                (b"wxyz".to_vec(), false, false),
            ],
            "chunk {chunk}"
        );
    }
}

#[test]
fn a_bad_octet_header_costs_one_line_and_is_counted() {
    let mut f = Framer::detect(100);
    let got = frame(&mut f, b"3 abc<13>not counted\n2 ok", 1000);
    assert_eq!(
        got,
        [
            (b"abc".to_vec(), false, false),
            (b"<13>not counted".to_vec(), false, true),
            (b"ok".to_vec(), false, false),
        ]
    );
}

#[test]
fn end_of_stream_keeps_the_incomplete_message() {
    let mut f = Framer::detect(100);
    assert_eq!(
        frame(&mut f, b"20 only part", 1000),
        [(b"only part".to_vec(), true, false)]
    );
    let mut f = Framer::detect(100);
    assert_eq!(frame(&mut f, b"12", 1000), [(b"12".to_vec(), false, false)]);
    let mut f = Framer::detect(3);
    assert_eq!(frame(&mut f, b"abcd\nxy", 2).len(), 2);
}

#[test]
fn plain_runs_are_whole_lines_within_the_limits() {
    let mut f = Framer::detect(10);
    assert_eq!(f.plain_run(b"ab\ncd\n", 100), None, "framing not known yet");
    assert!(matches!(f.next(b"ab\ncd\n"), Step::Msg(..)));
    assert_eq!(f.plain_run(b"ab\ncd\nef", 100), Some((6, 2)));
    assert_eq!(f.plain_run(b"ab\ncd\nef", 5), Some((3, 1)), "room");
    assert_eq!(f.plain_run(b"ab\ncdefghijkl\n", 100), Some((3, 1)), "max");
    assert_eq!(f.plain_run(b"ab\r\ncd\n", 100), None);
    assert_eq!(f.plain_run(b"ab\n\ncd\n", 100), None);
    assert_eq!(f.plain_run(b"\nab\n", 100), None);
    assert_eq!(f.plain_run(b"abc", 100), None);
}

#[test]
fn kernel_drops_are_read_from_the_line_of_the_socket() {
    let table = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  123: 0100007F:1572 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4242 2 0000000000000000 17
  456: 00000000:0044 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 42 2 0000000000000000 3
";
    assert_eq!(socket_drops(table, 4242), Some(17));
    assert_eq!(socket_drops(table, 42), Some(3));
    assert_eq!(socket_drops(table, 424), None);
    assert_eq!(socket_drops("", 42), None);
}

/// A real socket: its inode is found, and datagrams that overflow its buffer are counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kernel_drops_of_a_real_socket() {
    let sock = bind_udp(&UdpConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        max_message_bytes: 1024,
        receive_buffer_bytes: Some(4096),
    })
    .unwrap();
    let sock: std::net::UdpSocket = sock.into();
    let metrics = Metrics::new();
    let counter = metrics
        .events_dropped
        .with_label_values(&["syslog_udp", "kernel"]);
    let mut drops = KernelDrops::new(&sock, counter.clone()).expect("socket in /proc/net/udp");
    let to = sock.local_addr().unwrap();
    let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    // Nobody reads: once the buffer is full, every datagram is dropped.
    for _ in 0..200 {
        sender.send_to(&[b'a'; 512], to).unwrap();
    }
    drops.poll();
    let mut read = 0;
    sock.set_nonblocking(true).unwrap();
    while sock.recv_from(&mut [0u8; 1024]).is_ok() {
        read += 1;
    }
    assert!(counter.get() > 0 && read > 0, "read {read}");
    assert_eq!(counter.get() + read, 200);
    drops.poll();
    assert_eq!(counter.get() + read, 200, "counted once");
}

proptest! {
    /// The fast path of `frame_some` and message-by-message framing agree.
    #[test]
    fn fast_path_agrees_with_the_framer(
        input in proptest::collection::vec(
            prop_oneof![Just(b'\n'), Just(b'\r'), Just(b'a'), Just(b'1'), Just(b' ')],
            0..300,
        ),
        max in 1usize..40,
        limit in 1usize..100,
        chunk in 1usize..50,
    ) {
        let slow = frame(&mut Framer::detect(max), &input, chunk);
        let mut want: Vec<u8> = Vec::new();
        for (m, ..) in &slow {
            want.extend(m.iter().map(|&c| if c == b'\n' { b' ' } else { c }));
            want.push(b'\n');
        }
        let (mut b, rx, metrics) = crate::source::testing::batcher(
            crate::model::SourceKind::SyslogTcp, limit, 10_000);
        let mut framer = Framer::detect(max);
        let mut buf = Vec::new();
        for piece in input.chunks(chunk) {
            buf.extend_from_slice(piece);
            let mut used = 0;
            loop {
                used += frame_some(&mut framer, &buf[used..], None, &mut b);
                if !b.is_full() {
                    break;
                }
                b.flush_blocking().unwrap();
            }
            buf.drain(..used);
        }
        finish_into(&mut framer, &buf, None, &mut b);
        b.flush_blocking().unwrap();
        let got: Vec<u8> = rx.try_iter().flat_map(|b| b.buf).collect();
        prop_assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(&want));
        prop_assert_eq!(
            metrics.events_in.with_label_values(&["syslog_tcp"]).get(),
            slow.len() as u64
        );
    }

    /// Whatever the bytes and however they are split, the framer makes progress, keeps
    /// every message within the limit, and finds the same messages.
    #[test]
    fn framing_is_total_and_split_invariant(
        input in proptest::collection::vec(
            prop_oneof![Just(b'\n'), Just(b'\r'), Just(b' '), Just(b'1'), Just(b'0'), any::<u8>()],
            0..400,
        ),
        max in 1usize..40,
        chunk in 1usize..50,
    ) {
        let whole = frame(&mut Framer::detect(max), &input, input.len().max(1));
        let pieces = frame(&mut Framer::detect(max), &input, chunk);
        prop_assert_eq!(&whole, &pieces);
        for (m, ..) in &whole {
            prop_assert!(!m.is_empty() && m.len() <= max);
        }
    }

    /// Lines written with any framing come back unchanged.
    #[test]
    fn messages_round_trip(
        lines in proptest::collection::vec("[ -~]{1,30}", 1..20),
        octets in any::<bool>(),
        chunk in 1usize..64,
    ) {
        let mut input = Vec::new();
        for l in &lines {
            if octets {
                input.extend_from_slice(format!("{} {l}", l.len()).as_bytes());
            } else {
                input.extend_from_slice(format!("{l}\n").as_bytes());
            }
        }
        let mut f = Framer::detect(64);
        let got = frame(&mut f, &input, chunk);
        // LF framing cannot carry a first line that reads as an octet count.
        let first = lines[0].as_bytes();
        let d = digits(first);
        prop_assume!(octets || !(d > 0 && first.get(d) == Some(&b' ')));
        let want = lines.clone();
        prop_assert_eq!(msgs(&got), want);
    }
}
