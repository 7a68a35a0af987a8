//! The `tictactoe` reference room (PROTOCOL.md §11), and the worked example of
//! `docs/plugins.md`.
//!
//! - `max_clients` 2, event-driven (tick rate 0).
//! - State: `{ "board": [null × 9], "marks": { SESSION_ID: "X" | "O" }, "turn": "X",
//!   "winner": null }`.
//! - Seats: a joining client takes `X` if no one holds it, else `O`. The first to
//!   join therefore plays `X`, the second `O`.
//! - `room.message` `move` `{ cell }` (an integer 0–8, row by row) by the player
//!   whose turn it is puts their mark in an empty cell and passes the turn. A line
//!   of three sets `winner` to `"X"` or `"O"`, a full board without one sets it to
//!   `"draw"`; after that no move is accepted and the room is locked (no one can
//!   join a finished game).
//! - An illegal move (not a player, game over, cell not an integer 0–8, not your
//!   turn, cell taken — checked in that order), or a message of another type,
//!   changes nothing and answers the sender with `room.message` `error` `{ reason }`.
//!
//! # When a player leaves
//!
//! The leaver's entry leaves `marks` (consented or not: a session that expired is
//! gone too). Then:
//!
//! - if the game is unfinished, at least one mark is on the board and the other
//!   player is still in the room, the leaver **forfeits**: `winner` becomes the
//!   other player's mark and the room is locked;
//! - otherwise (nothing played yet, or nobody left to win, or the game was already
//!   over) the seat is simply free: a newcomer takes the free mark and the game
//!   goes on from the board as it is.
//!
//! # Private data
//!
//! The room keeps a typed [`Game`] beside the JSON state, so the rules read like
//! rules. It is derived from the state: [`Room::restore`] parses it back, which
//! is exactly what the host needs after replacing the instance.

#![deny(unsafe_code)]

use std::collections::BTreeMap;

use arbiter_plugin_sdk::{
    Client, Ctx, Error, Join, RestoreInfo, Result, Room, Settings, export_room, pointer,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A player's mark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mark {
    /// Plays first.
    X,
    /// Plays second.
    O,
}

impl Mark {
    /// The other mark.
    pub fn other(self) -> Mark {
        match self {
            Mark::X => Mark::O,
            Mark::O => Mark::X,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Mark::X => "X",
            Mark::O => "O",
        }
    }
}

/// How a game ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// Three `X` in a line, or `O` forfeited.
    X,
    /// Three `O` in a line, or `X` forfeited.
    O,
    /// A full board without a line.
    #[serde(rename = "draw")]
    Draw,
}

impl From<Mark> for Outcome {
    fn from(mark: Mark) -> Self {
        match mark {
            Mark::X => Outcome::X,
            Mark::O => Outcome::O,
        }
    }
}

/// The game, exactly the shape of the state document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Game {
    /// Cells 0–8, row by row.
    pub board: [Option<Mark>; 9],
    /// The players in the room and their marks.
    pub marks: BTreeMap<String, Mark>,
    /// Whose move it is.
    pub turn: Mark,
    /// Set once the game is over.
    pub winner: Option<Outcome>,
}

impl Default for Game {
    fn default() -> Self {
        Game {
            board: [None; 9],
            marks: BTreeMap::new(),
            turn: Mark::X,
            winner: None,
        }
    }
}

/// The eight lines of three.
const LINES: [[usize; 3]; 8] = [
    [0, 1, 2],
    [3, 4, 5],
    [6, 7, 8],
    [0, 3, 6],
    [1, 4, 7],
    [2, 5, 8],
    [0, 4, 8],
    [2, 4, 6],
];

impl Game {
    /// The mark a newcomer gets: `X` if free, else `O` if free.
    fn free_mark(&self) -> Option<Mark> {
        [Mark::X, Mark::O]
            .into_iter()
            .find(|m| !self.marks.values().any(|held| held == m))
    }

    /// Whether `mark` is held by someone in the room.
    fn is_held(&self, mark: Mark) -> bool {
        self.marks.values().any(|&held| held == mark)
    }

    /// Checks a move; the cell to play, or why the move is illegal.
    fn check_move(
        &self,
        session_id: &str,
        data: &Value,
    ) -> std::result::Result<(Mark, usize), String> {
        let Some(&mark) = self.marks.get(session_id) else {
            return Err("you are not a player in this game".into());
        };
        if let Some(winner) = self.winner {
            let result = match winner {
                Outcome::Draw => "a draw",
                Outcome::X => "X won",
                Outcome::O => "O won",
            };
            return Err(format!("the game is over ({result})"));
        }
        let cell = data
            .get("cell")
            .and_then(Value::as_u64)
            .filter(|&c| c < 9)
            .ok_or_else(|| "`cell` must be an integer from 0 to 8".to_owned())?;
        // `cell < 9`, so the conversion is exact.
        let cell = cell as usize;
        if mark != self.turn {
            return Err(format!(
                "it is {}'s turn, you play {}",
                self.turn.name(),
                mark.name()
            ));
        }
        if self.board[cell].is_some() {
            return Err(format!("cell {cell} is taken"));
        }
        Ok((mark, cell))
    }

    /// The outcome of the board, if the game is over.
    fn outcome(&self) -> Option<Outcome> {
        for [a, b, c] in LINES {
            if let Some(m) = self.board[a]
                && self.board[b] == Some(m)
                && self.board[c] == Some(m)
            {
                return Some(m.into());
            }
        }
        self.board
            .iter()
            .all(Option::is_some)
            .then_some(Outcome::Draw)
    }
}

/// The `tictactoe` room.
#[derive(Debug, Default)]
pub struct TicTacToe {
    game: Game,
}

impl TicTacToe {
    /// The game as the room sees it (always equal to the committed state after a
    /// successful hook).
    pub fn game(&self) -> &Game {
        &self.game
    }

    fn play(&mut self, ctx: &mut Ctx<'_>, client: &Client, data: &Value) -> Result {
        let (mark, cell) = match self.game.check_move(&client.session_id, data) {
            Ok(ok) => ok,
            Err(reason) => {
                ctx.send_error(&client.session_id, reason);
                return Ok(());
            }
        };
        self.game.board[cell] = Some(mark);
        self.game.turn = mark.other();
        ctx.state().set_json(pointer!("board", cell), &mark)?;
        ctx.state().set_json("/turn", &self.game.turn)?;
        if let Some(outcome) = self.game.outcome() {
            self.finish(ctx, outcome)?;
        }
        Ok(())
    }

    fn finish(&mut self, ctx: &mut Ctx<'_>, outcome: Outcome) -> Result {
        self.game.winner = Some(outcome);
        ctx.state().set_json("/winner", &outcome)?;
        ctx.lock();
        Ok(())
    }
}

impl Room for TicTacToe {
    fn create(ctx: &mut Ctx<'_>, _options: &Value) -> Result<(Self, Settings)> {
        let game = Game::default();
        let state = ctx.state();
        state.set_json("/board", &game.board)?;
        state.set_json("/marks", &game.marks)?;
        state.set_json("/turn", &game.turn)?;
        state.set_json("/winner", &game.winner)?;
        let settings = Settings {
            max_clients: 2,
            tick_rate: 0,
            ..Settings::default()
        };
        Ok((TicTacToe { game }, settings))
    }

    fn restore(info: &RestoreInfo<'_>) -> Result<Self> {
        let game = Game::deserialize(info.state)
            .map_err(|e| Error::msg(format!("the state is not a tictactoe game: {e}")))?;
        Ok(TicTacToe { game })
    }

    fn join(&mut self, ctx: &mut Ctx<'_>, client: &Client, _options: &Value) -> Result<Join> {
        if self.game.winner.is_some() {
            return Ok(Join::reject("the game is over"));
        }
        let Some(mark) = self.game.free_mark() else {
            return Ok(Join::reject("both seats are taken"));
        };
        ctx.state()
            .set_json(pointer!("marks", client.session_id), &mark)?;
        self.game.marks.insert(client.session_id.clone(), mark);
        Ok(Join::Accept)
    }

    fn leave(&mut self, ctx: &mut Ctx<'_>, client: &Client, _consented: bool) -> Result {
        let Some(mark) = self.game.marks.remove(&client.session_id) else {
            return Ok(());
        };
        ctx.state().del(pointer!("marks", client.session_id))?;
        let started = self.game.board.iter().any(Option::is_some);
        if self.game.winner.is_none() && started && self.game.is_held(mark.other()) {
            self.finish(ctx, mark.other().into())?;
        }
        Ok(())
    }

    fn message(&mut self, ctx: &mut Ctx<'_>, client: &Client, kind: &str, data: &Value) -> Result {
        if kind == "move" {
            return self.play(ctx, client, data);
        }
        let reason = format!("unknown message type `{kind}`: the tictactoe room handles `move`");
        ctx.send_error(&client.session_id, reason);
        Ok(())
    }
}

export_room!(TicTacToe);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn board(cells: &str) -> Game {
        let mut g = Game::default();
        for (i, c) in cells.chars().enumerate() {
            g.board[i] = match c {
                'X' => Some(Mark::X),
                'O' => Some(Mark::O),
                _ => None,
            };
        }
        g
    }

    #[test]
    fn outcomes() {
        assert_eq!(board(".........").outcome(), None);
        assert_eq!(board("XXX......").outcome(), Some(Outcome::X));
        assert_eq!(board("O...O...O").outcome(), Some(Outcome::O));
        assert_eq!(board("..X.X.X..").outcome(), Some(Outcome::X));
        assert_eq!(board(".O..O..O.").outcome(), Some(Outcome::O));
        assert_eq!(board("XOXXOOOXX").outcome(), Some(Outcome::Draw));
        assert_eq!(board("XOXXOOOX.").outcome(), None);
    }

    #[test]
    fn move_checks_in_order() {
        let mut g = board("X........");
        g.marks.insert("s_x".into(), Mark::X);
        g.marks.insert("s_o".into(), Mark::O);
        g.turn = Mark::O;
        let check = |g: &Game, sid: &str, data: Value| g.check_move(sid, &data);
        assert!(
            check(&g, "s_z", json!({"cell": 1}))
                .unwrap_err()
                .contains("not a player")
        );
        assert!(
            check(&g, "s_o", json!({"cell": 9}))
                .unwrap_err()
                .contains("0 to 8")
        );
        assert!(
            check(&g, "s_x", json!({"cell": 1}))
                .unwrap_err()
                .contains("turn")
        );
        assert!(
            check(&g, "s_o", json!({"cell": 0}))
                .unwrap_err()
                .contains("taken")
        );
        assert_eq!(check(&g, "s_o", json!({"cell": 1})), Ok((Mark::O, 1)));
        g.winner = Some(Outcome::Draw);
        assert!(
            check(&g, "s_o", json!({"cell": 1}))
                .unwrap_err()
                .contains("a draw")
        );
        assert!(
            check(&g, "s_z", json!({"cell": 1}))
                .unwrap_err()
                .contains("not a player")
        );
    }

    #[test]
    fn state_shape_round_trips() {
        let mut g = board("X...O....");
        g.marks.insert("s_a".into(), Mark::X);
        g.winner = Some(Outcome::Draw);
        let v = serde_json::to_value(&g).unwrap();
        assert_eq!(
            v,
            json!({
                "board": ["X", null, null, null, "O", null, null, null, null],
                "marks": { "s_a": "X" },
                "turn": "X",
                "winner": "draw",
            })
        );
        assert_eq!(Game::deserialize(&v).unwrap(), g);
    }
}
