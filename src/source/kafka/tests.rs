use super::*;

fn key(t: &str, p: i32) -> (Arc<str>, i32) {
    (Arc::from(t), p)
}

#[test]
fn commits_stop_at_the_first_segment_in_flight() {
    let t = Tracker::new(Arc::new(Metrics::new()));
    t.assign(&[key("logs", 0), key("logs", 1)]);
    let a = t.open(&[(Arc::from("logs"), 0, 9), (Arc::from("logs"), 1, 4)]);
    let b = t.open(&[(Arc::from("logs"), 0, 19)]);
    let c = t.open(&[(Arc::from("logs"), 0, 29)]);
    // The later batches are delivered first: nothing is committable on partition 0.
    t.settle(&c);
    t.settle(&b);
    assert!(t.take_ready(None).is_empty());
    assert!(t.in_flight(None));
    // The first batch settles: partition 0 jumps over all three, partition 1 to 5.
    t.settle(&a);
    let mut ready = t.take_ready(None);
    ready.sort_by_key(|r| r.1);
    assert_eq!(
        ready,
        [(Arc::from("logs"), 0, 30), (Arc::from("logs"), 1, 5)]
    );
    assert!(t.take_ready(None).is_empty(), "reported once");
    assert!(t.is_idle());
}

#[test]
fn stale_tickets_after_revoke_are_ignored() {
    let t = Tracker::new(Arc::new(Metrics::new()));
    t.assign(&[key("logs", 0)]);
    let old = t.open(&[(Arc::from("logs"), 0, 99)]);
    assert_eq!(t.revoke(&[key("logs", 0)]), 1);
    // Assigned again: the new owner epoch starts from the broker's committed offset.
    t.assign(&[key("logs", 0)]);
    let new = t.open(&[(Arc::from("logs"), 0, 49)]);
    t.settle(&old);
    assert!(
        t.take_ready(None).is_empty(),
        "an old epoch's settle moves nothing"
    );
    t.settle(&new);
    assert_eq!(t.take_ready(None), [(Arc::from("logs"), 0, 50)]);
}

#[test]
fn unowned_partitions_get_no_segment() {
    let t = Tracker::new(Arc::new(Metrics::new()));
    t.assign(&[key("logs", 0)]);
    let tickets = t.open(&[(Arc::from("logs"), 0, 1), (Arc::from("logs"), 7, 1)]);
    assert_eq!(tickets.len(), 1);
    let only = [key("logs", 7)];
    assert!(!t.in_flight(Some(&only)));
    t.settle(&tickets);
    assert!(t.take_ready(Some(&only)).is_empty());
    assert_eq!(t.take_ready(None), [(Arc::from("logs"), 0, 2)]);
}
