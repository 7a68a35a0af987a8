//! The guest side of one hook call, from input bytes to output bytes.
//!
//! [`Runtime`] is what `export_room!` keeps per instance and what the test
//! harness drives: the same code decodes the MessagePack input, runs the [`Room`]
//! hook against the state mirror, and encodes the `HookOutput`. Its buffers live
//! as long as the instance, so a call allocates no new buffers once warm.

use arbiter_plugin_abi::{
    Client, CreateInput, DisposeInput, HookOutput, JoinInput, LeaveInput, MessageInput,
    RestoreInput, Settings, TickInput, exports,
};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::ctx::{Ctx, HostEnv, Outbox, RoomEnv};
use crate::error::{Error, Result};
use crate::input::{Data, MessageRef};
use crate::room::{Join, RestoreInfo, Room};
use crate::state::State;

/// The hook exports, one per `arbiter_on_*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Hook {
    /// `arbiter_on_create`.
    Create,
    /// `arbiter_on_join`.
    Join,
    /// `arbiter_on_leave`.
    Leave,
    /// `arbiter_on_message`.
    Message,
    /// `arbiter_on_tick`.
    Tick,
    /// `arbiter_on_dispose`.
    Dispose,
    /// `arbiter_on_restore`.
    Restore,
}

impl Hook {
    /// The export's name.
    pub fn export_name(self) -> &'static str {
        match self {
            Hook::Create => exports::ON_CREATE,
            Hook::Join => exports::ON_JOIN,
            Hook::Leave => exports::ON_LEAVE,
            Hook::Message => exports::ON_MESSAGE,
            Hook::Tick => exports::ON_TICK,
            Hook::Dispose => exports::ON_DISPOSE,
            Hook::Restore => exports::ON_RESTORE,
        }
    }
}

/// How a hook ended, besides its ops and messages.
enum Ending {
    /// Commit everything; `settings` only from create.
    Done(Option<Settings>),
    /// A join was refused: discard the effects, answer `reject`.
    Rejected(String),
}

/// One plugin instance's guest-side state: the room, the state mirror, the
/// clients, and the reused input and output buffers.
pub struct Runtime<R> {
    room: Option<R>,
    state: State,
    env: RoomEnv,
    out: Outbox,
    /// Where the host writes the next input (`arbiter_alloc`).
    pub(crate) input: Vec<u8>,
    /// The last output; valid until the next call.
    output: Vec<u8>,
    /// Time of the last input, for a rebuild after a failed hook.
    last_now_ms: u64,
}

impl<R> std::fmt::Debug for Runtime<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("room_id", &self.env.room_id)
            .field("has_room", &self.room.is_some())
            .field("clients", &self.env.clients.len())
            .finish_non_exhaustive()
    }
}

impl<R: Room> Default for Runtime<R> {
    fn default() -> Self {
        Self::new()
    }
}

impl<R: Room> Runtime<R> {
    /// An instance before `arbiter_on_create` or `arbiter_on_restore`.
    pub fn new() -> Self {
        Self {
            room: None,
            state: State::default(),
            env: RoomEnv::default(),
            out: Outbox::default(),
            input: Vec::new(),
            output: Vec::new(),
            last_now_ms: 0,
        }
    }

    /// Makes the input buffer at least `len` bytes long (growing only, zeroed when
    /// it grows) and returns its start, for `arbiter_alloc`.
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub(crate) fn input_buffer(&mut self, len: usize) -> &mut [u8] {
        if self.input.len() < len {
            self.input.resize(len, 0);
        }
        &mut self.input
    }

    /// Runs `hook` on `input` (a MessagePack map) and returns the encoded
    /// `HookOutput`, valid until the next call.
    pub(crate) fn call(&mut self, hook: Hook, input: &[u8], host: &mut dyn HostEnv) -> &[u8] {
        let ending = self.dispatch(hook, input, host);
        let output = match ending {
            Ok(Ending::Done(settings)) => self.commit(settings),
            Ok(Ending::Rejected(reason)) => {
                self.discard();
                HookOutput {
                    reject: Some(reason),
                    ..HookOutput::default()
                }
            }
            Err(err) => {
                self.discard();
                let error = err.to_string();
                if !matches!(hook, Hook::Create | Hook::Restore) {
                    self.rebuild();
                }
                HookOutput {
                    error: Some(error),
                    ..HookOutput::default()
                }
            }
        };
        self.encode(output)
    }

    /// Like [`Runtime::call`] with the input already in the buffer from
    /// [`Runtime::input_buffer`]: the first `len` bytes of it.
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub(crate) fn call_in_place(
        &mut self,
        hook: Hook,
        len: usize,
        host: &mut dyn HostEnv,
    ) -> &[u8] {
        // The input moves out while the hook runs, so that `call` can borrow `self`.
        let input = std::mem::take(&mut self.input);
        let _ = self.call(hook, input.get(..len).unwrap_or(&[]), host);
        self.input = input;
        &self.output
    }

    /// An output carrying only `error`, without running any hook.
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub(crate) fn fail(&mut self, error: &str) -> &[u8] {
        self.encode(HookOutput {
            error: Some(error.to_owned()),
            ..HookOutput::default()
        })
    }

    fn dispatch(&mut self, hook: Hook, input: &[u8], host: &mut dyn HostEnv) -> Result<Ending> {
        match hook {
            Hook::Create => self.on_create(decode(input)?, host),
            Hook::Restore => self.on_restore(decode(input)?).map(|()| Ending::Done(None)),
            Hook::Join => self.on_join(decode(input)?, host),
            Hook::Leave => self
                .on_leave(decode(input)?, host)
                .map(|()| Ending::Done(None)),
            Hook::Message => match MessageRef::parse(input) {
                Some(message) => self.on_message(message, host),
                None => self.on_message_owned(decode(input)?, host),
            }
            .map(|()| Ending::Done(None)),
            Hook::Tick => {
                let input: TickInput = decode(input)?;
                self.last_now_ms = input.now_ms;
                let (room, mut ctx) = self.parts(host, input.now_ms, input.dt_ms)?;
                room.tick(&mut ctx, input.dt_ms)
                    .map(|()| Ending::Done(None))
            }
            Hook::Dispose => {
                let input: DisposeInput = decode(input)?;
                self.last_now_ms = input.now_ms;
                let (room, mut ctx) = self.parts(host, input.now_ms, 0)?;
                room.dispose(&mut ctx).map(|()| Ending::Done(None))
            }
        }
    }

    fn on_create(&mut self, input: CreateInput, host: &mut dyn HostEnv) -> Result<Ending> {
        self.room = None;
        self.state.reset(Value::Object(Default::default()));
        self.env = RoomEnv {
            room_id: input.room,
            room_type: input.room_type,
            options: input.options,
            clients: Vec::new(),
        };
        self.last_now_ms = input.now_ms;
        let mut ctx = Ctx {
            state: &mut self.state,
            out: &mut self.out,
            env: &self.env,
            host,
            now_ms: input.now_ms,
            dt_ms: 0,
        };
        let (room, settings) = R::create(&mut ctx, &self.env.options)?;
        self.room = Some(room);
        Ok(Ending::Done(Some(settings)))
    }

    fn on_restore(&mut self, input: RestoreInput) -> Result {
        self.room = None;
        if !input.state.is_object() {
            return Err(Error::StateNotObject);
        }
        self.state.reset(input.state);
        self.env = RoomEnv {
            room_id: input.room,
            room_type: input.room_type,
            options: input.options,
            clients: input.clients,
        };
        self.last_now_ms = input.now_ms;
        self.rebuild_room()
    }

    fn on_join(&mut self, input: JoinInput, host: &mut dyn HostEnv) -> Result<Ending> {
        self.last_now_ms = input.now_ms;
        let (room, mut ctx) = self.parts(host, input.now_ms, 0)?;
        match room.join(&mut ctx, &input.client, &input.options)? {
            Join::Accept => {
                let sid = &input.client.session_id;
                self.env.clients.retain(|c| &c.session_id != sid);
                self.env.clients.push(input.client);
                Ok(Ending::Done(None))
            }
            Join::Reject(reason) => Ok(Ending::Rejected(reason)),
        }
    }

    fn on_leave(&mut self, input: LeaveInput, host: &mut dyn HostEnv) -> Result {
        self.last_now_ms = input.now_ms;
        let sid = &input.client.session_id;
        self.env.clients.retain(|c| &c.session_id != sid);
        let (room, mut ctx) = self.parts(host, input.now_ms, 0)?;
        room.leave(&mut ctx, &input.client, input.consented)
    }

    /// The message hook over the borrowed input: the sender is the member's own
    /// [`Client`] (no copy), `data` reaches the room still encoded.
    fn on_message(&mut self, input: MessageRef<'_>, host: &mut dyn HostEnv) -> Result {
        self.last_now_ms = input.now_ms;
        let Runtime {
            room,
            state,
            env,
            out,
            ..
        } = self;
        let room = room.as_mut().ok_or(Error::NoRoom)?;
        let member = env
            .clients
            .iter()
            .find(|c| c.session_id == input.session_id && c.user_id == input.user_id);
        let stranger;
        let client = match member {
            Some(client) => client,
            None => {
                stranger = Client {
                    session_id: input.session_id.to_owned(),
                    user_id: input.user_id.to_owned(),
                };
                &stranger
            }
        };
        let mut ctx = Ctx {
            state,
            out,
            env,
            host,
            now_ms: input.now_ms,
            dt_ms: 0,
        };
        match input.bytes {
            Some(bytes) => room.message_bytes(&mut ctx, client, input.kind, bytes),
            None => room.message_data(&mut ctx, client, input.kind, input.data),
        }
    }

    /// The message hook for an input [`MessageRef::parse`] left to `rmp_serde`
    /// (valid, but not in the host's usual shape).
    fn on_message_owned(&mut self, input: MessageInput, host: &mut dyn HostEnv) -> Result {
        let data = match &input.data {
            Some(value) => rmp_serde::to_vec_named(value)
                .map_err(|e| Error::Input(format!("cannot re-encode data: {e}")))?,
            None => Data::NULL.as_msgpack().to_vec(),
        };
        let message = MessageRef {
            session_id: &input.client.session_id,
            user_id: &input.client.user_id,
            kind: &input.kind,
            data: Data::from_msgpack(&data),
            bytes: input.bytes.as_deref(),
            now_ms: input.now_ms,
        };
        self.on_message(message, host)
    }

    /// The room and a context over the rest of `self`.
    fn parts<'s>(
        &'s mut self,
        host: &'s mut dyn HostEnv,
        now_ms: u64,
        dt_ms: u64,
    ) -> Result<(&'s mut R, Ctx<'s>)> {
        let room = self.room.as_mut().ok_or(Error::NoRoom)?;
        let ctx = Ctx {
            state: &mut self.state,
            out: &mut self.out,
            env: &self.env,
            host,
            now_ms,
            dt_ms,
        };
        Ok((room, ctx))
    }

    fn rebuild_room(&mut self) -> Result {
        let info = RestoreInfo {
            room_id: &self.env.room_id,
            room_type: &self.env.room_type,
            options: &self.env.options,
            state: self.state.root(),
            clients: &self.env.clients,
            now_ms: self.last_now_ms,
        };
        self.room = Some(R::restore(&info)?);
        Ok(())
    }

    /// After a failed hook: the room's fields may hold half of a change, so it is
    /// rebuilt from the (rolled back) state, as the host would on a fresh instance.
    /// If that fails too the room is gone until the host restores it.
    fn rebuild(&mut self) {
        if self.room.is_some() && self.rebuild_room().is_err() {
            self.room = None;
        }
    }

    fn commit(&mut self, settings: Option<Settings>) -> HookOutput {
        HookOutput {
            ops: self.state.take_ops(),
            messages: std::mem::take(&mut self.out.messages),
            lock: self.out.lock.take(),
            metadata: self.out.metadata.take(),
            close: self.out.close.take(),
            reject: None,
            settings,
            error: None,
        }
    }

    fn discard(&mut self) {
        self.state.rollback();
        self.out.clear();
    }

    /// Encodes `output` into the reused output buffer and takes back its vectors'
    /// capacity.
    fn encode(&mut self, output: HookOutput) -> &[u8] {
        self.output.clear();
        if let Err(err) = rmp_serde::encode::write_named(&mut self.output, &output) {
            // Only a map key that is not a string can fail here; report it instead.
            self.output.clear();
            let fallback = HookOutput {
                error: Some(format!("cannot encode the hook output: {err}")),
                ..HookOutput::default()
            };
            // A struct of strings always encodes.
            let _ = rmp_serde::encode::write_named(&mut self.output, &fallback);
        }
        let HookOutput {
            ops, mut messages, ..
        } = output;
        self.state.recycle(ops);
        messages.clear();
        if self.out.messages.is_empty() {
            self.out.messages = messages;
        }
        &self.output
    }
}

fn decode<T: DeserializeOwned>(input: &[u8]) -> Result<T> {
    rmp_serde::from_slice(input).map_err(|e| Error::Input(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Join;
    use crate::ctx::Level;
    use arbiter_plugin_abi::{Client, JoinInput};
    use serde::Serialize;
    use serde_json::json;

    struct NoHost;
    impl HostEnv for NoHost {
        fn random_u64(&mut self) -> u64 {
            4
        }
        fn log(&mut self, _: Level, _: &str) {}
    }

    /// Counts writes in the state and in a private field; `fail` writes, then errs.
    struct Probe {
        restored: bool,
    }

    impl Room for Probe {
        fn create(ctx: &mut Ctx<'_>, _: &Value) -> Result<(Self, Settings)> {
            ctx.state().set("/n", 0)?;
            Ok((Probe { restored: false }, Settings::default()))
        }
        fn restore(_: &RestoreInfo<'_>) -> Result<Self> {
            Ok(Probe { restored: true })
        }
        fn join(&mut self, ctx: &mut Ctx<'_>, c: &Client, _: &Value) -> Result<Join> {
            ctx.state().set("/joined", c.session_id.clone())?;
            ctx.broadcast("hello", json!(1));
            if c.session_id == "s_bad" {
                return Ok(Join::reject("go away"));
            }
            Ok(Join::Accept)
        }
        fn message(&mut self, ctx: &mut Ctx<'_>, _: &Client, kind: &str, _: &Value) -> Result {
            ctx.state().set("/n", 1)?;
            ctx.lock();
            match kind {
                "fail" => Err(Error::msg("boom")),
                "bad-op" => ctx.state().set("/no/such", 1),
                _ => Ok(()),
            }
        }
    }

    fn enc<T: Serialize>(v: &T) -> Vec<u8> {
        rmp_serde::to_vec_named(v).unwrap()
    }

    fn out(rt: &mut Runtime<Probe>, hook: Hook, input: &[u8]) -> HookOutput {
        rmp_serde::from_slice(rt.call(hook, input, &mut NoHost)).unwrap()
    }

    fn created() -> Runtime<Probe> {
        let mut rt = Runtime::new();
        let input = CreateInput {
            room: "r".into(),
            room_type: "probe".into(),
            options: Value::Null,
            now_ms: 1,
        };
        let o = out(&mut rt, Hook::Create, &enc(&input));
        assert_eq!(o.ops.len(), 1);
        assert_eq!(o.settings, Some(Settings::default()));
        rt
    }

    fn message(kind: &str) -> Vec<u8> {
        enc(&MessageInput {
            client: Client {
                session_id: "s_a".into(),
                user_id: "u".into(),
            },
            kind: kind.into(),
            data: None,
            bytes: None,
            now_ms: 2,
        })
    }

    #[test]
    fn a_failing_hook_reports_only_its_error_and_rolls_back() {
        let mut rt = created();
        for (kind, text) in [("fail", "boom"), ("bad-op", "cannot set")] {
            let o = out(&mut rt, Hook::Message, &message(kind));
            assert!(o.error.as_deref().unwrap().contains(text), "{o:?}");
            assert!(o.ops.is_empty() && o.lock.is_none() && o.messages.is_empty());
            assert_eq!(rt.state.root(), &json!({"n": 0}));
            assert!(
                rt.room.as_ref().unwrap().restored,
                "room rebuilt from state"
            );
        }
        let o = out(&mut rt, Hook::Message, &message("ok"));
        assert_eq!(o.lock, Some(true));
        assert_eq!(o.ops, vec![arbiter_state::PatchOp::set("/n", json!(1))]);
    }

    #[test]
    fn a_rejected_join_discards_its_effects() {
        let mut rt = created();
        let join = |sid: &str| {
            enc(&JoinInput {
                client: Client {
                    session_id: sid.into(),
                    user_id: sid.into(),
                },
                options: Value::Null,
                now_ms: 3,
            })
        };
        let o = out(&mut rt, Hook::Join, &join("s_bad"));
        assert_eq!(o.reject.as_deref(), Some("go away"));
        assert!(o.ops.is_empty() && o.messages.is_empty());
        assert!(rt.env.clients.is_empty());
        let o = out(&mut rt, Hook::Join, &join("s_ok"));
        assert_eq!((o.ops.len(), o.messages.len()), (1, 1));
        assert_eq!(rt.env.clients.len(), 1);
    }

    #[test]
    fn bad_input_and_missing_room_are_errors_not_traps() {
        let mut rt: Runtime<Probe> = Runtime::new();
        let o = out(&mut rt, Hook::Message, &message("ok"));
        assert!(o.error.unwrap().contains("not initialised"));
        let o = out(&mut rt, Hook::Create, b"\xc1 garbage");
        assert!(o.error.unwrap().contains("undecodable"));
        let o = out(&mut rt, Hook::Tick, &[]);
        assert!(o.error.is_some());
        let o: HookOutput = rmp_serde::from_slice(rt.fail("nope")).unwrap();
        assert_eq!(o.error.as_deref(), Some("nope"));
    }

    #[test]
    fn restore_takes_state_and_clients_and_rejects_non_objects() {
        let mut rt: Runtime<Probe> = Runtime::new();
        let mut input = RestoreInput {
            room: "r".into(),
            room_type: "probe".into(),
            options: Value::Null,
            state: json!([1]),
            clients: vec![],
            now_ms: 5,
        };
        let o = out(&mut rt, Hook::Restore, &enc(&input));
        assert!(o.error.is_some());
        input.state = json!({"n": 7});
        let o = out(&mut rt, Hook::Restore, &enc(&input));
        assert_eq!(o, HookOutput::default());
        assert_eq!(rt.state.root(), &json!({"n": 7}));
        assert!(rt.room.as_ref().unwrap().restored);
    }

    #[test]
    fn messages_in_any_valid_encoding_reach_the_room_alike() {
        let input = MessageInput {
            client: Client {
                session_id: "s_a".into(),
                user_id: "u".into(),
            },
            kind: "ok".into(),
            data: Some(json!({"k": [1, 2]})),
            bytes: None,
            now_ms: 2,
        };
        // What the host writes (the borrowing decoder), and a `type` sent as
        // bin, which only rmp_serde accepts: the same output.
        let mut odd = vec![0x84];
        for (key, value) in [
            ("client", enc(&input.client)),
            ("type", vec![0xc4, 2, b'o', b'k']),
            ("data", enc(&input.data)),
            ("now_ms", vec![2]),
        ] {
            odd.extend(enc(&key));
            odd.extend(value);
        }
        assert!(MessageRef::parse(&odd).is_none());
        for bytes in [enc(&input), odd] {
            let mut rt = created();
            let o = out(&mut rt, Hook::Message, &bytes);
            assert_eq!(o.error, None);
            assert_eq!(o.lock, Some(true));
            assert_eq!(o.ops, vec![arbiter_state::PatchOp::set("/n", json!(1))]);
        }
        // Malformed data inside a well-formed map is an input error, not a trap.
        let mut bad = enc(&MessageInput {
            data: None,
            ..input
        });
        bad[0] += 1; // one more key…
        bad.extend(rmp_serde::to_vec("data").unwrap());
        bad.extend([0x81, 0x01, 0x02]); // …a map with an integer key
        let o = out(&mut created(), Hook::Message, &bad);
        assert!(o.error.unwrap().contains("undecodable"));
    }

    #[test]
    fn in_place_input_reuses_one_buffer() {
        let mut rt = created();
        let bytes = message("ok");
        let buf = rt.input_buffer(bytes.len());
        buf[..bytes.len()].copy_from_slice(&bytes);
        let first = rt.input.as_ptr();
        let o: HookOutput =
            rmp_serde::from_slice(rt.call_in_place(Hook::Message, bytes.len(), &mut NoHost))
                .unwrap();
        assert!(o.error.is_none(), "{o:?}");
        // A smaller input reuses the same allocation.
        let _ = rt.input_buffer(4);
        assert_eq!(rt.input.as_ptr(), first);
    }
}
