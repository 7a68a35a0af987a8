//! The reference plugins (PROTOCOL.md §11) driven through the host, as a room
//! would: each hook's output committed to the room's state document.
//!
//! They are built by `cargo xtask plugins` into `target/plugins/`; CI builds
//! them before the tests. A missing plugin fails the test with that instruction.

use std::path::PathBuf;

use arbiter_plugin_abi::{
    Client, CreateInput, HookOutput, JoinInput, LeaveInput, MessageInput, OutMessage, RestoreInput,
    Settings, Target, TickInput,
};
use arbiter_plugin_host::{HostConfig, PluginHost, RoomPlugin};
use serde_json::{Value, json};

fn plugin_path(room_type: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    target.join("plugins").join(format!("{room_type}.wasm"))
}

/// A room as the room crate holds it: the instance, the committed state, the clients.
struct Room {
    plugin: RoomPlugin,
    room_type: &'static str,
    state: Value,
    clients: Vec<Client>,
    settings: Settings,
    now: u64,
}

fn client(name: &str) -> Client {
    Client {
        session_id: format!("s_{name}"),
        user_id: format!("u_{name}"),
    }
}

impl Room {
    fn create(room_type: &'static str, options: Value) -> Room {
        let path = plugin_path(room_type);
        assert!(
            path.is_file(),
            "{} is missing: build the reference plugins with `cargo xtask plugins` first",
            path.display()
        );
        let host = PluginHost::new(HostConfig {
            cache_dir: None,
            ..HostConfig::default()
        })
        .unwrap();
        let plugin = host.load_file(room_type, &path).unwrap();
        let mut instance = plugin.instantiate(&format!("{room_type}-1"), 42).unwrap();
        let mut state = json!({});
        let (settings, out) = instance
            .create(&CreateInput {
                room: format!("{room_type}-1"),
                room_type: room_type.into(),
                options,
                now_ms: 1_000,
            })
            .unwrap();
        instance.commit(&mut state, &out).unwrap();
        Room {
            plugin: instance,
            room_type,
            state,
            clients: Vec::new(),
            settings,
            now: 1_000,
        }
    }

    fn commit(&mut self, out: HookOutput) -> HookOutput {
        self.plugin.commit(&mut self.state, &out).unwrap();
        out
    }

    fn join(&mut self, name: &str) -> HookOutput {
        self.now += 10;
        let out = self
            .plugin
            .join(&JoinInput {
                client: client(name),
                options: json!({}),
                now_ms: self.now,
            })
            .unwrap();
        if out.reject.is_none() {
            self.clients.push(client(name));
        }
        self.commit(out)
    }

    fn leave(&mut self, name: &str) -> HookOutput {
        self.now += 10;
        self.clients
            .retain(|c| c.session_id != client(name).session_id);
        let out = self
            .plugin
            .leave(&LeaveInput {
                client: client(name),
                consented: true,
                now_ms: self.now,
            })
            .unwrap();
        self.commit(out)
    }

    fn message(&mut self, name: &str, kind: &str, data: Value) -> HookOutput {
        self.now += 10;
        let out = self
            .plugin
            .message(&MessageInput {
                client: client(name),
                kind: kind.into(),
                data: Some(data),
                bytes: None,
                now_ms: self.now,
            })
            .unwrap();
        self.commit(out)
    }

    fn tick(&mut self) -> HookOutput {
        self.now += 50;
        let out = self
            .plugin
            .tick(&TickInput {
                dt_ms: 50,
                now_ms: self.now,
            })
            .unwrap();
        self.commit(out)
    }

    /// What the room does after a failed hook: a fresh instance from the
    /// committed state.
    fn restore(&mut self) {
        let out = self
            .plugin
            .restore(&RestoreInput {
                room: format!("{}-1", self.room_type),
                room_type: self.room_type.into(),
                options: json!({}),
                state: self.state.clone(),
                clients: self.clients.clone(),
                now_ms: self.now,
            })
            .unwrap();
        assert!(out.ops.is_empty(), "{out:?}");
    }
}

/// The single `error` message to `name`, and its reason.
fn error_to(out: &HookOutput, name: &str) -> String {
    assert!(
        out.ops.is_empty(),
        "a refused input changes nothing: {out:?}"
    );
    match out.messages.as_slice() {
        [
            OutMessage {
                to: Target::One(to),
                kind,
                data: Some(data),
                ..
            },
        ] if kind == "error" && *to == client(name).session_id => data["reason"]
            .as_str()
            .expect("reason is a string")
            .to_string(),
        other => panic!("expected one error to {name}, got {other:?}"),
    }
}

#[test]
fn counter_counts_and_refuses_a_bad_by() {
    let mut room = Room::create("counter", json!({}));
    assert_eq!(room.settings.tick_rate, 0);
    assert_eq!(room.settings.max_clients, 0);
    assert_eq!(room.state, json!({ "counter": 0 }));
    room.join("a");
    room.join("b");
    room.message("a", "inc", json!({ "by": 5 }));
    room.message("b", "inc", json!({}));
    room.message("a", "inc", json!({ "by": -2 }));
    assert_eq!(room.state, json!({ "counter": 4 }));

    for bad in [
        json!({ "by": 2.5 }),
        json!({ "by": "3" }),
        json!({ "by": true }),
    ] {
        let out = room.message("b", "inc", bad.clone());
        let reason = error_to(&out, "b");
        assert!(!reason.is_empty(), "{bad}");
    }
    let out = room.message("a", "dec", json!({}));
    error_to(&out, "a");
    assert_eq!(room.state, json!({ "counter": 4 }));

    // After a restore (as after a failed hook) it goes on from the committed state.
    room.restore();
    room.message("a", "inc", json!({ "by": 1 }));
    assert_eq!(room.state, json!({ "counter": 5 }));
    assert_eq!(room.plugin.errors(), 0);
}

#[test]
fn arena_join_move_leave() {
    let mut room = Room::create("arena", json!({}));
    assert_eq!(room.settings.max_clients, 8);
    assert_eq!(room.settings.tick_rate, 20);
    assert!(room.settings.unreliable.iter().any(|t| t == "move"));
    assert_eq!(room.state, json!({ "players": {} }));
    room.join("a");
    room.join("b");
    assert_eq!(
        room.state,
        json!({ "players": { "s_a": { "x": 0, "y": 0 }, "s_b": { "x": 0, "y": 0 } } })
    );
    let out = room.message("a", "move", json!({ "x": 3.5, "y": -1 }));
    assert_eq!(out.ops.len(), 2);
    let out = room.tick();
    assert!(out.ops.is_empty());
    assert_eq!(room.state["players"]["s_a"], json!({ "x": 3.5, "y": -1 }));

    let out = room.message("b", "move", json!({ "x": "far" }));
    error_to(&out, "b");
    room.leave("a");
    assert_eq!(
        room.state,
        json!({ "players": { "s_b": { "x": 0, "y": 0 } } })
    );

    room.restore();
    room.message("b", "move", json!({ "x": 1, "y": 2 }));
    room.tick();
    assert_eq!(
        room.state,
        json!({ "players": { "s_b": { "x": 1, "y": 2 } } })
    );
    assert_eq!(room.plugin.errors(), 0);
}

#[test]
fn arena_max_clients_option() {
    let room = Room::create("arena", json!({ "max_clients": 3 }));
    assert_eq!(room.settings.max_clients, 3);
}

#[test]
fn tictactoe_full_game_to_a_win_with_an_illegal_move_and_a_restore() {
    let mut room = Room::create("tictactoe", json!({}));
    assert_eq!(room.settings.max_clients, 2);
    assert_eq!(room.settings.tick_rate, 0);
    room.join("x");
    room.join("o");
    assert_eq!(room.state["marks"], json!({ "s_x": "X", "s_o": "O" }));
    assert_eq!(room.state["turn"], json!("X"));
    assert_eq!(room.state["winner"], Value::Null);

    // Not your turn.
    let before = room.state.clone();
    let out = room.message("o", "move", json!({ "cell": 4 }));
    error_to(&out, "o");
    assert_eq!(room.state, before);

    room.message("x", "move", json!({ "cell": 0 }));
    room.message("o", "move", json!({ "cell": 4 }));
    // Taken cell, out of range, not a player: all refused, nothing changes.
    let before = room.state.clone();
    error_to(&room.message("x", "move", json!({ "cell": 4 })), "x");
    error_to(&room.message("x", "move", json!({ "cell": 9 })), "x");
    error_to(&room.message("z", "move", json!({ "cell": 1 })), "z");
    assert_eq!(room.state, before);

    // The instance is replaced mid-game; the plugin rebuilds its game from the state.
    room.restore();
    room.message("x", "move", json!({ "cell": 1 }));
    room.message("o", "move", json!({ "cell": 8 }));
    let out = room.message("x", "move", json!({ "cell": 2 }));
    assert_eq!(out.lock, Some(true), "a finished game locks the room");
    assert_eq!(room.state["winner"], json!("X"));
    assert_eq!(
        room.state["board"],
        json!(["X", "X", "X", null, "O", null, null, null, "O"])
    );

    // Game over: no move is accepted.
    let before = room.state.clone();
    error_to(&room.message("o", "move", json!({ "cell": 5 })), "o");
    assert_eq!(room.state, before);
    assert_eq!(room.plugin.errors(), 0);
}
