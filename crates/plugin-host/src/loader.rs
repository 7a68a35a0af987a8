//! Load-time checks: a module must speak ABI v1 exactly, import nothing else,
//! export everything the ABI requires with the right types, and start within
//! the room limits. Every refusal is a typed [`PluginError`] naming the culprit.

use arbiter_plugin_abi::{
    EXPORT_ALLOC, EXPORT_MEMORY, IMPORT_LOG, IMPORT_MODULE, IMPORT_MODULE_PREFIX,
    IMPORT_RANDOM_U64, REQUIRED_EXPORTS,
};
use wasmtime::{ExternType, FuncType, Module, ValType};

use crate::config::Limits;
use crate::error::PluginError;

/// Expected type of an `arbiter_v1` import, as text.
const SIG_RANDOM: &str = "func() -> i64";
const SIG_LOG: &str = "func(i32, i32, i32)";
const SIG_ALLOC: &str = "func(i32) -> i32";
const SIG_HOOK: &str = "func(i32, i32) -> i64";
const SIG_MEMORY: &str = "memory (32-bit, not shared)";

fn is(v: &ValType, want: &ValType) -> bool {
    ValType::eq(v, want)
}

fn func_matches(ty: &FuncType, params: &[ValType], results: &[ValType]) -> bool {
    ty.params().len() == params.len()
        && ty.results().len() == results.len()
        && ty.params().zip(params).all(|(a, b)| is(&a, b))
        && ty.results().zip(results).all(|(a, b)| is(&a, b))
}

fn describe(ty: &ExternType) -> String {
    match ty {
        ExternType::Func(f) => {
            let p: Vec<String> = f.params().map(|v| v.to_string()).collect();
            let r: Vec<String> = f.results().map(|v| v.to_string()).collect();
            if r.is_empty() {
                format!("func({})", p.join(", "))
            } else {
                format!("func({}) -> {}", p.join(", "), r.join(", "))
            }
        }
        ExternType::Memory(_) => "memory".into(),
        ExternType::Table(_) => "table".into(),
        ExternType::Global(_) => "global".into(),
        ExternType::Tag(_) => "tag".into(),
    }
}

/// Checks a compiled module against ABI v1 and the room limits.
pub(crate) fn validate(plugin: &str, module: &Module, limits: &Limits) -> Result<(), PluginError> {
    check_imports(plugin, module)?;
    check_exports(plugin, module)?;
    check_resources(plugin, module, limits)
}

fn check_imports(plugin: &str, module: &Module) -> Result<(), PluginError> {
    let i32t = ValType::I32;
    for import in module.imports() {
        let (m, name, ty) = (import.module(), import.name(), import.ty());
        let unknown = |detail: String| PluginError::UnknownImport {
            plugin: plugin.to_string(),
            module: m.to_string(),
            name: name.to_string(),
            detail,
        };
        if m != IMPORT_MODULE {
            if m.starts_with(IMPORT_MODULE_PREFIX) {
                return Err(PluginError::AbiVersionMismatch {
                    plugin: plugin.to_string(),
                    wanted: m.to_string(),
                    host: IMPORT_MODULE,
                });
            }
            return Err(unknown(String::new()));
        }
        let expected = match name {
            IMPORT_RANDOM_U64 => (SIG_RANDOM, &[][..], &[ValType::I64][..]),
            IMPORT_LOG => (
                SIG_LOG,
                &[i32t.clone(), i32t.clone(), i32t.clone()][..],
                &[][..],
            ),
            _ => return Err(unknown(String::new())),
        };
        let ok = matches!(&ty, ExternType::Func(f) if func_matches(f, expected.1, expected.2));
        if !ok {
            return Err(unknown(format!(
                " as {}; expected {}",
                describe(&ty),
                expected.0
            )));
        }
    }
    Ok(())
}

fn check_exports(plugin: &str, module: &Module) -> Result<(), PluginError> {
    for &name in REQUIRED_EXPORTS {
        let expected = match name {
            EXPORT_MEMORY => SIG_MEMORY,
            EXPORT_ALLOC => SIG_ALLOC,
            _ => SIG_HOOK,
        };
        let missing = |found: String| PluginError::MissingExport {
            plugin: plugin.to_string(),
            name,
            expected,
            found,
        };
        let Some(ty) = module.get_export(name) else {
            return Err(missing(String::new()));
        };
        let ok = match (&ty, name) {
            (ExternType::Memory(m), EXPORT_MEMORY) => !m.is_64() && !m.is_shared(),
            (ExternType::Func(f), EXPORT_ALLOC) => {
                func_matches(f, &[ValType::I32], &[ValType::I32])
            }
            (ExternType::Func(f), _) if name != EXPORT_MEMORY => {
                func_matches(f, &[ValType::I32, ValType::I32], &[ValType::I64])
            }
            _ => false,
        };
        if !ok {
            return Err(missing(format!("; found {}", describe(&ty))));
        }
    }
    Ok(())
}

fn check_resources(plugin: &str, module: &Module, limits: &Limits) -> Result<(), PluginError> {
    let rr = module.resources_required();
    let too_large = |what, limit: u64| PluginError::ModuleTooLarge {
        plugin: plugin.to_string(),
        what,
        limit,
    };
    // In 64 KiB wasm pages (custom page sizes are disabled).
    if let Some(pages) = rr.max_initial_memory_size
        && pages.saturating_mul(65536) > limits.memory_bytes as u64
    {
        return Err(too_large(
            "initial linear memory (bytes)",
            limits.memory_bytes as u64,
        ));
    }
    if rr.num_tables as usize > limits.tables {
        return Err(too_large("tables", limits.tables as u64));
    }
    if let Some(elems) = rr.max_initial_table_size
        && elems > limits.table_elements as u64
    {
        return Err(too_large("table elements", limits.table_elements as u64));
    }
    Ok(())
}
