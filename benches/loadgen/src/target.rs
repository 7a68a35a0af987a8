//! [`Target`]: the server under load, and the loopback guard.

use std::net::{SocketAddr, ToSocketAddrs};

use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::error::{LoadgenError, Result};

/// Where the clients connect: a `ws://HOST:PORT/PATH` URL and the socket
/// address it resolved to (resolved once, so thousands of clients do not each
/// ask the resolver).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The WebSocket URL, sent in the upgrade request.
    pub url: String,
    /// The resolved address.
    pub addr: SocketAddr,
}

impl Target {
    /// Parses and resolves `url`. A host that is not loopback (every address it
    /// resolves to must be) is refused unless `allow_remote`: a load generator
    /// pointed at someone else's server by a typo is an attack.
    pub fn resolve(url: &str, allow_remote: bool) -> Result<Target> {
        let bad = |why: &str| LoadgenError::Options(format!("url {url:?}: {why}"));
        let request = url.into_client_request().map_err(|e| bad(&e.to_string()))?;
        let uri = request.uri();
        if uri.scheme_str() != Some("ws") {
            return Err(bad("only ws:// URLs are supported"));
        }
        let host = uri
            .host()
            .ok_or_else(|| bad("no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = uri.port_u16().unwrap_or(80);
        let addrs: Vec<SocketAddr> = (host.as_str(), port).to_socket_addrs()?.collect();
        let addr = *addrs
            .first()
            .ok_or_else(|| bad("the host resolves to nothing"))?;
        if !allow_remote && !addrs.iter().all(|a| a.ip().is_loopback()) {
            return Err(LoadgenError::Remote(url.to_owned()));
        }
        Ok(Target {
            url: url.to_owned(),
            addr,
        })
    }

    /// The target for a server listening on `addr` (always allowed: callers
    /// got the address from a server they started).
    pub fn local(addr: SocketAddr) -> Target {
        Target {
            url: format!("ws://{addr}/"),
            addr,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_allowed_and_remote_refused() {
        let t = Target::resolve("ws://127.0.0.1:4000/", false).unwrap();
        assert_eq!(t.addr, "127.0.0.1:4000".parse().unwrap());
        assert!(Target::resolve("ws://[::1]:4000/", false).is_ok());
        let remote = Target::resolve("ws://192.0.2.1:4000/", false).unwrap_err();
        assert!(matches!(remote, LoadgenError::Remote(_)));
        assert!(Target::resolve("ws://192.0.2.1:4000/", true).is_ok());
    }

    #[test]
    fn only_ws_urls() {
        assert!(matches!(
            Target::resolve("http://127.0.0.1:4000/", false),
            Err(LoadgenError::Options(_))
        ));
        assert!(Target::resolve("not a url", false).is_err());
    }
}
