//! Shared by the fuzz targets.

use std::io::Write;
use std::os::unix::net::UnixStream;

use netrpc::Shared;

/// The message size limit the targets run with: small, so that inputs can cross it.
pub const LIMIT: usize = 64 << 10;

/// A connection whose peer wrote `data` and hung up.
pub fn conn(data: &[u8]) -> Shared<UnixStream> {
    let (mut ours, theirs) = UnixStream::pair().expect("socketpair");
    ours.write_all(data)
        .expect("fuzz input fits the socket buffer");
    drop(ours);
    Shared::new(theirs)
}
