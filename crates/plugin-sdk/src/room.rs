//! [`Room`]: the trait a plugin implements, one method per hook.

use serde_json::Value;

use crate::abi::{Client, Settings};
use crate::ctx::Ctx;
use crate::error::Result;
use crate::input::Data;

/// A join hook's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Join {
    /// Let the client in.
    Accept,
    /// Refuse the client; it gets `room.rejected` with this reason. Everything the
    /// hook wrote or sent is discarded.
    Reject(String),
}

impl Join {
    /// Refuses the join with a reason a player can read.
    pub fn reject(reason: impl Into<String>) -> Self {
        Join::Reject(reason.into())
    }
}

/// What [`Room::restore`] gets: the room as the host last committed it.
#[derive(Debug, Clone, Copy)]
pub struct RestoreInfo<'a> {
    /// The room id.
    pub room_id: &'a str,
    /// The room type.
    pub room_type: &'a str,
    /// The options the room was created with.
    pub options: &'a Value,
    /// The committed state document (an object).
    pub state: &'a Value,
    /// The clients in the room, in join order.
    pub clients: &'a [Client],
    /// Host time in milliseconds since the Unix epoch.
    pub now_ms: u64,
}

/// The game logic of one room type.
///
/// The host calls one hook at a time. Each hook gets a [`Ctx`] to read and write
/// the state, send messages and ask for lock, metadata or close. Everything a hook
/// does is committed together when it returns `Ok`, and discarded together when it
/// returns `Err` or panics.
///
/// # State and private data
///
/// The state document is the truth: clients see it, the host keeps it, and it is
/// all that survives a failure. When a hook fails the host throws the instance away
/// and a fresh one is rebuilt with [`Room::restore`] from the committed state and
/// the current clients (the SDK does the same for a hook that returns `Err`). Any
/// field of `Self` must therefore be *derivable* from the state, the clients and the
/// options; keep caches, not facts, in `Self`. A room with no private data is a unit
/// struct whose `restore` is `Ok(Self)`.
///
/// # Defaults
///
/// `create` and `restore` are required. By default a join is accepted, a leave and
/// a tick do nothing, and a message of any type is answered with an `error`
/// message to its sender (the room has not said it handles that type).
///
/// # Hot messages
///
/// A message's `data` arrives encoded; [`Room::message_data`] decodes it into a
/// JSON value for [`Room::message`]. A room with a frequent message (movement,
/// aim) overrides `message_data` to decode only the fields it needs with
/// [`Data::decode`], skipping the JSON tree.
pub trait Room: Sized + 'static {
    /// The room is being created with these `options` (from the request that
    /// created it). Write the initial state (the document starts as `{}`) and
    /// return the room and its [`Settings`]. An `Err` fails the creation.
    fn create(ctx: &mut Ctx<'_>, options: &Value) -> Result<(Self, Settings)>;

    /// Rebuilds the room from the committed state after the host replaced the
    /// instance (or after a hook returned `Err`). Cannot write: the state is
    /// already what the host has.
    fn restore(info: &RestoreInfo<'_>) -> Result<Self>;

    /// A client asks to join, with the `options` of its join request. The host has
    /// already checked seats and the lock. On [`Join::Accept`] the client is in the
    /// room (and in [`Ctx::clients`]) when the hook's output is committed.
    fn join(&mut self, ctx: &mut Ctx<'_>, client: &Client, options: &Value) -> Result<Join> {
        let _ = (ctx, client, options);
        Ok(Join::Accept)
    }

    /// A client left: `consented` when it asked to, `false` when its session
    /// expired or the server removed it. It is no longer in [`Ctx::clients`] and
    /// no longer receives messages.
    fn leave(&mut self, ctx: &mut Ctx<'_>, client: &Client, consented: bool) -> Result {
        let _ = (ctx, client, consented);
        Ok(())
    }

    /// A `room.message` from `client` with its `type` (`kind`) and `data`
    /// (`null` when absent), called by the default [`Room::message_data`].
    fn message(&mut self, ctx: &mut Ctx<'_>, client: &Client, kind: &str, data: &Value) -> Result {
        let _ = data;
        ctx.reply_unknown_type(client, kind);
        Ok(())
    }

    /// A `room.message` from `client` with its `data` still encoded: the hook
    /// the SDK calls. By default it decodes `data` into a JSON value and calls
    /// [`Room::message`]. Override it on a hot path to decode only what the room
    /// needs, into its own type ([`Data::decode`]), and keep `message` for the
    /// rest (call it with [`Data::to_value`] for anything the fast path does not
    /// handle).
    fn message_data(
        &mut self,
        ctx: &mut Ctx<'_>,
        client: &Client,
        kind: &str,
        data: Data<'_>,
    ) -> Result {
        let data = data.to_value()?;
        self.message(ctx, client, kind, &data)
    }

    /// A `room.message.bytes` from `client`: its `type` and decoded payload.
    fn message_bytes(
        &mut self,
        ctx: &mut Ctx<'_>,
        client: &Client,
        kind: &str,
        bytes: &[u8],
    ) -> Result {
        let _ = bytes;
        ctx.reply_unknown_type(client, kind);
        Ok(())
    }

    /// A tick of a room whose settings ask for ticks: `dt_ms` milliseconds since
    /// the previous tick (also in [`Ctx::dt_ms`]).
    fn tick(&mut self, ctx: &mut Ctx<'_>, dt_ms: u64) -> Result {
        let _ = (ctx, dt_ms);
        Ok(())
    }

    /// The room is going away (closed, empty, or the server drains). Last chance
    /// to send a message; state writes are pointless but harmless.
    fn dispose(&mut self, ctx: &mut Ctx<'_>) -> Result {
        let _ = ctx;
        Ok(())
    }
}
