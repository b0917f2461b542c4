//! A connection with bytes already read from it put back in front.

use std::io::{self, Read, Write};
use std::time::Duration;

use super::Conn;

/// A connection with bytes already read from it put back in front.
pub(crate) struct Rewind<C> {
    prefix: Vec<u8>,
    pos: usize,
    inner: C,
}

impl<C> Rewind<C> {
    pub(crate) fn new(inner: C, prefix: Vec<u8>) -> Self {
        Rewind {
            prefix,
            pos: 0,
            inner,
        }
    }
}

impl<C: Read> Read for Rewind<C> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos < self.prefix.len() {
            let n = (&self.prefix[self.pos..]).read(buf)?;
            self.pos += n;
            if self.pos == self.prefix.len() {
                // Given back: a connection lives long after its first bytes.
                self.prefix = Vec::new();
                self.pos = 0;
            }
            return Ok(n);
        }
        self.inner.read(buf)
    }
}

impl<C: Write> Write for Rewind<C> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<C: Conn> Conn for Rewind<C> {
    /// The clone writes; the bytes put back belong to the original, which reads.
    fn try_clone(&self) -> io::Result<Self> {
        Ok(Rewind::new(self.inner.try_clone()?, Vec::new()))
    }

    fn shutdown(&self) -> io::Result<()> {
        self.inner.shutdown()
    }

    fn peer(&self) -> String {
        self.inner.peer()
    }

    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.inner.set_read_timeout(timeout)
    }

    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.inner.set_write_timeout(timeout)
    }

    fn write_timeout(&self) -> io::Result<Option<Duration>> {
        self.inner.write_timeout()
    }

    fn read_timeout(&self) -> io::Result<Option<Duration>> {
        self.inner.read_timeout()
    }

    fn write_nonblocking(&self, buf: &[u8]) -> Option<io::Result<usize>> {
        self.inner.write_nonblocking(buf)
    }
}
