//! [`PluginRegistry`]: every `<room_type>.wasm` of a directory, loaded at once.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::PluginError;
use crate::host::{Plugin, PluginHost};

/// Whether `s` is a usable room type: 1 to 128 of `[A-Za-z0-9._:-]`, the room
/// id alphabet of PROTOCOL.md §5.
pub fn is_valid_room_type(s: &str) -> bool {
    (1..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// The loaded plugins, by room type.
#[derive(Debug, Clone, Default)]
pub struct PluginRegistry {
    plugins: BTreeMap<String, Plugin>,
}

impl PluginRegistry {
    /// Loads every `*.wasm` file directly in `dir`; the room type is the file
    /// stem. Fails on the first unreadable, invalid or misnamed plugin, so a bad
    /// deployment is noticed at start rather than when a client asks for it.
    pub fn load_dir(host: &PluginHost, dir: &Path) -> Result<Self, PluginError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| PluginError::Io { path, source }
        };
        let mut files: Vec<PathBuf> = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io(dir))? {
            let path = entry.map_err(io(dir))?.path();
            if path.extension().is_some_and(|e| e == "wasm") && path.is_file() {
                files.push(path);
            }
        }
        files.sort();
        let mut registry = Self::default();
        for path in files {
            let room_type = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            if !is_valid_room_type(&room_type) {
                return Err(PluginError::BadRoomType { path, room_type });
            }
            let plugin = host.load_file(&room_type, &path)?;
            registry.plugins.insert(room_type, plugin);
        }
        Ok(registry)
    }

    /// Adds (or replaces) a plugin under its room type.
    pub fn insert(&mut self, plugin: Plugin) {
        self.plugins.insert(plugin.room_type().to_string(), plugin);
    }

    /// The plugin of `room_type`.
    pub fn get(&self, room_type: &str) -> Option<&Plugin> {
        self.plugins.get(room_type)
    }

    /// Room types, sorted.
    pub fn room_types(&self) -> impl Iterator<Item = &str> {
        self.plugins.keys().map(String::as_str)
    }

    /// Number of plugins.
    pub fn len(&self) -> usize {
        self.plugins.len()
    }

    /// True when no plugin is loaded.
    pub fn is_empty(&self) -> bool {
        self.plugins.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_type_alphabet() {
        for ok in ["counter", "arena", "tic-tac.toe:v2_1", "a"] {
            assert!(is_valid_room_type(ok), "{ok}");
        }
        let long = "x".repeat(129);
        for bad in ["", "has space", "é", "a/b", long.as_str()] {
            assert!(!is_valid_room_type(bad), "{bad}");
        }
    }
}
