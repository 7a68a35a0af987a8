//! Unit-test a [`Room`] natively, with the harness playing the host.
//!
//! [`Harness`] runs the room through the same path as a WASM instance: each hook
//! input is encoded as MessagePack, the SDK's runtime decodes it, runs the hook and
//! encodes a `HookOutput`, and the harness decodes that and commits it the way the
//! host does:
//!
//! - ops are applied to the committed state all or nothing (with
//!   `arbiter_state::apply`, the host's function);
//! - a hook that returns `Err`, panics, or produces an invalid output commits
//!   nothing, and the instance is replaced by a fresh one rebuilt with
//!   [`Room::restore`] from the committed state and the current clients;
//! - `max_clients` and the lock are enforced on join; a closed room takes no input;
//! - messages are delivered to the members the target names.
//!
//! Time is virtual (it starts at [`DEFAULT_START_MS`] and moves only with
//! [`Harness::advance`] and the tick methods) and randomness comes from a seeded
//! generator, so a test is deterministic.
//!
//! ```
//! use arbiter_plugin_sdk::testing::Harness;
//! # use arbiter_plugin_sdk::{Ctx, Result, RestoreInfo, Room, Settings, Value};
//! # struct Quiet;
//! # impl Room for Quiet {
//! #     fn create(_: &mut Ctx<'_>, _: &Value) -> Result<(Self, Settings)> {
//! #         Ok((Quiet, Settings { max_clients: 1, ..Settings::default() }))
//! #     }
//! #     fn restore(_: &RestoreInfo<'_>) -> Result<Self> { Ok(Quiet) }
//! # }
//! let mut room = Harness::<Quiet>::builder().seed(7).create(Value::Null).unwrap();
//! room.join("s_a").unwrap();
//! assert!(room.join("s_b").is_err()); // full
//! ```

mod outcome;

use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, catch_unwind};

use arbiter_plugin_abi::{
    Client, CreateInput, DisposeInput, HookOutput, JoinInput, LeaveInput, MessageInput,
    RestoreInput, Settings, TickInput,
};
use serde::Serialize;
use serde_json::Value;

pub use outcome::{Delivery, HarnessError, HookFailure, Step};

use crate::ctx::{HostEnv, Level};
use crate::room::Room;
use crate::runtime::{Hook, Runtime};
use arbiter_plugin_abi::RoomRng;

/// The harness clock's start: 2023-11-14T22:13:20Z, in milliseconds.
pub const DEFAULT_START_MS: u64 = 1_700_000_000_000;

/// The seed used unless [`HarnessBuilder::seed`] sets one.
pub const DEFAULT_SEED: u64 = 0x5eed;

/// The harness's stand-in for the host imports.
#[derive(Debug)]
struct TestHost {
    rng: RoomRng,
    logs: Vec<(Level, String)>,
}

impl HostEnv for TestHost {
    fn random_u64(&mut self) -> u64 {
        self.rng.next_u64()
    }

    fn log(&mut self, level: Level, message: &str) {
        self.logs.push((level, message.to_owned()));
    }
}

/// Sets up a [`Harness`]: room id and type, seed, start time.
#[derive(Debug, Clone)]
pub struct HarnessBuilder<R> {
    room_id: String,
    room_type: String,
    seed: u64,
    start_ms: u64,
    room: PhantomData<fn() -> R>,
}

impl<R: Room> HarnessBuilder<R> {
    /// The room id (default `"room-1"`).
    pub fn room_id(mut self, room_id: impl Into<String>) -> Self {
        self.room_id = room_id.into();
        self
    }

    /// The room type (default `"test"`).
    pub fn room_type(mut self, room_type: impl Into<String>) -> Self {
        self.room_type = room_type.into();
        self
    }

    /// The seed of the room's random generator (default [`DEFAULT_SEED`]).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The clock's start in milliseconds since the epoch (default [`DEFAULT_START_MS`]).
    pub fn start_ms(mut self, start_ms: u64) -> Self {
        self.start_ms = start_ms;
        self
    }

    /// Creates the room with these options (`arbiter_on_create`).
    pub fn create(self, options: Value) -> Result<Harness<R>, HarnessError> {
        let mut harness = Harness {
            runtime: Runtime::new(),
            host: TestHost {
                rng: RoomRng::new(self.seed),
                logs: Vec::new(),
            },
            room_id: self.room_id,
            room_type: self.room_type,
            options,
            state: Value::Object(Default::default()),
            settings: Settings::default(),
            clients: Vec::new(),
            locked: false,
            metadata: Value::Object(Default::default()),
            closed: None,
            now_ms: self.start_ms,
            inbox: Vec::new(),
            restarts: 0,
        };
        let input = CreateInput {
            room: harness.room_id.clone(),
            room_type: harness.room_type.clone(),
            options: harness.options.clone(),
            now_ms: harness.now_ms,
        };
        let output = harness.call(Hook::Create, &input)?;
        harness.settings = output.settings.clone().unwrap_or_default();
        harness.metadata = harness.settings.metadata.clone();
        harness.commit(Hook::Create, output, None)?;
        Ok(harness)
    }
}

/// A room under test: the plugin plus a small in-memory host.
pub struct Harness<R> {
    runtime: Runtime<R>,
    host: TestHost,
    room_id: String,
    room_type: String,
    options: Value,
    state: Value,
    settings: Settings,
    clients: Vec<Client>,
    locked: bool,
    metadata: Value,
    closed: Option<String>,
    now_ms: u64,
    inbox: Vec<Delivery>,
    restarts: usize,
}

impl<R> std::fmt::Debug for Harness<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Harness")
            .field("room_id", &self.room_id)
            .field("state", &self.state)
            .field("clients", &self.clients)
            .field("locked", &self.locked)
            .field("closed", &self.closed)
            .field("now_ms", &self.now_ms)
            .finish_non_exhaustive()
    }
}

impl<R: Room> Harness<R> {
    /// A builder, for a room id, type, seed or start time other than the defaults.
    pub fn builder() -> HarnessBuilder<R> {
        HarnessBuilder {
            room_id: "room-1".into(),
            room_type: "test".into(),
            seed: DEFAULT_SEED,
            start_ms: DEFAULT_START_MS,
            room: PhantomData,
        }
    }

    /// Creates the room with these options and the defaults.
    pub fn create(options: Value) -> Result<Self, HarnessError> {
        Self::builder().create(options)
    }

    /// Joins a client whose session id and user id are `session_id`, without
    /// join options.
    pub fn join(&mut self, session_id: &str) -> Result<Step, HarnessError> {
        let client = Client {
            session_id: session_id.to_owned(),
            user_id: session_id.to_owned(),
        };
        self.join_with(client, Value::Null)
    }

    /// Joins `client` with join `options`, after the host's own checks (closed,
    /// already a member, lock, seats).
    pub fn join_with(&mut self, client: Client, options: Value) -> Result<Step, HarnessError> {
        self.check_open()?;
        if self.is_member(&client.session_id) {
            return Err(HarnessError::AlreadyMember(client.session_id));
        }
        if self.locked {
            return Err(HarnessError::Locked);
        }
        let max = self.settings.max_clients;
        if max > 0 && self.clients.len() >= max as usize {
            return Err(HarnessError::Full { max });
        }
        let input = JoinInput {
            client: client.clone(),
            options,
            now_ms: self.now_ms,
        };
        let output = self.call(Hook::Join, &input)?;
        if let Some(reason) = output.reject {
            return Err(HarnessError::Rejected(reason));
        }
        self.commit(Hook::Join, output, Some(client))
    }

    /// The client leaves: `consented` when it asked to (`room.leave`), `false`
    /// when its session expired.
    pub fn leave(&mut self, session_id: &str, consented: bool) -> Result<Step, HarnessError> {
        self.check_open()?;
        let index = self.member_index(session_id)?;
        let client = self.clients.remove(index);
        let input = LeaveInput {
            client,
            consented,
            now_ms: self.now_ms,
        };
        let output = self.call(Hook::Leave, &input)?;
        self.commit(Hook::Leave, output, None)
    }

    /// A `room.message` from a member.
    pub fn message(
        &mut self,
        session_id: &str,
        kind: &str,
        data: Value,
    ) -> Result<Step, HarnessError> {
        self.send(session_id, kind, Some(data), None)
    }

    /// A `room.message.bytes` from a member.
    pub fn message_bytes(
        &mut self,
        session_id: &str,
        kind: &str,
        bytes: &[u8],
    ) -> Result<Step, HarnessError> {
        self.send(session_id, kind, None, Some(bytes.to_vec()))
    }

    fn send(
        &mut self,
        session_id: &str,
        kind: &str,
        data: Option<Value>,
        bytes: Option<Vec<u8>>,
    ) -> Result<Step, HarnessError> {
        self.check_open()?;
        let client = self.clients[self.member_index(session_id)?].clone();
        let input = MessageInput {
            client,
            kind: kind.to_owned(),
            data,
            bytes,
            now_ms: self.now_ms,
        };
        let output = self.call(Hook::Message, &input)?;
        self.commit(Hook::Message, output, None)
    }

    /// One tick at the room's tick rate: the clock moves by `1000 / tick_rate` ms.
    pub fn tick(&mut self) -> Result<Step, HarnessError> {
        match self.settings.tick_rate {
            0 => Err(HarnessError::NotTicking),
            rate => self.tick_by(1000 / u64::from(rate)),
        }
    }

    /// One tick after `dt_ms` milliseconds (the clock moves by `dt_ms`).
    pub fn tick_by(&mut self, dt_ms: u64) -> Result<Step, HarnessError> {
        self.check_open()?;
        self.advance(dt_ms);
        let input = TickInput {
            dt_ms,
            now_ms: self.now_ms,
        };
        let output = self.call(Hook::Tick, &input)?;
        self.commit(Hook::Tick, output, None)
    }

    /// Moves the clock without calling any hook.
    pub fn advance(&mut self, ms: u64) {
        self.now_ms = self.now_ms.saturating_add(ms);
    }

    /// Disposes of the room (`arbiter_on_dispose`); it takes no input afterwards.
    pub fn dispose(&mut self) -> Result<Step, HarnessError> {
        self.check_open()?;
        let input = DisposeInput {
            now_ms: self.now_ms,
        };
        let output = self.call(Hook::Dispose, &input);
        self.closed.get_or_insert_with(|| "disposed".to_owned());
        self.commit(Hook::Dispose, output?, None)
    }

    /// Replaces the instance with a fresh one restored from the committed state,
    /// as the host does after a failed hook. Tests that the room's
    /// [`Room::restore`] rebuilds everything it needs.
    pub fn restart(&mut self) -> Result<(), HarnessError> {
        self.runtime = Runtime::new();
        self.restarts += 1;
        let input = RestoreInput {
            room: self.room_id.clone(),
            room_type: self.room_type.clone(),
            options: self.options.clone(),
            state: self.state.clone(),
            clients: self.clients.clone(),
            now_ms: self.now_ms,
        };
        let failure = match self.run(Hook::Restore, &input) {
            Ok(out) if out.error.is_none() && out.ops.is_empty() => return Ok(()),
            Ok(out) => match out.error {
                Some(error) => HookFailure::Reported(error),
                None => HookFailure::BadOutput("restore produced state ops".into()),
            },
            Err(failure) => failure,
        };
        // The host closes a room it cannot restore.
        self.closed = Some(format!("restore failed: {failure}"));
        Err(HarnessError::Hook {
            hook: Hook::Restore.export_name(),
            failure,
        })
    }

    /// The committed state.
    pub fn state(&self) -> &Value {
        &self.state
    }

    /// The committed value at a JSON Pointer.
    pub fn state_at(&self, path: &str) -> Option<&Value> {
        self.state.pointer(path)
    }

    /// The settings from create.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The clients in the room, in join order.
    pub fn clients(&self) -> &[Client] {
        &self.clients
    }

    /// Whether the room is locked.
    pub fn is_locked(&self) -> bool {
        self.locked
    }

    /// The public metadata (from settings, then `set_metadata`).
    pub fn metadata(&self) -> &Value {
        &self.metadata
    }

    /// Why the room closed, if it did.
    pub fn closed(&self) -> Option<&str> {
        self.closed.as_deref()
    }

    /// The harness clock, milliseconds since the epoch.
    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    /// How many times the instance was replaced (failed hooks and `restart`).
    pub fn restarts(&self) -> usize {
        self.restarts
    }

    /// Every message delivered to `session_id` so far, oldest first.
    pub fn inbox(&self, session_id: &str) -> Vec<&crate::OutMessage> {
        self.inbox
            .iter()
            .filter(|d| d.reached(session_id))
            .map(|d| &d.message)
            .collect()
    }

    /// Forgets the delivered messages.
    pub fn clear_inbox(&mut self) {
        self.inbox.clear();
    }

    /// The plugin's log lines so far.
    pub fn logs(&self) -> &[(Level, String)] {
        &self.host.logs
    }

    fn check_open(&self) -> Result<(), HarnessError> {
        match &self.closed {
            Some(reason) => Err(HarnessError::Closed(reason.clone())),
            None => Ok(()),
        }
    }

    fn is_member(&self, session_id: &str) -> bool {
        self.clients.iter().any(|c| c.session_id == session_id)
    }

    fn member_index(&self, session_id: &str) -> Result<usize, HarnessError> {
        self.clients
            .iter()
            .position(|c| c.session_id == session_id)
            .ok_or_else(|| HarnessError::NotMember(session_id.to_owned()))
    }

    /// Runs one hook through the byte-level path and checks the output's shape.
    fn run<I: Serialize>(&mut self, hook: Hook, input: &I) -> Result<HookOutput, HookFailure> {
        let bytes = rmp_serde::to_vec_named(input)
            .map_err(|e| HookFailure::BadOutput(format!("cannot encode the input: {e}")))?;
        let runtime = &mut self.runtime;
        let host = &mut self.host;
        let raw = catch_unwind(AssertUnwindSafe(|| {
            runtime.call(hook, &bytes, host).to_vec()
        }))
        .map_err(|payload| HookFailure::Panicked(outcome::panic_text(payload.as_ref())))?;
        let output: HookOutput = rmp_serde::from_slice(&raw)
            .map_err(|e| HookFailure::BadOutput(format!("undecodable output: {e}")))?;
        if output.reject.is_some() && hook != Hook::Join {
            return Err(HookFailure::BadOutput("`reject` outside of join".into()));
        }
        if output.settings.is_some() && hook != Hook::Create {
            return Err(HookFailure::BadOutput(
                "`settings` outside of create".into(),
            ));
        }
        Ok(output)
    }

    /// [`Harness::run`], turning a reported error or any failure into a restart.
    fn call<I: Serialize>(&mut self, hook: Hook, input: &I) -> Result<HookOutput, HarnessError> {
        let failure = match self.run(hook, input) {
            Ok(output) => match output.error {
                None => return Ok(output),
                Some(error) => HookFailure::Reported(error),
            },
            Err(failure) => failure,
        };
        self.fail(hook, failure)
    }

    fn fail<T>(&mut self, hook: Hook, failure: HookFailure) -> Result<T, HarnessError> {
        if hook == Hook::Create {
            self.closed = Some(format!("create failed: {failure}"));
        } else {
            // A room that cannot be restored is closed by `restart`.
            let _ = self.restart();
        }
        Err(HarnessError::Hook {
            hook: hook.export_name(),
            failure,
        })
    }

    /// Commits an accepted output: ops all or nothing, then the joining client
    /// (if any), lock, metadata, messages and close.
    fn commit(
        &mut self,
        hook: Hook,
        output: HookOutput,
        joining: Option<Client>,
    ) -> Result<Step, HarnessError> {
        if let Err(err) = arbiter_state::apply(&mut self.state, &output.ops) {
            let failure =
                HookFailure::BadOutput(format!("the committed state refuses the ops: {err}"));
            // Nothing of the hook happened, the join included.
            return self.fail(hook, failure);
        }
        self.clients.extend(joining);
        if let Some(locked) = output.lock {
            self.locked = locked;
        }
        if let Some(metadata) = output.metadata {
            self.metadata = metadata;
        }
        let members: Vec<String> = self.clients.iter().map(|c| c.session_id.clone()).collect();
        let deliveries: Vec<Delivery> = output
            .messages
            .into_iter()
            .map(|message| Delivery {
                recipients: outcome::recipients(&message, &members),
                message,
            })
            .collect();
        self.inbox.extend(deliveries.iter().cloned());
        if let Some(reason) = output.close {
            self.closed = Some(reason);
        }
        Ok(Step {
            ops: output.ops,
            deliveries,
        })
    }
}
