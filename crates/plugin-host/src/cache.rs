//! On-disk cache of compiled modules, so a restart does not recompile plugins.
//!
//! An entry is `<dir>/<key>.cwasm` where `key` is the SHA-256 of the engine's
//! compatibility hash (target, compiler flags, tunables, enabled features,
//! wasmtime version) followed by the wasm bytes: a changed plugin, a changed
//! host configuration or a new wasmtime never reads an old entry. The file holds
//! a header (magic + SHA-256 of the artifact) then wasmtime's serialized module.
//!
//! # Safety of deserialization
//!
//! [`wasmtime::Module::deserialize`] is `unsafe`: the bytes are trusted to be
//! machine code wasmtime produced. We only read files this module wrote (written
//! to a temporary file, then renamed), and check the header's digest before
//! deserializing, which rejects truncated or corrupted entries. The digest does
//! not stop someone who can write to the directory: **the cache directory must
//! be writable only by the server's user**, like the server binary itself.
//!
//! Cache failures are never fatal: a bad or unreadable entry is logged,
//! recompiled and rewritten.

use std::fs;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};
use wasmtime::{Engine, Module};

/// File header: magic, then the SHA-256 of the rest of the file.
const MAGIC: &[u8; 8] = b"ARBCWM01";
const HEADER_LEN: usize = 8 + 32;

/// Distinguishes temporary files of concurrent writers in one process.
static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Where a loaded module came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModuleSource {
    /// Compiled from the wasm bytes (cache disabled, missing or stale entry).
    Compiled,
    /// Read from the compiled-module cache.
    Cache,
}

/// A directory of compiled modules.
#[derive(Debug, Clone)]
pub(crate) struct ModuleCache {
    dir: PathBuf,
}

/// Feeds `Hash` output into SHA-256.
struct ShaHasher<'a>(&'a mut Sha256);

impl Hasher for ShaHasher<'_> {
    fn finish(&self) -> u64 {
        0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

impl ModuleCache {
    pub(crate) fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    /// The entry path for `wasm` compiled by `engine`.
    pub(crate) fn entry_path(&self, engine: &Engine, wasm: &[u8]) -> PathBuf {
        let mut sha = Sha256::new();
        engine
            .precompile_compatibility_hash()
            .hash(&mut ShaHasher(&mut sha));
        sha.update(b"\0wasm\0");
        sha.update(wasm);
        let key = hex(&sha.finalize()[..20]);
        self.dir.join(format!("{key}.cwasm"))
    }

    /// Loads the cached module for `wasm`, if a valid entry exists.
    pub(crate) fn get(&self, engine: &Engine, wasm: &[u8]) -> Option<Module> {
        let path = self.entry_path(engine, wasm);
        let file = match fs::read(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "plugin cache entry unreadable; recompiling");
                return None;
            }
        };
        let Some(artifact) = verified_artifact(&file) else {
            tracing::warn!(path = %path.display(), "plugin cache entry corrupt; recompiling");
            return None;
        };
        // SAFETY: `artifact` is the content of a file this module wrote with
        // `Module::serialize` output (see `put`), whose digest we just checked;
        // the cache directory is documented as writable by the server only.
        // wasmtime additionally checks the engine compatibility header.
        match unsafe { Module::deserialize(engine, artifact) } {
            Ok(module) => Some(module),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "plugin cache entry incompatible; recompiling");
                None
            }
        }
    }

    /// Stores `module` (compiled from `wasm`). Errors are logged, not returned.
    pub(crate) fn put(&self, engine: &Engine, wasm: &[u8], module: &Module) {
        let path = self.entry_path(engine, wasm);
        if let Err(e) = self.write_entry(&path, module) {
            tracing::warn!(path = %path.display(), error = %e, "cannot write plugin cache entry");
        }
    }

    fn write_entry(&self, path: &Path, module: &Module) -> Result<(), Box<dyn std::error::Error>> {
        let artifact = module.serialize().map_err(|e| e.to_string())?;
        fs::create_dir_all(&self.dir)?;
        let tmp = self.dir.join(format!(
            ".tmp-{}-{}",
            std::process::id(),
            TMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let result = (|| -> std::io::Result<()> {
            let mut f = fs::File::create(&tmp)?;
            f.write_all(MAGIC)?;
            f.write_all(&Sha256::digest(&artifact))?;
            f.write_all(&artifact)?;
            f.sync_all()?;
            fs::rename(&tmp, path)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        Ok(result?)
    }
}

/// The artifact inside a cache file, if the header and digest check out.
fn verified_artifact(file: &[u8]) -> Option<&[u8]> {
    if file.len() < HEADER_LEN || &file[..8] != MAGIC {
        return None;
    }
    let (digest, artifact) = (&file[8..HEADER_LEN], &file[HEADER_LEN..]);
    (Sha256::digest(artifact).as_slice() == digest).then_some(artifact)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verified_artifact_rejects_bad_headers_and_digests() {
        let artifact = b"some compiled code";
        let mut file = MAGIC.to_vec();
        file.extend_from_slice(&Sha256::digest(artifact));
        file.extend_from_slice(artifact);
        assert_eq!(verified_artifact(&file), Some(&artifact[..]));
        let mut flipped = file.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert_eq!(verified_artifact(&flipped), None);
        assert_eq!(verified_artifact(&file[..file.len() - 1]), None);
        assert_eq!(verified_artifact(&file[..10]), None);
        let mut wrong_magic = file.clone();
        wrong_magic[0] = b'X';
        assert_eq!(verified_artifact(&wrong_magic), None);
    }

    #[test]
    fn entry_path_depends_on_bytes() {
        let engine = Engine::default();
        let cache = ModuleCache::new(PathBuf::from("/nonexistent"));
        let a = cache.entry_path(&engine, b"a");
        assert_eq!(a, cache.entry_path(&engine, b"a"));
        assert_ne!(a, cache.entry_path(&engine, b"b"));
        assert!(a.to_string_lossy().ends_with(".cwasm"));
    }
}
