//! Source-network allow lists (`10.0.0.0/8,::1/128`), checked before a packet is read,
//! and who a request really came from when it passed trusted proxies.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use http::HeaderMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowList(Vec<(IpAddr, u8)>);

impl std::str::FromStr for AllowList {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        s.split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(parse_net)
            .collect::<Result<_, _>>()
            .map(AllowList)
    }
}

fn parse_net(net: &str) -> Result<(IpAddr, u8), String> {
    let (ip, prefix) = net.split_once('/').unwrap_or((net, ""));
    let ip: IpAddr = ip
        .parse()
        .map_err(|_| format!("{net:?} is not an address or network"))?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let prefix = if prefix.is_empty() {
        max
    } else {
        prefix
            .parse()
            .ok()
            .filter(|p| *p <= max)
            .ok_or_else(|| format!("{net:?} has a bad prefix length"))?
    };
    Ok((ip, prefix))
}

impl AllowList {
    pub fn allows(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        self.0
            .iter()
            .any(|(net, prefix)| contains(*net, *prefix, ip))
    }
}

fn contains(net: IpAddr, prefix: u8, ip: IpAddr) -> bool {
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(a)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            u32::from(n) & mask == u32::from(a) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(a)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            u128::from(n) & mask == u128::from(a) & mask
        }
        _ => false,
    }
}

/// The client's address: the connecting one (`peer`; unspecified when unknown), or,
/// when that is a trusted proxy, the last untrusted hop of `X-Forwarded-For`.
pub fn client_ip(peer: Option<SocketAddr>, headers: &HeaderMap, proxies: &AllowList) -> IpAddr {
    let peer = peer.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |p| p.ip());
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok());
    forwarded_client(peer, forwarded, proxies)
}

fn forwarded_client<'a>(
    peer: IpAddr,
    headers: impl Iterator<Item = &'a str>,
    proxies: &AllowList,
) -> IpAddr {
    if !proxies.allows(peer) {
        return peer;
    }
    let hops: Vec<&str> = headers.flat_map(|h| h.split(',')).map(str::trim).collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        let address = hop
            .parse::<IpAddr>()
            .or_else(|_| hop.parse::<SocketAddr>().map(|a| a.ip()));
        match address {
            Ok(ip) if proxies.allows(ip) => client = ip,
            Ok(ip) => return ip,
            Err(_) => return client, // a hop that is not an address: trust no further
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_trusted_proxy_names_the_client() {
        let proxies: AllowList = "10.0.0.0/8".parse().unwrap();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let via =
            |peer: &str, xff: &[&str]| forwarded_client(ip(peer), xff.iter().copied(), &proxies);
        assert_eq!(via("10.1.1.1", &["203.0.113.7"]), ip("203.0.113.7"));
        // The visitor may send their own header: only the hops the proxies added count.
        assert_eq!(
            via("10.1.1.1", &["6.6.6.6, 203.0.113.7, 10.2.2.2"]),
            ip("203.0.113.7")
        );
        assert_eq!(
            via("10.1.1.1", &["6.6.6.6", "203.0.113.7"]),
            ip("203.0.113.7")
        );
        assert_eq!(
            via("198.51.100.1", &["203.0.113.7"]),
            ip("198.51.100.1"),
            "not a proxy"
        );
        assert_eq!(
            via("10.1.1.1", &["203.0.113.7:51234"]),
            ip("203.0.113.7"),
            "with a port"
        );
        assert_eq!(via("10.1.1.1", &["garbage"]), ip("10.1.1.1"));
        assert_eq!(via("10.1.1.1", &[]), ip("10.1.1.1"));
    }

    #[test]
    fn networks_match_by_prefix() {
        let list: AllowList = "127.0.0.0/8, 10.1.0.0/16, ::1".parse().expect("parses");
        for ok in ["127.0.0.1", "10.1.200.3", "::1", "::ffff:127.0.0.2"] {
            assert!(list.allows(ok.parse().expect("ip")), "{ok}");
        }
        for no in ["10.2.0.1", "192.168.1.1", "::2"] {
            assert!(!list.allows(no.parse().expect("ip")), "{no}");
        }
        let any: AllowList = "0.0.0.0/0".parse().expect("parses");
        assert!(any.allows("8.8.8.8".parse().expect("ip")));
        assert!("10.0.0.0/33".parse::<AllowList>().is_err());
        assert!("nonsense".parse::<AllowList>().is_err());
    }
}
