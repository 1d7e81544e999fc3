//! HEPv3 (the Homer encapsulation protocol): what Kamailio, OpenSIPS, Asterisk and
//! FreeSWITCH send to a capture server. A packet is `HEP3`, a 16-bit total length,
//! then chunks of (vendor, type, length, data); we keep the addresses, the auth key
//! and the SIP payload. Every length is checked against the buffer: nothing here can
//! read out of bounds or panic on hostile input.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

const MAGIC: &[u8; 4] = b"HEP3";
const HEADER_LEN: usize = 6;
const CHUNK_HEADER_LEN: usize = 6;

/// Why a HEP packet was dropped (also the metric label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HepError {
    #[error("shorter than a HEP header")]
    TooShort,
    #[error("not HEPv3")]
    BadMagic,
    #[error("length field does not match the packet")]
    BadLength,
    #[error("a chunk runs past the packet")]
    BadChunk,
    #[error("no payload chunk")]
    NoPayload,
    #[error("payload is not SIP")]
    NotSip,
}

impl HepError {
    pub fn reason(self) -> &'static str {
        match self {
            HepError::TooShort => "hep_too_short",
            HepError::BadMagic => "hep_bad_magic",
            HepError::BadLength => "hep_bad_length",
            HepError::BadChunk => "hep_bad_chunk",
            HepError::NoPayload => "hep_no_payload",
            HepError::NotSip => "hep_not_sip",
        }
    }
}

/// A decoded HEP packet.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HepPacket<'a> {
    pub src: Option<SocketAddr>,
    pub dst: Option<SocketAddr>,
    pub auth_key: Option<&'a [u8]>,
    pub payload: &'a [u8],
}

#[derive(Default)]
struct Parts<'a> {
    src_ip: Option<IpAddr>,
    dst_ip: Option<IpAddr>,
    src_port: Option<u16>,
    dst_port: Option<u16>,
    proto_type: Option<u8>,
    auth_key: Option<&'a [u8]>,
    payload: Option<&'a [u8]>,
}

/// The length of the HEP packet at the start of `buf` (for stream framing), once the
/// header is there; `Err` when `buf` does not start like a HEP packet.
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, HepError> {
    if buf.len() < HEADER_LEN {
        return Ok(None);
    }
    if &buf[..4] != MAGIC {
        return Err(HepError::BadMagic);
    }
    let len = usize::from(u16::from_be_bytes([buf[4], buf[5]]));
    if len < HEADER_LEN {
        return Err(HepError::BadLength);
    }
    Ok(Some(len))
}

/// Decodes one HEPv3 packet.
pub fn decode(buf: &[u8]) -> Result<HepPacket<'_>, HepError> {
    if buf.len() < HEADER_LEN {
        return Err(HepError::TooShort);
    }
    let len = frame_len(buf)?.ok_or(HepError::TooShort)?;
    if len != buf.len() {
        return Err(HepError::BadLength);
    }
    let mut parts = Parts::default();
    let mut rest = &buf[HEADER_LEN..];
    while !rest.is_empty() {
        if rest.len() < CHUNK_HEADER_LEN {
            return Err(HepError::BadChunk);
        }
        let vendor = u16::from_be_bytes([rest[0], rest[1]]);
        let kind = u16::from_be_bytes([rest[2], rest[3]]);
        let chunk_len = usize::from(u16::from_be_bytes([rest[4], rest[5]]));
        if chunk_len < CHUNK_HEADER_LEN || chunk_len > rest.len() {
            return Err(HepError::BadChunk);
        }
        if vendor == 0 {
            read_chunk(&mut parts, kind, &rest[CHUNK_HEADER_LEN..chunk_len])?;
        }
        rest = &rest[chunk_len..];
    }
    if parts.proto_type.is_some_and(|t| t != 1) {
        return Err(HepError::NotSip);
    }
    Ok(HepPacket {
        src: parts
            .src_ip
            .map(|ip| SocketAddr::new(ip, parts.src_port.unwrap_or(0))),
        dst: parts
            .dst_ip
            .map(|ip| SocketAddr::new(ip, parts.dst_port.unwrap_or(0))),
        auth_key: parts.auth_key,
        payload: parts.payload.ok_or(HepError::NoPayload)?,
    })
}

fn read_chunk<'a>(parts: &mut Parts<'a>, kind: u16, data: &'a [u8]) -> Result<(), HepError> {
    match kind {
        3 => parts.src_ip = Some(IpAddr::V4(Ipv4Addr::from(array::<4>(data)?))),
        4 => parts.dst_ip = Some(IpAddr::V4(Ipv4Addr::from(array::<4>(data)?))),
        5 => parts.src_ip = Some(IpAddr::V6(Ipv6Addr::from(array::<16>(data)?))),
        6 => parts.dst_ip = Some(IpAddr::V6(Ipv6Addr::from(array::<16>(data)?))),
        7 => parts.src_port = Some(u16::from_be_bytes(array::<2>(data)?)),
        8 => parts.dst_port = Some(u16::from_be_bytes(array::<2>(data)?)),
        11 => parts.proto_type = Some(array::<1>(data)?[0]),
        14 => parts.auth_key = Some(data),
        15 => parts.payload = Some(data),
        _ => {}
    }
    Ok(())
}

fn array<const N: usize>(data: &[u8]) -> Result<[u8; N], HepError> {
    data.try_into().map_err(|_| HepError::BadChunk)
}

/// Encodes a HEPv3 packet (for tests, benchmarks and tools that replay captures).
pub fn encode(
    src: SocketAddr,
    dst: SocketAddr,
    auth_key: Option<&[u8]>,
    payload: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 96);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[0, 0]);
    let family: u8 = if src.is_ipv4() { 2 } else { 10 };
    chunk(&mut out, 1, &[family]);
    chunk(&mut out, 2, &[17]);
    match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            chunk(&mut out, 3, &s.octets());
            chunk(&mut out, 4, &d.octets());
        }
        (s, d) => {
            chunk(&mut out, 5, &to_v6(s).octets());
            chunk(&mut out, 6, &to_v6(d).octets());
        }
    }
    chunk(&mut out, 7, &src.port().to_be_bytes());
    chunk(&mut out, 8, &dst.port().to_be_bytes());
    chunk(&mut out, 11, &[1]);
    if let Some(key) = auth_key {
        chunk(&mut out, 14, key);
    }
    chunk(&mut out, 15, payload);
    let len = u16::try_from(out.len()).unwrap_or(u16::MAX).to_be_bytes();
    out[4..6].copy_from_slice(&len);
    out
}

fn to_v6(ip: IpAddr) -> Ipv6Addr {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}

fn chunk(out: &mut Vec<u8>, kind: u16, data: &[u8]) {
    let len = u16::try_from(data.len() + CHUNK_HEADER_LEN).unwrap_or(u16::MAX);
    out.extend_from_slice(&0u16.to_be_bytes());
    out.extend_from_slice(&kind.to_be_bytes());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(data);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("addr")
    }

    #[test]
    fn encoded_packet_decodes_to_its_parts() {
        let bytes = encode(
            addr("10.0.0.1:5060"),
            addr("10.0.0.2:5080"),
            Some(b"key"),
            b"INVITE sip:1@x SIP/2.0\r\n\r\n",
        );
        let packet = decode(&bytes).expect("decodes");
        assert_eq!(packet.src, Some(addr("10.0.0.1:5060")));
        assert_eq!(packet.dst, Some(addr("10.0.0.2:5080")));
        assert_eq!(packet.auth_key, Some(&b"key"[..]));
        assert!(packet.payload.starts_with(b"INVITE"));
        assert_eq!(frame_len(&bytes), Ok(Some(bytes.len())));
    }

    #[test]
    fn ipv6_addresses_survive() {
        let bytes = encode(addr("[::1]:5060"), addr("[2001:db8::2]:5060"), None, b"x");
        let packet = decode(&bytes).expect("decodes");
        assert_eq!(packet.dst, Some(addr("[2001:db8::2]:5060")));
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let bytes = encode(
            addr("10.0.0.1:5060"),
            addr("10.0.0.2:5060"),
            None,
            b"SIP/2.0 200 OK\r\n\r\n",
        );
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn hostile_headers_are_refused() {
        assert_eq!(decode(b"HEP2\x00\x06"), Err(HepError::BadMagic));
        assert_eq!(decode(b"HEP3\x00\x05"), Err(HepError::BadLength));
        // A chunk claiming more bytes than there are.
        let mut bytes = b"HEP3\x00\x0e".to_vec();
        bytes.extend_from_slice(&[0, 0, 0, 15, 0xff, 0xff, 1, 2]);
        assert_eq!(decode(&bytes), Err(HepError::BadChunk));
        // A zero-length chunk would loop forever if it were accepted.
        let mut bytes = b"HEP3\x00\x0c".to_vec();
        bytes.extend_from_slice(&[0, 0, 0, 15, 0, 0]);
        assert_eq!(decode(&bytes), Err(HepError::BadChunk));
    }

    #[test]
    fn non_sip_payloads_are_refused() {
        let mut bytes = encode(addr("10.0.0.1:1"), addr("10.0.0.2:2"), None, b"rtcp");
        let pos = bytes
            .windows(7)
            .position(|w| w == [0, 0, 0, 11, 0, 7, 1])
            .expect("proto chunk");
        bytes[pos + 6] = 5;
        assert_eq!(decode(&bytes), Err(HepError::NotSip));
    }
}
