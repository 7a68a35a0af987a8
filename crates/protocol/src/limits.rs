//! Decoding limits: what turns hostile input into an error instead of a panic,
//! a deep recursion or a huge allocation.

/// Bounds applied to every frame before (and while) it is deserialized.
///
/// Both codecs are pre-scanned against these bounds in one cheap pass before any
/// value is built, so a frame that breaks one costs at most one scan of its
/// bytes. A frame above `max_frame_bytes` is `protocol.too_large`; any other
/// breach is `protocol.bad_frame`.
///
/// [`Limits::default`] is what a server applies to client frames (PROTOCOL.md
/// §9: 64 KiB frames). Clients decoding server frames use
/// [`Limits::for_server_frames`], which allows large `state.snapshot`s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest encoded frame, in bytes.
    pub max_frame_bytes: usize,
    /// Deepest nesting of maps/arrays, counting the envelope itself as 1 (so
    /// `p` is at depth 2). Capped at [`Limits::MAX_DEPTH`].
    pub max_depth: usize,
    /// Longest string (map keys included), in encoded bytes: for JSON the bytes
    /// between the quotes, escapes included.
    pub max_string_bytes: usize,
    /// Most entries in one map (key/value pairs) or array (elements).
    pub max_entries: usize,
}

impl Limits {
    /// Hard ceiling of [`Limits::max_depth`]; larger settings are treated as
    /// this. It keeps every decoder's recursion well inside the stack (the JSON
    /// parser has its own limit of 128 as well).
    pub const MAX_DEPTH: usize = 100;

    /// Limits for decoding frames a server sends: 16 MiB frames, depth 100,
    /// 16 MiB strings, a million entries per container.
    pub const fn for_server_frames() -> Limits {
        Limits {
            max_frame_bytes: 16 << 20,
            max_depth: Limits::MAX_DEPTH,
            max_string_bytes: 16 << 20,
            max_entries: 1 << 20,
        }
    }

    /// The depth limit actually applied: `max_depth` capped at
    /// [`Limits::MAX_DEPTH`].
    pub const fn effective_depth(&self) -> usize {
        if self.max_depth < Limits::MAX_DEPTH {
            self.max_depth
        } else {
            Limits::MAX_DEPTH
        }
    }
}

impl Default for Limits {
    /// Limits for frames a client sends: 64 KiB frames, depth 32, strings of
    /// 32 KiB, 4,096 entries per map or array.
    fn default() -> Limits {
        Limits {
            max_frame_bytes: 64 << 10,
            max_depth: 32,
            max_string_bytes: 32 << 10,
            max_entries: 4096,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_is_capped() {
        let mut limits = Limits::default();
        assert_eq!(limits.effective_depth(), 32);
        limits.max_depth = 10_000;
        assert_eq!(limits.effective_depth(), Limits::MAX_DEPTH);
        assert_eq!(Limits::for_server_frames().effective_depth(), 100);
    }
}
