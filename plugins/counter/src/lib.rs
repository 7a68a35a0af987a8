//! The `counter` reference room (PROTOCOL.md §11): one shared integer.
//!
//! - Event-driven (tick rate 0), no client limit.
//! - State: `{ "counter": 0 }`.
//! - `room.message` `inc` `{ by }` adds `by` to the counter. `by` defaults to 1 when
//!   the data is absent, `null`, or an object without `by`. It must be an integer
//!   *as encoded* (a JSON number without fraction or exponent, a MessagePack int):
//!   `2.0`, `"2"`, `null`, `true` are refused.
//! - The counter stays within JavaScript's safe integers (±(2^53 − 1)), so every
//!   client reads it exactly; an `inc` that would leave that range is refused.
//! - A refused `inc`, or a message of another type, changes nothing and answers the
//!   sender with `room.message` `error` `{ reason }`.
//!
//! The room keeps nothing outside the state, so restoring it is trivial.
//!
//! ```
//! use arbiter_plugin_counter::Counter;
//! use arbiter_plugin_sdk::testing::Harness;
//! use serde_json::json;
//!
//! let mut room = Harness::<Counter>::create(json!({})).unwrap();
//! room.join("s_a").unwrap();
//! room.message("s_a", "inc", json!({ "by": 5 })).unwrap();
//! assert_eq!(room.state(), &json!({ "counter": 5 }));
//! ```

#![deny(unsafe_code)]

use arbiter_plugin_sdk::{Client, Ctx, Data, RestoreInfo, Result, Room, Settings, export_room};
use serde::de::{Deserialize, Deserializer, Error as _, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;

/// Largest magnitude the counter may reach: 2^53 − 1, exact in every client.
pub const MAX_COUNTER: i64 = (1 << 53) - 1;

const COUNTER: &str = "/counter";

/// The `counter` room. Stateless besides the document.
#[derive(Debug, Default)]
pub struct Counter;

impl Room for Counter {
    fn create(ctx: &mut Ctx<'_>, _options: &Value) -> Result<(Self, Settings)> {
        ctx.state().set(COUNTER, 0)?;
        let settings = Settings {
            max_clients: 0,
            tick_rate: 0,
            ..Settings::default()
        };
        Ok((Counter, settings))
    }

    fn restore(_info: &RestoreInfo<'_>) -> Result<Self> {
        Ok(Counter)
    }

    /// The hot path: an `inc` whose data is a map with an integer `by` is read
    /// straight from the encoded data; anything else (no `by`, a refused
    /// value) goes through [`Room::message`], which applies every rule.
    fn message_data(
        &mut self,
        ctx: &mut Ctx<'_>,
        client: &Client,
        kind: &str,
        data: Data<'_>,
    ) -> Result {
        if kind == "inc"
            && let Ok(Inc { by }) = data.decode()
        {
            let current: i64 = ctx.state().get_as(COUNTER)?;
            return match add(current, by) {
                Ok(next) => ctx.state().set(COUNTER, next),
                Err(reason) => {
                    ctx.send_error(&client.session_id, reason);
                    Ok(())
                }
            };
        }
        self.message(ctx, client, kind, &data.to_value()?)
    }

    fn message(&mut self, ctx: &mut Ctx<'_>, client: &Client, kind: &str, data: &Value) -> Result {
        if kind != "inc" {
            let reason = format!("unknown message type `{kind}`: the counter room handles `inc`");
            ctx.send_error(&client.session_id, reason);
            return Ok(());
        }
        let current: i64 = ctx.state().get_as(COUNTER)?;
        match parse_by(data).and_then(|by| add(current, by)) {
            Ok(next) => ctx.state().set(COUNTER, next),
            Err(reason) => {
                ctx.send_error(&client.session_id, reason);
                Ok(())
            }
        }
    }
}

/// The `by` of an `inc`, or why it is refused.
fn parse_by(data: &Value) -> std::result::Result<i64, String> {
    let by = match data {
        Value::Null => return Ok(1),
        Value::Object(map) => match map.get("by") {
            None => return Ok(1),
            Some(by) => by,
        },
        other => {
            return Err(format!(
                "`inc` data must be an object like {{\"by\": 1}}, not {other}"
            ));
        }
    };
    match by.as_i64() {
        Some(n) => Ok(n),
        None if by.is_u64() => Err(format!("`by` is too large: {by}")),
        None => Err(format!("`by` must be an integer, not {by}")),
    }
}

/// An `inc` with an integer `by`, as encoded (a map only; a float, string or
/// null `by` does not decode, and neither does a map without `by`).
#[derive(Debug, PartialEq)]
struct Inc {
    by: i64,
}

impl<'de> Deserialize<'de> for Inc {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct IncVisitor;
        impl<'de> Visitor<'de> for IncVisitor {
            type Value = Inc;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object with an integer `by`")
            }

            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Inc, A::Error> {
                let mut by = None;
                while let Some(key) = map.next_key::<&'de str>()? {
                    if key == "by" {
                        by = Some(map.next_value::<i64>()?);
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                by.map(|by| Inc { by })
                    .ok_or_else(|| A::Error::custom("`inc` without `by`"))
            }
        }
        deserializer.deserialize_map(IncVisitor)
    }
}

/// `current + by`, if it stays within ±[`MAX_COUNTER`].
fn add(current: i64, by: i64) -> std::result::Result<i64, String> {
    current
        .checked_add(by)
        .filter(|next| next.unsigned_abs() <= MAX_COUNTER.unsigned_abs())
        .ok_or_else(|| format!("adding {by} would take the counter beyond ±{MAX_COUNTER}"))
}

export_room!(Counter);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn by_parsing() {
        assert_eq!(parse_by(&Value::Null), Ok(1));
        assert_eq!(parse_by(&json!({})), Ok(1));
        assert_eq!(parse_by(&json!({"by": -3})), Ok(-3));
        assert_eq!(parse_by(&json!({"by": 0})), Ok(0));
        for bad in [
            json!({"by": 1.5}),
            json!({"by": 2.0}),
            json!({"by": "2"}),
            json!({"by": null}),
        ] {
            assert!(parse_by(&bad).is_err(), "{bad}");
        }
        assert!(
            parse_by(&json!({"by": u64::MAX}))
                .unwrap_err()
                .contains("too large")
        );
        assert!(parse_by(&json!([1])).is_err());
        assert!(parse_by(&json!(3)).is_err());
    }

    #[test]
    fn bounds() {
        assert_eq!(add(1, 2), Ok(3));
        assert_eq!(add(MAX_COUNTER - 1, 1), Ok(MAX_COUNTER));
        assert!(add(MAX_COUNTER, 1).is_err());
        assert!(add(-MAX_COUNTER, -1).is_err());
        assert!(add(0, i64::MIN).is_err());
        assert!(add(i64::MAX, i64::MAX).is_err());
    }
}
