//! [`Replica`]: a client's copy of one room's state, kept in step with the
//! server by `state.snapshot` and `state.patch` (PROTOCOL.md §6). Sans-IO.

use arbiter_protocol::{Checksum, Seq, StatePatch, StateSnapshot};
use arbiter_state::{StateDoc, Value};

use crate::error::ReplicaError;

/// What [`Replica::apply_patch`] did with a patch it accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchOutcome {
    /// The patch was the next one and is now part of the state.
    Applied,
    /// The patch's seq is not above the replica's: it was already applied (a
    /// resumed session replays the unacknowledged patches), so it was ignored.
    Duplicate,
}

/// One room's state as the client sees it: the document, its seq, and its
/// checksum.
///
/// Built from a snapshot, advanced by patches. Every refused input leaves the
/// replica exactly as it was, so a caller can keep serving the last good state
/// while it asks for a fresh snapshot.
///
/// ```
/// use arbiter_client::{PatchOutcome, Replica};
/// use arbiter_protocol::{Checksum, Seq, StatePatch, StateSnapshot};
/// use arbiter_state::PatchOp;
/// use serde_json::json;
///
/// let state = json!({ "counter": 0 });
/// let sum = |v: &serde_json::Value| Checksum(arbiter_state::checksum(v).as_u64());
/// let mut replica = Replica::from_snapshot(&StateSnapshot {
///     checksum: sum(&state),
///     state,
///     seq: Seq(4),
/// })?;
/// let patch = StatePatch {
///     seq: Seq(5),
///     ops: vec![PatchOp::set("/counter", json!(1))],
///     checksum: Some(sum(&json!({ "counter": 1 }))),
/// };
/// assert_eq!(replica.apply_patch(&patch)?, PatchOutcome::Applied);
/// assert_eq!(replica.apply_patch(&patch)?, PatchOutcome::Duplicate);
/// assert_eq!(replica.state(), &json!({ "counter": 1 }));
/// # Ok::<(), arbiter_client::ReplicaError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Replica {
    doc: StateDoc,
    seq: Seq,
    /// The checksum of `doc`, when known without hashing (it came with the last
    /// snapshot or patch).
    checksum: Option<Checksum>,
}

impl Replica {
    /// A replica holding `doc` at `seq` (no checksum verified).
    pub fn new(doc: StateDoc, seq: Seq) -> Replica {
        Replica {
            doc,
            seq,
            checksum: None,
        }
    }

    /// A replica built from a snapshot, after checking that its state is an
    /// object that hashes to its checksum.
    pub fn from_snapshot(snapshot: &StateSnapshot) -> Result<Replica, ReplicaError> {
        let doc = StateDoc::try_from(snapshot.state.clone()).map_err(|source| {
            ReplicaError::NotAnObject {
                seq: snapshot.seq,
                source,
            }
        })?;
        let actual = checksum_of(&doc);
        if actual != snapshot.checksum {
            return Err(ReplicaError::ChecksumMismatch {
                seq: snapshot.seq,
                expected: snapshot.checksum,
                actual,
            });
        }
        Ok(Replica {
            doc,
            seq: snapshot.seq,
            checksum: Some(actual),
        })
    }

    /// Replaces the state with a snapshot's, whatever its seq (the server is
    /// authoritative: a room recreated under the same id starts again at a low
    /// seq). On error the replica is unchanged.
    pub fn apply_snapshot(&mut self, snapshot: &StateSnapshot) -> Result<(), ReplicaError> {
        *self = Replica::from_snapshot(snapshot)?;
        Ok(())
    }

    /// Applies a patch.
    ///
    /// - `seq <= self.seq()`: [`PatchOutcome::Duplicate`], nothing changes.
    /// - `seq > self.seq() + 1`: [`ReplicaError::Gap`].
    /// - otherwise the ops are applied atomically and, when the patch carries a
    ///   checksum, the result is verified; a failed op or a mismatch is an error
    ///   and the replica keeps its previous state and seq.
    pub fn apply_patch(&mut self, patch: &StatePatch) -> Result<PatchOutcome, ReplicaError> {
        if patch.seq <= self.seq {
            return Ok(PatchOutcome::Duplicate);
        }
        let expected = self.seq.next();
        if patch.seq != expected {
            return Err(ReplicaError::Gap {
                expected,
                got: patch.seq,
            });
        }
        let apply_err = |source| ReplicaError::Apply {
            seq: patch.seq,
            source,
        };
        match patch.checksum {
            None => {
                // Atomic in arbiter-state: on error the document is unchanged.
                self.doc.apply(&patch.ops).map_err(apply_err)?;
                self.checksum = None;
            }
            Some(expected) => {
                // Verify on a copy so that a mismatch leaves the state as it was.
                // Hashing walks the whole document anyway, so the copy costs the
                // same order of work.
                let mut next = self.doc.clone();
                next.apply(&patch.ops).map_err(apply_err)?;
                let actual = checksum_of(&next);
                if actual != expected {
                    return Err(ReplicaError::ChecksumMismatch {
                        seq: patch.seq,
                        expected,
                        actual,
                    });
                }
                self.doc = next;
                self.checksum = Some(actual);
            }
        }
        self.seq = patch.seq;
        Ok(PatchOutcome::Applied)
    }

    /// The state document (always a JSON object).
    pub fn state(&self) -> &Value {
        self.doc.as_value()
    }

    /// The state document as a [`StateDoc`].
    pub fn doc(&self) -> &StateDoc {
        &self.doc
    }

    /// The seq of the last snapshot or patch applied.
    pub fn seq(&self) -> Seq {
        self.seq
    }

    /// The checksum of the state: the one received with the last snapshot or
    /// patch when it had one, else computed now.
    pub fn checksum(&self) -> Checksum {
        self.checksum.unwrap_or_else(|| checksum_of(&self.doc))
    }
}

/// The wire checksum of a document.
fn checksum_of(doc: &StateDoc) -> Checksum {
    Checksum(doc.checksum().as_u64())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arbiter_state::PatchOp;
    use proptest::prelude::*;
    use serde_json::json;

    fn sum(v: &Value) -> Checksum {
        Checksum(arbiter_state::checksum(v).as_u64())
    }

    fn snapshot(state: Value, seq: u64) -> StateSnapshot {
        StateSnapshot {
            checksum: sum(&state),
            state,
            seq: Seq(seq),
        }
    }

    fn patch(seq: u64, ops: Vec<PatchOp>, checksum: Option<Checksum>) -> StatePatch {
        StatePatch {
            seq: Seq(seq),
            ops,
            checksum,
        }
    }

    fn counter_replica() -> Replica {
        Replica::from_snapshot(&snapshot(json!({"counter": 0}), 10)).expect("valid snapshot")
    }

    #[test]
    fn snapshot_is_verified() {
        let r = counter_replica();
        assert_eq!(r.seq(), Seq(10));
        assert_eq!(r.state(), &json!({"counter": 0}));
        assert_eq!(r.checksum(), sum(&json!({"counter": 0})));

        let mut bad = snapshot(json!({"counter": 0}), 3);
        bad.checksum = Checksum(bad.checksum.0 ^ 1);
        assert!(matches!(
            Replica::from_snapshot(&bad),
            Err(ReplicaError::ChecksumMismatch { seq: Seq(3), .. })
        ));
        let not_object = StateSnapshot {
            checksum: sum(&json!([1])),
            state: json!([1]),
            seq: Seq(1),
        };
        let err = Replica::from_snapshot(&not_object).expect_err("array root");
        assert_eq!(err.tag(), "not_object");
    }

    #[test]
    fn a_bad_snapshot_leaves_the_replica_unchanged() {
        let mut r = counter_replica();
        let before = r.clone();
        let mut bad = snapshot(json!({"counter": 7}), 50);
        bad.checksum = Checksum(0);
        assert!(r.apply_snapshot(&bad).is_err());
        assert_eq!(r, before);
        // A good snapshot replaces the state even at a lower seq.
        r.apply_snapshot(&snapshot(json!({"x": 1}), 2))
            .expect("valid");
        assert_eq!((r.seq(), r.state()), (Seq(2), &json!({"x": 1})));
    }

    #[test]
    fn patches_apply_in_order_and_duplicates_are_ignored() {
        let mut r = counter_replica();
        let p11 = patch(
            11,
            vec![PatchOp::set("/counter", json!(1))],
            Some(sum(&json!({"counter": 1}))),
        );
        assert_eq!(r.apply_patch(&p11), Ok(PatchOutcome::Applied));
        assert_eq!(r.apply_patch(&p11), Ok(PatchOutcome::Duplicate));
        let old = patch(3, vec![PatchOp::del("/nothing")], Some(Checksum(0)));
        assert_eq!(r.apply_patch(&old), Ok(PatchOutcome::Duplicate));
        // No checksum: applied unverified; the checksum is then computed.
        let p12 = patch(12, vec![PatchOp::set("/counter", json!(2))], None);
        assert_eq!(r.apply_patch(&p12), Ok(PatchOutcome::Applied));
        assert_eq!(r.seq(), Seq(12));
        assert_eq!(r.checksum(), sum(&json!({"counter": 2})));
    }

    #[test]
    fn a_gap_is_an_error_and_changes_nothing() {
        let mut r = counter_replica();
        let before = r.clone();
        let p = patch(12, vec![PatchOp::set("/counter", json!(5))], None);
        assert_eq!(
            r.apply_patch(&p),
            Err(ReplicaError::Gap {
                expected: Seq(11),
                got: Seq(12)
            })
        );
        assert_eq!(r, before);
    }

    #[test]
    fn failed_ops_and_mismatches_leave_the_state_as_before() {
        let mut r = counter_replica();
        let before = r.clone();
        let bad_op = patch(
            11,
            vec![PatchOp::set("/counter", json!(9)), PatchOp::del("/missing")],
            None,
        );
        let err = r.apply_patch(&bad_op).expect_err("second op fails");
        assert_eq!(err.tag(), "apply");
        assert_eq!(r, before);

        let mismatch = patch(
            11,
            vec![PatchOp::set("/counter", json!(9))],
            Some(Checksum(1)),
        );
        let err = r.apply_patch(&mismatch).expect_err("checksum differs");
        assert!(matches!(
            err,
            ReplicaError::ChecksumMismatch { seq: Seq(11), .. }
        ));
        assert_eq!(r, before);
        assert_eq!(r.seq(), Seq(10));
    }

    /// Random ops over a small set of paths, so that many apply and some fail.
    fn op_strategy() -> impl Strategy<Value = PatchOp> {
        let path = prop::sample::select(vec![
            "/a", "/b", "/a/x", "/a/y", "/b/0", "/b/-", "/b/1", "/c", "",
        ]);
        let value = prop_oneof![
            any::<i32>().prop_map(|n| json!(n)),
            Just(json!({})),
            Just(json!([])),
            Just(json!({"x": 1})),
            Just(json!(null)),
            "[a-z]{0,4}".prop_map(|s| json!(s)),
        ];
        prop_oneof![
            (path.clone(), value).prop_map(|(p, v)| PatchOp::set(p, v)),
            path.prop_map(PatchOp::del),
        ]
    }

    proptest! {
        #[test]
        fn replica_equals_direct_application(
            batches in prop::collection::vec(
                (prop::collection::vec(op_strategy(), 0..5), any::<bool>(), any::<bool>()),
                0..40,
            )
        ) {
            let mut direct = json!({});
            let mut replica = Replica::from_snapshot(&snapshot(direct.clone(), 0))
                .expect("empty snapshot");
            for (ops, with_checksum, replay) in batches {
                let mut next = direct.clone();
                let applied = arbiter_state::apply(&mut next, &ops).is_ok();
                let seq = replica.seq().0 + 1;
                let p = patch(seq, ops, with_checksum.then(|| sum(&next)));
                let outcome = replica.apply_patch(&p);
                if applied {
                    prop_assert_eq!(outcome, Ok(PatchOutcome::Applied));
                    direct = next;
                    if replay {
                        prop_assert_eq!(replica.apply_patch(&p), Ok(PatchOutcome::Duplicate));
                    }
                } else {
                    let refused = matches!(outcome, Err(ReplicaError::Apply { .. }));
                    prop_assert!(refused, "expected an apply error, got {:?}", outcome);
                    prop_assert_eq!(replica.seq(), Seq(seq - 1));
                }
                prop_assert_eq!(replica.state(), &direct);
                prop_assert_eq!(replica.checksum(), sum(&direct));
            }
        }
    }
}
