use iocd::decode::event::decode;
#[test]
fn probe() {
    let f = std::env::var("PROBE").unwrap();
    let data = std::fs::read(&f).unwrap();
    for l in data.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let e = decode(l, None);
        let s = String::from_utf8_lossy(l);
        match e {
            Some(e) => println!(
                "{:<12} src={:?} dst={:?} act={:?} dir={:?} | {}",
                e.format.as_str(),
                e.source_ip(l),
                e.destination_ip(l),
                e.action,
                e.network_direction,
                &s[..s.len().min(110)]
            ),
            None => println!("{:<12} | {}", "-", &s[..s.len().min(110)]),
        }
    }
}
