//! `Arith` over TLS: any stream that implements `netrpc::Conn` can carry RPC, here a rustls
//! session on a TCP socket, with a self-signed certificate made by rcgen at start-up.
//!
//! Run: `cargo run -p netrpc-extras --example tls_arith` (or `-- --addr 127.0.0.1:1234`).

// The library's own examples' services and flag reader.
#[path = "../../examples/common/mod.rs"]
mod common;

use std::error::Error;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use common::{Args, Quotient};
use netrpc::{Client, Conn, Listener, Server, SocketOptions};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};

/// One TLS session shared by two handles, so that netrpc's reader thread can read while other
/// threads write. The socket is read without the lock; the session state is locked only to feed
/// it ciphertext or take plaintext out.
struct TlsConn {
    sock: Arc<TcpStream>,
    tls: Arc<Mutex<rustls::Connection>>,
}

impl TlsConn {
    fn new(sock: TcpStream, tls: impl Into<rustls::Connection>) -> Self {
        TlsConn {
            sock: Arc::new(sock),
            tls: Arc::new(Mutex::new(tls.into())),
        }
    }

    fn session(&self) -> io::Result<std::sync::MutexGuard<'_, rustls::Connection>> {
        self.tls
            .lock()
            .map_err(|_| io::Error::other("TLS session poisoned"))
    }

    /// Sends whatever the session has to send (handshake messages, alerts, records).
    fn send_pending(&self, tls: &mut rustls::Connection) -> io::Result<()> {
        while tls.wants_write() {
            tls.write_tls(&mut &*self.sock)?;
        }
        Ok(())
    }
}

impl Read for TlsConn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut raw = [0u8; 16 * 1024];
        loop {
            {
                let mut tls = self.session()?;
                match tls.reader().read(buf) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    done => return done,
                }
                self.send_pending(&mut tls)?;
            }
            let n = (&*self.sock).read(&mut raw)?;
            let mut tls = self.session()?;
            if n == 0 {
                return Ok(0); // the peer closed the socket without close_notify
            }
            let mut ciphertext = &raw[..n];
            while !ciphertext.is_empty() {
                tls.read_tls(&mut ciphertext)?;
                tls.process_new_packets().map_err(io::Error::other)?;
            }
            self.send_pending(&mut tls)?;
        }
    }
}

impl Write for TlsConn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut tls = self.session()?;
        let n = tls.writer().write(buf)?;
        self.send_pending(&mut tls)?;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        let mut tls = self.session()?;
        self.send_pending(&mut tls)
    }
}

impl Conn for TlsConn {
    fn try_clone(&self) -> io::Result<Self> {
        Ok(TlsConn {
            sock: Arc::clone(&self.sock),
            tls: Arc::clone(&self.tls),
        })
    }

    fn shutdown(&self) -> io::Result<()> {
        match self.sock.shutdown(Shutdown::Both) {
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
            other => other,
        }
    }

    fn peer(&self) -> String {
        self.sock
            .peer_addr()
            .map_or_else(|_| "tls".to_owned(), |a| format!("tls-{a}"))
    }

    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.sock.set_read_timeout(timeout)
    }

    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.sock.set_write_timeout(timeout)
    }

    fn write_timeout(&self) -> io::Result<Option<Duration>> {
        self.sock.write_timeout()
    }

    fn read_timeout(&self) -> io::Result<Option<Duration>> {
        self.sock.read_timeout()
    }
}

/// Accepts TCP connections and starts a TLS session on each.
struct TlsListener {
    tcp: TcpListener,
    config: Arc<rustls::ServerConfig>,
}

impl Listener for TlsListener {
    type Conn = TlsConn;

    fn accept_conn(&self) -> io::Result<TlsConn> {
        let (sock, _) = self.tcp.accept()?;
        let session =
            rustls::ServerConnection::new(Arc::clone(&self.config)).map_err(io::Error::other)?;
        Ok(TlsConn::new(sock, session))
    }

    fn prepare(&self, conn: &TlsConn, _options: &SocketOptions) -> io::Result<()> {
        conn.sock.set_nodelay(true)
    }

    fn waker(&self) -> Option<netrpc::Waker> {
        self.tcp.waker()
    }
}

const USAGE: &str = "usage: tls_arith [--addr HOST:PORT]

Serves Arith over TLS in this process on --addr (an ephemeral port) and calls it.";

fn main() -> Result<(), Box<dyn Error>> {
    let args = common::CommandLine::read(USAGE, &["addr"], &[]);
    let addr = args
        .flag("addr")
        .unwrap_or_else(|| "127.0.0.1:0".to_owned());

    // A self-signed certificate for "localhost", trusted by the client below.
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])?;
    let cert: CertificateDer<'static> = certified.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        certified.signing_key.serialize_der(),
    ));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server_config = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)?;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert)?;
    let client_config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();

    let server = Server::new();
    common::register(&server)?;
    let listener = TlsListener {
        tcp: TcpListener::bind(&addr)?,
        config: Arc::new(server_config),
    };
    let addr = listener.tcp.local_addr()?;
    println!("server: serving Arith and Echo over TLS on {addr}");
    thread::spawn(move || server.accept(&listener));

    let sock = TcpStream::connect(addr)?;
    sock.set_nodelay(true)?;
    let session =
        rustls::ClientConnection::new(Arc::new(client_config), ServerName::try_from("localhost")?)?;
    let client = Client::builder().connect(TlsConn::new(sock, session))?;

    let product: i64 = client.call("Arith.Multiply", &Args { a: 7, b: 8 })?;
    println!("Arith (TLS): 7*8={product}");
    let q: Quotient = client.call("Arith.Divide", &Args { a: 15, b: 4 })?;
    println!("Arith (TLS): 15/4={} remainder {}", q.quo, q.rem);
    match client.call::<_, Quotient>("Arith.Divide", &Args { a: 1, b: 0 }) {
        Ok(q) => println!("Arith (TLS): 1/0={q:?} (expected an error)"),
        Err(e) => println!("Arith (TLS): 1/0 error: {e}"),
    }
    let calls: Vec<_> = (1..=3)
        .map(|i| client.go::<_, i64>("Arith.Multiply", &Args { a: i, b: 10 }))
        .collect();
    for call in calls {
        println!("Arith (TLS, async): {}", call.wait()?);
    }
    client.close()?;
    Ok(())
}
