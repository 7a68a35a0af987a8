//! A WAT plugin generator for host tests: a well-behaved ABI v1 module whose
//! hooks return fixed outputs, with optional hostile behaviour in one hook.
//!
//! The hostile behaviour is *armed* in a fresh instance and disarmed by
//! `arbiter_on_restore`, so a test sees: failure → restore → the same hook works.

#![allow(dead_code, unreachable_pub)]

use arbiter_plugin_abi::{HookOutput, OutMessage, RestoreInput, Settings, Target, pack_ptr_len};
use arbiter_plugin_host::{Hook, HostConfig};
use arbiter_state::PatchOp;
use serde_json::{Value, json};

/// Where fixed outputs live in the guest's memory.
const OUT_BASE: u32 = 1024;
/// The input buffer handed out by `arbiter_alloc`.
pub const INPUT_BASE: u32 = 65536;

/// Hostile behaviours.
#[derive(Debug, Clone)]
pub enum Evil {
    /// `loop br 0` forever.
    Loop,
    /// `unreachable`.
    Unreachable,
    /// `memory.grow` by 1 MiB until refused, then `unreachable` (what a
    /// guest allocator does on OOM).
    GrowUntilRefused,
    /// `memory.grow` forever, ignoring refusals.
    GrowForever,
    /// Infinite recursion.
    Recurse,
    /// Return these bytes as the output.
    Output(Vec<u8>),
    /// Return this raw `(ptr << 32) | len`.
    Packed(i64),
    /// `log` 10,000 lines of 64 KiB declared length, then behave.
    LogFlood,
    /// `log` with an out-of-bounds buffer, then behave.
    LogOutOfBounds,
}

/// A generated plugin.
#[derive(Debug, Clone, Default)]
pub struct WatPlugin {
    evil: Option<(Hook, Evil)>,
    /// `arbiter_alloc` returns an out-of-bounds pointer while armed.
    evil_alloc: bool,
    /// `arbiter_on_message` returns `set /r <random_u64()>`.
    random_message: bool,
    /// A start function that loops forever.
    looping_start: bool,
}

/// The output each well-behaved hook returns.
pub fn good_output(hook: Hook) -> HookOutput {
    let set = |path: &str, value: Value| PatchOp::Set {
        path: path.into(),
        value,
    };
    let mut out = HookOutput::default();
    match hook {
        Hook::Create => {
            out.ops = vec![set("/n", json!(0))];
            out.settings = Some(Settings {
                max_clients: 4,
                tick_rate: 20,
                ..Settings::default()
            });
        }
        Hook::Join => out.ops = vec![set("/joined", json!(true))],
        Hook::Leave => out.ops = vec![set("/left", json!(true))],
        Hook::Message => out.ops = vec![set("/msg", json!("hi"))],
        Hook::Tick => out.ops = vec![set("/tick", json!(1))],
        Hook::Dispose => {}
        Hook::Restore => {
            out.messages = vec![OutMessage {
                to: Target::All,
                kind: "restored".into(),
                data: None,
                bytes: None,
                unreliable: false,
                from: None,
            }]
        }
        Hook::Start => {}
    }
    out
}

/// MessagePack of a `HookOutput`, as the SDK would write it.
pub fn msgpack<T: serde::Serialize>(v: &T) -> Vec<u8> {
    rmp_serde::to_vec_named(v).expect("encodable")
}

fn wat_bytes(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("\\{b:02x}")).collect()
}

impl WatPlugin {
    pub fn good() -> Self {
        Self::default()
    }

    pub fn evil(hook: Hook, evil: Evil) -> Self {
        Self {
            evil: Some((hook, evil)),
            ..Self::default()
        }
    }

    pub fn with_evil_alloc(mut self) -> Self {
        self.evil_alloc = true;
        self
    }

    pub fn with_random_message(mut self) -> Self {
        self.random_message = true;
        self
    }

    pub fn with_looping_start(mut self) -> Self {
        self.looping_start = true;
        self
    }

    /// The WAT text.
    pub fn wat(&self) -> String {
        let mut data = String::new();
        let mut bodies = String::new();
        let mut offset = OUT_BASE;
        let mut place = |bytes: &[u8], data: &mut String| -> i64 {
            data.push_str(&format!(
                "  (data (i32.const {offset}) \"{}\")\n",
                wat_bytes(bytes)
            ));
            let packed = pack_ptr_len(offset, bytes.len() as u32);
            offset += bytes.len() as u32 + 16;
            packed
        };
        let random_template = msgpack(&HookOutput {
            ops: vec![PatchOp::Set {
                path: "/r".into(),
                value: json!(u64::MAX),
            }],
            ..HookOutput::default()
        });
        for hook in [
            Hook::Create,
            Hook::Join,
            Hook::Leave,
            Hook::Message,
            Hook::Tick,
            Hook::Dispose,
            Hook::Restore,
        ] {
            let good = place(&msgpack(&good_output(hook)), &mut data);
            let evil = match &self.evil {
                Some((h, evil)) if *h == hook => self.evil_body(evil, &mut |b| place(b, &mut data)),
                _ => String::new(),
            };
            let mut body = String::new();
            if hook == Hook::Restore {
                // Hostile restore stays hostile; otherwise restore disarms.
                body.push_str(&format!("    (if (global.get $armed) (then {evil}))\n"));
                body.push_str("    (global.set $armed (i32.const 0))\n");
            } else if !evil.is_empty() {
                body.push_str(&format!("    (if (global.get $armed) (then {evil}))\n"));
            }
            if hook == Hook::Message && self.random_message {
                let packed = place(&random_template, &mut data);
                let (ptr, _) = arbiter_plugin_abi::unpack_ptr_len(packed);
                // The u64 is encoded as 0xcf then 8 big-endian bytes.
                let marker = [0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
                let at = random_template
                    .windows(9)
                    .position(|w| w == marker)
                    .expect("u64 marker");
                let value_at = ptr + at as u32 + 1;
                body.push_str("    (local.set $r (call $random))\n");
                for i in 0..8u32 {
                    body.push_str(&format!(
                        "    (i64.store8 (i32.const {}) (i64.shr_u (local.get $r) (i64.const {})))\n",
                        value_at + i,
                        56 - 8 * i
                    ));
                }
                body.push_str(&format!("    (return (i64.const {packed}))\n"));
            }
            body.push_str(&format!("    (i64.const {good})\n"));
            bodies.push_str(&format!(
                "  (func (export \"{}\") (param $p i32) (param $l i32) (result i64) (local $r i64) (local $i i32)\n{body}  )\n",
                hook.name()
            ));
        }
        let alloc_evil = if self.evil_alloc {
            "(if (global.get $armed) (then (return (i32.const -16))))"
        } else {
            ""
        };
        let start = if self.looping_start {
            "(func $start (loop $l (br $l))) (start $start)"
        } else {
            ""
        };
        format!(
            r#"(module
  (import "arbiter_v1" "random_u64" (func $random (result i64)))
  (import "arbiter_v1" "log" (func $log (param i32 i32 i32)))
  (memory (export "memory") 2)
  (global $armed (mut i32) (i32.const 1))
  {start}
  (func $recurse (param i32) (result i32) (call $recurse (i32.add (local.get 0) (i32.const 1))))
  (func (export "arbiter_alloc") (param $len i32) (result i32) (local $need i32)
    {alloc_evil}
    (local.set $need (i32.shr_u (i32.add (local.get $len) (i32.const 131071)) (i32.const 16)))
    (if (i32.gt_u (local.get $need) (memory.size))
      (then (drop (memory.grow (i32.sub (local.get $need) (memory.size))))))
    (i32.const {INPUT_BASE}))
{bodies}{data})"#
        )
    }

    fn evil_body(&self, evil: &Evil, place: &mut dyn FnMut(&[u8]) -> i64) -> String {
        match evil {
            Evil::Loop => "(loop $l (br $l))".into(),
            Evil::Unreachable => "(unreachable)".into(),
            Evil::GrowUntilRefused => "(loop $l (br_if $l (i32.ne (memory.grow (i32.const 16)) (i32.const -1)))) (unreachable)".into(),
            Evil::GrowForever => "(loop $l (drop (memory.grow (i32.const 16))) (br $l))".into(),
            Evil::Recurse => "(drop (call $recurse (i32.const 0)))".into(),
            Evil::Output(bytes) => format!("(return (i64.const {}))", place(bytes)),
            Evil::Packed(p) => format!("(return (i64.const {p}))"),
            Evil::LogFlood => "(local.set $i (i32.const 10000)) (loop $l (call $log (i32.const 2) (i32.const 0) (i32.const 65536)) (local.set $i (i32.sub (local.get $i) (i32.const 1))) (br_if $l (local.get $i)))".into(),
            Evil::LogOutOfBounds => "(call $log (i32.const 0) (i32.const -8) (i32.const 100))".into(),
        }
    }

    /// The compiled module bytes.
    pub fn wasm(&self) -> Vec<u8> {
        let wat = self.wat();
        wat::parse_str(&wat).unwrap_or_else(|e| panic!("bad WAT: {e}\n{wat}"))
    }
}

/// A host config for tests: no disk cache, defaults otherwise.
pub fn test_config() -> HostConfig {
    HostConfig {
        cache_dir: None,
        ..HostConfig::default()
    }
}

/// A restore input from the room's committed state, as a room would build it.
pub fn restore_input(room: &str, state: &Value) -> RestoreInput {
    RestoreInput {
        room: room.into(),
        room_type: "wat".into(),
        options: json!({}),
        state: state.clone(),
        clients: vec![],
        now_ms: 1_000,
    }
}
