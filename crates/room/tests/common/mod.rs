//! A plain-Rust room logic and helpers for the room tests.
#![allow(dead_code, unreachable_pub)]

use arbiter_plugin_abi::{
    CreateInput, DisposeInput, HookOutput, JoinInput, LeaveInput, MessageInput, OutMessage,
    RestoreInput, Settings, Target, TickInput,
};
use arbiter_protocol::{RoomId, ServerFrame, ServerMessage, SessionId};
use arbiter_room::{
    Delivery, JoinRequest, LogicError, MessageBody, Output, Room, RoomConfig, RoomInit, RoomLogic,
};
use arbiter_state::PatchOp;
use serde_json::{Value, json};

/// Players keyed by session; `set` messages write `/players/<id>/v`; `boom`
/// fails the hook; `bad` returns ops that do not apply; `close` closes; a
/// join with `options.refuse` is rejected.
#[derive(Default)]
pub struct Game {
    pub tick_rate: u32,
    pub max_clients: u32,
    pub poisoned: bool,
    pub restores: u32,
    pub ticks: u32,
}

fn set(path: String, value: Value) -> PatchOp {
    PatchOp::Set { path, value }
}

fn fail(hook: &'static str) -> LogicError {
    LogicError {
        hook,
        kind: "trap",
        message: "boom".into(),
    }
}

impl RoomLogic for Game {
    fn create(&mut self, _: &CreateInput) -> Result<(Settings, HookOutput), LogicError> {
        let settings = Settings {
            tick_rate: self.tick_rate,
            max_clients: self.max_clients,
            metadata: json!({ "mode": "test" }),
            ..Settings::default()
        };
        let ops = vec![set("/players".into(), json!({}))];
        Ok((
            settings,
            HookOutput {
                ops,
                ..Default::default()
            },
        ))
    }
    fn join(&mut self, input: &JoinInput) -> Result<HookOutput, LogicError> {
        if input.options.get("refuse").is_some() {
            return Ok(HookOutput {
                reject: Some("no entry".into()),
                ..Default::default()
            });
        }
        let ops = vec![set(
            format!("/players/{}", input.client.session_id),
            json!({ "v": 0 }),
        )];
        Ok(HookOutput {
            ops,
            ..Default::default()
        })
    }
    fn leave(&mut self, input: &LeaveInput) -> Result<HookOutput, LogicError> {
        let ops = vec![PatchOp::Del {
            path: format!("/players/{}", input.client.session_id),
        }];
        Ok(HookOutput {
            ops,
            ..Default::default()
        })
    }
    fn message(&mut self, input: &MessageInput) -> Result<HookOutput, LogicError> {
        let sid = &input.client.session_id;
        match input.kind.as_str() {
            "set" => {
                let v = input.data.clone().unwrap_or(Value::Null);
                Ok(HookOutput {
                    ops: vec![set(format!("/players/{sid}/v"), v)],
                    ..Default::default()
                })
            }
            "boom" => {
                self.poisoned = true;
                Err(fail("message"))
            }
            "bad" => Ok(HookOutput {
                ops: vec![
                    set("/x".into(), json!(1)),
                    set("/missing/deep".into(), json!(1)),
                ],
                ..Default::default()
            }),
            "close" => Ok(HookOutput {
                close: Some("game over".into()),
                ..Default::default()
            }),
            "lock" => Ok(HookOutput {
                lock: Some(true),
                ..Default::default()
            }),
            "echo" => Ok(HookOutput {
                messages: vec![OutMessage {
                    to: Target::AllBut(sid.clone()),
                    kind: "echo".into(),
                    data: input.data.clone(),
                    bytes: None,
                    unreliable: false,
                    from: Some(sid.clone()),
                }],
                ..Default::default()
            }),
            _ => Ok(HookOutput::default()),
        }
    }
    fn tick(&mut self, _: &TickInput) -> Result<HookOutput, LogicError> {
        self.ticks += 1;
        Ok(HookOutput {
            ops: vec![set("/ticks".into(), json!(self.ticks))],
            ..Default::default()
        })
    }
    fn dispose(&mut self, _: &DisposeInput) -> Result<HookOutput, LogicError> {
        Ok(HookOutput::default())
    }
    fn restore(&mut self, _: &RestoreInput) -> Result<HookOutput, LogicError> {
        self.poisoned = false;
        self.restores += 1;
        Ok(HookOutput::default())
    }
    fn needs_restore(&self) -> bool {
        self.poisoned
    }
}

pub fn sid(s: &str) -> SessionId {
    SessionId::new(format!("s_{s}")).unwrap()
}

pub fn room(game: Game, config: RoomConfig) -> Room<Game> {
    let init = RoomInit {
        id: RoomId::new("r1").unwrap(),
        room_type: "game".into(),
        options: json!({}),
        now_ms: 0,
    };
    Room::create(init, game, config).unwrap()
}

pub fn join(room: &mut Room<Game>, who: &SessionId) -> Vec<Output> {
    join_with(room, who, json!({}))
}

pub fn join_with(room: &mut Room<Game>, who: &SessionId, options: Value) -> Vec<Output> {
    room.join(
        JoinRequest {
            session: who.clone(),
            user_id: format!("user-{}", who.as_str()),
            options,
            rid: Some("j".into()),
            created: false,
        },
        0,
    );
    room.drain_output().collect()
}

pub fn msg(room: &mut Room<Game>, who: &SessionId, kind: &str, data: Value) -> Vec<Output> {
    room.message(who, None, kind.into(), MessageBody::Json(data), 0);
    room.drain_output().collect()
}

/// The frames `to` receives, in order.
pub fn frames_to(outputs: &[Output], to: &SessionId) -> Vec<ServerFrame> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Send { to: t, frame, .. } if t == to => Some(frame.frame().clone()),
            _ => None,
        })
        .collect()
}

pub fn deliveries_to(outputs: &[Output], to: &SessionId) -> Vec<Delivery> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Send {
                to: t, delivery, ..
            } if t == to => Some(*delivery),
            _ => None,
        })
        .collect()
}

pub fn types(frames: &[ServerFrame]) -> Vec<&'static str> {
    frames
        .iter()
        .map(|f| f.msg.message_type().as_str())
        .collect()
}

pub fn patch_seqs(frames: &[ServerFrame]) -> Vec<u64> {
    frames
        .iter()
        .filter_map(|f| match &f.msg {
            ServerMessage::StatePatch(p) => Some(p.seq.0),
            _ => None,
        })
        .collect()
}
