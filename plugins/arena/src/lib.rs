//! The `arena` reference room (PROTOCOL.md §11): players moving on a plane.
//!
//! - `max_clients` 8, or `options.max_clients` (an integer ≥ 1) of the request that
//!   created the room; 20 ticks per second; `move` is declared unreliable; a
//!   room made by the matchmaker is backfilled (a freed seat goes to the next
//!   compatible ticket).
//! - State: `{ "players": { SESSION_ID: { "x": 0, "y": 0 } } }`; a player is added
//!   at the origin on join and removed on leave.
//! - `room.message` `move` `{ x, y }` sets the sender's position. Both must be
//!   numbers (stored as sent); a coordinate equal to the current one is not
//!   rewritten, so an unchanged position makes no op. An invalid `move`, or a
//!   message of another type, changes nothing and answers the sender with
//!   `room.message` `error` `{ reason }`.
//!
//! The room ticks so that each tick's moves go out as one patch; the tick hook
//! itself has nothing to do. It keeps nothing outside the state.
//!
//! ```
//! use arbiter_plugin_arena::Arena;
//! use arbiter_plugin_sdk::testing::Harness;
//! use serde_json::json;
//!
//! let mut room = Harness::<Arena>::create(json!({})).unwrap();
//! room.join("s_a").unwrap();
//! room.message("s_a", "move", json!({ "x": 3.5, "y": -1 })).unwrap();
//! assert_eq!(room.state(), &json!({ "players": { "s_a": { "x": 3.5, "y": -1 } } }));
//! ```

#![deny(unsafe_code)]

use arbiter_plugin_sdk::{
    Client, Ctx, Data, Error, Join, RestoreInfo, Result, Room, Settings, export_room, pointer,
};
use serde::de::{Deserialize, Deserializer, Error as _, IgnoredAny, MapAccess, Visitor};
use serde_json::{Number, Value, json};

/// Seats when the creating request gives no `options.max_clients`.
pub const DEFAULT_MAX_CLIENTS: u32 = 8;

/// Ticks per second.
pub const TICK_RATE: u32 = 20;

/// The `arena` room. Stateless besides the document.
#[derive(Debug, Default)]
pub struct Arena;

impl Room for Arena {
    fn create(ctx: &mut Ctx<'_>, options: &Value) -> Result<(Self, Settings)> {
        let max_clients = max_clients(options).map_err(Error::from)?;
        ctx.state().set("/players", json!({}))?;
        let settings = Settings {
            max_clients,
            tick_rate: TICK_RATE,
            unreliable: vec!["move".to_owned()],
            backfill: true,
            ..Settings::default()
        };
        Ok((Arena, settings))
    }

    fn restore(_info: &RestoreInfo<'_>) -> Result<Self> {
        Ok(Arena)
    }

    fn join(&mut self, ctx: &mut Ctx<'_>, client: &Client, _options: &Value) -> Result<Join> {
        let path = pointer!("players", client.session_id);
        ctx.state().set(path, json!({ "x": 0, "y": 0 }))?;
        Ok(Join::Accept)
    }

    fn leave(&mut self, ctx: &mut Ctx<'_>, client: &Client, _consented: bool) -> Result {
        let path = pointer!("players", client.session_id);
        if ctx.state().contains(&path) {
            ctx.state().del(path)?;
        }
        Ok(())
    }

    fn message(&mut self, ctx: &mut Ctx<'_>, client: &Client, kind: &str, data: &Value) -> Result {
        if kind != "move" {
            let reason = format!("unknown message type `{kind}`: the arena room handles `move`");
            ctx.send_error(&client.session_id, reason);
            return Ok(());
        }
        match parse_move(data) {
            Ok((x, y)) => place(ctx, client, x, y),
            Err(reason) => {
                ctx.send_error(&client.session_id, reason);
                Ok(())
            }
        }
    }

    /// The hot path: a well-formed `move` is read straight from the encoded data
    /// (only `x` and `y`; no JSON tree). Anything else goes through
    /// [`Room::message`], which explains what is wrong.
    fn message_data(
        &mut self,
        ctx: &mut Ctx<'_>,
        client: &Client,
        kind: &str,
        data: Data<'_>,
    ) -> Result {
        if kind == "move"
            && let Ok(Move { x, y }) = data.decode()
        {
            return place(ctx, client, &Value::Number(x), &Value::Number(y));
        }
        self.message(ctx, client, kind, &data.to_value()?)
    }
}

/// Moves the sender's player to `(x, y)`, writing only the coordinates that
/// change.
fn place(ctx: &mut Ctx<'_>, client: &Client, x: &Value, y: &Value) -> Result {
    let player = pointer!("players", client.session_id);
    let Some(current) = ctx.state().get(&player) else {
        ctx.send_error(&client.session_id, "you have no player in this arena");
        return Ok(());
    };
    let changed = [current.get("x") != Some(x), current.get("y") != Some(y)];
    for ((axis, value), changed) in [("x", x), ("y", y)].into_iter().zip(changed) {
        if changed {
            let path = pointer!("players", client.session_id, axis);
            ctx.state().set(path, value.clone())?;
        }
    }
    Ok(())
}

/// The `x` and `y` of a `move` whose data is an object with two numbers, as
/// sent (integer or float). Only a map is accepted (not an array of two, which
/// a derived `Deserialize` would take); other keys are skipped unread; a
/// repeated key keeps its last value, as in a JSON object.
#[derive(Debug, PartialEq)]
struct Move {
    x: Number,
    y: Number,
}

impl<'de> Deserialize<'de> for Move {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct MoveVisitor;
        impl<'de> Visitor<'de> for MoveVisitor {
            type Value = Move;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object with numbers `x` and `y`")
            }

            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Move, A::Error> {
                let (mut x, mut y) = (None, None);
                while let Some(key) = map.next_key::<&'de str>()? {
                    match key {
                        "x" => x = Some(map.next_value::<Number>()?),
                        "y" => y = Some(map.next_value::<Number>()?),
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                match (x, y) {
                    (Some(x), Some(y)) => Ok(Move { x, y }),
                    _ => Err(A::Error::custom("`move` needs `x` and `y`")),
                }
            }
        }
        deserializer.deserialize_map(MoveVisitor)
    }
}

/// `options.max_clients`, or the default. Options that are not an object (or
/// absent) mean the default.
fn max_clients(options: &Value) -> std::result::Result<u32, String> {
    match options.get("max_clients") {
        None | Some(Value::Null) => Ok(DEFAULT_MAX_CLIENTS),
        Some(v) => v
            .as_u64()
            .filter(|&n| n >= 1)
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| {
                format!(
                    "options.max_clients must be an integer from 1 to {}, not {v}",
                    u32::MAX
                )
            }),
    }
}

/// The `x` and `y` of a `move`, or why it is refused.
fn parse_move(data: &Value) -> std::result::Result<(&Value, &Value), String> {
    let Value::Object(map) = data else {
        return Err(format!(
            "`move` data must be an object like {{\"x\": 0, \"y\": 0}}, not {data}"
        ));
    };
    let coordinate = |axis: &str| match map.get(axis) {
        Some(v) if v.is_number() => Ok(v),
        Some(v) => Err(format!("`{axis}` must be a number, not {v}")),
        None => Err(format!("`move` needs `{axis}`")),
    };
    Ok((coordinate("x")?, coordinate("y")?))
}

export_room!(Arena);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_clients_option() {
        assert_eq!(max_clients(&Value::Null), Ok(8));
        assert_eq!(max_clients(&json!({})), Ok(8));
        assert_eq!(max_clients(&json!({"max_clients": null})), Ok(8));
        assert_eq!(max_clients(&json!({"max_clients": 2})), Ok(2));
        assert_eq!(max_clients(&json!("x")), Ok(8));
        for bad in [json!(0), json!(-1), json!(2.5), json!("4"), json!(u64::MAX)] {
            assert!(
                max_clients(&json!({ "max_clients": bad })).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn move_parsing() {
        let data = json!({"x": 1, "y": 2.5});
        assert_eq!(parse_move(&data), Ok((&json!(1), &json!(2.5))));
        for bad in [
            json!({"x": 1}),
            json!({"y": 1}),
            json!({"x": "1", "y": 2}),
            json!({"x": 1, "y": null}),
            json!([1, 2]),
            Value::Null,
        ] {
            assert!(parse_move(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_fast_path_takes_exactly_the_valid_moves() {
        for data in [
            json!({"x": 1, "y": 2.5}),
            json!({"y": -3, "x": 1e300, "seq": 9, "facing": "n", "deep": [{"a": null}]}),
            json!({"x": u64::MAX, "y": i64::MIN}),
            json!({"x": 1}),
            json!({"x": "1", "y": 2}),
            json!({"x": 1, "y": null}),
            json!({"x": [1], "y": 2}),
            json!([1, 2]),
            json!("move"),
            Value::Null,
        ] {
            let raw = rmp_serde::to_vec_named(&data).unwrap();
            let fast = Data::from_msgpack(&raw).decode::<Move>().ok();
            let slow = parse_move(&data).ok();
            let fast = fast.map(|m| (Value::Number(m.x), Value::Number(m.y)));
            let slow = slow.map(|(x, y)| (x.clone(), y.clone()));
            assert_eq!(fast, slow, "{data}");
        }
    }
}
