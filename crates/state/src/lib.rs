//! The authoritative state document of a room and the operations that change it.
//!
//! Every room holds one JSON document whose root is an object (PROTOCOL.md §6).
//! The server never ships the whole document after the first snapshot: each tick
//! it sends the *ops* that changed it, and a checksum that lets every replica
//! prove it holds the same bytes. This crate is that vocabulary, shared by the
//! server, the plugin SDK and the clients. It is sans-IO and never panics on input.
//!
//! | need | use |
//! |---|---|
//! | one change, as on the wire | [`PatchOp`] (`{"op":"set","path":…,"value":…}` / `{"op":"del","path":…}`) |
//! | apply a patch, all or nothing | [`apply`], [`apply_one`], [`StateDoc::apply`] |
//! | the patch between two states | [`diff`], [`diff_into`] |
//! | the checksum of a state | [`checksum`] → [`Checksum`] (16 lowercase hex digits) |
//! | the bytes the checksum hashes | [`canonical_json`], [`write_canonical`] (RFC 8785) |
//! | build or read a path | [`pointer::PointerBuf`], [`pointer::Pointer`] (RFC 6901) |
//! | a document that is an object by type | [`StateDoc`] |
//!
//! # Example: one tick of a room, server and replica
//!
//! ```
//! use arbiter_state::{apply, checksum, diff, Checksum, PatchOp, StateDoc};
//! use serde_json::json;
//!
//! // The server's state before and after a tick.
//! let before = json!({ "players": { "s_ab": { "x": 0, "y": 0 }, "s_cd": { "x": 5, "y": 5 } } });
//! let after = json!({ "players": { "s_ab": { "x": 3.5, "y": 0 } } });
//!
//! // Only what changed travels: one leaf and one removed player.
//! let ops = diff(&before, &after);
//! assert_eq!(ops, [
//!     PatchOp::set("/players/s_ab/x", json!(3.5)),
//!     PatchOp::del("/players/s_cd"),
//! ]);
//! let sent: Checksum = checksum(&after);
//!
//! // A client replica applies the patch and verifies the checksum.
//! let mut replica = StateDoc::try_from(before).unwrap();
//! replica.apply(&ops).unwrap();
//! assert_eq!(replica.checksum(), sent);
//! assert_eq!(sent.to_string().len(), 16);
//!
//! // A bad patch changes nothing and says which op failed and why.
//! let bad = [PatchOp::set("/players/s_ef", json!({})), PatchOp::del("/nobody/x")];
//! let err = replica.apply(&bad).unwrap_err();
//! assert_eq!(err.index, 1);
//! assert_eq!(replica.checksum(), sent);
//! ```
//!
//! # Semantics in short
//!
//! - `set` creates or replaces the value at `path`; its parent must exist. On an
//!   array the last token is an existing index (replace) or `-` (append).
//! - `del` removes an object key or an array element (later elements shift down);
//!   the target must exist.
//! - The root stays an object: `set ""` takes only an object, `del ""` is refused.
//! - [`diff`] recurses into objects and arrays, so a deep change is one leaf op.
//! - [`checksum`] is xxHash64 (seed 0) of the JCS canonical JSON; numbers are IEEE
//!   doubles printed as JavaScript does, keys sort by UTF-16 code units.
//!
//! `docs/state-sync.md` explains all of this for client authors, with a worked
//! example and independent Python and JavaScript implementations of the checksum.
//!
//! Documents are walked recursively; `serde_json` limits parsed input to 128
//! levels of nesting, far below what the stack allows.

pub use serde_json::Value;

mod apply;
mod canonical;
mod checksum;
mod compact;
mod diff;
mod doc;
mod error;
mod op;
pub mod pointer;

pub use apply::{apply, apply_one};
pub use canonical::{canonical_json, canonical_len, utf16_cmp, write_canonical};
pub use checksum::{Checksum, checksum, checksum_and_len};
pub use compact::compact;
pub use diff::{diff, diff_into};
pub use doc::StateDoc;
pub use error::{ApplyError, ApplyErrorKind, ChecksumParseError, NotAnObject, PointerError};
pub use op::PatchOp;
