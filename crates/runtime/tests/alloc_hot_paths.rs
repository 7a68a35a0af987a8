//! Allocation regression tests for the hot paths (issue 8): an idle arena
//! room's tick allocates nothing, and fanning a patch out costs the same
//! allocations for 8 members as for 64 (nothing per recipient).
//!
//! A counting global allocator counts this thread's allocations between two
//! points; the rooms run the real `arena` plugin from `target/plugins`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use arbiter_plugin_host::{HostConfig, PluginHost};
use arbiter_protocol::{RoomId, SessionId};
use arbiter_room::{JoinRequest, MessageBody, Output, Room, RoomConfig, RoomInit};
use arbiter_runtime::{Metrics, Outbox, PluginLogic};
use serde_json::{Value, json};

struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocs() -> u64 {
    ALLOCS.with(Cell::get)
}

fn target() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target")
}

fn arena(members: usize) -> (Room<PluginLogic>, HashMap<SessionId, (Outbox, u64)>) {
    let host = PluginHost::new(HostConfig {
        cache_dir: Some(target().join("plugin-cache")),
        ..HostConfig::default()
    })
    .unwrap();
    let path = target().join("plugins/arena.wasm");
    assert!(path.is_file(), "run `cargo xtask plugins` first");
    let plugin = host.load_file("arena", &path).unwrap();
    let logic = PluginLogic::new(
        plugin.instantiate("a-1", 7).unwrap(),
        "arena",
        Arc::new(Metrics::new()),
    );
    let init = RoomInit {
        id: RoomId::new("a-1").unwrap(),
        room_type: "arena".into(),
        options: json!({ "max_clients": 100 }),
        now_ms: 0,
    };
    let mut room = Room::create(init, logic, RoomConfig::default()).unwrap();
    let mut links = HashMap::new();
    for i in 0..members {
        let s = SessionId::new(format!("s_{i:03}")).unwrap();
        let outbox = Outbox::new(10_000);
        let epoch = outbox.reopen();
        links.insert(s.clone(), (outbox, epoch));
        room.join(
            JoinRequest {
                session: s.clone(),
                user_id: s.as_str().to_owned(),
                options: Value::Null,
                rid: None,
                created: false,
            },
            0,
        );
    }
    room.drain_output().count();
    // `host` may go: the plugin keeps the engine alive.
    drop(host);
    (room, links)
}

fn deliver(room: &mut Room<PluginLogic>, links: &HashMap<SessionId, (Outbox, u64)>) {
    for output in room.drain_output() {
        if let Output::Send {
            to,
            frame,
            delivery,
        } = output
            && let Some((outbox, epoch)) = links.get(&to)
        {
            outbox.push(*epoch, frame, delivery);
        }
    }
}

#[test]
fn idle_arena_tick_allocates_nothing() {
    let (mut room, links) = arena(8);
    for t in 1..=20 {
        room.tick(t * 50);
        deliver(&mut room, &links);
    }
    let before = allocs();
    for t in 21..=120 {
        room.tick(t * 50);
        deliver(&mut room, &links);
    }
    let during = allocs() - before;
    assert_eq!(
        during, 0,
        "100 idle ticks of an 8-player arena allocated {during} times"
    );
}

/// Allocations of one tick in which the same 4 players moved, in a room of
/// `members` members.
fn moving_tick_allocs(members: usize) -> u64 {
    let (mut room, mut links) = arena(members);
    let mut movers: Vec<SessionId> = links.keys().cloned().collect();
    movers.sort();
    movers.truncate(4);
    let mut measured = 0;
    for t in 1..=30u64 {
        for (i, s) in movers.iter().enumerate() {
            let body = MessageBody::Json(json!({ "x": t as f64 + i as f64, "y": 1.5 }));
            room.message(s, None, "move".to_owned(), body, t * 50);
        }
        // Empty the queues, keeping their capacity, as writers would.
        for (outbox, epoch) in links.values_mut() {
            *epoch = outbox.reopen();
        }
        let before = allocs();
        room.tick(t * 50);
        deliver(&mut room, &links);
        measured = allocs() - before;
    }
    measured
}

#[test]
fn fan_out_allocates_nothing_per_recipient() {
    let small = moving_tick_allocs(8);
    let large = moving_tick_allocs(64);
    assert!(small > 0, "a tick with moves builds a patch");
    assert_eq!(
        small, large,
        "a tick's allocations grew with the number of recipients"
    );
}
