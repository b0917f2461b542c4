//! A peer that resets the connection makes writes fail, never raise `SIGPIPE`: in its own
//! test binary, because it sets `SIGPIPE` back to the default action (death) for the whole
//! process, as command-line programs often do.

#![cfg(unix)]

use std::io::Read;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use netrpc::{Client, Error};

#[test]
fn a_reset_peer_fails_the_sends_and_does_not_kill_the_process() {
    // SAFETY: no other thread is running yet; this only changes a signal's disposition.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut peer in listener.incoming().flatten() {
            // Once the client is sending, close with a zero linger: a reset. The client's
            // reader then shuts the socket while its senders are still sending.
            let _ = peer.read(&mut [0]);
            let _ = socket2::SockRef::from(&peer).set_linger(Some(Duration::ZERO));
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    for _ in 0..100 {
        let client = Client::dial(addr).unwrap();
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..2000 {
                        if let Err(Error::Shutdown) = client.notify("Test.Nothing", &1) {
                            return;
                        }
                    }
                });
            }
        });
        assert!(
            Instant::now() < deadline,
            "sends to reset peers took too long"
        );
    }
}
