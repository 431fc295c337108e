//! Connections to the syslog daemon: unix socket, UDP, TCP with RFC 6587 octet counting.
//!
//! A connection either delivers a whole message or reports an error that says whether the message
//! can be retried on a new connection ([`SendError::Connection`]) or can never be sent
//! ([`SendError::Message`], e.g. larger than a datagram can be).

use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs, UdpSocket};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::PathBuf;
use std::time::Duration;

use super::Transport;

/// How long a UDP (re)connection waits for an ICMP "port unreachable" to its probe datagram.
const UDP_PROBE_WAIT: Duration = Duration::from_millis(20);

/// Where messages go, validated from the configuration.
#[derive(Clone, Debug)]
pub(crate) enum Destination {
    /// A unix socket path, datagram or stream.
    Unix(PathBuf),
    /// `host:port`, resolved at every (re)connection so a changed DNS entry is followed.
    Udp(String),
    /// `host:port`, as for UDP.
    Tcp(String),
}

impl Destination {
    /// Checks `address` for `transport`; errors name the configuration key.
    pub(crate) fn parse(transport: Transport, address: &str) -> Result<Destination, String> {
        match transport {
            Transport::Unix => {
                if address.is_empty() {
                    return Err("syslog.address: empty; a unix socket path such as /dev/log is needed for transport \"unix\"".into());
                }
                // sun_path holds 108 bytes including the terminating NUL.
                if address.len() > 107 || address.contains('\0') {
                    return Err(format!(
                        "syslog.address: {address:?} is not a usable unix socket path (at most 107 bytes, no NUL)"
                    ));
                }
                Ok(Destination::Unix(PathBuf::from(address)))
            }
            Transport::Udp | Transport::Tcp => {
                check_host_port(address).map_err(|why| {
                    format!(
                        "syslog.address: {address:?} is not host:port for transport \"{}\" ({why}); e.g. \"127.0.0.1:514\" or \"[::1]:514\"",
                        if transport == Transport::Udp { "udp" } else { "tcp" }
                    )
                })?;
                Ok(if transport == Transport::Udp {
                    Destination::Udp(address.to_string())
                } else {
                    Destination::Tcp(address.to_string())
                })
            }
        }
    }
}

/// `host:port` syntax, IPv6 literals in brackets; no name resolution (the daemon may not resolve yet).
fn check_host_port(address: &str) -> Result<(), &'static str> {
    let (host, port) = address.rsplit_once(':').ok_or("no port")?;
    let port: u16 = port
        .parse()
        .map_err(|_| "the port is not a number 1-65535")?;
    if port == 0 {
        return Err("port 0");
    }
    if let Some(inner) = host.strip_prefix('[') {
        let inner = inner.strip_suffix(']').ok_or("unclosed [")?;
        inner
            .parse::<std::net::Ipv6Addr>()
            .map_err(|_| "not an IPv6 address in brackets")?;
        return Ok(());
    }
    if host.is_empty() {
        return Err("no host");
    }
    if host.contains(':') {
        return Err("IPv6 addresses need brackets");
    }
    if !host
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_')
    {
        return Err("the host is not a name or an address");
    }
    Ok(())
}

/// Why a send failed.
#[derive(Debug)]
pub(crate) enum SendError {
    /// The connection is broken; the message was not (known to be) delivered and is retried on a
    /// new connection.
    Connection(io::Error),
    /// This message can never be sent (too large for a datagram); it is given up.
    Message(io::Error),
}

/// An open connection.
#[derive(Debug)]
pub(crate) enum Connection {
    /// `/dev/log` as journald and rsyslog's imuxsock create it.
    UnixDatagram(UnixDatagram),
    /// A stream socket at the unix path (syslog-ng `unix-stream()`); messages are NUL-terminated as
    /// glibc's syslog(3) writes them, which syslog-ng and rsyslog both accept.
    UnixStream(UnixStream),
    /// A connected UDP socket: connected so the kernel reports the daemon's ICMP "port unreachable"
    /// as ECONNREFUSED instead of dropping the datagram silently.
    Udp(UdpSocket),
    /// A TCP connection carrying RFC 6587 octet-counted frames.
    Tcp(TcpStream),
}

impl Connection {
    /// Connects, waiting at most `timeout` for a TCP handshake; `timeout` also bounds each later write.
    pub(crate) fn open(dest: &Destination, timeout: Duration) -> io::Result<Connection> {
        let timeout = timeout.max(Duration::from_millis(1));
        match dest {
            Destination::Unix(path) => {
                let sock = UnixDatagram::unbound()?;
                match sock.connect(path) {
                    Ok(()) => {
                        sock.set_write_timeout(Some(timeout))?;
                        Ok(Connection::UnixDatagram(sock))
                    }
                    // EPROTOTYPE: the socket at the path is a stream socket.
                    Err(e) if e.raw_os_error() == Some(nix::libc::EPROTOTYPE) => {
                        let stream = UnixStream::connect(path)?;
                        stream.set_write_timeout(Some(timeout))?;
                        Ok(Connection::UnixStream(stream))
                    }
                    Err(e) => Err(e),
                }
            }
            Destination::Udp(address) => {
                let addr = resolve(address)?;
                let local: SocketAddr = if addr.is_ipv6() {
                    "[::]:0".parse().map_err(io::Error::other)?
                } else {
                    "0.0.0.0:0".parse().map_err(io::Error::other)?
                };
                let sock = UdpSocket::bind(local)?;
                sock.connect(addr)?;
                sock.set_write_timeout(Some(timeout))?;
                // A probe: an empty datagram, which syslog daemons ignore, answered by "port
                // unreachable" when nothing listens. Without it, the first message after a restart
                // attempt would be lost whenever the daemon is still down.
                sock.send(&[])?;
                std::thread::sleep(UDP_PROBE_WAIT);
                if let Some(e) = sock.take_error()? {
                    return Err(e);
                }
                Ok(Connection::Udp(sock))
            }
            Destination::Tcp(address) => {
                let mut last = io::Error::new(ErrorKind::NotFound, "no address");
                for addr in address.to_socket_addrs()? {
                    match TcpStream::connect_timeout(&addr, timeout) {
                        Ok(stream) => {
                            stream.set_nodelay(true)?;
                            stream.set_write_timeout(Some(timeout))?;
                            return Ok(Connection::Tcp(stream));
                        }
                        Err(e) => last = e,
                    }
                }
                Err(last)
            }
        }
    }

    /// Sends one message: one datagram, one NUL-terminated record, or one `LEN SP MSG` frame.
    pub(crate) fn send(&mut self, msg: &[u8]) -> Result<(), SendError> {
        match self {
            Connection::UnixDatagram(sock) => match sock.send(msg) {
                Ok(_) => Ok(()),
                Err(e) => Err(classify_datagram_error(e)),
            },
            Connection::UnixStream(stream) => {
                let mut record = Vec::with_capacity(msg.len() + 1);
                record.extend_from_slice(msg);
                record.push(0);
                stream.write_all(&record).map_err(SendError::Connection)
            }
            Connection::Udp(sock) => {
                if let Err(e) = sock.send(msg) {
                    return Err(classify_datagram_error(e));
                }
                // On loopback the "port unreachable" is already there when send returns: the daemon
                // is down and this datagram is lost, so it is retried. Remote daemons answer later;
                // their error surfaces on a following send, and the datagram sent just before is lost.
                match sock.take_error() {
                    Ok(None) => Ok(()),
                    Ok(Some(e)) | Err(e) => Err(SendError::Connection(e)),
                }
            }
            Connection::Tcp(stream) => {
                peer_still_open(stream).map_err(SendError::Connection)?;
                let mut frame = Vec::with_capacity(msg.len() + 8);
                frame.extend_from_slice(msg.len().to_string().as_bytes());
                frame.push(b' ');
                frame.extend_from_slice(msg);
                stream.write_all(&frame).map_err(SendError::Connection)
            }
        }
    }
}

/// EMSGSIZE (larger than a datagram can be) is the message's fault; everything else the connection's.
fn classify_datagram_error(e: io::Error) -> SendError {
    if e.raw_os_error() == Some(nix::libc::EMSGSIZE) {
        SendError::Message(e)
    } else {
        SendError::Connection(e)
    }
}

/// Whether the daemon has closed the connection, checked before each write.
///
/// A syslog receiver never sends anything, so a readable socket means end of stream or a reset. Without
/// this check, the first message after a daemon stop is accepted by the kernel and lost: the write
/// succeeds, and only the next one fails.
fn peer_still_open(stream: &mut TcpStream) -> io::Result<()> {
    stream.set_nonblocking(true)?;
    let mut buf = [0u8; 256];
    let result = loop {
        match stream.read(&mut buf) {
            Ok(0) => {
                break Err(io::Error::new(
                    ErrorKind::ConnectionAborted,
                    "closed by the daemon",
                ))
            }
            Ok(_) => continue, // unexpected data: ignored
            Err(e) if e.kind() == ErrorKind::WouldBlock => break Ok(()),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => break Err(e),
        }
    };
    stream.set_nonblocking(false)?;
    result
}

/// The first address `address` resolves to.
fn resolve(address: &str) -> io::Result<SocketAddr> {
    address
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(ErrorKind::NotFound, "the host name has no address"))
}
