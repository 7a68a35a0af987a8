//! The `tictactoe` room against PROTOCOL.md §11 and its documented leave rule,
//! through the SDK harness.

use arbiter_plugin_sdk::testing::{Harness, HarnessError};
use arbiter_plugin_sdk::{PatchOp, Value};
use arbiter_plugin_tictactoe::{Mark, TicTacToe};
use serde_json::json;

fn room() -> Harness<TicTacToe> {
    Harness::<TicTacToe>::builder()
        .room_type("tictactoe")
        .create(Value::Null)
        .expect("create")
}

/// A room with `s_x` (X) and `s_o` (O) seated.
fn game() -> Harness<TicTacToe> {
    let mut h = room();
    h.join("s_x").unwrap();
    h.join("s_o").unwrap();
    h
}

fn play(h: &mut Harness<TicTacToe>, sid: &str, cell: u64) {
    let step = h.message(sid, "move", json!({ "cell": cell })).unwrap();
    assert!(step.errors_to(sid).is_empty(), "{sid} {cell}: {step:?}");
}

/// Asserts that a move is refused with a reason containing `needle` and that
/// nothing changes.
fn refused(h: &mut Harness<TicTacToe>, sid: &str, data: Value, needle: &str) {
    let before = h.state().clone();
    let step = h.message(sid, "move", data.clone()).unwrap();
    assert!(step.ops.is_empty(), "{data}: {step:?}");
    let errors = step.errors_to(sid);
    assert_eq!(errors.len(), 1, "{data}: {step:?}");
    assert!(
        errors[0].contains(needle),
        "{data}: {:?} lacks {needle:?}",
        errors[0]
    );
    assert_eq!(step.deliveries.len(), 1, "only the sender hears");
    assert_eq!(h.state(), &before);
}

#[test]
fn initial_state_and_settings() {
    let h = room();
    assert_eq!(
        h.state(),
        &json!({
            "board": [null, null, null, null, null, null, null, null, null],
            "marks": {},
            "turn": "X",
            "winner": null,
        })
    );
    assert_eq!(h.settings().max_clients, 2);
    assert_eq!(h.settings().tick_rate, 0);
}

#[test]
fn first_joiner_is_x_second_is_o_third_is_refused_by_seats() {
    let mut h = room();
    let step = h.join("s_x").unwrap();
    assert_eq!(step.ops, [PatchOp::set("/marks/s_x", json!("X"))]);
    h.join("s_o").unwrap();
    assert_eq!(h.state()["marks"], json!({ "s_x": "X", "s_o": "O" }));
    assert_eq!(h.join("s_3"), Err(HarnessError::Full { max: 2 }));
}

#[test]
fn x_wins_on_a_row() {
    let mut h = game();
    for (sid, cell) in [("s_x", 0), ("s_o", 3), ("s_x", 1), ("s_o", 4)] {
        play(&mut h, sid, cell);
        assert_eq!(h.state()["winner"], Value::Null);
    }
    let step = h.message("s_x", "move", json!({ "cell": 2 })).unwrap();
    assert!(step.ops.contains(&PatchOp::set("/winner", json!("X"))));
    assert_eq!(h.state()["winner"], json!("X"));
    assert_eq!(
        h.state()["board"],
        json!(["X", "X", "X", "O", "O", null, null, null, null])
    );
    assert!(h.is_locked(), "a finished game takes no new players");
}

#[test]
fn o_wins_on_a_diagonal() {
    let mut h = game();
    for (sid, cell) in [
        ("s_x", 0),
        ("s_o", 2),
        ("s_x", 1),
        ("s_o", 4),
        ("s_x", 8),
        ("s_o", 6),
    ] {
        play(&mut h, sid, cell);
    }
    assert_eq!(h.state()["winner"], json!("O"));
}

#[test]
fn a_full_board_without_a_line_is_a_draw() {
    let mut h = game();
    // X O X / X O O / O X X
    for (sid, cell) in [
        ("s_x", 0),
        ("s_o", 1),
        ("s_x", 2),
        ("s_o", 4),
        ("s_x", 3),
        ("s_o", 5),
        ("s_x", 7),
        ("s_o", 6),
    ] {
        play(&mut h, sid, cell);
    }
    assert_eq!(h.state()["winner"], Value::Null);
    play(&mut h, "s_x", 8);
    assert_eq!(h.state()["winner"], json!("draw"));
    refused(&mut h, "s_o", json!({ "cell": 0 }), "over");
}

#[test]
fn a_move_puts_the_mark_and_passes_the_turn() {
    let mut h = game();
    let step = h.message("s_x", "move", json!({ "cell": 4 })).unwrap();
    assert_eq!(
        step.ops,
        [
            PatchOp::set("/board/4", json!("X")),
            PatchOp::set("/turn", json!("O"))
        ]
    );
    assert!(step.deliveries.is_empty());
    assert_eq!(h.state()["turn"], json!("O"));
}

#[test]
fn illegal_moves_change_nothing_and_answer_the_sender() {
    let mut h = game();
    refused(&mut h, "s_o", json!({ "cell": 0 }), "turn");
    play(&mut h, "s_x", 4);
    refused(&mut h, "s_o", json!({ "cell": 4 }), "taken");
    refused(&mut h, "s_x", json!({ "cell": 0 }), "turn");
    for bad in [
        json!({ "cell": 9 }),
        json!({ "cell": -1 }),
        json!({ "cell": 1.0 }),
        json!({ "cell": "1" }),
        json!({}),
        Value::Null,
        json!([1]),
    ] {
        refused(&mut h, "s_o", bad, "0 to 8");
    }
    assert_eq!(h.restarts(), 0);
}

#[test]
fn a_seat_freed_before_any_opponent_goes_to_the_next_joiner() {
    let mut h = room();
    h.join("s_x").unwrap();
    play(&mut h, "s_x", 0);
    h.leave("s_x", true).unwrap();
    assert_eq!(h.state()["winner"], Value::Null, "nobody left to win");
    h.join("s_new").unwrap();
    assert_eq!(
        h.state()["marks"],
        json!({ "s_new": "X" }),
        "the free seat is X"
    );
    refused(&mut h, "s_new", json!({ "cell": 1 }), "turn");
}

#[test]
fn a_finished_game_refuses_every_move() {
    let mut h = game();
    for (sid, cell) in [("s_x", 0), ("s_o", 3), ("s_x", 1), ("s_o", 4), ("s_x", 2)] {
        play(&mut h, sid, cell);
    }
    refused(&mut h, "s_o", json!({ "cell": 8 }), "over");
    refused(&mut h, "s_x", json!({ "cell": 8 }), "over");
}

#[test]
fn unknown_message_types_are_answered() {
    let mut h = game();
    let step = h.message("s_x", "chat", json!("hi")).unwrap();
    assert_eq!(step.errors_to("s_x").len(), 1);
    let step = h.message_bytes("s_x", "move", &[4]).unwrap();
    assert_eq!(step.errors_to("s_x").len(), 1);
    assert_eq!(h.state()["board"][4], Value::Null);
}

#[test]
fn leaving_a_started_game_forfeits_it() {
    let mut h = game();
    play(&mut h, "s_x", 4);
    let step = h.leave("s_o", false).unwrap();
    assert!(step.ops.contains(&PatchOp::del("/marks/s_o")));
    assert_eq!(h.state()["winner"], json!("X"));
    assert_eq!(h.state()["marks"], json!({ "s_x": "X" }));
    assert!(h.is_locked());
    assert_eq!(h.join("s_late"), Err(HarnessError::Locked));
    refused(&mut h, "s_x", json!({ "cell": 0 }), "over");
}

#[test]
fn leaving_before_any_move_frees_the_seat() {
    let mut h = game();
    h.leave("s_x", true).unwrap();
    assert_eq!(h.state()["winner"], Value::Null);
    assert!(!h.is_locked());
    h.join("s_new").unwrap();
    assert_eq!(h.state()["marks"], json!({ "s_o": "O", "s_new": "X" }));
    play(&mut h, "s_new", 0);
    play(&mut h, "s_o", 1);
}

#[test]
fn leaving_a_finished_game_keeps_the_result() {
    let mut h = game();
    for (sid, cell) in [("s_x", 0), ("s_o", 3), ("s_x", 1), ("s_o", 4), ("s_x", 2)] {
        play(&mut h, sid, cell);
    }
    h.leave("s_x", true).unwrap();
    h.leave("s_o", true).unwrap();
    assert_eq!(h.state()["winner"], json!("X"));
    assert_eq!(h.state()["marks"], json!({}));
}

#[test]
fn a_restart_mid_game_resumes_from_the_committed_state() {
    let mut h = game();
    play(&mut h, "s_x", 0);
    play(&mut h, "s_o", 4);
    let before = h.state().clone();
    h.restart().unwrap();
    assert_eq!(h.state(), &before);
    refused(&mut h, "s_o", json!({ "cell": 1 }), "turn");
    refused(&mut h, "s_x", json!({ "cell": 4 }), "taken");
    play(&mut h, "s_x", 1);
    play(&mut h, "s_o", 8);
    play(&mut h, "s_x", 2);
    assert_eq!(h.state()["winner"], json!("X"));
}

#[test]
fn the_private_game_always_equals_the_state() {
    let mut h = game();
    for (sid, cell) in [("s_x", 4), ("s_o", 0), ("s_x", 8)] {
        play(&mut h, sid, cell);
    }
    let parsed: arbiter_plugin_tictactoe::Game = serde_json::from_value(h.state().clone()).unwrap();
    assert_eq!(parsed.board[4], Some(Mark::X));
    assert_eq!(parsed.turn, Mark::O);
}
