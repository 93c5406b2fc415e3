//! HTTP requests the server makes to addresses its users give it: source maps named by
//! visitors' pages, alert webhooks set by project members. Unless the server is configured
//! for an intranet, none of them may reach a private, loopback or link-local address,
//! checked on the addresses the connection really uses (so a DNS answer cannot change
//! between the check and the connection); redirects are not followed; every request has a
//! deadline.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::time::Duration;
use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};

pub use ureq;

/// How an [`agent`] may connect.
#[derive(Debug, Clone, Copy)]
pub struct AgentOptions {
    /// Whether private, loopback and link-local addresses may be reached.
    pub allow_private: bool,
    /// The longest a request may take, body included.
    pub timeout: Duration,
    /// The `User-Agent` sent.
    pub user_agent: &'static str,
}

/// An HTTP client under the address policy: no proxy, no redirects, HTTP error statuses
/// returned as responses (callers decide what a status means).
pub fn agent(options: AgentOptions) -> ureq::Agent {
    let config = ureq::Agent::config_builder()
        .timeout_global(Some(options.timeout))
        .max_redirects(0)
        .http_status_as_error(false)
        .proxy(None)
        .user_agent(options.user_agent)
        .build();
    ureq::Agent::with_parts(
        config,
        DefaultConnector::default(),
        PublicOnly {
            allow_private: options.allow_private,
        },
    )
}

/// An address no fetch may reach without configuration: loopback, private, link-local,
/// shared (CGNAT), unspecified, broadcast, multicast, documentation and reserved ranges,
/// and IPv6 forms of them.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (64..128).contains(&o[1]))
                || (o[0] == 192 && o[1] == 0 && o[2] == 0)
                || (o[0] == 198 && (18..20).contains(&o[1]))
                || o[0] >= 240
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_private(IpAddr::V4(v4));
            }
            let s = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] == 0x2001 && s[1] == 0x0db8)
                || (s[0] == 0x64 && s[1] == 0xff9b)
                || (s[0] == 0 && s[1] == 0 && s[2] == 0 && s[3] == 0 && s[4] == 0 && s[5] == 0)
        }
    }
}

/// Resolves like the default resolver, then keeps only the addresses fetching may reach:
/// the connection uses exactly these.
#[derive(Debug)]
struct PublicOnly {
    allow_private: bool,
}

impl Resolver for PublicOnly {
    fn resolve(
        &self,
        uri: &Uri,
        _config: &Config,
        _timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let host = uri.host().ok_or(ureq::Error::HostNotFound)?;
        let port = uri
            .port_u16()
            .unwrap_or(if uri.scheme_str() == Some("https") {
                443
            } else {
                80
            });
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let found: Vec<SocketAddr> = (host, port)
            .to_socket_addrs()
            .map_err(ureq::Error::Io)?
            .collect();
        let mut out = self.empty();
        let mut refused = None;
        for addr in found.into_iter().take(16) {
            if !self.allow_private && is_private(addr.ip()) {
                refused = Some(addr.ip());
                continue;
            }
            out.push(addr);
        }
        if out.is_empty() {
            return Err(match refused {
                Some(ip) => ureq::Error::Io(std::io::Error::new(
                    std::io::ErrorKind::PermissionDenied,
                    format!("{host} resolves to {ip}, a private address"),
                )),
                None => ureq::Error::HostNotFound,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_addresses_are_recognised() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "fc00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
            "::ffff:127.0.0.1",
            "64:ff9b::a00:1",
            "::",
        ] {
            assert!(is_private(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "8.8.8.8", "2606:4700::1111"] {
            assert!(!is_private(ip.parse().unwrap()), "{ip}");
        }
    }
}
