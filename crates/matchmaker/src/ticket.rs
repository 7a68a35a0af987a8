//! Enqueue requests, their validation, and the stored ticket.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use arbiter_protocol::{Enqueue, SessionId, TicketId};
use rand::Rng as _;
use rand::distr::Alphanumeric;
use serde_json::{Map, Value};

use crate::MatchmakerError;

/// The largest match size accepted, whatever the room type's limit.
pub const MAX_MATCH_SIZE: u32 = 1000;
/// The longest `room_type` or `party` id, in bytes.
pub const MAX_NAME_LEN: usize = 128;
/// The most properties one ticket may carry.
pub const MAX_PROPERTIES: usize = 16;
/// The longest property key, in bytes.
pub const MAX_PROPERTY_KEY_LEN: usize = 64;
/// The longest string property value, in bytes.
pub const MAX_PROPERTY_VALUE_LEN: usize = 256;
/// The one property that may be a number: the player's skill rating.
pub const SKILL_PROPERTY: &str = "skill";

/// One `matchmaking.enqueue`, with what the runtime knows about the session
/// and the room type.
#[derive(Debug, Clone, PartialEq)]
pub struct EnqueueRequest {
    /// The session's project; queues of different projects never mix.
    pub project: Arc<str>,
    /// The session asking to play.
    pub session: SessionId,
    /// The room type to match for.
    pub room_type: String,
    /// Players per match.
    pub size: u32,
    /// The room type's `max_clients`, `None` when unlimited; `size` may not
    /// exceed it.
    pub max_clients: Option<u32>,
    /// Matching properties: string values must be equal, `skill` is a number
    /// matched within a window.
    pub properties: Option<Map<String, Value>>,
    /// A party id: tickets with the same party id land in the same match.
    pub party: Option<String>,
}

impl EnqueueRequest {
    /// Builds a request from a decoded `matchmaking.enqueue` payload.
    pub fn from_wire(
        project: Arc<str>,
        session: SessionId,
        payload: Enqueue,
        max_clients: Option<u32>,
    ) -> Self {
        EnqueueRequest {
            project,
            session,
            room_type: payload.room_type,
            size: payload.size,
            max_clients,
            properties: payload.properties,
            party: payload.party,
        }
    }
}

/// Which queue a ticket waits in: only tickets of the same queue can be
/// matched together (same project, room type, size and string properties).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QueueKey {
    /// The project.
    pub project: Arc<str>,
    /// The room type.
    pub room_type: Arc<str>,
    /// Players per match.
    pub size: u32,
    /// The string properties, sorted by key.
    pub properties: Arc<BTreeMap<String, String>>,
}

/// A queued ticket, as stored by a [`Backend`](crate::Backend).
#[derive(Debug, Clone, PartialEq)]
pub struct Ticket {
    /// The ticket id, given back to the client.
    pub id: TicketId,
    /// The queue it waits in.
    pub key: QueueKey,
    /// The session that queued it.
    pub session: SessionId,
    /// The numeric `skill` property, if any.
    pub skill: Option<f64>,
    /// The party id, if any.
    pub party: Option<String>,
    /// When it was queued.
    pub enqueued_at: Instant,
    /// When it times out.
    pub expires_at: Instant,
    /// The global enqueue order, the tie-breaker for fairness.
    pub seq: u64,
}

/// The validated content of an [`EnqueueRequest`].
#[derive(Debug)]
pub(crate) struct Validated {
    pub(crate) properties: BTreeMap<String, String>,
    pub(crate) skill: Option<f64>,
}

/// Checks a request against the matching rules; the error text says what to fix.
pub(crate) fn validate(req: &EnqueueRequest) -> Result<Validated, MatchmakerError> {
    let invalid = |s: String| Err(MatchmakerError::Invalid(s));
    if req.room_type.is_empty() {
        return invalid("matchmaking.enqueue: room_type must not be empty".into());
    }
    if req.room_type.len() > MAX_NAME_LEN {
        return invalid(format!(
            "matchmaking.enqueue: room_type is longer than {MAX_NAME_LEN} bytes"
        ));
    }
    let limit = req
        .max_clients
        .unwrap_or(MAX_MATCH_SIZE)
        .min(MAX_MATCH_SIZE);
    if req.size == 0 || req.size > limit {
        return invalid(format!(
            "matchmaking.enqueue: size {} is out of range; room type {:?} allows 1 to {limit}",
            req.size, req.room_type
        ));
    }
    if let Some(party) = &req.party
        && (party.is_empty() || party.len() > MAX_NAME_LEN)
    {
        return invalid(format!(
            "matchmaking.enqueue: party must be 1 to {MAX_NAME_LEN} bytes"
        ));
    }
    match &req.properties {
        Some(props) => validate_properties(props),
        None => Ok(Validated {
            properties: BTreeMap::new(),
            skill: None,
        }),
    }
}

/// String values are equality constraints; `skill` is the one number.
fn validate_properties(props: &Map<String, Value>) -> Result<Validated, MatchmakerError> {
    let invalid = |s: String| Err(MatchmakerError::Invalid(s));
    if props.len() > MAX_PROPERTIES {
        return invalid(format!(
            "matchmaking.enqueue: at most {MAX_PROPERTIES} properties are allowed, got {}",
            props.len()
        ));
    }
    let mut strings = BTreeMap::new();
    let mut skill = None;
    for (key, value) in props {
        if key.is_empty() || key.len() > MAX_PROPERTY_KEY_LEN {
            return invalid(format!(
                "matchmaking.enqueue: property keys must be 1 to {MAX_PROPERTY_KEY_LEN} bytes"
            ));
        }
        match value {
            Value::String(s) if key != SKILL_PROPERTY => {
                if s.len() > MAX_PROPERTY_VALUE_LEN {
                    return invalid(format!(
                        "matchmaking.enqueue: property {key:?} is longer than {MAX_PROPERTY_VALUE_LEN} bytes"
                    ));
                }
                strings.insert(key.clone(), s.clone());
            }
            Value::Number(n) if key == SKILL_PROPERTY => match n.as_f64() {
                Some(x) if x.is_finite() => skill = Some(x),
                _ => return invalid("matchmaking.enqueue: skill must be a finite number".into()),
            },
            _ if key == SKILL_PROPERTY => {
                return invalid("matchmaking.enqueue: property \"skill\" must be a number".into());
            }
            other => {
                return invalid(format!(
                    "matchmaking.enqueue: property {key:?} is {}; only strings (matched by equality) \
                     and the number \"skill\" are supported",
                    kind(other)
                ));
            }
        }
    }
    Ok(Validated {
        properties: strings,
        skill,
    })
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A new ticket id: `t_` and 20 random base62 characters.
pub(crate) fn new_ticket_id() -> TicketId {
    let rng = rand::rng();
    let suffix: String = rng
        .sample_iter(Alphanumeric)
        .take(20)
        .map(char::from)
        .collect();
    // The alphabet and length are always a valid id; fall back to a fixed
    // prefix rather than panic if that ever changes.
    TicketId::new(format!("t_{suffix}")).unwrap_or_else(|_| fallback_id())
}

fn fallback_id() -> TicketId {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    TicketId::new(format!("t_fallback_{n}")).unwrap_or_else(|_| fallback_id())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arbiter_protocol::ErrorCode;
    use serde_json::json;

    fn req(size: u32, props: Value) -> EnqueueRequest {
        EnqueueRequest {
            project: "p".into(),
            session: SessionId::new("s_1").expect("valid"),
            room_type: "arena".into(),
            size,
            max_clients: Some(8),
            properties: props.as_object().cloned(),
            party: None,
        }
    }

    #[test]
    fn accepts_strings_and_numeric_skill() {
        let v = validate(&req(4, json!({"region": "eu", "skill": 1200.5}))).expect("valid");
        assert_eq!(v.skill, Some(1200.5));
        assert_eq!(v.properties.get("region").map(String::as_str), Some("eu"));
    }

    #[test]
    fn rejects_bad_fields_with_invalid() {
        let cases = [
            req(0, json!({})),
            req(9, json!({})),
            req(4, json!({"skill": "high"})),
            req(4, json!({"level": 3})),
            req(4, json!({"ranked": true})),
            req(4, json!({"tags": ["a"]})),
            req(4, json!({"": "x"})),
        ];
        for r in cases {
            let err = validate(&r).expect_err("invalid");
            assert_eq!(err.code(), ErrorCode::MatchmakingInvalid, "{err}");
        }
        let mut r = req(4, json!({}));
        r.room_type.clear();
        assert!(validate(&r).is_err());
        let mut r = req(1001, json!({}));
        r.max_clients = None;
        assert!(validate(&r).is_err());
    }

    #[test]
    fn ticket_ids_are_valid_and_distinct() {
        let a = new_ticket_id();
        let b = new_ticket_id();
        assert_ne!(a, b);
        assert!(a.as_str().starts_with("t_"));
        assert_eq!(a.as_str().len(), 22);
    }
}
