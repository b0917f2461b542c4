//! A real Neovim (`nvim --headless --listen`) for the tests that drive one.
//!
//! Needs `nvim` on the PATH (Debian's `neovim`; `.ci/run` installs it). Without it the tests
//! say so and pass, except under CI, where they fail.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use netrpc::rmpv::Value;
use netrpc::{Client, Params};

use super::WAIT;

/// A headless Neovim listening on 127.0.0.1, killed when dropped.
pub struct Nvim {
    child: Child,
    pub addr: SocketAddr,
}

impl Nvim {
    /// A Neovim of its own; `None` where none is installed (outside CI).
    pub fn start() -> Option<Nvim> {
        if Command::new("nvim").arg("--version").output().is_err() {
            assert!(
                std::env::var_os("CI").is_none(),
                "nvim is missing: .ci/run installs Debian's neovim"
            );
            eprintln!("skipping: nvim is not installed");
            return None;
        }
        // The port is found free and let go for Neovim to take, and another test's socket may
        // take it first: a start counts once Neovim itself has answered on it.
        for _ in 0..3 {
            if let Some(nvim) = Nvim::spawn() {
                return Some(nvim);
            }
        }
        panic!("nvim never answered on a port of its own");
    }

    fn spawn() -> Option<Nvim> {
        let addr = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap();
        let child = Command::new("nvim")
            .args(["--headless", "--clean", "--listen", &addr.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nvim");
        let nvim = Nvim { child, addr };
        let deadline = Instant::now() + WAIT;
        while TcpStream::connect(addr).is_err() {
            assert!(Instant::now() < deadline, "nvim never listened on {addr}");
            thread::sleep(Duration::from_millis(20));
        }
        let answered = nvim
            .dial()
            .map_err(netrpc::Error::from)
            .and_then(|client| client.call::<_, Value>("nvim_get_api_info", &Params(())));
        match answered {
            Ok(_) => Some(nvim),
            Err(e) => {
                eprintln!("nvim on {addr} did not answer ({e}); starting another");
                None
            }
        }
    }

    /// A client of it whose calls give up after [`WAIT`].
    pub fn client(&self) -> Client {
        self.dial().unwrap()
    }

    fn dial(&self) -> std::io::Result<Client> {
        Client::builder().timeout(Some(WAIT)).dial(self.addr)
    }
}

impl Drop for Nvim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
