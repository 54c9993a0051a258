//! Raw rtnetlink (`NETLINK_ROUTE`) for `linux.netDevices`: a socket, which
//! acts in the network namespace it was opened in, and the few link and
//! address requests gorae makes, each built by hand and answered by the
//! kernel's acknowledgement or its errno.
#![forbid(unsafe_code)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;
use nix::sys::socket::{self, AddressFamily, MsgFlags, SockFlag, SockProtocol, SockType};

/// `struct nlmsghdr`: length, type, flags, sequence number, port id.
const HEADER: usize = 16;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const REQUEST: u16 = libc::NLM_F_REQUEST as u16;
const ACK: u16 = libc::NLM_F_ACK as u16;
const DUMP: u16 = libc::NLM_F_DUMP as u16;
const CREATE_NEW: u16 = (libc::NLM_F_CREATE | libc::NLM_F_EXCL) as u16;
/// `IFA_FLAGS`: the address flags in 32 bits (`ifa_flags` holds 8).
const IFA_FLAGS: u16 = 8;
/// The attribute type without `NLA_F_NESTED` and `NLA_F_NET_BYTEORDER`.
const NLA_TYPE_MASK: u16 = 0x3fff;
/// Replies come in batches of at most 32 KiB.
const RECEIVE_BUFFER: usize = 64 * 1024;

/// A `NETLINK_ROUTE` socket.
#[derive(Debug)]
pub(crate) struct Socket {
    fd: OwnedFd,
    seq: u32,
}

/// An address of an interface as the kernel listed it: what it takes to
/// add it again elsewhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Address {
    family: u8,
    prefix_len: u8,
    /// `IFA_ADDRESS`, `IFA_LOCAL` and `IFA_BROADCAST` as they were (the
    /// label, which names the interface, is left out).
    attrs: Vec<(u16, Vec<u8>)>,
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let attr = |kind| self.attrs.iter().find(|(k, _)| *k == kind);
        let ip = attr(libc::IFA_LOCAL)
            .or_else(|| attr(libc::IFA_ADDRESS))
            .and_then(|(_, bytes)| ip(bytes));
        match ip {
            Some(ip) => write!(f, "{ip}/{}", self.prefix_len),
            None => write!(f, "(family {})/{}", self.family, self.prefix_len),
        }
    }
}

fn ip(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes)
            .ok()
            .map(|b| Ipv4Addr::from(b).into()),
        16 => <[u8; 16]>::try_from(bytes)
            .ok()
            .map(|b| Ipv6Addr::from(b).into()),
        _ => None,
    }
}

impl Socket {
    /// A socket in the caller's network namespace.
    pub(crate) fn open() -> Result<Self, Errno> {
        let fd = socket::socket(
            AddressFamily::Netlink,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC,
            SockProtocol::NetlinkRoute,
        )?;
        Ok(Socket { fd, seq: 0 })
    }

    /// The index of the interface named `name` (`RTM_GETLINK`); `ENODEV`
    /// when there is none.
    pub(crate) fn link_index(&mut self, name: &str) -> Result<i32, Errno> {
        let request = Request::new(libc::RTM_GETLINK, ACK)
            .link(0, 0)
            .attr(libc::IFLA_IFNAME, &nul_terminated(name));
        let mut index = None;
        self.exchange(request, |kind, body| {
            if kind == libc::RTM_NEWLINK {
                index = i32_at(body, 4);
            }
        })?;
        index.ok_or(Errno::ENODEV)
    }

    /// The permanent addresses of global scope of interface `index`: those
    /// the spec has moved with a device (RFC 3549 2.3.3.2).
    pub(crate) fn permanent_global_addresses(&mut self, index: i32) -> Result<Vec<Address>, Errno> {
        let request = Request::new(libc::RTM_GETADDR, DUMP).address(0, 0, index);
        let mut found = Vec::new();
        self.exchange(request, |kind, body| {
            if kind == libc::RTM_NEWADDR {
                found.extend(permanent_global(body, index));
            }
        })?;
        Ok(found)
    }

    /// Moves interface `index` into the network namespace behind `netns`
    /// and names it `name` there, in one `RTM_NEWLINK` (the kernel moves,
    /// then renames; a `%d` template gets a free number).
    pub(crate) fn move_link(
        &mut self,
        index: i32,
        name: &str,
        netns: BorrowedFd<'_>,
    ) -> Result<(), Errno> {
        let fd = u32::try_from(netns.as_raw_fd()).map_err(|_| Errno::EBADF)?;
        let request = Request::new(libc::RTM_NEWLINK, ACK)
            .link(index, 0)
            .attr(libc::IFLA_IFNAME, &nul_terminated(name))
            .attr(libc::IFLA_NET_NS_FD, &fd.to_ne_bytes());
        self.exchange(request, |_, _| {})
    }

    /// Adds `address` to interface `index` (`RTM_NEWADDR`, failing if it
    /// is there already).
    pub(crate) fn add_address(&mut self, index: i32, address: &Address) -> Result<(), Errno> {
        let mut request = Request::new(libc::RTM_NEWADDR, ACK | CREATE_NEW).address(
            address.family,
            address.prefix_len,
            index,
        );
        for (kind, data) in &address.attrs {
            request = request.attr(*kind, data);
        }
        self.exchange(request, |_, _| {})
    }

    /// Sets interface `index` up.
    pub(crate) fn set_up(&mut self, index: i32) -> Result<(), Errno> {
        let request = Request::new(libc::RTM_NEWLINK, ACK).link(index, libc::IFF_UP as u32);
        self.exchange(request, |_, _| {})
    }

    /// Sends `request` and passes each reply's type and body to `each`,
    /// until the acknowledgement (or the end of a dump). An error the
    /// kernel acknowledges with is returned as its errno.
    fn exchange(
        &mut self,
        request: Request,
        mut each: impl FnMut(u16, &[u8]),
    ) -> Result<(), Errno> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let message = request.finish(seq);
        socket::send(self.fd.as_raw_fd(), &message, MsgFlags::empty())?;
        let mut buf = vec![0u8; RECEIVE_BUFFER];
        loop {
            let len = match socket::recv(self.fd.as_raw_fd(), &mut buf, MsgFlags::MSG_TRUNC) {
                Err(Errno::EINTR) => continue,
                received => received?,
            };
            let batch = buf.get(..len).ok_or(Errno::EMSGSIZE)?;
            for (kind, reply_seq, body) in messages(batch) {
                if reply_seq != seq {
                    continue;
                }
                // An acknowledgement carries 0 or a negative errno; the end
                // of a dump may carry the dump's error the same way.
                let code = match (kind, i32_at(body, 0)) {
                    (NLMSG_ERROR | NLMSG_DONE, Some(code)) => code,
                    (NLMSG_DONE, None) => 0,
                    (NLMSG_ERROR, None) => return Err(Errno::EBADMSG),
                    _ => {
                        each(kind, body);
                        continue;
                    }
                };
                return match code {
                    0.. => Ok(()),
                    errno => Err(Errno::from_raw(errno.saturating_neg())),
                };
            }
        }
    }
}

/// A request being built: header, fixed part, attributes.
struct Request(Vec<u8>);

impl Request {
    fn new(kind: u16, flags: u16) -> Self {
        let mut b = vec![0u8; HEADER];
        b[4..6].copy_from_slice(&kind.to_ne_bytes());
        b[6..8].copy_from_slice(&(flags | REQUEST).to_ne_bytes());
        Request(b)
    }

    /// `struct ifinfomsg` for interface `index`, setting `flags` (in both
    /// the flags and the change mask, so that no other flag changes).
    fn link(mut self, index: i32, flags: u32) -> Self {
        self.0.extend_from_slice(&[libc::AF_UNSPEC as u8, 0, 0, 0]);
        self.0.extend_from_slice(&index.to_ne_bytes());
        self.0.extend_from_slice(&flags.to_ne_bytes());
        self.0.extend_from_slice(&flags.to_ne_bytes());
        self
    }

    /// `struct ifaddrmsg` (global scope, no flags).
    fn address(mut self, family: u8, prefix_len: u8, index: i32) -> Self {
        self.0
            .extend_from_slice(&[family, prefix_len, 0, libc::RT_SCOPE_UNIVERSE]);
        self.0.extend_from_slice(&index.to_ne_bytes());
        self
    }

    /// A `struct rtattr` and its data, padded to 4 bytes.
    fn attr(mut self, kind: u16, data: &[u8]) -> Self {
        let len = (4 + data.len()) as u16;
        self.0.extend_from_slice(&len.to_ne_bytes());
        self.0.extend_from_slice(&kind.to_ne_bytes());
        self.0.extend_from_slice(data);
        self.0.resize(align(self.0.len()), 0);
        self
    }

    fn finish(mut self, seq: u32) -> Vec<u8> {
        let len = self.0.len() as u32;
        self.0[0..4].copy_from_slice(&len.to_ne_bytes());
        self.0[8..12].copy_from_slice(&seq.to_ne_bytes());
        self.0
    }
}

/// The address of an `RTM_NEWADDR` body if it belongs to interface
/// `index`, is permanent and has global scope.
fn permanent_global(body: &[u8], index: i32) -> Option<Address> {
    let [family, prefix_len, flags, scope] = <[u8; 4]>::try_from(body.get(..4)?).ok()?;
    if i32_at(body, 4)? != index || scope != libc::RT_SCOPE_UNIVERSE {
        return None;
    }
    let all = attrs(body.get(8..)?);
    let flags = all
        .clone()
        .find(|(kind, _)| *kind == IFA_FLAGS)
        .and_then(|(_, data)| u32_at(data, 0))
        .unwrap_or(u32::from(flags));
    if flags & libc::IFA_F_PERMANENT == 0 {
        return None;
    }
    let kept = [libc::IFA_ADDRESS, libc::IFA_LOCAL, libc::IFA_BROADCAST];
    let attrs = all
        .filter(|(kind, _)| kept.contains(kind))
        .map(|(kind, data)| (kind, data.to_vec()))
        .collect();
    Some(Address {
        family,
        prefix_len,
        attrs,
    })
}

/// The messages of a batch: type, sequence number and body each.
fn messages(mut batch: &[u8]) -> impl Iterator<Item = (u16, u32, &[u8])> {
    std::iter::from_fn(move || {
        let len = u32_at(batch, 0)? as usize;
        let kind = u16_at(batch, 4)?;
        let seq = u32_at(batch, 8)?;
        let body = batch.get(HEADER..len)?;
        batch = batch.get(align(len)..).unwrap_or_default();
        Some((kind, seq, body))
    })
}

/// The attributes of a body's tail: type and data each.
fn attrs(mut tail: &[u8]) -> impl Iterator<Item = (u16, &[u8])> + Clone {
    std::iter::from_fn(move || {
        let len = usize::from(u16_at(tail, 0)?);
        let kind = u16_at(tail, 2)? & NLA_TYPE_MASK;
        let data = tail.get(4..len)?;
        tail = tail.get(align(len)..).unwrap_or_default();
        Some((kind, data))
    })
}

fn align(len: usize) -> usize {
    (len + 3) & !3
}

fn nul_terminated(name: &str) -> Vec<u8> {
    let mut bytes = name.as_bytes().to_vec();
    bytes.push(0);
    bytes
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn i32_at(b: &[u8], at: usize) -> Option<i32> {
    Some(i32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_framed_and_padded_as_the_kernel_reads_them() {
        let message = Request::new(libc::RTM_GETLINK, ACK)
            .link(7, 0)
            .attr(libc::IFLA_IFNAME, &nul_terminated("eth0"))
            .finish(42);
        assert_eq!(message.len(), HEADER + 16 + 4 + 8);
        let (kind, seq, body) = messages(&message).next().unwrap();
        assert_eq!((kind, seq), (libc::RTM_GETLINK, 42));
        assert_eq!(i32_at(body, 4), Some(7));
        let found: Vec<_> = attrs(&body[16..]).collect();
        assert_eq!(found, [(libc::IFLA_IFNAME, &b"eth0\0"[..])]);
    }

    #[test]
    fn only_permanent_global_addresses_of_the_interface_are_kept() {
        let body = |index: i32, scope: u8, flags: u32| {
            let mut r = Request(Vec::new()).address(libc::AF_INET as u8, 24, index);
            r.0[3] = scope;
            r.attr(libc::IFA_LOCAL, &[10, 0, 0, 1])
                .attr(libc::IFA_LABEL, b"eth0\0")
                .attr(IFA_FLAGS, &flags.to_ne_bytes())
                .0
        };
        let kept = permanent_global(&body(3, 0, libc::IFA_F_PERMANENT), 3).unwrap();
        assert_eq!(kept.to_string(), "10.0.0.1/24");
        assert_eq!(kept.attrs, [(libc::IFA_LOCAL, vec![10, 0, 0, 1])]);
        assert_eq!(
            permanent_global(&body(4, 0, libc::IFA_F_PERMANENT), 3),
            None
        );
        assert_eq!(
            permanent_global(&body(3, 254, libc::IFA_F_PERMANENT), 3),
            None
        );
        assert_eq!(permanent_global(&body(3, 0, 0), 3), None);
    }

    #[test]
    fn the_loopback_is_found_by_name_and_a_missing_link_is_enodev() {
        let mut socket = Socket::open().unwrap();
        assert_eq!(socket.link_index("lo"), Ok(1));
        assert_eq!(socket.link_index("gorae-nonexist"), Err(Errno::ENODEV));
    }
}
