//! `cargo xtask plugins`: build every plugin crate in `plugins/` for
//! `wasm32-unknown-unknown`, copy each to `target/plugins/<room_type>.wasm`, and
//! check it against the ABI (imports only from `arbiter_v1` with the right
//! signatures, every required export with the right signature, a valid module).
//!
//! A plugin crate is a workspace package under `plugins/` with a `cdylib` target
//! and `[package.metadata.arbiter] room_type = "…"`.
//!
//! The build uses its own cargo profile, `plugin` (release plus fat LTO, one
//! codegen unit, no debug info, stripped, panic=abort), defined on the command line
//! with `--config`. Its artifacts live in `target/wasm32-unknown-unknown/plugin/`
//! and its build scripts and proc macros in `target/plugin/`, so it never
//! invalidates the host's `debug` or `release` caches, and vice versa.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail, ensure};
use arbiter_plugin_abi::{
    EXPORT_ALLOC, EXPORT_MEMORY, IMPORT_LOG, IMPORT_MODULE, IMPORT_RANDOM_U64, REQUIRED_EXPORTS,
};
use serde_json::Value;
use wasmparser::{ExternalKind, FuncType, Parser, Payload, TypeRef, ValType, Validator};

use crate::util::{cargo, exec, workspace_root};

/// The wasm target plugins are built for.
const TARGET: &str = "wasm32-unknown-unknown";

/// The cargo profile of plugin builds (defined by [`PROFILE_CONFIG`]).
const PROFILE: &str = "plugin";

/// `--config` values defining [`PROFILE`]: small and fast code.
const PROFILE_CONFIG: &[&str] = &[
    "profile.plugin.inherits=\"release\"",
    "profile.plugin.opt-level=3",
    "profile.plugin.lto=\"fat\"",
    "profile.plugin.codegen-units=1",
    "profile.plugin.debug=false",
    "profile.plugin.strip=true",
    "profile.plugin.panic=\"abort\"",
    "profile.plugin.incremental=false",
];

/// One plugin crate.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Plugin {
    /// Cargo package name (`arbiter-plugin-counter`).
    package: String,
    /// Room type, the output file's stem (`counter`).
    room_type: String,
    /// The cdylib's artifact stem (`arbiter_plugin_counter`).
    lib_name: String,
}

/// Builds every plugin into `target/plugins/`.
pub(crate) fn run() -> Result<()> {
    ensure_target()?;
    let (plugins, target_dir) = discover()?;
    ensure!(!plugins.is_empty(), "no plugin crates found under plugins/");
    build(&plugins)?;
    let out_dir = target_dir.join("plugins");
    std::fs::create_dir_all(&out_dir)
        .with_context(|| format!("cannot create {}", out_dir.display()))?;
    let built = target_dir.join(TARGET).join(PROFILE);
    for plugin in &plugins {
        let from = built.join(format!("{}.wasm", plugin.lib_name));
        let to = out_dir.join(format!("{}.wasm", plugin.room_type));
        let bytes = std::fs::read(&from)
            .with_context(|| format!("{} was not built at {}", plugin.package, from.display()))?;
        check_module(&bytes)
            .with_context(|| format!("{} breaks the plugin ABI", from.display()))?;
        std::fs::write(&to, &bytes).with_context(|| format!("cannot write {}", to.display()))?;
        eprintln!(
            "xtask: {:<28} {:>9} bytes ({} KiB)  {}",
            plugin.room_type,
            bytes.len(),
            bytes.len().div_ceil(1024),
            to.display()
        );
    }
    Ok(())
}

/// Installs the wasm target with rustup when it is missing. Without rustup the
/// build below says what is wrong.
fn ensure_target() -> Result<()> {
    let listed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .current_dir(workspace_root())
        .output();
    match listed {
        Ok(out) if out.status.success() => {
            let installed = String::from_utf8_lossy(&out.stdout);
            if installed.lines().any(|l| l.trim() == TARGET) {
                return Ok(());
            }
            exec(
                Command::new("rustup")
                    .args(["target", "add", TARGET])
                    .current_dir(workspace_root()),
            )
        }
        _ => {
            eprintln!("xtask: rustup not usable; assuming the {TARGET} target is installed");
            Ok(())
        }
    }
}

/// The plugin crates and the target directory, from `cargo metadata`.
fn discover() -> Result<(Vec<Plugin>, PathBuf)> {
    let out = cargo()
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .output()
        .context("could not run cargo metadata")?;
    ensure!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: Value = serde_json::from_slice(&out.stdout).context("cargo metadata output")?;
    let target_dir = meta["target_directory"]
        .as_str()
        .map(PathBuf::from)
        .context("cargo metadata has no target_directory")?;
    let plugins_dir = workspace_root().join("plugins");
    let packages = meta["packages"]
        .as_array()
        .context("cargo metadata has no packages")?;
    let mut plugins = Vec::new();
    for package in packages {
        let manifest = package["manifest_path"].as_str().unwrap_or_default();
        if Path::new(manifest).starts_with(&plugins_dir) {
            plugins.push(plugin_of(package)?);
        }
    }
    plugins.sort_by(|a, b| a.room_type.cmp(&b.room_type));
    let mut seen = HashMap::new();
    for p in &plugins {
        if let Some(other) = seen.insert(p.room_type.clone(), p.package.clone()) {
            bail!(
                "room type `{}` is declared by both {other} and {}",
                p.room_type,
                p.package
            );
        }
    }
    Ok((plugins, target_dir))
}

/// Reads one plugin package's room type and cdylib name.
fn plugin_of(package: &Value) -> Result<Plugin> {
    let name = package["name"].as_str().context("package without a name")?;
    let room_type = package["metadata"]["arbiter"]["room_type"]
        .as_str()
        .with_context(|| {
            format!("{name}: a plugin needs `[package.metadata.arbiter] room_type = \"…\"`")
        })?;
    ensure!(
        is_valid_room_type(room_type),
        "{name}: room_type `{room_type}` must be 1-64 characters from [a-z0-9_-]"
    );
    let lib_name = package["targets"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|t| {
            t["kind"]
                .as_array()
                .is_some_and(|k| k.iter().any(|k| k == "cdylib"))
        })
        .and_then(|t| t["name"].as_str())
        .with_context(|| {
            format!("{name}: a plugin needs `[lib] crate-type = [\"cdylib\", \"rlib\"]`")
        })?
        .replace('-', "_");
    Ok(Plugin {
        package: name.to_owned(),
        room_type: room_type.to_owned(),
        lib_name,
    })
}

/// Room types become file names: keep them plain.
fn is_valid_room_type(room_type: &str) -> bool {
    (1..=64).contains(&room_type.len())
        && room_type
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// One `cargo build` for all plugins in the plugin profile.
fn build(plugins: &[Plugin]) -> Result<()> {
    let mut cmd = cargo();
    cmd.args(["build", "--target", TARGET, "--profile", PROFILE]);
    for config in PROFILE_CONFIG {
        cmd.args(["--config", config]);
    }
    for plugin in plugins {
        cmd.args(["--package", &plugin.package]);
    }
    exec(&mut cmd)
}

/// Checks a built plugin against ABI v1: a valid module whose imports are exactly
/// the `arbiter_v1` functions (with their signatures) and which has every required
/// export (with its signature). Extra exports are allowed.
fn check_module(bytes: &[u8]) -> Result<()> {
    Validator::new()
        .validate_all(bytes)
        .context("not a valid WebAssembly module")?;
    let mut types: Vec<FuncType> = Vec::new();
    let mut funcs: Vec<u32> = Vec::new(); // type index of every function, imports first
    let mut exports: HashMap<String, (ExternalKind, u32)> = HashMap::new();
    for payload in Parser::new(0).parse_all(bytes) {
        match payload? {
            Payload::TypeSection(reader) => {
                for ty in reader.into_iter_err_on_gc_types() {
                    types.push(ty?);
                }
            }
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    let import = import?;
                    let TypeRef::Func(ty) = import.ty else {
                        bail!(
                            "imports {}::{}, which is not a function",
                            import.module,
                            import.name
                        );
                    };
                    let ty = types
                        .get(ty as usize)
                        .context("import of an unknown type")?;
                    check_import(import.module, import.name, ty)?;
                    funcs.push(u32::MAX); // imports are not checked as exports
                }
            }
            Payload::FunctionSection(reader) => {
                for ty in reader {
                    funcs.push(ty?);
                }
            }
            Payload::ExportSection(reader) => {
                for export in reader {
                    let export = export?;
                    exports.insert(export.name.to_owned(), (export.kind, export.index));
                }
            }
            _ => {}
        }
    }
    for &name in REQUIRED_EXPORTS {
        let &(kind, index) = exports
            .get(name)
            .with_context(|| format!("missing export `{name}`"))?;
        if name == EXPORT_MEMORY {
            ensure!(
                kind == ExternalKind::Memory,
                "export `{name}` is not a memory"
            );
            continue;
        }
        ensure!(
            kind == ExternalKind::Func,
            "export `{name}` is not a function"
        );
        let ty = funcs
            .get(index as usize)
            .and_then(|&t| types.get(t as usize))
            .with_context(|| format!("export `{name}` is an imported or unknown function"))?;
        let expected = if name == EXPORT_ALLOC {
            (&[ValType::I32][..], &[ValType::I32][..])
        } else {
            (&[ValType::I32, ValType::I32][..], &[ValType::I64][..])
        };
        ensure!(
            (ty.params(), ty.results()) == expected,
            "export `{name}` has type {ty}, expected {:?} -> {:?}",
            expected.0,
            expected.1
        );
    }
    Ok(())
}

/// One import must be an `arbiter_v1` function with its ABI signature.
fn check_import(module: &str, name: &str, ty: &FuncType) -> Result<()> {
    ensure!(
        module == IMPORT_MODULE,
        "imports `{module}::{name}`: a plugin may only import from `{IMPORT_MODULE}` \
         (another arbiter_v* module is a different ABI version; anything else is unknown \
         to the host, e.g. a dependency that needs wasm-bindgen or WASI)"
    );
    let expected: (&[ValType], &[ValType]) = match name {
        IMPORT_RANDOM_U64 => (&[], &[ValType::I64]),
        IMPORT_LOG => (&[ValType::I32, ValType::I32, ValType::I32], &[]),
        other => bail!("imports `{module}::{other}`, which the host does not provide"),
    };
    ensure!(
        (ty.params(), ty.results()) == expected,
        "import `{module}::{name}` has type {ty}, expected {:?} -> {:?}",
        expected.0,
        expected.1
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOOKS: &str = r#"
        (func (export "arbiter_on_create") (param i32 i32) (result i64) i64.const 0)
        (func (export "arbiter_on_join") (param i32 i32) (result i64) i64.const 0)
        (func (export "arbiter_on_leave") (param i32 i32) (result i64) i64.const 0)
        (func (export "arbiter_on_message") (param i32 i32) (result i64) i64.const 0)
        (func (export "arbiter_on_tick") (param i32 i32) (result i64) i64.const 0)
        (func (export "arbiter_on_dispose") (param i32 i32) (result i64) i64.const 0)
    "#;

    fn module(imports: &str, extra: &str) -> Vec<u8> {
        let text = format!(
            r#"(module {imports}
                (memory (export "memory") 1)
                (func (export "arbiter_alloc") (param i32) (result i32) i32.const 0)
                {HOOKS} {extra})"#
        );
        wat::parse_str(text).unwrap()
    }

    const RESTORE: &str =
        r#"(func (export "arbiter_on_restore") (param i32 i32) (result i64) i64.const 0)"#;
    const IMPORTS: &str = r#"
        (import "arbiter_v1" "random_u64" (func (result i64)))
        (import "arbiter_v1" "log" (func (param i32 i32 i32)))"#;

    fn error_of(bytes: &[u8]) -> String {
        format!("{:#}", check_module(bytes).unwrap_err())
    }

    #[test]
    fn a_conforming_module_passes() {
        check_module(&module(IMPORTS, RESTORE)).unwrap();
        check_module(&module("", RESTORE)).unwrap();
    }

    #[test]
    fn foreign_imports_are_refused() {
        let env = r#"(import "env" "abort" (func))"#;
        assert!(error_of(&module(env, RESTORE)).contains("only import from `arbiter_v1`"));
        let v2 = r#"(import "arbiter_v2" "log" (func (param i32 i32 i32)))"#;
        assert!(error_of(&module(v2, RESTORE)).contains("arbiter_v2"));
        let unknown = r#"(import "arbiter_v1" "time" (func (result i64)))"#;
        assert!(error_of(&module(unknown, RESTORE)).contains("does not provide"));
        let typed = r#"(import "arbiter_v1" "random_u64" (func (result i32)))"#;
        assert!(error_of(&module(typed, RESTORE)).contains("expected"));
        let memory = r#"(import "arbiter_v1" "mem" (memory 1))"#;
        assert!(error_of(&module(memory, RESTORE)).contains("not a function"));
    }

    #[test]
    fn missing_or_mistyped_exports_are_refused() {
        assert!(error_of(&module(IMPORTS, "")).contains("missing export `arbiter_on_restore`"));
        let wrong = r#"(func (export "arbiter_on_restore") (param i32) (result i64) i64.const 0)"#;
        assert!(error_of(&module(IMPORTS, wrong)).contains("arbiter_on_restore"));
        assert!(error_of(b"\0asm\x01\0\0\0garbage").contains("valid"));
    }

    #[test]
    fn the_abi_docs_minimal_plugin_passes() {
        let doc = std::fs::read_to_string(workspace_root().join("docs/plugin-abi.md")).unwrap();
        let start = doc
            .find("```wat\n")
            .expect("a wat block in docs/plugin-abi.md")
            + 7;
        let len = doc[start..].find("```").unwrap();
        check_module(&wat::parse_str(&doc[start..start + len]).unwrap()).unwrap();
    }

    #[test]
    fn room_types_are_plain_file_names() {
        assert!(is_valid_room_type("tictactoe"));
        assert!(is_valid_room_type("my-room_2"));
        for bad in ["", "../x", "A", "a b", "a.wasm", &"x".repeat(65)] {
            assert!(!is_valid_room_type(bad), "{bad}");
        }
    }

    #[test]
    fn plugin_metadata_is_read_from_cargo_metadata() {
        let package = serde_json::json!({
            "name": "arbiter-plugin-demo",
            "metadata": { "arbiter": { "room_type": "demo" } },
            "targets": [
                { "name": "arbiter-plugin-demo", "kind": ["cdylib", "rlib"] },
                { "name": "demo_rules", "kind": ["test"] },
            ],
        });
        assert_eq!(
            plugin_of(&package).unwrap(),
            Plugin {
                package: "arbiter-plugin-demo".into(),
                room_type: "demo".into(),
                lib_name: "arbiter_plugin_demo".into(),
            }
        );
        let mut no_type = package.clone();
        no_type["metadata"] = Value::Null;
        assert!(
            plugin_of(&no_type)
                .unwrap_err()
                .to_string()
                .contains("room_type")
        );
        let mut no_cdylib = package;
        no_cdylib["targets"][0]["kind"] = serde_json::json!(["lib"]);
        assert!(
            plugin_of(&no_cdylib)
                .unwrap_err()
                .to_string()
                .contains("cdylib")
        );
    }
}
