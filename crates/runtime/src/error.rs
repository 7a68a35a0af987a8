//! The runtime's error type.

use std::path::PathBuf;

/// Why the runtime could not start.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The plugin host could not be created.
    #[error("cannot start the plugin host: {0}")]
    Host(#[source] arbiter_plugin_host::PluginError),
    /// The plugins directory could not be loaded.
    #[error("cannot load the plugins of {dir}: {source}")]
    Plugins {
        /// The directory.
        dir: PathBuf,
        /// Why.
        #[source]
        source: arbiter_plugin_host::PluginError,
    },
    /// The auth configuration is unusable (e.g. `jwt` without a key).
    #[error("invalid auth configuration: {0}")]
    Auth(#[source] arbiter_session::SessionError),
}
