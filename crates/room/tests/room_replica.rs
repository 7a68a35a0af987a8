//! Property: whatever happens in a room, a member that applies every patch it
//! receives to its snapshot holds exactly the room's state, with matching
//! checksums and consecutive seqs.

mod common;

use arbiter_protocol::ServerMessage;
use arbiter_room::{Output, RoomConfig};
use common::*;
use proptest::prelude::*;
use serde_json::{Value, json};

#[derive(Debug, Clone)]
enum Step {
    Join(u8),
    Leave(u8),
    Set(u8, i32),
    Bad(u8),
    Boom(u8),
    Tick,
    Flush,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (1..4u8).prop_map(Step::Join),
        (1..4u8).prop_map(Step::Leave),
        (0..4u8, any::<i32>()).prop_map(|(w, v)| Step::Set(w, v)),
        (0..4u8).prop_map(Step::Bad),
        (0..4u8).prop_map(Step::Boom),
        Just(Step::Tick),
        Just(Step::Flush),
    ]
}

proptest! {
    #[test]
    fn observer_replica_matches_room(steps in proptest::collection::vec(step(), 1..60), ticking in any::<bool>()) {
        let game = Game { tick_rate: if ticking { 20 } else { 0 }, ..Game::default() };
        let config = RoomConfig { max_errors: 1000, ..RoomConfig::default() };
        let mut r = room(game, config);
        let observer = sid("0");
        let out = join(&mut r, &observer);
        let mut replica = Value::Null;
        let mut seq = 0;
        apply(&out, &observer, &mut replica, &mut seq);
        for (i, s) in steps.into_iter().enumerate() {
            let now = i as u64 * 50;
            let out: Vec<Output> = match s {
                Step::Join(w) => join(&mut r, &sid(&w.to_string())),
                Step::Leave(w) => {
                    r.leave(&sid(&w.to_string()), None, true, now);
                    r.drain_output().collect()
                }
                Step::Set(w, v) => msg(&mut r, &sid(&w.to_string()), "set", json!(v)),
                Step::Bad(w) => msg(&mut r, &sid(&w.to_string()), "bad", Value::Null),
                Step::Boom(w) => msg(&mut r, &sid(&w.to_string()), "boom", Value::Null),
                Step::Tick => {
                    r.tick(now);
                    r.drain_output().collect()
                }
                Step::Flush => {
                    r.flush();
                    r.drain_output().collect()
                }
            };
            apply(&out, &observer, &mut replica, &mut seq);
        }
        r.flush();
        let out: Vec<Output> = r.drain_output().collect();
        apply(&out, &observer, &mut replica, &mut seq);
        prop_assert_eq!(&replica, r.state());
        prop_assert_eq!(seq, r.seq().0);
    }
}

fn apply(out: &[Output], to: &arbiter_protocol::SessionId, replica: &mut Value, seq: &mut u64) {
    for f in frames_to(out, to) {
        match f.msg {
            ServerMessage::StateSnapshot(s) => {
                *replica = s.state;
                *seq = s.seq.0;
                assert_eq!(arbiter_state::checksum(replica).as_u64(), s.checksum.0);
            }
            ServerMessage::StatePatch(p) => {
                assert_eq!(p.seq.0, *seq + 1, "consecutive seqs");
                arbiter_state::apply(replica, &p.ops).expect("patch applies");
                *seq = p.seq.0;
                if let Some(c) = p.checksum {
                    assert_eq!(arbiter_state::checksum(replica).as_u64(), c.0);
                }
            }
            _ => {}
        }
    }
}
