//! Load-time refusals (typed, naming the culprit), the registry, and the
//! compiled-module cache.

mod support;

use arbiter_plugin_abi::{EXPORT_MEMORY, REQUIRED_EXPORTS};
use arbiter_plugin_host::{
    BudgetMode, HostConfig, ModuleSource, PluginError, PluginHost, PluginRegistry,
};
use support::{WatPlugin, test_config};

fn host() -> PluginHost {
    PluginHost::new(test_config()).unwrap()
}

/// The good plugin's WAT with `from` replaced by `to` (exactly once).
fn edited(from: &str, to: &str) -> Vec<u8> {
    let wat = WatPlugin::good().wat();
    assert_eq!(wat.matches(from).count(), 1, "{from}");
    wat::parse_str(wat.replace(from, to)).unwrap()
}

const RANDOM_IMPORT: &str = r#"(import "arbiter_v1" "random_u64" (func $random (result i64)))"#;

#[test]
fn the_good_plugin_loads() {
    let plugin = host().load("wat", &WatPlugin::good().wasm()).unwrap();
    assert_eq!(plugin.room_type(), "wat");
    assert_eq!(plugin.source(), ModuleSource::Compiled);
}

#[test]
fn wasi_import_is_an_unknown_import() {
    let wasm = edited(
        RANDOM_IMPORT,
        &format!(
            "{RANDOM_IMPORT} (import \"wasi_snapshot_preview1\" \"fd_write\" (func (param i32 i32 i32 i32) (result i32)))"
        ),
    );
    match host().load("wat", &wasm).unwrap_err() {
        PluginError::UnknownImport { module, name, .. } => {
            assert_eq!(
                (module.as_str(), name.as_str()),
                ("wasi_snapshot_preview1", "fd_write")
            );
        }
        other => panic!("{other}"),
    }
}

#[test]
fn another_abi_version_is_a_version_mismatch() {
    let wasm = edited(
        RANDOM_IMPORT,
        &RANDOM_IMPORT.replace("arbiter_v1", "arbiter_v2"),
    );
    let err = host().load("wat", &wasm).unwrap_err();
    let msg = err.to_string();
    match err {
        PluginError::AbiVersionMismatch { wanted, host, .. } => {
            assert_eq!(wanted, "arbiter_v2");
            assert_eq!(host, "arbiter_v1");
        }
        other => panic!("{other}"),
    }
    assert!(
        msg.contains("arbiter_v2") && msg.contains("arbiter_v1"),
        "{msg}"
    );
}

#[test]
fn unknown_or_ill_typed_arbiter_imports_are_refused() {
    let sleep = edited(
        RANDOM_IMPORT,
        &format!("{RANDOM_IMPORT} (import \"arbiter_v1\" \"now_ms\" (func (result i64)))"),
    );
    assert!(matches!(
        host().load("wat", &sleep).unwrap_err(),
        PluginError::UnknownImport { ref name, .. } if name == "now_ms"
    ));
    let ill_typed = edited(
        RANDOM_IMPORT,
        r#"(import "arbiter_v1" "random_u64" (func $random (result i32)))"#,
    );
    // The good plugin never calls $random, so the module is valid wasm and
    // it is the host that refuses the import's type.
    match host().load("wat", &ill_typed).unwrap_err() {
        PluginError::UnknownImport { name, detail, .. } => {
            assert_eq!(name, "random_u64");
            assert!(detail.contains("func() -> i64"), "{detail}");
        }
        other => panic!("{other}"),
    }
}

#[test]
fn each_missing_export_is_named() {
    for &name in REQUIRED_EXPORTS {
        let wasm = edited(&format!("(export \"{name}\")"), "");
        match host().load("wat", &wasm).unwrap_err() {
            PluginError::MissingExport { name: n, found, .. } => {
                assert_eq!(n, name);
                assert!(found.is_empty());
            }
            other => panic!("{name}: {other}"),
        }
    }
}

#[test]
fn ill_typed_exports_are_named() {
    // A hook with the wrong signature.
    let mut w = WatPlugin::good().wat();
    w = w.replace("(export \"arbiter_on_tick\")", "");
    w = w.replacen(
        "(memory (export \"memory\") 2)",
        "(memory (export \"memory\") 2) (func (export \"arbiter_on_tick\") (param i32) (result i32) (local.get 0))",
        1,
    );
    match host().load("wat", &wat::parse_str(w).unwrap()).unwrap_err() {
        PluginError::MissingExport { name, found, .. } => {
            assert_eq!(name, "arbiter_on_tick");
            assert_eq!(found, "; found func(i32) -> i32");
        }
        other => panic!("{other}"),
    }
    // `memory` exported as something else.
    let w = WatPlugin::good().wat().replace(
        "(memory (export \"memory\") 2)",
        "(memory 2) (global (export \"memory\") i32 (i32.const 0))",
    );
    match host().load("wat", &wat::parse_str(w).unwrap()).unwrap_err() {
        PluginError::MissingExport { name, found, .. } => {
            assert_eq!(name, EXPORT_MEMORY);
            assert_eq!(found, "; found global");
        }
        other => panic!("{other}"),
    }
}

#[test]
fn an_oversized_initial_memory_is_refused_at_load() {
    let wasm = edited(
        "(memory (export \"memory\") 2)",
        "(memory (export \"memory\") 1000)",
    );
    assert!(matches!(
        host().load("wat", &wasm).unwrap_err(),
        PluginError::ModuleTooLarge { what, .. } if what.contains("memory")
    ));
}

#[test]
fn invalid_bytes_and_disabled_features_are_invalid_modules() {
    assert!(matches!(
        host().load("wat", b"\0asm\x01\0\0\0garbage").unwrap_err(),
        PluginError::InvalidModule { .. }
    ));
    let shared = edited(
        "(memory (export \"memory\") 2)",
        "(memory (export \"memory\") 2 2 shared)",
    );
    assert!(matches!(
        host().load("wat", &shared).unwrap_err(),
        PluginError::InvalidModule { .. }
    ));
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir =
        std::env::temp_dir().join(format!("arbiter-plugin-host-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_second_load_hits_the_cache_and_a_corrupt_entry_is_recompiled() {
    let dir = temp_dir("cache");
    let config = HostConfig {
        cache_dir: Some(dir.clone()),
        ..HostConfig::default()
    };
    let wasm = WatPlugin::good().wasm();
    let first = PluginHost::new(config.clone())
        .unwrap()
        .load("wat", &wasm)
        .unwrap();
    assert_eq!(first.source(), ModuleSource::Compiled);
    // A new host (as after a restart) reads the entry.
    let host = PluginHost::new(config.clone()).unwrap();
    let second = host.load("wat", &wasm).unwrap();
    assert_eq!(second.source(), ModuleSource::Cache);
    let mut room = second.instantiate("r", 1).unwrap();
    room.tick(&arbiter_plugin_abi::TickInput {
        dt_ms: 1,
        now_ms: 1,
    })
    .unwrap();

    // Other bytes, other entry.
    let other = WatPlugin::good().with_random_message().wasm();
    assert_eq!(
        host.load("wat", &other).unwrap().source(),
        ModuleSource::Compiled
    );
    // Another engine configuration (fuel instrumentation), other entry.
    let fuel = PluginHost::new(HostConfig {
        budget: BudgetMode::Fuel,
        ..config.clone()
    })
    .unwrap();
    assert_eq!(
        fuel.load("wat", &wasm).unwrap().source(),
        ModuleSource::Compiled
    );
    assert_eq!(
        fuel.load("wat", &wasm).unwrap().source(),
        ModuleSource::Cache
    );

    // Corrupt every entry: the host recompiles (and rewrites) instead of failing.
    let entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .collect();
    assert_eq!(entries.len(), 3);
    for path in &entries {
        let mut bytes = std::fs::read(path).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0xff;
        std::fs::write(path, bytes).unwrap();
    }
    assert_eq!(
        host.load("wat", &wasm).unwrap().source(),
        ModuleSource::Compiled
    );
    assert_eq!(
        host.load("wat", &wasm).unwrap().source(),
        ModuleSource::Cache
    );
    // Invalid plugins are not cached.
    let _ = host.load("wat", b"\0asm\x01\0\0\0garbage");
    let count = std::fs::read_dir(&dir).unwrap().count();
    assert_eq!(count, 3);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_registry_loads_a_directory_by_file_stem() {
    let dir = temp_dir("registry");
    std::fs::write(dir.join("alpha.wasm"), WatPlugin::good().wasm()).unwrap();
    std::fs::write(
        dir.join("beta-2.wasm"),
        WatPlugin::good().with_random_message().wasm(),
    )
    .unwrap();
    std::fs::write(dir.join("README.md"), "not a plugin").unwrap();
    let host = host();
    let reg = PluginRegistry::load_dir(&host, &dir).unwrap();
    assert_eq!(reg.room_types().collect::<Vec<_>>(), ["alpha", "beta-2"]);
    assert_eq!(reg.get("alpha").unwrap().room_type(), "alpha");
    assert!(reg.get("README").is_none());

    // One bad plugin fails the whole load, naming it.
    std::fs::write(dir.join("broken.wasm"), b"not wasm").unwrap();
    match PluginRegistry::load_dir(&host, &dir).unwrap_err() {
        PluginError::InvalidModule { plugin, .. } => assert_eq!(plugin, "broken"),
        other => panic!("{other}"),
    }
    std::fs::remove_file(dir.join("broken.wasm")).unwrap();
    std::fs::write(dir.join("bad name.wasm"), WatPlugin::good().wasm()).unwrap();
    assert!(matches!(
        PluginRegistry::load_dir(&host, &dir).unwrap_err(),
        PluginError::BadRoomType { .. }
    ));
    assert!(matches!(
        PluginRegistry::load_dir(&host, &dir.join("missing")).unwrap_err(),
        PluginError::Io { .. }
    ));
    let _ = std::fs::remove_dir_all(&dir);
}
