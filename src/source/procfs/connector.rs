//! The kernel's process events connector (netlink `NETLINK_CONNECTOR`, `CN_IDX_PROC`).
//!
//! It tells us, within microseconds, that a pid forked, exec'd or exited. It carries no argv or path,
//! so it is only a wake-up: the watcher reads `/proc/PID` at once, which is how processes that live
//! a millisecond are still caught (a 100 ms poll alone sees 2% of them). Messages are parsed from
//! the received bytes with `from_ne_bytes`, never transmuted.
//!
//! Layout (include/uapi/linux/netlink.h, connector.h, cn_proc.h), all native-endian:
//! `nlmsghdr` (16 bytes: len u32, type u16, flags u16, seq u32, pid u32), then `cn_msg` (20 bytes:
//! id.idx u32, id.val u32, seq u32, ack u32, len u16, flags u16), then `proc_event`
//! (what u32, cpu u32, timestamp_ns u64, then the per-event union at offset 16).
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

/// `CN_IDX_PROC`: the connector index (and multicast group) of process events.
pub const CN_IDX_PROC: u32 = 1;
/// `CN_VAL_PROC`.
pub const CN_VAL_PROC: u32 = 1;
/// `PROC_CN_MCAST_LISTEN`: the op that subscribes.
pub const PROC_CN_MCAST_LISTEN: u32 = 1;
/// `PROC_EVENT_NONE`: the kernel's acknowledgement of a subscription.
pub const PROC_EVENT_NONE: u32 = 0;
/// `PROC_EVENT_FORK`.
pub const PROC_EVENT_FORK: u32 = 1;
/// `PROC_EVENT_EXEC`.
pub const PROC_EVENT_EXEC: u32 = 2;
/// `PROC_EVENT_EXIT`.
pub const PROC_EVENT_EXIT: u32 = 0x8000_0000;

const NLMSG_HDRLEN: usize = 16;
const CN_MSG_LEN: usize = 20;
const PROC_EVENT_HEADER: usize = 16;
const NLMSG_ERROR: u16 = 2;
const NLMSG_OVERRUN: u16 = 4;

/// One process event, reduced to what the watcher acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcEvent {
    /// A task was created. `child_pid != child_tgid` is a new thread, not a process.
    Fork {
        /// The parent's thread-group id (its pid).
        parent_tgid: u32,
        /// The new task's id.
        child_pid: u32,
        /// The new task's thread-group id.
        child_tgid: u32,
        /// `CLOCK_MONOTONIC` ns.
        timestamp_ns: u64,
    },
    /// A process exec'd a new program.
    Exec {
        /// The task that exec'd (after exec it leads its group, so it equals `tgid`).
        pid: u32,
        /// Its thread-group id: the pid /proc lists.
        tgid: u32,
        /// `CLOCK_MONOTONIC` ns: when the exec happened.
        timestamp_ns: u64,
    },
    /// A task exited. `pid != tgid` is a thread.
    Exit {
        /// The task.
        pid: u32,
        /// Its thread-group id.
        tgid: u32,
        /// `CLOCK_MONOTONIC` ns.
        timestamp_ns: u64,
    },
    /// The kernel's answer to our subscription; `err` is 0 on success.
    Ack {
        /// An errno, or 0.
        err: u32,
    },
    /// Another event (uid, gid, sid, ptrace, comm, coredump): not used.
    Other {
        /// `what`.
        what: u32,
    },
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_ne_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// What one datagram held.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Parsed {
    /// Process events found.
    pub events: usize,
    /// The kernel said it dropped messages (`NLMSG_OVERRUN`).
    pub overrun: bool,
    /// Messages that were cut, malformed, or not process events.
    pub malformed: usize,
}

/// Parses the netlink messages of one received datagram, appending process events to `out`.
pub fn parse_datagram(mut buf: &[u8], out: &mut Vec<ProcEvent>) -> Parsed {
    let mut parsed = Parsed::default();
    while buf.len() >= NLMSG_HDRLEN {
        let Some(len) = u32_at(buf, 0).and_then(|l| usize::try_from(l).ok()) else {
            break;
        };
        if len < NLMSG_HDRLEN || len > buf.len() {
            parsed.malformed += 1;
            break;
        }
        let kind = u16_at(buf, 4).unwrap_or(0);
        match kind {
            NLMSG_OVERRUN => parsed.overrun = true,
            NLMSG_ERROR => parsed.malformed += 1,
            _ => match parse_cn_msg(&buf[NLMSG_HDRLEN..len]) {
                Some(event) => {
                    out.push(event);
                    parsed.events += 1;
                }
                None => parsed.malformed += 1,
            },
        }
        // NLMSG_ALIGN: messages in one datagram start on 4-byte boundaries.
        let next = len.saturating_add(3) & !3;
        buf = buf.get(next..).unwrap_or_default();
    }
    parsed
}

/// Parses a `cn_msg` carrying a `proc_event`.
pub fn parse_cn_msg(msg: &[u8]) -> Option<ProcEvent> {
    if u32_at(msg, 0)? != CN_IDX_PROC || u32_at(msg, 4)? != CN_VAL_PROC {
        return None;
    }
    let len = usize::from(u16_at(msg, 16)?);
    let data = msg.get(CN_MSG_LEN..CN_MSG_LEN.checked_add(len)?)?;
    parse_proc_event(data)
}

/// Parses a `proc_event`.
pub fn parse_proc_event(ev: &[u8]) -> Option<ProcEvent> {
    let what = u32_at(ev, 0)?;
    let timestamp_ns = u64_at(ev, 8)?;
    let d = PROC_EVENT_HEADER;
    Some(match what {
        PROC_EVENT_NONE => ProcEvent::Ack {
            err: u32_at(ev, d)?,
        },
        PROC_EVENT_FORK => ProcEvent::Fork {
            parent_tgid: u32_at(ev, d + 4)?,
            child_pid: u32_at(ev, d + 8)?,
            child_tgid: u32_at(ev, d + 12)?,
            timestamp_ns,
        },
        PROC_EVENT_EXEC => ProcEvent::Exec {
            pid: u32_at(ev, d)?,
            tgid: u32_at(ev, d + 4)?,
            timestamp_ns,
        },
        PROC_EVENT_EXIT => ProcEvent::Exit {
            pid: u32_at(ev, d)?,
            tgid: u32_at(ev, d + 4)?,
            timestamp_ns,
        },
        what => ProcEvent::Other { what },
    })
}

/// The subscription message: `nlmsghdr` + `cn_msg` + the `PROC_CN_MCAST_LISTEN` op.
pub fn listen_message() -> Vec<u8> {
    let total = NLMSG_HDRLEN + CN_MSG_LEN + 4;
    let mut m = Vec::with_capacity(total);
    m.extend_from_slice(&(total as u32).to_ne_bytes()); // nlmsg_len
    m.extend_from_slice(&3u16.to_ne_bytes()); // nlmsg_type: NLMSG_DONE, as the kernel expects
    m.extend_from_slice(&0u16.to_ne_bytes()); // nlmsg_flags
    m.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_seq
    m.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_pid: 0, the socket is autobound
    m.extend_from_slice(&CN_IDX_PROC.to_ne_bytes());
    m.extend_from_slice(&CN_VAL_PROC.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes()); // seq
    m.extend_from_slice(&0u32.to_ne_bytes()); // ack
    m.extend_from_slice(&4u16.to_ne_bytes()); // len of the op
    m.extend_from_slice(&0u16.to_ne_bytes()); // flags
    m.extend_from_slice(&PROC_CN_MCAST_LISTEN.to_ne_bytes());
    m
}

/// What [`Connector::drain`] read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Drained {
    /// Datagrams received.
    pub datagrams: usize,
    /// The kernel dropped events (`ENOBUFS` or `NLMSG_OVERRUN`): a full poll is needed.
    pub overrun: bool,
    /// Malformed or foreign messages.
    pub malformed: usize,
}

/// A subscribed proc connector socket.
#[derive(Debug)]
pub struct Connector {
    fd: OwnedFd,
    buf: Vec<u8>,
}

/// The receive buffer asked for: an exec storm of a few thousand events must not overrun it while
/// the watcher reads /proc. Capped by `net.core.rmem_max` unless we may force it.
const RCVBUF: libc::c_int = 4 * 1024 * 1024;

impl Connector {
    /// Opens and subscribes. Fails without `CAP_NET_ADMIN` on kernels that require it, in
    /// containers (non-initial network or pid namespace), or on kernels without the connector.
    pub fn open() -> io::Result<Connector> {
        // SAFETY: socket() takes only integers and returns a new descriptor or -1.
        let raw = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
                libc::NETLINK_CONNECTOR,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a descriptor socket() just returned, owned by nobody else; OwnedFd takes
        // ownership and closes it exactly once on drop.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        for opt in [libc::SO_RCVBUFFORCE, libc::SO_RCVBUF] {
            // SAFETY: the option value points to a live, aligned c_int and the length passed is
            // exactly its size; the kernel only reads it.
            let rc = unsafe {
                libc::setsockopt(
                    fd.as_raw_fd(),
                    libc::SOL_SOCKET,
                    opt,
                    (&RCVBUF as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                )
            };
            if rc == 0 {
                break;
            }
        }
        // SAFETY: sockaddr_nl is a plain C struct of integers, for which all-zero bytes are a valid
        // value.
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        addr.nl_pid = 0; // let the kernel pick a unique port: several watchers may share a process
        addr.nl_groups = CN_IDX_PROC;
        // SAFETY: `addr` is a live, initialized sockaddr_nl and the length passed is its exact size;
        // bind only reads it.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&addr as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        let msg = listen_message();
        // SAFETY: the pointer and length describe `msg`, a live Vec<u8>; send only reads it.
        let sent = unsafe { libc::send(fd.as_raw_fd(), msg.as_ptr().cast(), msg.len(), 0) };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        if usize::try_from(sent).ok() != Some(msg.len()) {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "short send of the proc connector subscription",
            ));
        }
        Ok(Connector {
            fd,
            buf: vec![0; 64 * 1024],
        })
    }

    /// Waits until events are readable or `timeout` passes; true when readable.
    pub fn wait(&mut self, timeout: Duration) -> io::Result<bool> {
        let mut pfd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
        // SAFETY: `pfd` is one live, initialized pollfd and we pass a count of 1; poll writes only
        // its `revents`.
        let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
        if rc < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                return Ok(false);
            }
            return Err(e);
        }
        Ok(rc > 0)
    }

    /// Reads every datagram waiting (at most `max_datagrams`), without blocking.
    pub fn drain(&mut self, max_datagrams: usize, out: &mut Vec<ProcEvent>) -> io::Result<Drained> {
        let mut d = Drained::default();
        while d.datagrams < max_datagrams {
            // SAFETY: the pointer and length describe `self.buf`, a live, initialized, exclusively
            // borrowed Vec<u8>; recv writes at most `len` bytes into it.
            let n = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    self.buf.as_mut_ptr().cast(),
                    self.buf.len(),
                    libc::MSG_DONTWAIT,
                )
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                match e.raw_os_error() {
                    Some(libc::EAGAIN) => break,
                    Some(libc::EINTR) => continue,
                    Some(libc::ENOBUFS) => {
                        d.overrun = true;
                        continue;
                    }
                    _ => return Err(e),
                }
            }
            let n = usize::try_from(n).unwrap_or(0).min(self.buf.len());
            d.datagrams += 1;
            let p = parse_datagram(&self.buf[..n], out);
            d.overrun |= p.overrun;
            d.malformed += p.malformed;
        }
        Ok(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A datagram as the kernel sends it: nlmsghdr + cn_msg + proc_event.
    fn message(what: u32, ts: u64, data: &[u32]) -> Vec<u8> {
        let mut ev = Vec::new();
        ev.extend_from_slice(&what.to_ne_bytes());
        ev.extend_from_slice(&1u32.to_ne_bytes()); // cpu
        ev.extend_from_slice(&ts.to_ne_bytes());
        for d in data {
            ev.extend_from_slice(&d.to_ne_bytes());
        }
        let mut cn = Vec::new();
        cn.extend_from_slice(&CN_IDX_PROC.to_ne_bytes());
        cn.extend_from_slice(&CN_VAL_PROC.to_ne_bytes());
        cn.extend_from_slice(&7u32.to_ne_bytes());
        cn.extend_from_slice(&0u32.to_ne_bytes());
        cn.extend_from_slice(&u16::try_from(ev.len()).unwrap().to_ne_bytes());
        cn.extend_from_slice(&0u16.to_ne_bytes());
        cn.extend(ev);
        let mut m = Vec::new();
        let len = u32::try_from(NLMSG_HDRLEN + cn.len()).unwrap();
        m.extend_from_slice(&len.to_ne_bytes());
        m.extend_from_slice(&3u16.to_ne_bytes());
        m.extend_from_slice(&0u16.to_ne_bytes());
        m.extend_from_slice(&1u32.to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend(cn);
        while m.len() % 4 != 0 {
            m.push(0);
        }
        m
    }

    #[test]
    fn parses_fork_exec_exit_and_ack() {
        let mut buf = message(PROC_EVENT_FORK, 10, &[100, 100, 101, 101]);
        buf.extend(message(PROC_EVENT_EXEC, 11, &[101, 101]));
        buf.extend(message(PROC_EVENT_EXIT, 12, &[101, 101, 0, 17, 100, 100]));
        buf.extend(message(PROC_EVENT_NONE, 0, &[0]));
        buf.extend(message(0x200, 13, &[101, 101, 0, 0, 0, 0]));
        let mut out = Vec::new();
        let p = parse_datagram(&buf, &mut out);
        assert_eq!(p.events, 5);
        assert_eq!(p.malformed, 0);
        assert!(!p.overrun);
        assert_eq!(
            out,
            [
                ProcEvent::Fork {
                    parent_tgid: 100,
                    child_pid: 101,
                    child_tgid: 101,
                    timestamp_ns: 10
                },
                ProcEvent::Exec {
                    pid: 101,
                    tgid: 101,
                    timestamp_ns: 11
                },
                ProcEvent::Exit {
                    pid: 101,
                    tgid: 101,
                    timestamp_ns: 12
                },
                ProcEvent::Ack { err: 0 },
                ProcEvent::Other { what: 0x200 },
            ]
        );
    }

    #[test]
    fn malformed_input_never_panics() {
        let good = message(PROC_EVENT_EXEC, 11, &[5, 5]);
        let mut out = Vec::new();
        for cut in 0..good.len() {
            parse_datagram(&good[..cut], &mut out);
        }
        assert!(out.is_empty(), "no event from a cut message");
        // A cn_msg claiming more data than it has.
        let mut lying = good.clone();
        lying[NLMSG_HDRLEN + 16] = 0xff;
        assert_eq!(parse_datagram(&lying, &mut out).malformed, 1);
        // Another connector (idx 2) is not ours.
        let mut foreign = good.clone();
        foreign[NLMSG_HDRLEN] = 2;
        assert_eq!(parse_datagram(&foreign, &mut out).malformed, 1);
        // An nlmsg_len of 0 must not loop forever.
        assert_eq!(parse_datagram(&[0; 32], &mut out).malformed, 1);
        // An overrun notice.
        let mut over = good.clone();
        over[4..6].copy_from_slice(&NLMSG_OVERRUN.to_ne_bytes());
        assert!(parse_datagram(&over, &mut out).overrun);
        assert!(out.is_empty());
    }

    #[test]
    fn listen_message_layout() {
        let m = listen_message();
        assert_eq!(m.len(), 40);
        assert_eq!(u32_at(&m, 0), Some(40));
        assert_eq!(u32_at(&m, 16), Some(CN_IDX_PROC));
        assert_eq!(u16_at(&m, 32), Some(4));
        assert_eq!(u32_at(&m, 36), Some(PROC_CN_MCAST_LISTEN));
    }
}
